"""Randomised reload: a live arbord follows its configuration exactly.

200 random sequences of edits to a small tree (add or remove a service, a
sub-supervisor or a pool; change a service's exec or env, which restarts it
unless its on_change is "next-start", or its stop_signal or on_change, which
apply in place; reorder a supervisor's children; move a child to another
supervisor; change a supervisor's strategy, intensity or period) are each
written to arbor.conf and applied by `arborctl reload` to ONE live arbord
running real sleep services. One sequence in ten first tries a broken file
(syntax error, unknown key, missing program, duplicate name): the reload is
refused with a reload_failed event and the status stays byte-identical.

After every reload:
  - the plan touches exactly the services the edit implies (a model of the
    tree says which), and every other service keeps its pid;
  - the live status lists the model's tree, in start order, every service up;
and every few sequences (and after the last) the live status equals that of
a fresh arbord started on the same file, pids and times aside.

The seed is random unless ARBOR_RELOAD_SEED is set; a failure names it, the
sequence, the edits and the configuration, so the run can be replayed.
"""

import copy
import json
import os
import random
import subprocess

import ctlclient
from conftest import REPO, SLOW, Arbord, wait_until

ARBORCTL = os.path.join(REPO, "ctl", "arborctl")
SEQUENCES = 200
FRESH_EVERY = 1
BROKEN_RATE = 0.1        # sequences first tried with a broken config
MAX_NODES = 30           # supervisors, services and pool instances, root too
MAX_DEPTH = 3            # sub-supervisors below the root
STRATEGIES = ("one_for_one", "one_for_all", "rest_for_one")
# Signals that end sleep at once, so stops never wait out stop_timeout.
STOP_SIGNALS = ("TERM", "INT", "HUP", "USR1")
# The status fields a fresh arbord must agree on (not pids, not times).
COMPARED = ("path", "kind", "strategy", "restart", "state", "dynamic",
            "pool", "instances", "max_children", "restarts", "ready")


# ------------------------------------------------------------------ model
#
# A node is a dict: {"kind": "service", "name", "arg", "env", "signal"},
# {"kind": "supervisor", "name", "strategy", "intensity", "period",
# "children": [...]} or {"kind": "pool", "name", "arg", "instances"}.
# The root is a supervisor without a name.

def new_service(name, rng):
    s = {"kind": "service", "name": name,
         "arg": str(1000 + rng.randrange(100)), "env": None,
         "signal": "TERM", "on_change": "restart"}
    s["running"] = process_keys(s)
    return s


def new_supervisor(name, rng, children=()):
    return {"kind": "supervisor", "name": name,
            "strategy": rng.choice(STRATEGIES),
            "intensity": rng.randrange(1, 10), "period": rng.randrange(1, 9),
            "children": list(children)}


def new_pool(name, rng):
    return {"kind": "pool", "name": name,
            "arg": str(1000 + rng.randrange(100)),
            "instances": rng.randrange(0, 3)}


def render_service(s):
    keys = [f'name = "{s["name"]}";',
            f'exec = [ "/bin/sleep", "{s["arg"]}" ];']
    if s["env"] is not None:
        keys.append(f'env = [ "{s["env"]}" ];')
    if s["signal"] != "TERM":
        keys.append(f'stop_signal = "{s["signal"]}";')
    if s["on_change"] != "restart":
        keys.append(f'on_change = "{s["on_change"]}";')
    return "{ " + " ".join(keys) + " }"


def render_flags(sup):
    return (f'strategy = "{sup["strategy"]}"; '
            f'intensity = {sup["intensity"]}; period = "{sup["period"]}s";')


def render_node(node, indent):
    if node["kind"] == "service":
        return indent + render_service(node)
    if node["kind"] == "pool":
        return (f'{indent}{{ name = "{node["name"]}"; '
                'strategy = "simple_one_for_one"; '
                f'template = {{ exec = [ "/bin/sleep", "{node["arg"]}" ]; }}; '
                f'instances = {node["instances"]}; }}')
    return (f'{indent}{{ name = "{node["name"]}"; {render_flags(node)}\n'
            f"{indent}  children = (\n"
            + render_children(node["children"], indent + "    ")
            + f"\n{indent}  ); }}")


