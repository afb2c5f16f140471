"""arbord as a systemd service: the notify protocol for arbord itself
(READY=1, STATUS=, STOPPING=1, WATCHDOG=1) and its control socket taken
from systemd (LISTEN_FDS), with no systemd running.

arbord is started the way systemd starts a service: NOTIFY_SOCKET names a
datagram socket of the test, and a launcher sets WATCHDOG_PID or
LISTEN_PID to its own pid, moves passed sockets to descriptors 3.. and
execs arbord, which keeps that pid. One thread reads arbord's stderr and
the notify socket: on each message it first reads what the pipe holds, so
the lines recorded with it include every line arbord wrote before sending
it (and maybe some written just after: a test that needs "not before"
makes sure the line it looks for comes much later). Every process, socket
and directory is removed by the fixtures, by pid, whether the test passed
or not.
"""

import os
import select
import shutil
import signal
import socket
import stat
import struct
import subprocess
import sys
import time
from dataclasses import dataclass

import pytest

from conftest import (REPO, SLEEPER, SLOW, Arbord, service, socket_inodes,
                      tree, wait_until)
from logfmt import parse_logfmt

ARBORCTL = os.path.join(REPO, "ctl", "arborctl")
PACKAGING = os.path.join(REPO, "packaging")

# What systemd hands its services, none of which a service of arbord may
# inherit from arbord.
SYSTEMD_VARS = ("NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID",
                "LISTEN_FDS", "LISTEN_PID", "LISTEN_FDNAMES")

# A service that outlasts its stop_timeout: it ignores SIGTERM.
STUBBORN = ["/bin/sh", "-c", "trap '' TERM; exec sleep 1000"]

# The watchdog the tests ask for: pings every 200 ms.
WATCHDOG_USEC = 400000

# Runs in the process that becomes arbord: argv is N, N descriptors, a
# comma-separated list of variables to set to its own pid, then arbord's
# argv. The descriptors go to 3, 4, ... (by way of numbers above them, so
# that none overwrites another), then it execs: the pid stays the same.
LAUNCHER = r"""
import fcntl, os, sys
n = int(sys.argv[1])
fds = [int(x) for x in sys.argv[2:2 + n]]
own = [v for v in sys.argv[2 + n].split(",") if v]
argv = sys.argv[3 + n:]
high = [fcntl.fcntl(fd, fcntl.F_DUPFD, 100 + i) for i, fd in enumerate(fds)]
for fd in fds:
    os.close(fd)
for i, fd in enumerate(high):
    os.dup2(fd, 3 + i)
    os.close(fd)
for v in own:
    os.environ[v] = str(os.getpid())
os.execv(argv[0], argv)
"""


@dataclass
class Message:
    text: str          # the datagram, as sent
    pid: int           # the sender, from SCM_CREDENTIALS
    lines_before: int  # stderr lines read when it arrived (see the top)
    at: float          # time.monotonic() when it was read

    def fields(self):
        return dict(f.split("=", 1) for f in self.text.split("\n") if f)


