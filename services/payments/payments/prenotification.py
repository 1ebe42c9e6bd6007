"""The pre-notification the debtor receives before each debit (spec §3):
amount, due date, mandate reference (UMR), creditor identifier and name."""
from common.mail import send_mail
from common.money import format_amount


def prenotification(payment, creditor):
    """(subject, body) of the mail announcing `payment`."""
    creditor_name = creditor.name if creditor else payment.merchant_id
    creditor_id = creditor.creditor_id if creditor else ""
    amount = f"{format_amount(payment.amount)} {payment.currency}"
    due = payment.due_date.strftime("%d/%m/%Y")
    subject = f"{creditor_name} : prélèvement SEPA de {amount} le {due} / SEPA direct debit notice"
    body = "\n".join([
        f"Bonjour {payment.debtor_name},",
        "",
        f"{creditor_name} prélèvera {amount} sur votre compte le {due} ({payment.label or ''}).",
        f"Référence unique du mandat (RUM) : {payment.mandate_reference}",
        f"Identifiant créancier SEPA (ICS) : {creditor_id}",
        f"Créancier : {creditor_name}",
        "",
        f"Hello {payment.debtor_name},",
        "",
        f"{creditor_name} will debit {format_amount(payment.amount, '.')} {payment.currency} from your "
        f"account on {payment.due_date.isoformat()} ({payment.label or ''}).",
        f"Mandate reference (UMR): {payment.mandate_reference}",
        f"Creditor identifier: {creditor_id}",
        f"Creditor: {creditor_name}",
    ])
    return subject, body


def send_prenotification(payment, creditor):
    """Mail the debtor, if the mandate's subscriber has an email address."""
    if not payment.debtor_email:
        return None
    subject, body = prenotification(payment, creditor)
    return send_mail(payment.debtor_email, subject, body)