def render_children(children, indent):
    return ",\n".join(render_node(c, indent) for c in children)


def render(root):
    return (f"supervisor = {{ {render_flags(root)} }};\n"
            "children = (\n" + render_children(root["children"], "  ")
            + "\n);\n")


def walk(node, prefix=""):
    """(path, node) for node's descendants, depth first in start order:
    the order of status --json. Pool instances are "pool/1".. "pool/K"."""
    for c in node.get("children", ()):
        path = prefix + c["name"]
        yield path, c
        if c["kind"] == "supervisor":
            yield from walk(c, path + "/")
        elif c["kind"] == "pool":
            for i in range(1, c["instances"] + 1):
                yield f"{path}/{i}", {"kind": "instance", "pool": c}


def supervisors(root):
    """(path, node) of the root ("/") and every sub-supervisor."""
    return [("/", root)] + [(p, n) for p, n in walk(root)
                            if n["kind"] == "supervisor"]


def count_nodes(root):
    return 1 + sum(1 for _ in walk(root))


def depth_of(path):
    return 0 if path == "/" else path.count("/") + 1


def process_keys(node):
    """What a service's process is made of: a change of these restarts it
    (or waits for its next start); any other key arbord applies itself."""
    return (node["arg"], node["env"])


def config_keys(node):
    return {k: v for k, v in node.items() if k != "running"}


def expected_restarts(old, new):
    """Paths of the processes in `new` that the reload must (re)start: new
    paths (pool instances included), and services whose configuration
    changed so that the process they run differs from the new one, unless
    their new on_change is "next-start" (plan.h: a service with pending
    keys is compared as what it will become, and a change back to what
    runs is in place). stop_signal, on_change, flags and order apply
    without a restart. A service's "running" is what its process runs."""
    before = dict(walk(old))
    out = set()
    for path, n in walk(new):
        b = before.get(path)
        if n["kind"] == "instance":
            if b is None or b["kind"] != "instance":
                out.add(path)
        elif n["kind"] == "service":
            if b is None or b["kind"] != "service":
                out.add(path)
            elif (config_keys(b) != config_keys(n)
                  and n["running"] != process_keys(n)
                  and n["on_change"] == "restart"):
                out.add(path)
    return out


def started(root, paths):
    """The services at paths now run their configured keys."""
    for path, n in walk(root):
        if path in paths and n["kind"] == "service":
            n["running"] = process_keys(n)


# ------------------------------------------------------------------ edits

