import io
import re

import pytest
from pypdf import PdfReader

from mandates.pdf import format_iban, render_mandate_pdf

IBAN = "FR7630006000011234567890189"
CREDITOR = {
    "name": "Les Paniers Bio de Fourvière",
    "address": "3 place Bellecour\n69002 Lyon",
    "creditor_id": "FR72ZZZ123456",
}
EVIDENCE = {
    "signed_at": "2026-11-20T10:15:00+00:00",
    "ip": "203.0.113.7",
    "user_agent": "Mozilla/5.0 (X11; Linux x86_64) Firefox/133.0",
    "phone": "+33612345678",
    "order_id": "SO01JX9",
    "document_hash": "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
}


def a_mandate(**changes):
    mandate = {
        "id": "MD01JX",
        "reference": "DBT-20261120-7KQ2M9XA",
        "iban": IBAN,
        "bic": "AGRIFRPPXXX",
        "signature_method": "electronic",
        "signed_at": "2026-11-20T10:15:00+00:00",
        "signed_place": "Lyon",
        "sequence": "recurrent",
        "status": "active",
        "subscriber": {
            "name": "Zoë Dupré-Lefèvre",
            "email": "zoe@example.fr",
            "address": "12 rue de la Révolution\n69003 Lyon\nFrance",
            "customer_reference": "CLI-00042",
        },
        "evidence": dict(EVIDENCE),
    }
    mandate.update(changes)
    return mandate


def text_of(pdf: bytes) -> str:
    reader = PdfReader(io.BytesIO(pdf))
    return "\n".join(page.extract_text() for page in reader.pages)


def compact(text: str) -> str:
    return re.sub(r"\s+", "", text)


def test_the_output_is_a_pdf_of_one_page():
    pdf = render_mandate_pdf(a_mandate(), CREDITOR)

    assert pdf.startswith(b"%PDF-")
    assert len(PdfReader(io.BytesIO(pdf)).pages) == 1


def test_french_mandate_shows_every_field_of_the_sepa_form():
    text = text_of(render_mandate_pdf(a_mandate(), CREDITOR, "fr"))

    for expected in [
        "Mandat de prélèvement SEPA",
        "Référence unique du mandat",
        "DBT-20261120-7KQ2M9XA",
        "Les Paniers Bio de Fourvière",
        "3 place Bellecour",
        "69002 Lyon",
        "Identifiant créancier SEPA",
        "FR72ZZZ123456",
        "Zoë Dupré-Lefèvre",
        "12 rue de la Révolution",
        "69003 Lyon",
        "CLI-00042",
        "FR76 3000 6000 0112 3456 7890 189",
        "AGRIFRPPXXX",
        "☒ Paiement récurrent / répétitif",
        "☐ Paiement ponctuel",
        "Lieu de signature",
        "Lyon",
        "Date de signature",
        "20/11/2026",
        "Signature électronique",
        "Signé électroniquement",
    ]:
        assert expected in text, expected
    assert IBAN in compact(text)


def test_french_mandate_carries_the_authorisation_and_refund_text():
    text = " ".join(text_of(render_mandate_pdf(a_mandate(), CREDITOR, "fr")).split())

    assert (
        "En signant ce formulaire de mandat, vous autorisez (A) "
        "Les Paniers Bio de Fourvière à envoyer des instructions à votre banque"
    ) in text
    assert "conformément aux instructions de Les Paniers Bio de Fourvière" in text
    assert "8 semaines" in text
    assert "13 mois" in text
    assert "prélèvement non autorisé" in text


def test_english_mandate_shows_every_field_and_the_standard_wording():
    mandate = a_mandate(sequence="one_off", signature_method="paper", evidence=None)
    text = text_of(render_mandate_pdf(mandate, CREDITOR, "en"))
    flat = " ".join(text.split())

    for expected in [
        "SEPA Direct Debit Mandate",
        "Unique mandate reference",
        "DBT-20261120-7KQ2M9XA",
        "Les Paniers Bio de Fourvière",
        "3 place Bellecour",
        "SEPA creditor identifier",
        "FR72ZZZ123456",
        "Zoë Dupré-Lefèvre",
        "12 rue de la Révolution",
        "AGRIFRPPXXX",
        "☐ Recurrent payment",
        "☒ One-off payment",
        "Signed at",
        "Lyon",
        "20 November 2026",
        "Signature method",
        "Paper",
    ]:
        assert expected in text, expected
    assert IBAN in compact(text)
    assert (
        "By signing this mandate form, you authorise (A) Les Paniers Bio de "
        "Fourvière to send instructions to your bank to debit your account and "
        "(B) your bank to debit your account in accordance with the instructions "
        "from Les Paniers Bio de Fourvière."
    ) in flat
    assert "you are entitled to a refund from your bank" in flat
    assert "8 weeks" in flat
    assert "13 months" in flat
    assert "unauthorised" in flat
    assert "Signed electronically" not in text


def test_electronic_signature_evidence_is_shown():
    text = text_of(render_mandate_pdf(a_mandate(), CREDITOR, "en"))

    assert "Electronic signature evidence" in text
    for key in ("signed_at", "ip", "phone", "order_id"):
        assert EVIDENCE[key] in text, key
    assert compact(EVIDENCE["user_agent"]) in compact(text)
    assert EVIDENCE["document_hash"] in compact(text)


def test_no_evidence_block_without_evidence():
    text = text_of(render_mandate_pdf(a_mandate(evidence=None), CREDITOR, "fr"))

    assert "Preuve de signature électronique" not in text


def test_accents_and_french_quotes_survive():
    mandate = a_mandate(
        subscriber={
            "name": "Zoë Dupré-Lefèvre",
            "email": "zoe@example.fr",
            "address": "Résidence « Les Tilleuls »\n13 allée Çà-et-Là",
            "customer_reference": "CLI-Œ",
        }
    )
    text = text_of(render_mandate_pdf(mandate, CREDITOR, "fr"))

    assert "Prélèvement".lower() in text.lower()
    assert "Zoë Dupré-Lefèvre" in text
    assert "Résidence « Les Tilleuls »" in text
    assert "13 allée Çà-et-Là" in text
    assert "CLI-Œ" in text


def test_missing_bic_addresses_and_signature_do_not_crash():
    mandate = a_mandate(
        bic=None,
        signed_at=None,
        signed_place=None,
        signature_method="web",
        status="pending_signature",
        evidence={},
        subscriber={"name": "Zoë Dupré-Lefèvre", "email": None, "address": None,
                     "customer_reference": "CLI-00042"},
    )
    creditor = dict(CREDITOR, address=None)

    for lang in ("fr", "en"):
        pdf = render_mandate_pdf(mandate, creditor, lang)
        text = text_of(pdf)
        assert pdf.startswith(b"%PDF-")
        assert "Zoë Dupré-Lefèvre" in text
        assert IBAN in compact(text)
    assert "En attente de signature" in text_of(render_mandate_pdf(mandate, creditor, "fr"))


def test_same_inputs_give_the_same_bytes():
    assert render_mandate_pdf(a_mandate(), CREDITOR) == render_mandate_pdf(a_mandate(), CREDITOR)
    pending = a_mandate(signed_at=None, evidence=None)
    assert render_mandate_pdf(pending, CREDITOR) == render_mandate_pdf(pending, CREDITOR)


def test_unknown_language_is_refused():
    with pytest.raises(ValueError):
        render_mandate_pdf(a_mandate(), CREDITOR, "de")


def test_iban_is_printed_in_groups_of_four():
    assert format_iban("de89 3704 0044 0532013000") == "DE89 3704 0044 0532 0130 00"
