"""The descriptor budget and merged log streams (issue 14, item 1): arbord
counts the descriptors its tree needs, raises its soft limit to it, refuses
a tree its hard limit cannot hold, and a service may send both streams
through one pipe so that it costs arbord one descriptor."""

import json
import os
import re
import socket
import subprocess

from conftest import (ARBORD, REPO, SLEEPER, service, supervisor, tree,
                      wait_until)
from test_logs import log_config, logs, parse_native

ARBORCTL = os.path.join(REPO, "ctl", "arborctl")
MERGED = log_config(streams='"merged"')


def fd_count(pid):
    return len(os.listdir(f"/proc/{pid}/fd"))


def nofile(pid):
    """(soft, hard) RLIMIT_NOFILE of pid, from /proc/PID/limits."""
    with open(f"/proc/{pid}/limits") as f:
        for line in f:
            if line.startswith("Max open files"):
                soft, hard = line.split()[3:5]
                return int(soft), int(hard)
    raise AssertionError("no Max open files")


def prlimit(n):
    """A preexec_fn that sets the soft and hard RLIMIT_NOFILE to n."""
    import resource
    return lambda: resource.setrlimit(resource.RLIMIT_NOFILE, (n, n))


def check(tmp_path, config, limit):
    """arbord --check under a descriptor limit of `limit` (soft and hard)."""
    conf = tmp_path / "arbor.conf"
    conf.write_text(config)
    return subprocess.run([ARBORD, "--check", "-c", str(conf)],
                          capture_output=True, text=True, timeout=30,
                          preexec_fn=prlimit(limit))


def sleepers(n, **keys):
    return tree([service(f"s{i}", SLEEPER, **keys) for i in range(n)])


def need_of(out):
    m = re.search(r"^# descriptors: (\d+) needed, limit (\d+)$", out, re.M)
    assert m, out
    return int(m.group(1)), int(m.group(2))


# ---- merged streams ----

def test_merged_streams_keep_both_lines_in_order(arbord):
    """streams = "merged": what the service writes to stdout and stderr
    comes through one pipe, in the order written, each line's stream
    "output" (which of the two wrote it is unknown, and no line says
    stdout when it may be stderr)."""
    script = "echo one; echo two >&2; echo three; echo four >&2"
    a = arbord(tree([service("m", ["/bin/sh", "-c", script],
                             restart='"temporary"', log=MERGED)]))
    a.wait_event("exit", "m")
    mine = wait_until(lambda: (lambda ls: ls if len(ls) == 4 else None)(
        [ln for ln in logs(a.socket) if ln["path"] == "m"]), 5, "4 lines")
    assert [ln["line"] for ln in mine] == ["one", "two", "three", "four"]
    assert {ln["stream"] for ln in mine} == {"output"}
    assert a.stop() == 0


def test_merged_streams_cost_one_descriptor_less_per_service(arbord,
                                                             tmp_path):
    """Per running service arbord holds one descriptor for its logs with
    merged streams and two with separate ones: 20 services differ by 20."""
    counts = {}
    for mode in ("separate", "merged"):
        d = tmp_path / mode
        d.mkdir()
        a = arbord(sleepers(20, log=log_config(streams=f'"{mode}"')),
                   dir=d)
        a.wait_event("start", "s19")
        wait_until(lambda: len({e.get("path") for e in a.find("start")}
                               & {f"s{i}" for i in range(20)}) == 20,
                   5, "20 starts")
        counts[mode] = fd_count(a.proc.pid)
        assert a.stop() == 0
    assert counts["separate"] - counts["merged"] == 20, counts


def test_merged_streams_in_file_and_text_logs(arbord, tmp_path):
    """The file sink and `arborctl logs` name the stream "output"."""
    log = tmp_path / "m.log"
    a = arbord(tree([service("m", ["/bin/sh", "-c", "echo hi >&2"],
                             restart='"temporary"',
                             log=log_config(streams='"merged"',
                                            file=f'"{log}"'))]))
    a.wait_event("exit", "m")
    wait_until(lambda: log.exists() and "hi" in log.read_text(), 5,
               "the file line")
    assert re.search(r" m\[\d+\] output: hi$", log.read_text(), re.M)
    assert a.stop() == 0


