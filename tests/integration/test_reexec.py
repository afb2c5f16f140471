"""arborctl reexec (issue 13): arbord replaced in place by a new binary,
with real processes. Every pid, the whole status, restart history and
pending deadlines cross the exec; no line of output and no queued
connection is lost; deaths during the exec are seen afterwards; a binary
that cannot take over is refused with the tree untouched.

The "new binary" is arbord itself (the same file, or a copy of it):
what crosses the exec is the state document, whichever build reads it.
Waits are bounded polls on arbord's events or on the process table.
"""

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import threading
import time

import pytest

from conftest import ARBORD, FAULTS_ARBORD, REPO, SLEEPER, SLOW, pid_alive, \
    service, supervisor, tree, wait_until
from ctlclient import Conn, status_by_path

ARBORCTL = os.path.join(REPO, "ctl", "arborctl")
ECHO = os.path.join(REPO, "tests", "integration", "helpers", "listen_echo")
SUP = "org.arbor.supervisor."


# ---- helpers ----------------------------------------------------------------


def ctl(sock, *args, timeout=60):
    env = dict(os.environ, ARBOR_SOCKET=str(sock))
    return subprocess.run([ARBORCTL, *args], capture_output=True, text=True,
                          env=env, timeout=timeout * SLOW,
                          stdin=subprocess.DEVNULL)


def reexec(a, *args):
    """arborctl reexec that must succeed: its JSON reply."""
    r = ctl(a.socket, "-j", "reexec", *args)
    assert r.returncode == 0, (r.stdout, r.stderr, a.lines[-20:])
    return json.loads(r.stdout)


def reexec_refused(a, *args):
    """arborctl reexec that must fail: (step, reason)."""
    r = ctl(a.socket, "-j", "reexec", *args)
    assert r.returncode == 1, (r.stdout, r.stderr)
    reply = json.loads(r.stdout)
    assert reply["error"] == SUP + "ReexecFailed", reply
    return reply["parameters"]["step"], reply["parameters"]["reason"]


def start(factory, config, last, timeout=20, **kw):
    a = factory(config, **kw)
    a.wait_event("start", last, timeout=timeout)
    wait_until(lambda: a.socket.exists(), what="the control socket")
    return a


TIMES = ("since_ms", "restart_in_ms")


def without_times(nodes):
    """Status nodes with what changes by the clock alone taken out."""
    return {p: {k: v for k, v in n.items() if k not in TIMES}
            for p, n in nodes.items()}


def ready_line(fd):
    """A shell that says it is ready on descriptor fd, then sleeps."""
    return ["/bin/sh", "-c", f"echo ready >&{fd}; exec sleep 1000"]


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


# ---- everything crosses ------------------------------------------------------


def fifty(tmp_path, port):
    """50 services of every kind: exec, notify, fd:N readiness, listen
    sockets, a pool with instances, a service in a long backoff, and a
    supervisor one crash from giving up (intensity 1, a crash spent)."""
    crash_once = tmp_path / "crashed"
    plain = [service(f"s{i}", SLEEPER) for i in range(30)]
    ready = [
        service(f"n{i}", ["/bin/sh", "-c",
                          "systemd-notify --ready; exec sleep 1000"],
                ready='"notify"')
        for i in range(4)] + [
        service(f"f{i}", ready_line(3), ready='"fd:3"') for i in range(4)]
    listen = service("echo", [ECHO], listen=f'[ "tcp:127.0.0.1:{port}" ]')
    backoff = service("flaky", ["/bin/sh", "-c", "exit 3"],
                      restart_delay='"4s"', restart_delay_max='"4s"')
    edge = supervisor("edge", [
        service("once", ["/bin/sh", "-c",
                         f"[ -e {crash_once} ] && exec sleep 1000; "
                         f"touch {crash_once}; exit 1"]),
        service("steady", SLEEPER)], intensity=1, period='"10min"')
    pool = ('{ name = "pool"; strategy = "simple_one_for_one"; '
            'instances = 3; template = { exec = [ "/bin/sleep", "1000" ]; '
            '}; }')
    return tree(plain + ready + [listen, backoff, edge, pool],
                intensity=100, period='"10s"')


