"""arborctl's completion as a user meets it: bash, zsh and fish run
interactively in a terminal, the test types a line and presses Tab, and
reads back the line the shell completed and the choices it listed on the
screen, against a running arbord (and against none).

Each shell runs in a tmux pane (200x50) on a private tmux server, with a
clean environment: env -i, its own HOME (and ZDOTDIR) in a temporary
directory, no rc file of the user or of the system, only the few lines
below (a plain prompt, and the report key). The completion files are
installed into that directory as `make install` lays them out under
$(PREFIX)/share (BASHCOMPDIR, ZSHCOMPDIR, FISHCOMPDIR; checked by
tests/packaging/test_install.py), and each shell
finds its file as it finds an installed one: bash-completion loads it on
the first Tab from XDG_DATA_DIRS, zsh's compinit from fpath, fish from
the vendor_completions.d of XDG_DATA_DIRS. bash without bash-completion
is tested too, with the file sourced, as a user without it does.

The shells are synchronised without sleeps: after the keys of a case, the
test presses ^T, bound in each shell to print an OSC 2 title holding a
count and the line being edited. The shell reads keys in order, so the
title changes only once the completion is over, and tmux, which reads the
pane in order, shows the new title only after what the completion drew.
A title sets no character on the screen.

Whatever fails, each shell is killed by its pid, its tmux server
stopped and the server's socket removed. A shell that is not installed
is skipped, saying so (Debian's bash-completion, zsh and fish:
packaging/install-deps --test installs them).

The other tests of the completions (test_completion.py for zsh and fish,
test_arborctl_ops.py for bash) call them without a terminal and cover
every option; these cover what a user sees.
"""

import os
import re
import shutil
import signal
import subprocess
import uuid

import pytest

from conftest import SLOW, pid_alive, start_web, wait_until
from test_arborctl import ARBORCTL

PACKAGING = os.path.abspath(
    os.path.join(os.path.dirname(ARBORCTL), "..", "packaging"))
BASH_COMPLETION = "/usr/share/bash-completion/bash_completion"
PROMPT = "arbor-test$ "
WIDTH, HEIGHT = 200, 50

pytestmark = pytest.mark.skipif(shutil.which("tmux") is None,
                                reason="tmux is not installed")


def install_completions(share):
    """The three files where `make install` puts them under share."""
    for source, target in [
            ("bash-completion/arborctl",
             "bash-completion/completions/arborctl"),
            ("zsh-completion/_arborctl", "zsh/vendor-completions/_arborctl"),
            ("fish-completion/arborctl.fish",
             "fish/vendor_completions.d/arborctl.fish")]:
        os.makedirs(os.path.dirname(share / target), exist_ok=True)
        shutil.copy(os.path.join(PACKAGING, source), share / target)


def clean_environment(home, sock):
    """What a user's shell has of arbor: arborctl on PATH and
    ARBOR_SOCKET; the sanitizers' options pass, should arborctl be built
    with them."""
    env = {"HOME": str(home), "TERM": "screen", "ARBOR_SOCKET": str(sock),
           "PATH": os.path.dirname(ARBORCTL) + ":/usr/bin:/bin",
           "XDG_DATA_DIRS": str(home / "share")}
    for name in ("ASAN_OPTIONS", "UBSAN_OPTIONS", "LSAN_OPTIONS"):
        if name in os.environ:
            env[name] = os.environ[name]
    return env


class Completion:
    """What the shell showed after the keys of a case: the line being
    edited, the choices it listed (without their descriptions), and the
    raw screen rows below the line."""

    def __init__(self, line, listed, below):
        self.line = line
        self.listed = listed
        self.below = below

    def __repr__(self):
        return f"Completion({self.line!r}, {self.listed!r}, {self.below!r})"


