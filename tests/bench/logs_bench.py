#!/usr/bin/python3
"""arbor logs benchmark: one service's output through arbord to a file sink,
against cat writing the same input to the same kind of file, in one run.

  floor    `cat INPUT > FILE`: the time from spawning cat to its exit.
  relay    `cat INPUT | cat > FILE`: what any logger that reads a pipe
           starts from (for context; the target is against the floor).
  arbord   a service `/bin/cat INPUT` (restart temporary) whose log is a
           file sink, no ring: the time from spawning arbord to the exit
           event of the service on arbord's stderr. arbord reads what is
           left in the pipe and writes it to the file before that event,
           so at that moment every line is in the file (checked: the
           file has exactly the input's lines, each with its prefix).
  CPU/MB   arbord's user+system CPU time (/proc/PID/stat) at that moment,
           divided by the input's size.

Runs alternate (floor, arbord, floor, ...) so noise hits both alike; the
report gives medians. The input is lines of 100 bytes. Files live in one
temporary directory, removed at the end with every process stopped by pid.

Stdlib only; run with Debian's /usr/bin/python3. Exit status 0 when every
run completed (whatever PASS/MISS says), 2 otherwise.
"""

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
TOP = os.path.dirname(os.path.dirname(HERE))
MiB = 1024 * 1024
T_RATIO = 0.5  # the target: at least half of cat's throughput
TICK = os.sysconf("SC_CLK_TCK")


def make_input(path, size):
    line = b"".join(b"%09d " % i + b"x" * 89 + b"\n" for i in range(1000))
    assert len(line) == 100 * 1000
    with open(path, "wb") as f:
        for _ in range(size // len(line)):
            f.write(line)
    return os.path.getsize(path)


def cpu_seconds(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK


def run_cat(inp, out):
    if os.path.exists(out):
        os.unlink(out)
    t = time.monotonic_ns()
    with open(out, "wb") as f:
        subprocess.run(["cat", inp], stdout=f, check=True)
    return (time.monotonic_ns() - t) / 1e9


def run_relay(inp, out):
    if os.path.exists(out):
        os.unlink(out)
    t = time.monotonic_ns()
    with open(out, "wb") as f:
        first = subprocess.Popen(["cat", inp], stdout=subprocess.PIPE)
        second = subprocess.Popen(["cat"], stdin=first.stdout, stdout=f)
        first.stdout.close()
        if second.wait() != 0 or first.wait() != 0:
            raise RuntimeError("cat | cat failed")
    return (time.monotonic_ns() - t) / 1e9


def run_arbord(arbord, inp, out, conf, sock, timeout):
    if os.path.exists(out):
        os.unlink(out)
    with open(conf, "w") as f:
        f.write('children = ( { name = "flood"; exec = [ "/bin/cat", '
                f'"{inp}" ]; restart = "temporary"; log = {{ sinks = '
                f'[ "file" ]; file = "{out}"; max_size = 0; }}; }} );\n')
    t = time.monotonic_ns()
    proc = subprocess.Popen([arbord, "-c", conf, "-s", sock],
                            stdin=subprocess.DEVNULL,
                            stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + timeout
        for raw in proc.stderr:
            if raw.startswith(b"event=exit path=flood"):
                wall = (time.monotonic_ns() - t) / 1e9
                cpu = cpu_seconds(proc.pid)
                break
            if time.monotonic() > deadline:
                raise RuntimeError("no exit event in time")
        else:
            raise RuntimeError("arbord ended without the exit event")
        proc.terminate()
        proc.wait(timeout=timeout)
        return wall, cpu
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        proc.stderr.close()


def check_file(out, lines):
    n = 0
    with open(out, "rb") as f:
        for n, raw in enumerate(f, 1):
            pass
    if n != lines:
        raise RuntimeError(f"{out}: {n} lines, expected {lines}")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--arbord", default=os.path.join(TOP, "daemon", "arbord"))
    ap.add_argument("--size-mib", type=int, default=256)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--timeout", type=float, default=120.0)
    ap.add_argument("--tmpdir", default=None)
    args = ap.parse_args()

    tmp = tempfile.mkdtemp(prefix="arbor-logs-bench-", dir=args.tmpdir)
    try:
        arbord = os.path.join(tmp, "arbord")
        shutil.copy2(args.arbord, arbord)
        inp = os.path.join(tmp, "input")
        size = make_input(inp, args.size_mib * MiB)
        lines = size // 100
        cat_t, relay_t, arb_t, arb_cpu = [], [], [], []
        for i in range(args.runs):
            cat_t.append(run_cat(inp, os.path.join(tmp, "cat.log")))
            relay_t.append(run_relay(inp, os.path.join(tmp, "cat.log")))
            w, c = run_arbord(arbord, inp, os.path.join(tmp, "arbord.log"),
                              os.path.join(tmp, "arbor.conf"),
                              os.path.join(tmp, "arbor.sock"), args.timeout)
            check_file(os.path.join(tmp, "arbord.log"), lines)
            arb_t.append(w)
            arb_cpu.append(c)
        mb = size / MiB
        cat_med, arb_med = statistics.median(cat_t), statistics.median(arb_t)
        ratios = [c / a for c, a in zip(cat_t, arb_t)]
        ratio = cat_med / arb_med
        cpu_mb = statistics.median(arb_cpu) / mb
        print(f"logs benchmark: {mb:.0f} MiB, {lines} lines of 100 bytes, "
              f"{args.runs} runs, file sink")
        print(f"  cat > file        {mb / cat_med:8.0f} MiB/s  "
              f"(median {cat_med * 1000:.0f} ms; runs "
              + ", ".join(f"{x * 1000:.0f}" for x in cat_t) + ")")
        relay_med = statistics.median(relay_t)
        print(f"  cat | cat > file  {mb / relay_med:8.0f} MiB/s  "
              f"(median {relay_med * 1000:.0f} ms; runs "
              + ", ".join(f"{x * 1000:.0f}" for x in relay_t) + ")")
        print(f"  arbord -> file    {mb / arb_med:8.0f} MiB/s  "
              f"(median {arb_med * 1000:.0f} ms; runs "
              + ", ".join(f"{x * 1000:.0f}" for x in arb_t) + ")")
        print(f"  ratio             {ratio:8.2f}x of cat  (per run "
              + ", ".join(f"{x:.2f}" for x in ratios)
              + f")  target >= {T_RATIO}: "
              + ("PASS" if ratio >= T_RATIO else "MISS"))
        print(f"  against the relay {relay_med / arb_med:8.2f}x")
        print(f"  arbord CPU        {cpu_mb * 1000:8.2f} ms per MiB  "
              f"(median of {statistics.median(arb_cpu):.2f} s)")
        return 0
    except (RuntimeError, OSError, subprocess.SubprocessError) as e:
        print(f"logs benchmark: {e}", file=sys.stderr)
        return 2
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
