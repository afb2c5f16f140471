"""Reload by diff (issue 12, item 1) with real processes: each kind of
diff touches exactly the processes its plan names. Every test collects
every pid from `status --json` before and after, checks the plan's JSON
(`arborctl --json reload`, `--dry-run`) and the events arbord logged."""

import json
import os
import shutil
import signal
import socket
import time
import subprocess
import tempfile

import pytest

from conftest import (REPO, SLEEPER, SLOW, pid_alive, service, supervisor,
                      tree, wait_until)
from ctlclient import Conn, call

ARBORCTL = os.path.join(REPO, "ctl", "arborctl")
HERE = os.path.dirname(os.path.abspath(__file__))
ECHO = os.path.join(HERE, "helpers", "listen_echo")
ERR = "org.arbor.supervisor."


@pytest.fixture(autouse=True)
def arborctl_is_built():
    assert os.path.exists(ARBORCTL), f"{ARBORCTL} missing: run make"


# ---- helpers ---------------------------------------------------------------


def ctl(a, *args, timeout=10):
    """arborctl on a's socket; the CompletedProcess (text)."""
    env = dict(os.environ, ARBOR_SOCKET=str(a.socket))
    return subprocess.run([ARBORCTL, *args], capture_output=True, text=True,
                          env=env, timeout=timeout * SLOW,
                          stdin=subprocess.DEVNULL)


def nodes(a):
    r = ctl(a, "--json", "status")
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)["nodes"]


def by_path(a):
    return {n["path"]: n for n in nodes(a)}


def pids(a):
    """Every running process of the tree: {path: pid}."""
    return {n["path"]: n["pid"] for n in nodes(a) if "pid" in n}


def status_without_times(a):
    """status --json as text with every since_ms removed."""
    doc = json.loads(ctl(a, "--json", "status").stdout)
    for n in doc["nodes"]:
        n.pop("since_ms", None)
    return json.dumps(doc, sort_keys=True)


def start(arbord, config, last):
    """arbord on config, once last has started and the socket is there."""
    a = arbord(config)
    a.wait_event("start", last)
    wait_until(lambda: a.socket.exists(), what="the control socket")
    return a


def reload(a, *flags):
    """arborctl --json reload FLAGS: (exit status, the JSON printed)."""
    r = ctl(a, "--json", "reload", *flags, timeout=20)
    assert r.stdout, r.stderr
    return r.returncode, json.loads(r.stdout)


def reload_config(a, config):
    """Writes config and reloads it: (exit status, the JSON printed)."""
    a.config.write_text(config)
    return reload(a)


def apply(a, config):
    """Writes config and reloads it: the plan that was applied."""
    a.config.write_text(config)
    rc, out = reload(a)
    assert rc == 0 and out["applied"] is True, out
    return out["plan"]


def steps(plan, op=None):
    return [s for s in plan["steps"] if op is None or s["op"] == op]


def survivors_same(before, after, touched):
    """Every pid but those of touched paths (or under them) is the same."""
    def hit(p):
        return any(p == t or p.startswith(t + "/") for t in touched)
    kept = {p: pid for p, pid in before.items() if not hit(p)}
    assert {p: after.get(p) for p in kept} == kept


def since(a, mark):
    """Events after the mark (a count taken with len(a.snapshot()))."""
    return a.snapshot()[mark:]


def cmdline(pid):
    with open(f"/proc/{pid}/cmdline", "rb") as f:
        return [arg.decode() for arg in f.read().split(b"\0")[:-1]]


def runs(pid, *argv):
    """Waits until pid runs argv: its start event comes before its exec."""
    wait_until(lambda: cmdline(pid) == list(argv),
               what=f"{pid} to run {argv}")


BASE = [service("a", SLEEPER), service("b", SLEEPER),
        supervisor("g", [service("x", SLEEPER), service("y", SLEEPER),
                         service("z", SLEEPER)],
                   strategy='"one_for_all"')]


def base(children=None, **keys):
    return tree(BASE if children is None else children, **keys)


# ---- each kind of diff ------------------------------------------------------


def test_add_service_starts_at_its_position(arbord):
    a = start(arbord, base(), "g/z")
    before = pids(a)
    mark = len(a.snapshot())
    plan = apply(a, base([BASE[0], service("n", SLEEPER), *BASE[1:]]))
    assert (plan["adds"], plan["removes"], plan["changes"],
            plan["reorders"]) == (1, 0, 0, 0)
    assert plan["steps"] == [{"op": "add", "path": "n", "supervisor": "/",
                              "kind": "service"}]
    a.wait_event("add", "n")
    after = pids(a)
    survivors_same(before, after, [])
    assert set(after) == set(before) | {"n"}
    assert pid_alive(after["n"])
    assert [n["path"] for n in nodes(a)][:4] == ["/", "a", "n", "b"]
    assert not by_path(a)["n"].get("dynamic")
    ev = [e for e in since(a, mark) if e["event"] in ("reload", "add")]
    assert ev[0]["event"] == "reload" and ev[0]["adds"] == "1"
    assert ev[1] == {"event": "add", "path": "n", "reason": "reload"}


def test_added_service_waits_for_its_elder_siblings_readiness(
        arbord, tmp_path):
    """m (notify, ready once the test says go) and n after it are added:
    n starts only after m is ready, as at boot."""
    a = start(arbord, base(), "g/z")
    before = pids(a)
    go = tmp_path / "go"
    m = service("m", ["/bin/sh", "-c",
                      f"while [ ! -e {go} ]; do sleep 0.02; done; "
                      "systemd-notify --ready; exec sleep 1000"],
                ready='"notify"')
    a.config.write_text(base([*BASE, m, service("n", SLEEPER)]))
    env = dict(os.environ, ARBOR_SOCKET=str(a.socket))
    proc = subprocess.Popen([ARBORCTL, "--json", "reload"], env=env,
                            stdout=subprocess.PIPE, text=True)
    try:
        a.wait_event("start", "m")
        wait_until(lambda: by_path(a)["m"].get("waiting") == "ready",
                   what="m waiting for readiness")
        assert not a.find("start", "n")
        go.touch()
        a.wait_event("start", "n")
        out, _ = proc.communicate(timeout=10 * SLOW)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0
    assert [(s["op"], s["path"]) for s in json.loads(out)["plan"]["steps"]] \
        == [("add", "m"), ("add", "n")]
    paths = [(e["event"], e.get("path")) for e in a.snapshot()]
    assert paths.index(("ready", "m")) < paths.index(("start", "n"))
    survivors_same(before, pids(a), [])


