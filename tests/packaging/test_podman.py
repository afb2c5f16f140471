"""arbord as the init of a real container, run by Debian's podman.

Each test makes an image offline, with no registry: the root file system
of test_crun.py (tests/boot/initramfs.py's write_root: arbord as
/usr/sbin/arbord, arborctl, their shared libraries, a static busybox, the
tree as /etc/arbor/arbor.conf), as a tar, through `podman import` with
arbord as its ENTRYPOINT. `podman run -d` runs it; `podman stop`, `kill`,
`exec`, `logs` and `wait` act on it as an operator or an orchestrator
would.

The host is kept as it is. podman's storage, run and temporary
directories and its network configuration are a directory of the test's
own (--root, --runroot, --tmpdir, --network-config-dir; the vfs driver,
which mounts nothing), removed at the end with every container and image
in it; events go to a file there (--events-backend=file), not the
journal; the containers have no network (--network=none) and no cgroup of
their own (--cgroups=disabled, --cgroup-manager=cgroupfs: no libpod_parent
cgroup is made). Two things do not follow --root: containers/image's
cache of blob digests (/var/lib/containers/cache) and netavark's lock
directory (/run/containers/networks), made once and left, empty of
anything a test ran.

Three limits of this host shape the command line:
- podman asks crun for its own RLIMIT_NOFILE and RLIMIT_NPROC, which
  crun cannot set without CAP_SYS_RESOURCE ("setrlimit `RLIMIT_NOFILE`:
  Operation not permitted: OCI permission denied"): the containers get
  lower ones (--ulimit), which needs no privilege.
- On a hybrid host whose cgroup2 has a controller enabled, crun refuses
  every container ("cgroups in hybrid mode not supported"): `podman run`
  runs in a mount namespace of its own without /sys/fs/cgroup/unified,
  as test_crun.py's crun does; the container, made there, keeps that
  view, and later commands (stop, exec) need no such namespace.
- arbord in the container then finds no cgroup2 and contains its
  services in process groups (arbord(8) CONTAINMENT).

Skipped, saying why, when not root, without podman or busybox, or when
podman cannot run a container here (its error is the reason).
"""

import functools
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
from test_crun import (CONTAINER_CONF, SLEEPER, UNIFIED,  # noqa: E402
                       hybrid_with_controllers, read_conf,
                       significant_job_tree, wait_until)

TIMEOUT_S = 20
LIMITS = ["--ulimit", "nofile=4096:4096", "--ulimit", "nproc=4096:4096"]


def without_unified(argv):
    """argv as it must run for crun to accept this host's cgroups: in a
    mount namespace of its own without UNIFIED on a hybrid host whose
    cgroup2 has a controller enabled, else as it is."""
    if not hybrid_with_controllers():
        return argv
    return ["unshare", "--mount", "--propagation", "private",
            "sh", "-c", f'umount {UNIFIED} && exec "$@"', "sh", *argv]


class Podman:
    """podman on a storage of its own under top."""

    def __init__(self, top):
        self.top = top
        self.argv = ["podman", f"--root={top}/storage",
                     f"--runroot={top}/run", f"--tmpdir={top}/tmp",
                     f"--network-config-dir={top}/net",
                     "--storage-driver=vfs", "--cgroup-manager=cgroupfs",
                     "--events-backend=file"]

    def __call__(self, *args, check=True, timeout=TIMEOUT_S):
        return subprocess.run([*self.argv, *args], capture_output=True,
                              text=True, timeout=timeout, check=check,
                              stdin=subprocess.DEVNULL)

    def run_detached(self, *args):
        """podman run -d ARGS, where crun accepts this host's cgroups."""
        argv = [*self.argv, "run", "-d", "--network=none",
                "--cgroups=disabled", *LIMITS, *args]
        return subprocess.run(without_unified(argv), capture_output=True,
                              text=True, timeout=TIMEOUT_S,
                              stdin=subprocess.DEVNULL)

    def import_root(self, root, tag, entrypoint):
        """root (a directory) as image tag, its ENTRYPOINT entrypoint."""
        tar = os.path.join(self.top, tag.replace(":", "_") + ".tar")
        subprocess.run(["tar", "-C", root, "-cf", tar, "."], check=True,
                       timeout=TIMEOUT_S)
        self("import", "--change", f"ENTRYPOINT {entrypoint}", tar, tag)
        os.unlink(tar)

    def clean(self):
        """Every container removed (its conmon ends), then the directory
        with the images in it: `podman rmi` of a large vfs image can
        outlast TIMEOUT_S, and the directory goes whatever happens."""
        try:
            self("rm", "-fa", "-t", "0", check=False)
        finally:
            shutil.rmtree(self.top, ignore_errors=True)


