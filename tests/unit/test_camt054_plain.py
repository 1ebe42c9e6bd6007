"""camt054.parse_plain (a plain file read from its bytes, without lxml's tree) reads what
parse_camt054 reads, or says NotPlain: never another reading, and never a file that
parse_camt054 refuses. The import falls back to parse_camt054 when a file is not plain, even
after its first chunks were applied."""
import io
import random
from pathlib import Path

import pytest

from payments import camt054
from payments.xsd import InvalidFile

BANK = Path(__file__).parent.parent / "fixtures" / "bank"
NS = "urn:iso:std:iso:20022:tech:xsd:camt.054.001.02"
FIXTURES = ["camt054.001.02-credits-and-return.xml", "camt054.001.04-postfinance-ch.xml",
            "camt054.001.08-credits-and-return.xml"]


def read(parse, data):
    """What a reader makes of `data`: ("read", message id, transactions) or the error's kind.
    Each transaction as its list of items: the order of its keys is that of an unmatched
    entry's details (JSON) too."""
    messages, transactions = [], []
    try:
        parse(io.BytesIO(data), on_message=messages.append, on_batch=transactions.extend)
    except camt054.NotPlain:
        return ("NotPlain",)
    except InvalidFile as error:
        return ("InvalidFile", error.reason)
    return ("read", messages, [list(transaction.items()) for transaction in transactions])


def assert_read_alike(data):
    """parse_plain reads `data` as parse_camt054 does, or finds it not plain; the outcome."""
    plain = read(camt054.parse_plain, data)
    if plain[0] != "NotPlain":
        assert plain == read(camt054.parse_camt054, data)
    return plain[0]


TX = ("<NtryDtls><TxDtls><Refs><InstrId>I1</InstrId><EndToEndId>E1</EndToEndId></Refs><AmtDtls><InstdAmt>"
      "<Amt Ccy='EUR'>1.00</Amt></InstdAmt><TxAmt><Amt Ccy='EUR'>1.00</Amt></TxAmt></AmtDtls>"
      "<RltdPties><Dbtr><Nm>Dupont &amp; Fils</Nm></Dbtr></RltdPties>"
      "<RtrInf><Orgtr><Nm>Bank</Nm></Orgtr><Rsn><Cd>AM04</Cd></Rsn><AddtlInf>x</AddtlInf></RtrInf></TxDtls></NtryDtls>")
HEAD = "<NtryRef>R1</NtryRef><Amt Ccy=\"EUR\">12.50</Amt><CdtDbtInd>DBIT</CdtDbtInd>"
DATES = "<Sts>BOOK</Sts><BookgDt><Dt>2027-02-03</Dt></BookgDt><ValDt><DtTm>2027-02-04T01:00:00</DtTm></ValDt>"
PLAIN = HEAD + DATES + "<AcctSvcrRef>AS1</AcctSvcrRef><BkTxCd><Domn><Cd>PMNT</Cd></Domn></BkTxCd>" + TX


def document(*entries, head="", ns=NS, declaration='<?xml version="1.0" encoding="UTF-8"?>\n'):
    return (declaration + f'<Document xmlns="{ns}" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">'
            f"<BkToCstmrDbtCdtNtfctn><GrpHdr><MsgId> M1 </MsgId><CreDtTm>2027-02-03T05:00:00</CreDtTm></GrpHdr>"
            f"<Ntfctn><Id>N1</Id>{head}<Acct><Id><IBAN>FR7630006000011234567890189</IBAN></Id></Acct>"
            + "".join(f"<Ntry>{e}</Ntry>\n" for e in entries) + "</Ntfctn></BkToCstmrDbtCdtNtfctn></Document>\n"
            ).encode()


