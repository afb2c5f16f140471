"""A small varlink client for arbord's control socket (stdlib only).

Each message is one JSON object followed by a NUL byte. A call is
{"method": M, "parameters": {...}} (+ "more" or "oneway"); a reply is
{"parameters": {...}} (+ "continues" on a stream) or {"error": NAME,
"parameters": {...}}. Every read has a bounded timeout: nothing here can
hang a test.

Also runnable, for a client under another uid (setpriv ... python3 THIS):
    python3 ctlclient.py SOCKET METHOD [JSON-PARAMETERS]
prints one JSON line: {"reply": {...}} (the raw reply, error or not), or
{"connect_error": "EACCES"} when the socket cannot be reached.
"""

import errno
import json
import socket
import sys
import time

# Calls arbord accepts, NUL excluded (common/protocol.h ARB_MSG_MAX).
MSG_MAX = 64 * 1024


class Closed(Exception):
    """The peer closed the connection (EOF or reset)."""


class VarlinkError(Exception):
    """An error reply: .name and .parameters."""

    def __init__(self, name, parameters):
        super().__init__(f"{name} {parameters}")
        self.name = name
        self.parameters = parameters


def encode(method, parameters=None, more=False, oneway=False):
    msg = {"method": method}
    if parameters is not None:
        msg["parameters"] = parameters
    if more:
        msg["more"] = True
    if oneway:
        msg["oneway"] = True
    return json.dumps(msg).encode() + b"\0"


class Conn:
    """One connection. Reads buffer bytes until a NUL; recv() returns one
    decoded message, or raises Closed, or socket.timeout (TimeoutError)."""

    def __init__(self, path, timeout=5.0, connect=True):
        self.path = str(path)
        self.timeout = timeout
        self.buf = b""
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(timeout)
        if connect:
            self._connect()

    def _connect(self):
        # A full listen backlog makes a Unix socket's connect fail at once
        # with EAGAIN (there is no EINPROGRESS): retry until the timeout.
        deadline = time.monotonic() + self.timeout
        while True:
            try:
                self.sock.connect(self.path)
                return
            except BlockingIOError:
                if time.monotonic() > deadline:
                    self.sock.close()
                    raise socket.timeout("listen backlog full")
                time.sleep(0.001)
            except OSError:
                self.sock.close()
                raise

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def close(self):
        self.sock.close()

    def fileno(self):
        return self.sock.fileno()

    # -- writing --

    def send_raw(self, data):
        self.sock.sendall(data)

    def send(self, method, parameters=None, more=False, oneway=False):
        self.send_raw(encode(method, parameters, more, oneway))

    # -- reading --

    def _fill(self, deadline):
        left = deadline - time.monotonic()
        if left <= 0:
            raise socket.timeout("no complete message in time")
        self.sock.settimeout(left)
        try:
            chunk = self.sock.recv(1 << 16)
        except (ConnectionResetError, BrokenPipeError) as e:
            raise Closed(str(e)) from e
        if not chunk:
            raise Closed("end of file")
        self.buf += chunk

    def recv_raw(self, timeout=None):
        """One message's bytes, NUL excluded."""
        deadline = time.monotonic() + (timeout or self.timeout)
        while b"\0" not in self.buf:
            self._fill(deadline)
        msg, self.buf = self.buf.split(b"\0", 1)
        return msg

    def recv(self, timeout=None):
        """One decoded message (a dict)."""
        return json.loads(self.recv_raw(timeout))

    def reply(self, timeout=None):
        """The parameters of the next reply; VarlinkError for an error."""
        msg = self.recv(timeout)
        if "error" in msg:
            raise VarlinkError(msg["error"], msg.get("parameters", {}))
        return msg.get("parameters", {})

    def call(self, method, parameters=None, timeout=None):
        """Sends one call and returns its reply's parameters."""
        self.send(method, parameters)
        return self.reply(timeout)

    def stream(self, timeout=None):
        """Yields every message of a stream (each dict whole) until the
        one without "continues"; each wait bounded by timeout."""
        while True:
            msg = self.recv(timeout)
            yield msg
            if not msg.get("continues") or "error" in msg:
                return

    def wait_closed(self, timeout=None):
        """Reads until the peer closes; returns the bytes that came
        before (buffered ones included). socket.timeout if it stays open."""
        deadline = time.monotonic() + (timeout or self.timeout)
        while True:
            try:
                self._fill(deadline)
            except Closed:
                data, self.buf = self.buf, b""
                return data

    def is_open(self):
        """True unless the peer has closed (non-blocking peek; data that is
        waiting counts as open). A socket with a timeout would wait for
        it before MSG_DONTWAIT applies: made non-blocking for the peek."""
        timeout = self.sock.gettimeout()
        self.sock.setblocking(False)
        try:
            data = self.sock.recv(1, socket.MSG_PEEK)
        except BlockingIOError:
            return True
        except (ConnectionResetError, BrokenPipeError):
            return False
        finally:
            self.sock.settimeout(timeout)
        return bool(data)


def call(path, method, parameters=None, timeout=5.0):
    """One call on a fresh connection: its reply's parameters."""
    with Conn(path, timeout) as c:
        return c.call(method, parameters)


def try_call(path, method, parameters=None, timeout=5.0):
    """Like call(), but returns the error as (name, parameters) instead of
    raising: (None, parameters) on success."""
    try:
        return None, call(path, method, parameters, timeout)
    except VarlinkError as e:
        return e.name, e.parameters


SUP = "org.arbor.supervisor."


def status(path, node=None, timeout=5.0):
    """The nodes of Status, as a list of dicts."""
    params = {} if node is None else {"path": node}
    return call(path, SUP + "Status", params, timeout)["nodes"]


def status_by_path(path, node=None, timeout=5.0):
    return {n["path"]: n for n in status(path, node, timeout)}


def main(argv):
    if len(argv) not in (3, 4):
        print(__doc__, file=sys.stderr)
        return 2
    sock, method = argv[1], argv[2]
    params = json.loads(argv[3]) if len(argv) == 4 else {}
    try:
        c = Conn(sock, timeout=10.0)
    except OSError as e:
        print(json.dumps({"connect_error": errno.errorcode.get(e.errno,
                                                               str(e))}))
        return 0
    with c:
        c.send(method, params)
        print(json.dumps({"reply": c.recv()}))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
