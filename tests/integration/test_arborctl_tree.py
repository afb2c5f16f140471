"""arborctl's living-tree commands (reload, add, remove, spawn): what each
sends, what it prints, its one-line errors and its exit statuses.

Most tests talk to a fake arbord, a thread on a private socket that
records each call and answers a canned reply, so they pin the client
alone, whatever the daemon's progress. The last ones run the real arbord
and skip while it answers MethodNotFound (the daemon side not yet there).
"""

import json
import os
import socket
import subprocess
import threading

import pytest

from conftest import REPO, SLEEPER, SLOW, service, tree, wait_until

ARBORCTL = os.path.join(REPO, "ctl", "arborctl")
IFACE = "org.arbor.supervisor."


@pytest.fixture(autouse=True)
def arborctl_is_built():
    """A missing client fails every test here rather than skip them."""
    assert os.path.exists(ARBORCTL), f"{ARBORCTL} missing: run make"


class FakeArbord:
    """Answers each connection's one call with the next reply queued by
    answer(); .calls holds the calls as decoded JSON."""

    def __init__(self, path):
        self.path = str(path)
        self.calls = []
        self.replies = []
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.bind(self.path)
        self.sock.listen(4)
        self.sock.settimeout(10 * SLOW)
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def answer(self, parameters=None, error=None):
        reply = {"parameters": parameters or {}}
        if error:
            reply["error"] = IFACE + error if "." not in error else error
        self.replies.append(reply)

    def _serve(self):
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:  # closed, or nobody came
                return
            with conn:
                conn.settimeout(10 * SLOW)
                buf = b""
                try:
                    while b"\0" not in buf:
                        chunk = conn.recv(65536)
                        if not chunk:
                            break
                        buf += chunk
                except OSError:
                    continue
                if b"\0" not in buf:
                    continue
                self.calls.append(json.loads(buf.split(b"\0")[0]))
                reply = self.replies.pop(0) if self.replies else \
                    {"error": "org.varlink.service.MethodNotFound",
                     "parameters": {}}
                conn.sendall(json.dumps(reply).encode() + b"\0")

    def close(self):
        # close() alone does not wake a thread in accept(); shutdown does.
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.sock.close()
        self.thread.join(timeout=10 * SLOW)


@pytest.fixture
def fake(tmp_path):
    f = FakeArbord(tmp_path / "fake.sock")
    yield f
    f.close()


def ctl(sock, *args, stdin=None, timeout=10):
    e = dict(os.environ, ARBOR_SOCKET=str(sock))
    e.pop("NO_COLOR", None)
    return subprocess.run([ARBORCTL, *args], capture_output=True, text=True,
                          env=e, timeout=timeout * SLOW,
                          input=stdin if stdin is not None else "")


PLAN = {
    "digest": "3f2a9c01d2e4b5a6" + "0" * 48,
    "adds": 1, "removes": 1, "changes": 1, "reorders": 1,
    "steps": [
        {"op": "add", "path": "web2", "supervisor": "/", "kind": "service"},
        {"op": "remove", "path": "web/old", "supervisor": "web",
         "kind": "supervisor"},
        {"op": "change", "path": "web/app", "supervisor": "web",
         "kind": "service", "apply": "restart",
         "keys": [{"key": "stop_signal", "old": "TERM", "new": "INT"},
                  {"key": "exec", "old": '[ "sleep", "10" ]',
                   "new": '[ "sleep", "20" ]'},
                  {"key": "cwd", "old": None, "new": "/srv"}]},
        {"op": "reorder", "path": "web", "supervisor": "web",
         "order": ["a", "b", "c"]},
    ]}

PLAN_TEXT = """\
reload 3f2a9c01d2e4b5a6: 1 to add, 1 to remove, 1 to change, 1 to reorder
/:
  + add      web2 (service)
web:
  - remove   old (supervisor)
  ~ change   app (restart)
      stop_signal: TERM -> INT
      exec: [ "sleep", "10" ] -> [ "sleep", "20" ]
      cwd: (unset) -> /srv
  = reorder  a b c
"""

