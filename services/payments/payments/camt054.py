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

The file is read as a stream (`iterparse`): each <Ntry> is moved out of the growing tree
into a batch of BATCH entries, so a notification of 10 000 returns never sits in memory as
a tree; it is refused on the same grounds as `xsd.parse_message`. A batch is read by one
XSLT run (libxslt, in C) writing a line of the fields per entry (_FIELDS), which Python
splits and converts; an entry whose line is not that plain (several TxDtls or Chrgs, a
text holding a tab or a newline, anything unreadable) is read element by element
(`_Reader.entry`), which reads, and refuses, every entry exactly as before.
"""
from __future__ import annotations

import io
import os
import re
import threading
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal, InvalidOperation

from lxml import etree

from common.money import from_decimal

from .xsd import NAMESPACE_PREFIX, ROOTS, InvalidFile, message_of, namespace

VERSIONS = ("camt.054.001.02", "camt.054.001.04", "camt.054.001.08")
BATCH = 100  # entries read by one XSLT run: its cost per run is paid once, ~3 MB of tree at a time

# What an entry's transactions are read from, one tab-separated line per <Ntry> written by
# libxslt (C) instead of some eighty element lookups in Python. Each text is that of the first
# match in document order, as `_Reader.entry` reads it: `node()[1][self::text()]` is lxml's
# `.text` (the first child node when a text node; adjacent texts are merged by the parser).
# `TX` stands for the entry's TxDtls; the counts decide whether the line can be used at all.
_X = "c:NtryDtls/c:TxDtls"
_FIELDS = (
    "T(c:Amt[1])", "c:Amt[1]/@Ccy", "T(c:CdtDbtInd[1])", "T(c:RvslInd[1])",
    "T((c:BookgDt/c:Dt)[1])", "T((c:BookgDt/c:DtTm)[1])", "T((c:ValDt/c:Dt)[1])", "T((c:ValDt/c:DtTm)[1])",
    "T(c:NtryRef[1])", "T(c:AcctSvcrRef[1])", f"count({_X})", "T((c:NtryDtls/c:Btch/c:NbOfTxs)[1])",
    "count(c:Chrgs)", "count(c:Chrgs/c:TtlChrgsAndTaxAmt)", "count(c:Chrgs/c:Amt | c:Chrgs/c:Rcrd/c:Amt)",
    "T((c:Chrgs/c:Amt | c:Chrgs/c:Rcrd/c:Amt)[1])",
    "count(TX/c:Amt)", "T(TX/c:Amt[1])", "TX/c:Amt[1]/@Ccy",
    "count(TX/c:AmtDtls/c:TxAmt/c:Amt)", "T((TX/c:AmtDtls/c:TxAmt/c:Amt)[1])",
    "(TX/c:AmtDtls/c:TxAmt/c:Amt)[1]/@Ccy",
    "count(TX/c:AmtDtls/c:InstdAmt/c:Amt)", "T((TX/c:AmtDtls/c:InstdAmt/c:Amt)[1])",
    "(TX/c:AmtDtls/c:InstdAmt/c:Amt)[1]/@Ccy",
    "count(TX/c:Chrgs)", "count(TX/c:Chrgs/c:TtlChrgsAndTaxAmt)",
    "count(TX/c:Chrgs/c:Amt | TX/c:Chrgs/c:Rcrd/c:Amt)", "T((TX/c:Chrgs/c:Amt | TX/c:Chrgs/c:Rcrd/c:Amt)[1])",
    "T((TX/c:Refs/c:EndToEndId)[1])", "T(TX/c:CdtDbtInd[1])",
    "T((TX/c:RtrInf/c:Rsn/c:Cd)[1])", "T((TX/c:RtrInf/c:Rsn/c:Prtry)[1])",
)
_COMPILED = threading.local()  # lxml's XSLT objects are kept to the thread that made them


def _lines(ns: str):
    """The XSLT (compiled once per namespace and thread) writing a batch's entries as lines of _FIELDS."""
    _LINES = _COMPILED.__dict__
    if ns not in _LINES:
        selects = []
        for field_ in _FIELDS:
            field_ = field_.replace("TX/", _X + "/")
            if field_.startswith("T("):
                field_ = field_[2:-1] + "/node()[1][self::text()]"
            selects.append(f'<xsl:value-of select="{field_}"/>')
        stylesheet = (
            '<xsl:stylesheet version="1.0" xmlns:xsl="http://www.w3.org/1999/XSL/Transform" '
            f'xmlns:c="{ns}"><xsl:output method="text" encoding="UTF-8"/>'
            '<xsl:template match="/"><xsl:for-each select="*/c:Ntry">'
            + "<xsl:text>&#9;</xsl:text>".join(selects) + "<xsl:text>&#10;</xsl:text>"
            "</xsl:for-each></xsl:template></xsl:stylesheet>")
        _LINES[ns] = etree.XSLT(etree.XML(stylesheet), access_control=etree.XSLTAccessControl.DENY_ALL)
    return _LINES[ns]


