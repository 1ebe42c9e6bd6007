"""`make run` on an empty database: everything starts on SQLite files under
var/, and a demo merchant is made so the first look at the dashboard is not
empty; its login works."""
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from harness.ports import free_port

pytestmark = pytest.mark.cluster
DEBITO = str(Path(sys.executable).parent / "debito")


def test_first_run_makes_a_demo_merchant_whose_login_works(infrastructure, tmp_path):
    with infrastructure.vhost() as amqp_uri:
        port = free_port()
        env = {key: value for key, value in os.environ.items() if not key.endswith("DATABASE_URL")}
        env.update(AMQP_URI=amqp_uri, DEBITO_VAR=str(tmp_path / "var"), GATEWAY_PORT=str(port),
                   DEMO_SUBSCRIBERS="8", DEMO_MONTHS="1", PYTHONWARNINGS="ignore::DeprecationWarning")
        process = subprocess.Popen([DEBITO, "run"], env=env, stdout=subprocess.PIPE,
                                   stderr=subprocess.STDOUT, text=True)
        output = []
        try:
            deadline = time.monotonic() + 150
            while time.monotonic() < deadline:
                line = process.stdout.readline()
                if not line:
                    break
                output.append(line)
                if line.strip().startswith("password"):
                    break
            text = "".join(output)
            login = re.search(r"demo login\s+(\S+)\n\s+password\s+(\S+)", text)
            assert login, text[-3000:]
            assert (tmp_path / "var" / "payments.db").exists()  # SQLite by default
            session = requests.Session()
            form = session.get(f"http://127.0.0.1:{port}/login", timeout=10).text
            token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', form).group(1)
            answer = session.post(f"http://127.0.0.1:{port}/login", timeout=10, allow_redirects=False,
                                  data={"email": login.group(1), "password": login.group(2), "csrf_token": token})
            assert answer.status_code == 302
            page = session.get(f"http://127.0.0.1:{port}/dashboard/mandates", timeout=30).text
            assert page.count("data-mandate=") >= 8
        finally:
            process.send_signal(signal.SIGINT)
            try:
                process.wait(60)
            except subprocess.TimeoutExpired:
                process.kill()
                raise
