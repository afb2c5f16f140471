"""arborctl against a real arbord with real children: every command, its
text and JSON output, its exit statuses (0 done, 1 refused, 2 usage,
3 status of a node that is not up, 4 unreachable), its one-line errors,
and the event stream ending cleanly at shutdown.

Each test runs its own arbord on a private socket (ARBOR_SOCKET, or
--socket), and arborctl with a bounded timeout. Waits are bounded polls.
"""

import json
import os
import pty
import re
import shutil
import socket
import subprocess
import tempfile

import pytest

from conftest import REPO, SLEEPER, SLOW, pid_alive, service, start_web, \
    tree, wait_until, web_tree
from ctlclient import Conn

ARBORCTL = os.path.join(REPO, "ctl", "arborctl")



@pytest.fixture(autouse=True)
def arborctl_is_built():
    """A missing client fails every test here rather than skip them."""
    assert os.path.exists(ARBORCTL), f"{ARBORCTL} missing: run make"


def ctl(sock, *args, env=None, timeout=10):
    """Runs arborctl on sock; the CompletedProcess (text)."""
    e = dict(os.environ, ARBOR_SOCKET=str(sock))
    e.pop("NO_COLOR", None)
    e.update(env or {})
    return subprocess.run([ARBORCTL, *args], capture_output=True, text=True,
                          env=e, timeout=timeout * SLOW,
                          stdin=subprocess.DEVNULL)


def nodes(sock, path=None):
    r = ctl(sock, "status", "--json", *([path] if path else []))
    assert r.returncode in (0, 3), r.stderr
    return json.loads(r.stdout)["nodes"]


def by_path(sock):
    return {n["path"]: n for n in nodes(sock)}


def follow(sock, *args):
    """arborctl events (with args) running; returns once arbord has its
    call: arborctl blocks in read(2) only after sending, and a round trip
    on a second connection then orders arbord's handling after it."""
    e = dict(os.environ, ARBOR_SOCKET=str(sock))
    p = subprocess.Popen([ARBORCTL, *args, "events"], env=e, text=True,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         stdin=subprocess.DEVNULL)

    def reading():
        try:
            with open(f"/proc/{p.pid}/syscall") as f:
                nr, fd = f.read().split()[:2]
            return nr == "0" and os.readlink(
                f"/proc/{p.pid}/fd/{int(fd, 16)}").startswith("socket:")
        except (OSError, ValueError):
            return False
    wait_until(reading, what="arborctl events to wait for its stream")
    assert ctl(sock, "call", "org.varlink.service.GetInfo").returncode == 0
    return p


def events_of_a_crash(a, *args, wait_restart=False):
    """What `arborctl events ARGS` prints while b is killed (and, when
    asked, restarted) and the tree is then shut down; it must exit 0."""
    p = follow(a.socket, *args)
    try:
        assert ctl(a.socket, "kill", "-s", "KILL", "b").returncode == 0
        if wait_restart:
            a.wait_event("start", "b", count=2)
        r = ctl(a.socket, "shutdown")
        assert (r.returncode, r.stdout, r.stderr) == (0, "", "")
        out, err = p.communicate(timeout=10 * SLOW)
    finally:
        if p.poll() is None:
            p.kill()
            p.communicate()
    assert p.returncode == 0, err
    return out


# ---- status ------------------------------------------------------------------


def test_status_draws_the_tree_in_ascii_when_piped(arbord):
    """Piped, status draws the tree with |- and `- and no colour codes, one
    line a node in start order, with kind, strategy, state and pid, then
    the containment in one line."""
    a = start_web(arbord)
    r = ctl(a.socket, "status")
    assert r.returncode == 0, r.stderr
    assert "\033" not in r.stdout and r.stderr == ""
    lines = r.stdout.splitlines()
    assert lines.pop().startswith("containment: ")
    assert [re.split(r"\s+", ln.lstrip("|`- "))[0] for ln in lines] == \
        ["/", "a", "b", "web", "app", "proxy"]
    assert lines[0].split()[:4] == ["/", "supervisor", "one_for_one", "up"]
    assert lines[1].startswith("|- a ")
    assert lines[3].startswith("`- web ")
    assert "rest_for_one" in lines[3]
    assert lines[4].startswith("   |- app ")
    assert lines[5].startswith("   `- proxy ")
    app = by_path(a.socket)["web/app"]
    assert f"pid {app['pid']}" in lines[4] and "transient" in lines[4]
    assert all(ln == ln.rstrip() for ln in lines)


