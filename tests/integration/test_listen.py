"""Socket activation (issue 4, item 3): arbord binds a service's listen
sockets before anything starts, holds them across its restarts and passes
them as fds 3.. with systemd's LISTEN_FDS, LISTEN_PID and LISTEN_FDNAMES,
so clients queue in the backlog while the service restarts instead of
being refused. The service is listen_echo, written against libsystemd."""

import os
import signal
import socket
import stat
import uuid

import pytest

from conftest import SLEEPER, SLOW, pid_alive, service, tree, wait_until
from ctlclient import call

HERE = os.path.dirname(os.path.abspath(__file__))
ECHO = os.path.join(HERE, "helpers", "listen_echo")
START = "org.arbor.supervisor.Start"
TIMEOUT = 5.0 * SLOW


def echo(name="echo", listen=(), **keys):
    """A listen_echo service on the addresses listen."""
    assert os.access(ECHO, os.X_OK), f"{ECHO} is not built (make check)"
    addrs = ", ".join(f'"{a}"' for a in listen)
    return service(name, [ECHO], listen=f"[ {addrs} ]", **keys)


def free_port(kind=socket.SOCK_STREAM):
    """A port nothing is bound to on 127.0.0.1 right now."""
    with socket.socket(socket.AF_INET, kind) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def parse_reply(data):
    """b'pid=1 fds=2 names=a:b fd=3\\n' -> {'pid': '1', ...}."""
    return dict(kv.split("=", 1) for kv in data.decode().split())


def ask(family, addr, request=b"ping\n"):
    """One request over a new stream connection; the reply (b'' when the
    service hung up without one). A refused connect raises."""
    with socket.socket(family, socket.SOCK_STREAM) as s:
        s.settimeout(TIMEOUT)
        s.connect(addr)
        s.sendall(request)
        data = b""
        try:
            while chunk := s.recv(4096):
                data += chunk
        except ConnectionResetError:
            pass
        return data


def ask_tcp(port, request=b"ping\n"):
    return ask(socket.AF_INET, ("127.0.0.1", port), request)


def ask_udp(port):
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.settimeout(TIMEOUT)
        s.sendto(b"ping", ("127.0.0.1", port))
        return parse_reply(s.recv(4096))


def environ(pid):
    with open(f"/proc/{pid}/environ", "rb") as f:
        data = f.read().decode()
    return dict(kv.split("=", 1) for kv in data.split("\0") if kv)


def fds(pid):
    return sorted(int(fd) for fd in os.listdir(f"/proc/{pid}/fd"))


def test_sockets_and_variables_reach_the_service(arbord, tmp_path):
    """Three addresses become fds 3, 4, 5 in order, with LISTEN_FDS=3,
    LISTEN_PID the service's own pid (sd_listen_fds checks it) and
    LISTEN_FDNAMES its name thrice; a sibling without listen gets none."""
    tcp, udp = free_port(), free_port(socket.SOCK_DGRAM)
    path = tmp_path / "echo.sock"
    a = arbord(tree([
        echo(listen=[f"tcp:127.0.0.1:{tcp}", f"unix:{path}",
                     f"udp:127.0.0.1:{udp}"]),
        service("other", SLEEPER)]))
    pid = int(a.wait_event("start", "echo")["pid"])
    other = int(a.wait_event("start", "other")["pid"])
    env = environ(pid)
    assert env["LISTEN_FDS"] == "3"
    assert env["LISTEN_PID"] == str(pid)
    assert env["LISTEN_FDNAMES"] == "echo:echo:echo"
    by_tcp = parse_reply(ask_tcp(tcp))
    assert by_tcp == {"pid": str(pid), "fds": "3",
                      "names": "echo:echo:echo", "fd": "3"}
    assert parse_reply(ask(socket.AF_UNIX, str(path)))["fd"] == "4"
    assert ask_udp(udp)["fd"] == "5"
    assert fds(pid) == [0, 1, 2, 3, 4, 5]
    wait_until(lambda: fds(other) == [0, 1, 2],
               what=f"only fds 0-2 in the sibling (has {fds(other)})")
    assert not any(k.startswith("LISTEN_") for k in environ(other))
    assert a.stop() == 0


