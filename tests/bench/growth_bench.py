#!/usr/bin/python3
"""Growth benchmark: what arbord's costs become as the tree grows.

For N = 1000, 5000, 10000 and 19000 services (--sizes), each a `stamp` under
one of N/100 supervisors of 100 (so that a subtree of fixed size exists at
every N), with `log = { streams = "merged"; }` so that a service costs one
descriptor and 19000 fit this machine's hard limit of 20000 (--separate
runs the sizes that fit with two pipes each, for comparison). Per size and
per run, in this order:

  spawn floor    spawn_floor: fork+exec N stamps in a C loop, to the last
                 stamp.
  start          `arbord -c FILE` spawned, to the last of the N stamps.
  PSS            /proc/PID/smaps_rollup once all N are up; per service is
                 PSS / N (the issue's measure: the base is included).
  status         `arborctl status --json` and `arborctl status` (the text
                 tree, N rows) as whole processes, median of --calls.
  subtree        `arborctl status g0` (100 services) the same way: its cost
                 must not grow with N.
  stop           SIGTERM to arbord, to its exit; then no stamp may be left.
  kill floor     kill_floor: N stamps forked, then kill + waitpid of each in
                 turn (the floor of a one-at-a-time stop), and kill all then
                 reap all (the floor of a parallel one).

Sizes and floors are interleaved run by run (--runs, default 3) so that
machine noise hits them alike; medians are reported, with the exponent k of
a least-squares fit t = c * N^k over the sizes (k = 1 is linear) and the
cost per service at each size.

Every wait is bounded; the script is a child subreaper, and everything it
starts is stopped by pid and its temporary directory removed on any exit.
Stdlib only; run with /usr/bin/python3. Exit status: 0 when every measure
ran (--strict: 1 when a target is missed), 2 when one could not be taken.
"""

import argparse
import json
import math
import os
import resource
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
TOP = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, HERE)

import run as base  # noqa: E402  (the floors, stamps and process handling)

KILL_FLOOR = os.path.join(HERE, "kill_floor")
ARBORCTL = os.path.join(TOP, "ctl", "arborctl")
GROUP = 100
KiB = 1024

# Targets (issue 14).
T_START_RATIO = 1.2
T_PSS_PER_SERVICE = 1.5 * KiB
T_PSS_AT = 10000
T_LINEAR_GROWTH = 1.25
T_RENDER_MS = 20.0


def write_tree(path, stamp_out, n, merged):
    """The root in path, and each group of GROUP services in a fragment of
    conf.d/ beside it (a file holds at most 1M; 19,000 services do not
    fit one)."""
    groups = (n + GROUP - 1) // GROUP
    frags = os.path.join(os.path.dirname(path), "conf.d")
    os.makedirs(frags, exist_ok=True)
    with open(path, "w") as f:
        f.write('supervisor = { strategy = "one_for_one"; '
                'intensity = 100000; period = "1s";%s };\n'
                % (' log = { streams = "merged"; };' if merged else ""))
    for g in range(groups):
        size = min(GROUP, n - g * GROUP)
        with open(os.path.join(frags, "g%05d.conf" % g), "w") as f:
            f.write('children = ( { name = "g%d"; strategy = "one_for_one";'
                    ' intensity = 100000; period = "1s"; children = (\n'
                    % g)
            f.write(",\n".join(
                '  { name = "s%d"; exec = [ "%s", "%s" ]; '
                'stop_timeout = "5s"; }' % (g * GROUP + i, base.STAMP,
                                           stamp_out)
                for i in range(size)))
            f.write(") } );\n")


def kv_output(text):
    return dict(f.split("=", 1) for f in text.split() if "=" in f)


def spawn_floor(args, procs, n):
    d = tempfile.mkdtemp(prefix="floor.", dir=procs.tmp)
    out = os.path.join(d, "stamps")
    try:
        r = subprocess.run([base.SPAWN_FLOOR, str(n), out,
                            str(int(args.timeout * 1000)), base.STAMP, out],
                           stdin=subprocess.DEVNULL, capture_output=True,
                           text=True, timeout=args.timeout + 30)
        if r.returncode != 0:
            raise base.BenchError("spawn_floor %d failed (%d): %s" % (
                n, r.returncode, r.stderr.strip()))
        return int(kv_output(r.stdout)["elapsed_ns"])
    finally:
        shutil.rmtree(d, ignore_errors=True)


