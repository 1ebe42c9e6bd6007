"""A private RabbitMQ node for the tests that stop and restart a broker (issue 9): the
machine's shared broker serves other test runs and must never be restarted.

    with private_broker(tmp_path / "broker") as broker:
        broker.amqp_uri        # amqp://guest:guest@127.0.0.1:<port>/
        broker.stop()          # SIGTERM: the node shuts down in order, every connection drops
        broker.start()         # the same node on the same data directory: durable queues
                               # and persistent messages are there again

The node has its own name, ports (AMQP, Erlang distribution, management API), data, logs,
config and Erlang cookie (HOME is its directory), so it shares nothing with the machine's
broker but epmd. It needs the Debian package's scripts under /usr/lib/rabbitmq/bin (run
directly: /usr/sbin/rabbitmq-server would `su rabbitmq` and drop the environment).
"""
import json
import os
import shutil
import signal
import subprocess
import time
import uuid
from contextlib import contextmanager
from pathlib import Path

import requests

from harness.ports import free_port

BIN = Path(os.environ.get("RABBITMQ_BIN", "/usr/lib/rabbitmq/bin"))


def available():
    """Why a private node cannot run here, or None."""
    for name in ("rabbitmq-server", "rabbitmqctl"):
        if not (BIN / name).exists():
            return f"{BIN / name} not found (RABBITMQ_BIN)"
    if not shutil.which("epmd") and not Path("/usr/lib/erlang/bin/epmd").exists():
        return "epmd not found"
    return None


