"""The control socket: every method of org.arbor.supervisor against a real
arbord with real children, its error replies, its robustness against bad
or hostile clients, the socket's life cycle and its permissions.

Each test talks to arbord's private socket (tmp_path/arbor.sock, or one
passed with -s) through ctlclient. Waits are bounded polls.
"""

import grp
import json
import os
import pathlib
import pwd
import re
import select
import shutil
import signal
import socket
import stat
import subprocess
import tempfile
import threading
import time

import pytest

from conftest import ARBORD, SLEEPER, SLOW, pid_alive, rss_kib, service, start_web, \
    supervisor, tree, wait_until, web_tree
from ctlclient import MSG_MAX, Closed, Conn, VarlinkError, call, encode, \
    status, status_by_path, try_call

HERE = os.path.dirname(os.path.abspath(__file__))
SUP = "org.arbor.supervisor."
STATUS = SUP + "Status"
START = SUP + "Start"
STOP = SUP + "Stop"
RESTART = SUP + "Restart"
SIGNAL = SUP + "Signal"
EVENTS = SUP + "Events"
SHUTDOWN = SUP + "Shutdown"
GET_INFO = "org.varlink.service.GetInfo"
GET_INTERFACE = "org.varlink.service.GetInterfaceDescription"
INVALID_PARAMETER = "org.varlink.service.InvalidParameter"
PERMISSION_DENIED = "org.varlink.service.PermissionDenied"
TOO_MANY_CLIENTS = SUP + "TooManyClients"
PYTHON = "/usr/bin/python3"


# ---- helpers ----------------------------------------------------------------


def pids(sock):
    """path -> pid of every running service."""
    return {p: n["pid"] for p, n in status_by_path(sock).items()
            if "pid" in n}


def error_of(sock, method, params=None):
    name, params = try_call(sock, method, params)
    assert name is not None, f"{method} {params} succeeded"
    return name, params


def subscribe(sock):
    """An Events subscriber that arbord has registered.

    Events sends nothing until the first event, so a round trip on a second
    connection, opened after the call was sent, serves as the barrier: arbord
    accepts connections in order and handles every ready one in a loop
    iteration before it writes the second one's reply."""
    c = Conn(sock, timeout=5.0 * SLOW)
    c.send(EVENTS, {}, more=True)
    call(sock, GET_INFO)
    return c


def fds(pid):
    return os.listdir(f"/proc/{pid}/fd")


def socket_fds(pid):
    n = 0
    for fd in fds(pid):
        try:
            if os.readlink(f"/proc/{pid}/fd/{fd}").startswith("socket:"):
                n += 1
        except FileNotFoundError:
            pass
    return n


def idle_fd_count(a):
    """arbord's fd count once it holds no client connection (its only
    socket is the listening one)."""
    wait_until(lambda: socket_fds(a.proc.pid) == 1,
               what="arbord to hold no client connection")
    return len(fds(a.proc.pid))


def still_fine(a, before):
    """arbord runs, answers Status, and every service kept its pid."""
    assert a.proc.poll() is None, a.lines[-20:]
    now = pids(a.socket)
    assert now == before
    assert all(pid_alive(p) for p in now.values())


# ---- Status -----------------------------------------------------------------


def test_status_whole_tree_shape(arbord):
    """Status without a path lists every node depth first in start order,
    with exactly the documented fields and the pids arbord reported."""
    a = start_web(arbord)
    nodes = status(a.socket)
    assert [n["path"] for n in nodes] == ["/", "a", "b", "web", "web/app",
                                          "web/proxy"]
    sup_keys = {"path", "kind", "strategy", "restart", "state", "since_ms",
                "restarts", "ready"}
    svc_keys = {"path", "kind", "restart", "state", "pid", "since_ms",
                "restarts", "ready"}
    by = {n["path"]: n for n in nodes}
    for path in ("/", "web"):
        assert set(by[path]) == sup_keys, by[path]
        assert by[path]["kind"] == "supervisor"
    assert by["/"]["strategy"] == "one_for_one"
    assert by["web"]["strategy"] == "rest_for_one"
    for path in ("a", "b", "web/app", "web/proxy"):
        n = by[path]
        assert set(n) == svc_keys, n
        assert n["kind"] == "service"
        assert n["pid"] == a.pid_of(path)
    for n in nodes:
        assert n["state"] == "up" and n["ready"] is True
        assert n["restarts"] == 0
        assert isinstance(n["since_ms"], int) and n["since_ms"] >= 0
    assert by["web/app"]["restart"] == "transient"
    assert by["web/proxy"]["restart"] == "permanent"


def test_status_of_a_subtree(arbord):
    """Status of a supervisor is that node and its subtree only; of a
    service, that service alone; leading and trailing slashes are
    accepted."""
    a = start_web(arbord)
    assert [n["path"] for n in status(a.socket, "web")] == \
        ["web", "web/app", "web/proxy"]
    assert [n["path"] for n in status(a.socket, "/web/")] == \
        ["web", "web/app", "web/proxy"]
    only = status(a.socket, "web/proxy")
    assert [n["path"] for n in only] == ["web/proxy"]
    assert only[0]["pid"] == a.pid_of("web/proxy")
    assert [n["path"] for n in status(a.socket, "/")][0] == "/"


def test_status_since_ms_counts_up(arbord):
    """since_ms is the time in the current state: it grows."""
    a = start_web(arbord)
    first = status(a.socket, "a")[0]["since_ms"]
    wait_until(lambda: status(a.socket, "a")[0]["since_ms"] >= first + 50,
               what="since_ms to grow")


def test_status_reports_last_exit_and_restart(arbord, tmp_path):
    """A service that crashed once (exit 7) and was restarted shows
    restarts 1 and last_exit {pid, code 7, reason crash}."""
    flag = tmp_path / "crashed"
    script = (f'if [ -e {flag} ]; then exec /bin/sleep 1000; fi; '
              f': > {flag}; exit 7')
    a = arbord(tree([service("once", ["/bin/sh", "-c", script])]))
    first = a.wait_event("start", "once")
    a.wait_event("start", "once", count=2)
    n = status(a.socket, "once")[0]
    assert n["restarts"] == 1
    assert n["state"] == "up" and n["pid"] == a.pid_of("once")
    assert n["last_exit"] == {"pid": int(first["pid"]), "code": 7,
                              "reason": "crash"}


# ---- Stop, Start, Restart ---------------------------------------------------


def test_stop_keeps_the_child_stopped_and_counts_nothing(arbord):
    """Stop is terminate_child: the child ends, stays down, restarts stays
    0, no strategy runs (siblings keep their pids)."""
    a = start_web(arbord)
    before = pids(a.socket)
    assert call(a.socket, STOP, {"path": "a"}) == {}
    ev = a.wait_event("stop", "a")
    assert int(ev["pid"]) == before["a"]
    wait_until(lambda: not pid_alive(before["a"]), what="a to be gone")
    # A later request, carried out after any restart would have been,
    # is the barrier for "a stays down".
    assert call(a.socket, RESTART, {"path": "b"}) == {}
    a.wait_event("start", "b", count=2)
    by = status_by_path(a.socket)
    assert by["a"]["state"] == "down" and "pid" not in by["a"]
    assert by["a"]["ready"] is False
    assert by["a"]["restarts"] == 0 and by["/"]["restarts"] == 0
    assert len(a.find("start", "a")) == 1
    now = pids(a.socket)
    for path in ("web/app", "web/proxy"):
        assert now[path] == before[path]


def test_stop_of_a_stopped_child_is_ok(arbord):
    """D2: terminate_child of a child already stopped returns ok."""
    a = start_web(arbord)
    assert call(a.socket, STOP, {"path": "a"}) == {}
    assert call(a.socket, STOP, {"path": "a"}) == {}
    # A reply can overtake its event on the way to the test (stderr is read
    # by a thread): a start logged after both stops is the mark that every
    # event of theirs has been read.
    assert call(a.socket, START, {"path": "a"}) == {}
    a.wait_event("start", "a", count=2)
    assert len(a.find("stop", "a")) == 1