def kill_floor(args, n, mode):
    r = subprocess.run([KILL_FLOOR, str(n), mode],
                       stdin=subprocess.DEVNULL, capture_output=True,
                       text=True, timeout=args.timeout + 30)
    if r.returncode != 0:
        raise base.BenchError("kill_floor %d %s failed (%d): %s" % (
            n, mode, r.returncode, r.stderr.strip()))
    return int(kv_output(r.stdout)["elapsed_ns"])


def timed_ctl(sock, argv, calls, expect_lines=None):
    """Median wall time of `arborctl --socket SOCK ARGV...` as a process."""
    times = []
    for _ in range(calls + 1):  # one warm-up
        t0 = base.now_ns()
        r = subprocess.run([ARBORCTL, "--socket", sock] + argv,
                           stdin=subprocess.DEVNULL, capture_output=True,
                           timeout=60)
        times.append(base.now_ns() - t0)
        if r.returncode != 0:
            raise base.BenchError("arborctl %s: exit %d: %s" % (
                " ".join(argv), r.returncode,
                r.stderr.decode(errors="replace").strip()))
        if expect_lines is not None:
            got = r.stdout.count(b"\n")
            if got != expect_lines:
                raise base.BenchError("arborctl %s printed %d lines, want "
                                      "%d" % (" ".join(argv), got,
                                              expect_lines))
    return statistics.median(times[1:])


def status_counts(sock):
    r = subprocess.run([ARBORCTL, "--socket", sock, "status", "--json"],
                       stdin=subprocess.DEVNULL, capture_output=True,
                       timeout=60)
    if r.returncode != 0:
        raise base.BenchError("status --json: exit %d" % r.returncode)
    nodes = json.loads(r.stdout)["nodes"]
    return (sum(1 for x in nodes if x["kind"] == "service"),
            sum(1 for x in nodes
                if x["kind"] == "service" and x["state"] == "up"))


def arbord_run(args, procs, n, merged, notes):
    a = base.Arbord(args, procs, n, "n%d" % n)
    write_tree(a.conf, a.stamps.path, n, merged)
    sock = os.path.join(a.dir, "ctl.sock")
    groups = (n + GROUP - 1) // GROUP
    res = {}
    try:
        t0 = base.now_ns()
        a.spawn()
        a.wait_stamps(n, args.timeout, interval=0.005)
        res["start_ns"] = max(ns for _, ns in a.stamps.lines[:n]) - t0
        a.wait_events("start", n, args.timeout)
        time.sleep(args.settle)
        res["pss"] = base.smaps_rollup(a.p.pid)["Pss"]
        res["fds"] = len(os.listdir("/proc/%d/fd" % a.p.pid))
        services, up = status_counts(sock)
        if (services, up) != (n, n):
            raise base.BenchError("status: %d services, %d up; want %d"
                                  % (services, up, n))
        res["status_json_ns"] = timed_ctl(sock, ["status", "--json"],
                                          args.calls)
        # The text tree: the root, a row per group and per service, and
        # the whole tree's containment line.
        res["status_text_ns"] = timed_ctl(sock, ["status"], args.calls,
                                          expect_lines=1 + groups + n + 1)
        res["subtree_ns"] = timed_ctl(sock, ["status", "g0"], args.calls,
                                      expect_lines=1 + min(GROUP, n))
        t0 = base.now_ns()
        a.p.send_signal(signal.SIGTERM)
        try:
            a.p.wait(timeout=args.timeout)
        except subprocess.TimeoutExpired:
            raise base.BenchError("arbord with %d services did not stop "
                                  "within %.0f s" % (n, args.timeout))
        res["stop_ns"] = base.now_ns() - t0
        a.stopped = True
        if a.p.returncode != 0:
            notes.append("N=%d: arbord exited %d on SIGTERM" % (
                n, a.p.returncode))
        a.stamps.poll()
        alive, _ = procs.reap_stamps(sorted({p for p, _ in a.stamps.lines}))
        if alive:
            raise base.BenchError("N=%d: %d services outlived arbord's stop"
                                  % (n, len(alive)))
        return res
    finally:
        if a.p is not None and not a.stopped:
            a.stop(notes)
        shutil.rmtree(a.dir, ignore_errors=True)


def fit_exponent(sizes, values):
    """k of the least-squares fit log t = log c + k log N."""
    xs = [math.log(n) for n in sizes]
    ys = [math.log(v) for v in values]
    mx, my = statistics.mean(xs), statistics.mean(ys)
    sxx = sum((x - mx) ** 2 for x in xs)
    return sum((x - mx) * (y - my) for x, y in zip(xs, ys)) / sxx


