"""arbord as /init of a real Linux kernel under qemu, read from the console.

What only a real boot shows: arbord is PID 1 with the console as its
standard streams, mounts what a system needs, runs and restarts services,
answers arborctl inside the guest, and ends the machine with reboot(2)
after stopping everything in reverse order. scenarios.py has the systems
booted; every assertion message carries the console with timestamps.
"""

import json
import re

from harness import boots  # noqa: F401 (the fixture)
from logfmt import parse_logfmt
from scenarios import SERVICES

# arborctl colours the states when its output is a terminal: the console.
ANSI = re.compile(r"\x1b\[[0-9;]*m")


def events(boot, kind=None, path=None):
    """arbord's event lines on the console, parsed, in order."""
    out = []
    for line in boot.text():
        if not line.startswith("event="):
            continue
        ev = parse_logfmt(line)
        if ((kind is None or ev.get("event") == kind)
                and (path is None or ev.get("path") == path)):
            out.append(ev)
    return out


def in_order(boot, patterns):
    """Asserts that lines match the regular expressions, one after
    another (other lines may come between)."""
    lines, at = boot.text(), 0
    for pattern in patterns:
        rx = re.compile(pattern)
        while at < len(lines) and not rx.search(lines[at]):
            at += 1
        assert at < len(lines), (f"no line /{pattern}/ after the ones "
                                 f"before it in {patterns}\n"
                                 + boot.console())
        at += 1


def index(lines, needle, start=0):
    """The index of the first line from start that contains needle."""
    for i in range(start, len(lines)):
        if needle in lines[i]:
            return i
    return None


def test_boot_does_the_duties_of_init(boots):
    """As process 1 of a real kernel, arbord knows it is the system's
    init, mounts /proc, /sys, /dev and /run, and sets the hostname from
    /etc/hostname, before it starts the tree."""
    boot, ending = boots.wait("boot")
    in_order(boot, [
        r"^event=mode mode=init real_pid1=true in_container=false$",
        r"^event=mount target=/proc fstype=proc result=mounted$",
        r"^event=mount target=/sys fstype=sysfs result=mounted$",
        r"^event=mount target=/dev fstype=devtmpfs result=mounted$",
        r"^event=mount target=/run fstype=tmpfs result=mounted$",
        r"^event=hostname name=arbor-boot result=set$",
        r"^event=start path=/$"])
    assert not [e for e in events(boot) if "error" in e], boot.console()


def test_boot_runs_services_in_order(boots):
    """Boots to every service running, started one after another in the
    order of the configuration, each seen running by its own output."""
    boot, ending = boots.wait("boot")
    why = boot.console()
    starts = [e["path"] for e in events(boot, "start") if "pid" in e]
    assert starts[:4] == [*SERVICES, "driver"], why
    for name in SERVICES:
        assert boot.find(rf"^{name}: up pid=\d+$"), why
    assert boot.find(r"^driver: up$"), why


def test_boot_restarts_a_killed_service(boots):
    """A service killed with SIGKILL is reported as a crash and started
    again, with a new pid."""
    boot, ending = boots.wait("boot")
    why = boot.console()
    killed = boot.find(r"^driver: killing b pid=(\d+)$")
    assert killed, why
    old = killed[1].rsplit("=", 1)[1]
    exits = events(boot, "exit", "b")
    assert len(exits) == 1, why
    assert exits[0]["pid"] == old, why
    assert exits[0].get("signal") == "KILL", why
    assert exits[0]["reason"] == "crash", why
    starts = events(boot, "start", "b")
    assert len(starts) == 2 and starts[1]["pid"] != old, why
    assert boot.find(rf"^driver: b restarted pid={starts[1]['pid']}$"), why


def test_boot_arborctl_status_in_the_guest(boots):
    """arborctl status answers inside the guest, on the default socket,
    and shows every service running."""
    boot, ending = boots.wait("boot")
    lines = boot.text()
    why = boot.console()
    begin = index(lines, "driver: status begin")
    end = index(lines, "driver: status end", begin or 0)
    assert begin is not None and end is not None, why
    assert lines[end] == "driver: status end rc=0", why
    # arborctl's output is the driver's: on the console with its path.
    status = [ANSI.sub("", line[len("driver: "):])
              for line in lines[begin + 1:end]
              if line.startswith("driver: ")]
    assert status and status[0].split()[:2] == ["/", "supervisor"], why
    for name in [*SERVICES, "driver"]:
        row = [line for line in status if f" {name} " in line]
        assert len(row) == 1, why
        assert " up " in row[0] and " pid " in row[0], why