def test_add_supervisor_with_children(arbord):
    a = start(arbord, base(), "g/z")
    before = pids(a)
    mark = len(a.snapshot())
    new = supervisor("s", [service("p", SLEEPER), service("q", SLEEPER)])
    plan = apply(a, base([*BASE, new]))
    assert plan["steps"] == [{"op": "add", "path": "s", "supervisor": "/",
                              "kind": "supervisor"}]
    a.wait_event("add", "s")
    after = pids(a)
    survivors_same(before, after, [])
    assert set(after) - set(before) == {"s/p", "s/q"}
    starts = [e["path"] for e in since(a, mark) if e["event"] == "start"]
    assert starts == ["s", "s/p", "s/q"]


def test_remove_service(arbord):
    a = start(arbord, base(), "g/z")
    before = pids(a)
    plan = apply(a, base([BASE[0], BASE[2]]))
    assert plan["steps"] == [{"op": "remove", "path": "b",
                              "supervisor": "/", "kind": "service"}]
    ev = a.wait_event("remove", "b")
    assert ev["reason"] == "reload"
    wait_until(lambda: not pid_alive(before["b"]), what="b to stop")
    after = pids(a)
    assert "b" not in after and "b" not in by_path(a)
    survivors_same(before, after, ["b"])


def test_remove_subtree_stops_in_reverse_order(arbord):
    a = start(arbord, base(), "g/z")
    before = pids(a)
    mark = len(a.snapshot())
    plan = apply(a, base(BASE[:2]))
    assert plan["steps"] == [{"op": "remove", "path": "g",
                              "supervisor": "/", "kind": "supervisor"}]
    a.wait_event("remove", "g")
    stops = [e["path"] for e in since(a, mark) if e["event"] == "stop"]
    assert stops == ["g/z", "g/y", "g/x", "g"]
    assert not any(e["event"] == "start" for e in since(a, mark))
    after = pids(a)
    assert set(after) == {"a", "b"}
    survivors_same(before, after, ["g"])


def test_change_restarts_that_service_alone(arbord):
    """Under one_for_all no strategy runs: x and z keep their pids; the
    changed y restarts with restarts 0; a's restart count (1, from a
    crash before the reload) is untouched."""
    a = start(arbord, base(), "g/z")
    os.kill(pids(a)["a"], signal.SIGKILL)
    a.wait_event("start", "a", count=2)
    before = pids(a)
    counts = {p: n["restarts"] for p, n in by_path(a).items()}
    assert counts["a"] == 1
    mark = len(a.snapshot())
    children = list(BASE)
    children[2] = supervisor("g", [service("x", SLEEPER),
                                   service("y", ["/bin/sleep", "1001"]),
                                   service("z", SLEEPER)],
                             strategy='"one_for_all"')
    plan = apply(a, base(children))
    assert plan["steps"] == [{
        "op": "change", "path": "g/y", "supervisor": "g", "kind": "service",
        "apply": "restart",
        "keys": [{"key": "exec", "old": '[ "/bin/sleep", "1000" ]',
                  "new": '[ "/bin/sleep", "1001" ]'}]}]
    a.wait_event("change", "g/y")
    after = pids(a)
    assert after["g/y"] != before["g/y"]
    runs(after["g/y"], "/bin/sleep", "1001")
    survivors_same(before, after, ["g/y"])
    assert {p: n["restarts"] for p, n in by_path(a).items()} == counts
    ev = [(e["event"], e.get("path")) for e in since(a, mark)
          if e["event"] in ("stop", "start", "exit")]
    assert ev == [("stop", "g/y"), ("start", "g/y")]
    assert a.find("change", "g/y")[-1].get("keys") == "exec"


def test_in_place_change_of_stop_signal(arbord):
    a = start(arbord, base(), "g/z")
    before = pids(a)
    children = [service("a", SLEEPER, stop_signal='"INT"'), *BASE[1:]]
    plan = apply(a, base(children))
    assert plan["steps"] == [{
        "op": "change", "path": "a", "supervisor": "/", "kind": "service",
        "apply": "in-place",
        "keys": [{"key": "stop_signal", "old": "TERM", "new": "INT"}]}]
    ev = a.wait_event("change", "a")
    assert ev["apply"] == "in-place" and ev["keys"] == "stop_signal"
    assert pids(a) == before
    assert ctl(a, "stop", "a").returncode == 0
    assert a.wait_event("stop", "a")["signal"] == "INT"


def test_next_start_change_waits_for_the_next_restart(arbord):
    a = start(arbord, base(), "g/z")
    children = [service("a", SLEEPER, on_change='"next-start"'), *BASE[1:]]
    apply(a, base(children))       # on_change itself applies in place
    before = pids(a)
    children[0] = service("a", ["/bin/sleep", "1001"],
                          on_change='"next-start"')
    plan = apply(a, base(children))
    assert [(s["op"], s["path"], s["apply"]) for s in plan["steps"]] == \
        [("change", "a", "next-start")]
    ev = a.wait_event("change", "a", count=2)
    assert ev["apply"] == "next-start" and ev["keys"] == "exec"
    assert pids(a) == before
    runs(before["a"], "/bin/sleep", "1000")
    os.kill(before["a"], signal.SIGKILL)
    a.wait_event("start", "a", count=2)
    after = pids(a)
    runs(after["a"], "/bin/sleep", "1001")
    survivors_same(before, after, ["a"])
    # Taken: a reload now has nothing to do.
    assert reload(a, "--dry-run")[0] == 0