class _Slow(Exception):
    """An entry `_Reader.fast` does not read as `_Reader.entry` would: read by the latter."""


@dataclass(frozen=True)
class Camt054:
    message_id: str
    version: str
    transactions: list[dict] = field(default_factory=list)


def parse_camt054(source, on_message=None, on_batch=None) -> Camt054:
    """Read a notification from bytes, a path or a binary file; `InvalidFile` otherwise.
    For a streamed import: `on_message(message_id)` as soon as GrpHdr/MsgId is read, and
    `on_batch(transactions)` for each batch read instead of keeping them (the result's
    transactions are then empty); a refusal may still come after them."""
    transactions_read = []
    if on_batch is None:
        on_batch = transactions_read.extend
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
    root = message = reader = batch = None
    message_id, has_body, transactions = None, False, _Batches(on_batch)
    try:
        for event, element in events:
            if root is None:
                root, message = _root(element)
                ns = "{" + namespace(message) + "}"
                reader = _Reader({"c": namespace(message)})
                batch = etree.Element("batch")
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
                    if message_id is not None and on_message is not None:
                        on_message(message_id)
            elif (parent.tag == notification_tag and element.tag == ns + "Ntry"
                  and parent.getparent() is not None and parent.getparent().tag == body_tag
                  and parent.getparent().getparent() is root):
                has_body = True
                while element.getprevious() is not None:  # the entries moved and the notification's head
                    del parent[0]
                batch.append(element)  # out of the growing tree, into the batch (C: a pointer move)
                if len(batch) == BATCH:
                    transactions.extend(reader.entries(batch))
                    batch = etree.Element("batch")
        if batch is not None and len(batch):
            transactions.extend(reader.entries(batch))
        if root is None:  # well-formed, but not one element the filter waits for
            root, message = _root(events.root)
    except etree.XMLSyntaxError as error:
        if batch is not None and len(batch):  # the entries read before the error, as they came
            transactions.extend(reader.entries(batch))
        raise InvalidFile(f"not well-formed XML: {error}") from None
    if not has_body and root.find(f"{{{namespace(message)}}}{ROOTS[message]}") is None:
        raise InvalidFile(f"{message} without its <{ROOTS[message]}> element")
    if message_id is None:
        raise InvalidFile(f"{message} without GrpHdr/MsgId")
    return Camt054(message_id=message_id, version=message[len("camt.054."):],
                   transactions=transactions_read)


