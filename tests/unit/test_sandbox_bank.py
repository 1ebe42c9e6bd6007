"""The sandbox bank answers the outbox as spec §4 says, once, on the right day."""
import json
import os
import signal
import subprocess
import sys
import time
from datetime import date
from decimal import Decimal

import pytest
from click.testing import CliRunner
from lxml import etree

from sandbox_bank import bank
from sandbox_bank.bank import CAMT054, PAIN002, run

PAIN008 = "urn:iso:std:iso:20022:tech:xsd:pain.008.001.02"
PAIN001 = "urn:iso:std:iso:20022:tech:xsd:pain.001.001.03"
CREDITOR_IBAN = "FR7630006000011234567890189"
NORMAL = "DE89370400440532013000"
AM04, AC04, MD01, MS03 = ("FR7630006000010000000040116", "FR7630006000010000000040407",
                          "FR7630006000010000000060195", "FR7630006000010000000060389")
RETURN_MS02 = "FR7630006000010000000060292"
REFUND_MD06 = "FR7630006000010000000060680"
FIRST_AM04 = "FR7630006000010000000070186"

FRIDAY = date(2026, 3, 13)
MONDAY = date(2026, 3, 16)


def _sub(parent, tag, text=None, **attributes):
    ns = etree.QName(parent).namespace
    element = etree.SubElement(parent, f"{{{ns}}}{tag}", **attributes)
    if text is not None:
        element.text = text
    return element


def write_pain008(outbox, msg_id, blocks):
    """blocks: {due date: [(end_to_end_id, amount, debtor IBAN, mandate id), ...]}"""
    root = etree.Element(f"{{{PAIN008}}}Document", nsmap={None: PAIN008})
    initiation = _sub(root, "CstmrDrctDbtInitn")
    header = _sub(initiation, "GrpHdr")
    _sub(header, "MsgId", msg_id)
    _sub(header, "CreDtTm", "2026-03-01T10:00:00")
    _sub(header, "NbOfTxs", str(sum(len(txs) for txs in blocks.values())))
    _sub(_sub(header, "InitgPty"), "Nm", "Acme SAS")
    for number, (due, transactions) in enumerate(blocks.items(), 1):
        info = _sub(initiation, "PmtInf")
        _sub(info, "PmtInfId", f"{msg_id}-{number}")
        _sub(info, "PmtMtd", "DD")
        _sub(info, "ReqdColltnDt", due.isoformat())
        _sub(_sub(info, "Cdtr"), "Nm", "Acme SAS")
        _sub(_sub(_sub(info, "CdtrAcct"), "Id"), "IBAN", CREDITOR_IBAN)
        for end_to_end_id, amount, iban, mandate_id in transactions:
            tx = _sub(info, "DrctDbtTxInf")
            _sub(_sub(tx, "PmtId"), "EndToEndId", end_to_end_id)
            _sub(tx, "InstdAmt", amount, Ccy="EUR")
            _sub(_sub(_sub(tx, "DrctDbtTx"), "MndtRltdInf"), "MndtId", mandate_id)
            _sub(_sub(tx, "Dbtr"), "Nm", "Jeanne Martin")
            _sub(_sub(_sub(tx, "DbtrAcct"), "Id"), "IBAN", iban)
    path = outbox / f"{msg_id}.xml"
    path.write_bytes(etree.tostring(root, xml_declaration=True, encoding="UTF-8"))
    return path


def write_pain001(outbox, msg_id, execution, transfers):
    root = etree.Element(f"{{{PAIN001}}}Document", nsmap={None: PAIN001})
    initiation = _sub(root, "CstmrCdtTrfInitn")
    _sub(_sub(initiation, "GrpHdr"), "MsgId", msg_id)
    info = _sub(initiation, "PmtInf")
    _sub(info, "PmtInfId", f"{msg_id}-1")
    _sub(info, "ReqdExctnDt", execution.isoformat())
    _sub(_sub(_sub(info, "DbtrAcct"), "Id"), "IBAN", "FR7630006000019876543210957")
    for end_to_end_id, amount in transfers:
        tx = _sub(info, "CdtTrfTxInf")
        _sub(_sub(tx, "PmtId"), "EndToEndId", end_to_end_id)
        _sub(_sub(tx, "Amt"), "InstdAmt", amount, Ccy="EUR")
        _sub(_sub(tx, "Cdtr"), "Nm", "Acme SAS")
        _sub(_sub(_sub(tx, "CdtrAcct"), "Id"), "IBAN", CREDITOR_IBAN)
    (outbox / f"{msg_id}.xml").write_bytes(etree.tostring(root, xml_declaration=True, encoding="UTF-8"))