EMPTY_PLAN = {"digest": "ab" * 32, "adds": 0, "removes": 0, "changes": 0,
              "reorders": 0, "steps": []}


# ---- reload ------------------------------------------------------------------


def test_reload_dry_run_prints_the_plan_and_exits_1(fake):
    """reload --dry-run asks Reload with dryRun and prints the plan per
    supervisor; a plan with steps is exit 1, as diff(1) says "differs"."""
    fake.answer({"plan": PLAN, "applied": False})
    r = ctl(fake.path, "reload", "--dry-run")
    assert (r.returncode, r.stderr) == (1, "")
    assert r.stdout == PLAN_TEXT + "dry run: nothing changed\n"
    assert fake.calls == [{"method": IFACE + "Reload",
                           "parameters": {"dryRun": True}}]


def test_reload_dry_run_with_nothing_to_do_exits_0(fake):
    """An empty plan is "nothing to do" and exit 0, dry run or not."""
    for args in (("reload", "--dry-run"), ("reload",)):
        fake.answer({"plan": EMPTY_PLAN, "applied": False})
        r = ctl(fake.path, *args)
        assert (r.returncode, r.stderr) == (0, ""), args
        assert r.stdout == "reload abababababababab: 0 to add, 0 to " \
                           "remove, 0 to change, 0 to reorder\n" \
                           "nothing to do\n"


def test_reload_applies_and_exits_0(fake):
    """reload without --dry-run sends no dryRun, prints the plan and
    "applied", and exits 0 although the plan had steps."""
    fake.answer({"plan": PLAN, "applied": True})
    r = ctl(fake.path, "reload")
    assert (r.returncode, r.stderr) == (0, "")
    assert r.stdout == PLAN_TEXT + "applied\n"
    assert fake.calls[0]["parameters"] == {}


def test_reload_json_is_the_reply(fake):
    """--json prints the reply as one line; the dry run's status stays."""
    fake.answer({"plan": PLAN, "applied": False})
    r = ctl(fake.path, "--json", "reload", "--dry-run")
    assert r.returncode == 1
    assert json.loads(r.stdout) == {"plan": PLAN, "applied": False}
    assert r.stdout.count("\n") == 1


def test_reload_of_a_broken_config_says_file_and_line(fake):
    """ConfigInvalid is one line, FILE:LINE: message (arbord's message
    says where); exit 1, and 2 (diff's trouble) for a dry run, so that it
    never reads as "differs"."""
    err = {"line": 12, "errors": 1,
           "message": "/etc/arbor/conf.d/10-web.conf:12: child 'web/app': "
                      "unknown key 'stop_sgnal'"}
    for args, status in ((("reload",), 1), (("reload", "--dry-run"), 2)):
        fake.answer(err, error="ConfigInvalid")
        r = ctl(fake.path, *args)
        assert (r.returncode, r.stdout) == (status, ""), args
        assert r.stderr == "arborctl: /etc/arbor/conf.d/10-web.conf:12: " \
                           "child 'web/app': unknown key 'stop_sgnal'\n"
    # A reply that names the file apart says it the same way.
    fake.answer({"file": "/etc/arbor/arbor.conf", "line": 3,
                 "message": "syntax error"}, error="ConfigInvalid")
    r = ctl(fake.path, "reload")
    assert r.stderr == "arborctl: /etc/arbor/arbor.conf:3: syntax error\n"
    fake.answer(err, error="ConfigInvalid")
    r = ctl(fake.path, "--json", "reload")
    assert json.loads(r.stdout) == {"error": IFACE + "ConfigInvalid",
                                    "parameters": err}


