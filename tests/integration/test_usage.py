"""What services use (issue 15): Status with stats, arborctl status
--stats and arborctl metrics, against a real arbord on this host. Here
cgroup2 has no controllers (a hybrid host): stats come from the cgroups
(CPU, tasks) with memory from the main process (cgroup+proc); with
--no-cgroups, from /proc alone. The controllers' files (memory.current,
pids.current, memory.events) are covered by tests/unit/test_usage.c.

Each test runs arbord on a private socket in tmp_path; waits are bounded
polls.
"""

import json
import os
import shutil
import subprocess

import pytest

from conftest import REPO, SLEEPER, SLOW, service, supervisor, tree, \
    wait_until
from ctlclient import SUP, call, try_call

ARBORCTL = os.path.join(REPO, "ctl", "arborctl")
MiB = 1024 * 1024

# 50 MiB of bytes that are written, so resident: bytearray(n) alone is
# calloc'd, and its untouched pages would not count.
ALLOC_50M = ["/usr/bin/python3", "-c",
             "import time; b = bytes(range(256)) * (50 * 4096); "
             "time.sleep(1000)"]
BUSY = ["/bin/sh", "-c", "while :; do :; done"]
THREE_SLEEPS = ["/bin/sh", "-c",
                "sleep 1000 & sleep 1000 & sleep 1000 & wait"]


@pytest.fixture
def usage_arbord(arbord):
    """arbord(config, *args): conftest's, which also removes the cgroup
    an arbord it had to kill leaves."""
    def start(config, *args):
        return arbord(config, args=args)
    return start


def stats(sock, path=None):
    params = {"stats": True}
    if path:
        params["path"] = path
    reply = call(sock, SUP + "Status", params)
    return {n["path"]: n for n in reply["nodes"]}, reply["containment"]


def ctl(sock, *args):
    return subprocess.run([ARBORCTL, "--socket", str(sock), *args],
                          capture_output=True, text=True,
                          timeout=10 * SLOW, stdin=subprocess.DEVNULL)


def started(a, *paths):
    for p in paths:
        a.wait_event("start", p)
    wait_until(lambda: a.socket.exists(), what="the control socket")


def test_a_service_holding_50_mib_shows_it(usage_arbord):
    """Memory is the service's (its main process's, without a memory
    controller), not arbord's: a service that holds 50 MiB shows between
    50 and 100 MiB, its peak at least that."""
    a = usage_arbord(tree([service("big", ALLOC_50M),
                           service("small", SLEEPER)]))
    started(a, "big", "small")

    def grown():
        n = stats(a.socket)[0]["big"]["stats"]
        return n if n.get("memory", 0) >= 50 * MiB else None
    big = wait_until(grown, what="50 MiB resident")
    assert big["memory"] < 100 * MiB, big
    assert big["memory_peak"] >= big["memory"]
    small = stats(a.socket)[0]["small"]["stats"]
    assert 0 < small["memory"] < 10 * MiB, small
    assert a.stop() == 0


def test_cpu_time_grows_while_a_service_spins(usage_arbord):
    """cpu_usec counts: a busy loop's grows by a good part of the wall
    time between two reads (two vCPUs are shared: a third is plenty)."""
    a = usage_arbord(tree([service("busy", BUSY)]))
    started(a, "busy")
    first = stats(a.socket)[0]["busy"]["stats"]["cpu_usec"]
    wait_until(lambda: stats(a.socket)[0]["busy"]["stats"]["cpu_usec"]
               >= first + 300000, timeout=10,
               what="300 ms of CPU time more")
    assert a.stop() == 0


def test_tasks_count_a_services_children_in_its_cgroup(usage_arbord):
    """With cgroup2, a service's tasks are its cgroup's (cgroup.threads
    without the pids controller): a shell and the three sleeps it forked
    are 4; /proc sees the main process's threads alone."""
    a = usage_arbord(tree([service("forks", THREE_SLEEPS)]))
    started(a, "forks")
    nodes, containment = stats(a.socket)
    if containment["mode"] != "cgroup2":
        pytest.skip(f"no cgroup2 here: {containment.get('why')}")
    wait_until(lambda: stats(a.socket)[0]["forks"]["stats"]["tasks"] == 4,
               what="the shell and its three sleeps")
    assert stats(a.socket)[0]["forks"]["stats"]["source"] == "cgroup+proc"
    assert a.stop() == 0


