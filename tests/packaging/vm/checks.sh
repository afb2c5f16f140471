#!/bin/sh
# The checks tests/packaging/test_systemd_vm.py runs in its guest: Debian
# with systemd as PID 1 and the arbor package installed by dpkg. The unit
# arbor-vm-checks.service runs this once the system is up; the unit powers
# the guest off when it ends. Each check prints one line to the console,
#
#     ARBORVM <name> ok|fail <detail>
#
# which pytest reads. The checks run in this order and each leaves arbord
# as the next expects it; a failed one is reported and the next still runs.
# Every wait is bounded (wait_for), so a hang becomes a "fail" line, and the
# guest always powers off within the host's timeout.

CONF=/etc/arbor/arbor.conf
VM=/usr/local/lib/arbor-vm
DROPIN=/run/systemd/system/arbord.service.d
SOCK=/run/arbor/arbor.sock
# The tree of vm/arbor.conf, and the service vm/late.conf adds on reload,
# in their start order, and how many services (not supervisors) each has.
TREE="first talker group group/a group/b"
WITH_LATE="$TREE late"
SERVICES=4
WITH_LATE_SERVICES=5

# Runs check NAME (a function printing its detail) and prints its line,
# the detail on one line.
check() {
	name=$1
	shift
	if detail=$("$@" 2>&1); then
		verdict=ok
	else
		verdict=fail
	fi
	printf 'ARBORVM %s %s %s\n' "$name" "$verdict" \
		"$(printf '%s' "$detail" | tr '\n' '|' | cut -c1-3000)"
}

# wait_for SECONDS COMMAND...: runs COMMAND every 0.1 s until it succeeds;
# fails after SECONDS (of the clock: under TCG a command may take longer
# than the pause).
wait_for() {
	deadline=$(($(date +%s) + $1))
	shift
	until "$@"; do
		[ "$(date +%s)" -lt "$deadline" ] || return 1
		sleep 0.1
	done
}

prop() {
	systemctl show -P "$1" arbord.service
}

is_running() {
	[ "$(prop ActiveState)/$(prop SubState)" = active/running ]
}

# The tree is up when the status arbord sends systemd counts every service
# of it running (arbord(8), SYSTEMD: STATUS=).
tree_up() {
	[ "$(prop StatusText)" = "$1 services, $1 running" ]
}

# The paths of the event=NAME lines arbord (pid $1) wrote on its standard
# error (arbord's events, not the journal sink's copies), in order.
events() {
	journalctl -b -o cat _PID="$1" _TRANSPORT=stdout |
		sed -n "s/^event=$2 path=\([^ ]*\).*/\1/p" | tr '\n' ' ' |
		sed 's/ $//'
}

# in_journal REGEX MATCH...: whether a line of this boot's journal,
# among the entries of the journalctl MATCHes, matches REGEX (grep -E).
# journald reads its sockets and pipes in its own time: callers wait_for
# it.
in_journal() {
	regex=$1
	shift
	journalctl -b -o cat "$@" | grep -a -q -E -- "$regex"
}

# The pids of processes whose argv[0] is arbor-vm-*: the tree's services.
service_pids() {
	for cmdline in /proc/[0-9]*/cmdline; do
		case $(tr '\0' ' ' 2>/dev/null <"$cmdline") in
		arbor-vm-*)
			pid=${cmdline#/proc/}
			echo "${pid%/cmdline}"
			;;
		esac
	done
}

# The inode of the socket listening at $SOCK (/proc/net/unix: flags
# 00010000 is __SO_ACCEPTCON, a listening socket).
listener_inode() {
	awk -v path="$SOCK" '$8 == path && $4 == "00010000" { print $7 }' \
		/proc/net/unix
}

# Whether process $1 has the socket of inode $2 open.
holds_socket() {
	for fd in "/proc/$1/fd/"*; do
		[ "$(readlink "$fd")" = "socket:[$2]" ] && return 0
	done
	return 1
}