def test_status_json_is_the_reply(arbord):
    """--json prints the reply's parameters as one JSON line, in the same
    order as the tree; the option may follow the command."""
    a = start_web(arbord)
    r = ctl(a.socket, "status", "--json")
    assert r.returncode == 0, r.stderr
    assert r.stdout.count("\n") == 1
    doc = json.loads(r.stdout)
    assert [n["path"] for n in doc["nodes"]] == \
        ["/", "a", "b", "web", "web/app", "web/proxy"]
    assert doc["nodes"][0]["strategy"] == "one_for_one"
    assert isinstance(doc["nodes"][1]["pid"], int)
    assert json.loads(ctl(a.socket, "--json", "status", "web").stdout)[
        "nodes"][0]["path"] == "web"


def test_status_of_a_path_exit_status(arbord):
    """status PATH exits 0 when the node is up and 3 (LSB) when it is a
    stopped service; the subtree is drawn with the path on top."""
    a = start_web(arbord)
    r = ctl(a.socket, "status", "web")
    assert r.returncode == 0, r.stderr
    assert [ln.split()[0] for ln in r.stdout.splitlines()] == \
        ["web", "|-", "`-"]
    assert ctl(a.socket, "status", "web/app").returncode == 0
    assert ctl(a.socket, "stop", "web/app").returncode == 0
    r = ctl(a.socket, "status", "web/app")
    assert r.returncode == 3, r.stderr
    assert r.stdout.split()[:4] == ["web/app", "service", "transient", "down"]
    assert ctl(a.socket, "status", "--json", "web/app").returncode == 3
    # The whole tree is not a question about one node.
    assert ctl(a.socket, "status").returncode == 0


def test_unknown_path_suggests_the_nearest(arbord):
    """A mistyped path is one line on stderr naming the nearest path, exit
    1; with --json the error reply itself is on stdout."""
    a = start_web(arbord)
    for cmd in ("status", "stop", "start", "restart", "kill"):
        r = ctl(a.socket, cmd, "web/ap")
        assert r.returncode == 1, (cmd, r)
        assert r.stderr == "arborctl: no such child 'web/ap' " \
                           "(did you mean 'web/app'?)\n", cmd
        assert r.stdout == ""
    r = ctl(a.socket, "--json", "stop", "web/ap")
    assert r.returncode == 1
    assert json.loads(r.stdout) == {
        "error": "org.arbor.supervisor.NoSuchChild",
        "parameters": {"path": "web/ap", "nearest": "web/app"}}


def on_tty(sock, *args, env=None):
    """What arborctl ARGS writes on a terminal (a pty), in a UTF-8 locale
    with TERM=xterm and no NO_COLOR unless env sets it."""
    e = dict(os.environ, ARBOR_SOCKET=str(sock), LC_ALL="C.UTF-8",
             TERM="xterm")
    e.pop("NO_COLOR", None)
    e.update(env or {})
    master, slave = pty.openpty()
    try:
        p = subprocess.run([ARBORCTL, *args], stdout=slave,
                           stderr=subprocess.PIPE, timeout=10 * SLOW, env=e)
        os.close(slave)
        slave = -1
        out = b""
        while True:
            try:
                chunk = os.read(master, 65536)
            except OSError:  # EIO: the other end is closed
                break
            if not chunk:
                break
            out += chunk
        assert p.returncode == 0, p.stderr
        return out.decode()
    finally:
        if slave >= 0:
            os.close(slave)
        os.close(master)


