"""make install: the live configuration runs nothing and is never
replaced; the example trees are documentation.

The install recipe is run in a clean clone with stand-ins for the two
binaries (`make -o` keeps make from building them): this checks what
the recipe writes where, and test_deb.py checks the real binaries it
installs into the package.
"""

import os
import subprocess

from clean_clone import clone  # noqa: F401 (the fixture)

EXAMPLES = ["arbor.conf", "conf.d/10-example.conf", "conf.d/20-context.conf",
            "conf.d/30-pool.conf", "conf.d/40-limits.conf",
            "embedded/arbor.conf"]


def make(clone, *args):
    stand_ins = ["daemon/arbord", "ctl/arborctl"]
    for rel in stand_ins:
        with open(os.path.join(clone, rel), "w") as f:
            f.write("#!/bin/sh\n")
    opts = [arg for rel in stand_ins for arg in ("-o", rel)]
    return subprocess.run(["make", "-s", "-C", clone] + opts + list(args),
                          capture_output=True, text=True, check=True)


def read(path):
    with open(path) as f:
        return f.read()


def test_install_puts_a_config_that_runs_nothing(clone, tmp_path):
    """The live arbor.conf is packaging/arbor.conf, an empty tree that
    names where the examples are for this PREFIX; the example tree of
    conf.d/ is installed whole under EXAMPLEDIR, not into /etc."""
    make(clone, "install", f"DESTDIR={tmp_path}", "PREFIX=/opt/arbor")
    live = tmp_path / "opt/arbor/etc/arbor/arbor.conf"
    text = read(live)
    assert "\nchildren = ( );\n" in text
    assert "/opt/arbor/share/doc/arbor/examples/" in text
    assert "/usr/share/doc" not in text
    assert oct(live.stat().st_mode & 0o777) == "0o644"
    assert os.listdir(tmp_path / "opt/arbor/etc/arbor/conf.d") == []
    examples = tmp_path / "opt/arbor/share/doc/arbor/examples"
    for rel in EXAMPLES:
        assert read(examples / rel) == read(os.path.join(clone, "conf.d",
                                                         rel)), rel


def test_install_keeps_the_administrators_config(clone, tmp_path):
    """A second install leaves an edited arbor.conf as it is, and
    uninstall removes the examples but not the configuration."""
    make(clone, "install", f"DESTDIR={tmp_path}")
    live = tmp_path / "usr/local/etc/arbor/arbor.conf"
    live.write_text("children = ( { name = \"mine\"; "
                    "exec = [ \"/bin/true\" ]; } );\n")
    make(clone, "install", f"DESTDIR={tmp_path}")
    assert "mine" in read(live)
    make(clone, "uninstall", f"DESTDIR={tmp_path}")
    assert "mine" in read(live)
    assert not (tmp_path / "usr/local/share/doc/arbor").exists()
    assert not (tmp_path / "usr/local/sbin/arbord").exists()


def test_install_puts_the_shell_completions(clone, tmp_path):
    """bash, zsh and fish find arborctl's completion where their vendor
    completions go under PREFIX, and uninstall removes it."""
    make(clone, "install", f"DESTDIR={tmp_path}", "PREFIX=/opt/arbor")
    share = tmp_path / "opt/arbor/share"
    installed = {share / "bash-completion/completions/arborctl":
                 "packaging/bash-completion/arborctl",
                 share / "zsh/vendor-completions/_arborctl":
                 "packaging/zsh-completion/_arborctl",
                 share / "fish/vendor_completions.d/arborctl.fish":
                 "packaging/fish-completion/arborctl.fish"}
    for path, source in installed.items():
        assert read(path) == read(os.path.join(clone, source)), source
        assert oct(path.stat().st_mode & 0o777) == "0o644", path
    make(clone, "uninstall", f"DESTDIR={tmp_path}", "PREFIX=/opt/arbor")
    for path in installed:
        assert not path.exists(), path