# Entries parse_plain reads itself (each alone, then among plain ones).
READ = {
    "plain": PLAIN,
    "no details": HEAD + "<AcctSvcrRef>AS1</AcctSvcrRef>",
    "no references": "<NtryRef></NtryRef><Amt Ccy='EUR'>12.50</Amt><CdtDbtInd>CRDT</CdtDbtInd>",
    "batch of three": HEAD + "<NtryDtls><Btch><NbOfTxs>3</NbOfTxs><TtlAmt>1</TtlAmt></Btch></NtryDtls>",
    "TxDtls own amount and debit": HEAD + TX.replace("<AmtDtls>", "<Amt Ccy='CHF'>3.00</Amt><CdtDbtInd>CRDT"
                                                                  "</CdtDbtInd><AmtDtls>"),
    "instructed amount only": HEAD + TX.replace("<TxAmt><Amt Ccy='EUR'>1.00</Amt></TxAmt>", ""),
    "TxDtls without amount": HEAD + "<NtryDtls><TxDtls><Refs><EndToEndId>E3</EndToEndId></Refs></TxDtls></NtryDtls>",
    "amount in spaces": "<Amt Ccy='EUR'>  12.50 </Amt><CdtDbtInd> DBIT </CdtDbtInd>",
    "amount on lines": "<Amt Ccy='EUR'>\n  12.50\n</Amt><CdtDbtInd>DBIT</CdtDbtInd>",
    "text with a tab": HEAD + TX.replace(">E1<", ">E\t1<"),
    "amount negative, exponent": "<Amt Ccy='EUR'>-1.25E1</Amt><CdtDbtInd>CRDT</CdtDbtInd>",
    "reversal": HEAD + "<RvslInd>true</RvslInd>" + TX,
    "booking date time": HEAD + "<BookgDt><DtTm>2027-02-03T23:10:00+01:00</DtTm></BookgDt>",
    "empty booking date": HEAD + "<BookgDt><Dt> </Dt></BookgDt>",
    "charges 001.02": HEAD + "<Chrgs><Amt Ccy='EUR'>0.35</Amt><Br>DEBT</Br></Chrgs>" + TX,
    "charges record": HEAD + "<Chrgs><Rcrd><Amt Ccy='EUR'>-0.35</Amt></Rcrd></Chrgs>" + TX,
    "charges without amount": HEAD + "<Chrgs><Br>DEBT</Br></Chrgs>" + TX,
    "tx charges": HEAD + "<Chrgs><Amt Ccy='EUR'>0.35</Amt></Chrgs>" + TX.replace(
        "<RtrInf>", "<Chrgs><Rcrd><Amt Ccy='EUR'>0.50</Amt></Rcrd></Chrgs><RtrInf>"),
    "proprietary reason": HEAD + TX.replace("<Cd>AM04</Cd>", "<Prtry>X12</Prtry>"),
    "empty reason then proprietary": HEAD + TX.replace("<Cd>AM04</Cd>", "<Cd></Cd><Prtry>X12</Prtry>"),
    "unicode": HEAD + TX.replace(">E1<", ">E1 Ærø ☃<"),
    "elements skipped with attributes and empty ones": HEAD + "<Avlbty a='1' b=\"2\"><Dt/></Avlbty>" + TX,
    "an entry inside an entry, not read": HEAD + "<AddtlNtryInf><Ntry/></AddtlNtryInf>",
    "closing tags with spaces": HEAD.replace("</NtryRef>", "</NtryRef >") + TX.replace("</Refs>", "</Refs\n>"),
    # elements no field is read from, cut down before the match (camt054._collapsed)
    "read elements inside one not read": HEAD + TX.replace(
        "<RltdPties>", "<RltdPties><Refs><EndToEndId>X9</EndToEndId></Refs><Amt Ccy='USD'>9.99</Amt>"),
    "another namespace inside one not read": HEAD + TX.replace(
        "<Dbtr>", "<Dbtr xmlns='urn:other'><x:Nm xmlns:x='urn:x'>y</x:Nm>"),
    "deep inside one not read": HEAD + TX.replace("<RltdPties>", "<RltdPties>" + "<X>" * 40 + "</X>" * 40),
    "each one not read": HEAD.replace("<CdtDbtInd>", "<BkTxCd><Cd>PMNT</Cd></BkTxCd><CdtDbtInd>") + TX.replace(
        "<RltdPties>", "<BkTxCd><Prtry><Cd>X</Cd></Prtry></BkTxCd><RltdPties>").replace(
        "<RtrInf>", "<RltdAgts><DbtrAgt/></RltdAgts><RmtInf><Ustrd>a</Ustrd></RmtInf><RltdDts><IntrBkSttlmDt>"
                    "2027-02-01</IntrBkSttlmDt></RltdDts><RtrInf>") + "<AddtlNtryInf>R</AddtlNtryInf>",
    "one not read closed with spaces": HEAD + TX.replace("</RltdPties>", "</RltdPties >"),
    "one not read in the wrong place": HEAD + "<RltdPties><Dbtr/></RltdPties>" + TX,
    "one not read holding a longer name": HEAD + TX.replace("<RltdPties>", "<RltdPties><RltdPtiesX>a</RltdPtiesX>"),
}
# Entries it leaves to parse_camt054 (which may read or refuse them).
NOT_PLAIN = {
    "batch count not a number": HEAD + "<NtryDtls><Btch><NbOfTxs>²</NbOfTxs></Btch></NtryDtls>",
    "two TxDtls": HEAD + TX.replace("</TxDtls>", "</TxDtls><TxDtls><Amt Ccy='EUR'>2.00</Amt></TxDtls>"),
    "two NtryDtls": HEAD + TX + TX.replace("E1", "E2"),
    "amount without currency": "<Amt>12.50</Amt><CdtDbtInd>DBIT</CdtDbtInd>",
    "tx amount without currency": HEAD + TX.replace(" Ccy='EUR'", ""),
    "amount unreadable": "<Amt Ccy='EUR'>12,50</Amt><CdtDbtInd>DBIT</CdtDbtInd>",
    "amount of a tenth of a cent": "<Amt Ccy='EUR'>12.505</Amt><CdtDbtInd>DBIT</CdtDbtInd>",
    "amount empty": "<Amt Ccy='EUR'/><CdtDbtInd>DBIT</CdtDbtInd>",
    "amount after an element": "<Amt Ccy='EUR'><x/>12.50</Amt><CdtDbtInd>DBIT</CdtDbtInd>",
    "no amount": "<CdtDbtInd>DBIT</CdtDbtInd>",
    "no credit or debit": "<Amt Ccy='EUR'>1.00</Amt><CdtDbtInd>XXXX</CdtDbtInd>",
    "two amounts": "<Amt Ccy='EUR'>1.00</Amt><Amt Ccy='USD'>2.00</Amt><CdtDbtInd>CRDT</CdtDbtInd>",
    "out of order": "<CdtDbtInd>CRDT</CdtDbtInd><Amt Ccy='EUR'>1.00</Amt>",
    "two booking dates": HEAD + "<BookgDt><DtTm>2027-02-01T10:00:00</DtTm></BookgDt><BookgDt><Dt>2027-02-02</Dt>"
                                "</BookgDt>",
    "booking date unreadable": HEAD + "<BookgDt><Dt>3 Feb 2027</Dt></BookgDt>",
    "charges twice": HEAD + "<Chrgs><Amt Ccy='EUR'>0.35</Amt></Chrgs><Chrgs><Amt Ccy='EUR'>0.10</Amt></Chrgs>",
    "charges total": HEAD + "<Chrgs><TtlChrgsAndTaxAmt Ccy='EUR'>0.70</TtlChrgsAndTaxAmt></Chrgs>",
    "two end-to-end ids": HEAD + TX.replace("</Refs>", "</Refs><Refs><EndToEndId>E9</EndToEndId></Refs>"),
    "entity in a text read": HEAD + TX.replace(">E1<", ">E&amp;1<"),
    "character reference in a text read": HEAD + TX.replace("AM04", "&#x41;M04"),
    "comment": HEAD + TX.replace(">E1<", ">E<!-- x -->1<"),
    "cdata": HEAD + TX.replace(">E1<", "><![CDATA[E<1>]]><"),
    "processing instruction": HEAD + "<?pi x?>" + TX,
    "carriage return in a text read": HEAD + TX.replace(">E1<", ">E\r\n1<"),
    "prefixed element": HEAD + TX.replace("<Refs>", "<c:Refs xmlns:c='" + NS + "'>").replace("</Refs>", "</c:Refs>"),
    "another namespace": HEAD + TX.replace("<RltdPties>", "<RltdPties xmlns='urn:other'>"),
    "entry read in another namespace": HEAD.replace("<Amt ", "<Amt xmlns='urn:other' ") + TX,
    "deeper than libxml2 reads": HEAD + "<Avlbty>" + "<X>" * 300 + "</X>" * 300 + "</Avlbty>" + TX,
    "nested entry closed": HEAD + "<Avlbty><Ntry></Ntry></Avlbty>",
    "one not read inside itself": HEAD + TX.replace("<Dbtr>", "<RltdPties><Dbtr/></RltdPties><Dbtr>"),
    "one not read inside a text read": HEAD + TX.replace(">E1<", ">E<RltdPties/>1<"),
    "one not read holding a comment": HEAD + TX.replace("<Dbtr>", "<!-- </RltdPties> --><Dbtr>"),
}