def test_status_colours_on_a_terminal(arbord):
    """On a terminal, states are coloured and the tree uses box-drawing
    glyphs in a UTF-8 locale; NO_COLOR turns the colours off."""
    a = start_web(arbord)
    out = on_tty(a.socket, "status")
    assert "\033[32mup\033[0m" in out
    assert "\u251c\u2500 a" in out and "\u2514\u2500 web" in out
    out = on_tty(a.socket, "status", env={"NO_COLOR": "1"})
    assert "\033" not in out and "\u2514\u2500 web" in out


# ---- start, stop, restart, kill --------------------------------------------------


def test_stop_and_start(arbord):
    """stop and start print nothing and exit 0; the service really stops
    and comes back; starting a running one is one line and exit 1."""
    a = start_web(arbord)
    old = by_path(a.socket)["b"]["pid"]
    r = ctl(a.socket, "stop", "b")
    assert (r.returncode, r.stdout, r.stderr) == (0, "", "")
    wait_until(lambda: not pid_alive(old), what="b to die")
    assert by_path(a.socket)["b"]["state"] == "down"
    r = ctl(a.socket, "start", "b")
    assert (r.returncode, r.stdout, r.stderr) == (0, "", "")
    n = by_path(a.socket)["b"]
    assert n["state"] == "up" and n["pid"] != old
    r = ctl(a.socket, "start", "b")
    assert r.returncode == 1
    assert r.stderr == "arborctl: 'b' is already running\n"
    assert ctl(a.socket, "--json", "stop", "b").stdout == "{}\n"


def test_restart_of_a_subtree(arbord):
    """restart PATH of a supervisor gives each of its services a new pid
    and leaves the others alone."""
    a = start_web(arbord)
    before = {p: n.get("pid") for p, n in by_path(a.socket).items()}
    assert ctl(a.socket, "restart", "web").returncode == 0
    after = {p: n.get("pid") for p, n in by_path(a.socket).items()}
    assert after["a"] == before["a"] and after["b"] == before["b"]
    assert after["web/app"] != before["web/app"]
    assert after["web/proxy"] != before["web/proxy"]


def test_kill_sends_term_by_default_and_any_named_signal(arbord):
    """kill PATH sends TERM; -s picks another signal; an unknown signal is
    refused with its name quoted, exit 1, and nothing is sent."""
    a = start_web(arbord)
    pid = by_path(a.socket)["a"]["pid"]
    assert ctl(a.socket, "kill", "a").returncode == 0
    ev = a.wait_event("exit", "a")
    assert ev["signal"] == "TERM" and int(ev["pid"]) == pid
    a.wait_event("start", "a", count=2)
    pid = by_path(a.socket)["a"]["pid"]
    assert ctl(a.socket, "kill", "-s", "KILL", "a").returncode == 0
    assert a.wait_event("exit", "a", count=2)["signal"] == "KILL"
    a.wait_event("start", "a", count=3)
    pid = by_path(a.socket)["a"]["pid"]
    r = ctl(a.socket, "kill", "--signal", "BOGUS", "a")
    assert r.returncode == 1
    assert r.stderr == "arborctl: invalid signal 'BOGUS'\n"
    assert by_path(a.socket)["a"]["pid"] == pid and pid_alive(pid)


# ---- events and shutdown ---------------------------------------------------------


def test_events_json_stream_ends_with_down_at_shutdown(arbord):
    """events --json prints one JSON object a line as events happen, and
    exits 0 after the down event when arbord shuts down; shutdown itself
    exits 0 and so does arbord."""
    a = start_web(arbord)
    out = events_of_a_crash(a, "--json")
    evs = [json.loads(ln) for ln in out.splitlines()]
    assert evs[0]["event"] == "exit" and evs[0]["path"] == "b"
    assert evs[0]["signal"] == "KILL" and evs[0]["reason"] == "crash"
    assert {"event": "stop", "path": "web"} in evs
    assert evs[-1] == {"event": "down"}
    assert a.wait_exit() == 0


