"""Instance pools (issue 12, part 3): strategy = "simple_one_for_one" with
a template, against a real arbord with real processes. Numbering of
instances, spawn's arguments and environment, max_children, restart types
from the template, the pool's intensity, stopping all instances at once,
the requests an instance refuses, and arbord's memory over many spawns.

Waits are bounded polls on arbord's events or on the process table.
"""

import json
import os
import signal
import struct
import subprocess
import time

import pytest

from conftest import REPO, SLEEPER, SLOW, Arbord, pid_alive, rss_kib, \
    service, tree, wait_until
from ctlclient import Conn, encode, status_by_path

ARBORCTL = os.path.join(REPO, "ctl", "arborctl")
SUP = "org.arbor.supervisor."


# ---- helpers ----------------------------------------------------------------


def ctl(sock, *args):
    env = dict(os.environ, ARBOR_SOCKET=str(sock))
    return subprocess.run([ARBORCTL, *args], capture_output=True, text=True,
                          env=env, timeout=30 * SLOW,
                          stdin=subprocess.DEVNULL)


def ctl_ok(sock, *args):
    r = ctl(sock, *args)
    assert r.returncode == 0, (args, r.stdout, r.stderr)
    return r.stdout


def ctl_error(sock, *args):
    """arborctl -j that must fail: (error name, parameters)."""
    r = ctl(sock, "-j", *args)
    assert r.returncode == 1, (args, r.stdout, r.stderr)
    reply = json.loads(r.stdout)
    return reply["error"], reply["parameters"]


def argv_list(argv):
    """A libconfig list of strings, quoted as conftest.service does."""
    return "[ " + ", ".join('"' + a.replace("\\", "\\\\")
                            .replace('"', '\\"') + '"'
                            for a in argv) + " ]"


def pool(name, argv=SLEEPER, restart="permanent", **keys):
    """A pool entry whose template runs argv."""
    extra = "".join(f" {k} = {v};" for k, v in keys.items())
    return (f'{{ name = "{name}"; strategy = "simple_one_for_one";{extra} '
            f'template = {{ exec = {argv_list(argv)}; '
            f'restart = "{restart}"; }}; }}')


def start(arbord, config, last):
    a = arbord(config)
    a.wait_event("start", last)
    wait_until(lambda: a.socket.exists(), what="the control socket")
    return a


def instances(sock, pool_path="pool"):
    """name -> status node of each instance of the pool."""
    prefix = pool_path + "/"
    return {p[len(prefix):]: n for p, n in status_by_path(sock).items()
            if p.startswith(prefix)}


def environ(pid):
    with open(f"/proc/{pid}/environ", "rb") as f:
        return dict(e.split(b"=", 1) for e in f.read().split(b"\0") if e)


def cmdline(pid):
    with open(f"/proc/{pid}/cmdline", "rb") as f:
        return [a.decode() for a in f.read().split(b"\0")[:-1]]


# ---- names, arguments, environment ------------------------------------------


def test_boot_instances_and_spawned_ones(arbord):
    """instances = 2 starts pool/1 and pool/2 with the template's exec and
    ARBOR_INSTANCE; spawn appends its args and numbers on (3, 4); a
    removed number is never used again; --name names the instance."""
    a = start(arbord, tree([service("a", SLEEPER),
                            pool("pool", instances=2)]), "pool/2")
    got = instances(a.socket)
    assert sorted(got) == ["1", "2"]
    for name, n in got.items():
        assert n["dynamic"] is True and n["state"] == "up"
        assert cmdline(n["pid"]) == SLEEPER
        assert environ(n["pid"])[b"ARBOR_INSTANCE"] == name.encode()
    p = status_by_path(a.socket)["pool"]
    assert (p["pool"], p["instances"], p["strategy"]) == \
        (True, 2, "simple_one_for_one")
    assert "max_children" not in p

    assert ctl_ok(a.socket, "spawn", "pool", "--", "7", "3") == "pool/3\n"
    pid3 = instances(a.socket)["3"]["pid"]
    assert cmdline(pid3) == SLEEPER + ["7", "3"]
    assert environ(pid3)[b"ARBOR_INSTANCE"] == b"3"
    assert a.wait_event("add", "pool/3")["reason"] == "spawn"
    assert ctl_ok(a.socket, "-j", "spawn", "pool") == '{"path":"pool/4"}\n'

    ctl_ok(a.socket, "remove", "pool/3")
    assert ctl_ok(a.socket, "spawn", "pool") == "pool/5\n"
    assert ctl_ok(a.socket, "spawn", "--name", "web", "pool", "--", "9") \
        == "pool/web\n"
    web = instances(a.socket)["web"]["pid"]
    assert environ(web)[b"ARBOR_INSTANCE"] == b"web"
    assert cmdline(web) == SLEEPER + ["9"]
    # A named spawn takes no number.
    assert ctl_ok(a.socket, "spawn", "pool") == "pool/6\n"
    assert sorted(instances(a.socket)) == ["1", "2", "4", "5", "6", "web"]
    assert status_by_path(a.socket)["pool"]["instances"] == 6


