"""pain.001.001.03: the SEPA credit transfer file that pays a merchant out.

    write_pain001(out, message_id=..., created_at=..., debtor={"name", "iban", "bic"},
                  transfers=[{"end_to_end_id", "amount": int cents, "creditor_name",
                              "creditor_iban", "creditor_bic": str | None,
                              "remittance": str | None}],
                  execution_date=date)

Payout files hold a handful of transfers: the totals are counted from the
list itself before it is streamed.
"""
from __future__ import annotations

from datetime import date, datetime

from lxml import etree

from common.money import to_decimal

from .pain008 import sepa_text, write_atomically
from .xsd import namespace

MESSAGE = "pain.001.001.03"
NS = namespace(MESSAGE)


def _q(tag: str) -> str:
    return f"{{{NS}}}{tag}"


def _path(xf, tags: tuple[str, ...], text: str, **attrs) -> None:
    if len(tags) == 1:
        with xf.element(_q(tags[0]), **attrs):
            xf.write(text)
        return
    with xf.element(_q(tags[0])):
        _path(xf, tags[1:], text, **attrs)


def write_pain001(out, *, message_id: str, created_at: datetime, debtor: dict,
                  transfers, execution_date: date) -> tuple[int, int]:
    """Write a pain.001.001.03 into `out` (path or binary file); returns (count, sum_cents)."""
    transfers = list(transfers)
    if not transfers:
        raise ValueError("a payout file holds at least one transfer")
    for transfer in transfers:
        if transfer["amount"] <= 0:
            raise ValueError(f"a transfer amount is positive, not {transfer['amount']}")
    count, total = len(transfers), sum(t["amount"] for t in transfers)
    debtor_name = sepa_text(debtor["name"], 70)
    with etree.xmlfile(out, encoding="UTF-8") as xf:
        xf.write_declaration()
        with xf.element(_q("Document"), nsmap={None: NS}), xf.element(_q("CstmrCdtTrfInitn")):
            with xf.element(_q("GrpHdr")):
                _path(xf, ("MsgId",), message_id)
                _path(xf, ("CreDtTm",), created_at.isoformat(timespec="seconds"))
                _path(xf, ("NbOfTxs",), str(count))
                _path(xf, ("CtrlSum",), str(to_decimal(total)))
                _path(xf, ("InitgPty", "Nm"), debtor_name)
            with xf.element(_q("PmtInf")):
                _path(xf, ("PmtInfId",), message_id)
                _path(xf, ("PmtMtd",), "TRF")
                _path(xf, ("NbOfTxs",), str(count))
                _path(xf, ("CtrlSum",), str(to_decimal(total)))
                _path(xf, ("PmtTpInf", "SvcLvl", "Cd"), "SEPA")
                _path(xf, ("ReqdExctnDt",), execution_date.isoformat())
                _path(xf, ("Dbtr", "Nm"), debtor_name)
                _path(xf, ("DbtrAcct", "Id", "IBAN"), debtor["iban"])
                _path(xf, ("DbtrAgt", "FinInstnId", "BIC"), debtor["bic"])
                _path(xf, ("ChrgBr",), "SLEV")
                for transfer in transfers:
                    _write_transfer(xf, transfer)
    return count, total


def _write_transfer(xf, transfer: dict) -> None:
    with xf.element(_q("CdtTrfTxInf")):
        _path(xf, ("PmtId", "EndToEndId"), transfer["end_to_end_id"])
        _path(xf, ("Amt", "InstdAmt"), str(to_decimal(transfer["amount"])), Ccy="EUR")
        if transfer.get("creditor_bic"):
            _path(xf, ("CdtrAgt", "FinInstnId", "BIC"), transfer["creditor_bic"])
        _path(xf, ("Cdtr", "Nm"), sepa_text(transfer["creditor_name"], 70))
        _path(xf, ("CdtrAcct", "Id", "IBAN"), transfer["creditor_iban"])
        remittance = sepa_text(transfer.get("remittance"), 140)
        if remittance:
            _path(xf, ("RmtInf", "Ustrd"), remittance)


def build_pain001_file(path, **kwargs) -> tuple[int, int]:
    """Write, validate against the XSD, fsync and rename into `path` atomically."""
    return write_atomically(path, MESSAGE, write_pain001, **kwargs)
