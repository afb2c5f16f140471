"""The execution context of a service (issue 4, item 4): its identity,
limits, priority, umask, no_new_privileges and environment, as the kernel
shows them in /proc/PID, and a context that cannot be set up as a start
failure."""

import grp
import os
import pwd

import pytest

from conftest import SLEEPER, service, tree, wait_until

CLEAN_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
PROTOCOL = ("LISTEN_FDS", "LISTEN_PID", "LISTEN_FDNAMES", "NOTIFY_SOCKET",
            "WATCHDOG_USEC", "WATCHDOG_PID")
ROOT = os.geteuid() == 0


def proc_status(pid):
    with open(f"/proc/{pid}/status") as f:
        return dict(line.rstrip("\n").split(":\t", 1) for line in f
                    if ":\t" in line)


def proc_limits(pid):
    """'Max open files' -> ('1234', '1234'): soft and hard."""
    out = {}
    with open(f"/proc/{pid}/limits") as f:
        next(f)  # the header
        for line in f:
            name, soft, hard = line[:26].strip(), *line[26:].split()[:2]
            out[name] = (soft, hard)
    return out


def proc_nice(pid):
    with open(f"/proc/{pid}/stat") as f:
        return int(f.read().rsplit(")", 1)[1].split()[16])


def proc_environ(pid):
    with open(f"/proc/{pid}/environ", "rb") as f:
        data = f.read().decode()
    return dict(kv.split("=", 1) for kv in data.split("\0") if kv)


def me():
    return pwd.getpwuid(os.geteuid())


def clean_env(user):
    """The clean environment of a service running as user (a pwd entry)."""
    return {"PATH": CLEAN_PATH, "HOME": user.pw_dir, "USER": user.pw_name,
            "LOGNAME": user.pw_name, "SHELL": user.pw_shell}


def started(a, path):
    return int(a.wait_event("start", path)["pid"])


@pytest.mark.skipif(not ROOT, reason="changing identity needs root")
def test_user_group_limits_umask_nice(arbord):
    """A service started as nobody/nogroup with rlimits, a umask and a nice
    value runs with exactly those: all ids, initgroups' supplementary
    groups, soft and hard limits, no_new_privileges."""
    nobody = pwd.getpwnam("nobody")
    nogroup = grp.getgrnam("nogroup").gr_gid
    a = arbord(tree([service(
        "c", SLEEPER, user='"nobody"', group='"nogroup"', umask='"027"',
        nice=5, no_new_privileges="true",
        rlimits='{ nofile = 1234; nproc = "100:200"; core = "infinity"; }')]))
    pid = started(a, "c")
    status = proc_status(pid)
    assert status["Uid"].split() == [str(nobody.pw_uid)] * 4
    assert status["Gid"].split() == [str(nogroup)] * 4
    assert sorted(int(g) for g in status["Groups"].split()) == \
        sorted(set(os.getgrouplist("nobody", nogroup)))
    assert status["Umask"] == "0027"
    assert status["NoNewPrivs"] == "1"
    limits = proc_limits(pid)
    assert limits["Max open files"] == ("1234", "1234")
    assert limits["Max processes"] == ("100", "200")
    assert limits["Max core file size"] == ("unlimited", "unlimited")
    assert proc_nice(pid) == 5
    assert proc_environ(pid) == clean_env(nobody)
    assert a.stop() == 0


def test_defaults_change_nothing(arbord):
    """Without context keys a service keeps arbord's ids, umask, nice value
    and limits, and may gain privileges."""
    a = arbord(tree([service("c", SLEEPER)]))
    pid = started(a, "c")
    status, mine = proc_status(pid), proc_status(os.getpid())
    for key in ("Uid", "Gid", "Umask", "NoNewPrivs"):
        assert status[key] == mine[key]
    assert proc_nice(pid) == proc_nice(a.proc.pid)
    assert proc_limits(pid)["Max open files"] == \
        proc_limits(a.proc.pid)["Max open files"]
    assert a.stop() == 0


def test_no_new_privileges(arbord):
    """no_new_privileges = true sets the flag; an unprivileged arbord can do
    it too."""
    a = arbord(tree([service("c", SLEEPER, no_new_privileges="true")]))
    assert proc_status(started(a, "c"))["NoNewPrivs"] == "1"
    assert a.stop() == 0