READY_KINDS = [f"n{i}" for i in range(4)] + [f"f{i}" for i in range(4)]


def test_fifty_services_cross_the_exec(arbord, tmp_path):
    port = free_port()
    a = start(arbord, fifty(tmp_path, port), "pool/3", timeout=30)
    # Dynamic children: one added, one spawned.
    r = ctl(a.socket, "add", "/", 'name = "added"; exec = [ "/bin/sleep", '
            '"1000" ];')
    assert r.returncode == 0, r.stderr
    r = ctl(a.socket, "spawn", "pool")
    assert r.returncode == 0, r.stderr
    a.wait_event("start", "added")
    a.wait_event("start", "pool/4")
    a.wait_event("start", "edge/once", count=2)
    a.wait_event("backoff", "flaky")
    wait_until(lambda: all(n["state"] == "up" for p, n in
                           status_by_path(a.socket).items()
                           if p in READY_KINDS),
               timeout=10, what="notify and fd:N services ready")
    before = status_by_path(a.socket)
    before_at = time.monotonic()
    arbord_pid = a.proc.pid

    reply = reexec(a)
    assert reply["to"] and reply["from"]
    a.wait_event("resumed")
    assert a.proc.pid == arbord_pid and a.proc.poll() is None
    after = status_by_path(a.socket)
    after_at = time.monotonic()
    assert without_times(after) == without_times(before)
    # The backoff's deadline crossed as a time, not a delay started again:
    # what remains shrank by what elapsed.
    elapsed_ms = (after_at - before_at) * 1000
    left = after["flaky"]["restart_in_ms"]
    expected = before["flaky"]["restart_in_ms"] - elapsed_ms
    assert expected - 100 <= left <= expected + elapsed_ms + 100, \
        (before["flaky"], after["flaky"], elapsed_ms)
    for p, n in before.items():
        if "pid" in n:
            assert pid_alive(n["pid"]), p
    # The listen socket is still the same one: the service answers.
    with socket.create_connection(("127.0.0.1", port), timeout=5) as c:
        c.sendall(b"hello\n")
        assert c.recv(256).startswith(b"pid=%d" % before["echo"]["pid"])
    # The window crossed: the next crash of edge's once gives edge up.
    os.kill(after["edge/once"]["pid"], signal.SIGKILL)
    a.wait_event("giveup", "edge")
    # The backoff fires when it would have.
    n_starts = len(a.find("start", "flaky"))
    a.wait_event("start", "flaky", count=n_starts + 1, timeout=10)
    fired_at = time.monotonic()
    assert abs((fired_at - after_at) * 1000 - left) < 500 * SLOW, \
        (left, (fired_at - after_at) * 1000)
    assert a.proc.poll() is None


def test_reexec_refuses_a_binary_that_cannot_take_over(arbord, tmp_path):
    a = start(arbord, tree([service("a", SLEEPER)]), "a")
    pid = a.pid_of("a")
    not_exec = tmp_path / "plain"
    not_exec.write_text("#!/bin/sh\n")
    cases = [("/nonexistent/arbord", "binary"),
             (str(not_exec), "binary"),
             ("/bin/false", "probe"),
             ("/bin/echo", "probe")]
    for binary, step in cases:
        got, reason = reexec_refused(a, "--binary", binary)
        assert got == step, (binary, reason)
        assert reason
    assert a.find("resumed") == []
    assert len(a.find("reexec_failed")) == len(cases)
    assert pid_alive(pid) and a.pid_of("a") == pid
    r = ctl(a.socket, "status", "a")
    assert r.returncode == 0 and str(pid) in r.stdout


