"""Children added and removed at run time (issue 12, part 2): arborctl add
and remove against a real arbord with real processes, OTP's start_child,
terminate_child + delete_child; their refusals, each of which leaves the
tree as it was; and the permission to change the tree.

Waits are bounded polls on arbord's events or on the process table.
"""

import json
import os
import shutil
import signal
import subprocess
import tempfile

import pytest

from conftest import REPO, SLEEPER, SLOW, pid_alive, service, supervisor, \
    tree, wait_until
from ctlclient import Conn, call, status_by_path

ARBORCTL = os.path.join(REPO, "ctl", "arborctl")
HERE = os.path.dirname(os.path.abspath(__file__))
SUP = "org.arbor.supervisor."
PERMISSION_DENIED = "org.varlink.service.PermissionDenied"
PYTHON = "/usr/bin/python3"
NAME_MAX = 64    # daemon/core/limits.h ARB_NAME_MAX
DEPTH_MAX = 32   # daemon/core/limits.h ARB_DEPTH_MAX


# ---- helpers ----------------------------------------------------------------


def ctl(sock, *args, input=None):
    """arborctl on arbord's socket: the completed process."""
    env = dict(os.environ, ARBOR_SOCKET=str(sock))
    return subprocess.run([ARBORCTL, *args], capture_output=True, text=True,
                          env=env, input=input, timeout=30 * SLOW,
                          stdin=None if input is not None
                          else subprocess.DEVNULL)


def ctl_ok(sock, *args, input=None):
    """arborctl that must succeed: its stdout."""
    r = ctl(sock, *args, input=input)
    assert r.returncode == 0, (args, r.stdout, r.stderr)
    return r.stdout


def ctl_error(sock, *args, input=None):
    """arborctl -j that must fail with an error reply: (name, parameters),
    and its stderr."""
    r = ctl(sock, "-j", *args, input=input)
    assert r.returncode == 1, (args, r.stdout, r.stderr)
    reply = json.loads(r.stdout)
    return reply["error"], reply["parameters"], r.stderr


def comparable(sock):
    """status --json without what changes by itself (times): equal before
    and after a refused request iff nothing changed."""
    out = {}
    for path, n in status_by_path(sock).items():
        out[path] = {k: v for k, v in n.items()
                     if k not in ("since_ms", "restart_in_ms")}
    return out


def start(arbord, config, last):
    """arbord on config, once last has started and the socket is there."""
    a = arbord(config)
    a.wait_event("start", last)
    wait_until(lambda: a.socket.exists(), what="the control socket")
    return a


def status_line(sock, path):
    """The line of arborctl status (text) for the node named path."""
    name = path.rsplit("/", 1)[-1]
    for line in ctl_ok(sock, "status").splitlines():
        fields = line.replace("|-", " ").replace("`-", " ") \
            .replace("|", " ").split()
        if fields and fields[0] == name:
            return line
    raise AssertionError(f"no line for {path}")


def spec(name, argv=SLEEPER, **keys):
    return service(name, argv, **keys)


def nested(depth):
    """Supervisors s1 .. s<depth> nested, the deepest with a service."""
    node = spec("leaf")
    for d in range(depth, 0, -1):
        node = supervisor(f"s{d}", [node])
    return node


# ---- add --------------------------------------------------------------------


def test_add_under_the_root_and_under_a_sub_supervisor(arbord):
    """add starts the child at once, prints its path, logs event=add
    reason=operator; status marks it dynamic (text and JSON), and only
    it."""
    a = start(arbord, tree([spec("a"), supervisor("sub", [spec("x")])]),
              "sub/x")
    assert ctl_ok(a.socket, "add", "/", spec("d")) == "d\n"
    assert ctl_ok(a.socket, "-j", "add", "sub", spec("e")) == \
        '{"path":"sub/e"}\n'
    for path in ("d", "sub/e"):
        ev = a.wait_event("add", path)
        assert ev["reason"] == "operator"
    nodes = status_by_path(a.socket)
    for path in ("d", "sub/e"):
        assert nodes[path]["dynamic"] is True
        assert nodes[path]["state"] == "up"
        assert nodes[path]["pid"] == a.pid_of(path)
        assert pid_alive(nodes[path]["pid"])
        assert "dynamic" in status_line(a.socket, path).split()
    for path in ("/", "a", "sub", "sub/x"):
        assert "dynamic" not in nodes[path]
    assert "dynamic" not in status_line(a.socket, "a").split()
    # The start comes before the add event: add means started.
    starts = [e["event"] for e in a.find(path="d")]
    assert starts == ["start", "add"]


