"""arbord as the init of a real container, run by Debian's crun.

Each test writes an OCI bundle offline, with no registry and no image: a
root file system made as the boot tests' initramfs is (tests/boot/
initramfs.py's write_root: arbord, arborctl, their shared libraries and
a static busybox, in a directory instead of a cpio archive), the tree as
/etc/arbor/arbor.conf, and the config.json of `crun spec`, with arbord as
the process, no terminal. `crun run` runs it in the foreground, its
stdout and stderr into files, and its exit status is the container's;
`crun exec` and `crun kill` act on it as an orchestrator would. Every
container is deleted (`crun delete -f`, by its own name) at the end.

Two choices keep the host as it is. crun's state goes to a directory of
the test's own (--root), and it manages no cgroup
(--cgroup-manager=disabled): the container stays in the test's cgroups.
On a hybrid host (cgroup v1 controllers, cgroup2 at
/sys/fs/cgroup/unified) whose cgroup2 has a controller enabled, crun
refuses every container, whatever the cgroup manager: "cgroups in hybrid
mode not supported, drop all controllers from cgroupv2". There crun runs
in a mount namespace of its own where /sys/fs/cgroup/unified is
unmounted, so that it sees a cgroup v1 host; nothing of that reaches the
host. arbord in the container then finds no cgroup2 and contains its
services in process groups, as arbord(8) CONTAINMENT says.

Skipped, saying why, when not root, without crun or busybox, or when crun
cannot run a container here (its error is the reason).
"""

import functools
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "boot"))

import harness  # noqa: E402
import initramfs  # noqa: E402
from logfmt import parse_logfmt  # noqa: E402

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
CONTAINER_CONF = os.path.join(REPO, "packaging", "container.conf")
UNIFIED = "/sys/fs/cgroup/unified"
TIMEOUT_S = 10


def hybrid_with_controllers():
    """Whether crun would refuse this host: cgroup2 mounted at UNIFIED
    (the hybrid layout) with a controller in its cgroup.controllers."""
    with open("/proc/self/mounts") as f:
        hybrid = any(line.split()[1:3] == [UNIFIED, "cgroup2"] for line in f)
    if not hybrid:
        return False
    with open(os.path.join(UNIFIED, "cgroup.controllers")) as f:
        return f.read().strip() != ""


def crun_argv(state):
    """The command line of crun, before its subcommand."""
    argv = ["crun", f"--root={state}", "--cgroup-manager=disabled"]
    if hybrid_with_controllers():
        return ["unshare", "--mount", "--propagation", "private",
                "sh", "-c", f'umount {UNIFIED} && exec "$@"', "sh", *argv]
    return argv


def bundle_config(bundle, args, readonly, user=None, tmpfs=()):
    """Writes bundle/config.json: crun spec's, with args as the process,
    no terminal, root.readonly as given, process.user as (uid, gid) when
    given, and a tmpfs on each directory of tmpfs as (path, mode)."""
    subprocess.run(["crun", "spec"], cwd=bundle, check=True,
                   timeout=TIMEOUT_S)
    path = os.path.join(bundle, "config.json")
    with open(path) as f:
        config = json.load(f)
    config["process"]["terminal"] = False
    config["process"]["args"] = args
    config["root"]["readonly"] = readonly
    if user:
        config["process"]["user"] = {"uid": user[0], "gid": user[1]}
    for where, mode in tmpfs:
        config["mounts"].append({
            "destination": where, "type": "tmpfs", "source": "tmpfs",
            "options": ["nosuid", "nodev", f"mode={mode:o}"]})
    with open(path, "w") as f:
        json.dump(config, f, indent=1)


def wait_until(cond, what, timeout=TIMEOUT_S):
    deadline = time.monotonic() + timeout
    while True:
        value = cond()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting "
                                 f"for {what}")
        time.sleep(0.02)