def test_a_taken_name_is_already_present(arbord):
    """--name of an instance that exists is refused; the instance is kept
    with its pid."""
    a = start(arbord, tree([pool("pool", instances=2)]), "pool/2")
    ctl_ok(a.socket, "spawn", "--name", "web", "pool")
    before = {k: n["pid"] for k, n in instances(a.socket).items()}
    for name in ("web", "1"):
        assert ctl_error(a.socket, "spawn", "--name", name, "pool") == \
            (SUP + "AlreadyPresent", {"path": f"pool/{name}",
                                      "running": True})
    assert {k: n["pid"] for k, n in instances(a.socket).items()} == before


def test_spawn_of_something_not_a_pool(arbord):
    """Spawn needs a pool: a service is NotAPool, an unknown path
    NoSuchChild."""
    a = start(arbord, tree([service("a", SLEEPER),
                            pool("pool", instances=1)]), "pool/1")
    assert ctl_error(a.socket, "spawn", "a") == \
        (SUP + "NotAPool", {"path": "a"})
    name, params = ctl_error(a.socket, "spawn", "nope")
    assert name == SUP + "NoSuchChild" and params["path"] == "nope"


# ---- max_children -----------------------------------------------------------


def test_max_children_is_enforced_and_a_refused_spawn_uses_a_number(
        arbord):
    """A pool with max_children instances refuses the next spawn with
    PoolFull (max_children in the reply), changing nothing; the refused
    spawn took its number (arborctl(8): never used twice, even after a
    failed spawn), so the next one after a remove is numbered past it."""
    a = start(arbord, tree([pool("pool", instances=2, max_children=3)]),
              "pool/2")
    assert status_by_path(a.socket)["pool"]["max_children"] == 3
    assert ctl_ok(a.socket, "spawn", "pool") == "pool/3\n"
    before = {k: n["pid"] for k, n in instances(a.socket).items()}
    assert ctl_error(a.socket, "spawn", "pool") == \
        (SUP + "PoolFull", {"path": "pool", "max_children": 3})
    assert ctl_error(a.socket, "spawn", "--name", "x", "pool") == \
        (SUP + "PoolFull", {"path": "pool", "max_children": 3})
    assert {k: n["pid"] for k, n in instances(a.socket).items()} == before
    ctl_ok(a.socket, "remove", "pool/1")
    assert ctl_ok(a.socket, "spawn", "pool") == "pool/5\n"


# ---- restart types and intensity --------------------------------------------


SLEEP_THEN_EXIT = ["/bin/sh", "-c", 'sleep "$1"; exit "$2"', "inst"]


def test_transient_instance_leaves_on_normal_exit_and_a_crash_restarts_it(
        arbord):
    """The template's restart type rules: a transient instance that exits
    0 is not restarted and leaves the pool; one killed is restarted alone
    with its arguments, the other instances keep their pids."""
    a = start(arbord, tree([service("a", SLEEPER),
                            pool("pool", SLEEP_THEN_EXIT, "transient")]),
              "a")
    for args in (["1000", "0"], ["1000", "0"], ["0.2", "0"]):
        ctl_ok(a.socket, "spawn", "pool", "--", *args)
    a.wait_event("exit", "pool/3")
    wait_until(lambda: "3" not in instances(a.socket),
               what="pool/3 to leave the pool")
    assert len(a.find("start", "pool/3")) == 1

    before = {k: n["pid"] for k, n in instances(a.socket).items()}
    assert sorted(before) == ["1", "2"]
    os.kill(before["1"], signal.SIGKILL)
    a.wait_event("start", "pool/1", count=2)
    after = {k: n["pid"] for k, n in instances(a.socket).items()}
    assert after["2"] == before["2"]
    assert after["1"] != before["1"] and pid_alive(after["1"])
    assert cmdline(after["1"])[-2:] == ["1000", "0"]
    assert status_by_path(a.socket)["pool/1"]["restarts"] == 1
    assert not a.find("giveup")


