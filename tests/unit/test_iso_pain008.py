import io
import time
import tracemalloc
from datetime import date, datetime, timezone

import pytest
from lxml import etree

from payments.iso20022.pain001 import build_pain001_file, write_pain001
from payments.iso20022.pain008 import build_pain008_file, sepa_text, write_pain008
from payments.iso20022.xsd import InvalidFile, validate, validate_file

NS = {"p": "urn:iso:std:iso:20022:tech:xsd:pain.008.001.02"}
CREDITOR = {"name": "Salle d'escalade Éole", "iban": "FR7630006000011234567890189",
            "bic": "AGRIFRPP", "creditor_id": "FR72ZZZ123456"}
CREATED = datetime(2026, 3, 3, 18, 0, tzinfo=timezone.utc)


def debit(n, amount=1990, **extra):
    return {"end_to_end_id": f"PM{n:06d}-1", "amount": amount, "mandate_reference": f"UMR-{n:06d}",
            "mandate_signed_on": date(2025, 1, 15), "debtor_name": "Zoë Lefèvre",
            "debtor_iban": "FR7630006000010000000040116", "debtor_bic": "BNPAFRPP",
            "remittance": "Abonnement mars", "amendment": None, **extra}


def batch(seq, debits, due=date(2026, 3, 5)):
    return {"payment_info_id": f"PI-{due}-{seq}", "due_date": due, "sequence_type": seq,
            "count": len(debits), "total": sum(d["amount"] for d in debits), "debits": debits}


def four_batches():
    return [
        batch("FRST", [debit(1, 1250, debtor_bic=None),
                       debit(2, 3000, amendment={"original_iban": "FR7630006000010000000040407",
                                                 "original_debtor_agent_smnda": False})]),
        batch("RCUR", [debit(3, 4599, amendment={"original_iban": None,
                                                 "original_debtor_agent_smnda": True}),
                       debit(4, 1)]),
        batch("FNAL", [debit(5, 100000)]),
        batch("OOFF", [debit(6, 777, debtor_name="Ærøskøbing & Søn — Straße 日本")],
              due=date(2026, 3, 6)),
    ]


def written(batches, totals):
    out = io.BytesIO()
    write_pain008(out, message_id="DEBITO-20260303-0001", created_at=CREATED,
                  creditor=CREDITOR, batches=batches, totals=totals)
    return out.getvalue()


def test_pain008_with_every_sequence_type_and_both_amendments_is_xsd_valid():
    xml = written(four_batches(), (6, 1250 + 3000 + 4599 + 1 + 100000 + 777))
    validate(xml, "pain.008.001.02")
    root = etree.fromstring(xml)
    assert root.xpath("//p:PmtInf/p:PmtTpInf/p:SeqTp/text()", namespaces=NS) == [
        "FRST", "RCUR", "FNAL", "OOFF"]
    assert set(root.xpath("//p:LclInstrm/p:Cd/text()", namespaces=NS)) == {"CORE"}
    assert set(root.xpath("//p:ChrgBr/text()", namespaces=NS)) == {"SLEV"}
    assert root.xpath("//p:CdtrSchmeId//p:Prtry/text()", namespaces=NS) == ["SEPA"] * 4
    assert root.xpath("//p:ReqdColltnDt/text()", namespaces=NS)[-1] == "2026-03-06"
    assert root.xpath("//p:AmdmntInd/text()", namespaces=NS) == ["true", "true"]
    assert root.xpath("//p:OrgnlDbtrAcct/p:Id/p:IBAN/text()", namespaces=NS) == [
        "FR7630006000010000000040407"]
    assert root.xpath("//p:OrgnlDbtrAgt/p:FinInstnId/p:Othr/p:Id/text()", namespaces=NS) == ["SMNDA"]


def test_pain008_totals_are_exact_per_file_and_per_block():
    root = etree.fromstring(written(four_batches(), (6, 109627)))
    assert root.findtext("p:CstmrDrctDbtInitn/p:GrpHdr/p:NbOfTxs", namespaces=NS) == "6"
    assert root.findtext("p:CstmrDrctDbtInitn/p:GrpHdr/p:CtrlSum", namespaces=NS) == "1096.27"
    blocks = root.findall("p:CstmrDrctDbtInitn/p:PmtInf", NS)
    assert [(b.findtext("p:NbOfTxs", namespaces=NS), b.findtext("p:CtrlSum", namespaces=NS))
            for b in blocks] == [("2", "42.50"), ("2", "46.00"), ("1", "1000.00"), ("1", "7.77")]
    amounts = root.xpath("//p:InstdAmt/text()", namespaces=NS)
    assert amounts == ["12.50", "30.00", "45.99", "0.01", "1000.00", "7.77"]


