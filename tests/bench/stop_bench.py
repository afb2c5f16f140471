#!/usr/bin/python3
"""Stop benchmark: what stopping a tree of N `sleep` services costs, beside
the kernel's floor measured in the same run (issue 14, item 3).

For each N of --sizes (default 1000,3000,5000), --runs times (default 3),
interleaved so that a change of load hits every measure alike:

  floor ordered    kill_floor N ordered: a C loop that SIGTERMs N sleeps
                   one at a time in reverse start order, waitpid after each
                   (the least OTP's order T1 can cost).
  floor parallel   kill_floor N parallel: SIGTERM to all, then reap all.
  floor any        kill_floor N ordered-any: as floor ordered, but reaped
                   as libev's default loop reaps (waitpid(-1, WNOHANG) at
                   each SIGCHLD until it returns 0). The kernel walks all
                   the caller's children at each such call: O(N) a death,
                   so this floor is quadratic; arbord today reaps this way.
  arbord ordered   arbord with N sleep services under the root (default
                   `shutdown`, OTP's one at a time in reverse order): time
                   from SIGTERM to arbord's exit, and arbord's CPU time over
                   it (/proc/PID/schedstat).
  arbord parallel  the same with `shutdown = "parallel"` on the root.

Prints the median of the runs for each, per child, the ratio of arbord to
its floor, and the fit against N: the exponent k of time ~ N^k between the
smallest and the largest N (1.0 is linear); the same for the CPU time the
stopping process used (kill_floor's own, arbord's from schedstat), which a
machine busy with other work does not inflate as it does wall times.

--profile FILE records `perf record -g` on arbord during one ordered stop
of the largest N (nothing else is measured then).

Every wait is bounded (--timeout). After each arbord run, any service still
alive is a survivor: reported, SIGKILLed by pid (only if it still is our
`sleep`) and the run fails. The script is a child subreaper, so services of
a killed arbord come back to it and are reaped; the temporary directory is
removed. Stdlib only; run with /usr/bin/python3. Exit status 0 when every
measure ran, 2 otherwise.
"""

import argparse
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
TOP = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(TOP, "tests", "integration"))
sys.path.insert(0, HERE)

import ctlclient  # noqa: E402  (stdlib only, beside the integration tests)
from run import BenchError, log, set_subreaper  # noqa: E402  (run.py)

ARBORD = os.path.join(TOP, "daemon", "arbord")
KILL_FLOOR = os.path.join(HERE, "kill_floor")
SLEEP = "/bin/sleep"
SLEEP_ARG = "86400"


def schedstat_ns(pid):
    try:
        with open(f"/proc/{pid}/schedstat") as f:
            return int(f.read().split()[0])
    except (OSError, ValueError, IndexError):
        return None


def is_our_sleep(pid):
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            argv = f.read().split(b"\0")
        with open(f"/proc/{pid}/stat") as f:
            st = f.read()
        return (argv[:2] == [SLEEP.encode(), SLEEP_ARG.encode()]
                and st[st.rindex(")") + 2] != "Z")
    except (OSError, IndexError, ValueError):
        return False


