"""Plain functions of the signing service: the one-time code, link tokens, the
mandate text and its hash, the SMS outbox, and the order rules that take the
time as an argument."""
import json
import re
from datetime import datetime, timedelta, timezone

import pytest

from common.errors import Conflict, Gone, Invalid, NotFound, TooManyRequests, Unavailable
from signing import document, orders, otp, sms, tokens
from signing.models import SignatureOrder

KEY = "unit-test-key"
NOW = datetime(2027, 3, 1, 9, 0, tzinfo=timezone.utc)
CREDITOR = {"name": "Acme SAS", "creditor_id": "FR72ZZZ123456", "address": "1 rue de la Paix\n75002 Paris"}


def an_order(**fields):
    values = dict(id="SO01TEST", merchant_id="ME1", method="operator", status="pending", lang="fr",
                  customer_reference="C-1", name="Émilie Dupré", email="e@example.org", phone="+33612345678",
                  creditor=CREDITOR, expires_at=NOW + timedelta(days=1), link_sends=0, otp_sends=0,
                  otp_attempts=0, created_at=NOW)
    values.update(fields)
    return SignatureOrder(**values)


# --- otp --------------------------------------------------------------------

def test_codes_are_six_random_digits():
    codes = {otp.new_code() for _ in range(200)}
    assert all(re.fullmatch(r"\d{6}", code) for code in codes)
    assert len(codes) > 190


def test_a_code_is_kept_as_a_keyed_hash_bound_to_its_order():
    stored = otp.hash_code("042137", "SO1", KEY)
    assert "042137" not in stored and len(stored) == 64
    assert otp.verify("042137", stored, "SO1", KEY)
    assert otp.verify(" 042137 ", stored, "SO1", KEY)
    assert not otp.verify("042138", stored, "SO1", KEY)
    assert not otp.verify("042137", stored, "SO2", KEY)  # another order's code
    assert not otp.verify("042137", stored, "SO1", "another key")
    assert not otp.verify(None, stored, "SO1", KEY) and not otp.verify("042137", None, "SO1", KEY)


def test_verify_compares_in_constant_time(monkeypatch):
    compared = []
    real = otp.hmac.compare_digest
    monkeypatch.setattr(otp.hmac, "compare_digest", lambda a, b: compared.append((a, b)) or real(a, b))
    assert otp.verify("123456", otp.hash_code("123456", "SO1", KEY), "SO1", KEY)
    assert len(compared) == 1


def test_a_code_lives_ten_minutes():
    assert not otp.is_expired(NOW, NOW + timedelta(minutes=9, seconds=59))
    assert otp.is_expired(NOW, NOW + timedelta(minutes=10))
    assert otp.is_expired(None, NOW)


def test_a_new_code_waits_a_minute_and_five_is_the_most():
    otp.check_can_send(None, 0, NOW)
    with pytest.raises(TooManyRequests) as error:
        otp.check_can_send(NOW, 1, NOW + timedelta(seconds=30))
    assert error.value.fields == {"retry_after": 30}
    otp.check_can_send(NOW, 4, NOW + timedelta(seconds=60))
    with pytest.raises(TooManyRequests):
        otp.check_can_send(NOW, 5, NOW + timedelta(days=1))


# --- tokens -----------------------------------------------------------------

def test_a_token_carries_its_order_and_only_its_nonce_hash_is_kept():
    token, stored = tokens.issue("SO1", KEY)
    assert re.fullmatch(r"[A-Za-z0-9_.\-]+", token)
    order_id, presented = tokens.read(token, KEY)
    assert order_id == "SO1" and tokens.matches(stored, presented)
    assert stored not in token


def test_a_tampered_or_foreign_token_is_not_found():
    token, _ = tokens.issue("SO1", KEY)
    payload, signature = token.rsplit(".", 1)
    forged_payload = tokens.URLSafeSerializer("x").dumps(["SO2", "n"]).rsplit(".", 1)[0]
    for bad in (payload + "." + signature[::-1], forged_payload + "." + signature, "", "abc",
                tokens.issue("SO1", "another key")[0], tokens.URLSafeSerializer(KEY, salt="other").dumps(["SO1", "n"]),
                tokens.URLSafeSerializer(KEY, salt=tokens.SALT).dumps({"o": "SO1"})):
        with pytest.raises(NotFound):
            tokens.read(bad, KEY)


def test_a_new_token_replaces_the_old_one():
    first, first_hash = tokens.issue("SO1", KEY)
    second, second_hash = tokens.issue("SO1", KEY)
    assert first != second
    assert not tokens.matches(second_hash, tokens.read(first, KEY)[1])
    assert not tokens.matches(None, tokens.read(first, KEY)[1])


