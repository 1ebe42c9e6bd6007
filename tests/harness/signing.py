"""Signature-order steps shared by cluster and browser tests: orders through
the API, the SMS code read from the cluster's outbox, the link read from a
mail, the public pages' CSRF token, and a cluster that mails through SMTP."""
import email
import json
import os
import re
import time
from contextlib import contextmanager
from email import policy

from harness.api import unique

CODE = re.compile(r"\b(\d{6})\b")
LINK = re.compile(r"https?://\S+/sign/[A-Za-z0-9_.\-]+")
CSRF = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"|value="([^"]+)"[^>]*name="csrf_token"')


def new_subscriber(**overrides):
    subscriber = {"customer_reference": unique("SIG"), "name": "Léa Fontaine",
                  "email": "lea.fontaine@example.test", "phone": "+33612345678",
                  "address": "8 quai de Saône, 69009 Lyon"}
    subscriber.update(overrides)
    return subscriber


def create_order(api, method="link", **overrides):
    body = {"method": method, "subscriber": new_subscriber()}
    body.update(overrides)
    response = api.post("/signature-orders", json=body)
    assert response.status_code == 201, response.text
    return response.json()


def token_of(signing_url):
    return signing_url.rsplit("/sign/", 1)[1]


def sms_messages(var_dir, order_id=None):
    """The SMS written to the cluster's outbox, oldest first."""
    folder = var_dir / "outbox-sms"
    messages = [json.loads(path.read_text()) for path in sorted(folder.glob("*.json"))] if folder.exists() else []
    return [m for m in messages if order_id is None or m.get("order_id") == order_id]


def last_code(var_dir, order_id, seconds=10):
    """The code in the latest SMS for the order (waits for it a little)."""
    deadline = time.monotonic() + seconds
    while True:
        messages = sms_messages(var_dir, order_id)
        if messages:
            return CODE.search(messages[-1]["body"]).group(1)
        if time.monotonic() > deadline:
            raise AssertionError(f"no SMS for {order_id} in {var_dir / 'outbox-sms'}")
        time.sleep(0.1)


def wrong_code(code):
    return f"{(int(code) + 1) % 1_000_000:06d}"


def csrf_token(html):
    found = CSRF.search(html)
    assert found, "no CSRF token in the page"
    return found.group(1) or found.group(2)


def mail_to(maildir, address, seconds=15):
    """The latest mail the SMTP server received for `address`, as an EmailMessage."""
    deadline = time.monotonic() + seconds
    while True:
        found = [email.message_from_bytes(maildir.get_bytes(key), policy=policy.default)
                 for key in maildir.keys()]
        found = [m for m in found if address in m["To"]]
        if found:
            return max(found, key=lambda m: email.utils.parsedate_to_datetime(m["Date"]))
        if time.monotonic() > deadline:
            raise AssertionError(f"no mail for {address}")
        time.sleep(0.2)


def link_in(message):
    body = message.get_body(preferencelist=("plain", "html")).get_content()
    return LINK.search(body).group(0)


@contextmanager
def cluster_mailing_through(infrastructure, workdir, smtp_port):
    """A cluster of its own whose mails go to the SMTP server on `smtp_port`."""
    from harness.cluster import Cluster

    previous = os.environ.get("SMTP_URL")
    with infrastructure.database("debito_signing") as url:
        os.environ["SMTP_URL"] = f"smtp://127.0.0.1:{smtp_port}"
        try:
            with Cluster.start(infrastructure, url, workdir) as running:
                _restore("SMTP_URL", previous)  # read once, when the processes started
                yield running
        finally:
            _restore("SMTP_URL", previous)


def _restore(name, value):
    if value is None:
        os.environ.pop(name, None)
    else:
        os.environ[name] = value
