"""The systems the boot tests boot: an arbor.conf and the scripts it runs.

A guest has no channel to the test but its console, so each scenario is
driven from inside: the last service, "driver", is a busybox sh script that
does what the test wants (arborctl status, kill a service, arborctl
poweroff) and prints what it saw between "driver:" markers. Services print
"up pid=N" when they run and "got TERM" when stopped; arbord, as the
system's init, shows them on the console as "NAME: up pid=N".
arbord's own event lines (event=start ...) reach the console on its
standard error.
"""

SERVICES = ("a", "b", "c")

# A long-running service: says it runs, keeps its pid where the driver
# finds it, and says it was stopped. The sleep runs in the background so
# that the trap runs as soon as TERM arrives.
SVC = r"""#!/bin/sh
export PATH=/bin
name=$1
echo $$ > /tmp/$name.pid
echo "up pid=$$"
trap 'echo "got TERM"; exit 0' TERM
while :; do sleep 1000 & wait $!; done
"""

# Waits (bounded) until every service has written its pid, then drives.
DRIVER_HEAD = r"""#!/bin/sh
export PATH=/bin
echo "up"
for n in %(services)s; do
	i=0
	while [ ! -s /tmp/$n.pid ] && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
done
"""

# Kills b (pid $old) and waits, bounded, for its restart's new pid.
KILL_B = r"""kill -KILL "$old"
i=0
new=$old
while [ $i -lt 100 ]; do
	new=$(cat /tmp/b.pid 2>/dev/null)
	[ -n "$new" ] && [ "$new" != "$old" ] && break
	sleep 0.1
	i=$((i + 1))
done
echo "b restarted pid=$new"
"""

# The boot scenario: status, a service killed and restarted, poweroff.
DRIVER_BOOT = DRIVER_HEAD + r"""
echo "status begin"
arborctl status
echo "status end rc=$?"
echo "b in $(grep '^0::' /proc/$(cat /tmp/b.pid)/cgroup)"
old=$(cat /tmp/b.pid)
echo "killing b pid=$old"
""" + KILL_B + r"""echo "poweroff"
arborctl poweroff
echo "poweroff rc=$?"
exec sleep 1000
"""

# The benchmark's: nothing but poweroff once every service runs.
DRIVER_BENCH = DRIVER_HEAD + r"""
echo "all up"
arborctl poweroff
exec sleep 1000
"""


# The re-exec scenario: arbord (/init) is copied to another file, the new
# binary, and re-exec'd into it; a binary that cannot start is refused;
# then b is killed and restarted by the new image, which powers off.
DRIVER_REEXEC = DRIVER_HEAD + r"""
old=$(cat /tmp/b.pid)
cp /init /tmp/arbord-new
arborctl reexec --binary /tmp/arbord-new
echo "reexec rc=$?"
arborctl reexec --binary /bin/false
echo "refused rc=$?"
[ "$(cat /tmp/b.pid)" = "$old" ] && echo "b kept pid=$old"
echo "exe $(readlink /proc/1/exe)"
""" + KILL_B + r"""arborctl poweroff
exec sleep 1000
"""


# The usage scenario: a service that forked three sleeps (4 tasks), one
# that wrote 8 MiB into the root file system (memory charged to its
# cgroup), and the stats, JSON and text, and the metrics, once they show.
DRIVER_USAGE = r"""#!/bin/sh
export PATH=/bin
echo "up"
i=0
until arborctl --json status --stats grp/forks | grep -q '"tasks":4' &&
	[ -s /tmp/filled ] || [ $i -ge 100 ]; do
	sleep 0.1
	i=$((i + 1))
done
echo "stats $(arborctl --json status --stats)"
echo "text begin"
arborctl status --stats
echo "text end rc=$?"
arborctl metrics > /tmp/metrics
echo "metrics rc=$? samples=$(grep -c '^arbor_' /tmp/metrics)"
arborctl poweroff
exec sleep 1000
"""

