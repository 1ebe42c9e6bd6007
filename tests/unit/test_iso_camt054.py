from datetime import date, datetime, timedelta, timezone
from pathlib import Path

import pytest

from payments.domain import BankTransaction, BankTransactionCode
from payments.iso20022.camt054 import open_camt054, parse_camt054
from payments.iso20022.xsd import InvalidFile, validate

BANK = Path(__file__).parent.parent / "fixtures" / "bank"
SAMPLES = Path("/work/shared/samples")
DIRECT_DEBIT = BankTransactionCode("PMNT", "RDDT", "ESDD")


@pytest.mark.parametrize("folder", [BANK, SAMPLES])
def test_postfinance_001_04_batch_credits_and_refunds_with_charges(folder):
    if not (folder / "camt054.001.04-postfinance-ch.xml").exists():
        pytest.skip("the shared samples are not on this machine")
    notification = parse_camt054(folder / "camt054.001.04-postfinance-ch.xml")
    assert notification.message_id == "20160410375204000131033"
    assert notification.version == "001.04"
    rows = [(t.end_to_end_id, t.amount, t.currency, t.credit_debit, t.reversal, t.return_reason_code, t.charges,
             t.batch_count, t.status) for t in notification.transactions]
    assert rows == [
        ("EndToEnd-CRDBRActSame-1B9C-CHDDBB2", 1500, "CHF", "CRDT", False, None, None, 2, "BOOK"),
        ("EndToEnd-CRDBRActSame-1B9C-CHDDBB3", 900, "CHF", "CRDT", False, None, None, 2, "BOOK"),
        ("PMT-651727380907030005", 5656, "CHF", "CRDT", False, None, None, 1, "BOOK"),
        ("EndToEnd-2B6C-CHDDBB5", 600, "CHF", "DBIT", True, "MD06", 70, 1, "BOOK"),
        ("E2E-1-1-16030913", 1553, "CHF", "DBIT", True, "MD06", 70, 1, "BOOK"),
    ]
    first, _, _, refund, _ = notification.transactions
    assert (first.entry_amount, first.instruction_id, first.payment_info_id) == (
        2400, "INSTR-CRDBRActSame-1B9C-CHDDBB2", "PMTINF-1CHDDBB3")
    assert first.bank_transaction_code == BankTransactionCode("PMNT", "RDDT", "PMDD")
    assert first.entry_reference == "41107767420881932"
    assert refund.return_information == "Lastschrift-Widerspruch durch den Zahlungspflichtigen"
    assert refund.bank_transaction_code == BankTransactionCode("PMNT", "RDDT", "PMDD")  # its TxDtls' own, not the entry's IDDT
    assert {t.booking_date for t in notification.transactions} == {date(2016, 4, 10)}
    assert {t.value_date for t in notification.transactions} == {date(2016, 4, 10)}
    assert {t.booked_at for t in notification.transactions} == {None}


def test_own_001_02_credits_entry_without_details_and_a_return():
    notification = parse_camt054(BANK / "camt054.001.02-credits-and-return.xml")
    assert (notification.message_id, notification.version) == ("CAMT054-0102-0001", "001.02")
    first, second, lump, ret = notification.transactions
    assert (first.end_to_end_id, first.amount, first.batch_count, first.mandate_id) == ("PM0001-1", 3000, 2,
                                                                                         "UMR-0001")
    assert (first.transaction_amount, first.instructed_amount, first.entry_amount) == (3000, None, 4250)
    assert (second.end_to_end_id, second.amount) == ("PM0002-1", 1250)
    assert lump.end_to_end_id is None
    assert (lump.amount, lump.batch_count, lump.reversal) == (9999, 3, False)
    assert (lump.booking_date, lump.value_date) == (date(2026, 3, 5), date(2026, 3, 6))
    assert ret == BankTransaction(
        status="BOOK", credit_debit="DBIT", reversal=True, amount=1990, currency="EUR", entry_amount=1990,
        instructed_amount=1990, charges=35, end_to_end_id="PM0003-1", batch_count=1,
        booking_date=date(2026, 3, 9), value_date=date(2026, 3, 9), entry_reference="RETURN-1",
        bank_transaction_code=ret.bank_transaction_code, return_reason_code="MS02")


def test_own_001_08_credits_and_a_return():
    notification = parse_camt054((BANK / "camt054.001.08-credits-and-return.xml").read_bytes())
    assert notification.version == "001.08"
    assert [(t.end_to_end_id, t.amount, t.credit_debit, t.reversal, t.return_reason_code, t.charges, t.status)
            for t in notification.transactions] == [
        ("PM0001-1", 3000, "CRDT", False, None, None, "BOOK"),
        ("PM0002-1", 1250, "CRDT", False, None, None, "BOOK"),
        ("PM0003-1", 1990, "DBIT", True, "MS02", 35, "BOOK"),
    ]
    assert notification.transactions[0].bank_transaction_code == DIRECT_DEBIT


