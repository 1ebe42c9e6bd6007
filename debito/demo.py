"""`debito demo`: a merchant with months of history made by the real cycle.

The services refuse to write the past ("not in the past" is checked against
the one clock), so the demo moves the cluster's clock instead: it writes the
day into `DEBITO_CLOCK_FILE` (common/clock.py), which every process of a
`debito run` cluster reads. It stands `months` ago, signs the mandates before
that day, creates the plans and one-off debits, then walks business day by
business day up to today, running the real daily cycle
(`debito.cycle.run_cycle`) and the sandbox bank for each day, replaying part
of the rejects on Fridays and paying out part of the available funds at the
start of each month. At the end the clock file is removed: the cluster is back
on the real time, with the history behind it.

The walk runs the cycle for every merchant of the cluster: it is a tool for a
fresh one-machine install (`make run` runs it on an empty database), not for a
production database.
"""
import random
from contextlib import contextmanager
import sys
import unicodedata
from datetime import timedelta

from common.calendar import is_business_day, next_business_day
from common.json_pages import page_data

FIRST_NAMES = ["Émilie", "Léa", "Chloé", "Zoé", "Inès", "Anaïs", "Hélène", "Céline", "Maëlle", "Noémie",
               "Agnès", "Bérénice", "Joséphine", "Françoise", "Gaëlle", "Loïc", "Jérôme", "Frédéric",
               "Stéphane", "Benoît", "François", "Raphaël", "Théo", "Noël", "Cédric", "Aurélien", "Mathéo",
               "Grégoire", "Étienne", "Hervé", "Jürgen", "Jörg", "Müge", "Søren", "José", "Iñaki", "Begoña",
               "Núria", "Niccolò", "Luca", "Chiara", "Giulia", "Daan", "Sanne", "Bram", "Björn", "Zoë"]
LAST_NAMES = ["Durand", "Lefèvre", "Bénard", "Gérard", "Mercier", "Rousseau", "Fontaine", "Chevalier",
              "Lemaître", "Gauthier", "Dubois", "Faure", "Barbé", "Boucher", "Noël", "Lacroix", "Guérin",
              "Prévost", "Hébert", "Côté", "Théron", "Besançon", "Müller", "Schäfer", "Köhler", "Groß",
              "Weiß", "Peña", "Muñoz", "Ibáñez", "García", "Núñez", "Rossi", "Esposito", "Bianchi",
              "De Luca", "Ferrà", "van der Berg", "de Vries", "Janssen", "Bakker", "d'Aubigné", "Le Gall"]
CITIES = {"FR": ["Lyon", "Paris", "Nantes", "Besançon", "Orléans", "Saint-Étienne", "Aix-en-Provence"],
          "DE": ["München", "Köln", "Düsseldorf", "Berlin"], "ES": ["Córdoba", "Málaga", "Madrid"],
          "IT": ["Torino", "Forlì", "Cantù", "Milano"], "NL": ["Utrecht", "Den Haag", "Amsterdam"]}
STREETS = ["rue des Lilas", "avenue Jean-Jaurès", "place de l'Église", "chemin des Écoliers", "rue Émile-Zola",
           "boulevard Saint-Michel", "impasse des Châtaigniers"]
# country: (weight, bank codes with branch, account code length)
BANKS = {"FR": (55, ["3000600001", "3000400828", "1027807300", "2004101005"], 11),
         "DE": (15, ["37040044", "50010517", "10020030"], 10),
         "ES": (10, ["21000418", "00491500", "01820000"], 10),
         "IT": (10, ["0306909606", "0542811101", "0200801633"], 12),
         "NL": (10, ["ABNA", "INGB", "RABO"], 10)}
# spec §4: what the sandbox bank does with these debtors (share among the subscribers)
SANDBOX_IBANS = ["FR7630006000010000000040116",   # rejected AM04
                 "FR7630006000010000000040407",   # rejected AC04
                 "FR7630006000010000000060195",   # rejected MD01
                 "FR7630006000010000000060389",   # rejected MS03
                 "FR7630006000010000000060292",   # returned MS02
                 "FR7630006000010000000060680",   # refund MD06
                 "FR7630006000010000000070186"]   # AM04, then credited when replayed
SANDBOX_SHARE = 0.08
# a merchant replays a first rejected attempt when the reason leaves hope (AM04, MS03, MS02), never
# a missing mandate or a closed account; 70186 is always replayed (the bank credits it then)
REPLAY_SHARE = {"FR7630006000010000000070186": 1.0, "FR7630006000010000000040116": 0.6,
                "FR7630006000010000000060389": 0.5, "FR7630006000010000000060292": 0.4}