class Editor:
    """Random edits to the model; each returns a one-line description, or
    None when it does not apply to this tree (the caller draws again)."""

    def __init__(self, rng):
        self.rng = rng
        self.serial = 0

    def name(self, prefix):
        # Names are never reused: a moved child can never meet its name in
        # its new supervisor, and an old path never comes back as another
        # kind of node.
        self.serial += 1
        return f"{prefix}{self.serial}"

    def pick_supervisor(self, root, max_depth=None):
        sups = [(p, s) for p, s in supervisors(root)
                if max_depth is None or depth_of(p) <= max_depth]
        return self.rng.choice(sups)

    def pick_child(self, root, kinds):
        nodes = [(p, n) for p, n in walk(root) if n["kind"] in kinds]
        return self.rng.choice(nodes) if nodes else (None, None)

    def parent_of(self, root, path):
        if "/" not in path:
            return root
        return dict(supervisors(root))[path.rsplit("/", 1)[0]]

    def insert(self, sup, node):
        sup["children"].insert(self.rng.randrange(len(sup["children"]) + 1),
                               node)

    def add_service(self, root):
        if count_nodes(root) + 1 > MAX_NODES:
            return None
        path, sup = self.pick_supervisor(root)
        node = new_service(self.name("s"), self.rng)
        self.insert(sup, node)
        return f"add service {node['name']} to {path}"

    def add_supervisor(self, root):
        kids = self.rng.randrange(0, 3)
        if count_nodes(root) + 1 + kids > MAX_NODES:
            return None
        path, sup = self.pick_supervisor(root, MAX_DEPTH - 1)
        node = new_supervisor(self.name("g"), self.rng,
                              [new_service(self.name("s"), self.rng)
                               for _ in range(kids)])
        self.insert(sup, node)
        return f"add supervisor {node['name']} ({kids} services) to {path}"

    def add_pool(self, root):
        node = new_pool(self.name("p"), self.rng)
        if count_nodes(root) + 1 + node["instances"] > MAX_NODES:
            return None
        path, sup = self.pick_supervisor(root)
        self.insert(sup, node)
        return (f"add pool {node['name']} ({node['instances']} instances) "
                f"to {path}")

    def remove(self, root, kinds):
        path, node = self.pick_child(root, kinds)
        if node is None:
            return None
        self.parent_of(root, path)["children"].remove(node)
        return f"remove {node['kind']} {path}"

    def remove_service(self, root):
        return self.remove(root, ("service",))

    def remove_subtree(self, root):
        return self.remove(root, ("supervisor", "pool"))

    def change_exec(self, root):
        path, node = self.pick_child(root, ("service",))
        if node is None:
            return None
        node["arg"] = str(int(node["arg"]) + 1)
        return f"change {path} exec (sleep {node['arg']})"

    def change_env(self, root):
        path, node = self.pick_child(root, ("service",))
        if node is None:
            return None
        node["env"] = (None if node["env"] is not None
                       and self.rng.random() < 0.5
                       else f"V={self.rng.randrange(1000000)}")
        return f"change {path} env ({node['env']})"

    def change_stop_signal(self, root):
        path, node = self.pick_child(root, ("service",))
        if node is None:
            return None
        node["signal"] = self.rng.choice(
            [s for s in STOP_SIGNALS if s != node["signal"]])
        return f"change {path} stop_signal ({node['signal']})"

    def toggle_on_change(self, root):
        path, node = self.pick_child(root, ("service",))
        if node is None:
            return None
        node["on_change"] = ("next-start" if node["on_change"] == "restart"
                             else "restart")
        return f"change {path} on_change ({node['on_change']})"

    def change_flags(self, root):
        path, sup = self.pick_supervisor(root)
        key = self.rng.choice(("strategy", "intensity", "period"))
        if key == "strategy":
            sup[key] = self.rng.choice(
                [s for s in STRATEGIES if s != sup[key]])
        else:
            sup[key] = sup[key] % 9 + 1
        return f"change {path} {key} ({sup[key]})"

    def reorder(self, root):
        sups = [(p, s) for p, s in supervisors(root)
                if len(s["children"]) >= 2]
        if not sups:
            return None
        path, sup = self.rng.choice(sups)
        before = list(sup["children"])
        while sup["children"] == before:
            self.rng.shuffle(sup["children"])
        return f"reorder {path}: " + " ".join(c["name"]
                                              for c in sup["children"])

    def move(self, root):
        path, node = self.pick_child(root, ("service", "supervisor", "pool"))
        if node is None:
            return None
        old_parent = self.parent_of(root, path)
        # Not into itself or its own subtree, nor deeper than MAX_DEPTH.
        height = max((depth_of(p) for p, _ in walk(
            {"children": [node]})), default=1)
        targets = [(p, s) for p, s in supervisors(root)
                   if s is not old_parent and p != path
                   and not p.startswith(path + "/")
                   and depth_of(p) + height <= MAX_DEPTH + 1]
        if not targets:
            return None
        to_path, to = self.rng.choice(targets)
        old_parent["children"].remove(node)
        self.insert(to, node)
        return f"move {path} to {to_path}"

    EDITS = ("add_service", "add_supervisor", "add_pool", "remove_service",
             "remove_subtree", "change_exec", "change_env",
             "change_stop_signal", "toggle_on_change", "change_flags",
             "reorder", "move")

    def edit(self, root):
        while True:
            done = getattr(self, self.rng.choice(self.EDITS))(root)
            if done is not None:
                return done


