"""arborctl top: the live view in a real terminal (tmux, 80x24), its keys,
a resize, every way out giving the terminal back, and batch mode.

Each test runs its own arbord and, for the interactive tests, its own
tmux server on a private socket (tmux -L), whose sessions are killed at
the end whether the test passed or not. The pane runs top under sh,
which then prints top's exit status and the terminal's modes, so a test
sees how top ended and what it left behind. A fake arbord (a Python
socket server) serves replies with stats, which the real one gives only
once issue 15's usage lands, and closes connections under top.
"""

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import threading
import time
import uuid

import pytest

from conftest import REPO, SLEEPER, SLOW, service, supervisor, tree, \
    wait_until

ARBORCTL = os.path.join(REPO, "ctl", "arborctl")
BUSY = ["/bin/sh", "-c", "while :; do :; done"]
STATUS = "org.arbor.supervisor.Status"

pytestmark = pytest.mark.skipif(shutil.which("tmux") is None,
                                reason="tmux is not installed")


def top_tree():
    return tree([service("db", SLEEPER),
                 supervisor("web", [service("app", SLEEPER),
                                    service("busy", BUSY)]),
                 service("cache", SLEEPER)])


class Pane:
    """top in a tmux pane of width x height on a private tmux server."""

    def __init__(self, sock, *args, width=80, height=24):
        self.server = f"arbor-top-{os.getpid()}-{uuid.uuid4().hex[:8]}"
        self.name = "top"
        script = (f"{ARBORCTL} --socket {sock} top {' '.join(args)}; "
                  'echo "top exited $?"; stty -a; echo "stty done"; '
                  "exec sleep 1000")
        self.tmux("new-session", "-d", "-x", str(width), "-y", str(height),
                  "-s", self.name, script)
        self.socket_path = self.show("#{socket_path}")

    def tmux(self, *args):
        return subprocess.run(["tmux", "-L", self.server, *args],
                              capture_output=True, text=True, timeout=10,
                              check=True).stdout

    def screen(self):
        return self.tmux("capture-pane", "-p", "-t", self.name)

    def show(self, what):
        return self.tmux("display-message", "-p", "-t", self.name,
                         what).strip()

    def wait_for(self, text, timeout=5.0):
        return wait_until(lambda: text in self.screen() and self.screen(),
                          timeout, f"{text!r} on the screen; it holds:\n"
                          + self.screen())

    def keys(self, *keys):
        self.tmux("send-keys", "-t", self.name, *keys)

    def top_pid(self):
        """arborctl's pid: the child of the pane's shell."""
        sh = int(self.show("#{pane_pid}"))
        with open(f"/proc/{sh}/task/{sh}/children") as f:
            kids = [int(p) for p in f.read().split()]
        for pid in kids:
            with open(f"/proc/{pid}/comm") as f:
                if f.read().strip() == "arborctl":
                    return pid
        return None

    def kill(self):
        subprocess.run(["tmux", "-L", self.server, "kill-server"],
                       capture_output=True, timeout=10)
        # a tmux server leaves its socket behind
        if os.path.exists(self.socket_path):
            os.unlink(self.socket_path)


@pytest.fixture
def pane():
    made = []

    def make(sock, *args, **kw):
        p = Pane(sock, *args, **kw)
        made.append(p)
        return p

    yield make
    for p in made:
        p.kill()


def rows_of(screen):
    """The rows below the column titles, as (indented name, state)."""
    lines = screen.splitlines()
    start = next(i for i, l in enumerate(lines) if l.startswith("PATH"))
    rows = []
    for line in lines[start + 1:]:
        m = re.match(r"^( *\S+) +(\S+) ", line)
        if not m or line.startswith("("):
            break
        rows.append((m.group(1), m.group(2)))
    return rows


def assert_fits(screen, width, height):
    lines = screen.split("\n")
    assert len(lines) <= height + 1, screen
    assert all(len(l) <= width for l in lines), screen


def assert_terminal_restored(p, status):
    """top exited with status, the pane's terminal cooked again (the
    shell's stty shows icanon and echo) and off the alternate screen."""
    screen = p.wait_for("stty done")
    assert f"top exited {status}\n" in screen, screen
    assert re.search(r"(^|\s)icanon(\s|$)", screen), screen
    assert re.search(r"(^|\s)echo(\s|$)", screen), screen
    assert p.show("#{alternate_on}") == "0"
    assert p.show("#{cursor_flag}") == "1"
    return screen


def test_top_draws_the_tree_in_80x24(arbord, pane):
    """Top shows every node in tree order, indented under its parent,
    with its state and restarts; no line passes 80 columns."""
    a = arbord(top_tree())
    a.wait_event("start", "cache")
    p = pane(a.socket)
    screen = p.wait_for("cache")
    assert screen.startswith("arbor top  ")
    assert "sort: tree" in screen
    assert "6 nodes: 6 up" in screen
    assert rows_of(screen) == [("/", "up"), ("  db", "up"), ("  web", "up"),
                               ("    app", "up"), ("    busy", "up"),
                               ("  cache", "up")]
    assert_fits(screen, 80, 24)
    p.keys("q")
    assert_terminal_restored(p, 0)


