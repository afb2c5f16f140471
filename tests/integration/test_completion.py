"""arborctl's zsh and fish completions (issue 16), each run by its real
shell against a real arbord: commands, the options of the command on the
line, signal names for kill -s, and node paths from the running tree on
the socket of the line (bash's completion is tested in
test_arborctl_ops.py; all three, as a user meets them on a terminal, in
test_completion_interactive.py).

zsh runs interactively on a pty, with compinit and the completion on its
fpath; a widget bound to a key runs the real complete-word, and compadd
is wrapped to record the words it would offer (after zsh matched them
against the line) in a file instead of showing them. fish answers
`complete -C LINE` without a terminal. A test is skipped, saying so, when
its shell is not installed (packaging/install-deps --test installs both).
"""

import os
import pty
import re
import select
import shutil
import subprocess
import time

import pytest

from conftest import SLOW, start_web
from test_arborctl import ARBORCTL

PACKAGING = os.path.join(os.path.dirname(ARBORCTL), "..", "packaging")
ZSH_DIR = os.path.abspath(os.path.join(PACKAGING, "zsh-completion"))
FISH_DIR = os.path.abspath(os.path.join(PACKAGING, "fish-completion"))


def user_env(sock):
    """arborctl on PATH and ARBOR_SOCKET set, as a user's shell has
    them."""
    return dict(os.environ, ARBOR_SOCKET=str(sock), TERM="xterm",
                PATH=os.path.dirname(ARBORCTL) + ":" + os.environ["PATH"])


def need(shell):
    if shutil.which(shell) is None:
        pytest.skip(f"{shell} is not installed (Debian: {shell}; "
                    "packaging/install-deps --test installs it)")


# ---- zsh ----------------------------------------------------------------------

# compadd calls that only ask what would match (-O, -A, -D) are the
# completion system's own and go through untouched; the others are the
# words offered, recorded instead of shown.
ZSHRC = r"""
fpath=(%(fpath)s $fpath)
autoload -Uz compinit
compinit -u -D
bindkey -e
typeset -ga recorded
compadd() {
	if [[ ${@[1,(i)(-|--)]} == *-(O|A|D)\ * ]]; then
		builtin compadd "$@"
		return
	fi
	local -a words
	builtin compadd -O words "$@"
	local ret=$?
	recorded+=($words)
	return ret
}
record_completion() {
	recorded=()
	zle complete-word
	print -rl -- $recorded >%(out)s.part
	mv %(out)s.part %(out)s
}
zle -N record_completion
bindkey '^T' record_completion
"""


class Zsh:
    """An interactive zsh on a pty; complete(line) types the line and
    asks for completion at its end."""

    def __init__(self, home, sock):
        self.out = str(home / "offered")
        (home / ".zshrc").write_text(ZSHRC % {"fpath": ZSH_DIR,
                                              "out": self.out})
        self.master, slave = pty.openpty()
        # -d: not /etc/zsh/zshrc, whose key bindings vary by system.
        self.proc = subprocess.Popen(
            ["zsh", "-d", "-i"], stdin=slave, stdout=slave, stderr=slave,
            env=dict(user_env(sock), ZDOTDIR=str(home), HOME=str(home)),
            start_new_session=True)
        os.close(slave)

    def drain(self):
        """Reads what zsh wrote to the terminal (so it never blocks)
        into self.screen."""
        ready, _, _ = select.select([self.master], [], [], 0.05)
        if ready:
            try:
                self.screen += os.read(self.master, 4096)
            except OSError:  # EIO: zsh is gone; the caller times out
                pass

    def complete(self, line):
        """The words offered for line, sorted. ^U empties the line typed
        before."""
        if os.path.exists(self.out):
            os.remove(self.out)
        self.screen = b""
        os.write(self.master, b"\x15" + line.encode() + b"\x14")
        deadline = time.monotonic() + 10 * SLOW
        while not os.path.exists(self.out):
            assert self.proc.poll() is None, "zsh exited"
            assert time.monotonic() < deadline, f"no completion of {line!r}"
            self.drain()
        self.drain()
        # zsh reports an error in a completion function on the terminal
        # ("_arborctl:7: invalid subscript") and completes what it can.
        errors = re.findall(rb"_arborctl\w*:\d+: [^\r\n]*", self.screen)
        assert not errors, (line, errors)
        with open(self.out) as f:
            return sorted(w for w in f.read().splitlines() if w)

    def close(self):
        self.proc.kill()
        self.proc.wait(timeout=10)
        os.close(self.master)