class _Batches:
    """Where parse_camt054 puts each batch's transactions (`extend`)."""

    def __init__(self, sink):
        self.extend = sink


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

    def entries(self, batch) -> list[dict]:
        """The transactions of the <Ntry> elements in `batch`, in order. Their fields come
        from one XSLT run (_FIELDS); an entry whose line is not plain (several TxDtls or
        Chrgs, a total of charges, a text with a tab or a newline, anything unreadable) is
        read by `entry`, which refuses it with its own words if it must."""
        lines = str(_lines(self.ns["c"])(batch)).split("\n")
        width = len(_FIELDS)
        plain = len(lines) == len(batch) + 1 and not lines[-1]  # no text holds a newline
        transactions, days = [], {}
        for index, element in enumerate(batch):
            fields = lines[index].split("\t") if plain else ()
            if len(fields) == width:  # and none a tab
                try:
                    transactions.extend(self.fast(fields, days))
                    continue
                except (_Slow, ArithmeticError, ValueError, TypeError):
                    pass
            transactions.extend(self.entry(element))
        return transactions

    def fast(self, f, days) -> list[dict]:
        """`entry` on the fields of its line (see _FIELDS); _Slow (or the error of a
        conversion) when it is not that simple."""
        (amt, ccy, credit_debit, reversal, booked, booked_time, valued, valued_time, entry_ref, servicer_ref, details, batch, charges_n, charges_total_n, charges_amt_n,
         charges_amt, tx_amt_n, tx_amt, tx_ccy, tx_txamt_n, tx_txamt, tx_txamt_ccy, tx_instd_n, tx_instd,
         tx_instd_ccy, tx_charges_n, tx_charges_total_n, tx_charges_amt_n, tx_charges_amt, e2e, tx_credit_debit,
         code, proprietary) = f
        credit_debit = credit_debit.strip()
        if credit_debit not in ("CRDT", "DBIT"):
            raise _Slow
        amount = _cents(amt, ccy)  # no <Amt>: no text, refused by Decimal
        details = int(details)
        if details > 1:
            raise _Slow
        batch = batch.strip()
        common = {
            "reversal": reversal.strip() == "true",
            "booking_date": _fast_day(booked, booked_time, days),
            "value_date": _fast_day(valued, valued_time, days),
            "entry_reference": entry_ref.strip() or servicer_ref.strip() or None,
        }
        batch_count = int(batch) if batch and batch.isdigit() else max(details, 1)
        entry_charges = _fast_charges(charges_n, charges_total_n, charges_amt_n, charges_amt)
        if not details:
            return [{"end_to_end_id": None, "amount": amount[0], "currency": amount[1],
                     "credit_debit": credit_debit, "return_reason_code": None,
                     "charges": entry_charges, "batch_count": batch_count, **common}]
        tx_amount = ((_cents(tx_amt, tx_ccy) if tx_amt_n != "0" else None)
                     or (_cents(tx_txamt, tx_txamt_ccy) if tx_txamt_n != "0" else None)
                     or (_cents(tx_instd, tx_instd_ccy) if tx_instd_n != "0" else None)
                     or amount)
        tx_charges = _fast_charges(tx_charges_n, tx_charges_total_n, tx_charges_amt_n, tx_charges_amt)
        if tx_charges is None:
            tx_charges = entry_charges
        return [{"end_to_end_id": e2e.strip() or None, "amount": tx_amount[0], "currency": tx_amount[1],
                 "credit_debit": tx_credit_debit.strip() or credit_debit,
                 "return_reason_code": code.strip() or proprietary.strip() or None,
                 "charges": tx_charges, "batch_count": batch_count, **common}]

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


def _cents(text: str, currency: str) -> tuple[int, str]:
    """`_Reader._amount` of an amount found, from its text and Ccy (_Slow when refused)."""
    if not currency:
        raise _Slow
    return abs(from_decimal(Decimal(text.strip()))), currency


def _fast_day(text: str, time_text: str, days: dict) -> date | None:
    """`_Reader._day` from the first Dt's and DtTm's texts (none without a holder)."""
    text = text.strip()
    if text:
        day = days.get(text)
        if day is None:
            day = days[text] = date.fromisoformat(text)
        return day
    time_text = time_text.strip()
    return datetime.fromisoformat(time_text).date() if time_text else None


def _fast_charges(count: str, totals: str, amounts: str, text: str) -> int | None:
    """`_Reader.charges` of no <Chrgs>, or of one holding at most one amount and no total."""
    if count == "0":
        return None
    if count != "1" or totals != "0" or amounts not in ("0", "1"):
        raise _Slow
    return abs(from_decimal(Decimal(text.strip()))) if amounts == "1" else None


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


