"""The ISO reason codes of R-transactions (spec §3): what the merchant reads
beside the code, in English and French, and whether a replay may succeed."""
from contracts.payments import REASONS, UNKNOWN, Reason, reason  # noqa: F401 - the answers' table


def r_transaction_type(source, code):
    """The R-transaction type of an entry: a pain.002 reject arrives before settlement,
    a camt.054 debit after it (MD06 is the debtor's refund claim)."""
    if source == "pain.002":
        return "reject"
    if (code or "").upper() == "MD06":
        return "refund"
    return "return"
