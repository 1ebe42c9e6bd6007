"""Outgoing SMS: through Twilio's client library when TWILIO_ACCOUNT_SID,
TWILIO_AUTH_TOKEN and TWILIO_FROM are set (TWILIO_API_URL points it at another
base URL, for tests), otherwise one JSON file per message under
`$DEBITO_VAR/outbox-sms/` (OUTBOX_SMS overrides the folder), written
atomically, so a one-machine run and the tests can read the code."""
import json
import logging
import os
import tempfile
from datetime import datetime, timezone
from pathlib import Path

from requests import RequestException
from twilio.base.exceptions import TwilioException, TwilioRestException
from twilio.http.http_client import TwilioHttpClient
from twilio.rest import Client

from common import clock
from common.config import env, var_dir
from common.errors import Unavailable

log = logging.getLogger(__name__)
TWILIO_TIMEOUT = 15  # seconds: the operator is waiting on the phone

BODIES = {
    "fr": "Debito : votre code pour signer le mandat de {creditor} est {code} (valable 10 minutes).",
    "en": "Debito: your code to sign the mandate for {creditor} is {code} (valid 10 minutes).",
}


def code_message(code, creditor_name, lang="fr"):
    return BODIES[lang].format(creditor=creditor_name, code=code)


def sms_outbox():
    configured = env("OUTBOX_SMS")
    return Path(configured).resolve() if configured else var_dir() / "outbox-sms"


def twilio_settings():
    values = {name: env(name) for name in ("TWILIO_ACCOUNT_SID", "TWILIO_AUTH_TOKEN", "TWILIO_FROM")}
    return values if all(values.values()) else None


def send_sms(to, body, order_id=None):
    """Send one SMS; returns {"sid"} from Twilio or {"path"} of the outbox file.
    Unavailable when Twilio refuses or cannot be reached (nothing was sent)."""
    settings = twilio_settings()
    if settings:
        return {"sid": _send_twilio(settings, to, body)}
    return {"path": str(_write_outbox(to, body, order_id))}


def _send_twilio(settings, to, body):
    client = Client(settings["TWILIO_ACCOUNT_SID"], settings["TWILIO_AUTH_TOKEN"],
                    http_client=TwilioHttpClient(timeout=TWILIO_TIMEOUT))
    if env("TWILIO_API_URL"):
        client.api.base_url = env("TWILIO_API_URL").rstrip("/")
    try:
        message = client.messages.create(to=to, from_=settings["TWILIO_FROM"], body=body)
    except TwilioRestException as error:
        log.warning("Twilio refused an SMS to %s: %s %s", to, error.code, error.msg)
        raise Unavailable(f"the SMS could not be sent: Twilio answered {error.status}"
                          f" (code {error.code}: {error.msg})", {"sms": "not sent"}) from None
    except (TwilioException, RequestException, OSError) as error:
        log.warning("Twilio unreachable for an SMS to %s: %s", to, error)
        raise Unavailable(f"the SMS could not be sent: {type(error).__name__}: {error}",
                          {"sms": "not sent"}) from None
    return message.sid


def _write_outbox(to, body, order_id):
    folder = sms_outbox()
    folder.mkdir(parents=True, exist_ok=True)
    # the real time in the name: files stay ordered and distinct even under a frozen clock
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S%fZ")
    name = f"{stamp}-{order_id or 'sms'}.json"
    content = {"to": to, "from": env("TWILIO_FROM", "Debito"), "body": body, "order_id": order_id,
               "sent_at": clock.now().isoformat()}
    descriptor, temporary = tempfile.mkstemp(dir=folder, prefix=".", suffix=".tmp")
    with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
        json.dump(content, handle, ensure_ascii=False)
    os.replace(temporary, folder / name)
    return folder / name