class Shell:
    """An interactive shell in a tmux pane. Subclasses say how it is
    started, how many Tabs list the choices, and how a row of its list
    reads."""

    tabs_to_list = 1

    def __init__(self):
        self.server = f"arbor-comp-{os.getpid()}-{uuid.uuid4().hex[:8]}"
        self.shell_pid = None
        self.socket_path = None
        self.reports = 0

    def start(self, home, sock):
        """Runs the shell with home as HOME and ARBOR_SOCKET at sock, and
        waits until it has read its rc file and waits for keys."""
        home.mkdir()
        install_completions(home / "share")
        env = clean_environment(home, sock)
        argv = self.setup(home, env)
        self.tmux("new-session", "-d", "-x", str(WIDTH), "-y", str(HEIGHT),
                  "-s", "shell", "--", "env", "-i",
                  *[f"{k}={v}" for k, v in env.items()], *argv)
        self.shell_pid = int(self.show("#{pane_pid}"))
        self.socket_path = self.show("#{socket_path}")
        self.report()

    def setup(self, home, env):
        """Writes the shell's rc files under home, adds to env; returns
        the command line of the shell."""
        raise NotImplementedError

    def tmux(self, *args):
        return subprocess.run(["tmux", "-L", self.server, "-f", "/dev/null",
                               *args], capture_output=True, text=True,
                              timeout=10 * SLOW, check=True).stdout

    def show(self, what):
        return self.tmux("display-message", "-p", "-t", "shell",
                         what).rstrip("\n")

    def report(self):
        """Presses ^T and returns the line being edited, once the shell
        has reported it in the pane's title (see the module's text)."""
        self.reports += 1
        self.tmux("send-keys", "-t", "shell", "C-t")
        mark = f"{self.reports}|"
        title = wait_until(
            lambda: (lambda t: t.startswith(mark) and t)(
                self.show("#{pane_title}")),
            10, f"the shell's report {self.reports} (its screen:\n"
            + self.tmux("capture-pane", "-p", "-t", "shell") + ")")
        return title[len(mark):]

    def press_tab(self, text, tabs=1):
        """On an empty line and a clear screen, types text and presses
        Tab `tabs` times; returns what the shell shows then."""
        self.tmux("send-keys", "-t", "shell", "C-u", "C-l")
        self.tmux("send-keys", "-t", "shell", "-l", text)
        self.tmux("send-keys", "-t", "shell", *["Tab"] * tabs)
        line = self.report()
        rows = self.tmux("capture-pane", "-p", "-t", "shell").split("\n")
        # C-l put the prompt and the line on the first row; the list is
        # below (bash prints the prompt and the line again under it).
        assert rows[0].startswith(PROMPT), rows
        below = []
        for row in rows[1:]:
            if row.startswith(PROMPT):
                break
            below.append(row)
        while below and below[-1].strip() == "":
            below.pop()
        listed = sorted(w for row in below for w in self.words_of(row))
        return Completion(line, listed, below)

    def complete(self, text):
        """The line after one Tab: what the shell inserted."""
        return self.press_tab(text).line

    def choices(self, text):
        """The choices listed when the user asks for them (Tab, or Tab
        twice in bash); text is chosen so that there is no common prefix
        to insert first, and the line must stay as typed."""
        c = self.press_tab(text, self.tabs_to_list)
        assert c.line == text, c
        return c.listed

    @staticmethod
    def words_of(row):
        return row.split()

    def close(self):
        if self.shell_pid is not None and pid_alive(self.shell_pid):
            os.kill(self.shell_pid, signal.SIGKILL)
        subprocess.run(["tmux", "-L", self.server, "kill-server"],
                       capture_output=True, timeout=10 * SLOW)
        # a tmux server leaves its socket behind
        if self.socket_path is not None and os.path.exists(self.socket_path):
            os.unlink(self.socket_path)


# ^T reports the line in the pane's title, counting the reports.
BASH_REPORT = r"""
arbor_reports=0
arbor_report() {
	arbor_reports=$((arbor_reports + 1))
	printf '\e]2;%s|%s\a' "$arbor_reports" "$READLINE_LINE"
}
bind -x '"\C-t": arbor_report'
"""