@pytest.fixture
def sandbox(tmp_path):
    outbox, inbox = tmp_path / "outbox", tmp_path / "inbox"
    outbox.mkdir()
    state = tmp_path / "sandbox-state.json"

    class Sandbox:
        def __init__(self):
            self.outbox, self.inbox, self.state = outbox, inbox, state

        def run(self, day):
            return run(day, outbox, inbox, state)

        def documents(self, counts):
            return [etree.parse(str(inbox / name)).getroot() for name in counts["files"]]

    return Sandbox()


def a_collection(outbox):
    return write_pain008(outbox, "PAY-1", {
        FRIDAY: [("E2E-AM04", "10.00", AM04, "UMR-1"), ("E2E-AC04", "11.00", AC04, "UMR-2"),
                 ("E2E-MD01", "12.00", MD01, "UMR-3"), ("E2E-MS03", "13.00", MS03, "UMR-4"),
                 ("E2E-RETURN", "14.50", RETURN_MS02, "UMR-5"),
                 ("E2E-REFUND", "15.25", REFUND_MD06, "UMR-6"),
                 ("E2E-FIRST", "16.00", FIRST_AM04, "UMR-7"),
                 ("E2E-NORMAL", "17.99", NORMAL, "UMR-8")],
        MONDAY: [("E2E-LATER", "20.00", NORMAL, "UMR-9")],
    })


def rejects_of(documents):
    found = {}
    for document in documents:
        if etree.QName(document).namespace != PAIN002:
            continue
        ns = {"p": PAIN002}
        assert document.findtext("p:CstmrPmtStsRpt/p:OrgnlGrpInfAndSts/p:OrgnlMsgNmId",
                                 namespaces=ns) == "pain.008.001.02"
        original = document.findtext("p:CstmrPmtStsRpt/p:OrgnlGrpInfAndSts/p:OrgnlMsgId", namespaces=ns)
        for tx in document.iterfind(".//p:TxInfAndSts", ns):
            assert tx.findtext("p:TxSts", namespaces=ns) == "RJCT"
            found[tx.findtext("p:OrgnlEndToEndId", namespaces=ns)] = (
                tx.findtext("p:StsRsnInf/p:Rsn/p:Cd", namespaces=ns), original)
    return found


def entries_of(documents):
    """Every camt.054 entry as a dict, keyed by end-to-end id."""
    found = {}
    ns = {"c": CAMT054}
    for document in documents:
        if etree.QName(document).namespace != CAMT054:
            continue
        for entry in document.iterfind(".//c:Ntry", ns):
            end_to_end_id = entry.findtext("c:NtryDtls/c:TxDtls/c:Refs/c:EndToEndId", namespaces=ns)
            found[end_to_end_id] = {
                "amount": Decimal(entry.findtext("c:Amt", namespaces=ns)),
                "currency": entry.find("c:Amt", ns).get("Ccy"),
                "direction": entry.findtext("c:CdtDbtInd", namespaces=ns),
                "reversal": entry.findtext("c:RvslInd", namespaces=ns),
                "status": entry.findtext("c:Sts", namespaces=ns),
                "booked": entry.findtext("c:BookgDt/c:Dt", namespaces=ns),
                "value": entry.findtext("c:ValDt/c:Dt", namespaces=ns),
                "code": tuple(entry.findtext(f"c:BkTxCd/c:Domn/{path}", namespaces=ns)
                              for path in ("c:Cd", "c:Fmly/c:Cd", "c:Fmly/c:SubFmlyCd")),
                "reason": entry.findtext("c:NtryDtls/c:TxDtls/c:RtrInf/c:Rsn/c:Cd", namespaces=ns),
                "details_amount": Decimal(entry.findtext(
                    "c:NtryDtls/c:TxDtls/c:AmtDtls/c:TxAmt/c:Amt", namespaces=ns)),
            }
    return found


def test_nothing_is_answered_before_the_due_date(sandbox):
    a_collection(sandbox.outbox)
    counts = sandbox.run(date(2026, 3, 12))
    assert counts == {"rejected": 0, "credited": 0, "returned": 0, "refunded": 0,
                      "payouts_paid": 0, "files": []}
    assert not list(sandbox.inbox.iterdir())