@pytest.fixture
def zsh(tmp_path):
    need("zsh")
    shells = []

    def start(sock):
        home = tmp_path / f"zsh{len(shells)}"
        home.mkdir()
        shells.append(Zsh(home, sock))
        return shells[-1]

    yield start
    for shell in shells:
        shell.close()


COMMANDS = ["add", "call", "events", "halt", "kill", "logs", "metrics",
            "poweroff", "reboot", "reexec", "reload", "remove", "restart",
            "show", "shutdown", "spawn", "start", "status", "stop", "top",
            "wait"]
SIGNALS = ["ALRM", "CONT", "HUP", "INT", "KILL", "QUIT", "STOP", "TERM",
           "USR1", "USR2", "WINCH"]
GLOBAL = ["--help", "--json", "--no-color", "--socket", "--version"]


def test_zsh_completes_commands_and_the_options_of_each(arbord, zsh):
    """zsh offers every command, the global options before the command,
    and after it the command's own options and their values: those of
    -n are logs' line counts after logs and top's refreshes after top."""
    a = start_web(arbord)
    z = zsh(a.socket)
    assert z.complete("arborctl ") == COMMANDS
    assert z.complete("arborctl sh") == ["show", "shutdown"]
    assert z.complete("arborctl --") == GLOBAL
    assert z.complete("arborctl --no") == ["--no-color"]
    assert z.complete("arborctl wait --") == sorted(
        GLOBAL + ["--ready", "--timeout"])
    assert z.complete("arborctl status --st") == ["--stats"]
    assert z.complete("arborctl reload --d") == ["--dry-run"]
    assert z.complete("arborctl reexec --") == sorted(
        GLOBAL + ["--binary", "--timeout"])
    assert z.complete("arborctl logs --st") == ["--stream"]
    assert z.complete("arborctl logs --stream s") == ["stderr", "stdout"]
    assert z.complete("arborctl logs --since 1") == ["10m", "1d", "1h"]
    assert z.complete("arborctl logs --jo") == ["--journal",
                                                "--journal-directory"]
    assert z.complete("arborctl logs -n ") == ["10", "100", "1000", "all"]
    assert z.complete("arborctl top -n ") == ["1", "10", "2"]
    assert z.complete("arborctl wait --timeout 1") == ["10s", "1m"]
    assert z.complete("arborctl call org.varlink.") == [
        "org.varlink.service.GetInfo",
        "org.varlink.service.GetInterfaceDescription"]


def test_zsh_completes_signals_for_kill(arbord, zsh):
    """kill -s and --signal offer the signal names, and only kill has
    them."""
    a = start_web(arbord)
    z = zsh(a.socket)
    assert z.complete("arborctl kill -s ") == SIGNALS
    assert z.complete("arborctl kill --signal U") == ["USR1", "USR2"]
    assert z.complete("arborctl kill -s H") == ["HUP"]
    assert z.complete("arborctl kill -s TERM web/a") == ["web/app"]
    assert "--signal" not in z.complete("arborctl stop --")


def test_zsh_completes_paths_from_the_tree_on_the_lines_socket(
        arbord, zsh, tmp_path):
    """Paths come from the running tree: the arbord of $ARBOR_SOCKET,
    or that of --socket on the line; no arbord, no path (and no
    error)."""
    a = start_web(arbord)
    z = zsh(a.socket)
    assert z.complete("arborctl wait web/") == ["web/app", "web/proxy"]
    assert z.complete("arborctl show web/p") == ["web/proxy"]
    assert z.complete("arborctl status a w") == ["web", "web/app",
                                                   "web/proxy"]
    assert z.complete("arborctl add w") == ["web", "web/app", "web/proxy"]
    assert z.complete("arborctl add web ") == []
    assert z.complete("arborctl spawn --name x w") == [
        "web", "web/app", "web/proxy"]
    gone = zsh(tmp_path / "no-arbord.sock")
    assert gone.complete("arborctl stop ") == []
    assert gone.complete(f"arborctl --socket {a.socket} stop web/a") == \
        ["web/app"]


