"""Readiness (SEMANTICS.md M6), the watchdog and backoff (M7), with real
programs: Debian's systemd-notify and redis-server, shells writing to a
readiness descriptor, and processes that stop answering."""

import os
import shutil
import socket
import subprocess

import pytest

from conftest import SLEEPER, SLOW, pid_alive, service, tree, wait_until
from ctlclient import SUP, call, status


def environ_of(pid):
    with open(f"/proc/{pid}/environ", "rb") as f:
        return dict(item.decode().split("=", 1)
                    for item in f.read().split(b"\0") if item)


def node(a, path):
    return next(n for n in status(str(a.socket)) if n["path"] == path)


def sh(script):
    return ["/bin/sh", "-c", script]


def once(path, script):
    """A shell that runs script once path exists (the test's go-ahead)."""
    return sh(f"while [ ! -e {path} ]; do sleep 0.02; done; {script}")


def index_of(a, event, path):
    for i, e in enumerate(a.snapshot()):
        if e.get("event") == event and e.get("path") == path:
            return i
    raise AssertionError(f"no event={event} path={path}")


def test_notify_next_sibling_waits_for_ready(arbord, tmp_path):
    """A shell child using systemd-notify --ready: the next sibling starts
    only after READY=1, and STATUS= shows in status."""
    go = tmp_path / "go"
    a = arbord(tree([
        service("db", once(go, "systemd-notify --ready --status='Accepting'; "
                         "exec sleep 1000"), ready='"notify"'),
        service("web", SLEEPER)]))
    a.wait_event("start", "db")
    wait_until(lambda: a.socket.exists(), what="the control socket")
    db = node(a, "db")
    assert db["state"] == "starting" and db["waiting"] == "ready"
    assert not a.find("start", "web")
    env = environ_of(a.pid_of("db"))
    assert env["NOTIFY_SOCKET"].startswith("@arbor/notify/")
    go.touch()
    a.wait_event("start", "web")
    assert index_of(a, "ready", "db") < index_of(a, "start", "web")
    db = node(a, "db")
    assert db["state"] == "up" and db["ready"] is True
    assert db["status"] == "Accepting"
    text = subprocess.run(
        [os.path.join(os.path.dirname(__file__), "..", "..", "ctl",
                      "arborctl"), "--socket", str(a.socket), "status"],
        capture_output=True, text=True, timeout=10).stdout
    assert '"Accepting"' in text
    assert a.stop() == 0


@pytest.mark.skipif(shutil.which("redis-server") is None,
                    reason="redis-server is not installed")
def test_redis_ready_through_notify_before_its_sibling(arbord, tmp_path):
    """redis-server with supervised systemd becomes ready through notify;
    the sibling after it starts only then, and finds it answering."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    out = tmp_path / "ping"
    a = arbord(tree([
        service("redis", ["/usr/bin/redis-server", "--port", str(port),
                          "--bind", "127.0.0.1", "--supervised", "systemd",
                          "--daemonize", "no", "--save", "",
                          "--appendonly", "no", "--dir", str(tmp_path)],
                ready='"notify"', start_timeout='"20s"'),
        service("client", sh(f"redis-cli -p {port} ping > {out}; "
                             "exec sleep 1000"))]))
    a.wait_event("ready", "redis", timeout=20)
    a.wait_event("start", "client")
    assert index_of(a, "ready", "redis") < index_of(a, "start", "client")
    wait_until(lambda: out.exists() and out.read_text().strip(),
               what="redis-cli's answer")
    assert out.read_text().strip() == "PONG"
    assert node(a, "redis")["status"].startswith("Ready to accept")
    assert a.stop() == 0


def test_notify_from_an_unrelated_process_is_ignored(arbord, tmp_path):
    """READY=1 sent by a process outside the service's group (the test
    itself) changes nothing; the service's own message does."""
    go = tmp_path / "go"
    a = arbord(tree([
        service("db", once(go, "systemd-notify --ready; exec sleep 1000"),
                ready='"notify"'),
        service("web", SLEEPER)]))
    a.wait_event("start", "db")
    address = environ_of(a.pid_of("db"))["NOTIFY_SOCKET"]
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as s:
        s.sendto(b"READY=1\nSTATUS=forged", "\0" + address[1:])
    wait_until(lambda: a.socket.exists(), what="the control socket")
    # Give arbord time to read it; it must not count.
    for _ in range(20):
        assert node(a, "db")["state"] == "starting"
        assert "status" not in node(a, "db")
        assert not a.find("ready")
    go.touch()
    a.wait_event("ready", "db")
    a.wait_event("start", "web")
    assert a.stop() == 0