class PrivateBroker:
    def __init__(self, directory):
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        self.node = f"debito-broker-{uuid.uuid4().hex[:8]}@localhost"
        self.port, self.dist_port, self.management_port = free_port(), free_port(), free_port()
        self.amqp_uri = f"amqp://guest:guest@127.0.0.1:{self.port}/"
        self.api_uri = f"http://127.0.0.1:{self.management_port}"
        self.process = None
        (self.directory / "rabbitmq.conf").write_text(
            f"listeners.tcp.local = 127.0.0.1:{self.port}\n"
            f"management.tcp.ip = 127.0.0.1\nmanagement.tcp.port = {self.management_port}\n"
            # the management API (for a look by hand; the tests count with rabbitmqctl)
            "collect_statistics_interval = 500\n"
            "log.file.level = info\n")
        (self.directory / "enabled_plugins").write_text("[rabbitmq_management].\n")
        (self.directory / "rabbitmq-env.conf").write_text("")  # not /etc/rabbitmq's (the shared node's name)
        self.env = {
            **os.environ,
            "HOME": str(self.directory),  # its own ~/.erlang.cookie, made at the first start
            "RABBITMQ_NODENAME": self.node,
            "RABBITMQ_NODE_IP_ADDRESS": "127.0.0.1",
            "RABBITMQ_NODE_PORT": str(self.port),
            "RABBITMQ_DIST_PORT": str(self.dist_port),
            "RABBITMQ_CONF_ENV_FILE": str(self.directory / "rabbitmq-env.conf"),
            "RABBITMQ_CONFIG_FILE": str(self.directory / "rabbitmq.conf"),
            "RABBITMQ_ENABLED_PLUGINS_FILE": str(self.directory / "enabled_plugins"),
            "RABBITMQ_MNESIA_BASE": str(self.directory / "mnesia"),
            "RABBITMQ_LOG_BASE": str(self.directory / "log"),
            "RABBITMQ_PID_FILE": str(self.directory / "rabbitmq.pid"),
        }
        for name in ("ERL_FLAGS", "RABBITMQ_SERVER_START_ARGS", "RABBITMQ_CTL_ERL_ARGS"):
            self.env.pop(name, None)

    def ctl(self, *args, timeout=120, check=True):
        result = subprocess.run([str(BIN / "rabbitmqctl"), "-n", self.node, *args], env=self.env,
                                capture_output=True, text=True, timeout=timeout)
        if check and result.returncode != 0:
            raise RuntimeError(f"rabbitmqctl {' '.join(args)}: {result.stdout}{result.stderr}\n{self.log_tail()}")
        return result

    def start(self, timeout=90):
        """Start the node (again, on the same data) and wait until it accepts AMQP and answers
        its management API; the seconds it took."""
        started = time.monotonic()
        (self.directory / "rabbitmq.pid").unlink(missing_ok=True)
        output = open(self.directory / "server.out", "ab")
        try:
            # a session of its own: stop() can end the node's whole process group by its id
            self.process = subprocess.Popen([str(BIN / "rabbitmq-server")], env=self.env, cwd=self.directory,
                                            stdout=output, stderr=subprocess.STDOUT, start_new_session=True)
        finally:
            output.close()
        self.ctl("wait", "--timeout", str(timeout), str(self.directory / "rabbitmq.pid"), timeout=timeout + 30)
        deadline = time.monotonic() + timeout
        while True:
            try:
                requests.get(self.api_uri + "/api/overview", auth=("guest", "guest"), timeout=5).raise_for_status()
                break
            except requests.RequestException:
                if time.monotonic() > deadline or self.process.poll() is not None:
                    raise RuntimeError(f"private RabbitMQ {self.node} did not start\n{self.log_tail()}")
                time.sleep(0.2)
        return time.monotonic() - started

    def stop(self, timeout=60):
        """Halt the node the way a service manager restarts RabbitMQ: SIGTERM to its Erlang VM,
        which RabbitMQ answers with its orderly shutdown (the same as `rabbitmqctl stop`, without
        the seconds the command line takes to boot: connections drop at once). Its data stays for
        the next start. The seconds until the node's process ended."""
        started = time.monotonic()
        if self.process is None:
            return 0.0
        try:
            os.kill(int((self.directory / "rabbitmq.pid").read_text().strip()), signal.SIGTERM)  # our node's VM
            self.process.wait(timeout=timeout)
        except (OSError, ValueError, subprocess.TimeoutExpired):
            try:
                self.ctl("stop", timeout=timeout)
                self.process.wait(timeout=timeout)
            except (RuntimeError, subprocess.TimeoutExpired):
                self._kill()
        self.process = None
        return time.monotonic() - started

    def _kill(self):
        try:
            os.killpg(self.process.pid, signal.SIGKILL)  # the group of the node we started, by its id
        except ProcessLookupError:
            pass
        self.process.wait(timeout=30)

    def api(self, path):
        response = requests.get(self.api_uri + "/api" + path, auth=("guest", "guest"), timeout=5)
        response.raise_for_status()
        return response.json()

    def queues(self):
        """Every queue of the node with `name`, `durable`, `consumers` and `messages` (ready and
        unacknowledged), as the node itself counts them now (`rabbitmqctl list_queues`; the
        management API's figures lag); [] when the node does not answer."""
        try:
            result = self.ctl("-q", "list_queues", "--formatter", "json", "name", "durable", "consumers", "messages",
                              timeout=30, check=False)
            return json.loads(result.stdout) if result.returncode == 0 else []
        except (subprocess.TimeoutExpired, ValueError):
            return []

    def consumers(self, queue):
        """How many consumers `queue` has (0 if the node does not answer or has no such queue)."""
        return next((q["consumers"] for q in self.queues() if q["name"] == queue), 0)

    def log_tail(self, lines=30):
        out = []
        for path in [self.directory / "server.out", *sorted((self.directory / "log").glob("*.log"))]:
            if path.exists():
                out.append(f"--- {path.name}\n" + "\n".join(path.read_text(errors="replace").splitlines()[-lines:]))
        return "\n".join(out)


@contextmanager
def private_broker(directory):
    """A private RabbitMQ node, started, and stopped at the end (killed if it will not stop)."""
    broker = PrivateBroker(directory)
    broker.start()
    try:
        yield broker
    finally:
        if broker.process is not None:
            broker.stop()