def test_an_added_child_goes_last_in_the_start_order(arbord):
    """OTP's start_child appends: a later one_for_all restart of the root
    stops the added child first and starts it last."""
    a = start(arbord, tree([spec("a"), spec("b"),
                            supervisor("sub", [spec("x")])],
                           strategy="one_for_all"), "sub/x")
    ctl_ok(a.socket, "add", "/", spec("d"))
    a.wait_event("add", "d")
    mark = len(a.snapshot())
    os.kill(a.pid_of("a"), signal.SIGKILL)
    a.wait_event("start", "d", count=2)
    wait_until(lambda: len(a.find("start", "sub/x")) == 2, what="sub/x")
    kinds = [(e["event"], e.get("path")) for e in a.snapshot()[mark:]
             if e["event"] in ("stop", "start")]
    stops = [p for k, p in kinds if k == "stop"]
    starts = [p for k, p in kinds if k == "start"]
    assert stops == ["d", "sub/x", "sub", "b"], kinds   # a had crashed
    assert starts == ["a", "b", "sub", "sub/x", "d"], kinds
    assert status_by_path(a.socket)["d"]["dynamic"] is True


def test_add_spec_from_standard_input(arbord):
    """SPEC '-' is read from standard input, several lines long."""
    a = start(arbord, tree([spec("a"), supervisor("sub", [spec("x")])]),
              "sub/x")
    text = '{ name = "debug";\n  exec = [ "/bin/sleep", "1000" ];\n' \
           '  restart = "temporary"; }\n'
    assert ctl_ok(a.socket, "add", "sub", "-", input=text) == "sub/debug\n"
    n = status_by_path(a.socket)["sub/debug"]
    assert n["restart"] == "temporary" and n["dynamic"] is True
    assert pid_alive(n["pid"])


def base_tree():
    """a, b (stopped later where needed), sub{x}, pool, and a deep chain."""
    return tree([spec("a"), spec("b"), supervisor("sub", [spec("x")]),
                 '{ name = "pool"; strategy = "simple_one_for_one"; '
                 'template = { exec = [ "/bin/sleep", "1000" ]; }; }',
                 nested(DEPTH_MAX)])


DEEP = "/".join(f"s{d}" for d in range(1, DEPTH_MAX + 1))
LONG = "n" * (NAME_MAX + 1)

# (parent, spec, error, parameters that must be in the reply, stderr's
# beginning)
BAD_ADDS = {
    "syntax": ("/", '{ name = "x"; exec = [ "/bin/sleep", ; }',
               SUP + "ConfigInvalid", {"line": 1, "message": "syntax error"},
               "arborctl: SPEC:1: syntax error"),
    "syntax_line_2": ("/", '{ name = "x";\n  exec = [ "/bin/sleep", ; }',
                      SUP + "ConfigInvalid", {"line": 2},
                      "arborctl: SPEC:2: "),
    "unknown_key": ("/", '{ name = "x"; exec = [ "/bin/sleep", "1" ]; '
                    'bogus = 1; }', SUP + "ConfigInvalid",
                    {"line": 1, "column": 45,
                     "message": "child 'x': unknown key 'bogus'"},
                    "arborctl: SPEC:1:45: child 'x': unknown key 'bogus'"),
    "missing_exec": ("/", '{ name = "x"; restart = "temporary"; }',
                     SUP + "ConfigInvalid", {"line": 1, "column": 1},
                     "arborctl: SPEC:1:1: child 'x': has neither 'exec'"),
    "missing_program": ("/", '{ name = "x"; exec = [ "/nonexistent/p" ]; }',
                        SUP + "ConfigInvalid", {"line": 1},
                        "arborctl: SPEC:1:"),
    "exists_running": ("/", spec("a", ["/bin/true"]),
                       SUP + "AlreadyPresent",
                       {"path": "a", "running": True},
                       "arborctl: 'a' already exists and is running"),
    "parent_is_a_service": ("a", spec("q"), SUP + "NotASupervisor",
                            {"path": "a"},
                            "arborctl: 'a' is not a supervisor"),
    "parent_is_a_pool": ("pool", spec("q"), SUP + "NotASupervisor",
                         {"path": "pool"},
                         "arborctl: 'pool' is not a supervisor"),
    "unknown_parent": ("nope", spec("q"), SUP + "NoSuchChild",
                       {"path": "nope"},
                       "arborctl: no such child 'nope'"),
    "too_deep": (DEEP, supervisor("sv", [spec("z")]),
                 SUP + "ConfigInvalid", {"line": 1, "column": 16},
                 "arborctl: SPEC:1:16: "),
    "name_too_long": ("sub", spec(LONG), SUP + "ConfigInvalid",
                      {"line": 1, "column": 3},
                      f"arborctl: SPEC:1:3: child 'sub/#1': invalid name "
                      f"'{LONG}'"),
}