def test_a_supervisor_sums_its_subtree(usage_arbord):
    """A supervisor's stats are its subtree's: tasks and memory are its
    services' sum (memory from each main process on this host), CPU time
    at least theirs (its cgroup's cpu.stat, read after theirs)."""
    a = usage_arbord(tree([
        supervisor("grp", [service("forks", THREE_SLEEPS),
                           service("big", ALLOC_50M),
                           supervisor("inner", [service("s", SLEEPER)])]),
        service("outside", SLEEPER)]))
    started(a, "grp/forks", "grp/big", "grp/inner/s", "outside")
    wait_until(lambda: stats(a.socket)[0]["grp/big"]["stats"]["memory"]
               >= 50 * MiB, what="50 MiB resident")
    nodes, _ = stats(a.socket)
    grp = nodes["grp"]["stats"]
    parts = [nodes[p]["stats"] for p in ("grp/forks", "grp/big",
                                          "grp/inner/s")]
    assert grp["tasks"] == sum(p["tasks"] for p in parts)
    assert grp["memory"] == sum(p["memory"] for p in parts)
    assert grp["cpu_usec"] >= sum(p["cpu_usec"] for p in parts)
    assert nodes["grp/inner"]["stats"]["tasks"] == parts[2]["tasks"]
    root = nodes["/"]["stats"]
    assert root["tasks"] == grp["tasks"] + nodes["outside"]["stats"]["tasks"]
    assert a.stop() == 0


def test_without_cgroups_stats_come_from_proc(usage_arbord):
    """--no-cgroups: containment is process groups, saying why, and the
    numbers are the main process's, labelled proc; a supervisor's are
    its services' sum, but for the peak, which no sum of peaks taken at
    different times gives; a service that is down has no numbers."""
    a = usage_arbord(tree([supervisor("grp", [
        service("forks", THREE_SLEEPS), service("big", ALLOC_50M)]),
        service("off", SLEEPER)]), "--no-cgroups")
    started(a, "grp/forks", "grp/big", "off")
    assert ctl(a.socket, "stop", "off").returncode == 0
    nodes, containment = stats(a.socket)
    assert containment["mode"] == "process-group"
    assert containment["controllers"] == [] and containment["why"]
    assert "cgroup" not in containment
    assert {n["stats"]["source"] for n in nodes.values()} == {"proc"}
    assert nodes["grp/forks"]["stats"]["tasks"] == 1  # the shell alone
    assert nodes["off"]["stats"] == {"source": "proc"}
    wait_until(lambda: stats(a.socket)[0]["grp/big"]["stats"]["memory"]
               >= 50 * MiB, what="50 MiB resident")
    nodes, _ = stats(a.socket)
    grp = nodes["grp"]["stats"]
    for key in ("memory", "cpu_usec", "tasks"):
        assert grp[key] == sum(nodes[p]["stats"][key]
                               for p in ("grp/forks", "grp/big")), key
    assert "memory_peak" not in grp
    assert a.stop() == 0


def test_stats_is_a_boolean_and_absent_costs_nothing(usage_arbord):
    """stats must be a boolean (InvalidParameter otherwise); without it no
    node has stats, and containment is in every reply."""
    a = usage_arbord(tree([service("a", SLEEPER)]))
    started(a, "a")
    assert try_call(a.socket, SUP + "Status", {"stats": 1}) == \
        ("org.varlink.service.InvalidParameter", {"parameter": "stats"})
    reply = call(a.socket, SUP + "Status", {"path": "a"})
    assert "stats" not in reply["nodes"][0]
    assert reply["containment"]["mode"] in ("cgroup2", "process-group")
    assert a.stop() == 0