class Container:
    """One bundle under a directory and the `crun run` of it."""

    def __init__(self, top, name, config_text, readonly, user, tmpfs):
        self.name = name
        self.bundle = top / name
        self.state = top / "state"
        self.crun = crun_argv(str(self.state))
        arbord, arborctl = harness.binaries()
        initramfs.write_root(str(self.bundle / "rootfs"), arbord, arborctl,
                             config_text)
        bundle_config(str(self.bundle), ["/usr/sbin/arbord"], readonly,
                      user, tmpfs)
        self.out = self.bundle / "stdout"
        self.err = self.bundle / "stderr"
        with open(self.out, "wb") as out, open(self.err, "wb") as err:
            self.proc = subprocess.Popen(
                [*self.crun, "run", "--bundle", str(self.bundle), name],
                stdin=subprocess.DEVNULL, stdout=out, stderr=err)

    def run(self, *args, check=True):
        return subprocess.run([*self.crun, *args], capture_output=True,
                              text=True, timeout=TIMEOUT_S, check=check)

    def exec(self, *argv, user=None):
        opts = ["--user", f"{user[0]}:{user[1]}"] if user else []
        return self.run("exec", *opts, self.name, *argv, check=False)

    def kill(self, signo):
        self.run("kill", self.name, signo.name[3:])

    def wait_exit(self):
        return self.proc.wait(timeout=TIMEOUT_S)

    def events(self):
        """arbord's events so far (its stderr's logfmt lines)."""
        return [parse_logfmt(line) for line in self.stderr().splitlines()
                if line.startswith("event=")]

    def wait_event(self, event, path=None):
        def seen():
            return [e for e in self.events() if e.get("event") == event
                    and (path is None or e.get("path") == path)]
        try:
            return wait_until(seen, f"event={event} path={path}")[0]
        except AssertionError as e:
            raise AssertionError(f"{e}; stderr: {self.stderr()!r}") from None

    def stdout(self):
        return self.out.read_text()

    def stderr(self):
        return self.err.read_text()

    def host_pid(self):
        """arbord's pid as the host sees it."""
        return json.loads(self.run("state", self.name).stdout)["pid"]

    def delete(self):
        """Kills what still runs; crun run deletes a container that ended,
        and this one fails then, saying so."""
        self.run("delete", "-f", self.name, check=False)
        self.proc.wait(timeout=TIMEOUT_S)


def probe(top):
    """Runs busybox's true in a container; None when that works, else
    crun's error."""
    root = os.path.join(top, "rootfs")
    os.makedirs(os.path.join(root, "bin"))
    shutil.copy(initramfs.BUSYBOX, os.path.join(root, "bin", "busybox"))
    os.symlink("busybox", os.path.join(root, "bin", "true"))
    bundle_config(top, ["/bin/true"], readonly=True)
    argv = crun_argv(os.path.join(top, "state"))
    name = f"arbor-probe-{os.getpid()}"
    r = subprocess.run([*argv, "run", "--bundle", top, name],
                       stdin=subprocess.DEVNULL, capture_output=True,
                       text=True, timeout=TIMEOUT_S)
    subprocess.run([*argv, "delete", "-f", name], capture_output=True,
                   timeout=TIMEOUT_S)
    if r.returncode != 0:
        return f"crun cannot run a container here: {r.stderr.strip()}"
    return None


@functools.lru_cache(maxsize=None)
def why_crun_cannot_run():
    """None when crun runs a container here, else why not."""
    if os.geteuid() != 0:
        return "crun runs these containers as root"
    if not shutil.which("crun"):
        return "no crun (packaging/install-deps --test installs it)"
    if not os.access(initramfs.BUSYBOX, os.X_OK):
        return f"no {initramfs.BUSYBOX} (install busybox-static)"
    if hybrid_with_controllers() and not shutil.which("unshare"):
        return "a hybrid cgroup host, and no unshare to hide its cgroup2"
    with tempfile.TemporaryDirectory(prefix="arbor-crun-probe.") as top:
        return probe(top)


