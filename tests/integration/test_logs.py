"""Logs: every line a service writes is captured, kept and shown, across
crashes and restarts, with real shells and real pipes (issue 5)."""

import json
import re
import os
import selectors
import socket
import statistics
import subprocess
import threading
import time

import pytest

from conftest import (REPO, SLOW, parse_native, rss_kib, service,
                      socket_inodes, supervisor, tree, wait_until, SLEEPER)
from ctlclient import status

ARBORCTL = os.path.join(REPO, "ctl", "arborctl")


def ctl(sock, *args, timeout=30):
    e = dict(os.environ, ARBOR_SOCKET=str(sock))
    return subprocess.run([ARBORCTL, *args], capture_output=True, env=e,
                          timeout=timeout * SLOW, stdin=subprocess.DEVNULL)


def logs(sock, *args):
    """Logs as JSON objects, oldest first (arborctl logs --json -n all)."""
    # arbord may still be setting its socket up (exit status 4).
    r = wait_until(lambda: (lambda r: r if r.returncode != 4 else None)(
        ctl(sock, "logs", "--json", "-n", "all", *args)), 5, "the socket")
    assert r.returncode == 0, r.stderr
    return [json.loads(ln) for ln in r.stdout.decode().splitlines()]


def texts(lines, path, stream="stdout"):
    return [ln["line"] for ln in lines
            if ln["path"] == path and ln["stream"] == stream]


def log_config(**keys):
    return "{ " + " ".join(f"{k} = {v};" for k, v in keys.items()) + " }"


def numbered(count, start=0):
    return [f"line {i}" for i in range(start, start + count)]


def file_lines(path):
    """The texts of a log file's lines (after "TIME PATH[PID] STREAM: ")."""
    out = []
    with open(path, "rb") as f:
        for raw in f.read().split(b"\n")[:-1]:
            out.append(raw.split(b": ", 1)[1].decode())
    return out


def text_of(path):
    """A log file's text, or "" while a rotation has moved it away."""
    try:
        return path.read_text()
    except FileNotFoundError:
        return ""


def test_ten_thousand_lines_then_a_crash(arbord, tmp_path):
    """A child prints 10,000 numbered lines and crashes at once: all are in
    the ring and in the file, in order, none twice, all before the exit
    event, stamped with the child's pid."""
    log = tmp_path / "count.log"
    script = "i=0; while [ $i -lt 10000 ]; do echo line $i; i=$((i+1)); " \
             "done; kill -SEGV $$"
    a = arbord(tree([service("count", ["/bin/sh", "-c", script],
                             restart='"temporary"',
                             log=log_config(file=f'"{log}"',
                                            ring_size='"1M"'))]))
    ev = a.wait_event("exit", "count", timeout=20)
    assert ev["signal"] == "SEGV"
    lines = logs(a.socket)
    assert texts(lines, "count") == numbered(10000)
    pid = int(ev["pid"])
    assert {ln["pid"] for ln in lines if ln["path"] == "count"} == {pid}
    # The death's event line comes after every line the process wrote.
    exit_seq = [ln["seq"] for ln in lines if ln["path"] == "/"
                and "event=exit" in ln["line"]][0]
    assert max(ln["seq"] for ln in lines if ln["path"] == "count") < exit_seq
    assert file_lines(log) == numbered(10000)
    with open(log) as f:
        first = f.readline()
    assert f" count[{pid}] stdout: line 0" in first
    assert a.stop() == 0


def test_lines_around_five_restarts(arbord, tmp_path):
    """Each run prints lines and crashes; after five restarts the lines of
    all six runs are in the ring and the file, each with its run's pid."""
    log = tmp_path / "r.log"
    runs = tmp_path / "runs"
    script = f"n=$(cat {runs} 2>/dev/null || echo 0); n=$((n+1)); " \
             f"echo $n > {runs}; " \
             "for i in 1 2 3; do echo run $$ line $i; done; " \
             "echo oops >&2; [ $n -le 5 ] && exit 7; exec sleep 1000"
    a = arbord(tree([service("r", ["/bin/sh", "-c", script],
                             log=log_config(file=f'"{log}"'))],
                    intensity=10))
    a.wait_event("start", "r", count=6)
    pids = [int(e["pid"]) for e in a.find("start", "r")]
    want = [f"run {p} line {i}" for p in pids for i in (1, 2, 3)]
    wait_until(lambda: texts(logs(a.socket, "r"), "r") == want, 5,
               "the lines of six runs")
    assert texts(logs(a.socket, "r"), "r", "stderr") == ["oops"] * 6
    assert [x for x in file_lines(log) if x.startswith("run")] == want
    assert len(a.find("exit", "r")) == 5
    a.stop()


