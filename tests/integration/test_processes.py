"""What arbord does to and for processes: hygiene, stopping, reaping."""

import os
import signal
import time

from conftest import (SLEEPER, SLOW, pid_alive, service, supervisor, tree,
                      wait_until)


def proc_status(pid):
    with open(f"/proc/{pid}/status") as f:
        return dict(line.rstrip("\n").split(":\t", 1) for line in f
                    if ":\t" in line)


def ignore_and_block_signals():
    """Runs in arbord's process before exec: what a careless parent leaves."""
    signal.signal(signal.SIGUSR1, signal.SIG_IGN)
    signal.signal(signal.SIGPIPE, signal.SIG_IGN)
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGUSR2, signal.SIGTERM})


def wait_signal_disposition(pid, signo, field):
    """Waits until the shell at pid has installed its trap: signo shows in
    /proc/PID/status field SigIgn (ignored) or SigCgt (caught)."""
    wait_until(lambda: int(proc_status(pid)[field], 16) & (1 << (signo - 1)),
               what=f"{field} of {pid} to include signal {signo}")


def test_child_hygiene(arbord):
    """STYLE 10, issue: a child starts with an empty signal mask, no ignored
    signals (not even the ones arbord inherited ignored, nor glibc's
    reserved 32 and 33, which GNU make ignores), only fds 0-2, stdin on
    /dev/null, in its own session and process group."""
    a = arbord(tree([service("c", SLEEPER)]),
               preexec_fn=ignore_and_block_signals)
    pid = int(a.wait_event("start", "c")["pid"])
    status = proc_status(pid)
    assert int(status["SigBlk"], 16) == 0
    assert int(status["SigIgn"], 16) == 0
    # The program may hold a file open for a moment while it starts (sleep
    # reads locale data); a leaked descriptor would stay forever.
    def fds():
        return sorted(int(fd) for fd in os.listdir(f"/proc/{pid}/fd"))
    wait_until(lambda: fds() == [0, 1, 2], timeout=2,
               what=f"only fds 0-2 in the child (has {fds()})")
    assert os.readlink(f"/proc/{pid}/fd/0") == "/dev/null"
    assert os.getsid(pid) == pid and os.getpgid(pid) == pid
    assert int(status["PPid"]) == a.proc.pid
    assert a.stop() == 0  # arbord unblocked the SIGTERM it inherited blocked


def test_env_and_cwd(arbord, tmp_path):
    """env adds to arbord's environment; cwd sets the working directory."""
    out = tmp_path / "out"
    a = arbord(tree([service(
        "c", ["/bin/sh", "-c", f'echo "$GREETING $PWD" > {out}; exec sleep 1000'],
        env='[ "GREETING=hello" ]', cwd='"/tmp"')]))
    a.wait_event("start", "c")
    wait_until(lambda: out.exists() and out.read_text().endswith("\n"),
               what="the child's output")
    assert out.read_text() == "hello /tmp\n"
    assert a.stop() == 0


def test_ignoring_sigterm_is_killed_after_stop_timeout(arbord):
    """M3: a child that ignores its stop signal gets SIGKILL after
    stop_timeout, and the next child in reverse order waits for it."""
    a = arbord(tree([
        service("first", SLEEPER),
        service("stubborn", ["/bin/sh", "-c", "trap '' TERM; while :; do sleep 1; done"],
                stop_timeout='"700ms"')]))
    pid = int(a.wait_event("start", "stubborn")["pid"])
    wait_signal_disposition(pid, signal.SIGTERM, "SigIgn")
    t0 = time.monotonic()
    a.signal(signal.SIGTERM)
    ev = a.wait_event("stop", "stubborn", timeout=5)
    elapsed = time.monotonic() - t0
    assert ev["signal"] == "KILL"
    assert 0.65 <= elapsed < 3.0 * SLOW
    assert a.wait_exit() == 0
    assert a.trace()[-3:] == ["stop stubborn", "stop first", "down"]


def test_stop_signal_is_configurable(arbord):
    """M3: stop_signal replaces SIGTERM."""
    a = arbord(tree([service(
        "c", ["/bin/sh", "-c", "trap 'exit 0' INT; trap '' TERM; while :; do sleep 1; done"],
        stop_signal='"INT"', stop_timeout='"10s"')]))
    pid = int(a.wait_event("start", "c")["pid"])
    wait_signal_disposition(pid, signal.SIGINT, "SigCgt")
    wait_signal_disposition(pid, signal.SIGTERM, "SigIgn")
    assert a.stop() == 0
    assert a.find("stop", "c")[0]["code"] == "0"


def test_grandchildren_do_not_survive_a_stop(arbord, tmp_path):
    """M1: stopping a service stops its whole process group, including
    children it forked and that ignore SIGTERM."""
    pids = tmp_path / "pids"
    a = arbord(tree([service("c", [
        "/bin/sh", "-c",
        f"(trap '' TERM; exec sleep 1000) & echo $! > {pids}; "
        "sleep 1000 & wait"], stop_timeout='"300ms"')]))
    a.wait_event("start", "c")
    wait_until(lambda: pids.exists() and pids.read_text().strip(),
               what="grandchild pid")
    grandchild = int(pids.read_text())
    assert pid_alive(grandchild)
    assert a.stop() == 0
    wait_until(lambda: not pid_alive(grandchild), what="grandchild gone")


def test_group_is_killed_when_the_main_process_dies(arbord, tmp_path):
    """M1, M3: when a service's main process exits, what is left of its
    process group is killed at once, before the restart."""
    pids = tmp_path / "pids"
    a = arbord(tree([service("c", [
        "/bin/sh", "-c", f"sleep 1000 & echo $! >> {pids}; exit 1"],
        restart='"transient"')], intensity=5))
    a.wait_event("exit", "c")
    wait_until(lambda: pids.exists(), what="grandchild pid")
    first = int(pids.read_text().split()[0])
    wait_until(lambda: not pid_alive(first), what="leftover killed")
    a.signal(signal.SIGTERM)
    a.wait_exit()