# ---- fish ---------------------------------------------------------------------


def fish_complete(sock, line):
    """The words fish offers for line (without their descriptions),
    sorted, with the completion found on fish_complete_path as an
    installed one is."""
    script = (f"set -p fish_complete_path {FISH_DIR}\n"
              "complete -C $argv[1]\n")
    r = subprocess.run(["fish", "--no-config", "-c", script, line],
                       capture_output=True, text=True, env=user_env(sock),
                       timeout=10 * SLOW)
    assert r.returncode == 0 and r.stderr == "", r.stderr
    return sorted(w.split("\t")[0] for w in r.stdout.splitlines() if w)


def test_fish_completes_commands_and_the_options_of_each(arbord):
    """fish offers every command, the global options, and after the
    command its own options and their values."""
    need("fish")
    a = start_web(arbord)
    s = a.socket
    assert fish_complete(s, "arborctl ") == COMMANDS
    assert fish_complete(s, "arborctl sh") == ["show", "shutdown"]
    assert fish_complete(s, "arborctl --no") == ["--no-color"]
    assert fish_complete(s, "arborctl wait --") == sorted(
        GLOBAL + ["--ready", "--timeout"])
    assert fish_complete(s, "arborctl status --st") == ["--stats"]
    assert fish_complete(s, "arborctl reload --d") == ["--dry-run"]
    assert fish_complete(s, "arborctl reexec --") == sorted(
        GLOBAL + ["--binary", "--timeout"])
    assert fish_complete(s, "arborctl logs --st") == ["--stream"]
    assert fish_complete(s, "arborctl logs --stream s") == ["stderr",
                                                            "stdout"]
    assert fish_complete(s, "arborctl logs --since 1") == ["10m", "1d",
                                                           "1h"]
    assert fish_complete(s, "arborctl logs --jo") == ["--journal",
                                                      "--journal-directory"]
    assert fish_complete(s, "arborctl logs -n ") == ["10", "100", "1000",
                                                     "all"]
    assert fish_complete(s, "arborctl top -n ") == ["1", "10", "2"]
    assert fish_complete(s, "arborctl wait --timeout 1") == ["10s", "1m"]
    assert fish_complete(s, "arborctl call org.varlink.") == [
        "org.varlink.service.GetInfo",
        "org.varlink.service.GetInterfaceDescription"]
    assert fish_complete(s, "arborctl call org.varlink.service.GetInfo "
                         "org.") == []


def test_fish_completes_signals_for_kill(arbord):
    """kill -s and --signal offer the signal names, and only kill has
    them."""
    need("fish")
    a = start_web(arbord)
    assert fish_complete(a.socket, "arborctl kill -s ") == SIGNALS
    assert fish_complete(a.socket, "arborctl kill --signal U") == [
        "USR1", "USR2"]
    assert fish_complete(a.socket, "arborctl kill -s TERM web/a") == [
        "web/app"]
    assert "--signal" not in fish_complete(a.socket, "arborctl stop --")


def test_fish_completes_paths_from_the_tree_on_the_lines_socket(
        arbord, tmp_path):
    """Paths come from the running tree: the arbord of $ARBOR_SOCKET,
    or that of --socket on the line; no arbord, no path (and no
    error)."""
    need("fish")
    a = start_web(arbord)
    s = a.socket
    assert fish_complete(s, "arborctl wait web/") == ["web/app",
                                                      "web/proxy"]
    assert fish_complete(s, "arborctl show web/p") == ["web/proxy"]
    assert fish_complete(s, "arborctl status a w") == ["web", "web/app",
                                                       "web/proxy"]
    assert fish_complete(s, "arborctl add w") == ["web", "web/app",
                                                  "web/proxy"]
    assert fish_complete(s, "arborctl add web w") == []
    assert fish_complete(s, "arborctl spawn --name x w") == [
        "web", "web/app", "web/proxy"]
    gone = tmp_path / "no-arbord.sock"
    assert fish_complete(gone, "arborctl stop w") == []
    assert fish_complete(gone, f"arborctl --socket {s} stop web/a") == \
        ["web/app"]
