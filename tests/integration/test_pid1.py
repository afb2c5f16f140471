"""arbord as PID 1, for real, in a fresh pid namespace.

Each test runs `unshare --pid --fork --mount-proc --kill-child=SIGKILL
arbord ...`: arbord is PID 1 of a namespace of its own, with a mount
namespace of its own, so kill(-1) reaches only the namespace's processes and
reboot(2) ends the namespace, not the machine (PID1-TESTING.md: the harness
sees PID 1 killed by SIGINT after a power-off or halt, by SIGHUP after a
reboot). Without a namespace no test here starts arbord as an init. Cleanup
kills unshare, whose --kill-child takes arbord and with it the namespace.

Without --init, PID 1 in a pid namespace is a container's init; with it,
the system's init, which the pid namespace spares the host from.
"""

import json
import os
import shutil
import signal
import subprocess

import pytest

from conftest import (ARBORD, FAULTS_ARBORD, REPO, Arbord, clean_cgroup,
                      service, supervisor, tree, wait_until)
from ctlclient import try_call

ARBORCTL = os.path.join(REPO, "ctl", "arborctl")
FORKMASK = os.path.join(REPO, "tests", "integration", "helpers",
                        "forkmask.so")


def _can_unshare():
    if os.geteuid() != 0 or not shutil.which("unshare"):
        return False
    r = subprocess.run(["unshare", "--pid", "--fork", "--mount-proc",
                        "--kill-child=SIGKILL", "true"],
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                       timeout=10)
    return r.returncode == 0


pytestmark = pytest.mark.skipif(not _can_unshare(),
                                reason="needs root and unshare --pid")


class PidnsArbord(Arbord):
    """arbord as PID 1 of a new pid and mount namespace. Event pids are the
    namespace's, so they are never killed from here: cleanup ends the
    namespace through unshare --kill-child."""

    def __init__(self, tmp_path, config, args=(), shell=None, env=None,
                 arbord=ARBORD, preexec_fn=None):
        self._prepare(tmp_path, config)
        argv = ["unshare", "--pid", "--fork", "--mount-proc",
                "--kill-child=SIGKILL"]
        if shell:  # arbord below a shell: not PID 1 of the namespace
            argv += ["/bin/sh", "-c", shell + ' "$@"', "sh"]
        argv += [arbord, "-c", str(self.config), "-s", str(self.socket),
                 *args]
        env = dict(os.environ, **(env or {}))
        env.pop("ARBOR_SOCKET", None)
        env.pop("container", None)
        self._launch(argv, env, preexec_fn=preexec_fn)

    def _line(self, line):
        super()._line(line)
        with self.lock:
            self.pids.clear()  # namespace pids mean nothing out here

    def host_pid(self):
        """arbord's pid as the host sees it: unshare's only child."""
        def child():
            try:
                with open(f"/proc/{self.proc.pid}/task/{self.proc.pid}"
                          "/children") as f:
                    kids = f.read().split()
            except OSError:
                return None
            return int(kids[0]) if kids else None
        return wait_until(child, what="arbord under unshare")

    def signal(self, signo):
        os.kill(self.host_pid(), signo)

    def tree_trace(self):
        """trace() of the supervision events alone."""
        return [t for t in self.trace() if t.split()[0] in
                ("start", "stop", "exit", "giveup", "down")]

    def lines_from(self, first):
        """Event names from the first line whose event is first."""
        evs = [e["event"] for e in self.snapshot()]
        return evs[evs.index(first):]

    def cleanup(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)
        self.reader.join(timeout=10)
        self.proc.stdout.close()
        if not self.reader.is_alive():
            self.proc.stderr.close()
        # An init's end is the namespace's: it may leave its cgroup.
        clean_cgroup(self, exited_by_itself=False)


@pytest.fixture
def pidns(tmp_path):
    started = []

    def start(config, **kw):
        a = PidnsArbord(tmp_path, config, **kw)
        started.append(a)
        return a

    yield start
    for a in started:
        a.cleanup()


def ctl(sock, *args):
    return subprocess.run([ARBORCTL, "--socket", str(sock), *args],
                          capture_output=True, text=True, timeout=30)


SLEEP = ["/bin/sleep", "1000"]
SHUTDOWN_STEPS = ["down", "killall", "sync", "unmount", "reboot"]


# ---- the system's init (--init) -----------------------------------------


