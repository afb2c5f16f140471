"""A clean clone of this repository, for the packaging tests: a fixture
they import (a conftest.py here would shadow the integration suite's
`from conftest import ...` in the one pytest run of make check).

It is cloned from the repository's HEAD, as CI's clone is: what is not
committed is not in it (commit, then run these tests). It is removed,
whatever the tests' outcome, when the session ends.
"""

import os
import shutil
import subprocess
import tempfile

import pytest

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))


def in_git_checkout():
    return shutil.which("git") is not None and subprocess.run(
        ["git", "-C", REPO, "rev-parse", "--is-inside-work-tree"],
        capture_output=True).returncode == 0


@pytest.fixture(scope="session")
def clone():
    """The path of a fresh clone of REPO's HEAD."""
    if not in_git_checkout():
        pytest.skip("not a git checkout (or no git): no clean clone to "
                    "build from")
    with tempfile.TemporaryDirectory(prefix="arbor-packaging-") as tmp:
        path = os.path.join(tmp, "arbor")
        subprocess.run(["git", "clone", "-q", REPO, path], check=True)
        yield path