class SystemdArbord(Arbord):
    """arbord started as systemd would start it (see the module's doc).

    notify: give it NOTIFY_SOCKET; env: more environment; own_pid: the
    variables the launcher sets to arbord's pid; listen: sockets passed as
    descriptors 3..; wrap: a command that runs arbord (its argv ends with
    arbord's)."""

    def __init__(self, tmp_path, config, *, notify=True, env=None,
                 own_pid=(), listen=(), wrap=(), args=()):
        self._prepare(tmp_path, config)
        self.messages = []
        self.notify = None
        self.closing = False  # cleanup: the reader must let go
        e = dict(os.environ, ARBOR_SOCKET=str(self.socket))
        for v in SYSTEMD_VARS:
            e.pop(v, None)
        if notify:
            path = str(tmp_path / "notify.sock")
            self.notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
            self.notify.setsockopt(socket.SOL_SOCKET, socket.SO_PASSCRED, 1)
            self.notify.bind(path)
            e["NOTIFY_SOCKET"] = path
        e.update(env or {})
        argv = [sys.executable, "-c", LAUNCHER, str(len(listen)),
                *(str(s.fileno()) for s in listen), ",".join(own_pid),
                *wrap, os.path.join(REPO, "daemon", "arbord"),
                "-c", str(self.config), *args]
        self._launch(argv, e, pass_fds=[s.fileno() for s in listen])

    # ---- reading stderr and the notify socket, in order ----

    def _read(self):
        err = self.proc.stderr.fileno()
        os.set_blocking(err, False)
        buf, eof = b"", False

        def drain_stderr():
            nonlocal buf, eof
            while not eof:
                try:
                    chunk = os.read(err, 65536)
                except BlockingIOError:
                    return
                if not chunk:
                    eof = True
                    if buf:
                        self._line(buf.decode("utf-8", "replace"))
                    return
                *lines, buf = (buf + chunk).split(b"\n")
                for raw in lines:
                    self._line(raw.decode("utf-8", "replace"))

        def drain_notify():
            while self.notify is not None and not self.closing:
                try:
                    data, anc, _, _ = self.notify.recvmsg(
                        4096, socket.CMSG_SPACE(12), socket.MSG_DONTWAIT)
                except BlockingIOError:
                    return
                # arbord wrote these lines before it sent the message, so
                # they are in the pipe now (and perhaps a few after it).
                drain_stderr()
                pid = 0
                for level, kind, cdata in anc:
                    if (level, kind) == (socket.SOL_SOCKET,
                                         socket.SCM_CREDENTIALS):
                        pid = struct.unpack("iII", cdata[:12])[0]
                with self.lock:
                    self.messages.append(Message(
                        data.decode("utf-8", "replace"), pid,
                        len(self.lines), time.monotonic()))

        watched = [err] + ([self.notify.fileno()] if self.notify else [])
        while not eof and not self.closing:
            select.select(watched, [], [], 1.0)
            drain_notify()
            drain_stderr()
        drain_notify()  # what arbord sent just before it exited

    # ---- queries ----

    def sent(self, key=None, value=None):
        """Messages so far; those with field key (equal to value)."""
        with self.lock:
            msgs = list(self.messages)
        return [m for m in msgs if key is None or
                (key in m.fields() and
                 (value is None or m.fields()[key] == value))]

    def wait_sent(self, key, value=None, count=1, timeout=5.0):
        def seen():
            found = self.sent(key, value)
            return found if len(found) >= count else None
        return wait_until(seen, timeout,
                          f"{count} x {key}={value} from arbord; so far: "
                          f"{[m.text for m in self.sent()][-10:]}, "
                          f"stderr: {self.lines[-10:]}")[count - 1]

    def lines_until(self, msg):
        with self.lock:
            return list(self.lines[:msg.lines_before])

    def cleanup(self):
        super().cleanup()
        # The reader normally ends at EOF on stderr; if a process the
        # cleanup could not see still holds it, stop it within a select.
        self.closing = True
        self.reader.join(timeout=5)
        if not self.reader.is_alive():
            self.proc.stderr.close()
        if self.notify is not None:
            self.notify.close()


@pytest.fixture
def systemd_arbord(tmp_path):
    """systemd_arbord(config, **kw) starts a SystemdArbord; all are killed
    by pid and their sockets closed at the end."""
    started = []

    def start(config, **kw):
        a = SystemdArbord(tmp_path, config, **kw)
        started.append(a)
        return a

    yield start
    for a in started:
        a.cleanup()


@pytest.fixture
def sockets():
    """Sockets a test creates, closed at the end."""
    made = []
    yield made
    for s in made:
        s.close()


def ctl(sock, *args):
    return subprocess.run([ARBORCTL, "--socket", str(sock), *args],
                          capture_output=True, text=True, timeout=10 * SLOW,
                          stdin=subprocess.DEVNULL)


def ignores(pid, signo):
    """Whether pid ignores signo (SigIgn of /proc/PID/status)."""
    with open(f"/proc/{pid}/status") as f:
        mask = int(next(line for line in f
                        if line.startswith("SigIgn:")).split()[1], 16)
    return bool(mask & (1 << (signo - 1)))


def environ_of(pid):
    with open(f"/proc/{pid}/environ", "rb") as f:
        return dict(e.decode().split("=", 1)
                    for e in f.read().split(b"\0") if b"=" in e)


def unix_listener(path, mode=None):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.bind(str(path))
    s.listen(16)
    if mode is not None:
        os.chmod(path, mode)
    return s


def services(n):
    return [service(f"s{i:02d}", SLEEPER) for i in range(n)]


# ---- notify: READY, STATUS, STOPPING ----------------------------------------


def test_ready_only_once_the_whole_tree_has_started(systemd_arbord):
    """READY=1 comes once the root supervisor is up, after the start of its
    last service: the root's own start event comes first, when it begins,
    and a READY=1 sent on it would let systemd start what depends on
    arbord before arbord's services exist."""
    n = 30
    a = systemd_arbord(tree(services(n)))
    ready = a.wait_sent("READY", "1", timeout=10)
    before = [parse_logfmt(line) for line in a.lines_until(ready)
              if line.startswith("event=")]
    started = {e["path"] for e in before if e["event"] == "start"}
    assert started >= {f"s{i:02d}" for i in range(n)}, \
        f"READY=1 before every service started: {sorted(started)}"
    assert ready.pid == a.proc.pid  # NotifyAccess=main would accept it
    assert ready.fields()["STATUS"] == f"{n} services, {n} running"
    assert len(a.sent("READY")) == 1
    assert a.stop() == 0
    assert len(a.sent("READY")) == 1


