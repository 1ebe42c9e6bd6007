"""pain.008.001.02: the SEPA Core direct debit file handed to the bank.

Streaming: the file is written as text, a thousand debits at a time (each one
f-string, its text escaped), so memory does not grow with the number of debits;
then validated against the XSD before it is moved into place. `NbOfTxs` and `CtrlSum`
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
from functools import lru_cache
from pathlib import Path

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


_SEPA_ONLY = re.compile(r"[A-Za-z0-9/\-?:().,'+ ]*")


@lru_cache(maxsize=4096)  # a file's labels and creditor name repeat
def sepa_text(value: str | None, max_len: int) -> str:
    """``"Zoë Müller-Lefèvre"`` -> ``"Zoe Muller-Lefevre"``: accents stripped, any
    other character outside the SEPA Latin set becomes a space, cut at `max_len`."""
    if value is None:
        return ""
    if _SEPA_ONLY.fullmatch(value):  # nothing to strip or replace (most names)
        return " ".join(value.split())[:max_len].strip()
    text = unicodedata.normalize("NFKD", str(value).translate(_LIGATURES))
    text = "".join(c for c in text if not unicodedata.combining(c))
    text = _NOT_SEPA.sub(" ", text)
    return " ".join(text.split())[:max_len].strip()


def _amount(cents: int) -> str:
    if cents <= 0:
        raise ValueError(f"a debit amount is positive, not {cents}")
    return str(to_decimal(cents))


# Characters XML 1.0 does not allow in text (lxml refused them too).
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


def _x(value) -> str:
    """Text content, escaped; identifiers with a character XML cannot hold are refused."""
    text = str(value)
    if _NOT_XML.search(text):
        raise ValueError(f"{text!r}: not a character XML text can hold")
    if "&" in text or "<" in text or ">" in text:
        text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return text


def _path(tags: tuple[str, ...], text: str) -> str:
    """``<A><B>text</B></A>``: `text` escaped already."""
    return "".join(f"<{tag}>" for tag in tags) + text + "".join(f"</{tag}>" for tag in reversed(tags))


def _timestamp(created_at: datetime) -> str:
    return created_at.isoformat(timespec="seconds")


def write_pain008(out, *, message_id: str, created_at: datetime, creditor: dict,
                  batches, totals: tuple[int, int]) -> tuple[int, int]:
    """Stream a pain.008.001.02 into `out` (a path or a binary file object).

    `totals` = (number of debits, sum in cents) of the whole file, and each batch
    carries its own `count` and `total`: they are written before the debits and
    checked after them (ValueError on a mismatch). Returns (count, sum_cents)."""
    if isinstance(out, (str, os.PathLike)):
        with open(out, "wb") as file:
            return write_pain008(file, message_id=message_id, created_at=created_at, creditor=creditor,
                                 batches=batches, totals=totals)
    count, sum_cents = totals
    written, written_sum = 0, 0
    creditor_name = _x(sepa_text(creditor["name"], 70))
    out.write((f"<?xml version='1.0' encoding='UTF-8'?>\n<Document xmlns=\"{NS}\"><CstmrDrctDbtInitn><GrpHdr>"
               f"<MsgId>{_x(message_id)}</MsgId><CreDtTm>{_timestamp(created_at)}</CreDtTm>"
               f"<NbOfTxs>{count}</NbOfTxs><CtrlSum>{to_decimal(sum_cents)}</CtrlSum>"
               f"<InitgPty><Nm>{creditor_name}</Nm></InitgPty></GrpHdr>").encode())
    for batch in batches:
        n, cents = _write_batch(out, creditor, creditor_name, batch)
        written += n
        written_sum += cents
    out.write(b"</CstmrDrctDbtInitn></Document>")
    if (written, written_sum) != (count, sum_cents):
        raise ValueError(f"file totals {count} debits / {sum_cents} cents announced, "
                         f"{written} / {written_sum} written")
    return written, written_sum


WRITE_DEBITS = 1000  # debits joined into one write (memory stays flat, writes stay few)


def _write_batch(out, creditor: dict, creditor_name: str, batch: dict) -> tuple[int, int]:
    if batch["sequence_type"] not in SEQUENCE_TYPES:
        raise ValueError(f"unknown sequence type {batch['sequence_type']!r}")
    written, written_sum = 0, 0
    out.write((f"<PmtInf><PmtInfId>{_x(batch['payment_info_id'])}</PmtInfId><PmtMtd>DD</PmtMtd>"
               f"<NbOfTxs>{batch['count']}</NbOfTxs><CtrlSum>{to_decimal(batch['total'])}</CtrlSum>"
               "<PmtTpInf><SvcLvl><Cd>SEPA</Cd></SvcLvl><LclInstrm><Cd>CORE</Cd></LclInstrm>"
               f"<SeqTp>{batch['sequence_type']}</SeqTp></PmtTpInf>"
               f"<ReqdColltnDt>{batch['due_date'].isoformat()}</ReqdColltnDt>"
               f"<Cdtr><Nm>{creditor_name}</Nm></Cdtr>"
               f"<CdtrAcct><Id><IBAN>{_x(creditor['iban'])}</IBAN></Id></CdtrAcct>"
               f"<CdtrAgt><FinInstnId><BIC>{_x(creditor['bic'])}</BIC></FinInstnId></CdtrAgt><ChrgBr>SLEV</ChrgBr>"
               f"<CdtrSchmeId><Id><PrvtId><Othr><Id>{_x(creditor['creditor_id'])}</Id>"
               "<SchmeNm><Prtry>SEPA</Prtry></SchmeNm></Othr></PrvtId></Id></CdtrSchmeId>").encode())
    pending = []
    for debit in batch["debits"]:
        pending.append(_debit(debit))
        written += 1
        written_sum += debit["amount"]
        if len(pending) == WRITE_DEBITS:
            out.write("".join(pending).encode())
            pending = []
    out.write("".join(pending).encode() + b"</PmtInf>")
    if (written, written_sum) != (batch["count"], batch["total"]):
        raise ValueError(f"payment information {batch['payment_info_id']}: "
                         f"{batch['count']} debits / {batch['total']} cents announced, "
                         f"{written} / {written_sum} written")
    return written, written_sum


def _debit(debit: dict) -> str:
    """One DrctDbtTxInf, in the XSD's order."""
    amendment = debit.get("amendment")
    bic = debit.get("debtor_bic")
    remittance = sepa_text(debit.get("remittance"), 140)
    return (f"<DrctDbtTxInf><PmtId><EndToEndId>{_x(debit['end_to_end_id'])}</EndToEndId></PmtId>"
            f"<InstdAmt Ccy=\"EUR\">{_amount(debit['amount'])}</InstdAmt>"
            f"<DrctDbtTx><MndtRltdInf><MndtId>{_x(debit['mandate_reference'])}</MndtId>"
            f"<DtOfSgntr>{debit['mandate_signed_on'].isoformat()}</DtOfSgntr>"
            + (_amendment(amendment) if amendment else "") + "</MndtRltdInf></DrctDbtTx>"
            # EPC rulebook: IBAN-only debits carry NOTPROVIDED instead of a BIC.
            + (f"<DbtrAgt><FinInstnId><BIC>{_x(bic)}</BIC></FinInstnId></DbtrAgt>" if bic else
               "<DbtrAgt><FinInstnId><Othr><Id>NOTPROVIDED</Id></Othr></FinInstnId></DbtrAgt>")
            + f"<Dbtr><Nm>{_x(sepa_text(debit['debtor_name'], 70))}</Nm></Dbtr>"
            f"<DbtrAcct><Id><IBAN>{_x(debit['debtor_iban'])}</IBAN></Id></DbtrAcct>"
            + (f"<RmtInf><Ustrd>{_x(remittance)}</Ustrd></RmtInf>" if remittance else "")
            + "</DrctDbtTxInf>")


def _amendment(amendment: dict) -> str:
    original_iban = amendment.get("original_iban")
    smnda = amendment.get("original_debtor_agent_smnda")
    if not original_iban and not smnda:
        raise ValueError("an amendment names the original IBAN or the debtor's former bank")
    # XSD order: OrgnlDbtrAcct comes before OrgnlDbtrAgt. SMNDA: "same mandate, new debtor
    # agent" (EPC rulebook, AT-24).
    return ("<AmdmntInd>true</AmdmntInd><AmdmntInfDtls>"
            + (_path(("OrgnlDbtrAcct", "Id", "IBAN"), _x(original_iban)) if original_iban else "")
            + (_path(("OrgnlDbtrAgt", "FinInstnId", "Othr", "Id"), "SMNDA") if smnda else "")
            + "</AmdmntInfDtls>")


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
