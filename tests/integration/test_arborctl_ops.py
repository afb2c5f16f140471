"""The arborctl commands operators expect from a supervisor's client (issue
16), against a real arbord with real children: wait for a path to come up
or be ready (exit 0 it is, 1 it cannot be or the time ran out, 2 usage),
show a node's resolved spec, logs of several paths, a time range or one
stream, status of several paths, the root as a path, --no-color, and their
bash completion.

Each test runs its own arbord on a private socket; waits are bounded.
"""

import datetime
import json
import os
import selectors
import subprocess

from conftest import ARBORD, SLEEPER, SLOW, service, start_web, \
    supervisor, tree, wait_until
# public_dir is a fixture: imported, pytest finds it here.
from test_arborctl import ARBORCTL, as_nobody, ctl, nodes, on_tty, \
    public_dir  # noqa: F401


def sh(script):
    return ["/bin/sh", "-c", script]


def background(sock, *args):
    """arborctl ARGS running, its output piped; the Popen."""
    e = dict(os.environ, ARBOR_SOCKET=str(sock))
    return subprocess.Popen([ARBORCTL, *args], env=e, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            stdin=subprocess.DEVNULL)


def read_line(p, timeout=5.0):
    """The next line of p's stdout, waiting at most timeout: read a byte
    at a time from the descriptor, so no buffer hides a line from
    select."""
    fd, line = p.stdout.fileno(), b""
    sel = selectors.DefaultSelector()
    sel.register(fd, selectors.EVENT_READ)
    try:
        while not line.endswith(b"\n"):
            assert sel.select(timeout * SLOW), f"no line yet: {line!r}"
            byte = os.read(fd, 1)
            assert byte, f"end of output in a line: {line!r}"
            line += byte
    finally:
        sel.close()
    return line.decode()


def finish(p):
    """The exit status, stdout and stderr of a background arborctl."""
    try:
        out, err = p.communicate(timeout=10 * SLOW)
    finally:
        if p.poll() is None:
            p.kill()
            p.communicate()
    return p.returncode, out, err


def waiting_on_events(a, p):
    """Returns once p (arborctl wait) has sent its Events call and had
    its Status answered: the Status connection is closed, so p holds one
    socket, and p sleeps in read(2) on it."""
    def reading():
        try:
            with open(f"/proc/{p.pid}/syscall") as f:
                nr, fd = f.read().split()[:2]
            sockets = [n for n in os.listdir(f"/proc/{p.pid}/fd")
                       if os.readlink(f"/proc/{p.pid}/fd/{n}")
                       .startswith("socket:")]
            return nr == "0" and sockets == [str(int(fd, 16))]
        except (OSError, ValueError):
            return False
    wait_until(reading, what="arborctl wait to block on its events")


# ---- wait ---------------------------------------------------------------------


def test_wait_on_a_path_that_is_up_returns_at_once(arbord):
    """wait PATH of a node that is up exits 0 and prints nothing, with or
    without --ready (a service with ready "exec" is ready once up); the
    root, "/", is a path like any other."""
    a = start_web(arbord)
    for args in (["web/app"], ["--ready", "web"], ["/"],
                 ["--timeout", "0", "a"]):
        r = ctl(a.socket, "wait", *args)
        assert (r.returncode, r.stdout, r.stderr) == (0, "", ""), args


def test_wait_on_an_unknown_path_suggests_the_nearest(arbord):
    """A mistyped path cannot come up: exit 1 at once, with the nearest
    existing path, as every command says it."""
    a = start_web(arbord)
    r = ctl(a.socket, "wait", "web/ap")
    assert r.returncode == 1
    assert r.stderr == "arborctl: no such child 'web/ap' " \
                       "(did you mean 'web/app'?)\n"


def test_wait_returns_when_a_stopped_service_is_started(arbord):
    """wait blocks on the event stream while the service is stopped, and
    exits 0 once another client starts it: the start event wakes it, not
    a poll."""
    a = start_web(arbord)
    assert ctl(a.socket, "stop", "b").returncode == 0
    p = background(a.socket, "wait", "b")
    try:
        waiting_on_events(a, p)
        assert p.poll() is None
        assert ctl(a.socket, "start", "b").returncode == 0
    finally:
        rc, out, err = finish(p)
    assert (rc, out, err) == (0, "", "")