def test_status_follows_the_counts(systemd_arbord):
    """STATUS= shows how many services run, and changes with them."""
    a = systemd_arbord(tree(services(3)))
    a.wait_sent("READY", "1")
    a.wait_event("start", "s02")
    assert ctl(a.socket, "stop", "s01").returncode == 0
    a.wait_sent("STATUS", "3 services, 2 running", timeout=5)
    assert ctl(a.socket, "start", "s01").returncode == 0
    last = a.wait_sent("STATUS", "3 services, 3 running", count=2)
    assert last.pid == a.proc.pid


def test_status_is_rate_limited_in_a_crash_loop(systemd_arbord):
    """A service in a crash loop changes the counts hundreds of times a
    second; STATUS= goes out at most about once a second, so arbord does not
    flood systemd, and after the loop ends it falls silent."""
    crash = service("crash", ["/bin/sh", "-c", "exit 3"])
    a = systemd_arbord(tree([service("steady", SLEEPER), crash],
                            intensity=100000, period='"60s"'))
    ready = a.wait_sent("READY", "1")
    a.wait_event("exit", "crash", count=50, timeout=10)
    # A few seconds of the loop: the window the limit is measured over.
    window = 2.5
    start = time.monotonic()
    wait_until(lambda: time.monotonic() - start > window, timeout=2 * window,
               what="the crash loop to run for a while")
    assert ctl(a.socket, "stop", "crash").returncode == 0
    end = time.monotonic()
    statuses = [m for m in a.sent("STATUS") if m.at >= ready.at]
    during = [m for m in statuses if start <= m.at <= end]
    assert len(a.find("exit", "crash")) > 50
    assert len(during) <= window + 2, [m.text for m in during]
    for prev, nxt in zip(statuses, statuses[1:]):
        if "READY" in nxt.fields() or "STOPPING" in nxt.fields():
            continue
        assert nxt.at - prev.at > 0.5, [m.text for m in statuses]
    # Stopped, the counts settle: the limit's last STATUS= within a
    # second, then nothing.
    wait_until(lambda: time.monotonic() - end > 1.5 * SLOW,
               timeout=3, what="the end of the last quiet period")
    assert a.sent("STATUS")[-1].fields()["STATUS"] == "2 services, 1 running"
    quiet = len(a.sent("STATUS"))
    settled = time.monotonic()
    wait_until(lambda: time.monotonic() - settled > 1.5, timeout=3,
               what="a quiet period")
    assert len(a.sent("STATUS")) == quiet


@pytest.mark.parametrize("how", ["sigterm", "arborctl"])
def test_stopping_before_the_first_stop(systemd_arbord, how):
    """STOPPING=1 goes out when the tree begins to stop, before any service
    is stopped, for SIGTERM (systemctl stop) and arborctl shutdown alike."""
    # s02 stops first, and only at its stop_timeout: its stop line comes
    # a second after STOPPING=1, not a few microseconds.
    stubborn = service("s02", STUBBORN, stop_timeout='"1s"')
    a = systemd_arbord(tree(services(2) + [stubborn]))
    a.wait_sent("READY", "1")
    wait_until(lambda: ignores(a.pid_of("s02"), signal.SIGTERM),
               what="s02 to ignore SIGTERM")
    if how == "sigterm":
        a.signal(signal.SIGTERM)
    else:
        assert ctl(a.socket, "shutdown").returncode == 0
    stopping = a.wait_sent("STOPPING", "1")
    assert not [line for line in a.lines_until(stopping)
                if line.startswith("event=stop")]
    assert stopping.fields()["STATUS"].startswith("stopping: 3 services")
    assert a.wait_exit() == 0
    assert len(a.sent("STOPPING")) == 1


def test_stopping_when_the_root_gives_up(systemd_arbord):
    """The root giving up stops the tree and ends arbord with status 1
    (systemd restarts it, Restart=on-failure): STOPPING=1 says so first."""
    crash = service("crash", ["/bin/sh", "-c", "sleep 0.2; exit 3"])
    steady = service("steady", STUBBORN, stop_timeout='"1s"')
    a = systemd_arbord(tree([steady, crash], intensity=2, period='"60s"'))
    stopping = a.wait_sent("STOPPING", "1", timeout=10)
    before = a.lines_until(stopping)
    assert "event=giveup path=/" in before
    assert not [line for line in before if line.startswith("event=stop")]
    assert a.wait_exit() == 1