def test_merged_streams_to_the_journal_carry_no_priority(arbord, tmp_path):
    """journal: a merged line has ARBOR_STREAM=output and no PRIORITY
    (stdout's info or stderr's err would be a guess)."""
    path = tmp_path / "journal.sock"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(str(path))
    sock.settimeout(5)
    try:
        a = arbord(tree([service(
            "j", ["/bin/sh", "-c", "echo bad >&2"], restart='"temporary"',
            log=log_config(sinks='["journal"]', streams='"merged"'))]),
            env={"ARBOR_JOURNAL_SOCKET": str(path)})
        e = parse_native(sock.recv(65536))
        assert e[b"MESSAGE"] == b"bad"
        assert e[b"ARBOR_STREAM"] == b"output"
        assert b"PRIORITY" not in e
        a.stop()
    finally:
        sock.close()


def test_merged_streams_on_the_console_go_to_stdout(arbord):
    """console: a merged line goes to arbord's stdout, stderr's included
    (documented: the stream is unknown)."""
    a = arbord(tree([service("c", ["/bin/sh", "-c", "echo to-err >&2"],
                             restart='"temporary"',
                             log=log_config(sinks='["console"]',
                                            streams='"merged"'))]))
    a.wait_event("exit", "c")
    assert a.stop() == 0
    assert a.proc.stdout.read().decode().splitlines() == ["c: to-err"]


def test_merged_streams_inherited_from_the_supervisor(tmp_path):
    """A supervisor's streams key is its services' default, and --check
    prints it resolved on each."""
    r = check(tmp_path, tree([supervisor(
        "g", [service("a", SLEEPER)], log=MERGED)]), 4096)
    assert r.returncode == 0, r.stderr
    assert r.stdout.count('streams = "merged";') == 2


# ---- the budget ----

def test_check_prints_the_need_when_it_fits(tmp_path):
    """--check ends its resolved tree with the descriptors the tree needs
    and the hard limit it was checked against; a merged service needs one
    fewer than a separate one."""
    separate, limit = need_of(check(tmp_path, sleepers(10), 4096).stdout)
    merged, _ = need_of(check(tmp_path, sleepers(10, log=MERGED),
                              4096).stdout)
    assert limit == 4096
    assert separate - merged == 10


def test_check_refuses_a_tree_above_the_hard_limit(tmp_path):
    """A tree that needs more descriptors than the hard limit is refused
    by --check, with the numbers and the ways out, exit status 1 as for
    other configuration errors, and nothing on stdout."""
    need, _ = need_of(check(tmp_path, sleepers(50), 4096).stdout)
    r = check(tmp_path, sleepers(50), need - 1)
    assert r.returncode == 1
    assert r.stdout == ""
    assert r.stderr == (f"arbord: 50 services need {need} descriptors; the "
                        f"limit is {need - 1}: set log streams = \"merged\" "
                        "or raise LimitNOFILE\n")
    # The same tree with merged streams fits.
    assert check(tmp_path, sleepers(50, log=MERGED), need - 1).returncode == 0
    # Exactly the need fits.
    assert check(tmp_path, sleepers(50), need).returncode == 0


def test_start_is_refused_before_any_child_runs(arbord, tmp_path):
    """arbord itself refuses the tree with the same message, before it
    starts anything: no start event, exit status 1."""
    need, _ = need_of(check(tmp_path, sleepers(50), 4096).stdout)
    d = tmp_path / "run"
    d.mkdir()
    a = arbord(sleepers(50), dir=d, preexec_fn=prlimit(need - 1))
    assert a.wait_exit() == 1
    assert a.find("start") == []
    assert (f"arbord: 50 services need {need} descriptors; the limit is "
            f"{need - 1}: set log streams = \"merged\" or raise "
            "LimitNOFILE") in a.lines