def test_wait_ready_waits_for_readiness(arbord, tmp_path):
    """A notify service whose process runs but has not sent READY=1 is up
    for wait, not ready: wait --ready times out with exit 1 and a message
    naming the state; once READY=1 comes, a waiting --ready exits 0."""
    go = tmp_path / "go"
    os.mkfifo(go)
    a = arbord(tree([service("db", sh(f"read x < {go}; "
                                      "systemd-notify --ready; "
                                      "exec sleep 1000"),
                             ready='"notify"'),
                     service("web", SLEEPER)]))
    a.wait_event("start", "db")
    wait_until(lambda: a.socket.exists(), what="the control socket")
    assert ctl(a.socket, "wait", "db").returncode == 0
    r = ctl(a.socket, "wait", "--ready", "--timeout", "300ms", "db")
    assert r.returncode == 1
    assert r.stderr == "arborctl: 'db' is not ready after 300ms " \
                       "(starting)\n"
    p = background(a.socket, "wait", "--ready", "--timeout", "20s", "web")
    try:
        waiting_on_events(a, p)
        with open(go, "w") as f:
            f.write("go\n")
    finally:
        rc, out, err = finish(p)
    assert (rc, err) == (0, "")


def test_wait_on_a_temporary_child_that_is_gone_fails(arbord):
    """A temporary child that exited is never restarted: wait exits 1 and
    says so, rather than wait for ever."""
    a = arbord(tree([service("job", ["/bin/true"], restart='"temporary"'),
                     service("b", SLEEPER)]))
    a.wait_event("start", "b")
    wait_until(lambda: a.socket.exists(), what="the control socket")
    wait_until(lambda: any(n["path"] == "job" and n["state"] == "gone"
                           for n in nodes(a.socket)),
               what="job to be gone")
    r = ctl(a.socket, "wait", "--timeout", "10s", "job")
    assert r.returncode == 1
    assert r.stderr == "arborctl: 'job' is gone: a temporary child is " \
                       "not restarted\n"


def test_wait_ends_when_the_tree_goes_down(arbord):
    """A path that is still down when arbord shuts down will not come up:
    wait exits 1 then, not when its timeout runs out."""
    a = start_web(arbord)
    assert ctl(a.socket, "stop", "a").returncode == 0
    p = background(a.socket, "wait", "--timeout", "1h", "a")
    try:
        waiting_on_events(a, p)
        assert ctl(a.socket, "shutdown").returncode == 0
    finally:
        rc, out, err = finish(p)
    assert rc == 1
    assert err == "arborctl: the tree is down: 'a' will not come up\n"


def test_wait_usage_errors_are_exit_2(arbord):
    """No path, two paths or a timeout that is no duration: exit 2 naming
    what is wrong, before any connection."""
    sock = "/nonexistent/arbor.sock"
    for args, says in ((["wait"], "wait takes one PATH"),
                       (["wait", "a", "b"], "wait takes one PATH"),
                       (["wait", "--timeout", "soon", "a"], "'soon'"),
                       (["wait", "--timeout", "-1s", "a"], "'-1s'"),
                       (["status", "--ready"], "--ready is an option")):
        r = ctl(sock, *args)
        assert r.returncode == 2, args
        assert says in r.stderr, (args, r.stderr)


# ---- bash completion ----------------------------------------------------------

COMPLETION = os.path.join(os.path.dirname(ARBORCTL), "..", "packaging",
                          "bash-completion", "arborctl")