def test_lowered_intensity_keeps_the_restart_history(arbord):
    """g allows 2 restarts in 60 s and has had 1; lowered to 1 by a
    reload, the next crash is one too many: g gives up (were the history
    dropped, that crash would be the first, and allowed)."""
    def conf(intensity):
        return tree([service("a", SLEEPER),
                     supervisor("g", [service("c", SLEEPER)],
                                intensity=intensity, period='"60s"')],
                    intensity=5, period='"60s"')
    a = start(arbord, conf(2), "g/c")
    os.kill(pids(a)["g/c"], signal.SIGKILL)
    a.wait_event("start", "g/c", count=2)
    before = pids(a)
    plan = apply(a, conf(1))
    assert plan["steps"] == [{
        "op": "change", "path": "g", "supervisor": "/", "kind": "supervisor",
        "apply": "in-place",
        "keys": [{"key": "intensity", "old": "2", "new": "1"}]}]
    assert a.wait_event("change", "g")["apply"] == "in-place"
    assert pids(a) == before
    assert by_path(a)["g"]["restarts"] == 0
    mark = len(a.snapshot())
    os.kill(before["g/c"], signal.SIGKILL)
    a.wait_event("start", "g/c", count=3)
    trace = [(e["event"], e.get("path"), e.get("reason"))
             for e in since(a, mark)]
    assert trace == [("exit", "g/c", "crash"), ("giveup", "g", None),
                     ("start", "g", None), ("start", "g/c", None)]
    assert pids(a)["a"] == before["a"]
    assert by_path(a)["g"]["restarts"] == 1


def test_reorder_without_restart_rules_the_next_group_restart(arbord):
    a = start(arbord, base(), "g/z")
    before = pids(a)
    children = list(BASE)
    children[2] = supervisor("g", [service("z", SLEEPER),
                                   service("x", SLEEPER),
                                   service("y", SLEEPER)],
                             strategy='"one_for_all"')
    plan = apply(a, base(children))
    # A reorder's path and supervisor are both the reordered supervisor.
    assert plan["steps"] == [{"op": "reorder", "path": "g",
                              "supervisor": "g", "order": ["z", "x", "y"]}]
    a.wait_event("reorder", "g")
    assert pids(a) == before
    assert [n["path"] for n in nodes(a)][-3:] == ["g/z", "g/x", "g/y"]
    mark = len(a.snapshot())
    os.kill(before["g/x"], signal.SIGKILL)
    a.wait_event("start", "g/y", count=2)
    ev = [(e["event"], e["path"]) for e in since(a, mark)
          if e["event"] in ("stop", "start")]
    assert ev == [("stop", "g/y"), ("stop", "g/z"),
                  ("start", "g/z"), ("start", "g/x"), ("start", "g/y")]


def test_move_to_another_parent_is_remove_and_add(arbord):
    a = start(arbord, base(), "g/z")
    before = pids(a)
    children = [*BASE[:2], supervisor("g", [service("x", SLEEPER),
                                            service("y", SLEEPER)],
                                      strategy='"one_for_all"'),
                service("z", SLEEPER)]
    plan = apply(a, base(children))
    assert sorted((s["op"], s["path"]) for s in plan["steps"]) == \
        [("add", "z"), ("remove", "g/z")]
    a.wait_event("add", "z")
    after = pids(a)
    assert "g/z" not in after and after["z"] != before["g/z"]
    assert not pid_alive(before["g/z"])
    survivors_same(before, after, ["g/z"])


def test_kind_change_service_to_supervisor(arbord):
    a = start(arbord, base(), "g/z")
    before = pids(a)
    children = [BASE[0], supervisor("b", [service("inner", SLEEPER)]),
                BASE[2]]
    plan = apply(a, base(children))
    assert plan["steps"] == [
        {"op": "remove", "path": "b", "supervisor": "/", "kind": "service"},
        {"op": "add", "path": "b", "supervisor": "/", "kind": "supervisor"}]
    a.wait_event("start", "b/inner")
    after = pids(a)
    assert by_path(a)["b"]["kind"] == "supervisor"
    assert "b" not in after and "b/inner" in after
    assert not pid_alive(before["b"])
    survivors_same(before, after, ["b"])
    assert [n["path"] for n in nodes(a)][:4] == ["/", "a", "b", "b/inner"]


def test_kind_change_supervisor_to_service(arbord):
    a = start(arbord, base(), "g/z")
    before = pids(a)
    plan = apply(a, base([*BASE[:2], service("g", SLEEPER)]))
    assert plan["steps"] == [
        {"op": "remove", "path": "g", "supervisor": "/",
         "kind": "supervisor"},
        {"op": "add", "path": "g", "supervisor": "/", "kind": "service"}]
    a.wait_event("add", "g")
    after = pids(a)
    assert set(after) == {"a", "b", "g"}
    assert not any(pid_alive(before[p]) for p in ("g/x", "g/y", "g/z"))
    survivors_same(before, after, ["g"])


def test_root_flags_change_in_place(arbord):
    """The root turned one_for_all keeps every pid; the next crash then
    restarts the whole root group, in the new strategy's way."""
    a = start(arbord, base(), "g/z")
    before = pids(a)
    plan = apply(a, base(strategy="one_for_all", intensity=7))
    assert plan["steps"] == [{
        "op": "change", "path": "/", "supervisor": "/", "kind": "supervisor",
        "apply": "in-place",
        "keys": [{"key": "strategy", "old": "one_for_one",
                  "new": "one_for_all"},
                 {"key": "intensity", "old": "3", "new": "7"}]}]
    assert pids(a) == before
    os.kill(before["a"], signal.SIGKILL)
    a.wait_event("start", "g/z", count=2)
    after = pids(a)
    assert all(after[p] != before[p] for p in before)