def probe():
    """Runs busybox's true in a container; None when that works, else
    podman's error."""
    top = tempfile.mkdtemp(prefix="arbor-podman-probe.")
    podman = Podman(top)
    try:
        root = os.path.join(top, "rootfs")
        os.makedirs(os.path.join(root, "bin"))
        shutil.copy(initramfs.BUSYBOX, os.path.join(root, "bin", "busybox"))
        os.symlink("busybox", os.path.join(root, "bin", "true"))
        podman.import_root(root, "arbor-probe:1", '["/bin/true"]')
        r = podman.run_detached("--name", "arbor-probe", "arbor-probe:1")
        if r.returncode != 0:
            return f"podman cannot run a container here: {r.stderr.strip()}"
        r = podman("wait", "arbor-probe", check=False)
        if r.stdout.strip() != "0":
            return (f"podman's container of true ended with "
                    f"{r.stdout.strip()}: {r.stderr.strip()}")
        return None
    except subprocess.CalledProcessError as e:
        return f"podman cannot make an image here: {e.stderr.strip()}"
    finally:
        podman.clean()


@functools.lru_cache(maxsize=None)
def why_podman_cannot_run():
    """None when podman runs a container here, else why not."""
    if os.geteuid() != 0:
        return "podman runs these containers as root"
    if not shutil.which("podman"):
        return "no podman (packaging/install-deps --test installs it)"
    if not os.access(initramfs.BUSYBOX, os.X_OK):
        return f"no {initramfs.BUSYBOX} (install busybox-static)"
    if hybrid_with_controllers() and not shutil.which("unshare"):
        return "a hybrid cgroup host, and no unshare to hide its cgroup2"
    return probe()


class Container:
    """One container of an image of arbord and config_text."""

    def __init__(self, podman, name, config_text, options):
        self.podman = podman
        self.name = name
        root = os.path.join(podman.top, name)
        arbord, arborctl = harness.binaries()
        initramfs.write_root(root, arbord, arborctl, config_text)
        podman.import_root(root, f"{name}:test", '["/usr/sbin/arbord"]')
        shutil.rmtree(root)
        r = podman.run_detached("--name", name, *options, f"{name}:test")
        assert r.returncode == 0, r.stderr

    def exec(self, *argv, user=None):
        opts = ["--user", user] if user else []
        return self.podman("exec", *opts, self.name, *argv, check=False)

    def kill(self, signo):
        self.podman("kill", "--signal", signo.name[3:], self.name)

    def stop(self, grace_s):
        """podman stop: SIGTERM, and SIGKILL after grace_s seconds."""
        self.podman("stop", "-t", str(grace_s), self.name,
                    timeout=TIMEOUT_S + grace_s)

    def exit_code(self):
        """The container's exit status, once it has ended."""
        return int(self.podman("wait", self.name).stdout.strip())

    def logs(self):
        """podman logs: the container's stdout, and its stderr."""
        r = self.podman("logs", self.name)
        return r.stdout, r.stderr

    def events(self):
        return [parse_logfmt(line) for line in self.logs()[1].splitlines()
                if line.startswith("event=")]

    def wait_event(self, event, path=None):
        def seen():
            return [e for e in self.events() if e.get("event") == event
                    and (path is None or e.get("path") == path)]
        return wait_until(seen, f"event={event} path={path}")[0]

    def inspect(self, field):
        return self.podman("inspect", "--format", "{{" + field + "}}",
                           self.name).stdout.strip()


@pytest.fixture
def podman():
    """start(config text, *options) runs a container of arbord."""
    why = why_podman_cannot_run()
    if why:
        pytest.skip(why)
    top = Podman(tempfile.mkdtemp(prefix="arbor-podman."))
    started = []

    def start(config_text, *options):
        c = Container(top, f"arbor-test-{len(started)}", config_text,
                      options)
        started.append(c)
        return c

    yield start
    top.clean()


