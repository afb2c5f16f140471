"""Boots a Linux kernel and an initramfs under qemu and reads its console.

qemu emulates the CPU (TCG): hardware virtualisation is not assumed, and
shared/PID1-TESTING.md found a stock kernel cannot boot under this
machine's nested KVM. The serial console is qemu's stdout; each line is
kept with the time since qemu was started, \\r stripped. qemu runs under
`timeout -k 5 N`, in a process group of its own that cleanup() kills by
pid. How the guest ended is read from the kernel's last words:

  reboot: Power down          -> "poweroff"  (qemu exits by itself)
  reboot: Restarting system   -> "restart"   (qemu exits: -no-reboot)
  reboot: System halted       -> "halt"      (qemu would wait forever)
  Kernel panic                -> "panic"     (panic=-1 + -no-reboot: exits)
  killed by timeout           -> "timeout"

Run as a program it boots one initramfs and prints the console, or with
--terminal gives the console to the terminal (`make vm`).
"""

import argparse
import glob
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time

QEMU = "qemu-system-x86_64"
QBOOT = "/usr/share/qemu/qboot.rom"
# no_timer_check: under TCG on a loaded host the kernel's check of the
# IO-APIC timer can fail and panic the guest before init
# ("IO-APIC + timer doesn't work!"); the emulated timer is known good.
APPEND = "console=ttyS0 panic=-1 quiet no_timer_check"

ENDINGS = (("Kernel panic", "panic"),
           ("reboot: Power down", "poweroff"),
           ("reboot: Restarting system", "restart"),
           ("reboot: System halted", "halt"))


def kernel_dir():
    """Where packaging/install-deps --test puts the kernel image."""
    cache = os.environ.get("XDG_CACHE_HOME") or os.path.join(
        os.path.expanduser("~"), ".cache")
    return os.environ.get("ARBOR_KERNEL_DIR") or os.path.join(
        cache, "arbor", "kernel")


def _version_key(path):
    return [int(n) if n.isdigit() else n
            for n in re.split(r"(\d+)", os.path.basename(path))]


def find_kernel():
    """(path, None), or (None, why not): ARBOR_BOOT_KERNEL, else the
    newest vmlinuz-* in kernel_dir()."""
    path = os.environ.get("ARBOR_BOOT_KERNEL")
    if path:
        if os.path.isfile(path):
            return path, None
        return None, f"ARBOR_BOOT_KERNEL={path} is not a file"
    found = sorted(glob.glob(os.path.join(kernel_dir(), "vmlinuz-*")),
                   key=_version_key)
    if found:
        return found[-1], None
    return None, (f"no kernel image in {kernel_dir()} (packaging/install-deps "
                  "--test fetches one; or set ARBOR_BOOT_KERNEL)")


def find_qemu():
    """(path, None), or (None, why not)."""
    path = shutil.which(QEMU)
    if path:
        return path, None
    return None, (f"{QEMU} is not installed (packaging/install-deps --test "
                  "installs qemu-system-x86)")