def test_reload_refusals(fake, tmp_path):
    """ShuttingDown and PermissionDenied are one line each, exit 1 (2 for
    a dry run); no arbord is exit 4 in both; a reply without a plan is a
    bad reply."""
    fake.answer(error="ShuttingDown")
    r = ctl(fake.path, "reload", "--dry-run")
    assert (r.returncode, r.stderr) == (2, "arborctl: arbord is shutting "
                                           "down\n")
    fake.answer(error="org.varlink.service.PermissionDenied")
    r = ctl(fake.path, "reload")
    assert r.returncode == 1
    assert r.stderr == f"arborctl: permission denied: uid {os.geteuid()} " \
                       "may not call org.arbor.supervisor.Reload\n"
    fake.answer({"applied": True})
    r = ctl(fake.path, "reload")
    assert (r.returncode, r.stderr) == \
        (1, "arborctl: bad reply from arbord: no plan\n")
    for args in (("reload",), ("reload", "--dry-run")):
        assert ctl(tmp_path / "none.sock", *args).returncode == 4


# ---- add, remove -----------------------------------------------------------------


SPEC = '{ name = "debug"; exec = ["/bin/sleep", "1000"]; }'


def test_add_sends_parent_and_spec_and_prints_the_path(fake):
    """add PARENT SPEC prints the new child's path; SPEC "-" is read from
    standard input, whole."""
    fake.answer({"path": "web/debug"})
    r = ctl(fake.path, "add", "web", SPEC)
    assert (r.returncode, r.stdout, r.stderr) == (0, "web/debug\n", "")
    assert fake.calls[0] == {"method": IFACE + "AddChild",
                             "parameters": {"parent": "web", "spec": SPEC}}
    fake.answer({"path": "debug"})
    r = ctl(fake.path, "add", "/", "-", stdin=SPEC + "\n# end\n")
    assert (r.returncode, r.stdout) == (0, "debug\n")
    assert fake.calls[1]["parameters"] == {"parent": "/",
                                           "spec": SPEC + "\n# end\n"}
    fake.answer({"path": "debug"})
    r = ctl(fake.path, "--json", "add", "/", SPEC)
    assert json.loads(r.stdout) == {"path": "debug"}


def test_add_errors(fake):
    """A bad spec is SPEC:LINE:COLUMN: message; a name taken, a parent
    that is a service, and a parent not running are one line each."""
    cases = [
        ("ConfigInvalid", {"line": 1, "column": 15,
                           "message": "unknown key 'exce'"},
         "SPEC:1:15: unknown key 'exce'"),
        ("AlreadyPresent", {"path": "web/debug", "running": True},
         "'web/debug' already exists and is running"),
        ("AlreadyPresent", {"path": "web/debug", "running": False},
         "'web/debug' already exists (stopped: start it, or remove it "
         "first)"),
        ("NotASupervisor", {"path": "web/app"},
         "'web/app' is not a supervisor"),
        ("NotRunning", {"path": "web"}, "'web' is not running"),
    ]
    for error, params, line in cases:
        fake.answer(params, error=error)
        r = ctl(fake.path, "add", "web", SPEC)
        assert (r.returncode, r.stdout) == (1, ""), error
        assert r.stderr == f"arborctl: {line}\n", error


def test_remove_is_silent(fake):
    """remove PATH sends RemoveChild and prints nothing; an unknown path
    is the usual one line."""
    fake.answer({})
    r = ctl(fake.path, "remove", "workers/3")
    assert (r.returncode, r.stdout, r.stderr) == (0, "", "")
    assert fake.calls[0] == {"method": IFACE + "RemoveChild",
                             "parameters": {"path": "workers/3"}}
    fake.answer({"path": "workers/9", "nearest": "workers/3"},
                error="NoSuchChild")
    r = ctl(fake.path, "remove", "workers/9")
    assert r.returncode == 1
    assert r.stderr == "arborctl: no such child 'workers/9' (did you " \
                       "mean 'workers/3'?)\n"


# ---- spawn -----------------------------------------------------------------------