def complete(sock, line):
    """The words bash's completion offers for line (the cursor at its
    end, after its last word), with arborctl on PATH and ARBOR_SOCKET
    set as a user's shell has them."""
    words = line.split(" ")
    script = (f"source {COMPLETION}\n"
              f"COMP_WORDS=({' '.join(repr(w) for w in words)})\n"
              f"COMP_CWORD={len(words) - 1}\n"
              f"COMP_LINE={line!r}\n"
              f"COMP_POINT={len(line)}\n"
              "_arborctl\n"
              "printf '%s\\n' \"${COMPREPLY[@]}\"\n")
    e = dict(os.environ, ARBOR_SOCKET=str(sock),
             PATH=os.path.dirname(ARBORCTL) + ":" + os.environ["PATH"])
    r = subprocess.run(["bash", "--norc", "--noprofile", "-c", script],
                       capture_output=True, text=True, env=e,
                       timeout=10 * SLOW)
    assert r.returncode == 0, r.stderr
    return sorted(w for w in r.stdout.splitlines() if w)


def test_completion_offers_the_new_commands_options_and_paths(arbord,
                                                             tmp_path):
    """The bash completion knows wait, its options, and completes its
    PATH from the running tree; logs -D a directory."""
    a = start_web(arbord)
    (tmp_path / "jdir").mkdir()
    (tmp_path / "jfile").write_text("")
    assert complete(a.socket, "arborctl logs --jo") == \
        ["--journal", "--journal-directory"]
    assert complete(a.socket, f"arborctl logs -D {tmp_path}/j") == \
        [f"{tmp_path}/jdir"]
    assert "wait" in complete(a.socket, "arborctl wa")
    assert complete(a.socket, "arborctl --no") == ["--no-color"]
    assert complete(a.socket, "arborctl wait --r") == ["--ready"]
    assert complete(a.socket, "arborctl wait --t") == ["--timeout"]
    assert complete(a.socket, "arborctl wait web/") == \
        ["web/app", "web/proxy"]
    assert complete(a.socket, "arborctl sh") == ["show", "shutdown"]
    assert complete(a.socket, "arborctl show web/p") == ["web/proxy"]
    assert complete(a.socket, "arborctl logs --st") == ["--stream"]
    assert complete(a.socket, "arborctl logs --stream s") == \
        ["stderr", "stdout"]
    assert complete(a.socket, "arborctl logs --since 1") == ["10m", "1d", "1h"]
    assert complete(a.socket, "arborctl logs a w") == \
        ["web", "web/app", "web/proxy"]
    # -n: logs' line counts, top's refreshes (as zsh's and fish's offer)
    assert complete(a.socket, "arborctl logs -n ") == ["10", "100", "1000",
                                                       "all"]
    assert complete(a.socket, "arborctl top -n ") == ["1", "10", "2"]
    assert complete(a.socket, "arborctl kill -s U") == ["USR1", "USR2"]


# ---- show ---------------------------------------------------------------------


def check_output(a):
    """What arbord --check prints for a's configuration."""
    r = subprocess.run([ARBORD, "--check", "-c", str(a.config)],
                       capture_output=True, text=True, timeout=10 * SLOW)
    assert r.returncode == 0, r.stderr
    return r.stdout


def test_show_prints_a_child_as_check_prints_it(arbord):
    """show PATH prints the child's group exactly as arbord --check prints
    it within the tree (every default filled in and marked), and show /
    prints the whole tree as --check does, without the comments --check
    adds on what the tree needs of this system (descriptors)."""
    a = start_web(arbord)
    check = check_output(a)
    for path, indent in (("b", "    "), ("web", "    "), ("web/app", " " * 12)):
        r = ctl(a.socket, "show", path)
        assert r.returncode == 0 and r.stderr == "", r.stderr
        assert r.stdout.startswith("{\n") and r.stdout.endswith("\n}\n")
        assert '; # default\n' in r.stdout
        block = "".join(indent + ln if ln else ln
                        for ln in r.stdout.splitlines(True))
        # Among siblings the group ends "}," unless it is the last.
        assert block in check or block[:-1] + ",\n" in check, path
    r = ctl(a.socket, "show", "/")
    assert r.returncode == 0 and check.startswith(r.stdout)
    rest = check[len(r.stdout):].splitlines()
    assert rest and all(ln.startswith("# ") for ln in rest), rest


