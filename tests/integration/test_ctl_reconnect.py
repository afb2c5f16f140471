"""arborctl across arbord's re-exec, against a fake arbord.

A Python Unix-socket server speaks the control protocol (NUL-framed JSON)
from a script, one function per connection it accepts, so that arborctl's
side of `arborctl reexec` and of the reconnects of `events` and
`logs -f` is tested without the daemon's runtime: the fake streams a few
events or lines, ends the stream with Reexecuting and closes, then accepts
again (the listening socket stays, as arbord's does). Every wait is
bounded; the server thread is joined at the end of each test.
"""

import json
import os
import socket
import subprocess
import threading
import time

import pytest

from conftest import SLOW

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
ARBORCTL = os.path.join(REPO, "ctl", "arborctl")
REEXECUTING = "org.arbor.supervisor.Reexecuting"
REEXEC_FAILED = "org.arbor.supervisor.ReexecFailed"


class Peer:
    """One accepted connection: read calls, write replies."""

    def __init__(self, sock):
        self.sock = sock
        self.sock.settimeout(5.0 * SLOW)
        self.buf = b""

    def call(self):
        while b"\0" not in self.buf:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise EOFError("arborctl closed before calling")
            self.buf += chunk
        msg, self.buf = self.buf.split(b"\0", 1)
        return json.loads(msg)

    def send(self, obj):
        self.sock.sendall(json.dumps(obj).encode() + b"\0")

    def reply(self, parameters, continues=False):
        msg = {"parameters": parameters}
        if continues:
            msg["continues"] = True
        self.send(msg)

    def error(self, name, parameters):
        self.send({"error": name, "parameters": parameters})


class FakeArbord:
    """Serves the scripted sessions in order, one per connection, then
    stops accepting. Each session gets (peer, call) and the calls are kept
    in .calls. pause_s: how long the socket is left unaccepted between
    sessions (a client connecting meanwhile waits in the backlog)."""

    def __init__(self, path, sessions, pause_s=0.2):
        self.path = str(path)
        self.sessions = sessions
        self.pause_s = pause_s
        self.calls = []
        self.failure = None
        self.listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.listener.bind(self.path)
        self.listener.listen(8)
        self.listener.settimeout(10.0 * SLOW)
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self):
        try:
            for i, session in enumerate(self.sessions):
                if i > 0:
                    time.sleep(self.pause_s)
                sock, _ = self.listener.accept()
                with sock:
                    peer = Peer(sock)
                    call = peer.call()
                    self.calls.append(call)
                    session(peer, call)
        except Exception as e:  # reported by finish()
            self.failure = e

    def finish(self):
        self.thread.join(15.0 * SLOW)
        self.listener.close()
        assert not self.thread.is_alive(), "the fake arbord did not finish"
        if self.failure:
            raise self.failure


def run(sock, *args, timeout=20):
    env = dict(os.environ, ARBOR_SOCKET=str(sock))
    env.pop("NO_COLOR", None)
    return subprocess.run([ARBORCTL, *args], capture_output=True, text=True,
                          env=env, timeout=timeout * SLOW,
                          stdin=subprocess.DEVNULL)


@pytest.fixture
def sock(tmp_path):
    return tmp_path / "arbor.sock"


def event(name, path):
    return {"event": {"event": name, "path": path}}


def line(seq, text):
    return {"seq": seq, "time": "2026-12-03T04:00:00.000000Z",
            "path": "web", "pid": 42, "stream": "stdout", "line": text}


VERSIONS = {"from": "0.9.0", "to": "1.0.0"}


def test_events_reconnect_after_reexecuting(sock):
    """arborctl events prints every event once across a re-exec: on
    Reexecuting it says so, connects again (waiting in the backlog while
    no image accepts), calls Events again and says it reconnected."""
    def before(peer, call):
        assert call["method"] == "org.arbor.supervisor.Events"
        assert call.get("more") is True
        peer.reply(event("start", "a"), continues=True)
        peer.reply(event("ready", "a"), continues=True)
        peer.error(REEXECUTING, VERSIONS)

    def after(peer, call):
        assert call["method"] == "org.arbor.supervisor.Events"
        assert call.get("more") is True
        peer.reply(event("exit", "a"), continues=True)
        peer.reply(event("down", None))

    fake = FakeArbord(sock, [before, after])
    r = run(sock, "--json", "events")
    fake.finish()
    assert r.returncode == 0, r.stderr
    got = [json.loads(x)["event"] for x in r.stdout.splitlines()]
    assert got == ["start", "ready", "exit", "down"]
    assert r.stderr.splitlines() == [
        "arborctl: arbord is re-executing (0.9.0 -> 1.0.0); reconnecting",
        "arborctl: reconnected"]