def test_pain008_refuses_totals_that_do_not_match_the_debits():
    with pytest.raises(ValueError, match="announced"):
        written(four_batches(), (6, 109628))
    wrong_block = four_batches()
    wrong_block[0]["count"] = 3
    with pytest.raises(ValueError, match="PI-2026-03-05-FRST"):
        written(wrong_block, (7, 109627))


def test_pain008_transliterates_accents_and_marks_a_missing_bic():
    root = etree.fromstring(written(four_batches(), (6, 109627)))
    names = root.xpath("//p:Dbtr/p:Nm/text()", namespaces=NS)
    assert names[0] == "Zoe Lefevre"
    assert names[-1] == "AEroskobing + Son Strasse"
    assert root.findtext(".//p:InitgPty/p:Nm", namespaces=NS) == "Salle d'escalade Eole"
    first = root.find(".//p:DrctDbtTxInf", NS)
    assert first.findtext("p:DbtrAgt/p:FinInstnId/p:Othr/p:Id", namespaces=NS) == "NOTPROVIDED"
    assert first.find("p:DbtrAgt/p:FinInstnId/p:BIC", NS) is None


@pytest.mark.parametrize("value, max_len, expected", [
    ("Zoë Müller-Lefèvre", 70, "Zoe Muller-Lefevre"),
    ("Ça coûte 12€ ! #1", 70, "Ca coute 12 1"),
    ("x" * 200, 140, "x" * 140),
    (None, 70, ""),
    ("Łódź / Øresund (ĐĐ)", 70, "Lodz / Oresund (DD)"),
])
def test_sepa_text_keeps_only_the_sepa_latin_character_set(value, max_len, expected):
    assert sepa_text(value, max_len) == expected


def test_build_pain008_file_is_validated_and_renamed_into_place(tmp_path):
    target = tmp_path / "DEBITO-1.xml"
    assert build_pain008_file(target, message_id="DEBITO-1", created_at=CREATED,
                              creditor=CREDITOR, batches=four_batches(),
                              totals=(6, 109627)) == (6, 109627)
    validate_file(target, "pain.008.001.02")
    assert [p.name for p in tmp_path.iterdir()] == ["DEBITO-1.xml"]


def test_build_pain008_file_leaves_nothing_behind_when_the_file_is_invalid(tmp_path):
    bad = four_batches()
    bad[0]["debits"][0]["end_to_end_id"] = "E" * 36  # Max35Text
    with pytest.raises(InvalidFile, match="EndToEndId"):
        build_pain008_file(tmp_path / "bad.xml", message_id="DEBITO-2", created_at=CREATED,
                           creditor=CREDITOR, batches=bad, totals=(6, 109627))
    assert list(tmp_path.iterdir()) == []


def many_debits(count):
    for n in range(count):
        yield debit(n, 100 + n % 5000, debtor_bic=None if n % 7 == 0 else "BNPAFRPP")


def test_thirty_thousand_debits_stream_in_flat_memory(tmp_path):
    count = 30_000  # enough to show flat memory; bench/ measures 100 000
    total = sum(100 + n % 5000 for n in range(count))
    target = tmp_path / "big.xml"
    tracemalloc.start()
    started = time.perf_counter()
    with open(target, "wb") as out:
        write_pain008(out, message_id="DEBITO-BIG", created_at=CREATED, creditor=CREDITOR,
                      batches=[{"payment_info_id": "PI-BIG", "due_date": date(2026, 3, 5),
                                "sequence_type": "RCUR", "count": count, "total": total,
                                "debits": many_debits(count)}],
                      totals=(count, total))
    seconds = time.perf_counter() - started
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    print(f"\n{count} debits written in {seconds:.2f} s, Python peak {peak / 1e6:.2f} MB, "
          f"{target.stat().st_size / 1e6:.1f} MB on disk")
    assert peak < 2_000_000
    assert seconds < 30
    started = time.perf_counter()
    validate_file(target, "pain.008.001.02")
    print(f"validated against the XSD in {time.perf_counter() - started:.2f} s")


PAIN001_NS = {"p": "urn:iso:std:iso:20022:tech:xsd:pain.001.001.03"}


