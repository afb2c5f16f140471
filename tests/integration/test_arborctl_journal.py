"""arborctl logs and the journal (issue 16, item 5): lines older than a
service's ring are read back from the journal with sd-journal, marked as
the journal's, before the ring's and never twice.

There is no journald here (systemd is not PID 1), so the journal is made
for real from what arbord sends it: the test binds the datagram socket
arbord's journal sink writes to (ARBOR_JOURNAL_SOCKET), stamps each
datagram with the time it came as journald would (__REALTIME_TIMESTAMP),
and has systemd-journal-remote write them to a journal file in journal
export format; arborctl then reads that directory with -D.

Each test runs arbord on a private socket in tmp_path; waits are bounded.
"""

import json
import os
import random
import socket
import struct
import subprocess
import threading
import time

import pytest

from conftest import REPO, SLOW, parse_native, service, tree, wait_until

ARBORCTL = os.path.join(REPO, "ctl", "arborctl")
JOURNAL_REMOTE = "/lib/systemd/systemd-journal-remote"
BOOT_ID = "0123456789abcdef0123456789abcdef"

# 40 lines of about 1 KiB, one every 10 ms (each its own read, its own
# time, and its own datagram: a test's reader keeps up with that), every
# tenth to standard error; the ring of 16 KiB keeps about the last 15.
COUNT = 40
PAD = "x" * 1000
WRITER = ["/bin/sh", "-c",
          'i=0; while [ $i -lt %d ]; do '
          'if [ $((i %% 10)) -eq 0 ]; then printf "line %%02d %s\\n" $i >&2; '
          'else printf "line %%02d %s\\n" $i; fi; '
          'i=$((i + 1)); sleep 0.01; done; exec sleep 1000'
          % (COUNT, PAD, PAD)]

pytestmark = pytest.mark.skipif(not os.access(JOURNAL_REMOTE, os.X_OK),
                                reason="systemd-journal-remote is missing "
                                "(packaging/install-deps --test)")


def ctl(sock, *args, timeout=30):
    e = dict(os.environ, ARBOR_SOCKET=str(sock))
    return subprocess.run([ARBORCTL, *args], capture_output=True, env=e,
                          timeout=timeout * SLOW, stdin=subprocess.DEVNULL)


