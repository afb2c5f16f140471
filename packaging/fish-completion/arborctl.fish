# fish completion for arborctl(8)
#
# Completes commands, options (those of the command on the line), signal
# names, and node paths. Paths come from the running arbord (`arborctl
# status --json`, on the same socket as the command line being completed);
# when it is not running there is simply nothing to offer. The bash and
# zsh completions offer the same. Installed to
# $(datadir)/fish/vendor_completions.d/arborctl.fish.

# Prints the command of the line: its first word that is not an option
# (nor the argument of --socket).
function __arborctl_command
    set -l words (commandline -opc)
    set -e words[1]
    while set -q words[1]
        switch $words[1]
            case --socket
                set -e words[1]
            case '-*'
            case '*'
                echo $words[1]
                return 0
        end
        set -e words[1]
    end
    return 1
end

# True when the line has no command yet.
function __arborctl_needs_command
    not __arborctl_command >/dev/null
end

# True when the command of the line is one of the arguments.
function __arborctl_command_is
    set -l command (__arborctl_command); or return 1
    contains -- $command $argv
end

# True when the command of the line is one of the arguments and no
# operand follows it yet: add and spawn take a node first, then what only
# the user knows; call takes a method, then its parameters.
function __arborctl_first_operand
    set -l words (commandline -opc)
    set -l seen_command no
    for i in (seq 2 (count $words))
        switch $words[$i]
            case --socket --name
                # their argument is no operand; seq cannot skip it, so
                # it is marked and passed over below
                set words[(math $i + 1)] -
            case '-*'
            case '*'
                if test $seen_command = yes
                    return 1
                end
                contains -- $words[$i] $argv; or return 1
                set seen_command yes
        end
    end
    test $seen_command = yes
end

# Prints the path of every node, one a line, from the arbord on the
# line's --socket (or $ARBOR_SOCKET, or the default), written as the token
# being completed begins: web/app, or /web/app after a slash (arbord takes
# both; the root is / either way).
function __arborctl_paths
    set -l words (commandline -opc)
    set -l sock
    for i in (seq 2 (count $words))
        switch $words[$i]
            case --socket
                set sock --socket $words[(math $i + 1)]
            case '--socket=*'
                set sock $words[$i]
        end
    end
    set -l slash
    string match -q -- '/*' (commandline -ct); and set slash /
    # Names are [A-Za-z0-9_.-], so a path never holds a quote or a
    # comma: splitting the one-line JSON on commas is enough.
    timeout 2 arborctl $sock status --json 2>/dev/null |
        string split , |
        string replace -rf '.*"path":"([^"]*)".*' '$1' |
        string replace -r '^(?=[^/])' "$slash"
end

complete -c arborctl -f

# The options of every command, before or after it.
complete -c arborctl -s j -l json -d 'machine output: the reply as JSON'
complete -c arborctl -l no-color -d 'no colours on a terminal either'
complete -c arborctl -l socket -r -F -d 'the control socket'
complete -c arborctl -s h -l help -d 'print the usage'
complete -c arborctl -s V -l version -d 'print the version'

set -l cmd -n __arborctl_needs_command
complete -c arborctl $cmd -a status -d 'the tree, or the subtree at each PATH'
complete -c arborctl $cmd -a show -d 'the resolved spec of PATH as arbord --check prints it'
complete -c arborctl $cmd -a metrics -d 'the state and usage of the tree in Prometheus text format'
complete -c arborctl $cmd -a start -d 'start a stopped child'
complete -c arborctl $cmd -a stop -d 'stop a child; it stays stopped'
complete -c arborctl $cmd -a restart -d 'stop and start a child'
complete -c arborctl $cmd -a kill -d 'send a signal (default TERM) to a service'
complete -c arborctl $cmd -a events -d 'follow supervision events'
complete -c arborctl $cmd -a logs -d 'the last lines of the output of a service or a subtree'
complete -c arborctl $cmd -a reload -d 're-read the configuration and apply the difference'
complete -c arborctl $cmd -a add -d 'add a child under a supervisor'
complete -c arborctl $cmd -a remove -d 'stop a child and delete it'
complete -c arborctl $cmd -a spawn -d 'start an instance of a pool'
complete -c arborctl $cmd -a reexec -d 'replace arbord by a new binary without stopping any child'
complete -c arborctl $cmd -a wait -d 'wait until a node is up (or ready)'
complete -c arborctl $cmd -a shutdown -d 'stop the tree and arbord'
complete -c arborctl $cmd -a poweroff -d 'stop the tree, then power the machine off'
complete -c arborctl $cmd -a reboot -d 'stop the tree, then reboot the machine'
complete -c arborctl $cmd -a halt -d 'stop the tree, then halt the machine'
complete -c arborctl $cmd -a call -d 'send any method, print the reply'
complete -c arborctl $cmd -a top -d 'a live view of the tree'