# --- the plain reader: the usual bank file read without building a tree ------------------------
#
# Building lxml's tree of a 10 000-entry file costs more than everything else the import does
# in Python. Most bank files are plain: UTF-8, no comment, CDATA, processing instruction or
# namespace prefix, the camt.054 namespace declared once on <Document>, and each entry's
# elements where the schema puts them. parse_plain reads such a file from its bytes: libxml2
# checks it is well-formed (a parser without tree: what lxml's SAX does with no callback), the
# few elements around the entries are followed tag by tag, and each <Ntry> is matched whole by
# one regular expression (_ENTRY) whose groups are the fields `_Reader.fast` reads from the
# XSLT line (_plain_transaction converts them as it does). Anything else, anywhere in the
# file, raises NotPlain, even after batches were handed over: the caller then reads the file
# again with parse_camt054, which reads and refuses everything as before. What parse_plain
# returns is what parse_camt054 returns (tests/unit/test_camt054_plain.py compares them on
# every oddity and on random mutations).
#
# Before the match, the elements an entry holds that no field is read from and that are most
# of its bytes (the parties, the agents, the bank's codes...: _COLLAPSED_NAMES) are cut down to an
# empty element (_collapsed): the expression then steps over a third of the bytes and elements.

class NotPlain(Exception):
    """The file is not one parse_plain reads: read it with parse_camt054."""


BLOCK = 1 << 17  # bytes read (and checked by libxml2) at a time
_LARGEST = 1 << 20  # an entry or a text of the skeleton longer than this is not plain
_DEPTH = 12  # levels of an element the entry pattern skips (libxml2 refuses beyond 256 in all)
_NAME = rb"[A-Za-z_][A-Za-z0-9_.\-]*"
# attributes of an element skipped or of the skeleton: no namespace declaration, no prefix
_ATTRIBUTES = rb"""(?:\s+(?!xmlns[\s=])[A-Za-z_][A-Za-z0-9_.\-]*\s*=\s*(?:"[^"<]*"|'[^'<]*'))*\s*"""
_TEXT = rb"[^<&\r]*"  # a text read: no markup, reference or CR (which XML turns into LF)