@pytest.mark.parametrize("case", sorted(BAD_ADDS))
def test_bad_add_is_refused_and_changes_nothing(arbord, case):
    """Each bad add gets its error, with the place in SPEC for a spec that
    does not read; status is the same before and after."""
    parent, text, name, params, stderr = BAD_ADDS[case]
    a = start(arbord, base_tree(), DEEP + "/leaf")
    before = comparable(a.socket)
    got_name, got_params, got_stderr = ctl_error(a.socket, "add", parent,
                                                 text)
    assert got_name == name, (got_params, got_stderr)
    for k, v in params.items():
        assert got_params.get(k) == v, (k, got_params)
    assert got_stderr.startswith(stderr), got_stderr
    assert comparable(a.socket) == before
    assert not a.find("add")


def test_add_of_a_stopped_childs_name_is_already_present_not_running(
        arbord):
    """A child that exists but is stopped is kept, not replaced: running is
    false, and it stays down."""
    a = start(arbord, base_tree(), DEEP + "/leaf")
    ctl_ok(a.socket, "stop", "b")
    before = comparable(a.socket)
    name, params, _ = ctl_error(a.socket, "add", "/", spec("b"))
    assert (name, params) == (SUP + "AlreadyPresent",
                              {"path": "b", "running": False})
    assert comparable(a.socket) == before


def test_the_limits_themselves_are_accepted(arbord):
    """A name of exactly ARB_NAME_MAX and a service right under the deepest
    supervisor allowed are fine: the refusals above are past the limits."""
    a = start(arbord, base_tree(), DEEP + "/leaf")
    name = "n" * NAME_MAX
    assert ctl_ok(a.socket, "add", "sub", spec(name)) == f"sub/{name}\n"
    assert ctl_ok(a.socket, "add", DEEP, spec("z")) == f"{DEEP}/z\n"
    nodes = status_by_path(a.socket)
    assert pid_alive(nodes[f"sub/{name}"]["pid"])
    assert pid_alive(nodes[f"{DEEP}/z"]["pid"])


def test_the_documented_typo_example(arbord):
    """arborctl(8): add / '{ name = "x"; exce = ["/bin/true"]; }' prints
    'arborctl: SPEC:1:15: unknown key 'exce''."""
    a = start(arbord, tree([spec("a")]), "a")
    r = ctl(a.socket, "add", "/", '{ name = "x"; exce = ["/bin/true"]; }')
    assert r.returncode == 1
    assert r.stderr.startswith("arborctl: SPEC:1:15: ") and \
        "unknown key 'exce'" in r.stderr, r.stderr


def test_a_dynamic_child_that_cannot_exec_is_start_failed_and_gone(
        arbord, tmp_path):
    """A program whose interpreter is missing passes the check but fails
    execve: StartFailed with the reason, and the child is not in the tree
    (OTP: start_child's error leaves no child behind)."""
    prog = tmp_path / "prog"
    prog.write_text("#!/nonexistent/interpreter\n")
    prog.chmod(0o755)
    a = start(arbord, tree([spec("a"), supervisor("sub", [spec("x")])]),
              "sub/x")
    before = comparable(a.socket)
    name, params, _ = ctl_error(a.socket, "add", "sub",
                                spec("p", [str(prog)]))
    assert name == SUP + "StartFailed", params
    assert params["path"] == "sub/p"
    assert params["error"] == "No such file or directory"
    assert comparable(a.socket) == before
    assert not a.find("add")
    # The name is free again.
    assert ctl_ok(a.socket, "add", "sub", spec("p")) == "sub/p\n"


# ---- remove -----------------------------------------------------------------