def test_the_secret_key_is_made_once_under_var(tmp_path, monkeypatch):
    monkeypatch.delenv("SECRET_KEY", raising=False)
    monkeypatch.setenv("DEBITO_VAR", str(tmp_path))
    key = tokens.secret_key()
    assert len(key) == 64 and tokens.secret_key() == key == (tmp_path / "secret_key").read_text()
    monkeypatch.setenv("SECRET_KEY", "configured")
    assert tokens.secret_key() == "configured"


# --- document ---------------------------------------------------------------

def test_the_mandate_text_names_creditor_and_debtor_with_the_refund_rights_in_both_languages():
    fr = document.mandate_text(CREDITOR, {"name": "Émilie Dupré", "address": "3 rue Haute"}, "fr")
    assert "Créancier: Acme SAS" in fr and "Identifiant créancier SEPA (ICS): FR72ZZZ123456" in fr
    assert "Adresse: 1 rue de la Paix, 75002 Paris" in fr and "Débiteur: Émilie Dupré" in fr
    assert "vous autorisez (A) Acme SAS" in fr and "8 semaines" in fr and "13 mois" in fr
    en = document.mandate_text(CREDITOR, {"name": "Émilie Dupré"}, "en", "one_off")
    assert "you authorise (A) Acme SAS" in en and "8 weeks" in en and "13 months" in en
    assert "One-off payment" in en and "IBAN" not in en
    assert "IBAN: FR7630006000011234567890189" in document.mandate_text(
        CREDITOR, {"name": "E", "iban": "FR7630006000011234567890189"}, "en")


def test_the_document_hash_is_the_sha256_of_exactly_the_text():
    text = document.mandate_text(CREDITOR, {"name": "Émilie Dupré"}, "fr")
    assert text == document.mandate_text(dict(CREDITOR), {"name": "Émilie Dupré"}, "fr")
    digest = document.document_hash(text)
    import hashlib
    assert digest == "sha256:" + hashlib.sha256(text.encode("utf-8")).hexdigest()
    assert document.document_hash(text + " ") != digest


def test_the_link_mail_carries_the_url_and_masks_the_phone():
    subject, body = document.link_mail("Acme SAS", "Émilie", "+33612345678", "https://x/sign/T", NOW, "en")
    assert "Acme SAS" in subject and "https://x/sign/T" in body and "+33612345678" not in body
    assert "+33•••••••78" in body and "2027-03-01 09:00" in body


# --- sms --------------------------------------------------------------------