def storm(a):
    """Kills pool/1, pool/2, then pool/1 again, each once restarted: three
    crashes of two instances, which count together."""
    for name, seen in (("pool/1", 1), ("pool/2", 1), ("pool/1", 2)):
        a.wait_event("start", name, count=seen)
        os.kill(a.pid_of(name), signal.SIGKILL)


@pytest.mark.parametrize("boot", [2, 0])
def test_a_crash_storm_gives_up_by_the_pools_intensity(arbord, boot):
    """Instances share the pool's intensity: intensity + 1 crashes in the
    period make the pool give up; its parent restarts it, with instances
    = K new instances numbered on (the counter survives), or empty. The
    root's other child keeps its pid."""
    a = start(arbord, tree([service("a", SLEEPER),
                            pool("pool", intensity=2, period='"30s"',
                                 instances=boot)], intensity=10), "a")
    if boot == 0:
        ctl_ok(a.socket, "spawn", "pool")
        ctl_ok(a.socket, "spawn", "pool")
    a.wait_event("start", "pool/2")
    a_pid = a.pid_of("a")
    old = [n["pid"] for n in instances(a.socket).values()]
    storm(a)
    a.wait_event("giveup", "pool")
    a.wait_event("start", "pool", count=2)
    if boot:
        a.wait_event("start", "pool/4")
        assert sorted(instances(a.socket)) == ["3", "4"]
    else:
        assert instances(a.socket) == {}
        p = status_by_path(a.socket)["pool"]
        assert p["state"] == "up" and p["instances"] == 0
        assert ctl_ok(a.socket, "spawn", "pool") == "pool/3\n"
    assert not any(pid_alive(p) for p in old)
    assert a.pid_of("a") == a_pid and pid_alive(a_pid)
    assert status_by_path(a.socket)["pool"]["restarts"] == 1


# ---- stopping ---------------------------------------------------------------


SLOW_TO_STOP = ["/bin/sh", "-c",
                'trap "sleep 1; exit 0" TERM; while :; do sleep 0.05; done']


def test_instances_stop_all_at_once(arbord):
    """Five instances that take 1 s each to stop on TERM: stopping the pool
    takes about 1 s, not 5 (OTP stops a simple_one_for_one's children
    concurrently)."""
    a = start(arbord, tree([pool("pool", SLOW_TO_STOP, instances=5)]),
              "pool/5")
    pids = [n["pid"] for n in instances(a.socket).values()]
    t0 = time.monotonic()
    ctl_ok(a.socket, "stop", "pool")
    took = time.monotonic() - t0
    assert 0.9 < took < 2.5 * SLOW, took
    assert not any(pid_alive(p) for p in pids)


def test_arbords_shutdown_stops_the_instances_all_at_once(arbord):
    """The same at arbord's shutdown (SIGTERM): about 1 s, not 5."""
    a = start(arbord, tree([service("a", SLEEPER),
                            pool("pool", SLOW_TO_STOP, instances=5)]),
              "pool/5")
    t0 = time.monotonic()
    assert a.stop() == 0
    took = time.monotonic() - t0
    assert 0.9 < took < 2.5 * SLOW, took
    stops = [e["path"] for e in a.find("stop")]
    assert stops.index("a") > max(stops.index(f"pool/{i}")
                                  for i in range(1, 6))


def test_remove_stop_and_restart_of_an_instance(arbord):
    """remove POOL/N and stop POOL/N both end the instance and take it out
    of the pool (a stopped instance has nothing to come back as); restart
    is refused with PoolInstance, as OTP's simple_one_for_one does."""
    a = start(arbord, tree([pool("pool", instances=3)]), "pool/3")
    pids = {k: n["pid"] for k, n in instances(a.socket).items()}
    assert ctl_error(a.socket, "restart", "pool/3") == \
        (SUP + "PoolInstance", {"path": "pool/3"})
    assert instances(a.socket)["3"]["pid"] == pids["3"]

    ctl_ok(a.socket, "remove", "pool/1")
    assert a.wait_event("remove", "pool/1")["reason"] == "operator"
    ctl_ok(a.socket, "stop", "pool/2")
    assert not pid_alive(pids["1"]) and not pid_alive(pids["2"])
    assert sorted(instances(a.socket)) == ["3"]
    assert status_by_path(a.socket)["pool"]["instances"] == 1
    # Gone: Status finds nothing; start, as restart, is OTP's
    # simple_one_for_one refusal for any name under a pool.
    name, params = ctl_error(a.socket, "status", "pool/2")
    assert name == SUP + "NoSuchChild", params
    assert ctl_error(a.socket, "start", "pool/2") == \
        (SUP + "PoolInstance", {"path": "pool/2"})


# ---- memory -----------------------------------------------------------------


