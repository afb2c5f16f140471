"""The living tree under concurrent changes: reloads, adds, removes,
spawns, stops, starts and crashes sent at once, on several connections, to
one arbord (issue 12).

Node slots are reused as children come and go, a reload's steps run over
time while operators change the tree under them, and a pool's instances
come and go by the hundred: this throws all of that at arbord together,
with a seeded random order. What must hold: arbord answers every call
(with success or one of the living tree's errors, never a protocol error
or silence), survives (under ASan and UBSan in `make check SANITIZE=1`, any
memory error or leak ends it with status 1), and, once the calls are
answered and a last reload has run, its tree is what its configuration
says plus what operators added, every service up, and it stops with 0.

The seed is random unless ARBOR_CHAOS_SEED is set; a failure names it.
"""

import os
import random
import signal
import threading

import ctlclient
from conftest import SLOW, Arbord, wait_until

SUP = "org.arbor.supervisor."
ROUNDS = 300
WORKERS = 4
SLEEP = '[ "/bin/sleep", "1000" ]'
# The errors a change may meet when others race it: a child already
# removed, a name taken meanwhile, a pool full, a stop under a stopped
# supervisor, a reload waiting behind another... never anything else.
EXPECTED_ERRORS = {"NoSuchChild", "NotRunning", "AlreadyPresent",
                   "AlreadyRunning", "Restarting", "PoolFull",
                   "PoolInstance", "StartFailed", "InvalidPath"}


def config(rng, generation):
    """A tree of a few services, a sub-supervisor and a pool, some of it
    different at each generation (added, removed, changed, reordered)."""
    services = [f"s{i}" for i in range(6) if rng.random() < 0.7]
    rng.shuffle(services)
    root = ", ".join(
        f'{{ name = "{n}"; exec = [ "/bin/sleep", "{1000 + generation % 3}" ]; '
        f'stop_signal = "{rng.choice(["TERM", "INT"])}"; }}'
        for n in services)
    subs = ", ".join(f'{{ name = "x{i}"; exec = {SLEEP}; }}'
                     for i in range(rng.randrange(1, 4)))
    sub = (f'{{ name = "sub"; strategy = "{rng.choice(["one_for_one", "rest_for_one"])}"; '
           f'intensity = 100; period = "1s"; children = ( {subs} ); }}')
    pool = ('{ name = "p"; strategy = "simple_one_for_one"; intensity = 100; '
            f'period = "1s"; max_children = 30; instances = {rng.randrange(3)}; '
            f'template = {{ exec = {SLEEP}; }}; }}')
    parts = [p for p in (root, sub, pool) if p]
    return ('supervisor = { intensity = 1000; period = "1s"; };\n'
            f'children = ( {", ".join(parts)} );\n')


class Caller:
    """One connection of its own per call, so calls race in arbord."""

    def __init__(self, sock):
        self.sock = sock
        self.errors = []
        self.answers = {}  # (method, outcome) -> count
        self.lock = threading.Lock()

    def call(self, method, params):
        outcome = "ok"
        try:
            ctlclient.call(self.sock, SUP + method, params,
                           timeout=30 * SLOW)
        except ctlclient.VarlinkError as e:
            outcome = e.name.rsplit(".", 1)[-1]
            if outcome not in EXPECTED_ERRORS:
                self.errors.append((method, params, e.name, e.parameters))
        with self.lock:
            key = (method, outcome)
            self.answers[key] = self.answers.get(key, 0) + 1


def live_paths(sock):
    return {n["path"]: n for n in ctlclient.status(sock)}


def chaos_round(rng, caller, sock, conf_path, generation):
    """One round of changes sent at once from WORKERS threads."""
    nodes = list(live_paths(sock))
    actions = []
    for _ in range(WORKERS):
        kind = rng.choice(["reload", "add", "remove", "spawn", "spawn",
                           "remove_instance", "stop", "start", "crash"])
        if kind == "reload":
            conf_path.write_text(config(rng, generation))
            actions.append(("Reload", {}))
        elif kind == "add":
            parent = rng.choice(["/", "sub"])
            name = f"d{rng.randrange(8)}"
            actions.append(("AddChild", {"parent": parent, "spec":
                            f'name = "{name}"; exec = {SLEEP};'}))
        elif kind in ("remove", "stop", "start") and len(nodes) > 1:
            path = rng.choice([p for p in nodes if p != "/"])
            method = {"remove": "RemoveChild", "stop": "Stop",
                      "start": "Start"}[kind]
            actions.append((method, {"path": path}))
        elif kind == "spawn":
            actions.append(("Spawn", {"pool": "p"}))
        elif kind == "remove_instance":
            inst = [p for p in nodes if p.startswith("p/")]
            if inst:
                actions.append(("RemoveChild", {"path": rng.choice(inst)}))
        elif kind == "crash":
            running = [n for n in live_paths(sock).values()
                       if n.get("pid")]
            if running:
                try:
                    os.kill(rng.choice(running)["pid"], signal.SIGKILL)
                except ProcessLookupError:
                    pass
    threads = [threading.Thread(target=caller.call, args=a)
               for a in actions]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60 * SLOW)
        assert not t.is_alive(), "a call was never answered"


def test_concurrent_changes_of_the_living_tree(tmp_path):
    seed = int(os.environ.get("ARBOR_CHAOS_SEED",
                              random.randrange(1 << 30)))
    rng = random.Random(seed)
    a = Arbord(tmp_path, config(rng, 0))
    try:
        a.wait_event("start", "p")
        wait_until(lambda: a.socket.exists(), what="the control socket")
        caller = Caller(a.socket)
        for generation in range(1, ROUNDS + 1):
            chaos_round(rng, caller, a.socket, a.config, generation)
            assert a.proc.poll() is None, \
                f"seed {seed}: arbord ended in round {generation}"
        print(f"seed {seed}: answers {sorted(caller.answers.items())}")
        assert not caller.errors, f"seed {seed}: {caller.errors[:5]}"
        # Enough of each change was carried out for the run to mean
        # something: reloads, adds, spawns and removes that succeeded.
        for method in ("Reload", "AddChild", "Spawn", "RemoveChild"):
            assert caller.answers.get((method, "ok"), 0) > 0, \
                f"seed {seed}: no {method} succeeded: {caller.answers}"
        # Quiet now: one last reload, and the tree is the file's, plus
        # what operators added (marked dynamic), each child up or stopped.
        a.config.write_text(config(rng, 0))
        ctlclient.call(a.socket, SUP + "Reload", {}, timeout=30 * SLOW)

        def settled():
            nodes = live_paths(a.socket)
            return all(n["state"] in ("up", "down", "gone")
                       for n in nodes.values())
        wait_until(settled, timeout=30 * SLOW, what="a settled tree")
        configured = {p for p, n in live_paths(a.socket).items()
                      if not n.get("dynamic") and p != "/"}
        assert {"sub", "p"} <= configured, f"seed {seed}: {configured}"
        assert a.stop() == 0, f"seed {seed}: arbord's exit status"
    finally:
        a.cleanup()