def test_status_stats_text_fits_80_columns(usage_arbord):
    """status --stats: a heading, one row a node with memory, peak, CPU
    time and tasks in human units within 80 columns, the containment and
    where the numbers come from below; a subtree has no containment line;
    --json passes the numbers through."""
    a = usage_arbord(tree([supervisor("web", [
        service("app", ALLOC_50M), service("proxy", SLEEPER)])]))
    started(a, "web/app", "web/proxy")
    wait_until(lambda: stats(a.socket)[0]["web/app"]["stats"]["memory"]
               >= 50 * MiB, what="50 MiB resident")
    r = ctl(a.socket, "status", "--stats")
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines[0].split() == ["NAME", "STATE", "PID", "MEM", "PEAK",
                                "CPU", "TASKS"]
    assert all(len(ln) <= 80 for ln in lines), r.stdout
    app = [ln for ln in lines if "app" in ln][0].lstrip("|`- ").split()
    assert app[0] == "app" and app[1] == "up" and app[3].endswith("M")
    assert 50 <= float(app[3][:-1]) < 100
    assert app[5].endswith("s") and int(app[6]) >= 1
    assert lines[-2].startswith("containment: ")
    assert lines[-1].startswith("stats: ")
    sub = ctl(a.socket, "status", "--stats", "web").stdout.splitlines()
    assert sub[1].startswith("web ") and sub[-1].startswith("stats: ")
    assert not any(ln.startswith("containment: ") for ln in sub)
    doc = json.loads(ctl(a.socket, "--json", "status", "--stats").stdout)
    app = [n for n in doc["nodes"] if n["path"] == "web/app"][0]
    assert app["stats"]["memory"] >= 50 * MiB
    assert "containment" in doc
    r = ctl(a.socket, "start", "--stats", "web")
    assert r.returncode == 2 and "--stats" in r.stderr
    assert a.stop() == 0


def promtool():
    """promtool on PATH, or where packaging/install-deps puts it."""
    found = shutil.which("promtool")
    tools = os.environ.get("ARBOR_TOOLS_DIR") or os.path.join(
        os.environ.get("XDG_CACHE_HOME")
        or os.path.join(os.path.expanduser("~"), ".cache"), "arbor",
        "tools")
    local = os.path.join(tools, "promtool")
    return found or (local if os.access(local, os.X_OK) else None)


def python_parser():
    """prometheus_client's parser (python3-prometheus-client), or None."""
    try:
        from prometheus_client.parser import \
            text_string_to_metric_families
    except ImportError:
        return None
    return text_string_to_metric_families


def test_metrics_pass_a_real_parser(usage_arbord):
    """arborctl metrics is Prometheus' text format: promtool check metrics
    finds no error and no lint problem, and a parser reads back the
    families and values Status gave."""
    tool, parse = promtool(), python_parser()
    if not tool and not parse:
        pytest.skip("neither promtool nor python3-prometheus-client: "
                    "packaging/install-deps --test")
    a = usage_arbord(tree([
        supervisor("web", [service("app", ALLOC_50M),
                           service("crash", ["/bin/sh", "-c", "exit 3"],
                                   restart='"temporary"')]),
        service("busy", BUSY)]))
    started(a, "web/app", "busy")
    a.wait_event("exit", "web/crash")
    r = ctl(a.socket, "metrics")
    assert r.returncode == 0, r.stderr
    text = r.stdout
    if tool:
        check = subprocess.run([tool, "check", "metrics"], input=text,
                               capture_output=True, text=True, timeout=30)
        assert check.returncode == 0 and check.stdout == "" \
            and check.stderr == "", check.stdout + check.stderr
    if parse:
        fams = {f.name: f for f in parse(text)}
        # The parser names a counter without its _total.
        assert {"arbor_up", "arbor_state", "arbor_restarts",
                "arbor_last_exit_reason", "arbor_memory_bytes",
                "arbor_memory_peak_bytes", "arbor_cpu_seconds",
                "arbor_tasks", "arbor_containment_info"} <= set(fams)
        up = {s.labels["path"]: s.value for s in fams["arbor_up"].samples}
        assert up["web/app"] == 1 and up["busy"] == 1
        assert up["web/crash"] == 0
        current = [s.labels["state"] for s in fams["arbor_state"].samples
                   if s.labels["path"] == "busy" and s.value == 1]
        assert current == ["up"]
        reasons = {s.labels["path"]: s.labels["reason"]
                   for s in fams["arbor_last_exit_reason"].samples}
        assert reasons["web/crash"] == "crash"
        mem = {s.labels["path"]: s.value
               for s in fams["arbor_memory_bytes"].samples}
        assert mem["web/app"] > 0
        assert fams["arbor_cpu_seconds"].type == "counter"
        info = fams["arbor_containment_info"].samples[0].labels
        assert info["mode"] in ("cgroup2", "process-group")
    # A subtree, for one service's dashboard.
    sub = ctl(a.socket, "metrics", "web").stdout
    assert 'arbor_up{path="web",kind="supervisor"} 1' in sub
    assert 'path="busy"' not in sub
    assert a.stop() == 0