# ------------------------------------------------------------------ checks

def run_reload(a):
    """`arborctl reload --json` on a's socket: the finished process."""
    return subprocess.run([ARBORCTL, "reload", "--json"],
                          env=dict(os.environ, ARBOR_SOCKET=str(a.socket)),
                          capture_output=True, text=True, timeout=30 * SLOW)


def reload(a):
    """A reload that must succeed: its reply, as JSON."""
    r = run_reload(a)
    assert r.returncode == 0, (f"arborctl reload exited {r.returncode}: "
                               f"{r.stdout}{r.stderr}")
    return json.loads(r.stdout)


def break_config(rng, root):
    """A configuration the loader must refuse, made from the model: a
    syntax error, an unknown key, a program that does not exist, or a
    duplicate name. (description, text)"""
    bad = copy.deepcopy(root)
    how = rng.choice(("syntax", "unknown key", "missing program",
                      "duplicate name"))
    services = [n for _, n in walk(bad) if n["kind"] == "service"]
    if how == "syntax":
        return how, render(bad) + "children = (\n"
    if how == "unknown key" or not services:
        how = "unknown key"
        return how, render(bad).replace("supervisor = {",
                                        "supervisor = { colour = 1;", 1)
    victim = rng.choice(services)
    if how == "missing program":
        return how, render(bad).replace(
            render_service(victim),
            render_service(victim).replace("/bin/sleep", "/nonexistent/x"))
    parent = [s for _, s in supervisors(bad) if victim in s["children"]][0]
    parent["children"].append(copy.deepcopy(victim))
    return how, render(bad)


def without_times(nodes):
    return [{k: v for k, v in n.items() if k != "since_ms"} for n in nodes]


def check_refused(a, rng, root, live):
    """A broken configuration is refused, with a reload_failed event, and
    leaves the tree exactly as it was: same nodes, pids, states and
    restart counts."""
    how, text = break_config(rng, root)
    a.config.write_text(text)
    failures = len(a.find("reload_failed"))
    r = run_reload(a)
    assert r.returncode == 1, (f"reload of a config with a {how} exited "
                               f"{r.returncode}: {r.stdout}{r.stderr}")
    a.wait_event("reload_failed", count=failures + 1)
    now = ctlclient.status(a.socket)
    assert without_times(now) == without_times(live), (
        f"a refused reload ({how}) changed the tree:\n  before: {live}"
        f"\n  after:  {now}")
    return how


def comparable(nodes):
    return [{k: n[k] for k in COMPARED if k in n} for n in nodes]


def settled(a, root, seen):
    """The status once it lists the model's tree with every service up:
    None until then. seen[0] keeps the latest status, for the message."""
    try:
        nodes = ctlclient.status(a.socket)
    except (ConnectionRefusedError, FileNotFoundError):
        return None  # a fresh arbord not yet listening
    seen[0] = nodes
    want = ["/"] + [p for p, _ in walk(root)]
    if [n["path"] for n in nodes] != want:
        return None
    if any(n["kind"] == "service" and (n["state"] != "up" or "pid" not in n)
           for n in nodes):
        return None
    return nodes


def wait_settled(a, root, what):
    seen = [None]
    try:
        return wait_until(lambda: settled(a, root, seen), 10,
                          f"{what}: the tree of the model, all up")
    except AssertionError as e:
        raise AssertionError(f"{e}; status: {seen[0]}") from None


def pids(nodes):
    return {n["path"]: n["pid"] for n in nodes if "pid" in n}


def plan_restarts(plan):
    """Paths the plan says it (re)starts or stops: adds and removes (their
    subtrees with them) and changes applied by a restart."""
    touched = []
    for step in plan["steps"]:
        if step["op"] in ("add", "remove") or (
                step["op"] == "change" and step.get("apply") == "restart"):
            touched.append(step["path"])
    return touched