def test_reorder_and_add_in_one_supervisor(arbord):
    a = start(arbord, base(), "g/z")
    before = pids(a)
    plan = apply(a, base([BASE[1], service("n", SLEEPER), BASE[0], BASE[2]]))
    assert plan["steps"] == [
        {"op": "reorder", "path": "/", "supervisor": "/",
         "order": ["b", "n", "a", "g"]},
        {"op": "add", "path": "n", "supervisor": "/", "kind": "service"}]
    a.wait_event("add", "n")
    assert [n["path"] for n in nodes(a)][:5] == ["/", "b", "n", "a", "g"]
    survivors_same(before, pids(a), [])


def test_change_of_a_stopped_service_keeps_it_stopped(arbord):
    """Stopped by the operator, a changed service stays down; its next
    start runs the new spec."""
    a = start(arbord, base(), "g/z")
    assert ctl(a, "stop", "a").returncode == 0
    a.wait_event("stop", "a")
    before = pids(a)
    mark = len(a.snapshot())
    plan = apply(a, base([service("a", ["/bin/sleep", "1001"]), *BASE[1:]]))
    assert [(s["op"], s["path"], s["apply"]) for s in plan["steps"]] == \
        [("change", "a", "restart")]
    a.wait_event("change", "a")
    assert not any(e["event"] == "start" for e in since(a, mark))
    assert pids(a) == before and by_path(a)["a"]["state"] == "down"
    assert ctl(a, "start", "a").returncode == 0
    pid = int(a.wait_event("start", "a", count=2)["pid"])
    runs(pid, "/bin/sleep", "1001")


def test_change_during_backoff_starts_the_new_spec(arbord):
    """A service waiting out its restart_delay is changed: when it starts
    again it runs the new exec, and nothing else moved."""
    def conf(script):
        return base([service("f", ["/bin/sh", "-c", script],
                             restart_delay='"1s"'), *BASE])
    a = start(arbord, conf("exit 1"), "g/z")
    a.wait_event("backoff", "f")
    before = pids(a)
    apply(a, conf("exec sleep 1000"))
    a.wait_event("change", "f")
    pid = int(a.wait_event("start", "f", count=2)["pid"])
    runs(pid, "sleep", "1000")                 # sh execs sleep
    wait_until(lambda: by_path(a)["f"]["state"] == "up", what="f up")
    survivors_same(before, pids(a), ["f"])


def test_reverting_a_next_start_change_drops_it(arbord):
    a = start(arbord, base(), "g/z")
    def conf(argv):
        return base([service("a", argv, on_change='"next-start"'),
                     *BASE[1:]])
    apply(a, conf(SLEEPER))
    before = pids(a)
    apply(a, conf(["/bin/sleep", "1001"]))
    plan = apply(a, conf(SLEEPER))
    assert plan["steps"] == [{
        "op": "change", "path": "a", "supervisor": "/", "kind": "service",
        "apply": "in-place",
        "keys": [{"key": "exec", "old": '[ "/bin/sleep", "1001" ]',
                  "new": '[ "/bin/sleep", "1000" ]'}]}]
    assert reload(a, "--dry-run")[0] == 0
    assert pids(a) == before
    os.kill(before["a"], signal.SIGKILL)
    pid = int(a.wait_event("start", "a", count=2)["pid"])
    runs(pid, "/bin/sleep", "1000")


# ---- dry run ----------------------------------------------------------------


def test_dry_run_changes_nothing_and_says_whether_to_act(arbord):
    a = start(arbord, base(), "g/z")
    assert reload(a, "--dry-run")[0] == 0
    before = pids(a)
    children = [service("a", SLEEPER, stop_signal='"INT"'), BASE[1],
                service("n", SLEEPER)]
    a.config.write_text(base(children))
    mark = len(a.snapshot())
    rc, dry = reload(a, "--dry-run")
    assert rc == 1 and dry["applied"] is False
    assert (dry["plan"]["adds"], dry["plan"]["removes"],
            dry["plan"]["changes"]) == (1, 1, 1)
    human = ctl(a, "reload", "--dry-run")
    assert human.returncode == 1
    assert "dry run: nothing changed" in human.stdout
    assert pids(a) == before
    assert since(a, mark) == []
    rc, done = reload(a)
    assert rc == 0 and done["applied"] is True
    assert done["plan"] == dry["plan"]
    a.wait_event("add", "n")
    assert reload(a, "--dry-run") == (0, {"plan": {
        **dry["plan"], "adds": 0, "removes": 0, "changes": 0,
        "reorders": 0, "steps": []}, "applied": False})


def test_human_plan_is_printed_then_applied(arbord):
    a = start(arbord, base(), "g/z")
    a.config.write_text(base([service("a", SLEEPER, stop_signal='"INT"'),
                              BASE[2], service("n", SLEEPER)]))
    dry = ctl(a, "reload", "--dry-run")
    assert dry.returncode == 1
    done = ctl(a, "reload")
    assert done.returncode == 0, done.stderr
    plan = dry.stdout.splitlines()[:-1]
    assert dry.stdout.splitlines()[-1] == "dry run: nothing changed"
    assert done.stdout.splitlines() == plan + ["applied"]
    assert plan[0].endswith(": 1 to add, 1 to remove, 1 to change, "
                            "0 to reorder")
    text = "\n".join(plan)
    for part in ("+ add      n (service)", "- remove   b (service)",
                 "~ change   a (in-place)", "stop_signal: TERM -> INT"):
        assert part in text, text
    again = ctl(a, "reload")
    assert again.returncode == 0
    assert again.stdout.splitlines()[-1] == "nothing to do"


# ---- a broken configuration changes nothing ---------------------------------


BROKEN = {
    "syntax": 'children = ( { name = "a"; exec = [ "/bin/sleep" ] } ;\n',
    "unknown_key": base([BASE[0], service("b", SLEEPER, colour='"red"'),
                         BASE[2]]),
    "missing_program": base([BASE[0], service("b", ["/nonexistent/prog"]),
                             BASE[2]]),
    "duplicate_name": base([*BASE, service("a", SLEEPER)]),
}


# tree() writes the root's flags on line 1, "children = (" on line 2 and
# each child on a line of its own.
BROKEN_LINE = {"syntax": 1, "unknown_key": 4, "missing_program": 4,
               "duplicate_name": 6}