def test_start_of_a_stopped_child(arbord):
    """Start is restart_child: a stopped child runs again with a new pid,
    no restart counted, siblings untouched."""
    a = start_web(arbord)
    before = pids(a.socket)
    call(a.socket, STOP, {"path": "a"})
    assert call(a.socket, START, {"path": "a"}) == {}
    a.wait_event("start", "a", count=2)
    now = status_by_path(a.socket)
    assert now["a"]["state"] == "up"
    assert now["a"]["pid"] == a.pid_of("a") != before["a"]
    assert now["a"]["restarts"] == 0
    assert {p: n["pid"] for p, n in now.items() if p != "a" and "pid" in n} \
        == {p: v for p, v in before.items() if p != "a"}


def test_stop_start_cycles_do_not_count_against_intensity(arbord):
    """Manual stops and starts are not restarts: more cycles than the
    intensity allows leave the tree running, nothing counted."""
    a = arbord(tree([service("a", SLEEPER), service("b", SLEEPER)],
                    intensity=1, period='"60s"'))
    a.wait_event("start", "b")
    for i in range(4):
        assert call(a.socket, STOP, {"path": "a"}) == {}
        assert call(a.socket, START, {"path": "a"}) == {}
    a.wait_event("start", "a", count=5)
    assert not a.find("giveup")
    by = status_by_path(a.socket)
    assert by["a"]["restarts"] == 0 and by["/"]["restarts"] == 0
    assert by["b"]["pid"] == a.pid_of("b")


def test_stop_of_a_supervisor_stops_its_subtree(arbord):
    """Stop of a supervisor stops its children in reverse start order, then
    itself; Start brings the whole subtree back with new pids."""
    a = start_web(arbord)
    before = pids(a.socket)
    mark = len(a.snapshot())
    assert call(a.socket, STOP, {"path": "web"}) == {}
    a.wait_event("stop", "web")
    assert a.trace()[mark:] == ["stop web/proxy", "stop web/app",
                                "stop web"]
    by = status_by_path(a.socket, "web")
    assert all(n["state"] == "down" for n in by.values())
    assert call(a.socket, START, {"path": "web"}) == {}
    a.wait_event("start", "web/proxy", count=2)
    now = pids(a.socket)
    assert now["web/app"] != before["web/app"]
    assert now["web/proxy"] != before["web/proxy"]
    assert now["a"] == before["a"] and now["b"] == before["b"]


def test_restart_of_a_service(arbord):
    """Restart of a service: the old process ends, a new one starts; its
    siblings keep their pids."""
    a = start_web(arbord)
    before = pids(a.socket)
    assert call(a.socket, RESTART, {"path": "b"}) == {}
    a.wait_event("start", "b", count=2)
    wait_until(lambda: not pid_alive(before["b"]), what="old b gone")
    now = pids(a.socket)
    assert now["b"] != before["b"] and pid_alive(now["b"])
    assert {p: v for p, v in now.items() if p != "b"} == \
        {p: v for p, v in before.items() if p != "b"}


def test_restart_of_a_subtree(arbord):
    """Restart of a supervisor stops its subtree in reverse order and
    starts it again in order: every service below has a new pid, the rest
    of the tree is untouched."""
    a = start_web(arbord)
    before = pids(a.socket)
    mark = len(a.snapshot())
    assert call(a.socket, RESTART, {"path": "web"}) == {}
    a.wait_event("start", "web/proxy", count=2)
    assert a.trace()[mark:] == ["stop web/proxy", "stop web/app",
                                "stop web", "start web", "start web/app",
                                "start web/proxy"]
    now = pids(a.socket)
    for path in ("web/app", "web/proxy"):
        assert now[path] != before[path]
        assert not pid_alive(before[path]) and pid_alive(now[path])
    assert now["a"] == before["a"] and now["b"] == before["b"]


def test_restart_of_a_stopped_child_starts_it(arbord):
    """Restart of a child that is down starts it."""
    a = start_web(arbord)
    call(a.socket, STOP, {"path": "a"})
    assert call(a.socket, RESTART, {"path": "a"}) == {}
    a.wait_event("start", "a", count=2)
    assert status(a.socket, "a")[0]["state"] == "up"


# ---- Signal -----------------------------------------------------------------


def test_signal_reaches_the_service(arbord, tmp_path):
    """Signal USR1 to a service that traps it and exits 3: the exit event
    says code=3, reason crash, and Status's last_exit agrees."""
    ready = tmp_path / "ready"
    prog = ("import pathlib, signal, sys\n"
            "signal.signal(signal.SIGUSR1, lambda *_: sys.exit(3))\n"
            f"pathlib.Path({str(ready)!r}).touch()\n"
            "while True: signal.pause()\n")
    a = arbord(tree([service("trap", [PYTHON, "-c", prog]),
                     service("other", SLEEPER)]))
    a.wait_event("start", "other")
    wait_until(ready.exists, what="the trap to be set")
    pid = a.pid_of("trap")
    assert call(a.socket, SIGNAL, {"path": "trap", "signal": "USR1"}) == {}
    ev = a.wait_event("exit", "trap")
    assert int(ev["pid"]) == pid
    assert ev["code"] == "3" and ev["reason"] == "crash"
    assert "signal" not in ev
    a.wait_event("start", "trap", count=2)
    n = status(a.socket, "trap")[0]
    assert n["last_exit"] == {"pid": pid, "code": 3, "reason": "crash"}
    assert n["restarts"] == 1
    assert status(a.socket, "other")[0]["pid"] == a.pid_of("other")


def test_signal_goes_to_the_process_group(arbord):
    """The signal reaches the service's whole process group, not only its
    leader: a grandchild started by a shell dies of it too."""
    a = arbord(tree([service("sh", ["/bin/sh", "-c",
                                    "/bin/sleep 1000 & wait"])]))
    a.wait_event("start", "sh")
    pid = a.pid_of("sh")
    children = wait_until(lambda: [int(t) for t in os.listdir("/proc")
                                   if t.isdigit() and _ppid(int(t)) == pid],
                          what="the shell's child")
    assert children
    call(a.socket, SIGNAL, {"path": "sh", "signal": "USR1"})
    a.wait_event("exit", "sh")
    wait_until(lambda: not any(pid_alive(c) for c in children),
               what="the grandchild to die")
    a.wait_event("start", "sh", count=2)


