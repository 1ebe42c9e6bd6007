"""An outbox file claimed by one worker is written, and announced, by that worker alone, on
PostgreSQL: another worker's collection (a replica, or the same collect redelivered after a
broker restart) or crash recovery that finds the file still `writing` meanwhile leaves it
alone. Before, both wrote the same pain.008 (a bank could take it twice) and both staged its
payments_submitted events (reporting counted each payment twice: the broker restart test
found it); the same held for a payout's pain.001."""
import threading
from datetime import date

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from common.database import make_engine
from common.migrations import upgrade
from common.schemas import load
from payments import collection, ledger, payments
from payments.models import BankFile, LedgerEntry, Payout
from contracts.payments import CreditorIn

A = "MEfileonce0000000000"
PROFILE = {"name": "Acme SAS", "creditor_id": "FR72ZZZ123456", "iban": "FR7630006000011234567890189"}


def _instalment(n):
    return {"key": f"PL{n}:1", "plan_id": f"PL{n}", "merchant_id": A, "mandate_id": f"MD{n}", "subscriber_id": "SB1",
            "sequence_no": 1, "due_date": "2027-02-01", "amount": 1000 + n, "currency": "EUR", "label": "Yoga",
            "frequency": "monthly", "is_last": False}


def _mandate(n):
    return {"id": f"MD{n}", "subscriber_id": "SB1", "status": "active", "reference": f"DBT-MD{n}",
            "signed_at": "2026-12-01T10:00:00+00:00", "iban": "FR7630006000011234567890189", "bic": "AGRIFRPP",
            "sequence": "recurrent", "subscriber": {"name": "Jeanne Martin", "email": "jeanne@example.org"},
            "amendments": []}


@pytest.fixture
def engine(infrastructure, monkeypatch, tmp_path):
    monkeypatch.setenv("DEBITO_CLOCK", "2027-01-29T12:00:00+00:00")
    monkeypatch.setenv("DEBITO_VAR", str(tmp_path / "var"))
    with infrastructure.database("debito_files_once") as url:
        engine = make_engine("payments", url)
        upgrade("payments", engine)
        with Session(engine) as session:
            payments.register_creditor(session, A, load(CreditorIn, PROFILE))
            session.commit()
        yield engine
        engine.dispose()


class HeldWriter:
    """A file writer that, once called, waits until released (the file being written)."""

    def __init__(self):
        self.called, self.release, self.paths = threading.Event(), threading.Event(), []

    def __call__(self, path, **_):
        self.called.set()
        assert self.release.wait(30)
        path.write_text("written")
        self.paths.append(path)


def _in_thread(function):
    result = {}

    def run():
        try:
            result["value"] = function()
        except BaseException as error:  # noqa: BLE001 - raised in the test below
            result["error"] = error
    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread, result


def test_a_claimed_pain008_is_written_and_announced_by_one_worker(engine, tmp_path):
    with Session(engine) as session:
        collection.schedule_due(session, [_instalment(n) for n in range(5)], {f"MD{n}": _mandate(n) for n in range(5)},
                                date(2027, 1, 28))
        session.commit()
    first, other = HeldWriter(), HeldWriter()
    announced = []
    with Session(engine) as one, Session(engine) as two:
        thread, result = _in_thread(lambda: collection.submit_due(
            one, date(2027, 1, 29), tmp_path / "outbox", first, lambda bank_file: announced.append(("one", bank_file.id))))
        assert first.called.wait(30)  # the claim is committed, the file is being written
        assert two.scalar(select(BankFile.status)) == "writing"
        # meanwhile another worker's cycle (or its recovery of `writing` files) finds it
        assert collection.submit_due(two, date(2027, 1, 29), tmp_path / "outbox", other,
                                     lambda bank_file: announced.append(("two", bank_file.id))) == []
        assert not other.called.is_set()
        first.release.set()
        thread.join(30)
        assert "error" not in result, result.get("error")
        assert [s.count for s in result["value"]] == [5]
        assert announced == [("one", result["value"][0].bank_file.id)]
        two.rollback()
        assert two.scalar(select(BankFile.status)) == "written"
        assert collection.submit_due(two, date(2027, 1, 29), tmp_path / "outbox", other) == []  # nothing left
    assert len(first.paths) == 1 and other.paths == []


def test_a_claimed_payout_is_written_once(engine, tmp_path):
    with Session(engine) as session:
        session.add(LedgerEntry(id="LE1", merchant_id=A, date=date(2027, 1, 4), value_date=date(2027, 1, 4),
                                code="SDD", reference="E2E1", amount=50000, created_at=ledger.clock.now()))
        session.commit()
        payout = ledger.claim_payout(session, A, 30000, date(2027, 1, 28))
        payout_id = payout.id
    first, other = HeldWriter(), HeldWriter()
    with Session(engine) as one, Session(engine) as two:
        thread, result = _in_thread(lambda: ledger.write_payout(one, one.get(Payout, payout_id), tmp_path, first))
        assert first.called.wait(30)
        assert ledger.write_unwritten_payouts(two, tmp_path, other) == []  # the recovery leaves it alone
        assert not other.called.is_set()
        first.release.set()
        thread.join(30)
        assert "error" not in result, result.get("error")
        two.rollback()
        assert two.get(Payout, payout_id).status == "sent"
        assert ledger.write_payout(two, two.get(Payout, payout_id), tmp_path, other).status == "sent"  # written
        assert not other.called.is_set()
        assert two.scalar(select(func.count()).select_from(BankFile)) == 1
    assert len(first.paths) == 1 and other.paths == []
