"""The SEPA Core mandate as a one-page A4 PDF, in French or English.

Shows every field of the EPC mandate form (SDD Core rulebook, annex on the
mandate): UMR, creditor name, address and identifier, debtor name, address,
IBAN and BIC, payment type, place and date of signature, the authorisation
and refund text; plus the signature method and, for an electronic signature,
its evidence. Pure function: the same inputs give the same bytes.
"""
from datetime import datetime, timezone
from pathlib import Path

from fpdf import FPDF
from fpdf.enums import XPos, YPos

# DejaVu Sans ships beside this module (fonts/LICENSE-DejaVu.txt): the PDF core
# fonts are Latin-1 only, and a system font may be missing in a container.
FONTS = Path(__file__).parent / "fonts"
FONT = "DejaVu"

LABELS = {
    "fr": {
        "title": "Mandat de prélèvement SEPA",
        "umr": "Référence unique du mandat (RUM)",
        "umr_line": "Référence unique du mandat (RUM)\u00a0: {umr}",
        "creditor": "Créancier",
        "debtor": "Débiteur",
        "mandate": "Mandat",
        "signature": "Signature",
        "name": "Nom",
        "address": "Adresse",
        "creditor_id": "Identifiant créancier SEPA (ICS)",
        "customer_reference": "Référence client",
        "iban": "IBAN",
        "bic": "BIC",
        "payment_type": "Type de paiement",
        "recurrent": "Paiement récurrent / répétitif",
        "one_off": "Paiement ponctuel",
        "status": "Statut",
        "signed_place": "Lieu de signature",
        "signed_date": "Date de signature",
        "signature_method": "Mode de signature",
        "signature_box": "Signature du débiteur",
        "signed_electronically": "Signé électroniquement",
        "evidence": "Preuve de signature électronique",
        "evidence_signed_at": "Horodatage",
        "evidence_ip": "Adresse IP",
        "evidence_user_agent": "Navigateur",
        "evidence_phone": "Téléphone",
        "evidence_order_id": "Ordre de signature",
        "evidence_document_hash": "Empreinte du document",
        "methods": {
            "electronic": "Signature électronique",
            "paper": "Papier",
            "phone": "Téléphone",
            "web": "Formulaire web",
        },
        "statuses": {
            "pending_signature": "En attente de signature",
            "active": "Actif",
            "revoked": "Révoqué",
            "expired": "Expiré",
            "failed": "Échec",
        },
        "authorisation": (
            "En signant ce formulaire de mandat, vous autorisez (A) {creditor} "
            "à envoyer des instructions à votre banque pour débiter votre "
            "compte, et (B) votre banque à débiter votre compte conformément "
            "aux instructions de {creditor}. Vous bénéficiez du droit d’être "
            "remboursé par votre banque selon les conditions décrites dans la "
            "convention que vous avez passée avec elle. Une demande de "
            "remboursement doit être présentée dans les 8 semaines suivant la "
            "date de débit de votre compte pour un prélèvement autorisé, et au "
            "plus tard dans les 13 mois en cas de prélèvement non autorisé."
        ),
        "note": (
            "Note\u00a0: vos droits concernant le présent mandat sont expliqués "
            "dans un document que vous pouvez obtenir auprès de votre banque."
        ),
        "months": None,
    },
    "en": {
        "title": "SEPA Direct Debit Mandate",
        "umr": "Unique mandate reference (UMR)",
        "umr_line": "Unique mandate reference (UMR): {umr}",
        "creditor": "Creditor",
        "debtor": "Debtor",
        "mandate": "Mandate",
        "signature": "Signature",
        "name": "Name",
        "address": "Address",
        "creditor_id": "SEPA creditor identifier",
        "customer_reference": "Customer reference",
        "iban": "IBAN",
        "bic": "BIC",
        "payment_type": "Type of payment",
        "recurrent": "Recurrent payment",
        "one_off": "One-off payment",
        "status": "Status",
        "signed_place": "Signed at",
        "signed_date": "Date of signature",
        "signature_method": "Signature method",
        "signature_box": "Signature of the debtor",
        "signed_electronically": "Signed electronically",
        "evidence": "Electronic signature evidence",
        "evidence_signed_at": "Timestamp",
        "evidence_ip": "IP address",
        "evidence_user_agent": "User agent",
        "evidence_phone": "Phone",
        "evidence_order_id": "Signature order",
        "evidence_document_hash": "Document hash",
        "methods": {
            "electronic": "Electronic signature",
            "paper": "Paper",
            "phone": "Phone",
            "web": "Web form",
        },
        "statuses": {
            "pending_signature": "Awaiting signature",
            "active": "Active",
            "revoked": "Revoked",
            "expired": "Expired",
            "failed": "Failed",
        },
        "authorisation": (
            "By signing this mandate form, you authorise (A) {creditor} to send "
            "instructions to your bank to debit your account and (B) your bank "
            "to debit your account in accordance with the instructions from "
            "{creditor}. As part of your rights, you are entitled to a refund "
            "from your bank under the terms and conditions of your agreement "
            "with your bank. A refund must be claimed within 8 weeks starting "
            "from the date on which your account was debited for an authorised "
            "debit, and no later than 13 months for an unauthorised debit."
        ),
        "note": (
            "Note: Your rights regarding the above mandate are explained in a "
            "statement that you can obtain from your bank."
        ),
        "months": (
            "January", "February", "March", "April", "May", "June", "July",
            "August", "September", "October", "November", "December",
        ),
    },
}