# ---- the watchdog -----------------------------------------------------------


def test_watchdog_is_answered(systemd_arbord):
    """With WATCHDOG_USEC (and WATCHDOG_PID its own pid), arbord sends
    WATCHDOG=1 at about half the interval, from its own pid."""
    a = systemd_arbord(tree(services(1)),
                       env={"WATCHDOG_USEC": str(WATCHDOG_USEC)},
                       own_pid=("WATCHDOG_PID",))
    a.wait_sent("READY", "1")
    a.wait_sent("WATCHDOG", "1", count=5, timeout=5)
    pings = a.sent("WATCHDOG", "1")
    assert {m.pid for m in pings} == {a.proc.pid}
    gaps = [b.at - p.at for p, b in zip(pings, pings[1:])]
    interval = WATCHDOG_USEC / 1e6
    assert max(gaps) < interval * SLOW, gaps  # systemd would not kill it
    assert sum(gaps) / len(gaps) > interval / 4, gaps  # nor is it spinning
    assert a.stop() == 0


@pytest.mark.parametrize("watchdog", ["unset", "other_pid"])
def test_no_watchdog_unless_asked(systemd_arbord, watchdog):
    """Without WATCHDOG_USEC, or with a WATCHDOG_PID that is not arbord's
    (the variables were meant for another process), arbord sends no
    WATCHDOG=1 and has no periodic wake-up. Absence needs a window: three
    intervals of the watchdog the other test sees answered."""
    env = {} if watchdog == "unset" else {
        "WATCHDOG_USEC": str(WATCHDOG_USEC), "WATCHDOG_PID": "1"}
    a = systemd_arbord(tree(services(1)), env=env)
    ready = a.wait_sent("READY", "1")
    window = 3 * WATCHDOG_USEC / 1e6
    wait_until(lambda: time.monotonic() - ready.at > window,
               timeout=2 * window, what="three watchdog intervals")
    assert a.sent("WATCHDOG") == []
    assert a.stop() == 0


def test_services_inherit_none_of_systemds_variables(systemd_arbord,
                                                     sockets, tmp_path):
    """NOTIFY_SOCKET, WATCHDOG_* and LISTEN_* are arbord's: a service that
    inherited them would answer arbord's watchdog, or take arbord's control
    socket for its own."""
    ctl_sock = tmp_path / "ctl.sock"
    sockets.append(unix_listener(ctl_sock))
    a = systemd_arbord(
        tree([service("c", SLEEPER, env='[ "MARK=1" ]')]),
        env={"WATCHDOG_USEC": "10000000", "LISTEN_FDS": "1",
             "LISTEN_FDNAMES": "control"},
        own_pid=("WATCHDOG_PID", "LISTEN_PID"), listen=sockets)
    a.wait_sent("READY", "1")
    env = environ_of(a.pid_of("c"))
    assert env.get("MARK") == "1"  # the right process's environment
    assert not set(SYSTEMD_VARS) & set(env), env
    assert a.stop() == 0


# ---- socket activation of the control socket --------------------------------


def test_control_socket_taken_from_systemd(systemd_arbord, sockets,
                                           tmp_path):
    """With LISTEN_FDS, the first listening Unix stream socket is the control
    socket: arbord serves it as it is (no lock file, no chmod, not removed
    at exit: it is systemd's), binds nothing at -s, closes the other passed
    descriptors with a warning, and none reaches a service."""
    tcp = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sockets.append(tcp)
    tcp.bind(("127.0.0.1", 0))
    tcp.listen(1)
    path = tmp_path / "ctl.sock"
    unix = unix_listener(path, mode=0o640)
    sockets.append(unix)
    before = os.stat(path)
    other = tmp_path / "other.sock"
    a = systemd_arbord(tree(services(2)), notify=False, own_pid=(
        "LISTEN_PID",), env={"LISTEN_FDS": "2"}, listen=sockets,
        args=("-s", str(other)))
    a.wait_event("start", "s01")
    r = ctl(path, "status")
    assert r.returncode == 0, r.stderr
    assert "s00" in r.stdout and "s01" in r.stdout
    after = os.stat(path)
    assert (after.st_ino, after.st_mode) == (before.st_ino, before.st_mode)
    assert not (tmp_path / "ctl.sock.lock").exists()
    assert not other.exists() and not (tmp_path / "other.sock.lock").exists()
    assert any("closed descriptor 3" in line for line in a.lines), a.lines
    # Sockets by their sockfs inodes, as /proc/PID/fd shows them.
    tcp_ino, unix_ino = (os.fstat(s.fileno()).st_ino for s in (tcp, unix))
    held = socket_inodes(a.proc.pid)
    assert unix_ino in held and tcp_ino not in held
    for svc in ("s00", "s01"):
        assert not {tcp_ino, unix_ino} & socket_inodes(a.pid_of(svc))
    assert a.stop() == 0
    assert os.stat(path).st_ino == before.st_ino  # still systemd's