@pytest.mark.parametrize("name", FIXTURES)
def test_the_bank_files_of_the_fixtures_are_read_alike(name):
    # their batch entries (several TxDtls) and totals of charges are read by parse_camt054
    assert assert_read_alike((BANK / name).read_bytes()) == "NotPlain"
    alone = (BANK / name).read_bytes().decode()
    start, end = alone.index("<Ntry>"), alone.rindex("</Ntry>") + len("</Ntry>")
    entries = [e + "</Ntry>" for e in alone[start:end].split("</Ntry>")[:-1]
               if e.count("<TxDtls>") < 2 and "TtlChrgsAndTaxAmt" not in e]
    assert assert_read_alike((alone[:start] + "".join(entries) + alone[end:]).encode()) == "read"


@pytest.mark.parametrize("case", sorted(READ))
def test_an_entry_it_reads_is_read_as_parse_camt054_reads_it(case):
    assert assert_read_alike(document(READ[case])) == "read"
    assert assert_read_alike(document(PLAIN, READ[case], PLAIN)) == "read"


@pytest.mark.parametrize("case", sorted(NOT_PLAIN))
def test_an_entry_it_does_not_read_makes_the_file_not_plain(case):
    assert assert_read_alike(document(PLAIN, NOT_PLAIN[case], PLAIN)) == "NotPlain"


