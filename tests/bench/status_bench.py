#!/usr/bin/python3
"""Status benchmark: what a Status of a large tree costs, end to end and
inside arbord, and how that grows with the tree.

For each size N of --services (default 1000; --children N is one size),
starts arbord with N `sleep` services (the first SUB_SERVICES of them under
a supervisor `sub`, the rest under the root) and a private control socket
in a temporary directory, waits until every service runs, then:

  arborctl status --json   wall time of the whole process (fork, exec,
                 connect, call, decode, print), --runs times (default 20)
                 after one warm-up; p50 and p90. Skipped, with a message,
                 when ctl/arborctl has not been built.
  arborctl status          the same, drawing the tree as text.
  arborctl status --json sub   a subtree of SUB_SERVICES services: should
                 not grow with N (O(subtree)).
                 For scale, the same for one service (the cost of the
                 process, not of the tree: the floor).
  Status round trip        --calls (default 200) Status calls of the whole
                 tree over one connection with tests/integration/ctlclient.py
                 (send, receive, json.loads); p50 and p90.
  arbord per Status        arbord's CPU time over those calls, divided by
                 the calls: utime+stime of /proc/PID/stat (clock ticks, as
                 the kernel counts them) and, where the kernel has it, the
                 nanosecond figure of /proc/PID/schedstat.

With more than one size, a fit follows: each measure's p50 per 1000
services at each size, above the one-service floor of the same run, and
the ratio of the largest size's to the smallest's (1.0: linear; well above:
grows faster than N).

Targets: arborctl status --json under 10 ms end to end (p50) at 1000
services (issue 3); linear in N, and within 1.2x of `dinitctl list` (38 ms)
at 10000 (issue 14: about 45 ms).

Every wait is bounded (--timeout). arbord is stopped with SIGTERM (it stops
its services), SIGKILL if it lingers, and any service still around is then
killed by pid, only if it still is the `sleep` we started; the temporary
directory is removed. The script makes itself a child subreaper, so that
services orphaned by a killed arbord come back to it and are reaped.
arbord holds 3 descriptors a service: the script raises its soft limit to
the hard one, and a size the hard limit cannot hold fails at start.

Stdlib only; run with /usr/bin/python3. Exit status: 0 when every measure
ran (whatever PASS/MISS says; --strict makes a MISS exit 1), 2 when a
measure could not be taken.
"""

import argparse
import ctypes
import json
import os
import resource
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
TARGET_MS = 10.0  # at 1000 services
SUB_SERVICES = 10  # under `sub`, for the subtree query


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


def service_name(i):
    return f"s{i:04d}"


def write_config(path, n):
    """N services: the first SUB_SERVICES under a supervisor `sub` (when
    N has that many), the rest under the root."""
    def child(i):
        return (f'{{ name = "{service_name(i)}"; '
                f'exec = [ "{SLEEP}", "{SLEEP_ARG}" ]; }}')

    nsub = SUB_SERVICES if n >= SUB_SERVICES else 0
    children = [child(i) for i in range(nsub, n)]
    if nsub:
        children.insert(0, '{ name = "sub"; strategy = "one_for_one"; '
                        'intensity = 3; period = "5s";\n'
                        '    children = (\n    '
                        + ",\n    ".join(child(i) for i in range(nsub))
                        + "\n  ); }")
    with open(path, "w") as f:
        f.write('supervisor = { strategy = "one_for_one"; intensity = 3; '
                'period = "5s"; };\nchildren = (\n  '
                + ",\n  ".join(children) + "\n);\n")


def expected_nodes(n):
    """The root, the services and `sub` when there is one."""
    return n + 1 + (1 if n >= SUB_SERVICES else 0)


