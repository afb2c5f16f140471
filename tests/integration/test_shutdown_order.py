"""A supervisor's shutdown order (issue 14, item 3), with real processes.

shutdown = "ordered" (the default, OTP's T1): one child at a time in reverse
start order, each dead before the next gets its SIGTERM. shutdown =
"parallel" (arbor's deviation): every running child gets its SIGTERM before
any of them is dead. Each service here notes when its SIGTERM came and when
it exits (a trap that waits 0.3 or 1 s first), in files of the test's directory;
the event log's `event=stop` order says the rest.
"""

import json
import os
import signal
import subprocess
import time

from conftest import REPO, SLEEPER, SLOW, service, supervisor, tree, \
    wait_until

ARBORCTL = os.path.join(REPO, "ctl", "arborctl")
DELAY_S = 0.3


def noting(dir, name, delay_s=DELAY_S):
    """A service that writes DIR/NAME.term (ns) at SIGTERM, waits delay_s,
    writes DIR/NAME.exit and exits 0. DIR/NAME.trap: the trap is set."""
    script = (f'trap \'date +%s%N > "{dir}/{name}.term"; sleep {delay_s}; '
              f'date +%s%N > "{dir}/{name}.exit"; exit 0\' TERM; '
              f': > "{dir}/{name}.trap"; sleep 1000 & wait')
    return service(name, ["/bin/sh", "-c", script])


def stamps(dir, names, what):
    return [int((dir / f"{n}.{what}").read_text()) for n in names]


def start(arbord, config, dir, names):
    """arbord on config, once every noting service has set its trap (a
    SIGTERM before would kill the shell before it notes anything)."""
    a = arbord(config)
    wait_until(lambda: all((dir / f"{n}.trap").exists() for n in names),
               what="every service's trap")
    wait_until(lambda: a.socket.exists(), what="the control socket")
    return a


def test_ordered_shutdown_is_one_at_a_time_in_reverse(arbord, tmp_path):
    """The default: each child gets its SIGTERM only once the one started
    after it has exited, and the stops come in reverse start order."""
    names = [f"s{i}" for i in range(5)]
    a = start(arbord, tree([noting(tmp_path, n) for n in names]), tmp_path,
              names)
    t0 = time.monotonic()
    assert a.stop() == 0
    took = time.monotonic() - t0
    assert [e["path"] for e in a.find("stop")] == names[::-1]
    term, exit_ = stamps(tmp_path, names, "term"), stamps(tmp_path, names,
                                                          "exit")
    for i in range(len(names) - 1):
        # s(i) is signalled only after s(i+1) has exited.
        assert term[i] > exit_[i + 1], (i, term, exit_)
    assert took > len(names) * DELAY_S * 0.9, took


def test_parallel_shutdown_signals_every_child_before_any_exits(
        arbord, tmp_path):
    """shutdown = "parallel" on the root: arbord's SIGTERM reaches all 20
    children before the first of them exits; the stop takes about one
    child's time, not twenty's."""
    names = [f"s{i:02d}" for i in range(20)]
    # Twenty shells note their SIGTERM with a fork each: room for a busy
    # machine before the first exits.
    a = start(arbord, tree([noting(tmp_path, n, 1.0) for n in names],
                           shutdown='"parallel"'), tmp_path, names)
    t0 = time.monotonic()
    assert a.stop() == 0
    took = time.monotonic() - t0
    assert sorted(e["path"] for e in a.find("stop")) == names
    term, exit_ = stamps(tmp_path, names, "term"), stamps(tmp_path, names,
                                                          "exit")
    assert max(term) < min(exit_), (term, exit_)
    assert took < len(names) * 1.0 / 3 * SLOW, took
    assert a.find("down")


def test_parallel_sub_supervisor_stops_its_children_at_once(arbord,
                                                            tmp_path):
    """arborctl stop of a sub-supervisor with shutdown = "parallel": its
    children all get SIGTERM before any exits; its sibling keeps running;
    then the tree's own (ordered) stop goes on in reverse order."""
    names = ["x", "y", "z"]
    sub = supervisor("sub", [noting(tmp_path, n, 1.0) for n in names],
                     shutdown='"parallel"')
    a = start(arbord, tree([service("a", SLEEPER), sub,
                            service("b", SLEEPER)]), tmp_path, names)
    a.wait_event("start", "b")
    env = dict(os.environ, ARBOR_SOCKET=str(a.socket))
    r = subprocess.run([ARBORCTL, "stop", "sub"], capture_output=True,
                       text=True, env=env, timeout=30 * SLOW,
                       stdin=subprocess.DEVNULL)
    assert r.returncode == 0, (r.stdout, r.stderr)
    a.wait_event("stop", "sub")
    paths = [f"sub/{n}" for n in names]
    term, exit_ = stamps(tmp_path, names, "term"), stamps(tmp_path, names,
                                                          "exit")
    assert max(term) < min(exit_), (term, exit_)
    stops = [e["path"] for e in a.find("stop")]
    assert sorted(stops[:3]) == paths and stops[3] == "sub", stops
    assert a.pid_of("a") and not a.find("stop", "a")
    a.signal(signal.SIGTERM)
    assert a.wait_exit() == 0
    assert [e["path"] for e in a.find("stop")][4:] == ["b", "a"]


def test_reload_to_parallel_restarts_nothing_and_the_stop_follows_it(
        arbord, tmp_path):
    """A reload that only changes shutdown (ordered -> parallel) is a change
    in place: no child restarts; arbord's stop then is all at once."""
    names = [f"s{i}" for i in range(5)]
    children = [noting(tmp_path, n, 1.0) for n in names]
    a = start(arbord, tree(children), tmp_path, names)
    a.config.write_text(tree(children, shutdown='"parallel"'))
    env = dict(os.environ, ARBOR_SOCKET=str(a.socket))
    r = subprocess.run([ARBORCTL, "--json", "reload"], capture_output=True,
                       text=True, env=env, timeout=30 * SLOW,
                       stdin=subprocess.DEVNULL)
    assert r.returncode == 0, (r.stdout, r.stderr)
    plan = json.loads(r.stdout)["plan"]
    assert plan["changes"] == 1 and plan["adds"] == plan["removes"] == 0
    assert len(a.find("start")) == len(names) + 1  # the root and each one
    assert a.stop() == 0
    term, exit_ = stamps(tmp_path, names, "term"), stamps(tmp_path, names,
                                                          "exit")
    assert max(term) < min(exit_), (term, exit_)