def test_init_reaps_double_forked_orphan(pidns, tmp_path):
    """An orphan's parent is arbord (PID 1), which reaps it: no zombie
    stays behind (DESIGN.md 5: PID 1 reaps every orphan). setsid takes it
    out of the service's process group, which dies with the service; the
    service waits until it has left."""
    ppid = tmp_path / "ppid"
    orphaner = service("orphaner", [
        "/bin/sh", "-c",
        "setsid sh -c 'touch out; sleep 0.3; "
        "cut -d\" \" -f4 /proc/$$/stat > ppid; exit 7' & "
        "until [ -e out ]; do sleep 0.01; done; exit 0"],
        restart='"temporary"')
    # Process groups alone: with cgroup2 the orphan, in the service's
    # cgroup, would die with it (test_cgroup.py).
    a = pidns(tree([orphaner, service("a", SLEEP)]),
              args=["--init", "--no-cgroups"])
    a.wait_event("start", "a")
    wait_until(lambda: ppid.exists() and ppid.read_text().strip(),
               what="the orphan's parent")
    assert ppid.read_text().strip() == "1"
    host = a.host_pid()

    def zombies():
        found = []
        for pid in filter(str.isdigit, os.listdir("/proc")):
            try:
                with open(f"/proc/{pid}/stat") as f:
                    fields = f.read().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if fields[0] == "Z" and int(fields[1]) == host:
                found.append(pid)
        return found
    # The orphan writes, then exits: wait for its end, then for no zombie.
    wait_until(lambda: not zombies(), what="no zombie child of arbord")
    assert a.proc.poll() is None


def test_init_sigterm_powers_off_in_reverse_order(pidns):
    """SIGTERM to the system's init: the tree stops in reverse order, every
    other process gets SIGTERM (a setsid daemon outside every service's
    group included), then sync, unmount (skipped in a container) and
    reboot(POWER_OFF), which kills the namespace with SIGINT."""
    daemon = service("c", ["/bin/sh", "-c",
                           "setsid /bin/sleep 1000 & exec /bin/sleep 1000"])
    a = pidns(tree([service("a", SLEEP), service("b", SLEEP), daemon]),
              args=["--init"])
    a.wait_event("start", "c")
    mode = a.find("mode")[0]
    assert (mode["mode"], mode["real_pid1"], mode["in_container"]) == \
        ("init", "true", "true")
    a.signal(signal.SIGTERM)
    assert a.wait_exit() == -signal.SIGINT
    assert a.tree_trace()[-4:] == ["stop c", "stop b", "stop a", "down"]
    assert a.lines_from("shutdown") == ["shutdown", "stop", "stop", "stop"] \
        + SHUTDOWN_STEPS
    sd = a.find("shutdown")[0]
    assert (sd["action"], sd["reason"], sd["signal"]) == \
        ("poweroff", "signal", "TERM")
    assert a.find("killall")[0]["signal"] == "TERM"
    assert "error" not in a.find("killall")[0]
    assert a.find("unmount")[0]["skipped"] == "container"
    assert a.find("reboot")[0]["action"] == "poweroff"


def test_init_signals_choose_the_action(pidns):
    """SIGINT (ctrl-alt-del) reboots: the namespace ends by SIGHUP;
    SIGUSR1 halts: by SIGINT, as poweroff does."""
    a = pidns(tree([service("a", SLEEP)]), args=["--init"])
    a.wait_event("start", "a")
    a.signal(signal.SIGINT)
    assert a.wait_exit() == -signal.SIGHUP
    assert a.find("reboot")[0]["action"] == "reboot"

    b = pidns(tree([service("a", SLEEP)]), args=["--init"])
    b.wait_event("start", "a")
    b.signal(signal.SIGUSR1)
    assert b.wait_exit() == -signal.SIGINT
    assert b.find("reboot")[0]["action"] == "halt"


def test_init_early_mounts_tolerated(pidns):
    """What a pid namespace already has mounted is left alone, and
    ctrl-alt-del's EINVAL there stops nothing: the tree starts."""
    a = pidns(tree([service("a", SLEEP)]), args=["--init"])
    a.wait_event("start", "a")
    mounts = {m["target"]: m for m in a.find("mount")}
    assert set(mounts) == {"/proc", "/sys", "/dev", "/run"}
    for target in ("/proc", "/sys", "/dev"):
        assert mounts[target].get("result") == "already", mounts[target]
    assert a.find("ctrlaltdel")[0]["error"] == "Invalid argument"
    assert a.find("console")[0]["result"] == "inherited"


def test_init_term_deadline_then_kill(pidns):
    """A process that ignores SIGTERM gets SIGKILL at the deadline; then
    the machine goes down all the same."""
    stubborn = service("s", ["/bin/sh", "-c",
                             "setsid /bin/sh -c 'trap \"\" TERM; touch "
                             "armed; while :; do sleep 1; done' & "
                             "exec /bin/sleep 1000"])
    # Process groups alone: with cgroup2 the setsid'd process, in the
    # service's cgroup, would die with it, before the machine's killall.
    a = pidns(tree([stubborn]), args=["--init", "--no-cgroups"])
    wait_until(lambda: (a.dir / "armed").exists(), what="the trap")
    a.signal(signal.SIGTERM)
    assert a.wait_exit(timeout=20) == -signal.SIGINT
    assert [k["signal"] for k in a.find("killall")] == ["TERM", "KILL"]


