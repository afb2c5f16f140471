#!/usr/bin/python3
"""Status benchmark: what a Status of a large tree costs, end to end and
inside arbord.

Starts arbord with N (default 1000) `sleep` services and a private control
socket in a temporary directory, waits until every service runs, then:

  arborctl status --json   wall time of the whole process (fork, exec,
                 connect, call, decode, print), --runs times (default 20)
                 after one warm-up; p50 and p90. Skipped, with a message,
                 when ctl/arborctl has not been built.
                 For scale, the same for one service (the cost of the
                 process, not of the tree).
  Status round trip        --calls (default 200) Status calls of the whole
                 tree over one connection with tests/integration/ctlclient.py
                 (send, receive, json.loads); p50 and p90.
  arbord per Status        arbord's CPU time over those calls, divided by
                 the calls: utime+stime of /proc/PID/stat (clock ticks, as
                 the kernel counts them) and, where the kernel has it, the
                 nanosecond figure of /proc/PID/schedstat.

Target (issue 3): arborctl status --json under 10 ms end to end (p50).

Every wait is bounded (--timeout). arbord is stopped with SIGTERM (it stops
its services), SIGKILL if it lingers, and any service still around is then
killed by pid, only if it still is the `sleep` we started; the temporary
directory is removed. The script makes itself a child subreaper, so that
services orphaned by a killed arbord come back to it and are reaped.

Stdlib only; run with /usr/bin/python3. Exit status: 0 when every measure
ran (whatever PASS/MISS says; --strict makes a MISS exit 1), 2 when a
measure could not be taken.
"""

import argparse
import ctypes
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
TOP = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(TOP, "tests", "integration"))

import ctlclient  # noqa: E402  (stdlib only, beside the integration tests)

ARBORD = os.path.join(TOP, "daemon", "arbord")
ARBORCTL = os.path.join(TOP, "ctl", "arborctl")
SLEEP = "/bin/sleep"
SLEEP_ARG = "86400"
TARGET_MS = 10.0


class BenchError(Exception):
    pass


def log(args, msg):
    if args.verbose:
        print("# " + msg, file=sys.stderr, flush=True)


def set_subreaper():
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        return libc.prctl(36, 1, 0, 0, 0) == 0  # PR_SET_CHILD_SUBREAPER
    except OSError:
        return False


def percentile(values, p):
    """Linear interpolation between closest ranks (as run.py)."""
    v = sorted(values)
    k = (len(v) - 1) * p / 100.0
    lo = int(k)
    hi = min(lo + 1, len(v) - 1)
    return v[lo] + (v[hi] - v[lo]) * (k - lo)


def stat_fields(pid):
    with open(f"/proc/{pid}/stat") as f:
        s = f.read()
    return s[s.rindex(")") + 2:].split()


def cpu_ticks(pid):
    """utime + stime of /proc/PID/stat, in clock ticks."""
    f = stat_fields(pid)
    return int(f[11]) + int(f[12])


def schedstat_ns(pid):
    """CPU time in ns from /proc/PID/schedstat, or None."""
    try:
        with open(f"/proc/{pid}/schedstat") as f:
            return int(f.read().split()[0])
    except (OSError, ValueError, IndexError):
        return None


def write_config(path, n):
    children = ",\n".join(
        f'  {{ name = "s{i:04d}"; exec = [ "{SLEEP}", "{SLEEP_ARG}" ]; }}'
        for i in range(n))
    with open(path, "w") as f:
        f.write('supervisor = { strategy = "one_for_one"; intensity = 3; '
                'period = "5s"; };\nchildren = (\n' + children + "\n);\n")