class Boot:
    """One qemu run: start(), then wait() for how it ended."""

    def __init__(self, kernel, initrd, timeout=60, memory_mb=256,
                 append=APPEND, name="boot", cpu=None, answer=None, smp=1):
        """answer: (regex, text) to type on the console, once, after the
        first line that matches."""
        self.kernel, self.initrd = kernel, initrd
        self.answer = answer
        self.timeout, self.memory_mb = timeout, memory_mb
        self.append, self.name, self.cpu = append, name, cpu
        self.smp = smp
        self.lines = []  # (seconds since start, text)
        self.lock = threading.Lock()
        self.cond = threading.Condition(self.lock)
        self.proc = None
        self.ending = None
        self.returncode = None

    def argv(self, qemu=QEMU):
        return ["timeout", "-k", "5", str(self.timeout),
                *self._qemu(qemu, ["-chardev", "stdio,id=con,signal=off"])]

    def terminal_argv(self, qemu=QEMU):
        """qemu with the console on this terminal and no time limit: the
        guest gets Ctrl-C, Ctrl-A X quits qemu (its monitor shares the
        console)."""
        return self._qemu(qemu, ["-chardev", "stdio,id=con,signal=off,mux=on",
                                 "-mon", "chardev=con,mode=readline"])

    def _qemu(self, qemu, console):
        bios = ["-bios", QBOOT] if os.path.exists(QBOOT) else []
        cpu = ["-cpu", self.cpu] if self.cpu else []
        return [qemu, "-accel", "tcg", *cpu, "-m", str(self.memory_mb),
                "-smp", str(self.smp), "-nodefaults", "-no-user-config",
                "-display", "none", "-vga", "none", *console,
                "-serial", "chardev:con", *bios, "-no-reboot",
                "-kernel", self.kernel, "-initrd", self.initrd,
                "-append", self.append]

    def start(self, qemu=QEMU):
        # timeout puts itself and qemu in a process group of their own:
        # cleanup() kills that group, by timeout's pid.
        self.t0 = time.monotonic()
        self.proc = subprocess.Popen(
            self.argv(qemu),
            stdin=subprocess.PIPE if self.answer else subprocess.DEVNULL,
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()
        return self

    def _read(self):
        for raw in self.proc.stdout:
            text = raw.decode("utf-8", "replace").rstrip("\n").replace(
                "\r", "")
            with self.cond:
                self.lines.append((time.monotonic() - self.t0, text))
                self.cond.notify_all()
            if self.answer and re.search(self.answer[0], text):
                self._type(self.answer[1])
        with self.cond:
            self.cond.notify_all()

    def _type(self, text):
        """Types text on the guest's console (qemu's stdin), once."""
        self.answer = None
        try:
            self.proc.stdin.write(text.encode())
            self.proc.stdin.flush()
        except BrokenPipeError:
            pass  # qemu is gone: the test says what the console shows

    def text(self):
        with self.lock:
            return [t for _, t in self.lines]

    def find(self, pattern):
        """The (seconds, line) of the first line matching the regular
        expression, or None."""
        rx = re.compile(pattern)
        with self.lock:
            for when, text in self.lines:
                if rx.search(text):
                    return when, text
        return None

    def wait(self):
        """Waits for qemu to exit (timeout bounds it) and returns how the
        guest ended: one of ENDINGS' names, "timeout", or "exit N"."""
        try:
            self.returncode = self.proc.wait(timeout=self.timeout + 15)
        except subprocess.TimeoutExpired:
            self.cleanup()
            self.returncode = self.proc.wait()
        self.reader.join(timeout=5)
        self.proc.stdout.close()
        if self.proc.stdin:
            self.proc.stdin.close()
        lines = self.text()
        self.ending = None
        for needle, name in ENDINGS:
            if any(needle in line for line in lines):
                self.ending = name
                break
        if self.ending is None or self.ending == "halt":
            if self.returncode in (124, 137, -signal.SIGKILL):
                self.ending = "timeout"
            elif self.ending is None:
                self.ending = f"exit {self.returncode}"
        return self.ending

    def cleanup(self):
        """Kills qemu and its timeout, by the group of the pid started."""
        if self.proc is not None and self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            self.proc.wait()
        if self.proc is not None and self.proc.stdin:
            self.proc.stdin.close()

    def console(self, last=None):
        """The console with timestamps, for an assertion's message."""
        with self.lock:
            lines = self.lines if last is None else self.lines[-last:]
            return "\n".join(f"[{when:6.2f}] {text}" for when, text in lines)


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("initrd")
    p.add_argument("--kernel")
    p.add_argument("--timeout", type=int, default=60)
    p.add_argument("--cpu", help="qemu's -cpu (default: qemu's own)")
    p.add_argument("--terminal", action="store_true",
                   help="the console on this terminal until the guest "
                   "powers off, with no time limit (Ctrl-A X quits)")
    args = p.parse_args()
    kernel, why = (args.kernel, None) if args.kernel else find_kernel()
    if kernel is None:
        sys.exit(why)
    boot = Boot(kernel, args.initrd, timeout=args.timeout, cpu=args.cpu)
    if args.terminal:
        found, why = find_qemu()
        if found is None:
            sys.exit(why)
        argv = boot.terminal_argv()
        os.execvp(argv[0], argv)
    boot.start()
    try:
        ending = boot.wait()
    finally:
        boot.cleanup()
    print(boot.console())
    print(f"ending: {ending} (qemu status {boot.returncode}) after "
          f"{time.monotonic() - boot.t0:.2f}s")
    return 0 if ending in ("poweroff", "restart") else 1


if __name__ == "__main__":
    sys.exit(main())