def test_events_text_lines(arbord):
    """Without --json each event is one line: time, event, path, fields."""
    a = start_web(arbord)
    out = events_of_a_crash(a, wait_restart=True)
    lines = out.splitlines()
    assert re.fullmatch(r"\d\d:\d\d:\d\d  exit +b pid=\d+ signal=KILL "
                        r"reason=crash", lines[0]), lines[0]
    assert re.fullmatch(r"\d\d:\d\d:\d\d  start +b pid=\d+", lines[1])
    assert re.fullmatch(r"\d\d:\d\d:\d\d  down", lines[-1])


# ---- call ----------------------------------------------------------------------


def test_call_prints_the_raw_reply(arbord):
    """call METHOD [JSON] sends any method: the reply's parameters come out
    as JSON (indented, or one line with --json); bad JSON is a usage
    error; an unknown method is exit 1."""
    a = start_web(arbord)
    r = ctl(a.socket, "call", "org.varlink.service.GetInfo")
    assert r.returncode == 0 and json.loads(r.stdout)["product"] == "arbord"
    assert "\n  " in r.stdout
    r = ctl(a.socket, "--json", "call", "org.arbor.supervisor.Status",
            '{"path": "b"}')
    assert r.returncode == 0 and r.stdout.count("\n") == 1
    assert [n["path"] for n in json.loads(r.stdout)["nodes"]] == ["b"]
    for bad in ("[1]", "{", '{"a":1,"a":2}'):
        r = ctl(a.socket, "call", "org.arbor.supervisor.Status", bad)
        assert r.returncode == 2, bad
    r = ctl(a.socket, "call", "org.arbor.supervisor.Nope")
    assert r.returncode == 1
    assert "org.arbor.supervisor.Nope" in r.stderr


# ---- reaching arbord ---------------------------------------------------------------


def test_no_arbord_is_exit_4(tmp_path):
    """No socket, or a socket nobody listens on (a dead arbord's), is exit
    4 with one line saying which."""
    r = ctl(tmp_path / "none.sock", "status")
    assert r.returncode == 4
    assert r.stderr.endswith(": no such socket; is arbord running?\n")
    stale = socket.socket(socket.AF_UNIX)
    stale.bind(str(tmp_path / "stale.sock"))
    stale.close()
    r = ctl(tmp_path / "stale.sock", "status")
    assert r.returncode == 4
    assert "connection refused" in r.stderr
    assert r.stderr.count("\n") == 1


def test_socket_option_beats_the_environment(arbord, tmp_path):
    """--socket wins over ARBOR_SOCKET."""
    a = start_web(arbord)
    r = ctl(tmp_path / "elsewhere.sock", "--socket", str(a.socket), "status")
    assert r.returncode == 0, r.stderr


def test_usage_errors_are_exit_2():
    """Bad command lines are exit 2 and never reach the socket."""
    for args in ([], ["frobnicate"], ["metrics", "a", "b"], ["stop"],
                 ["kill", "-s"], ["status", "-s", "TERM"], ["--bogus"],
                 ["events", "x"], ["call"], ["--socket", "", "status"]):
        r = ctl("/nonexistent/arbor.sock", *args)
        assert r.returncode == 2, args
        assert r.stderr.startswith("arborctl: "), args
    assert ctl("/x", "--help").returncode == 0
    r = ctl("/x", "--version")
    assert r.returncode == 0 and r.stdout.startswith("arborctl ")


@pytest.fixture
def public_dir():
    """A directory under /tmp that nobody can reach (pytest's are 0700)."""
    d = tempfile.mkdtemp(prefix="arborctl-test-")
    os.chmod(d, 0o755)
    yield d
    shutil.rmtree(d, ignore_errors=True)


def as_nobody(sock, *args):
    """arborctl run as nobody: a copy of it beside the socket, since the
    repository itself may sit in a directory nobody cannot enter."""
    if os.geteuid() != 0:
        pytest.skip("needs root to run a client as nobody")
    client = os.path.join(os.path.dirname(sock), "arborctl")
    if not os.path.exists(client):
        shutil.copy(ARBORCTL, client)
    r = subprocess.run(["setpriv", "--reuid=nobody", "--regid=nogroup",
                        "--clear-groups", client, "--socket", str(sock),
                        *args], capture_output=True, text=True,
                       timeout=10 * SLOW, cwd="/")
    return r