# 1. The package enabled both units on install, and arbord came up at boot
#    with the package's own configuration, which runs nothing.
#    The README's quick start says what `systemctl status arbord` and
#    `arborctl status` show then.
check_enabled() {
	systemctl is-enabled arbord.service arbord.socket || return 1
	wait_for 60 is_running || { prop StatusText; return 1; }
	unit=$(systemctl status arbord) || return 1
	echo "$unit" | grep -q 'Active: active (running)' &&
		echo "$unit" | grep -q 'Status: "0 services, 0 running"' || {
		echo "$unit"
		return 1
	}
	status=$(arborctl status) || return 1
	echo "$status"
	[ "$(echo "$status" | grep -c '^[|`]-')" = 0 ]
}

# 2. With the test tree installed as the configuration, `systemctl start`
#    reaches active/running, which a Type=notify unit does on READY=1; the
#    journal shows READY=1 coming from arbord's pid (systemd logs every
#    notification at debug level).
check_start() {
	systemctl stop arbord.service || return 1
	cp "$VM/arbor.conf" "$CONF"
	systemctl log-level debug
	systemctl start arbord.service
	rc=$?
	systemctl log-level info
	[ $rc = 0 ] || return 1
	pid=$(prop MainPID)
	systemctl show -p ActiveState,SubState,StatusText,NRestarts,MainPID \
		arbord.service
	is_running || return 1
	ready="Got notification message from PID $pid \(READY=1"
	wait_for 60 in_journal "$ready" -u arbord.service || return 1
	journalctl -b -o cat -u arbord.service | grep -a -E "$ready"
	wait_for 60 tree_up $SERVICES || return 1
}

# 3. arborctl reaches arbord through the socket arbord.socket listens on:
#    PID 1 and arbord hold the same listening socket.
check_socket() {
	systemctl is-active arbord.socket || return 1
	inode=$(listener_inode)
	pid=$(prop MainPID)
	echo "listening inode $inode, arbord pid $pid"
	[ -n "$inode" ] && holds_socket 1 "$inode" &&
		holds_socket "$pid" "$inode" || return 1
	status=$(arborctl status) || return 1
	echo "$status"
	for path in $TREE; do
		echo "$status" | grep -q "${path##*/} .* up " || return 1
	done
}

talker_in_journal() {
	journalctl -b -o cat ARBOR_PATH=talker | grep -qx 'hello from talker'
}

# 4. A line of a service with the journal sink is an entry with its
#    ARBOR_PATH.
check_journal() {
	wait_for 60 talker_in_journal || {
		journalctl -b -o verbose ARBOR_PATH=talker | tail -20
		return 1
	}
	journalctl -b -o export ARBOR_PATH=talker |
		grep -a -E '^(ARBOR_PATH|ARBOR_STREAM|SYSLOG_IDENTIFIER|PRIORITY)='
}

# 4b. arborctl reads that entry back with sd-journal: `logs --journal`
#     shows it marked as the journal's, and `logs` shows it once (the
#     ring holds it, so the journal's copy is not added).
check_journal_logs() {
	from_journal=$(arborctl logs --journal talker) || return 1
	echo "$from_journal"
	echo "$from_journal" | grep -q ' journal: hello from talker$' ||
		return 1
	both=$(arborctl logs -n 100 talker) || return 1
	echo "$both"
	[ "$(echo "$both" | grep -c 'hello from talker$')" = 1 ]
}

late_up() {
	arborctl status late 2>/dev/null | grep -q ' up '
}

# 5. `systemctl reload arbord` (ExecReload=arborctl reload) applies a
#    configuration that adds a service, restarting nothing else.
check_reload() {
	pid=$(prop MainPID)
	before=$(service_pids | sort | tr '\n' ' ')
	cp "$VM/late.conf" /etc/arbor/conf.d/50-late.conf
	systemctl reload arbord.service || return 1
	wait_for 60 late_up || return 1
	after=$(service_pids | sort | tr '\n' ' ')
	echo "services before: $before after: $after"
	[ "$(prop MainPID)" = "$pid" ] || return 1
	for p in $before; do
		echo "$after" | grep -qw "$p" || return 1
	done
	wait_for 60 in_journal '^event=add path=late' _PID="$pid" \
		_TRANSPORT=stdout || return 1
	echo "event=add path=late"
	wait_for 60 tree_up $WITH_LATE_SERVICES
}