def test_on_the_due_date_rejects_carry_their_codes_and_credits_their_amounts(sandbox):
    a_collection(sandbox.outbox)
    counts = sandbox.run(FRIDAY)
    assert (counts["rejected"], counts["credited"], counts["returned"], counts["refunded"]) == (5, 3, 0, 0)
    documents = sandbox.documents(counts)
    assert rejects_of(documents) == {"E2E-AM04": ("AM04", "PAY-1"), "E2E-AC04": ("AC04", "PAY-1"),
                                     "E2E-MD01": ("MD01", "PAY-1"), "E2E-MS03": ("MS03", "PAY-1"),
                                     "E2E-FIRST": ("AM04", "PAY-1")}
    entries = entries_of(documents)
    assert {key: e["amount"] for key, e in entries.items()} == {
        "E2E-RETURN": Decimal("14.50"), "E2E-REFUND": Decimal("15.25"), "E2E-NORMAL": Decimal("17.99")}
    for entry in entries.values():
        assert (entry["currency"], entry["direction"], entry["reversal"], entry["status"]) == (
            "EUR", "CRDT", None, "BOOK")
        assert entry["booked"] == entry["value"] == "2026-03-13"
        assert entry["code"] == ("PMNT", "IDDT", "ESDD")
        assert entry["details_amount"] == entry["amount"]


def test_one_status_report_per_original_file(sandbox):
    a_collection(sandbox.outbox)
    write_pain008(sandbox.outbox, "PAY-2", {FRIDAY: [("E2E-OTHER", "9.00", AC04, "UMR-20")]})
    documents = sandbox.documents(sandbox.run(FRIDAY))
    reports = [d for d in documents if etree.QName(d).namespace == PAIN002]
    assert len(reports) == 2
    assert rejects_of(documents)["E2E-OTHER"] == ("AC04", "PAY-2")


def test_a_return_comes_two_business_days_later_over_a_weekend(sandbox):
    a_collection(sandbox.outbox)
    sandbox.run(FRIDAY)
    monday = sandbox.run(MONDAY)
    assert (monday["credited"], monday["returned"]) == (1, 0)
    assert set(entries_of(sandbox.documents(monday))) == {"E2E-LATER"}
    tuesday = sandbox.run(date(2026, 3, 17))
    assert (tuesday["returned"], tuesday["refunded"], tuesday["credited"]) == (1, 0, 0)
    entry = entries_of(sandbox.documents(tuesday))["E2E-RETURN"]
    assert (entry["direction"], entry["reversal"], entry["reason"], entry["amount"]) == (
        "DBIT", "true", "MS02", Decimal("14.50"))
    assert entry["booked"] == "2026-03-17"


def test_a_return_skips_good_friday_and_easter_monday(sandbox):
    thursday = date(2027, 3, 25)
    write_pain008(sandbox.outbox, "PAY-EASTER", {thursday: [("E2E-EASTER", "30.00", RETURN_MS02, "UMR-E")]})
    assert sandbox.run(thursday)["credited"] == 1
    assert sandbox.run(date(2027, 3, 29))["returned"] == 0
    assert sandbox.run(date(2027, 3, 30))["returned"] == 0
    counts = sandbox.run(date(2027, 3, 31))
    assert counts["returned"] == 1
    assert entries_of(sandbox.documents(counts))["E2E-EASTER"]["booked"] == "2027-03-31"


def test_a_refund_comes_five_business_days_later(sandbox):
    a_collection(sandbox.outbox)
    sandbox.run(FRIDAY)
    assert sandbox.run(date(2026, 3, 19))["refunded"] == 0
    counts = sandbox.run(date(2026, 3, 20))
    assert counts["refunded"] == 1
    entry = entries_of(sandbox.documents(counts))["E2E-REFUND"]
    assert (entry["direction"], entry["reversal"], entry["reason"], entry["booked"]) == (
        "DBIT", "true", "MD06", "2026-03-20")
    assert entry["code"] == ("PMNT", "IDDT", "UPDD")