FILES = {
    "an entry in the notification's account": document(PLAIN, head=f"<Acct><Ntry>{PLAIN}</Ntry></Acct>"),
    "no declaration": document(PLAIN, declaration=""),
    "declaration of another encoding": document(PLAIN, declaration='<?xml version="1.0" encoding="ISO-8859-1"?>'),
    "byte order mark": b"\xef\xbb\xbf" + document(PLAIN),
    "doctype": document(PLAIN, declaration='<?xml version="1.0"?><!DOCTYPE Document>'),
    "comment after the root": document(PLAIN) + b"<!-- end -->",
    "text after the root": document(PLAIN) + b"x",
    "truncated": document(PLAIN, PLAIN)[:-200],
    "mismatched tags": document(PLAIN).replace(b"</NtryRef>", b"</NtryRf>"),
    "undeclared prefix": document(PLAIN.replace("<Sts>BOOK</Sts>", "<x:Sts>BOOK</x:Sts>")),
    "other version": document(PLAIN, ns=NS.replace("001.02", "001.06")),
    "message id in a text with a reference": document(PLAIN).replace(b" M1 ", b"M&amp;1"),
    "no message id": document(PLAIN).replace(b"<MsgId> M1 </MsgId>", b""),
    "two headers": document(PLAIN).replace(b"<Ntfctn>", b"<GrpHdr><MsgId>M2</MsgId></GrpHdr><Ntfctn>"),
    "header without body": (b'<Document xmlns="' + NS.encode() + b'"><GrpHdr><MsgId>M1</MsgId></GrpHdr>'
                            b"</Document>"),
    "entry with an attribute": document(PLAIN).replace(b"<Ntry>", b"<Ntry a='1'>", 1),
    "root with another attribute": document(PLAIN).replace(b"<Document ", b"<Document id='1' "),
    "notification in another namespace": document(PLAIN).replace(b"<Ntfctn>", b"<Ntfctn xmlns='urn:other'>"),
    "not XML": b"camt.054",
    "invalid UTF-8": document(PLAIN).replace(b"Fils", b"F\xffils"),
}


@pytest.mark.parametrize("case", sorted(FILES))
def test_a_file_is_read_alike_or_left_to_parse_camt054(case):
    outcome = assert_read_alike(FILES[case])
    if case in ("no declaration", "byte order mark"):
        assert outcome == "read"
    else:
        assert outcome == "NotPlain"