def has_stats(sock):
    """Whether this arbord answers Status with stats (issue 15)."""
    out = subprocess.run([ARBORCTL, "--socket", str(sock), "call", STATUS,
                          '{"stats": true}'], capture_output=True,
                         text=True, timeout=10)
    return "stats" in json.loads(out.stdout)["nodes"][0]


def test_sort_keys(arbord, pane):
    """m, c, r, s and t change the sort the header names; siblings sort
    within their parent, so the tree stays whole. With stats, the CPU
    sort puts web (whose busy loop spins) before db, and busy before app."""
    a = arbord(top_tree())
    a.wait_event("start", "cache")
    p = pane(a.socket, "-d", "0.2")
    p.wait_for("cache")
    for key, name in (("m", "memory"), ("r", "restarts"), ("s", "state"),
                      ("c", "cpu")):
        p.keys(key)
        p.wait_for(f"sort: {name}")
    if has_stats(a.socket):
        def busy_first():
            names = [n.strip() for n, _ in rows_of(p.screen())]
            return names[:4] == ["/", "web", "busy", "app"] and names
        wait_until(busy_first, 5, "busy first by CPU: " + p.screen())
    names = [n for n, _ in rows_of(p.screen())]
    assert names.index("    app") > names.index("  web")
    p.keys("t")
    screen = p.wait_for("sort: tree")
    assert [n for n, _ in rows_of(screen)] == [
        "/", "  db", "  web", "    app", "    busy", "  cache"]
    p.keys("h")
    p.wait_for("keys: c cpu")
    p.keys("q")
    assert_terminal_restored(p, 0)


def test_resize_redraws_within_the_new_size(arbord, pane):
    """After the terminal shrinks (SIGWINCH), the screen fits it, and the
    rows that no longer fit are counted."""
    a = arbord(top_tree())
    a.wait_event("start", "cache")
    p = pane(a.socket, "-d", "30")  # no refresh: the resize alone redraws
    p.wait_for("cache")
    p.tmux("resize-window", "-t", p.name, "-x", "50", "-y", "8")
    screen = p.wait_for("more rows)")
    assert_fits(screen, 50, 8)
    assert "(3 more rows)" in screen
    p.tmux("resize-window", "-t", p.name, "-x", "100", "-y", "30")
    screen = p.wait_for("  cache")
    assert "more rows" not in screen
    p.keys("q")
    assert_terminal_restored(p, 0)


def test_arbord_going_away_ends_top(arbord, pane):
    """When arbord dies, top says so after giving the terminal back, and
    exits 4 as every command does when arbord is unreachable."""
    a = arbord(top_tree())
    a.wait_event("start", "cache")
    p = pane(a.socket, "-d", "30")  # seen from the connection, not a refresh
    p.wait_for("cache")
    a.proc.kill()
    a.proc.wait(timeout=10)
    screen = assert_terminal_restored(p, 4)
    assert "arborctl: arbord is not running: cannot connect to " in screen
    assert "Connection refused" in screen


def test_top_lives_through_a_reexec(arbord, pane):
    """arbord closes top's connection to re-execute; top connects again
    and goes on refreshing, without a word."""
    a = arbord(top_tree())
    a.wait_event("start", "cache")
    p = pane(a.socket, "-d", "0.2")
    p.wait_for("cache")
    r = subprocess.run([ARBORCTL, "--socket", str(a.socket), "reexec"],
                       capture_output=True, text=True, timeout=30 * SLOW)
    assert r.returncode == 0, r.stderr
    clock = p.screen().split()[2]
    wait_until(lambda: p.screen().split()[2] != clock, 5,
               "the clock to move after the re-exec: " + p.screen())
    screen = p.screen()
    assert "top exited" not in screen and "arborctl:" not in screen
    assert "6 nodes: 6 up" in screen
    p.keys("q")
    assert_terminal_restored(p, 0)


def test_sigterm_and_ctrl_c_give_the_terminal_back(arbord, pane):
    """SIGTERM ends top by SIGTERM (status 143) with the terminal given
    back; Ctrl-C, a key in raw mode, quits as q does."""
    a = arbord(top_tree())
    a.wait_event("start", "cache")
    p = pane(a.socket)
    p.wait_for("cache")
    os.kill(p.top_pid(), signal.SIGTERM)
    assert_terminal_restored(p, 143)
    q = pane(a.socket)
    q.wait_for("cache")
    q.keys("C-c")
    assert_terminal_restored(q, 0)