def test_show_output_is_what_add_takes_back(arbord):
    """The group show prints is a SPEC for add: a removed child added back
    from it has the same spec (its defaults now written, so no longer
    marked)."""
    def keys(text):
        return [ln.replace("; # default", ";") for ln in text.splitlines()
                if not ln.lstrip().startswith("#")]
    a = start_web(arbord)
    before = ctl(a.socket, "show", "web/app").stdout
    assert ctl(a.socket, "remove", "web/app").returncode == 0
    r = ctl(a.socket, "add", "web", before)
    assert r.returncode == 0, r.stderr
    after = ctl(a.socket, "show", "web/app").stdout
    assert keys(after) == keys(before)


def test_show_json_and_errors(arbord):
    """--json prints the reply, {"spec": TEXT}; an unknown path is exit 1
    with the nearest; no path is a usage error."""
    a = start_web(arbord)
    r = ctl(a.socket, "--json", "show", "a")
    assert r.returncode == 0
    assert json.loads(r.stdout) == {"spec": ctl(a.socket, "show", "a").stdout}
    r = ctl(a.socket, "show", "web/ap")
    assert (r.returncode, r.stdout) == (1, "")
    assert r.stderr == "arborctl: no such child 'web/ap' " \
                       "(did you mean 'web/app'?)\n"
    assert ctl(a.socket, "show").returncode == 2


def test_show_is_refused_to_readers(arbord, public_dir):
    """A spec holds env values, which may be secrets status never shows:
    a control_group reader's show is refused (exit 1, one line), while
    its status works."""
    sock = os.path.join(public_dir, "arbor.sock")
    a = arbord('control_group = "nogroup";\n' +
               tree([service("s", SLEEPER, env='["TOKEN=secret"]')]),
               args=("-s", sock))
    a.wait_event("start", "s")
    wait_until(lambda: os.path.exists(sock), what="the control socket")
    assert "TOKEN=secret" in ctl(sock, "show", "s").stdout
    r = as_nobody(sock, "show", "s")
    assert (r.returncode, r.stdout) == (1, ""), r
    assert r.stderr == "arborctl: permission denied: uid 65534 may not " \
                       "call org.arbor.supervisor.Show\n"
    assert as_nobody(sock, "status", "s").returncode == 0


# ---- logs: several paths, --since/--until, --stream ----------------------------


def talker(word):
    """A service that writes word-out on stdout, word-err on stderr."""
    return sh(f"echo {word}-out; echo {word}-err >&2; exec sleep 1000")


def talking_tree(arbord):
    """a, and web of app and b, each having written its two lines."""
    a = arbord(tree([service("a", talker("a")),
                     supervisor("web", [service("app", talker("app")),
                                        service("b", talker("b"))])]))
    a.wait_event("start", "web/b")
    wait_until(lambda: a.socket.exists(), what="the control socket")
    wait_until(lambda: len(json_logs(a.socket)) == 6,
               what="the six lines of the services")
    return a


def json_logs(sock, *args):
    """The services' lines logs --json prints for args (not arbord's)."""
    r = ctl(sock, "--json", "logs", "-n", "all", *args)
    assert r.returncode == 0, r.stderr
    return [ln for ln in map(json.loads, r.stdout.splitlines())
            if ln["path"] != "/"]


def words(sock, *args):
    return [ln["line"] for ln in json_logs(sock, *args)]


def test_logs_of_several_paths_in_the_order_they_were_read(arbord):
    """logs a web/app prints both services' lines interleaved in seq order
    as one subtree's would be; overlapping paths print a line once; -n N
    is the newest N of them all."""
    a = talking_tree(arbord)
    every = json_logs(a.socket)
    want = [ln for ln in every if ln["path"] in ("a", "web/app")]
    got = json_logs(a.socket, "a", "web/app")
    assert got == want and len(got) == 4
    assert json_logs(a.socket, "web", "web/b") == json_logs(a.socket, "web")
    r = ctl(a.socket, "--json", "logs", "-n", "3", "web/b", "a")
    last3 = [ln for ln in every if ln["path"] in ("a", "web/b")][-3:]
    assert [json.loads(ln) for ln in r.stdout.splitlines()] == last3
    r = ctl(a.socket, "logs", "a", "web/ap")
    assert (r.returncode, r.stdout) == (1, "")
    assert "did you mean 'web/app'" in r.stderr