def test_another_user_is_refused(arbord, public_dir):
    """A user other than root and arbord's cannot connect to the 0600
    socket: exit 4, 'permission denied'. With control_group it may read
    (status, exit 0) but a change is exit 1 with one line."""
    sock = os.path.join(public_dir, "arbor.sock")
    a = arbord(web_tree(), args=("-s", sock))
    a.wait_event("start", "web/proxy")
    r = as_nobody(sock, "status")
    assert r.returncode == 4, r.stderr
    assert r.stderr == f"arborctl: cannot connect to {sock}: " \
                       "permission denied\n"
    assert a.stop() == 0

    b = arbord('control_group = "nogroup";\n' + web_tree(),
               args=("-s", sock))
    b.wait_event("start", "web/proxy")
    r = as_nobody(sock, "status", "a")
    assert r.returncode == 0, r.stderr
    assert r.stdout.split()[0] == "a"
    pid = json.loads(as_nobody(sock, "--json", "status", "a").stdout)[
        "nodes"][0]["pid"]
    r = as_nobody(sock, "stop", "a")
    assert r.returncode == 1
    assert r.stderr == "arborctl: permission denied: uid 65534 may not " \
                       "call org.arbor.supervisor.Stop\n"
    assert pid_alive(pid)


SECRET = ["/bin/sh", "-c", "echo secret-token; exec /bin/sleep 1000"]


def test_control_group_readers_may_not_read_logs(arbord, public_dir):
    """Bug 12 (issue 11): control_group readers read every service's
    output through Logs, though arbord(8) says readers see status and
    events, and output can hold secrets. Without control_read_logs a
    reader's `arborctl logs` is refused (exit 1, one line) and shows
    nothing; root still reads the line."""
    sock = os.path.join(public_dir, "arbor.sock")
    a = arbord('control_group = "nogroup";\n' +
               tree([service("s", SECRET)]), args=("-s", sock))
    a.wait_event("start", "s")
    wait_until(lambda: "secret-token" in ctl(sock, "logs", "s").stdout,
               what="root to read the service's line")
    r = as_nobody(sock, "logs", "s")
    assert (r.returncode, r.stdout) == (1, ""), r
    assert r.stderr == "arborctl: permission denied: uid 65534 may not " \
                       "call org.arbor.supervisor.Logs\n"
    r = as_nobody(sock, "status", "s")
    assert r.returncode == 0, r.stderr


def test_control_read_logs_lets_readers_read_logs(arbord, public_dir):
    """Bug 12 (issue 11): with control_read_logs = true, control_group
    readers may read the services' output, and still may not reopen the
    log files."""
    sock = os.path.join(public_dir, "arbor.sock")
    a = arbord('control_group = "nogroup";\ncontrol_read_logs = true;\n' +
               tree([service("s", SECRET)]), args=("-s", sock))
    a.wait_event("start", "s")
    wait_until(lambda: "secret-token" in as_nobody(sock, "logs",
                                                   "s").stdout,
               what="nobody to read the service's line")
    r = as_nobody(sock, "logs", "--reopen")
    assert r.returncode == 1
    assert r.stderr == "arborctl: permission denied: uid 65534 may not " \
                       "call org.arbor.supervisor.ReopenLogs\n"


def test_a_refused_client_says_arbord_has_too_many_clients(arbord):
    """Bug 10 (issue 11): with every connection slot taken, arborctl said
    only that arbord closed the connection (or could not send). arbord
    now answers TooManyClients before closing, and arborctl says so:
    exit 4, one line."""
    a = start_web(arbord)
    held = []
    try:
        for _ in range(256):
            c = Conn(a.socket)
            held.append(c)
            c.send("org.arbor.supervisor.Events", {}, more=True)
        r = ctl(a.socket, "status")
        assert r.returncode == 4, r.stderr
        assert r.stderr == "arborctl: arbord refused the connection: too " \
                           "many clients; try again later\n"
    finally:
        for c in held:
            c.close()
    wait_until(lambda: ctl(a.socket, "status").returncode == 0,
               what="arborctl status answered once the streams are gone")