def test_fd_readiness(arbord, tmp_path):
    """ready = "fd:3": a line on descriptor 3 is readiness (s6's way)."""
    go = tmp_path / "go"
    a = arbord(tree([
        service("db", once(go, "echo ready >&3; exec sleep 1000"),
                ready='"fd:3"'),
        service("web", SLEEPER)]))
    a.wait_event("start", "db")
    pid = a.pid_of("db")
    assert os.path.exists(f"/proc/{pid}/fd/3")
    assert os.readlink(f"/proc/{pid}/fd/3").startswith("pipe:")
    assert not a.find("start", "web")
    go.touch()
    a.wait_event("start", "web")
    assert index_of(a, "ready", "db") < index_of(a, "start", "web")
    assert a.stop() == 0


def test_exit_before_ready_is_a_start_failure(arbord):
    """Exiting before ready fails the start: during init, arbord gives up
    with status 1 after stopping what it started (S3)."""
    a = arbord(tree([service("a", SLEEPER),
                     service("b", sh("exit 3"), ready='"fd:3"'),
                     service("c", SLEEPER)]))
    assert a.wait_exit() == 1
    failed = a.wait_event("start_failed", "b")
    assert failed["code"] == "3"
    assert failed["error"] == "exited before it was ready"
    assert a.trace() == ["start /", "start a", "start b", "start_failed b",
                         "stop a", "start_failed /", "down"]


def test_start_timeout_stops_the_service(arbord):
    """Not ready within start_timeout: the service is stopped with its
    stop protocol, and the start failed."""
    a = arbord(tree([service("a", SLEEPER, ready='"notify"',
                             start_timeout='"300ms"')]))
    a.wait_event("start", "a")
    pid = a.pid_of("a")
    failed = a.wait_event("start_failed", "a")
    assert failed["error"] == "not ready within start_timeout"
    assert failed["start_timeout"] == "300ms"
    wait_until(lambda: not pid_alive(pid), what="the stopped service gone")
    assert a.wait_exit() == 1


def test_extend_timeout(arbord, tmp_path):
    """EXTEND_TIMEOUT_USEC= buys time beyond start_timeout."""
    a = arbord(tree([service("a", sh(
        "systemd-notify EXTEND_TIMEOUT_USEC=3000000; sleep 1; "
        "systemd-notify --ready; exec sleep 1000"),
        ready='"notify"', start_timeout='"400ms"')]))
    a.wait_event("ready", "a", timeout=5)
    assert not a.find("start_failed")
    assert a.stop() == 0


def test_watchdog_missed_keepalive_restarts(arbord):
    """watchdog: WATCHDOG_USEC and WATCHDOG_PID are passed; keep-alives
    keep the service; when they stop it gets SIGABRT, which is a crash,
    and it is restarted."""
    a = arbord(tree([service("w", sh(
        "for i in 1 2 3 4 5 6; do systemd-notify WATCHDOG=1; sleep 0.1; "
        "done; exec sleep 1000"), watchdog='"500ms"')]))
    a.wait_event("start", "w")
    pid = a.pid_of("w")
    env = environ_of(pid)
    assert env["WATCHDOG_USEC"] == "500000"
    assert env["WATCHDOG_PID"] == str(pid)
    assert "NOTIFY_SOCKET" in env
    fired = a.wait_event("watchdog", "w", timeout=5)
    assert fired["pid"] == str(pid)
    died = a.wait_event("exit", "w")
    assert died["signal"] == "ABRT" and died["reason"] == "crash"
    a.wait_event("start", "w", count=2)
    # The keep-alives really kept it: no verdict before they stopped.
    first = a.find("start", "w")[0]
    assert first["pid"] == str(pid)
    assert a.stop() == 0


def test_watchdog_hung_service_is_killed(arbord):
    """A service that ignores SIGABRT is SIGKILLed after stop_timeout."""
    a = arbord(tree([service("w", sh("trap '' ABRT; exec sleep 1000"),
                             watchdog='"300ms"', stop_timeout='"300ms"')]))
    a.wait_event("watchdog", "w", timeout=5)
    died = a.wait_event("exit", "w")
    assert died["signal"] == "ABRT" or died["signal"] == "KILL"
    assert died["reason"] == "crash"
    a.wait_event("start", "w", count=2)
    assert a.stop() == 0