@pytest.mark.parametrize("kind", sorted(BROKEN))
def test_broken_config_changes_nothing(arbord, kind):
    a = start(arbord, base(), "g/z")
    os.kill(pids(a)["b"], signal.SIGKILL)   # a restart count to keep
    a.wait_event("start", "b", count=2)
    before = status_without_times(a)
    a.config.write_text(BROKEN[kind])
    mark = len(a.snapshot())
    r = ctl(a, "--json", "reload")
    assert r.returncode == 1, r
    out = json.loads(r.stdout)
    assert out["error"] == ERR + "ConfigInvalid", out
    assert out["parameters"]["file"] == str(a.config)
    assert out["parameters"]["line"] == BROKEN_LINE[kind]
    rc, _ = reload(a, "--dry-run")
    assert rc == 2
    human = ctl(a, "reload")
    assert human.returncode == 1
    assert f"arborctl: {a.config}:" in human.stderr
    failed = a.wait_event("reload_failed", count=3)
    assert str(a.config) in failed["error"]
    assert status_without_times(a) == before
    # The reply, the dry run and the plain reload: one event each.
    assert [e["event"] for e in since(a, mark)] == ["reload_failed"] * 3


def test_broken_fragment_in_conf_d_names_its_file(arbord, tmp_path):
    a = start(arbord, base(), "g/z")
    before = status_without_times(a)
    confd = tmp_path / "conf.d"
    confd.mkdir()
    (confd / "10-ok.conf").write_text(
        "children = ( " + service("n", SLEEPER) + " );\n")
    (confd / "20-bad.conf").write_text(
        "children = (\n" + service("m", SLEEPER, colour='"red"') + "\n);\n")
    r = ctl(a, "--json", "reload")
    assert r.returncode == 1
    out = json.loads(r.stdout)
    assert out["error"] == ERR + "ConfigInvalid"
    assert (out["parameters"]["file"], out["parameters"]["line"]) == \
        (str(confd / "20-bad.conf"), 2)
    assert str(confd / "20-bad.conf") in a.wait_event("reload_failed")["error"]
    assert status_without_times(a) == before
    (confd / "20-bad.conf").unlink()
    rc, out = reload(a)
    assert rc == 0
    assert out["plan"]["steps"] == [{"op": "add", "path": "n",
                                     "supervisor": "/", "kind": "service"}]
    a.wait_event("add", "n")
    assert [n["path"] for n in nodes(a)][-1] == "n"


# ---- how a reload is asked for ----------------------------------------------


def test_sighup_reloads(arbord):
    a = start(arbord, base(), "g/z")
    before = pids(a)
    a.config.write_text(base([*BASE, service("n", SLEEPER)]))
    a.signal(signal.SIGHUP)
    a.wait_event("add", "n")
    assert a.find("reload")[-1]["adds"] == "1"
    after = pids(a)
    survivors_same(before, after, [])
    assert a.proc.poll() is None


def test_sighup_with_a_broken_config_keeps_running(arbord):
    a = start(arbord, base(), "g/z")
    before = status_without_times(a)
    a.config.write_text(BROKEN["unknown_key"])
    a.signal(signal.SIGHUP)
    failed = a.wait_event("reload_failed")
    assert failed["error"].startswith(f"{a.config}:4: ")
    assert a.proc.poll() is None
    assert status_without_times(a) == before


def test_reload_events_stream_on_events(arbord):
    a = start(arbord, base(), "g/z")
    sub = Conn(a.socket, timeout=5.0 * SLOW)
    try:
        sub.send("org.arbor.supervisor.Events", {}, more=True)
        call(a.socket, "org.varlink.service.GetInfo")  # registered by now
        apply(a, base([*BASE[:2], service("n", SLEEPER)]))
        seen = []
        while not seen or seen[-1].get("event") != "add":
            seen.append(sub.recv()["parameters"]["event"])
    finally:
        sub.close()
    kinds = [(e["event"], e.get("path")) for e in seen]
    assert kinds[0] == ("reload", None)
    assert seen[0]["removes"] == 1 and seen[0]["adds"] == 1
    assert ("remove", "g") in kinds and kinds[-1] == ("add", "n")


SLOW_STOP = ["/bin/sh", "-c",
             "trap '' TERM; : > ready; /bin/sleep 1000 & wait"]


def test_a_second_reload_waits_its_turn(arbord, tmp_path):
    """The first reload restarts a service that ignores TERM (1 s until
    its KILL); a second reload asked meanwhile completes after it."""
    def conf(stop_timeout, extra=()):
        return tree([service("a", SLEEPER),
                     service("slow", SLOW_STOP, stop_timeout=stop_timeout),
                     *extra])
    a = start(arbord, conf('"1s"'), "slow")
    wait_until(lambda: (tmp_path / "ready").exists(), what="the trap")
    before = pids(a)
    a.config.write_text(conf('"1s"').replace("ready", "ready2"))
    env = dict(os.environ, ARBOR_SOCKET=str(a.socket))
    first = subprocess.Popen([ARBORCTL, "--json", "reload"], env=env,
                             stdout=subprocess.PIPE, text=True)
    try:
        a.wait_event("stop", "slow")
        a.config.write_text(conf('"1s"', [service("n", SLEEPER)])
                            .replace("ready", "ready2"))
        rc, second = reload(a)
        out, _ = first.communicate(timeout=10 * SLOW)
    finally:
        if first.poll() is None:
            first.kill()
            first.wait()
    assert first.returncode == 0
    first_plan = json.loads(out)["plan"]
    assert [(s["op"], s["path"]) for s in first_plan["steps"]] == \
        [("change", "slow")]
    assert rc == 0
    assert [(s["op"], s["path"]) for s in second["plan"]["steps"]] == \
        [("add", "n")]
    a.wait_event("add", "n")  # the reader may lag behind the replies
    order = [(e["event"], e.get("path")) for e in a.snapshot()
             if e["event"] in ("reload", "start", "add")]
    assert order[-5:] == [("reload", None), ("start", "slow"),
                          ("reload", None), ("start", "n"), ("add", "n")], \
        a.lines
    survivors_same(before, pids(a), ["slow", "n"])


