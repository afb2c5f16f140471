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
    named after its path ('/' -> '__'); a pool's template reads the FIFO of
    the instance's path, found from $ARBOR_INSTANCE;
  * runs `daemon/arbord -c arbor.conf` in the foreground and turns its logfmt
    event lines on stderr into trace lines (`start P`, `exit P REASON`,
    `stop P`, `giveup P`, `down`; the root's path `/` is the root's id);
  * plays the steps: exit "crash" writes "1" into the worker's FIFO, "normal"
    writes "0" (no newline, see do_exit), "shutdown" sends SIGTERM to the
    worker's pid (a SIGTERM that arbord did not send, M2); sleep_ms sleeps;
    `exits` does several exits while arbord is stopped (do_exits); the
    operator steps are arborctl commands (OPERATOR_COMMANDS), and each adds
    the trace line `reply PATH RESULT`, RESULT mapped from arborctl's answer
    (reply_result);
  * stops arbord with SIGTERM (unless the root already went down by itself)
    and compares the whole trace, and arbord's exit status (1 after the root
    gave up, else 0). A run of consecutive `stop` lines of one pool's
    instances is compared sorted by name, as the oracle prints them (OTP
    stops them all at once, SO5).

Pacing never relies on bare sleeps: before a step the test waits until
arbord has emitted every trace line that the expected trace shows before the
step's own first line (its `exit`, or its `reply`), see plan_waits(). See
_settle() for how the end of the run is detected.

