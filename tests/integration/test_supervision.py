"""Restart strategies, restart types and escalation, with real processes."""

import os
import signal

from conftest import SLEEPER, pid_alive, service, supervisor, tree


def crash(a, path, sig=signal.SIGKILL):
    """Kills the current process of path from outside."""
    pid = a.pid_of(path)
    os.kill(pid, sig)
    return pid


def test_one_for_one_restarts_only_the_crashed(arbord):
    """ST1: only the crashed child is restarted; siblings keep their pids."""
    a = arbord(tree([service(n, SLEEPER) for n in "abc"]))
    a.wait_event("start", "c")
    before = {p: a.pid_of(p) for p in "ac"}
    old = crash(a, "b")
    a.wait_event("start", "b", count=2)
    exit_ev = a.find("exit", "b")[0]
    assert exit_ev["pid"] == str(old)
    assert exit_ev["signal"] == "KILL" and exit_ev["reason"] == "crash"
    assert {p: a.pid_of(p) for p in "ac"} == before
    assert a.stop() == 0
    assert a.trace()[-4:] == ["stop c", "stop b", "stop a", "down"]


def test_one_for_all_restarts_everyone(arbord):
    """ST2: all others are stopped in reverse order, then all restart."""
    a = arbord(tree([service(n, SLEEPER) for n in "abc"],
                    strategy="one_for_all"))
    a.wait_event("start", "c")
    crash(a, "b")
    a.wait_event("start", "c", count=2)
    assert a.trace()[4:] == ["exit b crash", "stop c", "stop a",
                             "start a", "start b", "start c"]
    assert a.stop() == 0


def test_rest_for_one_restarts_the_rest(arbord):
    """ST3: the children after the crashed one restart; those before don't."""
    a = arbord(tree([service(n, SLEEPER) for n in "abcd"],
                    strategy="rest_for_one"))
    a.wait_event("start", "d")
    a_pid = a.pid_of("a")
    crash(a, "b")
    a.wait_event("start", "d", count=2)
    assert a.trace()[5:] == ["exit b crash", "stop d", "stop c",
                             "start b", "start c", "start d"]
    assert a.pid_of("a") == a_pid and pid_alive(a_pid)
    assert a.stop() == 0


def test_escalation_through_two_levels(arbord):
    """E1, E2, I9: a sub-supervisor gives up, is restarted, gives up again,
    and the root then exceeds its own intensity and exits 1 (M10)."""
    # Periods of an hour: under sanitizers on a loaded host the four
    # crashes may take longer than 5 s, and a restart that leaves the
    # period no longer counts towards the intensity.
    sub = supervisor("s", [service("x", SLEEPER), service("y", SLEEPER)],
                     intensity=1, period='"1h"')
    a = arbord(tree([service("a", SLEEPER), sub, service("b", SLEEPER)],
                    intensity=1, period='"1h"'))
    a.wait_event("start", "b")
    for n in range(1, 5):
        crash(a, "s/x")
        if n < 4:
            a.wait_event("start", "s/x", count=n + 1)
        if n == 2:
            # s starts x, then y: a crash of x before y's start would be
            # reported before it (and handled after it, as OTP's init does)
            a.wait_event("start", "s/y", count=2)
    assert a.wait_exit() == 1
    assert a.trace()[6:] == [
        "exit s/x crash", "start s/x", "exit s/x crash",
        "giveup s", "stop s/y", "start s", "start s/x", "start s/y",
        "exit s/x crash", "start s/x", "exit s/x crash",
        "giveup s", "stop s/y", "giveup /", "stop b", "stop a", "down"]
    assert not any(pid_alive(p) for p in a.pids)


