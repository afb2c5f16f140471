"""Containment by cgroup v2 (issue 15), with real processes on this host:
the tree's cgroups exist under arbord's base with the right names, each
service runs in its own leaf, and a service is gone only when its leaf is
empty: a setsid escapee or a double fork cannot outlive its stop, a
crash's leftovers are killed before its restart. Removing a child removes
its cgroup; arbord's exit leaves no cgroup behind; --no-cgroups runs as
before with process groups alone; a re-exec keeps the base.

The tests run in the cgroup2 root here (a hybrid host: cgroup2 at
/sys/fs/cgroup/unified, no controllers), where arbord makes
arbord-PID beside the other processes. conftest removes what a SIGKILLed
arbord leaves.
"""

import os
import signal

import pytest

from conftest import FAULTS_ARBORD, SLEEPER, pid_alive, service, \
    supervisor, tree, wait_until
from test_reexec import ctl, reexec


def _writable_cgroup2():
    try:
        with open("/proc/self/mountinfo") as f:
            mounted = any(" - cgroup2 " in line for line in f)
    except OSError:
        return False
    return mounted and os.geteuid() == 0


pytestmark = pytest.mark.skipif(not _writable_cgroup2(),
                                reason="needs root and a cgroup2 mount")


def sh(script):
    return ["/bin/sh", "-c", script]


def start(arbord, config, last, **kw):
    a = arbord(config, **kw)
    a.wait_event("start", last)
    wait_until(lambda: a.socket.exists(), what="the control socket")
    return a


def containment(a, count=1):
    """arbord's count-th event=containment (kept apart from the tree's)."""
    return wait_until(lambda: len(a.containment) >= count
                      and a.containment[count - 1],
                      what=f"{count} x event=containment")


def base_of(a):
    """arbord's base cgroup, absolute, as its event=containment says."""
    ev = containment(a)
    assert ev["mode"] == "cgroup2", ev
    return ev["cgroup"]


def cgroup_of(pid):
    """pid's cgroup2 path (the "0::" line), relative to the mount."""
    with open(f"/proc/{pid}/cgroup") as f:
        for line in f:
            if line.startswith("0::"):
                return line[3:].strip()
    raise AssertionError(f"no cgroup2 line for {pid}")


def procs(path):
    """The pids in a cgroup directory, [] when it is gone."""
    try:
        with open(os.path.join(path, "cgroup.procs")) as f:
            return [int(p) for p in f.read().split()]
    except FileNotFoundError:
        return []


def read_pid(path):
    wait_until(lambda: path.exists() and path.read_text().strip(),
               what=f"a pid in {path}")
    return int(path.read_text().split()[0])


def test_tree_cgroups_are_named_after_the_nodes(arbord):
    """Each supervisor a cgroup, each service a leaf, named after its path
    ('_' before a name with a '.' or a leading '_'); arbord in a leaf of its
    own; each service's process in its leaf."""
    a = start(arbord, tree([supervisor("web", [
        service("app.1", SLEEPER), service("_x", SLEEPER),
        service("plain", SLEEPER)])]), "web/plain")
    base = base_of(a)
    assert os.path.basename(base) == f"arbord-{a.proc.pid}"
    for rel in ("arbord", "tree", "tree/web", "tree/web/_app.1",
                "tree/web/__x", "tree/web/plain"):
        assert os.path.isdir(os.path.join(base, rel)), rel
    assert procs(os.path.join(base, "arbord")) == [a.proc.pid]
    assert cgroup_of(a.proc.pid).endswith(
        "/" + os.path.basename(base) + "/arbord")
    for path, rel in (("web/app.1", "tree/web/_app.1"),
                      ("web/_x", "tree/web/__x"),
                      ("web/plain", "tree/web/plain")):
        pid = a.pid_of(path)
        assert cgroup_of(pid).endswith("/" + os.path.basename(base) + "/"
                                       + rel), (path, cgroup_of(pid))
    assert a.stop() == 0
    assert not os.path.exists(base)


