"""pain.008.001.02: the SEPA Core direct debit file handed to the bank.

Streaming: the file is written element by element with `lxml.etree.xmlfile`,
so memory does not grow with the number of debits. `NbOfTxs` and `CtrlSum`
come first in the file, so the caller gives them (one SQL aggregate); the
writer checks them against what it actually wrote and fails otherwise.

    write_pain008(out, message_id=..., created_at=..., creditor=..., batches=...,
                  totals=(count, sum_cents))

    creditor = {"name", "iban", "bic", "creditor_id"}
    batch    = {"payment_info_id", "due_date": date, "sequence_type": "FRST"|"RCUR"|"FNAL"|"OOFF",
                "count": int, "total": int cents, "debits": iterable}
    debit    = {"end_to_end_id", "amount": int cents, "mandate_reference",
                "mandate_signed_on": date, "debtor_name", "debtor_iban",
                "debtor_bic": str | None, "remittance": str | None,
                "amendment": None | {"original_iban": str | None,
                                     "original_debtor_agent_smnda": bool}}
"""
from __future__ import annotations

import os
import re
import tempfile
import unicodedata
from datetime import datetime
from pathlib import Path

from lxml import etree

from common.money import to_decimal

from .xsd import InvalidFile, namespace, validate_file

MESSAGE = "pain.008.001.02"
NS = namespace(MESSAGE)
SEQUENCE_TYPES = ("FRST", "RCUR", "FNAL", "OOFF")

# EPC SEPA character set: a-z A-Z 0-9 / - ? : ( ) . , ' + and space.
_NOT_SEPA = re.compile(r"[^A-Za-z0-9/\-?:().,'+ ]")
# Letters NFKD does not decompose into a base letter and an accent.
_LIGATURES = str.maketrans({"ß": "ss", "æ": "ae", "Æ": "AE", "œ": "oe", "Œ": "OE", "ø": "o",
                            "Ø": "O", "ł": "l", "Ł": "L", "đ": "d", "Đ": "D", "þ": "th",
                            "Þ": "TH", "&": "+"})


def sepa_text(value: str | None, max_len: int) -> str:
    """``"Zoë Müller-Lefèvre"`` -> ``"Zoe Muller-Lefevre"``: accents stripped, any
    other character outside the SEPA Latin set becomes a space, cut at `max_len`."""
    if value is None:
        return ""
    text = unicodedata.normalize("NFKD", str(value).translate(_LIGATURES))
    text = "".join(c for c in text if not unicodedata.combining(c))
    text = _NOT_SEPA.sub(" ", text)
    return " ".join(text.split())[:max_len].strip()


def _q(tag: str) -> str:
    return f"{{{NS}}}{tag}"


def _amount(cents: int) -> str:
    if cents <= 0:
        raise ValueError(f"a debit amount is positive, not {cents}")
    return str(to_decimal(cents))


def _leaf(xf, tag: str, text: str, **attrs) -> None:
    with xf.element(_q(tag), **attrs):
        xf.write(text)


def _path(xf, tags: tuple[str, ...], text: str) -> None:
    # <A><B><C>text</C></B></A> without building a tree.
    if len(tags) == 1:
        _leaf(xf, tags[0], text)
        return
    with xf.element(_q(tags[0])):
        _path(xf, tags[1:], text)


def _timestamp(created_at: datetime) -> str:
    return created_at.isoformat(timespec="seconds")


def write_pain008(out, *, message_id: str, created_at: datetime, creditor: dict,
                  batches, totals: tuple[int, int]) -> tuple[int, int]:
    """Stream a pain.008.001.02 into `out` (a path or a binary file object).

    `totals` = (number of debits, sum in cents) of the whole file, and each batch
    carries its own `count` and `total`: they are written before the debits and
    checked after them (ValueError on a mismatch). Returns (count, sum_cents)."""
    count, sum_cents = totals
    written, written_sum = 0, 0
    creditor_name = sepa_text(creditor["name"], 70)
    with etree.xmlfile(out, encoding="UTF-8", buffered=True) as xf:
        xf.write_declaration()
        with xf.element(_q("Document"), nsmap={None: NS}):
            with xf.element(_q("CstmrDrctDbtInitn")):
                with xf.element(_q("GrpHdr")):
                    _leaf(xf, "MsgId", message_id)
                    _leaf(xf, "CreDtTm", _timestamp(created_at))
                    _leaf(xf, "NbOfTxs", str(count))
                    _leaf(xf, "CtrlSum", str(to_decimal(sum_cents)))
                    _path(xf, ("InitgPty", "Nm"), creditor_name)
                for batch in batches:
                    n, cents = _write_batch(xf, creditor, creditor_name, batch)
                    written += n
                    written_sum += cents
    if (written, written_sum) != (count, sum_cents):
        raise ValueError(f"file totals {count} debits / {sum_cents} cents announced, "
                         f"{written} / {written_sum} written")
    return written, written_sum