def test_rotation_loses_and_repeats_nothing(arbord, tmp_path):
    """At a small max_size the file rotates many times; with enough kept
    files every line is in exactly one of them, in order; and only `keep`
    rotated files are ever kept."""
    log = tmp_path / "rot.log"
    script = "i=0; while [ $i -lt 3000 ]; do echo line $i; i=$((i+1)); " \
             "done; exec sleep 1000"
    a = arbord(tree([service("rot", ["/bin/sh", "-c", script],
                             log=log_config(file=f'"{log}"',
                                            max_size='"4K"', keep=100))]))
    wait_until(lambda: "line 2999" in text_of(log),
               10, "the last line in the file")
    rotated = sorted((p for p in tmp_path.iterdir()
                      if p.name.startswith("rot.log.")),
                     key=lambda p: -int(p.name.rsplit(".", 1)[1]))
    assert len(rotated) > 20
    got = []
    for p in rotated + [log]:
        assert p.stat().st_size <= 4096
        got += file_lines(p)
    assert got == numbered(3000)
    a.stop()

    # keep = 3: the three newest rotated files and the current one.
    small = tmp_path / "small"
    small.mkdir()
    log = small / "rot.log"
    b = arbord(tree([service("rot", ["/bin/sh", "-c", script],
                             log=log_config(file=f'"{log}"',
                                            max_size='"4K"', keep=3))]))
    wait_until(lambda: "line 2999" in text_of(log),
               10, "the last line in the file")
    assert sorted(p.name for p in small.iterdir()) == \
        ["rot.log", "rot.log.1", "rot.log.2", "rot.log.3"]
    got = []
    for p in [small / "rot.log.3", small / "rot.log.2", small / "rot.log.1",
              log]:
        got += file_lines(p)
    n = len(got)
    assert got == numbered(n, 3000 - n)
    b.stop()


def test_reopen_after_an_outside_rotation(arbord, tmp_path):
    """logrotate's way: the file is moved away, `arborctl logs --reopen`,
    and new lines go to a new file at the configured path."""
    log = tmp_path / "app.log"
    fifo = tmp_path / "go"
    os.mkfifo(fifo)
    script = f"echo before; read x < {fifo}; echo after; exec sleep 1000"
    a = arbord(tree([service("app", ["/bin/sh", "-c", script],
                             log=log_config(file=f'"{log}"'))]))
    wait_until(lambda: "before" in text_of(log), 5,
               "the first line")
    os.rename(log, tmp_path / "app.log.old")
    r = ctl(a.socket, "logs", "--reopen")
    assert r.returncode == 0, r.stderr
    with open(fifo, "w") as f:
        f.write("go\n")
    wait_until(lambda: "after" in text_of(log), 5,
               "the line after --reopen")
    assert file_lines(log) == ["after"]
    assert file_lines(tmp_path / "app.log.old") == ["before"]
    a.stop()


def test_partial_last_line_is_kept(arbord):
    """A last line without a newline is a line once its process exits."""
    a = arbord(tree([service("p", ["/bin/sh", "-c",
                                   "echo whole; printf 'no newline'"],
                             restart='"temporary"')]))
    a.wait_event("exit", "p")
    assert texts(logs(a.socket), "p") == ["whole", "no newline"]
    a.stop()


def test_binary_and_invalid_utf8_pass_safely(arbord, tmp_path):
    """Bytes that are not UTF-8, NULs and escapes reach the file as they
    are, and JSON as valid strings with U+FFFD plus the exact bytes."""
    log = tmp_path / "bin.log"
    script = r"printf 'ok \303\251\n'; printf 'bad \377\376 \000 \033[31m x\n'"
    a = arbord(tree([service("bin", ["/bin/sh", "-c", script],
                             restart='"temporary"',
                             log=log_config(file=f'"{log}"'))]))
    a.wait_event("exit", "bin")
    lines = [ln for ln in logs(a.socket) if ln["path"] == "bin"]
    assert lines[0]["line"] == "ok \u00e9" and "raw" not in lines[0]
    raw = b"bad \xff\xfe \x00 \x1b[31m x"
    assert bytes(lines[1]["raw"]) == raw
    # NUL too is replaced: JSON readers and C strings choke on it.
    assert lines[1]["line"] == \
        raw.decode("utf-8", "replace").replace("\0", "\ufffd")
    with open(log, "rb") as f:
        assert f.read().split(b"\n")[1].endswith(b"stdout: " + raw)
    # People get no terminal escapes from it.
    r = ctl(a.socket, "logs", "bin")
    assert b"\x1b" not in r.stdout and b"bad " in r.stdout
    a.stop()


