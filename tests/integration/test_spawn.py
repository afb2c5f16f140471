"""Starting a service never holds arbord's loop (issue 11, bug 4).

A child that has not exec'ed yet may sit for ever in a step that touches a
file system: chdir to its cwd, the lookup of its program. These tests put a
service's cwd under a FUSE mount whose server never answers, not even the
kernel's INIT, so every lookup there waits. arbord must go on meanwhile:
answer Status, restart other services, and stop the hung start or shut
down when asked.

The mount is made with mount(2) on a /dev/fuse descriptor that the test
holds and never reads (no FUSE library needed); it needs root and
/dev/fuse, and the tests skip without them. It is always detached and its
descriptor closed (which aborts every request still waiting) at the end,
pass or fail, before arbord's own clean-up.
"""

import ctypes
import os
import signal

import pytest

from conftest import SLEEPER, SLOW, pid_alive, service, supervisor, tree, \
    wait_until
from ctlclient import SUP, call, status_by_path

MNT_DETACH = 2


class SilentFuse:
    """A FUSE file system on mountpoint that never answers anything."""

    def __init__(self, mountpoint):
        self.mountpoint = str(mountpoint)
        self.libc = ctypes.CDLL(None, use_errno=True)
        self.fd = -1
        self.mounted = False
        try:
            self.fd = os.open("/dev/fuse", os.O_RDWR | os.O_CLOEXEC)
        except OSError as e:
            pytest.skip(f"/dev/fuse cannot be opened: {e}")
        opts = f"fd={self.fd},rootmode=40000,user_id=0,group_id=0"
        if self.libc.mount(b"silent", self.mountpoint.encode(), b"fuse.silent",
                           0, opts.encode()) != 0:
            err = ctypes.get_errno()
            os.close(self.fd)
            pytest.skip(f"cannot mount FUSE on {self.mountpoint}: "
                        f"{os.strerror(err)} (needs root)")
        self.mounted = True

    def close(self):
        """Detach (no request needed), then close: waiters get ENOTCONN."""
        if self.mounted:
            self.libc.umount2(self.mountpoint.encode(), MNT_DETACH)
            self.mounted = False
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1


@pytest.fixture
def hung_dir(tmp_path):
    """mount(): a FUSE mount that never answers hides tmp_path/mnt/sub,
    which exists until then (a cwd that can be checked at load). Yields
    (path of sub, mount function, set of pids to kill at the end)."""
    mnt = tmp_path / "mnt"
    sub = mnt / "sub"
    sub.mkdir(parents=True)
    if not os.path.exists("/dev/fuse"):
        pytest.skip("no /dev/fuse")
    if os.geteuid() != 0:
        pytest.skip("mounting FUSE without fusermount needs root")
    mounts = []
    victims = set()

    def mount():
        mounts.append(SilentFuse(mnt))

    try:
        yield str(sub), mount, victims
    finally:
        for m in mounts:
            m.close()
        for pid in victims:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass


def hung_children(arbord_pid):
    """arbord's children that have not exec'ed: they are still 'arbord'."""
    found = []
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat") as f:
                stat = f.read()
        except OSError:
            continue
        comm = stat[stat.index("(") + 1:stat.rindex(")")]
        fields = stat.rsplit(")", 1)[1].split()
        if int(fields[1]) == arbord_pid and comm == "arbord":
            found.append((int(name), fields[0]))
    return found


def wchan(pid):
    try:
        with open(f"/proc/{pid}/wchan") as f:
            return f.read().strip()
    except OSError:
        return "?"


def hang_the_restart(a, mount, victims):
    """Mounts the silent FUSE over the cwd of 'hung', kills its process:
    its restart hangs in chdir. The pid of the child stuck before exec."""
    first = a.pid_of("hung")
    mount()
    os.kill(first, signal.SIGKILL)
    a.wait_event("exit", "hung")
    stuck = wait_until(lambda: hung_children(a.proc.pid), 10,
                       "a child of arbord stuck before exec")
    pid, state = stuck[0]
    victims.add(pid)
    print(f"stuck child {pid}: state {state}, wchan {wchan(pid)}")
    return pid