def stop_trace(c):
    return [f"{e['event']} {e.get('path', '')}".strip() for e in c.events()
            if e["event"] in ("stop", "down")]


def test_podman_stop_stops_the_tree(podman):
    """packaging/container.conf under podman: a forwarded HUP reaches web,
    whose answer is in `podman logs` with web's path; arborctl answers
    through podman exec; podman stop stops the tree in reverse order and
    the container ends with 0 at once, not at the end of the grace
    period."""
    c = podman(read_conf(CONTAINER_CONF))
    c.wait_event("start", "web")
    assert c.events()[0]["mode"] == "container"
    wait_until(lambda: c.exec("arborctl", "status", "web").returncode == 0,
               "arborctl status web")
    c.kill(signal.SIGHUP)
    wait_until(lambda: "web: reloading" in c.logs()[0], "web's answer")
    began = time.monotonic()
    c.stop(10)
    # ended by arbord's exit once the tree is down, not by SIGKILL at the
    # end of the 10 s (the margin is podman's own start on a loaded host)
    assert time.monotonic() - began < 9
    assert c.exit_code() == 0
    assert stop_trace(c) == ["stop web", "stop sidecar", "down"]
    assert c.logs()[0] == "web: reloading\n"


def test_podman_stop_kills_after_its_grace_period(podman):
    """A service that ignores SIGTERM, its stop_timeout longer than
    podman stop -t: podman's SIGKILL ends the container, 137."""
    stubborn = ('children = ( { name = "stubborn"; stop_timeout = "30s"; '
                'exec = [ "/bin/sh", "-c", "trap \'\' TERM; touch /armed; '
                'while :; do sleep 1; done" ]; } );\n')
    c = podman(stubborn)
    wait_until(lambda: c.exec("test", "-e", "/armed").returncode == 0,
               "the service's trap")
    began = time.monotonic()
    c.stop(1)
    assert c.exit_code() == 137
    assert time.monotonic() - began < 10
    assert c.wait_event("shutdown")["signal"] == "TERM"
    assert not [e for e in c.events() if e["event"] == "down"]


def test_podman_read_only_non_root(podman):
    """--read-only (podman mounts a tmpfs on /run and /tmp) and --user
    1000: arbord and its services run as 1000, its socket is
    /tmp/arbor-1000/arbor.sock, arborctl as 1000 reaches it, the root is
    not writable, and podman stop ends it with 0."""
    c = podman(SLEEPER, "--read-only", "--user", "1000:1000")
    c.wait_event("start", "s")
    wait_until(lambda: c.exec("arborctl", "status", "s",
                              user="1000:1000").returncode == 0,
               "arborctl status s as 1000")
    r = c.exec("ps", "-o", "user,args")
    assert [ln.split()[0] for ln in r.stdout.splitlines()[1:]
            if "arbord" in ln or "sleep" in ln] == ["1000", "1000"], r.stdout
    r = c.exec("ls", "-d", "/tmp/arbor-1000/arbor.sock", user="1000:1000")
    assert r.returncode == 0, r.stderr
    assert "Read-only file system" in c.exec("touch", "/written").stderr
    c.stop(10)
    assert c.exit_code() == 0
    assert stop_trace(c) == ["stop s", "down"]


def test_podman_container_ends_with_its_jobs_status(podman):
    """exit_status = "significant" under podman: the job exits 3, the
    sidecar is stopped, and podman reports 3; podman stop of the same
    tree reports 0."""
    c = podman(significant_job_tree())
    wait_until(lambda: c.exec("test", "-e", "/armed").returncode == 0,
               "the job's trap")
    # Its status is not asserted: arborctl may still be in the container
    # when the killall after the tree's end reaches it (143).
    c.exec("arborctl", "kill", "-s", "USR1", "job")
    assert c.exit_code() == 3
    assert c.inspect(".State.ExitCode") == "3"
    assert stop_trace(c) == ["stop sidecar", "down"]
    c = podman(significant_job_tree())
    wait_until(lambda: c.exec("test", "-e", "/armed").returncode == 0,
               "the job's trap")
    c.stop(10)
    assert c.exit_code() == 0
