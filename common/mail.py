"""Outgoing mail: through `SMTP_URL` (smtp://user:pass@host:port, smtps:// for
TLS from the start, `?starttls=1` to upgrade) or, when it is unset, one `.eml`
file per message under `$DEBITO_VAR/outbox-mail/`, written atomically, so that
a one-machine run and the tests can read what would have been sent."""
import os
import smtplib
import tempfile
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlsplit

from common.config import env, var_dir

DEFAULT_SENDER = "Debito <no-reply@debito.invalid>"


def mail_outbox():
    return var_dir() / "outbox-mail"


def build_message(to, subject, body, sender=None):
    message = EmailMessage()
    message["From"] = sender or env("MAIL_FROM", DEFAULT_SENDER)
    message["To"] = to
    message["Subject"] = subject
    message["Date"] = formatdate(localtime=False)
    message["Message-ID"] = make_msgid(domain="debito.invalid")
    message.set_content(body)
    return message


def _send_smtp(url, message):
    parts = urlsplit(url)
    options = parse_qs(parts.query)
    secure = parts.scheme == "smtps"
    port = parts.port or (465 if secure else 25)
    client = (smtplib.SMTP_SSL if secure else smtplib.SMTP)(parts.hostname, port, timeout=30)
    try:
        if options.get("starttls", ["0"])[0] in ("1", "true", "yes"):
            client.starttls()
        if parts.username:
            client.login(unquote(parts.username), unquote(parts.password or ""))
        client.send_message(message)
    finally:
        client.quit()


def _write_eml(message):
    folder = mail_outbox()
    folder.mkdir(parents=True, exist_ok=True)
    name = message["Message-ID"].strip("<>").replace("@", "_").replace("/", "_") + ".eml"
    descriptor, temporary = tempfile.mkstemp(dir=folder, prefix=".", suffix=".tmp")
    with os.fdopen(descriptor, "wb") as handle:
        handle.write(bytes(message))
    os.replace(temporary, folder / name)
    return folder / name


def send_mail(to, subject, body, sender=None):
    """Send one plain-text mail; returns the .eml path when it was written to the outbox."""
    message = build_message(to, subject, body, sender)
    url = env("SMTP_URL")
    if url:
        _send_smtp(url, message)
        return None
    return Path(_write_eml(message))
