"""A minimal Debian system with a package installed, booted under qemu with
systemd as PID 1: the guest of test_systemd_vm.py.

The root file system is made by mmdebstrap from the Debian archive apt
uses here (the host's sources, as `apt-get indextargets` lists them), for
the host's suite: variant minbase, systemd and systemd-sysv, and the
package's dependencies, without documentation, manual pages or locales.
It is kept as a tarball in the cache beside the boot tests' kernel,
named by a hash of what made it, so a changed list of packages makes a
new one (and the old one is removed). Each boot extracts it into a
directory of its own, installs the package there with `dpkg -i` in a
chroot (its maintainer scripts run: the units are enabled as on a real
install), adds the test's files, and packs it all as an initramfs: the
kernel unpacks it into memory and runs /sbin/init (systemd), so no disk
and no kernel module is needed. Nothing is mounted on the host.
"""

import hashlib
import os
import re
import shutil
import signal
import subprocess
import tempfile
import time
import urllib.error
import urllib.request

# The guest's packages beside minbase and the package's Depends.
PACKAGES = ["systemd", "systemd-sysv"]
# dpkg leaves these out of the guest: they are half its size, and no
# check reads them.
DPKG_OPTIONS = ["path-exclude=/usr/share/man/*",
                "path-exclude=/usr/share/info/*",
                "path-exclude=/usr/share/doc/*",
                "path-include=/usr/share/doc/*/copyright",
                "path-exclude=/usr/share/locale/*",
                "path-include=/usr/share/locale/locale.alias"]
# Part of the cache's key: raise it when the way the root is made changes.
FORMAT = 1
MMDEBSTRAP_TIMEOUT_S = 600
CACHE_DAYS = 30


def cache_dir():
    """Where the root file systems are kept: the boot tests' cache."""
    cache = os.environ.get("XDG_CACHE_HOME") or os.path.join(
        os.path.expanduser("~"), ".cache")
    return os.path.join(cache, "arbor")


def host_codename():
    """The host's release name (bookworm), or None off Debian."""
    try:
        with open("/etc/os-release") as f:
            text = f.read()
    except OSError:
        return None
    m = re.search(r"^VERSION_CODENAME=\"?([a-z]+)\"?$", text, re.M)
    return m.group(1) if m else None


def debian_sources(suite):
    """The archives of apt's Debian sources, as sources.list lines for
    suite and its -updates and -security (whatever release apt itself
    follows); [] when apt has none (not Debian, or no apt-get update
    yet)."""
    run = subprocess.run(
        ["apt-get", "indextargets", "--format",
         "$(REPO_URI) $(RELEASE) $(COMPONENT)", "Origin: Debian",
         "Identifier: Packages", "Target-Of: deb"],
        capture_output=True, text=True)
    if run.returncode != 0:
        return []
    lines = set()
    for line in run.stdout.splitlines():
        uri, release, component = line.split()
        pocket = release.partition("-")[2]
        lines.add(f"deb {uri} {suite}{'-' + pocket if pocket else ''} "
                  f"{component}")
    return sorted(lines)


def depends(deb):
    """The package names of deb's Depends (the first of alternatives)."""
    field = subprocess.run(["dpkg-deb", "-f", deb, "Depends"],
                           capture_output=True, text=True,
                           check=True).stdout
    return sorted({re.match(r"\s*([^\s(|:]+)", alt.split("|")[0]).group(1)
                   for alt in field.split(",") if alt.strip()})


def rootfs_name(codename, packages, sources):
    key = "\n".join([str(FORMAT), codename, *sorted(packages), *sources,
                     *DPKG_OPTIONS])
    return f"debvm-{codename}-{hashlib.sha256(key.encode()).hexdigest()[:16]}.tar"


def cached(path):
    """Whether path is a tarball young enough to be used: a month old at
    most, so that the archive's point releases and security updates
    come in."""
    try:
        return time.time() - os.path.getmtime(path) < CACHE_DAYS * 86400
    except OSError:
        return False


def why_unreachable(sources):
    """None when each archive's Release file answers, else why not."""
    for line in sources:
        _, uri, suite, _ = line.split(maxsplit=3)
        url = f"{uri.rstrip('/')}/dists/{suite}/InRelease"
        try:
            with urllib.request.urlopen(
                    urllib.request.Request(url, method="HEAD"), timeout=15):
                pass
        except (urllib.error.URLError, OSError) as e:
            return f"the Debian archive is unreachable: {url}: {e}"
    return None