def test_pain001_payout_is_xsd_valid(tmp_path):
    target = tmp_path / "payout.xml"
    result = build_pain001_file(
        target, message_id="PO-20260310-1", created_at=CREATED,
        debtor={"name": "Debito SAS", "iban": "FR7630006000011234567890189", "bic": "AGRIFRPP"},
        transfers=[{"end_to_end_id": "PO0001", "amount": 125000, "creditor_name": "Salle Éole",
                    "creditor_iban": "FR7630006000010000000060292", "creditor_bic": "BNPAFRPP",
                    "remittance": "Virement Debito mars"},
                   {"end_to_end_id": "PO0002", "amount": 5, "creditor_name": "Café Zoë",
                    "creditor_iban": "DE89370400440532013000", "creditor_bic": None,
                    "remittance": None}],
        execution_date=date(2026, 3, 11))
    assert result == (2, 125005)
    validate(target.read_bytes(), "pain.001.001.03")
    root = etree.parse(str(target)).getroot()
    assert root.findtext(".//p:GrpHdr/p:CtrlSum", namespaces=PAIN001_NS) == "1250.05"
    assert root.xpath("//p:Cdtr/p:Nm/text()", namespaces=PAIN001_NS) == ["Salle Eole", "Cafe Zoe"]


def test_pain001_refuses_an_empty_payout():
    with pytest.raises(ValueError):
        write_pain001(io.BytesIO(), message_id="PO-0", created_at=CREATED,
                      debtor={"name": "D", "iban": "FR7630006000011234567890189", "bic": "AGRIFRPP"},
                      transfers=[], execution_date=date(2026, 3, 11))


def sixty_debits():
    """60 debits over the four sequence types: names and labels with accents, ligatures, '&',
    '<', tabs, 90 characters; no label, no BIC, an 11-character BIC, both amendments."""
    import random

    rng = random.Random(8)
    names = ["Zoë Lefèvre", "O'Brien & Sons <Ltd>", "  spaced   name  ", "Ærøskøbing Straße 日本", "x" * 90,
             "Müller-Lüdenscheidt", "", "Jean\tPaul\nMarie"]
    labels = [None, "", "Abonnement mars", "Facture n°42 & frais <divers>", "y" * 200]
    debits = []
    for n in range(60):
        amendment = rng.choice([None, None, {"original_iban": "FR7630006000010000000040407",
                                             "original_debtor_agent_smnda": rng.random() < 0.5},
                                {"original_iban": None, "original_debtor_agent_smnda": True}])
        debits.append(debit(n, rng.randrange(1, 10**7), debtor_name=rng.choice(names) or "A",
                            remittance=rng.choice(labels), debtor_bic=rng.choice([None, "BNPAFRPP", "AGRIFRPPXXX"]),
                            amendment=amendment))
    batches = [batch(seq, debits[i * 15:(i + 1) * 15], due=date(2026, 3, 5 + i))
               for i, seq in enumerate(("FRST", "RCUR", "FNAL", "OOFF"))]
    return batches, (60, sum(d["amount"] for d in debits))


def test_pain008_text_writer_writes_byte_for_byte_what_lxml_wrote():
    """The file is written as text (one f-string per debit) since it cost 49 µs a debit through
    lxml's xmlfile; tests/fixtures/pain008/sixty_debits.xml is what xmlfile wrote for these
    debits, and it is XSD-valid."""
    from pathlib import Path

    expected = (Path(__file__).parents[1] / "fixtures" / "pain008" / "sixty_debits.xml").read_bytes()
    batches, totals = sixty_debits()
    out = io.BytesIO()
    write_pain008(out, message_id="DEBITO-20260303-0001", created_at=CREATED,
                  creditor=dict(CREDITOR, name="Salle d'escalade Éole & Cie <Lyon>"), batches=batches, totals=totals)
    assert out.getvalue() == expected
    validate(expected, "pain.008.001.02")


def test_pain008_escapes_identifiers_and_refuses_characters_xml_cannot_hold():
    batches = [batch("RCUR", [debit(1, mandate_reference="UMR&<1>")])]
    tree = etree.fromstring(written(batches, (1, 1990)))
    assert tree.findtext(".//p:MndtId", namespaces=NS) == "UMR&<1>"
    with pytest.raises(ValueError):
        written([batch("RCUR", [debit(1, end_to_end_id="PM\x01")])], (1, 1990))