# Whether process $1 has a connected Unix socket open (/proc/net/unix:
# state 03 is SS_CONNECTED; a connection in a listener's backlog is one).
has_connected_socket() {
	for fd in "/proc/$1/fd/"*; do
		inode=$(readlink "$fd" | sed -n 's/^socket:\[\([0-9]*\)\]$/\1/p')
		[ -n "$inode" ] || continue
		awk -v i="$inode" '$7 == i && $6 == "03" { found = 1 }
			END { exit !found }' /proc/net/unix && return 0
	done
	return 1
}

starting_up_again() {
	[ "$(prop ActiveState)/$(prop SubState)" = activating/start-pre ]
}

# 6. While arbord restarts, the socket stays open: an arborctl started when
#    no arbord runs waits in the socket's backlog, and the new arbord
#    answers it. The restart is held in an ExecStartPre= of a drop-in that
#    waits for a file, until arborctl has waited a second.
check_backlog() {
	old=$(prop MainPID)
	gate=/run/arbor-vm-backlog
	rm -f "$gate"
	mkdir -p "$DROPIN"
	printf '[Service]\nExecStartPre=/bin/sh -c "until [ -e %s ]; do sleep 0.1; done"\n' \
		"$gate" >"$DROPIN/backlog.conf"
	systemctl daemon-reload
	systemctl restart --no-block arbord.service
	wait_for 60 starting_up_again || { prop SubState; return 1; }
	arborctl status >/run/arbor-vm-status 2>&1 &
	ctl=$!
	# arborctl is connected (in the backlog: no arbord accepts) before
	# the second it is given to wait there
	wait_for 30 has_connected_socket "$ctl"
	sleep 1
	if kill -0 "$ctl" 2>/dev/null && has_connected_socket "$ctl"; then
		echo "arborctl waiting after 1s, arbord $(prop SubState)"
		waited=yes
	fi
	touch "$gate"
	wait "$ctl"
	rc=$?
	rm "$DROPIN/backlog.conf" "$gate"
	systemctl daemon-reload
	new=$(prop MainPID)
	echo "arborctl status: exit $rc; arbord pid $old then $new"
	head -3 /run/arbor-vm-status
	[ "$waited" = yes ] && [ $rc = 0 ] && [ "$new" != "$old" ] &&
		[ "$new" != 0 ] || return 1
	wait_for 60 tree_up $WITH_LATE_SERVICES
}

restarted_after() {
	[ "$(prop NRestarts)" -gt "$1" ] && is_running
}

# 7. With WatchdogSec=3s, an arbord that stops answering (SIGSTOP) is
#    killed by systemd with SIGABRT ("Watchdog timeout") and restarted
#    (Restart=on-failure), its tree with it; no service of the old tree is
#    left.
check_watchdog() {
	mkdir -p "$DROPIN"
	printf '[Service]\nWatchdogSec=3s\n' >"$DROPIN/watchdog.conf"
	systemctl daemon-reload
	systemctl restart arbord.service || return 1
	wait_for 60 tree_up $WITH_LATE_SERVICES || return 1
	old=$(prop MainPID)
	restarts=$(prop NRestarts)
	services=$(service_pids)
	# An arbord that answers lives through more than two periods: were it
	# silent, systemd would kill it every 3 s and the rest would pass.
	sleep 7
	[ "$(prop MainPID)" = "$old" ] && [ "$(prop NRestarts)" = "$restarts" ] || {
		echo "arbord $old did not keep the watchdog: pid $(prop MainPID)," \
			"NRestarts $(prop NRestarts)"
		return 1
	}
	kill -STOP "$old" || return 1
	wait_for 90 restarted_after "$restarts" || {
		systemctl status --no-pager arbord.service
		return 1
	}
	rm "$DROPIN/watchdog.conf"
	systemctl daemon-reload
	new=$(prop MainPID)
	echo "arbord pid $old (answered the watchdog for 7 s, then stopped)" \
		"then $new, NRestarts $restarts then $(prop NRestarts)"
	[ "$new" != "$old" ] && [ "$new" != 0 ] || return 1
	wait_for 60 in_journal "Killing process $old .* with signal SIGABRT" \
		-u arbord.service || return 1
	journalctl -b -o cat -u arbord.service |
		grep -a -E "Watchdog timeout|Killing process $old |Main process exited"
	in_journal "Watchdog timeout" -u arbord.service || return 1
	wait_for 60 tree_up $WITH_LATE_SERVICES || return 1
	for p in $services; do
		[ ! -e "/proc/$p" ] || { echo "old service $p left"; return 1; }
	done
}