def test_orphans_are_reaped(arbord, tmp_path):
    """M11: a process that escapes its group with setsid and is orphaned is
    reparented to arbord (a subreaper) and reaped when it exits."""
    pids = tmp_path / "pids"
    a = arbord(tree([service("c", [
        "/bin/sh", "-c",
        f"setsid /bin/sh -c 'echo $$ > {pids}; sleep 0.3' & sleep 1000"])]))
    a.wait_event("start", "c")
    wait_until(lambda: pids.exists() and pids.read_text().strip(),
               what="orphan pid")
    orphan = int(pids.read_text())
    os.kill(a.pid_of("c"), signal.SIGKILL)  # its parent dies: it is orphaned
    a.wait_event("start", "c", count=2)
    # It must disappear entirely: reaped, not left as a zombie.
    wait_until(lambda: not os.path.exists(f"/proc/{orphan}"),
               what="orphan reaped")
    assert a.stop() == 0


def test_sigterm_stops_every_child_in_reverse_order(arbord):
    """T1, M10: SIGTERM to arbord stops the tree in reverse start order,
    sub-supervisors as a whole, and exits 0 leaving no process."""
    sub = supervisor("s", [service("x", SLEEPER), service("y", SLEEPER)])
    a = arbord(tree([service("a", SLEEPER), sub, service("b", SLEEPER)]))
    a.wait_event("start", "b")
    assert a.stop() == 0
    assert a.trace() == ["start /", "start a", "start s", "start s/x",
                         "start s/y", "start b", "stop b", "stop s/y",
                         "stop s/x", "stop s", "stop a", "down"]
    assert not any(pid_alive(p) for p in a.pids)


def test_sigint_stops_cleanly_and_sighup_reloads(arbord):
    """M10: Ctrl-C (SIGINT) stops the tree like SIGTERM; a hangup is the
    operator's reload (issue 12): the tree stays, the service untouched."""
    a = arbord(tree([service("a", SLEEPER)]))
    a.wait_event("start", "a")
    a.signal(signal.SIGHUP)
    reload = a.wait_event("reload")
    assert int(reload["changes"]) == 0 and int(reload["adds"]) == 0
    assert a.find("stop") == []
    a.signal(signal.SIGINT)
    assert a.wait_exit() == 0
    assert a.trace()[-2:] == ["stop a", "down"]


def test_thousand_children_start_and_stop(arbord):
    """S1, T1 at scale: 1000 children start in order and stop in reverse,
    and none is left behind."""
    names = [f"c{i:04d}" for i in range(1000)]
    a = arbord(tree([service(n, SLEEPER) for n in names]))
    a.wait_event("start", names[-1], timeout=30)
    starts = [e["path"] for e in a.find("start") if e["path"] != "/"]
    assert starts == names
    assert len(a.pids) == 1000
    assert a.stop() == 0
    stops = [e["path"] for e in a.find("stop")]
    assert stops == names[::-1]
    assert not any(pid_alive(p) for p in a.pids)


def close_stdin_stdout():
    os.close(0)
    os.close(1)


def test_closed_standard_fds_are_filled(arbord):
    """An arbord started with stdin and stdout closed fills them with
    /dev/null first, so its own descriptors cannot take those numbers and
    be handed to children as their stdin or stdout."""
    a = arbord(tree([service("c", SLEEPER)]), preexec_fn=close_stdin_stdout)
    pid = int(a.wait_event("start", "c")["pid"])
    for fd in (0, 1):
        assert os.readlink(f"/proc/{a.proc.pid}/fd/{fd}") == "/dev/null"
    assert os.readlink(f"/proc/{pid}/fd/0") == "/dev/null"
    # Its stdout is its log pipe, whose other end arbord holds.
    out = os.readlink(f"/proc/{pid}/fd/1")
    assert out.startswith("pipe:")
    held = {os.readlink(f"/proc/{a.proc.pid}/fd/{fd}")
            for fd in os.listdir(f"/proc/{a.proc.pid}/fd")}
    assert out in held
    assert a.stop() == 0


def test_the_longest_paths_fit_in_events(arbord):
    """Events carry whole paths, even at the deepest nesting with the
    longest names the configuration allows."""
    names = [chr(ord("a") + i % 26) * 64 for i in range(31)]
    node = service(names[-1], SLEEPER)
    for name in reversed(names[:-1]):
        node = supervisor(name, [node])
    a = arbord(tree([node]))
    path = "/".join(names)
    assert int(a.wait_event("start", path)["pid"]) > 0
    assert a.stop() == 0
    assert a.find("stop", path)


def test_deaths_at_once_are_all_seen(arbord):
    """SIGCHLDs of deaths that come together coalesce into one: the reaper
    still finds every dead service (reaper.h's sweep) and each is
    restarted, with no death reported twice."""
    n = 60
    a = arbord(tree([service(f"s{i}", SLEEPER) for i in range(n)],
                    intensity=1000))
    for i in range(n):
        a.wait_event("start", f"s{i}")
    pids = [a.pid_of(f"s{i}") for i in range(n)]
    for pid in pids:
        os.kill(pid, signal.SIGKILL)
    for i in range(n):
        a.wait_event("start", f"s{i}", count=2)
    exits = a.find("exit")
    assert sorted(int(e["pid"]) for e in exits) == sorted(pids)
    assert not any(pid_alive(p) for p in pids)
