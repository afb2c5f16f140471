"""A large tree for real: 5000 `sleep` services with merged log streams
start, answer status, cost one descriptor each, and stop with no survivor
(issue 14). tests/bench/growth_bench.py runs the same checks at 19000."""

import json
import os
import subprocess

from conftest import REPO, SLOW, pid_alive, service, supervisor, tree, \
    wait_until

ARBORCTL = os.path.join(REPO, "ctl", "arborctl")
SERVICES = 5000
GROUP = 100
# arbord's own descriptors besides its services' (stdio, control and
# notify sockets, epoll, signal and timer descriptors, the state's):
# generous, yet far below a second descriptor per service.
RESERVE = 64


def scale_tree():
    groups = [supervisor(f"g{g}",
                         [service(f"s{g * GROUP + i}",
                                  ["/bin/sleep", "100000"],
                                  stop_timeout='"10s"')
                          for i in range(GROUP)],
                         intensity=100)
              for g in range(SERVICES // GROUP)]
    return tree(groups, intensity=100,
                log='{ streams = "merged"; }')


def ctl(a, *argv):
    return subprocess.run([ARBORCTL, "--socket", str(a.socket), *argv],
                          stdin=subprocess.DEVNULL, capture_output=True,
                          timeout=60 * SLOW)


def services_started(a):
    n = sum(1 for e in a.snapshot()
            if e.get("event") == "start" and "pid" in e)
    return n if n >= SERVICES else None


def test_5000_services_merged_start_answer_status_and_stop(arbord):
    a = arbord(scale_tree())
    wait_until(lambda: services_started(a), timeout=60,
               what=f"{SERVICES} services started")
    wait_until(lambda: a.socket.exists(), what="the control socket")

    r = ctl(a, "status", "--json")
    assert r.returncode == 0, r.stderr
    nodes = json.loads(r.stdout)["nodes"]
    services = [n for n in nodes if n["kind"] == "service"]
    assert len(services) == SERVICES
    assert all(n["state"] == "up" and n["pid"] > 0 for n in services)
    pids = {n["pid"] for n in services}
    assert pids == a.pids

    # One descriptor per service: its one log pipe; no pidfd is held for
    # a child arbord has not reaped.
    fds = os.listdir(f"/proc/{a.proc.pid}/fd")
    assert SERVICES <= len(fds) <= SERVICES + RESERVE, len(fds)

    r = ctl(a, "status", "g17")
    assert r.returncode == 0, r.stderr
    rows = r.stdout.decode().splitlines()
    assert len(rows) == 1 + GROUP
    assert rows[0].startswith("g17 ")

    assert a.stop() == 0
    left = [p for p in pids if pid_alive(p) and a._started_by_us(p)]
    assert left == [], f"{len(left)} services outlived arbord's stop"
    assert len([e for e in a.find("stop") if "pid" in e]) == SERVICES