class Bench:
    def __init__(self, args, children):
        self.args = args
        self.children = children
        self.tmp = tempfile.mkdtemp(prefix="arbor-status-bench-")
        self.sock = os.path.join(self.tmp, "arbor.sock")
        self.proc = None
        self.service_pids = []
        self.cpu = {}  # arborctl's CPU ms a run, by its arguments

    # -- arbord --

    def start(self):
        a = self.args
        conf = os.path.join(self.tmp, "arbor.conf")
        write_config(conf, self.children)
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
                if len(up) == self.children:
                    return nodes
            except (OSError, ctlclient.Closed, ctlclient.VarlinkError):
                pass
            if time.monotonic() > deadline:
                raise BenchError(f"{self.children} services not up after "
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

    def _time_arborctl(self, *args, as_json=True):
        args = (*(["--json"] if as_json else []), *args)
        return self._time_arborctl_argv(*args)

    def _time_arborctl_argv(self, *args):
        """Wall times in ms of `arborctl status [--json] ARGS`, whole
        process, over args.runs runs after one warm-up (page cache, first
        connection); the warm-up's output is returned to be checked."""
        a = self.args
        argv = [a.arborctl, "--socket", self.sock, "status", *args]
        times, first = [], None
        for i in range(a.runs + 1):
            ru0 = resource.getrusage(resource.RUSAGE_CHILDREN)
            t0 = time.perf_counter_ns()
            r = subprocess.run(argv, stdin=subprocess.DEVNULL,
                               capture_output=True, timeout=a.timeout)
            dt = time.perf_counter_ns() - t0
            ru1 = resource.getrusage(resource.RUSAGE_CHILDREN)
            if r.returncode != 0:
                raise BenchError(f"arborctl exited {r.returncode}: "
                                 + r.stderr.decode(errors="replace")[-300:])
            if i == 0:
                first = r.stdout
            else:
                times.append(dt / 1e6)
                # Its CPU time, user and system: what load on the other
                # engineers' side of the machine changes least.
                self.cpu.setdefault(args, []).append(
                    (ru1.ru_utime - ru0.ru_utime + ru1.ru_stime
                     - ru0.ru_stime) * 1e3)
        return times, first

    def arborctl(self):
        times, first = self._time_arborctl()
        out = json.loads(first)
        nodes = out["nodes"] if isinstance(out, dict) else out
        if len(nodes) != expected_nodes(self.children):
            raise BenchError(f"arborctl listed {len(nodes)} nodes")
        return times

    def arborctl_text(self):
        times, first = self._time_arborctl(as_json=False)
        rows = first.count(b"\n")
        if rows != expected_nodes(self.children):
            raise BenchError(f"arborctl drew {rows} rows")
        return times

    def arborctl_subtree(self):
        """Status of `sub` and its SUB_SERVICES services: O(subtree)."""
        if self.children < SUB_SERVICES:
            return None
        times, first = self._time_arborctl("sub")
        if len(json.loads(first)["nodes"]) != SUB_SERVICES + 1:
            raise BenchError("arborctl status sub: wrong node count")
        return times

    def arborctl_floor(self):
        """The same process for a Status of one service: fork, exec,
        connect, a small call. The difference to the whole tree is the
        cost of its nodes."""
        return self._time_arborctl(service_name(self.children - 1))[0]

    def round_trips(self):
        a = self.args
        pid = self.proc.pid
        times = []
        with ctlclient.Conn(self.sock, timeout=a.timeout) as c:
            nodes = c.call(ctlclient.SUP + "Status", {})["nodes"]
            if len(nodes) != expected_nodes(self.children):
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


def p50(values):
    return percentile(values, 50) if values else None


def measure(args, n):
    """Every measure at n services; a dict of lists of ms, and errors."""
    bench = Bench(args, n)
    res, errors = {"n": n}, []
    try:
        t0 = time.monotonic()
        bench.start()
        log(args, f"{n} services up in {time.monotonic() - t0:.2f}s")
        if os.access(args.arborctl, os.X_OK):
            try:
                # Interleaved, so that a burst of load hits all alike.
                res["floor"] = bench.arborctl_floor()
                res["json"] = bench.arborctl()
                res["text"] = bench.arborctl_text()
                res["sub"] = bench.arborctl_subtree()
                res["floor"] += bench.arborctl_floor()
                res["cpu"] = bench.cpu
            except (BenchError, subprocess.SubprocessError, OSError,
                    ValueError, KeyError) as e:
                errors.append(f"arborctl: {e}")
        try:
            res["rt"] = bench.round_trips()
        except (BenchError, OSError, ctlclient.Closed,
                ctlclient.VarlinkError, ValueError) as e:
            errors.append(f"round trips: {e}")
    except BenchError as e:
        errors.append(str(e))
    finally:
        bench.cleanup()
    return res, errors


def report(args, res, sanitized):
    n = res["n"]
    print(f"Status of {n} services + the root "
          f"({os.cpu_count()} CPUs{', SANITIZER BUILD' if sanitized else ''})")
    if not os.access(args.arborctl, os.X_OK):
        print(f"  arborctl status --json: SKIPPED, {args.arborctl} is not "
              "built (make ctl/arborctl)")
    ctl = res.get("json")
    if ctl:
        ok = p50(ctl) < TARGET_MS
        print(f"  arborctl status --json, whole process, {len(ctl)} runs: "
              f"p50 {p50(ctl):.2f} ms, p90 {percentile(ctl, 90):.2f} ms, "
              f"min {min(ctl):.2f}, max {max(ctl):.2f}"
              + (f"  target p50 < {TARGET_MS:g} ms: "
                 f"{'PASS' if ok else 'MISS'}" if n <= 1000 else ""))
    for key, what in (("text", "arborctl status (text)"),
                      ("sub", f"arborctl status --json sub "
                              f"({SUB_SERVICES} services)"),
                      ("floor", "arborctl status --json of one service "
                                "(the process floor)")):
        if res.get(key):
            v = res[key]
            print(f"  {what}: p50 {p50(v):.2f} ms, "
                  f"p90 {percentile(v, 90):.2f} ms")
    for argv, v in sorted(res.get("cpu", {}).items(),
                          key=lambda kv: -p50(kv[1])):
        print(f"  {' '.join(('arborctl status',) + argv)}: CPU (user+system) "
              f"p50 {p50(v):.2f} ms")
    if res.get("rt"):
        times, per_stat, per_sched, size, tick_ms = res["rt"]
        print(f"  Status round trip, one connection, {len(times)} calls "
              f"({size} bytes a reply): p50 {p50(times):.2f} ms,"
              f" p90 {percentile(times, 90):.2f} ms")
        line = (f"  arbord CPU per Status: {per_stat:.3f} ms "
                f"(/proc/PID/stat, {tick_ms:g} ms ticks)")
        if per_sched is not None:
            line += f", {per_sched:.3f} ms (/proc/PID/schedstat)"
        print(line)


def report_fit(results):
    """ms per 1000 services at each size, above the floor where there is
    one, and the largest size's over the smallest's."""
    def series(res):
        floor = p50(res.get("floor")) or 0.0
        out = {}
        for key, what in (("json", "arborctl status --json"),
                          ("text", "arborctl status")):
            if res.get(key):
                out[what] = (p50(res[key]) - floor, p50(res[key]))
        cpu = res.get("cpu", {})
        one = p50(cpu.get(("--json", service_name(res["n"] - 1)), []))
        for argv, what in ((("--json",), "arborctl status --json CPU"),
                           ((), "arborctl status CPU")):
            if cpu.get(argv) and one is not None:
                out[what] = (p50(cpu[argv]) - one, p50(cpu[argv]))
        if res.get("sub"):
            out["arborctl status --json sub (ms, not per 1000)"] = None
        if res.get("rt"):
            times, _, per_sched, _, _ = res["rt"]
            out["Status round trip"] = (p50(times), p50(times))
            if per_sched is not None:
                out["arbord CPU per Status"] = (per_sched, per_sched)
        return out

    print("Fit against N: p50 per 1000 services (above the one-service "
          "floor for arborctl); ratio largest/smallest size (1.0 = linear)")
    sizes = [r["n"] for r in results]
    per = [series(r) for r in results]
    for what in per[0]:
        if per[0][what] is None:
            subs = [p50(r["sub"]) for r in results if r.get("sub")]
            print(f"  {what}: " + ", ".join(
                f"{n}: {v:.2f}" for n, v in zip(sizes, subs))
                + (f"; ratio {subs[-1] / subs[0]:.2f}" if subs else ""))
            continue
        vals = [p[what][0] * 1000.0 / n if p.get(what) else None
                for p, n in zip(per, sizes)]
        if None in vals:
            continue
        print(f"  {what}: " + ", ".join(
            f"{n}: {v:.3f}" for n, v in zip(sizes, vals))
            + f"; ratio {vals[-1] / vals[0]:.2f}")


def raise_nofile():
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--services", default="1000",
                   help="sizes, comma-separated (e.g. 1000,3000,6000)")
    p.add_argument("--children", type=int,
                   help="one size (the former option)")
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
    try:
        sizes = ([args.children] if args.children else
                 [int(x) for x in args.services.split(",") if x])
    except ValueError:
        p.error("--services: sizes are integers, comma-separated")
    if not sizes or min(sizes) < 1:
        p.error("--services: at least one size, each at least 1")

    if not os.access(args.arbord, os.X_OK):
        print(f"status_bench: {args.arbord} not built (make)",
              file=sys.stderr)
        return 2
    with open(args.arbord, "rb") as f:
        blob = f.read()
    sanitized = b"__asan_init" in blob or b"__ubsan_handle" in blob
    set_subreaper()
    raise_nofile()

    def stop(signo, frame):
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, stop)
    results, errors = [], []
    try:
        for n in sizes:
            res, errs = measure(args, n)
            report(args, res, sanitized)
            for e in errs:
                print(f"  ERROR {e}")
            results.append(res)
            errors += errs
    except KeyboardInterrupt:
        errors.append("interrupted")
    if len(results) > 1 and not errors:
        report_fit(results)
    if errors:
        return 2
    first = results[0]
    if (args.strict and first["n"] <= 1000 and first.get("json")
            and p50(first["json"]) >= TARGET_MS):
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