def _write_batch(xf, creditor: dict, creditor_name: str, batch: dict) -> tuple[int, int]:
    if batch["sequence_type"] not in SEQUENCE_TYPES:
        raise ValueError(f"unknown sequence type {batch['sequence_type']!r}")
    written, written_sum = 0, 0
    with xf.element(_q("PmtInf")):
        _leaf(xf, "PmtInfId", batch["payment_info_id"])
        _leaf(xf, "PmtMtd", "DD")
        _leaf(xf, "NbOfTxs", str(batch["count"]))
        _leaf(xf, "CtrlSum", str(to_decimal(batch["total"])))
        with xf.element(_q("PmtTpInf")):
            _path(xf, ("SvcLvl", "Cd"), "SEPA")
            _path(xf, ("LclInstrm", "Cd"), "CORE")
            _leaf(xf, "SeqTp", batch["sequence_type"])
        _leaf(xf, "ReqdColltnDt", batch["due_date"].isoformat())
        _path(xf, ("Cdtr", "Nm"), creditor_name)
        _path(xf, ("CdtrAcct", "Id", "IBAN"), creditor["iban"])
        _path(xf, ("CdtrAgt", "FinInstnId", "BIC"), creditor["bic"])
        _leaf(xf, "ChrgBr", "SLEV")
        with xf.element(_q("CdtrSchmeId")), xf.element(_q("Id")), xf.element(_q("PrvtId")):
            with xf.element(_q("Othr")):
                _leaf(xf, "Id", creditor["creditor_id"])
                _path(xf, ("SchmeNm", "Prtry"), "SEPA")
        for debit in batch["debits"]:
            _write_debit(xf, debit)
            written += 1
            written_sum += debit["amount"]
    if (written, written_sum) != (batch["count"], batch["total"]):
        raise ValueError(f"payment information {batch['payment_info_id']}: "
                         f"{batch['count']} debits / {batch['total']} cents announced, "
                         f"{written} / {written_sum} written")
    return written, written_sum


def _write_debit(xf, debit: dict) -> None:
    with xf.element(_q("DrctDbtTxInf")):
        _path(xf, ("PmtId", "EndToEndId"), debit["end_to_end_id"])
        _leaf(xf, "InstdAmt", _amount(debit["amount"]), Ccy="EUR")
        with xf.element(_q("DrctDbtTx")), xf.element(_q("MndtRltdInf")):
            _leaf(xf, "MndtId", debit["mandate_reference"])
            _leaf(xf, "DtOfSgntr", debit["mandate_signed_on"].isoformat())
            amendment = debit.get("amendment")
            if amendment:
                _write_amendment(xf, amendment)
        with xf.element(_q("DbtrAgt")), xf.element(_q("FinInstnId")):
            if debit.get("debtor_bic"):
                _leaf(xf, "BIC", debit["debtor_bic"])
            else:
                # EPC rulebook: IBAN-only debits carry NOTPROVIDED instead of a BIC.
                _path(xf, ("Othr", "Id"), "NOTPROVIDED")
        _path(xf, ("Dbtr", "Nm"), sepa_text(debit["debtor_name"], 70))
        _path(xf, ("DbtrAcct", "Id", "IBAN"), debit["debtor_iban"])
        remittance = sepa_text(debit.get("remittance"), 140)
        if remittance:
            _path(xf, ("RmtInf", "Ustrd"), remittance)


def _write_amendment(xf, amendment: dict) -> None:
    original_iban = amendment.get("original_iban")
    smnda = amendment.get("original_debtor_agent_smnda")
    if not original_iban and not smnda:
        raise ValueError("an amendment names the original IBAN or the debtor's former bank")
    _leaf(xf, "AmdmntInd", "true")
    with xf.element(_q("AmdmntInfDtls")):
        # XSD order: OrgnlDbtrAcct comes before OrgnlDbtrAgt.
        if original_iban:
            _path(xf, ("OrgnlDbtrAcct", "Id", "IBAN"), original_iban)
        if smnda:
            # SMNDA: "same mandate, new debtor agent" (EPC rulebook, AT-24).
            _path(xf, ("OrgnlDbtrAgt", "FinInstnId", "Othr", "Id"), "SMNDA")


def build_pain008_file(path, **kwargs) -> tuple[int, int]:
    """Write, validate against the XSD, then move atomically into `path`.

    Same keyword arguments as `write_pain008`. Nothing appears at `path` unless
    the whole file is written, fsynced and valid; `InvalidFile` otherwise."""
    return write_atomically(path, MESSAGE, write_pain008, **kwargs)


def write_atomically(path, message: str, writer, **kwargs):
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".part", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as out:
            result = writer(out, **kwargs)
            out.flush()
            os.fsync(out.fileno())
        validate_file(tmp, message)
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise
    _fsync_dir(path.parent)
    return result


def _fsync_dir(directory: Path) -> None:
    # The rename itself is durable only once the directory entry is on disk.
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


__all__ = ["write_pain008", "build_pain008_file", "sepa_text", "InvalidFile", "MESSAGE"]
