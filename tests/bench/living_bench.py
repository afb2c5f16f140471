#!/usr/bin/python3
"""arbor living-tree benchmarks: reload by diff and pool spawns (issue 12).

reload   arbord runs 1000 services (stamps, tests/bench/stamp.c); arbor.conf
         is rewritten and a Reload called on one control connection, in
         three variants taken in turn, --reload-runs times each:
           none      the same file again (the plan is empty);
           in-place  one service's stop_signal toggles (applied in place);
           restart   one service's exec toggles (that service restarts).
         CPU is arbord's (all threads, /proc/PID/task/*/schedstat, ns) from
         just before the call to --settle after its reply (arbord is idle
         then: an idle arbord uses no CPU), and for `restart` after the new
         process has stamped and arbord logged its change. Latency is the
         call's round trip. After each reload a Status checks how many
         service pids changed: 0, 0 and 1.
memory   a second arbord on the same tree, with malloc_count.so preloaded
         (it counts malloc/calloc/realloc/free of arbord's own process in
         a shared file): after a warm-up, --mem-reloads reloads of each
         variant; per variant the allocations per reload, and the growth of
         the heap in use and of RSS (smaps_rollup) over the batch. "A
         reload with one change allocates nothing that one with no change
         does not" is read as: the heap in use grows no more than with no
         change (what a reload allocates and frees again is shown, not
         judged).
spawn    a pool whose template is a stamp: N Spawn calls on one control
         connection, from the first call to the latest of the N stamps,
         against spawn_floor (fork+exec of N stamps in a C loop, to the
         latest stamp), runs alternating. Two ways to call: sequential (each
         reply awaited, as N `arborctl spawn` would, less their fork+exec)
         and pipelined (all N calls sent, then the replies read). Reported
         per spawn (medians), and the median of the ratios of each arbord
         run to the floor run just before it.

Reuses run.py's process bookkeeping: every process started is stopped by
pid and the temporary directory removed, on any exit. Stdlib only; run with
Debian's /usr/bin/python3. Exit status 0 when every measure ran (whatever
PASS/MISS says; --strict makes a MISS exit 1), 2 when one could not be
taken.
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
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(TOP, "tests", "integration"))

import ctlclient  # noqa: E402  (stdlib only, beside the integration tests)
import run  # noqa: E402  (run.py: Procs, StampFile, Arbord, floors)

MALLOC_COUNT = os.path.join(HERE, "malloc_count.so")
RELOAD = ctlclient.SUP + "Reload"
SPAWN = ctlclient.SUP + "Spawn"
STATUS = ctlclient.SUP + "Status"
VARIANTS = ("none", "in-place", "restart")
CHANGED = "s0500"  # the service the in-place and restart variants edit

T_RELOAD_CPU_NS = 20 * 10**6
T_SPAWN_RATIO = 1.05
# The heap in use after a batch of reloads may differ by a block or two
# that moved between batches (seen: -32 B then +32 B); a leak grows with
# the batch, a slack does not.
T_HEAP_SLACK = 64


def median(values):
    return statistics.median(values) if values else None


# ------------------------------------------------------------------ reload

def tree_text(stamp_out, n, signal, variant_arg):
    """n stamps under a one_for_one root; CHANGED has the given
    stop_signal and a last argument that only the restart variant edits
    (stamp ignores it)."""
    lines = ['supervisor = { strategy = "one_for_one"; '
             'intensity = 100000; period = "1s"; };', "children = ("]
    for i in range(n):
        name = "s%04d" % i
        extra = ""
        argv = '"%s", "%s"' % (run.STAMP, stamp_out)
        if name == CHANGED:
            extra = ' stop_signal = "%s";' % signal
            argv += ', "%s"' % variant_arg
        lines.append('  { name = "%s"; exec = [ %s ]; stop_timeout = 0;%s }%s'
                     % (name, argv, extra, "," if i < n - 1 else ""))
    lines.append(");")
    return "\n".join(lines) + "\n"


class ReloadTree:
    """One arbord on the 1000-service tree, and the edits of the variants:
    each call of edit(variant) writes the file the variant reloads."""

    def __init__(self, args, procs, tag, env=None):
        self.args = args
        self.a = run.Arbord(args, procs, args.services, tag)
        self.signal, self.arg = "TERM", "v0"
        self.env = env
        self.write()

    def write(self):
        with open(self.a.conf, "w") as f:
            f.write(tree_text(self.a.stamps.path, self.args.services,
                              self.signal, self.arg))

    def edit(self, variant):
        if variant == "in-place":
            self.signal = "INT" if self.signal == "TERM" else "TERM"
        elif variant == "restart":
            self.arg = "v1" if self.arg == "v0" else "v0"
        self.write()

    def start(self):
        if self.env:
            saved = dict(os.environ)
            os.environ.update(self.env)
        try:
            self.a.spawn()
        finally:
            if self.env:
                os.environ.clear()
                os.environ.update(saved)
        self.a.wait_stamps(self.args.services, self.args.timeout,
                           interval=0.005)
        self.sock = os.path.join(self.a.dir, "ctl.sock")
        run_deadline = time.monotonic() + self.args.timeout
        while not self.pids():
            if time.monotonic() > run_deadline:
                raise run.BenchError("no control socket")
            time.sleep(0.01)
        self.conn = ctlclient.Conn(self.sock, timeout=self.args.timeout)

    def pids(self):
        """{path: pid} of the services up, or None while arbord does not
        answer yet."""
        try:
            nodes = ctlclient.status(self.sock, timeout=self.args.timeout)
        except (OSError, ctlclient.Closed, ctlclient.VarlinkError):
            return None
        pids = {n["path"]: n["pid"] for n in nodes if "pid" in n}
        return pids if len(pids) == self.args.services else None

    def reload(self, variant):
        """Edits, reloads; returns (latency ns, the plan). For `restart`,
        returns once the new process has stamped and its change event
        is logged."""
        self.edit(variant)
        stamps = len(self.a.stamps.lines)
        t0 = run.now_ns()
        reply = self.conn.call(RELOAD, {})
        latency = run.now_ns() - t0
        plan = reply["plan"]
        if variant == "restart":
            self.a.wait_stamps(stamps + 1, self.args.timeout)
            wait_for(lambda: any(
                e.get("event") == "change" and e.get("path") == CHANGED
                and e.get("apply", "restart") == "restart"
                for e in run.parse_events(self.a.log)[self.events_seen:]),
                self.args.timeout, "the change event of " + CHANGED)
        self.events_seen = len(run.parse_events(self.a.log))
        return latency, plan

    def stop(self, notes):
        if getattr(self, "conn", None):
            self.conn.close()
        self.a.stop(notes)
        shutil.rmtree(self.a.dir, ignore_errors=True)


def wait_for(cond, timeout, what):
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            raise run.BenchError("timed out waiting for " + what)
        time.sleep(0.001)


def plan_steps(plan):
    return [(s["op"], s["path"], s.get("apply")) for s in plan["steps"]]


WANT_STEPS = {"none": [], "in-place": [("change", CHANGED, "in-place")],
              "restart": [("change", CHANGED, "restart")]}
WANT_RESTARTED = {"none": 0, "in-place": 0, "restart": 1}


def measure_reload(args, procs, notes):
    t = ReloadTree(args, procs, "reload")
    res = {v: {"cpu_ns": [], "latency_ns": [], "restarted": []}
           for v in VARIANTS}
    try:
        t.start()
        t.events_seen = len(run.parse_events(t.a.log))
        before = t.pids()
        for i in range(args.reload_runs + 1):  # the first round warms up
            for v in VARIANTS:
                cpu0 = run.cpu_ns(t.a.p.pid)
                latency, plan = t.reload(v)
                time.sleep(args.settle)
                cpu = run.cpu_ns(t.a.p.pid) - cpu0
                if plan_steps(plan) != WANT_STEPS[v]:
                    notes.append("reload %s: plan %s, want %s" % (
                        v, plan_steps(plan), WANT_STEPS[v]))
                after = t.pids()
                if after is None:
                    raise run.BenchError("reload %s: services not all up "
                                         "after it" % v)
                restarted = sorted(p for p in after if after[p] != before[p])
                before = after
                if i == 0:
                    continue
                r = res[v]
                r["cpu_ns"].append(cpu)
                r["latency_ns"].append(latency)
                r["restarted"].append(len(restarted))
                if len(restarted) != WANT_RESTARTED[v]:
                    notes.append("reload %s: restarted %s" % (v, restarted))
        return res
    finally:
        t.stop(notes)


def read_counters(path):
    with open(path, "rb") as f:
        data = f.read(32)
    return dict(zip(("allocs", "frees", "bytes_total", "in_use"),
                    [int.from_bytes(data[i:i + 8], "little",
                                    signed=(i == 24))
                     for i in range(0, 32, 8)]))


def measure_memory(args, procs, notes):
    counters = os.path.join(procs.tmp, "malloc.counters")
    t = ReloadTree(args, procs, "memory",
                   env={"LD_PRELOAD": MALLOC_COUNT,
                        "MALLOC_COUNT_OUT": counters})
    res = {}
    try:
        t.start()
        t.events_seen = len(run.parse_events(t.a.log))
        if not os.path.exists(counters):
            raise run.BenchError("malloc_count.so wrote no counters")
        for _ in range(args.mem_warmup):
            for v in VARIANTS:
                t.reload(v)
        for v in VARIANTS:
            time.sleep(args.settle)
            c0 = read_counters(counters)
            rss0 = run.smaps_rollup(t.a.p.pid)["Rss"]
            for _ in range(args.mem_reloads):
                t.reload(v)
            time.sleep(args.settle)
            c1 = read_counters(counters)
            rss1 = run.smaps_rollup(t.a.p.pid)["Rss"]
            res[v] = {
                "allocs_per_reload": (c1["allocs"] - c0["allocs"])
                / args.mem_reloads,
                "bytes_per_reload": (c1["bytes_total"] - c0["bytes_total"])
                / args.mem_reloads,
                "in_use_growth": c1["in_use"] - c0["in_use"],
                "rss_growth": rss1 - rss0}
        return res
    finally:
        t.stop(notes)


# ------------------------------------------------------------------- spawn

def pool_text(stamp_out, n):
    return ('supervisor = { strategy = "one_for_one"; intensity = 3; '
            'period = "5s"; };\nchildren = (\n'
            '  { name = "p"; strategy = "simple_one_for_one"; '
            'intensity = 100000; period = "1s"; max_children = %d;\n'
            '    template = { exec = [ "%s", "%s" ]; stop_timeout = 0; }; }\n'
            ");\n" % (n, run.STAMP, stamp_out))


def spawn_calls(conn, n, pipelined):
    """n Spawn calls on conn; each reply checked."""
    if pipelined:
        for _ in range(n):
            conn.send(SPAWN, {"pool": "p"})
        for _ in range(n):
            conn.reply()
    else:
        for _ in range(n):
            conn.call(SPAWN, {"pool": "p"})


def measure_arbord_spawn(args, procs, notes, pipelined):
    a = run.Arbord(args, procs, 0, "spawn")
    n = args.spawns
    with open(a.conf, "w") as f:
        f.write(pool_text(a.stamps.path, n))
    try:
        a.spawn()
        sock = os.path.join(a.dir, "ctl.sock")
        deadline = time.monotonic() + args.timeout
        conn = None
        while conn is None:
            try:
                conn = ctlclient.Conn(sock, timeout=args.timeout)
                conn.call(STATUS, {})
            except (OSError, ctlclient.Closed):
                conn = None
                if time.monotonic() > deadline or not a.alive():
                    raise run.BenchError("arbord's socket never answered: "
                                         + run.tail(a.log))
                time.sleep(0.005)
        with conn:
            cpu0 = run.cpu_ns(a.p.pid)
            t0 = run.now_ns()
            spawn_calls(conn, n, pipelined)
            replied = run.now_ns() - t0
            a.wait_stamps(n, args.timeout, interval=0.002)
            elapsed = max(ns for _, ns in a.stamps.lines[:n]) - t0
            cpu = run.cpu_ns(a.p.pid) - cpu0
            nodes = conn.call(STATUS, {"path": "p"})["nodes"]
            up = [x for x in nodes if x["kind"] == "service"
                  and x.get("state") == "up"]
            if len(up) != n:
                notes.append("spawn: %d of %d instances up" % (len(up), n))
        return {"elapsed_ns": elapsed, "replied_ns": replied, "cpu_ns": cpu}
    finally:
        a.stop(notes)
        shutil.rmtree(a.dir, ignore_errors=True)


def measure_spawn(args, procs, notes):
    fargs = argparse.Namespace(children=args.spawns, timeout=args.timeout)
    res = {"floor": [], "sequential": [], "pipelined": []}
    for _ in range(args.spawn_runs):
        res["floor"].append(run.measure_spawn_floor(fargs, procs))
        res["sequential"].append(
            measure_arbord_spawn(args, procs, notes, False))
        res["floor"].append(run.measure_spawn_floor(fargs, procs))
        res["pipelined"].append(
            measure_arbord_spawn(args, procs, notes, True))
    return res


# ------------------------------------------------------------------ report

def fmt_ms(ns):
    return "-" if ns is None else "%.2f ms" % (ns / 1e6)


def fmt_us(ns):
    return "-" if ns is None else "%.1f us" % (ns / 1e3)


def fmt_bytes(b):
    return "-" if b is None else "%+d B" % b


def rows_reload(args, r):
    rows = []
    for v in VARIANTS:
        cpu = median(r[v]["cpu_ns"])
        target = v != "none"
        rows.append(("reload %d services, %s: arbord CPU" % (args.services, v),
                     "", fmt_ms(cpu), "",
                     "<= 20 ms" if target else "(info)",
                     run.verdict(cpu <= T_RELOAD_CPU_NS) if target else "-"))
        rows.append(("reload %d services, %s: call latency"
                     % (args.services, v), "",
                     fmt_ms(median(r[v]["latency_ns"])), "", "(info)", "-"))
        restarted = r[v]["restarted"]
        rows.append(("reload %s: processes restarted" % v, "",
                     "/".join(str(x) for x in sorted(set(restarted))), "",
                     "== %d" % WANT_RESTARTED[v],
                     run.verdict(set(restarted) == {WANT_RESTARTED[v]})))
    return rows


def rows_memory(args, m):
    rows = []
    base = m["none"]["in_use_growth"]
    for v in VARIANTS:
        x = m[v]
        rows.append(("heap in use, %d reloads %s" % (args.mem_reloads, v),
                     "", fmt_bytes(x["in_use_growth"]), "",
                     "(baseline)" if v == "none"
                     else "<= none's + %d B" % T_HEAP_SLACK,
                     "-" if v == "none" else run.verdict(
                         x["in_use_growth"] <= max(base, 0) + T_HEAP_SLACK)))
        extra = x["allocs_per_reload"] - m["none"]["allocs_per_reload"]
        rows.append(("allocations per reload, %s" % v, "",
                     "%.0f (%.0f B)%s" % (
                         x["allocs_per_reload"], x["bytes_per_reload"],
                         "" if v == "none" else ", %+.0f" % extra),
                     "", "(info)", "-"))
        rows.append(("RSS growth, %d reloads %s" % (args.mem_reloads, v), "",
                     fmt_bytes(x["rss_growth"]), "", "(info)", "-"))
    return rows


def paired_ratios(s, way):
    """Each arbord run against the floor run just before it (the runs
    alternate: floor, sequential, floor, pipelined, ...), so that a change
    of the machine's load hits both sides of a ratio alike."""
    first = 0 if way == "sequential" else 1
    return [a["elapsed_ns"] / f["elapsed_ns"]
            for f, a in zip(s["floor"][first::2], s[way])]