# (frequency, weight, amounts in cents, label)
KINDS = [("monthly", 44, [1990, 2990, 3500, 4500, 5990], "Abonnement mensuel"),
         ("instalments", 8, [12000, 24000, 36000], "Paiement en plusieurs fois"),
         ("weekly", 4, [900, 1200, 1500], "Cours hebdomadaire"),
         ("bimonthly", 8, [5500, 7900], "Forfait bimestriel"),
         ("quarterly", 10, [8900, 12900, 15000], "Cotisation trimestrielle"),
         ("semiannual", 6, [19900, 24900], "Cotisation semestrielle"),
         ("annual", 6, [29900, 42000, 59000], "Adhésion annuelle"),
         ("once", 14, [2500, 4990, 7500, 12000], "Stage ponctuel")]


def add_months(day, months):
    month = day.month - 1 + months
    year, month = day.year + month // 12, month % 12 + 1
    return day.replace(year=year, month=month, day=min(day.day, 28))


def ascii_only(text):
    return unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode().lower()


def generated_iban(rng):
    from schwifty import IBAN

    country = rng.choices(list(BANKS), [w for w, _, _ in BANKS.values()])[0]
    _, banks, length = BANKS[country]
    account = "".join(rng.choice("0123456789") for _ in range(length))
    return country, str(IBAN.generate(country, bank_code=rng.choice(banks), account_code=account))


def people(count, rng, today):
    """`count` mandate imports: realistic names, valid IBANs, a share of sandbox IBANs."""
    sandbox = max(len(SANDBOX_IBANS), round(count * SANDBOX_SHARE)) if count >= 10 else 0
    for n in range(count):
        first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
        if n < sandbox:
            country, iban = "FR", SANDBOX_IBANS[n % len(SANDBOX_IBANS)]
        else:
            country, iban = generated_iban(rng)
        method = rng.choice(["paper", "paper", "web", "phone"])
        city = rng.choice(CITIES[country])
        mail = f"{ascii_only(first)}.{ascii_only(last).replace(' ', '').replace(chr(39), '')}{n}@example.test"
        body = {"subscriber": {"customer_reference": f"CLI-{n + 1:05d}", "name": f"{first} {last}",
                               "email": mail, "phone": f"+336{rng.choice(['12', '20', '31', '45', '62', '78'])}{rng.randrange(10**5, 10**6)}",
                               "address": f"{rng.randrange(1, 120)} {rng.choice(STREETS)}, {city}"},
                "iban": iban, "signature_method": method,
                "signed_at": (today - timedelta(days=rng.randrange(1, 540))).isoformat()}
        if method == "paper":
            body["signed_place"] = city
        yield body


def plan_for(mandate, rng, today, end):
    """(rpc method, payload) of one plan or one-off debit starting between today+15 and `end`."""
    frequency, _, amounts, label = rng.choices(KINDS, [k[1] for k in KINDS])[0]
    span = max((end - today).days - 30, 1)
    start = next_business_day(today + timedelta(days=15 + int(rng.random() ** 1.5 * span)))
    payload = {"mandate_id": mandate["id"], "amount": rng.choice(amounts), "label": label}
    if frequency == "once":
        return "create_one_off", dict(payload, due_date=start.isoformat())
    payload.update(start_date=start.isoformat(), frequency=frequency)
    if frequency == "instalments":
        payload.update(frequency="monthly", count=rng.choice([3, 4, 10]),
                       label=f"{label} ({payload['amount'] // 100} €)")
    elif frequency == "weekly":
        payload["end_date"] = end.isoformat()
    elif frequency == "monthly" and rng.random() < 0.3:
        payload["day_of_month"] = rng.choice([1, 5, 10, 15, -1])
    return "create_plan", payload


def in_batches(calls, size=16):
    """Run (callable_async, args) pairs pipelined `size` at a time; yields (args, result or error)."""
    for start in range(0, len(calls), size):
        pending = [(args, method.call_async(*args)) for method, args in calls[start:start + size]]
        for args, reply in pending:
            try:
                yield args, reply.result()
            except Exception as error:  # noqa: BLE001 - reported, the demo goes on
                yield args, error


def all_payments(cluster, merchant_id, status):
    items, cursor = [], None
    while True:
        filters = {"status": status, "limit": 500, **({"cursor": cursor} if cursor else {})}
        page = page_data(cluster.payments.list_payments_json(merchant_id, filters))
        items += page["items"]
        cursor = page.get("next_cursor")
        if not cursor:
            return items


class ClockNotShared(RuntimeError):
    pass


SERVICES = ("mandates", "plans", "payments", "reporting", "signing")


def check_clock_shared(cluster, day, wait=120):
    """Each service reads `day` (waiting for those still starting, as under `debito run`)."""
    import time

    from nameko.exceptions import UnknownService

    deadline = time.monotonic() + wait
    for name in SERVICES:
        while True:
            try:
                seen = getattr(cluster, name).ping()
                break
            except UnknownService:
                if time.monotonic() > deadline:
                    raise
                time.sleep(1)
        if seen.get("today") != day.isoformat():
            raise ClockNotShared(
                f"the {name} service reads {seen.get('today')} instead of {day}: the services must read the "
                f"same DEBITO_CLOCK_FILE as the demo (start them with `debito run`, which sets it)")