def test_stop_kills_a_setsid_escapee(arbord, tmp_path):
    """A service whose child called setsid() is out of its process group:
    only its cgroup still holds it, and the stop ends it."""
    pidfile = tmp_path / "escapee.pid"
    a = start(arbord, tree([service(
        "app", sh(f"setsid sleep 1000 & echo $! > {pidfile}; "
                  "exec sleep 1000"))]), "app")
    base = base_of(a)
    escapee = read_pid(pidfile)
    wait_until(lambda: os.getsid(escapee) == escapee,
               what="the escapee in a session of its own")
    r = ctl(a.socket, "stop", "app")
    assert r.returncode == 0, r.stderr
    a.wait_event("stop", "app")
    # The stop is over only once the leaf is empty: nothing to wait for.
    assert not pid_alive(escapee)
    assert procs(os.path.join(base, "tree/app")) == []
    assert a.stop() == 0


def test_stop_kills_a_double_fork(arbord, tmp_path):
    """A double-forked grandchild (reparented to arbord, the subreaper)
    that ignores SIGTERM stays in the service's leaf, and goes with it:
    the group's TERM does not end it, the cgroup's kill does."""
    pidfile = tmp_path / "orphan.pid"
    a = start(arbord, tree([service(
        "app", sh(f"sh -c 'trap \"\" TERM; sleep 1000 & "
                  f"echo $! > {pidfile}'; exec sleep 1000"))]), "app")
    base = base_of(a)
    orphan = read_pid(pidfile)
    assert pid_alive(orphan)
    assert orphan in procs(os.path.join(base, "tree/app"))
    assert ctl(a.socket, "stop", "app").returncode == 0
    a.wait_event("stop", "app")
    assert not pid_alive(orphan)
    assert a.stop() == 0


def test_crash_leftovers_are_killed_before_the_restart(arbord, tmp_path):
    """The main process dies, an escapee lives on: the exit is reported
    (and the restart made) only once the leaf is empty."""
    pidfile = tmp_path / "escapee.pid"
    a = start(arbord, tree([service(
        "app", sh(f"setsid sleep 1000 & echo $! >> {pidfile}; "
                  "exec sleep 1000"))]), "app")
    escapee = read_pid(pidfile)
    main = a.pid_of("app")
    os.kill(main, signal.SIGKILL)
    ev = a.wait_event("exit", "app")
    assert ev["reason"] == "crash" and ev["signal"] == "KILL"
    assert not pid_alive(escapee)
    a.wait_event("start", "app", count=2)
    assert a.stop() == 0, "\n".join(a.lines)


def test_removing_a_child_removes_its_cgroup(arbord):
    """arborctl remove: the child's leaf goes with it; a removed
    supervisor's whole subtree too."""
    a = start(arbord, tree([service("a", SLEEPER), supervisor(
        "web", [service("app", SLEEPER)])]), "web/app")
    base = base_of(a)
    assert os.path.isdir(os.path.join(base, "tree/a"))
    r = ctl(a.socket, "remove", "a")
    assert r.returncode == 0, r.stderr
    wait_until(lambda: not os.path.exists(os.path.join(base, "tree/a")),
               what="tree/a removed")
    r = ctl(a.socket, "remove", "web")
    assert r.returncode == 0, r.stderr
    wait_until(lambda: not os.path.exists(os.path.join(base, "tree/web")),
               what="tree/web removed")
    assert a.stop() == 0


def test_exit_leaves_no_cgroup(arbord):
    """SIGTERM: the tree stops, arbord goes back where it came from, and
    the arbord-PID cgroup it made is removed."""
    a = start(arbord, tree([supervisor("web", [service("app", SLEEPER)])]),
              "web/app")
    base = base_of(a)
    origin = os.path.dirname(base)
    assert os.path.isdir(base)
    assert a.stop() == 0
    assert not os.path.exists(base)
    assert not [d for d in os.listdir(origin)
                if d == f"arbord-{a.proc.pid}"]


def test_no_cgroups_runs_with_process_groups(arbord, tmp_path):
    """--no-cgroups: event=containment says process-group, nothing is made
    in cgroup2, and a stop works as before (the group is signalled)."""
    a = start(arbord, tree([service("app", SLEEPER)]), "app",
              args=("--no-cgroups",))
    ev = containment(a)
    assert ev["mode"] == "process-group" and ev["why"] == "--no-cgroups"
    mine = cgroup_of(os.getpid())
    assert cgroup_of(a.proc.pid) == mine
    assert cgroup_of(a.pid_of("app")) == mine
    assert ctl(a.socket, "stop", "app").returncode == 0
    a.wait_event("stop", "app")
    assert a.stop() == 0


