"""Walking the clock through the bank cycle."""
from datetime import timedelta

from common.calendar import add_business_days, previous_business_day


def walk(cluster, due, business_days_after):
    """The days that matter: the pre-notification, D-1, the due date and the
    business days after it (the cycle catches up on skipped days)."""
    days = [due - timedelta(days=14), previous_business_day(due)]
    days += [add_business_days(due, n) for n in range(0, business_days_after + 1)]
    for day in days:
        cluster.debito("collect", "--as-of", day.isoformat())
        cluster.debito("bank", "run", "--as-of", day.isoformat())
    cluster.debito("collect", "--as-of", days[-1].isoformat())