def pipelined(sock, method, params_list, timeout=60):
    """Sends every call on one connection, then reads every reply in
    order: the replies' parameters (VarlinkError on an error)."""
    with Conn(sock, timeout=timeout * SLOW) as c:
        c.send_raw(b"".join(encode(SUP + method, p) for p in params_list))
        return [c.reply() for _ in params_list]


ROUNDS = 10
PER_ROUND = 1000
RSS_SLACK_KIB = 64
HEAP_SLACK = 256   # bytes: what moves between two reads of the counters
MALLOC_COUNT = os.path.join(REPO, "tests", "bench", "malloc_count.so")


def heap_in_use(path):
    """Bytes in use in arbord's heap, from malloc_count.so's counters:
    allocs, frees, bytes allocated, bytes in use (native u64, u64, u64,
    s64)."""
    with open(path, "rb") as f:
        return struct.unpack("QQQq", f.read(32))[3]


def spawn_and_remove_rounds(a, counters):
    """(RSS KiB, heap bytes in use) before any spawn, then after each
    round of PER_ROUND spawns and their removes."""
    def sample():
        # Settled: a connection just closed is freed once arbord has seen
        # it go (its buffers, 16 KiB), a moment after the client leaves.
        heap, deadline = heap_in_use(counters), time.monotonic() + 2 * SLOW
        while time.monotonic() < deadline:
            time.sleep(0.05)
            now = heap_in_use(counters)
            if now == heap:
                break
            heap = now
        return rss_kib(a.proc.pid), heap
    # A Status first: its reply arena (256 KiB, kept between replies for
    # speed) is part of any arbord that has been looked at.
    assert status_by_path(a.socket)["pool"]["instances"] == 0
    series = [sample()]
    for _ in range(ROUNDS):
        paths = [r["path"] for r in pipelined(
            a.socket, "Spawn", [{"pool": "pool"}] * PER_ROUND)]
        assert status_by_path(a.socket)["pool"]["instances"] == PER_ROUND
        pipelined(a.socket, "RemoveChild", [{"path": p} for p in paths])
        assert status_by_path(a.socket)["pool"]["instances"] == 0
        series.append(sample())
    return series


@pytest.fixture(scope="module")
def memory_rounds(tmp_path_factory):
    """One arbord, its heap calls counted, through ROUNDS rounds: its
    (RSS, heap in use) series, shared by the memory tests below. Under the
    sanitizers the heap is theirs, and says nothing of arbord's."""
    if SLOW > 1:
        pytest.skip("memory under the sanitizers is theirs, not arbord's")
    if not os.path.exists(MALLOC_COUNT):
        pytest.skip("tests/bench/malloc_count.so not built (make)")
    tmp = tmp_path_factory.mktemp("rss")
    counters = tmp / "malloc_count"
    a = Arbord(tmp, tree([service("a", SLEEPER), pool("pool")]),
               env={"LD_PRELOAD": MALLOC_COUNT,
                    "MALLOC_COUNT_OUT": str(counters)})
    try:
        a.wait_event("start", "pool")
        wait_until(lambda: a.socket.exists(), what="the control socket")
        yield spawn_and_remove_rounds(a, counters)
    finally:
        a.cleanup()


def test_heap_returns_to_its_level_after_every_round(memory_rounds):
    """No leak: after each round of PER_ROUND spawns and removes, the
    bytes in use in arbord's heap are what they were after the first
    (counted exactly by malloc_count.so; a leak of one byte a spawn would
    show as a thousand)."""
    print("arbord (RSS KiB, heap bytes) before and after each round:",
          memory_rounds)
    heap = [h for _, h in memory_rounds]
    assert max(heap[1:]) - min(heap[1:]) <= HEAP_SLACK, heap


def test_rss_stays_level_after_the_first_round(memory_rounds):
    """RSS too, within what the heap's fragments move (the exact check is
    the heap's, above): nine more rounds add less than 256 KiB (measured
    here: 100 to 110 KiB, flattening)."""
    rss = [r for r, _ in memory_rounds]
    assert max(rss[1:]) - rss[1] <= 4 * RSS_SLACK_KIB, rss


# Measured here after the living tree gives slots back (RSS KiB, heap bytes
# in use; before any spawn, then after each round): (2364, 900584),
# (3124, 1000888), (3140, 1000896) ... (3220, 1000896). The instances'
# nodes, pipes, sockets and shell state are freed and the arrays shrink;
# the heap in use stays 100 KB above its start (libev's descriptor table,
# which grows to the highest descriptor watched and never shrinks). RSS
# is 760 KiB above: that, the Status arena's pages a 1000-node reply
# touched (256 KiB, kept between replies for speed), and heap pages kept
# by fragments.
@pytest.mark.xfail(reason="issue 12's bound is not met: after 1000 "
                   "instances spawned and removed, RSS stays ~760 KiB above "
                   "its start (2364 -> 3124..3228 KiB over 10 rounds; heap "
                   "in use +100 KB, flat)", strict=True)