class _Pattern:
    """Builds _ENTRY: every group name unique. An optional part is written `(?:part|)`, not
    `(?:part)?`: sre's repeat saves every group's marks at each try, its branch does not.

    With `skipped` (names of elements no field is read from), the pattern of the usual entry:
    where the general one skips any element not read at that level, it skips only those
    named there that are empty or hold a text. Whatever it matches, the general one matches
    with the same groups (each level skips what the general one would, and stops where the
    general one goes on to the same part), in about half the time."""

    def __init__(self, skipped=()):
        self.count = 0
        self.skipped = skipped

    def name(self, prefix):
        self.count += 1
        return f"{prefix}{self.count}"

    def element(self, depth):
        """Any element of at most `depth` levels. Its closing tag is not compared with its
        opening one: libxml2 checks the file is well-formed (fewer groups: sre copies them all
        at each turn of a loop holding one)."""
        content = rb"[^<]*+" if depth == 1 else rb"(?:[^<]++|" + self.element(depth - 1) + rb")*+"
        return rb"<" + _NAME + _ATTRIBUTES + rb"(?:/>|>" + content + rb"</" + _NAME + rb"\s*>)"

    def others(self, *read):
        """Elements not read at this level, skipped whole (none named as one read here)."""
        if self.skipped:
            names = "|".join(name for name in self.skipped if name not in read).encode()
            return rb"(?:<(?:" + names + rb")(?:/>|>[^<]*+</" + _NAME + rb"\s*>)\s*)*+"
        names = b"|".join(name.encode() for name in read)
        return rb"(?:(?=<(?!(?:" + names + rb")[\s/>]))" + self.element(_DEPTH) + rb"\s*)*+"

    @staticmethod
    def text(name, group):
        tag = name.encode()
        return rb"<" + tag + rb">(?P<" + group.encode() + rb">" + _TEXT + rb")</" + tag + rb"\s*>\s*"

    def amount(self, group, currency=True):
        quote = self.name("q").encode()
        ccy = (rb"""\s+Ccy\s*=\s*(?P<""" + quote + rb""">["'])(?P<""" + group.encode() + rb"""_ccy>[^"'<&\s]*)(?P="""
               + quote + rb")")
        attributes = ccy if currency else rb"(?:" + ccy + rb"|)"
        return rb"<Amt" + attributes + rb"\s*>(?P<" + group.encode() + rb">" + _TEXT + rb")</Amt\s*>\s*"

    def holder(self, name, inner, read):
        """<name> holding `inner` (optional) among elements skipped: at most one of each read."""
        return (rb"<" + name.encode() + rb">\s*" + self.others(*read) + rb"(?:" + inner + rb"|)"
                + self.others(*read) + rb"</" + name.encode() + rb"\s*>\s*")

    def sequence(self, name, parts, group=None):
        """<name> with `parts` (optional, in this order, each at most once) among elements skipped."""
        read = [part for part, _ in parts]
        body = b"".join(rb"(?:" + pattern + rb"|)" + self.others(*read) for _, pattern in parts)
        opening = rb"<" + name.encode() + rb">\s*"
        if group:
            opening = rb"(?P<" + group.encode() + rb">" + opening + rb")"
        return opening + self.others(*read) + body + rb"</" + name.encode() + rb"\s*>\s*"

    def day(self, name, group):
        day, moment = self.text("Dt", group), self.text("DtTm", group + "_time")
        return rb"<" + name.encode() + rb">\s*(?:" + day + rb"|" + moment + rb")</" + name.encode() + rb"\s*>\s*"

    def charges(self, group):
        """<Chrgs> with one amount (Amt, or Rcrd/Amt) or none, and no total."""
        record = self.holder("Rcrd", self.amount(group + "_rcrd", currency=False), ["Amt"])
        inner = rb"(?:" + self.amount(group, currency=False) + rb"|" + record + rb")"
        return rb"(?P<" + group.encode() + rb"_n><Chrgs>)\s*" + (
            self.others("TtlChrgsAndTaxAmt", "Amt", "Rcrd") + rb"(?:" + inner + rb"|)"
            + self.others("TtlChrgsAndTaxAmt", "Amt", "Rcrd") + rb"</Chrgs\s*>\s*")

    def entry(self):
        tx = self.sequence("TxDtls", [
            ("Refs", self.holder("Refs", self.text("EndToEndId", "e2e"), ["EndToEndId"])),
            ("Amt", self.amount("tx_amt")),
            ("CdtDbtInd", self.text("CdtDbtInd", "tx_cdi")),
            ("AmtDtls", self.sequence("AmtDtls", [
                ("InstdAmt", self.holder("InstdAmt", self.amount("instd"), ["Amt"])),
                ("TxAmt", self.holder("TxAmt", self.amount("txamt"), ["Amt"]))])),
            ("Chrgs", self.charges("tx_chrgs")),
            ("RtrInf", self.holder("RtrInf", self.sequence("Rsn", [
                ("Cd", self.text("Cd", "code")), ("Prtry", self.text("Prtry", "prtry"))]), ["Rsn"])),
        ], group="tx")
        details = self.sequence("NtryDtls", [
            ("Btch", self.holder("Btch", self.text("NbOfTxs", "batch"), ["NbOfTxs"])),
            ("TxDtls", tx)])
        return rb"<Ntry>\s*" + self.sequence_body([
            ("NtryRef", self.text("NtryRef", "ref")),
            ("Amt", self.amount("amt")),
            ("CdtDbtInd", self.text("CdtDbtInd", "cdi")),
            ("RvslInd", self.text("RvslInd", "rvsl")),
            ("BookgDt", self.day("BookgDt", "booked")),
            ("ValDt", self.day("ValDt", "valued")),
            ("AcctSvcrRef", self.text("AcctSvcrRef", "svcr")),
            ("Chrgs", self.charges("chrgs")),
            ("NtryDtls", details)]) + rb"</Ntry\s*>"

    def sequence_body(self, parts):
        read = [part for part, _ in parts]
        return self.others(*read) + b"".join(rb"(?:" + pattern + rb"|)" + self.others(*read) for _, pattern in parts)


# Elements of an entry or of its TxDtls no field is read from (named on no path of _FIELDS, at
# any depth) that are most of its bytes: cut to an empty element before the match
# (_collapsed), looked for in the schema's order (BkTxCd is the entry's, then the TxDtls').
_COLLAPSED_NAMES = ("BkTxCd", "BkTxCd", "RltdPties", "RltdAgts", "RmtInf", "RltdDts", "Orgtr", "AddtlNtryInf")
# Elements the usual entry holds that no field is read from, at any level: those cut, and leaves.
_USUAL_SKIPPED = tuple(dict.fromkeys(_COLLAPSED_NAMES)) + (
    "Sts", "AcctSvcrRef", "AddtlInfInd", "ComssnWvrInd", "Avlbty", "InstrId", "PmtInfId", "MndtId", "TxId", "MsgId",
    "ClrSysRef", "Purp", "AddtlTxInf", "AddtlInf")
