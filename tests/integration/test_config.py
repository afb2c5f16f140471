"""The configuration loader against files it must not trust: FIFOs, files
too large for libconfig, trees wide enough to show quadratic work.

Every `arbord --check` here runs under a timeout, so that a loader that
blocks fails the test instead of hanging the suite.
"""

import os
import resource
import subprocess

import pytest

from conftest import ARBORD, SLOW, service, tree

# arbor.conf(5): a file, with the files it includes, holds at most 1 MiB.
SIZE_MAX = 1024 * 1024


def check(conf, timeout=10.0):
    """arbord --check on conf: the CompletedProcess, or a failure saying
    that it hung (the child is killed by subprocess.run)."""
    try:
        return subprocess.run([ARBORD, "--check", "-c", str(conf)],
                              capture_output=True, text=True,
                              stdin=subprocess.DEVNULL,
                              timeout=timeout * SLOW)
    except subprocess.TimeoutExpired:
        pytest.fail(f"arbord --check -c {conf} still running after "
                    f"{timeout * SLOW:.0f}s")


def test_a_fifo_in_confd_is_an_error_not_a_hang(tmp_path):
    """Bug 7: a FIFO named *.conf in conf.d/ blocked arbord forever in
    open(2) (--check too, and the boot as PID 1); it is refused, with its
    name, as not a regular file."""
    conf = tmp_path / "arbor.conf"
    conf.write_text(tree([service("a", ["/bin/true"])]))
    (tmp_path / "conf.d").mkdir()
    fifo = tmp_path / "conf.d" / "10-fifo.conf"
    os.mkfifo(fifo)
    r = check(conf)
    assert r.returncode == 1, r.stdout + r.stderr
    assert f"{fifo}: cannot read: not a regular file" in r.stderr


def test_a_fifo_given_as_the_main_file_is_an_error_not_a_hang(tmp_path):
    """Bug 7: -c naming a FIFO is refused as not a regular file."""
    fifo = tmp_path / "arbor.conf"
    os.mkfifo(fifo)
    r = check(fifo)
    assert r.returncode == 1, r.stdout + r.stderr
    assert f"{fifo}: cannot read: not a regular file" in r.stderr


def test_a_fifo_behind_include_is_an_error_not_a_hang(tmp_path):
    """Bug 7: libconfig opens an @include'd file with a blocking fopen; an
    @include of a FIFO is refused at the @include's line before libconfig
    reads the file."""
    os.mkfifo(tmp_path / "pipe.conf")
    conf = tmp_path / "arbor.conf"
    conf.write_text(tree([service("a", ["/bin/true"])]) +
                    '# a comment\n@include "pipe.conf"\n')
    r = check(conf)
    assert r.returncode == 1, r.stdout + r.stderr
    line = conf.read_text().count("\n")
    assert (f"{conf}:{line}: @include '{tmp_path}/pipe.conf': not a "
            "regular file") in r.stderr


def test_a_fifo_behind_a_nested_include_in_a_fragment_is_an_error(tmp_path):
    """Bug 7: the check follows includes inside included files, from a
    conf.d fragment too, and names the file and line of the @include."""
    os.mkfifo(tmp_path / "pipe.conf")
    (tmp_path / "inner.conf").write_text('\n\n@include "pipe.conf"\n')
    conf = tmp_path / "arbor.conf"
    conf.write_text(tree([service("a", ["/bin/true"])]))
    (tmp_path / "conf.d").mkdir()
    (tmp_path / "conf.d" / "10-a.conf").write_text('@include "inner.conf"\n')
    r = check(conf)
    assert r.returncode == 1, r.stdout + r.stderr
    assert (f"{tmp_path}/inner.conf:3: @include '{tmp_path}/pipe.conf': "
            "not a regular file") in r.stderr