def test_listen_fds_for_another_process_are_ignored(systemd_arbord,
                                                    sockets, tmp_path):
    """LISTEN_PID not arbord's: the descriptors are not for it; it binds its
    own control socket as usual, and the variables still go."""
    sockets.append(unix_listener(tmp_path / "ctl.sock"))
    a = systemd_arbord(tree([service("c", SLEEPER)]), notify=False,
                       env={"LISTEN_FDS": "1", "LISTEN_PID": "1"},
                       listen=sockets)
    a.wait_event("start", "c")
    wait_until(lambda: a.socket.exists(), what="arbord's own socket")
    assert ctl(a.socket, "status").returncode == 0
    assert (tmp_path / "arbor.sock.lock").exists()
    assert not set(SYSTEMD_VARS) & set(environ_of(a.pid_of("c")))
    assert a.stop() == 0


def test_socket_activated_by_systemd_socket_activate(systemd_arbord,
                                                     tmp_path):
    """The real protocol, from systemd's own tool: systemd-socket-activate
    listens, and the first client's connection starts arbord on that
    socket; the client waiting in the backlog is answered."""
    tool = shutil.which("systemd-socket-activate")
    if tool is None:
        pytest.skip("systemd-socket-activate not installed (Debian: systemd)")
    path = tmp_path / "activated.sock"
    keep = [f"-E{v}" for v in ("ARBOR_SOCKET", "ASAN_OPTIONS",
                               "UBSAN_OPTIONS", "LSAN_OPTIONS")
            if v in os.environ or v == "ARBOR_SOCKET"]
    a = systemd_arbord(tree(services(2)), notify=False,
                       wrap=(tool, "-l", str(path), *keep),
                       args=("-s", str(path)))
    wait_until(lambda: path.exists(), what="systemd-socket-activate's socket")
    r = ctl(path, "status")
    assert r.returncode == 0, (r.stderr, a.lines)
    assert "s00" in r.stdout
    a.wait_event("start", "s01")
    assert not (tmp_path / "activated.sock.lock").exists()
    assert not a.socket.exists()  # ARBOR_SOCKET is not bound either
    assert a.stop() == 0


# ---- the unit ---------------------------------------------------------------


def test_units_verify(tmp_path):
    """packaging/arbord.service and arbord.socket pass systemd-analyze
    verify, with ExecStart= pointed at the arbord built here."""
    tool = shutil.which("systemd-analyze")
    if tool is None:
        pytest.skip("systemd-analyze not installed (Debian: systemd)")
    arbord = os.path.join(REPO, "daemon", "arbord")
    with open(os.path.join(PACKAGING, "arbord.service")) as f:
        unit = f.read()
    assert "\nExecStart=/usr/local/sbin/arbord\n" in unit  # make install's
    assert "\nExecReload=/usr/local/bin/arborctl reload\n" in unit
    arborctl = os.path.join(REPO, "ctl", "arborctl")
    (tmp_path / "arbord.service").write_text(unit.replace(
        "ExecStart=/usr/local/sbin/arbord", f"ExecStart={arbord}").replace(
        "ExecReload=/usr/local/bin/arborctl", f"ExecReload={arborctl}"))
    shutil.copy(os.path.join(PACKAGING, "arbord.socket"), tmp_path)
    r = subprocess.run([tool, "verify", "--man=no",
                        str(tmp_path / "arbord.service"),
                        str(tmp_path / "arbord.socket")],
                       capture_output=True, text=True, timeout=30)
    if r.returncode != 0 and "System has not been booted" in r.stderr:
        pytest.skip(r.stderr.strip())
    assert r.returncode == 0 and r.stdout + r.stderr == "", r.stdout + r.stderr
    fields = dict(line.split("=", 1) for line in unit.splitlines()
                  if "=" in line and not line.startswith("#"))
    assert fields["Type"] == "notify"
    assert fields["NotifyAccess"] == "main"
    assert fields["KillMode"] == "mixed"
    assert fields["Restart"] == "on-failure"
    assert "WatchdogSec" in fields
