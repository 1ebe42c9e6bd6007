"""`make run`'s supervisor restarts a process that dies and logs its death;
`debito run` explains a missing broker in plain words."""
import logging
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from debito.supervisor import Child, Supervisor

DEBITO = str(Path(sys.executable).parent / "debito")


def wait_for(predicate, timeout=10):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return False


def test_a_killed_child_is_logged_and_restarted(caplog, tmp_path):
    sleeper = Child("sleeper", [sys.executable, "-c", "import time; time.sleep(60)"])
    supervisor = Supervisor([sleeper], log_dir=str(tmp_path))
    supervisor.start()
    try:
        first_pid = sleeper.process.pid
        os.kill(first_pid, signal.SIGKILL)
        with caplog.at_level(logging.ERROR, logger="debito.supervisor"):
            assert wait_for(lambda: supervisor.check() == ["sleeper"])
        assert sleeper.process.pid != first_pid
        assert sleeper.process.poll() is None
        assert "sleeper died (exit code -9)" in caplog.text
    finally:
        supervisor.stop()
    assert sleeper.process.poll() is not None


def test_a_child_stopped_on_purpose_is_not_restarted(tmp_path):
    sleeper = Child("sleeper", [sys.executable, "-c", "import time; time.sleep(60)"])
    supervisor = Supervisor([sleeper], log_dir=str(tmp_path))
    supervisor.start()
    supervisor.stop_child("sleeper")
    time.sleep(0.2)
    assert supervisor.check() == []
    supervisor.stop()


def test_a_child_that_keeps_dying_waits_longer_each_time(tmp_path):
    crasher = Child("crasher", [sys.executable, "-c", "raise SystemExit(3)"])
    supervisor = Supervisor([crasher], log_dir=str(tmp_path))
    supervisor.start()
    try:
        assert wait_for(lambda: supervisor.check() == ["crasher"])  # first restart after 1 s
        assert wait_for(lambda: crasher.process.poll() is not None)
        supervisor.check()
        assert crasher.restarts == 2
        assert crasher.next_start - time.monotonic() > 1.0  # the second pause is 2 s
    finally:
        supervisor.stop()


def test_run_without_a_broker_explains_how_to_start_one(tmp_path):
    env = dict(os.environ, AMQP_URI="amqp://guest:guest@127.0.0.1:1/", DEBITO_VAR=str(tmp_path))
    result = subprocess.run([DEBITO, "run"], env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode != 0
    assert "RabbitMQ is not reachable at 127.0.0.1:1/" in result.stderr
    assert "apt-get install rabbitmq-server" in result.stderr
    assert "docker compose up -d rabbitmq" in result.stderr
    assert "Traceback" not in result.stderr


SUPERVISOR_THEN_WAIT = """
import sys, time
from debito.supervisor import Child, Supervisor
supervisor = Supervisor([Child("sleeper", [sys.executable, "-c", "import time; time.sleep(300)"])])
supervisor.start()
print(supervisor.children["sleeper"].process.pid, flush=True)
time.sleep(300)
"""


def test_the_children_end_when_the_supervisor_is_killed(tmp_path):
    """A supervisor killed by SIGKILL (a test run's timeout, an OOM kill) leaves no orphan."""
    supervisor = subprocess.Popen([sys.executable, "-c", SUPERVISOR_THEN_WAIT], stdout=subprocess.PIPE, text=True,
                                  cwd=Path(__file__).resolve().parents[2])
    child = int(supervisor.stdout.readline())
    os.kill(child, 0)  # running
    supervisor.kill()
    supervisor.wait()
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            os.kill(child, 0)
        except ProcessLookupError:
            return
        # the orphan's new parent (init, or this test as a subreaper) reaps it
        try:
            os.waitpid(child, os.WNOHANG)
        except ChildProcessError:
            pass
        time.sleep(0.1)
    os.kill(child, signal.SIGKILL)
    raise AssertionError("the child outlived its supervisor")


def gone(pid):
    """The process ended (a zombie waiting for its reaper counts as ended)."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] in ("Z", "X")
    except FileNotFoundError:
        return True


SUPERVISOR_KILLED_WHILE_STARTING = """
import subprocess, sys
from debito.supervisor import Child, Supervisor

def announced(*args, **kwargs):
    process = subprocess.Popen(*args, **kwargs)
    print(process.pid, flush=True)
    return process

sleepers = [Child(f"sleeper{i}", [sys.executable, "-c", "import time; time.sleep(300)"]) for i in range(40)]
Supervisor(sleepers, popen=announced).start()
"""


def test_the_children_end_when_the_supervisor_is_killed_while_starting_them():
    """Killed by SIGKILL after its first child and before its last: every child it started ends."""
    supervisor = subprocess.Popen([sys.executable, "-c", SUPERVISOR_KILLED_WHILE_STARTING], stdout=subprocess.PIPE,
                                  text=True, cwd=Path(__file__).resolve().parents[2])
    children = [int(supervisor.stdout.readline())]
    supervisor.kill()
    children += [int(line) for line in supervisor.stdout]  # those started before the kill landed
    supervisor.wait()
    supervisor.stdout.close()
    assert 1 <= len(children) < 40
    try:
        assert wait_for(lambda: all(gone(pid) for pid in children), timeout=10), \
            f"children outlived their supervisor: {[pid for pid in children if not gone(pid)]}"
    finally:
        for pid in children:
            if not gone(pid):
                os.kill(pid, signal.SIGKILL)


PARENT_DIES_BEFORE_PRCTL = """
import os, sys, time
from debito.supervisor import end_with

parent = os.getpid()
if os.fork() == 0:  # the child, as between Popen's fork and its preexec_fn
    with open(sys.argv[1], "w") as out:
        out.write(str(os.getpid()))
    while os.getppid() == parent:  # the parent dies first: the race made certain
        time.sleep(0.01)
    end_with(parent)  # what the supervisor's preexec_fn runs
    with open(sys.argv[2], "w") as out:
        out.write("outlived its parent")
    time.sleep(30)
os._exit(0)
"""


def test_a_child_whose_supervisor_died_before_its_prctl_exits_at_once(tmp_path):
    """PR_SET_PDEATHSIG set after the parent's death sends nothing: the child must notice."""
    started, survived = tmp_path / "started", tmp_path / "survived"
    subprocess.run([sys.executable, "-c", PARENT_DIES_BEFORE_PRCTL, str(started), str(survived)],
                   cwd=Path(__file__).resolve().parents[2], check=True, timeout=30)
    assert wait_for(lambda: started.exists() and started.read_text())
    child = int(started.read_text())
    try:
        assert wait_for(lambda: gone(child) or survived.exists(), timeout=10)
        assert not survived.exists()
    finally:
        if not gone(child):
            os.kill(child, signal.SIGKILL)