def test_the_first_attempt_of_a_mandate_is_rejected_and_its_replay_credited(sandbox):
    write_pain008(sandbox.outbox, "PAY-A", {FRIDAY: [("E2E-TRY1", "16.00", FIRST_AM04, "UMR-7")]})
    first = sandbox.run(FRIDAY)
    assert rejects_of(sandbox.documents(first)) == {"E2E-TRY1": ("AM04", "PAY-A")}
    write_pain008(sandbox.outbox, "PAY-B", {date(2026, 3, 18): [("E2E-TRY2", "16.00", FIRST_AM04, "UMR-7")]})
    replay = sandbox.run(date(2026, 3, 18))
    assert (replay["rejected"], replay["credited"]) == (0, 1)
    assert entries_of(sandbox.documents(replay))["E2E-TRY2"]["amount"] == Decimal("16.00")
    write_pain008(sandbox.outbox, "PAY-C", {date(2026, 3, 19): [("E2E-NEW", "5.00", FIRST_AM04, "UMR-NEW")]})
    assert sandbox.run(date(2026, 3, 19))["rejected"] == 1  # another mandate: its own first attempt


def test_running_the_same_day_twice_answers_nothing_twice(sandbox):
    a_collection(sandbox.outbox)
    first = sandbox.run(FRIDAY)
    assert first["files"]
    again = sandbox.run(FRIDAY)
    assert again == {"rejected": 0, "credited": 0, "returned": 0, "refunded": 0,
                     "payouts_paid": 0, "files": []}
    assert sorted(p.name for p in sandbox.inbox.iterdir()) == sorted(first["files"])


def test_a_late_run_answers_everything_due_once(sandbox):
    a_collection(sandbox.outbox)
    counts = sandbox.run(date(2026, 4, 1))
    assert (counts["rejected"], counts["credited"], counts["returned"], counts["refunded"]) == (5, 4, 1, 1)
    # The credits come in a file before their return and refund.
    assert counts["files"] == sorted(counts["files"])
    assert sandbox.run(date(2026, 4, 2))["files"] == []


def test_every_message_id_is_unique_and_the_state_survives(sandbox):
    a_collection(sandbox.outbox)
    names = []
    for day in (FRIDAY, MONDAY, date(2026, 3, 17), date(2026, 3, 20)):
        names += sandbox.run(day)["files"]
    ids = [etree.parse(str(sandbox.inbox / name)).getroot()[0][0][0].text for name in names]
    assert len(ids) == len(set(ids)) == len(names)
    state = json.loads(sandbox.state.read_text())
    assert state["transactions"]["PAY-1/E2E-RETURN"]["follow_up"]["answered_on"] == "2026-03-17"
    assert "PAY-1.xml" in state["finished_files"]


def test_every_file_parses_and_is_valid_against_its_xsd(sandbox):
    a_collection(sandbox.outbox)
    write_pain001(sandbox.outbox, "PO-1", FRIDAY, [("PAYOUT-1", "100.00")])
    names = []
    for day in (FRIDAY, MONDAY, date(2026, 3, 17), date(2026, 3, 20)):
        names += sandbox.run(day)["files"]
    assert {name.rsplit("-", 1)[-1] for name in names} == {"pain.002.xml", "camt.054.xml"}
    documents = {name: etree.parse(str(sandbox.inbox / name)) for name in names}
    schemas = {kind: bank.schema_path(kind) for kind in ("pain.002", "camt.054")}
    assert None not in schemas.values()  # both ship in services/payments/payments/schemas_iso/
    for name, document in documents.items():
        kind = "pain.002" if "pain.002" in name else "camt.054"
        schema = etree.XMLSchema(etree.parse(str(schemas[kind])))
        assert schema.validate(document), f"{name}: {schema.error_log}"


def test_a_payout_is_paid_the_next_business_day(sandbox):
    write_pain001(sandbox.outbox, "PO-1", FRIDAY, [("PAYOUT-1", "250.40"), ("PAYOUT-2", "3.00")])
    assert sandbox.run(FRIDAY)["payouts_paid"] == 0
    counts = sandbox.run(MONDAY)
    assert counts["payouts_paid"] == 2
    entry = entries_of(sandbox.documents(counts))["PAYOUT-1"]
    assert (entry["direction"], entry["amount"], entry["booked"], entry["code"]) == (
        "DBIT", Decimal("250.40"), "2026-03-16", ("PMNT", "ICDT", "ESCT"))
    assert sandbox.run(MONDAY)["payouts_paid"] == 0