def test_logs_follow_resumes_after_last_seq(sock):
    """arborctl logs -f reconnects after Reexecuting and asks for the
    lines after the last one it printed (after, lines -1): none twice,
    none lost."""
    def before(peer, call):
        assert call["method"] == "org.arbor.supervisor.Logs"
        assert call["parameters"] == {"lines": 10, "follow": True,
                                      "path": "web"}
        peer.reply({"lines": [line(5, "five"), line(6, "six")]},
                   continues=True)
        peer.reply({"lines": [line(7, "seven")]}, continues=True)
        peer.error(REEXECUTING, VERSIONS)

    def after(peer, call):
        assert call["method"] == "org.arbor.supervisor.Logs"
        assert call.get("more") is True
        assert call["parameters"] == {"lines": -1, "follow": True,
                                      "path": "web", "after": 7}
        peer.reply({"lines": [line(8, "eight")]}, continues=True)
        peer.reply({"lines": [line(9, "nine")]}, continues=True)
        peer.reply({"lines": []})

    fake = FakeArbord(sock, [before, after])
    r = run(sock, "--json", "logs", "-f", "web")
    fake.finish()
    assert r.returncode == 0, r.stderr
    assert [json.loads(x)["seq"] for x in r.stdout.splitlines()] == \
        [5, 6, 7, 8, 9]
    assert "arborctl: arbord is re-executing (0.9.0 -> 1.0.0); " \
        "reconnecting\n" in r.stderr
    assert r.stderr.endswith("arborctl: reconnected\n")


def test_logs_follow_nothing_printed_asks_for_everything(sock):
    """A follower that printed no line (the rings were empty) asks for
    every line after the reconnect, without after: all of them are new."""
    def before(peer, call):
        peer.reply({"lines": []}, continues=True)
        peer.error(REEXECUTING, VERSIONS)

    def after(peer, call):
        assert call["parameters"] == {"lines": -1, "follow": True}
        peer.reply({"lines": [line(0, "first")]}, continues=True)
        peer.reply({"lines": []})

    fake = FakeArbord(sock, [before, after])
    r = run(sock, "logs", "-f")
    fake.finish()
    assert r.returncode == 0, r.stderr
    assert r.stdout.count("first") == 1


def test_logs_without_follow_does_not_reconnect(sock):
    """Only a stream reconnects: logs without -f reports Reexecuting as
    the error it is and fails."""
    def only(peer, call):
        peer.error(REEXECUTING, VERSIONS)

    fake = FakeArbord(sock, [only])
    r = run(sock, "logs")
    fake.finish()
    assert r.returncode == 1
    assert "arbord is re-executing (0.9.0 -> 1.0.0); try again" in r.stderr


def test_reexec_success(sock):
    """arborctl reexec sends binary and timeout (ms) and prints the new
    image's answer in one line."""
    def only(peer, call):
        assert call["method"] == "org.arbor.supervisor.Reexec"
        assert call["parameters"] == {"binary": "/opt/arbord",
                                      "timeout": 2500}
        peer.reply({"from": "0.9.0", "to": "1.0.0",
                    "binary": "/opt/arbord", "away_ms": 42})

    fake = FakeArbord(sock, [only])
    r = run(sock, "reexec", "--binary", "/opt/arbord", "--timeout", "2500ms")
    fake.finish()
    assert r.returncode == 0, r.stderr
    assert r.stdout == "reexec: arbord 0.9.0 -> 1.0.0 (/opt/arbord), " \
        "away 42 ms\n"
    assert r.stderr == ""


def test_reexec_json_defaults(sock):
    """Without options reexec sends no parameter (arbord's own binary,
    its default timeout); --json prints the reply's parameters."""
    reply = {"from": "0.9.0", "to": "0.9.0", "binary": "/usr/sbin/arbord",
             "away_ms": 7}

    def only(peer, call):
        assert call["parameters"] == {}
        peer.reply(reply)

    fake = FakeArbord(sock, [only])
    r = run(sock, "reexec", "--json")
    fake.finish()
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout) == reply


def test_reexec_relative_binary_is_made_absolute(sock, tmp_path):
    """arbord's working directory is not the caller's: a relative
    --binary is sent absolute."""
    (tmp_path / "arbord-new").write_text("")

    def only(peer, call):
        assert call["parameters"] == {
            "binary": str(tmp_path / "arbord-new"), "timeout": 60000}
        peer.reply({"from": "a", "to": "b", "binary": "x", "away_ms": 1})

    fake = FakeArbord(sock, [only])
    env = dict(os.environ, ARBOR_SOCKET=str(sock))
    r = subprocess.run([ARBORCTL, "reexec", "--binary", "arbord-new",
                        "--timeout", "1m"], capture_output=True, text=True,
                       env=env, cwd=tmp_path, timeout=20 * SLOW)
    fake.finish()
    assert r.returncode == 0, r.stderr


def test_reexec_failed(sock):
    """ReexecFailed is said as "reexec refused: STEP: REASON", exit 1."""
    def only(peer, call):
        peer.error(REEXEC_FAILED, {"step": "check",
                                   "reason": "/opt/arbord: exec format "
                                   "error"})

    fake = FakeArbord(sock, [only])
    r = run(sock, "reexec", "--binary", "/opt/arbord")
    fake.finish()
    assert r.returncode == 1
    assert r.stdout == ""
    assert r.stderr == "arborctl: reexec refused: check: /opt/arbord: " \
        "exec format error\n"


@pytest.mark.parametrize("args", [
    ["reexec", "--timeout", "0"], ["reexec", "--timeout", "11m"],
    ["reexec", "--timeout", "soon"], ["reexec", "--timeout", "-5s"],
    ["reexec", "extra"], ["reexec", "--binary"],
    ["status", "--binary", "/x"], ["status", "--timeout", "1s"],
])
def test_reexec_usage_errors(sock, args):
    """Bad reexec command lines exit 2 without connecting."""
    r = run(sock, *args)
    assert r.returncode == 2, r.stderr
    assert "Try 'arborctl --help'." in r.stderr
