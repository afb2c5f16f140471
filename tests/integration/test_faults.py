"""arbord when its core fails: out of memory, or an event queue that
overflows (issue 11, bug 3). Both used to abort(), which as PID 1 panics
the kernel and anywhere orphans the tree.

The failures are injected by arbord-faults, arbord built with
daemon/faults.c's test hooks (ARBOR_FAULT_* in its environment); the
arbord that is installed reads none of them. As PID 1 the same failure is
tested in test_pid1.py.
"""

import os
import signal

from conftest import FAULTS_ARBORD, SLEEPER, pid_alive, service, tree, \
    wait_until
from ctlclient import SUP, try_call


def faulty(arbord, config, **faults):
    """arbord-faults on config, with the given ARBOR_FAULT_* variables."""
    return arbord(config, env=faults, arbord=FAULTS_ARBORD)


def assert_core_lost_and_exit_1(a, error):
    """arbord said once that its core is lost, for error, and exited 1
    (an abort() would be -SIGABRT)."""
    code = a.wait_exit()
    print("arbord's stderr:", a.lines)
    assert code == 1
    assert [(e["error"], e["count"]) for e in a.find("core_lost")] == \
        [(error, "1")]


def zombie(pid):
    with open(f"/proc/{pid}/stat") as f:
        return f.read().rsplit(")", 1)[1].split()[0] == "Z"


def test_core_out_of_memory_exits_instead_of_aborting(arbord):
    """Bug: the core's first allocation at boot fails; arbord aborted.
    It says so, counted, and exits with status 1."""
    a = faulty(arbord, tree([service("a", SLEEPER)]),
               ARBOR_FAULT_CORE_ALLOC="1")
    assert_core_lost_and_exit_1(a, "out of memory in the core")
    assert not a.find("start")


def test_event_queue_overflow_grows_and_is_counted(arbord):
    """Bug: an event queue that overflowed aborted arbord. With queues of
    no room at all every first push overflows: each grows, the line
    event=internal_error counts it, and the tree runs as ever: a killed
    service restarts and SIGTERM stops everything with status 0."""
    a = faulty(arbord,
               tree([service("a", SLEEPER), service("b", SLEEPER)]),
               ARBOR_FAULT_QUEUE_CAP="0")
    a.wait_event("start", "b")
    os.kill(a.pid_of("a"), signal.SIGKILL)
    a.wait_event("start", "a", count=2)
    assert a.stop() == 0
    errors = a.find("internal_error")
    print("internal errors:", errors)
    assert errors and all(e["error"] == "event queue full: grown"
                          for e in errors)
    assert [int(e["count"]) for e in errors] == \
        list(range(1, len(errors) + 1))
    assert a.trace()[-3:] == ["stop b", "stop a", "down"]


def reap_together(a, pids):
    """Kills services while arbord is stopped, so that they are all dead
    when it runs again: their SIGCHLDs coalesce into one, which names one
    of them; the reaper's sweep then reaps the others together
    (daemon/reaper.h), two deaths in one go from three."""
    a.signal(signal.SIGSTOP)
    try:
        for pid in pids:
            os.kill(pid, signal.SIGKILL)
        wait_until(lambda: all(zombie(p) for p in pids),
                   what="all dead, not reaped")
    finally:
        a.signal(signal.SIGCONT)


def test_queue_that_cannot_grow_stops_the_services_and_exits(arbord):
    """Bug: the same overflow when memory has run out. Deaths reaped
    together overflow a queue of one that cannot grow: the core is lost,
    and arbord stops the service still running, without the core, then
    exits with status 1 instead of aborting."""
    a = faulty(arbord,
               tree([service("a", SLEEPER), service("b", SLEEPER),
                     service("x", SLEEPER), service("c", SLEEPER)]),
               ARBOR_FAULT_QUEUE_CAP="1", ARBOR_FAULT_QUEUE_GROW="0")
    a.wait_event("start", "c")
    c = a.pid_of("c")
    reap_together(a, [a.pid_of(s) for s in ("a", "b", "x")])
    assert_core_lost_and_exit_1(a, "out of memory for the event queue")
    assert not pid_alive(c)


def lose_the_core_beside_a_deaf_service(arbord, tmp_path):
    """arbord-faults with services a, b, x and deaf (which ignores
    SIGTERM); a, b and x die together and overflow a queue that cannot grow, so the
    core is lost while deaf still runs."""
    a = faulty(arbord,
               tree([service("a", SLEEPER), service("b", SLEEPER),
                     service("x", SLEEPER),
                     service("deaf", ["/bin/sh", "-c",
                                      "trap '' TERM; echo deaf > armed; "
                                      "while :; do sleep 1; done"])]),
               ARBOR_FAULT_QUEUE_CAP="1", ARBOR_FAULT_QUEUE_GROW="0")
    a.wait_event("start", "deaf")
    wait_until(lambda: (tmp_path / "armed").exists(), what="the trap")
    reap_together(a, [a.pid_of(s) for s in ("a", "b", "x")])
    return a


def test_core_lost_kills_a_service_that_ignores_sigterm(arbord, tmp_path):
    """After the core is lost, a service that ignores SIGTERM is killed
    once ARB_SHUTDOWN_TERM_MS (5 s) have passed, and arbord exits 1: it
    leaves nothing running behind it."""
    a = lose_the_core_beside_a_deaf_service(arbord, tmp_path)
    deaf = a.pid_of("deaf")
    assert_core_lost_and_exit_1(a, "out of memory for the event queue")
    wait_until(lambda: not pid_alive(deaf), what="deaf killed")


def test_a_request_after_the_core_is_lost_is_answered(arbord, tmp_path):
    """Bug: once the core was lost, a Stop went unanswered (the client
    waited for its own timeout). It is refused at once with ShuttingDown,
    as after the root's end, while arbord waits for a service that
    ignores SIGTERM."""
    a = lose_the_core_beside_a_deaf_service(arbord, tmp_path)
    a.wait_event("core_lost")
    assert try_call(a.socket, SUP + "Stop", {"path": "deaf"},
                    timeout=2.0)[0] == SUP + "ShuttingDown"
    assert_core_lost_and_exit_1(a, "out of memory for the event queue")