stopped() {
	[ "$(prop ActiveState)" = inactive ]
}

# 8. `systemctl stop arbord` stops the tree in the reverse of its start
#    order, then arbord exits: no service process is left, and the unit's
#    cgroup (delegated to arbord) is gone or empty.
check_stop() {
	pid=$(prop MainPID)
	cgroup=/sys/fs/cgroup$(prop ControlGroup)
	systemctl stop arbord.service || return 1
	wait_for 60 stopped || return 1
	wait_for 60 in_journal '^event=down$' _PID="$pid" _TRANSPORT=stdout ||
		return 1
	started=$(events "$pid" start | sed 's/^\/ //')
	stops=$(events "$pid" stop)
	expect=$(echo "$WITH_LATE" | tr ' ' '\n' | tac | tr '\n' ' ' |
		sed 's/ $//')
	echo "started: $started; stopped: $stops"
	[ "$started" = "$WITH_LATE" ] && [ "$stops" = "$expect" ] || return 1
	left=$(service_pids)
	[ -z "$left" ] || { echo "left: $left"; return 1; }
	if [ -d "$cgroup" ]; then
		procs=$(find "$cgroup" -name cgroup.procs -exec cat {} +)
		[ -z "$procs" ] || { echo "in $cgroup: $procs"; return 1; }
	fi
	echo "cgroup $cgroup: gone or empty"
}

pids_of_tree() {
	echo "$(prop MainPID) $(service_pids | sort -n | tr '\n' ' ')"
}

# 9. An upgrade of the package (dpkg -i of the .deb again: its maintainer
#    scripts take the upgrade path) leaves arbord and every service
#    running, same pids (debian/rules: --no-stop-on-upgrade); `arborctl
#    reexec` then moves them to the installed binary, still the same pids
#    (arbord(8), Upgrading arbord in place). The README says both.
check_upgrade() {
	systemctl start arbord.service || return 1
	wait_for 60 tree_up $WITH_LATE_SERVICES || return 1
	before=$(pids_of_tree)
	dpkg -i "$VM/arbor.deb" >/run/arbor-vm-dpkg 2>&1 || {
		cat /run/arbor-vm-dpkg
		return 1
	}
	after_upgrade=$(pids_of_tree)
	is_running || return 1
	arborctl reexec || return 1
	wait_for 60 tree_up $WITH_LATE_SERVICES || return 1
	after_reexec=$(pids_of_tree)
	echo "arbord and services: $before; after dpkg -i: $after_upgrade;" \
		"after reexec: $after_reexec"
	[ "$(echo "$before" | wc -w)" = $((WITH_LATE_SERVICES + 1)) ] &&
		[ "$before" = "$after_upgrade" ] &&
		[ "$before" = "$after_reexec" ]
}

# 10. `dpkg -r arbor` (apt remove) stops the tree, nothing left, and keeps
#     the conffile; `dpkg -P arbor` (apt purge) deletes it, as the README
#     says.
check_remove() {
	dpkg -r arbor >/run/arbor-vm-dpkg 2>&1 || {
		cat /run/arbor-vm-dpkg
		return 1
	}
	wait_for 60 stopped || return 1
	left=$(service_pids)
	[ -z "$left" ] || { echo "left: $left"; return 1; }
	[ -e "$CONF" ] || { echo "remove deleted $CONF"; return 1; }
	dpkg -P arbor >/run/arbor-vm-dpkg 2>&1 || {
		cat /run/arbor-vm-dpkg
		return 1
	}
	[ ! -e "$CONF" ] || { echo "purge left $CONF"; return 1; }
	echo "removed: arbord $(prop ActiveState), no service left, $CONF kept;" \
		"purged: $CONF gone"
}

check enabled check_enabled
check start check_start
check socket check_socket
check journal check_journal
check journal_logs check_journal_logs
check reload check_reload
check backlog check_backlog
check watchdog check_watchdog
check stop check_stop
check upgrade check_upgrade
check remove check_remove
echo "ARBORVM-END"