def test_batch_mode_is_plain_text(arbord):
    """-b -n 2 prints two whole screens, a blank line between them, with
    no escape sequence, and exits 0; without a terminal and without -b,
    top refuses with exit 2."""
    a = arbord(top_tree())
    a.wait_event("start", "cache")
    r = subprocess.run([ARBORCTL, "--socket", str(a.socket), "top", "-b",
                        "-n", "2", "-d", "0.2"], capture_output=True,
                       text=True, timeout=10 * SLOW,
                       stdin=subprocess.DEVNULL)
    assert (r.returncode, r.stderr) == (0, "")
    assert "\x1b" not in r.stdout
    screens = r.stdout.split("\n\n")
    assert len(screens) == 2
    for s in screens:
        assert [n for n, _ in rows_of(s)] == [
            "/", "  db", "  web", "    app", "    busy", "  cache"]
    r = subprocess.run([ARBORCTL, "--socket", str(a.socket), "top"],
                       capture_output=True, text=True, timeout=10 * SLOW,
                       stdin=subprocess.DEVNULL)
    assert r.returncode == 2
    assert "top needs a terminal" in r.stderr
    r = subprocess.run([ARBORCTL, "--socket", str(a.socket), "top", "-b",
                        "-n", "1", "nope"], capture_output=True, text=True,
                       timeout=10 * SLOW, stdin=subprocess.DEVNULL)
    assert (r.returncode, r.stderr) == (1, "arborctl: no such child 'nope'\n")


# ---- against a fake arbord: stats, and connections closed under top ----


def reply_with_stats(cpu_usec):
    stats = {"source": "cgroup", "memory": 3 << 20, "cpu_usec": cpu_usec,
             "tasks": 2}
    return {"containment": {"mode": "cgroup2",
                            "cgroup": "/sys/fs/cgroup/unified/arbord-1",
                            "controllers": ["cpu", "memory"]},
            "nodes": [{"path": "/", "state": "up", "restarts": 0,
                       "stats": stats},
                      {"path": "busy", "state": "up", "restarts": 3,
                       "stats": stats}]}


class FakeArbord:
    """Accepts connections in turn; on each answers `calls` Status calls
    (a list of replies per connection, an error name for an error), then
    closes it."""

    def __init__(self, path, per_connection):
        self.calls = []
        self.failure = None
        self.per_connection = per_connection
        self.listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.listener.bind(str(path))
        self.listener.listen(8)
        self.listener.settimeout(10 * SLOW)
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self):
        try:
            for replies in self.per_connection:
                sock, _ = self.listener.accept()
                with sock:
                    sock.settimeout(10 * SLOW)
                    buf = b""
                    for reply in replies:
                        while b"\0" not in buf:
                            chunk = sock.recv(65536)
                            if not chunk:
                                raise EOFError("top closed early")
                            buf += chunk
                        msg, buf = buf.split(b"\0", 1)
                        self.calls.append(json.loads(msg))
                        if isinstance(reply, str):
                            reply = {"error": reply, "parameters": {}}
                        else:
                            reply = {"parameters": reply}
                        sock.sendall(json.dumps(reply).encode() + b"\0")
        except Exception as e:
            self.failure = e

    def finish(self):
        self.thread.join(15 * SLOW)
        self.listener.close()
        assert not self.thread.is_alive()
        if self.failure:
            raise self.failure


def test_stats_columns_and_reconnects(tmp_path):
    """Status is called with stats; the second refresh shows CPU % from
    the growth of cpu_usec, memory in units, tasks, the containment and
    the source of the numbers. A connection arbord closes (idle, or a
    re-exec: Reexecuting) is opened again without a word."""
    sock = tmp_path / "arbor.sock"
    fake = FakeArbord(sock, [
        [reply_with_stats(0)],  # then closed, as an idle connection
        ["org.arbor.supervisor.Reexecuting"],
        [reply_with_stats(200000)],
    ])
    r = subprocess.run([ARBORCTL, "--socket", str(sock), "top", "-b", "-n",
                        "2", "-d", "0.2"], capture_output=True, text=True,
                       timeout=10 * SLOW, stdin=subprocess.DEVNULL)
    fake.finish()
    assert (r.returncode, r.stderr) == (0, "")
    assert all(c == {"method": STATUS, "parameters": {"stats": True}}
               for c in fake.calls), fake.calls
    first, second = r.stdout.split("\n\n")
    assert ("cgroup2 [cpu memory] /sys/fs/cgroup/unified/arbord-1; "
            "usage: cgroups") in first
    assert re.search(r"\n  busy +up +3 +- +3\.0M +2$", first, re.M), first
    m = re.search(r"\n  busy +up +3 +(\d+\.\d) +3\.0M +2$", second, re.M)
    assert m, second
    # 0.2 s of CPU in about 0.2 s of wall time, which is measured when
    # each reply arrives.
    assert 50 < float(m.group(1)) < 200


def test_no_arbord_is_exit_4(tmp_path):
    r = subprocess.run([ARBORCTL, "--socket", str(tmp_path / "none.sock"),
                        "top", "-b"], capture_output=True, text=True,
                       timeout=10 * SLOW, stdin=subprocess.DEVNULL)
    assert r.returncode == 4
    assert "arbord is not running: cannot connect to" in r.stderr