def test_reload_while_shutting_down_is_refused(arbord, tmp_path):
    a = start(arbord, tree([service("a", SLEEPER),
                            service("slow", SLOW_STOP,
                                    stop_timeout='"10s"')]), "slow")
    wait_until(lambda: (tmp_path / "ready").exists(), what="the trap")
    assert ctl(a, "shutdown").returncode == 0
    wait_until(lambda: by_path(a)["slow"]["state"] == "stopping",
               what="slow to be stopping")
    a.config.write_text(tree([service("n", SLEEPER)]))
    r = ctl(a, "--json", "reload")
    assert r.returncode == 1
    assert json.loads(r.stdout)["error"] == ERR + "ShuttingDown"
    assert not a.find("reload") and not a.find("add")


@pytest.fixture
def public_dir():
    """A directory under /tmp that nobody can reach, for a socket with a
    control_group and a copy of arborctl (pytest's are 0700)."""
    if os.geteuid() != 0:
        pytest.skip("needs root to run a client as nobody")
    d = tempfile.mkdtemp(prefix="arbor-reload-test-")
    os.chmod(d, 0o755)
    shutil.copy(ARBORCTL, d)
    yield d
    shutil.rmtree(d, ignore_errors=True)


def test_reload_by_a_user_not_allowed_is_refused(arbord, public_dir):
    sock = os.path.join(public_dir, "arbor.sock")
    config = 'control_group = "nogroup";\n' + base()
    a = arbord(config, args=("-s", sock))
    a.socket = sock
    a.wait_event("start", "g/z")
    wait_until(lambda: os.path.exists(sock), what="the control socket")
    before = pids(a)
    a.config.write_text('control_group = "nogroup";\n'
                        + base([service("n", SLEEPER)]))
    r = subprocess.run(["setpriv", "--reuid=nobody", "--regid=nogroup",
                        "--clear-groups", os.path.join(public_dir, "arborctl"),
                        "--socket", sock, "--json", "reload"],
                       capture_output=True, text=True, timeout=10 * SLOW,
                       cwd="/")
    assert r.returncode == 1, r
    assert json.loads(r.stdout)["error"] == \
        "org.varlink.service.PermissionDenied"
    assert pids(a) == before
    assert not a.find("reload") and not a.find("remove")


# ---- sockets and log files follow -------------------------------------------


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def echo(name, ports):
    addrs = ", ".join(f'"tcp:127.0.0.1:{p}"' for p in ports)
    return service(name, [ECHO], listen=f"[ {addrs} ]")


def answers(port):
    """The echo service's pid from a request on port; a refused connect
    raises ConnectionRefusedError."""
    with socket.create_connection(("127.0.0.1", port),
                                  timeout=5 * SLOW) as s:
        s.sendall(b"ping\n")
        data = b""
        while chunk := s.recv(4096):
            data += chunk
    return int(dict(kv.split("=", 1) for kv in data.decode().split())["pid"])


def environ(pid):
    with open(f"/proc/{pid}/environ", "rb") as f:
        return dict(kv.split("=", 1)
                    for kv in f.read().decode().split("\0") if kv)


def test_listen_addresses_follow(arbord):
    assert os.access(ECHO, os.X_OK), f"{ECHO} is not built"
    p1, p2, p3 = free_port(), free_port(), free_port()
    a = start(arbord, tree([echo("e", [p1]), echo("f", [p3])]), "f")
    before = pids(a)
    assert answers(p1) == before["e"] and answers(p3) == before["f"]

    plan = apply(a, tree([echo("e", [p1, p2]), echo("f", [p3])]))
    assert [(s["op"], s["path"], s["apply"]) for s in plan["steps"]] == \
        [("change", "e", "restart")]
    a.wait_event("change", "e")
    mid = pids(a)
    assert mid["f"] == before["f"] and mid["e"] != before["e"]
    assert environ(mid["e"])["LISTEN_FDS"] == "2"
    assert answers(p2) == mid["e"] and answers(p1) == mid["e"]
    assert answers(p3) == before["f"]

    apply(a, tree([echo("e", [p2]), echo("f", [p3])]))
    a.wait_event("change", "e", count=2)
    after = pids(a)
    assert answers(p2) == after["e"]
    with pytest.raises(ConnectionRefusedError):
        answers(p1)
    assert answers(p3) == before["f"] == after["f"]


def test_listen_address_moved_with_its_service(arbord):
    """s/e moves to the root with its address: the remove closes it
    before the add binds it again."""
    port = free_port()
    a = start(arbord, tree([supervisor("s", [echo("e", [port])]),
                            service("a", SLEEPER)]), "a")
    before = pids(a)
    assert answers(port) == before["s/e"]
    plan = apply(a, tree([supervisor("s", []), echo("e", [port]),
                          service("a", SLEEPER)]))
    assert [(s["op"], s["path"]) for s in plan["steps"]] == \
        [("remove", "s/e"), ("add", "e")]
    a.wait_event("add", "e")
    assert answers(port) == pids(a)["e"]
    survivors_same(before, pids(a), ["s/e"])


def test_listen_addresses_swapped_between_services(arbord):
    p1, p2 = free_port(), free_port()
    a = start(arbord, tree([echo("e", [p1]), echo("f", [p2])]), "f")
    before = pids(a)
    rc, out = reload_config(a, tree([echo("e", [p2]), echo("f", [p1])]))
    assert rc == 0
    assert [(s["op"], s["path"]) for s in out["plan"]["steps"]] == \
        [("change", "e"), ("change", "f")]
    a.wait_event("change", "f")
    assert not a.find("start_failed")
    after = pids(a)
    assert set(after) == {"e", "f"}
    assert answers(p2) == after["e"] != before["e"]
    assert answers(p1) == after["f"] != before["f"]


