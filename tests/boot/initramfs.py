"""Builds the initramfs the boot tests run: arbord as /init.

The archive is written here as a newc cpio (the kernel's initramfs format),
not by cpio(1): every entry is owned by root and /dev/console is a character
device without mknod, so no privilege is needed, and the same inputs give
the same bytes. It holds:

  /init                      arbord (a build without sanitizers: ASan reads
                             /proc, which arbord mounts only once running)
  /bin/arborctl              arborctl
  /lib..., /lib64/ld-...     their shared libraries, at the paths ldd names
  /bin/busybox + applets     a static busybox, and a symlink per applet
  /sbin -> bin               so that /sbin/getty and the like are found
  /dev/console               the console node (c 5 1)
  /etc/arbor/arbor.conf      the configuration, and any other files given
  /proc /sys /run /tmp       mount points

The same tree can be written as a directory instead (write_root): the
root file system of an OCI bundle (tests/packaging/test_crun.py), where
arbord is /usr/sbin/arbord as in packaging/Dockerfile.

Run as a program it builds one archive and prints its sizes.
"""

import argparse
import gzip
import os
import stat
import subprocess
import sys

BUSYBOX = "/bin/busybox"

# A console login for `make vm` (--login): root, without a password, as a
# throwaway VM's is; busybox's getty and login read nothing else.
LOGIN_FILES = {"/etc/passwd": ("root::0:0:root:/root:/bin/sh\n", 0o644),
               "/etc/group": ("root:x:0:\n", 0o644)}


class Newc:
    """A newc ("070701") cpio archive written in memory."""

    def __init__(self):
        self.data = bytearray()
        self.names = set()
        self.ino = 1

    def _entry(self, name, mode, body=b"", rdev=(0, 0), nlink=1):
        name = name.lstrip("/")
        if name in self.names:
            return
        self.names.add(name)
        fields = [self.ino, mode, 0, 0, nlink, 0, len(body), 0, 0,
                  rdev[0], rdev[1], len(name) + 1, 0]
        self.ino += 1
        self.data += b"070701" + "".join(f"{v:08x}" for v in fields).encode()
        self.data += name.encode() + b"\0"
        self._pad()
        self.data += body
        self._pad()

    def _pad(self):
        self.data += b"\0" * (-len(self.data) % 4)

    def dir(self, name, mode=0o755):
        """A directory, and its parents first."""
        parts = name.strip("/").split("/")
        for i in range(1, len(parts) + 1):
            self._entry("/".join(parts[:i]), stat.S_IFDIR | mode, nlink=2)

    def _parent(self, name):
        parent = os.path.dirname(name.strip("/"))
        if parent:
            self.dir(parent)

    def file(self, name, body, mode=0o644):
        self._parent(name)
        self._entry(name, stat.S_IFREG | mode, body)

    def symlink(self, name, target):
        self._parent(name)
        self._entry(name, stat.S_IFLNK | 0o777, target.encode())

    def chardev(self, name, major, minor, mode=0o600):
        self._parent(name)
        self._entry(name, stat.S_IFCHR | mode, rdev=(major, minor))

    def finish(self):
        self._entry("TRAILER!!!", 0)
        return bytes(self.data)


class Directory:
    """A tree written into the host directory root, with the methods of
    Newc: the first entry of a name wins, as in the archive."""

    def __init__(self, root):
        self.root = root

    def _path(self, name):
        return os.path.join(self.root, name.lstrip("/"))

    def dir(self, name, mode=0o755):
        path = self._path(name)
        os.makedirs(path, exist_ok=True)
        os.chmod(path, mode)

    def _absent(self, name):
        """Whether name is not there yet; its parent is made if missing."""
        path = self._path(name)
        if os.path.lexists(path):
            return False
        os.makedirs(os.path.dirname(path), exist_ok=True)
        return True

    def file(self, name, body, mode=0o644):
        if self._absent(name):
            with open(self._path(name), "wb") as f:
                f.write(body)
            os.chmod(self._path(name), mode)

    def symlink(self, name, target):
        if self._absent(name):
            os.symlink(target, self._path(name))

    def chardev(self, name, major, minor, mode=0o600):
        if self._absent(name):
            os.mknod(self._path(name), stat.S_IFCHR | mode,
                     os.makedev(major, minor))


def shared_libraries(binary):
    """The paths ldd lists for binary (its libraries and the dynamic
    loader), as the loader will look them up; [] for a static program."""
    out = subprocess.run(["ldd", binary], capture_output=True, text=True)
    if out.returncode != 0:
        if "not a dynamic executable" in out.stdout + out.stderr:
            return []
        raise RuntimeError(f"ldd {binary}: {out.stderr.strip()}")
    paths = []
    for line in out.stdout.splitlines():
        words = line.split()
        if "=>" in words:
            where = words[words.index("=>") + 1]
            if where == "not":
                raise RuntimeError(f"{binary}: {line.strip()}")
            paths.append(where)
        elif words and words[0].startswith("/"):
            paths.append(words[0])  # the dynamic loader
    return paths