EVIDENCE_FIELDS = ("signed_at", "ip", "user_agent", "phone", "order_id", "document_hash")
EMPTY = "—"
LABEL_WIDTH = 60
LINE = 5
SIGNATURE_BOX = (64, 22)  # width, height in mm
GREY = (95, 95, 95)
RULE = (190, 190, 190)
INK = (20, 20, 20)
# A pending mandate has no date of its own; a fixed one keeps the bytes stable.
UNSIGNED_CREATION_DATE = datetime(2000, 1, 1, tzinfo=timezone.utc)


def render_mandate_pdf(mandate: dict, creditor: dict, lang: str = "fr") -> bytes:
    """The mandate form as PDF bytes; `lang` is "fr" or "en"."""
    labels = LABELS.get(lang)
    if labels is None:
        raise ValueError(f"unsupported language: {lang!r}")
    subscriber = mandate.get("subscriber") or {}
    signed_at = _parse_instant(mandate.get("signed_at"))

    pdf = FPDF(format="A4", unit="mm")
    pdf.set_margins(18, 16, 18)
    pdf.set_auto_page_break(True, margin=16)
    pdf.set_creation_date(signed_at or UNSIGNED_CREATION_DATE)
    pdf.set_title(f"{labels['title']} {mandate['reference']}")
    pdf.set_author(creditor["name"])
    pdf.set_creator("Debito")
    pdf.add_font(FONT, "", FONTS / "DejaVuSans.ttf")
    pdf.add_font(FONT, "B", FONTS / "DejaVuSans-Bold.ttf")
    pdf.add_page()

    pdf.set_text_color(*INK)
    pdf.set_font(FONT, "B", 17)
    pdf.cell(0, 9, labels["title"], new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.set_font(FONT, "", 10)
    pdf.cell(0, 6, labels["umr_line"].format(umr=mandate["reference"]),
             new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.ln(2)

    pdf.set_font(FONT, "", 9)
    pdf.multi_cell(0, 4.4, labels["authorisation"].format(creditor=creditor["name"]),
                   align="L", new_x=XPos.LMARGIN, new_y=YPos.NEXT)

    _section(pdf, labels["creditor"])
    _field(pdf, labels["name"], creditor["name"])
    _field(pdf, labels["address"], creditor.get("address"))
    _field(pdf, labels["creditor_id"], creditor["creditor_id"])

    _section(pdf, labels["debtor"])
    _field(pdf, labels["name"], subscriber.get("name"))
    _field(pdf, labels["address"], subscriber.get("address"))
    _field(pdf, labels["customer_reference"], subscriber.get("customer_reference"))
    _field(pdf, labels["iban"], format_iban(mandate["iban"]))
    _field(pdf, labels["bic"], mandate.get("bic"))

    _section(pdf, labels["mandate"])
    _field(pdf, labels["umr"], mandate["reference"])
    _field(pdf, labels["payment_type"], _payment_type(labels, mandate.get("sequence")))
    status = mandate.get("status")
    _field(pdf, labels["status"], labels["statuses"].get(status, status))

    _section(pdf, labels["signature"])
    method = mandate.get("signature_method")
    top = pdf.get_y()
    # The fields stop short of the signature box drawn on their right.
    width = pdf.epw - LABEL_WIDTH - SIGNATURE_BOX[0] - 4
    _field(pdf, labels["signed_place"], mandate.get("signed_place"), width=width)
    _field(pdf, labels["signed_date"], _format_date(signed_at, labels), width=width)
    _field(pdf, labels["signature_method"], labels["methods"].get(method, method),
           width=width)
    bottom = pdf.get_y()
    _signature_box(pdf, labels, top, method == "electronic" and signed_at is not None)
    pdf.set_y(max(bottom, top + SIGNATURE_BOX[1]))

    evidence = {k: v for k, v in (mandate.get("evidence") or {}).items() if v}
    if "ip_address" in evidence:  # the signing service's name for it
        evidence.setdefault("ip", evidence.pop("ip_address"))
    if any(key in evidence for key in EVIDENCE_FIELDS):
        _section(pdf, labels["evidence"])
        for key in EVIDENCE_FIELDS:
            if key in evidence:
                _field(pdf, labels[f"evidence_{key}"], evidence[key], size=8, line=4)

    pdf.ln(4)
    pdf.set_font(FONT, "", 8)
    pdf.set_text_color(*GREY)
    pdf.multi_cell(0, 4, labels["note"], align="L", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    return bytes(pdf.output())


def format_iban(iban: str) -> str:
    """The IBAN in groups of four, as printed on paper (EPC342-08)."""
    compact = "".join(iban.split()).upper()
    return " ".join(compact[i : i + 4] for i in range(0, len(compact), 4))


def _parse_instant(value):
    if not value:
        return None
    if isinstance(value, datetime):
        instant = value
    else:
        instant = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    return instant if instant.tzinfo else instant.replace(tzinfo=timezone.utc)


def _format_date(instant, labels) -> str | None:
    if instant is None:
        return None
    if labels["months"] is None:
        return f"{instant:%d/%m/%Y}"
    return f"{instant.day} {labels['months'][instant.month - 1]} {instant.year}"


def _payment_type(labels, sequence) -> str:
    # Both boxes are printed, the chosen one ticked, as on the EPC form.
    def box(option):
        return f"{'☒' if sequence == option else '☐'} {labels[option]}"

    return f"{box('recurrent')}     {box('one_off')}"


def _section(pdf: FPDF, title: str) -> None:
    pdf.ln(3)
    pdf.set_font(FONT, "B", 11)
    pdf.set_text_color(*INK)
    pdf.cell(0, 6.5, title, new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.set_draw_color(*RULE)
    pdf.line(pdf.l_margin, pdf.get_y(), pdf.w - pdf.r_margin, pdf.get_y())
    pdf.ln(1.5)


def _field(pdf: FPDF, label: str, value, size: float = 10, line: float = LINE,
           width: float = 0) -> None:
    text = str(value).strip() if value not in (None, "") else EMPTY
    pdf.set_font(FONT, "", size - 1)
    pdf.set_text_color(*GREY)
    pdf.cell(LABEL_WIDTH, line, label)
    pdf.set_font(FONT, "", size)
    pdf.set_text_color(*INK)
    pdf.multi_cell(width, line, text, align="L", new_x=XPos.LMARGIN, new_y=YPos.NEXT)


def _signature_box(pdf: FPDF, labels, top: float, signed_electronically: bool) -> None:
    width, height = SIGNATURE_BOX
    left = pdf.w - pdf.r_margin - width
    pdf.set_draw_color(*RULE)
    pdf.rect(left, top, width, height)
    pdf.set_xy(left + 2, top + 1.5)
    pdf.set_font(FONT, "", 8)
    pdf.set_text_color(*GREY)
    pdf.cell(width - 4, 4, labels["signature_box"])
    if signed_electronically:
        pdf.set_xy(left + 2, top + height / 2)
        pdf.set_font(FONT, "B", 10)
        pdf.set_text_color(*INK)
        pdf.cell(width - 4, 6, labels["signed_electronically"])