def test_logs_stream_filter_and_the_stream_in_text(arbord):
    """--stream stderr prints only standard error's lines, --stream stdout
    only standard output's; in text a stderr line says so in words before
    its colon, a stdout line reads as it always has."""
    a = talking_tree(arbord)
    assert sorted(words(a.socket, "--stream", "stderr")) == \
        ["a-err", "app-err", "b-err"]
    assert sorted(words(a.socket, "--stream", "stdout", "web")) == \
        ["app-out", "b-out"]
    r = ctl(a.socket, "logs", "a")
    pid = a.pid_of("a")
    assert sorted(ln.split(" ", 2)[2] for ln in r.stdout.splitlines()) == \
        [f"a[{pid}] stderr: a-err", f"a[{pid}]: a-out"]
    r = ctl(a.socket, "logs", "--stream", "err")
    assert r.returncode == 2 and "'err'" in r.stderr


def test_logs_since_and_until(arbord):
    """--since and --until take RFC 3339 times (Z or an offset) and "ago"
    durations with a unit; the range holds its ends; without -n it prints
    every line in it."""
    a = talking_tree(arbord)
    lines = json_logs(a.socket)
    t = lines[2]["time"]  # the third line's own time bounds the range
    # Two services' lines may be read in the same microsecond: every line
    # of that time is in the range. (The times have one width: as text
    # they compare as times do.)
    assert words(a.socket, "--since", t) == \
        [ln["line"] for ln in lines if ln["time"] >= t]
    assert words(a.socket, "--until", t) == \
        [ln["line"] for ln in lines if ln["time"] <= t]
    assert lines[2]["line"] in words(a.socket, "--since", t)
    assert lines[2]["line"] in words(a.socket, "--until", t)
    at = datetime.datetime.strptime(t, "%Y-%m-%dT%H:%M:%S.%fZ")
    plus_one = (at + datetime.timedelta(hours=1)).strftime(
        "%Y-%m-%dT%H:%M:%S.%f+01:00")
    assert words(a.socket, "--since", plus_one, "--until", plus_one) == \
        [ln["line"] for ln in lines if ln["time"] == t]
    assert lines[2]["line"] in words(a.socket, "--since", plus_one,
                                     "--until", plus_one)
    assert len(words(a.socket, "--since", "1h")) == 6
    assert words(a.socket, "--until", "1h") == []
    r = ctl(a.socket, "logs", "--since", "10m", "a")
    assert len(r.stdout.splitlines()) == 2


def test_logs_malformed_times_are_usage_errors():
    """A time that is neither RFC 3339 nor a duration with a unit is exit 2
    naming the value, before any connection; so is --until with -f."""
    sock = "/nonexistent/arbor.sock"
    for bad in ("yesterday", "10", "2026-13-01T00:00:00Z",
                "2026-11-21T10:00:00", "2026-11-21T10:00:00+1", "-5m"):
        for opt in ("--since", "--until"):
            r = ctl(sock, "logs", opt, bad)
            assert r.returncode == 2, (opt, bad)
            assert r.stderr.startswith(f"arborctl: {opt}: '{bad}' is not "
                                       "a time"), r.stderr
    r = ctl(sock, "logs", "-f", "--until", "1m")
    assert r.returncode == 2 and "--until" in r.stderr
    r = ctl(sock, "status", "--since", "1m")
    assert r.returncode == 2