def test_remove_of_a_dynamic_and_of_a_configured_child(arbord):
    """remove stops the process and deletes the node, logging event=remove
    reason=operator; the other pids are the same."""
    a = start(arbord, tree([spec("a"), spec("b"),
                            supervisor("sub", [spec("x")])]), "sub/x")
    ctl_ok(a.socket, "add", "sub", spec("d"))
    before = status_by_path(a.socket)
    for path in ("sub/d", "b"):
        assert ctl_ok(a.socket, "-j", "remove", path) == "{}\n"
        assert a.wait_event("remove", path)["reason"] == "operator"
        assert not pid_alive(before[path]["pid"])
    after = status_by_path(a.socket)
    assert set(after) == {"/", "a", "sub", "sub/x"}
    for path in ("a", "sub/x"):
        assert after[path]["pid"] == before[path]["pid"]


def test_remove_of_a_subtree_stops_it_in_reverse_order(arbord):
    """A supervisor's subtree stops in reverse start order, added children
    (last in the order) first, then the supervisor; all of it leaves."""
    a = start(arbord, tree([spec("a"),
                            supervisor("sub", [spec("x1"), spec("x2"),
                                               spec("x3")])]), "sub/x3")
    ctl_ok(a.socket, "add", "sub", spec("d"))
    pids = [n["pid"] for p, n in status_by_path(a.socket).items()
            if p.startswith("sub/")]
    mark = len(a.snapshot())
    ctl_ok(a.socket, "remove", "sub")
    a.wait_event("remove", "sub")
    stops = [e["path"] for e in a.snapshot()[mark:] if e["event"] == "stop"]
    assert stops == ["sub/d", "sub/x3", "sub/x2", "sub/x1", "sub"]
    assert not any(pid_alive(p) for p in pids)
    assert set(status_by_path(a.socket)) == {"/", "a"}


def test_remove_twice_and_remove_of_the_root(arbord):
    """The second remove finds nothing (NoSuchChild); '/' is refused as a
    path that names no child."""
    a = start(arbord, tree([spec("a"), spec("b")]), "b")
    ctl_ok(a.socket, "remove", "b")
    before = comparable(a.socket)
    name, params, _ = ctl_error(a.socket, "remove", "b")
    assert name == SUP + "NoSuchChild" and params["path"] == "b"
    name, params, _ = ctl_error(a.socket, "remove", "/")
    assert (name, params) == (SUP + "InvalidPath", {"path": "/"})
    assert comparable(a.socket) == before


def test_a_supervisor_restarted_by_its_parent_forgets_added_children(
        arbord):
    """OTP: a supervisor restarted by its parent comes back with its
    configured children only. A crash of a sibling under a one_for_all
    root restarts sub; sub/d's process is gone and so is its node."""
    a = start(arbord, tree([spec("a"), supervisor("sub", [spec("x")])],
                           strategy="one_for_all"), "sub/x")
    ctl_ok(a.socket, "add", "sub", spec("d"))
    d_pid = status_by_path(a.socket)["sub/d"]["pid"]
    os.kill(a.pid_of("a"), signal.SIGKILL)
    a.wait_event("start", "sub/x", count=2)
    wait_until(lambda: not pid_alive(d_pid), what="sub/d's process to end")
    nodes = status_by_path(a.socket)
    assert set(nodes) == {"/", "a", "sub", "sub/x"}
    assert len(a.find("start", "sub/d")) == 1
    assert nodes["sub/x"]["state"] == "up"


# ---- permission -------------------------------------------------------------


@pytest.fixture
def public_dir():
    """A directory under /tmp that nobody can reach, holding a copy of
    ctlclient.py for clients run as nobody (as in test_control.py)."""
    if os.geteuid() != 0:
        pytest.skip("needs root to run a client as nobody")
    d = tempfile.mkdtemp(prefix="arbor-dyn-test-")
    os.chmod(d, 0o755)
    shutil.copy(os.path.join(HERE, "ctlclient.py"), d)
    os.chmod(os.path.join(d, "ctlclient.py"), 0o644)
    yield d
    shutil.rmtree(d, ignore_errors=True)


def as_nobody(public_dir, sock, method, params):
    """ctlclient run as nobody:nogroup: its JSON line."""
    argv = ["setpriv", "--reuid=nobody", "--regid=nogroup",
            "--clear-groups", PYTHON,
            os.path.join(public_dir, "ctlclient.py"), str(sock), method,
            json.dumps(params)]
    r = subprocess.run(argv, capture_output=True, text=True,
                       timeout=30 * SLOW, cwd=public_dir)
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)