def test_listen_change_of_a_stopped_service(arbord):
    p1, p2 = free_port(), free_port()
    a = start(arbord, tree([echo("e", [p1]), service("a", SLEEPER)]), "a")
    assert ctl(a, "stop", "e").returncode == 0
    a.wait_event("stop", "e")
    before = pids(a)
    apply(a, tree([echo("e", [p2]), service("a", SLEEPER)]))
    a.wait_event("change", "e")
    assert pids(a) == before and by_path(a)["e"]["state"] == "down"
    try:
        # The new address is bound: a client queues in its backlog.
        socket.create_connection(("127.0.0.1", p2), timeout=1).close()
        with pytest.raises(ConnectionRefusedError):
            socket.create_connection(("127.0.0.1", p1), timeout=1).close()
    finally:
        assert ctl(a, "start", "e").returncode == 0
    pid = int(a.wait_event("start", "e", count=2)["pid"])
    assert answers(p2) == pid


def test_log_file_sink_follows_in_place(arbord, tmp_path):
    ticker = ["/bin/sh", "-c", "while :; do echo tick; sleep 0.05; done"]
    old, new = tmp_path / "old.log", tmp_path / "new.log"

    def conf(path):
        sink = f'{{ sinks = [ "file" ]; file = "{path}"; }}'
        return tree([service("t", ticker, log=sink),
                     service("a", SLEEPER)])
    a = start(arbord, conf(old), "a")
    wait_until(lambda: old.exists() and b"tick" in old.read_bytes(),
               what="ticks in the old file")
    before = pids(a)
    plan = apply(a, conf(new))
    assert [(s["op"], s["path"], s["apply"]) for s in plan["steps"]] == \
        [("change", "t", "in-place")]
    wait_until(lambda: new.exists() and b"tick" in new.read_bytes(),
               what="ticks in the new file")
    assert pids(a) == before
    size, seen = old.stat().st_size, new.read_bytes().count(b"tick")
    wait_until(lambda: new.read_bytes().count(b"tick") >= seen + 5,
               what="more ticks in the new file")
    assert old.stat().st_size == size


def test_pool_log_file_follows_in_place_for_its_instances(arbord, tmp_path):
    """A pool's log settings changed in place reach its running instances
    too (their lines go to the new file, same pids), not only the ones
    spawned after the reload."""
    ticker = '[ "/bin/sh", "-c", "while :; do echo tick; sleep 0.05; done" ]'
    old, new = tmp_path / "old.log", tmp_path / "new.log"

    def conf(path):
        pool = ('{ name = "p"; strategy = "simple_one_for_one"; '
                'instances = 1; log = { sinks = [ "file" ]; file = "%s"; }; '
                'template = { exec = %s; }; }' % (path, ticker))
        return tree([service("a", SLEEPER)]).replace(
            "children = (", "children = (" + pool + ",", 1)
    a = start(arbord, conf(old), "a")
    wait_until(lambda: old.exists() and b"tick" in old.read_bytes(),
               what="the instance's ticks in the old file")
    before = pids(a)
    plan = apply(a, conf(new))
    assert [(s["op"], s["path"], s["apply"]) for s in plan["steps"]] == \
        [("change", "p", "in-place")]
    wait_until(lambda: new.exists() and b"p/1" in new.read_bytes(),
               what="the running instance's ticks in the new file")
    assert pids(a) == before
    size = old.stat().st_size
    time.sleep(0.3)
    assert old.stat().st_size == size


def test_unchanged_service_keeps_its_log_pipe(arbord):
    """A ticker left alone by a reload keeps writing into the same pipe:
    its ring goes on filling with lines from the same pid."""
    ticker = ["/bin/sh", "-c",
              "i=0; while :; do i=$((i+1)); echo tick $i; sleep 0.02; done"]
    a = start(arbord, tree([service("t", ticker), service("a", SLEEPER)]),
              "a")

    def ticks():
        out = ctl(a, "logs", "-n", "all", "t").stdout.splitlines()
        return [line for line in out if ": tick " in line]
    wait_until(lambda: len(ticks()) >= 3, what="first ticks")
    before = pids(a)
    apply(a, tree([service("t", ticker),
                   service("a", ["/bin/sleep", "1001"])]))
    a.wait_event("change", "a")
    count = len(ticks())
    wait_until(lambda: len(ticks()) >= count + 5, what="ticks after reload")
    assert all(f"t[{before['t']}]" in line for line in ticks())
    assert pids(a)["t"] == before["t"]


# ---- pools: their instances are left alone -------------------------------


def pool(template_argv, max_children=5, instances=1):
    argv = ", ".join(f'"{x}"' for x in template_argv)
    return (f'{{ name = "p"; strategy = "simple_one_for_one"; '
            f'max_children = {max_children}; instances = {instances}; '
            f'template = {{ exec = [ {argv} ]; }}; }}')


def test_pool_changes_leave_its_instances_alone(arbord):
    """A pool's template and max_children change in place: the running
    instances keep their pids; the next spawn runs the new template; a
    max_children lowered under the instances running refuses more."""
    a = start(arbord, tree([service("a", SLEEPER), pool(SLEEPER)]), "p/1")
    assert ctl(a, "spawn", "p").stdout.strip() == "p/2"
    a.wait_event("start", "p/2")
    before = pids(a)
    plan = apply(a, tree([service("a", SLEEPER),
                          pool(["/bin/sleep", "1001"])]))
    assert plan["steps"] == [{
        "op": "change", "path": "p", "supervisor": "/", "kind": "pool",
        "apply": "in-place",
        "keys": [{"key": "template.exec", "old": '[ "/bin/sleep", "1000" ]',
                  "new": '[ "/bin/sleep", "1001" ]'}]}]
    a.wait_event("change", "p")
    assert pids(a) == before
    assert by_path(a)["p/1"]["dynamic"] and by_path(a)["p/2"]["dynamic"]
    r = ctl(a, "spawn", "p")
    assert r.stdout.strip() == "p/3"
    runs(int(a.wait_event("start", "p/3")["pid"]), "/bin/sleep", "1001")
    before = pids(a)
    apply(a, tree([service("a", SLEEPER),
                   pool(["/bin/sleep", "1001"], max_children=1)]))
    a.wait_event("change", "p", count=2)
    assert pids(a) == before
    node = by_path(a)["p"]
    assert (node["instances"], node["max_children"]) == (3, 1)
    r = ctl(a, "--json", "spawn", "p")
    assert r.returncode == 1
    assert json.loads(r.stdout)["error"] == ERR + "PoolFull"


