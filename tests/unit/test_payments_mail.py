"""Pre-notification mails: written as .eml files under $DEBITO_VAR/outbox-mail/
without SMTP_URL, sent through SMTP with it; they name the amount, due date,
mandate reference, creditor identifier and creditor."""
import email
import email.policy
from datetime import date
from types import SimpleNamespace

from common import mail
from harness.smtp_server import smtp_server
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


def test_with_smtp_url_the_mail_goes_through_a_real_smtp_server_with_login(monkeypatch, tmp_path):
    with smtp_server(tmp_path, "ops@acme", "s3cret") as (port, maildir):
        monkeypatch.setenv("SMTP_URL", f"smtp://ops%40acme:s3cret@127.0.0.1:{port}")
        assert mail.send_mail("jeanne@example.org", "Prélèvement à venir", "Montant : 29,90 €") is None
        messages = list(maildir)
    assert len(messages) == 1
    message = email.message_from_bytes(messages[0].as_bytes(), policy=email.policy.default)
    assert message["To"] == "jeanne@example.org"
    assert message["Subject"] == "Prélèvement à venir"
    assert "29,90 €" in message.get_content()