def test_spawn_sends_pool_name_and_args(fake):
    """spawn POOL prints the instance's path; --name names it; ARGs after
    -- may begin with a dash; no ARG sends no args."""
    fake.answer({"path": "workers/1"})
    r = ctl(fake.path, "spawn", "workers")
    assert (r.returncode, r.stdout, r.stderr) == (0, "workers/1\n", "")
    assert fake.calls[0] == {"method": IFACE + "Spawn",
                             "parameters": {"pool": "workers"}}
    fake.answer({"path": "workers/backfill"})
    r = ctl(fake.path, "spawn", "--name", "backfill", "workers", "--",
            "--queue", "low", "-v")
    assert (r.returncode, r.stdout) == (0, "workers/backfill\n")
    assert fake.calls[1]["parameters"] == {
        "pool": "workers", "name": "backfill",
        "args": ["--queue", "low", "-v"]}


def test_spawn_errors(fake):
    """A full pool names its limit; not a pool, a taken name and a bad
    name are one line each, exit 1."""
    cases = [
        ("PoolFull", {"path": "workers", "max_children": 10},
         "pool 'workers' is full (max_children 10)"),
        ("NotAPool", {"path": "web"}, "'web' is not a pool"),
        ("AlreadyPresent", {"path": "workers/x", "running": True},
         "'workers/x' already exists and is running"),
        ("org.varlink.service.InvalidParameter", {"parameter": "name"},
         "invalid name 'x'"),
    ]
    for error, params, line in cases:
        fake.answer(params, error=error)
        r = ctl(fake.path, "spawn", "--name", "x", "workers")
        assert (r.returncode, r.stdout) == (1, ""), error
        assert r.stderr == f"arborctl: {line}\n", error


def test_restart_of_a_pool_instance_is_refused_in_words(fake):
    """PoolInstance (OTP's simple_one_for_one refusal) says what to do."""
    fake.answer({"path": "workers/2"}, error="PoolInstance")
    r = ctl(fake.path, "restart", "workers/2")
    assert r.returncode == 1
    assert r.stderr == "arborctl: 'workers/2' is a pool instance: it " \
                       "cannot be restarted, only stopped or removed\n"


def test_usage_errors_never_reach_the_socket(fake):
    """Bad command lines are exit 2 and send nothing."""
    for args in (["reload", "x"], ["add", "web"], ["add", "a", "b", "c"],
                 ["remove"], ["remove", "a", "b"], ["spawn"],
                 ["status", "--dry-run"], ["add", "--name", "x", "a", "b"],
                 ["spawn", "--name", "", "workers"], ["spawn", "--name"],
                 ["reload", "--bogus"]):
        r = ctl(fake.path, *args)
        assert r.returncode == 2, args
        assert r.stderr.startswith("arborctl: "), args
    assert fake.calls == []


# ---- against the real arbord (once it has the methods) ----------------------------


def living_tree_or_skip(arbord):
    """Skips unless arbord has the living tree's methods (and so reads a
    pool in its configuration): a probe arbord of one service is asked."""
    a = arbord(tree([service("probe", SLEEPER)]))
    a.wait_event("start", "probe")
    wait_until(lambda: a.socket.exists(), what="the control socket")
    r = ctl(a.socket, "spawn", "probe")
    assert a.stop() == 0
    if "has no method" in r.stderr:
        pytest.skip("arbord has no Spawn yet")


def reload_or_skip(a, *args):
    r = ctl(a.socket, *args, "reload", "--dry-run")
    if "has no method" in r.stderr:
        pytest.skip("arbord has no Reload yet")
    return r


def test_real_dry_run_of_an_unchanged_config_is_nothing_to_do(arbord):
    """The configuration arbord runs is nothing to do: exit 0, and every
    pid stays."""
    a = arbord(tree([service("a", SLEEPER), service("b", SLEEPER)]))
    a.wait_event("start", "b")
    wait_until(lambda: a.socket.exists(), what="the control socket")
    pids = (a.pid_of("a"), a.pid_of("b"))
    r = reload_or_skip(a)
    assert (r.returncode, r.stderr) == (0, "")
    assert r.stdout.endswith("nothing to do\n")
    assert (a.pid_of("a"), a.pid_of("b")) == pids