def test_init_giveup_reboots_by_default(pidns):
    """The root gives up: on_giveup's default, reboot, ends the
    namespace with SIGHUP."""
    crash = service("crash", ["/bin/sh", "-c", "exit 3"])
    a = pidns(tree([crash], intensity=1), args=["--init"])
    assert a.wait_exit() == -signal.SIGHUP
    g = a.find("on_giveup")[0]
    assert (g["action"], g["status"]) == ("reboot", "1")
    sd = a.find("shutdown")[0]
    assert (sd["action"], sd["reason"]) == ("reboot", "giveup")
    assert a.lines_from("on_giveup") == ["on_giveup", "shutdown"] + \
        SHUTDOWN_STEPS[1:]


def test_init_giveup_poweroff(pidns):
    crash = service("crash", ["/bin/sh", "-c", "exit 3"])
    a = pidns(tree([crash], intensity=0, on_giveup='"poweroff"'),
              args=["--init"])
    assert a.wait_exit() == -signal.SIGINT
    assert a.find("reboot")[0]["action"] == "poweroff"


def test_init_giveup_emergency_shell_then_reboot(pidns, tmp_path):
    """on_giveup = "shell": the emergency shell runs in the foreground, and
    arborctl still reaches arbord from it; when it exits arbord reboots."""
    crash = service("crash", ["/bin/sh", "-c", "exit 3"])
    shell = (f'[ "/bin/sh", "-c", "{ARBORCTL} --socket {tmp_path}/arbor.sock '
             'status crash > shell-ran; exit 0" ]')
    a = pidns(tree([crash], intensity=0, on_giveup='"shell"',
                   emergency_shell=shell), args=["--init"])
    assert a.wait_exit() == -signal.SIGHUP
    assert "crash" in (a.dir / "shell-ran").read_text()
    assert a.find("emergency_shell")[0]["exec"] == "/bin/sh"
    sd = a.find("shutdown")[0]
    assert (sd["action"], sd["reason"]) == ("reboot", "shell")


def test_emergency_shell_is_forked_with_every_signal_blocked(pidns,
                                                             tmp_path):
    """Bug: pid1.c forked the emergency shell with arbord's signal
    handlers live, so a signal arriving before the child reset them ran
    arbord's handler in the child. forkmask.so records the mask the child
    is born with, before any of arbord's code runs in it: every signal
    blocked. The shell itself then runs with none blocked or ignored,
    not even glibc's reserved 32 and 33, which signal() cannot reset and
    which arbord inherits ignored under GNU make (make check)."""
    crash = service("crash", ["/bin/sh", "-c", "exit 3"])
    shell = ('[ "/bin/sh", "-c", "grep -E \'^Sig(Blk|Ign):\' '
             '/proc/self/status > shell-signals" ]')
    env = {"LD_PRELOAD": FORKMASK, "FORKMASK": str(tmp_path / "forkmask"),
           # Under ASan the preload comes before its runtime; allowed.
           "ASAN_OPTIONS": (os.environ.get("ASAN_OPTIONS", "") +
                            ":verify_asan_link_order=0").lstrip(":")}
    a = pidns(tree([crash], intensity=0, on_giveup='"shell"',
                   emergency_shell=shell), args=["--init"], env=env)
    assert a.wait_exit() == -signal.SIGHUP
    assert a.find("emergency_shell")[0]["exec"] == "/bin/sh"
    born = (tmp_path / "forkmask").read_text().splitlines()
    print("the shell's process was born with:", born)
    assert born == ["unblocked="]
    status = (tmp_path / "shell-signals").read_text().split()
    assert status == ["SigBlk:", "0" * 16, "SigIgn:", "0" * 16]


def test_init_core_out_of_memory_reboots_instead_of_aborting(pidns):
    """Bug: as PID 1, the core running out of memory made arbord abort(),
    which panics the kernel. The core's first allocation fails
    (arbord-faults): arbord says so, counted, and the final shutdown
    reboots, as the root's give-up does."""
    a = pidns(tree([service("a", SLEEP)]), args=["--init"],
              env={"ARBOR_FAULT_CORE_ALLOC": "1"}, arbord=FAULTS_ARBORD)
    code = a.wait_exit()
    print("arbord's stderr:", a.lines)
    assert code == -signal.SIGHUP
    lost = a.find("core_lost")[0]
    assert (lost["error"], lost["count"]) == ("out of memory in the core",
                                             "1")
    sd = a.find("shutdown")[0]
    assert (sd["action"], sd["reason"]) == ("reboot", "core_lost")
    assert a.lines_from("core_lost") == ["core_lost", "shutdown"] + \
        SHUTDOWN_STEPS[1:]


