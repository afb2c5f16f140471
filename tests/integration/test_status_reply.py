"""The Status reply's bytes (issue 14): arbord writes it without jansson
(daemon/control/status_reply.c), and must write what jansson's compact
dump wrote: the same members in the same order, the same escaping, and the
reply arborctl status --json prints as it came.

Each test runs arbord on a private socket in tmp_path; waits are bounded
polls.
"""

import json
import os
import signal
import subprocess

from conftest import SLEEPER, service, supervisor, tree, wait_until
from ctlclient import Conn, status_by_path

SUP = "org.arbor.supervisor."
ARBORCTL = os.path.join(os.path.dirname(__file__), "..", "..", "ctl",
                        "arborctl")

# The members of a node, in the order arbord has always written them.
NODE_ORDER = ["path", "kind", "strategy", "dynamic", "pool", "instances",
              "max_children", "restart", "state", "pid", "since_ms",
              "restarts", "last_exit", "ready", "waiting", "restart_in_ms",
              "status", "errno", "error", "reloading", "stopping", "journal",
              "stats"]
EXIT_ORDER = ["pid", "code", "signal", "reason"]
STATS_ORDER = ["source", "memory", "memory_peak", "cpu_usec", "tasks",
               "oom_kills"]
CONTAINMENT_ORDER = ["mode", "cgroup", "controllers", "why"]

# A STATUS= text with what JSON must escape, and more than ASCII.
STATUS_TEXT = 'say "hi" \\ back\tnow caf\u00e9'


def sh(script):
    return ["/bin/sh", "-c", script]


def in_order(keys, order):
    return [k for k in order if k in keys] == list(keys)


def raw_status(sock, params=None):
    with Conn(sock, timeout=10.0) as c:
        c.send(SUP + "Status", params or {})
        return c.recv_raw()


def compact(text):
    """jansson's compact form of the JSON text (its key order kept): no
    blanks, text past ASCII as it is."""
    return json.dumps(json.loads(text), separators=(",", ":"),
                      ensure_ascii=False)


def varied_tree(tmp_path):
    """A node in each shape a Status has: notes, exits by code and by
    signal, a pending restart, a pool, a supervisor, one not ready."""
    flag, go = tmp_path / "crashed", tmp_path / "go"
    status_arg = STATUS_TEXT.replace("\\", "\\\\").replace('"', '\\"')
    notes = sh(f"systemd-notify --ready --status=\"{status_arg}\" ERRNO=2; "
               "exec sleep 1000")
    return tree([
        service("notes", notes, ready='"notify"'),
        service("crash", sh(f"if [ -e {flag} ]; then exec sleep 1000; fi; "
                            f": > {flag}; exit 7")),
        service("killed", SLEEPER),
        service("later", sh("exit 3"), restart_delay='"30s"'),
        '{ name = "pool"; strategy = "simple_one_for_one"; instances = 2; '
        'max_children = 5; template = { exec = [ "/bin/sleep", "1000" ]; '
        '}; }',
        # Last: not ready until the test says so, and the start (exits
        # with it) waits for it.
        supervisor("grp", [service("waiter", sh(
            f"while [ ! -e {go} ]; do sleep 0.02; done; "
            "systemd-notify --ready; exec sleep 1000"), ready='"notify"')],
            strategy='"rest_for_one"'),
    ])