def _ppid(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            return int(f.read().rsplit(")", 1)[1].split()[1])
    except (FileNotFoundError, ProcessLookupError, ValueError):
        return -1


def test_signal_of_something_not_running(arbord):
    """Signal to a stopped service or to a supervisor is NotRunning; an
    unknown signal name is InvalidParameter; nothing is touched."""
    a = start_web(arbord)
    call(a.socket, STOP, {"path": "a"})
    before = pids(a.socket)
    assert error_of(a.socket, SIGNAL, {"path": "a", "signal": "TERM"}) == \
        (SUP + "NotRunning", {"path": "a"})
    assert error_of(a.socket, SIGNAL, {"path": "web", "signal": "TERM"}) \
        == (SUP + "NotRunning", {"path": "web"})
    assert error_of(a.socket, SIGNAL, {"path": "b", "signal": "NOPE"}) == \
        (INVALID_PARAMETER, {"parameter": "signal"})
    name, params = error_of(a.socket, SIGNAL, {"path": "zz",
                                               "signal": "TERM"})
    assert name == SUP + "NoSuchChild"
    still_fine(a, before)


# ---- Events and Shutdown ----------------------------------------------------


def _logfmt_as_json(ev):
    return {k: int(v) if k in ("pid", "code") else v for k, v in ev.items()}


def test_events_stream_a_crash_and_end_with_down(arbord):
    """An Events subscriber receives the exit and the start of a crashed
    service, each with continues, the same fields as the log lines, and at
    Shutdown the stream ends with down (no continues), then EOF."""
    a = start_web(arbord)
    sub = subscribe(a.socket)
    mark = len(a.snapshot())
    old = a.pid_of("b")
    os.kill(old, signal.SIGKILL)
    got = [next(sub.stream()), next(sub.stream())]
    assert all(m["continues"] is True for m in got)
    exit_ev, start_ev = (m["parameters"]["event"] for m in got)
    assert exit_ev == {"event": "exit", "path": "b", "pid": old,
                       "signal": "KILL", "reason": "crash"}
    assert start_ev["event"] == "start" and start_ev["path"] == "b"
    a.wait_event("start", "b", count=2)
    assert start_ev["pid"] == a.pid_of("b")

    assert call(a.socket, SHUTDOWN) == {}
    rest = list(sub.stream(timeout=10 * SLOW))
    assert rest[-1] == {"parameters": {"event": {"event": "down"}}}
    assert all(m.get("continues") is True for m in rest[:-1])
    assert sub.wait_closed() == b""
    assert a.wait_exit() == 0
    stream = [exit_ev, start_ev] + [m["parameters"]["event"] for m in rest]
    assert stream == [_logfmt_as_json(e) for e in a.snapshot()[mark:]]
    sub.close()


RESTARTS = 5


def exit_sends_before_spawns(trace):
    """From arbord's strace (-s 64, no -f): for each exit event it logs,
    whether the next of (the exit event sent to a subscriber, a clone) was
    the send."""
    order, after_exit = [], False
    for line in trace.splitlines():
        if re.match(r'write\(\d+, "event=exit ', line):
            after_exit = True
        elif after_exit and line.startswith("sendmsg(") and \
                '\\"event\\":\\"exit\\"' in line:
            order.append(True)
            after_exit = False
        elif after_exit and line.startswith(("clone(", "clone3(", "vfork(",
                                             "fork(")):
            order.append(False)
            after_exit = False
    return order


def test_events_tell_of_an_exit_before_the_restart_spawns(arbord, tmp_path):
    """An Events subscriber hears of a crash before the restart's spawn
    (issue 14 item 5): the exit event was queued to subscribers and written
    when the loop came back to their sockets, after the replacement's fork,
    so a subscriber read it about a millisecond after stderr had it. The
    order of arbord's own system calls says it whatever the load: the
    sendmsg of the exit event comes before the clone of the restart."""
    strace = shutil.which("strace")
    if not strace:
        pytest.skip("no strace")
    a = arbord(tree([service("s", SLEEPER)], intensity=1000))
    a.wait_event("start", "s")
    wait_until(lambda: a.socket.exists(), what="the control socket")
    sub = subscribe(a.socket)
    out = tmp_path / "strace"
    st = subprocess.Popen([strace, "-q", "-s", "64", "-o", str(out),
                           "-e", "trace=write,sendmsg,clone,clone3,vfork,fork",
                           "-p", str(a.proc.pid)])
    try:
        def traced():
            with open(f"/proc/{a.proc.pid}/status") as f:
                return f"TracerPid:\t{st.pid}\n" in f.read()
        wait_until(traced, what="strace to attach")
        for _ in range(RESTARTS):
            old = a.pid_of("s")
            os.kill(old, signal.SIGKILL)
            got = [next(sub.stream())["parameters"]["event"]
                   for _ in range(2)]
            assert [(e["event"], e["path"]) for e in got] == \
                [("exit", "s"), ("start", "s")]
            wait_until(lambda: a.pid_of("s") != old, what="the restart")
    finally:
        st.terminate()
        st.wait(timeout=10)
    sub.close()
    assert exit_sends_before_spawns(out.read_text()) == [True] * RESTARTS


def test_events_without_more_is_refused(arbord):
    """Events is a stream: called without more it is ExpectedMore, and the
    connection stays usable."""
    a = start_web(arbord)
    with Conn(a.socket) as c:
        c.send(EVENTS, {})
        msg = c.recv()
        assert msg["error"] == "org.varlink.service.ExpectedMore"
        assert c.call(GET_INFO)["product"] == "arbord"


def test_several_subscribers_all_get_every_event(arbord):
    """Every subscriber gets the same events."""
    a = start_web(arbord)
    subs = [subscribe(a.socket) for _ in range(3)]
    call(a.socket, RESTART, {"path": "a"})
    for s in subs:
        got = [next(s.stream())["parameters"]["event"] for _ in range(2)]
        assert [(e["event"], e["path"]) for e in got] == \
            [("stop", "a"), ("start", "a")]
        s.close()


def test_shutdown_stops_in_reverse_order_and_exits_0(arbord):
    """Shutdown answers {}, then the tree stops in reverse start order and
    arbord exits 0, removing its socket."""
    a = start_web(arbord)
    children = list(pids(a.socket).values())
    assert call(a.socket, SHUTDOWN) == {}
    assert a.wait_exit() == 0
    assert a.trace() == [
        "start /", "start a", "start b", "start web", "start web/app",
        "start web/proxy",
        "stop web/proxy", "stop web/app", "stop web", "stop b", "stop a",
        "down"]
    assert not any(pid_alive(p) for p in children)
    assert not a.socket.exists()


# ---- org.varlink.service ----------------------------------------------------


def test_get_info(arbord):
    """GetInfo names arbord, its version and both interfaces."""
    a = start_web(arbord)
    info = call(a.socket, GET_INFO)
    assert info["vendor"] == "arbor" and info["product"] == "arbord"
    assert isinstance(info["version"], str) and info["version"]
    assert isinstance(info["url"], str)
    assert set(info["interfaces"]) == {"org.varlink.service",
                                       "org.arbor.supervisor"}


def test_get_interface_description(arbord):
    """GetInterfaceDescription of org.arbor.supervisor describes every
    method and every error of common/protocol.h; an unknown interface is
    InterfaceNotFound."""
    a = start_web(arbord)
    desc = call(a.socket, GET_INTERFACE,
                {"interface": "org.arbor.supervisor"})["description"]
    assert "interface org.arbor.supervisor\n" in desc
    for m in ("Status(path: ?string, stats: ?bool) -> (nodes: []Node, "
              "containment: Containment)",
              "Show(path: string) -> (spec: string)",
              "Start(path: string) -> ()", "Stop(path: string) -> ()",
              "Restart(path: string) -> ()",
              "Signal(path: string, signal: string) -> ()",
              "Events() -> (event: Event)",
              "Shutdown(action: ?string) -> ()",
              "Logs(path: ?string, lines: ?int, follow: ?bool, "
              "after: ?int) -> (lines: []LogLine)", "ReopenLogs() -> ()",
              "Reload(dryRun: ?bool) -> (plan: Plan, applied: bool)",
              "AddChild(parent: string, spec: string) -> (path: string)",
              "RemoveChild(path: string) -> ()",
              "Spawn(pool: string, name: ?string, args: ?[]string) -> "
              "(path: string)",
              "Reexec(binary: ?string, timeout: ?int) -> (from: string, "
              "to: string, binary: string, away_ms: int)"):
        assert f"\nmethod {m}\n" in desc, m
    header = open(os.path.join(HERE, "..", "..", "common",
                               "protocol.h")).read()
    errors = [line.split('".')[1].rstrip('"').strip()
              for line in header.splitlines()
              if line.startswith("#define ARB_ERR_")
              and "ARB_INTERFACE" in line]
    assert len(errors) == 19
    for e in errors:
        assert f"\nerror {e} (" in desc, e
    for t in ("type Node (", "type Exit (", "type Event (",
              "type LogLine (", "type Plan (", "type PlanStep (",
              "type KeyChange ("):
        assert t in desc
    assert error_of(a.socket, GET_INTERFACE, {"interface": "org.nope"}) == \
        ("org.varlink.service.InterfaceNotFound", {"interface": "org.nope"})


# ---- error replies ----------------------------------------------------------


def test_unknown_path_is_no_such_child_with_nearest(arbord):
    """A mistyped path is NoSuchChild naming the nearest existing one;
    a path like nothing at all has no nearest."""
    a = start_web(arbord)
    for method in (STATUS, STOP, START, RESTART):
        assert error_of(a.socket, method, {"path": "web/ap"}) == \
            (SUP + "NoSuchChild", {"path": "web/ap", "nearest": "web/app"})
    assert error_of(a.socket, STOP, {"path": "wep"}) == \
        (SUP + "NoSuchChild", {"path": "wep", "nearest": "web"})
    assert error_of(a.socket, STOP, {"path": "completely-unrelated"}) == \
        (SUP + "NoSuchChild", {"path": "completely-unrelated"})


def test_root_path_is_invalid_for_requests(arbord):
    """Start, Stop and Restart of the root are InvalidPath: the root has no
    supervisor (Shutdown stops it)."""
    a = start_web(arbord)
    before = pids(a.socket)
    for method in (START, STOP, RESTART):
        assert error_of(a.socket, method, {"path": "/"}) == \
            (SUP + "InvalidPath", {"path": "/"})
    still_fine(a, before)


def test_child_of_a_stopped_supervisor_is_not_running(arbord):
    """Start, Stop or Restart of a child whose supervisor is stopped is
    NotRunning; nothing starts."""
    a = start_web(arbord)
    call(a.socket, STOP, {"path": "web"})
    for method in (START, STOP, RESTART):
        assert error_of(a.socket, method, {"path": "web/app"}) == \
            (SUP + "NotRunning", {"path": "web/app"})
    assert len(a.find("start", "web/app")) == 1
    assert status(a.socket, "web/app")[0]["state"] == "down"


def test_start_of_a_running_child_is_already_running(arbord):
    """Start of a running child is AlreadyRunning; its pid is unchanged."""
    a = start_web(arbord)
    before = pids(a.socket)
    for path in ("a", "web"):
        assert error_of(a.socket, START, {"path": path}) == \
            (SUP + "AlreadyRunning", {"path": path})
    still_fine(a, before)


def test_start_that_cannot_exec_is_start_failed(arbord, tmp_path):
    """Start of a child whose program has gone is StartFailed with the
    reason; the child stays down, nothing is counted, and a Start once
    the program is back runs it."""
    prog = tmp_path / "prog"
    prog.write_text("#!/bin/sh\nexec /bin/sleep 1000\n")
    prog.chmod(0o755)
    a = arbord(tree([service("p", [str(prog)]), service("b", SLEEPER)]))
    a.wait_event("start", "b")
    call(a.socket, STOP, {"path": "p"})
    prog.unlink()
    assert error_of(a.socket, START, {"path": "p"}) == \
        (SUP + "StartFailed", {"path": "p",
                               "error": "No such file or directory"})
    a.wait_event("start_failed", "p")
    n = status(a.socket, "p")[0]
    assert n["state"] == "down" and n["restarts"] == 0 and "pid" not in n
    prog.write_text("#!/bin/sh\nexec /bin/sleep 1000\n")
    prog.chmod(0o755)
    assert call(a.socket, START, {"path": "p"}) == {}
    a.wait_event("start", "p", count=2)
    assert status(a.socket, "p")[0]["pid"] == a.pid_of("p")


def test_request_during_shutdown_is_shutting_down(arbord):
    """A request that arrives while the tree is stopping (a service takes
    its stop_timeout) is not carried out: ShuttingDown, once the tree is
    down."""
    slow = ["/bin/sh", "-c", "trap '' TERM; : > ready; /bin/sleep 1000 & wait"]
    a = arbord(tree([service("b", SLEEPER),
                     service("slow", slow, stop_timeout='"1s"')]))
    a.wait_event("start", "slow")
    wait_until(lambda: (a.dir / "ready").exists(), what="the trap")
    assert call(a.socket, SHUTDOWN) == {}
    assert error_of(a.socket, START, {"path": "slow"}) == \
        (SUP + "ShuttingDown", {})
    assert a.wait_exit() == 0
    assert a.trace()[-3:] == ["stop slow", "stop b", "down"]
    assert len(a.find("start", "slow")) == 1


# ---- robustness: framing and decoding ---------------------------------------


@pytest.mark.parametrize("payload", [
    b'{"method": "org.arbor.supervisor.Status"\0',      # truncated JSON
    b'not json at all\0',
    b'[1, 2, 3]\0',                                     # not an object
    b'"a string"\0',
    b'\0',                                              # empty message
    b'{"method": "org.varlink.service.GetInfo"} {}\0',  # two values
    b'\xff\xfe{}\0',                                    # not UTF-8
])
def test_malformed_message_closes_the_connection(arbord, payload):
    """A message that is not one JSON object closes that connection
    without a reply; arbord and its children carry on."""
    a = start_web(arbord)
    before = pids(a.socket)
    with Conn(a.socket) as c:
        c.send_raw(payload)
        assert c.wait_closed() == b""
    still_fine(a, before)


def test_message_split_across_writes_is_reassembled(arbord):
    """A call arriving in pieces is answered once its NUL arrives."""
    a = start_web(arbord)
    msg = encode(GET_INFO)
    with Conn(a.socket) as c:
        for i in range(len(msg)):
            c.send_raw(msg[i:i + 1])
        assert c.reply()["product"] == "arbord"


def test_missing_nul_gets_no_reply_and_disconnect_is_harmless(arbord):
    """A call without its NUL is not answered; the client leaving with it
    unfinished leaves arbord and its children untouched."""
    a = start_web(arbord)
    before = pids(a.socket)
    base = idle_fd_count(a)
    c = Conn(a.socket, timeout=0.3)
    c.send_raw(encode(GET_INFO)[:-1])
    with pytest.raises(socket.timeout):
        c.recv()
    c.close()
    wait_until(lambda: len(fds(a.proc.pid)) == base,
               what="arbord to close the connection")
    still_fine(a, before)


def test_message_of_exactly_the_limit_is_served(arbord):
    """A call of exactly 64 KiB (NUL excluded) is answered."""
    a = start_web(arbord)
    head = b'{"method": "org.varlink.service.GetInfo"'
    msg = head + b" " * (MSG_MAX - len(head) - 1) + b"}"
    assert len(msg) == MSG_MAX
    with Conn(a.socket) as c:
        c.send_raw(msg + b"\0")
        assert c.reply()["product"] == "arbord"


@pytest.mark.parametrize("with_nul", [False, True])
def test_oversized_message_closes_the_connection(arbord, with_nul):
    """A call one byte over 64 KiB closes the connection, whether or not
    its NUL follows, without a reply; arbord carries on."""
    a = start_web(arbord)
    before = pids(a.socket)
    head = b'{"method": "org.varlink.service.GetInfo"'
    msg = head + b" " * (MSG_MAX - len(head)) + b"}"
    assert len(msg) == MSG_MAX + 1
    with Conn(a.socket) as c:
        try:
            c.send_raw(msg + (b"\0" if with_nul else b""))
        except (BrokenPipeError, ConnectionResetError):
            pass
        assert c.wait_closed() == b""
    still_fine(a, before)


def test_endless_message_is_cut_off(arbord):
    """A client streaming bytes without a NUL is disconnected once past
    the limit; it cannot make arbord buffer more."""
    a = start_web(arbord)
    before = pids(a.socket)
    with Conn(a.socket) as c:
        chunk = b"{" + b" " * 8191
        sent = 0
        with pytest.raises((BrokenPipeError, ConnectionResetError)):
            while sent < 64 * MSG_MAX:
                c.send_raw(chunk)
                sent += len(chunk)
        assert sent < 16 * MSG_MAX
    still_fine(a, before)


def test_unknown_method(arbord):
    """An unknown method is MethodNotFound naming it; the connection stays
    usable."""
    a = start_web(arbord)
    with Conn(a.socket) as c:
        with pytest.raises(VarlinkError) as e:
            c.call(SUP + "Frobnicate", {})
        assert e.value.name == "org.varlink.service.MethodNotFound"
        assert e.value.parameters == {"method": SUP + "Frobnicate"}
        assert c.call(GET_INFO)["product"] == "arbord"


@pytest.mark.parametrize("msg,field", [
    ({"method": STATUS, "parameters": {"path": 42}}, "path"),
    ({"method": STATUS, "parameters": {"path": None}}, "path"),
    ({"method": STOP, "parameters": {}}, "path"),
    ({"method": STOP, "parameters": {"path": ["a"]}}, "path"),
    ({"method": SIGNAL, "parameters": {"path": "a", "signal": 10}},
     "signal"),
    ({"method": SIGNAL, "parameters": {"path": "a"}}, "signal"),
    ({"method": GET_INTERFACE, "parameters": {"interface": 1}},
     "interface"),
    ({"method": STATUS, "parameters": []}, "parameters"),
    ({"method": STATUS, "parameters": "x"}, "parameters"),
    ({"method": 5}, "method"),
    ({"method": ""}, "method"),
    ({"parameters": {}}, "method"),
    ({"method": STATUS, "more": "yes"}, "more"),
    ({"method": STATUS, "oneway": 1}, "oneway"),
    ({"method": STATUS, "bogus": True}, "bogus"),
    ({}, "method"),
])
def test_wrong_types_are_invalid_parameter(arbord, msg, field):
    """A JSON object that is not a valid call, or a parameter of the wrong
    type, is InvalidParameter naming the field; the connection stays
    usable and nothing changes."""
    a = start_web(arbord)
    before = pids(a.socket)
    with Conn(a.socket) as c:
        c.send_raw(json.dumps(msg).encode() + b"\0")
        reply = c.recv()
        assert reply == {"error": INVALID_PARAMETER,
                         "parameters": {"parameter": field}}
        assert c.call(GET_INFO)["product"] == "arbord"
    still_fine(a, before)


def test_pipelined_call_after_a_request_that_waits(arbord):
    """A call sent right behind a Stop (which waits for the child to end)
    is answered once the Stop is: both replies come, in order."""
    a = start_web(arbord)
    with Conn(a.socket) as c:
        c.send_raw(encode(STOP, {"path": "a"}) + encode(STATUS,
                                                        {"path": "a"}))
        assert c.reply() == {}
        assert c.reply()["nodes"][0]["state"] == "down"


def test_request_connections_are_released(arbord):
    """Connections that carried a Stop, Start or Restart are closed by
    arbord when their clients leave: its fd count returns to normal, and
    more requests than ARB_CLIENTS_MAX (256) in a row all get answers."""
    a = start_web(arbord)
    base = idle_fd_count(a)
    for _ in range(10):
        for method in (STOP, START, RESTART):
            assert call(a.socket, method, {"path": "a"}) == {}
    wait_until(lambda: len(fds(a.proc.pid)) == base,
               what=f"arbord's fd count back to {base}; "
               f"now {len(fds(a.proc.pid))}")
    for i in range(150):
        for method in (STOP, START):
            assert call(a.socket, method, {"path": "a"}) == {}, i
    assert call(a.socket, GET_INFO)["product"] == "arbord"


def test_pipelined_calls_are_answered_in_order(arbord):
    """Several calls in one write are answered one by one, in order."""
    a = start_web(arbord)
    with Conn(a.socket) as c:
        c.send_raw(encode(GET_INFO) + encode(STATUS, {"path": "a"})
                   + encode(STOP, {"path": "nope"})
                   + encode(STATUS, {"path": "b"}))
        assert c.reply()["product"] == "arbord"
        assert c.reply()["nodes"][0]["path"] == "a"
        with pytest.raises(VarlinkError):
            c.reply()
        assert c.reply()["nodes"][0]["path"] == "b"


def test_oneway_call_is_carried_out_without_a_reply(arbord):
    """A oneway Stop stops the child and sends nothing: the next reply on
    the connection is that of the next call, which sees the child down."""
    a = start_web(arbord)
    with Conn(a.socket) as c:
        c.send(STOP, {"path": "a"}, oneway=True)
        c.send(STATUS, {"path": "a"})
        node = c.reply()["nodes"][0]
        assert node["path"] == "a" and node["state"] == "down"
        c.send(GET_INFO, oneway=True)
        c.send(STATUS, {"path": "b"})
        assert c.reply()["nodes"][0]["path"] == "b"
    a.wait_event("stop", "a")


def test_oneway_error_is_not_sent_either(arbord):
    """A oneway call that fails sends no error reply."""
    a = start_web(arbord)
    with Conn(a.socket) as c:
        c.send(STOP, {"path": "nope"}, oneway=True)
        c.send(SUP + "Nope", oneway=True)
        assert c.call(GET_INFO)["product"] == "arbord"


# ---- robustness: clients that leave, crowd or stall -------------------------


def test_subscriber_disconnecting_mid_stream(arbord):
    """Subscribers that leave while events are being sent to them are
    dropped; arbord carries on and its fds return to what they were."""
    a = start_web(arbord)
    base = idle_fd_count(a)
    subs = [subscribe(a.socket) for _ in range(5)]
    os.kill(a.pid_of("b"), signal.SIGKILL)
    next(subs[0].stream())          # events are flowing
    for s in subs:
        s.close()
    a.wait_event("start", "b", count=2)
    os.kill(a.pid_of("b"), signal.SIGKILL)   # more events, to no one
    a.wait_event("start", "b", count=3)
    wait_until(lambda: len(fds(a.proc.pid)) == base,
               what="arbord to close the subscribers")
    still_fine(a, pids(a.socket))
    assert status(a.socket, "b")[0]["restarts"] == 2


def test_subscriber_that_sends_is_dropped(arbord):
    """A subscriber only listens: sending anything ends its stream."""
    a = start_web(arbord)
    before = pids(a.socket)
    sub = subscribe(a.socket)
    sub.send(GET_INFO)
    assert sub.wait_closed() == b""
    sub.close()
    still_fine(a, before)


def test_client_leaving_before_its_answer(arbord):
    """A client that sends Stop and leaves before the answer (the child
    takes a while to stop) does not disturb arbord: the stop completes,
    the answer is dropped."""
    slow = ["/bin/sh", "-c", "trap '' TERM; /bin/sleep 1000 & wait"]
    a = arbord(tree([service("slow", slow, stop_timeout='"300ms"'),
                     service("b", SLEEPER)]))
    a.wait_event("start", "b")
    before = pids(a.socket)
    with Conn(a.socket) as c:
        c.send(STOP, {"path": "slow"})
    ev = a.wait_event("stop", "slow")
    assert ev["signal"] == "KILL"
    assert status(a.socket, "slow")[0]["state"] == "down"
    still_fine(a, {"b": before["b"]})


def test_thousand_connections_at_once(arbord):
    """1000 connections opened at once: each is served or closed, never
    left hanging; arbord and its children carry on (same pids, Status
    answers) and its fd count returns to normal once they are gone."""
    a = start_web(arbord)
    before = pids(a.socket)
    base = idle_fd_count(a)
    conns = []
    try:
        for _ in range(1000):
            conns.append(Conn(a.socket, timeout=10 * SLOW))
        served = closed = 0
        for c in conns:
            try:
                c.send(STATUS, {"path": "a"})
            except (BrokenPipeError, ConnectionResetError):
                pass
        deadline = time.monotonic() + 20 * SLOW
        for c in conns:
            left = max(0.01, deadline - time.monotonic())
            try:
                assert c.reply(left)["nodes"][0]["pid"] == before["a"]
                served += 1
            except VarlinkError as e:
                assert e.name == TOO_MANY_CLIENTS, e
                closed += 1
            except Closed:
                closed += 1
        assert served + closed == 1000
        assert 1 <= served <= 256, (served, closed)
    finally:
        for c in conns:
            c.close()
    wait_until(lambda: len(fds(a.proc.pid)) == base,
               what=f"arbord's fd count back to {base}")
    still_fine(a, before)


def _deep_flapping_tree(nflappers, depth=30):
    """A chain of depth supervisors with 64-character names (event lines
    of about 2 KB), the last one holding nflappers services that exit at
    once, with an intensity that never gives up."""
    leaf = [service(f"f{i}", ["/bin/false"]) for i in range(nflappers)]
    node = supervisor("s" * 63 + "0", leaf, intensity=100000,
                      period='"1s"')
    for d in range(1, depth):
        node = supervisor(f"{d:02d}" + "s" * 62, [node])
    return tree([service("steady", SLEEPER), node])


def test_control_socket_answers_while_services_flap(arbord):
    """Services crashing as fast as they can be restarted do not starve
    the control socket: GetInfo and Status are answered within a second."""
    a = arbord(_deep_flapping_tree(8))
    a.wait_event("start", "steady")
    wait_until(lambda: a.socket.exists(), what="the socket")
    a.wait_event("start", count=200)
    for _ in range(5):
        t0 = time.monotonic()
        assert call(a.socket, GET_INFO, timeout=10)["product"] == "arbord"
        assert status(a.socket, "steady", timeout=10)[0]["state"] == "up"
        took = time.monotonic() - t0
        assert took < 1.0 * SLOW, f"two calls took {took:.1f}s"


def test_stuck_subscriber_is_dropped_and_memory_stays_bounded(arbord):
    """An Events subscriber that never reads, with services flapping as fast
    as arbord can restart them, is disconnected once 8 MiB are queued for
    it; arbord's RSS stays bounded meanwhile, and arbord, a normal reader
    and the steady service carry on."""
    a = arbord(_deep_flapping_tree(1))
    a.wait_event("start", "steady")
    wait_until(lambda: a.socket.exists(), what="the socket")
    steady = a.pid_of("steady")
    base_rss = rss_kib(a.proc.pid)
    stuck = Conn(a.socket)
    stuck.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    stuck.send(EVENTS, {}, more=True)
    reader = subscribe(a.socket)
    poller = select.poll()
    poller.register(stuck.sock, select.POLLRDHUP)
    peak = [base_rss]
    drained = [0]

    def drain_reader():
        """What the normal subscriber has been sent so far, read."""
        while True:
            r, _, _ = select.select([reader.sock], [], [], 0)
            if not r:
                return drained[0]
            data = reader.sock.recv(1 << 20)
            assert data, "the reading subscriber was dropped"
            drained[0] += len(data)

    def dropped():
        peak[0] = max(peak[0], rss_kib(a.proc.pid))
        # Keep the normal subscriber reading, so only the stuck one lags.
        drain_reader()
        return any(ev & (select.POLLRDHUP | select.POLLHUP)
                   for _, ev in poller.poll(0))

    wait_until(dropped, timeout=60, what="the stuck subscriber dropped")
    wait_until(lambda: any("dropped an events reader" in line
                           for line in a.lines),
               what="arbord to say it dropped the reader")
    growth = peak[0] - base_rss
    # 8 MiB may be queued, plus what malloc keeps; without the limit this
    # grows by megabytes a second. ASan's quarantine holds freed memory
    # back, so the bound means nothing under the sanitizers.
    if SLOW == 1.0:
        assert growth < 24 * 1024, f"RSS grew by {growth} KiB"
    # What the stuck one got is the socket buffers' worth, then EOF.
    got = stuck.wait_closed(timeout=10)
    assert 0 < len(got) < 8 * 1024 * 1024
    assert got.endswith(b"\0")
    stuck.close()
    # The reader is sent all the stuck one was: what is still on its way
    # (its socket buffers) when the stuck one is dropped arrives too.
    wait_until(lambda: drain_reader() > 8 * 1024 * 1024, 10,
               "the reader to get what the stuck one was sent")
    assert drained[0] > 8 * 1024 * 1024
    assert a.proc.poll() is None
    assert status(a.socket, "steady")[0]["pid"] == steady
    assert len(a.find("start", "steady")) == 1
    reader.close()


# ---- admission: slots and idle clients ---------------------------------------

# How long a client may hold a connection without a call in progress, a
# stream or progress (ARB_CONN_IDLE_MS), and arbord's connection slots.
IDLE_S = 5.0
CLIENTS_MAX = 256


def test_a_silent_client_is_disconnected_after_the_idle_timeout(arbord):
    """Bug 10 (issue 11): a client that connected and sent nothing kept its
    slot for ever, so 256 of them locked every client out. It is closed
    once it has been idle for IDLE_S, with nothing sent to it."""
    a = start_web(arbord)
    with Conn(a.socket) as silent:
        t0 = time.monotonic()
        assert silent.wait_closed(timeout=(IDLE_S + 5) * SLOW) == b""
        took = time.monotonic() - t0
    assert took > IDLE_S - 0.5, f"closed after {took:.1f}s"
    assert call(a.socket, GET_INFO)["product"] == "arbord"


def test_a_client_dribbling_an_incomplete_call_is_disconnected(arbord):
    """Bug 10 (issue 11): bytes that never make a complete call do not keep
    a connection alive (slowloris): a client sending one byte of an
    endless call every 100 ms is closed after the idle timeout."""
    a = start_web(arbord)
    with Conn(a.socket) as c:
        body = b'{"method":"org.arbor.supervisor.Status","parameters":{"x":"'
        deadline = time.monotonic() + (IDLE_S + 5) * SLOW
        t0 = time.monotonic()
        sent = 0
        while c.is_open():
            assert time.monotonic() < deadline, "still connected"
            # Paced by a bounded wait for the close, not by a sleep.
            select.select([c.sock], [], [], 0.1)
            try:
                c.send_raw(body[sent:sent + 1] if sent < len(body) else b"x")
            except (BrokenPipeError, ConnectionResetError):
                break
            sent += 1
        took = time.monotonic() - t0
    assert took > IDLE_S - 0.5, f"closed after {took:.1f}s"
    assert sent > 10
    assert call(a.socket, GET_INFO)["product"] == "arbord"


def test_a_waiting_request_and_a_stream_are_not_idle(arbord):
    """Bug 10 (issue 11): the idle timeout cuts only idle clients. A Stop
    that waits longer than IDLE_S for its service, and an Events stream
    with nothing to say, stay connected while a silent client opened with
    them is closed; both then get what they wait for."""
    slow = ["/bin/sh", "-c", "trap '' TERM; /bin/sleep 1000 & wait"]
    a = arbord(tree([service("slow", slow, stop_timeout='"12s"'),
                     service("b", SLEEPER)]))
    a.wait_event("start", "b")
    wait_until(lambda: a.socket.exists(), what="the control socket")
    sub = subscribe(a.socket)
    stopper = Conn(a.socket, timeout=60 * SLOW)
    silent = Conn(a.socket)
    try:
        stopper.send(STOP, {"path": "slow"})
        assert silent.wait_closed(timeout=(IDLE_S + 5) * SLOW) == b""
        assert stopper.is_open() and sub.is_open()
        assert not a.find("stop", "slow"), "stopped before the timeout"
        assert stopper.reply() == {}
        ev = sub.reply(timeout=30 * SLOW)["event"]
        assert (ev["event"], ev["path"]) == ("stop", "slow")
    finally:
        for c in (sub, stopper, silent):
            c.close()


def become_nobody():
    """preexec_fn: nobody:nogroup with no other group."""
    os.setgroups([])
    os.setgid(grp.getgrnam("nogroup").gr_gid)
    os.setuid(pwd.getpwnam("nobody").pw_uid)


@pytest.fixture
def nobody_arbord(public_dir, arbord):
    """nobody_arbord(config) starts arbord as nobody in a directory of
    nobody's under public_dir (its socket is there); arbord cleans up,
    before public_dir goes. It runs a copy of arbord there: the clone may
    sit in a directory nobody cannot enter (mktemp -d's are 0700)."""
    d = pathlib.Path(public_dir) / "nobody"
    d.mkdir()
    os.chown(d, pwd.getpwnam("nobody").pw_uid,
             grp.getgrnam("nogroup").gr_gid)
    binary = shutil.copy(ARBORD, d / "arbord")
    return lambda config: arbord(config, dir=d, preexec_fn=become_nobody,
                                 arbord=str(binary))


def nobody_holding_streams(public_dir, sock, n):
    """A client as nobody that opens n connections, subscribes to Events on
    each, prints 'connected' once every connect has returned, and holds
    them until its stdin closes."""
    prog = ("import sys; sys.path.insert(0, sys.argv[1])\n"
            "import ctlclient\n"
            "conns = []\n"
            "for _ in range(int(sys.argv[3])):\n"
            "    c = ctlclient.Conn(sys.argv[2], timeout=20)\n"
            "    try:\n"
            "        c.send('org.arbor.supervisor.Events', {}, more=True)\n"
            "    except OSError:\n"
            "        pass\n"
            "    conns.append(c)\n"
            "print('connected', flush=True)\n"
            "sys.stdin.read()\n")
    return subprocess.Popen(
        ["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups",
         PYTHON, "-c", prog, public_dir, str(sock), str(n)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
        cwd=public_dir)


def test_arbords_own_user_cannot_take_the_slots_kept_for_root(
        nobody_arbord, public_dir):
    """Bug 10 (issue 11): the reserved slots only kept control_group
    readers out, so arbord's own user (here nobody, running arbord)
    holding 256 Events streams locked root out as well. Root keeps slots
    of its own: with 300 streams of nobody's held, Status as root is
    answered. arbord accepts in order, so root's connection, made after
    every one of nobody's returned, is accepted after them."""
    a = nobody_arbord(tree([service("a", SLEEPER)]))
    a.wait_event("start", "a")
    wait_until(lambda: a.socket.exists(), what="the control socket")
    holder = nobody_holding_streams(public_dir, a.socket, 300)
    try:
        assert readline(holder, 30) == "connected\n"
        assert status(a.socket, "a")[0]["pid"] == a.pid_of("a")
    finally:
        holder.stdin.close()
        holder.wait(timeout=30)
        holder.stdout.close()


def test_a_client_over_the_limit_is_told_too_many_clients(arbord):
    """Bug 10 (issue 11): a client over the limit was closed without a
    word. It gets the error TooManyClients before arbord closes it, and
    a client that did not wait for it still finds it to read."""
    a = start_web(arbord)
    held = []
    try:
        for _ in range(CLIENTS_MAX):
            c = Conn(a.socket)
            held.append(c)
            c.send(EVENTS, {}, more=True)
        with Conn(a.socket) as late:
            try:
                late.send(STATUS)
            except (BrokenPipeError, ConnectionResetError):
                pass  # refused before it wrote: the error still waits
            with pytest.raises(VarlinkError) as e:
                late.reply()
            assert e.value.name == TOO_MANY_CLIENTS
            assert late.wait_closed() == b""
        assert sum(c.is_open() for c in held) == CLIENTS_MAX
    finally:
        for c in held:
            c.close()
    wait_until(lambda: socket_fds(a.proc.pid) == 1,
               what="arbord to let the streams go")
    assert call(a.socket, GET_INFO)["product"] == "arbord"


# ---- the socket's life cycle ------------------------------------------------


def test_socket_is_0600_and_owned_by_arbord(arbord):
    """The socket is a socket, mode 0600, owned by arbord's uid."""
    a = start_web(arbord)
    st = os.stat(a.socket)
    assert stat.S_ISSOCK(st.st_mode)
    assert stat.S_IMODE(st.st_mode) == 0o600
    assert st.st_uid == os.geteuid()


def test_missing_socket_directory_is_created_0700(arbord, tmp_path):
    """With -s PATH in a directory that does not exist, arbord creates it
    0700 and serves the socket there."""
    sock = tmp_path / "run" / "arbor" / "arbor.sock"
    (tmp_path / "run").mkdir(mode=0o755)
    a = arbord(web_tree(), args=("-s", str(sock)))
    a.wait_event("start", "web/proxy")
    st = os.stat(sock.parent)
    assert stat.S_IMODE(st.st_mode) == 0o700 and st.st_uid == os.geteuid()
    assert stat.S_IMODE(os.stat(sock).st_mode) == 0o600
    assert call(sock, GET_INFO)["product"] == "arbord"
    assert not a.socket.exists()   # -s wins over ARBOR_SOCKET


def test_second_arbord_on_the_same_socket_is_refused(arbord):
    """A second arbord on a live socket exits 1 with a clear message before
    starting anything; the first keeps its socket and carries on."""
    a = start_web(arbord)
    before = pids(a.socket)
    ino = os.stat(a.socket).st_ino
    b = arbord(tree([service("x", SLEEPER)]), name="second.conf")
    assert b.wait_exit() == 1
    assert f"arbord: another arbord is running on {a.socket}" in b.lines
    assert not [line for line in b.lines if line.startswith("event=")]
    assert os.stat(a.socket).st_ino == ino
    still_fine(a, before)


def test_stale_socket_is_replaced(arbord):
    """After arbord is SIGKILLed its socket file stays, refusing
    connections; a new arbord replaces it and serves it."""
    a = start_web(arbord)
    a.proc.kill()
    a.proc.wait(timeout=10)
    assert a.socket.exists()
    with pytest.raises(ConnectionRefusedError):
        Conn(a.socket)
    b = arbord(tree([service("x", SLEEPER)]), name="second.conf")
    b.wait_event("start", "x")
    assert status(b.socket, "x")[0]["pid"] == b.pid_of("x")
    assert [n["path"] for n in status(b.socket)] == ["/", "x"]
    assert b.proc.poll() is None


@pytest.fixture
def sticky_dir():
    """A world-writable sticky directory of root's, as /tmp is."""
    if os.geteuid() != 0:
        pytest.skip("needs root to plant a file of nobody's")
    d = tempfile.mkdtemp(prefix="arbor-sticky-")
    os.chmod(d, 0o1777)
    yield d
    shutil.rmtree(d, ignore_errors=True)


def test_a_lock_file_of_another_user_is_refused_with_a_reason(arbord,
                                                              sticky_dir):
    """Bug 11 (issue 11): in a sticky world-writable directory
    (ARBOR_SOCKET=/tmp/x.sock) anyone can plant x.sock.lock. arbord
    locked a lock file another user owns (who could hold the lock and
    keep arbord from ever starting), or, with fs.protected_regular, could
    not open it and did not say why. It refuses to start, names the file
    and its owner, and leaves the file alone."""
    sock = os.path.join(sticky_dir, "x.sock")
    lock = sock + ".lock"
    with open(lock, "w"):
        pass
    nobody = pwd.getpwnam("nobody").pw_uid
    os.chown(lock, nobody, grp.getgrnam("nogroup").gr_gid)
    a = arbord(tree([service("a", SLEEPER)]), args=("-s", sock))
    assert a.wait_exit() == 1
    assert f"arbord: control: {lock} is owned by uid {nobody}, not by " \
           f"arbord's uid 0: not ours to lock; remove it, or choose " \
           "another socket path" in a.lines, a.lines
    assert not a.find("start")
    assert os.stat(lock).st_uid == nobody
    assert not os.path.exists(sock)


def test_a_fifo_as_the_lock_file_is_refused_at_once(arbord, sticky_dir):
    """Bug 11 (issue 11): a FIFO planted as the lock file made arbord wait
    for ever in open(2). It is refused at once as not a regular file."""
    sock = os.path.join(sticky_dir, "x.sock")
    os.mkfifo(sock + ".lock", 0o600)
    a = arbord(tree([service("a", SLEEPER)]), args=("-s", sock))
    assert a.wait_exit() == 1
    assert f"arbord: control: {sock}.lock is not a regular file: not " \
           "ours to lock; remove it, or choose another socket path" \
           in a.lines, a.lines
    assert not a.find("start")


# ---- permissions ------------------------------------------------------------


@pytest.fixture
def public_dir():
    """A directory under /tmp that nobody can reach (pytest's are 0700),
    holding a copy of ctlclient.py for clients run as nobody."""
    if os.geteuid() != 0:
        pytest.skip("needs root to run a client as nobody")
    d = tempfile.mkdtemp(prefix="arbor-ctl-test-")
    os.chmod(d, 0o755)
    shutil.copy(os.path.join(HERE, "ctlclient.py"), d)
    os.chmod(os.path.join(d, "ctlclient.py"), 0o644)
    yield d
    shutil.rmtree(d, ignore_errors=True)


def as_nobody(public_dir, sock, method, params=None):
    """Runs ctlclient as nobody:nogroup; its JSON line."""
    argv = ["setpriv", "--reuid=nobody", "--regid=nogroup",
            "--clear-groups", PYTHON, os.path.join(public_dir,
                                                   "ctlclient.py"),
            str(sock), method, json.dumps(params or {})]
    r = subprocess.run(argv, capture_output=True, text=True,
                       timeout=30 * SLOW, cwd=public_dir)
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)


def nobody_subscriber(public_dir, sock):
    """A subscriber running as nobody, printing each event on a line."""
    prog = ("import sys, json; sys.path.insert(0, sys.argv[1])\n"
            "import ctlclient\n"
            "c = ctlclient.Conn(sys.argv[2], timeout=20)\n"
            "c.send('org.arbor.supervisor.Events', {}, more=True)\n"
            "print('subscribed', flush=True)\n"
            "print(json.dumps(c.recv()), flush=True)\n")
    return subprocess.Popen(
        ["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups",
         PYTHON, "-c", prog, public_dir, str(sock)],
        stdout=subprocess.PIPE, text=True, cwd=public_dir)


def readline(proc, timeout):
    r, _, _ = select.select([proc.stdout], [], [], timeout * SLOW)
    assert r, "no line from the client in time"
    return proc.stdout.readline()


def test_control_group_may_read_but_not_change(arbord, public_dir):
    """With control_group = "nogroup" the socket is 0660 root:nogroup: a
    client running as nobody gets Status, GetInfo and Events, and
    PermissionDenied for every request that changes the tree."""
    sock = os.path.join(public_dir, "arbor.sock")
    a = arbord('control_group = "nogroup";\n' + web_tree(),
               args=("-s", sock))
    a.wait_event("start", "web/proxy")
    st = os.stat(sock)
    assert stat.S_IMODE(st.st_mode) == 0o660
    assert st.st_gid == grp.getgrnam("nogroup").gr_gid
    before = pids(sock)

    r = as_nobody(public_dir, sock, STATUS, {"path": "a"})
    assert r["reply"]["parameters"]["nodes"][0]["pid"] == before["a"]
    r = as_nobody(public_dir, sock, GET_INFO)
    assert r["reply"]["parameters"]["product"] == "arbord"
    for method, params in ((STOP, {"path": "a"}), (START, {"path": "a"}),
                           (RESTART, {"path": "a"}),
                           (SIGNAL, {"path": "a", "signal": "KILL"}),
                           (SHUTDOWN, {})):
        r = as_nobody(public_dir, sock, method, params)
        assert r["reply"]["error"] == PERMISSION_DENIED, (method, r)

    sub = nobody_subscriber(public_dir, sock)
    try:
        assert readline(sub, 10) == "subscribed\n"
        call(sock, GET_INFO)     # the barrier of subscribe()
        call(sock, RESTART, {"path": "b"})
        ev = json.loads(readline(sub, 10))
        assert ev["parameters"]["event"]["event"] == "stop"
        assert ev["parameters"]["event"]["path"] == "b"
        assert sub.wait(timeout=10) == 0
    finally:
        if sub.poll() is None:
            sub.kill()
            sub.wait()
        sub.stdout.close()

    now = pids(sock)
    assert now["a"] == before["a"] and now["web/app"] == before["web/app"]
    assert a.proc.poll() is None


def test_control_group_directory_created_0750(arbord, public_dir):
    """With control_group, a socket directory arbord creates is 0750 with
    that group, and the group's members reach the socket through it."""
    sock = os.path.join(public_dir, "run", "arbor.sock")
    a = arbord('control_group = "nogroup";\n' + web_tree(),
               args=("-s", sock))
    a.wait_event("start", "web/proxy")
    st = os.stat(os.path.dirname(sock))
    assert stat.S_IMODE(st.st_mode) == 0o750
    assert st.st_gid == grp.getgrnam("nogroup").gr_gid
    r = as_nobody(public_dir, sock, STATUS, {"path": "b"})
    assert r["reply"]["parameters"]["nodes"][0]["path"] == "b"


def test_other_users_cannot_connect_without_control_group(arbord,
                                                          public_dir):
    """Without control_group the socket is 0600: nobody cannot even
    connect (EACCES), though the directory is open to it."""
    sock = os.path.join(public_dir, "arbor.sock")
    a = arbord(web_tree(), args=("-s", sock))
    a.wait_event("start", "web/proxy")
    assert stat.S_IMODE(os.stat(sock).st_mode) == 0o600
    assert as_nobody(public_dir, sock, STATUS) == \
        {"connect_error": "EACCES"}
    assert call(sock, GET_INFO)["product"] == "arbord"


def test_varlink_service_describes_itself(arbord):
    """GetInfo lists org.varlink.service, so its description is answered
    too, as every varlink service does."""
    a = start_web(arbord)
    desc = call(a.socket, GET_INTERFACE,
                {"interface": "org.varlink.service"})["description"]
    assert desc.startswith("# The Varlink Service Interface")
    assert "method GetInterfaceDescription" in desc


def test_nearest_counts_a_swap_as_one_typo(arbord):
    """A name with two letters swapped suggests the node it meant, not a
    shorter one at the same distance without the swap rule."""
    a = start_web(arbord)
    with pytest.raises(VarlinkError) as e:
        call(a.socket, STATUS, {"path": "wbe"})
    assert e.value.name == SUP + "NoSuchChild"
    assert e.value.parameters["nearest"] == "web"


def test_half_closed_client_still_gets_its_answers(arbord):
    """A client that sends its calls and then shuts down its sending side
    (printf ... | nc -U) still gets every reply, including the answer to a
    request that waits for a child to stop; then the connection closes."""
    a = start_web(arbord)
    with Conn(a.socket) as c:
        c.send_raw(encode(GET_INFO) + encode(STOP, {"path": "a"}) +
                   encode(STATUS, {"path": "a"}))
        c.sock.shutdown(socket.SHUT_WR)
        assert c.reply()["product"] == "arbord"
        assert c.reply() == {}
        assert c.reply()["nodes"][0]["state"] == "down"


def test_ten_thousand_pipelined_calls_are_all_answered(arbord):
    """A client that pipelines far more calls than fit in one reply buffer
    gets every answer: arbord stops reading it while its replies pile up,
    and reads on once they are written."""
    a = start_web(arbord)
    n = 10000
    with Conn(a.socket, timeout=30) as c:
        # Sent from a thread: arbord reads only as fast as we read.
        sender = threading.Thread(target=c.send_raw, daemon=True, args=(
            encode(GET_INTERFACE, {"interface": SUP[:-1]}) * n,))
        sender.start()
        for i in range(n):
            assert "description" in c.reply(), i
        sender.join(timeout=10)


def test_restart_of_a_temporary_child_is_refused(arbord):
    """C2, D3: stopping a temporary child deletes it, so a restart would
    end it for good; it is refused and the child keeps running."""
    a = arbord(tree([service("t", SLEEPER, restart='"temporary"')]))
    a.wait_event("start", "t")
    wait_until(lambda: a.socket.exists(), what="the socket")
    pid = a.pid_of("t")
    assert error_of(a.socket, RESTART, {"path": "t"}) == \
        (SUP + "Temporary", {"path": "t"})
    assert status(a.socket, "t")[0]["pid"] == pid


def test_clients_that_do_not_read_cannot_hold_up_the_exit(arbord):
    """Clients with unread answers queued get one short moment in all, not
    one each, when arbord exits."""
    a = start_web(arbord)
    stuck = []
    for _ in range(50):
        c = Conn(a.socket)
        c.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        c.send_raw(encode(STATUS) * 40)
        stuck.append(c)
    t0 = time.monotonic()
    assert call(a.socket, SHUTDOWN) == {}
    assert a.wait_exit(timeout=10) == 0
    assert time.monotonic() - t0 < 5 * SLOW
    for c in stuck:
        c.close()
