"""Searching subscribers and mandates: accent- and case-insensitive `q`,
customer reference exact or prefix, filters, keyset pages."""
import pytest
from sqlalchemy import select

from common.errors import Invalid
from mandates import mandates, subscribers
from mandates.models import Subscriber
from common.json_pages import page_data
from common.schemas import load
from contracts.mandates import MandateFiltersIn, MandateImportIn, SubscriberFiltersIn

A, B = "MEaaaa", "MEbbbb"
IBAN = "FR7630006000011234567890189"


@pytest.fixture
def session(monkeypatch, db_session):
    monkeypatch.setenv("DEBITO_CLOCK", "2025-06-15T12:00:00+00:00")
    yield db_session("mandates")


def import_(session, customer_reference, name="Jean Martin", email=None, merchant=A, **fields):
    payload = {"subscriber": {"customer_reference": customer_reference, "name": name,
                              "email": email or f"{customer_reference.lower()}@example.org"},
               "iban": IBAN, "signature_method": "phone", "signed_at": "2025-01-10", **fields}
    return mandates.import_mandate(session, merchant, load(MandateImportIn, payload))


def find(session, merchant=A, **filters):
    page = page_data(mandates.list_mandates_json(session, merchant, load(MandateFiltersIn, filters)))
    return [m["customer_reference"] for m in page["items"]]


def find_subscribers(session, merchant=A, **filters):
    page = subscribers.list_subscribers(session, merchant, load(SubscriberFiltersIn, filters))
    return [s.customer_reference for s in page.items]


@pytest.fixture
def book(session):
    import_(session, "C-10", name="Émilie Dupré", email="emilie.dupre@example.fr", signed_at="2025-01-01")
    import_(session, "C-1001", name="Jean Martin", signed_at="2025-02-28T23:30:00Z", reference="REF-1001")
    import_(session, "C-2", name="ÉLODIE Bœuf", signed_at="2025-03-01")
    revoked = import_(session, "D-10", name="Zoé 100% Müller", signed_at="2025-03-15")
    mandates.revoke_mandate(session, A, revoked.id, {})
    import_(session, "C-10", name="Other Merchant", merchant=B)
    return session


def test_q_is_accent_and_case_insensitive_over_name_email_and_reference(book):
    assert find(book, q="emilie") == ["C-10"]
    assert find(book, q="DUPRE") == ["C-10"]
    assert find(book, q="Élodie") == ["C-2"]
    assert find(book, q="muller") == ["D-10"]
    assert find(book, q="example.fr") == ["C-10"]
    assert find(book, q="c-100") == ["C-1001"]
    assert find(book, q="100%") == ["D-10"]  # % is a character, not a wildcard
    assert find_subscribers(book, q="émilie") == ["C-10"]
    assert find_subscribers(book, q="zz") == []


def test_customer_reference_matches_exactly_or_as_a_prefix(book):
    assert sorted(find(book, customer_reference="C-10")) == ["C-10", "C-1001"]
    assert find(book, customer_reference="C-1001") == ["C-1001"]
    assert sorted(find(book, customer_reference="C-")) == ["C-10", "C-1001", "C-2"]
    assert find(book, customer_reference="C-1%") == []
    assert find(book, merchant=B, customer_reference="C-10") == ["C-10"]


def test_reference_status_subscriber_and_signature_dates_filter(book):
    assert find(book, reference="REF-1001") == ["C-1001"]
    assert find(book, reference="REF-100") == []
    assert find(book, status="revoked") == ["D-10"]
    assert sorted(find(book, status="active")) == ["C-10", "C-1001", "C-2"]
    assert sorted(find(book, signed_from="2025-02-28", signed_to="2025-03-01")) == ["C-1001", "C-2"]
    assert find(book, signed_to="2025-01-01") == ["C-10"]
    assert find(book, signed_from="2025-03-15") == ["D-10"]
    subscriber_id = book.scalars(select(Subscriber.id).where(Subscriber.customer_reference == "C-2")).one()
    assert find(book, subscriber_id=subscriber_id) == ["C-2"]


def test_list_items_carry_the_subscriber_reference_and_name(book):
    page = page_data(mandates.list_mandates_json(book, A, load(MandateFiltersIn, {"q": "emilie"})))
    (item,) = page["items"]
    assert (item["customer_reference"], item["name"], item["iban"]) == ("C-10", "Émilie Dupré", IBAN)
    assert page["next_cursor"] is None


def test_keyset_pages_cover_every_mandate_once_newest_first(session):
    imported = [import_(session, f"K-{n}").id for n in range(11)]
    seen, cursor, pages = [], None, 0
    while True:
        filters = {"limit": "4", **({"cursor": cursor} if cursor else {})}
        page = page_data(mandates.list_mandates_json(session, A, load(MandateFiltersIn, filters)))
        seen += [m["id"] for m in page["items"]]
        pages += 1
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert pages == 3 and seen == sorted(imported, reverse=True)
    first = subscribers.list_subscribers(session, A, load(SubscriberFiltersIn, {"limit": 10}))
    rest = subscribers.list_subscribers(session, A, load(SubscriberFiltersIn, {"cursor": first.next_cursor}))
    assert len(first.items) == 10 and len(rest.items) == 1 and rest.next_cursor is None


def test_default_limit_is_50(session):
    for n in range(51):
        import_(session, f"L-{n}")
    page = page_data(mandates.list_mandates_json(session, A, load(MandateFiltersIn, {})))
    assert len(page["items"]) == 50 and page["next_cursor"] == page["items"][-1]["id"]


@pytest.mark.parametrize("filters, field", [
    ({"limit": "0"}, "limit"), ({"limit": "501"}, "limit"), ({"limit": "ten"}, "limit"),
    ({"cursor": "not a cursor"}, "cursor"), ({"cursor": "SB0000"}, "cursor"),
    ({"signed_from": "2025-13-01"}, "signed_from"), ({"signed_to": "yesterday"}, "signed_to"),
    ({"signed_from": "2025-03-01", "signed_to": "2025-02-01"}, "signed_to"),
    ({"status": "happy"}, "status"), ({"colour": "blue"}, "colour"),
])
def test_bad_filters_are_refused_naming_the_field(filters, field):
    with pytest.raises(Invalid) as error:
        load(MandateFiltersIn, filters)
    assert set(error.value.fields) == {field}


def test_subscriber_list_refuses_bad_limit_and_mandate_cursor():
    for filters, field in (({"limit": 1000}, "limit"), ({"cursor": "MD0000"}, "cursor")):
        with pytest.raises(Invalid) as error:
            load(SubscriberFiltersIn, filters)
        assert set(error.value.fields) == {field}