_ENTRY = None
_ENTRY_LOCK = threading.Lock()


def _entry_pattern():
    """(the usual entry's pattern, the general one), on text (ASCII classes, as on bytes)."""
    global _ENTRY
    with _ENTRY_LOCK:
        if _ENTRY is None:
            _ENTRY = tuple(re.compile(pattern.entry().decode(), re.ASCII)
                           for pattern in (_Pattern(_USUAL_SKIPPED), _Pattern()))
    return _ENTRY


_GROUPS = ("amt", "amt_ccy", "cdi", "rvsl", "booked", "booked_time", "valued", "valued_time", "ref", "svcr", "tx",
           "batch", "chrgs_n", "chrgs", "chrgs_rcrd", "tx_amt", "tx_amt_ccy", "txamt", "txamt_ccy", "instd",
           "instd_ccy", "tx_chrgs_n", "tx_chrgs", "tx_chrgs_rcrd", "e2e", "tx_cdi", "code", "prtry")


def _plain_transaction(match, days) -> dict:
    """`_Reader.fast` of the entry matched by _ENTRY, from its groups: what `fast` does with the
    XSLT line's fields, for what _ENTRY lets through (one TxDtls at most, one amount of
    charges at most, no total of them); _Slow (or a conversion's error) where `fast` has one."""
    (amt, amt_ccy, cdi, rvsl, booked, booked_time, valued, valued_time, ref, svcr, tx, batch, chrgs_n, chrgs,
     chrgs_rcrd, tx_amt, tx_amt_ccy, txamt, txamt_ccy, instd, instd_ccy, tx_chrgs_n, tx_chrgs, tx_chrgs_rcrd,
     e2e, tx_cdi, code, prtry) = match.group(*_GROUPS)
    credit_debit = (cdi or "").strip()
    if credit_debit not in ("CRDT", "DBIT"):
        raise _Slow
    amount = _cents(amt or "", amt_ccy or "")
    common = {
        "reversal": (rvsl or "").strip() == "true",
        "booking_date": _fast_day(booked or "", booked_time or "", days),
        "value_date": _fast_day(valued or "", valued_time or "", days),
        "entry_reference": (ref or "").strip() or (svcr or "").strip() or None,
    }
    count = (batch or "").strip()
    batch_count = int(count) if count and count.isdigit() else 1
    entry_charges = _plain_charges(chrgs_n, chrgs if chrgs is not None else chrgs_rcrd)
    if tx is None:
        return {"end_to_end_id": None, "amount": amount[0], "currency": amount[1], "credit_debit": credit_debit,
                "return_reason_code": None, "charges": entry_charges, "batch_count": batch_count, **common}
    tx_amount = ((_cents(tx_amt, tx_amt_ccy) if tx_amt is not None else None)
                 or (_cents(txamt, txamt_ccy) if txamt is not None else None)
                 or (_cents(instd, instd_ccy) if instd is not None else None)
                 or amount)
    tx_charges = _plain_charges(tx_chrgs_n, tx_chrgs if tx_chrgs is not None else tx_chrgs_rcrd)
    if tx_charges is None:
        tx_charges = entry_charges
    return {"end_to_end_id": (e2e or "").strip() or None, "amount": tx_amount[0], "currency": tx_amount[1],
            "credit_debit": (tx_cdi or "").strip() or credit_debit,
            "return_reason_code": (code or "").strip() or (prtry or "").strip() or None,
            "charges": tx_charges, "batch_count": batch_count, **common}


def _plain_charges(opening, amount) -> int | None:
    """`_fast_charges` of a <Chrgs> matched by _ENTRY (`opening` its tag, None without one)."""
    if opening is None or amount is None:
        return None
    return abs(from_decimal(Decimal(amount.strip())))


class _WellFormed:
    """lxml's parser without a tree (no callback: libxml2 only checks the bytes)."""

    def close(self):
        return None