class Bash(Shell):
    """bash with bash-completion, which loads arborctl's completion from
    XDG_DATA_DIRS on the first Tab, as it loads an installed one."""

    tabs_to_list = 2

    def setup(self, home, env):
        if not os.path.exists(BASH_COMPLETION):
            pytest.skip("bash-completion is not installed (Debian: "
                        "bash-completion; packaging/install-deps --test "
                        "installs it)")
        # What /etc/profile.d/bash_completion.sh does for a login shell.
        return self.bash(home, env, f". {BASH_COMPLETION}\n")

    @staticmethod
    def bash(home, env, loading):
        """bash with an rc file of the prompt, loading (the lines that
        load the completion) and the report key."""
        (home / "bashrc").write_text(f"PS1='{PROMPT}'\n{loading}{BASH_REPORT}")
        # an empty inputrc: readline's defaults, not /etc/inputrc's
        (home / "inputrc").write_text("")
        env["INPUTRC"] = str(home / "inputrc")
        # --rcfile: neither ~/.bashrc nor /etc/bash.bashrc
        return ["bash", "--noprofile", "--rcfile", str(home / "bashrc"), "-i"]


class BashSourced(Bash):
    """bash without bash-completion, the file sourced by the user."""

    def setup(self, home, env):
        return self.bash(home, env, f". {home}/share/bash-completion/"
                         "completions/arborctl\n")


ZSHRC = r"""
PS1='%(prompt)s'
fpath=(%(share)s/zsh/vendor-completions $fpath)
autoload -Uz compinit
compinit -u -D
bindkey -e
integer arbor_reports
arbor-report() {
	(( arbor_reports++ ))
	print -rn -- $'\e]2;'"$arbor_reports|$BUFFER"$'\a' >/dev/tty
}
zle -N arbor-report
bindkey '^T' arbor-report
"""


class Zsh(Shell):
    """zsh with compinit and the completion on its fpath, as Debian's
    zsh has /usr/share/zsh/vendor-completions."""

    def setup(self, home, env):
        if shutil.which("zsh") is None:
            pytest.skip("zsh is not installed (Debian: zsh; "
                        "packaging/install-deps --test installs it)")
        (home / ".zshrc").write_text(ZSHRC % {"prompt": PROMPT,
                                              "share": home / "share"})
        env["ZDOTDIR"] = str(home)
        # -d: not /etc/zsh/zshrc, whose key bindings vary by system
        return ["zsh", "-d", "-i"]

    @staticmethod
    def words_of(row):
        # "start   -- start a stopped child"; words of one description
        # share a row: "--json  -j  -- machine output: ..."
        return row.split(" -- ")[0].split()


FISH_CONFIG = r"""
set -g fish_greeting
set -g fish_autosuggestion_enabled 0
function fish_prompt; echo -n '%(prompt)s'; end
function fish_right_prompt; end
function fish_title; end
set -g arbor_reports 0
function arbor_report
    set arbor_reports (math $arbor_reports + 1)
    printf '\e]2;%%s|%%s\a' $arbor_reports (commandline)
end
function fish_user_key_bindings
    bind \ct arbor_report
end
"""


class Fish(Shell):
    """fish, which finds the completion in the vendor_completions.d of
    XDG_DATA_DIRS."""

    def setup(self, home, env):
        if shutil.which("fish") is None:
            pytest.skip("fish is not installed (Debian: fish; "
                        "packaging/install-deps --test installs it)")
        config = home / ".config" / "fish"
        config.mkdir(parents=True)
        (config / "config.fish").write_text(FISH_CONFIG % {"prompt": PROMPT})
        return ["fish", "-i"]

    @staticmethod
    def words_of(row):
        # "start  (start a stopped child)  status  (the tree, ...)", and a
        # description may hold parentheses of its own
        words, depth = [], 0
        for token in re.findall(r"[()]|[^()\s]+", row):
            if token == "(":
                depth += 1
            elif token == ")":
                depth -= 1
            elif depth == 0:
                words.append(token)
        return words


SHELLS = {"bash": Bash, "bash-sourced": BashSourced, "zsh": Zsh,
          "fish": Fish}


