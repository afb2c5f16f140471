"""Conformance: replay OTP oracle scenarios against the real arbord.

Each scenarios/NN_name.json was run on real OTP supervisors by
/work/shared/oracle/run.sh, which wrote expected/NN_name.trace. The oracle is
the truth: when arbord disagrees, fix arbord (or this harness), never the
expected trace. Only SEMANTICS.md section 13 may make arbor differ, and the
scenarios are written so that it does not matter here (gaps between restarts
are far from `period` boundaries, because OTP counts whole seconds and arbord
milliseconds, M8).

For every scenario this test:
  * writes an arbor.conf for the scenario's tree, with every flag spelled out
    (OTP's defaults for omitted keys, SEMANTICS.md M13); each worker is
    `/bin/sh -c 'read code < "$0"; exit "$code"' FIFO`, one FIFO per worker
    named after its path ('/' -> '__');
  * runs `daemon/arbord -c arbor.conf` in the foreground and turns its logfmt
    event lines on stderr into trace lines (`start P`, `exit P REASON`,
    `stop P`, `giveup P`, `down`; the root's path `/` is the root's id);
  * plays the steps: exit "crash" writes "1" into the worker's FIFO, "normal"
    writes "0" (no newline, see do_exit), "shutdown" sends SIGTERM to the
    worker's pid (a SIGTERM that arbord did not send, M2); sleep_ms sleeps;
  * stops arbord with SIGTERM (unless the root already went down by itself)
    and compares the whole trace, and arbord's exit status (1 after the root
    gave up, else 0).

Pacing never relies on bare sleeps: before the k-th exit step the test waits
until arbord has emitted as many trace lines as precede the k-th `exit` line
of the expected trace (everything the earlier steps caused). See _settle()
for how the end of the run is detected.

Needs only the Python standard library and pytest (Debian's pytest-3); no
Erlang.
"""

import difflib
import errno
import json
import os
import signal
import subprocess
import threading
import time
from pathlib import Path

import pytest

from logfmt import parse_logfmt

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
# ARBORD=/path/to/arbord overrides the binary under test (default: the
# freshly built one in the repo).
ARBORD = Path(os.environ.get("ARBORD") or REPO / "daemon" / "arbord")
SCENARIOS = sorted((HERE / "scenarios").glob("*.json"))

STEP_TIMEOUT = 10.0   # s: waiting for the events that precede a step
FIFO_TIMEOUT = 5.0    # s: waiting for a worker to open its FIFO / to exec
QUIET = 0.5           # s: no new event for this long = arbord is idle
SETTLE_TIMEOUT = 10.0  # s: bound on the whole settling phase
EXIT_TIMEOUT = 10.0   # s: waiting for arbord to exit

# OTP's defaults (SEMANTICS.md F1, C1); arbor's own differ (M13).
OTP_DEFAULTS = {"strategy": "one_for_one", "intensity": 1, "period": 5,
                "auto_shutdown": "never", "restart": "permanent",
                "significant": False}

WORKER_SCRIPT = 'read code < "$0"; exit "$code"'


# --------------------------------------------------------------------------
# Configuration
# --------------------------------------------------------------------------

def fifo_path(tmp, path):
    return Path(tmp) / (path.replace("/", "__") + ".fifo")


def cfg_str(s):
    """A libconfig string literal."""
    out = ['"']
    for ch in s:
        if ch == "\\":
            out.append("\\\\")
        elif ch == '"':
            out.append('\\"')
        elif ch == "\n":
            out.append("\\n")
        elif ch == "\t":
            out.append("\\t")
        elif ord(ch) < 0x20:
            out.append("\\x%02x" % ord(ch))
        else:
            out.append(ch)
    out.append('"')
    return "".join(out)


def cfg_bool(b):
    return "true" if b else "false"


def sup_flags(node):
    return ("strategy = %s; intensity = %d; period = %d; auto_shutdown = %s;"
            % (cfg_str(node.get("strategy", OTP_DEFAULTS["strategy"])),
               node.get("intensity", OTP_DEFAULTS["intensity"]),
               node.get("period", OTP_DEFAULTS["period"]),
               cfg_str(node.get("auto_shutdown",
                                OTP_DEFAULTS["auto_shutdown"]))))


def is_sup(node):
    return node.get("type", "worker") == "supervisor"


