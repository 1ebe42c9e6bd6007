"""What the sandbox bank answers, and when (spec §4).

`run(as_of, outbox, inbox, state_path)` answers everything due on or before
`as_of` that it has not answered yet. What it answered is kept in a JSON state
file, so running it twice for a day answers nothing twice.
"""
from __future__ import annotations

import fcntl
import json
import logging
import os
import tempfile
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime, time
from decimal import Decimal
from pathlib import Path

from lxml import etree

from common.calendar import add_business_days, following_business_day
from common.config import ROOT

log = logging.getLogger("sandbox_bank")

PAIN008 = "urn:iso:std:iso:20022:tech:xsd:pain.008.001.02"
PAIN001 = "urn:iso:std:iso:20022:tech:xsd:pain.001.001.03"
PAIN002 = "urn:iso:std:iso:20022:tech:xsd:pain.002.001.03"
CAMT054 = "urn:iso:std:iso:20022:tech:xsd:camt.054.001.02"
SCHEMAS_DIR = ROOT / "services" / "payments" / "payments" / "schemas_iso"
BANK_NAME = "Debito Sandbox Bank"

# Debtor IBAN -> reject reason code before settlement (pain.002).
REJECTS = {
    "FR7630006000010000000040116": "AM04",
    "FR7630006000010000000040407": "AC04",
    "FR7630006000010000000060195": "MD01",
    "FR7630006000010000000060389": "MS03",
}
# Debtor IBAN -> (kind, reason code, business days after the due date) once credited.
AFTER_CREDIT = {
    "FR7630006000010000000060292": ("return", "MS02", 2),
    "FR7630006000010000000060680": ("refund", "MD06", 5),
}
# Rejected AM04 the first time its mandate is seen, credited on a replay.
FIRST_ATTEMPT_REJECT = ("FR7630006000010000000070186", "AM04")
# Credited with booking status PDNG on the due date, BOOK one business day later.
PENDING_FIRST = "FR7630006000010000000080371"

# ISO bank transaction codes (domain, family, sub-family).
SEPA_DIRECT_DEBIT = ("PMNT", "IDDT", "ESDD")
UNPAID_DIRECT_DEBIT = ("PMNT", "IDDT", "UPDD")  # a return or refund reverses the credit
SEPA_CREDIT_TRANSFER = ("PMNT", "ICDT", "ESCT")


@dataclass
class Debit:
    file: str
    msg_id: str
    pmt_inf_id: str
    instr_id: str | None
    end_to_end_id: str
    amount: Decimal
    due: date
    mandate_id: str
    debtor_name: str
    debtor_iban: str
    creditor_iban: str

    @property
    def key(self):
        return f"{self.msg_id}/{self.end_to_end_id}"


@dataclass
class Payout:
    file: str
    msg_id: str
    pmt_inf_id: str
    end_to_end_id: str
    amount: Decimal
    execution: date
    debtor_iban: str
    creditor_name: str
    creditor_iban: str

    @property
    def key(self):
        return f"{self.msg_id}/{self.end_to_end_id}"

    @property
    def paid_on(self):
        return following_business_day(self.execution)


def run(as_of: date, outbox: Path, inbox: Path, state_path: Path) -> dict:
    """Answer into `inbox` what is due on or before `as_of` in `outbox`; returns the counts."""
    outbox, inbox, state_path = Path(outbox), Path(inbox), Path(state_path)
    inbox.mkdir(parents=True, exist_ok=True)
    state_path.parent.mkdir(parents=True, exist_ok=True)
    with _locked(state_path):
        state = load_state(state_path)
        debits, payouts = read_outbox(outbox, state)
        answers = decide(as_of, debits, payouts, state)
        files = write_answers(as_of, answers, inbox, state)
        _mark_finished_files(debits, payouts, state)
        save_state(state_path, state)  # after the files: a crash in between answers again, never loses
    counts = {kind: len(answers[kind]) for kind in ("rejected", "credited", "returned", "refunded")}
    counts["payouts_paid"] = len(answers["payouts_paid"])
    counts["files"] = files
    return counts


# --- state -------------------------------------------------------------------

def empty_state():
    return {"version": 1, "next_message": 1, "transactions": {}, "payouts": {},
            "mandates_seen": [], "finished_files": {}}


def load_state(path: Path) -> dict:
    if not path.exists():
        return empty_state()
    state = json.loads(path.read_text())
    return {**empty_state(), **state}


def save_state(path: Path, state: dict):
    _write_atomically(path, json.dumps(state, indent=1, sort_keys=True).encode())