def test_container_core_out_of_memory_exits_1(pidns):
    """The same failure in a container's init: it exits with status 1,
    after the final shutdown's kill(-1)."""
    a = pidns(tree([service("a", SLEEP)]),
              env={"ARBOR_FAULT_CORE_ALLOC": "1"}, arbord=FAULTS_ARBORD)
    assert a.wait_exit() == 1
    sd = a.find("shutdown")[0]
    assert (sd["action"], sd["reason"]) == ("exit", "core_lost")


def test_init_giveup_restarts_the_tree(pidns):
    """on_giveup = "restart": the tree is built again from its
    configuration and boots; a power-off still ends it."""
    flag = "once"
    crash_once = service("c", ["/bin/sh", "-c",
                               f"[ -e {flag} ] && exec sleep 1000; "
                               f"touch {flag}; exit 3"])
    a = pidns(tree([crash_once], intensity=0, on_giveup='"restart"'),
              args=["--init"])
    a.wait_event("on_giveup")
    a.wait_event("start", "/", count=2)
    a.wait_event("start", "c", count=2)
    r = ctl(a.socket, "status", "c")
    assert r.returncode == 0, r.stderr
    assert ctl(a.socket, "poweroff").returncode == 0
    assert a.wait_exit() == -signal.SIGINT
    assert a.find("reboot")[0]["action"] == "poweroff"


def test_init_giveup_restart_forgets_what_was_added(pidns, tmp_path):
    """on_giveup = "restart" builds a new instance of every supervisor
    (I7): a pool comes back with its configured instances numbered
    afresh, and what an operator added or spawned is gone. As the system's
    init SIGHUP reloads the configuration (issue 12)."""
    go, done = tmp_path / "go", tmp_path / "done"
    crash_later = service("c", ["/bin/sh", "-c",
                                f"while [ ! -e {go} ]; do sleep 0.05; done; "
                                f"[ -e {done} ] && exec sleep 1000; "
                                f"touch {done}; exit 3"])
    pool = ('{ name = "p"; strategy = "simple_one_for_one"; instances = 2; '
            'template = { exec = [ "/bin/sleep", "1000" ]; }; }')
    config = tree([crash_later], intensity=0, on_giveup='"restart"')
    config = config.replace("children = (", "children = (" + pool + ",", 1)
    a = pidns(config, args=["--init"])
    a.wait_event("start", "c")
    a.wait_event("start", "p/2")
    wait_until(lambda: a.socket.exists(), what="the control socket")
    a.signal(signal.SIGHUP)
    assert int(a.wait_event("reload")["changes"]) == 0
    assert ctl(a.socket, "spawn", "p").stdout == "p/3\n"
    r = ctl(a.socket, "add", "/", 'name = "dyn"; exec = [ "/bin/sleep", '
            '"1000" ];')
    assert r.returncode == 0, r.stderr
    go.touch()
    a.wait_event("on_giveup")
    a.wait_event("start", "c", count=2)
    r = ctl(a.socket, "--json", "status")
    assert r.returncode == 0, r.stderr
    paths = [n["path"] for n in json.loads(r.stdout)["nodes"]]
    assert paths == ["/", "p", "p/1", "p/2", "c"]
    assert ctl(a.socket, "poweroff").returncode == 0
    assert a.wait_exit() == -signal.SIGINT


def test_arborctl_reboot_halt_poweroff(pidns):
    """arborctl reboot asks the system's init over the control socket; the
    reply comes before the tree stops."""
    a = pidns(tree([service("a", SLEEP), service("b", SLEEP)]),
              args=["--init"])
    a.wait_event("start", "b")
    wait_until(lambda: a.socket.exists(), what="the control socket")
    r = ctl(a.socket, "halt")
    assert r.returncode == 0, r.stderr
    assert a.wait_exit() == -signal.SIGINT
    assert a.tree_trace()[-3:] == ["stop b", "stop a", "down"]
    sd = a.find("shutdown")[0]
    assert (sd["action"], sd["reason"]) == ("halt", "request")


def test_init_not_pid1_never_signals_all(pidns):
    """--init below a shell (pid 2 of its namespace): the init's signals
    and shutdown steps run, but kill(-1) and reboot(2) are refused, and
    arbord exits; the shell after it still runs."""
    a = pidns(tree([service("a", SLEEP)]), args=["--init"],
              shell='"$@"; echo shell-survived; exit 0')
    a.wait_event("start", "a")
    mode = a.find("mode")[0]
    assert (mode["mode"], mode["real_pid1"]) == ("init", "false")
    assert not a.find("mount")
    pid = a.host_pid()  # the shell
    with open(f"/proc/{pid}/task/{pid}/children") as f:
        arbord = int(f.read().split()[0])
    os.kill(arbord, signal.SIGTERM)
    assert a.wait_exit() == 0
    assert a.find("killall")[0]["skipped"] == "not-pid1"
    assert a.find("unmount")[0]["skipped"] == "container"
    assert b"shell-survived" in a.proc.stdout.read()


