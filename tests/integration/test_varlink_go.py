"""arbord's interface descriptions through Debian's varlink-go generator
(issue 16): what GetInterfaceDescription returns must be accepted by
varlink-go-interface-generator, which turns it into a Go client and
server, as well as by the generic clients the other tests play.

The generator is strict where others are lenient: an interface name must
be all lowercase (varlink's grammar), which is why arbor's interface is
org.arbor.supervisor. Each test fetches the description from a real
arbord on a private socket, writes it to tmp_path and runs the generator
there (it writes NAME-without-dots.go beside its input). Without the
generator (packaging/install-deps --test installs varlink-go) the tests
are skipped and say so.
"""

import re
import shutil
import subprocess

import pytest

from conftest import start_web
from ctlclient import call

GENERATOR = shutil.which("varlink-go-interface-generator")

pytestmark = pytest.mark.skipif(
    GENERATOR is None,
    reason="varlink-go-interface-generator not installed (Debian's "
           "varlink-go; packaging/install-deps --test installs it)")


def description(sock, interface):
    return call(sock, "org.varlink.service.GetInterfaceDescription",
                {"interface": interface})["description"]


def generate(tmp_path, interface, text):
    """Runs the generator on text, saved as INTERFACE.varlink in tmp_path;
    its result and the Go code it wrote (None when it wrote none)."""
    source = tmp_path / f"{interface}.varlink"
    source.write_text(text)
    run = subprocess.run([GENERATOR, str(source)], cwd=str(tmp_path),
                         stdin=subprocess.DEVNULL, capture_output=True,
                         text=True, timeout=60)
    out = tmp_path / (interface.replace(".", "") + ".go")
    return run, out.read_text() if out.exists() else None


def declared(text, keyword):
    """The names of the description's methods, errors or types."""
    return re.findall(rf"^{keyword} ([A-Za-z0-9]+)", text, re.MULTILINE)


def test_supervisor_interface_generates_go(arbord, tmp_path):
    """org.arbor.supervisor, as a running arbord describes it, becomes Go:
    the generator refused the capitalised name arbor had before, and a
    description it cannot parse gives Go users no client at all."""
    a = start_web(arbord)
    info = call(a.socket, "org.varlink.service.GetInfo")
    assert "org.arbor.supervisor" in info["interfaces"]
    text = description(a.socket, "org.arbor.supervisor")

    run, go = generate(tmp_path, "org.arbor.supervisor", text)

    assert run.returncode == 0, run.stdout + run.stderr
    assert go is not None, f"no Go file in {sorted(tmp_path.iterdir())}"
    assert "package orgarborsupervisor" in go
    assert "return `org.arbor.supervisor`" in go  # VarlinkGetName
    methods = declared(text, "method")
    assert "Status" in methods and "Reexec" in methods, methods
    for m in methods:
        # A client call for each method, sent under the name arbord
        # answers, and a server reply for it.
        assert f"func (m {m}_methods) Call(" in go, m
        assert f'c.Send(ctx, "org.arbor.supervisor.{m}"' in go, m
        assert f"func (c *VarlinkCall) Reply{m}(" in go, m
    for e in declared(text, "error"):
        assert f"func (c *VarlinkCall) Reply{e}(" in go, e
    for t in declared(text, "type"):
        assert f"type {t} struct" in go, t
    # Optional fields become pointers, and camelCase keeps its JSON name.
    assert 'DryRun *bool `json:"dryRun,omitempty"`' in go


def test_every_listed_interface_generates_go(arbord, tmp_path):
    """org.varlink.service, which arbord describes too, passes as well."""
    a = start_web(arbord)
    for interface in call(a.socket,
                          "org.varlink.service.GetInfo")["interfaces"]:
        text = description(a.socket, interface)
        run, go = generate(tmp_path, interface, text)
        assert run.returncode == 0, (interface, run.stdout + run.stderr)
        for m in declared(text, "method"):
            assert f"func (m {m}_methods) Call(" in go, (interface, m)


def test_generator_refuses_a_capitalised_interface_name(arbord, tmp_path):
    """The reason for the lowercase name: the same description under the
    name arbor had before issue 16 is refused, and nothing is written."""
    a = start_web(arbord)
    text = description(a.socket, "org.arbor.supervisor").replace(
        "interface org.arbor.supervisor", "interface org.arbor.Supervisor")

    run, go = generate(tmp_path, "org.arbor.Supervisor", text)

    assert run.returncode != 0
    assert "Error parsing" in run.stdout + run.stderr
    assert go is None