class Journald:
    """A stand-in for journald's socket: keeps every datagram with the
    time it came, from a thread that reads as fast as arbord sends."""

    def __init__(self, path):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(str(path))
        self.sock.settimeout(0.1)
        self.path = path
        self.entries = []
        self.running = True
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def _read(self):
        while self.running:
            try:
                data = self.sock.recv(65536)
            except socket.timeout:
                continue
            self.entries.append((time.time_ns() // 1000, data))

    def wait(self, n):
        wait_until(lambda: len(self.entries) >= n, 10,
                   f"{n} datagrams in the journal")
        return self.entries

    def close(self):
        self.running = False
        self.thread.join(timeout=5)
        self.sock.close()


def export(entries):
    """Native-protocol datagrams as journal export format: the fields
    journald adds first, then the datagram's own (the binary form of a
    field is the same in both), then the blank line that ends an entry."""
    out = b""
    for i, (realtime, data) in enumerate(entries):
        out += (f"__REALTIME_TIMESTAMP={realtime}\n"
                f"__MONOTONIC_TIMESTAMP={i + 1}\n"
                f"_BOOT_ID={BOOT_ID}\n").encode()
        out += data if data.endswith(b"\n") else data + b"\n"
        out += b"\n"
    return out


def write_journal(entries, path):
    """A real journal file at path (NAME.journal), by journal-remote."""
    r = subprocess.run([JOURNAL_REMOTE, "-o", str(path), "-"],
                       input=export(entries), capture_output=True,
                       timeout=30 * SLOW)
    assert r.returncode == 0, r.stderr
    assert path.exists()


def field(data, key):
    """A field of a datagram, as text; None when it has none."""
    v = parse_native(data).get(key)
    return None if v is None else v.decode()


@pytest.fixture
def journaled(arbord, tmp_path):
    """arbord with one service, "w", that writes COUNT lines to a ring of
    16 KiB and to the journal; the journal written to tmp_path/journal.
    Yields (arbord, the journal's directory, the datagrams)."""
    jd = Journald(tmp_path / "journal.sock")
    try:
        a = arbord(tree([service(
            "w", WRITER,
            log='{ sinks = [ "ring", "journal" ]; ring_size = "16K"; }')]),
            env={"ARBOR_JOURNAL_SOCKET": str(jd.path)})
        a.wait_event("start", "w")
        wait_until(lambda: a.socket.exists(), what="the control socket")
        entries = [e for e in jd.wait(COUNT)
                   if field(e[1], b"ARBOR_PATH") == "w"]
        assert len(entries) == COUNT, "the journal missed lines"
        directory = tmp_path / "journal"
        directory.mkdir()
        write_journal(entries, directory / "system.journal")
        yield a, directory, entries
    finally:
        jd.close()


def json_logs(a, *args):
    r = ctl(a.socket, "--json", "logs", *args)
    assert r.returncode == 0, r.stderr
    return [json.loads(ln) for ln in r.stdout.decode().splitlines()]


def numbers(lines):
    return [int(ln["line"].split()[1]) for ln in lines]


def rfc3339(time_us):
    secs, us = divmod(time_us, 1000000)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(secs)) + \
        f".{us:06d}Z"


def test_older_lines_come_from_the_journal_before_the_ring(journaled):
    """The ring keeps only the newest lines: -n 30 must show 30, the older
    ones from the journal (marked, without a seq), then the ring's, in
    order, none twice and none missing."""
    a, directory, _ = journaled
    ring = json_logs(a, "-n", "all", "w")
    assert 5 < len(ring) < 30, "the ring should hold about 15 lines"
    assert numbers(ring) == list(range(COUNT - len(ring), COUNT))

    lines = json_logs(a, "-D", str(directory), "-n", "30", "w")
    assert numbers(lines) == list(range(COUNT - 30, COUNT))
    from_journal = [ln for ln in lines if ln.get("journal")]
    assert len(from_journal) == 30 - len(ring)
    assert lines[:len(from_journal)] == from_journal
    assert all("seq" not in ln for ln in from_journal)
    assert all("seq" in ln for ln in lines[len(from_journal):])
    assert {ln["path"] for ln in lines} == {"w"}
    assert from_journal[0]["pid"] == a.pid_of("w")

    everything = json_logs(a, "-D", str(directory), "-n", "all", "w")
    assert numbers(everything) == list(range(COUNT))
    # The stream comes back too: every tenth line was standard error.
    assert [ln["stream"] for ln in everything[:11]] == \
        ["stderr"] + ["stdout"] * 9 + ["stderr"]


def test_text_marks_the_journal_lines(journaled):
    """In text a journal line says so where the stream is said: "w[PID]
    journal: ...", "w[PID] journal stderr: ..."; the ring's as before."""
    a, directory, _ = journaled
    r = ctl(a.socket, "logs", "-D", str(directory), "-n", "all", "w")
    assert r.returncode == 0, r.stderr
    out = r.stdout.decode().splitlines()
    pid = a.pid_of("w")
    assert len(out) == COUNT
    assert f" w[{pid}] journal stderr: line 00 " in out[0]
    assert f" w[{pid}] journal: line 01 " in out[1]
    assert f" w[{pid}]: line {COUNT - 1} " in out[-1]
    assert " journal" not in out[-1]


def test_journal_only_needs_no_arbord(journaled, tmp_path):
    """--journal reads only the journal, and does not ask arbord: a copied
    journal can be read where no arbord runs."""
    a, directory, _ = journaled
    lines = json_logs(a, "--journal", "-D", str(directory), "-n", "5", "w")
    assert numbers(lines) == list(range(COUNT - 5, COUNT))
    assert all(ln["journal"] for ln in lines)
    r = ctl(tmp_path / "no-arbord.sock", "logs", "--journal", "-D",
            str(directory), "w")
    assert r.returncode == 0, r.stderr
    assert len(r.stdout.decode().splitlines()) == 10
    # The whole tree, and a path that is not there.
    assert len(json_logs(a, "--journal", "-D", str(directory), "-n",
                         "all")) == COUNT
    assert json_logs(a, "--journal", "-D", str(directory), "nope") == []


def test_since_until_and_stream_apply_to_journal_lines(journaled):
    """--since, --until and --stream filter the journal's lines as the
    ring's, by the time arbord read each line."""
    a, directory, entries = journaled
    times = {int(field(d, b"MESSAGE").split()[1]): int(field(
        d, b"ARBOR_TIME_USEC")) for _, d in entries}
    since = json_logs(a, "-D", str(directory), "--since",
                      rfc3339(times[5]), "w")
    assert numbers(since) == list(range(5, COUNT))
    assert since[0]["journal"]
    until = json_logs(a, "-D", str(directory), "--until",
                      rfc3339(times[7]), "w")
    assert numbers(until) == list(range(0, 8))
    assert all(ln["journal"] for ln in until)
    errs = json_logs(a, "-D", str(directory), "--stream", "stderr", "-n",
                     "all", "w")
    assert numbers(errs) == [0, 10, 20, 30]
    assert errs[0]["journal"] and not errs[-1].get("journal")


def renamed(entries, path):
    """The entries as if of another service, at path."""
    return [(t, d.replace(b"ARBOR_PATH=w\n", f"ARBOR_PATH={path}\n".encode())
             .replace(b"SYSLOG_IDENTIFIER=w\n",
                      f"SYSLOG_IDENTIFIER={path}\n".encode()))
            for t, d in entries]


def tail_object_offset(path):
    """Where a journal file's last object starts (its header says)."""
    with open(path, "rb") as f:
        return struct.unpack("<Q", f.read(144)[136:144])[0]


def test_a_damaged_journal_file_is_skipped(journaled):
    """Beside a good journal file: one of random bytes, one with the
    journal's magic and then garbage, one cut short, one scribbled over
    in the middle of its entries. arborctl must not crash (sd-journal
    skips what it cannot read), and the good file's lines are all there."""
    a, directory, entries = journaled
    rng = random.Random(16)
    (directory / "garbage.journal").write_bytes(
        bytes(rng.randrange(256) for _ in range(65536)))
    good = (directory / "system.journal").read_bytes()
    (directory / "header.journal").write_bytes(
        good[:8] + bytes(rng.randrange(256) for _ in range(8192)))
    cut = directory / "cut.journal"
    write_journal(renamed(entries, "o"), cut)
    with open(cut, "r+b") as f:
        f.truncate(tail_object_offset(cut) - 20000)
    scribbled = directory / "scribbled.journal"
    write_journal(renamed(entries, "p"), scribbled)
    with open(scribbled, "r+b") as f:
        f.seek(tail_object_offset(scribbled) - 8000)
        f.write(bytes(rng.randrange(256) for _ in range(3000)))

    for args in (["--journal", "-n", "all"], ["-n", "all", "w"],
                 ["--journal", "-n", "all", "w"], ["--journal", "p"],
                 ["--journal", "o"]):
        r = ctl(a.socket, "--json", "logs", "-D", str(directory), *args)
        assert r.returncode == 0, (args, r.returncode, r.stderr)
        lines = [json.loads(ln) for ln in r.stdout.decode().splitlines()]
        if "p" in args or "o" in args:
            continue  # what of it is read is sd-journal's to say
        assert numbers([ln for ln in lines if ln["path"] == "w"]) == \
            list(range(COUNT)), args


def test_no_journal_directory_is_one_line_and_the_ring_is_shown(journaled,
                                                                tmp_path):
    """A journal that cannot be read is said in one line; the ring's lines
    are still printed (exit 0); with --journal nothing is left to show
    (exit 1)."""
    a, _, _ = journaled
    missing = tmp_path / "missing"
    r = ctl(a.socket, "logs", "-D", str(missing), "-n", "all", "w")
    assert r.returncode == 0, r.stderr
    err = r.stderr.decode().splitlines()
    assert err == [f"arborctl: journal directory '{missing}': No such file "
                   "or directory; only the ring's lines are shown"]
    out = r.stdout.decode().splitlines()
    assert out and all(" journal" not in x for x in out)
    r = ctl(a.socket, "logs", "--journal", "-D", str(missing), "w")
    assert r.returncode == 1
    assert r.stderr.decode().splitlines() == [
        f"arborctl: journal directory '{missing}': No such file or "
        "directory"]


def test_a_full_ring_asks_no_journal(journaled, tmp_path):
    """When the ring holds the N lines asked for, the journal is not read:
    a missing journal directory goes unmentioned."""
    a, _, _ = journaled
    r = ctl(a.socket, "logs", "-D", str(tmp_path / "missing"), "-n", "3",
            "w")
    assert r.returncode == 0, r.stderr
    assert r.stderr == b""
    assert len(r.stdout.decode().splitlines()) == 3


def test_journal_options_usage(arbord, tmp_path):
    """--journal with -f, an empty -D, and the options on another command
    are usage errors (exit 2)."""
    sock = tmp_path / "none.sock"
    for args, what in ((["logs", "--journal", "-f"], "use one"),
                       (["logs", "-D", ""], "-D needs a directory"),
                       (["status", "--journal"], "--journal is an option "
                        "of logs"),
                       (["status", "--journal-directory", "x"],
                        "-D DIR is an option of logs"),
                       (["logs", "--reopen", "--journal"],
                        "takes nothing else")):
        r = ctl(sock, *args)
        assert r.returncode == 2, args
        assert what in r.stderr.decode(), (args, r.stderr)


def status_nodes(a):
    """arborctl --json status's nodes, by path, once arbord answers."""
    wait_until(lambda: a.socket.exists(), what="the control socket")
    r = ctl(a.socket, "--json", "status")
    assert r.returncode == 0, r.stderr
    return {n["path"]: n for n in json.loads(r.stdout)["nodes"]}


def test_status_says_which_nodes_log_to_the_journal(arbord, tmp_path):
    """Status marks the services whose sinks include the journal (how
    arborctl knows to look there), and no other."""
    a = arbord(tree([
        service("j", ["/bin/sleep", "1000"],
                log='{ sinks = [ "ring", "journal" ]; }'),
        service("r", ["/bin/sleep", "1000"])]),
        env={"ARBOR_JOURNAL_SOCKET": str(tmp_path / "absent.sock")})
    a.wait_event("start", "r")
    nodes = status_nodes(a)
    assert nodes["j"]["journal"] is True
    assert "journal" not in nodes["r"]
    assert "journal" not in nodes["/"]


def datagram(**fields):
    """A native-protocol datagram of fields (str or bytes), each in the
    binary form, which holds any byte."""
    out = b""
    for k, v in fields.items():
        v = v.encode() if isinstance(v, str) else v
        out += k.encode() + b"\n" + struct.pack("<Q", len(v)) + v + b"\n"
    return out


def own_entry(time_us, message, path="w", ident=None, stream="stdout",
              **more):
    """An entry as arbord's sink writes it, at time_us (journald's time
    too); any field may be replaced or added (bytes for any byte)."""
    fields = dict(MESSAGE=message, PRIORITY="6", SYSLOG_PID="4242",
                  ARBOR_STREAM=stream, ARBOR_SEQ="1",
                  ARBOR_TIME_USEC=str(time_us),
                  SYSLOG_IDENTIFIER=ident or path, ARBOR_PATH=path)
    fields.update(more)
    return (time_us, datagram(**fields))


def journal_of(directory, entries):
    """directory/system.journal made anew from entries."""
    (directory / "system.journal").unlink()
    write_journal(entries, directory / "system.journal")


def test_a_long_message_is_read_after_the_other_fields(journaled):
    """sd_journal_get_data's data is valid only until its next call (a
    compressed field is decompressed into one buffer of the file's): a
    MESSAGE of 3000 bytes read before a field of 100 KB showed that
    field's bytes, or freed memory."""
    a, directory, entries = journaled
    last = entries[-1][0]
    journal_of(directory, entries + [
        own_entry(last + 1000, "m" * 3000, ARBOR_SEQ="9" * 100000),
        own_entry(last + 2000, "n" * 3000, SYSLOG_PID="7" * 100000)])
    lines = json_logs(a, "--journal", "-D", str(directory), "-n", "2", "w")
    assert [ln["line"] for ln in lines] == ["m" * 3000, "n" * 3000]
    assert lines[0]["pid"] == 4242 and lines[1]["pid"] == -1


def test_a_malformed_entry_is_skipped_not_a_failure(journaled):
    """Anyone may write ARBOR_PATH= (logger --journald): an entry whose
    path or stream is not valid UTF-8 failed the whole reading as "Cannot
    allocate memory" (jansson refuses such strings). An entry whose path
    is not UTF-8, or whose stream is none of arbord's, is no line of
    arbord's: it is left out, and the others are read."""
    a, directory, entries = journaled
    last = entries[-1][0]
    journal_of(directory, entries + [
        own_entry(last + 1000, "bad stream", stream=b"\xff\xfe"),
        own_entry(last + 2000, "long stream", stream="x" * 100000),
        own_entry(last + 3000, "unknown stream", stream="stdin"),
        own_entry(last + 4000, "bad path", path=b"\xc3("),
        own_entry(last + 5000, "bad ident", ident=b"\xc3(")])
    for args in (["--journal", "-n", "all"], ["--journal", "-n", "3", "w"],
                 ["-n", "all", "w"], ["-n", "all"]):
        lines = [ln for ln in json_logs(a, "-D", str(directory), *args)
                 if ln["path"] != "/"]  # arbord's events, in its ring
        assert numbers(lines) == list(range(COUNT))[-len(lines):], args
        assert len(lines) == (3 if "3" in args else COUNT), args


def test_until_keeps_lines_journald_stamped_late(journaled):
    """journald stamps an entry when it receives it, which can be seconds
    after arbord read its line (a busy journald): --until read from one
    second after the range by journald's time, and lost such lines."""
    a, directory, entries = journaled
    late = [(int(field(d, b"ARBOR_TIME_USEC")) + 30 * 1000000, d)
            for _, d in entries]
    journal_of(directory, late)
    times = {int(field(d, b"MESSAGE").split()[1]): int(field(
        d, b"ARBOR_TIME_USEC")) for _, d in entries}
    until = json_logs(a, "--journal", "-D", str(directory), "--until",
                      rfc3339(times[7]), "w")
    assert numbers(until) == list(range(0, 8))


def test_a_service_named_arbord_is_not_arbord(journaled):
    """arbord's own lines are ARBOR_PATH=/ (SYSLOG_IDENTIFIER=arbord): a
    top-level service named arbord wrote ARBOR_PATH=arbord as arbord's
    own lines did, and its lines were read as arbord's (path /)."""
    a, directory, entries = journaled
    last = entries[-1][0]
    journal_of(directory, renamed(entries, "arbord") + [
        own_entry(last + 1000 * i, f"event {i}", path="/", ident="arbord",
                  stream="arbor") for i in (1, 2)])
    lines = json_logs(a, "--journal", "-D", str(directory), "-n", "all",
                      "arbord")
    assert numbers(lines) == list(range(COUNT))
    assert {ln["path"] for ln in lines} == {"arbord"}
    lines = json_logs(a, "--journal", "-D", str(directory), "-n", "3")
    assert [(ln["path"], ln["line"][:8]) for ln in lines] == [
        ("arbord", f"line {COUNT - 1} "[:8]), ("/", "event 1"),
        ("/", "event 2")]
    assert lines[1]["stream"] == "arbor"
    # An entry of / that does not say it is arbord's is not.
    journal_of(directory, [own_entry(last, "not arbord's", path="/")])
    assert json_logs(a, "--journal", "-D", str(directory), "/") == []


def data_object_of(image, payload):
    """Where the data object holding payload starts in a journal file:
    its payload follows a header of 64 bytes (72 in compact files), the
    first byte of which is its type, 1 (DATA)."""
    at = image.index(payload)
    for head in (64, 72):
        size = struct.unpack("<Q", image[at - head + 8:at - head + 16])[0]
        if image[at - head] == 1 and size == head + len(payload):
            return at - head
    raise AssertionError("no data object found")


def test_a_damaged_index_of_paths_reads_every_entry(journaled):
    """Which paths the journal holds is read from its index of ARBOR_PATH
    values; a damaged data object there ended that enumeration silently,
    and the paths not yet seen had no lines. Such an index is not trusted:
    every entry is read, and its path tested."""
    a, directory, entries = journaled
    journal_of(directory, entries + renamed(entries, "p"))
    path = directory / "system.journal"
    image = bytearray(path.read_bytes())
    # The newest value comes first in the index: p's, before w's.
    image[data_object_of(image, b"ARBOR_PATH=p")] = 0x7f
    path.write_bytes(bytes(image))
    for args in (["--journal", "-n", "all", "w"], ["-n", "all", "w"]):
        lines = json_logs(a, "-D", str(directory), *args)
        assert numbers(lines) == list(range(COUNT)), args
        assert {ln["path"] for ln in lines} == {"w"}


def test_a_directory_without_journal_files_is_said(journaled, tmp_path):
    """-D DIR of no journal file (none, or none that is one) said nothing,
    and --journal exited 0; it is one line, as for a missing directory."""
    a, _, _ = journaled
    empty = tmp_path / "empty"
    empty.mkdir()
    for directory in (empty, tmp_path / "garbage"):
        if directory.name == "garbage":
            directory.mkdir()
            (directory / "x.journal").write_bytes(b"LPKSHHRH" + b"\0" * 300)
        r = ctl(a.socket, "logs", "--journal", "-D", str(directory), "w")
        assert r.returncode == 1
        assert r.stderr.decode().splitlines() == [
            f"arborctl: journal directory '{directory}': no journal file "
            "that this user may read"]
        r = ctl(a.socket, "logs", "-D", str(directory), "-n", "all", "w")
        assert r.returncode == 0, r.stderr
        assert r.stderr.decode().splitlines() == [
            f"arborctl: journal directory '{directory}': no journal file "
            "that this user may read; only the ring's lines are shown"]
        assert r.stdout.decode().splitlines()


def test_status_marks_a_pool_whose_template_logs_to_the_journal(arbord,
                                                                tmp_path):
    """logs POOL reads the journal when Status marks a node of it: a pool
    without instances now had none marked, and its past instances' lines
    were never read. The pool is marked when its template's sinks include
    the journal."""
    template = ('{ exec = [ "/bin/sleep", "1000" ]; '
                'log = { sinks = [ "ring", "journal" ]; }; }')
    a = arbord(tree([
        f'{{ name = "jp"; strategy = "simple_one_for_one"; '
        f'template = {template}; }}',
        '{ name = "rp"; strategy = "simple_one_for_one"; '
        'template = { exec = [ "/bin/sleep", "1000" ]; }; }',
        service("r", ["/bin/sleep", "1000"])]),
        env={"ARBOR_JOURNAL_SOCKET": str(tmp_path / "absent.sock")})
    a.wait_event("start", "r")
    nodes = status_nodes(a)
    assert nodes["jp"]["instances"] == 0
    assert nodes["jp"]["journal"] is True
    assert "journal" not in nodes["rp"]