_PROLOG = re.compile(  # an XML declaration of UTF-8 (or none), then the root's opening tag
    rb"""(?:\xef\xbb\xbf)?(?:<\?xml\s+version\s*=\s*(["'])1\.0\1(?:\s+encoding\s*=\s*(["'])(?i:utf-8)\2)?"""
    rb"""(?:\s+standalone\s*=\s*(["'])(?:yes|no)\3)?\s*\?>)?\s*<Document((?:\s+[A-Za-z_][A-Za-z0-9_.:\-]*\s*=\s*"""
    rb"""(?:"[^"<]*"|'[^'<]*'))*)\s*>""")
_ROOT_ATTRIBUTE = re.compile(rb"""\s+([A-Za-z_][A-Za-z0-9_.:\-]*)\s*=\s*(?:"([^"<&]*)"|'([^'<&]*)')""")
# the skeleton, tag by tag: (text before it, "/" of a closing tag, name, attributes, "/" of an empty one)
_TAG = re.compile(rb"([^<]*)<(/?)(" + _NAME + rb")(" + _ATTRIBUTES + rb")(/?)>")
_SPACE = re.compile(rb"\s*")
_ENTRY_END = re.compile(rb"</Ntry\s*>")
_MARKUP = re.compile(rb"<[!?]")  # a comment, CDATA, processing instruction or declaration
# _COLLAPSED_NAMES as (opening tag, start of the closing one, its length, empty element)
_COLLAPSED = tuple((b"<" + name + b">", b"</" + name, len(name) + 2, b"<" + name + b"/>")
                   for name in (name.encode() for name in _COLLAPSED_NAMES))


def _collapsed(data: bytes, start: int, end: int) -> bytes:
    """The entry data[start:end] with the first of each _COLLAPSED element found in order
    (opened without attribute, closed by `</name>`) made empty: `<name/>`. Read alike:
    - what is cut is that element whole: parse_plain refuses any comment, CDATA or processing
      instruction in the file, so every `<` of it opens or closes a tag, and in a well-formed
      file (libxml2 checks it) the first `</name` closes the `<name>` before it, unless one
      more opened between them: then a closing tag is left over, which the entry's pattern
      (opening and closing tags paired, a `<` never in a text it reads) cannot match;
    - no field is read inside it, and the pattern takes `<name/>` only where it skips an
      element; inside a text it reads, it fails as the element would have."""
    parts, position, find = [], start, data.find
    for opening, closing, length, empty in _COLLAPSED:
        at = find(opening, position, end)
        if at < 0:
            continue
        stop = find(closing, at, end)
        if stop < 0 or data[stop + length:stop + length + 1] != b">":  # not `</name >`: left as it is
            continue
        parts.append(data[position:at])
        parts.append(empty)
        position = stop + length + 1
    if not parts:
        return data[start:end]
    parts.append(data[position:end])
    return b"".join(parts)


def _entry_end(data: bytes, start: int) -> int:
    """Where the first </Ntry> after `start` ends; -1 when it is not read yet."""
    end = data.find(b"</Ntry>", start)
    if end >= 0:
        return end + 7
    found = _ENTRY_END.search(data, start)  # </Ntry > (rare): a search in Python's regex engine
    return -1 if found is None else found.end()


def _root_plain(attributes: bytes) -> str:
    """The camt.054 message its <Document>'s attributes declare, if they are plain: its
    namespace as the default one, at most xsi's declaration and schemaLocation."""
    found, rest = {}, _ROOT_ATTRIBUTE.sub(b"", attributes)
    if rest.strip():
        raise NotPlain
    for match in _ROOT_ATTRIBUTE.finditer(attributes):
        name, value = match.group(1).decode(), (match.group(2) or match.group(3) or b"").decode()
        if name in found or name not in ("xmlns", "xmlns:xsi", "xsi:schemaLocation"):
            raise NotPlain
        found[name] = value
    if "xsi:schemaLocation" in found and not found.get("xmlns:xsi"):
        raise NotPlain
    message = found.get("xmlns", "")[len(NAMESPACE_PREFIX):]
    if not found.get("xmlns", "").startswith(NAMESPACE_PREFIX) or message not in VERSIONS:
        raise NotPlain
    return message


