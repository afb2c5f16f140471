#!/usr/bin/python3
"""Escapee benchmark (issue 15): how long a service with 100 escaped
descendants takes to be gone once its main process dies.

One arbord (cgroup2 containment) runs one service whose main process, a
shell, starts 100 `setsid sleep` (each in a session of its own: out of
reach of its process group) and waits. Each run waits until the service's
leaf holds the shell and its 100 sleeps, then:

  kill   SIGKILLs the main process and times its death (the SIGKILL) to
         arbord's `event=exit` for it: the leaf killed (cgroup.kill), the
         100 reaped, cgroup.events "populated 0" seen through inotify, and
         only then the exit fed to the core (the restart follows);
  stop   `Stop` over the control socket: from the call to `event=stop`
         (SIGTERM to the group, the shell's death, the same emptying).

Prints the median of --runs (default 7) of each, in ms, and fails (exit 2)
when a median is above --limit (default 50 ms, the issue's bound) or when
a sleep survives. arbord's lines are stamped as they arrive on its stderr
pipe (a reader thread). Needs root and a writable cgroup2 (this host's
/sys/fs/cgroup/unified will do). Stdlib only; run with /usr/bin/python3.
Part of `make bench`.
"""

import argparse
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
TOP = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(TOP, "tests", "integration"))

import ctlclient  # noqa: E402  (stdlib only, beside the integration tests)

ARBORD = os.path.join(TOP, "daemon", "arbord")
ESCAPEES = 100
SERVICE = "esc"
SCRIPT = (f"i=0; while [ $i -lt {ESCAPEES} ]; do setsid sleep 86400 & "
          "i=$((i+1)); done; wait")
CONFIG = ('supervisor = { strategy = "one_for_one"; intensity = 1000; '
          'period = "1s"; };\n'
          f'children = ( {{ name = "{SERVICE}"; exec = [ "/bin/sh", "-c", '
          f'"{SCRIPT}" ]; }} );\n')


class BenchError(Exception):
    pass


