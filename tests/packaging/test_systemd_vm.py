"""The Debian package under a real systemd: a minimal Debian guest, booted
under qemu with systemd as PID 1, in which the freshly built .deb was
installed by dpkg.

The .deb is built from a clean clone of HEAD (debpkg.py, shared with
test_deb.py); the guest's root file system is made by mmdebstrap from
the archive apt uses here and cached (debvm.py: ~/.cache/arbor/
debvm-SUITE-HASH.tar); each run installs the package into a copy with
`dpkg -i` in a chroot and boots it as an initramfs with the boot tests'
kernel (TCG, 2 CPUs). In the guest, arbor-vm-checks.service runs
vm/checks.sh once the system is up, and powers the guest off: each check
prints "ARBORVM name ok|fail detail" on the serial console, and each test
here reads one of them; the guest boots once for the module. What the
checks do is in checks.sh: the units enabled on install, `systemctl
start` reaching active with READY=1 from arbord, arborctl through the
socket unit, the journal sink, `systemctl reload`, arborctl waiting in
the socket's backlog while arbord restarts, the watchdog, and
`systemctl stop` stopping the tree in reverse order with nothing left.

Measured on this 2-vCPU machine: the guest boots in about 15 s and the
whole boot, checks and power-off take 60 to 90 s; making the guest from
the cached rootfs takes 2 s, mmdebstrap 25 to 65 s when the cache is
cold, make deb 25 to 60 s (shared with test_deb.py). The initramfs is
a plain cpio (138 MiB): gzip -1 makes it 51 MiB in 2 s, and boots no
faster measurably under TCG. Skipped, saying why, when not root (dpkg in a chroot), without
mmdebstrap, cpio, qemu or the kernel (packaging/install-deps --test), or
when apt has no Debian archive to take the guest from. Nothing outlives
the module: qemu is killed if it still runs, the work directory is
removed, and nothing is mounted.
"""

import os
import re
import shutil
import sys
import tempfile
import time

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "boot"))

import debvm  # noqa: E402
import qemu  # noqa: E402
from clean_clone import clone  # noqa: E402,F401 (a fixture)
from debpkg import built  # noqa: E402,F401 (a fixture)

VM = os.path.join(os.path.dirname(os.path.abspath(__file__)), "vm")
GUEST_DIR = "/usr/local/lib/arbor-vm"
RUNNER = "arbor-vm-checks.service"
# Under TCG the guest is up in about 15 s and its checks take about a
# minute; the rest is for a loaded CI machine.
BOOT_TIMEOUT_S = 420
MEMORY_MB = 1024
# rdinit: the initramfs is the root, and systemd its init. systemd's
# own quiet keeps its status lines off the console but for errors.
APPEND = qemu.APPEND + " rdinit=/sbin/init"
LINE = re.compile(r"ARBORVM (\S+) (ok|fail) ?(.*)$")


def why_not():
    """Why the guest cannot be made or booted here, or None."""
    if os.geteuid() != 0:
        return "not root: dpkg -i runs in a chroot of the guest"
    for tool, pkg in [("mmdebstrap", "mmdebstrap"), ("cpio", "cpio"),
                      ("chroot", "coreutils"), ("apt-get", "apt")]:
        if shutil.which(tool) is None:
            return f"no {tool} ({pkg}: packaging/install-deps --test)"
    for found, why in (qemu.find_qemu(), qemu.find_kernel()):
        if found is None:
            return why
    if not debvm.host_codename():
        return "no VERSION_CODENAME in /etc/os-release: not Debian"
    if not debvm.debian_sources(debvm.host_codename()):
        return ("apt lists no Debian archive for "
                f"{debvm.host_codename()} (apt-get update?)")
    return None


class Guest:
    """The guest's boot: its console, and the checks' lines by name."""

    def __init__(self, boot, ending):
        self.boot, self.ending = boot, ending
        self.results = {}
        for text in boot.text():
            m = LINE.search(text)
            if m:
                self.results[m.group(1)] = (m.group(2), m.group(3))

    def check(self, name):
        """Fails, with the check's detail and the console's end, unless
        the guest's check name printed ok."""
        assert name in self.results, (
            f"no line for check {name} (guest ended: {self.ending})\n"
            + self.boot.console(last=80))
        verdict, detail = self.results[name]
        assert verdict == "ok", (
            f"{name}: {detail.replace('|', chr(10))}\n--- console:\n"
            + self.boot.console(last=60))


