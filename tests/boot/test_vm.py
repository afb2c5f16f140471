"""The README's small-system quick start, run as its reader would.

`make vm` boots conf.d/embedded/arbor.conf as the tree of a small system
whose init is arbord, under qemu with the console on the terminal. This
test is the terminal: it reads the console as it comes (a prompt ends with
no newline), logs in as root, types `arborctl status` and `arborctl
poweroff`, and checks what a reader of the README would see: the example
tree up, then stopped in reverse order, and qemu gone with the guest.
"""

import os
import re
import select
import signal
import subprocess
import time

import pytest

from harness import REPO, missing

ANSI = re.compile(r"\x1b\[[0-9;?]*[a-zA-Z]")
COMMAND = "packaging/install-deps --test && make vm"
LIMIT = 180  # seconds for the whole session under TCG on a loaded host


class Terminal:
    """`make vm` with its stdin and stdout as the test's terminal."""

    def __init__(self):
        # timeout leads a session of its own: cleanup kills it by its pid.
        self.proc = subprocess.Popen(
            ["timeout", "-k", "5", str(LIMIT), "make", "-s", "-C", REPO,
             "vm"], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT, start_new_session=True)
        self.raw = b""

    def text(self):
        return ANSI.sub("", self.raw.decode("utf-8", "replace")).replace(
            "\r", "")

    def wait_for(self, pattern, seconds):
        """Reads until the console matches pattern; fails with the
        console when it does not within seconds."""
        deadline = time.monotonic() + seconds
        rx = re.compile(pattern, re.M)
        while not rx.search(self.text()):
            left = deadline - time.monotonic()
            assert left > 0, f"no /{pattern}/ in {seconds}s:\n{self.text()}"
            ready, _, _ = select.select([self.proc.stdout], [], [], left)
            if ready:
                chunk = os.read(self.proc.stdout.fileno(), 65536)
                assert chunk, f"make vm ended before /{pattern}/:\n" + \
                    self.text()
                self.raw += chunk

    def type(self, line):
        self.proc.stdin.write(line.encode() + b"\n")
        self.proc.stdin.flush()

    def cleanup(self):
        if self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        self.proc.wait()
        self.proc.stdin.close()
        self.proc.stdout.close()


@pytest.fixture
def terminal():
    why = missing()
    if why:
        pytest.skip(why)
    t = Terminal()
    yield t
    t.cleanup()


def test_readme_names_make_vm():
    with open(os.path.join(REPO, "README.md")) as f:
        assert f"    $ {COMMAND}\n" in f.read()


def test_make_vm_boots_the_embedded_example(terminal):
    terminal.wait_for(r"login: $", 120)
    terminal.type("root")
    terminal.wait_for(r"# $", 30)
    terminal.type("arborctl status")
    terminal.wait_for(r"`- uploader .*\n(?:.*\n)*.*# $", 30)
    for node in ("getty", "app", "collector", "uploader"):
        assert re.search(rf"[|`]- {node} +\S+ +\S+ +up", terminal.text()), \
            terminal.text()
    terminal.type("arborctl poweroff")
    terminal.wait_for(r"reboot: Power down", 60)
    assert terminal.proc.wait(timeout=30) == 0, terminal.text()
    stops = re.findall(r"event=stop path=(\S+)", terminal.text())
    assert stops == ["app/uploader", "app/collector", "app", "getty"], \
        terminal.text()