def test_a_foreign_or_broken_outbox_file_is_skipped(sandbox):
    (sandbox.outbox / "broken.xml").write_text("<Document><unfinished")
    (sandbox.outbox / "foreign.xml").write_text("<Document xmlns='urn:other'/>")
    write_pain008(sandbox.outbox, "PAY-OK", {FRIDAY: [("E2E-OK", "1.00", NORMAL, "UMR-OK")]})
    assert sandbox.run(FRIDAY)["credited"] == 1


def test_debito_bank_run_prints_the_counts(sandbox, monkeypatch, tmp_path):
    from debito.cli import main

    a_collection(sandbox.outbox)
    monkeypatch.setenv("DEBITO_VAR", str(tmp_path / "var"))
    monkeypatch.setenv("BANK_OUTBOX", str(sandbox.outbox))
    monkeypatch.setenv("BANK_INBOX", str(sandbox.inbox))
    result = CliRunner().invoke(main, ["bank", "run", "--as-of", "2026-03-13"])
    assert result.exit_code == 0, result.output
    answer = json.loads(result.output)
    assert (answer["as_of"], answer["rejected"], answer["credited"]) == ("2026-03-13", 5, 3)
    assert (tmp_path / "var" / "bank" / "sandbox-state.json").exists()


def test_debito_bank_import_keeps_the_file_when_the_payments_service_is_unreachable(monkeypatch, tmp_path):
    from debito.cli import main

    inbox = tmp_path / "inbox"
    monkeypatch.setenv("BANK_INBOX", str(inbox))
    monkeypatch.setenv("AMQP_URI", "amqp://guest:guest@127.0.0.1:1/")
    source = tmp_path / "statement.xml"
    source.write_text("<Document/>")
    result = CliRunner().invoke(main, ["bank", "import", str(source)])
    assert result.exit_code != 0
    assert "will be imported at the next cycle" in result.output
    [copied] = inbox.iterdir()
    assert copied.name.endswith("-statement.xml") and copied.read_text() == "<Document/>"


def test_make_run_starts_the_sandbox_bank():
    from debito.supervisor import cluster_children

    [child] = [c for c in cluster_children() if c.name == "sandbox-bank"]
    assert child.argv[1:] == ["-m", "sandbox_bank"]


def test_the_loop_answers_for_today_and_stops_on_sigterm(tmp_path):
    outbox = tmp_path / "var" / "bank" / "outbox"
    outbox.mkdir(parents=True)
    write_pain008(outbox, "PAY-LOOP", {FRIDAY: [("E2E-LOOP", "1.00", NORMAL, "UMR-L")]})
    env = dict(os.environ, DEBITO_VAR=str(tmp_path / "var"), DEBITO_CLOCK="2026-03-13",
               SANDBOX_BANK_INTERVAL="0.2")
    env.pop("BANK_OUTBOX", None), env.pop("BANK_INBOX", None)
    process = subprocess.Popen([sys.executable, "-m", "sandbox_bank"], env=env,
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        inbox = tmp_path / "var" / "bank" / "inbox"
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and not list(inbox.glob("*.xml")):
            time.sleep(0.1)
        assert [p.name.rsplit("-", 1)[-1] for p in inbox.glob("*.xml")] == ["camt.054.xml"]
    finally:
        process.send_signal(signal.SIGTERM)
        output = process.communicate(timeout=10)[0].decode()
    assert process.returncode == 0, output
    assert "answered for 2026-03-13" in output


def test_the_pending_iban_is_credited_pdng_first_and_booked_a_business_day_later(sandbox):
    write_pain008(sandbox.outbox, "PAY-P", {FRIDAY: [("E2E-PENDING", "21.00", bank.PENDING_FIRST, "UMR-P")]})
    friday = sandbox.run(FRIDAY)
    assert friday["credited"] == 0
    pending = entries_of(sandbox.documents(friday))["E2E-PENDING"]
    assert (pending["status"], pending["booked"], pending["amount"]) == ("PDNG", None, Decimal("21.00"))
    monday = sandbox.run(MONDAY)
    assert monday["credited"] == 1
    booked = entries_of(sandbox.documents(monday))["E2E-PENDING"]
    assert (booked["status"], booked["booked"], booked["direction"]) == ("BOOK", MONDAY.isoformat(), "CRDT")
    assert sandbox.run(date(2026, 3, 17))["credited"] == 0