def mmdebstrap(path, suite, sources, options=()):
    """Makes the tarball path with mmdebstrap (minbase and options) unless
    it is cached; written aside, then renamed, so that an interrupted run
    leaves none. Returns the seconds it took (0: it was cached)."""
    if cached(path):
        return 0.0
    os.makedirs(os.path.dirname(path), exist_ok=True)
    started = time.monotonic()
    fd, part = tempfile.mkstemp(prefix=os.path.basename(path) + ".",
                                suffix=".part", dir=os.path.dirname(path))
    os.close(fd)
    # A session of its own, and SIGTERM first on a timeout: mmdebstrap
    # then unmounts what it bound in its chroot (a SIGKILL would leave
    # /proc and /dev mounted in a directory of /tmp).
    proc = subprocess.Popen(
        ["mmdebstrap", "--variant=minbase", "--mode=root", *options,
         "--format=tar", suite, part, *sources],
        stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        _, err = proc.communicate(timeout=MMDEBSTRAP_TIMEOUT_S)
        assert proc.returncode == 0, "mmdebstrap failed:\n" + err[-4000:]
        os.replace(part, path)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.communicate()
        raise AssertionError(f"mmdebstrap took over {MMDEBSTRAP_TIMEOUT_S}s")
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        if os.path.exists(part):
            os.unlink(part)
    return time.monotonic() - started


def rootfs_path(codename, packages, sources):
    return os.path.join(cache_dir(), rootfs_name(codename, packages, sources))


def rootfs(codename, packages, sources):
    """The path of the cached tarball of the root file system, made by
    mmdebstrap if it is not there; other debvm-*.tar files, made from
    another list, are removed then. Returns (path, seconds spent)."""
    top = cache_dir()
    path = rootfs_path(codename, packages, sources)
    took = mmdebstrap(path, codename, sources,
                      ["--include=" + ",".join(packages),
                       *[f"--dpkgopt={o}" for o in DPKG_OPTIONS]])
    for old in os.listdir(top):
        if old.startswith("debvm-") and old.endswith(".tar") and \
                os.path.join(top, old) != path:
            os.unlink(os.path.join(top, old))
    return path, took


def chroot(root, *argv):
    """Runs argv in root; its output, or an AssertionError with it."""
    run = subprocess.run(["chroot", root, *argv], capture_output=True,
                         text=True, timeout=120)
    assert run.returncode == 0, (f"chroot {' '.join(argv)}: exit "
                                 f"{run.returncode}\n{run.stdout}{run.stderr}")
    return run.stdout + run.stderr


def install(root, deb):
    """dpkg -i deb in root, maintainer scripts and all; dpkg's output."""
    inside = os.path.join("/tmp", os.path.basename(deb))
    shutil.copy(deb, os.path.join(root, inside.lstrip("/")))
    try:
        return chroot(root, "dpkg", "-i", inside)
    finally:
        os.unlink(os.path.join(root, inside.lstrip("/")))


def write_files(root, files):
    """files: a guest path -> (host file to copy, mode)."""
    for guest, (host, mode) in files.items():
        path = os.path.join(root, guest.lstrip("/"))
        os.makedirs(os.path.dirname(path), exist_ok=True)
        shutil.copy(host, path)
        os.chmod(path, mode)


def pack(root, out):
    """Writes root as a newc cpio archive (an initramfs), owners kept."""
    with open(out, "wb") as f:
        find = subprocess.Popen(["find", "."], cwd=root,
                                stdout=subprocess.PIPE)
        cpio = subprocess.run(["cpio", "-o", "-H", "newc", "--quiet"],
                              cwd=root, stdin=find.stdout, stdout=f,
                              stderr=subprocess.PIPE, timeout=300)
        find.stdout.close()
        assert find.wait() == 0 and cpio.returncode == 0, cpio.stderr


def make_guest(tarball, deb, workdir, files, enable=(), mask=()):
    """The initramfs of the guest, in workdir: tarball extracted, deb
    installed, files written (see write_files), units enabled and masked
    with systemctl in the chroot. Returns (path, dpkg's output)."""
    root = os.path.join(workdir, "root")
    os.mkdir(root)
    try:
        subprocess.run(["tar", "-x", "--numeric-owner", "-f", tarball,
                        "-C", root], check=True, timeout=300)
        dpkg = install(root, deb)
        write_files(root, files)
        for unit in enable:
            chroot(root, "systemctl", "enable", unit)
        for unit in mask:
            chroot(root, "systemctl", "mask", unit)
        out = os.path.join(workdir, "guest.cpio")
        pack(root, out)
    finally:
        shutil.rmtree(root)
    return out, dpkg