@pytest.fixture
def crun(tmp_path):
    """start(config text, readonly=, user=, tmpfs=) runs a container."""
    why = why_crun_cannot_run()
    if why:
        pytest.skip(why)
    started = []

    def start(config_text, readonly=False, user=None, tmpfs=()):
        name = f"arbor-test-{os.getpid()}-{len(started)}"
        c = Container(tmp_path, name, config_text, readonly, user, tmpfs)
        started.append(c)
        return c

    yield start
    for c in started:
        c.delete()


def read_conf(path):
    with open(path) as f:
        return f.read()


def children(pid):
    with open(f"/proc/{pid}/task/{pid}/children") as f:
        return [int(k) for k in f.read().split()]


def status_field(pid, field):
    """A line's words of /proc/PID/status, the field's name left out."""
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return line.split()[1:]
    raise AssertionError(f"no {field} in /proc/{pid}/status")


def traps(pid, signos):
    """Whether process pid (a host pid) catches every one of signos."""
    try:
        caught = int(status_field(pid, "SigCgt")[0], 16)
    except (OSError, AssertionError):
        return False
    return all(caught & (1 << (s - 1)) for s in signos)


def stop_trace(c):
    return [f"{e['event']} {e.get('path', '')}".strip() for e in c.events()
            if e["event"] in ("stop", "down")]


def test_shipped_tree_under_crun(crun):
    """packaging/container.conf as the container's init: arborctl works
    through crun exec; the signals it forwards reach web, whose answers
    are on the container's stdout with web's path; crun kill TERM stops
    the tree in reverse order and the container exits 0 at once, not at
    the end of a grace period."""
    c = crun(read_conf(CONTAINER_CONF))
    c.wait_event("start", "web")
    assert c.events()[0]["mode"] == "container"
    host = c.host_pid()
    forwarded = (signal.SIGHUP, signal.SIGUSR1)
    wait_until(lambda: any(traps(k, forwarded) for k in children(host)),
               "web's traps")
    r = c.exec("arborctl", "status")
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert [w.split()[1:5] for w in lines[1:3]] == [
        ["sidecar", "service", "permanent", "up"],
        ["web", "service", "transient", "up"]]
    for signo, said in ((signal.SIGHUP, "web: reloading"),
                        (signal.SIGUSR1, "web: reopening logs")):
        c.kill(signo)
        wait_until(lambda: said in c.stdout(), f"{said!r} on stdout")
    began = time.monotonic()
    c.kill(signal.SIGTERM)
    assert c.wait_exit() == 0
    assert time.monotonic() - began < 5  # web's stop_timeout
    assert stop_trace(c) == ["stop web", "stop sidecar", "down"]
    assert c.stdout() == "web: reloading\nweb: reopening logs\n"


SLEEPER = 'children = ( { name = "s"; exec = [ "/bin/sleep", "1000" ]; } );\n'


def test_read_only_root_needs_a_writable_run(crun):
    """With a read-only root and nothing mounted on /run, arbord cannot
    make its control socket: it says where and why, and the container
    exits 1 before any service starts."""
    c = crun(SLEEPER, readonly=True)
    assert c.wait_exit() == 1
    assert ("cannot start (control socket /run/arbor/arbor.sock): "
            "Read-only file system") in c.stderr()
    assert not [e for e in c.events() if e["event"] == "start"]


def test_read_only_root_with_a_tmpfs_on_run(crun):
    """A read-only root with a tmpfs on /run (podman --read-only mounts
    one; docker --read-only needs --tmpfs /run) runs the tree."""
    c = crun(SLEEPER, readonly=True, tmpfs=[("/run", 0o755)])
    c.wait_event("start", "s")
    r = c.exec("arborctl", "status", "s")
    assert r.returncode == 0, r.stderr
    r = c.exec("touch", "/written")
    assert "Read-only file system" in r.stderr
    c.kill(signal.SIGTERM)
    assert c.wait_exit() == 0
    assert stop_trace(c) == ["stop s", "down"]