USAGE_CONFIG = (
    "# The usage test: a supervisor of two services, and the driver.\n"
    "children = (\n"
    '  { name = "grp"; children = (\n'
    '    { name = "forks"; exec = [ "/bin/sh", "-c",\n'
    '        "sleep 1000 & sleep 1000 & sleep 1000 & wait" ]; },\n'
    '    { name = "fill"; exec = [ "/bin/sh", "-c",\n'
    '        "dd if=/dev/zero of=/tmp/fill bs=1M count=8 2>/dev/null; '
    ': > /tmp/filled; exec sleep 1000" ]; }\n'
    "  ); },\n"
    '  { name = "driver"; exec = [ "/bin/sh", "/etc/driver.sh" ];\n'
    '    restart = "temporary"; }\n'
    ");\n")


def _service(name):
    return (f'  {{ name = "{name}"; exec = [ "/bin/sh", "/etc/svc.sh", '
            f'"{name}" ]; }},\n')


def _driver():
    return ('  { name = "driver"; exec = [ "/bin/sh", "/etc/driver.sh" ];\n'
            '    restart = "temporary"; }\n')


def boot(driver=DRIVER_BOOT):
    """Three services a, b, c, then the driver: (config, files)."""
    config = ("# The boot test: services in order, then the driver.\n"
              "children = (\n"
              + "".join(_service(n) for n in SERVICES)
              + _driver() + ");\n")
    files = {"/etc/svc.sh": (SVC, 0o755),
             "/etc/driver.sh": (driver % {"services": " ".join(SERVICES)},
                                0o755)}
    return config, files


def bench():
    return boot(DRIVER_BENCH)


def usage():
    """Stats with every controller (arbord as init): (config, files)."""
    return USAGE_CONFIG, {"/etc/driver.sh": (DRIVER_USAGE, 0o755)}


def reexec():
    return boot(DRIVER_REEXEC)


def crashloop():
    """A steady service, then one that exits at once, every time: the
    root's intensity (2 in 10 s) is soon exceeded and it gives up."""
    config = ("# The crash loop: the root gives up, the system reboots.\n"
              'supervisor = { intensity = 2; period = "10s"; };\n'
              "children = (\n"
              + _service("steady")
              + '  { name = "crasher"; exec = [ "/bin/sh", "-c",\n'
              '      "echo dying; exit 1" ]; }\n'
              ");\n")
    return config, {"/etc/svc.sh": (SVC, 0o755)}


# A configuration with an error on line 3, for the system's init to refuse.
BAD_CONFIG = ("# An error on line 3: arbord cannot run this tree.\n"
              "children = (\n"
              "  oops\n"
              ");\n")

# What is typed into the emergency shell: its answer is computed, so the
# line "shell-answers-42" can only come from a shell that ran it.
SHELL_INPUT = "echo shell-answers-$((6 * 7)); exit\n"


def badconfig():
    """A configuration with an error: the emergency shell starts; the
    test types SHELL_INPUT into it (harness.ANSWERS)."""
    return BAD_CONFIG, {}


def badconfig_noshell():
    """The same configuration, and no /bin/sh in the initramfs
    (harness.OMIT): no emergency shell to start."""
    return BAD_CONFIG, {}


# ---- cgroup limits (issue 15): arbord as init has every controller ----

# Where the guest's arbord puts a node's cgroup (daemon/cgroup.h).
CG = "/sys/fs/cgroup/tree"

# Runs once (a marker in /tmp), then is calm: what outgrows its limit is
# killed by the kernel, and its restart must not do it again.
ONCE = r"""#!/bin/sh
export PATH=/bin
name=$1
shift
echo $$ > /tmp/$name.pid
if [ -e /tmp/$name.ran ]; then
	echo "calm pid=$$"
	touch /tmp/$name.calm
	exec sleep 1000
fi
touch /tmp/$name.ran
echo "allocating pid=$$"
exec "$@"
"""

