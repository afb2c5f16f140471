"""packaging/Dockerfile, container.conf and arbor-pod.yaml, checked without
a container runtime (no image can be pulled here): what the Dockerfile
copies exists or is built by its build stage, its runtime stage installs
exactly the libraries the binaries link, the tree it ships loads, and the
pod's grace period covers the tree's stop. test_pid1.py's
test_shipped_container_tree runs that tree as a container's init.
"""

import os
import re
import shlex
import shutil
import subprocess

import pytest

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
DOCKERFILE = os.path.join(REPO, "packaging", "Dockerfile")
CONTAINER_CONF = os.path.join(REPO, "packaging", "container.conf")
POD = os.path.join(REPO, "packaging", "arbor-pod.yaml")
ARBORD = os.path.join(REPO, "daemon", "arbord")
BINARIES = [ARBORD, os.path.join(REPO, "ctl", "arborctl")]

# What arbord may take after the tree is down, in a container: SIGTERM to
# what is left and up to 5 s, then SIGKILL and up to 2 s (arbord(8),
# Shutdown).
KILLALL_S = 7


def stages():
    """The Dockerfile's stages: a list of (FROM line, instructions), each
    instruction (KEYWORD, arguments), continuation lines joined."""
    with open(DOCKERFILE) as f:
        text = re.sub(r"\\\n", " ", f.read())
    found = []
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        keyword, _, args = line.partition(" ")
        if keyword.upper() == "FROM":
            found.append((args, []))
        else:
            found[-1][1].append((keyword.upper(), args.strip()))
    return found


def copies(instructions):
    """COPY instructions as (from stage or None, sources, destination)."""
    out = []
    for keyword, args in instructions:
        if keyword != "COPY":
            continue
        words = shlex.split(args)
        source = None
        while words[0].startswith("--"):
            opt = words.pop(0)
            if opt.startswith("--from="):
                source = opt[len("--from="):]
        out.append((source, words[:-1], words[-1]))
    return out


def test_build_stage_builds_from_source():
    """The build stage is Debian 12 with the packages of
    packaging/install-deps (the README's), and builds from a clean tree:
    a host's objects in the build context are not shipped."""
    (base, build), _ = stages()
    assert base == "debian:bookworm AS build"
    runs = [args for keyword, args in build if keyword == "RUN"]
    assert runs[0].startswith("packaging/install-deps ")
    assert re.match(r"make clean && make .*daemon/arbord ctl/arborctl$",
                    runs[-1])


def test_copy_sources_exist():
    """Every COPY from the build context names a file of the repository,
    and every COPY from the build stage one its make builds."""
    (_, build), (_, runtime) = stages()
    make_line = [a for k, a in build if k == "RUN"][-1]
    for source, paths, _ in copies(build) + copies(runtime):
        for path in paths:
            if source is None:
                if path != ".":
                    assert os.path.exists(os.path.join(REPO, path)), path
            else:
                assert source == "build"
                assert path.startswith("/src/")
                assert path[len("/src/"):] in make_line.split(), path


def runtime_packages():
    (_, _), (_, runtime) = stages()
    run = " ".join(a for k, a in runtime if k == "RUN")
    m = re.search(r"apt-get install -y --no-install-recommends ([^&]+)&&",
                  run)
    assert m, run
    return set(m.group(1).split())


def needed_packages():
    """The Debian packages of the libraries arbord and arborctl link
    (their DT_NEEDED), the sanitizers' aside (make check SANITIZE=1)."""
    sonames = set()
    for binary in BINARIES:
        out = subprocess.run(["readelf", "-d", binary], capture_output=True,
                             text=True, check=True).stdout
        sonames |= set(re.findall(r"\(NEEDED\)\s+Shared library: \[(.+)\]",
                                  out))
    sonames = {s for s in sonames if not s.startswith(("libasan.",
                                                       "libubsan."))}
    paths = {}
    for line in subprocess.run(["ldconfig", "-p"], capture_output=True,
                               text=True, check=True).stdout.splitlines():
        m = re.match(r"\s+(\S+) \(libc6,x86-64\) => (\S+)", line)
        if m:
            paths.setdefault(m.group(1), m.group(2))
    packages = set()
    for soname in sonames:
        path = paths[soname]
        real = os.path.join("/usr", path.lstrip("/")) \
            if not path.startswith("/usr/") else path
        r = subprocess.run(["dpkg", "-S", path], capture_output=True,
                           text=True)
        if r.returncode != 0:  # merged /usr: dpkg knows the /usr path
            r = subprocess.run(["dpkg", "-S", real], capture_output=True,
                               text=True, check=True)
        packages.add(r.stdout.split(":")[0])
    return packages


@pytest.mark.skipif(not (shutil.which("dpkg") and shutil.which("readelf")
                         and os.path.exists("/lib/x86_64-linux-gnu")),
                    reason="needs dpkg and readelf on Debian amd64")
def test_runtime_stage_installs_exactly_the_linked_libraries():
    """The runtime stage installs the packages of the libraries the
    binaries link, and nothing else: a new library (libsystemd0, when
    arborctl reads the journal) must be added there, and one no longer
    linked removed. libc6 is in the base image."""
    assert runtime_packages() == needed_packages() - {"libc6"}


def check_output():
    r = subprocess.run([ARBORD, "--check", "-c", CONTAINER_CONF],
                       capture_output=True, text=True, timeout=30)
    assert (r.returncode, r.stderr) == (0, ""), r.stderr
    return r.stdout


def test_container_conf_loads():
    """The tree the image ships passes arbord --check, warning-free."""
    assert "name = \"web\";" in check_output()


UNITS_MS = {"ms": 1, "s": 1000, "min": 60000, "h": 3600000}


def stop_timeouts_ms():
    """Every service's resolved stop_timeout, defaults included."""
    found = re.findall(r'stop_timeout = "([0-9.]+)(ms|s|min|h)";',
                       check_output())
    assert found
    return [round(float(n) * UNITS_MS[u]) for n, u in found]


def test_pod_grace_period_covers_the_stop():
    """The pod's terminationGracePeriodSeconds covers the longest stop of
    the tree it runs: every stop_timeout in turn, then the killall; its
    probes run the arborctl the image has; its image is the one the
    Dockerfile's instructions build."""
    yaml = pytest.importorskip("yaml", reason="needs python3-yaml")
    with open(POD) as f:
        pod = yaml.safe_load(f)
    assert (pod["apiVersion"], pod["kind"]) == ("v1", "Pod")
    spec = pod["spec"]
    need_ms = sum(stop_timeouts_ms()) + KILLALL_S * 1000
    assert spec["terminationGracePeriodSeconds"] * 1000 >= need_ms
    (container,) = spec["containers"]
    with open(DOCKERFILE) as f:
        tags = re.findall(r"docker build -f packaging/Dockerfile -t (\S+) \.",
                          f.read())
    assert tags == [container["image"]]
    (_, _), (_, runtime) = stages()
    installed = {dest for _, _, dest in copies(runtime)}
    for probe in ("livenessProbe", "readinessProbe"):
        command = container[probe]["exec"]["command"]
        assert command[0] in installed
        assert command[1] == "status"