# Node paths: every operand of the commands on nodes, the first of add
# and spawn.
complete -c arborctl -n '__arborctl_command_is status show metrics start stop restart kill logs remove wait top' \
    -a '(__arborctl_paths)'
complete -c arborctl -n '__arborctl_first_operand add spawn' -a '(__arborctl_paths)'

set -l on -n '__arborctl_command_is status'
complete -c arborctl $on -l stats -d 'with memory, peak, CPU time and tasks'

set -l on -n '__arborctl_command_is kill'
complete -c arborctl $on -s s -l signal -x -a 'TERM HUP INT QUIT KILL USR1 USR2 STOP CONT ALRM WINCH' \
    -d 'the signal to send'

set -l on -n '__arborctl_command_is logs'
complete -c arborctl $on -s n -l lines -x -a '10 100 1000 all' -d 'the last N lines'
complete -c arborctl $on -s f -l follow -d 'follow the output as it comes'
complete -c arborctl $on -l reopen -d 'reopen the log files (after logrotate)'
complete -c arborctl $on -l since -x -a '10m 1h 1d' -d 'lines from TIME (RFC 3339, or ago)'
complete -c arborctl $on -l until -x -a '10m 1h 1d' -d 'lines up to TIME (RFC 3339, or ago)'
complete -c arborctl $on -l stream -x -a 'stdout stderr' -d 'the lines of one stream'
complete -c arborctl $on -l journal -d 'the lines of the journal only'
complete -c arborctl $on -s D -l journal-directory -x -a '(__fish_complete_directories)' \
    -d 'the journal files in DIR'

set -l on -n '__arborctl_command_is reload'
complete -c arborctl $on -l dry-run -d 'only print the plan'

set -l on -n '__arborctl_command_is spawn'
complete -c arborctl $on -l name -x -d 'the name of the instance'

set -l on -n '__arborctl_command_is reexec'
complete -c arborctl $on -l binary -r -F -d 'the new binary (default: its own file)'
complete -c arborctl $on -l timeout -x -a '500ms 10s 30s 1m' \
    -d 'wait at most DURATION for a moment to do it'

set -l on -n '__arborctl_command_is wait'
complete -c arborctl $on -l ready -d 'until it is up and ready'
complete -c arborctl $on -l timeout -x -a '500ms 10s 30s 1m' -d 'wait at most DURATION'

set -l on -n '__arborctl_command_is call'
complete -c arborctl $on -l more -d 'ask for more replies'
complete -c arborctl -n '__arborctl_first_operand call' -a '
    org.arbor.supervisor.Status org.arbor.supervisor.Start
    org.arbor.supervisor.Stop org.arbor.supervisor.Restart
    org.arbor.supervisor.Signal org.arbor.supervisor.Events
    org.arbor.supervisor.Shutdown org.arbor.supervisor.Logs
    org.arbor.supervisor.ReopenLogs org.arbor.supervisor.Reload
    org.arbor.supervisor.AddChild org.arbor.supervisor.RemoveChild
    org.arbor.supervisor.Spawn org.arbor.supervisor.Reexec
    org.arbor.supervisor.Show org.varlink.service.GetInfo
    org.varlink.service.GetInterfaceDescription'

set -l on -n '__arborctl_command_is top'
complete -c arborctl $on -s d -l delay -x -a '0.5 1 2 5 10' -d 'refresh every SECONDS'
complete -c arborctl $on -s b -l batch -d 'plain text for scripts'
complete -c arborctl $on -s n -l iterations -x -a '1 2 10' -d 'refresh N times'
