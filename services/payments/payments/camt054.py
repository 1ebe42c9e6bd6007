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

The file is read as a stream (`iterparse`): each <Ntry> is turned into its
transactions and dropped, so a notification of 10 000 returns never sits in
memory as a tree; it is refused on the same grounds as `xsd.parse_message`.
"""
from __future__ import annotations

import io
import os
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal, InvalidOperation

from lxml import etree

from common.money import from_decimal

from .xsd import ROOTS, InvalidFile, message_of, namespace

VERSIONS = ("camt.054.001.02", "camt.054.001.04", "camt.054.001.08")


@dataclass(frozen=True)
class Camt054:
    message_id: str
    version: str
    transactions: list[dict] = field(default_factory=list)


def parse_camt054(source) -> Camt054:
    """Read a notification from bytes, a path or a binary file; `InvalidFile` otherwise."""
    if isinstance(source, (bytes, bytearray)):
        if not source.strip():
            raise InvalidFile("empty file")
        source = io.BytesIO(bytes(source))
    elif isinstance(source, (str, os.PathLike)):
        if os.path.getsize(source) == 0:
            raise InvalidFile("empty file")
        source = str(source)
    # The hardened parser of xsd._parser: no entities, DTD or network, libxml2's limits. Blank
    # text between elements is dropped (every value read is stripped: nothing read changes).
    events = etree.iterparse(source, events=("start", "end"), tag=("{*}Document", "{*}GrpHdr", "{*}Ntry"),
                             resolve_entities=False, no_network=True, load_dtd=False, dtd_validation=False,
                             huge_tree=False, remove_comments=True, remove_pis=True, remove_blank_text=True)
    root = message = reader = None
    message_id, has_body, transactions = None, False, []
    try:
        for event, element in events:
            if root is None:
                root, message = _root(element)
                ns = "{" + namespace(message) + "}"
                reader = _Reader({"c": namespace(message)})
                body_tag, header_tag, notification_tag = ns + ROOTS[message], ns + "GrpHdr", ns + "Ntfctn"
                continue
            if event == "start":
                continue
            parent = element.getparent()
            if parent is None:
                continue
            if element.tag == header_tag and parent.tag == body_tag and parent.getparent() is root:
                has_body = True
                if message_id is None:
                    message_id = reader.text(element, "c:MsgId")
            elif (parent.tag == notification_tag and element.tag == ns + "Ntry"
                  and parent.getparent() is not None and parent.getparent().tag == body_tag
                  and parent.getparent().getparent() is root):
                has_body = True
                transactions.extend(reader.entry(element))
                element.clear(keep_tail=True)
                while element.getprevious() is not None:  # the entries read and the notification's head
                    del parent[0]
        if root is None:  # well-formed, but not one element the filter waits for
            root, message = _root(events.root)
    except etree.XMLSyntaxError as error:
        raise InvalidFile(f"not well-formed XML: {error}") from None
    if not has_body and root.find(f"{{{namespace(message)}}}{ROOTS[message]}") is None:
        raise InvalidFile(f"{message} without its <{ROOTS[message]}> element")
    if message_id is None:
        raise InvalidFile(f"{message} without GrpHdr/MsgId")
    return Camt054(message_id=message_id, version=message[len("camt.054."):],
                   transactions=transactions)


def _root(element):
    """The message name of the <Document> just opened; `InvalidFile` unless a camt.054 one."""
    tree = element.getroottree()
    # A bank file never needs a DOCTYPE; refusing it closes every entity trick.
    if tree.docinfo.doctype or tree.docinfo.internalDTD is not None:
        raise InvalidFile("DOCTYPE declarations are not accepted in bank files")
    root = tree.getroot()
    message = message_of(root)
    if message not in VERSIONS:
        raise InvalidFile(f"expected a {' or '.join(VERSIONS)} <Document>, "
                          f"found <{etree.QName(root).localname}> in namespace "
                          f"{etree.QName(root).namespace or '(none)'}")
    return root, message


def _first(element, steps, depth=0):
    """`element.find` of a child path (its steps as qualified tags), without ElementPath:
    the first match in document order."""
    last = len(steps) - 1
    for child in element.iterchildren(steps[depth]):
        if depth == last:
            return child
        found = _first(child, steps, depth + 1)
        if found is not None:
            return found
    return None


def _all(element, steps, depth=0):
    """`element.iterfind` of a child path: every match in document order."""
    last = len(steps) - 1
    for child in element.iterchildren(steps[depth]):
        if depth == last:
            yield child
        else:
            yield from _all(child, steps, depth + 1)


def _children(element) -> dict:
    """An element's children by tag, in document order: one pass over them, then each of
    the dozen lookups of an entry is a dict access."""
    by_tag = {}
    for child in element:
        tag = child.tag
        if tag in by_tag:
            by_tag[tag].append(child)
        else:
            by_tag[tag] = [child]
    return by_tag


class _Reader:
    """Paths like "c:NtryDtls/c:TxDtls" walked child by child: ElementPath costs ~10 µs a
    call, and each of 10 000 entries needs some forty. An entry's and a TxDtls' own
    children are indexed once (_children)."""

    TAGS = ("Amt", "CdtDbtInd", "RvslInd", "BookgDt", "ValDt", "Dt", "DtTm", "NtryRef", "AcctSvcrRef",
            "NtryDtls", "TxDtls", "Btch", "NbOfTxs", "Chrgs", "AmtDtls", "TxAmt", "InstdAmt", "RtrInf", "Rsn",
            "Cd", "Prtry", "Refs", "EndToEndId")

    def __init__(self, ns: dict):
        self.ns = ns
        self._steps = {}
        self.tags = {name: "{" + ns["c"] + "}" + name for name in self.TAGS}

    def steps(self, path: str) -> tuple[str, ...]:
        steps = self._steps.get(path)
        if steps is None:
            steps = self._steps[path] = tuple(
                "{" + self.ns[prefix] + "}" + name for prefix, name in
                (step.split(":", 1) for step in path.split("/")))
        return steps

    def find(self, element, path: str):
        return _first(element, self.steps(path))

    def iterfind(self, element, path: str):
        return _all(element, self.steps(path))

    def text(self, element, path: str) -> str | None:
        return _text(self.find(element, path))

    def amount(self, element, path: str) -> tuple[int, str] | None:
        return self._amount(self.find(element, path))

    def charges(self, all_charges) -> int | None:
        """The total of the <Chrgs> elements given (an entry's or a TxDtls' own)."""
        # 001.02: Chrgs repeated, each with its Amt; 001.04+: Chrgs/Rcrd/Amt.
        total = None
        for charges in all_charges:
            overall = self.amount(charges, "c:TtlChrgsAndTaxAmt")
            if overall is not None:
                total = (total or 0) + overall[0]
                continue
            for path in ("c:Amt", "c:Rcrd/c:Amt"):
                for record in self.iterfind(charges, path):
                    total = (total or 0) + abs(from_decimal(Decimal(record.text.strip())))
        return total

    def entry(self, element) -> list[dict]:
        """The transactions of one <Ntry>. The lookups are those of ElementPath's `find`
        (the first match in document order), written out on the entry's children index."""
        t = self.tags
        entry = _children(element)
        amount = self._amount(_one(entry, t["Amt"]))
        credit_debit = _text(_one(entry, t["CdtDbtInd"]))
        if amount is None or credit_debit not in ("CRDT", "DBIT"):
            raise InvalidFile("camt.054 entry without Amt or CdtDbtInd")
        common = {
            "reversal": _text(_one(entry, t["RvslInd"])) == "true",
            "booking_date": self._day(entry.get(t["BookgDt"])),
            "value_date": self._day(entry.get(t["ValDt"])),
            "entry_reference": _text(_one(entry, t["NtryRef"])) or _text(_one(entry, t["AcctSvcrRef"])),
        }
        entry_details = entry.get(t["NtryDtls"], ())
        details = [tx for parent in entry_details for tx in parent.iterchildren(t["TxDtls"])]
        batch = _text(_below(entry_details, (t["Btch"], t["NbOfTxs"])))
        batch_count = int(batch) if batch and batch.isdigit() else max(len(details), 1)
        entry_charges = self._charges(entry.get(t["Chrgs"], ()))
        if not details:
            return [{"end_to_end_id": None, "amount": amount[0], "currency": amount[1],
                     "credit_debit": credit_debit, "return_reason_code": None,
                     "charges": entry_charges, "batch_count": batch_count, **common}]
        transactions = []
        for element in details:
            tx = _children(element)
            # 001.04+ carry TxDtls/Amt; 001.02 only AmtDtls; a lone TxDtls may have neither.
            amounts = tx.get(t["AmtDtls"], ())
            tx_amount = (self._amount(_one(tx, t["Amt"]))
                         or self._amount(_below(amounts, (t["TxAmt"], t["Amt"])))
                         or self._amount(_below(amounts, (t["InstdAmt"], t["Amt"]))))
            if tx_amount is None:
                if len(details) > 1:
                    raise InvalidFile("batch entry with a TxDtls without amount")
                tx_amount = amount
            tx_charges = self._charges(tx.get(t["Chrgs"], ()))
            if tx_charges is None and len(details) == 1:
                tx_charges = entry_charges
            returned = tx.get(t["RtrInf"], ())
            transactions.append({
                "end_to_end_id": _text(_below(tx.get(t["Refs"], ()), (t["EndToEndId"],))),
                "amount": tx_amount[0],
                "currency": tx_amount[1],
                "credit_debit": _text(_one(tx, t["CdtDbtInd"])) or credit_debit,
                "return_reason_code": (_text(_below(returned, (t["Rsn"], t["Cd"])))
                                       or _text(_below(returned, (t["Rsn"], t["Prtry"])))),
                "charges": tx_charges,
                "batch_count": batch_count,
                **common,
            })
        return transactions

    def _amount(self, found) -> tuple[int, str] | None:
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

    def _day(self, holders) -> date | None:
        # <BookgDt>/<ValDt> hold a Dt or a DtTm.
        if not holders:
            return None
        text = _text(_below(holders, (self.tags["Dt"],)))
        try:
            if text:
                return date.fromisoformat(text)
            text = _text(_below(holders, (self.tags["DtTm"],)))
            return datetime.fromisoformat(text).date() if text else None
        except ValueError:
            raise InvalidFile(f"date {text!r} unreadable") from None

    def _charges(self, all_charges) -> int | None:
        return self.charges(all_charges) if all_charges else None


def _one(children: dict, tag: str):
    """The first child of this tag (of a _children index), or None."""
    found = children.get(tag)
    return found[0] if found else None


def _below(parents, steps):
    """The first element at `steps` below any of `parents`, in document order."""
    for parent in parents:
        found = _first(parent, steps)
        if found is not None:
            return found
    return None


def _text(found) -> str | None:
    if found is None or found.text is None:
        return None
    return found.text.strip() or None