def test_reexec_keeps_the_base(arbord):
    """The new image takes the base from the state: the same cgroups, the
    service still in its leaf, arbord still in its own; and at the end
    they are removed as usual."""
    a = start(arbord, tree([service("app", SLEEPER)]), "app")
    base = base_of(a)
    pid = a.pid_of("app")
    reexec(a)
    a.wait_event("resumed")
    ev = containment(a, count=2)
    assert ev["mode"] == "cgroup2" and ev["cgroup"] == base
    assert procs(os.path.join(base, "arbord")) == [a.proc.pid]
    assert procs(os.path.join(base, "tree/app")) == [pid]
    # Still contained: a stop empties the leaf.
    assert ctl(a.socket, "stop", "app").returncode == 0
    a.wait_event("stop", "app")
    assert procs(os.path.join(base, "tree/app")) == []
    assert a.stop() == 0
    assert not os.path.exists(base)


def test_pool_instances_each_have_a_leaf(arbord, tmp_path):
    """A pool's instances are leaves of the pool's cgroup; a temporary
    instance that ends leaves the tree, and its leaf goes with it."""
    marker = tmp_path / "go"
    a = start(arbord, tree([
        '{ name = "pool"; strategy = "simple_one_for_one"; instances = 2; '
        'template = { exec = [ "/bin/sh", "-c", '
        f'"until [ -e {marker} ]; do sleep 0.05; done" ]; '
        'restart = "temporary"; }; }']), "pool/2")
    base = base_of(a)
    for name in ("1", "2"):
        leaf = os.path.join(base, "tree/pool", name)
        assert a.pid_of("pool/" + name) in procs(leaf)
    marker.write_text("")
    a.wait_event("exit", "pool/2")
    for name in ("1", "2"):
        wait_until(lambda: not os.path.exists(
            os.path.join(base, "tree/pool", name)),
            what=f"tree/pool/{name} removed")
    assert a.stop() == 0


def test_a_refused_add_leaves_the_stopped_childs_cgroup_usable(arbord):
    """Bug: an add refused for a name that exists (stopped) deleted the
    node it had made, and that node's cgroup was the existing child's:
    its next start failed with ENOENT. A start makes its cgroup again."""
    a = start(arbord, tree([service("a", SLEEPER)]), "a")
    assert ctl(a.socket, "stop", "a").returncode == 0
    a.wait_event("stop", "a")
    spec = 'name = "a"; exec = [ "/bin/sleep", "1000" ];'
    assert ctl(a.socket, "add", "/", spec).returncode == 1
    r = ctl(a.socket, "start", "a")
    assert r.returncode == 0, (r.stderr, a.lines[-5:])
    a.wait_event("start", "a", count=2)
    assert cgroup_of(a.pid_of("a")).endswith("/tree/a")
    assert a.stop() == 0


def _cgroup2_mount():
    with open("/proc/self/mountinfo") as f:
        for line in f:
            fields = line.split()
            if fields[fields.index("-") + 1] == "cgroup2":
                return fields[4]
    raise AssertionError("no cgroup2 mount")


def _empty_and_remove(path):
    """Kills what is left in path and removes it, deepest first."""
    if not os.path.isdir(path):
        return
    with open(os.path.join(path, "cgroup.kill"), "w") as f:
        f.write("1")
    wait_until(lambda: "populated 0" in open(
        os.path.join(path, "cgroup.events")).read(), what="an empty cgroup")
    for top, dirs, _ in os.walk(path, topdown=False):
        for d in dirs:
            os.rmdir(os.path.join(top, d))
    os.rmdir(path)