def test_clean_environment_is_exactly_the_users_and_env(arbord):
    """By default a service gets PATH, HOME, USER, LOGNAME, SHELL of its
    user and its env entries, nothing of arbord's; an env entry replaces a
    clean one (PATH)."""
    user = me()
    a = arbord(tree([
        service("plain", SLEEPER, user=f'"{user.pw_name}"'),
        service("env", SLEEPER, user=f'"{user.pw_name}"',
                env='[ "A=1", "B=two words", "PATH=/usr/bin:/bin" ]'),
    ]))
    assert proc_environ(started(a, "plain")) == clean_env(user)
    assert proc_environ(started(a, "env")) == dict(
        clean_env(user), A="1", B="two words", PATH="/usr/bin:/bin")
    assert a.stop() == 0


def test_inherit_env_passes_arbords_environment(arbord, monkeypatch):
    """inherit_env = true starts from arbord's environment, with the env
    entries over it; the protocol variables systemd may have given arbord
    itself are not passed on (they describe arbord, not the service)."""
    monkeypatch.setenv("ARBOR_TEST_INHERITED", "from arbord")
    monkeypatch.setenv("ARBOR_TEST_REPLACED", "from arbord")
    # Pids that are not arbord's: arbord itself ignores them.
    for key in ("LISTEN_FDS", "LISTEN_PID", "WATCHDOG_PID"):
        monkeypatch.setenv(key, "1")
    a = arbord(tree([service("c", SLEEPER, inherit_env="true",
                             env='[ "ARBOR_TEST_REPLACED=from env" ]')]))
    pid = started(a, "c")
    expected = {k: v for k, v in proc_environ(a.proc.pid).items()
                if k not in PROTOCOL}
    expected["ARBOR_TEST_REPLACED"] = "from env"
    env = proc_environ(pid)
    assert env == expected
    assert env["ARBOR_TEST_INHERITED"] == "from arbord"
    assert a.stop() == 0


def test_env_file_entries_arrive_and_env_overrides_them(arbord, tmp_path):
    """env_file's KEY=value lines reach the service (comments and blank
    lines skipped); an env entry for the same key wins."""
    env_file = tmp_path / "service.env"
    env_file.write_text("# settings\nFROM_FILE=1\n\nSHARED=from file\n")
    a = arbord(tree([service("c", SLEEPER, env_file=f'"{env_file}"',
                             env='[ "SHARED=from env" ]')]))
    env = proc_environ(started(a, "c"))
    assert env["FROM_FILE"] == "1"
    assert env["SHARED"] == "from env"
    assert "settings" not in "".join(env)
    assert a.stop() == 0


def expect_start_failure(a, error, step):
    ev = a.wait_event("start_failed", "c")
    assert ev["error"] == error
    assert a.wait_exit() == 1  # the root gives up: nothing can start
    assert not a.find("start", "c")
    assert any(f"arbord: child 'c': cannot start /bin/sleep: {step}: {error}"
               in line for line in a.lines), a.lines[-10:]


@pytest.mark.skipif(not ROOT, reason="changing identity needs root")
def test_cwd_the_user_may_not_enter_is_a_start_failure(arbord, tmp_path):
    """A context that cannot be set up is a start failure like a failed
    exec: event=start_failed with the error, and a diagnostic naming the
    step that failed. The directory is entered as the service's user, so
    root's private directory is not a cwd for nobody."""
    private = tmp_path / "private"
    private.mkdir(mode=0o700)
    a = arbord(tree([service("c", SLEEPER, user='"nobody"',
                             cwd=f'"{private}"')]))
    expect_start_failure(a, "Permission denied", "chdir")


def test_limit_beyond_the_kernels_is_a_start_failure(arbord):
    """An rlimit the kernel refuses (nofile above fs.nr_open, refused even
    to root) is a start failure, not a service running without it."""
    with open("/proc/sys/fs/nr_open") as f:
        too_many = int(f.read()) + 1
    a = arbord(tree([service("c", SLEEPER,
                             rlimits=f"{{ nofile = {too_many}; }}")]))
    expect_start_failure(a, "Operation not permitted", "setrlimit")