# Waits, bounded (30 s: TCG is slow), until file $1 exists.
WAIT_FOR = r"""wait_for() {
	i=0
	while [ ! -e "$1" ] && [ $i -lt 300 ]; do sleep 0.1; i=$((i + 1)); done
	[ -e "$1" ] && echo "saw $1" || echo "no $1"
}
wait_for_change() {
	i=0
	while [ "$(cat "$1" 2>/dev/null)" = "$2" ] && [ $i -lt 300 ]; do
		sleep 0.1; i=$((i + 1))
	done
}
"""

# memory_max: hog outgrows 32M and is killed (reason=oom), then
# restarts calm; grp's 48M caps m1 and m2 together (32M each); a reload
# lowers tuned's memory_max from 64M to 48M in place, and raises the
# pool template's from 16M to 24M in its running instance.
DRIVER_MEMORY = DRIVER_HEAD + WAIT_FOR + r"""
wait_for /tmp/hog.calm
echo "hog memory.max $(cat %(cg)s/hog/memory.max)"
echo "hog oom_kill $(grep '^oom_kill ' %(cg)s/hog/memory.events)"
wait_for /tmp/m1.ran
wait_for /tmp/m2.ran
i=0
while [ ! -e /tmp/m1.calm ] && [ ! -e /tmp/m2.calm ] && [ $i -lt 300 ]; do
	sleep 0.1; i=$((i + 1))
done
echo "grp memory.max $(cat %(cg)s/grp/memory.max)"
echo "grp memory.peak $(cat %(cg)s/grp/memory.peak)"
echo "grp oom_kill $(grep '^oom_kill ' %(cg)s/grp/memory.events)"
echo "m1 memory.max $(cat %(cg)s/grp/m1/memory.max)"
old=$(cat /tmp/tuned.pid)
wold=$(cat /tmp/worker.pid)
echo "tuned before $(cat %(cg)s/tuned/memory.max)"
echo "pool memory.max $(cat %(cg)s/workers/memory.max)"
echo "instance before $(cat %(cg)s/workers/1/memory.max)"
sed -i -e 's/memory_max = "64M"/memory_max = "48M"/' \
	-e 's/memory_max = "16M"/memory_max = "24M"/' /etc/arbor/arbor.conf
arborctl reload
echo "reload rc=$?"
echo "tuned after $(cat %(cg)s/tuned/memory.max)"
[ "$(cat /tmp/tuned.pid)" = "$old" ] && echo "tuned kept pid=$old"
echo "instance after $(cat %(cg)s/workers/1/memory.max)"
[ "$(cat /tmp/worker.pid)" = "$wold" ] && echo "worker kept pid=$wold"
# After a re-exec, a reload that restarts tuned (its exec changed) and
# drops its memory_max: the new image lifts the limit the old one wrote.
arborctl reexec
echo "reexec rc=$?"
sed -i -e 's/"tuned" \]; memory_max = "48M";/"tuned", "again" ];/' \
	/etc/arbor/arbor.conf
arborctl reload
echo "reload again rc=$?"
wait_for_change /tmp/tuned.pid "$old"
echo "tuned lifted $(cat %(cg)s/tuned/memory.max)"
arborctl poweroff
exec sleep 1000
"""

# pids_max: a fork bomb in bomb stays at 20 tasks while a runs and
# arborctl answers; stopping bomb empties its cgroup. cpu_max: busy
# spins at 10% of a CPU, throttled.
BOMB = r"""#!/bin/sh
export PATH=/bin
echo $$ > /tmp/bomb.pid
echo "up pid=$$"
# Each failed fork says so: not on the console, where it would flood.
exec 2>/dev/null
f() { f | f & }
f &
# The main process forks no more: only the bomb meets pids.max.
exec sleep 1000
"""

BUSY = r"""#!/bin/sh
echo $$ > /tmp/busy.pid
echo "up pid=$$"
while :; do :; done
"""

