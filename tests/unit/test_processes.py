"""Issue 16, point 3: the harness owns what it starts (tests/harness/processes.py). Each test runs
an inner pytest on a test file of its own, with the plugin, and looks at what is left after it."""
import os
import subprocess
import sys
import textwrap
from pathlib import Path

from harness.processes import MARKER, pid_alive as alive

ROOT = Path(__file__).resolve().parents[2]

# Prints its child's pid: a process and a grandchild in its group.
PARENT_AND_CHILD = ("import subprocess, sys, time; "
                    "child = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(120)']); "
                    "print(child.pid, flush=True); time.sleep(120)")


def run_inner(tmp_path, source, timeout=120):
    (tmp_path / "pytest.ini").write_text("[pytest]\n")
    (tmp_path / "test_inner.py").write_text(textwrap.dedent(source))
    (tmp_path / "pids").mkdir()
    env = {key: value for key, value in os.environ.items() if key != MARKER}
    env.update(PYTHONPATH=f"{ROOT / 'tests'}{os.pathsep}{ROOT}", PIDS=str(tmp_path / "pids"),
               PARENT_AND_CHILD=PARENT_AND_CHILD)
    return subprocess.run([sys.executable, "-m", "pytest", "-p", "harness.processes", "-p", "no:cacheprovider",
                           "-q", "-p", "no:warnings", "test_inner.py"], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=timeout)


def pids(tmp_path):
    """{name: [pid...]} the inner tests wrote."""
    return {path.name: [int(pid) for pid in path.read_text().split()] for path in (tmp_path / "pids").iterdir()}


def kill_survivors(found):
    for pid in found:
        if alive(pid):
            os.kill(pid, 9)


START = """
    import os, subprocess, sys, time
    import pytest

    def start(name):
        process = subprocess.Popen([sys.executable, "-c", os.environ["PARENT_AND_CHILD"]],
                                   stdout=subprocess.PIPE, text=True)
        child = process.stdout.readline().strip()
        with open(os.path.join(os.environ["PIDS"], name), "w") as out:
            out.write(f"{process.pid} {child}")
"""


def test_what_a_test_starts_ends_with_it_passed_failed_or_timed_out(tmp_path):
    result = run_inner(tmp_path, START + """
    def test_passes():
        start("passed")

    def test_fails():
        start("failed")
        assert False

    @pytest.mark.timeout(3)
    def test_times_out():
        start("timed_out")
        time.sleep(60)

    def test_the_others_are_gone_before_the_next_test():
        pids = [int(pid) for name in ("passed", "failed", "timed_out")
                for pid in open(os.path.join(os.environ["PIDS"], name)).read().split()]
        assert not [pid for pid in pids if os.path.exists(f"/proc/{pid}/cmdline")
                    and open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()[0] != "Z"]
    """)
    found = pids(tmp_path)
    everyone = [pid for group in found.values() for pid in group]
    try:
        assert sorted(found) == ["failed", "passed", "timed_out"]
        assert "2 failed, 2 passed" in result.stdout, result.stdout + result.stderr
        assert "test_times_out" in result.stdout and "Timeout" in result.stdout
        assert "leftover" not in result.stdout
        assert not [pid for pid in everyone if alive(pid)]
    finally:
        kill_survivors(everyone)


def test_a_session_fixture_keeps_its_processes_across_tests_even_restarted_during_one(tmp_path):
    result = run_inner(tmp_path, """
    import os, sys
    import pytest
    from debito.supervisor import Child, Supervisor
    from harness.processes import starter

    @pytest.fixture(scope="session")
    def supervisor():
        running = Supervisor([Child("sleeper", [sys.executable, "-c", "import time; time.sleep(120)"])],
                             popen=starter())
        running.start()
        yield running  # left running on purpose: the harness ends it with the session

    def test_restart_during_a_test(supervisor):
        supervisor.stop_child("sleeper")
        supervisor.start_child("sleeper")
        with open(os.path.join(os.environ["PIDS"], "restarted"), "w") as out:
            out.write(str(supervisor.children["sleeper"].process.pid))

    def test_the_restarted_child_still_runs(supervisor):
        assert supervisor.children["sleeper"].process.poll() is None
    """)
    restarted = pids(tmp_path)["restarted"]
    try:
        assert result.returncode == 0, result.stdout + result.stderr
        assert "2 passed" in result.stdout
        assert "leftover" not in result.stdout
        assert not alive(restarted[0])  # ended with the session
    finally:
        kill_survivors(restarted)


def test_a_process_that_outlives_the_run_fails_it_and_is_named(tmp_path):
    """The end-of-run check is not vacuous: a process escaping its test (its own session, its
    parent gone) is found by the run's marker, named, ended, and the run fails."""
    result = run_inner(tmp_path, """
    import os, subprocess, sys, time

    ESCAPES = '''
    import os, subprocess, sys
    subprocess.Popen([sys.executable, "-c", "import os, sys, time; os.setsid(); "
                      "open(sys.argv[1], 'w').write(str(os.getpid())); time.sleep(120)",
                      os.path.join(os.environ["PIDS"], "leaked"), "leaked-on-purpose"])
    '''

    def test_leaks_a_process():
        subprocess.run([sys.executable, "-c", ESCAPES], check=True)
        while not (os.path.exists(os.path.join(os.environ["PIDS"], "leaked"))
                   and open(os.path.join(os.environ["PIDS"], "leaked")).read()):
            time.sleep(0.05)
    """)
    leaked = pids(tmp_path)["leaked"]
    try:
        assert result.returncode == 1, result.stdout + result.stderr
        assert "1 passed" in result.stdout
        assert "processes started by this test run outlived it" in result.stdout
        assert f"pid {leaked[0]}: " in result.stdout
        assert "leaked-on-purpose" in result.stdout
        assert not alive(leaked[0])  # ended by the check
    finally:
        kill_survivors(leaked)


def test_a_run_that_leaves_nothing_behind_passes(tmp_path):
    result = run_inner(tmp_path, START + """
    def test_starts_and_ends_its_process():
        start("ended")
        subprocess.run([sys.executable, "-c", "pass"], check=True)
    """)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "leftover" not in result.stdout