def config(cwd):
    return tree([supervisor("other",
                            [service("crasher",
                                     ["/bin/sh", "-c", "sleep 0.2; exit 1"])],
                            intensity=1000, period='"10s"'),
                 service("hung", SLEEPER, cwd=f'"{cwd}"')],
                intensity=10, period='"10s"')


def test_a_start_hung_before_exec_does_not_stop_the_loop(arbord, hung_dir):
    """Bug: spawn used CLONE_VFORK, so arbord slept until the child exec'ed;
    a cwd on a mount that never answers froze reaping, timers, the control
    socket and shutdown. Now Status answers, other services restart, and a
    stop of the hung start kills it (SIGKILL reaches a FUSE wait) and is
    done."""
    cwd, mount, victims = hung_dir
    a = arbord(config(cwd))
    a.wait_event("start", "hung")
    wait_until(lambda: a.socket.exists(), what="the control socket")
    stuck = hang_the_restart(a, mount, victims)

    nodes = status_by_path(a.socket, timeout=5.0 * SLOW)
    assert nodes["hung"]["state"] == "starting", nodes["hung"]
    restarts = len(a.find("start", "other/crasher"))
    a.wait_event("start", "other/crasher", count=restarts + 2, timeout=10)
    assert pid_alive(stuck), "the start ended by itself: nothing was tested"

    assert call(a.socket, SUP + "Stop", {"path": "hung"},
                timeout=10.0 * SLOW) == {}
    wait_until(lambda: not pid_alive(stuck), 5, "the stuck child's death")
    failed = a.wait_event("start_failed", "hung")
    assert failed["error"] == "Operation canceled", failed
    assert status_by_path(a.socket)["hung"]["state"] == "down"
    assert a.stop() == 0


def test_shutdown_cancels_a_start_hung_before_exec(arbord, hung_dir):
    """Bug: a shutdown waited behind a start stuck before exec for ever.
    Now SIGTERM cancels that start (SIGKILL) and arbord exits 0."""
    cwd, mount, victims = hung_dir
    a = arbord(config(cwd))
    a.wait_event("start", "hung")
    stuck = hang_the_restart(a, mount, victims)

    a.signal(signal.SIGTERM)
    assert a.wait_exit(timeout=10) == 0, a.lines[-20:]
    wait_until(lambda: not pid_alive(stuck), 5, "the stuck child's death")
    assert a.lines[-1].strip() == "event=down"


def test_shutdown_during_boot_cancels_a_nested_start_hung_before_exec(
        arbord, hung_dir):
    """Bug: SIGTERM while the boot waited for a supervisor whose own start
    hung before exec (its service's cwd on a mount that never answers)
    waited for ever. Now the hung start is cancelled, what had started is
    stopped, and arbord exits 0."""
    cwd, mount, victims = hung_dir
    go = os.path.join(os.path.dirname(os.path.dirname(cwd)), "go")
    gate = ["/bin/sh", "-c",
            f"while [ ! -e {go} ]; do sleep 0.01; done; echo >&3; "
            "exec sleep 1000"]
    a = arbord(tree([supervisor("s", [service("gate", gate,
                                              ready='"fd:3"'),
                                      service("hung", SLEEPER,
                                              cwd=f'"{cwd}"')])]))
    a.wait_event("start", "s/gate")
    mount()
    with open(go, "w"):
        pass
    stuck = wait_until(lambda: hung_children(a.proc.pid), 10,
                       "a child of arbord stuck before exec")[0][0]
    victims.add(stuck)

    a.signal(signal.SIGTERM)
    assert a.wait_exit(timeout=10) == 0, a.lines[-20:]
    wait_until(lambda: not pid_alive(stuck), 5, "the stuck child's death")
    assert a.find("stop", "s/gate"), a.lines[-20:]
    assert a.lines[-1].strip() == "event=down"