def test_boot_poweroff_stops_in_reverse_order(boots):
    """arborctl poweroff stops every service, in the reverse order of
    their start, then powers the machine off: qemu exits by itself."""
    boot, ending = boots.wait("boot")
    lines = boot.text()
    why = boot.console()
    assert ending == "poweroff", why
    asked = index(lines, "driver: poweroff")
    assert asked is not None, why
    stops = [e["path"] for e in events(boot, "stop")]
    assert stops[:4] == ["driver", *reversed(SERVICES)], why
    # Each service saw its TERM, after the poweroff was asked for, and
    # before the kernel's last words.
    off = index(lines, "reboot: Power down")
    for name in SERVICES:
        got = index(lines, f"{name}: got TERM", asked)
        assert got is not None and got < off, why
    assert not boot.find("Kernel panic"), why


def test_boot_poweroff_ends_with_the_final_shutdown(boots):
    """After the tree is down: what is left is killed, the disks are
    synced and unmounted, and reboot(2) powers the machine off."""
    boot, ending = boots.wait("boot")
    in_order(boot, [
        r"^driver: poweroff$",
        r"^event=shutdown action=poweroff reason=request$",
        r"^event=stop path=a ",
        r"^event=down$",
        r"^event=killall signal=TERM$",
        r"^event=sync$",
        r"^event=unmount unmounted=\d+ readonly=\d+ failed=0$",
        r"^event=reboot action=poweroff$",
        r"reboot: Power down$"])


def test_crash_loop_makes_the_root_give_up_and_reboot(boots):
    """A service that keeps crashing exhausts the root's intensity: the
    root gives up, stops the rest, and as init arbord reboots the machine
    (qemu exits because of -no-reboot) instead of exiting."""
    boot, ending = boots.wait("crashloop")
    why = boot.console()
    assert ending == "restart", why
    crashes = events(boot, "exit", "crasher")
    assert len(crashes) == 3, why
    assert all(e["reason"] == "crash" and e.get("code") == "1"
               for e in crashes), why
    assert [e["path"] for e in events(boot, "stop")] == ["steady"], why
    assert boot.find("^steady: got TERM$"), why
    in_order(boot, [
        r"^event=exit path=crasher .*reason=crash$",
        r"^event=giveup path=/$",
        r"^event=stop path=steady ",
        r"^event=down$",
        r"^event=on_giveup action=reboot status=1$",
        r"^event=shutdown action=reboot reason=giveup$",
        r"^event=killall signal=TERM$",
        r"^event=sync$",
        r"^event=unmount unmounted=\d+ readonly=\d+ failed=0$",
        r"^event=reboot action=reboot$",
        r"reboot: Restarting system$"])
    assert not boot.find("Kernel panic"), why


def test_bad_configuration_starts_the_emergency_shell_not_a_reboot_loop(
        boots):
    """Bug: a configuration with errors made the system's init reboot,
    and the next boot read the same file: a reboot loop. It starts the
    emergency shell on the console instead, saying why with the file:line
    of the error; the shell answers what is typed into it, and the system
    reboots only when it exits."""
    boot, ending = boots.wait("badconfig")
    why = boot.console()
    in_order(boot, [
        r"^arbord: /etc/arbor/arbor.conf:3: syntax error$",
        r"^event=on_giveup action=shell status=1 "
        r'error="/etc/arbor/arbor.conf:3: syntax error"$',
        r"^arbord: /etc/arbor/arbor.conf:3: syntax error: starting the "
        r"emergency shell /bin/sh on the console",
        r"^shell-answers-42$",
        r"^event=shutdown action=reboot reason=shell$",
        r"^event=reboot action=reboot$",
        r"reboot: Restarting system$"])
    assert ending == "restart", why
    assert not boot.find("Kernel panic"), why


def test_bad_configuration_without_a_shell_reboots_once(boots):
    """With no emergency shell (/bin/sh) to start, the system's init
    says so with the file:line of the error and reboots (qemu exits
    because of -no-reboot), once, instead of exiting and panicking."""
    boot, ending = boots.wait("badconfig_noshell")
    why = boot.console()
    in_order(boot, [
        r"^event=on_giveup action=reboot status=1 "
        r'error="/etc/arbor/arbor.conf:3: syntax error"$',
        r"^arbord: no emergency shell: /bin/sh: No such file or directory; "
        r"rebooting$",
        r"^event=shutdown action=reboot reason=giveup$",
        r"^event=reboot action=reboot$",
        r"reboot: Restarting system$"])
    assert ending == "restart", why
    assert len(events(boot, "mode")) == 1, why
    assert not boot.find("Kernel panic"), why