def reap_orphans(pids, seconds=5.0):
    """Reap what came back to us (bounded) until none of pids is alive."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            if not any(is_our_sleep(p) for p in pids):
                return
            time.sleep(0.01)


def write_config(path, n, shutdown):
    key = f' shutdown = "{shutdown}";' if shutdown != "ordered" else ""
    children = ",\n".join(
        f'  {{ name = "s{i:05d}"; exec = [ "{SLEEP}", "{SLEEP_ARG}" ]; }}'
        for i in range(n))
    with open(path, "w") as f:
        f.write('supervisor = { strategy = "one_for_one"; intensity = 3; '
                f'period = "5s";{key} }};\nchildren = (\n' + children
                + "\n);\n")


def floor(args, n, mode):
    r = subprocess.run([args.kill_floor, str(n), mode],
                       stdin=subprocess.DEVNULL, capture_output=True,
                       timeout=args.timeout)
    m = re.search(rb" elapsed_ns=(\d+) cpu_ns=(\d+)", r.stdout)
    if r.returncode != 0 or not m:
        raise BenchError(f"kill_floor {n} {mode} exited {r.returncode}: "
                         + r.stderr.decode(errors="replace")[-300:])
    return int(m.group(1)) / 1e6, int(m.group(2)) / 1e6


class Arbord:
    """One arbord with n sleeps; stop() measures its stop."""

    def __init__(self, args, n, shutdown):
        self.args, self.n = args, n
        self.tmp = tempfile.mkdtemp(prefix="arbor-stop-bench-")
        self.sock = os.path.join(self.tmp, "arbor.sock")
        self.proc = None
        self.pids = []
        conf = os.path.join(self.tmp, "arbor.conf")
        write_config(conf, n, shutdown)
        self.errlog = open(os.path.join(self.tmp, "arbord.log"), "wb")
        env = dict(os.environ)
        env.pop("ARBOR_SOCKET", None)
        self.proc = subprocess.Popen(
            [args.arbord, "-c", conf, "-s", self.sock],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
            stderr=self.errlog, cwd=self.tmp, env=env)

    def tail(self, n=3):
        try:
            with open(os.path.join(self.tmp, "arbord.log"), "rb") as f:
                lines = f.read().decode("utf-8", "replace").splitlines()
            return " | ".join(lines[-n:])
        except OSError:
            return ""

    def wait_up(self):
        deadline = time.monotonic() + self.args.timeout
        while True:
            if self.proc.poll() is not None:
                raise BenchError(f"arbord exited {self.proc.returncode}: "
                                 + self.tail())
            try:
                nodes = ctlclient.status(self.sock, timeout=self.args.timeout)
                up = [x["pid"] for x in nodes
                      if x["kind"] == "service" and x["state"] == "up"]
                if len(up) == self.n:
                    self.pids = up
                    return
            except (OSError, ctlclient.Closed, ctlclient.VarlinkError):
                pass
            if time.monotonic() > deadline:
                raise BenchError(f"{self.n} services not up after "
                                 f"{self.args.timeout}s: " + self.tail())
            time.sleep(0.05)

    def stop(self, profile=None):
        """SIGTERM to exit: (wall ms, arbord CPU ms or None)."""
        perf = None
        if profile:
            perf = subprocess.Popen(
                ["perf", "record", "-g", "-q", "-o", profile, "-p",
                 str(self.proc.pid)], stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            time.sleep(1.0)  # perf attaches
        cpu0 = schedstat_ns(self.proc.pid)
        t0 = time.perf_counter_ns()
        self.proc.send_signal(signal.SIGTERM)
        # The CPU it used is readable until it is reaped: poll for the
        # zombie, then read, then reap.
        cpu1 = cpu0
        deadline = time.monotonic() + self.args.timeout
        while True:
            r = os.waitid(os.P_PID, self.proc.pid,
                          os.WEXITED | os.WNOWAIT | os.WNOHANG)
            if r is not None:
                break
            cpu1 = schedstat_ns(self.proc.pid) or cpu1
            if time.monotonic() > deadline:
                raise BenchError(f"arbord did not stop in "
                                 f"{self.args.timeout}s")
            time.sleep(0.0005)
        wall = (time.perf_counter_ns() - t0) / 1e6
        cpu1 = schedstat_ns(self.proc.pid) or cpu1
        self.proc.wait(timeout=self.args.timeout)
        if perf:
            perf.wait(timeout=self.args.timeout)
        if self.proc.returncode != 0:
            raise BenchError(f"arbord exited {self.proc.returncode}: "
                             + self.tail())
        survivors = [p for p in self.pids if is_our_sleep(p)]
        if survivors:
            raise BenchError(f"{len(survivors)} services survived the stop")
        cpu = None if cpu0 is None else (cpu1 - cpu0) / 1e6
        return wall, cpu

    def cleanup(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=self.args.timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        for pid in self.pids:
            if is_our_sleep(pid):
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
        reap_orphans(self.pids)
        self.errlog.close()
        shutil.rmtree(self.tmp, ignore_errors=True)


def arbord_stop(args, n, shutdown, profile=None):
    a = Arbord(args, n, shutdown)
    try:
        t0 = time.monotonic()
        a.wait_up()
        log(args, f"{n} services up in {time.monotonic() - t0:.2f}s "
            f"({shutdown})")
        return a.stop(profile)
    finally:
        a.cleanup()


def fit_exponent(sizes, times):
    """k in time ~ N^k between the smallest and the largest N."""
    import math
    (n0, t0), (n1, t1) = (sizes[0], times[0]), (sizes[-1], times[-1])
    if n1 == n0 or t0 <= 0 or t1 <= 0:
        return None
    return math.log(t1 / t0) / math.log(n1 / n0)


MEASURES = ("floor ordered", "floor parallel", "floor ordered-any",
            "arbord ordered", "arbord parallel")


def run(args):
    sizes = sorted(int(s) for s in args.sizes.split(","))
    res = {(m, n): [] for m in MEASURES for n in sizes}
    cpu = {(m, n): [] for m in MEASURES for n in sizes}
    for run_i in range(args.runs):
        for n in sizes:
            for m in MEASURES:
                if m.startswith("floor"):
                    ms, c = floor(args, n, m.split()[-1])
                else:
                    ms, c = arbord_stop(args, n, m.split()[1])
                if c is not None:
                    cpu[(m, n)].append(c)
                res[(m, n)].append(ms)
                log(args, f"run {run_i + 1} N={n} {m}: {ms:.1f} ms")
    return sizes, res, cpu


def report(args, sizes, res, cpu):
    med = {k: statistics.median(v) for k, v in res.items() if v}
    print(f"Stop of N sleep services, medians of {args.runs} runs "
          f"({os.cpu_count()} CPUs); ms, and us per child")
    print(f"  {'N':>6} " + " ".join(f"{m:>22}" for m in MEASURES))
    for n in sizes:
        cells = [f"{med[(m, n)]:9.1f} ({med[(m, n)] * 1000 / n:6.1f}us)"
                 for m in MEASURES]
        print(f"  {n:>6} " + " ".join(f"{c:>22}" for c in cells))
    print("  (floor ordered-any: one at a time, reaped with waitpid(-1) "
          "as libev does)")
    cmed = {k: statistics.median(v) for k, v in cpu.items() if v}
    if all((m, n) in cmed for m in MEASURES for n in sizes):
        print("  CPU time of the stopping process (kill_floor, or arbord): "
              "ms, and us per child; a busy machine does not inflate it")
        for n in sizes:
            cells = [f"{cmed[(m, n)]:9.1f} ({cmed[(m, n)] * 1000 / n:6.1f}us)"
                     for m in MEASURES]
            print(f"  {n:>6} " + " ".join(f"{c:>22}" for c in cells))
    for m, f in (("arbord ordered", "floor ordered"),
                 ("arbord parallel", "floor parallel")):
        ratios = " ".join(f"N={n}: {med[(m, n)] / med[(f, n)]:.2f}x"
                          for n in sizes)
        print(f"  {m} / {f}: {ratios}")
        if all((x, n) in cmed for x in (m, f) for n in sizes):
            print(f"  {m} / {f}, CPU: " + " ".join(
                f"N={n}: {cmed[(m, n)] / cmed[(f, n)]:.2f}x"
                for n in sizes))
    if len(sizes) > 1:
        for m in MEASURES:
            k = fit_exponent(sizes, [med[(m, n)] for n in sizes])
            kc = (fit_exponent(sizes, [cmed[(m, n)] for n in sizes])
                  if all((m, n) in cmed for n in sizes) else None)
            if k is None:
                continue
            line = (f"  fit {m}: time ~ N^{k:.2f} "
                    f"({'linear' if k < 1.15 else 'super-linear'})")
            if kc is not None:
                line += (f", CPU ~ N^{kc:.2f} "
                         f"({'linear' if kc < 1.15 else 'super-linear'})")
            print(line)


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--sizes", default="1000,3000,5000")
    p.add_argument("--runs", type=int, default=3)
    p.add_argument("--arbord", default=ARBORD)
    p.add_argument("--kill-floor", default=KILL_FLOOR)
    p.add_argument("--timeout", type=float, default=120.0)
    p.add_argument("--profile", metavar="FILE",
                   help="perf record -g of one ordered stop of the "
                        "largest N into FILE; nothing else")
    p.add_argument("--shutdown", default="ordered",
                   help="with --profile: ordered or parallel")
    p.add_argument("-v", "--verbose", action="store_true")
    args = p.parse_args()

    for prog in (args.arbord, args.kill_floor):
        if not os.access(prog, os.X_OK):
            print(f"stop_bench: {prog} not built (make; make -C tests/bench)",
                  file=sys.stderr)
            return 2
    set_subreaper()

    def on_term(signo, frame):
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, on_term)
    try:
        if args.profile:
            n = max(int(s) for s in args.sizes.split(","))
            ms, c = arbord_stop(args, n, args.shutdown, args.profile)
            print(f"profiled stop of {n} ({args.shutdown}): {ms:.1f} ms, "
                  f"arbord CPU {c} ms; perf report -i {args.profile}")
            return 0
        sizes, res, cpu = run(args)
    except (BenchError, subprocess.SubprocessError, OSError) as e:
        print(f"stop_bench: ERROR {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("stop_bench: interrupted", file=sys.stderr)
        return 2
    report(args, sizes, res, cpu)
    return 0


if __name__ == "__main__":
    sys.exit(main())