def test_logs_follow_several_paths_goes_on_after_the_backlog(arbord):
    """logs -f of two paths prints their backlog, then only their new
    lines, each once, and not the other services'."""
    a = talking_tree(arbord)
    p = background(a.socket, "--json", "logs", "-f", "-n", "1", "a",
                   "web/b")
    try:
        first = json.loads(read_line(p))
        # Its two pipes are read in either order: the newest is one.
        assert first["path"] == "web/b"
        assert ctl(a.socket, "restart", "web/app").returncode == 0
        assert ctl(a.socket, "restart", "a").returncode == 0
        got = [json.loads(read_line(p)) for _ in range(2)]
        assert sorted(ln["line"] for ln in got) == ["a-err", "a-out"]
        assert ctl(a.socket, "restart", "web/b").returncode == 0
        got = [json.loads(read_line(p)) for _ in range(2)]
        assert sorted(ln["line"] for ln in got) == ["b-err", "b-out"]
    finally:
        p.kill()
        finish(p)


# ---- several paths in status, and the root as a path -------------------------


def test_status_of_several_paths(arbord):
    """status a web/app draws each subtree in turn; --json is one reply
    with their nodes in that order; the exit status is 3 if one of them is
    not up, and 1 (after the others are shown) if one does not exist."""
    a = start_web(arbord)
    r = ctl(a.socket, "status", "a", "web")
    assert r.returncode == 0, r.stderr
    assert [ln.split()[0] for ln in r.stdout.splitlines()] == \
        ["a", "web", "|-", "`-"]
    r = ctl(a.socket, "--json", "status", "web/app", "b")
    assert r.returncode == 0 and r.stdout.count("\n") == 1
    doc = json.loads(r.stdout)
    assert [n["path"] for n in doc["nodes"]] == ["web/app", "b"]
    assert doc["containment"]["mode"]
    assert ctl(a.socket, "stop", "b").returncode == 0
    assert ctl(a.socket, "status", "a", "b").returncode == 3
    r = ctl(a.socket, "status", "a", "web/ap", "b")
    assert r.returncode == 1
    assert r.stderr == "arborctl: no such child 'web/ap' " \
                       "(did you mean 'web/app'?)\n"
    assert [ln.split()[0] for ln in r.stdout.splitlines()] == ["a", "b"]
    r = ctl(a.socket, "metrics", "a", "b")
    assert r.returncode == 2 and "at most one PATH" in r.stderr


def test_the_root_is_a_path_everywhere(arbord):
    """"/" names the root wherever a path is taken: status, logs, show,
    wait and metrics answer for the whole tree; the commands that need a
    child say why the root is not one, exit 1."""
    a = start_web(arbord)
    r = ctl(a.socket, "status", "/")
    assert r.returncode == 0 and r.stdout.split()[0] == "/"
    assert ctl(a.socket, "status", "/", "a").returncode == 0
    assert ctl(a.socket, "--json", "logs", "-n", "all", "/").stdout == \
        ctl(a.socket, "--json", "logs", "-n", "all").stdout
    assert ctl(a.socket, "wait", "--ready", "/").returncode == 0
    assert 'arbor_up{path="/"' in ctl(a.socket, "metrics", "/").stdout
    for cmd in ("start", "stop", "restart", "remove"):
        r = ctl(a.socket, cmd, "/")
        assert r.returncode == 1, cmd
        assert r.stderr == "arborctl: invalid path '/': the root has no " \
                           "supervisor to ask (shutdown stops the tree)\n"


# ---- colour ---------------------------------------------------------------------


def test_no_color_option_and_an_empty_no_color(arbord):
    """On a terminal status is coloured; --no-color, before or after the
    command, turns that off and keeps the box drawing; NO_COLOR set but
    empty does not (no-color.org); a stderr line's mark is red in logs."""
    a = talking_tree(arbord)
    assert "\033[32mup\033[0m" in on_tty(a.socket, "status")
    assert "\033[32mup\033[0m" in on_tty(a.socket, "status",
                                         env={"NO_COLOR": ""})
    for args in (["--no-color", "status"], ["status", "--no-color"]):
        out = on_tty(a.socket, *args)
        assert "\033" not in out and "\u2514\u2500 web" in out, args
    assert "\033[31mstderr\033[0m: a-err" in on_tty(a.socket, "logs", "a")
    out = on_tty(a.socket, "logs", "--no-color", "a")
    assert "\033" not in out and "] stderr: a-err" in out
