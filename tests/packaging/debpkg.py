"""The Debian package built from a clean clone, as CI builds it: a fixture
the packaging tests import (test_deb.py looks into it, test_systemd_vm.py
installs it in a guest).

`make deb` (dpkg-buildpackage -us -uc -b, with the package build's unit
tests) runs once in a pytest session, in the clone of the first module
that asks: pytest makes a fixture imported into two modules two fixtures,
so the build is kept here. That clone lives until the session ends
(clean_clone.clone is session-scoped), and the .deb with it. The package
is also unpacked with dpkg -x, for the tests that look into it.
"""

import os
import shutil
import subprocess
import time

import pytest

TOOLS = {"dpkg-buildpackage": "dpkg-dev", "dh": "debhelper",
         "lintian": "lintian", "git": "git"}

_session = {}  # "built": the Built of this session's build


def version(clone):
    return subprocess.run(
        ["dpkg-parsechangelog", "-l", os.path.join(clone, "debian/changelog"),
         "-S", "Version"], capture_output=True, text=True,
        check=True).stdout.strip()


def arch():
    return subprocess.run(["dpkg", "--print-architecture"],
                          capture_output=True, text=True,
                          check=True).stdout.strip()


class Built:
    """out: make deb's directory; deb, changes: the package and its
    .changes; root: the package unpacked."""

    def __init__(self, out, deb, changes, root):
        self.out, self.deb, self.changes, self.root = out, deb, changes, root

    def path(self, rel):
        return os.path.join(self.root, rel.lstrip("/"))


def build(clone):
    """Runs make deb in clone, into a directory beside it; the Built."""
    out = os.path.join(os.path.dirname(clone), "deb")
    started = time.monotonic()
    run = subprocess.run(["make", "-C", clone, "deb", f"DEB_DIR={out}"],
                         capture_output=True, text=True, timeout=900)
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-4000:]
    print(f"make deb: {time.monotonic() - started:.1f}s")
    name = f"arbor_{version(clone)}_{arch()}"
    root = os.path.join(out, "root")
    subprocess.run(["dpkg", "-x", os.path.join(out, name + ".deb"), root],
                   check=True)
    return Built(out, os.path.join(out, name + ".deb"),
                 os.path.join(out, name + ".changes"), root)


@pytest.fixture(scope="module")
def built(clone):
    """The Built of the session's make deb; skips, saying why, without
    the Debian tools."""
    missing = [f"{tool} ({pkg})" for tool, pkg in TOOLS.items()
               if shutil.which(tool) is None]
    if missing:
        pytest.skip("no " + ", ".join(missing) +
                    ": packaging/install-deps --test installs them")
    if "built" not in _session:
        _session["built"] = build(clone)
    return _session["built"]