def under(path, roots):
    return any(path == r or path.startswith(r + "/") for r in roots)


def fresh_status(tmp_path, text, index, root):
    """The status of a fresh arbord on `text`, once settled; it is stopped
    before this returns."""
    d = tmp_path / f"fresh{index}"
    d.mkdir()
    fresh = Arbord(d, text)
    try:
        return wait_settled(fresh, root, "fresh arbord")
    finally:
        code = fresh.stop()
        fresh.cleanup()
        assert code == 0, (f"a fresh arbord exited {code} on SIGTERM: "
                           + "\n".join(fresh.lines[-30:]))


def initial_tree(rng, editor):
    root = new_supervisor(None, rng)
    root["children"] = [new_service(editor.name("s"), rng) for _ in range(3)]
    root["children"].append(new_supervisor(
        editor.name("g"), rng, [new_service(editor.name("s"), rng)
                                for _ in range(2)]))
    return root


def test_random_reloads_follow_the_config(arbord, tmp_path):
    """200 random edit sequences, each applied by reload: the live tree
    equals a fresh arbord's on the same file, and only the services the
    edits name are restarted (a reload that restarted bystanders, lost a
    reorder or a flag, or left a removed child running, fails here)."""
    seed = int(os.environ.get("ARBOR_RELOAD_SEED",
                              random.randrange(1 << 32)))
    rng = random.Random(seed)
    editor = Editor(rng)
    root = initial_tree(rng, editor)
    text = render(root)
    a = arbord(text)
    wait_until(lambda: a.socket.exists(), 5, "the control socket")
    live = wait_settled(a, root, "boot")
    context = ["boot"]
    try:
        for seq in range(SEQUENCES):
            old = copy.deepcopy(root)
            edits = [editor.edit(root) for _ in range(rng.randrange(1, 4))]
            context = [f"sequence {seq}:"] + edits
            if rng.random() < BROKEN_RATE:
                context.append("refused: " + check_refused(a, rng, old,
                                                            live))
            text = render(root)
            a.config.write_text(text)
            reply = reload(a)
            context.append("plan: " + json.dumps(reply["plan"]["steps"]))
            assert reply["applied"] is True or not reply["plan"]["steps"]

            before = pids(live)
            live = wait_settled(a, root, "after the reload")
            after = pids(live)

            touched = plan_restarts(reply["plan"])
            planned = {p for p in after if under(p, touched)}
            expected = expected_restarts(old, root)
            started(root, expected)
            assert planned == expected, (
                f"the plan restarts {sorted(planned)}, the edits "
                f"{sorted(expected)}")
            moved = {p: (before[p], after[p]) for p in after
                     if p in before and not under(p, touched)
                     and before[p] != after[p]}
            assert not moved, f"unchanged services restarted: {moved}"
            gone = [p for p in before if under(p, touched)
                    and p in after and before[p] == after[p]]
            assert not gone, f"planned restarts kept their pid: {gone}"

            if seq % FRESH_EVERY == FRESH_EVERY - 1 or seq == SEQUENCES - 1:
                fresh = fresh_status(tmp_path, text, seq, root)
                assert comparable(live) == comparable(fresh), (
                    "live and fresh status differ:\n  live:  "
                    f"{comparable(live)}\n  fresh: {comparable(fresh)}")
    except AssertionError as e:
        raise AssertionError(
            f"ARBOR_RELOAD_SEED={seed}: {e}\n" + "\n".join(context)
            + f"\nconfig:\n{text}\narbord's last lines:\n"
            + "\n".join(a.lines[-30:])) from e
    assert a.proc.poll() is None, "arbord exited"
    # Under SANITIZE=1 a leak in 200 reloads makes this exit status non-zero.
    code = a.stop()
    assert code == 0, (f"ARBOR_RELOAD_SEED={seed}: arbord exited {code} on "
                       "SIGTERM:\n" + "\n".join(a.lines[-30:]))
