"""camt.054 (001.02, 001.04, 001.08): the bank's debit/credit notification.

    parse_camt054(source) -> Camt054(message_id, version, transactions)
    transaction = {"end_to_end_id": str | None, "amount": int cents (positive),
                   "currency", "credit_debit": "CRDT"|"DBIT", "reversal": bool,
                   "return_reason_code": str | None, "booking_date": date | None,
                   "value_date": date | None, "charges": int cents | None,
                   "batch_count": int, "entry_reference": str | None}

Entries are flattened to one transaction per TxDtls; a batch-booked entry
without TxDtls becomes one transaction without end-to-end id. Any currency is
read: refusing what it does not book is the importer's business.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal, InvalidOperation

from common.money import from_decimal

from .xsd import InvalidFile, namespace, parse_message

VERSIONS = ("camt.054.001.02", "camt.054.001.04", "camt.054.001.08")


@dataclass(frozen=True)
class Camt054:
    message_id: str
    version: str
    transactions: list[dict] = field(default_factory=list)


def parse_camt054(source) -> Camt054:
    """Read a notification from bytes, a path or a binary file; `InvalidFile` otherwise."""
    root, message = parse_message(source, VERSIONS)
    reader = _Reader({"c": namespace(message)})
    body = root.find("c:BkToCstmrDbtCdtNtfctn", reader.ns)
    message_id = reader.text(body, "c:GrpHdr/c:MsgId")
    if message_id is None:
        raise InvalidFile(f"{message} without GrpHdr/MsgId")
    transactions = []
    for entry in body.iterfind("c:Ntfctn/c:Ntry", reader.ns):
        transactions.extend(reader.entry(entry))
    return Camt054(message_id=message_id, version=message[len("camt.054."):],
                   transactions=transactions)


class _Reader:
    def __init__(self, ns: dict):
        self.ns = ns

    def text(self, element, path: str) -> str | None:
        found = element.find(path, self.ns)
        if found is None or found.text is None:
            return None
        return found.text.strip() or None

    def amount(self, element, path: str) -> tuple[int, str] | None:
        found = element.find(path, self.ns)
        if found is None:
            return None
        try:
            cents = from_decimal(Decimal((found.text or "").strip()))
        except (InvalidOperation, ValueError) as error:
            raise InvalidFile(f"amount {found.text!r} unreadable: {error}") from None
        currency = found.get("Ccy")
        if not currency:
            raise InvalidFile("amount without its Ccy attribute")
        return abs(cents), currency

    def day(self, element, path: str) -> date | None:
        # <BookgDt>/<ValDt> hold a Dt or a DtTm.
        text = self.text(element, f"{path}/c:Dt")
        try:
            if text:
                return date.fromisoformat(text)
            text = self.text(element, f"{path}/c:DtTm")
            return datetime.fromisoformat(text).date() if text else None
        except ValueError:
            raise InvalidFile(f"date {text!r} unreadable") from None

    def charges(self, element) -> int | None:
        # 001.02: Chrgs repeated, each with its Amt; 001.04+: Chrgs/Rcrd/Amt.
        total = None
        for charges in element.iterfind("c:Chrgs", self.ns):
            overall = self.amount(charges, "c:TtlChrgsAndTaxAmt")
            if overall is not None:
                total = (total or 0) + overall[0]
                continue
            for path in ("c:Amt", "c:Rcrd/c:Amt"):
                for record in charges.iterfind(path, self.ns):
                    total = (total or 0) + abs(from_decimal(Decimal(record.text.strip())))
        return total

    def entry(self, entry) -> list[dict]:
        amount = self.amount(entry, "c:Amt")
        credit_debit = self.text(entry, "c:CdtDbtInd")
        if amount is None or credit_debit not in ("CRDT", "DBIT"):
            raise InvalidFile("camt.054 entry without Amt or CdtDbtInd")
        common = {
            "reversal": self.text(entry, "c:RvslInd") == "true",
            "booking_date": self.day(entry, "c:BookgDt"),
            "value_date": self.day(entry, "c:ValDt"),
            "entry_reference": self.text(entry, "c:NtryRef") or self.text(entry, "c:AcctSvcrRef"),
        }
        details = entry.findall("c:NtryDtls/c:TxDtls", self.ns)
        batch = self.text(entry, "c:NtryDtls/c:Btch/c:NbOfTxs")
        batch_count = int(batch) if batch and batch.isdigit() else max(len(details), 1)
        entry_charges = self.charges(entry)
        if not details:
            return [{"end_to_end_id": None, "amount": amount[0], "currency": amount[1],
                     "credit_debit": credit_debit, "return_reason_code": None,
                     "charges": entry_charges, "batch_count": batch_count, **common}]
        transactions = []
        for tx in details:
            # 001.04+ carry TxDtls/Amt; 001.02 only AmtDtls; a lone TxDtls may have neither.
            tx_amount = (self.amount(tx, "c:Amt") or self.amount(tx, "c:AmtDtls/c:TxAmt/c:Amt")
                         or self.amount(tx, "c:AmtDtls/c:InstdAmt/c:Amt"))
            if tx_amount is None:
                if len(details) > 1:
                    raise InvalidFile("batch entry with a TxDtls without amount")
                tx_amount = amount
            tx_charges = self.charges(tx)
            if tx_charges is None and len(details) == 1:
                tx_charges = entry_charges
            transactions.append({
                "end_to_end_id": self.text(tx, "c:Refs/c:EndToEndId"),
                "amount": tx_amount[0],
                "currency": tx_amount[1],
                "credit_debit": self.text(tx, "c:CdtDbtInd") or credit_debit,
                "return_reason_code": (self.text(tx, "c:RtrInf/c:Rsn/c:Cd")
                                       or self.text(tx, "c:RtrInf/c:Rsn/c:Prtry")),
                "charges": tx_charges,
                "batch_count": batch_count,
                **common,
            })
        return transactions
