"""The README's container quick start ("### In a container"), run as a
user would run it: its commands are read from README.md, so the two
cannot drift, and what their comments promise is checked.

The only change to a command is the podman it runs: test_podman.py's
podman on a storage of the test's own (see there), plus, by subcommand:
- build: `--isolation=chroot`: buildah runs each RUN step itself in a
  chroot, with no OCI runtime and no cgroup (with the default, crun
  refuses the first RUN step on this hybrid host: "cgroups in hybrid
  mode not supported"). `--network=host`: the build's apt-get must reach
  the Debian archive; chroot isolation shares the host's network
  already, and this says so rather than leaving it to buildah's default
  (podman's own networks are not set up in the test's storage).
  `--layers=false`: the storage is removed at the end, so a cache of
  each step's image serves nothing, and with vfs each would be a full
  copy of the root (3 GB in all, a build three times as long); the
  image is the same.
- run: test_podman.py's options (no network, no cgroup of its own, lower
  rlimits, a mount namespace without the hybrid host's cgroup2).
Each command runs in a clean clone of HEAD (clean_clone.py), so the
README's `.` is that clone: what is not committed is not built. The
build's temporary files go to the test's directory (TMPDIR).

There is no registry: the Dockerfile's FROM images (debian:SUITE and
debian:SUITE-slim) are one root file system that mmdebstrap makes, variant
minbase, from the Debian archive apt uses here (the host's sources, for
the Dockerfile's suite), imported as docker.io/library/debian:SUITE and
tagged SUITE-slim. It is kept as a tarball in the cache beside the boot
tests' kernel, named by suite and variant, and made anew after a month
(debvm.cached); the build's apt-get updates what it installs. Debian's slim
image differs only by leaving out documentation, manual pages and
locales, which the runtime stage does not read.

Skipped, saying why, when not root, without podman or mmdebstrap, when
podman cannot run a container here, or when apt knows no Debian archive
or it cannot be reached (the build's apt-get needs it even when the
tarball is cached).
"""

import os
import re
import shlex
import shutil
import signal
import subprocess
import tempfile
import time

import pytest

import debvm
from clean_clone import REPO, clone  # noqa: F401 (the fixture)
from logfmt import parse_logfmt
from test_crun import wait_until
from test_podman import LIMITS, Podman, why_podman_cannot_run, \
    without_unified

README = os.path.join(REPO, "README.md")
SECTION = "### In a container"
DOCKERFILE = os.path.join(REPO, "packaging", "Dockerfile")
VARIANT = "minbase"
SUBCOMMANDS = ["build", "run", "exec", "kill", "logs", "stop", "wait"]
# What the test's podman adds to each subcommand (see the docstring).
OPTIONS = {"build": ["--isolation=chroot", "--network=host",
                     "--layers=false"],
           "run": ["--network=none", "--cgroups=disabled", *LIMITS]}
# A cold build downloads the compiler and the libraries' headers.
BUILD_TIMEOUT_S = 900
TIMEOUT_S = 20
# podman stop's grace period (its default): a stop that took it had to be
# ended by SIGKILL, not by arbord's exit once the tree was down. The
# margin is podman's own start on a loaded host, not arbord's stop.
GRACE_S = 10


def quick_start():
    """The section's commands: a list of (argv, comment), a comment's
    continuation lines joined to it."""
    with open(README) as f:
        text = f.read()
    assert f"\n{SECTION}\n" in text, f"README.md has no {SECTION!r}"
    section = text.split(f"\n{SECTION}\n", 1)[1].split("\n#", 1)[0]
    commands = []
    for line in section.splitlines():
        command = re.match(r"    \$ ([^#]*)(?:#\s*(.*))?$", line)
        if command:
            commands.append((shlex.split(command.group(1)),
                             command.group(2) or ""))
            continue
        more = re.match(r"\s+#\s*(.*)$", line)
        if more and commands:
            argv, comment = commands[-1]
            commands[-1] = (argv, f"{comment} {more.group(1)}")
    return commands


def base_images():
    """The Dockerfile's FROM images (its stages' names left out)."""
    with open(DOCKERFILE) as f:
        return [m.group(1) for m in
                re.finditer(r"^FROM\s+(\S+)", f.read(), re.M | re.I)]


def debian_suite(images):
    """The one Debian suite the images are, or an AssertionError."""
    suites = set()
    for image in images:
        m = re.fullmatch(r"debian:([a-z]+)(?:-slim)?", image)
        assert m, f"packaging/Dockerfile: FROM {image} is no Debian image"
        suites.add(m.group(1))
    assert len(suites) == 1, f"packaging/Dockerfile: suites {suites}"
    return suites.pop()


def base_tarball(suite, sources):
    """The cached tarball of suite's minbase root (debvm.mmdebstrap)."""
    path = os.path.join(debvm.cache_dir(),
                        f"podman-debian-{suite}-{VARIANT}.tar")
    debvm.mmdebstrap(path, suite, sources)
    return path


def import_base_images(podman, images, tarball):
    """The images as `podman build` resolves their short names."""
    first, *others = [f"docker.io/library/{image}" for image in images]
    podman("import", tarball, first, timeout=120)
    for image in others:
        podman("tag", first, image)


