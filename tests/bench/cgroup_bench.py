#!/usr/bin/python3
"""The cost of cgroups: start of N services as init under qemu, with a
cgroup each and without (arbord --no-cgroups), against the fork+exec
floor measured in the same boot.

Each boot runs arbord as /init with N `stamp` services (tests/bench/
stamp.c: it writes a CLOCK_MONOTONIC stamp first thing, then pauses) and
a driver, last, that waits for the N stamps and prints, on the console:

  start     arbord's exec (its starttime in /proc/1/stat, 10 ms ticks) to
            the latest of the N stamps
  floor     spawn_floor: a C loop of N fork+execs of stamp, its start to
            the latest stamp (run after arbord's services are up)
  pss       arbord's PSS (/proc/1/smaps_rollup)
  kernel    Slab + Percpu + KernelStack + PageTables of /proc/meminfo, the
            kernel's share, cgroups' bookkeeping included

The guest has every controller (cpu, io, memory, pids), so the cgroup boot
pays for them all: a cgroup each made and given its controllers, clone3
into it. Prints the medians of RUNS boots of each kind, interleaved, and
the cost per service of the cgroups (PSS and kernel memory). Needs what the
boot tests need: make boot-bins, qemu, busybox and a kernel (install-deps
--test). Exits 1 when the cgroup start passes LIMIT times its floor.
"""

import argparse
import os
import re
import statistics
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
BOOT = os.path.join(HERE, "..", "boot")
sys.path.insert(0, BOOT)

import initramfs  # noqa: E402
import qemu  # noqa: E402

LIMIT = 1.5  # issue 15: start with a cgroup each <= 1.5x the floor

DRIVER = r"""#!/bin/sh
export PATH=/bin
n=%(n)d
i=0
while [ "$(cat /tmp/stamps 2>/dev/null | wc -l)" -lt $n ] && [ $i -lt 1200 ]; do
	sleep 0.1
	i=$((i + 1))
done
echo "bench: stamps=$(wc -l < /tmp/stamps)"
echo "bench: init_ticks=$(cut -d' ' -f22 /proc/1/stat)"
echo "bench: last_ns=$(cut -d' ' -f2 /tmp/stamps | sort -n | tail -1)"
echo "bench: pss_kib=$(awk '/^Pss:/ {print $2}' /proc/1/smaps_rollup)"
echo "bench: kernel_kib=$(awk '/^(Slab|Percpu|KernelStack|PageTables):/ {s += $2} END {print s}' /proc/meminfo)"
echo "bench: cgroups=$(find /sys/fs/cgroup/tree -mindepth 1 -type d 2>/dev/null | wc -l)"
echo "bench: floor $(/bin/spawn_floor $n /tmp/floor 120000 /bin/stamp /tmp/floor)"
arborctl poweroff
exec sleep 1000
"""


def config(n):
    lines = ["# cgroup_bench: N stamps, then the driver.",
             'supervisor = { log = { sinks = [ "ring" ]; }; };',
             "children = ("]
    for i in range(n):
        lines.append(f'  {{ name = "s{i}"; exec = [ "/bin/stamp", '
                     f'"/tmp/stamps" ]; }},')
    lines.append('  { name = "driver"; exec = [ "/bin/sh", '
                 '"/etc/driver.sh" ]; restart = "temporary";\n'
                 '    log = { sinks = [ "console" ]; }; }')
    lines.append(");")
    return "\n".join(lines) + "\n"


def one(kernel, initrd, no_cgroups, n, smp=2):
    append = qemu.APPEND + (" -- --no-cgroups" if no_cgroups else "")
    boot = qemu.Boot(kernel, initrd, timeout=240, memory_mb=1024,
                     append=append, name="cgroup-bench", smp=smp).start()
    try:
        ending = boot.wait()
    finally:
        boot.cleanup()
    text = boot.console()
    got = dict(re.findall(r"bench: (\w+)=(\d+)", text))
    floor = re.search(r"bench: floor .*?loop_start_ns=(\d+).*?"
                      r"last_stamp_ns=(\d+)", text)
    if ending != "poweroff" or not floor or int(got.get("stamps", 0)) < n:
        sys.exit(f"cgroup_bench: the boot ended with {ending}:\n{text}")
    start_ms = (int(got["last_ns"]) - int(got["init_ticks"]) * 10**7) / 1e6
    floor_ms = (int(floor.group(2)) - int(floor.group(1))) / 1e6
    return {"start": start_ms, "floor": floor_ms,
            "ratio": start_ms / floor_ms, "pss": int(got["pss_kib"]),
            "kernel": int(got["kernel_kib"]), "cgroups": int(got["cgroups"])}


def median(runs, key):
    return statistics.median(r[key] for r in runs)


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--runs", type=int, default=3)
    p.add_argument("-n", "--services", type=int, default=1000)
    p.add_argument("--arbord", default=os.path.join(BOOT, "build", "arbord"))
    p.add_argument("--arborctl",
                   default=os.path.join(BOOT, "build", "arborctl"))
    args = p.parse_args()
    # Like the boot tests: skipped, with the reason, where qemu cannot run.
    kernel, why = qemu.find_kernel()
    if kernel is None or qemu.find_qemu()[0] is None:
        print(f"cgroup_bench: skipped: {why or qemu.find_qemu()[1]}")
        return 0
    n = args.services
    files = {"/etc/driver.sh": (DRIVER % {"n": n}, 0o755)}
    for prog in ("stamp", "spawn_floor"):
        with open(os.path.join(HERE, prog), "rb") as f:
            files[f"/bin/{prog}"] = (f.read(), 0o755)
    runs = {False: [], True: []}
    with tempfile.TemporaryDirectory(prefix="arbor-cgroup-bench-") as tmp:
        initrd = os.path.join(tmp, "bench.cpio")
        initramfs.build(initrd, args.arbord, args.arborctl, config(n), files)
        for _ in range(args.runs):
            for no_cgroups in (False, True):
                runs[no_cgroups].append(one(kernel, initrd, no_cgroups, n))
    print(f"start of {n} services as init under qemu TCG "
          f"({os.path.basename(kernel)}), median of {args.runs} boots each:")
    for no_cgroups, label in ((False, "a cgroup each"),
                              (True, "--no-cgroups")):
        r = runs[no_cgroups]
        print(f"  {label:14} start {median(r, 'start'):7.0f} ms, floor "
              f"{median(r, 'floor'):7.0f} ms, ratio "
              f"{median(r, 'ratio'):.2f}x (runs "
              + ", ".join(f"{x['ratio']:.2f}" for x in r)
              + f"); arbord PSS {median(r, 'pss'):.0f} KiB; kernel "
              f"{median(r, 'kernel'):.0f} KiB; cgroups "
              f"{median(r, 'cgroups'):.0f}")
    on, off = runs[False], runs[True]
    print(f"  per service, cgroups cost: arbord PSS "
          f"{(median(on, 'pss') - median(off, 'pss')) / n:+.2f} KiB, "
          f"kernel {(median(on, 'kernel') - median(off, 'kernel')) / n:+.2f}"
          " KiB")
    if median(on, "ratio") > LIMIT:
        print(f"cgroup_bench: start with cgroups {median(on, 'ratio'):.2f}x "
              f"the floor, over {LIMIT}x")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
