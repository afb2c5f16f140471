#!/usr/bin/python3
"""Boot time of arbord as init under qemu (TCG), and the initramfs sizes.

Boots the benchmark system of tests/boot/scenarios.py (services a, b, c,
then a driver that powers off) RUNS times, one after another, and prints
the median (p50) of:

  ready     qemu start to arbord's `event=start path=driver`: the last
            service of the tree has started, so every service runs
  init      qemu start to arbord's first line on the console
  poweroff  qemu start to the kernel's `reboot: Power down`
  wall      qemu start to qemu's exit

and the sizes of the initramfs, of arbord, and of arbord with its shared
libraries (the figure for the closing note), with arbord stripped and
each library apart. Needs what the boot tests
need: make boot-bins, qemu, busybox and the kernel of install-deps --test.
"""

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
BOOT = os.path.join(HERE, "..", "boot")
sys.path.insert(0, BOOT)

import initramfs  # noqa: E402
import qemu  # noqa: E402
import scenarios  # noqa: E402


def one(kernel, initrd):
    boot = qemu.Boot(kernel, initrd, timeout=60, name="bench").start()
    try:
        ending = boot.wait()
    finally:
        boot.cleanup()
    wall = time.monotonic() - boot.t0
    marks = {"ready": boot.find(r"^event=start path=driver "),
             "init": boot.find(r"^(event=|arbord)"),
             "poweroff": boot.find(r"reboot: Power down")}
    if ending != "poweroff" or None in marks.values():
        sys.exit(f"boot_time: the boot ended with {ending}:\n"
                 + boot.console())
    out = {k: v[0] for k, v in marks.items()}
    out["wall"] = wall
    return out


def closure(arbord, tmp):
    """arbord's size stripped, and each shared library's, in KiB."""
    stripped = os.path.join(tmp, "arbord.stripped")
    subprocess.run(["strip", "-o", stripped, arbord], check=True)
    parts = [("arbord (as built)", os.path.getsize(arbord)),
             ("arbord (stripped)", os.path.getsize(stripped))]
    for lib in initramfs.shared_libraries(arbord):
        parts.append((os.path.basename(lib),
                      os.path.getsize(os.path.realpath(lib))))
    return "; ".join(f"{name} {size / 1024:.0f}" for name, size in parts)


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--runs", type=int, default=5)
    p.add_argument("--arbord", default=os.path.join(BOOT, "build", "arbord"))
    p.add_argument("--arborctl",
                   default=os.path.join(BOOT, "build", "arborctl"))
    args = p.parse_args()
    kernel, why = qemu.find_kernel()
    if kernel is None:
        sys.exit(f"boot_time: {why}")
    if qemu.find_qemu()[0] is None:
        sys.exit(f"boot_time: {qemu.find_qemu()[1]}")
    with tempfile.TemporaryDirectory(prefix="arbor-boot-bench-") as tmp:
        initrd = os.path.join(tmp, "bench.cpio")
        config, files = scenarios.bench()
        sizes = initramfs.build(initrd, args.arbord, args.arborctl, config,
                                files)
        runs = [one(kernel, initrd) for _ in range(args.runs)]
        parts = closure(args.arbord, tmp)
    print(f"boot under qemu TCG, {os.path.basename(kernel)}, "
          f"{args.runs} runs (seconds from qemu start):")
    for key in ("init", "ready", "poweroff", "wall"):
        values = [r[key] for r in runs]
        print(f"  {key:9} p50 {statistics.median(values):5.2f}  "
              f"(min {min(values):.2f}, max {max(values):.2f})")
    print(initramfs.format_sizes(sizes))
    print(f"KiB: {parts}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
