"""The text of the SEPA Core mandate the debtor is shown and signs, French or
English, and its hash: the evidence keeps the hash of exactly what was shown.
Pure functions: the same inputs give the same text, byte for byte."""
import hashlib

from contracts.signing import LANGS

TEXTS = {
    "fr": {
        "title": "Mandat de prélèvement SEPA",
        "creditor": "Créancier",
        "creditor_id": "Identifiant créancier SEPA (ICS)",
        "debtor": "Débiteur",
        "address": "Adresse",
        "iban": "IBAN",
        "bic": "BIC",
        "payment_type": "Type de paiement",
        "recurrent": "Paiement récurrent / répétitif",
        "one_off": "Paiement ponctuel",
        "authorisation": (
            "En signant ce formulaire de mandat, vous autorisez (A) {creditor} à envoyer des "
            "instructions à votre banque pour débiter votre compte, et (B) votre banque à débiter "
            "votre compte conformément aux instructions de {creditor}."),
        "refund": (
            "Vous bénéficiez du droit d’être remboursé par votre banque selon les conditions "
            "décrites dans la convention que vous avez passée avec elle. Une demande de "
            "remboursement doit être présentée dans les 8 semaines suivant la date de débit de "
            "votre compte pour un prélèvement autorisé, et au plus tard dans les 13 mois en cas de "
            "prélèvement non autorisé."),
        "note": ("Vos droits concernant le présent mandat sont expliqués dans un document que "
                 "vous pouvez obtenir auprès de votre banque."),
    },
    "en": {
        "title": "SEPA Direct Debit Mandate",
        "creditor": "Creditor",
        "creditor_id": "SEPA creditor identifier",
        "debtor": "Debtor",
        "address": "Address",
        "iban": "IBAN",
        "bic": "BIC",
        "payment_type": "Type of payment",
        "recurrent": "Recurrent payment",
        "one_off": "One-off payment",
        "authorisation": (
            "By signing this mandate form, you authorise (A) {creditor} to send instructions to "
            "your bank to debit your account and (B) your bank to debit your account in "
            "accordance with the instructions from {creditor}."),
        "refund": (
            "As part of your rights, you are entitled to a refund from your bank under the terms "
            "and conditions of your agreement with your bank. A refund must be claimed within 8 "
            "weeks starting from the date on which your account was debited for an authorised "
            "payment, and at the latest within 13 months for an unauthorised payment."),
        "note": ("Your rights regarding the above mandate are explained in a statement that you "
                 "can obtain from your bank."),
    },
}


def mandate_text(creditor, debtor, lang="fr", sequence="recurrent"):
    """The mandate as plain text. `creditor` {name, creditor_id, address?};
    `debtor` {name, address?, iban?, bic?} (IBAN and BIC once the debtor gave them)."""
    labels = TEXTS[lang]
    lines = [labels["title"], "",
             f"{labels['creditor']}: {creditor['name']}",
             f"{labels['creditor_id']}: {creditor['creditor_id']}"]
    if creditor.get("address"):
        lines.append(f"{labels['address']}: {_one_line(creditor['address'])}")
    lines += ["", f"{labels['debtor']}: {debtor['name']}"]
    if debtor.get("address"):
        lines.append(f"{labels['address']}: {_one_line(debtor['address'])}")
    if debtor.get("iban"):
        lines.append(f"{labels['iban']}: {debtor['iban']}")
    if debtor.get("bic"):
        lines.append(f"{labels['bic']}: {debtor['bic']}")
    lines += [f"{labels['payment_type']}: {labels[sequence]}", "",
              labels["authorisation"].format(creditor=creditor["name"]), "",
              labels["refund"], "", labels["note"]]
    return "\n".join(lines) + "\n"


def _one_line(text):
    return ", ".join(part.strip() for part in text.splitlines() if part.strip())


def document_hash(text):
    return "sha256:" + hashlib.sha256(text.encode("utf-8")).hexdigest()


MAILS = {
    "fr": {
        "subject": "Signez votre mandat de prélèvement SEPA pour {creditor}",
        "body": ("Bonjour {name},\n\n"
                 "{creditor} vous invite à signer un mandat de prélèvement SEPA. Ouvrez ce lien pour "
                 "lire le mandat, saisir vos coordonnées bancaires et le signer :\n\n{url}\n\n"
                 "Un code à 6 chiffres vous sera envoyé par SMS au {phone} pour confirmer votre "
                 "signature. Le lien est valable jusqu’au {expires} (UTC).\n\n"
                 "Si vous n’attendiez pas ce message, ignorez-le.\n"),
    },
    "en": {
        "subject": "Sign your SEPA Direct Debit mandate for {creditor}",
        "body": ("Hello {name},\n\n"
                 "{creditor} asks you to sign a SEPA Direct Debit mandate. Open this link to read the "
                 "mandate, enter your bank details and sign it:\n\n{url}\n\n"
                 "A 6-digit code will be sent by SMS to {phone} to confirm your signature. The link "
                 "is valid until {expires} (UTC).\n\n"
                 "If you did not expect this message, ignore it.\n"),
    },
}


def link_mail(creditor_name, debtor_name, phone, url, expires_at, lang="fr"):
    """(subject, body) of the mail carrying a signing link; the phone shown masked."""
    texts = MAILS[lang]
    masked = phone[:3] + "•" * max(len(phone) - 5, 0) + phone[-2:]
    values = {"creditor": creditor_name, "name": debtor_name, "url": url, "phone": masked,
              "expires": expires_at.strftime("%Y-%m-%d %H:%M")}
    return texts["subject"].format(**values), texts["body"].format(**values)
