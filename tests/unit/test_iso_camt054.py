from datetime import date
from pathlib import Path

import pytest

from payments.camt054 import parse_camt054
from payments.xsd import InvalidFile, validate

BANK = Path(__file__).parent.parent / "fixtures" / "bank"


def test_postfinance_001_04_batch_credits_and_refunds_with_charges():
    notification = parse_camt054(BANK / "camt054.001.04-postfinance-ch.xml")
    assert notification.message_id == "20160410375204000131033"
    assert notification.version == "001.04"
    rows = [(t["end_to_end_id"], t["amount"], t["currency"], t["credit_debit"], t["reversal"],
             t["return_reason_code"], t["charges"], t["batch_count"])
            for t in notification.transactions]
    assert rows == [
        ("EndToEnd-CRDBRActSame-1B9C-CHDDBB2", 1500, "CHF", "CRDT", False, None, None, 2),
        ("EndToEnd-CRDBRActSame-1B9C-CHDDBB3", 900, "CHF", "CRDT", False, None, None, 2),
        ("PMT-651727380907030005", 5656, "CHF", "CRDT", False, None, None, 1),
        ("EndToEnd-2B6C-CHDDBB5", 600, "CHF", "DBIT", True, "MD06", 70, 1),
        ("E2E-1-1-16030913", 1553, "CHF", "DBIT", True, "MD06", 70, 1),
    ]
    assert {t["booking_date"] for t in notification.transactions} == {date(2016, 4, 10)}
    assert {t["value_date"] for t in notification.transactions} == {date(2016, 4, 10)}


def test_own_001_02_credits_entry_without_details_and_a_return():
    notification = parse_camt054(BANK / "camt054.001.02-credits-and-return.xml")
    assert (notification.message_id, notification.version) == ("CAMT054-0102-0001", "001.02")
    first, second, lump, ret = notification.transactions
    assert (first["end_to_end_id"], first["amount"], first["batch_count"]) == ("PM0001-1", 3000, 2)
    assert (second["end_to_end_id"], second["amount"]) == ("PM0002-1", 1250)
    assert lump["end_to_end_id"] is None
    assert (lump["amount"], lump["batch_count"], lump["reversal"]) == (9999, 3, False)
    assert (lump["booking_date"], lump["value_date"]) == (date(2026, 3, 5), date(2026, 3, 6))
    assert ret == {"end_to_end_id": "PM0003-1", "amount": 1990, "currency": "EUR",
                   "credit_debit": "DBIT", "reversal": True, "return_reason_code": "MS02",
                   "booking_date": date(2026, 3, 9), "value_date": date(2026, 3, 9),
                   "charges": 35, "batch_count": 1, "entry_reference": "RETURN-1"}


def test_own_001_08_credits_and_a_return():
    notification = parse_camt054((BANK / "camt054.001.08-credits-and-return.xml").read_bytes())
    assert notification.version == "001.08"
    assert [(t["end_to_end_id"], t["amount"], t["credit_debit"], t["reversal"],
             t["return_reason_code"], t["charges"]) for t in notification.transactions] == [
        ("PM0001-1", 3000, "CRDT", False, None, None),
        ("PM0002-1", 1250, "CRDT", False, None, None),
        ("PM0003-1", 1990, "DBIT", True, "MS02", 35),
    ]


CAMT = BANK / "camt054.001.02-credits-and-return.xml"

HOSTILE = {
    "not xml": b"MsgId;Amount\nX;12.50\n",
    "empty": b"",
    "truncated": CAMT.read_bytes()[:700],
    "wrong root": b'<?xml version="1.0"?><Document xmlns="urn:iso:std:iso:20022:tech:xsd:'
                  b'camt.054.001.02"><CstmrPmtStsRpt/></Document>',
    "foreign namespace": b'<Document xmlns="urn:example:camt.054.001.02"><BkToCstmrDbtCdtNtfctn/>'
                         b'</Document>',
    "other version": CAMT.read_bytes().replace(b"camt.054.001.02", b"camt.054.001.06"),
    "other message": CAMT.read_bytes().replace(b"camt.054.001.02", b"camt.053.001.02"),
    "no namespace": CAMT.read_bytes().replace(
        b' xmlns="urn:iso:std:iso:20022:tech:xsd:camt.054.001.02"', b""),
    "entity bomb": b'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
                   b'<!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">'
                   b'<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">]>'
                   b'<Document xmlns="urn:iso:std:iso:20022:tech:xsd:camt.054.001.02">'
                   b'<BkToCstmrDbtCdtNtfctn><GrpHdr><MsgId>&lol3;</MsgId></GrpHdr>'
                   b'</BkToCstmrDbtCdtNtfctn></Document>',
    "external entity": b'<?xml version="1.0"?><!DOCTYPE d [<!ENTITY x SYSTEM "file:///etc/passwd">]>'
                       b'<Document xmlns="urn:iso:std:iso:20022:tech:xsd:camt.054.001.02">'
                       b'<BkToCstmrDbtCdtNtfctn><GrpHdr><MsgId>&x;</MsgId></GrpHdr>'
                       b'</BkToCstmrDbtCdtNtfctn></Document>',
    "bad amount": CAMT.read_bytes().replace(b">42.50<", b">42.505<"),
    "no msgid": CAMT.read_bytes().replace(b"<MsgId>CAMT054-0102-0001</MsgId>", b""),
}


@pytest.mark.parametrize("case", sorted(HOSTILE))
def test_a_hostile_or_broken_file_is_an_invalid_file(case):
    with pytest.raises(InvalidFile) as raised:
        parse_camt054(HOSTILE[case])
    assert raised.value.reason


def test_an_invalid_file_read_from_disk_names_its_reason(tmp_path):
    path = tmp_path / "in.xml"
    path.write_bytes(HOSTILE["truncated"])
    with pytest.raises(InvalidFile, match="well-formed"):
        parse_camt054(path)


def test_validate_checks_the_message_name_even_without_a_shipped_xsd():
    validate(CAMT.read_bytes(), "camt.054.001.02")
    with pytest.raises(InvalidFile, match="expected a camt.054.001.08"):
        validate(CAMT.read_bytes(), "camt.054.001.08")