def test_status_reply_has_jansson_compact_bytes(arbord, tmp_path):
    """A hand-written JSON writer could drift from jansson's form (a blank,
    a member out of order, an escape written otherwise): the reply must
    be its own compact form, members in their historical order, and the
    STATUS= text must come back as it was sent."""
    a = arbord(varied_tree(tmp_path))
    a.wait_event("start", "grp/waiter")
    wait_until(lambda: a.socket.exists(), what="the control socket")
    raw = raw_status(a.socket).decode("utf-8")
    assert raw == compact(raw)
    waiter = status_by_path(a.socket)["grp/waiter"]
    assert (waiter["state"], waiter["waiting"], waiter["ready"]) == \
        ("starting", "ready", False)
    (tmp_path / "go").touch()
    a.wait_event("ready", "grp/waiter")
    os.kill(a.pid_of("killed"), signal.SIGKILL)
    a.wait_event("start", "killed", count=2)
    a.wait_event("start", "crash", count=2)

    def shaped():
        n = status_by_path(a.socket)
        return ("status" in n["notes"] and "restart_in_ms" in n["later"]
                and "last_exit" in n["crash"])
    wait_until(shaped, what="every node in its shape")

    raw = raw_status(a.socket).decode("utf-8")
    assert raw == compact(raw)
    assert raw.startswith('{"parameters":{"nodes":[{"path":"/",')
    nodes = {n["path"]: n for n in json.loads(raw)["parameters"]["nodes"]}
    for n in nodes.values():
        assert in_order(n, NODE_ORDER), n
        if "last_exit" in n:
            assert in_order(n["last_exit"], EXIT_ORDER), n
    assert nodes["notes"]["status"] == STATUS_TEXT
    assert (nodes["notes"]["errno"], nodes["notes"]["error"]) == \
        (2, os.strerror(2))
    assert nodes["crash"]["last_exit"]["code"] == 7
    assert nodes["killed"]["last_exit"]["signal"] == "KILL"
    assert nodes["later"]["state"] == "restarting"
    assert (nodes["pool"]["pool"], nodes["pool"]["instances"],
            nodes["pool"]["max_children"]) == (True, 2, 5)

    # A subtree is the same nodes, from its top, and nothing else.
    sub = json.loads(raw_status(a.socket, {"path": "grp"}))
    assert [n["path"] for n in sub["parameters"]["nodes"]] == \
        ["grp", "grp/waiter"]


def test_arborctl_json_prints_the_parameters_as_sent(arbord, tmp_path):
    """arborctl status --json prints the reply's parameters as they came
    rather than dumping them again: it must be the same text, one line."""
    a = arbord(varied_tree(tmp_path))
    a.wait_event("start", "grp/waiter")
    wait_until(lambda: a.socket.exists(), what="the control socket")
    wait_until(lambda: "status" in status_by_path(a.socket)["notes"],
               what="STATUS= heard")
    out = subprocess.run([ARBORCTL, "--socket", str(a.socket), "status",
                          "--json"], capture_output=True, timeout=10)
    assert out.returncode == 0, out.stderr
    text = out.stdout.decode("utf-8")
    assert text.endswith("\n") and text.count("\n") == 1
    assert text[:-1] == compact(text)
    nodes = json.loads(text)["nodes"]
    assert nodes[0]["path"] == "/" and len(nodes) == 10
    assert [n for n in nodes if n["path"] == "notes"][0]["status"] == \
        STATUS_TEXT


def test_status_with_stats_has_jansson_compact_bytes(arbord, tmp_path):
    """Stats and containment are written by hand too: with stats every
    node has them last, members in the protocol's order, the reply still
    its own compact form; without, no node has stats, and containment is
    in both."""
    a = arbord(varied_tree(tmp_path))
    a.wait_event("start", "grp/waiter")
    wait_until(lambda: a.socket.exists(), what="the control socket")
    (tmp_path / "go").touch()
    a.wait_event("ready", "grp/waiter")
    raw = raw_status(a.socket, {"stats": True}).decode("utf-8")
    assert raw == compact(raw)
    params = json.loads(raw)["parameters"]
    assert list(params) == ["nodes", "containment"]
    assert in_order(params["containment"], CONTAINMENT_ORDER)
    assert params["containment"]["mode"] in ("cgroup2", "process-group")
    for n in params["nodes"]:
        assert in_order(n, NODE_ORDER), n
        assert list(n)[-1] == "stats", n
        assert in_order(n["stats"], STATS_ORDER), n
    plain = json.loads(raw_status(a.socket, {"stats": False}))
    assert not any("stats" in n for n in plain["parameters"]["nodes"])
    assert plain["parameters"]["containment"] == params["containment"]