def test_real_dry_run_of_an_edited_config_shows_the_change(arbord):
    """A changed exec is one change step with its key, exit 1, and nothing
    restarts; the reload itself then restarts that one service."""
    a = arbord(tree([service("a", SLEEPER), service("b", SLEEPER)]))
    a.wait_event("start", "b")
    wait_until(lambda: a.socket.exists(), what="the control socket")
    pids = (a.pid_of("a"), a.pid_of("b"))
    a.config.write_text(tree([service("a", SLEEPER),
                              service("b", ["/bin/sleep", "1001"])]))
    r = reload_or_skip(a)
    assert r.returncode == 1, r.stderr
    assert "/:\n  ~ change   b (restart)\n      exec: " \
           '[ "/bin/sleep", "1000" ] -> [ "/bin/sleep", "1001" ]\n' \
           "dry run: nothing changed\n" in r.stdout
    assert (a.pid_of("a"), a.pid_of("b")) == pids
    r = ctl(a.socket, "reload")
    assert r.returncode == 0, r.stderr
    assert r.stdout.endswith("applied\n")
    wait_until(lambda: a.pid_of("b") != pids[1], what="b to restart")
    assert a.pid_of("a") == pids[0]
    r = reload_or_skip(a)
    assert (r.returncode, r.stdout.splitlines()[-1]) == (0, "nothing to do")


def test_real_broken_config_is_file_and_line(arbord):
    """A reload of a config with an unknown key is one line FILE:LINE:
    message, exit 1 (2 for a dry run), and nothing restarts."""
    a = arbord(tree([service("a", SLEEPER)]))
    a.wait_event("start", "a")
    wait_until(lambda: a.socket.exists(), what="the control socket")
    pid = a.pid_of("a")
    a.config.write_text(tree([service("a", SLEEPER, bogus_key=1)]))
    r = reload_or_skip(a)
    assert (r.returncode, r.stdout) == (2, ""), r.stderr
    assert r.stderr.startswith(f"arborctl: {a.config}:3: "), r.stderr
    assert r.stderr.count("\n") == 1 and "bogus_key" in r.stderr
    r = ctl(a.socket, "reload")
    assert r.returncode == 1
    assert a.pid_of("a") == pid


def test_real_add_spawn_remove(arbord):
    """add prints the path of a child that then runs and shows as dynamic;
    spawn prints POOL/N; remove takes them away; a bad spec is SPEC:L:C."""
    living_tree_or_skip(arbord)
    a = arbord(tree([service("a", SLEEPER),
                     '{ name = "workers"; strategy = "simple_one_for_one"; '
                     'max_children = 1; template = { exec = ["/bin/sleep"]; '
                     'restart = "temporary"; }; }']))
    a.wait_event("start", "a")
    wait_until(lambda: a.socket.exists(), what="the control socket")
    r = ctl(a.socket, "add", "/", service("x", SLEEPER))
    assert (r.returncode, r.stdout, r.stderr) == (0, "x\n", "")
    r = ctl(a.socket, "status")
    line = [ln for ln in r.stdout.splitlines() if ln.startswith("`- x ")]
    assert line and "dynamic" in line[0], r.stdout
    assert "instances 0/1" in r.stdout
    r = ctl(a.socket, "spawn", "workers", "1000")
    assert (r.returncode, r.stderr) == (0, ""), r.stderr
    inst = r.stdout.strip()
    assert inst.startswith("workers/")
    assert "instances 1/1" in ctl(a.socket, "status").stdout
    r = ctl(a.socket, "spawn", "workers", "1000")
    assert r.returncode == 1
    assert r.stderr == "arborctl: pool 'workers' is full (max_children 1)\n"
    for path in (inst, "x"):
        r = ctl(a.socket, "remove", path)
        assert (r.returncode, r.stdout, r.stderr) == (0, "", ""), path
    r = ctl(a.socket, "add", "/", '{ name = "y"; exce = ["/bin/true"]; }')
    assert r.returncode == 1
    assert r.stderr.startswith("arborctl: SPEC:1:"), r.stderr