def closure_size(binary):
    """Bytes of binary plus the files of its shared libraries."""
    return sum(os.path.getsize(os.path.realpath(p))
               for p in [binary, *shared_libraries(binary)])


def busybox_applets(busybox=BUSYBOX):
    out = subprocess.run([busybox, "--list"], capture_output=True,
                         text=True, check=True)
    return [a for a in out.stdout.split() if a and a != "busybox"]


def populate(tree, binaries, config, files=None, hostname="arbor-boot",
             busybox=BUSYBOX, omit=()):
    """Writes the system into tree (a Newc or a Directory): binaries maps
    a guest path to a host program, copied with its shared libraries;
    files maps a guest path to (text or bytes, mode); omit names busybox
    applets' links to leave out (a system without /bin/sh). Returns the
    libraries' host paths."""
    for d in ("bin", "dev", "etc/arbor", "proc", "sys", "run", "tmp",
              "root"):
        tree.dir(d)
    libs = set()
    for guest, host in binaries.items():
        with open(host, "rb") as f:
            tree.file(guest, f.read(), 0o755)
        libs.update(shared_libraries(host))
    for lib in sorted(libs):
        with open(os.path.realpath(lib), "rb") as f:  # cp -L
            tree.file(lib, f.read(), 0o755)
    with open(busybox, "rb") as f:
        tree.file("/bin/busybox", f.read(), 0o755)
    for applet in busybox_applets(busybox):
        if f"/bin/{applet}" not in omit:
            tree.symlink(f"/bin/{applet}", "busybox")
    tree.symlink("/sbin", "bin")
    tree.chardev("/dev/console", 5, 1)
    tree.file("/etc/hostname", (hostname + "\n").encode())
    tree.file("/etc/arbor/arbor.conf", config.encode())
    for guest, (body, mode) in sorted((files or {}).items()):
        tree.file(guest, body if isinstance(body, bytes) else body.encode(),
                  mode)
    return libs


def build(out, arbord, arborctl, config, files=None, hostname="arbor-boot",
          compress=False, busybox=BUSYBOX, omit=()):
    """Writes the initramfs to out, arbord as /init (see populate).
    Returns a dict of sizes in bytes: the archive, arbord and its
    libraries, arborctl and its libraries."""
    a = Newc()
    libs = populate(a, {"/init": arbord, "/bin/arborctl": arborctl}, config,
                    files, hostname, busybox, omit)
    body = a.finish()
    if compress:
        body = gzip.compress(body, compresslevel=1, mtime=0)
    with open(out, "wb") as f:
        f.write(body)
    return {"initramfs": len(body),
            "arbord": os.path.getsize(arbord),
            "arbord_libs": closure_size(arbord),
            "arborctl_libs": closure_size(arborctl),
            "libs": sum(os.path.getsize(os.path.realpath(p))
                        for p in sorted(libs))}


def write_root(root, arbord, arborctl, config, files=None,
               hostname="arbor-container"):
    """Writes the system into the directory root as a container's root
    file system: arbord as /usr/sbin/arbord, arborctl as
    /usr/bin/arborctl (packaging/Dockerfile's paths), the rest as
    populate says."""
    populate(Directory(root), {"/usr/sbin/arbord": arbord,
                               "/usr/bin/arborctl": arborctl},
             config, files, hostname)


def format_sizes(sizes):
    kib = {k: v / 1024 for k, v in sizes.items()}
    return (f"initramfs {kib['initramfs']:.0f} KiB; arbord "
            f"{kib['arbord']:.0f} KiB, with its shared libraries "
            f"{kib['arbord_libs']:.0f} KiB; arborctl with its libraries "
            f"{kib['arborctl_libs']:.0f} KiB; all libraries "
            f"{kib['libs']:.0f} KiB")


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    build_dir = os.path.join(here, "build")
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("out", help="the initramfs to write")
    p.add_argument("--arbord", default=os.path.join(build_dir, "arbord"))
    p.add_argument("--arborctl", default=os.path.join(build_dir, "arborctl"))
    p.add_argument("--config", required=True, help="becomes arbor.conf")
    p.add_argument("--gzip", action="store_true")
    p.add_argument("--login", action="store_true",
                   help="root may log in on the console without a password")
    args = p.parse_args()
    with open(args.config) as f:
        config = f.read()
    sizes = build(args.out, args.arbord, args.arborctl, config,
                  files=LOGIN_FILES if args.login else None,
                  compress=args.gzip)
    print(format_sizes(sizes))


if __name__ == "__main__":
    sys.exit(main())