def test_reexec_refuses_a_configuration_that_no_longer_loads(arbord):
    """The configuration on disk is what a failed resume falls back to:
    the new binary must load it, or nothing is replaced."""
    a = start(arbord, tree([service("a", SLEEPER)]), "a")
    a.config.write_text("children = ( { name = 1; } );\n")
    step, reason = reexec_refused(a)
    assert step == "probe" and "arbor.conf" in reason
    assert a.find("resumed") == []


def test_reexec_into_a_copy_upgraded_on_disk(arbord, tmp_path):
    """The default binary is the path arbord was started from: a new
    file put there (rename over it, as dpkg does) is the one run."""
    copy = tmp_path / "arbord"
    shutil.copy(ARBORD, copy)
    a = start(arbord, tree([service("a", SLEEPER)]), "a", arbord=str(copy))
    pid = a.pid_of("a")
    staged = tmp_path / "arbord.new"
    shutil.copy(ARBORD, staged)
    os.rename(staged, copy)
    reply = reexec(a)
    assert reply["binary"] == str(copy)
    a.wait_event("resumed")
    assert os.readlink(f"/proc/{a.proc.pid}/exe") == str(copy)
    assert pid_alive(pid)


# ---- nothing lost -------------------------------------------------------------


COUNTER = ["/bin/sh", "-c",
           'i=0; while [ $i -lt 1000000 ]; do i=$((i+1)); echo "line $i"; '
           "sleep 0.002; done"]


def numbers(lines):
    """The counter's numbers, in the order the lines came."""
    found = (re.search(r"\bline (\d+)$", l) for l in lines)
    return [int(m.group(1)) for m in found if m]


def test_hundred_reexecs_lose_no_line_and_refuse_no_connection(arbord,
                                                                 tmp_path):
    """Services write numbered lines and a client connects in a loop to a
    held listen socket through 100 re-execs: every line once, in order,
    in the file sink and in the ring; no connection refused."""
    port = free_port()
    log = tmp_path / "counter.log"
    cfg = tree([
        service("counter", COUNTER,
                log=f'{{ sinks = [ "ring", "file" ]; file = "{log}"; '
                    'ring_size = "4M"; }'),
        service("echo", [ECHO], listen=f'[ "tcp:127.0.0.1:{port}" ]')])
    a = start(arbord, cfg, "echo")
    stop = threading.Event()
    stats = {"ok": 0, "refused": 0, "other": []}

    def client():
        while not stop.is_set():
            try:
                with socket.create_connection(("127.0.0.1", port),
                                              timeout=10) as c:
                    c.sendall(b"hi\n")
                    if c.recv(256).startswith(b"pid="):
                        stats["ok"] += 1
            except ConnectionRefusedError:
                stats["refused"] += 1
            except OSError as e:
                stats["other"].append(repr(e))

    # Between two files, so that each re-exec runs the probe too (a probe
    # shares the pipes and sockets it checks).
    copy = tmp_path / "arbord-copy"
    shutil.copy(ARBORD, copy)
    t = threading.Thread(target=client, daemon=True)
    t.start()
    try:
        for i in range(100):
            reexec(a, "--binary", str(copy) if i % 2 == 0 else ARBORD)
    finally:
        stop.set()
        t.join(timeout=20)
    assert len(a.find("resumed")) == 100
    assert stats["refused"] == 0 and stats["other"] == [], stats
    assert stats["ok"] > 100
    pid = a.pid_of("counter")
    os.kill(pid, signal.SIGSTOP)  # the count stops; what it wrote stays
    try:
        wait_until(lambda: log.exists(), what="the file sink")
        time.sleep(0.3)  # the last lines reach the sinks
        in_file = numbers(log.read_text().splitlines())
        r = ctl(a.socket, "logs", "-n", "1000000", "counter")
        assert r.returncode == 0, r.stderr
        in_ring = numbers(r.stdout.splitlines())
    finally:
        os.kill(pid, signal.SIGCONT)
    assert in_file == list(range(1, len(in_file) + 1)), "file sink"
    assert in_ring == list(range(1, len(in_ring) + 1)), "ring"
    assert len(in_file) > 100