# ---- a container's init (PID 1 in a pid namespace, no flag) ---------------


def test_container_sigterm_stops_in_reverse_and_exits_0(pidns):
    """PID 1 in a pid namespace is a container's init: SIGTERM stops the
    tree in reverse order and the namespace ends with arbord's status."""
    a = pidns(tree([service("a", SLEEP), service("b", SLEEP),
                    service("c", SLEEP)]))
    a.wait_event("start", "c")
    assert a.find("mode")[0]["mode"] == "container"
    a.signal(signal.SIGTERM)
    assert a.wait_exit() == 0
    assert a.tree_trace()[-4:] == ["stop c", "stop b", "stop a", "down"]
    assert not a.find("reboot")


def test_container_output_goes_to_stdout_with_paths(pidns):
    """A container's init shows its services' output as `docker logs`
    expects: stdout lines on arbord's stdout, stderr lines on its stderr,
    each with the service's path; and keeps them for arborctl logs."""
    talk = service("talk", ["/bin/sh", "-c",
                            "echo hello; echo oops >&2; exec sleep 1000"])
    a = pidns(tree([supervisor("web", [talk])]))
    wait_until(lambda: "web/talk: oops" in a.lines, 5, "the stderr line")
    r = ctl(a.socket, "logs", "web")
    assert r.stdout.rstrip().endswith(("]: hello", "] stderr: oops")), \
        r.stdout
    a.signal(signal.SIGTERM)
    assert a.wait_exit() == 0
    assert a.proc.stdout.read().decode().splitlines() == ["web/talk: hello"]


def test_container_giveup_exits_1(pidns):
    crash = service("crash", ["/bin/sh", "-c", "exit 3"])
    a = pidns(tree([service("a", SLEEP), crash], intensity=1))
    assert a.wait_exit() == 1
    assert a.find("giveup")
    assert a.find("shutdown")[0]["reason"] == "giveup"


def test_container_auto_shutdown_ends_with_significant_service(pidns):
    """Like tini with its child: the significant service ends, the
    container ends, status 0; orphans left behind are stopped too."""
    main = service("main", ["/bin/sh", "-c",
                            "setsid sleep 1000 & sleep 0.2; exit 0"],
                   restart='"transient"', significant="true")
    a = pidns(tree([service("side", SLEEP), main],
                   auto_shutdown='"any_significant"'))
    assert a.wait_exit() == 0
    assert "stop side" in a.tree_trace()
    assert a.find("killall")[0]["signal"] == "TERM"


def job(name, armed):
    """A temporary significant service that exits 3 on USR1; it touches
    armed (in arbord's directory) once its trap is set."""
    script = f'trap "exit 3" USR1; touch {armed}; sleep 1000 & wait'
    return service(name, ["/bin/sh", "-c", script],
                   restart='"temporary"', significant="true")


def significant_tree(children, **keys):
    return tree(children, auto_shutdown='"any_significant"',
                exit_status='"significant"', **keys)


def armed_pidns(pidns, config, armed="armed"):
    a = pidns(config)
    wait_until(lambda: (a.dir / armed).exists(), what="the job's trap")
    wait_until(lambda: a.socket.exists(), what="the control socket")
    return a


def test_container_exit_status_of_the_significant_service(pidns):
    """exit_status = "significant": the job exits 3, the container ends
    with 3 (a Kubernetes Job fails as its work did), its sidecar stopped;
    the shutdown says it was automatic, not a give-up."""
    a = armed_pidns(pidns, significant_tree([service("side", SLEEP),
                                             job("job", "armed")]))
    assert ctl(a.socket, "kill", "-s", "USR1", "job").returncode == 0
    assert a.wait_exit() == 3
    assert a.tree_trace()[-3:] == ["exit job crash", "stop side", "down"]
    assert a.find("shutdown")[-1]["reason"] == "auto_shutdown"


@pytest.mark.parametrize("sigterm_ok,status", [(False, 143), (True, 0)])
def test_container_exit_status_sigterm(pidns, sigterm_ok, status):
    """A significant service killed by SIGTERM (not by arbord) ends the
    container with 143, as a shell reports it, or with 0 under
    exit_sigterm_ok."""
    a = armed_pidns(pidns, significant_tree(
        [service("side", SLEEP), job("job", "armed")],
        exit_sigterm_ok="true" if sigterm_ok else "false"))
    assert ctl(a.socket, "kill", "-s", "TERM", "job").returncode == 0
    assert a.wait_exit() == status


