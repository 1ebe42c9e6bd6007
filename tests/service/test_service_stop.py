"""Issue 16, point 4: a service stops when asked, even when it cannot reach its broker. Each
test starts one service as `make run` and `debito service` do (debito/service_runner.py),
waits until it consumes its RPC queue on a vhost of its own, then sends SIGTERM."""
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from debito.supervisor import cluster_children, service_argv
from harness.reliability import wait_for_consumers

ROOT = Path(__file__).resolve().parents[2]
DEBITO = str(Path(sys.executable).parent / "debito")


def argv_of(name):
    if name == "scheduler":
        return next(child.argv for child in cluster_children() if child.name == "scheduler")
    return service_argv(name)


@pytest.fixture(scope="module")
def database_url(infrastructure):
    """A database of the module's own: without DATABASE_URL a service would start an embedded
    PostgreSQL that the alarm's exit leaves running."""
    with infrastructure.database("debito_stop") as url:
        yield url


def start(name, amqp_uri, tmp_path, database_url):
    env = {key: value for key, value in os.environ.items() if not key.endswith("DATABASE_URL")}
    env.update(AMQP_URI=amqp_uri, DEBITO_VAR=str(tmp_path / "var"), SCHEDULER_INTERVAL="3600",
               DATABASE_URL=database_url, PYTHONWARNINGS="ignore::DeprecationWarning")
    if name != "scheduler":
        subprocess.run([DEBITO, "migrate", name], env=env, check=True, capture_output=True, timeout=120)
    log = open(tmp_path / f"{name}.log", "wb")
    try:
        return subprocess.Popen(argv_of(name), env=env, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)
    finally:
        log.close()


def stop_time(process, timeout=30):
    """Seconds from SIGTERM to the process's end (at most `timeout`: then it is killed)."""
    sent = time.monotonic()
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
        return float("inf")
    return time.monotonic() - sent


@pytest.mark.parametrize("name", ["signing", "scheduler"])
def test_a_service_whose_vhost_is_deleted_stops_within_10_s_of_sigterm(infrastructure, tmp_path, name, database_url):
    with infrastructure.vhost() as amqp_uri:
        process = start(name, amqp_uri, tmp_path, database_url)
        try:
            wait_for_consumers(infrastructure, amqp_uri, {name: 1}, timeout=120)
        except BaseException:
            stop_time(process)
            raise
    # the vhost is deleted, and the service's connection with it
    time.sleep(3)  # kombu is reconnecting now, to a vhost that no longer exists
    seconds = stop_time(process)
    log = (tmp_path / f"{name}.log").read_text(errors="replace")
    assert seconds < 10, f"{name} still ran {seconds:.1f}s after SIGTERM\n{log[-3000:]}"
    assert process.returncode == 1, log[-3000:]
    assert "did not stop within 8s of SIGTERM" in log


def test_a_service_whose_broker_port_is_closed_stops_within_10_s_of_sigterm(tmp_path, database_url):
    from harness.ports import free_port

    process = start("scheduler", f"amqp://guest:guest@127.0.0.1:{free_port()}/", tmp_path, database_url)
    time.sleep(5)  # started, trying to connect
    assert process.poll() is None, (tmp_path / "scheduler.log").read_text(errors="replace")
    seconds = stop_time(process)
    assert seconds < 10, (tmp_path / "scheduler.log").read_text(errors="replace")[-3000:]


def test_a_service_with_its_broker_stops_gracefully_on_sigterm(infrastructure, tmp_path, database_url):
    with infrastructure.vhost() as amqp_uri:
        process = start("signing", amqp_uri, tmp_path, database_url)
        try:
            wait_for_consumers(infrastructure, amqp_uri, {"signing": 1}, timeout=120)
        finally:
            seconds = stop_time(process)
    log = (tmp_path / "signing.log").read_text(errors="replace")
    assert process.returncode == 0, log[-3000:]
    assert seconds < 8, log[-3000:]
    assert "did not stop" not in log
