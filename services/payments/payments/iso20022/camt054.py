"""camt.054 (001.02, 001.04, 001.08): the bank's debit/credit notification, read as a stream.

    notification = open_camt054(source)   # reads up to GrpHdr/MsgId
    notification.message_id, notification.version
    for transaction in notification: ...   # domain.BankTransaction, in the file's order

    parse_camt054(source) -> Camt054(message_id, version, transactions)   # the whole file

One lxml iterparse over the file: each <Ntry> is read when it ends, turned into one
BankTransaction per TxDtls (or one for an entry without TxDtls), then cleared with what
came before it, so a notification of 10 000 returns never sits in memory as a tree. Any
currency is read: refusing what it does not book is the importer's business. Anything
unreadable is `InvalidFile(reason)`, possibly after transactions were yielded.
"""
from __future__ import annotations

import io
import os
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal, InvalidOperation

from lxml import etree

from payments.domain import BankTransaction, BankTransactionCode

from .xsd import ROOTS, InvalidFile, accepted_message, message_of, namespace, refuse_doctype

VERSIONS = ("camt.054.001.02", "camt.054.001.04", "camt.054.001.08")


@dataclass(frozen=True)
class Camt054:
    message_id: str
    version: str
    transactions: list[BankTransaction] = field(default_factory=list)


def parse_camt054(source) -> Camt054:
    """The whole notification from bytes, a path or a binary file; `InvalidFile` otherwise."""
    notification = open_camt054(source)
    transactions = list(notification)
    return Camt054(notification.message_id, notification.version, transactions)


def open_camt054(source) -> "Notification":
    """A notification whose header is read; iterate it for its transactions."""
    return Notification(source)


def _cents(text: str | None) -> int:
    try:
        value = Decimal((text or "").strip())
    except InvalidOperation:
        raise InvalidFile(f"amount {text!r} unreadable") from None
    cents = value * 100
    if not value.is_finite() or cents != cents.to_integral_value():
        raise InvalidFile(f"amount {text!r} unreadable: not a whole number of cents")
    return abs(int(cents))


def _instant(text: str) -> datetime:
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        raise InvalidFile(f"date {text!r} unreadable") from None