def test_long_lines_are_cut_and_marked(arbord):
    """A 20,000-byte line becomes pieces of 8192, 8192 and 3616 bytes, the
    first two marked cut; nothing is lost."""
    script = "head -c 20000 /dev/zero | tr '\\0' x; echo; echo next"
    a = arbord(tree([service("long", ["/bin/sh", "-c", script],
                             restart='"temporary"')]))
    a.wait_event("exit", "long")
    lines = [ln for ln in logs(a.socket) if ln["path"] == "long"]
    assert [len(ln["line"]) for ln in lines] == [8192, 8192, 3616, 4]
    assert [ln.get("cut", False) for ln in lines] == \
        [True, True, False, False]
    a.stop()


def test_last_n_of_a_subtree_in_time_order(arbord):
    """logs -n N PATH: the newest N lines of the services under PATH,
    interleaved in the order they were read; other services not shown."""
    fifo_names = ["x", "y"]
    script = "for i in 1 2 3; do echo {0}$i; sleep 0.05; done; " \
             "exec sleep 1000"
    a = arbord(tree([
        supervisor("web", [
            service(n, ["/bin/sh", "-c", script.format(n)])
            for n in fifo_names]),
        service("other", ["/bin/sh", "-c", "echo other; exec sleep 1000"]),
    ]))
    wait_until(lambda: len([ln for ln in logs(a.socket, "web")
                            if ln["stream"] == "stdout"]) == 6, 5, "6 lines")
    lines = [ln for ln in logs(a.socket, "web") if ln["stream"] == "stdout"]
    assert {ln["path"] for ln in lines} == {"web/x", "web/y"}
    assert [ln["seq"] for ln in lines] == sorted(ln["seq"] for ln in lines)
    assert sorted(ln["line"] for ln in lines) == \
        ["x1", "x2", "x3", "y1", "y2", "y3"]
    r = ctl(a.socket, "logs", "-n", "2", "web/x")
    out = r.stdout.decode().splitlines()
    assert len(out) == 2 and out[0].endswith("web/x[" + str(a.pid_of(
        "web/x")) + "]: x2") and out[1].endswith("]: x3")
    a.stop()


def test_follow(arbord, tmp_path):
    """logs -f shows the backlog, then new lines as they are written,
    until arbord stops."""
    fifo = tmp_path / "go"
    os.mkfifo(fifo)
    script = f"echo first; read x < {fifo}; echo second; exec sleep 1000"
    a = arbord(tree([service("f", ["/bin/sh", "-c", script])]))
    wait_until(lambda: texts(logs(a.socket), "f") == ["first"], 5, "first")
    e = dict(os.environ, ARBOR_SOCKET=str(a.socket))
    follower = subprocess.Popen([ARBORCTL, "logs", "-f", "--json", "f"],
                                stdout=subprocess.PIPE, env=e)
    try:
        got = [json.loads(follower.stdout.readline())["line"]]
        with open(fifo, "w") as f:
            f.write("go\n")
        got.append(json.loads(follower.stdout.readline())["line"])
        assert got == ["first", "second"]
        a.stop()
        assert follower.wait(timeout=5 * SLOW) == 0
    finally:
        if follower.poll() is None:
            follower.kill()
            follower.wait()
        follower.stdout.close()


def test_logs_after_a_seq(arbord):
    """Logs with after (what arborctl logs -f sends when it reconnects
    after a re-exec) gives only the lines read after that seq, all of them
    with lines -1, the newest N with lines N; a bad after is refused."""
    from ctlclient import Conn, VarlinkError

    script = "for i in 1 2 3 4 5; do echo n$i; done; exec sleep 1000"
    a = arbord(tree([service("s", ["/bin/sh", "-c", script])]))
    wait_until(lambda: texts(logs(a.socket), "s") ==
               ["n1", "n2", "n3", "n4", "n5"], 5, "5 lines")
    seqs = {ln["line"]: ln["seq"] for ln in logs(a.socket, "s")}

    def lines_after(after, lines):
        with Conn(a.socket) as c:
            c.send(SUP_LOGS, {"path": "s", "after": after, "lines": lines},
                   more=True)
            return [ln["line"] for m in c.stream()
                    for ln in m["parameters"]["lines"]]

    assert lines_after(seqs["n2"], -1) == ["n3", "n4", "n5"]
    assert lines_after(seqs["n2"], 1) == ["n5"]
    assert lines_after(seqs["n5"], -1) == []
    assert lines_after(0, -1)[-4:] == ["n2", "n3", "n4", "n5"]
    with Conn(a.socket) as c:
        c.send(SUP_LOGS, {"after": -1}, more=True)
        with pytest.raises(VarlinkError) as e:
            c.reply()
        assert e.value.parameters == {"parameter": "after"}
    a.stop()


