"""The ISO reason codes of R-transactions (spec §3): what the merchant reads
beside the code, in English and French, and whether a replay may succeed."""
from collections import namedtuple

Reason = namedtuple("Reason", "en fr retryable")

REASONS = {
    "AM04": Reason("insufficient funds", "provision insuffisante", True),
    "MS03": Reason("reason not specified", "raison non communiquée", True),
    "AC01": Reason("account identifier incorrect", "identifiant de compte incorrect", False),
    "AC04": Reason("account closed", "compte clôturé", False),
    "AC06": Reason("account blocked", "compte bloqué", False),
    "AG01": Reason("direct debit forbidden on this account", "prélèvement interdit sur ce compte", False),
    "AM05": Reason("duplicate collection", "prélèvement en double", False),
    "MD01": Reason("no valid mandate", "pas de mandat valide", False),
    "MD02": Reason("mandate data missing or incorrect", "données du mandat absentes ou incorrectes", False),
    "MD06": Reason("refund requested by debtor", "remboursement demandé par le débiteur", False),
    "MD07": Reason("debtor deceased", "débiteur décédé", False),
    "MS02": Reason("refused by debtor", "refusé par le débiteur", False),
    "SL01": Reason("specific service offered by debtor bank", "service spécifique de la banque du débiteur",
                   False),
    "BE05": Reason("creditor identifier incorrect", "identifiant créancier incorrect", False),
    "FF01": Reason("file format invalid", "format de fichier invalide", False),
    **{f"RR0{n}": Reason("regulatory reason", "raison réglementaire", False) for n in range(1, 5)},
}
UNKNOWN = Reason("reason code unknown to Debito", "code motif inconnu de Debito", False)


def reason(code):
    """The Reason of `code`; an unknown code is shown as such and never retried."""
    return REASONS.get((code or "").upper(), UNKNOWN)
