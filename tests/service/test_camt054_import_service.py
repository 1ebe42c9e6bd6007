"""The payments service (nameko, eventlet: the parse and the writes run in green threads) on
the real broker and PostgreSQL imports a camt.054 of 300 returns in many chunks, plain or
found not plain at its end (read again by parse_camt054): every payment rejected once, an
R-transaction each, a RET entry for each paid one, and each return in one
payments_rejected and one r_transactions_received batch event (built by PostgreSQL)."""
import time
import uuid
from datetime import date, datetime, timezone

import pytest
from nameko.events import event_handler
from nameko.testing.services import entrypoint_hook
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from common.database import make_engine
from common.migrations import upgrade
from payments.models import Creditor, LedgerEntry, Payment, RTransaction
from payments.service import PaymentsService

RETURNS = 300
NS = "urn:iso:std:iso:20022:tech:xsd:camt.054.001.02"


class Counter:
    name = "camt054_counter"
    seen, batches = {}, {}

    @event_handler("payments", "payments_rejected")
    def on_payments_rejected(self, payload):
        Counter.count("payment_rejected", payload["payments"])

    @event_handler("payments", "r_transactions_received")
    def on_r_transactions_received(self, payload):
        Counter.count("r_transaction_received", payload["r_transactions"])

    @staticmethod
    def count(name, items):
        Counter.batches.setdefault(name, []).append(len(items))
        for item in items:
            Counter.seen.setdefault(name, set()).add(item["payment_id"])


def _entry(payment_id, cents, code):
    amount = f'<Amt Ccy="EUR">{cents // 100}.{cents % 100:02d}</Amt>'
    return (f"<Ntry>{amount}<CdtDbtInd>DBIT</CdtDbtInd><Sts>BOOK</Sts><BookgDt><Dt>2030-01-10</Dt></BookgDt>"
            "<BkTxCd><Domn><Cd>PMNT</Cd><Fmly><Cd>RDDT</Cd><SubFmlyCd>UPDD</SubFmlyCd></Fmly></Domn></BkTxCd>"
            f"<NtryDtls><TxDtls><Refs><EndToEndId>{payment_id}</EndToEndId></Refs><AmtDtls><TxAmt>{amount}"
            f"</TxAmt></AmtDtls><RtrInf><Rsn><Cd>{code}</Cd></Rsn></RtrInf></TxDtls></NtryDtls>"
            f"<AddtlNtryInf>RETOUR {code}</AddtlNtryInf></Ntry>\n")


@pytest.fixture
def service(container_factory, rabbit_config, infrastructure, tmp_path, monkeypatch):
    from payments import inbox

    monkeypatch.setattr(inbox, "CHUNK", 40)  # many chunks
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    monkeypatch.setenv("BANK_INBOX", str(inbox))
    monkeypatch.setenv("BANK_OUTBOX", str(tmp_path / "outbox"))
    monkeypatch.setenv("DEBITO_VAR", str(tmp_path / "var"))
    with infrastructure.database("debito_camt_service") as url:
        monkeypatch.setenv("DATABASE_URL", url)
        upgrade("payments", make_engine("payments", url))
        engine = make_engine("payments", url)
        Counter.seen, Counter.batches = {}, {}
        containers = [container_factory(cls, rabbit_config) for cls in (PaymentsService, Counter)]
        for container in containers:
            container.start()
        try:
            yield containers[0], engine, inbox
        finally:
            for container in containers:
                container.stop()
            engine.dispose()


def _payments(engine):
    merchant, created = "ME" + uuid.uuid4().hex[:20].upper(), datetime(2030, 1, 2, tzinfo=timezone.utc)
    with Session(engine) as session:
        session.add(Creditor(merchant_id=merchant, name="Acme SAS", creditor_id="FR72ZZZ123456",
                             iban="FR7630006000011234567890189", bic="AGRIFRPP", updated_at=created))
        for n in range(RETURNS):
            status = "paid" if n % 2 else "submitted"
            session.add(Payment(
                id=f"PM{merchant[2:12]}{n:06d}", merchant_id=merchant, plan_id="PL1", instalment_key=f"{merchant}:{n}",
                sequence_no=n, mandate_id="MD1", subscriber_id="SB1", mandate_reference="DBT-MD1",
                mandate_signed_on=date(2029, 12, 1), debtor_name="Zoë Ødegård", iban="FR7630006000011234567890189",
                bic="AGRIFRPP", amount=1000 + n, currency="EUR", label="Yoga", due_date=date(2030, 1, 8),
                sequence_type="RCUR", end_to_end_id=f"PM{merchant[2:12]}{n:06d}", status=status, attempt=1,
                automatic=False, bank_file_id="BF1", created_at=created, submitted_at=created,
                paid_at=created if status == "paid" else None))
        session.commit()
        return merchant, session.scalars(select(Payment.id).where(Payment.merchant_id == merchant)).all()


@pytest.mark.parametrize("shape", ["plain", "not plain at its end"])
def test_a_file_of_300_returns_is_imported_once_in_many_chunks_with_an_event_each(service, shape):
    container, engine, inbox = service
    merchant, ids = _payments(engine)
    entries = [_entry(payment_id, 1000 + n, "AM04" if n % 3 else "MS02") for n, payment_id in enumerate(ids)]
    if shape == "not plain at its end":
        entries[-1] = entries[-1].replace("RETOUR", "RE<!-- not plain -->TOUR")
    (inbox / "camt054.xml").write_text(
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f'<Document xmlns="{NS}"><BkToCstmrDbtCdtNtfctn><GrpHdr><MsgId>CA{merchant}</MsgId>'
        "<CreDtTm>2030-01-10T05:00:00</CreDtTm></GrpHdr><Ntfctn><Id>N1</Id>"
        "<Acct><Id><IBAN>FR7630006000011234567890189</IBAN></Id></Acct>"
        + "".join(entries) + "</Ntfctn></BkToCstmrDbtCdtNtfctn></Document>\n", encoding="utf-8")
    with entrypoint_hook(container, "import_inbox") as hook:
        report = hook("2030-01-10")
    assert (report["imported_files"], report["failed_files"], report["rejected"], report["unmatched"]) == (
        1, 0, RETURNS, 0)
    with Session(engine) as session:
        statuses = session.execute(select(Payment.status, func.count()).where(Payment.merchant_id == merchant)
                                   .group_by(Payment.status)).all()
        assert statuses == [("rejected", RETURNS)]
        r_transactions = session.scalars(select(RTransaction.payment_id).where(RTransaction.merchant_id == merchant))
        assert sorted(r_transactions) == sorted(ids)
        ledger = session.execute(select(LedgerEntry.code, func.count(), func.sum(LedgerEntry.amount))
                                 .where(LedgerEntry.merchant_id == merchant).group_by(LedgerEntry.code)).all()
        assert ledger == [("RET", RETURNS // 2, -sum(1000 + n for n in range(1, RETURNS, 2)))]
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and any(len(Counter.seen.get(name, ())) < RETURNS for name in (
            "payment_rejected", "r_transaction_received")):
        time.sleep(0.2)
    assert Counter.seen == {"payment_rejected": set(ids), "r_transaction_received": set(ids)}
    assert Counter.batches == {"payment_rejected": [RETURNS], "r_transaction_received": [RETURNS]}