def test_container_exit_status_stop_asked_for_is_0(pidns):
    """Under exit_status = "significant", SIGTERM to arbord (podman stop)
    still ends the container with 0, though the job died of the SIGTERM
    of its stop."""
    a = armed_pidns(pidns, significant_tree([service("side", SLEEP),
                                             job("job", "armed")]))
    a.signal(signal.SIGTERM)
    assert a.wait_exit() == 0
    assert a.tree_trace()[-3:] == ["stop job", "stop side", "down"]


def test_container_exit_status_unknown_is_1(pidns):
    """A significant job whose main process (MAINPID=) its own shell
    reaps: arbord cannot know its status (reason=crash) and the container
    ends with 1. It once ended with -1, which arbord took for an error of
    its own ("cannot start (control socket ...)")."""
    script = ("sleep 0.5 & systemd-notify --ready MAINPID=$!; wait; "
              "sleep 1000")
    wrapped = service("job", ["/bin/sh", "-c", script], ready='"notify"',
                      restart='"temporary"', significant="true")
    a = pidns(significant_tree([service("side", SLEEP), wrapped]))
    assert a.wait_exit() == 1
    assert not any("cannot start" in line for line in a.lines), a.lines
    assert a.tree_trace()[-3:] == ["exit job crash", "stop side", "down"]


def cascade(side=None):
    """The root and its significant sub-supervisor both shut down
    automatically: the job, two levels down, begins it."""
    side = side or service("side", SLEEP)
    sub = supervisor("sub", [job("job", "armed"), side],
                     restart='"transient"', significant="true",
                     auto_shutdown='"any_significant"')
    return significant_tree([service("a", SLEEP), sub])


def test_container_exit_status_through_a_cascade(pidns):
    """The job's exit shuts sub down, whose end shuts the root down: the
    container ends with the job's status, the service whose exit started
    the cascade."""
    a = armed_pidns(pidns, cascade())
    assert ctl(a.socket, "kill", "-s", "USR1", "sub/job").returncode == 0
    assert a.wait_exit() == 3
    assert a.tree_trace()[-4:] == ["exit sub/job crash", "stop sub/side",
                                   "stop a", "down"]


def test_container_exit_status_survives_reexec(pidns):
    """A re-exec while sub's automatic shutdown waits for a service slow
    to stop: the new image knows which status that shutdown carries, and
    the container ends with the job's 3 (the state's auto_status), not 0.
    The key itself is in the state too."""
    stubborn = service("side", ["/bin/sh", "-c",
                                'trap "" TERM; sleep 1000 & wait'],
                       stop_timeout='"2s"')
    a = armed_pidns(pidns, cascade(side=stubborn))
    assert ctl(a.socket, "kill", "-s", "USR1", "sub/job").returncode == 0
    a.wait_event("shutdown", "sub")
    r = ctl(a.socket, "reexec")
    assert r.returncode == 0, (r.stdout, r.stderr, a.lines[-20:])
    a.wait_event("resumed")
    assert a.wait_exit() == 3
    assert a.tree_trace()[-3:] == ["stop sub/side", "stop a", "down"]


def test_container_exit_status_kept_by_a_later_stop(pidns):
    """SIGTERM while the automatic shutdown waits for a service slow to
    stop: the stop asked for does not replace the status that shutdown
    carries (the job's 3)."""
    stubborn = service("side", ["/bin/sh", "-c",
                                'trap "" TERM; sleep 1000 & wait'],
                       stop_timeout='"2s"')
    a = armed_pidns(pidns, significant_tree([stubborn,
                                             job("job", "armed")]))
    assert ctl(a.socket, "kill", "-s", "USR1", "job").returncode == 0
    a.wait_event("shutdown", "/")
    a.signal(signal.SIGTERM)
    assert a.wait_exit() == 3
    assert a.tree_trace()[-2:] == ["stop side", "down"]
    assert [e.get("signal") for e in a.find("shutdown")] == [None, "TERM"]


def test_container_exit_status_follows_a_reload(pidns):
    """A reload that sets exit_status applies to the next end: the tree
    started under "root" ends with the job's 3 once reloaded; reload
    --dry-run names the change."""
    children = [service("side", SLEEP), job("job", "armed")]
    a = armed_pidns(pidns, tree(children, auto_shutdown='"any_significant"'))
    a.config.write_text(significant_tree(children))
    r = ctl(a.socket, "reload", "--dry-run")
    assert "exit_status: root -> significant" in r.stdout, r.stdout
    r = ctl(a.socket, "reload")
    assert r.returncode == 0, r.stderr
    assert ctl(a.socket, "kill", "-s", "USR1", "job").returncode == 0
    assert a.wait_exit() == 3


