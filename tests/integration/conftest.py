"""Fixtures for running the real arbord with real child processes.

Each test gets its own temporary directory and arbord. Waits are bounded
polls on arbord's events or on the process table, never bare sleeps. At the
end of a test, passed or failed, arbord and every process group it reported
are killed by pid, and only those: nothing is stopped by name.
"""

import os
import signal
import struct
import subprocess
import threading
import time

import pytest

from logfmt import parse_logfmt

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
ARBORD = os.path.join(REPO, "daemon", "arbord")
# arbord with daemon/faults.c's test hooks (ARBOR_FAULT_* in its
# environment), for the tests that make its core fail.
FAULTS_ARBORD = os.path.join(REPO, "tests", "integration", "helpers",
                             "arbord-faults")

# Under the sanitizers everything is slower; bounded waits scale with it.
SLOW = 3.0 if (os.environ.get("ARBOR_SANITIZE") == "1"
              or os.environ.get("ASAN_OPTIONS") is not None) else 1.0


def wait_until(cond, timeout=5.0, what="condition"):
    """Polls cond() every 10 ms until it is true; fails after timeout."""
    deadline = time.monotonic() + timeout * SLOW
    while True:
        value = cond()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout * SLOW:.1f}s "
                                 f"waiting for {what}")
        time.sleep(0.01)


def pid_alive(pid):
    """True while pid exists and is not a zombie."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (FileNotFoundError, ProcessLookupError):
        return False


def rss_kib(pid):
    """pid's resident set, in KiB (VmRSS)."""
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise AssertionError("no VmRSS")


def socket_inodes(pid):
    """The inodes of the sockets pid has open: a new connection is a new
    inode even where its descriptor number was used before."""
    found = set()
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            target = os.readlink(f"/proc/{pid}/fd/{fd}")
        except FileNotFoundError:
            continue
        if target.startswith("socket:["):
            found.add(int(target[8:-1]))
    return found


def cgroup_leftover(containment):
    """The arbord-PID cgroup an arbord said it made (its event=containment
    lines), if it is still there; None otherwise."""
    for ev in containment:
        if ev.get("mode") == "cgroup2":
            base = ev.get("cgroup", "")
            if (os.path.basename(base).startswith("arbord-")
                    and os.path.isdir(base)):
                return base
    return None


def remove_cgroup(base, timeout=5.0):
    """Kills what is left in base (a killed arbord's escapees, whose
    cgroups hold nobody else's) and removes it, deepest first."""
    try:
        with open(os.path.join(base, "cgroup.kill"), "w") as f:
            f.write("1")
    except OSError:
        pass
    deadline = time.monotonic() + timeout
    while True:
        try:
            with open(os.path.join(base, "cgroup.events")) as f:
                if "populated 0" in f.read():
                    break
        except OSError:
            break
        if time.monotonic() > deadline:
            break
        time.sleep(0.01)
    for top, dirs, _ in os.walk(base, topdown=False):
        for d in dirs:
            try:
                os.rmdir(os.path.join(top, d))
            except OSError:
                pass
    try:
        os.rmdir(base)
    except OSError:
        pass


def clean_cgroup(a, exited_by_itself):
    """What a's arbord left in cgroup2: a SIGKILLed arbord leaves its
    arbord-PID cgroup, which is removed here; one that exited by itself
    must have removed it, and the test fails if it did not."""
    with a.lock:
        base = cgroup_leftover(list(a.containment))
    if base is None:
        return
    remove_cgroup(base)
    if exited_by_itself:
        raise AssertionError(f"arbord exited and left its cgroup {base}")