SUP_LOGS = "org.arbor.supervisor.Logs"


def test_console_sink_prefixes_and_keeps_streams(arbord):
    """console: stdout lines on arbord's stdout, stderr lines on its
    stderr, each prefixed with the path."""
    a = arbord(tree([service("c", ["/bin/sh", "-c",
                                   "echo to-out; echo to-err >&2"],
                             restart='"temporary"',
                             log=log_config(sinks='["console"]'))]))
    a.wait_event("exit", "c")
    wait_until(lambda: "c: to-err" in a.lines, 5, "the stderr line")
    assert a.stop() == 0
    assert a.proc.stdout.read().decode().splitlines() == ["c: to-out"]
    # Without the ring, logs has nothing of it.
    assert "c: to-out" not in a.lines


def test_a_stuck_console_drops_and_counts(arbord):
    """Nobody reads arbord's stdout: the console sink drops what does not
    fit and counts it, arbord still answers, and once stdout is read again
    a line says how many were dropped. The ring has every line."""
    script = "i=0; while [ $i -lt 20000 ]; do echo line $i; i=$((i+1)); " \
             "done; exec sleep 1000"
    a = arbord(tree([service("loud", ["/bin/sh", "-c", script],
                             log=log_config(sinks='["ring", "console"]',
                                            ring_size='"2M"'))]))
    wait_until(lambda: "line 19999" in
               (texts(logs(a.socket, "loud"), "loud")[-1:] or [""])[0],
               20, "the last line in the ring")
    t = time.monotonic()
    status(a.socket)
    assert time.monotonic() - t < 0.5 * SLOW
    assert texts(logs(a.socket, "loud"), "loud") == numbered(20000)
    # Read what was queued, then make one more line come.
    out = []
    reader = threading.Thread(
        target=lambda: out.extend(a.proc.stdout.read().decode()
                                  .splitlines()), daemon=True)
    reader.start()
    ctl(a.socket, "restart", "loud")
    a.wait_event("start", "loud", count=2)
    assert a.stop() == 0
    reader.join(timeout=10)
    markers = [x for x in out if x.startswith("arbor: ")]
    assert markers and markers[0].endswith(" lines dropped")
    dropped = int(markers[0].split()[1])
    shown = [x for x in out if x.startswith("loud: ")]
    assert dropped > 0
    assert len(shown) >= 20000 - dropped


def test_journal_native_protocol(arbord, tmp_path):
    """journal: one datagram per line in journald's native protocol, with
    MESSAGE (binary-safe), PRIORITY by stream, SYSLOG_IDENTIFIER, the
    service's pid and ARBOR_PATH, and the line's seq and read time (by
    which arborctl logs tells the ring's lines from older ones). arbord's
    own lines (the root's sinks) are SYSLOG_IDENTIFIER=arbord and
    ARBOR_PATH=/: a service named arbord is not arbord. The socket is a
    test's stand-in for /run/systemd/journal/socket
    (ARBOR_JOURNAL_SOCKET)."""
    path = tmp_path / "journal.sock"
    before_us = time.time_ns() // 1000
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(str(path))
    sock.settimeout(5 * SLOW)
    try:
        a = arbord(tree([
            service("j", ["/bin/sh", "-c", "echo hello; echo 'bad' >&2"],
                    restart='"temporary"',
                    log=log_config(sinks='["ring", "journal"]')),
            service("arbord", ["/bin/sh", "-c", "echo named arbord"],
                    restart='"temporary"',
                    log=log_config(sinks='["ring", "journal"]'))],
            log=log_config(sinks='["ring", "journal"]')),
            env={"ARBOR_JOURNAL_SOCKET": str(path)})
        entries, own = [], []
        while len(entries) < 2 or not own:
            e = parse_native(sock.recv(65536))
            if e[b"ARBOR_PATH"] == b"/":
                own.append(e)
            elif e[b"ARBOR_PATH"] == b"arbord":
                assert e[b"SYSLOG_IDENTIFIER"] == b"arbord"
                assert e[b"MESSAGE"] == b"named arbord"
            else:
                entries.append(e)
        assert own[0][b"SYSLOG_IDENTIFIER"] == b"arbord"
        assert own[0][b"ARBOR_STREAM"] == b"arbor"
        assert own[0][b"SYSLOG_PID"] == str(a.proc.pid).encode()
        # Its lines can reach the journal before its start event reaches
        # the test's reader of arbord's stderr: wait for that event.
        pid = int(a.wait_event("start", "j")["pid"])
        by_msg = {e[b"MESSAGE"]: e for e in entries}
        assert by_msg[b"hello"][b"PRIORITY"] == b"6"
        assert by_msg[b"bad"][b"PRIORITY"] == b"3"
        for e in entries:
            assert e[b"SYSLOG_IDENTIFIER"] == b"j"
            assert e[b"ARBOR_PATH"] == b"j"
            assert e[b"SYSLOG_PID"] == str(pid).encode()
            assert before_us <= int(e[b"ARBOR_TIME_USEC"]) <= \
                time.time_ns() // 1000
        ring = {ln["line"]: ln for ln in logs(a.socket, "j")
                if not ln.get("journal")}
        assert int(by_msg[b"hello"][b"ARBOR_SEQ"]) == ring["hello"]["seq"]
        assert int(by_msg[b"bad"][b"ARBOR_SEQ"]) == ring["bad"]["seq"]
        a.stop()
    finally:
        sock.close()


