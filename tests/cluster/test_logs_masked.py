"""IBANs masked in logs (issue 9): requests that carry an IBAN and are refused, so that the
gateway writes a line about them, leave only the masked IBAN in the cluster's log files (every
process's stdout and stderr, as the supervisor keeps them). http.server used to write a refused
request line, query string and all, straight to stderr; it now goes through logging and its
filter (common/redact.py). The services' own configuration is checked in tests/unit/test_redact.py."""
import secrets
import socket
import time
from urllib.parse import urlsplit

import pytest
from schwifty import IBAN

from common.sepa import mask_iban

pytestmark = pytest.mark.cluster


def fresh_iban():
    """A valid French IBAN no other test uses, so that its digits are this test's alone."""
    account = f"{secrets.randbelow(10**11):011d}"
    return IBAN.generate("FR", bank_code="30006", account_code=account).compact


def logs_holding(cluster, text, seconds=15):
    """{log file name: its content} of the files where `text` appears (waits for it a little)."""
    deadline = time.monotonic() + seconds
    while True:
        found = {path.name: path.read_text(errors="replace") for path in cluster.log_dir.glob("*.log")}
        found = {name: content for name, content in found.items() if text in content}
        if found or time.monotonic() > deadline:
            return found
        time.sleep(0.3)


def all_logs(cluster):
    return "\n".join(path.read_text(errors="replace") for path in cluster.log_dir.glob("*.log"))


def test_an_iban_in_a_refused_request_line_reaches_the_gateway_log_masked(cluster):
    iban = fresh_iban()
    address = urlsplit(cluster.url)
    for line in (f"GET /dashboard/mandates?iban={iban} HTTP/9.9",  # an HTTP version refused (505)
                 f"GET /dashboard/mandates?q={iban[:4]}+{iban[4:8]}+{iban[8:]} HTTP/1.1 extra"):  # 400
        with socket.create_connection((address.hostname, address.port), timeout=10) as connection:
            connection.sendall(line.encode() + b"\r\nHost: x\r\n\r\n")
            reply = connection.recv(4096)
            assert b"400" in reply or b"505" in reply, reply
    where = logs_holding(cluster, mask_iban(iban))
    assert "gateway.log" in where, sorted(where)
    logs = all_logs(cluster)
    assert iban not in logs and iban[8:] not in logs