def first_friday(day):
    return day.weekday() == 4 and day.day <= 7


@contextmanager
def past_clock(cluster, months):
    """The cluster stands `months` ago meanwhile; yields (that day, today). The clock is
    given back to the real time at the end, even on failure."""
    from common import clock

    today = clock.today()
    start = add_months(today, -months)
    clock.set_clock(start)
    try:
        check_clock_shared(cluster, start)
        yield start, today
    finally:
        clock.set_clock(None)


def build_history(cluster, merchant_id, subscribers, start, today, seed=None, log=None):
    """Mandates signed before `start`, plans since, the real cycle walked up to `today`
    (inside `past_clock`)."""
    return _walk(cluster, merchant_id, subscribers, start, today, random.Random(seed),
                 log or (lambda line: print(line, file=sys.stderr, flush=True)))


def _walk(cluster, merchant_id, subscribers, start, today, rng, log):
    from common import clock
    from debito.cycle import run_cycle
    from sandbox_bank import inbox_dir, outbox_dir, state_file
    from sandbox_bank.bank import run as bank_answer

    counts = {"subscribers": 0, "plans": 0, "one_off_debits": 0, "replays": 0, "payouts": 0, "errors": 0}
    mandates = []
    for _, result in in_batches([(cluster.mandates.import_mandate, (merchant_id, body))
                                 for body in people(subscribers, rng, start)]):
        if isinstance(result, Exception):
            counts["errors"] += 1
            log(f"demo: mandate not imported: {result}")
        else:
            mandates.append(result)
    counts["subscribers"] = len(mandates)
    calls = []
    horizon = today + timedelta(days=60)  # some plans start after today: upcoming debits
    for mandate in mandates:
        for _ in range(1 if rng.random() < 0.85 else 2):
            method, payload = plan_for(mandate, rng, start, horizon)
            calls.append((getattr(cluster.plans, method), (merchant_id, payload)))
    for args, result in in_batches(calls):
        if isinstance(result, Exception):
            counts["errors"] += 1
            log(f"demo: plan not created: {result}")
        else:
            counts["plans" if result.get("frequency") != "once" else "one_off_debits"] += 1
    log(f"demo: {counts['subscribers']} subscribers, {counts['plans']} plans and "
        f"{counts['one_off_debits']} one-off debits; walking {start} → {today}")

    outbox, inbox, state = outbox_dir(), inbox_dir(), state_file()
    tried = set()
    week = {"scheduled": 0, "submitted": 0, "paid": 0, "rejected": 0}
    day = start
    while day <= today:
        clock.set_clock(day)
        if is_business_day(day):
            step = run_cycle(cluster, day)["payments.collect"]
            bank_answer(day, outbox, inbox, state)
            for key in week:
                week[key] += step.get(key, 0) or 0
        if day.weekday() == 4:  # Friday: replay part of the week's rejects, report the week
            counts["replays"] += _replay_some(cluster, merchant_id, day, tried, rng)
            log(f"demo: week to {day}: " + ", ".join(f"{v} {k}" for k, v in week.items())
                + f", {counts['replays']} replays so far")
            week = dict.fromkeys(week, 0)
        if first_friday(day):
            counts["payouts"] += _pay_out_some(cluster, merchant_id, log)
        day += timedelta(days=1)
    counts["history_from"], counts["history_to"] = start.isoformat(), today.isoformat()
    counts["balance_at_end"] = cluster.payments.get_balance(merchant_id, today.isoformat())
    return counts


def _replay_some(cluster, merchant_id, day, tried, rng):
    replays = 0
    for payment in all_payments(cluster, merchant_id, "rejected"):
        if payment["id"] in tried:
            continue
        tried.add(payment["id"])
        if payment.get("attempt", 1) > 1 or rng.random() >= REPLAY_SHARE.get(payment["iban"], 0):
            continue
        due = next_business_day(day + timedelta(days=16 + rng.randrange(0, 10)))
        try:
            cluster.payments.replay_payment(merchant_id, payment["id"], {"due_date": due.isoformat()})
            replays += 1
        except Exception:  # noqa: BLE001 - mandate revoked, already retried: not replayable
            pass
    return replays


def _pay_out_some(cluster, merchant_id, log):
    """A merchant moves most of what is available to its own account once a month."""
    available = cluster.payments.get_balance(merchant_id)["available"]
    amount = available * 8 // 10 // 100 * 100  # whole euros
    if amount < 10000:
        return 0
    cluster.payments.request_payout(merchant_id, {"amount": amount})
    log(f"demo: payout of {amount / 100:.2f} EUR")
    return 1