def test_restart_types_and_exit_reasons(arbord, tmp_path):
    """X2, M2: exit 0 and normal_exit codes are normal, a SIGTERM that arbord
    did not send is shutdown; transient children stay down after both,
    permanent ones come back, temporary ones never do."""
    sh = ["/bin/sh", "-c", 'read c < "$0"; exit "$c"']
    fifos = {}
    children = []
    for name, restart in [("p", "permanent"), ("t", "transient"),
                          ("n", "transient"), ("tmp", "temporary")]:
        fifos[name] = tmp_path / f"{name}.fifo"
        os.mkfifo(fifos[name])
        children.append(service(name, sh + [str(fifos[name])],
                                restart=f'"{restart}"',
                                normal_exit="[ 3 ]"))
    a = arbord(tree(children, intensity=10))
    a.wait_event("start", "tmp")

    def say(name, text):
        with open(fifos[name], "w") as f:
            f.write(text)

    say("p", "0\n")
    a.wait_event("start", "p", count=2)
    say("n", "3\n")
    a.wait_event("exit", "n")
    os.kill(a.pid_of("t"), signal.SIGTERM)
    a.wait_event("exit", "t")
    say("tmp", "1\n")
    a.wait_event("exit", "tmp")
    exits = {e["path"]: (e["reason"], e.get("code", e.get("signal")))
             for e in a.find("exit")}
    assert exits == {"p": ("normal", "0"), "n": ("normal", "3"),
                     "t": ("shutdown", "TERM"), "tmp": ("crash", "1")}
    assert len(a.find("start", "t")) == 1
    assert len(a.find("start", "n")) == 1
    assert len(a.find("start", "tmp")) == 1
    assert a.stop() == 0
    assert a.trace()[-2:] == ["stop p", "down"]


def test_transient_crash_is_restarted(arbord):
    """X2: a transient child that crashes is restarted."""
    a = arbord(tree([service("t", ["/bin/sh", "-c", "sleep 1000; exit 1"],
                             restart='"transient"')]))
    a.wait_event("start", "t")
    crash(a, "t", signal.SIGKILL)
    a.wait_event("start", "t", count=2)
    assert a.stop() == 0


def test_root_gives_up_and_exits_1(arbord):
    """I2, M10: a child that keeps crashing makes the root give up; arbord
    stops the others in reverse order and exits 1."""
    a = arbord(tree([service("a", SLEEPER),
                     service("loop", ["/bin/sh", "-c", "exit 7"]),
                     service("c", SLEEPER)], intensity=3))
    assert a.wait_exit() == 1
    trace = a.trace()
    assert trace.count("exit loop crash") == 4
    assert trace[-4:] == ["giveup /", "stop c", "stop a", "down"]


def test_auto_shutdown_ends_arbord_with_0(arbord):
    """A3, M10: when the significant service ends, the tree shuts down and
    arbord exits 0, the way tini ends with its child."""
    a = arbord(tree([service("side", SLEEPER),
                     service("main", ["/bin/sh", "-c", "exit 0"],
                             restart='"transient"', significant="true")],
                    auto_shutdown='"any_significant"'))
    assert a.wait_exit() == 0
    assert a.trace()[-4:] == ["exit main normal", "shutdown /", "stop side",
                              "down"]
    assert a.find("shutdown", "/")[0]["reason"] == "auto_shutdown"


def test_retry_loop_gives_up_when_exec_keeps_failing(arbord, tmp_path):
    """R1, R2: a restart whose exec fails is retried, every retry counted,
    until the supervisor gives up."""
    script = tmp_path / "svc"
    script.write_text("#!/bin/sh\nexec sleep 1000\n")
    script.chmod(0o755)
    a = arbord(tree([service("s", [str(script)])], intensity=2))
    a.wait_event("start", "s")
    script.chmod(0o644)
    crash(a, "s")
    assert a.wait_exit() == 1
    failed = a.find("start_failed", "s")
    assert len(failed) == 2
    assert failed[0]["error"] == "Permission denied"
    assert a.trace()[-2:] == ["giveup /", "down"]


def test_sigterm_is_heard_during_a_retry_loop(arbord, tmp_path):
    """R3: retries are queued events, so a SIGTERM arriving while a service
    keeps failing to start (its cwd vanished) is handled at once, instead of
    after the whole intensity budget has been burnt in one go, and the
    failed children are reaped as they go."""
    wd = tmp_path / "wd"
    wd.mkdir()
    a = arbord(tree([service("s", SLEEPER, cwd=f'"{wd}"')],
                    intensity=100000, period='"1h"'))
    a.wait_event("start", "s")
    wd.rmdir()
    crash(a, "s")
    a.wait_event("start_failed", "s", count=3)
    a.signal(signal.SIGTERM)
    assert a.wait_exit(timeout=5) == 0
    assert a.trace()[-1] == "down"
    assert not a.find("giveup")