def test_reexec_as_the_systems_init(boots):
    """arbord, PID 1 of a real kernel, re-execs into a new binary and
    keeps supervising: b's process is kept, then killed and restarted by
    the new image; a binary that cannot start is refused and the system
    stays up; poweroff ends it as it would have."""
    boot, ending = boots.wait("reexec")
    why = boot.console()
    assert ending == "poweroff", why
    in_order(boot, [
        r"^event=reexec from=\S+ to=\S+ binary=/tmp/arbord-new$",
        r"^event=resumed from=\S+ to=\S+ away_ms=\d+$",
        r"^driver: reexec: arbord \S+ -> \S+ \(/tmp/arbord-new\)",
        r"^driver: reexec rc=0$",
        r"^event=reexec_failed step=probe ",
        r"^driver: refused rc=1$",
        r"^driver: b kept pid=\d+$",
        r"^driver: exe /tmp/arbord-new$",
        r"^event=exit path=b ",
        r"^driver: b restarted pid=\d+$",
        r"^event=reboot action=poweroff$",
        r"reboot: Power down$"])
    assert not boot.find("Kernel panic"), why


def test_usage_from_the_cgroups_with_every_controller(boots):
    """As init, arbord has every controller: status --stats reads each
    number from the cgroups (source cgroup): tasks from pids.current (a
    shell and its three sleeps are 4), memory from memory.current (8 MiB
    written to the root file system are charged to the writer's cgroup),
    the peak, CPU time, OOM kills; a supervisor's are its subtree's; the
    text fits 80 columns; metrics answers."""
    boot, ending = boots.wait("usage")
    why = boot.console()
    assert ending == "poweroff", why
    found = boot.find(r"^driver: stats ")
    assert found, why
    reply = json.loads(found[1][len("driver: stats "):])
    containment = reply["containment"]
    assert containment["mode"] == "cgroup2", why
    assert {"memory", "pids", "cpu"} <= set(containment["controllers"]), why
    nodes = {n["path"]: n["stats"] for n in reply["nodes"]}
    assert {s["source"] for s in nodes.values()} == {"cgroup"}, why
    forks, fill, grp = nodes["grp/forks"], nodes["grp/fill"], nodes["grp"]
    assert forks["tasks"] == 4, why
    assert fill["memory"] >= 8 * 1024 * 1024, why
    assert fill["memory_peak"] >= fill["memory"], why
    assert fill["oom_kills"] == 0, why
    assert grp["tasks"] == forks["tasks"] + fill["tasks"], why
    assert grp["memory"] >= fill["memory"] + forks["memory"] - 65536, why
    assert grp["cpu_usec"] >= fill["cpu_usec"], why
    lines = boot.text()
    begin = index(lines, "driver: text begin")
    end = index(lines, "driver: text end", begin or 0)
    assert begin is not None and lines[end] == "driver: text end rc=0", why
    text = [ANSI.sub("", line[len("driver: "):])
            for line in lines[begin + 1:end]]
    assert text[0].split() == ["NAME", "STATE", "PID", "MEM", "PEAK",
                               "CPU", "TASKS"], why
    assert all(len(line) <= 80 for line in text), why
    assert text[-1].startswith("stats: from the cgroups"), why
    assert boot.find(r"^driver: metrics rc=0 samples=\d\d+$"), why


def test_boot_contains_the_tree_in_cgroup2(boots):
    """As the system's init arbord mounts cgroup2 at /sys/fs/cgroup, takes
    its root as base, enables the controllers the kernel has, moves itself
    into /arbord and starts each service in its leaf (issue 15)."""
    boot, ending = boots.wait("boot")
    why = boot.console()
    found = events(boot, "containment")
    assert found and found[0]["mode"] == "cgroup2", why
    assert found[0]["cgroup"] == "/sys/fs/cgroup", why
    assert "memory" in found[0]["controllers"].split(), why
    assert boot.find(r"^driver: b in 0::/tree/b$"), why


# ---- cgroup limits (issue 15) ----


def driver_number(boot, label):
    """The number that ends the driver's line "driver: LABEL ... N", or
    None (boot.find gives the line as its second item)."""
    found = boot.find(rf"^driver: {re.escape(label)} (.* )?\d+$")
    return int(found[1].rsplit(" ", 1)[-1]) if found else None


def test_memory_max_kills_with_reason_oom_and_restarts(boots):
    """A service with memory_max = "32M" that allocates 64M is killed by
    the kernel's OOM killer in its cgroup: its exit says reason=oom, and
    it is started again (calm, the second time)."""
    boot, ending = boots.wait("limits_memory")
    why = boot.console()
    assert ending == "poweroff", why
    assert boot.find(r"^event=containment mode=cgroup2 cgroup=/sys/fs/cgroup "
                     r'controllers="cpu io memory pids"$'), why
    exits = events(boot, "exit", "hog")
    assert len(exits) == 1, why
    assert exits[0].get("signal") == "KILL", why
    assert exits[0]["reason"] == "oom", why
    starts = events(boot, "start", "hog")
    assert len(starts) == 2 and starts[1]["pid"] != exits[0]["pid"], why
    assert boot.find(r"^hog: calm pid=\d+$"), why
    assert driver_number(boot, "hog memory.max") == 32 << 20, why
    assert driver_number(boot, "hog oom_kill") == 1, why