def parse_plain(file, on_message, on_batch):
    """parse_camt054(file, on_message, on_batch) of a plain file (see above); NotPlain
    otherwise, possibly after some batches. `file` is a binary file at its start."""
    usual, general = _entry_pattern()
    checker = etree.XMLParser(target=_WellFormed(), resolve_entities=False, no_network=True, load_dtd=False,
                              dtd_validation=False, huge_tree=False)
    state = {"data": b"", "eof": False, "body": False}

    def more():
        """Read a block; False at the end of the file. After the root's opening tag, a block
        with a comment, CDATA or processing instruction (even cut by the end of the one before)
        is not plain (_collapsed counts on it)."""
        if state["eof"]:
            return False
        block = file.read(BLOCK)
        try:
            if block:
                checker.feed(block)
            else:
                checker.close()
        except etree.XMLSyntaxError:
            raise NotPlain from None
        if state["body"] and _MARKUP.search(state["data"][-1:] + block):
            raise NotPlain
        state["eof"] = not block
        state["data"] += block
        return bool(block)

    while True:  # the prolog and the root's opening tag
        root = _PROLOG.match(state["data"])
        if root is not None:
            break
        if len(state["data"]) >= 4096 or not more():
            raise NotPlain
    message = _root_plain(root.group(4))
    if _MARKUP.search(state["data"], root.end()):
        raise NotPlain
    state["body"] = True
    body, days = ROOTS[message], {}
    position, stack, message_id, headers, bodies, batch = root.end(), ["Document"], None, 0, 0, []
    while True:
        data = state["data"]
        if position > BLOCK:  # what was read is dropped
            state["data"] = data = data[position:]
            position = 0
        tag = _TAG.match(data, position)
        if tag is None:
            opening = data.find(b"<", position)
            if opening >= 0 and data.find(b">", opening) >= 0:  # a whole tag, not plain
                raise NotPlain
            if len(data) - position > _LARGEST or not more():
                break
            continue
        text, closing, name, attributes, empty = tag.groups()
        name = name.decode()
        if closing:
            if attributes.strip() or empty or stack[-1] != name:
                raise NotPlain
            if name == "MsgId" and stack == ["Document", body, "GrpHdr", "MsgId"]:
                message_id = text.strip().decode() or None
                if b"&" in text or b"\r" in text or message_id is None:
                    raise NotPlain
            stack.pop()
            position = tag.end()
            if name == "GrpHdr" and len(stack) == 2:
                if message_id is None:
                    raise NotPlain
                on_message(message_id)
            if not stack:
                break
            continue
        if stack[-1] == "MsgId":  # its text is read: nothing inside
            raise NotPlain
        if name == "Ntry":
            if stack != ["Document", body, "Ntfctn"] or attributes or empty:
                raise NotPlain
            end = _entry_end(data, tag.end())
            while end < 0:
                if len(data) - position > _LARGEST or not more():
                    raise NotPlain
                data = state["data"]
                end = _entry_end(data, tag.end())
            try:
                text = _collapsed(data, tag.start(2) - 1, end).decode()
                entry = usual.fullmatch(text) or general.fullmatch(text)
                if entry is None:
                    raise NotPlain
                batch.append(_plain_transaction(entry, days))
            except (_Slow, ArithmeticError, ValueError, TypeError):
                raise NotPlain from None
            if len(batch) >= BATCH:
                on_batch(batch)
                batch = []
            position = end
            continue
        depth = len(stack)
        if name == "GrpHdr" and depth == 2:
            headers += 1
        elif name == body and depth == 1:
            bodies += 1
        if headers > 1 or bodies > 1 or (name == "MsgId" and depth == 3 and stack[-1] == "GrpHdr"
                                         and message_id is not None) or depth == 1 and name != body:
            raise NotPlain
        if not empty:
            stack.append(name)
        elif name in ("GrpHdr", "MsgId"):
            raise NotPlain
        position = tag.end()
    rest = _SPACE.match(state["data"], position).end()
    if stack or rest != len(state["data"]):
        raise NotPlain
    while more():  # libxml2 checks the end of the file too
        if state["data"][rest:].strip():
            raise NotPlain
    if message_id is None or not bodies:
        raise NotPlain
    if batch:
        on_batch(batch)
    return Camt054(message_id=message_id, version=message[len("camt.054."):])
