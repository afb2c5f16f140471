"""The fixture that boots arbord as init under qemu, for test_boot.py.

(Not a conftest.py: the integration tests import their conftest by that
name, and a second one would take its place in sys.modules.)

The tests are skipped, with the reason, when qemu, busybox or a kernel
image is missing (packaging/install-deps --test installs all three), or
when the arbord being tested has no PID 1 mode yet. Every scenario's
qemu is started at once, the first time a test asks for one, so the boots
run side by side; each test then waits for its own. At the end every qemu
still running is killed by the pid of its process group, and the
temporary directory is removed.
"""

import os
import shutil
import subprocess
import sys
import tempfile

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import initramfs  # noqa: E402
import qemu  # noqa: E402
import scenarios  # noqa: E402

REPO = os.path.abspath(os.path.join(HERE, "..", ".."))

# Every scenario the tests boot: name -> (config, files).
SCENARIOS = {
    "boot": scenarios.boot(),
    "crashloop": scenarios.crashloop(),
    "badconfig": scenarios.badconfig(),
    "badconfig_noshell": scenarios.badconfig_noshell(),
    "reexec": scenarios.reexec(),
    "limits_memory": scenarios.limits_memory(),
    "limits_pids_cpu": scenarios.limits_pids_cpu(),
    "usage": scenarios.usage(),
}

# Helpers built beside arbord (make boot-bins) a scenario's guest needs:
# name -> guest paths, each /bin/NAME from tests/boot/build/NAME.
HELPERS = {"limits_memory": ("/bin/memhog",)}

# Scenarios that need longer than the default 40 s under TCG.
TIMEOUTS = {"limits_memory": 60, "limits_pids_cpu": 60, "usage": 60}

# Guest paths a scenario's initramfs leaves out.
OMIT = {"badconfig_noshell": ("/bin/sh",)}

# What a scenario types on the console once a line matches: (regex, text).
ANSWERS = {"badconfig": (r"starting the emergency shell",
                         scenarios.SHELL_INPUT)}


def binaries():
    """arbord and arborctl for the guest: ARBOR_BOOT_ARBORD and
    ARBOR_BOOT_ARBORCTL, else the unsanitized build of make boot-bins
    (which also builds the HELPERS)."""
    arbord = os.environ.get("ARBOR_BOOT_ARBORD")
    arborctl = os.environ.get("ARBOR_BOOT_ARBORCTL")
    helpers = sorted({os.path.join("tests/boot/build", os.path.basename(g))
                      for paths in HELPERS.values() for g in paths})
    if arbord and arborctl:
        subprocess.run(["make", "-s", "-C", REPO, *helpers], check=True,
                       stdout=subprocess.DEVNULL)
        return arbord, arborctl
    subprocess.run(["make", "-s", "-C", REPO, "boot-bins"], check=True,
                   stdout=subprocess.DEVNULL)
    build = os.path.join(HERE, "build")
    return os.path.join(build, "arbord"), os.path.join(build, "arborctl")


def missing():
    """Why the boot tests cannot run here, or None."""
    for found, why in (qemu.find_qemu(), qemu.find_kernel()):
        if found is None:
            return why
    if not os.access(initramfs.BUSYBOX, os.X_OK):
        return (f"no {initramfs.BUSYBOX} (packaging/install-deps --test "
                "installs busybox-static)")
    return None


def no_pid1_mode(arborctl):
    """Why this arbord cannot be init yet, or None. Its arborctl has no
    poweroff before PID 1 mode exists; once it does, this never skips."""
    out = subprocess.run([arborctl, "--help"], capture_output=True,
                         text=True)
    if "poweroff" not in out.stdout:
        return "this arbord has no PID 1 mode yet (arborctl has no poweroff)"
    return None


class Boots:
    """The scenarios' qemus, started together."""

    def __init__(self, tmp, kernel, arbord, arborctl):
        self.boots = {}
        self.sizes = {}
        for name, (config, files) in SCENARIOS.items():
            initrd = os.path.join(tmp, f"{name}.cpio")
            files = dict(files)
            for guest in HELPERS.get(name, ()):
                with open(os.path.join(HERE, "build",
                                       os.path.basename(guest)), "rb") as f:
                    files[guest] = (f.read(), 0o755)
            self.sizes[name] = initramfs.build(initrd, arbord, arborctl,
                                               config, files,
                                               omit=OMIT.get(name, ()))
            self.boots[name] = qemu.Boot(kernel, initrd,
                                         timeout=TIMEOUTS.get(name, 40),
                                         name=name,
                                         answer=ANSWERS.get(name))
        for boot in self.boots.values():
            boot.start()
        self.endings = {}

    def wait(self, name):
        """The scenario's Boot once qemu has exited, and how it ended."""
        boot = self.boots[name]
        if name not in self.endings:
            self.endings[name] = boot.wait()
        return boot, self.endings[name]

    def cleanup(self):
        for boot in self.boots.values():
            boot.cleanup()


@pytest.fixture(scope="session")
def boots():
    why = missing()
    if why:
        pytest.skip(why)
    arbord, arborctl = binaries()
    why = no_pid1_mode(arborctl)
    if why:
        pytest.skip(why)
    kernel, _ = qemu.find_kernel()
    tmp = tempfile.mkdtemp(prefix="arbor-boot-")
    b = None
    try:
        b = Boots(tmp, kernel, arbord, arborctl)
        yield b
    finally:
        if b is not None:
            b.cleanup()
        shutil.rmtree(tmp, ignore_errors=True)