def cfg_children(children, prefix, tmp, indent, workers):
    lines = []
    for i, c in enumerate(children):
        path = prefix + c["id"]
        head = ("{ name = %s; restart = %s; significant = %s;"
                % (cfg_str(c["id"]),
                   cfg_str(c.get("restart", OTP_DEFAULTS["restart"])),
                   cfg_bool(c.get("significant",
                                  OTP_DEFAULTS["significant"]))))
        sep = "," if i + 1 < len(children) else ""
        if is_sup(c):
            lines.append("%s%s %s" % (indent, head, sup_flags(c)))
            lines.append("%s  children = (" % indent)
            lines.extend(cfg_children(c.get("children", []), path + "/",
                                      tmp, indent + "    ", workers))
            lines.append("%s  ); }%s" % (indent, sep))
        else:
            fifo = fifo_path(tmp, path)
            workers[path] = fifo
            argv = ["/bin/sh", "-c", WORKER_SCRIPT, str(fifo)]
            lines.append("%s%s" % (indent, head))
            lines.append("%s  exec = [ %s ]; }%s"
                         % (indent, ", ".join(cfg_str(a) for a in argv), sep))
    return lines


def make_config(tree, tmp):
    """Returns (libconfig text, {worker path: fifo path})."""
    workers = {}
    lines = ["supervisor = { %s };" % sup_flags(tree), "children = ("]
    lines.extend(cfg_children(tree.get("children", []), "", tmp, "  ",
                              workers))
    lines.append(");")
    return "\n".join(lines) + "\n", workers


# --------------------------------------------------------------------------
# Events
# --------------------------------------------------------------------------

def event_to_trace(fields, root_id):
    """One arbord event (parsed logfmt) -> one trace line."""
    kind = fields.get("event")
    path = fields.get("path")
    if path == "/":
        path = root_id
    if kind == "down":
        return "down"
    if kind == "exit":
        return "exit %s %s" % (path, fields.get("reason"))
    if kind in ("start", "stop", "giveup"):
        return "%s %s" % (kind, path)
    # Anything else (start_failed, ...) is kept so that a mismatch shows.
    return "%s %s" % (kind, path) if path is not None else str(kind)


# --------------------------------------------------------------------------
# One arbord run
# --------------------------------------------------------------------------