def test_a_delegated_cgroup_is_the_base(arbord):
    """Alone in its cgroup, as under systemd's Delegate=yes or as a
    container's init, arbord takes that cgroup as its base: its own leaf
    and the tree inside it, nothing made beside it; at its exit the tree's
    cgroups are removed and the cgroup is left as it was given."""
    given = os.path.join(_cgroup2_mount(), f"arbor-test-given-{os.getpid()}")
    os.mkdir(given)
    try:
        def enter():
            with open(os.path.join(given, "cgroup.procs"), "w") as f:
                f.write("0")

        a = start(arbord, tree([supervisor("web", [service("app", SLEEPER)])]),
                  "web/app", preexec_fn=enter)
        assert base_of(a) == given
        assert procs(os.path.join(given, "arbord")) == [a.proc.pid]
        assert procs(given) == []
        rel = "/" + os.path.basename(given) + "/tree/web/app"
        assert cgroup_of(a.pid_of("web/app")).endswith(rel)
        assert a.stop() == 0
        assert os.path.isdir(given)
        assert [d for d in os.listdir(given)
                if os.path.isdir(os.path.join(given, d))] == []
    finally:
        _empty_and_remove(given)


def test_a_killed_leaf_is_made_anew_after_a_reexec(arbord, tmp_path):
    """A stop kills app's leaf (an escapee in it); after a re-exec the new
    image does not know that, yet a start must not clone into the killed
    leaf (where a child dies at birth on Linux 6.18): one start, no
    crash."""
    pidfile = tmp_path / "escapee.pid"
    a = start(arbord, tree([service(
        "app", sh(f"setsid sleep 1000 & echo $! >> {pidfile}; "
                  "exec sleep 1000"))]), "app")
    read_pid(pidfile)
    assert ctl(a.socket, "stop", "app").returncode == 0
    a.wait_event("stop", "app")
    reexec(a)
    a.wait_event("resumed")
    assert ctl(a.socket, "start", "app").returncode == 0
    a.wait_event("start", "app", count=2)
    wait_until(lambda: len(open(pidfile).read().split()) == 2,
               what="the second start's escapee")
    assert pid_alive(a.pid_of("app"))
    assert not [e for e in a.events if e.get("event") == "exit"]
    assert a.stop() == 0


def test_a_stale_base_of_a_killed_arbord_is_reused(arbord):
    """An arbord-PID left by an arbord that was SIGKILLed (its arbord and
    tree cgroups still in it, empty) does not keep the next arbord of
    that pid (a container's PID 1 is always 1) from cgroups: it is
    removed and made anew."""
    root = _cgroup2_mount()

    def leave_a_stale_base():
        stale = os.path.join(root, f"arbord-{os.getpid()}")
        for rel in ("", "arbord", "tree", "tree/app"):
            os.mkdir(os.path.join(stale, rel))

    a = start(arbord, tree([service("app", SLEEPER)]), "app",
              preexec_fn=leave_a_stale_base)
    base = base_of(a)
    assert base == os.path.join(root, f"arbord-{a.proc.pid}")
    assert procs(os.path.join(base, "arbord")) == [a.proc.pid]
    assert procs(os.path.join(base, "tree/app")) == [a.pid_of("app")]
    assert a.stop() == 0
    assert not os.path.exists(base)


def test_without_cgroup_kill_the_leaf_is_frozen_and_killed(arbord, tmp_path):
    """As before Linux 5.14 (no cgroup.kill, forced by the test build):
    the leaf is frozen and each of its processes killed, so a spawner of
    setsid'd processes cannot outrun the stop, and nothing is left; the
    leaf is thawed after."""
    pidfile = tmp_path / "escapees"
    a = arbord(tree([service("app", sh(
        f"while :; do setsid sleep 1000 & echo $! >> {pidfile}; "
        "sleep 0.001; done"))]), arbord=FAULTS_ARBORD,
        env={"ARBOR_FAULT_NO_CGROUP_KILL": "1"})
    a.wait_event("start", "app")
    wait_until(lambda: a.socket.exists(), what="the control socket")
    base = base_of(a)
    wait_until(lambda: pidfile.exists()
               and len(pidfile.read_text().split()) >= 20,
               what="20 escapees")
    assert ctl(a.socket, "stop", "app").returncode == 0
    a.wait_event("stop", "app")
    leaf = os.path.join(base, "tree/app")
    assert procs(leaf) == []
    assert not [p for p in map(int, pidfile.read_text().split())
                if pid_alive(p)]
    with open(os.path.join(leaf, "cgroup.freeze")) as f:
        assert f.read().strip() == "0"
    assert a.stop() == 0