def test_soft_limit_raised_and_children_get_the_original(arbord, tmp_path):
    """arbord raises its soft limit to the need, within the hard limit;
    a child gets the soft limit arbord was started with (a program using
    select(2) must not see descriptors past 1023), unless it sets its
    own."""
    import resource
    need, _ = need_of(check(tmp_path, sleepers(400), 8192).stdout)
    assert need > 1024
    d = tmp_path / "run"
    d.mkdir()
    a = arbord(tree([service(f"s{i}", SLEEPER) for i in range(398)] + [
        service("own", SLEEPER, rlimits="{ nofile = 2000; }"),
        service("last", SLEEPER)]), dir=d,
        preexec_fn=lambda: resource.setrlimit(resource.RLIMIT_NOFILE,
                                              (1024, 8192)))
    a.wait_event("start", "last", timeout=30)
    soft, hard = nofile(a.proc.pid)
    assert need <= soft <= hard == 8192
    assert nofile(a.pid_of("last")) == (1024, 8192)
    assert nofile(a.pid_of("own")) == (2000, 2000)
    assert a.stop() == 0


def inheriting_arbord(path, limit, inherited):
    """A program that execs arbord with `inherited` descriptors it does
    not know of, under a descriptor limit of `limit`: arbord runs out
    of descriptors with a tree that fits its budget."""
    path.write_text(f"""#!/usr/bin/python3
import os, resource, sys
resource.setrlimit(resource.RLIMIT_NOFILE, ({limit}, {limit}))
fd = os.open("/dev/null", os.O_RDONLY)
for n in range({limit} - {inherited}, {limit}):
    os.dup2(fd, n, inheritable=True)
os.execv({ARBORD!r}, [{ARBORD!r}] + sys.argv[1:])
""")
    path.chmod(0o755)
    return str(path)


def test_emfile_at_a_start_says_so_with_the_numbers(arbord, tmp_path):
    """A start that fails for want of descriptors says so, with how many
    arbord holds of its limit, not just "output pipes: Too many open
    files"."""
    config = sleepers(5, restart='"temporary"')
    need, _ = need_of(check(tmp_path, config, 4096).stdout)
    d = tmp_path / "run"
    d.mkdir()
    # arbord's own take about 20; the services' pipes do not all fit.
    a = arbord(config, dir=d, arbord=inheriting_arbord(
        tmp_path / "wrapper", need, need - 30))
    pattern = re.compile(r"too many open files: arbord holds (\d+) of its "
                         rf"limit of {need} descriptors")
    wait_until(lambda: any(pattern.search(e.get("error", ""))
                           for e in a.snapshot()), 10,
               f"an EMFILE start failure; lines: {a.lines[-10:]}")
    held = [int(pattern.search(e["error"]).group(1))
            for e in a.snapshot() if pattern.search(e.get("error", ""))]
    assert all(need - 10 <= h <= need for h in held), held
    assert any(pattern.search(ln) and "cannot start" in ln
               for ln in a.lines)
    a.stop()


def test_growth_past_the_hard_limit_is_refused(arbord, tmp_path):
    """While it runs, an add, a pool's spawn past what was counted and a
    reload that would need more than the hard limit are refused with the
    same words; what fits is taken."""
    from test_dynamic import ctl_error, ctl_ok
    config = tree([service("a", SLEEPER, log=MERGED),
                   '{ name = "p"; strategy = "simple_one_for_one"; '
                   'template = { exec = [ "/bin/sleep", "1000" ]; '
                   f'log = {MERGED}; }}; }}'])
    need, _ = need_of(check(tmp_path, config, 4096).stdout)
    d = tmp_path / "run"
    d.mkdir()
    limit = need + 1
    a = arbord(config, dir=d, preexec_fn=prlimit(limit))
    a.wait_event("start", "a")
    ctl_ok(a.socket, "spawn", "p")          # one more merged: fits
    a.wait_event("start", "p/1")
    err, params, _ = ctl_error(a.socket, "spawn", "p")
    assert err.endswith("ConfigInvalid"), err
    assert params["message"] == (
        f"3 services need {need + 2} descriptors; the limit is {limit}: "
        "raise LimitNOFILE")
    err, params, _ = ctl_error(
        a.socket, "add", "/", '{ name = "b"; exec = [ "/bin/true" ]; }')
    assert params["message"].startswith(
        f"3 services need {need + 3} descriptors; the limit is {limit}: "
        "set log streams")
    a.config.write_text(config.replace(
        'name = "a";', f'name = "a"; listen = [ "unix:{d}/a.sock" ];', 1))
    err, params, _ = ctl_error(a.socket, "reload")
    assert params["message"] == (
        f"2 services need {need + 2} descriptors; the limit is {limit}: "
        "raise LimitNOFILE"), params
    assert a.stop() == 0