class Arbord:
    """One running arbord, its events and its stderr."""

    def __init__(self, tmp_path, config, name="arbor.conf", args=(),
                 preexec_fn=None, env=None, arbord=ARBORD):
        self._prepare(tmp_path, config, name)
        # Each arbord gets its own control socket, never the system's.
        env = dict(os.environ, **(env or {}), ARBOR_SOCKET=str(self.socket))
        self._launch([arbord, "-c", str(self.config), *args], env,
                     preexec_fn=preexec_fn)

    def _prepare(self, tmp_path, config, name="arbor.conf"):
        """The configuration file and the state the reader fills."""
        self.dir = tmp_path
        self.config = tmp_path / name
        self.config.write_text(config)
        self.lines = []
        self.events = []
        self.containment = []  # event=containment lines, parsed
        self.pids = set()
        self.lock = threading.Lock()
        self.socket = tmp_path / "arbor.sock"

    def _launch(self, argv, env, **popen):
        """Starts argv (arbord, or what execs it) and the stderr reader."""
        self.proc = subprocess.Popen(
            argv, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
            stderr=subprocess.PIPE, cwd=str(self.dir), **popen)
        with open(f"/proc/{self.proc.pid}/stat") as f:
            self.start_ticks = int(f.read().rsplit(")", 1)[1].split()[19])
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _line(self, line):
        """One line of arbord's stderr: kept, and parsed when an event."""
        with self.lock:
            self.lines.append(line)
            if line.startswith("event=containment "):
                # arbord's own, not the tree's: kept apart, so that the
                # events (and their indices) are the tree's as before.
                self.containment.append(parse_logfmt(line))
            elif line.startswith("event="):
                ev = parse_logfmt(line)
                self.events.append(ev)
                if ev.get("event") == "start" and "pid" in ev:
                    self.pids.add(int(ev["pid"]))

    def _read(self):
        for raw in self.proc.stderr:
            self._line(raw.decode("utf-8", "replace").rstrip("\n"))

    def snapshot(self):
        with self.lock:
            return list(self.events)

    def find(self, event=None, path=None, start=0):
        return [e for e in self.snapshot()[start:]
                if (event is None or e.get("event") == event)
                and (path is None or e.get("path") == path)]

    def wait_event(self, event, path=None, count=1, timeout=5.0):
        """Waits until at least count matching events have been seen."""
        def seen():
            found = self.find(event, path)
            return found if len(found) >= count else None
        return wait_until(seen, timeout,
                          f"{count} x event={event} path={path}; "
                          f"so far: {self.lines[-20:]}")[count - 1]

    def pid_of(self, path):
        """The pid of the latest start of path."""
        return int(self.find("start", path)[-1]["pid"])

    def trace(self):
        """Events as oracle-style lines: 'start a', 'exit b crash'..."""
        out = []
        for e in self.snapshot():
            kind, path = e["event"], e.get("path")
            if kind == "down":
                out.append("down")
            elif kind == "exit":
                out.append(f"exit {path} {e['reason']}")
            else:
                out.append(f"{kind} {path}")
        return out

    def signal(self, signo):
        self.proc.send_signal(signo)

    def wait_exit(self, timeout=10.0):
        try:
            code = self.proc.wait(timeout=timeout * SLOW)
        except subprocess.TimeoutExpired:
            raise AssertionError(f"arbord still running after {timeout}s; "
                                 f"last lines: {self.lines[-20:]}")
        self.reader.join(timeout=5)
        return code

    def stop(self):
        """SIGTERM, and the exit status."""
        if self.proc.poll() is None:
            self.signal(signal.SIGTERM)
        return self.wait_exit()

    def _started_by_us(self, pid):
        """Whether pid still is a service this arbord started: a session
        leader (every service is one) born after arbord. A pid that was
        reused by an unrelated process must not be killed."""
        try:
            with open(f"/proc/{pid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            return False
        pgrp, session, start = int(fields[2]), int(fields[3]), int(fields[19])
        return pgrp == pid and session == pid and start >= self.start_ticks

    def cleanup(self):
        exited_by_itself = self.proc.poll() is not None
        if not exited_by_itself:
            self.proc.kill()
            self.proc.wait(timeout=10)
        exited_by_itself = exited_by_itself and self.proc.returncode >= 0
        # Services share arbord's stderr: one started just before the kill
        # may be known only from a line the reader has yet to parse, and
        # it holds the pipe open (the reader, and closing stderr, would
        # wait for it to exit). Kill the groups seen until the reader
        # reaches EOF.
        deadline = time.monotonic() + 10
        while True:
            # Whether the reader was done before this pass: then the pass
            # saw every pid it parsed, the last lines' too (a service
            # started just before the kill, known only from them).
            done = not self.reader.is_alive()
            with self.lock:  # the reader thread may still be adding pids
                pids = list(self.pids)
            for pid in pids:
                if not self._started_by_us(pid):
                    continue  # gone, or its number now belongs to another
                try:
                    os.killpg(pid, signal.SIGKILL)
                except (ProcessLookupError, PermissionError):
                    pass
            if done or time.monotonic() > deadline:
                break
            self.reader.join(timeout=0.05)
        self.proc.stdout.close()
        if not self.reader.is_alive():  # else close() would wait for it
            self.proc.stderr.close()
        clean_cgroup(self, exited_by_itself)


@pytest.fixture
def arbord(tmp_path):
    """arbord(config_text) starts arbord on it, in tmp_path or in dir;
    all are cleaned up."""
    started = []

    def start(config, dir=None, **kw):
        a = Arbord(dir or tmp_path, config, **kw)
        started.append(a)
        return a

    yield start
    for a in started:
        a.cleanup()


def service(name, argv, **keys):
    """A libconfig service entry."""
    exec_list = ", ".join('"' + a.replace("\\", "\\\\").replace('"', '\\"')
                          + '"' for a in argv)
    extra = "".join(f" {k} = {v};" for k, v in keys.items())
    return f'{{ name = "{name}"; exec = [ {exec_list} ];{extra} }}'


def supervisor(name, children, **keys):
    extra = "".join(f" {k} = {v};" for k, v in keys.items())
    return (f'{{ name = "{name}";{extra} children = ( '
            + ", ".join(children) + " ); }")


def tree(children, strategy="one_for_one", intensity=3, period='"5s"',
         **keys):
    extra = "".join(f" {k} = {v};" for k, v in keys.items())
    return (f'supervisor = {{ strategy = "{strategy}"; '
            f"intensity = {intensity}; period = {period};{extra} }};\n"
            "children = (\n  " + ",\n  ".join(children) + "\n);\n")


SLEEPER = ["/bin/sleep", "1000"]


def web_tree(**keys):
    """/ (one_for_one) with a, b, and web (rest_for_one) of app, proxy."""
    return tree([service("a", SLEEPER), service("b", SLEEPER),
                 supervisor("web", [service("app", SLEEPER,
                                            restart='"transient"'),
                                    service("proxy", SLEEPER)],
                            strategy='"rest_for_one"')], **keys)


def start_web(arbord, **keys):
    """Starts web_tree and waits until it is up and its socket is there."""
    a = arbord(web_tree(**keys))
    a.wait_event("start", "web/proxy")
    wait_until(lambda: a.socket.exists(), what="the control socket")
    return a


def parse_native(data):
    """journald's native protocol: KEY=value lines, or KEY, a newline, a
    64-bit little-endian length, the bytes and a newline."""
    fields, i = {}, 0
    while i < len(data):
        nl = data.index(b"\n", i)
        line = data[i:nl]
        if b"=" in line:
            k, v = line.split(b"=", 1)
            fields[k] = v
            i = nl + 1
        else:
            (n,) = struct.unpack("<Q", data[nl + 1:nl + 9])
            fields[line] = data[nl + 9:nl + 9 + n]
            i = nl + 9 + n + 1
    return fields