def test_container_forwards_signals(pidns):
    """forward_signals passes HUP and USR1 to the services that name them;
    WINCH, which nobody asked for, is ignored; INT, which nobody asked
    for, stops the tree like TERM."""
    script = ('trap "echo HUP >> got" HUP; trap "echo USR1 >> got" USR1; '
              'touch armed; while :; do sleep 1000 & wait $!; done')
    fwd = service("fwd", ["/bin/sh", "-c", script],
                  forward_signals='[ "HUP", "USR1" ]')
    a = pidns(tree([fwd, service("quiet", SLEEP)]))
    got = a.dir / "got"
    wait_until(lambda: (a.dir / "armed").exists(), what="the traps")
    a.signal(signal.SIGHUP)
    wait_until(lambda: got.exists() and "HUP" in got.read_text(),
               what="HUP forwarded")
    a.signal(signal.SIGUSR1)
    wait_until(lambda: "USR1" in got.read_text(), what="USR1 forwarded")
    a.signal(signal.SIGWINCH)
    # WINCH must change nothing; a round trip through arbord's loop
    # lets it be handled first.
    assert ctl(a.socket, "status").returncode == 0
    assert a.proc.poll() is None
    assert not a.find("stop")
    a.signal(signal.SIGINT)
    assert a.wait_exit() == 0
    sd = a.find("shutdown")[0]
    assert (sd["action"], sd["signal"]) == ("exit", "INT")
    assert a.find("start", "fwd")  # the trap's restarts are not expected
    assert len(a.find("start", "fwd")) == 1


def _traps(pid, signos):
    """Whether process pid (a host pid) catches every one of signos."""
    try:
        with open(f"/proc/{pid}/status") as f:
            caught = [int(line.split()[1], 16) for line in f
                      if line.startswith("SigCgt:")][0]
    except (OSError, IndexError):
        return False
    return all(caught & (1 << (s - 1)) for s in signos)


def test_shipped_container_tree(pidns):
    """packaging/container.conf, the tree of packaging/Dockerfile, as a
    container's init: each signal it forwards to web is one web traps
    (it forwarded USR1 to a shell that trapped HUP alone, which USR1
    killed), and SIGTERM stops it in reverse order, exit 0, within the
    grace period of packaging/arbor-pod.yaml (test_container.py)."""
    with open(os.path.join(REPO, "packaging", "container.conf")) as f:
        a = pidns(f.read())
    a.wait_event("start", "web")
    wait_until(lambda: a.socket.exists(), what="the control socket")
    host = a.host_pid()
    forwarded = (signal.SIGHUP, signal.SIGUSR1)

    def web_trapping():
        with open(f"/proc/{host}/task/{host}/children") as f:
            kids = f.read().split()
        return any(_traps(int(k), forwarded) for k in kids)
    wait_until(web_trapping, what="web's traps")
    for signo, said in ((signal.SIGHUP, "reloading"),
                        (signal.SIGUSR1, "reopening logs")):
        a.signal(signo)
        wait_until(lambda: said in ctl(a.socket, "logs", "web").stdout,
                   what=f"web's answer to {signo.name}")
    assert ctl(a.socket, "status", "web").returncode == 0
    assert len(a.find("start", "web")) == 1
    assert not a.find("exit")
    a.signal(signal.SIGTERM)
    assert a.wait_exit() == 0
    assert a.tree_trace()[-3:] == ["stop web", "stop sidecar", "down"]
    out = a.proc.stdout.read().decode().splitlines()
    assert out == ["web: reloading", "web: reopening logs"]


def test_container_refuses_poweroff(pidns):
    """A container's init does not power off: NotInit, and it runs on."""
    a = pidns(tree([service("a", SLEEP)]))
    a.wait_event("start", "a")
    wait_until(lambda: a.socket.exists(), what="the control socket")
    r = ctl(a.socket, "poweroff")
    assert r.returncode == 1
    assert "not the system's init" in r.stderr
    assert a.proc.poll() is None


# ---- outside PID 1 ------------------------------------------------------


def test_service_manager_refuses_poweroff(arbord):
    """arbord as a plain service manager refuses Shutdown with an action,
    and plain Shutdown still stops it."""
    a = arbord(tree([service("a", SLEEP)]))
    a.wait_event("start", "a")
    wait_until(lambda: a.socket.exists(), what="the control socket")
    for action in ("poweroff", "reboot", "halt"):
        r = ctl(a.socket, action)
        assert r.returncode == 1
        assert "not the system's init" in r.stderr
    err, _ = try_call(a.socket, "org.arbor.supervisor.Shutdown",
                      {"action": "kexec"})
    assert err == "org.varlink.service.InvalidParameter"
    assert a.proc.poll() is None
    assert not a.find("mode")
    assert ctl(a.socket, "shutdown").returncode == 0
    assert a.wait_exit() == 0


# ---- re-exec (issue 13) ----------------------------------------------------