DRIVER_PIDS_CPU = DRIVER_HEAD + r"""
sleep 3
echo "bomb pids.max $(cat %(cg)s/bomb/pids.max)"
echo "bomb pids.current $(cat %(cg)s/bomb/pids.current)"
echo "bomb pids.events $(cat %(cg)s/bomb/pids.events)"
old=$(cat /tmp/a.pid)
echo "status begin"
arborctl status
echo "status end rc=$?"
[ "$(cat /tmp/a.pid)" = "$old" ] && kill -0 "$old" && echo "a kept pid=$old"
echo "busy cpu.max $(cat %(cg)s/busy/cpu.max)"
echo "busy $(grep '^nr_throttled ' %(cg)s/busy/cpu.stat)"
arborctl stop bomb
echo "stop bomb rc=$?"
echo "bomb after stop $(grep '^populated ' %(cg)s/bomb/cgroup.events)"
arborctl poweroff
exec sleep 1000
"""


def _limited(name, argv, **keys):
    words = ", ".join(f'"{w}"' for w in argv)
    extra = "".join(f" {k} = {v};" for k, v in keys.items())
    return f'  {{ name = "{name}"; exec = [ {words} ];{extra} }},\n'


def limits_memory():
    """hog (memory_max 32M, allocates 64M once), grp (memory_max 48M)
    over m1 and m2 (32M each, held), tuned (memory_max 64M, then 48M by
    a reload), the pool workers (128M) of one instance (16M, then 24M),
    then the driver. /bin/memhog is the harness's helper."""
    config = ("# cgroup memory limits: the OOM killer, a subtree's cap, "
              "a reload.\n"
              "children = (\n"
              + _limited("hog", ["/bin/sh", "/etc/once.sh", "hog",
                                 "/bin/memhog", "64"],
                         memory_max='"32M"')
              + '  { name = "grp"; memory_max = "48M"; children = (\n  '
              + _limited("m1", ["/bin/sh", "/etc/once.sh", "m1",
                                "/bin/memhog", "32", "hold"])
              + "  "
              + _limited("m2", ["/bin/sh", "/etc/once.sh", "m2",
                                "/bin/memhog", "32", "hold"]).rstrip(",\n")
              + "\n  ); },\n"
              + _limited("tuned", ["/bin/sh", "/etc/svc.sh", "tuned"],
                         memory_max='"64M"')
              + '  { name = "workers"; strategy = "simple_one_for_one";\n'
              '    instances = 1; memory_max = "128M";\n'
              '    template = { exec = [ "/bin/sh", "/etc/svc.sh", "worker" ];'
              ' memory_max = "16M"; }; },\n'
              + _driver() + ");\n")
    driver = DRIVER_MEMORY % {"services": "hog m1 m2 tuned worker",
                              "cg": CG}
    files = {"/etc/svc.sh": (SVC, 0o755), "/etc/once.sh": (ONCE, 0o755),
             "/etc/driver.sh": (driver, 0o755)}
    return config, files


def limits_pids_cpu():
    """a (plain), bomb (pids_max 20, a fork bomb), busy (cpu_max 10%, a
    busy loop), then the driver."""
    config = ("# cgroup pids and cpu limits: a fork bomb, a busy loop.\n"
              "children = (\n"
              + _service("a")
              + _limited("bomb", ["/bin/sh", "/etc/bomb.sh"],
                         pids_max="20")
              + _limited("busy", ["/bin/sh", "/etc/busy.sh"],
                         cpu_max='"10%"')
              + _driver() + ");\n")
    driver = DRIVER_PIDS_CPU % {"services": "a bomb busy", "cg": CG}
    files = {"/etc/svc.sh": (SVC, 0o755), "/etc/bomb.sh": (BOMB, 0o755),
             "/etc/busy.sh": (BUSY, 0o755),
             "/etc/driver.sh": (driver, 0o755)}
    return config, files