SNIPPETS = ["<!-- x -->", "<?p x?>", "<![CDATA[<a>]]>", "<x:Foo xmlns:x='urn:x'/>", "<Amt Ccy='EUR'>1.00</Amt>",
            "<EndToEndId>Z</EndToEndId>", "<TxDtls/>", "<Ntry>", "</Ntry>", "<Ntry/>", "&amp;", "\r\n", "\t", " ",
            "<Refs><EndToEndId>Q</EndToEndId></Refs>", "<Foo xmlns='urn:other'><Amt Ccy='EUR'>9.99</Amt></Foo>",
            "<Chrgs><Amt Ccy='EUR'>0.10</Amt></Chrgs>", "<Cd>MS02</Cd>", "<Dt>2027-01-01</Dt>", "</TxDtls>",
            "<NtryDtls>", "x", "<GrpHdr><MsgId>M9</MsgId></GrpHdr>", "<Btch><NbOfTxs>2</NbOfTxs></Btch>",
            "<RvslInd>true</RvslInd>", "<CdtDbtInd>CRDT</CdtDbtInd>", "<A>" * 20 + "</A>" * 20,
            "<RltdPties>", "</RltdPties>", "</RltdPties >", "<RltdPties><Amt Ccy='EUR'>7.00</Amt></RltdPties>",
            "<BkTxCd><Cd>X</Cd></BkTxCd>", "<RmtInf/>", "<Orgtr>", "</Orgtr>"]


def mutate(data, rng):
    text = data.decode()
    for _ in range(rng.randint(1, 3)):
        marks = [i for i, c in enumerate(text) if c == "<"]
        at = rng.choice(marks)
        roll = rng.random()
        if roll < 0.6:  # a snippet before a tag
            text = text[:at] + rng.choice(SNIPPETS) + text[at:]
        elif roll < 0.8:  # a tag dropped, or a stretch between two tags
            end = text.index(">", at) + 1 if rng.random() < 0.5 else rng.choice(marks)
            text = text[:at] + text[max(at, end):]
        else:  # a stretch repeated
            end = rng.choice(marks)
            start, end = sorted((at, end))
            text = text[:end] + text[start:end] + text[end:]
    return text.encode()


def test_a_mutated_file_is_read_alike_or_left_to_parse_camt054():
    rng, outcomes = random.Random(54), {}
    base = document(PLAIN, READ["tx charges"], READ["no details"], READ["booking date time"])
    for _ in range(600):
        outcome = assert_read_alike(mutate(base, rng))
        outcomes[outcome] = outcomes.get(outcome, 0) + 1
    assert outcomes.get("read", 0) > 50 and outcomes.get("NotPlain", 0) > 50  # both ways were tried


def test_a_file_larger_than_a_block_reads_alike_whatever_the_block(monkeypatch):
    data = document(*[PLAIN.replace("E1", f"E{n}") for n in range(400)])
    expected = read(camt054.parse_camt054, data)
    for block in (1, 7, 100, 4096, 1 << 17):
        monkeypatch.setattr(camt054, "BLOCK", block)
        assert read(camt054.parse_plain, data) == expected


def entries_of(data):
    """Each <Ntry> of `data` as parse_plain matches it: cut (camt054._collapsed), as text."""
    found, start = [], data.find(b"<Ntry>")
    while start >= 0 and data.find(b"</Ntry>", start) >= 0:
        end = data.find(b"</Ntry>", start) + len(b"</Ntry>")
        found.append(camt054._collapsed(data, start, end).decode(errors="replace"))
        start = data.find(b"<Ntry>", end)
    return found


def test_the_usual_entry_pattern_matches_only_as_the_general_one_does():
    usual, general = camt054._entry_pattern()
    rng, matched = random.Random(8), 0
    base = document(PLAIN, READ["tx charges"], READ["each one not read"], READ["batch of three"])
    files = [document(entry) for entry in list(READ.values()) + list(NOT_PLAIN.values())]
    for data in files + [mutate(base, rng) for _ in range(400)]:
        for entry in entries_of(data):
            found = usual.fullmatch(entry)
            if found is not None:
                matched += 1
                assert general.fullmatch(entry).group(*camt054._GROUPS) == found.group(*camt054._GROUPS)
    assert usual.fullmatch(entries_of(document(PLAIN))[0]) is not None
    assert matched > 300