MEASURES = [
    # key, label, unit per service, floor key
    ("spawn_floor_ns", "spawn floor", "us", None),
    ("start_ns", "start (all running)", "us", "spawn_floor_ns"),
    ("status_json_ns", "status --json", "us", None),
    ("status_text_ns", "status (text)", "us", None),
    ("subtree_ns", "status g0 (100)", None, None),
    ("kill_ordered_ns", "kill+waitpid floor, one at a time", "us", None),
    ("stop_ns", "stop (SIGTERM to exit)", "us", "kill_ordered_ns"),
    ("kill_parallel_ns", "kill all, reap all floor", "us", None),
    ("pss", "PSS", "B", None),
]


def median_of(runs, key):
    vals = [r[key] for r in runs if key in r]
    return statistics.median(vals) if vals else None


def report(args, results, notes, errors):
    sizes = sorted(results)
    med = {n: {k: median_of(results[n], k) for k, *_ in MEASURES}
           for n in sizes}
    print("arbor growth benchmark: %d run(s) per size, medians; %s streams"
          % (args.runs, "separate" if args.separate else "merged"))
    head = "%-36s" % "" + "".join("%14s" % ("N=%d" % n) for n in sizes)
    print(head + "%10s" % "fit k")
    for key, label, unit, floor in MEASURES:
        vals = [med[n][key] for n in sizes]
        if all(v is None for v in vals):
            continue
        cells = []
        for v in vals:
            if v is None:
                cells.append("-")
            elif unit == "B":
                cells.append("%.0f KiB" % (v / KiB))
            else:
                cells.append("%.1f ms" % (v / 1e6))
        k = (fit_exponent(sizes, vals)
             if len(sizes) > 1 and None not in vals else None)
        print("%-36s" % label + "".join("%14s" % c for c in cells)
              + "%10s" % ("-" if k is None else "%.2f" % k))
        if unit is not None:
            per = []
            for n, v in zip(sizes, vals):
                if v is None:
                    per.append("-")
                elif unit == "B":
                    per.append("%.2f KiB" % (v / n / KiB))
                else:
                    per.append("%.1f us" % (v / n / 1e3))
            print("%-36s" % "  per service" + "".join("%14s" % c
                                                      for c in per))
        if floor is not None:
            ratios = []
            for n in sizes:
                pairs = [r[key] / r[floor] for r in results[n]
                         if key in r and floor in r]
                ratios.append("%.2fx" % statistics.median(pairs)
                              if pairs else "-")
            print("%-36s" % "  / floor (paired runs)"
                  + "".join("%14s" % c for c in ratios))
    fds = {n: median_of(results[n], "fds") for n in sizes}
    print("%-36s" % "arbord's descriptors"
          + "".join("%14s" % ("-" if fds[n] is None else "%d" % fds[n])
                    for n in sizes))

    verdicts = []

    def target(name, ok, text):
        verdicts.append(ok)
        print("%-6s %s: %s" % ("PASS" if ok else "MISS", name, text))

    print()
    for n in sizes:
        pairs = [r["start_ns"] / r["spawn_floor_ns"] for r in results[n]
                 if "start_ns" in r and "spawn_floor_ns" in r]
        if n == 1000 and pairs:
            q = statistics.median(pairs)
            target("start of 1000", q <= T_START_RATIO,
                   "%.2fx the spawn floor (target <= %.1fx)"
                   % (q, T_START_RATIO))
    if T_PSS_AT in med and med[T_PSS_AT]["pss"] is not None:
        per = med[T_PSS_AT]["pss"] / T_PSS_AT
        target("PSS per service at %d" % T_PSS_AT,
               per <= T_PSS_PER_SERVICE,
               "%.2f KiB (target <= %.1f KiB)"
               % (per / KiB, T_PSS_PER_SERVICE / KiB))
    if len(sizes) > 1:
        # Linear (fixed costs included) means the cost per service does
        # not grow: at the largest N at most T_LINEAR_GROWTH times what it
        # is at the smallest. Where there is a floor, the kernel's own
        # cost per process grows with the number of processes too: then
        # arbord's ratio to its floor is what must not grow.
        for key, label, floor in (("start_ns", "start", "spawn_floor_ns"),
                                  ("status_json_ns", "status --json", None),
                                  ("status_text_ns", "status (text)", None),
                                  ("stop_ns", "stop", "kill_ordered_ns"),
                                  ("pss", "PSS", None)):
            vals = [med[n][key] for n in sizes]
            if None in vals:
                continue
            q = (vals[-1] / sizes[-1]) / (vals[0] / sizes[0])
            text = "per service %.2fx from N=%d to N=%d, fit k = %.2f" % (
                q, sizes[0], sizes[-1], fit_exponent(sizes, vals))
            floors = [med[n][floor] for n in sizes] if floor else None
            if floors and None not in floors:
                fq = (floors[-1] / sizes[-1]) / (floors[0] / sizes[0])
                text += "; the floor's %.2fx" % fq
                q /= fq
                text += ", against it %.2fx" % q
            target("%s linear in N" % label, q <= T_LINEAR_GROWTH,
                   "%s (target <= %.2fx)" % (text, T_LINEAR_GROWTH))
        sub = [med[n]["subtree_ns"] for n in sizes]
        if None not in sub:
            q = sub[-1] / sub[0]
            target("subtree status O(subtree)", q <= 1.5,
                   "%.1f ms at N=%d, %.1f ms at N=%d (%.2fx; target "
                   "<= 1.5x)" % (sub[0] / 1e6, sizes[0], sub[-1] / 1e6,
                                 sizes[-1], q))
    for n in sizes:
        pairs = [r["stop_ns"] / r["kill_ordered_ns"] for r in results[n]
                 if "stop_ns" in r and "kill_ordered_ns" in r]
        if pairs:
            q = statistics.median(pairs)
            target("stop of %d at the one-at-a-time floor" % n, q <= 1.5,
                   "%.2fx kill+waitpid floor (target <= 1.5x)" % q)
    for msg in notes:
        print("note: " + msg)
    for msg in errors:
        print("error: " + msg)
    return verdicts


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--arbord", default=os.path.join(TOP, "daemon", "arbord"))
    ap.add_argument("--sizes", default="1000,5000,10000,19000")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--calls", type=int, default=5,
                    help="arborctl calls per status measure (median)")
    ap.add_argument("--separate", action="store_true",
                    help="two pipes per service (only the sizes that fit "
                    "the descriptor limit are run)")
    ap.add_argument("--settle", type=float, default=0.2)
    ap.add_argument("--timeout", type=float, default=120.0)
    ap.add_argument("--tmpdir", default=None)
    ap.add_argument("--no-build", action="store_true")
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--strict", action="store_true")
    ap.add_argument("-v", "--verbose", action="store_true")
    args = ap.parse_args()
    sizes = sorted(int(s) for s in args.sizes.split(","))
    if args.separate:
        # Two pipes a service and arbord's reserve (arbor.conf(5),
        # Descriptors).
        hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
        sizes = [n for n in sizes if 2 * n + 341 <= hard]

    if not args.no_build and not base.build_helpers():
        return 2
    base.set_subreaper()
    procs = base.Procs()
    procs.tmp = tempfile.mkdtemp(prefix="arbor-growth.", dir=args.tmpdir)
    args.arbord, info = base.frozen_arbord(args.arbord, procs.tmp)
    notes, errors = [], []
    if info["sanitized"]:
        notes.append("arbord is a sanitizer build: its figures mean "
                     "nothing")
    results = {n: [] for n in sizes}
    try:
        for run in range(args.runs):
            for n in sizes:
                r = {}
                try:
                    r["spawn_floor_ns"] = spawn_floor(args, procs, n)
                    r.update(arbord_run(args, procs, n, not args.separate,
                                        notes))
                    r["kill_ordered_ns"] = kill_floor(args, n, "ordered")
                    r["kill_parallel_ns"] = kill_floor(args, n, "parallel")
                except base.MEASURE_ERRORS as e:
                    errors.append("run %d, N=%d: %s" % (run + 1, n, e))
                results[n].append(r)
                base.log(args, "run %d N=%d: %s" % (
                    run + 1, n, {k: (v / 1e6 if k.endswith("_ns") else v)
                                 for k, v in r.items()}))
    finally:
        procs.cleanup()
        shutil.rmtree(procs.tmp, ignore_errors=True)
    if args.json:
        json.dump({"sizes": sizes, "runs": results, "notes": notes,
                   "errors": errors}, sys.stdout, indent=1)
        print()
        verdicts = []
    else:
        verdicts = report(args, results, notes, errors)
    if errors:
        return 2
    if args.strict and not all(verdicts):
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