def status_pids(sock):
    """path -> pid of every running service, as arborctl -j status says."""
    r = ctl(sock, "-j", "status")
    assert r.returncode == 0, r.stderr
    return {n["path"]: n["pid"] for n in json.loads(r.stdout)["nodes"]
            if "pid" in n}


@pytest.mark.parametrize("mode", ["--init", "--container"])
def test_pid1_reexec_keeps_supervising(pidns, mode):
    """As PID 1 (the system's or a container's): re-exec into a new
    binary, every process kept; a death afterwards is a restart as
    before; a binary that cannot start is refused and the system stays
    up; the end is what it would have been."""
    a = pidns(tree([service("a", SLEEP), service("b", SLEEP)]),
              args=[mode])
    a.wait_event("start", "b")
    wait_until(lambda: a.socket.exists(), what="the control socket")
    before = status_pids(a.socket)
    host = a.host_pid()
    r = ctl(a.socket, "reexec")
    assert r.returncode == 0, (r.stdout, r.stderr, a.lines[-20:])
    a.wait_event("resumed")
    assert a.host_pid() == host
    assert status_pids(a.socket) == before
    for binary in ("/bin/false", "/nonexistent"):
        r = ctl(a.socket, "reexec", "--binary", binary)
        assert r.returncode == 1 and "refused" in r.stderr, r.stderr
    assert len(a.find("resumed")) == 1
    assert ctl(a.socket, "kill", "-s", "KILL", "a").returncode == 0
    a.wait_event("start", "a", count=2)
    assert status_pids(a.socket)["b"] == before["b"]
    if mode == "--init":
        assert ctl(a.socket, "poweroff").returncode == 0
        assert a.wait_exit() == -signal.SIGINT
    else:
        a.signal(signal.SIGTERM)
        assert a.wait_exit() == 0
    assert [t for t in a.tree_trace() if t.startswith("stop")] == \
        ["stop b", "stop a"]


def test_pid1_resume_failure_keeps_a_working_init(pidns):
    """The new image cannot take the state over (a fault hook, after the
    probe passed): as the system's init it does not exit, it stops what
    the old image ran and boots the tree from the configuration."""
    a = pidns(tree([service("a", SLEEP)]), args=["--init"],
              arbord=FAULTS_ARBORD, env={"ARBOR_FAULT_RESUME": "1"})
    a.wait_event("start", "a")
    wait_until(lambda: a.socket.exists(), what="the control socket")
    host = a.host_pid()
    ctl(a.socket, "reexec", "--binary", FAULTS_ARBORD)
    a.wait_event("start", "a", count=2, timeout=20)
    assert any("cannot resume" in l for l in a.lines)
    assert a.host_pid() == host and a.proc.poll() is None
    wait_until(lambda: ctl(a.socket, "status", "a").returncode == 0,
               what="arborctl served again")
    assert ctl(a.socket, "poweroff").returncode == 0
    assert a.wait_exit() == -signal.SIGINT


def _has_cap_sys_resource():
    with open("/proc/self/status") as f:
        eff = next(ln for ln in f if ln.startswith("CapEff:"))
    return bool(int(eff.split()[1], 16) & (1 << 24))


@pytest.mark.skipif(not _has_cap_sys_resource(),
                    reason="raising a hard limit needs CAP_SYS_RESOURCE")
def test_init_lifts_a_hard_descriptor_limit_its_tree_needs(pidns, tmp_path):
    """Bug: as the system's init, a tree needing more descriptors than the
    hard limit it was given (the kernel gives PID 1 4096) was refused and
    the machine fell to the emergency shell. An init lifts its hard limit
    (up to fs.nr_open); its services keep the limits it was given."""
    import resource
    n = 300  # merged: 300 descriptors and arbord's reserve, past 512
    limits = tmp_path / "limits"
    probe = service("probe", ["/bin/sh", "-c",
                              f"ulimit -Sn > {limits}.tmp; "
                              f"ulimit -Hn >> {limits}.tmp; "
                              f"mv {limits}.tmp {limits}; exec sleep 1000"])
    a = pidns(tree([probe] + [service(f"s{i}", SLEEP) for i in range(n)],
                   log='{ streams = "merged"; }'),
              args=["--init"], preexec_fn=lambda: resource.setrlimit(
                  resource.RLIMIT_NOFILE, (256, 512)))
    a.wait_event("start", f"s{n - 1}", timeout=20)
    assert not a.find("start_failed")
    wait_until(lambda: limits.exists(), what="the probe's limits")
    assert limits.read_text().split() == ["256", "512"]
    with open(f"/proc/{a.host_pid()}/limits") as f:
        line = next(ln for ln in f if ln.startswith("Max open files"))
    soft, hard = map(int, line.split()[3:5])
    assert hard > 512 and soft >= n + 256
