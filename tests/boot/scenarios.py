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