class QuickStart:
    """Runs README commands with the test's podman, in the clone."""

    def __init__(self, podman, clone):
        self.podman = podman
        self.clone = clone
        self.env = dict(os.environ, TMPDIR=os.path.join(podman.top, "tmp"))
        os.makedirs(self.env["TMPDIR"], exist_ok=True)

    def argv(self, readme_argv):
        assert readme_argv[0] == "podman", readme_argv
        subcommand, *rest = readme_argv[1:]
        argv = [*self.podman.argv, subcommand,
                *OPTIONS.get(subcommand, []), *rest]
        return without_unified(argv) if subcommand == "run" else argv

    def run(self, readme_argv, timeout=TIMEOUT_S):
        """The command's CompletedProcess. It runs in a session of its
        own, killed whole if it outlasts timeout: a build's RUN step is
        a grandchild."""
        proc = subprocess.Popen(self.argv(readme_argv), cwd=self.clone,
                                env=self.env, stdin=subprocess.DEVNULL,
                                stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True,
                                start_new_session=True)
        try:
            out, err = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            out, err = proc.communicate()
            raise AssertionError(f"{shlex.join(readme_argv)} outlasted "
                                 f"{timeout}s:\n{out[-2000:]}{err[-2000:]}")
        return subprocess.CompletedProcess(proc.args, proc.returncode,
                                           out, err)

    def output_when(self, readme_argv, text):
        """The command's CompletedProcess if it succeeds and text is in
        its stdout, else None."""
        r = self.run(readme_argv)
        return r if r.returncode == 0 and text in r.stdout else None


def why_skip():
    if os.geteuid() != 0:
        return "the quick start's podman runs as root here"
    if not shutil.which("mmdebstrap"):
        return ("no mmdebstrap to make the Dockerfile's Debian images "
                "(packaging/install-deps --test installs it)")
    return why_podman_cannot_run()


@pytest.fixture
def quickstart(clone):  # noqa: F811 (the fixture)
    """(QuickStart, its README commands by subcommand) once the
    Dockerfile's FROM images are in the test's podman."""
    why = why_skip()
    if why:
        pytest.skip(why)
    images = base_images()
    suite = debian_suite(images)
    sources = debvm.debian_sources(suite)
    if not sources:
        pytest.skip("apt knows no Debian archive to make "
                    f"debian:{suite} from")
    why = debvm.why_unreachable(sources)
    if why:
        pytest.skip(why)
    commands = quick_start()
    assert [argv[1] for argv, _ in commands] == SUBCOMMANDS, commands
    podman = Podman(tempfile.mkdtemp(prefix="arbor-quickstart."))
    try:
        import_base_images(podman, images, base_tarball(suite, sources))
        yield QuickStart(podman, clone), dict(zip(SUBCOMMANDS, commands))
    finally:
        podman.clean()


def service_state(status, name):
    """The state column of name's line in `arborctl status`."""
    m = re.search(rf"^\W*{name}\s+service\s+\S+\s+(\S+)", status, re.M)
    return m and m.group(1)


def events(stderr):
    return [parse_logfmt(line) for line in stderr.splitlines()
            if line.startswith("event=")]


def test_readme_container_quick_start(quickstart):
    """README.md's "In a container", command by command: the image
    builds from a clean clone; the container runs arbord as its init
    (PID 1, container mode) with packaging/container.conf's tree;
    `arborctl status` through exec shows web and sidecar up; the HUP
    `podman kill` sends reaches web, whose answer is in `podman logs`
    with its path, beside arbord's events;
    `podman stop` stops the tree in reverse order at once (before
    podman's 10 s grace period) and `podman wait` says 0."""
    qs, commands = quickstart
    name = commands["run"][0][commands["run"][0].index("--name") + 1]

    build = qs.run(commands["build"][0], timeout=BUILD_TIMEOUT_S)
    assert build.returncode == 0, build.stdout[-4000:] + build.stderr[-4000:]

    run = qs.run(commands["run"][0])
    assert run.returncode == 0, run.stderr

    argv, comment = commands["exec"]
    assert comment == "web and sidecar, up"
    # The user types it a moment after run -d; arbord may not be up yet.
    status = wait_until(lambda: qs.output_when(argv, "sidecar"),
                        "arborctl status through podman exec").stdout
    assert service_state(status, "sidecar") == "up", status
    assert service_state(status, "web") == "up", status

    argv, comment = commands["kill"]
    assert comment == "forwarded to web, which answers"
    kill = qs.run(argv)
    assert kill.returncode == 0, kill.stderr
    argv, comment = commands["logs"]
    assert comment == "arbord's events, and web's \"web: reloading\""
    logs = wait_until(lambda: qs.output_when(argv, "reloading"),
                      "web's answer to HUP in podman logs")
    assert logs.stdout == "web: reloading\n"
    seen = events(logs.stderr)
    assert seen[0]["event"] == "mode" and seen[0]["mode"] == "container"
    assert seen[0]["real_pid1"] == "true"
    assert [(e["event"], e["path"]) for e in seen if e["event"] == "start"] \
        == [("start", "/"), ("start", "sidecar"), ("start", "web")]

    argv, comment = commands["stop"]
    assert comment == "the tree stops in reverse order,"
    began = time.monotonic()
    stop = qs.run(argv, timeout=TIMEOUT_S + 10)
    assert stop.returncode == 0, stop.stderr
    assert time.monotonic() - began < GRACE_S - 1

    argv, comment = commands["wait"]
    assert comment == "at once: the container exits 0"
    wait = qs.run(argv)
    assert (wait.returncode, wait.stdout) == (0, "0\n"), wait.stderr

    stopped = [(e["event"], e.get("path")) for e in
               events(qs.podman("logs", name).stderr)
               if e["event"] in ("stop", "down")]
    assert stopped == [("stop", "web"), ("stop", "sidecar"), ("down", None)]