def test_non_root_user(crun):
    """arbord as uid 1000 in a read-only root: its socket is
    /tmp/arbor-1000/arbor.sock (no XDG_RUNTIME_DIR), so /tmp must be
    writable (a tmpfs here); arborctl as the same user reaches it, the
    services run as that user, and TERM stops the tree, exit 0."""
    user = (1000, 1000)
    c = crun(SLEEPER, readonly=True, user=user, tmpfs=[("/tmp", 0o1777)])
    c.wait_event("start", "s")
    host = c.host_pid()
    for pid in [host, *children(host)]:
        assert status_field(pid, "Uid")[:2] == ["1000", "1000"]
    r = c.exec("arborctl", "status", "s", user=user)
    assert r.returncode == 0, r.stderr
    r = c.exec("ls", "-d", "/tmp/arbor-1000/arbor.sock", user=user)
    assert r.returncode == 0, r.stderr
    c.kill(signal.SIGTERM)
    assert c.wait_exit() == 0
    assert stop_trace(c) == ["stop s", "down"]


def test_kill_before_the_stop_ends_exits_137(crun):
    """The runtime's SIGKILL, when the grace period is shorter than the
    stop, ends the container with 137 (arbord(8), What the orchestrator
    sees): here a service that ignores TERM has a 30 s stop_timeout."""
    stubborn = ('children = ( { name = "stubborn"; stop_timeout = "30s"; '
                'exec = [ "/bin/sh", "-c", "trap \'\' TERM; touch /armed; '
                'while :; do sleep 1; done" ]; } );\n')
    c = crun(stubborn)
    wait_until(lambda: (c.bundle / "rootfs" / "armed").exists(),
               "the service's trap")
    c.kill(signal.SIGTERM)
    assert c.wait_event("shutdown")["signal"] == "TERM"
    c.kill(signal.SIGKILL)
    assert c.wait_exit() == 137
    assert not [e for e in c.events() if e["event"] == "down"]


def significant_job_tree(sigterm_ok=False):
    """exit_status = "significant" (arbor.conf(5)): a sidecar, and a job,
    the temporary significant service, that exits 3 on USR1 once /armed
    says its trap is set."""
    return (
        'supervisor = { auto_shutdown = "any_significant"; '
        'exit_status = "significant"; '
        f'exit_sigterm_ok = {"true" if sigterm_ok else "false"}; }};\n'
        'children = (\n'
        '  { name = "sidecar"; exec = [ "/bin/sleep", "1000" ]; },\n'
        '  { name = "job"; restart = "temporary"; significant = true;\n'
        '    exec = [ "/bin/sh", "-c", "trap \'exit 3\' USR1; touch /armed; '
        'sleep 1000 & wait" ]; }\n'
        ');\n')


def armed_job(crun, config_text):
    c = crun(config_text)
    wait_until(lambda: (c.bundle / "rootfs" / "armed").exists(),
               "the job's trap")
    return c


def test_container_ends_with_its_jobs_status(crun):
    """Under exit_status = "significant" the container ends as its job
    did: the job exits 3, the sidecar is stopped, crun reports 3."""
    c = armed_job(crun, significant_job_tree())
    # Its status is not asserted: arborctl may still be in the container
    # when the killall after the tree's end reaches it (143).
    c.exec("arborctl", "kill", "-s", "USR1", "job")
    assert c.wait_exit() == 3
    assert stop_trace(c) == ["stop sidecar", "down"]


@pytest.mark.parametrize("sigterm_ok,status", [(False, 143), (True, 0)])
def test_job_killed_by_sigterm(crun, sigterm_ok, status):
    """A job that some other process stops with SIGTERM ends the container
    with 143, or with 0 under exit_sigterm_ok."""
    c = armed_job(crun, significant_job_tree(sigterm_ok))
    c.exec("arborctl", "kill", "-s", "TERM", "job")  # as above
    assert c.wait_exit() == status


def test_runtime_stop_of_a_job_tree_exits_0(crun):
    """crun kill TERM (podman stop's first step) under exit_status =
    "significant" is a stop asked for: 0, though the job died of its
    stop signal."""
    c = armed_job(crun, significant_job_tree())
    c.kill(signal.SIGTERM)
    assert c.wait_exit() == 0
    assert stop_trace(c) == ["stop job", "stop sidecar", "down"]