class Arbord:
    """arbord in the foreground, its stderr read by a thread."""

    def __init__(self, tmp, root_id):
        self.tmp = Path(tmp)
        self.root_id = root_id
        self.proc = None
        self.cond = threading.Condition()
        self.trace = []
        self.raw = []          # every stderr line, for diagnostics
        self.pids = {}         # path -> pid of its latest start
        self.all_pids = set()  # every worker pid ever started
        self.eof = False
        self.reader = None

    def start(self, conf):
        env = dict(os.environ)
        for k in ("NOTIFY_SOCKET", "LISTEN_FDS", "LISTEN_PID",
                  "LISTEN_FDNAMES", "WATCHDOG_USEC", "WATCHDOG_PID"):
            env.pop(k, None)
        # Keep the control socket private to this test (harmless if unused).
        env["ARBOR_SOCKET"] = str(self.tmp / "ctl.sock")
        self.stdout = open(self.tmp / "arbord.stdout", "wb")
        self.proc = subprocess.Popen(
            [str(ARBORD), "-c", str(conf)], cwd=str(self.tmp), env=env,
            stdin=subprocess.DEVNULL, stdout=self.stdout,
            stderr=subprocess.PIPE, start_new_session=True)
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self):
        for raw in iter(self.proc.stderr.readline, b""):
            line = raw.decode("utf-8", "replace").rstrip("\n")
            with self.cond:
                self.raw.append(line)
                if line.startswith("event="):
                    fields = parse_logfmt(line)
                    if fields.get("event") == "start" and "pid" in fields:
                        try:
                            pid = int(fields["pid"])
                        except ValueError:
                            pid = None
                        if pid:
                            self.pids[fields.get("path")] = pid
                            self.all_pids.add(pid)
                    self.trace.append(event_to_trace(fields, self.root_id))
                self.cond.notify_all()
        with self.cond:
            self.eof = True
            self.cond.notify_all()

    def snapshot(self):
        with self.cond:
            return list(self.trace)

    def alive(self):
        return self.proc.poll() is None

    def wait_lines(self, n, timeout=STEP_TIMEOUT):
        """Waits until at least n trace lines exist. Returns False on
        timeout or when arbord's stderr ended first."""
        deadline = time.monotonic() + timeout
        with self.cond:
            while len(self.trace) < n:
                left = deadline - time.monotonic()
                if left <= 0 or self.eof:
                    return False
                self.cond.wait(min(left, 0.1))
            return True

    def wait_quiet(self, quiet=QUIET, timeout=SETTLE_TIMEOUT):
        """Waits until no event arrived for `quiet` seconds, or `down` was
        seen, or stderr ended. Returns False on timeout."""
        deadline = time.monotonic() + timeout
        with self.cond:
            count, since = len(self.trace), time.monotonic()
            while True:
                now = time.monotonic()
                if self.eof or (self.trace and self.trace[-1] == "down"):
                    return True
                if len(self.trace) != count:
                    count, since = len(self.trace), now
                if now - since >= quiet:
                    return True
                if now >= deadline:
                    return False
                self.cond.wait(0.05)

    def wait_exit(self, timeout=EXIT_TIMEOUT):
        try:
            rc = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            return None
        # stderr may still be held open by a leftover worker; bounded join.
        self.reader.join(2.0)
        return rc

    def cleanup(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                pass
        self._kill_leftover_workers()
        if self.proc is not None and self.proc.stderr:
            self.proc.stderr.close()
        if getattr(self, "stdout", None):
            self.stdout.close()

    def _kill_leftover_workers(self):
        """SIGKILL the process group of every worker this run started that
        is still there. A group is killed only if one of its members still
        carries this run's tmp dir in its command line (the FIFO argument),
        so a recycled pid can never make us hit somebody else's group."""
        with self.cond:
            pgids = set(self.all_pids)
        if not pgids:
            return
        marker = str(self.tmp).encode()
        mine = set()
        for entry in os.listdir("/proc"):
            if not entry.isdigit():
                continue
            try:
                with open("/proc/%s/stat" % entry, "rb") as f:
                    stat = f.read()
                pgrp = int(stat[stat.rindex(b")") + 2:].split()[2])
                if pgrp not in pgids:
                    continue
                with open("/proc/%s/cmdline" % entry, "rb") as f:
                    if marker in f.read():
                        mine.add(pgrp)
            except (OSError, ValueError, IndexError):
                continue
        for pgid in mine:
            try:
                os.killpg(pgid, signal.SIGKILL)
            except ProcessLookupError:
                pass


@pytest.fixture
def arbord_run(tmp_path):
    runs = []

    def make(root_id):
        run = Arbord(tmp_path, root_id)
        runs.append(run)
        return run

    yield make
    for run in runs:
        run.cleanup()


# --------------------------------------------------------------------------
# Steps
# --------------------------------------------------------------------------

def write_fifo(run, fifo, data):
    """Opens the FIFO for writing without blocking; ENXIO means the worker
    has not opened it yet (not exec'd, or just restarted): poll, bounded."""
    deadline = time.monotonic() + FIFO_TIMEOUT
    while True:
        try:
            fd = os.open(str(fifo), os.O_WRONLY | os.O_NONBLOCK)
        except OSError as e:
            if e.errno != errno.ENXIO:
                raise
            if time.monotonic() >= deadline or not run.alive():
                return False
            time.sleep(0.01)
            continue
        try:
            os.write(fd, data)
        finally:
            os.close(fd)
        return True


def wait_exec(run, pid, fifo):
    """Waits until pid runs the worker script (its argv names the FIFO), so
    that a SIGTERM hits the shell and not arbord's pre-exec child."""
    deadline = time.monotonic() + FIFO_TIMEOUT
    want = str(fifo).encode()
    while time.monotonic() < deadline:
        try:
            with open("/proc/%d/cmdline" % pid, "rb") as f:
                if want in f.read().split(b"\0"):
                    return True
        except OSError:
            return False
        time.sleep(0.01)
    return False


def do_exit(run, path, reason, workers):
    if reason in ("crash", "normal"):
        # No newline on purpose: `read` then returns only at EOF, i.e. after
        # write_fifo closed its end. With "1\n" the worker could exit, be
        # restarted and open the FIFO again while our write end was still
        # open (a delayed close), and the new instance would read EOF, exit
        # 2 and show up as a spurious crash. Seen on a loaded machine.
        data = b"1" if reason == "crash" else b"0"
        return write_fifo(run, workers[path], data), "no reader on its FIFO"
    if reason == "shutdown":
        with run.cond:
            pid = run.pids.get(path)
        if pid is None:
            return False, "no start event with a pid"
        if not wait_exec(run, pid, workers[path]):
            return False, "pid %d is not running the worker" % pid
        os.kill(pid, signal.SIGTERM)
        return True, ""
    raise ValueError("bad reason %r" % reason)


# --------------------------------------------------------------------------
# The test
# --------------------------------------------------------------------------

def report(expected, actual, run, note=""):
    diff = "\n".join(difflib.unified_diff(expected, actual, "expected",
                                          "arbord", lineterm=""))
    with run.cond:
        raw = run.raw[-60:]
    return ("%s\n--- expected ---\n%s\n--- arbord ---\n%s\n--- diff ---\n%s"
            "\n--- arbord stderr (tail) ---\n%s"
            % (note, "\n".join(expected), "\n".join(actual), diff,
               "\n".join(raw)))


def settle_target(expected):
    """Number of expected lines that precede the trailing block of
    `stop`/`down` lines: everything the steps themselves caused is in it."""
    n = len(expected)
    while n > 0 and (expected[n - 1] == "down"
                     or expected[n - 1].startswith("stop ")):
        n -= 1
    return n


@pytest.mark.parametrize("scenario", SCENARIOS, ids=[p.stem for p in SCENARIOS])
def test_conformance(scenario, tmp_path, arbord_run):
    if not (ARBORD.is_file() and os.access(ARBORD, os.X_OK)):
        pytest.fail("%s does not exist or is not executable: run `make` in %s"
                    " first" % (ARBORD, REPO), pytrace=False)
    expected_file = HERE / "expected" / (scenario.stem + ".trace")
    if not expected_file.is_file():
        pytest.fail("no expected trace %s (generate it with the oracle)"
                    % expected_file, pytrace=False)
    expected = expected_file.read_text().splitlines()
    sc = json.loads(scenario.read_text())
    tree = sc["tree"]
    root_id = tree.get("id", "root")

    conf_text, workers = make_config(tree, tmp_path)
    conf = tmp_path / "arbor.conf"
    conf.write_text(conf_text)
    for fifo in workers.values():
        os.mkfifo(str(fifo), 0o600)

    run = arbord_run(root_id)
    run.start(conf)

    exit_idx = [i for i, l in enumerate(expected) if l.startswith("exit ")]
    final = settle_target(expected)
    problem = ""
    k = 0
    for step in sc.get("steps", []):
        # Everything the earlier steps caused, up to the next exit line.
        target = exit_idx[k] if k < len(exit_idx) else final
        if not run.wait_lines(target):
            problem = ("arbord %s before step %r (waited for %d trace lines)"
                       % ("stopped" if not run.alive() else "stalled",
                          step, target))
            break
        if run.snapshot()[:target] != expected[:target]:
            problem = "trace diverged before step %r" % (step,)
            break
        if "sleep_ms" in step:
            time.sleep(step["sleep_ms"] / 1000.0)
            continue
        if k >= len(exit_idx):
            break  # the oracle's root was down before this step: not run
        ok, why = do_exit(run, step["exit"], step["reason"], workers)
        if not ok:
            problem = "could not perform step %r: %s" % (step, why)
            break
        k += 1

    # After the last step, wait for what it caused. The expected trace
    # cannot say whether its trailing stops come from the root's own end
    # (auto shutdown, giving up) or from the final shutdown that we request,
    # so wait for everything before that trailing block, then until arbord
    # is quiet (QUIET s without an event, or `down`). The quiet period also
    # lets unexpected extra events show up, and after a divergence it lets
    # arbord finish what it was doing, so that the report shows it all.
    if not problem and not run.wait_lines(final):
        problem = "arbord %s after the last step" % (
            "stopped" if not run.alive() else "stalled")
    if not run.wait_quiet() and not problem:
        problem = "arbord never became quiet after the last step"

    trace = run.snapshot()
    if run.alive() and not (trace and trace[-1] == "down"):
        run.proc.send_signal(signal.SIGTERM)
    rc = run.wait_exit()
    trace = run.snapshot()
    if rc is None:
        pytest.fail(report(expected, trace, run,
                           "arbord did not exit within %ds (%s)"
                           % (EXIT_TIMEOUT, problem or "after the run")),
                    pytrace=False)

    if trace != expected:
        pytest.fail(report(expected, trace, run,
                           problem or "the traces differ"), pytrace=False)
    want_rc = 1 if ("giveup %s" % root_id) in expected else 0
    if rc != want_rc:
        pytest.fail(report(expected, trace, run,
                           "arbord exited with %r, expected %d"
                           % (rc, want_rc)), pytrace=False)