def test_no_connection_is_refused_through_20_crashes(arbord):
    """The point of socket activation: a TCP client connecting again and
    again while the service crashes 20 times (10 times exiting 1 on a
    request, 10 times SIGKILLed) is never refused; each connection made
    while the service was down is served by the next one. (After a
    SIGKILL the test waits for the death: a connection that arrives while
    the killed process is still in accept() may be taken by it and lost,
    which no supervisor can prevent.)"""
    port = free_port()
    a = arbord(tree([echo(listen=[f"tcp:127.0.0.1:{port}"])],
                    intensity=100, period='"1s"'))
    a.wait_event("start", "echo")
    refused, pids = 0, []
    for i in range(21):
        try:
            reply = ask_tcp(port)
        except ConnectionRefusedError:
            refused += 1
            continue
        pids.append(int(parse_reply(reply)["pid"]))
        if i == 20:
            break
        if i % 2 == 0:
            try:
                assert ask_tcp(port, b"crash\n") == b""
            except ConnectionRefusedError:
                refused += 1
        else:
            os.kill(pids[-1], signal.SIGKILL)
            wait_until(lambda: not pid_alive(pids[-1]),
                       what=f"{pids[-1]} to die")
    assert refused == 0
    assert len(set(pids)) == 21, pids
    a.wait_event("exit", "echo", count=20)
    assert {e["reason"] for e in a.find("exit", "echo")} == {"crash"}
    assert not a.find("giveup")
    assert a.stop() == 0


def test_unix_sockets_path_and_abstract(arbord, tmp_path):
    """unix:/path makes a socket file anyone may connect to, replacing a
    stale one; unix:@name an abstract socket. The file is removed when
    arbord exits."""
    path = tmp_path / "echo.sock"
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as stale:
        stale.bind(str(path))  # left behind, nobody accepting
    name = f"arbor-test-{uuid.uuid4().hex}"
    a = arbord(tree([echo(listen=[f"unix:{path}", f"unix:@{name}"])]))
    pid = int(a.wait_event("start", "echo")["pid"])
    mode = os.stat(path).st_mode
    assert stat.S_ISSOCK(mode) and stat.S_IMODE(mode) == 0o666
    assert parse_reply(ask(socket.AF_UNIX, str(path))) == {
        "pid": str(pid), "fds": "2", "names": "echo:echo", "fd": "3"}
    assert parse_reply(ask(socket.AF_UNIX, "\0" + name))["fd"] == "4"
    assert a.stop() == 0
    assert not path.exists()


def test_udp(arbord):
    """udp:HOST:PORT passes a bound datagram socket."""
    port = free_port(socket.SOCK_DGRAM)
    a = arbord(tree([echo(listen=[f"udp:127.0.0.1:{port}"])]))
    pid = int(a.wait_event("start", "echo")["pid"])
    assert ask_udp(port) == {"pid": str(pid), "fds": "1", "names": "echo",
                             "fd": "3"}
    assert a.stop() == 0


def test_any_address_serves_both_families(arbord):
    """tcp:*:PORT is one socket for IPv4 and IPv6 (IPV6_V6ONLY off)."""
    port = free_port()
    a = arbord(tree([echo(listen=[f"tcp:*:{port}"])]))
    pid = str(a.wait_event("start", "echo")["pid"])
    assert parse_reply(ask_tcp(port))["pid"] == pid
    if socket.has_ipv6 and os.path.exists("/proc/net/if_inet6"):
        reply = ask(socket.AF_INET6, ("::1", port))
        assert parse_reply(reply)["pid"] == pid
    assert a.stop() == 0