def test_backoff_grows_shows_and_stop_cancels(arbord):
    """restart_delay/restart_delay_max: each restart waits longer, the
    wait shows in status, and a stop cancels the pending restart."""
    a = arbord(tree([service("c", sh("sleep 0.05; exit 1"),
                             restart_delay='"200ms"',
                             restart_delay_max='"800ms"')],
                    intensity=20, period='"60s"'))
    delays = []
    for i in range(4):
        ev = a.wait_event("backoff", "c", count=i + 1, timeout=10)
        delays.append(int(ev["delay"].removesuffix("ms")))
    for got, nominal in zip(delays, [200, 400, 800, 800]):
        assert nominal * 0.9 <= got <= nominal, delays
    wait_until(lambda: a.socket.exists(), what="the control socket")
    # Catch it waiting, then stop it: the restart never happens.
    def waiting():
        n = node(a, "c")
        return n if n["state"] == "restarting" else None
    n = wait_until(waiting, timeout=10, what="c waiting for its restart")
    assert 0 <= n["restart_in_ms"] <= 800
    call(str(a.socket), SUP + "Stop", {"path": "c"})
    starts = len(a.find("start", "c"))
    wait_until(lambda: node(a, "c")["state"] == "down", what="c down")
    for _ in range(10):
        assert node(a, "c")["state"] == "down"
    assert len(a.find("start", "c")) == starts
    assert a.stop() == 0


def test_mainpid_moves_the_main_process(arbord):
    """MAINPID=: a service whose first process hands over to another; the
    first one's exit is not a death of the service, the second one's is."""
    a = arbord(tree([service("d", sh(
        "sleep 1000 & systemd-notify --ready MAINPID=$!; exit 0"),
        ready='"notify"')]))
    a.wait_event("ready", "d")
    first = a.pid_of("d")
    wait_until(lambda: not pid_alive(first), what="the first process gone")
    wait_until(lambda: a.socket.exists(), what="the control socket")
    main = wait_until(lambda: node(a, "d").get("pid") != first
                      and node(a, "d").get("pid"), what="the new main pid")
    try:
        assert pid_alive(main)
        assert not a.find("exit", "d")
        os.kill(main, 9)
        died = a.wait_event("exit", "d")
        assert died["pid"] == str(main) and died["reason"] == "crash"
        a.wait_event("ready", "d", count=2)
        assert a.stop() == 0
    finally:
        # Its group's leader is gone, so the fixture cannot find it.
        if pid_alive(main):
            os.kill(main, 9)


def test_mainpid_reaped_by_the_service_itself_is_seen(arbord):
    """A wrapper that starts its daemon, names it with MAINPID= and waits
    for it: the wrapper reaps the daemon, arbord still sees the death
    (through a pidfd) and restarts the service."""
    a = arbord(tree([service("d", sh(
        "sleep 1000 & systemd-notify --ready MAINPID=$!; wait; exit 3"),
        ready='"notify"')]))
    a.wait_event("ready", "d")
    wait_until(lambda: a.socket.exists(), what="the control socket")
    main = wait_until(lambda: node(a, "d").get("pid") != a.pid_of("d")
                      and node(a, "d").get("pid"), what="the new main pid")
    os.kill(main, 9)
    died = a.wait_event("exit", "d")
    assert died["pid"] == str(main) and died["reason"] == "crash"
    a.wait_event("ready", "d", count=2)
    assert a.stop() == 0


def test_mainpid_while_stopping_is_ignored(arbord):
    """MAINPID= from a service that is being stopped changes nothing: the
    stop completes."""
    a = arbord(tree([service("d", sh(
        "trap 'sleep 1000 & systemd-notify MAINPID=$!; exit 0' TERM; "
        "systemd-notify --ready; while :; do sleep 0.2 & wait $!; done"),
        ready='"notify"', stop_timeout='"1s"')]))
    a.wait_event("ready", "d")
    assert a.stop() == 0
    assert a.find("stop", "d")


def test_mainpid_of_another_services_process_is_refused(arbord, tmp_path):
    """A service cannot name another service's process as its own."""
    pidfile = tmp_path / "b.pid"
    a = arbord(tree([
        service("b", sh(f"sleep 1000 & echo $! > {pidfile}; wait")),
        service("a", sh(f"while [ ! -s {pidfile} ]; do sleep 0.02; done; "
                        f"systemd-notify --ready MAINPID=$(cat {pidfile}); "
                        "exec sleep 1000"), ready='"notify"')]))
    a.wait_event("ready", "a")
    worker = int(pidfile.read_text())
    wait_until(lambda: any("MAINPID" in l for l in a.lines),
               what="the refusal")
    assert any(f"MAINPID={worker} ignored" in l for l in a.lines)
    wait_until(lambda: a.socket.exists(), what="the control socket")
    assert node(a, "a")["pid"] == a.pid_of("a")
    call(str(a.socket), SUP + "Stop", {"path": "a"})
    assert pid_alive(worker)
    assert a.stop() == 0
