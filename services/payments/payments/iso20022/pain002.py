"""pain.002.001.03: the bank's status report on a pain.008 (rejects before settlement).

    parse_pain002(source) -> domain.StatusReport(message_id, original_message_id, group_status,
                                                 group_reason_code, payment_infos, transactions)
    payment_infos: StatusLine(original_payment_info_id, status, reason_code)
    transactions:  StatusLine(original_end_to_end_id, status, reason_code, original_amount: cents | None)
"""
from __future__ import annotations

from decimal import Decimal, InvalidOperation

from common.money import from_decimal
from payments.domain import StatusLine, StatusReport

from .xsd import InvalidFile, namespace, parse_message

MESSAGE = "pain.002.001.03"
_NS = {"p": namespace(MESSAGE)}


def _text(element, path: str) -> str | None:
    found = element.find(path, _NS)
    if found is None or found.text is None:
        return None
    return found.text.strip() or None


def _required(element, path: str) -> str:
    value = _text(element, path)
    if value is None:
        raise InvalidFile(f"{MESSAGE} without {path.replace('p:', '')}")
    return value


def _reason(element) -> str | None:
    # A code (AM04) or, from some banks, a proprietary reason.
    return _text(element, "p:StsRsnInf/p:Rsn/p:Cd") or _text(element, "p:StsRsnInf/p:Rsn/p:Prtry")


def _cents(text: str | None) -> int | None:
    if text is None:
        return None
    try:
        return from_decimal(Decimal(text))
    except (InvalidOperation, ValueError) as error:
        raise InvalidFile(f"amount {text!r} unreadable: {error}") from None


def parse_pain002(source) -> StatusReport:
    """Read a status report from bytes, a path or a binary file; `InvalidFile` otherwise."""
    root, _ = parse_message(source, (MESSAGE,))
    report = root.find("p:CstmrPmtStsRpt", _NS)
    group = report.find("p:OrgnlGrpInfAndSts", _NS)
    if group is None:
        raise InvalidFile(f"{MESSAGE} without OrgnlGrpInfAndSts")
    payment_infos, transactions = [], []
    for info in report.iterfind("p:OrgnlPmtInfAndSts", _NS):
        payment_infos.append(StatusLine(original_payment_info_id=_required(info, "p:OrgnlPmtInfId"),
                                        status=_text(info, "p:PmtInfSts"), reason_code=_reason(info)))
        for tx in info.iterfind("p:TxInfAndSts", _NS):
            amount = (_text(tx, "p:OrgnlTxRef/p:Amt/p:InstdAmt")
                      or _text(tx, "p:OrgnlTxRef/p:IntrBkSttlmAmt"))
            transactions.append(StatusLine(original_end_to_end_id=_required(tx, "p:OrgnlEndToEndId"),
                                           status=_text(tx, "p:TxSts") or _text(info, "p:PmtInfSts"),
                                           reason_code=_reason(tx) or _reason(info),
                                           original_amount=_cents(amount)))
    return StatusReport(
        message_id=_required(report, "p:GrpHdr/p:MsgId"),
        original_message_id=_required(group, "p:OrgnlMsgId"),
        group_status=_text(group, "p:GrpSts"),
        group_reason_code=_reason(group),
        payment_infos=tuple(payment_infos),
        transactions=tuple(transactions),
    )