class Bench:
    def __init__(self, args):
        self.args = args
        self.tmp = tempfile.mkdtemp(prefix="arbor-status-bench-")
        self.sock = os.path.join(self.tmp, "arbor.sock")
        self.proc = None
        self.service_pids = []

    # -- arbord --

    def start(self):
        a = self.args
        conf = os.path.join(self.tmp, "arbor.conf")
        write_config(conf, a.children)
        self.errlog = open(os.path.join(self.tmp, "arbord.log"), "wb")
        env = dict(os.environ)
        env.pop("ARBOR_SOCKET", None)
        self.proc = subprocess.Popen(
            [a.arbord, "-c", conf, "-s", self.sock], stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL, stderr=self.errlog, cwd=self.tmp,
            env=env)
        log(a, f"arbord pid {self.proc.pid}, socket {self.sock}")
        deadline = time.monotonic() + a.timeout
        while True:
            if self.proc.poll() is not None:
                raise BenchError(f"arbord exited {self.proc.returncode}: "
                                 + self.tail())
            try:
                nodes = ctlclient.status(self.sock, timeout=a.timeout)
                up = [n for n in nodes
                      if n["kind"] == "service" and n["state"] == "up"]
                self.service_pids = [n["pid"] for n in up]
                if len(up) == a.children:
                    return nodes
            except (OSError, ctlclient.Closed, ctlclient.VarlinkError):
                pass
            if time.monotonic() > deadline:
                raise BenchError(f"{a.children} services not up after "
                                 f"{a.timeout}s: " + self.tail())
            time.sleep(0.01)

    def tail(self, n=5):
        try:
            with open(os.path.join(self.tmp, "arbord.log"), "rb") as f:
                lines = f.read().decode("utf-8", "replace").splitlines()
            return " | ".join(lines[-n:])
        except OSError:
            return ""

    def is_our_sleep(self, pid):
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                argv = f.read().split(b"\0")
            return (argv[:2] == [SLEEP.encode(), SLEEP_ARG.encode()]
                    and stat_fields(pid)[0] != "Z")
        except (OSError, IndexError):
            return False

    def cleanup(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        for pid in self.service_pids:
            if self.is_our_sleep(pid):
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
        # Orphans come back to us as a subreaper: reap them (bounded).
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            try:
                pid, _ = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                break
            if pid == 0:
                if not any(self.is_our_sleep(p) for p in self.service_pids):
                    break
                time.sleep(0.01)
        if hasattr(self, "errlog"):
            self.errlog.close()
        shutil.rmtree(self.tmp, ignore_errors=True)

    # -- measures --

    def _time_arborctl(self, *args):
        """Wall times in ms of `arborctl status --json ARGS`, whole
        process, over args.runs runs after one warm-up (page cache, first
        connection); the warm-up's output is returned to be checked."""
        a = self.args
        argv = [a.arborctl, "--socket", self.sock, "status", "--json", *args]
        times, first = [], None
        for i in range(a.runs + 1):
            t0 = time.perf_counter_ns()
            r = subprocess.run(argv, stdin=subprocess.DEVNULL,
                               capture_output=True, timeout=a.timeout)
            dt = time.perf_counter_ns() - t0
            if r.returncode != 0:
                raise BenchError(f"arborctl exited {r.returncode}: "
                                 + r.stderr.decode(errors="replace")[-300:])
            if i == 0:
                first = r.stdout
            else:
                times.append(dt / 1e6)
        return times, first

    def arborctl(self):
        times, first = self._time_arborctl()
        out = json.loads(first)
        nodes = out["nodes"] if isinstance(out, dict) else out
        if len(nodes) != self.args.children + 1:
            raise BenchError(f"arborctl listed {len(nodes)} nodes")
        return times

    def arborctl_floor(self):
        """The same process for a Status of one service: fork, exec,
        connect, a small call. The difference to the whole tree is the
        cost of its 1000 nodes."""
        return self._time_arborctl("s0000")[0]

    def round_trips(self):
        a = self.args
        pid = self.proc.pid
        times = []
        with ctlclient.Conn(self.sock, timeout=a.timeout) as c:
            nodes = c.call(ctlclient.SUP + "Status", {})["nodes"]
            if len(nodes) != a.children + 1:
                raise BenchError(f"Status listed {len(nodes)} nodes")
            c.send(ctlclient.SUP + "Status", {})
            size = len(c.recv_raw()) + 1
            ticks0, ns0 = cpu_ticks(pid), schedstat_ns(pid)
            for _ in range(a.calls):
                t0 = time.perf_counter_ns()
                c.send(ctlclient.SUP + "Status", {})
                json.loads(c.recv_raw())
                times.append((time.perf_counter_ns() - t0) / 1e6)
            ticks1, ns1 = cpu_ticks(pid), schedstat_ns(pid)
        tick_ms = 1000.0 / os.sysconf("SC_CLK_TCK")
        per_stat = (ticks1 - ticks0) * tick_ms / a.calls
        per_sched = (None if ns0 is None or ns1 is None
                     else (ns1 - ns0) / 1e6 / a.calls)
        return times, per_stat, per_sched, size, tick_ms


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--children", type=int, default=1000)
    p.add_argument("--runs", type=int, default=20,
                   help="arborctl runs (after one warm-up)")
    p.add_argument("--calls", type=int, default=200,
                   help="Status calls over one connection")
    p.add_argument("--arbord", default=ARBORD)
    p.add_argument("--arborctl", default=ARBORCTL)
    p.add_argument("--timeout", type=float, default=60.0)
    p.add_argument("--strict", action="store_true",
                   help="exit 1 when the target is missed")
    p.add_argument("-v", "--verbose", action="store_true")
    args = p.parse_args()

    if not os.access(args.arbord, os.X_OK):
        print(f"status_bench: {args.arbord} not built (make)",
              file=sys.stderr)
        return 2
    with open(args.arbord, "rb") as f:
        blob = f.read()
    sanitized = b"__asan_init" in blob or b"__ubsan_handle" in blob
    set_subreaper()

    bench = Bench(args)
    errors = []
    ctl = floor = rt = None

    def stop(signo, frame):
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, stop)
    try:
        t0 = time.monotonic()
        bench.start()
        log(args, f"{args.children} services up in "
            f"{time.monotonic() - t0:.2f}s")
        if os.access(args.arborctl, os.X_OK):
            try:
                ctl = bench.arborctl()
                floor = bench.arborctl_floor()
            except (BenchError, subprocess.SubprocessError, OSError,
                    ValueError, KeyError) as e:
                errors.append(f"arborctl: {e}")
        try:
            rt = bench.round_trips()
        except (BenchError, OSError, ctlclient.Closed,
                ctlclient.VarlinkError, ValueError) as e:
            errors.append(f"round trips: {e}")
    except BenchError as e:
        errors.append(str(e))
    except KeyboardInterrupt:
        errors.append("interrupted")
    finally:
        bench.cleanup()

    print(f"Status of {args.children} services + the root "
          f"({os.cpu_count()} CPUs{', SANITIZER BUILD' if sanitized else ''})")
    if not os.access(args.arborctl, os.X_OK):
        print(f"  arborctl status --json: SKIPPED, {args.arborctl} is not "
              "built (make ctl/arborctl)")
    elif ctl:
        p50, p90 = percentile(ctl, 50), percentile(ctl, 90)
        ok = p50 < TARGET_MS
        print(f"  arborctl status --json, whole process, {len(ctl)} runs: "
              f"p50 {p50:.2f} ms, p90 {p90:.2f} ms, min {min(ctl):.2f}, "
              f"max {max(ctl):.2f}  target p50 < {TARGET_MS:g} ms: "
              f"{'PASS' if ok else 'MISS'}")
        if floor:
            print(f"  arborctl status --json of one service (the process "
                  f"floor): p50 {percentile(floor, 50):.2f} ms, "
                  f"p90 {percentile(floor, 90):.2f} ms")
    if rt:
        times, per_stat, per_sched, size, tick_ms = rt
        print(f"  Status round trip, one connection, {len(times)} calls "
              f"({size} bytes a reply): p50 {percentile(times, 50):.2f} ms,"
              f" p90 {percentile(times, 90):.2f} ms")
        line = (f"  arbord CPU per Status: {per_stat:.3f} ms "
                f"(/proc/PID/stat, {tick_ms:g} ms ticks)")
        if per_sched is not None:
            line += f", {per_sched:.3f} ms (/proc/PID/schedstat)"
        print(line)
    for e in errors:
        print(f"  ERROR {e}")
    if errors:
        return 2
    if args.strict and ctl and percentile(ctl, 50) >= TARGET_MS:
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