def rows_spawn(args, s):
    n = args.spawns
    floor = median([x["elapsed_ns"] for x in s["floor"]])
    rows = []
    for way in ("sequential", "pipelined"):
        el = median([x["elapsed_ns"] for x in s[way]])
        ratio = median(paired_ratios(s, way))
        rows.append(("spawn %d instances (%s), per spawn" % (n, way),
                     fmt_us(floor / n), fmt_us(el / n),
                     "%.2fx" % ratio, "<= %.2fx floor" % T_SPAWN_RATIO,
                     run.verdict(ratio <= T_SPAWN_RATIO)))
    return rows


def print_details(args, res):
    r = res.get("reload")
    if r:
        for v in VARIANTS:
            print("reload %s: CPU runs %s; latency runs %s" % (
                v, ", ".join(fmt_ms(x) for x in r[v]["cpu_ns"]),
                ", ".join(fmt_ms(x) for x in r[v]["latency_ns"])))
    s = res.get("spawn")
    if s:
        print("spawn floor runs: %s" % ", ".join(
            fmt_ms(x["elapsed_ns"]) for x in s["floor"]))
        for way in ("sequential", "pipelined"):
            print("spawn %s runs: %s; paired ratios %s (medians: last reply "
                  "after %s, arbord CPU %s)"
                  % (way, ", ".join(fmt_ms(x["elapsed_ns"]) for x in s[way]),
                     ", ".join("%.2f" % q for q in paired_ratios(s, way)),
                     fmt_ms(median([x["replied_ns"] for x in s[way]])),
                     fmt_ms(median([x["cpu_ns"] for x in s[way]]))))
    print("heap counts: tests/bench/malloc_count.so preloaded into arbord "
          "(malloc/calloc/realloc/free of its own process)")
    for n in res["notes"]:
        print("NOTE: " + n)
    for e in res["errors"]:
        print("ERROR: " + e)
    print("total %.0f s" % res["seconds"])


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--arbord", default=os.path.join(TOP, "daemon", "arbord"))
    ap.add_argument("--services", type=int, default=1000)
    ap.add_argument("--reload-runs", type=int, default=9,
                    help="reloads of each variant (default 9)")
    ap.add_argument("--mem-reloads", type=int, default=20)
    ap.add_argument("--mem-warmup", type=int, default=3)
    ap.add_argument("--spawns", type=int, default=1000)
    ap.add_argument("--spawn-runs", type=int, default=5)
    ap.add_argument("--settle", type=float, default=0.02,
                    help="seconds after a reply before arbord's CPU is read")
    ap.add_argument("--timeout", type=float, default=60.0)
    ap.add_argument("--tmpdir", default=None)
    ap.add_argument("--strict", action="store_true",
                    help="exit 1 when any target is missed")
    ap.add_argument("-v", "--verbose", action="store_true")
    args = ap.parse_args()

    r = subprocess.run(["make", "-s", "-C", HERE], stdin=subprocess.DEVNULL,
                       capture_output=True, text=True, timeout=300)
    if r.returncode != 0:
        sys.stderr.write(r.stdout + r.stderr)
        return 2
    if not os.access(args.arbord, os.X_OK):
        print("%s not found" % args.arbord, file=sys.stderr)
        return 2
    run.set_subreaper()
    procs = run.Procs()
    procs.tmp = tempfile.mkdtemp(prefix="arbor-living-bench.",
                                 dir=args.tmpdir)
    src = os.path.realpath(args.arbord)
    args.arbord = os.path.join(procs.tmp, "arbord")
    shutil.copy2(src, args.arbord)
    res = {"notes": [], "errors": []}
    with open("/proc/loadavg") as f:
        load = " ".join(f.read().split()[:3])
    start = time.monotonic()
    rows = []
    try:
        for name, measure, report in (
                ("reload", measure_reload, rows_reload),
                ("memory", measure_memory, rows_memory),
                ("spawn", measure_spawn, rows_spawn)):
            run.log(args, name)
            try:
                res[name] = measure(args, procs, res["notes"])
                rows += report(args, res[name])
            except run.MEASURE_ERRORS + (ctlclient.Closed,
                                         ctlclient.VarlinkError) as e:
                res["errors"].append("%s: %s" % (name, e))
    finally:
        procs.cleanup()
        shutil.rmtree(procs.tmp, ignore_errors=True)
    res["seconds"] = time.monotonic() - start
    print("arbor living-tree benchmark: arbord %s; %d cpus, load before "
          "%s" % (src, os.cpu_count(), load))
    run.print_rows(rows)
    print_details(args, res)
    if res["errors"]:
        return 2
    if args.strict and any(x[5] == "MISS" for x in rows):
        return 1
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        sys.exit(130)