def test_a_gigabyte_writer_leaves_arbord_responsive(arbord):
    """A child writes 1 GiB of lines as fast as it can: arbord reads it
    all, its memory stays within its buffers, and Status answers within
    100 ms the whole time."""
    line = "x" * 99
    script = f"yes {line} | head -c 1073741824; exec sleep 1000"
    a = arbord(tree([service("flood", ["/bin/sh", "-c", script]),
                     service("calm", SLEEPER)]))
    a.wait_event("start", "calm")
    wait_until(lambda: a.socket.exists(), what="the socket")
    base = rss_kib(a.proc.pid)
    worst, peak, calls = 0.0, base, 0
    deadline = time.monotonic() + 120 * SLOW
    while time.monotonic() < deadline:
        t = time.monotonic()
        nodes = status(a.socket)
        worst = max(worst, time.monotonic() - t)
        calls += 1
        peak = max(peak, rss_kib(a.proc.pid))
        flood = [n for n in nodes if n["path"] == "flood"][0]
        # Done once the pipe is empty and only sleep is left.
        if not any(os.path.exists(f"/proc/{p}") for p in writers(flood)):
            break
        time.sleep(0.02)
    else:
        raise AssertionError("the writer did not finish")
    last = texts(logs(a.socket, "flood"), "flood")
    assert last and last[-1].startswith("x")
    assert calls > 10
    assert worst < 0.1 * SLOW, f"slowest Status: {worst * 1000:.0f} ms"
    # The ring (64 KiB), the reader's buffer and the partial lines. Under
    # AddressSanitizer freed memory (the Status replies) sits in its
    # quarantine for a while and counts in RSS.
    bound = 2048 if SLOW == 1.0 else 32768
    assert peak - base < bound, f"RSS grew from {base} to {peak} KiB"
    a.stop()


