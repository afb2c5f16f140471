"""cgroup limits (issue 15) where they cannot apply: a limit given
explicitly whose controller is not available is a configuration error,
with its file and line, in `arbord --check`, at the start and in a
reload, and an added child with one is refused. This machine's cgroup2
(a hybrid host) offers no controller, and --no-cgroups none at all; the
limits themselves are tested under qemu (tests/boot/)."""

import json
import os
import subprocess

import pytest

from conftest import ARBORD, REPO, SLEEPER, SLOW, service, tree, wait_until

ARBORCTL = os.path.join(REPO, "ctl", "arborctl")
ERR = "org.arbor.supervisor."


def controllers_here():
    """What the cgroup2 arbord would take offers, as --check sees it:
    None without a usable cgroup2."""
    with open("/proc/self/mountinfo") as f:
        mounts = [line.split(" - ")[0].split()[4] for line in f
                  if " - cgroup2 " in line]
    if not mounts:
        return None
    with open("/proc/self/cgroup") as f:
        own = [line.split("::", 1)[1].strip() for line in f
               if line.startswith("0::")]
    path = mounts[0] + (own[0] if own else "")
    try:
        with open(os.path.join(path, "cgroup.controllers")) as f:
            return f.read().split()
    except OSError:
        return None


@pytest.fixture(autouse=True)
def no_memory_controller():
    got = controllers_here()
    if got and "memory" in got:
        pytest.skip("this cgroup2 offers the memory controller: the "
                    "refusals are tested where it does not")


def check(conf, *args):
    return subprocess.run([ARBORD, "--check", *args, "-c", str(conf)],
                          capture_output=True, text=True,
                          stdin=subprocess.DEVNULL, timeout=10 * SLOW)


def ctl(a, *args):
    env = dict(os.environ, ARBOR_SOCKET=str(a.socket))
    return subprocess.run([ARBORCTL, *args], capture_output=True, text=True,
                          env=env, timeout=10 * SLOW,
                          stdin=subprocess.DEVNULL)


def limited_tree():
    # web, and its memory_max, are on line 4 of the file.
    return tree([service("plain", SLEEPER),
                 service("web", SLEEPER, memory_max='"32M"')])


def test_check_refuses_a_limit_without_its_controller(tmp_path):
    """--check names the key, the controller and where cgroup2 is, at
    the child's line, and exits 1; without the limit it passes."""
    conf = tmp_path / "arbor.conf"
    conf.write_text(limited_tree())
    r = check(conf)
    assert r.returncode == 1, r.stdout + r.stderr
    line = [l for l in r.stderr.splitlines() if "memory_max" in l]
    assert len(line) == 1, r.stderr
    assert line[0].startswith(f"arbord: {conf}:4: child 'web': memory_max: "
                              "the memory controller is not available (")
    assert "configuration has errors" in r.stderr
    conf.write_text(tree([service("plain", SLEEPER)]))
    assert check(conf).returncode == 0


def test_check_with_no_cgroups_says_so(tmp_path):
    """With --no-cgroups there is no cgroup2 at all: the reason is that."""
    conf = tmp_path / "arbor.conf"
    conf.write_text(tree([service("w", SLEEPER, pids_max="20",
                                  cpu_max='"50%"')]))
    r = check(conf, "--no-cgroups")
    assert r.returncode == 1
    assert (f"{conf}:3: child 'w': pids_max: limits need cgroup2, which "
            "arbord does not use (--no-cgroups)") in r.stderr
    assert "cpu_max: limits need cgroup2" in r.stderr


def test_start_refuses_a_limit_without_its_controller(arbord):
    """arbord refuses the configuration before starting anything: exit 1,
    the same error, no service started."""
    a = arbord(limited_tree())
    assert a.wait_exit(timeout=10) == 1
    text = "\n".join(a.lines)
    assert "child 'web': memory_max: the memory controller is not " \
           "available" in text, text
    assert not a.find("start")


def test_reload_with_a_limit_without_its_controller_fails(arbord):
    """A reload that adds a limit no controller can apply fails as a
    configuration with errors does: ConfigInvalid, reload_failed with the
    file and line, and the running service untouched."""
    a = arbord(tree([service("plain", SLEEPER), service("web", SLEEPER)]))
    a.wait_event("start", "web")
    wait_until(lambda: a.socket.exists(), what="the control socket")
    pid = a.pid_of("web")
    a.config.write_text(limited_tree())
    r = ctl(a, "--json", "reload")
    assert r.returncode != 0
    out = json.loads(r.stdout)
    assert out["error"] == ERR + "ConfigInvalid", out
    failed = a.wait_event("reload_failed")
    assert f"{a.config}:4: child 'web': memory_max: the memory " \
           "controller is not available" in failed["error"], failed
    assert a.pid_of("web") == pid
    assert not a.find("change")


def test_added_child_with_a_limit_without_its_controller_is_refused(arbord):
    """arborctl add: a child whose limit cannot apply is not added."""
    a = arbord(tree([service("plain", SLEEPER)]))
    a.wait_event("start", "plain")
    wait_until(lambda: a.socket.exists(), what="the control socket")
    r = ctl(a, "add", "/", 'name = "x"; exec = [ "/bin/sleep", "1000" ]; '
            'pids_max = 20;')
    assert r.returncode != 0
    assert "pids_max: the pids controller is not available" in r.stderr, \
        r.stdout + r.stderr
    assert not a.find("start", "x")