def test_without_twilio_the_sms_is_written_to_the_outbox(tmp_path, monkeypatch):
    for name in ("TWILIO_ACCOUNT_SID", "TWILIO_AUTH_TOKEN", "TWILIO_FROM", "OUTBOX_SMS"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("DEBITO_VAR", str(tmp_path))
    monkeypatch.setenv("DEBITO_CLOCK", NOW.isoformat())
    body = sms.code_message("123456", "Acme SAS", "fr")
    assert body == "Debito : votre code pour signer le mandat de Acme SAS est 123456 (valable 10 minutes)."
    sent = sms.send_sms("+33612345678", body, "SO1")
    path = tmp_path / "outbox-sms" / sent["path"].rsplit("/", 1)[1]
    assert path.name.endswith("-SO1.json")
    assert json.loads(path.read_text()) == {"to": "+33612345678", "from": "Debito", "body": body,
                                             "order_id": "SO1", "sent_at": NOW.isoformat()}
    assert [p.name for p in (tmp_path / "outbox-sms").iterdir()] == [path.name]  # no temporary left
    monkeypatch.setenv("OUTBOX_SMS", str(tmp_path / "elsewhere"))
    assert sms.send_sms("+33612345678", body, "SO1")["path"].startswith(str(tmp_path / "elsewhere"))


def test_an_unreachable_twilio_is_unavailable(monkeypatch):
    monkeypatch.setenv("TWILIO_ACCOUNT_SID", "AC" + "0" * 32)
    monkeypatch.setenv("TWILIO_AUTH_TOKEN", "t")
    monkeypatch.setenv("TWILIO_FROM", "+33700000000")
    monkeypatch.setenv("TWILIO_API_URL", "http://127.0.0.1:9")
    with pytest.raises(Unavailable) as error:
        sms.send_sms("+33612345678", "hello", "SO1")
    assert error.value.message.startswith("the SMS could not be sent")


# --- orders -----------------------------------------------------------------

def test_a_wrong_code_counts_and_the_fifth_fails_the_order():
    order = an_order()
    code = orders.code_for(order, NOW, KEY)
    assert (order.status, order.otp_sends, order.otp_sent_at) == ("otp_sent", 1, NOW)
    bad = f"{(int(code) + 1) % 1000000:06d}"
    for attempt in range(1, 5):
        error = orders.check_code(order, bad, NOW, KEY)
        assert isinstance(error, Invalid) and order.otp_attempts == attempt and order.status == "otp_sent"
    error = orders.check_code(order, bad, NOW, KEY)
    assert "the order failed" in error.fields["otp"]
    assert (order.status, order.otp_hash, order.failure_reason) == ("failed", None, "5 wrong codes")
    with pytest.raises(Conflict):
        orders.check_open(order)


def test_an_expired_code_is_refused_without_counting():
    order = an_order()
    code = orders.code_for(order, NOW, KEY)
    with pytest.raises(Invalid) as error:
        orders.check_code(order, code, NOW + timedelta(minutes=10), KEY)
    assert error.value.fields == {"otp": "expired: send a new code"} and order.otp_attempts == 0
    assert orders.check_code(order, code, NOW + timedelta(minutes=9), KEY) is None


def test_no_code_sent_is_a_conflict():
    with pytest.raises(Conflict):
        orders.check_code(an_order(), "123456", NOW, KEY)


def test_an_open_order_past_its_expiry_becomes_expired_then_gone():
    order = an_order()
    assert not orders.expire_if_due(order, NOW + timedelta(hours=23))
    assert orders.expire_if_due(order, NOW + timedelta(days=1))
    assert order.status == "expired"
    with pytest.raises(Gone):
        orders.check_open(order)
    assert not orders.expire_if_due(an_order(status="signed"), NOW + timedelta(days=9))


def test_a_cancelled_order_is_gone_through_its_link_and_a_conflict_for_the_merchant():
    order = an_order()
    orders.cancel(order)
    with pytest.raises(Gone):
        orders.check_open(order, link=True)
    with pytest.raises(Conflict):
        orders.check_open(order)
    with pytest.raises(Conflict):
        orders.cancel(order)


def test_a_link_order_sends_no_code_before_the_bank_details():
    order = an_order(method="link")
    with pytest.raises(Conflict):
        orders.check_can_send_code(order, NOW)
    order.iban = "FR7630006000011234567890189"
    orders.check_can_send_code(order, NOW)


def test_the_evidence_hashes_the_text_with_the_bank_details(monkeypatch):
    order = an_order(iban="FR7630006000011234567890189", plan={"frequency": "once"})
    evidence = orders.evidence_of(order, NOW, "203.0.113.7", "UA")
    text, digest = orders.mandate_document(order)
    assert evidence == {"signed_at": NOW.isoformat(), "ip_address": "203.0.113.7", "user_agent": "UA",
                        "phone": "+33612345678", "order_id": "SO01TEST", "document_hash": digest}
    assert "FR7630006000011234567890189" in text and "Paiement ponctuel" in text
    payload = orders.mandate_payload(order, evidence)
    assert payload["subscriber"] == {"customer_reference": "C-1", "name": "Émilie Dupré",
                                     "email": "e@example.org", "phone": "+33612345678"}
    assert (payload["sequence"], payload["signature_method"]) == ("one_off", "electronic")
    assert orders.mandate_payload(an_order(subscriber_id="SB1"), evidence)["subscriber_id"] == "SB1"


def test_the_signing_url_is_under_public_url(monkeypatch):
    monkeypatch.setenv("PUBLIC_URL", "https://pay.example/")
    assert orders.signing_url("T.k") == "https://pay.example/sign/T.k"
    monkeypatch.delenv("PUBLIC_URL")
    monkeypatch.setenv("GATEWAY_PORT", "8123")
    assert orders.signing_url("T") == "http://127.0.0.1:8123/sign/T"


def test_the_rules_the_service_applied_itself_are_orders_functions():
    link = an_order(method="link", status="signed", mandate_id="MD1")
    with pytest.raises(Gone, match="already signed"):
        orders.check_link_open(link)
    with pytest.raises(Conflict):
        orders.check_signed_by_operator(link)
    assert orders.signed_mandate(link, NOW)["mandate_id"] == "MD1"
    with pytest.raises(NotFound):
        orders.signed_mandate(link, NOW + timedelta(days=2))
    with pytest.raises(Invalid, match="no email"):
        orders.check_subscriber_reachable({"phone": "+33612345678", "email": None}, "link")
    operator = an_order(method="operator", iban=None, subscriber_id="SB1", name="Known Name")
    with pytest.raises(Conflict, match="IBAN first"):
        orders.check_bank_details_given(operator)
    orders.set_bank_details(operator, {"iban": "FR7630006000011234567890189", "name": "Someone Else"})
    assert (operator.iban, operator.bic, operator.name) == ("FR7630006000011234567890189", None, "Known Name")
    assert orders.lang_shown("en", operator) == "en" and orders.lang_shown("de", operator) == operator.lang