def test_a_taken_address_is_a_clean_startup_error(arbord):
    """A socket that cannot be bound stops arbord before it starts
    anything: one diagnostic naming the service and address, exit 1."""
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        a = arbord(tree([service("first", SLEEPER),
                         echo(listen=[f"tcp:127.0.0.1:{port}"])]))
        assert a.wait_exit() == 1
    assert f"arbord: child 'echo': cannot listen on tcp:127.0.0.1:{port}: " \
        "Address already in use" in a.lines
    assert a.snapshot() == []  # not even the root started


def test_sockets_exist_before_the_service_and_after_it_dies(arbord, tmp_path):
    """The sockets are bound before the tree boots (a sibling started first
    can connect) and stay while the service is dead: a connection made
    then waits in the backlog and is served once the service is started
    again."""
    port, path = free_port(), tmp_path / "echo.sock"
    probed = tmp_path / "probed"
    probe = ("import socket, sys\n"
             f"socket.create_connection(('127.0.0.1', {port}), 5).close()\n"
             "s = socket.socket(socket.AF_UNIX)\n"
             f"s.connect('{path}')\n"
             f"open('{probed}', 'w').write('ok')\n")
    a = arbord(tree([
        service("probe", ["/usr/bin/python3", "-c", probe],
                restart='"temporary"'),
        echo(listen=[f"tcp:127.0.0.1:{port}", f"unix:{path}"],
             restart='"transient"')]))
    first = int(a.wait_event("start", "echo")["pid"])
    wait_until(lambda: a.find("exit", "probe"), what="the probe to finish")
    assert a.find("exit", "probe")[0]["code"] == "0", a.lines[-10:]
    assert probed.read_text() == "ok"
    # It exits 0 and, transient, stays dead.
    assert ask_tcp(port, b"exit\n") == b""
    assert a.wait_event("exit", "echo")["reason"] == "normal"
    assert path.exists()
    with socket.socket() as waiting:
        waiting.settimeout(TIMEOUT)
        waiting.connect(("127.0.0.1", port))  # not refused
        waiting.sendall(b"ping\n")
        assert call(a.socket, START, {"path": "echo"}) == {}
        reply = parse_reply(waiting.recv(4096))
    # The reader thread may not have parsed the start line yet.
    second = int(a.wait_event("start", "echo", count=2)["pid"])
    assert int(reply["pid"]) == second != first
    assert a.stop() == 0
    assert not path.exists()
    with pytest.raises(ConnectionRefusedError):
        ask_tcp(port)  # the socket is gone with arbord


def test_twelve_sockets_in_order(arbord, tmp_path):
    """Twelve sockets (bound before the spawner reserves its slots, so
    below them: the child's share of arbord's table has them) become
    exactly fds 3..14, in order, besides 0-2; a neighbour has 0-2 alone."""
    paths = [tmp_path / f"s{i}.sock" for i in range(12)]
    a = arbord(tree([
        service("many", ["/bin/sleep", "1000"],
                listen="[ " + ", ".join(f'"unix:{p}"' for p in paths) +
                " ]"),
        service("few", SLEEPER)]))
    pid = int(a.wait_event("start", "many")["pid"])
    few = int(a.wait_event("start", "few")["pid"])
    wait_until(lambda: fds(pid) == list(range(15)), 2, "fds 0-14")
    # Each fd is the socket bound at its address, in the listed order.
    with open("/proc/net/unix") as f:
        path_of = {ln.split()[6]: ln.split()[7] for ln in f.readlines()[1:]
                   if len(ln.split()) > 7}
    for i, p in enumerate(paths):
        inode = os.readlink(f"/proc/{pid}/fd/{3 + i}")[len("socket:["):-1]
        assert path_of[inode] == str(p)
    assert environ(pid)["LISTEN_FDS"] == "12"
    wait_until(lambda: fds(few) == [0, 1, 2], 2, "fds 0-2")
    a.stop()
