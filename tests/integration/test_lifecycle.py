"""arbord's command line, start-up failures and the shipped example."""

import os
import subprocess

from conftest import ARBORD, REPO, SLEEPER, pid_alive, service, tree


def run(*args, **kw):
    return subprocess.run([ARBORD, *args], capture_output=True, text=True,
                          timeout=30, **kw)


def test_missing_program_is_a_config_error(tmp_path):
    """A program that does not exist is refused before anything starts:
    exit 1 and a message naming the file, the line and the program."""
    conf = tmp_path / "arbor.conf"
    conf.write_text(tree([service("a", SLEEPER),
                          service("b", ["/nonexistent/prog"])]))
    r = run("-c", str(conf))
    assert r.returncode == 1
    assert f"{conf}:4:" in r.stderr and "/nonexistent/prog" in r.stderr
    assert "event=" not in r.stderr


def test_exec_failure_during_init_fails_the_start(arbord, tmp_path):
    """S3, M6: a program that passes the check but cannot be exec'ed (its
    interpreter is missing) fails its start during init: the children
    already started are stopped, nothing after it starts, arbord exits 1
    with a clear message."""
    script = tmp_path / "broken"
    script.write_text("#!/nonexistent/interpreter\n")
    script.chmod(0o755)
    a = arbord(tree([service("a", SLEEPER), service("b", [str(script)]),
                     service("c", SLEEPER)]))
    assert a.wait_exit() == 1
    assert a.trace() == ["start /", "start a", "start_failed b", "stop a",
                         "start_failed /", "down"]
    assert a.find("start_failed", "b")[0]["error"] == \
        "No such file or directory"
    assert any(f"child 'b': cannot start {script}" in line
               for line in a.lines)
    assert not any(pid_alive(p) for p in a.pids)


def test_check_prints_the_tree_and_exits_0(tmp_path):
    conf = tmp_path / "arbor.conf"
    conf.write_text(tree([service("a", SLEEPER)]))
    r = run("--check", "-c", str(conf))
    assert r.returncode == 0, r.stderr
    assert 'name = "a";' in r.stdout
    assert "# default" in r.stdout


def test_bad_config_reports_file_and_line(tmp_path):
    conf = tmp_path / "arbor.conf"
    conf.write_text('children = ( { name = "a"; exec = [ "/bin/true" ]; '
                    'restrat = "transient"; } );\n')
    r = run("-c", str(conf))
    assert r.returncode == 1
    assert f"{conf}:1:" in r.stderr and "restrat" in r.stderr


def test_garbage_config(tmp_path):
    conf = tmp_path / "arbor.conf"
    conf.write_bytes(b"\x00\xff{{{ children = ((( ;;;\n")
    r = run("-c", str(conf))
    assert r.returncode == 1
    assert str(conf) in r.stderr


def test_missing_config_file(tmp_path):
    r = run("-c", str(tmp_path / "nope.conf"))
    assert r.returncode == 1
    assert "nope.conf" in r.stderr


def test_usage_errors_exit_2():
    assert run("--bogus").returncode == 2
    assert run("extra-argument").returncode == 2
    r = run("--help")
    assert r.returncode == 0 and "usage: arbord" in r.stdout
    r = run("--version")
    assert r.returncode == 0 and r.stdout.startswith("arbord ")


def test_example_configuration_runs(tmp_path):
    """The README's first command: the example tree of conf.d/ starts, and
    Ctrl-C (SIGINT) stops it cleanly."""
    conf = os.path.join(REPO, "conf.d", "arbor.conf")
    r = run("--check", "-c", conf)
    assert r.returncode == 0, r.stderr
    proc = subprocess.Popen([ARBORD, "-c", conf, "-s",
                             str(tmp_path / "arbor.sock")],
                            stdin=subprocess.DEVNULL,
                            stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True)
    try:
        lines = []
        for line in proc.stderr:
            lines.append(line)
            if line.startswith("event=start") and "path=flaky" in line:
                break
        proc.send_signal(2)
        _, rest = proc.communicate(timeout=30)
        lines += rest.splitlines(True)
        assert proc.returncode == 0, "".join(lines)
        assert lines[-1].strip() == "event=down"
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