def test_a_reader_may_not_add_remove_or_spawn(arbord, public_dir):
    """A member of control_group reads but does not change the tree:
    PermissionDenied for AddChild, RemoveChild and Spawn, and nothing
    changed."""
    sock = os.path.join(public_dir, "arbor.sock")
    a = arbord('control_group = "nogroup";\n' + base_tree(),
               args=("-s", sock))
    a.wait_event("start", DEEP + "/leaf")
    wait_until(lambda: os.path.exists(sock), what="the control socket")
    before = comparable(sock)
    for method, params in (
            ("AddChild", {"parent": "sub", "spec": spec("d")}),
            ("RemoveChild", {"path": "a"}),
            ("Spawn", {"pool": "pool"})):
        r = as_nobody(public_dir, sock, SUP + method, params)
        assert r["reply"]["error"] == PERMISSION_DENIED, (method, r)
    assert comparable(sock) == before
    assert not a.find("add") and not a.find("remove")


# ---- subtrees and events ----------------------------------------------------


def test_add_of_a_supervisor_with_its_children(arbord):
    """An added supervisor starts, then its children in their order; it
    is dynamic. A restart of it by the operator brings its own children
    back (they are its configuration, not added to it)."""
    a = start(arbord, tree([spec("a")]), "a")
    text = supervisor("grp", [spec("c1"), spec("c2")],
                      strategy='"one_for_all"')
    assert ctl_ok(a.socket, "add", "/", text) == "grp\n"
    a.wait_event("add", "grp")
    starts = [e["path"] for e in a.find("start")]
    assert starts[-3:] == ["grp", "grp/c1", "grp/c2"]
    nodes = status_by_path(a.socket)
    assert nodes["grp"]["dynamic"] is True
    assert nodes["grp"]["strategy"] == "one_for_all"
    old = nodes["grp/c1"]["pid"]
    ctl_ok(a.socket, "restart", "grp")
    a.wait_event("start", "grp/c2", count=2)
    nodes = status_by_path(a.socket)
    assert {"grp/c1", "grp/c2"} <= set(nodes)
    assert nodes["grp/c1"]["pid"] != old and pid_alive(nodes["grp/c1"]["pid"])


def test_add_and_remove_stream_on_events(arbord):
    """event=add and event=remove reach Events subscribers, with their
    reason, as on arbord's log."""
    a = start(arbord, tree([spec("a")]), "a")
    with Conn(a.socket, timeout=5.0 * SLOW) as sub:
        sub.send(SUP + "Events", {}, more=True)
        call(a.socket, "org.varlink.service.GetInfo")   # the barrier
        ctl_ok(a.socket, "add", "/", spec("d"))
        ctl_ok(a.socket, "remove", "d")
        seen = []
        while not seen or seen[-1][0] != "remove":
            ev = sub.recv()["parameters"]["event"]
            seen.append((ev["event"], ev.get("path"), ev.get("reason")))
    assert ("add", "d", "operator") in seen
    assert seen[-1] == ("remove", "d", "operator")
    assert seen.index(("add", "d", "operator")) < len(seen) - 1


def test_add_under_a_stopped_supervisor_is_not_running(arbord):
    """OTP's start_child needs a live supervisor: NotRunning, nothing
    added; a temporary added child that is stopped is deleted (C2), a
    permanent one stays, down, and starts again."""
    a = start(arbord, tree([spec("a"), supervisor("sub", [spec("x")])]),
              "sub/x")
    ctl_ok(a.socket, "stop", "sub")
    before = comparable(a.socket)
    name, params, _ = ctl_error(a.socket, "add", "sub", spec("d"))
    assert name == SUP + "NotRunning", params
    assert comparable(a.socket) == before

    ctl_ok(a.socket, "add", "/", spec("t", restart='"temporary"'))
    ctl_ok(a.socket, "add", "/", spec("p"))
    ctl_ok(a.socket, "stop", "t")
    ctl_ok(a.socket, "stop", "p")
    nodes = status_by_path(a.socket)
    assert "t" not in nodes
    assert nodes["p"]["state"] == "down" and nodes["p"]["dynamic"] is True
    ctl_ok(a.socket, "start", "p")
    assert pid_alive(status_by_path(a.socket)["p"]["pid"])
