"""Which processes a signal to a service reaches (SEMANTICS.md M1, M3, M12):
its groups as they are when it is signalled, never a group number kept after
the process that gave it is gone.

The reuse tests run arbord in a pid namespace of its own (test_pid1.py's
fixture), where /proc/sys/kernel/ns_last_pid, written from inside through
nsenter, makes the kernel hand a freed number to the next process: the
number of a service's first process, after that process is gone, goes to
another service.
"""

import os
import subprocess

import pytest

from conftest import SLEEPER, pid_alive, service, tree, wait_until
from ctlclient import SUP, call, status
from test_pid1 import _can_unshare, ctl, pidns  # noqa: F401 (a fixture)
from test_reexec import reexec

needs_pidns = pytest.mark.skipif(not _can_unshare(),
                                 reason="needs root and unshare --pid")


def sh(script):
    return ["/bin/sh", "-c", script]


def node(a, path):
    return next(n for n in status(str(a.socket)) if n["path"] == path)


def in_namespace(a, script):
    """Runs script with sh inside arbord's pid namespace (one new pid)."""
    r = subprocess.run(["nsenter", "-t", str(a.host_pid()), "--pid", "--",
                        "/bin/sh", "-c", script],
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, r.stderr


def ns_proc(a, pid):
    """/proc/PID of the namespace's pid PID, seen from here."""
    return f"/proc/{a.host_pid()}/root/proc/{pid}"


def ns_alive(a, pid):
    try:
        with open(ns_proc(a, pid) + "/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def open_for_writing(fifo):
    """A descriptor on fifo once a reader has it open, else None."""
    try:
        return os.open(fifo, os.O_WRONLY | os.O_NONBLOCK)
    except OSError:
        return None


def assert_b_untouched_once_a_is_back(a, b_pid):
    """Once a is ready again (a kill of b would be reaped by then), b has
    not died and still runs as b_pid; then arbord stops cleanly."""
    a.wait_event("ready", "a", count=2)
    exits_of_b = [line for line in a.lines
                  if line.startswith("event=exit path=b ")]
    assert not exits_of_b, exits_of_b
    assert node(a, "b")["pid"] == b_pid
    assert ns_alive(a, b_pid)
    assert a.stop() == 0


# A daemon that leaves its launcher's session: the launcher's group, which
# held only the launcher, is empty once the launcher exits.
DAEMON = sh("setsid /bin/sleep 1000 & "
            "systemd-notify --ready MAINPID=$!; exit 0")


def start_a_and_b_and_hand_a_over(pidns, b, **b_keys):  # noqa: F811
    """a's launcher hands over to a daemon in a session of its own and
    exits (its group is then empty); b runs. Returns (arbord, the
    launcher's pid, the daemon's pid), namespace pids."""
    a = pidns(tree([service("a", DAEMON, ready='"notify"'),
                    service("b", b, **b_keys)]))
    # Ready: a restart is refused while b is still starting.
    a.wait_event("ready" if "ready" in b_keys else "start", "b")
    wait_until(lambda: a.socket.exists(), what="the control socket")
    launcher = a.pid_of("a")
    daemon = wait_until(lambda: node(a, "a").get("pid") != launcher
                        and node(a, "a").get("pid"), what="MAINPID=")
    wait_until(lambda: not os.path.exists(ns_proc(a, launcher)),
               what="a's launcher reaped")
    return a, launcher, daemon


def hand_a_over_and_give_its_number_to_b(pidns, b=SLEEPER, **b_keys):  # noqa: F811
    """start_a_and_b_and_hand_a_over, then b is restarted with the
    launcher's freed number."""
    a, launcher, daemon = start_a_and_b_and_hand_a_over(pidns, b, **b_keys)
    in_namespace(a, f"echo {launcher - 1} > /proc/sys/kernel/ns_last_pid")
    r = ctl(a.socket, "restart", "b")
    assert r.returncode == 0, r.stderr
    a.wait_event("ready" if "ready" in b_keys else "start", "b", count=2)
    assert a.pid_of("b") == launcher, "the namespace did not reuse the pid"
    return a, launcher, daemon


@needs_pidns
def test_a_services_death_spares_the_group_that_took_its_number(pidns):  # noqa: F811
    """Issue 11 bug 1: after MAINPID= moved a service's main process out of
    its launcher's group and the launcher exited, the launcher's pid went
    to b; a's death then SIGKILLed b's group through the number arbord had
    kept (event=exit path=b signal=KILL)."""
    a, b_pid, daemon = hand_a_over_and_give_its_number_to_b(pidns)
    in_namespace(a, f"kill -KILL {daemon}")
    died = a.wait_event("exit", "a")
    assert died["pid"] == str(daemon)
    assert_b_untouched_once_a_is_back(a, b_pid)


@needs_pidns
def test_a_stop_spares_the_group_that_took_its_number(pidns):  # noqa: F811
    """Issue 11 bug 1: stopping a (stop signal, then SIGKILL for what is
    left) reaches a's daemon and nothing of b, whose launcher has the
    number of a's first process."""
    a, b_pid, daemon = hand_a_over_and_give_its_number_to_b(pidns)
    r = ctl(a.socket, "stop", "a")
    assert r.returncode == 0, r.stderr
    stopped = a.wait_event("stop", "a")
    assert stopped["pid"] == str(daemon)
    r = ctl(a.socket, "start", "a")
    assert r.returncode == 0, r.stderr
    assert_b_untouched_once_a_is_back(a, b_pid)


@needs_pidns
def test_a_services_death_leaves_the_new_owner_of_its_number_heard(
        pidns, tmp_path):  # noqa: F811
    """Issue 11 bug 1: a's death also forgot which service the group of
    a's first process belongs to, though b owned that number by then: b's
    shell, speaking through systemd-notify (not its main process), was no
    longer heard."""
    # b waits without forking: a fork would take the number meant for it.
    go = tmp_path / "go"
    os.mkfifo(go)
    a, b_pid, daemon = hand_a_over_and_give_its_number_to_b(
        pidns, sh(f"systemd-notify --ready; read x < {go}; "
                  # A subshell: systemd-notify, run by root, gives its
                  # parent's pid, which would be b's main process.
                  "(systemd-notify --status=heard; true); "
                  "exec sleep 1000"),
        ready='"notify"')
    in_namespace(a, f"kill -KILL {daemon}")
    a.wait_event("exit", "a")
    a.wait_event("ready", "a", count=2)
    fd = wait_until(lambda: open_for_writing(go), what="b reading the fifo")
    os.write(fd, b"go\n")
    os.close(fd)
    wait_until(lambda: node(a, "b").get("status") == "heard",
               what="b's STATUS= heard")
    assert node(a, "b")["pid"] == b_pid
    assert a.stop() == 0


@needs_pidns
def test_a_group_that_took_a_services_number_does_not_speak_for_it(
        pidns, tmp_path):  # noqa: F811
    """Issue 11 bug 1, the same number on the notify socket: a notify
    sender in a's first group speaks for a. Once that group was empty and
    its number went to another process's new group, arbord still placed
    that group's senders by the number it kept: an impostor set a's
    STATUS=."""
    go = tmp_path / "go"
    os.mkfifo(go)
    a, launcher, daemon = start_a_and_b_and_hand_a_over(
        pidns, sh(f"systemd-notify --ready; read x < {go}; "
                  "(systemd-notify --status=b; true); exec sleep 1000"),
        ready='"notify"')
    with open(ns_proc(a, daemon) + "/environ", "rb") as f:
        notify = dict(v.split(b"=", 1) for v in f.read().split(b"\0")
                      if b"=" in v)[b"NOTIFY_SOCKET"].decode()
    # The forked setsid gets a's first number and leads a new group of
    # it; systemd-notify, run by root, names its parent (the subshell,
    # in that group) as the sender.
    impostor = tmp_path / "impostor.pid"
    in_namespace(a, f"echo {launcher - 1} > /proc/sys/kernel/ns_last_pid; "
                 f"NOTIFY_SOCKET={notify} setsid /bin/sh -c "
                 f"'echo $$ > {impostor}; "
                 "(systemd-notify --status=impostor; true)'")
    assert int(impostor.read_text()) == launcher
    # The notify socket keeps the order of its messages: once b's, sent
    # after, is heard, the impostor's has been read.
    fd = wait_until(lambda: open_for_writing(go), what="b reading the fifo")
    os.write(fd, b"go\n")
    os.close(fd)
    wait_until(lambda: node(a, "b").get("status") == "b",
               what="b's STATUS= heard")
    assert node(a, "a").get("status") is None
    assert a.stop() == 0


def test_kill_reaches_a_mainpid_that_is_not_a_group_leader(arbord):
    """Issue 11 bug 2: arborctl kill answered "not running" for a running
    service whose MAINPID= process stayed in its launcher's group: the
    control socket sent the signal to a group that pid does not lead."""
    a = arbord(tree([service("d", sh(
        "/bin/sleep 1000 & systemd-notify --ready MAINPID=$!; exit 0"),
        ready='"notify"', restart='"temporary"')]))
    a.wait_event("ready", "d")
    wait_until(lambda: a.socket.exists(), what="the control socket")
    launcher = a.pid_of("d")
    main = wait_until(lambda: node(a, "d").get("pid") != launcher
                      and node(a, "d").get("pid"), what="MAINPID=")
    try:
        wait_until(lambda: not pid_alive(launcher), what="the launcher gone")
        assert os.getpgid(main) == launcher
        r = ctl(a.socket, "kill", "-s", "USR1", "d")
        assert r.returncode == 0, r.stderr
        died = a.wait_event("exit", "d")
        assert (died["pid"], died["signal"]) == (str(main), "USR1")
        assert a.stop() == 0
    finally:
        # Its group's leader is gone, so the fixture cannot find it.
        if pid_alive(main):
            os.kill(main, 9)


def pidfds(pid):
    """The pids arbord's pidfds name (fdinfo "Pid:"; -1: reaped)."""
    held = []
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            if os.readlink(f"/proc/{pid}/fd/{fd}") != "anon_inode:[pidfd]":
                continue
            with open(f"/proc/{pid}/fdinfo/{fd}") as f:
                info = dict(line.split(":", 1) for line in f if ":" in line)
        except OSError:
            continue  # closed meanwhile
        held.append(int(info["Pid"]))
    return held


@pytest.mark.parametrize("after_reexec", [False, True])
def test_a_running_service_costs_no_pidfd(arbord, after_reexec):
    """Issue 14: arbord held a pidfd of every running service's first
    process (three descriptors a service, with its two log pipes). While
    arbord has not reaped its child, the child's number and the group it
    leads are its own: they are signalled by number, and no pidfd is
    held; nor after a re-exec (the same process, still their parent)."""
    n = 40
    a = arbord(tree([service(f"s{i}", SLEEPER) for i in range(n)]))
    for i in range(n):
        a.wait_event("start", f"s{i}")
    if after_reexec:
        wait_until(lambda: a.socket.exists(), what="the control socket")
        reexec(a)
        a.wait_event("resumed")
    fds = os.listdir(f"/proc/{a.proc.pid}/fd")
    assert pidfds(a.proc.pid) == []
    pipes = [fd for fd in fds if os.readlink(
        f"/proc/{a.proc.pid}/fd/{fd}").startswith("pipe:")]
    # Two log pipes a service (until merged streams), and arbord's own
    # (its stdout and stderr, sockets, the loop's) whatever n is.
    assert len(pipes) <= 2 * n + 4, len(pipes)
    assert len(fds) <= 2 * n + 24, fds
    # Signalled by number: a stop reaches every one of them.
    pids = [a.pid_of(f"s{i}") for i in range(n)]
    assert a.stop() == 0
    assert not [p for p in pids if pid_alive(p)]


@pytest.mark.parametrize("after_reexec", [False, True])
def test_a_stop_reaches_a_group_whose_leader_is_gone(arbord, tmp_path,
                                                      after_reexec):
    """M1, M3: a service's first process hands over to a daemon
    (MAINPID=) and exits, leaving a member of its group behind that
    ignores SIGTERM. Held by number while it ran, the first process is
    held by a pidfd of its zombie from its reap on, while its group has
    anyone left: other processes are spawned and reaped meanwhile, and the
    stop's SIGKILL still reaches the member, by identity; then the group is
    empty and the pidfd is let go."""
    member_file = tmp_path / "member.pid"
    a = arbord(tree([
        service("g", sh(f"trap '' TERM; sleep 1000 & echo $! > {member_file}; "
                        "trap - TERM; setsid /bin/sleep 1000 & "
                        "systemd-notify --ready MAINPID=$!; exit 0"),
                ready='"notify"'),
        service("churn", sh("exit 0"), restart='"transient"'),
    ]))
    a.wait_event("ready", "g")
    wait_until(lambda: a.socket.exists(), what="the control socket")
    launcher = a.pid_of("g")
    member = int(wait_until(lambda: member_file.exists()
                            and member_file.read_text().strip(),
                            what="the member's pid"))
    daemon = wait_until(lambda: node(a, "g").get("pid") != launcher
                        and node(a, "g").get("pid"), what="MAINPID=")
    try:
        wait_until(lambda: not os.path.exists(f"/proc/{launcher}"),
                   what="the launcher reaped")
        assert os.getpgid(member) == launcher
        # The daemon's own pidfd, and the group's of the reaped launcher.
        wait_until(lambda: sorted(pidfds(a.proc.pid)) == sorted(
            [daemon, -1]), what="a pidfd of the reaped launcher's group")
        a.wait_event("exit", "churn")  # its start with the tree's
        for i in range(30):
            r = ctl(a.socket, "start", "churn")
            assert r.returncode == 0, r.stderr
            a.wait_event("exit", "churn", count=i + 2)
        assert sorted(pidfds(a.proc.pid)) == sorted([daemon, -1])
        if after_reexec:  # both passed to the new image
            reexec(a)
            a.wait_event("resumed")
            assert sorted(pidfds(a.proc.pid)) == sorted([daemon, -1])
        r = ctl(a.socket, "stop", "g")
        assert r.returncode == 0, r.stderr
        a.wait_event("stop", "g")
        wait_until(lambda: not pid_alive(member), what="the member killed")
        # Left: the daemon's own (reaped too), kept until the next spawn.
        wait_until(lambda: pidfds(a.proc.pid) == [-1],
                   what="the empty group's pidfd let go")
        assert a.stop() == 0
    finally:
        for pid in (member, daemon):
            if pid_alive(pid):
                os.kill(pid, 9)