@contextmanager
def _locked(state_path: Path):
    # `debito bank run` and the `make run` loop may answer at the same moment.
    with open(state_path.with_name(state_path.name + ".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


# --- reading the outbox ------------------------------------------------------

def read_outbox(outbox: Path, state: dict):
    """Every debit and payout of the outbox files not yet fully answered."""
    debits, payouts = [], []
    if not outbox.is_dir():
        return debits, payouts
    for path in sorted(outbox.glob("*.xml")):
        if path.name in state["finished_files"]:
            continue
        try:
            root = etree.parse(str(path), etree.XMLParser(resolve_entities=False, no_network=True)).getroot()
        except etree.XMLSyntaxError as error:
            log.warning("skipping %s: not XML (%s)", path.name, error)
            continue
        namespace = etree.QName(root).namespace
        reader = {PAIN008: _read_pain008, PAIN001: _read_pain001}.get(namespace)
        if reader is None:
            log.warning("skipping %s: neither pain.008.001.02 nor pain.001.001.03 (%s)", path.name, namespace)
            continue
        try:
            items = list(reader(path.name, root))
        except (TypeError, ValueError, ArithmeticError) as error:
            log.warning("skipping %s: a required element is missing or wrong (%s)", path.name, error)
            continue
        (debits if namespace == PAIN008 else payouts).extend(items)
    return debits, payouts


def _text(element, path, ns):
    found = element.find(path, {"p": ns})
    return found.text.strip() if found is not None and found.text else None


def _iban(value):
    return (value or "").replace(" ", "").upper()


def _read_pain008(name, root):
    ns = {"p": PAIN008}
    msg_id = _text(root, "p:CstmrDrctDbtInitn/p:GrpHdr/p:MsgId", PAIN008)
    for info in root.iterfind("p:CstmrDrctDbtInitn/p:PmtInf", ns):
        pmt_inf_id = _text(info, "p:PmtInfId", PAIN008)
        due = date.fromisoformat(_text(info, "p:ReqdColltnDt", PAIN008))
        creditor_iban = _iban(_text(info, "p:CdtrAcct/p:Id/p:IBAN", PAIN008))
        for tx in info.iterfind("p:DrctDbtTxInf", ns):
            yield Debit(
                file=name, msg_id=msg_id, pmt_inf_id=pmt_inf_id,
                instr_id=_text(tx, "p:PmtId/p:InstrId", PAIN008),
                end_to_end_id=_text(tx, "p:PmtId/p:EndToEndId", PAIN008),
                amount=Decimal(_text(tx, "p:InstdAmt", PAIN008)),
                due=due,
                mandate_id=_text(tx, "p:DrctDbtTx/p:MndtRltdInf/p:MndtId", PAIN008),
                debtor_name=_text(tx, "p:Dbtr/p:Nm", PAIN008) or "",
                debtor_iban=_iban(_text(tx, "p:DbtrAcct/p:Id/p:IBAN", PAIN008)),
                creditor_iban=creditor_iban,
            )


def _read_pain001(name, root):
    ns = {"p": PAIN001}
    msg_id = _text(root, "p:CstmrCdtTrfInitn/p:GrpHdr/p:MsgId", PAIN001)
    for info in root.iterfind("p:CstmrCdtTrfInitn/p:PmtInf", ns):
        pmt_inf_id = _text(info, "p:PmtInfId", PAIN001)
        execution = date.fromisoformat(_text(info, "p:ReqdExctnDt", PAIN001))
        debtor_iban = _iban(_text(info, "p:DbtrAcct/p:Id/p:IBAN", PAIN001))
        for tx in info.iterfind("p:CdtTrfTxInf", ns):
            yield Payout(
                file=name, msg_id=msg_id, pmt_inf_id=pmt_inf_id,
                end_to_end_id=_text(tx, "p:PmtId/p:EndToEndId", PAIN001),
                amount=Decimal(_text(tx, "p:Amt/p:InstdAmt", PAIN001)),
                execution=execution, debtor_iban=debtor_iban,
                creditor_name=_text(tx, "p:Cdtr/p:Nm", PAIN001) or "",
                creditor_iban=_iban(_text(tx, "p:CdtrAcct/p:Id/p:IBAN", PAIN001)),
            )


def _mark_finished_files(debits, payouts, state):
    """A file whose every transaction is answered is not read again (follow-ups live in the state)."""
    pending = {d.file for d in debits if d.key not in state["transactions"]}
    pending |= {p.file for p in payouts if p.key not in state["payouts"]}
    for item in [*debits, *payouts]:
        if item.file not in pending:
            state["finished_files"][item.file] = item.msg_id


# --- deciding ----------------------------------------------------------------

def decide(as_of: date, debits, payouts, state) -> dict:
    """What to answer for `as_of`; records every answer in `state`."""
    answers = {"rejected": [], "pending": [], "credited": [], "returned": [], "refunded": [], "payouts_paid": []}
    seen = set(state["mandates_seen"])
    # Oldest first: the first attempt of a mandate is the one the bank rejects.
    for debit in sorted(debits, key=lambda d: (d.due, d.file, d.end_to_end_id)):
        if debit.due > as_of or debit.key in state["transactions"]:
            continue
        record = _describe(debit)
        code = REJECTS.get(debit.debtor_iban)
        if debit.debtor_iban == FIRST_ATTEMPT_REJECT[0]:
            code = FIRST_ATTEMPT_REJECT[1] if debit.mandate_id not in seen else None
            seen.add(debit.mandate_id)
        if code:
            record.update(outcome="rejected", code=code, answered_on=as_of.isoformat())
            answers["rejected"].append(record)
        else:
            record.update(outcome="credited", answered_on=as_of.isoformat())
            if debit.debtor_iban in AFTER_CREDIT:
                kind, reason, days = AFTER_CREDIT[debit.debtor_iban]
                record["follow_up"] = {"kind": kind, "code": reason,
                                       "on": add_business_days(debit.due, days).isoformat(),
                                       "answered_on": None}
            if debit.debtor_iban == PENDING_FIRST:
                record["booking"] = {"on": add_business_days(debit.due, 1).isoformat(), "answered_on": None}
                answers["pending"].append(record)
            else:
                answers["credited"].append(record)
        state["transactions"][debit.key] = record
    state["mandates_seen"] = sorted(seen)

    for record in state["transactions"].values():
        booking = record.get("booking")
        if booking and not booking["answered_on"] and date.fromisoformat(booking["on"]) <= as_of:
            booking["answered_on"] = as_of.isoformat()
            answers["credited"].append(record)
        follow_up = record.get("follow_up")
        if follow_up and not follow_up["answered_on"] and date.fromisoformat(follow_up["on"]) <= as_of:
            follow_up["answered_on"] = as_of.isoformat()
            answers["returned" if follow_up["kind"] == "return" else "refunded"].append(record)

    for payout in sorted(payouts, key=lambda p: (p.execution, p.file, p.end_to_end_id)):
        if payout.key in state["payouts"] or payout.paid_on > as_of:
            continue
        record = {"msg_id": payout.msg_id, "pmt_inf_id": payout.pmt_inf_id,
                  "end_to_end_id": payout.end_to_end_id, "amount": str(payout.amount),
                  "paid_on": payout.paid_on.isoformat(), "debtor_iban": payout.debtor_iban,
                  "creditor_name": payout.creditor_name, "creditor_iban": payout.creditor_iban,
                  "answered_on": as_of.isoformat()}
        state["payouts"][payout.key] = record
        answers["payouts_paid"].append(record)
    return answers


def _describe(debit: Debit) -> dict:
    return {"msg_id": debit.msg_id, "pmt_inf_id": debit.pmt_inf_id, "instr_id": debit.instr_id,
            "end_to_end_id": debit.end_to_end_id, "amount": str(debit.amount),
            "due": debit.due.isoformat(), "mandate_id": debit.mandate_id,
            "debtor_name": debit.debtor_name, "debtor_iban": debit.debtor_iban,
            "creditor_iban": debit.creditor_iban}


# --- writing the answers -----------------------------------------------------

def write_answers(as_of: date, answers: dict, inbox: Path, state: dict) -> list:
    """Rejects (one pain.002 per original file), credits, then returns and refunds, then payouts."""
    documents = []
    by_file = {}
    for record in answers["rejected"]:
        by_file.setdefault(record["msg_id"], []).append(record)
    for original_msg_id, records in by_file.items():
        documents.append(("pain.002", lambda msg_id, r=records: build_pain002(msg_id, as_of, r)))
    if answers["pending"]:
        entries = [{**_credit_entry(r), "status": "PDNG"} for r in answers["pending"]]
        documents.append(("camt.054", lambda msg_id, e=entries: build_camt054(msg_id, as_of, e)))
    if answers["credited"]:
        entries = [_credit_entry(r) for r in answers["credited"]]
        documents.append(("camt.054", lambda msg_id, e=entries: build_camt054(msg_id, as_of, e)))
    reversals = [_reversal_entry(r) for r in answers["returned"] + answers["refunded"]]
    if reversals:
        documents.append(("camt.054", lambda msg_id, e=reversals: build_camt054(msg_id, as_of, e)))
    if answers["payouts_paid"]:
        entries = [_payout_entry(r) for r in answers["payouts_paid"]]
        documents.append(("camt.054", lambda msg_id, e=entries: build_camt054(msg_id, as_of, e)))

    files = []
    for kind, build in documents:
        msg_id = f"SBX-{as_of:%Y%m%d}-{state['next_message']:06d}"
        state["next_message"] += 1
        document = build(msg_id)
        check_schema(document, kind)
        name = f"{msg_id}-{kind}.xml"
        _write_atomically(inbox / name, etree.tostring(document, xml_declaration=True,
                                                       encoding="UTF-8", pretty_print=True))
        files.append(name)
    return files


def _credit_entry(record):
    booked = record["booking"]["on"] if record.get("booking") else record["due"]
    return {"account": record["creditor_iban"], "amount": record["amount"], "direction": "CRDT",
            "reversal": False, "booked": booked, "code": SEPA_DIRECT_DEBIT, "refs": record,
            "related": ("Dbtr", record["debtor_name"], record["debtor_iban"]), "return_code": None}


def _reversal_entry(record):
    follow_up = record["follow_up"]
    return {"account": record["creditor_iban"], "amount": record["amount"], "direction": "DBIT",
            "reversal": True, "booked": follow_up["on"], "code": UNPAID_DIRECT_DEBIT, "refs": record,
            "related": ("Dbtr", record["debtor_name"], record["debtor_iban"]),
            "return_code": follow_up["code"]}


def _payout_entry(record):
    return {"account": record["debtor_iban"], "amount": record["amount"], "direction": "DBIT",
            "reversal": False, "booked": record["paid_on"], "code": SEPA_CREDIT_TRANSFER,
            "refs": record, "related": ("Cdtr", record["creditor_name"], record["creditor_iban"]),
            "return_code": None}


def _sub(parent, tag, text=None, ns=None, **attributes):
    element = etree.SubElement(parent, f"{{{ns or parent.nsmap[None]}}}{tag}", **attributes)
    if text is not None:
        element.text = str(text)
    return element


def _created(as_of):
    return datetime.combine(as_of, time(7, 0)).isoformat()


def _money(amount):
    return f"{Decimal(amount):.2f}"


def build_pain002(msg_id: str, as_of: date, records: list) -> etree._Element:
    """A pain.002.001.03 rejecting `records`, all from one original pain.008 file."""
    root = etree.Element(f"{{{PAIN002}}}Document", nsmap={None: PAIN002})
    report = _sub(root, "CstmrPmtStsRpt")
    header = _sub(report, "GrpHdr")
    _sub(header, "MsgId", msg_id)
    _sub(header, "CreDtTm", _created(as_of))
    _sub(_sub(header, "InitgPty"), "Nm", BANK_NAME)
    group = _sub(report, "OrgnlGrpInfAndSts")
    _sub(group, "OrgnlMsgId", records[0]["msg_id"])
    _sub(group, "OrgnlMsgNmId", "pain.008.001.02")
    by_block = {}
    for record in records:
        by_block.setdefault(record["pmt_inf_id"], []).append(record)
    status_number = 0
    for pmt_inf_id, block in by_block.items():
        info = _sub(report, "OrgnlPmtInfAndSts")
        _sub(info, "OrgnlPmtInfId", pmt_inf_id)
        for record in block:
            status_number += 1
            tx = _sub(info, "TxInfAndSts")
            _sub(tx, "StsId", f"{msg_id}-{status_number}")
            if record["instr_id"]:
                _sub(tx, "OrgnlInstrId", record["instr_id"])
            _sub(tx, "OrgnlEndToEndId", record["end_to_end_id"])
            _sub(tx, "TxSts", "RJCT")
            reason = _sub(tx, "StsRsnInf")
            _sub(_sub(reason, "Rsn"), "Cd", record["code"])
            original = _sub(tx, "OrgnlTxRef")
            _sub(_sub(original, "Amt"), "InstdAmt", _money(record["amount"]), Ccy="EUR")
            _sub(original, "ReqdColltnDt", record["due"])
            _sub(_sub(original, "MndtRltdInf"), "MndtId", record["mandate_id"])
            if record["debtor_name"]:
                _sub(_sub(original, "Dbtr"), "Nm", record["debtor_name"][:70])
            _sub(_sub(_sub(original, "DbtrAcct"), "Id"), "IBAN", record["debtor_iban"])
    return root


def build_camt054(msg_id: str, as_of: date, entries: list) -> etree._Element:
    """A camt.054.001.02 with one notification per account and one entry per transaction."""
    root = etree.Element(f"{{{CAMT054}}}Document", nsmap={None: CAMT054})
    notification_root = _sub(root, "BkToCstmrDbtCdtNtfctn")
    header = _sub(notification_root, "GrpHdr")
    _sub(header, "MsgId", msg_id)
    _sub(header, "CreDtTm", _created(as_of))
    by_account = {}
    for entry in entries:
        by_account.setdefault(entry["account"], []).append(entry)
    entry_number = 0
    for account_number, (account, account_entries) in enumerate(by_account.items(), 1):
        notification = _sub(notification_root, "Ntfctn")
        _sub(notification, "Id", f"{msg_id}-{account_number}")
        _sub(notification, "CreDtTm", _created(as_of))
        acct = _sub(notification, "Acct")
        _sub(_sub(acct, "Id"), "IBAN", account)
        _sub(acct, "Ccy", "EUR")
        for entry in account_entries:
            entry_number += 1
            _entry(notification, entry, f"{msg_id}-{entry_number}")
    return root


def _entry(notification, entry, reference):
    refs = entry["refs"]
    ntry = _sub(notification, "Ntry")
    _sub(ntry, "Amt", _money(entry["amount"]), Ccy="EUR")
    _sub(ntry, "CdtDbtInd", entry["direction"])
    if entry["reversal"]:
        _sub(ntry, "RvslInd", "true")
    _sub(ntry, "Sts", entry.get("status", "BOOK"))
    if entry.get("status", "BOOK") == "BOOK":  # a pending entry is not booked yet
        _sub(_sub(ntry, "BookgDt"), "Dt", entry["booked"])
    _sub(_sub(ntry, "ValDt"), "Dt", entry["booked"])
    _sub(ntry, "AcctSvcrRef", reference)
    _bank_transaction_code(ntry, entry["code"])
    tx = _sub(_sub(ntry, "NtryDtls"), "TxDtls")
    ids = _sub(tx, "Refs")
    _sub(ids, "MsgId", refs["msg_id"])
    _sub(ids, "AcctSvcrRef", reference)
    _sub(ids, "PmtInfId", refs["pmt_inf_id"])
    if refs.get("instr_id"):
        _sub(ids, "InstrId", refs["instr_id"])
    _sub(ids, "EndToEndId", refs["end_to_end_id"])
    if refs.get("mandate_id"):
        _sub(ids, "MndtId", refs["mandate_id"])
    amounts = _sub(tx, "AmtDtls")
    _sub(_sub(amounts, "InstdAmt"), "Amt", _money(entry["amount"]), Ccy="EUR")
    _sub(_sub(amounts, "TxAmt"), "Amt", _money(entry["amount"]), Ccy="EUR")
    role, name, iban = entry["related"]
    parties = _sub(tx, "RltdPties")
    if name:
        _sub(_sub(parties, role), "Nm", name[:70])
    _sub(_sub(_sub(parties, role + "Acct"), "Id"), "IBAN", iban)
    if entry["return_code"]:
        returned = _sub(tx, "RtrInf")
        _sub(_sub(returned, "Rsn"), "Cd", entry["return_code"])


def _bank_transaction_code(ntry, code):
    domain_code, family_code, sub_family_code = code
    domain = _sub(_sub(ntry, "BkTxCd"), "Domn")
    _sub(domain, "Cd", domain_code)
    family = _sub(domain, "Fmly")
    _sub(family, "Cd", family_code)
    _sub(family, "SubFmlyCd", sub_family_code)


# --- self-check and files ----------------------------------------------------

_SCHEMAS = {"pain.002": "pain.002.001.03", "camt.054": "camt.054.001.02"}


def schema_path(kind: str) -> Path | None:
    """The ISO XSD of `kind` when the payments service ships it, else None."""
    name = _SCHEMAS.get(kind, kind)
    candidates = sorted(SCHEMAS_DIR.glob(f"{name}*.xsd")) if SCHEMAS_DIR.is_dir() else []
    return candidates[0] if candidates else None


def check_schema(document, kind: str):
    """Refuse to send a file its XSD rejects (when the XSD is there to ask)."""
    path = schema_path(kind)
    if path is None:
        return
    schema = etree.XMLSchema(etree.parse(str(path)))
    if not schema.validate(document):
        raise ValueError(f"sandbox bank built an invalid {kind}: {schema.error_log.last_error}")


def _write_atomically(path: Path, data: bytes):
    # The importer must never see half a file: write beside it, then rename.
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "wb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        os.replace(temporary, path)
    except BaseException:
        if os.path.exists(temporary):
            os.unlink(temporary)
        raise