@pytest.fixture(scope="module")
def guest(request):
    reason = why_not()
    if reason:
        pytest.skip(reason)
    deb = request.getfixturevalue("built").deb
    codename = debvm.host_codename()
    packages = debvm.PACKAGES + debvm.depends(deb)
    sources = debvm.debian_sources(codename)
    if not debvm.cached(debvm.rootfs_path(codename, packages, sources)):
        reason = debvm.why_unreachable(sources)
        if reason:
            pytest.skip(f"no cached guest, and {reason}")
    tarball, took = debvm.rootfs(codename, packages, sources)
    print(f"rootfs {tarball}: " + (f"made in {took:.1f}s" if took
                                   else "cached"))
    files = {f"{GUEST_DIR}/checks.sh": (os.path.join(VM, "checks.sh"),
                                        0o755),
             f"{GUEST_DIR}/arbor.conf": (os.path.join(VM, "arbor.conf"),
                                         0o644),
             f"{GUEST_DIR}/late.conf": (os.path.join(VM, "late.conf"),
                                        0o644),
             f"{GUEST_DIR}/arbor.deb": (deb, 0o644),
             f"/etc/systemd/system/{RUNNER}": (os.path.join(VM, RUNNER),
                                               0o644)}
    kernel, _ = qemu.find_kernel()
    with tempfile.TemporaryDirectory(prefix="arbor-debvm-") as work:
        started = time.monotonic()
        # No getty: without udev in the guest, serial-getty@ttyS0 would
        # wait 90 s for its device, and the console is the checks'.
        initrd, _ = debvm.make_guest(tarball, deb, work, files,
                                     enable=[RUNNER], mask=["getty.target"])
        print(f"guest made in {time.monotonic() - started:.1f}s, "
              f"{os.path.getsize(initrd) >> 20} MiB")
        boot = qemu.Boot(kernel, initrd, timeout=BOOT_TIMEOUT_S,
                         memory_mb=MEMORY_MB, append=APPEND, name="debvm",
                         smp=2)
        try:
            boot.start()
            ending = boot.wait()
        finally:
            boot.cleanup()
        print(f"guest ended ({ending}) after {time.monotonic() - started:.1f}s")
        print("\n".join(line for line in boot.text() if "ARBORVM" in line))
        yield Guest(boot, ending)


def test_units_enabled_on_install(guest):
    """dpkg -i enabled arbord.service and arbord.socket, and arbord came
    up at boot with the package's configuration, an empty tree, as the
    README's quick start shows it."""
    guest.check("enabled")


def test_start_reaches_active_on_ready(guest):
    """`systemctl start arbord` on the test tree reaches active/running,
    on READY=1 from arbord's pid (systemd's debug log says so)."""
    guest.check("start")


def test_arborctl_through_the_socket_unit(guest):
    """arborctl status works through arbord.socket's listening socket,
    which PID 1 and arbord both hold."""
    guest.check("socket")


def test_journal_sink(guest):
    """A service's line sent to the journal sink is in `journalctl
    ARBOR_PATH=talker`."""
    guest.check("journal")


def test_arborctl_logs_reads_the_journal(guest):
    """arborctl reads the service's entry back from the guest's journal
    with sd-journal (`logs --journal`, marked), and `logs` shows that
    line once, from the ring."""
    guest.check("journal_logs")


def test_reload_applies_the_configuration(guest):
    """`systemctl reload arbord` adds the service of a new conf.d file
    and restarts nothing else."""
    guest.check("reload")


def test_arborctl_waits_in_the_backlog_while_arbord_restarts(guest):
    """An arborctl started while no arbord runs (the restart held in an
    ExecStartPre= sleep) waits and is answered by the new arbord."""
    guest.check("backlog")


def test_watchdog_restarts_a_stuck_arbord(guest):
    """With WatchdogSec=3s, a SIGSTOPped arbord is killed by systemd with
    SIGABRT and restarted with its tree; no old service is left."""
    guest.check("watchdog")


def test_stop_stops_the_tree_in_reverse_with_nothing_left(guest):
    """`systemctl stop arbord`: event=stop in the reverse of the start
    order, event=down, no service process left, the cgroup empty."""
    guest.check("stop")


def test_package_upgrade_keeps_the_tree_running(guest):
    """dpkg -i of the package again (the upgrade path of its maintainer
    scripts) restarts neither arbord nor a service; arborctl reexec then
    keeps every pid too."""
    guest.check("upgrade")


def test_package_remove_stops_the_tree_and_purge_deletes_the_conffile(
        guest):
    """dpkg -r stops arbord and its tree, nothing left, the conffile
    kept; dpkg -P deletes /etc/arbor/arbor.conf."""
    guest.check("remove")


def test_guest_ran_every_check_and_powered_off(guest):
    """The checks ran to their end and the guest powered off: no panic,
    no timeout."""
    assert guest.ending == "poweroff", guest.boot.console(last=80)
    assert any(line.endswith("ARBORVM-END") for line in guest.boot.text()), \
        guest.boot.console(last=80)