def test_pending_information_batch_only_and_offset_dates_are_read_as_the_bank_wrote_them():
    pending, information, batch, returned = parse_camt054(BANK / "camt054.001.08-pending-and-batch.xml").transactions
    plus_one = timezone(timedelta(hours=1))

    assert (pending.status, pending.booked, pending.credit) == ("PDNG", False, True)
    assert (pending.end_to_end_id, pending.instruction_id, pending.mandate_id) == ("PM0004-1", "INSTR-4", "UMR-0004")
    assert (pending.booking_date, pending.booked_at) == (None, None)
    assert pending.value_date == date(2026, 3, 6)
    assert pending.valued_at == datetime(2026, 3, 6, 9, 15, tzinfo=plus_one)
    assert pending.entry_reference == "PENDING-1"

    assert (information.status, information.booked, information.amount, information.end_to_end_id) == (
        "INFO", False, 700, None)
    assert information.bank_transaction_code == BankTransactionCode(proprietary="NOTICE")
    assert information.reversal is False

    assert (batch.status, batch.end_to_end_id, batch.amount, batch.entry_amount) == ("BOOK", None, 15000, 15000)
    assert (batch.payment_info_id, batch.batch_count) == ("DEBITO-20260303-0001-1", 3)
    assert batch.bank_transaction_code == BankTransactionCode("PMNT", "RDDT", "ESDD", "166")
    # the bank's local day, not the UTC one (2026-03-05T23:30Z)
    assert batch.booking_date == date(2026, 3, 6)
    assert batch.booked_at == datetime(2026, 3, 6, 0, 30, tzinfo=plus_one)
    assert batch.entry_reference == "BATCH-REF-9"

    assert (returned.amount, returned.instructed_amount, returned.transaction_amount, returned.entry_amount) == (
        4000, 4000, 4000, 4100)
    assert (returned.charges, returned.payment_info_id, returned.end_to_end_id) == (100, "DEBITO-20260303-0001-2",
                                                                                   "PM0005-1")
    assert (returned.return_reason_code, returned.return_information) == ("X123", "Account closed by the debtor")
    assert returned.booked_at == datetime(2026, 3, 6, 10, tzinfo=timezone.utc)
    assert returned.valued_at == datetime(2026, 3, 6, 10) and returned.valued_at.tzinfo is None


def test_the_header_is_read_before_the_transactions_and_they_come_one_entry_at_a_time(tmp_path):
    entry = ("<Ntry><Amt Ccy=\"EUR\">1.00</Amt><CdtDbtInd>CRDT</CdtDbtInd><Sts>BOOK</Sts>"
             "<NtryDtls><TxDtls><Refs><EndToEndId>E{n}</EndToEndId></Refs></TxDtls></NtryDtls></Ntry>")
    path = tmp_path / "many.xml"
    path.write_text('<Document xmlns="urn:iso:std:iso:20022:tech:xsd:camt.054.001.02"><BkToCstmrDbtCdtNtfctn>'
                    "<GrpHdr><MsgId>MANY</MsgId></GrpHdr><Ntfctn><Id>N</Id>"
                    + "".join(entry.format(n=n) for n in range(500))
                    + "</Ntfctn></BkToCstmrDbtCdtNtfctn></Document>")
    notification = open_camt054(path)
    assert (notification.message_id, notification.version) == ("MANY", "001.02")
    seen = []
    for transaction in notification:
        seen.append(transaction.end_to_end_id)
    assert seen == [f"E{n}" for n in range(500)]


def test_a_broken_entry_is_refused_after_the_transactions_before_it():
    content = (BANK / "camt054.001.08-credits-and-return.xml").read_text().replace(">19.90</Amt>\n        <CdtDbtInd>DBIT",
                                                                                 ">19.905</Amt>\n        <CdtDbtInd>DBIT")
    notification = open_camt054(content.encode())
    read = []
    with pytest.raises(InvalidFile, match="unreadable"):
        for transaction in notification:
            read.append(transaction.end_to_end_id)
    assert read == ["PM0001-1", "PM0002-1"]


def test_an_entry_without_status_is_refused():
    content = (BANK / "camt054.001.02-credits-and-return.xml").read_bytes()
    assert b"<Sts>BOOK</Sts>" in content
    with pytest.raises(InvalidFile, match="without Sts"):
        parse_camt054(content.replace(b"<Sts>BOOK</Sts>", b"", 1))


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