@pytest.fixture(params=list(SHELLS))
def shell(request, tmp_path):
    """start(sock) runs the shell of the parameter with ARBOR_SOCKET at
    sock; every shell started is killed at the end."""
    started = []

    def start(sock):
        # listed before it starts: a shell that fails to is killed too
        started.append(SHELLS[request.param]())
        started[-1].start(tmp_path / f"home{len(started)}", sock)
        return started[-1]

    yield start
    for s in started:
        s.close()


def test_commands_and_their_options(arbord, shell):
    """Tab completes a command and an option of the command on the line,
    and lists them when several fit."""
    a = start_web(arbord)
    sh = shell(a.socket)
    assert sh.choices("arborctl st") == ["start", "status", "stop"]
    assert sh.complete("arborctl resta") == "arborctl restart "
    assert sh.choices("arborctl logs --s") == ["--since", "--socket",
                                                "--stream"]
    assert sh.complete("arborctl status --st") == "arborctl status --stats "
    assert sh.complete("arborctl logs --stream stde") == \
        "arborctl logs --stream stderr "
    assert sh.choices("arborctl kill -s USR") == ["USR1", "USR2"]


def test_paths_of_the_running_tree(arbord, shell):
    """Paths come from the running arbord, written as the user started
    them: web/app, or /web/app (arbord takes both)."""
    a = start_web(arbord)
    sh = shell(a.socket)
    assert sh.choices("arborctl status web/") == ["web/app", "web/proxy"]
    assert sh.complete("arborctl show web/p") == "arborctl show web/proxy "
    assert sh.complete("arborctl status /we") == "arborctl status /web"
    assert sh.choices("arborctl status /web/") == ["/web/app", "/web/proxy"]
    assert sh.complete("arborctl stop /web/a") == "arborctl stop /web/app "
    assert sh.choices("arborctl status /") == [
        "/", "/a", "/b", "/web", "/web/app", "/web/proxy"]


def test_the_socket_on_the_line(arbord, shell, tmp_path):
    """--socket PATH and --socket=PATH: the PATH completes as a file
    name, and the arbord there is the one whose paths are offered,
    whatever ARBOR_SOCKET says."""
    a = start_web(arbord)
    sh = shell(tmp_path / "no-arbord.sock")
    sock = str(a.socket)
    for option in ["--socket ", "--socket="]:
        # the socket's name, with a space or not: arbord's lock file
        # beside it may begin with it
        assert sh.complete(f"arborctl {option}{sock[:-2]}").rstrip() == \
            f"arborctl {option}{sock}"
        assert sh.complete(f"arborctl {option}{sock} stop web/a") == \
            f"arborctl {option}{sock} stop web/app "


def test_no_arbord_no_path_and_nothing_on_the_screen(shell, tmp_path):
    """Without an arbord on the socket, a path gets nothing: the line
    stays as typed and nothing is written under it (no error, no file
    name); commands and options are still completed."""
    sh = shell(tmp_path / "no-arbord.sock")
    for text in ["arborctl status ", "arborctl stop w", "arborctl stop /"]:
        c = sh.press_tab(text, sh.tabs_to_list)
        assert c.line == text and c.below == [], c
    assert sh.choices("arborctl st") == ["start", "status", "stop"]
    assert sh.complete("arborctl wait --r") == "arborctl wait --ready "


def test_directories_complete_into_themselves(shell, tmp_path):
    """-D DIR (logs' journal directory) completes a directory with its
    slash and no space, so that the next Tab goes into it, as ls's
    completion does; the same for --socket's files."""
    jdir = tmp_path / "journals" / "machine-id"
    jdir.mkdir(parents=True)
    sh = shell(tmp_path / "no-arbord.sock")
    top = str(tmp_path / "journ")
    assert sh.complete(f"arborctl logs -D {top}") == \
        f"arborctl logs -D {tmp_path}/journals/"
    assert sh.complete(f"arborctl logs -D {tmp_path}/journals/mach") == \
        f"arborctl logs -D {jdir}/"
    assert sh.complete(f"arborctl --socket {top}") == \
        f"arborctl --socket {tmp_path}/journals/"