def test_reload_to_merged_restarts_with_one_pipe(arbord, tmp_path):
    """A reload that changes streams restarts the service (its pipes are
    made at a start): after it arbord holds one descriptor less, and the
    new process's lines are "output"."""
    from test_dynamic import ctl_ok
    script = "echo started; exec sleep 1000"
    a = arbord(tree([service("m", ["/bin/sh", "-c", script])]))
    a.wait_event("start", "m")
    wait_until(lambda: [ln["stream"] for ln in logs(a.socket)
                        if ln["path"] == "m"] == ["stdout"], 5, "a line")
    before = fd_count(a.proc.pid)
    a.config.write_text(tree([service("m", ["/bin/sh", "-c", script],
                                      log=MERGED)]))
    ctl_ok(a.socket, "reload")
    a.wait_event("start", "m", count=2)
    wait_until(lambda: [ln["stream"] for ln in logs(a.socket)
                        if ln["path"] == "m"] == ["stdout", "output"], 5,
               "the new process's line")
    assert fd_count(a.proc.pid) == before - 1
    assert a.stop() == 0


def test_merged_pipe_crosses_a_reexec(arbord, tmp_path):
    """A re-exec passes a merged service's one pipe (state/FORMAT.md,
    logs): the same process's lines written after it are still captured,
    as "output", and arbord holds no more descriptors than before."""
    from test_reexec import reexec
    script = "echo one; sleep 0.5; echo two >&2; " \
             "exec sleep 1000"
    a = arbord(tree([service("m", ["/bin/sh", "-c", script], log=MERGED)]))
    a.wait_event("start", "m")
    wait_until(lambda: [ln["line"] for ln in logs(a.socket)
                        if ln["path"] == "m"] == ["one"], 5, "one")
    before = fd_count(a.proc.pid)
    reexec(a)
    wait_until(lambda: [(ln["line"], ln["stream"]) for ln in logs(a.socket)
                        if ln["path"] == "m"] ==
               [("one", "output"), ("two", "output")], 5, "two")
    assert fd_count(a.proc.pid) == before
    assert a.stop() == 0


def test_reload_that_needs_more_descriptors_raises_the_soft_limit(arbord,
                                                                  tmp_path):
    """Bug: a reload that kept the node count but needed more descriptors
    (merged streams made separate: a pipe more per service) passed the
    hard-limit check but left the soft limit where the boot raised it;
    the restarts then failed with EMFILE. The soft limit now follows
    every add and reload that fits."""
    from test_dynamic import ctl_ok
    import resource
    n = 150
    merged = tree([service(f"s{i}", SLEEPER, log=MERGED) for i in range(n)])
    a = arbord(merged, preexec_fn=lambda: resource.setrlimit(
        resource.RLIMIT_NOFILE, (256, 4096)))
    a.wait_event("start", f"s{n - 1}")
    wait_until(lambda: a.socket.exists(), what="the control socket")
    soft_before = nofile(a.proc.pid)[0]
    assert soft_before < 2 * n + 256
    a.config.write_text(sleepers(n))
    ctl_ok(a.socket, "reload")
    for i in range(n):
        a.wait_event("start", f"s{i}", count=2, timeout=20)
    assert not a.find("start_failed")
    assert nofile(a.proc.pid)[0] >= 2 * n + 256 > soft_before
    assert a.stop() == 0
