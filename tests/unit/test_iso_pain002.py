from pathlib import Path

import pytest

from payments.domain import StatusLine
from payments.iso20022.pain002 import parse_pain002
from payments.iso20022.xsd import InvalidFile

BANK = Path(__file__).parent.parent / "fixtures" / "bank"


def test_transaction_rejects_are_read_with_their_reason_and_amount():
    report = parse_pain002(BANK / "pain002.001.03-rejects.xml")
    assert report.message_id == "PAIN002-0001"
    assert report.original_message_id == "DEBITO-20260303-0001"
    assert not report.rejected_as_a_whole
    assert report.transactions == (
        StatusLine("RJCT", "AM04", original_end_to_end_id="PM0001-1", original_amount=3000),
        StatusLine("RJCT", "AC04", original_end_to_end_id="PM0002-1", original_amount=1250),
        StatusLine("RJCT", "MD01", original_end_to_end_id="PM0003-1", original_amount=None),
        StatusLine("RJCT", "MS03", original_end_to_end_id="PM0004-1", original_amount=123456),
    )
    assert report.payment_infos == (StatusLine("PART", None, original_payment_info_id="PI-2026-03-05-RCUR"),)


def test_a_whole_file_rejected_is_a_group_reject():
    report = parse_pain002((BANK / "pain002.001.03-group-reject.xml").read_bytes())
    assert report.rejected_as_a_whole
    assert report.group_reason_code == "FF01"
    assert report.original_message_id == "DEBITO-20260303-0002"
    assert report.transactions == ()


def test_a_camt_file_is_not_a_status_report():
    with pytest.raises(InvalidFile, match="pain.002.001.03"):
        parse_pain002(BANK / "camt054.001.04-postfinance-ch.xml")


def test_a_status_report_without_original_message_id_is_refused():
    xml = (BANK / "pain002.001.03-group-reject.xml").read_bytes().replace(
        b"<OrgnlMsgId>DEBITO-20260303-0002</OrgnlMsgId>", b"")
    with pytest.raises(InvalidFile, match="OrgnlMsgId"):
        parse_pain002(xml)