def test_deaths_during_the_exec_are_seen_after_it(arbord):
    """A service killed while arbord is between images: its zombie waits
    for the new image, which reaps it, says so and restarts it."""
    a = start(arbord, tree([service("victim", SLEEPER),
                            service("bystander", SLEEPER)],
                           intensity=100), "bystander")
    bystander = a.pid_of("bystander")
    for i in range(10):
        victim = a.pid_of("victim")
        n_resumed = len(a.find("resumed"))
        call = subprocess.Popen(
            [ARBORCTL, "reexec"], env=dict(os.environ,
                                           ARBOR_SOCKET=str(a.socket)),
            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        # Between the reexec event and the new image's first look.
        wait_until(lambda: len(a.find("reexec")) > i, what="event=reexec")
        os.kill(victim, signal.SIGKILL)
        out, err = call.communicate(timeout=30 * SLOW)
        assert call.returncode == 0, (out, err)
        assert len(a.find("resumed")) == n_resumed + 1
        exit_ev = a.wait_event("exit", "victim", count=i + 1)
        assert int(exit_ev["pid"]) == victim
        wait_until(lambda: a.pid_of("victim") != victim,
                   what="victim restarted")
    assert pid_alive(bystander)


# ---- clients ------------------------------------------------------------------


def test_events_and_logs_follow_reconnect(arbord):
    a = start(arbord, tree([service("talker", [
        "/bin/sh", "-c", 'i=0; while :; do i=$((i+1)); echo "t $i"; '
        "sleep 0.01; done"])]), "talker")
    env = dict(os.environ, ARBOR_SOCKET=str(a.socket))
    ev = subprocess.Popen([ARBORCTL, "events"], env=env,
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          text=True)
    lf = subprocess.Popen([ARBORCTL, "logs", "-f", "-n", "0", "talker"],
                          env=env, stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, text=True)
    try:
        time.sleep(0.5 * SLOW)
        reexec(a)
        a.wait_event("resumed")
        time.sleep(0.5 * SLOW)
        # An event of the new image reaches the reconnected follower.
        assert ctl(a.socket, "restart", "talker").returncode == 0
        a.wait_event("start", "talker", count=2)
        time.sleep(0.5 * SLOW)
    finally:
        ev.terminate()
        lf.terminate()
    ev_out, ev_err = ev.communicate(timeout=10)
    lf_out, lf_err = lf.communicate(timeout=10)
    lines = ev_out.splitlines()
    reexec_at = [i for i, l in enumerate(lines) if " reexec from=" in l]
    assert reexec_at, ev_out
    assert any(" start " in l and "talker" in l
               for l in lines[reexec_at[0]:]), ev_out
    assert "reconnected" in ev_err, ev_err
    assert "reconnected" in lf_err, lf_err
    got = [int(l.rsplit(" ", 1)[-1]) for l in lf_out.splitlines()
           if l.split(" ")[-2:-1] == ["t"]]
    # Up to the restart (which counts from 1 again): every line once.
    first_run = got[:next((i for i in range(1, len(got))
                           if got[i] < got[i - 1]), len(got))]
    assert len(first_run) > 50, got
    assert first_run == list(range(first_run[0],
                                   first_run[0] + len(first_run))), got


def test_reexec_of_a_relative_binary_is_an_invalid_parameter(arbord):
    a = start(arbord, tree([service("a", SLEEPER)]), "a")
    with Conn(a.socket) as c:
        c.send(SUP + "Reexec", {"binary": "relative/arbord"})
        reply = c.recv()
    assert reply["error"] == "org.varlink.service.InvalidParameter"
    assert reply["parameters"]["parameter"] == "binary"
    assert a.find("reexec") == []


# ---- under systemd (the notify protocol) ------------------------------------


def notify_listener(tmp_path):
    """A NOTIFY_SOCKET as systemd's: (messages, stop event, socket,
    reader thread)."""
    path = str(tmp_path / "notify.sock")
    srv = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    srv.bind(path)
    srv.settimeout(0.2)
    got = []
    stop = threading.Event()

    def read():
        while not stop.is_set():
            try:
                got.append(srv.recv(4096).decode())
            except socket.timeout:
                pass

    t = threading.Thread(target=read, daemon=True)
    t.start()
    return got, stop, srv, t


def test_notify_reload_protocol_across_reload_and_reexec(arbord, tmp_path):
    """Type=notify-reload: RELOADING=1 with MONOTONIC_USEC, then READY=1,
    for a reload (SIGHUP) and for a re-exec; the watchdog goes on."""
    got, stop, srv, t = notify_listener(tmp_path)
    path = srv.getsockname()
    try:
        a = start(arbord, tree([service("a", SLEEPER)]), "a",
                  env={"NOTIFY_SOCKET": path, "WATCHDOG_USEC": "200000"})
        wait_until(lambda: any("READY=1" in m for m in got),
                   what="READY=1")
        n = len(got)
        a.signal(signal.SIGHUP)
        a.wait_event("reload")
        wait_until(lambda: any("READY=1" in m for m in got[n:]),
                   what="READY=1 after the reload")
        reloading = [m for m in got[n:] if "RELOADING=1" in m]
        assert reloading and "MONOTONIC_USEC=" in reloading[0], got[n:]
        n = len(got)
        reexec(a)
        wait_until(lambda: any("READY=1" in m for m in got[n:]),
                   what="READY=1 after the re-exec")
        assert any("RELOADING=1" in m for m in got[n:]), got[n:]
        n = len(got)
        wait_until(lambda: sum("WATCHDOG=1" in m for m in got[n:]) >= 3,
                   what="the watchdog after the re-exec")
    finally:
        stop.set()
        t.join(timeout=5)
        srv.close()


# ---- a failure after the exec -------------------------------------------------


def test_a_resume_that_fails_falls_back_to_the_configuration(arbord):
    """The new image refuses the state after the probe passed (a fault
    hook): what the old image ran is killed, nothing is run twice, and
    the tree boots again from the configuration on disk."""
    a = start(arbord, tree([service("a", SLEEPER), service("b", SLEEPER)]),
              "b", arbord=FAULTS_ARBORD, env={"ARBOR_FAULT_RESUME": "1"})
    old = {p: a.pid_of(p) for p in ("a", "b")}
    r = ctl(a.socket, "reexec", "--binary", FAULTS_ARBORD)
    # The new image answers the caller before it falls back.
    assert r.returncode == 1, (r.stdout, r.stderr)
    assert "refused: resume: ARBOR_FAULT_RESUME" in r.stderr, r.stderr
    wait_until(lambda: len(a.find("start", "b")) >= 2,
               what="the tree booted again")
    for p, pid in old.items():
        wait_until(lambda pid=pid: not pid_alive(pid),
                   what=f"the old {p} killed")
        assert a.pid_of(p) != pid
    assert any("cannot resume" in l for l in a.lines)
    assert a.proc.poll() is None


def test_a_failed_resume_keeps_systemd_informed(arbord, tmp_path):
    """What systemd passed the first image crosses the fallback too: the
    tree boots again, says READY=1, and the watchdog goes on."""
    got, stop, srv, t = notify_listener(tmp_path)
    try:
        a = start(arbord, tree([service("a", SLEEPER)]), "a",
                  arbord=FAULTS_ARBORD,
                  env={"NOTIFY_SOCKET": srv.getsockname(),
                       "WATCHDOG_USEC": "200000", "ARBOR_FAULT_RESUME": "1"})
        wait_until(lambda: any("READY=1" in m for m in got), what="READY=1")
        n = len(got)
        ctl(a.socket, "reexec", "--binary", FAULTS_ARBORD)
        a.wait_event("start", "a", count=2)
        wait_until(lambda: any("READY=1" in m for m in got[n:]),
                   what="READY=1 after the fallback")
        m = len(got)
        wait_until(lambda: sum("WATCHDOG=1" in x for x in got[m:]) >= 2,
                   what="the watchdog after the fallback")
    finally:
        stop.set()
        t.join(timeout=5)
        srv.close()


# ---- found in review -------------------------------------------------------


@pytest.mark.parametrize("refused", [False, True])
def test_a_unix_listen_socket_keeps_its_path(arbord, tmp_path, refused):
    """Bug: the probe, which takes the listen sockets over to check them,
    removed a Unix socket's path as it let them go, re-exec or not."""
    path = tmp_path / "echo.sock"
    a = start(arbord, tree([service("echo", [ECHO],
                                    listen=f'[ "unix:{path}" ]')]), "echo")
    if refused:
        a.config.write_text("children = ( { name = 1; } );\n")
        assert reexec_refused(a)[0] == "probe"
    else:
        reexec(a)
        a.wait_event("resumed")
    assert path.exists()
    with socket.socket(socket.AF_UNIX) as c:
        c.settimeout(5)
        c.connect(str(path))
        c.sendall(b"hi\n")
        assert c.recv(256).startswith(b"pid=")


def open_fds(pid):
    return len(os.listdir(f"/proc/{pid}/fd"))


def test_descriptors_do_not_grow_over_reexecs(arbord):
    a = start(arbord, tree([
        service("a", SLEEPER),
        service("n", ["/bin/sh", "-c",
                      "systemd-notify --ready; exec sleep 1000"],
                ready='"notify"')]), "n")
    a.wait_event("ready", "n")
    reexec(a)
    a.wait_event("resumed")
    first = open_fds(a.proc.pid)
    for i in range(5):
        reexec(a)
        a.wait_event("resumed", count=i + 2)
    assert open_fds(a.proc.pid) == first


def test_signals_during_the_exec_are_not_lost(arbord):
    """Bug: a signal that came between the old image's last look and the
    new image's handlers killed arbord (SIGHUP's default action) or was
    lost. They are blocked from the last turn of the old loop: one that
    comes waits for the new image."""
    a = start(arbord, tree([service(f"s{i}", SLEEPER) for i in range(300)],
                           intensity=100), "s299", timeout=30)
    for i in range(5):
        n_reload = len(a.find("reload"))
        call = subprocess.Popen(
            [ARBORCTL, "reexec"], env=dict(os.environ,
                                           ARBOR_SOCKET=str(a.socket)),
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_until(lambda: len(a.find("reexec")) > i, what="event=reexec")
        for _ in range(100):
            a.signal(signal.SIGHUP)
            time.sleep(0.0002)
        call.wait(timeout=30 * SLOW)
        assert a.proc.poll() is None, a.lines[-5:]
        a.wait_event("reload", count=n_reload + 1)


def test_request_ids_are_not_given_again_after_reexec(arbord):
    """Bug: the new image numbered requests from 1 again, so the answer
    to a stop the old image had begun reached a new client's restart."""
    stubborn = ["/bin/sh", "-c", "trap '' TERM; while :; do sleep 0.1; done"]
    a = start(arbord, tree([service("a", SLEEPER),
                            service("slow", stubborn,
                                    stop_timeout='"3s"'),
                            service("b", stubborn, stop_timeout='"2s"')]),
              "b")
    assert ctl(a.socket, "restart", "a").returncode == 0
    env = dict(os.environ, ARBOR_SOCKET=str(a.socket))
    stopper = subprocess.Popen([ARBORCTL, "stop", "slow"], env=env,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    wait_until(lambda: ctl(a.socket, "-j", "status", "slow").stdout
               .find('"stopping"') >= 0, what="slow stopping")
    reexec(a)
    r = ctl(a.socket, "restart", "b")
    assert r.returncode == 0, r.stderr
    # The answer came once b was started again, not with slow's.
    assert len(a.find("start", "b")) == 2
    stopper.communicate(timeout=20)
    a.wait_event("stop", "slow")