def test_markup_in_a_later_block_or_across_two_makes_the_file_not_plain(monkeypatch):
    data = document(*[PLAIN.replace("E1", f"E{n}") for n in range(50)])
    at = data.index(b"<RltdPties>", len(data) // 2) + len(b"<RltdPties>")
    for markup in (b"<!-- x -->", b"<?pi x?>", b"<![CDATA[x]]>"):
        odd = data[:at] + markup + data[at:]
        assert read(camt054.parse_camt054, odd)[0] == "read"
        for block in (at + 1, 1 << 17):  # "<" ends a block, then the whole file in one block
            monkeypatch.setattr(camt054, "BLOCK", block)
            assert read(camt054.parse_plain, odd) == ("NotPlain",)


# --- the import: a plain file without parse_camt054, a file found not plain late read again -----

def _payment(payment_id, status, amount):
    from datetime import date, datetime, timezone

    from payments.models import Payment

    created = datetime(2027, 1, 10, tzinfo=timezone.utc)
    return Payment(id=payment_id, merchant_id="MEaaaa", plan_id="PL1", instalment_key=f"PL1:{payment_id}",
                   sequence_no=1, mandate_id="MD1", subscriber_id="SB1", mandate_reference="DBT-MD1",
                   mandate_signed_on=date(2026, 12, 1), debtor_name="Zoë Dupont & Fils",
                   iban="FR7630006000011234567890189", bic="AGRIFRPP", amount=amount, currency="EUR", label="Yoga",
                   due_date=date(2027, 2, 1), sequence_type="RCUR", end_to_end_id=payment_id, status=status,
                   attempt=1, automatic=False,
                   bank_file_id="BFOUT1", created_at=created, submitted_at=created,
                   paid_at=created if status == "paid" else None)


def _entry(e2e, cents, credit_debit, code=None, note="RETOUR"):
    amount = f"<Amt Ccy='EUR'>{cents // 100}.{cents % 100:02d}</Amt>"
    returned = f"<RtrInf><Rsn><Cd>{code}</Cd></Rsn></RtrInf>" if code else ""
    return (f"{amount}<CdtDbtInd>{credit_debit}</CdtDbtInd><Sts>BOOK</Sts><BookgDt><Dt>2027-02-03</Dt></BookgDt>"
            f"<NtryDtls><TxDtls><Refs><EndToEndId>{e2e}</EndToEndId></Refs><AmtDtls><TxAmt>{amount}</TxAmt>"
            f"</AmtDtls>{returned}</TxDtls></NtryDtls><AddtlNtryInf>{note}</AddtlNtryInf>")


ENTRIES = [_entry("PM1", 1000, "CRDT"), _entry("PM2", 2000, "DBIT", "AM04"), _entry("PM3", 3000, "DBIT", "MS02"),
           _entry("PM9", 900, "DBIT", "AM04"), _entry("PM2", 2000, "DBIT", "AM04")]


def _imported(url, tmp_path, content):
    """Import `content` into a fresh payments database: the report's counts and what was written."""
    import json
    from datetime import date

    from sqlalchemy import create_engine, select
    from sqlalchemy.orm import Session

    from common.database import make_engine
    from common.migrations import upgrade
    from payments import collection
    from payments.models import Base, LedgerEntry, Payment, RTransaction, UnmatchedEntry

    if url is None:
        engine = create_engine("sqlite://")
        Base.metadata.create_all(engine)
    else:
        upgrade("payments", make_engine("payments", url))
        engine = make_engine("payments", url)
    try:
        with Session(engine) as session:
            session.add_all([_payment("PM1", "submitted", 1000), _payment("PM2", "paid", 2000),
                             _payment("PM3", "submitted", 3000)])
            session.commit()
            inbox = tmp_path / "inbox"
            inbox.mkdir()
            (inbox / "camt054.xml").write_bytes(content)
            report = collection.import_inbox(session, inbox, date(2027, 2, 3))
            return {
                "report": (len(report.files), report.failed, len(report.paid), len(report.rejected),
                           len(report.r_transactions), len(report.unmatched)),
                "payments": sorted((p.id, p.status) for p in session.scalars(select(Payment))),
                "r_transactions": sorted((r.payment_id, r.type, r.reason_code, r.amount)
                                         for r in session.scalars(select(RTransaction))),
                "ledger": sorted((e.payment_id, e.code, e.amount, e.subscriber_name)
                                 for e in session.scalars(select(LedgerEntry))),
                "unmatched": sorted((u.end_to_end_id, json.loads(u.details)["reason"])
                                    for u in session.scalars(select(UnmatchedEntry))),
                "moved": {folder.name: sorted(p.name for p in folder.iterdir()) for folder in inbox.iterdir()
                          if folder.is_dir()},
            }
    finally:
        engine.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def database(request):
    if request.param == "sqlite":
        yield None
        return
    with request.getfixturevalue("infrastructure").database("debito_camt_plain") as url:
        yield url


EXPECTED = {
    "report": (1, [], 1, 2, 2, 2),
    "payments": [("PM1", "paid"), ("PM2", "rejected"), ("PM3", "rejected")],
    "r_transactions": [("PM2", "return", "AM04", 2000), ("PM3", "return", "MS02", 3000)],
    "ledger": [("PM1", "SDD", 1000, "Zoë Dupont & Fils"), ("PM2", "RET", -2000, "Zoë Dupont & Fils")],
    "unmatched": [("PM2", "return of a payment that is rejected"), ("PM9", "no payment has this end-to-end id")],
    "moved": {"processed": ["camt054.xml"]},
}


def test_a_plain_file_is_imported_without_parse_camt054(database, tmp_path, monkeypatch):
    monkeypatch.setattr(camt054, "parse_camt054", lambda *args, **kwargs: pytest.fail("read by parse_camt054"))
    assert _imported(database, tmp_path, document(*ENTRIES)) == EXPECTED


def test_a_file_found_not_plain_after_its_first_chunks_is_imported_once_by_parse_camt054(database, tmp_path,
                                                                                         monkeypatch):
    from payments import camt054_import

    monkeypatch.setattr(camt054_import, "CHUNK", 1)
    monkeypatch.setattr(camt054, "BATCH", 1)
    applied, apply = [], camt054_import._Applier.apply
    monkeypatch.setattr(camt054_import._Applier, "apply",
                        lambda self, transactions: applied.append(len(transactions)) or apply(self, transactions))
    # a character reference in a text read: not plain, found at the last entry
    late = ENTRIES[:-1] + [ENTRIES[-1].replace("<CdtDbtInd>DBIT", "<CdtDbtInd>DB&#73;T")]
    assert _imported(database, tmp_path, document(*late)) == EXPECTED
    assert len(applied) == 4 + 5  # four entries applied, rolled back, then the five of parse_camt054


def test_writes_failing_in_their_thread_fail_the_file_and_leave_nothing(infrastructure, tmp_path, monkeypatch):
    from payments import camt054_import

    monkeypatch.setattr(camt054_import, "CHUNK", 1)
    monkeypatch.setattr(camt054, "BATCH", 1)
    calls, copy_in = [], camt054_import.copy_in

    def failing(connection, table, columns, buffer):
        calls.append(table)
        if len(calls) == 2:  # the second chunk's writes, in their thread
            raise RuntimeError("disk full")
        copy_in(connection, table, columns, buffer)
    monkeypatch.setattr(camt054_import, "copy_in", failing)
    with infrastructure.database("debito_camt_plain") as url:
        imported = _imported(url, tmp_path, document(*ENTRIES))
    assert imported["report"] == (0, [("camt054.xml", "disk full")], 0, 0, 0, 0)
    assert imported["payments"] == [("PM1", "submitted"), ("PM2", "paid"), ("PM3", "submitted")]
    assert imported["r_transactions"] == imported["ledger"] == imported["unmatched"] == []
    assert imported["moved"] == {"failed": ["camt054.xml", "camt054.xml.reason.txt"]}


def test_the_import_makes_its_ids_as_common_ids_does():
    import re

    from common.ids import IdMaker, new_id

    ids, before = IdMaker(), new_id("RT")
    made = [ids.new("RT") for _ in range(5000)]
    after = new_id("RT")
    shape = re.compile(r"RT[0-9A-HJKMNP-TV-Z]{22}")
    assert all(shape.fullmatch(i) for i in made) and len(set(made)) == len(made)
    assert before[:12] <= made[0][:12] <= made[-1][:12] <= after[:12]  # the milliseconds' head
    assert len({i[12:] for i in made}) == len(made)  # 60 random bits each
    assert all(len({i[at] for i in made}) == 32 for at in range(12, 24))  # every digit, at every place
    small = IdMaker(batch=3)  # rounded up to 4 (two ids a 15-byte group): refilled twice here
    assert len({small.new("LE") for _ in range(10)}) == 10