def _day(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise InvalidFile(f"date {text!r} unreadable") from None


class _Element:
    """The descendants of an element by their path of local names ("NtryDtls/Btch/NbOfTxs"),
    in document order: one walk, then each field is a dict lookup. The walk stops at `stops`
    (TxDtls: read on their own)."""

    __slots__ = ("found",)

    def __init__(self, element, cut: int, stops=()):
        found = self.found = {}

        def walk(parent, path):
            for child in parent:
                name = child.tag[cut:]
                key = path + name
                if key in found:
                    found[key].append(child)
                else:
                    found[key] = [child]
                if name not in stops and len(child):
                    walk(child, key + "/")
        walk(element, "")

    def all(self, path):
        return self.found.get(path, ())

    def first(self, path):
        elements = self.found.get(path)
        return elements[0] if elements else None

    def text(self, path) -> str | None:
        elements = self.found.get(path)
        if not elements or elements[0].text is None:
            return None
        return elements[0].text.strip() or None

    def amount(self, path) -> tuple[int, str] | None:
        element = self.first(path)
        if element is None:
            return None
        currency = element.get("Ccy")
        if not currency:
            raise InvalidFile("amount without its Ccy attribute")
        return _cents(element.text), currency

    def when(self, holder) -> tuple[date | None, datetime | None]:
        """(day, instant) of a BookgDt or ValDt: a Dt, or a DtTm with or without offset."""
        day = self.text(holder + "/Dt")
        if day is not None:
            return _day(day), None
        instant = self.text(holder + "/DtTm")
        if instant is None:
            return None, None
        moment = _instant(instant)
        return moment.date(), moment


def _charges(holders, cut) -> int | None:
    """The total of <Chrgs> elements: 001.02 repeats Chrgs each with its Amt; 001.04+ gives
    Chrgs/TtlChrgsAndTaxAmt or Chrgs/Rcrd/Amt."""
    total = None
    for charges in holders:
        read = _Element(charges, cut)
        overall = read.amount("TtlChrgsAndTaxAmt")
        if overall is not None:
            total = (total or 0) + overall[0]
            continue
        for element in (*read.all("Amt"), *read.all("Rcrd/Amt")):
            total = (total or 0) + _cents(element.text)
    return total


def _code(read: _Element) -> BankTransactionCode | None:
    code = BankTransactionCode(read.text("BkTxCd/Domn/Cd"), read.text("BkTxCd/Domn/Fmly/Cd"),
                               read.text("BkTxCd/Domn/Fmly/SubFmlyCd"), read.text("BkTxCd/Prtry/Cd"))
    return None if code == BankTransactionCode() else code


def _return_information(read: _Element) -> str | None:
    texts = [element.text.strip() for element in read.all("RtrInf/AddtlInf") if element.text and element.text.strip()]
    return " ".join(texts) or None


def transactions_of(entry, cut: int) -> list[BankTransaction]:
    """The BankTransactions of one <Ntry> (`cut`: the length of "{namespace}")."""
    read = _Element(entry, cut, stops=("TxDtls",))
    amount = read.amount("Amt")
    credit_debit = read.text("CdtDbtInd")
    if amount is None or credit_debit not in ("CRDT", "DBIT"):
        raise InvalidFile("camt.054 entry without Amt or CdtDbtInd")
    status = read.text("Sts") or read.text("Sts/Cd") or read.text("Sts/Prtry")
    if status is None:
        raise InvalidFile("camt.054 entry without Sts")
    booking_date, booked_at = read.when("BookgDt")
    value_date, valued_at = read.when("ValDt")
    details = read.all("NtryDtls/TxDtls")
    batch = read.text("NtryDtls/Btch/NbOfTxs")
    entry_charges = _charges(read.all("Chrgs"), cut)
    common = dict(
        status=status, reversal=read.text("RvslInd") == "true", entry_amount=amount[0],
        batch_count=int(batch) if batch and batch.isdigit() else max(len(details), 1),
        booking_date=booking_date, booked_at=booked_at, value_date=value_date, valued_at=valued_at,
        entry_reference=read.text("NtryRef") or read.text("AcctSvcrRef"))
    if not details:
        return [BankTransaction(
            credit_debit=credit_debit, amount=amount[0], currency=amount[1], charges=entry_charges,
            payment_info_id=read.text("NtryDtls/Btch/PmtInfId"), bank_transaction_code=_code(read), **common)]
    transactions = []
    for element in details:
        tx = _Element(element, cut)
        own = tx.amount("Amt")
        transaction_amount, instructed = tx.amount("AmtDtls/TxAmt/Amt"), tx.amount("AmtDtls/InstdAmt/Amt")
        tx_amount = own or transaction_amount or instructed
        if tx_amount is None:
            if len(details) > 1:
                raise InvalidFile("batch entry with a TxDtls without amount")
            tx_amount = amount
        charges = _charges(tx.all("Chrgs"), cut)
        if charges is None and len(details) == 1:
            charges = entry_charges
        transactions.append(BankTransaction(
            credit_debit=tx.text("CdtDbtInd") or credit_debit, amount=tx_amount[0], currency=tx_amount[1],
            transaction_amount=transaction_amount and transaction_amount[0],
            instructed_amount=instructed and instructed[0], charges=charges,
            end_to_end_id=tx.text("Refs/EndToEndId"), instruction_id=tx.text("Refs/InstrId"),
            mandate_id=tx.text("Refs/MndtId"),
            payment_info_id=tx.text("Refs/PmtInfId") or read.text("NtryDtls/Btch/PmtInfId"),
            bank_transaction_code=_code(tx) or _code(read),
            return_reason_code=tx.text("RtrInf/Rsn/Cd") or tx.text("RtrInf/Rsn/Prtry"),
            return_information=_return_information(tx), **common))
    return transactions


class Notification:
    """A camt.054 being read: `message_id` and `version` once constructed, its transactions
    when iterated (once)."""

    def __init__(self, source):
        if isinstance(source, (bytes, bytearray)):
            if not source.strip():
                raise InvalidFile("empty file")
            source = io.BytesIO(bytes(source))
        elif isinstance(source, (str, os.PathLike)):
            if os.path.getsize(source) == 0:
                raise InvalidFile("empty file")
            source = str(source)
        # no entities, DTD or network; libxml2's size limits (huge_tree off)
        self._events = etree.iterparse(
            source, events=("start", "end"), tag=("{*}Document", "{*}GrpHdr", "{*}Ntry"), resolve_entities=False, no_network=True, load_dtd=False,
            dtd_validation=False, huge_tree=False, remove_comments=True, remove_pis=True, remove_blank_text=True)
        self._early = []  # entries read before the header (a file out of the schema's order)
        self.message_id = self.version = None
        self._root = None
        self._read = self._entries()
        for item in self._read:  # it ends with a refusal if the header never comes
            if item is None:
                break
            self._early.append(item)

    def _entries(self):
        """None when the GrpHdr is read, then each entry's transactions."""
        root = body = None
        try:
            for event, element in self._events:
                if root is None:
                    root = self._root = self._open(element)
                    message = message_of(root)
                    ns = "{" + namespace(message) + "}"
                    cut = len(ns)
                    body_tag, header_tag, entry_tag = ns + ROOTS[message], ns + "GrpHdr", ns + "Ntry"
                    notification_tag = ns + "Ntfctn"
                    continue
                if event == "start":
                    continue
                parent = element.getparent()
                if parent is None:
                    continue
                if element.tag == header_tag and parent.tag == body_tag and parent.getparent() is root:
                    body = True
                    if self.message_id is None:
                        self.message_id = _Element(element, cut).text("MsgId")
                        if self.message_id is not None:
                            yield None
                elif (element.tag == entry_tag and parent.tag == notification_tag
                      and parent.getparent() is not None and parent.getparent().tag == body_tag
                      and parent.getparent().getparent() is root):
                    body = True
                    yield transactions_of(element, cut)
                    element.clear(keep_tail=False)
                    while element.getprevious() is not None:  # what was read before it
                        del parent[0]
        except etree.XMLSyntaxError as error:
            raise InvalidFile(f"not well-formed XML: {error}") from None
        if root is None:  # well-formed, but not one element the filter waits for
            root = self._open(self._events.root)
        message = message_of(root)
        if body is None and root.find(f"{{{namespace(message)}}}{ROOTS[message]}") is None:
            raise InvalidFile(f"{message} without its <{ROOTS[message]}> element")
        if self.message_id is None:
            raise InvalidFile(f"{message} without GrpHdr/MsgId")

    def _open(self, element):
        tree = element.getroottree()
        refuse_doctype(tree)
        root = tree.getroot()
        message = accepted_message(root, VERSIONS)
        self.version = message[len("camt.054."):]
        return root

    def __iter__(self):
        for transactions in self._early:
            yield from transactions
        self._early = []
        for transactions in self._read:
            yield from transactions
