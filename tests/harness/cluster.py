"""The whole cluster in child processes, started the way `make run` starts
it (the same supervisor), for tests that drive Debito as a merchant would."""
import json
import os
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path

import requests

from debito.supervisor import Supervisor, cluster_children
from harness.ports import free_port
from harness.processes import starter

ROOT = Path(__file__).resolve().parents[2]
DEBITO = str(Path(sys.executable).parent / "debito")


class Cluster:
    def __init__(self, env, supervisor, log_dir):
        self.env = env
        self.supervisor = supervisor
        self.log_dir = log_dir
        self.url = f"http://127.0.0.1:{env['GATEWAY_PORT']}"
        self.var_dir = Path(env["DEBITO_VAR"])

    @classmethod
    @contextmanager
    def start(cls, infrastructure, database_url, workdir):
        with infrastructure.vhost() as amqp_uri:
            env = dict(os.environ, AMQP_URI=amqp_uri, DATABASE_URL=database_url,
                       DEBITO_VAR=str(workdir / "var"), DEBITO_CLOCK_FILE=str(workdir / "var" / "clock"),
                       GATEWAY_HOST="127.0.0.1",
                       GATEWAY_PORT=str(free_port()), SECRET_KEY="test-secret-key",
                       PYTHONWARNINGS="ignore::DeprecationWarning", LOG_LEVEL="INFO",
                       # tests walk the clock with `collect --as-of`: no import nor daily cycle at real-time
                       # ticks (the scheduler's cycle of today would expire a test's old mandates meanwhile)
                       INBOX_INTERVAL="3600", SCHEDULER_INTERVAL="3600", SANDBOX_BANK_INTERVAL="0")
            subprocess.run([DEBITO, "migrate"], env=env, check=True, capture_output=True, timeout=300)
            # its children are the starter's (a session fixture's: the session's), restarted ones too
            supervisor = Supervisor(cluster_children(), env=env, log_dir=str(workdir / "logs"), popen=starter())
            cluster = cls(env, supervisor, workdir / "logs")
            supervisor.start()
            try:
                cluster.wait_healthy()
                yield cluster
            finally:
                supervisor.stop()

    def health(self):
        response = requests.get(self.url + "/healthz", timeout=10)
        return response.status_code, response.json()

    def wait_healthy(self, timeout=180):
        """Until /healthz answers 200 (a busy 2-core machine takes several times what an idle one does)."""
        deadline = time.monotonic() + timeout
        last = None
        while time.monotonic() < deadline:
            try:
                status, last = self.health()
                if status == 200:
                    return last
            except requests.RequestException as error:
                last = repr(error)
            time.sleep(0.5)
        raise AssertionError(f"waited {timeout}s for {self.url}/healthz to answer 200; last answer: {last}\n"
                             f"{self.logs()}")

    @contextmanager
    def clock_at(self, moment):
        """Every process of the cluster stands on `moment` (a date or an instant) meanwhile."""
        path = Path(self.env["DEBITO_CLOCK_FILE"])
        path.parent.mkdir(parents=True, exist_ok=True)
        path.with_name(".clock.tmp").write_text(moment.isoformat() + "\n")
        os.replace(path.with_name(".clock.tmp"), path)  # whole, never half-written
        try:
            yield
        finally:
            path.unlink(missing_ok=True)

    def logs(self, tail=40):
        out = []
        for path in sorted(self.log_dir.glob("*.log")):
            lines = path.read_text(errors="replace").splitlines()[-tail:]
            out.append(f"--- {path.name}\n" + "\n".join(lines))
        return "\n".join(out)

    def debito(self, *args, check=True):
        """Run the `debito` command line against this cluster."""
        result = subprocess.run([DEBITO, *args], env=self.env, capture_output=True, text=True)
        if check and result.returncode != 0:
            raise AssertionError(f"debito {' '.join(args)} failed: {result.stderr}")
        return result

    def create_merchant(self, name="Acme Gym", email=None, password="correct horse battery",
                        creditor_id="FR72ZZZ123456", iban="FR7630006000011234567890189"):
        email = email or f"owner-{time.monotonic_ns()}@acme.test"
        result = self.debito("merchant", "create", "--name", name, "--creditor-id", creditor_id,
                             "--iban", iban, "--email", email, "--password", password)
        merchant = json.loads(result.stdout)
        merchant["password"] = password
        return merchant

    def api(self, api_key):
        """A requests session on /api/v1 with the merchant's key."""
        session = requests.Session()
        session.headers["Authorization"] = f"Bearer {api_key}"
        session.base = self.url + "/api/v1"
        return ApiClient(session)


class ApiClient:
    def __init__(self, session):
        self.session = session

    def request(self, method, path, **kwargs):
        kwargs.setdefault("timeout", 30)
        return self.session.request(method, self.session.base + path, **kwargs)

    def get(self, path, **kwargs):
        return self.request("GET", path, **kwargs)

    def post(self, path, **kwargs):
        return self.request("POST", path, **kwargs)

    def patch(self, path, **kwargs):
        return self.request("PATCH", path, **kwargs)