Needs only the Python standard library and pytest (Debian's pytest-3); no
Erlang.
"""

import difflib
import errno
import json
import os
import re
import signal
import subprocess
import threading
import time
from pathlib import Path

import pytest

from logfmt import parse_logfmt

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
# ARBORD=/path/to/arbord and ARBORCTL=/path/to/arborctl override the
# binaries under test (default: the freshly built ones in the repo).
ARBORD = Path(os.environ.get("ARBORD") or REPO / "daemon" / "arbord")
ARBORCTL = Path(os.environ.get("ARBORCTL") or REPO / "ctl" / "arborctl")
SCENARIOS = sorted((HERE / "scenarios").glob("*.json"))

STEP_TIMEOUT = 10.0   # s: waiting for the events that precede a step
FIFO_TIMEOUT = 5.0    # s: waiting for a worker to open its FIFO / to exec
QUIET = 0.5           # s: no new event for this long = arbord is idle
STEP_QUIET = 0.3      # s: the same, before an operator step (plan_waits)
SETTLE_TIMEOUT = 10.0  # s: bound on the whole settling phase
EXIT_TIMEOUT = 10.0   # s: waiting for arbord to exit
CTL_TIMEOUT = 10.0    # s: bound on one arborctl command

# OTP's defaults (SEMANTICS.md F1, C1); arbor's own differ (M13).
OTP_DEFAULTS = {"strategy": "one_for_one", "intensity": 1, "period": 5,
                "auto_shutdown": "never", "restart": "permanent",
                "significant": False}

WORKER_SCRIPT = 'read code < "$0"; exit "$code"'
# A pool's template: $0 is the pool's FIFO prefix (instance_fifo_prefix),
# which the instance's name completes into its own FIFO.
INSTANCE_SCRIPT = 'read code < "$0$ARBOR_INSTANCE.fifo"; exit "$code"'

# The oracle's operator steps and the arborctl command each one is played
# with. delete_child has no arbor command of its own: it is played as
# `arborctl remove`, which is the same request on a child that is not
# running (terminate_child of a stopped child is a no-op, then
# delete_child); check_delete_child() refuses a scenario that uses it on a
# live child or on a pool instance, where the two differ.
OPERATOR_COMMANDS = {"terminate": "stop", "restart_child": "start",
                     "start_child": "add", "delete_child": "remove",
                     "remove": "remove", "spawn": "spawn"}

# arborctl -j error names with an OTP counterpart (oracle README's table);
# AlreadyPresent is mapped by its `running` parameter (reply_result). Any
# other error is written error:snake_case_name, which OTP never produces.
OTP_ERRORS = {"AlreadyRunning": "running", "Restarting": "restarting",
              "NoSuchChild": "not_found", "NotRunning": "noproc",
              "ConfigInvalid": "bad_spec", "PoolInstance": "simple_one_for_one"}

# Events of the living tree (issue 12) with no line in an OTP trace: the
# bookkeeping of add/remove/reload, and the auto-shutdown notice (OTP shows
# an auto shutdown only through the stops and the parent's reaction); and
# arbord's own first line, which containment is in force (issue 15).
UNTRACED_EVENTS = {"add", "remove", "change", "reload", "reload_failed",
                   "shutdown", "containment"}


def is_operator(step):
    return any(k in step for k in OPERATOR_COMMANDS)


def operator_of(step):
    return next(k for k in OPERATOR_COMMANDS if k in step)


# --------------------------------------------------------------------------
# Paths and pools
# --------------------------------------------------------------------------

def child_path(parent, child_id, root_id):
    """The path of child_id under parent; the root's children have no
    prefix (the oracle's paths)."""
    return child_id if parent == root_id else parent + "/" + child_id


def parent_of(path, root_id):
    return path.rsplit("/", 1)[0] if "/" in path else root_id


def ctl_path(path, root_id):
    """arborctl names the root '/'."""
    return "/" if path == root_id else path


def is_sup(node):
    return node.get("type", "worker") == "supervisor"


def is_pool(node):
    return node.get("strategy") == "simple_one_for_one"


def pool_paths(tree, steps, root_id):
    """Every path that names a pool, in the tree or added by start_child."""
    pools = set()

    def walk(node, path):
        if is_pool(node):
            pools.add(path)
        for c in node.get("children", []):
            walk(c, child_path(path, c["id"], root_id))

    walk(tree, root_id)
    for step in steps:
        if "start_child" in step:
            walk(step["child"], child_path(step["start_child"],
                                           step["child"]["id"], root_id))
    return pools


def spawn_names(steps):
    """The instance name of each spawn step (None for other steps): its
    `name`, else the oracle's default, the number of that pool's unnamed
    spawn steps so far in the scenario (1, 2, ...): fixed when the scenario
    is read, so a failed spawn uses one too."""
    counters, names = {}, []
    for step in steps:
        if "spawn" not in step:
            names.append(None)
        elif "name" in step:
            names.append(step["name"])
        else:
            pool = step["spawn"]
            counters[pool] = counters.get(pool, 0) + 1
            names.append(str(counters[pool]))
    return names


def reply_path(step, instance_name, root_id):
    """The path a step's `reply` line names."""
    if "start_child" in step:
        return child_path(step["start_child"], step["child"]["id"], root_id)
    if "spawn" in step:
        return child_path(step["spawn"], instance_name, root_id)
    return step[operator_of(step)]


def instance_sort_key(line):
    """The oracle's order of a pool's instances: names of digits only
    first, in numeric order, then the others in byte order."""
    name = line[len("stop "):].rsplit("/", 1)[-1]
    if name.isdigit():
        return (0, int(name), b"")
    return (1, 0, name.encode())


def sort_instance_stops(trace, pools, root_id):
    """trace with every run of consecutive `stop` lines of one pool's
    instances sorted by name (oracle README, "Run-time children and
    pools": OTP stops them all at once, so their order is not part of the
    semantics, SO5)."""
    def pool_of_stop(line):
        if not line.startswith("stop "):
            return None
        pool = parent_of(line[len("stop "):], root_id)
        return pool if pool in pools else None

    out, i = [], 0
    while i < len(trace):
        pool = pool_of_stop(trace[i])
        j = i + 1
        if pool is not None:
            while j < len(trace) and pool_of_stop(trace[j]) == pool:
                j += 1
        out.extend(sorted(trace[i:j], key=instance_sort_key)
                   if pool is not None else trace[i:j])
        i = j
    return out


# --------------------------------------------------------------------------
# Configuration
# --------------------------------------------------------------------------

def fifo_path(tmp, path):
    return Path(tmp) / (path.replace("/", "__") + ".fifo")


def instance_fifo_prefix(tmp, pool, root_id):
    """What $ARBOR_INSTANCE + '.fifo' completes into fifo_path(tmp,
    instance path)."""
    if pool == root_id:
        return str(tmp) + "/"
    return str(Path(tmp) / (pool.replace("/", "__") + "__"))


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


def cfg_argv(argv):
    return "[ %s ]" % ", ".join(cfg_str(a) for a in argv)


def sup_flags(node):
    return ("strategy = %s; intensity = %d; period = %d; auto_shutdown = %s;"
            % (cfg_str(node.get("strategy", OTP_DEFAULTS["strategy"])),
               node.get("intensity", OTP_DEFAULTS["intensity"]),
               node.get("period", OTP_DEFAULTS["period"]),
               cfg_str(node.get("auto_shutdown",
                                OTP_DEFAULTS["auto_shutdown"]))))


def pool_flags(node):
    """A pool's flags: no auto_shutdown, which a pool refuses (A8); OTP
    knows no max_children, so none is written (unlimited)."""
    return ("strategy = %s; intensity = %d; period = %d;"
            % (cfg_str("simple_one_for_one"),
               node.get("intensity", OTP_DEFAULTS["intensity"]),
               node.get("period", OTP_DEFAULTS["period"])))


class Workers:
    """Every worker process the scenario can run: its FIFO, and the argv
    element that shows it runs the worker script (wait_exec)."""

    def __init__(self):
        self.fifo = {}
        self.mark = {}

    def add(self, path, fifo, mark):
        self.fifo[path] = fifo
        self.mark[path] = mark


class ConfigWriter:
    """The arbor.conf text of the scenario's tree and of its start_child
    specs; records each worker's FIFO in `workers` on the way."""

    def __init__(self, tmp, root_id):
        self.tmp = Path(tmp)
        self.root_id = root_id
        self.workers = Workers()

    def config(self, tree):
        if is_pool(tree):
            # Where the root's template goes is a guess (no scenario here
            # has a root pool): beside the root's flags.
            return ("supervisor = { %s\n  template = { %s };\n};\n"
                    % (pool_flags(tree),
                       self.template(tree, self.root_id)))
        lines = ["supervisor = { %s };" % sup_flags(tree), "children = ("]
        lines.extend(self.children(tree.get("children", []), self.root_id,
                                   "  "))
        lines.append(");")
        return "\n".join(lines) + "\n"

    def spec(self, parent, child):
        """The SPEC argument of `arborctl add`: one child's settings."""
        path = child_path(parent, child["id"], self.root_id)
        return " ".join(l.strip() for l in self.settings(child, path, ""))

    def children(self, children, parent, indent):
        lines = []
        for i, c in enumerate(children):
            sep = "," if i + 1 < len(children) else ""
            body = self.settings(c, child_path(parent, c["id"],
                                               self.root_id), indent + "  ")
            body[0] = indent + "{ " + body[0].lstrip()
            body[-1] += " }" + sep
            lines.extend(body)
        return lines

    def settings(self, c, path, indent):
        """One child's settings, as lines (no braces)."""
        head = ("name = %s; restart = %s; significant = %s;"
                % (cfg_str(c["id"]),
                   cfg_str(c.get("restart", OTP_DEFAULTS["restart"])),
                   cfg_bool(c.get("significant",
                                  OTP_DEFAULTS["significant"]))))
        if is_pool(c):
            return ["%s%s %s" % (indent, head, pool_flags(c)),
                    "%stemplate = { %s };" % (indent,
                                              self.template(c, path))]
        if is_sup(c):
            return (["%s%s %s" % (indent, head, sup_flags(c)),
                     "%schildren = (" % indent]
                    + self.children(c.get("children", []), path,
                                    indent + "  ")
                    + ["%s);" % indent])
        fifo = fifo_path(self.tmp, path)
        self.workers.add(path, fifo, str(fifo))
        argv = ["/bin/sh", "-c", WORKER_SCRIPT, str(fifo)]
        return ["%s%s" % (indent, head),
                "%sexec = %s;" % (indent, cfg_argv(argv))]

    def template(self, pool, path):
        prefix = instance_fifo_prefix(self.tmp, path, self.root_id)
        restart = pool.get("template", {}).get("restart",
                                               OTP_DEFAULTS["restart"])
        return ("restart = %s; exec = %s;"
                % (cfg_str(restart),
                   cfg_argv(["/bin/sh", "-c", INSTANCE_SCRIPT, prefix])))

    def instance(self, pool, name):
        """Records the worker of instance `name` of `pool`."""
        path = child_path(pool, name, self.root_id)
        self.workers.add(path, fifo_path(self.tmp, path),
                         instance_fifo_prefix(self.tmp, pool, self.root_id))


# --------------------------------------------------------------------------
# Events
# --------------------------------------------------------------------------

def event_to_trace(fields, root_id):
    """One arbord event (parsed logfmt) -> one trace line, or None for an
    event that OTP's trace has no line for."""
    kind = fields.get("event")
    path = fields.get("path")
    if kind in UNTRACED_EVENTS:
        return None
    if path == "/":
        path = root_id
    elif path is not None and path.startswith("/"):
        path = path[1:]
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
                    line = event_to_trace(fields, self.root_id)
                    if line is not None:
                        self.trace.append(line)
                self.cond.notify_all()
        with self.cond:
            self.eof = True
            self.cond.notify_all()

    def note(self, line):
        """Appends a line of the test's own (a `reply`) to the trace."""
        with self.cond:
            self.trace.append(line)
            self.cond.notify_all()

    def note_raw(self, text):
        """Adds a diagnostic line to the stderr record that reports show."""
        with self.cond:
            self.raw.append(text)

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


def wait_exec(run, pid, mark):
    """Waits until pid runs the worker script (its argv holds `mark`, the
    FIFO or a pool's FIFO prefix), so that a SIGTERM hits the shell and not
    arbord's pre-exec child."""
    deadline = time.monotonic() + FIFO_TIMEOUT
    want = mark.encode()
    while time.monotonic() < deadline:
        try:
            with open("/proc/%d/cmdline" % pid, "rb") as f:
                if want in f.read().split(b"\0"):
                    return True
        except OSError:
            return False
        time.sleep(0.01)
    return False


def wait_zombie(pid):
    """Waits until pid has exited and waits to be reaped (or is gone)."""
    deadline = time.monotonic() + FIFO_TIMEOUT
    while time.monotonic() < deadline:
        try:
            with open("/proc/%d/stat" % pid, "rb") as f:
                stat = f.read()
        except OSError:
            return True
        if stat[stat.rindex(b")") + 2:].split()[0] == b"Z":
            return True
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
        return (write_fifo(run, workers.fifo[path], data),
                "no reader on its FIFO")
    if reason == "shutdown":
        with run.cond:
            pid = run.pids.get(path)
        if pid is None:
            return False, "no start event with a pid"
        if not wait_exec(run, pid, workers.mark[path]):
            return False, "pid %d is not running the worker" % pid
        os.kill(pid, signal.SIGTERM)
        return True, ""
    raise ValueError("bad reason %r" % reason)


def do_exits(run, exits, workers):
    """Several workers of one supervisor exit "together" (oracle README):
    arbord is stopped while each worker, in the step's order, exits and
    becomes a zombie; once resumed, arbord finds all their deaths pending
    and reaps them in fork order, the order the oracle's supervisor got
    them in."""
    os.kill(run.proc.pid, signal.SIGSTOP)
    try:
        for e in exits:
            with run.cond:
                pid = run.pids.get(e["exit"])
            if pid is None:
                return False, "%s has no start event with a pid" % e["exit"]
            ok, why = do_exit(run, e["exit"], e["reason"], workers)
            if not ok:
                return False, "%s: %s" % (e["exit"], why)
            if not wait_zombie(pid):
                return False, "%s (pid %d) did not exit" % (e["exit"], pid)
        return True, ""
    finally:
        os.kill(run.proc.pid, signal.SIGCONT)


def ctl_args(step, instance_name, spec, root_id):
    """The arborctl command line that plays an operator step."""
    op = operator_of(step)
    command = OPERATOR_COMMANDS[op]
    if op == "start_child":
        return [command, ctl_path(step["start_child"], root_id), spec]
    if op == "spawn":
        args = [command, ctl_path(step["spawn"], root_id)]
        if "name" in step:
            args += ["--name", instance_name]
        return args
    return [command, ctl_path(step[op], root_id)]


def error_result(name, parameters):
    """An arborctl -j error name (the last part of the varlink name) as the
    oracle's RESULT (its README's table)."""
    if name == "AlreadyPresent":
        # OTP tells a running child (already_started) from a stopped
        # spec (already_present); arbor says which in `running`.
        return ("error:already_started" if parameters.get("running")
                else "error:already_present")
    if name in OTP_ERRORS:
        return "error:" + OTP_ERRORS[name]
    return "error:" + re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


def reply_result(status, stdout):
    """RESULT of a `reply` line from arborctl -j's exit status and output."""
    if status == 0:
        return "ok"
    if status is None:
        return "error:arborctl_timeout"
    for line in reversed(stdout.splitlines()):
        try:
            reply = json.loads(line)
        except ValueError:
            continue
        if isinstance(reply, dict) and isinstance(reply.get("error"), str):
            return error_result(reply["error"].rsplit(".", 1)[-1],
                                reply.get("parameters") or {})
    # No error reply: arborctl refused before asking (usage, status 2),
    # or could not reach arbord (4).
    return "error:arborctl_status_%d" % status


class Ctl:
    """arborctl -j on the run's private control socket."""

    def __init__(self, run, socket):
        self.run = run
        self.socket = str(socket)

    def call(self, args):
        """Returns (exit status or None on timeout, stdout). Status 4 (no
        arbord on the socket yet: nothing was asked) is retried while
        arbord runs, bounded."""
        deadline = time.monotonic() + CTL_TIMEOUT
        argv = [str(ARBORCTL), "-j", "--socket", self.socket] + args
        while True:
            try:
                p = subprocess.run(argv, stdin=subprocess.DEVNULL,
                                   capture_output=True, timeout=CTL_TIMEOUT)
            except subprocess.TimeoutExpired:
                self.run.note_raw("arborctl %r: timed out" % (args,))
                return None, ""
            out = p.stdout.decode("utf-8", "replace")
            err = p.stderr.decode("utf-8", "replace")
            if (p.returncode != 4 or time.monotonic() >= deadline
                    or not self.run.alive()):
                break
            time.sleep(0.05)
        self.run.note_raw("arborctl %r -> %d %s %s"
                          % (args, p.returncode, out.strip(), err.strip()))
        return p.returncode, out


# --------------------------------------------------------------------------
# Pacing
# --------------------------------------------------------------------------

class Wait:
    """What the replay waits for before a step: `before` trace lines (and,
    with `quiet`, no new event for STEP_QUIET s); `marker` is the index of
    the step's own first line in the expected trace (its `exit`, or its
    `reply`), None for a sleep."""

    def __init__(self, before, marker=None, quiet=False):
        self.before = before
        self.marker = marker
        self.quiet = quiet


def call_block(expected, marker, step, path):
    """How many lines right before an operator step's `reply` look caused
    by the call: stops (terminate, remove, delete_child) or starts of the
    step's path and its subtree. Used only as a lower bound: a line of the
    previous step's that looks the same is covered by the quiet wait."""
    kind = "stop " if operator_of(step) in ("terminate", "remove",
                                            "delete_child") else "start "
    n = 0
    while marker - n - 1 >= 0:
        line = expected[marker - n - 1]
        target = line[len(kind):]
        if not (line.startswith(kind)
                and (target == path or target.startswith(path + "/"))):
            break
        n += 1
    return n


def plan_waits(steps, expected, names, root_id):
    """A Wait per step, None for a step the oracle never ran (its root was
    down by then), and the number of lines to wait for after the last step
    (settle_target). Raises ValueError when the expected trace's `exit` and
    `reply` lines do not match the steps one for one.

    An exit step's own line is the first thing it causes, so waiting for
    every line before it is exact. An operator step's `reply` comes after
    what the call caused, which the trace does not tell apart from the end
    of the previous step's effects: wait for the lines before the call's
    own stops or starts (call_block), at least for the previous step's own
    lines; and when the previous step was not an operator step (whose reply
    marks its end), also until arbord is quiet."""
    own = [i for i, l in enumerate(expected)
           if l.startswith(("exit ", "reply "))]
    waits, k, prev_end, prev_operator = [], 0, 0, False
    for i, step in enumerate(steps):
        if "sleep_ms" in step:
            waits.append("sleep")
            continue
        count = len(step["exits"]) if "exits" in step else 1
        if k >= len(own):
            waits.append(None)
            continue
        mine = own[k:k + count]
        k += count
        operator = is_operator(step)
        if operator:
            want = "reply %s " % reply_path(step, names[i], root_id)
        else:
            want = "exit "
        if len(mine) != count or any(not expected[m].startswith(want)
                                     for m in mine):
            raise ValueError("step %d %r: expected %r, found %r"
                             % (i, step, want.strip(),
                                [expected[m] for m in mine]))
        if operator:
            path = reply_path(step, names[i], root_id)
            before = max(prev_end,
                         mine[0] - call_block(expected, mine[0], step, path))
            waits.append(Wait(before, mine[0], quiet=not prev_operator))
        else:
            waits.append(Wait(mine[0], mine[0]))
        prev_end, prev_operator = mine[-1] + 1, operator
    if k != len(own):
        raise ValueError("%d exit/reply lines of the trace have no step"
                         % (len(own) - k))
    final = settle_target(expected)
    # A sleep waits for what the next step waits for.
    following = Wait(final)
    for i in reversed(range(len(steps))):
        if waits[i] == "sleep":
            waits[i] = Wait(following.before)
        elif waits[i] is not None:
            following = waits[i]
    return waits, final


def settle_target(expected):
    """Number of expected lines that precede the trailing block of
    `stop`/`down` lines: everything the steps themselves caused is in it."""
    n = len(expected)
    while n > 0 and (expected[n - 1] == "down"
                     or expected[n - 1].startswith("stop ")):
        n -= 1
    return n


def check_delete_child(steps, waits, expected):
    """delete_child is played as `arborctl remove` (OPERATOR_COMMANDS),
    which is the same request only when the child is not running: refuse a
    scenario whose expected reply shows otherwise."""
    for step, wait in zip(steps, waits):
        if "delete_child" in step and wait is not None:
            result = expected[wait.marker].rsplit(" ", 1)[-1]
            if result not in ("ok", "error:not_found", "error:noproc"):
                pytest.fail("step %r: OTP answered %s; arbor has no "
                            "delete_child that refuses a live child, so "
                            "this step cannot be replayed (use `remove`)"
                            % (step, result), pytrace=False)


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


class Replay:
    """Plays a scenario's steps on a running arbord."""

    def __init__(self, run, sc, expected, writer, tmp):
        self.run = run
        self.steps = sc.get("steps", [])
        self.expected = expected
        self.root_id = writer.root_id
        self.workers = writer.workers
        self.names = spawn_names(self.steps)
        self.specs = [writer.spec(s["start_child"], s["child"])
                      if "start_child" in s else None for s in self.steps]
        for step, name in zip(self.steps, self.names):
            if name is not None:
                writer.instance(step["spawn"], name)
        self.pools = pool_paths(sc["tree"], self.steps, self.root_id)
        self.ctl = Ctl(run, Path(tmp) / "ctl.sock")

    def trace(self):
        """arbord's trace so far, pool instance stops sorted."""
        return sort_instance_stops(self.run.snapshot(), self.pools,
                                   self.root_id)

    def play(self, waits):
        """Plays every step; returns "" or what went wrong."""
        for i, (step, wait) in enumerate(zip(self.steps, waits)):
            if wait is None:
                return ""  # the oracle's root was down before this step
            problem = self.wait_for(step, wait)
            if problem:
                return problem
            if "sleep_ms" in step:
                time.sleep(step["sleep_ms"] / 1000.0)
                continue
            if is_operator(step):
                problem = self.operate(i, step, wait)
            elif "exits" in step:
                ok, why = do_exits(self.run, step["exits"], self.workers)
                problem = "" if ok else "could not perform step %r: %s" % (
                    step, why)
            else:
                ok, why = do_exit(self.run, step["exit"], step["reason"],
                                  self.workers)
                problem = "" if ok else "could not perform step %r: %s" % (
                    step, why)
            if problem:
                return problem
        return ""

    def wait_for(self, step, wait):
        """Waits for everything the earlier steps caused."""
        if not self.run.wait_lines(wait.before):
            return ("arbord %s before step %r (waited for %d trace lines)"
                    % ("stopped" if not self.run.alive() else "stalled",
                       step, wait.before))
        if wait.quiet:
            self.run.wait_quiet(STEP_QUIET)
        if self.trace()[:wait.before] != self.expected[:wait.before]:
            return "trace diverged before step %r" % (step,)
        return ""

    def operate(self, i, step, wait):
        """Runs the step's arborctl command and, once arbord has emitted
        what the expected trace shows before the reply (what the call
        caused), adds the `reply` line."""
        status, out = self.ctl.call(ctl_args(step, self.names[i],
                                             self.specs[i], self.root_id))
        # Status 2: arborctl refused the command itself (one it does not
        # know): arbord did nothing, no use waiting long.
        done = self.run.wait_lines(wait.marker, QUIET if status == 2
                                   else STEP_TIMEOUT)
        self.run.note("reply %s %s" % (reply_path(step, self.names[i],
                                                  self.root_id),
                                       reply_result(status, out)))
        if not done:
            return ("arbord %s during step %r (waited for %d trace lines)"
                    % ("stopped" if not self.run.alive() else "stalled",
                       step, wait.marker))
        return ""


@pytest.mark.parametrize("scenario", SCENARIOS, ids=[p.stem for p in SCENARIOS])
def test_conformance(scenario, tmp_path, arbord_run):
    sc = json.loads(scenario.read_text())
    needed = [ARBORD] + ([ARBORCTL] if any(map(is_operator,
                                               sc.get("steps", [])))
                         else [])
    for binary in needed:
        if not (binary.is_file() and os.access(binary, os.X_OK)):
            pytest.fail("%s does not exist or is not executable: run `make`"
                        " in %s first" % (binary, REPO), pytrace=False)
    expected_file = HERE / "expected" / (scenario.stem + ".trace")
    if not expected_file.is_file():
        pytest.fail("no expected trace %s (generate it with the oracle)"
                    % expected_file, pytrace=False)
    expected = expected_file.read_text().splitlines()
    tree = sc["tree"]
    root_id = tree.get("id", "root")

    writer = ConfigWriter(tmp_path, root_id)
    conf = tmp_path / "arbor.conf"
    conf.write_text(writer.config(tree))
    run = arbord_run(root_id)
    replay = Replay(run, sc, expected, writer, tmp_path)
    try:
        waits, final = plan_waits(replay.steps, expected, replay.names,
                                  root_id)
    except ValueError as e:
        pytest.fail("the expected trace does not fit the steps: %s" % e,
                    pytrace=False)
    check_delete_child(replay.steps, waits, expected)
    for fifo in set(writer.workers.fifo.values()):
        os.mkfifo(str(fifo), 0o600)

    run.start(conf)
    problem = replay.play(waits)

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
    trace = replay.trace()
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