def test_rss_returns_within_64_kib_of_its_start(memory_rounds):
    """The issue's bound: after the rounds RSS is within 64 KiB of what it
    was before any spawn."""
    rss = [r for r, _ in memory_rounds]
    assert max(rss[1:]) - rss[0] <= RSS_SLACK_KIB, rss


# ---- refusals of bad spawns -------------------------------------------------


ARGV_MAX = 1024   # daemon/core/limits.h ARB_ARGV_MAX


@pytest.mark.parametrize("name", ["a/b", "..", "n" * 65, "sp ace"])
def test_spawn_of_a_name_that_cannot_be_one_is_invalid(arbord, name):
    """--name must be a node's name (limits.h): InvalidParameter, and no
    number is taken."""
    a = start(arbord, tree([pool("pool", instances=1)]), "pool/1")
    assert ctl_error(a.socket, "spawn", "--name", name, "pool") == \
        ("org.varlink.service.InvalidParameter", {"parameter": "name"})
    assert sorted(instances(a.socket)) == ["1"]
    assert ctl_ok(a.socket, "spawn", "pool") == "pool/2\n"


def test_spawn_with_too_many_args_is_invalid(arbord):
    """ARB_ARGV_MAX arguments are refused as a bad parameter; nothing
    starts."""
    a = start(arbord, tree([pool("pool", instances=1)]), "pool/1")
    assert ctl_error(a.socket, "spawn", "pool", "--",
                     *["0"] * ARGV_MAX) == \
        ("org.varlink.service.InvalidParameter", {"parameter": "args"})
    assert sorted(instances(a.socket)) == ["1"]


def test_template_exec_plus_args_past_the_limit_is_invalid(arbord):
    """The instance's whole argv, template and args, is one exec's: at
    most ARB_ARGV_MAX, as the loader enforces for exec."""
    a = start(arbord, tree([pool("pool", instances=1)]), "pool/1")
    name, params = ctl_error(a.socket, "spawn", "pool", "--",
                             *["0"] * (ARGV_MAX - 1))
    assert name == "org.varlink.service.InvalidParameter", params


def test_a_spawn_that_cannot_exec_is_start_failed_and_uses_its_number(
        arbord, tmp_path):
    """A template whose program fails execve: StartFailed, no instance
    left behind, and its number is used (never given again)."""
    prog = tmp_path / "worker"
    prog.write_text("#!/nonexistent/interpreter\n")
    prog.chmod(0o755)
    a = start(arbord, tree([service("a", SLEEPER),
                            pool("pool", [str(prog)])]), "a")
    name, params = ctl_error(a.socket, "spawn", "pool")
    assert name == SUP + "StartFailed", params
    assert params["path"] == "pool/1"
    assert instances(a.socket) == {}
    assert not a.find("add")
    prog.write_text("#!/bin/sh\nexec /bin/sleep 1000\n")
    assert ctl_ok(a.socket, "spawn", "pool") == "pool/2\n"
    assert pid_alive(instances(a.socket)["2"]["pid"])


# ---- a stopped pool ---------------------------------------------------------


def test_spawn_into_a_stopped_pool_and_its_start(arbord):
    """A stopped pool has no instances; a spawn into it is NotRunning and
    uses its number; started again, it starts its instances = 2, numbered
    on. Status text shows 'instances N/M'."""
    a = start(arbord, tree([service("a", SLEEPER),
                            pool("pool", instances=2, max_children=3)]),
              "pool/2")
    line = [ln for ln in ctl_ok(a.socket, "status").splitlines()
            if "simple_one_for_one" in ln][0]
    assert "instances 2/3" in line, line
    old = [n["pid"] for n in instances(a.socket).values()]
    ctl_ok(a.socket, "stop", "pool")
    assert not any(pid_alive(p) for p in old)
    p = status_by_path(a.socket)["pool"]
    assert (p["state"], p["instances"]) == ("down", 0)
    name, params = ctl_error(a.socket, "spawn", "pool")
    assert name == SUP + "NotRunning", params
    assert instances(a.socket) == {}
    ctl_ok(a.socket, "start", "pool")
    a.wait_event("start", "pool/5")
    assert sorted(instances(a.socket)) == ["4", "5"]
