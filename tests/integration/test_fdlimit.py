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