class Arbord:
    """arbord on CONFIG, its stderr lines stamped as they arrive."""

    def __init__(self, args):
        self.args = args
        self.tmp = tempfile.mkdtemp(prefix="arbor-escape-bench-")
        self.sock = os.path.join(self.tmp, "arbor.sock")
        conf = os.path.join(self.tmp, "arbor.conf")
        with open(conf, "w") as f:
            f.write(CONFIG)
        self.lines = []  # (perf_counter_ns, line)
        self.lock = threading.Lock()
        env = dict(os.environ)
        env.pop("ARBOR_SOCKET", None)
        self.proc = subprocess.Popen(
            [args.arbord, "-c", conf, "-s", self.sock],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE, cwd=self.tmp, env=env)
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self):
        for raw in self.proc.stderr:
            t = time.perf_counter_ns()
            with self.lock:
                self.lines.append((t, raw.decode("utf-8", "replace")
                                   .rstrip("\n")))

    def seen(self, prefix, start):
        """(time, line) of the first line from index start that begins
        with prefix, or None; and the number of lines so far."""
        with self.lock:
            for t, line in self.lines[start:]:
                if line.startswith(prefix):
                    return (t, line), len(self.lines)
            return None, len(self.lines)

    def wait_line(self, prefix, start):
        deadline = time.monotonic() + self.args.timeout
        while True:
            found, _ = self.seen(prefix, start)
            if found:
                return found
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise BenchError(f"no line '{prefix}': "
                                 + " | ".join(l for _, l in self.lines[-5:]))
            time.sleep(0.0005)

    def mark(self):
        """Where the next line will be: wait_line from there."""
        with self.lock:
            return len(self.lines)

    def base(self):
        found, _ = self.seen("event=containment", 0)
        if not found or "mode=cgroup2" not in found[1]:
            raise BenchError("arbord has no cgroup2 containment: "
                             + (found[1] if found else "no event"))
        return found[1].split("cgroup=")[1].split()[0]

    def leaf_pids(self):
        try:
            with open(os.path.join(self.base(), "tree", SERVICE,
                                   "cgroup.procs")) as f:
                return [int(p) for p in f.read().split()]
        except FileNotFoundError:
            return []

    def latest_start(self):
        """The pid of the service's latest start, or None."""
        with self.lock:
            for _, line in reversed(self.lines):
                if line.startswith(f"event=start path={SERVICE} "):
                    return int(line.split("pid=")[1].split()[0])
        return None

    def wait_full(self):
        """The leaf holds the main process (its latest start) and its
        ESCAPEES sleeps: the main pid."""
        deadline = time.monotonic() + self.args.timeout
        while True:
            pids = self.leaf_pids()
            main = self.latest_start()
            if len(pids) == ESCAPEES + 1 and main in pids:
                return main
            if time.monotonic() > deadline:
                raise BenchError(f"{len(pids)} processes in the leaf, not "
                                 f"{ESCAPEES + 1}")
            time.sleep(0.005)

    def close(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=self.args.timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.reader.join(timeout=5)
        shutil.rmtree(self.tmp, ignore_errors=True)


def run_kill(a):
    main = a.wait_full()
    escapees = [p for p in a.leaf_pids() if p != main]
    mark = a.mark()
    t0 = time.perf_counter_ns()
    os.kill(main, signal.SIGKILL)
    t1, _ = a.wait_line(f"event=exit path={SERVICE} pid={main}", mark)
    survivors = [p for p in escapees if alive(p)]
    if survivors:
        raise BenchError(f"{len(survivors)} escapees outlived the exit")
    return (t1 - t0) / 1e6


def run_stop(a):
    main = a.wait_full()
    escapees = [p for p in a.leaf_pids() if p != main]
    mark = a.mark()
    t0 = time.perf_counter_ns()
    ctlclient.call(a.sock, ctlclient.SUP + "Stop", {"path": SERVICE},
                   timeout=a.args.timeout)
    t1, _ = a.wait_line(f"event=stop path={SERVICE}", mark)
    survivors = [p for p in escapees if alive(p)]
    if survivors:
        raise BenchError(f"{len(survivors)} escapees outlived the stop")
    ctlclient.call(a.sock, ctlclient.SUP + "Start", {"path": SERVICE},
                   timeout=a.args.timeout)
    return (t1 - t0) / 1e6


def alive(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def cgroup2_mounted():
    with open("/proc/self/mountinfo") as f:
        return any(" - cgroup2 " in line for line in f)


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--arbord", default=ARBORD)
    p.add_argument("--runs", type=int, default=7)
    p.add_argument("--limit", type=float, default=50.0,
                   help="the most a median may be, ms")
    p.add_argument("--timeout", type=float, default=30.0)
    args = p.parse_args()
    if os.geteuid() != 0 or not cgroup2_mounted():
        print("escape_bench: skipped: needs root and a cgroup2 mount")
        return 0
    a = Arbord(args)
    kills, stops = [], []
    try:
        a.wait_line("event=start path=" + SERVICE, 0)
        a.base()
        for _ in range(args.runs):
            kills.append(run_kill(a))
            stops.append(run_stop(a))
    except (BenchError, OSError, ctlclient.Closed,
            ctlclient.VarlinkError) as e:
        print(f"escape_bench: {e}", file=sys.stderr)
        a.close()
        return 2
    a.close()
    worst = 0.0
    for name, v in (("kill", kills), ("stop", stops)):
        med = statistics.median(v)
        worst = max(worst, med)
        print(f"{name:5s} {ESCAPEES} escapees: median {med:.1f} ms "
              f"(min {min(v):.1f}, max {max(v):.1f}, runs {len(v)})")
    if worst > args.limit:
        print(f"escape_bench: a median is above {args.limit} ms",
              file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