def test_an_include_inside_a_comment_or_string_is_not_followed(tmp_path):
    """Bug 7: the check reads @include where libconfig does, at the start
    of a line outside comments and strings; a FIFO named elsewhere is not
    opened, and the configuration loads."""
    os.mkfifo(tmp_path / "pipe.conf")
    conf = tmp_path / "arbor.conf"
    conf.write_text('/*\n@include "pipe.conf"\n*/\n'
                    'children = ( { name = "a"; exec = [ "/bin/echo", "\n'
                    '@include \\"pipe.conf\\"\n" ]; } );\n'
                    '# @include "pipe.conf"\n')
    r = check(conf)
    assert r.returncode == 0, r.stderr


def test_a_file_over_the_size_limit_is_refused_before_parsing(tmp_path):
    """Bug 8: libconfig 1.5 scans a long token in quadratic time (a 2 MB
    comment took 2 s, 50 MB never ended); a file over 1 MiB is refused
    without being parsed."""
    conf = tmp_path / "arbor.conf"
    text = tree([service("a", ["/bin/true"])])
    conf.write_text(text + "#" + "x" * (SIZE_MAX - len(text) - 1) + "\n")
    assert conf.stat().st_size == SIZE_MAX + 1
    r = check(conf)
    assert r.returncode == 1, r.stdout + r.stderr
    assert (f"{conf}: cannot read: larger than 1M (a file, with what it "
            "includes, holds at most 1M)") in r.stderr


def test_a_file_of_exactly_the_size_limit_loads(tmp_path):
    """Bug 8: the limit is inclusive: 1 MiB is read."""
    conf = tmp_path / "arbor.conf"
    text = tree([service("a", ["/bin/true"])])
    conf.write_text(text + "#" + "x" * (SIZE_MAX - len(text) - 2) + "\n")
    assert conf.stat().st_size == SIZE_MAX
    r = check(conf)
    assert r.returncode == 0, r.stderr


def test_includes_count_toward_the_size_limit(tmp_path):
    """Bug 8: a file and what it includes hold at most 1 MiB together, so
    that the same file included many times cannot get round the limit."""
    big = tmp_path / "big.conf"
    big.write_text("#" + "x" * (SIZE_MAX // 4) + "\n")
    conf = tmp_path / "arbor.conf"
    conf.write_text(tree([service("a", ["/bin/true"])]) +
                    '@include "big.conf"\n' * 4)
    r = check(conf)
    assert r.returncode == 1, r.stdout + r.stderr
    last = conf.read_text().count("\n")
    assert (f"{conf}:{last}: @include '{big}': larger than 1M with what "
            "includes it (a file, with what it includes, holds at most "
            "1M)") in r.stderr


def siblings(n):
    """A root with n services, with merged log streams: 16,000 of them
    need 16,341 descriptors, which a hard limit of 20,000 holds (two
    pipes each would not, and --check would refuse the tree)."""
    return tree([service(f"s{i:05d}", ["/bin/true"]) for i in range(n)],
                log='{ streams = "merged"; }')


def check_cpu(conf):
    """The CPU time (user + system) of one arbord --check that succeeds."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    proc = subprocess.Popen([ARBORD, "--check", "-c", str(conf)],
                            stdin=subprocess.DEVNULL,
                            stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    try:
        assert proc.wait(timeout=60 * SLOW) == 0
    except subprocess.TimeoutExpired:
        pytest.fail(f"arbord --check -c {conf} ran over {60 * SLOW:.0f}s")
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return (after.ru_utime - before.ru_utime +
            after.ru_stime - before.ru_stime)


def test_check_of_many_siblings_takes_linear_time(tmp_path):
    """Bug 8: --check on 16,000 siblings took 0.76 s, quadratic in the
    number of siblings (each name was compared with every earlier one).
    Four times the siblings must cost well under sixteen times the CPU:
    the best of three runs of each, in CPU time, so that a loaded machine
    does not decide."""
    small, large = tmp_path / "small.conf", tmp_path / "large.conf"
    small.write_text(siblings(4000))
    large.write_text(siblings(16000))
    t_small = min(check_cpu(small) for _ in range(3))
    t_large = min(check_cpu(large) for _ in range(3))
    assert t_large < 8 * max(t_small, 0.005), \
        f"4000 siblings: {t_small:.3f}s CPU, 16000: {t_large:.3f}s CPU"