# ---- dynamic children -------------------------------------------------------


def test_reload_leaves_dynamic_children_alone(arbord):
    a = start(arbord, base(), "g/z")
    r = ctl(a, "add", "g", '{ name = "d"; exec = ["/bin/sleep", "1000"]; }')
    assert r.returncode == 0, r.stderr
    a.wait_event("start", "g/d")
    assert by_path(a)["g/d"]["dynamic"] is True
    before = pids(a)
    rc, dry = reload(a, "--dry-run")
    assert rc == 0 and dry["plan"]["steps"] == []
    plan = apply(a, base([*BASE, service("n", SLEEPER)]))
    assert [(s["op"], s["path"]) for s in plan["steps"]] == [("add", "n")]
    a.wait_event("add", "n")
    survivors_same(before, pids(a), [])
    assert by_path(a)["g/d"]["dynamic"] is True


@pytest.mark.parametrize("same_spec", [True, False])
def test_config_that_names_a_dynamic_child_takes_it_over(arbord, same_spec):
    a = start(arbord, base(), "g/z")
    r = ctl(a, "add", "/", '{ name = "d"; exec = ["/bin/sleep", "1000"]; }')
    assert r.returncode == 0, r.stderr
    a.wait_event("start", "d")
    before = pids(a)
    argv = SLEEPER if same_spec else ["/bin/sleep", "1001"]
    mark = len(a.snapshot())
    plan = apply(a, base([*BASE, service("d", argv)]))
    after = pids(a) if same_spec else None
    if same_spec:
        # Taken over: a change with no key, nothing restarted.
        assert plan["steps"] == [{
            "op": "change", "path": "d", "supervisor": "/",
            "kind": "service", "apply": "in-place", "keys": []}]
        assert after == before
    else:
        assert [(s["op"], s["path"]) for s in plan["steps"]] == \
            [("change", "d")]
        a.wait_event("change", "d")
        after = pids(a)
        assert after["d"] != before["d"]
        runs(after["d"], "/bin/sleep", "1001")
        survivors_same(before, after, ["d"])
    assert not by_path(a)["d"].get("dynamic")
    assert not any(e["event"] == "remove" for e in since(a, mark))


# ---- operators changing the tree while a reload runs ----------------------

DEAF = ["/bin/sh", "-c", "trap '' TERM; exec sleep 1000"]


def test_reload_step_acts_on_its_own_child_not_a_slot_reused_meanwhile(
        arbord):
    """A reload's steps run over time: while the removal of A/slow waits
    out its stop_timeout, an operator removes B/y and adds B/z, which may
    take y's node slot. The reload's change of y must not land on z: z
    keeps its spec, its pid and its mark as added."""
    old = tree([supervisor("A", [service("slow", DEAF,
                                         stop_timeout='"3s"')]),
                supervisor("B", [service("y", ["/bin/sleep", "1000"]),
                                 service("keep", SLEEPER)])])
    new = tree([supervisor("A", [service("other", SLEEPER)]),
                supervisor("B", [service("y", ["/bin/sleep", "2000"]),
                                 service("keep", SLEEPER)])])
    a = start(arbord, old, "B/keep")
    a.config.write_text(new)
    reloading = subprocess.Popen(
        [ARBORCTL, "--socket", str(a.socket), "--json", "reload"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        wait_until(lambda: by_path(a)["A/slow"]["state"] == "stopping",
                   what="the reload stopping A/slow")
        assert ctl(a, "remove", "B/y").returncode == 0
        r = ctl(a, "add", "B", 'name = "z"; exec = [ "/bin/sleep", "3000" ];')
        assert r.returncode == 0, r.stderr
        z_pid = int(a.wait_event("start", "B/z")["pid"])
    finally:
        out, err = reloading.communicate(timeout=30 * SLOW)
    assert reloading.returncode == 0, err
    z = by_path(a)["B/z"]
    assert z["pid"] == z_pid and z.get("dynamic") is True, z
    with open(f"/proc/{z_pid}/cmdline", "rb") as f:
        assert f.read().split(b"\0")[1] == b"3000"
    assert "B/y" not in by_path(a)


def test_request_queued_for_a_child_that_leaves_is_answered(arbord):
    """An add of N waits behind S's stop of slow (TERM ignored, 2 s); a
    reload whose configuration no longer names the ended temporary N
    queues its removal behind it. The add takes the ended N's name (its
    spec is gone, C2), so the queued removal's child has left: it must be
    answered, and arbord go on (it crashed: SEGV in arb_spec_detach)."""
    old = tree([supervisor("S", [service("slow", DEAF, stop_timeout='"2s"'),
                                 service("N", ["/bin/true"],
                                         restart='"temporary"')])])
    a = start(arbord, old, "S/N")
    a.wait_event("exit", "S/N")
    stopping = subprocess.Popen(
        [ARBORCTL, "--socket", str(a.socket), "stop", "S/slow"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        wait_until(lambda: by_path(a)["S/slow"]["state"] == "stopping",
                   what="S/slow stopping")
        adding = subprocess.Popen(
            [ARBORCTL, "--socket", str(a.socket), "add", "S",
             'name = "N"; exec = [ "/bin/sleep", "1000" ];'],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        a.config.write_text(tree([supervisor("S", [
            service("slow", DEAF, stop_timeout='"2s"')])]))
        r = ctl(a, "--json", "reload", timeout=30)
        assert adding.wait(timeout=30 * SLOW) == 0
    finally:
        stopping.communicate(timeout=30 * SLOW)
    assert a.proc.poll() is None, "arbord ended"
    assert r.returncode == 0, r.stderr
    assert by_path(a)["S/N"]["state"] == "up"
    assert a.stop() == 0
