"""Pre-notification mails: written as .eml files under $DEBITO_VAR/outbox-mail/
without SMTP_URL, sent through SMTP with it; they name the amount, due date,
mandate reference, creditor identifier and creditor."""
import email
from datetime import date
from types import SimpleNamespace

from common import mail
from payments.prenotification import prenotification, send_prenotification

PAYMENT = SimpleNamespace(id="PM1", merchant_id="MEaaaa", amount=2990, currency="EUR", due_date=date(2027, 2, 1),
                          label="Yoga", debtor_name="Jeanne Martin", debtor_email="jeanne@example.org",
                          mandate_reference="DBT-20261201-7K3QX9PM2A")
CREDITOR = SimpleNamespace(name="Acme SAS", creditor_id="FR72ZZZ123456")


def test_prenotification_names_amount_due_date_reference_and_creditor():
    subject, body = prenotification(PAYMENT, CREDITOR)
    assert "29,90 EUR" in subject and "01/02/2027" in subject
    for text in ("29.90 EUR", "2027-02-01", "DBT-20261201-7K3QX9PM2A", "FR72ZZZ123456", "Acme SAS"):
        assert text in body


def test_without_smtp_url_the_mail_is_an_eml_file(monkeypatch, tmp_path):
    monkeypatch.delenv("SMTP_URL", raising=False)
    monkeypatch.setenv("DEBITO_VAR", str(tmp_path))
    path = send_prenotification(PAYMENT, CREDITOR)
    assert path.parent == tmp_path / "outbox-mail" and path.suffix == ".eml"
    message = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
    assert message["To"] == "jeanne@example.org" and "FR72ZZZ123456" in message.get_content()
    assert [p.name for p in (tmp_path / "outbox-mail").iterdir()] == [path.name]  # no temporary left


def test_a_debtor_without_email_gets_no_mail(monkeypatch, tmp_path):
    monkeypatch.setenv("DEBITO_VAR", str(tmp_path))
    assert send_prenotification(SimpleNamespace(**{**vars(PAYMENT), "debtor_email": None}), CREDITOR) is None
    assert not (tmp_path / "outbox-mail").exists()


def test_with_smtp_url_the_mail_goes_through_smtp(monkeypatch):
    sent = []

    class FakeSMTP:
        def __init__(self, host, port, timeout):
            sent.append(("connect", host, port))

        def starttls(self):
            sent.append(("starttls",))

        def login(self, user, password):
            sent.append(("login", user, password))

        def send_message(self, message):
            sent.append(("send", message["To"]))

        def quit(self):
            sent.append(("quit",))

    monkeypatch.setattr(mail.smtplib, "SMTP", FakeSMTP)
    monkeypatch.setenv("SMTP_URL", "smtp://ops%40acme:s3cret@mail.example:2525?starttls=1")
    assert mail.send_mail("jeanne@example.org", "Hello", "Body") is None
    assert sent == [("connect", "mail.example", 2525), ("starttls",), ("login", "ops@acme", "s3cret"),
                    ("send", "jeanne@example.org"), ("quit",)]