def test_supervisor_memory_max_caps_its_subtree(boots):
    """A supervisor's memory_max = "48M" caps its two services together:
    each asks for 32M, neither has a limit of its own, and their sum never
    passes 48M; what the OOM killer took exits with reason=oom."""
    boot, ending = boots.wait("limits_memory")
    why = boot.console()
    assert driver_number(boot, "grp memory.max") == 48 << 20, why
    peak = driver_number(boot, "grp memory.peak")
    assert peak is not None and peak <= 48 << 20, why
    assert driver_number(boot, "grp oom_kill") >= 1, why
    assert boot.find(r"^driver: m1 memory.max max$"), why
    killed = [e for p in ("grp/m1", "grp/m2") for e in events(boot, "exit", p)]
    assert killed and all(e["reason"] == "oom" for e in killed), why


def test_reload_changes_memory_max_in_place(boots):
    """A reload that lowers a running service's memory_max writes its
    cgroup's memory.max without restarting it: the plan says in-place,
    the event names the key, and the pid is the same."""
    boot, ending = boots.wait("limits_memory")
    why = boot.console()
    assert driver_number(boot, "tuned before") == 64 << 20, why
    in_order(boot, [
        r"^event=change path=tuned apply=in-place keys=memory_max$",
        r'^driver:       memory_max: "64M" -> "48M"$',
        r"^driver: reload rc=0$",
        r"^driver: tuned after 50331648$",
        r"^driver: tuned kept pid=\d+$"])
    assert len(events(boot, "start", "tuned")) >= 1, why
    assert not events(boot, "exit", "tuned"), why


def test_a_limit_dropped_after_a_reexec_is_lifted(boots):
    """After a re-exec, a reload that restarts tuned (its exec changed)
    and drops its memory_max: the new image, which did not write the
    48M, still lifts it (the leaf is made anew before the restart)."""
    boot, ending = boots.wait("limits_memory")
    why = boot.console()
    in_order(boot, [r"^driver: reexec rc=0$",
                    r"^driver: reload again rc=0$",
                    r"^driver: tuned lifted max$"])
    assert len(events(boot, "start", "tuned")) == 2, why


def test_reload_changes_a_pool_templates_limits_in_its_instances(boots):
    """A pool's memory_max is its cgroup's (all instances together), its
    template's each instance's; a reload that changes the template's
    reaches the running instance in place."""
    boot, ending = boots.wait("limits_memory")
    why = boot.console()
    assert driver_number(boot, "pool memory.max") == 128 << 20, why
    assert driver_number(boot, "instance before") == 16 << 20, why
    in_order(boot, [
        r"^event=change path=workers apply=in-place "
        r"keys=template\.memory_max$",
        r"^driver: reload rc=0$",
        r"^driver: instance after 25165824$",
        r"^driver: worker kept pid=\d+$"])


def test_pids_max_contains_a_fork_bomb(boots):
    """A fork bomb in a service with pids_max = 20 stays at 20 tasks;
    arbord answers arborctl status and its sibling keeps running; a stop
    of the service empties its cgroup, bomb included."""
    boot, ending = boots.wait("limits_pids_cpu")
    why = boot.console()
    assert ending == "poweroff", why
    assert driver_number(boot, "bomb pids.max") == 20, why
    assert driver_number(boot, "bomb pids.current") <= 20, why
    assert driver_number(boot, "bomb pids.events max") > 0, why
    assert boot.find(r"^driver: status end rc=0$"), why
    assert boot.find(r"^driver: a kept pid=\d+$"), why
    assert not events(boot, "exit", "a"), why
    assert boot.find(r"^driver: stop bomb rc=0$"), why
    assert boot.find(r"^driver: bomb after stop populated 0$"), why
    assert not boot.find("Kernel panic"), why


def test_cpu_max_throttles_a_busy_loop(boots):
    """A busy loop with cpu_max = "10%" runs 10 ms in each 100 ms: its
    cgroup's cpu.max says so and cpu.stat counts throttled periods."""
    boot, ending = boots.wait("limits_pids_cpu")
    why = boot.console()
    assert boot.find(r"^driver: busy cpu.max 10000 100000$"), why
    assert driver_number(boot, "busy nr_throttled") > 0, why