def writers(node):
    """The pids of the `yes` and `head` of the flood's group."""
    pgid = node["pid"]
    out = []
    for p in os.listdir("/proc"):
        if not p.isdigit():
            continue
        try:
            with open(f"/proc/{p}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            with open(f"/proc/{p}/comm") as f:
                comm = f.read().strip()
        except OSError:
            continue
        if int(fields[2]) == pgid and comm in ("yes", "head"):
            out.append(int(p))
    return out


def test_config_errors(tmp_path):
    """Bad log settings are configuration errors with file and line."""
    conf = tmp_path / "bad.conf"
    conf.write_text('children = ( { name = "a"; exec = [ "/bin/true" ]; '
                    'log = { sinks = [ "file" ]; }; } );\n')
    r = subprocess.run([os.path.join(REPO, "daemon", "arbord"), "--check",
                        "-c", str(conf)], capture_output=True, text=True)
    assert r.returncode == 1
    assert f"{conf}:1: child 'a': log: sink 'file' needs a file" in r.stderr


def test_many_services_with_a_low_descriptor_limit(arbord):
    """Two pipes per service do not fit a soft limit of 64 for 40
    services: arbord raises its own limit, and the services still get 64."""
    import resource

    def low_limit():
        _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        resource.setrlimit(resource.RLIMIT_NOFILE, (64, hard))

    script = "echo limit $(ulimit -Sn); exec sleep 1000"
    a = arbord(tree([service(f"s{i}", ["/bin/sh", "-c", script])
                     for i in range(40)]), preexec_fn=low_limit)
    a.wait_event("start", "s39", timeout=10)
    assert not a.find("exit")
    wait_until(lambda: texts(logs(a.socket, "s39"), "s39") == ["limit 64"],
               5, "the last service's line")
    assert a.stop() == 0


def test_a_line_of_exactly_the_limit_is_whole(arbord):
    """8192 bytes and then, in a later write, the newline: one line, not
    cut, and no empty line after it."""
    script = "head -c 8192 /dev/zero | tr '\\0' a; sleep 0.3; " \
             "printf '\\nnext\\n'"
    a = arbord(tree([service("edge", ["/bin/sh", "-c", script],
                             restart='"temporary"')]))
    a.wait_event("exit", "edge")
    lines = [ln for ln in logs(a.socket) if ln["path"] == "edge"]
    assert [(len(ln["line"]), ln.get("cut", False)) for ln in lines] == \
        [(8192, False), (4, False)]
    a.stop()


def fds_of(pid):
    return len(os.listdir(f"/proc/{pid}/fd"))


def test_a_follower_that_quits_is_let_go(arbord):
    """logs -f on a quiet service, interrupted: arbord closes the
    connection at once, not at the next line that will never come."""
    a = arbord(tree([service("quiet", SLEEPER)]))
    a.wait_event("start", "quiet")
    wait_until(lambda: a.socket.exists(), what="the socket")
    status(a.socket)
    before = fds_of(a.proc.pid)
    e = dict(os.environ, ARBOR_SOCKET=str(a.socket))
    for _ in range(5):
        # Known before it starts: a follower quick to connect would
        # otherwise be among them, and never seen as new.
        known = socket_inodes(a.proc.pid)
        f = subprocess.Popen([ARBORCTL, "logs", "-f", "quiet"], env=e,
                             stdout=subprocess.DEVNULL)
        # Killed only once arbord holds its connection: a follower killed
        # before it connected would leave nothing to let go.
        wait_until(lambda: socket_inodes(a.proc.pid) - known, 5,
                   "the follower's connection")
        f.kill()
        f.wait()
    wait_until(lambda: fds_of(a.proc.pid) <= before, 5,
               "the followers' connections closed")
    a.stop()


def test_a_huge_backlog_is_cut_to_its_newest_lines(arbord):
    """logs -n all of more than 16 MiB: the newest lines that fit, after
    a line that says how many older ones were not sent; arbord answers
    Status meanwhile."""
    script = "yes $(head -c 999 /dev/zero | tr '\\0' z) | head -n 20000; " \
             "echo last; exec sleep 1000"
    a = arbord(tree([service("big", ["/bin/sh", "-c", script],
                             log=log_config(ring_size='"64M"'))]))
    wait_until(lambda: texts(logs(a.socket, "-n", "1", "big"), "big") ==
               ["last"], 20, "the last line")
    lines = logs(a.socket, "big")
    assert lines[0]["stream"] == "arbor"
    assert lines[0]["line"].endswith("older lines not sent (more than "
                                     "16 MiB)")
    skipped = int(lines[0]["line"].split()[1])
    body = texts(lines, "big")
    assert body[-1] == "last" and skipped + len(body) == 20001
    # Each line counts its length + 256 bytes against the 16 MiB.
    assert len(body) == 1 + ((16 << 20) - (4 + 256)) // (999 + 256)
    a.stop()


def test_stdout_and_stderr_on_one_pipe_keep_whole_lines(tmp_path):
    """arbord's stdout and stderr are one pipe, read slowly: lines of the
    two consoles never land inside each other."""
    conf = tmp_path / "arbor.conf"
    flood = "i=0; while [ $i -lt 3000 ]; do echo {0} $i " + "x" * 60 + \
        "{1}; i=$((i+1)); done; exec sleep 1000"
    conf.write_text(tree([
        service("o", ["/bin/sh", "-c", flood.format("OUT", "")],
                log=log_config(sinks='["console"]')),
        service("e", ["/bin/sh", "-c", flood.format("ERR", " >&2")],
                log=log_config(sinks='["console"]'))]))
    r, w = os.pipe()
    proc = subprocess.Popen(
        [os.path.join(REPO, "daemon", "arbord"), "-c", str(conf), "-s",
         str(tmp_path / "s.sock")], stdin=subprocess.DEVNULL, stdout=w,
        stderr=w)
    os.close(w)
    out = b""
    try:
        with os.fdopen(r, "rb") as f:
            time.sleep(0.5 * SLOW)  # let the pipe fill up
            while b"e: ERR 2999" not in out or b"o: OUT 2999" not in out:
                chunk = f.read1(4096)
                assert chunk, "arbord's output ended early"
                out += chunk
                time.sleep(0.001)
            proc.terminate()
            out += f.read()
        assert proc.wait(timeout=10 * SLOW) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    for line in out.decode().splitlines():
        assert (line.startswith(("event=", "arbor: ")) or
                re.fullmatch(r"o: OUT \d+ x{60}", line) or
                re.fullmatch(r"e: ERR \d+ x{60}", line)), line


def test_a_slow_follower_hears_what_it_missed(arbord, tmp_path):
    """A follower that does not read while a service writes 200,000 lines
    falls more than 1 MiB behind: arbord drops lines for it alone (the
    ring keeps them all), and once it has caught up a line
    "arbor: N lines dropped" accounts for every one, even though the
    service has gone quiet."""
    from ctlclient import Conn

    fifo = tmp_path / "go"
    os.mkfifo(fifo)
    script = f"read x < {fifo}; seq 1 200000; exec sleep 1000"
    a = arbord(tree([service("burst", ["/bin/sh", "-c", script],
                             log=log_config(ring_size='"8M"'))]))
    a.wait_event("start", "burst")
    wait_until(lambda: a.socket.exists(), what="the socket")
    with Conn(str(a.socket), timeout=10 * SLOW) as c:
        c.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        c.send("org.arbor.supervisor.Logs",
               {"path": "burst", "lines": 0, "follow": True}, more=True)
        assert c.reply()["lines"] == []
        with open(fifo, "w") as f:
            f.write("go\n")
        wait_until(lambda: len(texts(logs(a.socket, "-n", "1", "burst"),
                                     "burst") or []) == 1 and
                   texts(logs(a.socket, "-n", "1", "burst"), "burst") ==
                   ["200000"], 20, "the burst in the ring")
        got, dropped = 0, 0
        while got + dropped < 200000:
            for ln in c.reply()["lines"]:
                if ln["stream"] == "arbor":
                    assert ln["line"].endswith(" lines dropped")
                    dropped += int(ln["line"].split()[1])
                else:
                    got += 1
        assert dropped > 0 and got + dropped == 200000
    assert texts(logs(a.socket, "burst"), "burst")[-1] == "200000"
    a.stop()


class Followers:
    """n connections following Logs of the whole tree, read and thrown
    away by one thread as fast as they come: what arbord spends on them
    is its own, not their parsing's."""

    def __init__(self, sock, n):
        from ctlclient import Conn

        self.conns, self.stop = [], threading.Event()
        try:
            for _ in range(n):
                c = Conn(str(sock), timeout=10 * SLOW)
                self.conns.append(c)
                c.send("org.arbor.supervisor.Logs",
                       {"lines": 0, "follow": True}, more=True)
                assert c.reply()["lines"] == []
        except BaseException:
            self.close()
            raise
        self.thread = threading.Thread(target=self._drain, daemon=True)
        self.thread.start()

    def _drain(self):
        sel = selectors.DefaultSelector()
        for c in self.conns:
            c.sock.setblocking(False)
            sel.register(c.sock, selectors.EVENT_READ)
        while not self.stop.is_set():
            for key, _ in sel.select(0.05):
                try:
                    key.fileobj.recv(1 << 20)
                except BlockingIOError:
                    pass
        sel.close()

    def close(self):
        self.stop.set()
        if hasattr(self, "thread"):
            self.thread.join(timeout=5)
        for c in self.conns:
            c.close()


def status_median_ms(sock, calls):
    took = []
    for _ in range(calls):
        t = time.monotonic()
        status(sock)
        took.append((time.monotonic() - t) * 1000)
    return statistics.median(took)


def test_twelve_followers_of_a_flood_cost_little_and_give_memory_back(
        arbord):
    """Issue 11, bug 13: each line was encoded and copied for every
    follower, one message and one allocation a line, so with 12
    followers and two services flooding Status took several times as
    long as with one, and arbord's heap kept the followers' 12 MiB of
    queues after they left. Now a line is encoded once for all, and
    memory returns to within 1 MiB of the start."""
    line = "x" * 99
    a = arbord(tree([service("f1", ["/bin/sh", "-c", f"exec yes {line}"]),
                     service("f2", ["/bin/sh", "-c", f"exec yes {line}y"])]))
    a.wait_event("start", "f2")
    wait_until(lambda: a.socket.exists(), what="the socket")
    # The rings fill, and Status's buffers are made, before the start.
    status_median_ms(a.socket, 50)
    base = rss_kib(a.proc.pid)
    calls = 60
    one = Followers(a.socket, 1)
    try:
        alone = status_median_ms(a.socket, calls)
    finally:
        one.close()
    many = Followers(a.socket, 12)
    try:
        crowd = status_median_ms(a.socket, calls)
        peak = rss_kib(a.proc.pid)
    finally:
        many.close()
    seen = (f"Status median {alone:.1f} ms with 1 follower, {crowd:.1f} ms "
            f"with 12; RSS {base} KiB, {peak} KiB with 12")
    # Once arbord has let the followers go, its heap is back. Not under
    # AddressSanitizer: its allocator, not glibc's, holds what is freed
    # (hundreds of MiB in quarantine), and malloc_trim does not reach it.
    def rss_back():
        rss = rss_kib(a.proc.pid)
        return rss if rss - base <= 1024 or SLOW > 1 else 0

    try:
        after = wait_until(rss_back, 5, "arbord's memory back within 1 MiB")
    except AssertionError as e:
        after = f"{rss_kib(a.proc.pid)} KiB ({e})"
    print(f"{seen}, then {after}")
    assert crowd < 2 * alone and isinstance(after, int), \
        f"{seen}, then {after}"
    a.stop()


def test_arbord_holds_only_the_read_ends(arbord):
    """Between starts arbord holds each pipe's read end alone: the write
    ends a start handed over (through a low slot) are all closed again,
    so a pipe ends when its service's processes are gone."""
    a = arbord(tree([service(f"s{i}", SLEEPER) for i in range(5)]))
    pids = [int(a.wait_event("start", f"s{i}")["pid"]) for i in range(5)]
    held = [os.readlink(f"/proc/{a.proc.pid}/fd/{fd}")
            for fd in os.listdir(f"/proc/{a.proc.pid}/fd")]
    for pid in pids:
        for fd in (1, 2):
            pipe = os.readlink(f"/proc/{pid}/fd/{fd}")
            assert pipe.startswith("pipe:") and held.count(pipe) == 1
    # The slots are back on /dev/null.
    assert held.count("/dev/null") >= 8
    a.stop()


FEWSLOTS = os.path.join(REPO, "tests", "integration", "helpers",
                        "fewslots.so")


def test_starts_without_spawn_slots_copy_the_table(arbord, tmp_path):
    """With too few low slots (a nearly full descriptor table, simulated
    by fewslots.so), every start takes the way that copies arbord's table
    into the child: each child still gets its own log pipes on 1 and 2,
    its readiness pipe on fd 5, and nothing else."""
    env = {"LD_PRELOAD": FEWSLOTS, "FEWSLOTS": "2",
           # Under ASan the preload comes before its runtime; allowed.
           "ASAN_OPTIONS": (os.environ.get("ASAN_OPTIONS", "") +
                            ":verify_asan_link_order=0").lstrip(":")}
    a = arbord(tree([
        service("talk", ["/bin/sh", "-c",
                         "echo out; echo err >&2; exec sleep 1000"]),
        service("rdy", ["/bin/sh", "-c", "echo ready >&5; exec sleep 1000"],
                ready='"fd:5"')]), env=env)
    a.wait_event("ready", "rdy")
    talk, rdy = a.pid_of("talk"), a.pid_of("rdy")
    wait_until(lambda: texts(logs(a.socket, "talk"), "talk") == ["out"] and
               texts(logs(a.socket, "talk"), "talk", "stderr") == ["err"],
               5, "both lines")
    links = [os.readlink(f"/proc/{a.proc.pid}/fd/{fd}")
             for fd in os.listdir(f"/proc/{a.proc.pid}/fd")]
    # Two slots, not eight: a start needs three (stdout, stderr, status).
    assert links.count("/dev/null") < 8
    # (sleep keeps the readiness pipe sh was given on 5.)
    for pid, want in ((talk, [0, 1, 2]), (rdy, [0, 1, 2, 5])):
        got = sorted(int(fd) for fd in os.listdir(f"/proc/{pid}/fd"))
        assert got == want, (pid, got)
        for fd in (1, 2):
            assert os.readlink(f"/proc/{pid}/fd/{fd}") in links
    assert os.readlink(f"/proc/{rdy}/fd/5").startswith("pipe:")
    assert a.stop() == 0
