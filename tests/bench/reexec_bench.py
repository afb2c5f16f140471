#!/usr/bin/python3
"""arbor re-exec benchmark (issue 13): arbord replaced in place.

arbord runs --services stamps (tests/bench/stamp.c) under one root. Each
run is one Reexec call from its sending to the first Status the new image
answers, on a second connection opened right after the Reexec's reply; the
floor, measured just before each run, is a bare fork+exec+wait of `arbord
--version`, the least a re-exec could cost. Two series:
  same     into the file arbord runs from (a restart of the same build):
           no probe process, the configuration is loaded in-process;
  upgrade  into another file (a copy: another inode, as a package's new
           build is), alternating between the two: every run has the new
           binary probe the state first (arbord --probe-state).
After every run, every service must have the pid it had before. arbord's
PSS (smaps_rollup) is read before the first run and after the last, each
time once the heap has settled.

Reuses run.py's process bookkeeping: every process started is stopped by
pid and the temporary directory removed, on any exit. Stdlib only; run with
Debian's /usr/bin/python3. Exit status 0 when every measure ran (whatever
PASS/MISS says; --strict makes a MISS exit 1), 2 when one could not be
taken.
"""

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
TOP = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(TOP, "tests", "integration"))

import ctlclient  # noqa: E402  (stdlib only, beside the integration tests)
import run  # noqa: E402  (run.py: Procs, StampFile, Arbord)

REEXEC = ctlclient.SUP + "Reexec"
T_REEXEC_MS = 50.0


def pids(sock, timeout):
    return {n["path"]: n["pid"] for n in ctlclient.status(sock,
                                                           timeout=timeout)
            if "pid" in n}


def exec_floor_ns(arbord):
    t0 = run.now_ns()
    subprocess.run([arbord, "--version"], stdout=subprocess.DEVNULL,
                   check=True)
    return run.now_ns() - t0


def pss_settled(pid):
    """PSS once two readings 0.3 s apart agree (the heap trims itself
    after a burst)."""
    last = None
    for _ in range(20):
        cur = run.smaps_rollup(pid)["Pss"]
        if cur == last:
            return cur
        last = cur
        time.sleep(0.3)
    return last


def measure(args, procs, notes):
    a = run.Arbord(args, procs, args.services, "reexec")
    a.spawn()
    a.wait_stamps(args.services, args.timeout, interval=0.005)
    sock = os.path.join(a.dir, "ctl.sock")
    deadline = time.monotonic() + args.timeout
    while True:
        try:
            before = pids(sock, args.timeout)
            if len(before) == args.services:
                break
        except (OSError, ctlclient.Closed):
            pass
        if time.monotonic() > deadline:
            raise run.BenchError("the tree did not come up")
        time.sleep(0.05)
    res = {}
    other = args.arbord + ".other"
    shutil.copy2(args.arbord, other)
    res["pss_before"] = pss_settled(a.p.pid)
    try:
        for series in ("same", "upgrade"):
            r = res[series] = {"reexec_ns": [], "floor_ns": [],
                               "away_ms": []}
            for i in range(args.runs):
                params = {}
                if series == "upgrade":
                    params["binary"] = other if i % 2 == 0 else args.arbord
                r["floor_ns"].append(exec_floor_ns(args.arbord))
                with ctlclient.Conn(sock, timeout=args.timeout) as c:
                    t0 = run.now_ns()
                    reply = c.call(REEXEC, params)
                    with ctlclient.Conn(sock, timeout=args.timeout) as s:
                        s.call(ctlclient.SUP + "Status", {})
                        r["reexec_ns"].append(run.now_ns() - t0)
                r["away_ms"].append(reply["away_ms"])
                now = pids(sock, args.timeout)
                if now != before:
                    raise run.BenchError("pids changed across the re-exec")
            if series == "upgrade" and args.runs % 2 == 1:
                # Back on the first file, for the PSS compared with it.
                with ctlclient.Conn(sock, timeout=args.timeout) as c:
                    c.call(REEXEC, {"binary": args.arbord})
        res["pss_after"] = pss_settled(a.p.pid)
    finally:
        a.stop(notes)
        shutil.rmtree(a.dir, ignore_errors=True)
    return res


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--arbord", default=os.path.join(TOP, "daemon", "arbord"))
    ap.add_argument("--services", type=int, default=1000)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--timeout", type=float, default=60.0)
    ap.add_argument("--tmpdir", default=None)
    ap.add_argument("--strict", action="store_true",
                    help="exit 1 when any target is missed")
    ap.add_argument("-v", "--verbose", action="store_true")
    args = ap.parse_args()

    r = subprocess.run(["make", "-s", "-C", HERE], stdin=subprocess.DEVNULL,
                       capture_output=True, text=True, timeout=300)
    if r.returncode != 0:
        sys.stderr.write(r.stdout + r.stderr)
        return 2
    run.set_subreaper()
    procs = run.Procs()
    procs.tmp = tempfile.mkdtemp(prefix="arbor-reexec-bench.",
                                 dir=args.tmpdir)
    src = os.path.realpath(args.arbord)
    args.arbord = os.path.join(procs.tmp, "arbord")
    shutil.copy2(src, args.arbord)
    notes, errors = [], []
    res = None
    with open("/proc/loadavg") as f:
        load = " ".join(f.read().split()[:3])
    try:
        res = measure(args, procs, notes)
    except run.MEASURE_ERRORS + (ctlclient.Closed,
                                 ctlclient.VarlinkError) as e:
        errors.append(str(e))
    finally:
        procs.cleanup()
        shutil.rmtree(procs.tmp, ignore_errors=True)
    print("arbor re-exec benchmark: arbord %s; %d services; %d cpus, load "
          "before %s" % (src, args.services, os.cpu_count(), load))
    ok = True
    if res:
        pss_ok = res["pss_after"] <= res["pss_before"]
        ok = pss_ok
        for series in ("same", "upgrade"):
            r = res[series]
            med = statistics.median(r["reexec_ns"]) / 1e6
            floor = statistics.median(r["floor_ns"]) / 1e6
            ok = ok and med <= T_REEXEC_MS
            print("  %-7s re-exec until Status  p50 %7.1f ms  (runs: %s)  "
                  "target <= %.0f ms  %s" % (
                      series, med, " ".join("%.1f" % (v / 1e6)
                                            for v in r["reexec_ns"]),
                      T_REEXEC_MS, run.verdict(med <= T_REEXEC_MS)))
            print("          floor: arbord --version p50 %5.1f ms, ratio "
                  "%.1fx; loop away p50 %.1f ms" % (
                      floor, med / floor if floor else 0,
                      statistics.median(r["away_ms"])))
        print("  PSS before %s, after %s  %s" % (
            run.fmt_mib(res["pss_before"]), run.fmt_mib(res["pss_after"]),
            run.verdict(pss_ok)))
    for n in notes:
        print("  note: " + n)
    for e in errors:
        print("  error: " + e)
    if errors:
        return 2
    return 1 if args.strict and not ok else 0


if __name__ == "__main__":
    sys.exit(main())
