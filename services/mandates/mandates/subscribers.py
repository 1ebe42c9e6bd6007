"""Subscribers (debtors): creation and search. Plain functions taking a session."""
import unicodedata

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import selectinload

from common import clock
from common.errors import Conflict, NotFound
from common.ids import new_id
from common.database import keyset_page
from mandates.models import Subscriber



def searchable(text):
    """Lower-case without accents: "Émilie" and "EMILIE" both become "emilie"."""
    decomposed = unicodedata.normalize("NFKD", text or "")
    return "".join(c for c in decomposed if not unicodedata.combining(c)).casefold()


def contains(text):
    """A LIKE pattern matching `text` anywhere, its own % and _ taken literally."""
    return f"%{_like_escaped(text)}%"


def starts_with(text):
    """A LIKE pattern matching what begins with `text`, its own % and _ taken literally."""
    return f"{_like_escaped(text)}%"


def _like_escaped(text):
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def create_subscriber(session, merchant_id, data):
    """A new subscriber from SubscriberIn data; Conflict on a taken customer reference."""
    taken = session.scalar(select(Subscriber.id).where(
        Subscriber.merchant_id == merchant_id,
        Subscriber.customer_reference == data["customer_reference"]))
    if taken:
        raise _taken(data["customer_reference"])
    subscriber = Subscriber(
        id=new_id("SB"), merchant_id=merchant_id, customer_reference=data["customer_reference"],
        name=data["name"], email=data.get("email"), phone=data.get("phone"), address=data.get("address"),
        search_text=" ".join(searchable(data.get(k)) for k in ("name", "email", "customer_reference")),
        created_at=clock.now())
    session.add(subscriber)
    try:
        session.flush()
    except IntegrityError:  # a concurrent create with the same reference won the race
        raise _taken(data["customer_reference"]) from None
    return subscriber


def _taken(customer_reference):
    return Conflict(f"customer reference {customer_reference!r} is already used by another subscriber",
                    {"customer_reference": "already used by another subscriber"})


def find_subscriber(session, merchant_id, subscriber_id, with_mandates=False):
    query = select(Subscriber).where(Subscriber.merchant_id == merchant_id, Subscriber.id == subscriber_id)
    if with_mandates:
        query = query.options(selectinload(Subscriber.mandates))
    subscriber = session.scalar(query)
    if subscriber is None:
        raise NotFound(f"no subscriber {subscriber_id}", {"subscriber_id": "not found"})
    return subscriber


def get_subscriber(session, merchant_id, subscriber_id):
    """The subscriber with its mandates (newest first)."""
    return find_subscriber(session, merchant_id, subscriber_id, with_mandates=True)


def list_subscribers(session, merchant_id, filters):
    """A keyset page of subscribers, newest first, filtered by `q` (SubscriberFiltersIn data)."""
    query = select(Subscriber).where(Subscriber.merchant_id == merchant_id)
    if filters.get("q"):
        query = query.where(Subscriber.search_text.like(contains(searchable(filters["q"])), escape="\\"))
    return keyset_page(session, query, Subscriber.id, filters)
