"""The rules of the mandates service, as plain functions on a PostgreSQL
session rolled back after each test: import, UMR, subscribers, scans, amendments, revocation,
tenancy and the 36-month dormancy."""
import base64
import itertools
from datetime import date

import pytest
from schwifty import IBAN

from common.errors import Conflict, Invalid, Malformed, NotFound
from mandates import mandates, subscribers
from common.schemas import load
from contracts.mandates import BankDetailsIn, MandateDetailOut, MandateImportIn, RevokeIn, SubscriberIn

A, B = "MEaaaa", "MEbbbb"
IBAN_FR = "FR7630006000011234567890189"  # Crédit Agricole, AGRIFRPPXXX
IBAN_DE = "DE89370400440532013000"        # Commerzbank, COBADEFFXXX
PDF = b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj<<>>endobj\n"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 32
JPEG = b"\xff\xd8\xff\xe0" + b"\x00" * 32
_refs = itertools.count(1)


@pytest.fixture
def session(monkeypatch, db_session):
    monkeypatch.setenv("DEBITO_CLOCK", "2025-06-15T12:00:00+00:00")
    yield db_session("mandates")


def subscriber_payload(**fields):
    return {"customer_reference": f"C-{next(_refs)}", "name": "Émilie Durand",
            "email": "emilie@example.org", **fields}


def import_(session, merchant=A, **fields):
    payload = {"subscriber": subscriber_payload(), "iban": IBAN_FR, "signature_method": "paper",
               "signed_at": "2025-01-10", "signed_place": "Lyon", **fields}
    if "subscriber_id" in fields and "subscriber" not in fields:
        del payload["subscriber"]
    return mandates.import_mandate(session, merchant, load(MandateImportIn, payload))


def invalid_field(error):
    return set(error.value.fields)


def b64(content):
    return base64.b64encode(content).decode()


# --- import ----------------------------------------------------------------

def test_imported_mandate_is_active_with_the_bic_derived_from_the_iban(session):
    mandate = import_(session)
    assert mandate.status == "active" and mandate.id.startswith("MD")
    assert mandate.bic == "AGRIFRPPXXX"
    assert mandate.sequence == "recurrent"
    assert mandate.subscriber.id.startswith("SB")
    dumped = MandateDetailOut().dump(mandate)
    assert dumped["signed_at"] == "2025-01-10T00:00:00+00:00"
    assert dumped["subscriber"]["name"] == "Émilie Durand" and dumped["amendments"] == []
    assert dumped["has_scan"] is False


def test_given_bic_is_validated_and_kept(session):
    assert import_(session, bic="cobadeffxxx").bic == "COBADEFFXXX"
    with pytest.raises(Invalid) as error:
        import_(session, bic="COBA")
    assert invalid_field(error) == {"bic"}


@pytest.mark.parametrize("iban", ["FR7630006000011234567890188", "FR76300060000112345678901", "XX12345",
                                  "US64SVBKUS6S3300958879"])
def test_bad_iban_is_refused_naming_iban(session, iban):
    with pytest.raises(Invalid) as error:
        import_(session, iban=iban)
    assert invalid_field(error) == {"iban"}


def test_reference_is_generated_when_absent_and_readable(session):
    first, second = import_(session), import_(session)
    assert first.reference.startswith("DBT-20250615-") and len(first.reference) == 23
    assert first.reference != second.reference


@pytest.mark.parametrize("reference", ["X" * 36, "REF_1", "RÉF-1", "/REF", "A//B"])
def test_reference_outside_the_sepa_rules_is_refused(session, reference):
    with pytest.raises(Invalid) as error:
        import_(session, reference=reference)
    assert invalid_field(error) == {"reference"}


def test_reference_is_unique_per_merchant(session):
    import_(session, reference="ACME-0001")
    with pytest.raises(Conflict) as error:
        import_(session, reference="ACME-0001")
    assert set(error.value.fields) == {"reference"}
    assert import_(session, merchant=B, reference="ACME-0001").merchant_id == B


def test_only_paper_phone_and_web_mandates_can_be_imported(session):
    with pytest.raises(Invalid) as error:
        import_(session, signature_method="electronic")
    assert invalid_field(error) == {"signature_method"}
    assert import_(session, signature_method="phone", signed_place=None).signed_place is None


def test_a_paper_mandate_needs_its_place_of_signature(session):
    with pytest.raises(Invalid) as error:
        import_(session, signed_place=None)
    assert invalid_field(error) == {"signed_place"}


@pytest.mark.parametrize("signed_at", ["2025-06-16", "2025-06-15T13:00:00Z", "2025-06-15T14:30:00+01:00"])
def test_signature_in_the_future_is_refused(session, signed_at):
    with pytest.raises(Invalid) as error:
        import_(session, signed_at=signed_at)
    assert invalid_field(error) == {"signed_at"}


def test_signature_today_or_earlier_is_accepted(session):
    assert import_(session, signed_at="2025-06-15").signed_at.date() == date(2025, 6, 15)
    assert import_(session, signed_at="2025-06-15T13:00:00+02:00").signed_at.hour == 11


def test_bad_signature_date_and_unknown_fields_are_named(session):
    with pytest.raises(Invalid) as error:
        import_(session, signed_at="15/06/2025")
    assert invalid_field(error) == {"signed_at"}
    with pytest.raises(Invalid) as error:
        import_(session, colour="blue")
    assert invalid_field(error) == {"colour"}
    with pytest.raises(Malformed):
        load(MandateImportIn, ["not", "an", "object"])


def test_the_subscriber_is_given_either_by_id_or_inline(session):
    first = import_(session)
    second = import_(session, subscriber_id=first.subscriber_id)
    assert second.subscriber_id == first.subscriber_id
    with pytest.raises(NotFound):
        import_(session, subscriber_id="SBNOPE")
    with pytest.raises(Invalid) as error:
        import_(session, subscriber_id=first.subscriber_id, subscriber=subscriber_payload())
    assert invalid_field(error) == {"subscriber_id"}


def test_inline_subscriber_errors_are_nested_under_subscriber(session):
    with pytest.raises(Invalid) as error:
        import_(session, subscriber=subscriber_payload(email="not-an-email"))
    assert set(error.value.fields["subscriber"]) == {"email"}
    import_(session, subscriber=subscriber_payload(customer_reference="C-DUP"))
    with pytest.raises(Conflict) as error:
        import_(session, subscriber=subscriber_payload(customer_reference="C-DUP"))
    assert error.value.fields == {"subscriber": {"customer_reference": "already used by another subscriber"}}


# --- scans -----------------------------------------------------------------

@pytest.mark.parametrize("content, content_type", [(PDF, "application/pdf"), (PNG, "image/png"),
                                                   (JPEG, "image/jpeg")])
def test_scan_type_is_sniffed_from_its_bytes(session, content, content_type):
    mandate = import_(session, scan={"filename": "scan.bin", "content_base64": b64(content)})
    assert mandate.has_scan and mandate.scan_content_type == content_type
    found, stored = mandates.get_scan(session, A, mandate.id)
    assert stored == content and found.scan_filename == "scan.bin"


@pytest.mark.parametrize("content", [b"GIF89a" + b"\x00" * 10, b"just text %PDF-", b""])
def test_scan_that_is_not_a_pdf_png_or_jpeg_is_refused(session, content):
    with pytest.raises(Invalid) as error:
        import_(session, scan={"filename": "scan.pdf", "content_base64": b64(content)})
    assert invalid_field(error) == {"scan"}


def test_scan_over_10_mb_or_not_base64_is_refused(session):
    at_limit = PDF + b"\x00" * (10 * 1024 * 1024 - len(PDF))
    assert import_(session, scan={"filename": "a.pdf", "content_base64": b64(at_limit)}).has_scan
    for scan in ({"filename": "a.pdf", "content_base64": b64(at_limit + b"\x00")},
                 {"filename": "a.pdf", "content_base64": "%%%not base64"},
                 {"filename": "a.pdf"}):
        with pytest.raises(Invalid) as error:
            import_(session, scan=scan)
        assert invalid_field(error) == {"scan"}


def test_mandate_without_scan_has_none_to_download(session):
    with pytest.raises(NotFound):
        mandates.get_scan(session, A, import_(session).id)


# --- subscribers -----------------------------------------------------------

def test_subscriber_phone_is_stored_in_e164(session):
    subscriber = subscribers.create_subscriber(
        session, A, load(SubscriberIn, subscriber_payload(phone="+33 6 12 34 56 78", address=None)))
    assert subscriber.phone == "+33612345678" and subscriber.address is None
    with pytest.raises(Invalid) as error:
        load(SubscriberIn, subscriber_payload(phone="06 12 34 56 78"))
    assert invalid_field(error) == {"phone"}


def test_customer_reference_is_unique_per_merchant(session):
    subscribers.create_subscriber(session, A, load(SubscriberIn, subscriber_payload(customer_reference="C-1")))
    with pytest.raises(Conflict) as error:
        subscribers.create_subscriber(session, A, load(SubscriberIn, subscriber_payload(customer_reference="C-1")))
    assert set(error.value.fields) == {"customer_reference"}
    subscribers.create_subscriber(session, B, load(SubscriberIn, subscriber_payload(customer_reference="C-1")))


def test_subscriber_needs_reference_and_name_and_a_valid_email_if_any(session):
    with pytest.raises(Invalid) as error:
        load(SubscriberIn, {"name": "  "})
    assert invalid_field(error) == {"customer_reference", "name"}
    with pytest.raises(Invalid) as error:
        load(SubscriberIn, subscriber_payload(email="nope"))
    assert invalid_field(error) == {"email"}
    assert "email" not in load(SubscriberIn, {"customer_reference": "C", "name": "N", "email": None})


def test_subscriber_detail_lists_its_mandates(session):
    first = import_(session)
    second = import_(session, subscriber_id=first.subscriber_id)
    found = subscribers.get_subscriber(session, A, first.subscriber_id)
    assert [m.id for m in found.mandates] == sorted([first.id, second.id], reverse=True)


# --- amendments and revocation ---------------------------------------------

def test_amendment_keeps_history_and_says_when_the_bank_changes(session):
    mandate = import_(session)
    amended, amendment, same_bank = mandates.amend_bank_details(
        session, A, mandate.id, load(BankDetailsIn, {"iban": IBAN_DE}))
    assert (amended.iban, amended.bic) == (IBAN_DE, "COBADEFFXXX")
    assert (amendment.old_iban, amendment.new_iban) == (IBAN_FR, IBAN_DE)
    assert (amendment.old_bic, amendment.new_bic) == ("AGRIFRPPXXX", "COBADEFFXXX")
    assert same_bank is False and amendment.applied_to_debit is False

    same_branch = str(IBAN.generate("DE", bank_code="37040044", account_code="0532013001"))
    _, second, same_bank = mandates.amend_bank_details(
        session, A, mandate.id, load(BankDetailsIn, {"iban": same_branch}))
    assert same_bank is True
    history = MandateDetailOut().dump(mandates.get_mandate(session, A, mandate.id))["amendments"]
    assert [(h["old_iban"], h["new_iban"]) for h in history] == [(IBAN_FR, IBAN_DE), (IBAN_DE, same_branch)]


def test_same_bank_compares_bank_codes_without_bics():
    other_account = str(IBAN.generate("DE", bank_code="37040044", account_code="0532013001"))
    assert mandates.same_bank(IBAN_DE, None, other_account, None) is True
    assert mandates.same_bank(IBAN_DE, None, IBAN_FR, None) is False


def test_amendment_errors_name_the_field(session):
    mandate = import_(session)
    for payload, field in (({"iban": IBAN_FR}, "iban"), ({"iban": "DE00"}, "iban"),
                           ({"iban": IBAN_DE, "bic": "NOPE"}, "bic"), ({}, "iban")):
        with pytest.raises(Invalid) as error:
            mandates.amend_bank_details(session, A, mandate.id, load(BankDetailsIn, payload))
        assert invalid_field(error) == {field}
    assert mandates.get_mandate(session, A, mandate.id).amendments == []


def test_revoked_mandate_cannot_be_revoked_again_nor_amended(session):
    mandate = import_(session)
    revoked = mandates.revoke_mandate(session, A, mandate.id, load(RevokeIn, {"reason": "moved out"}))
    assert revoked.status == "revoked" and revoked.revocation_reason == "moved out"
    assert revoked.revoked_at is not None
    with pytest.raises(Conflict):
        mandates.revoke_mandate(session, A, mandate.id, load(RevokeIn, {}))
    with pytest.raises(Conflict):
        mandates.amend_bank_details(session, A, mandate.id, load(BankDetailsIn, {"iban": IBAN_DE}))


def test_revocation_reason_is_at_most_140_characters(session):
    with pytest.raises(Invalid) as error:
        load(RevokeIn, {"reason": "x" * 141})
    assert invalid_field(error) == {"reason"}
    assert load(RevokeIn, {"reason": None}) == {}


# --- tenancy ---------------------------------------------------------------

def test_another_merchant_cannot_see_amend_or_revoke_a_mandate(session):
    mandate = import_(session)
    with pytest.raises(NotFound):
        mandates.get_mandate(session, B, mandate.id)
    with pytest.raises(NotFound):
        mandates.get_scan(session, B, mandate.id)
    with pytest.raises(NotFound):
        mandates.amend_bank_details(session, B, mandate.id, load(BankDetailsIn, {"iban": IBAN_DE}))
    with pytest.raises(NotFound):
        mandates.revoke_mandate(session, B, mandate.id, load(RevokeIn, {}))
    with pytest.raises(NotFound):
        mandates.record_collection(session, B, mandate.id, date(2025, 2, 1))
    with pytest.raises(NotFound):
        subscribers.get_subscriber(session, B, mandate.subscriber_id)
    with pytest.raises(NotFound):
        import_(session, merchant=B, subscriber_id=mandate.subscriber_id)
    assert mandates.get_mandate(session, A, mandate.id).status == "active"


# --- dormancy --------------------------------------------------------------

def expired_ids(session, as_of):
    return [m.id for m in mandates.expire_dormant(session, as_of)]


def test_never_collected_mandate_expires_36_months_after_signature_not_a_day_earlier(session):
    mandate = import_(session, signed_at="2022-03-10T18:00:00Z")
    assert expired_ids(session, date(2025, 3, 9)) == []
    assert expired_ids(session, date(2025, 3, 10)) == [mandate.id]
    assert mandate.status == "expired" and mandate.expired_at is not None
    assert expired_ids(session, date(2025, 3, 11)) == []  # once only


def test_dormancy_counts_from_the_last_collection(session):
    mandate = import_(session, signed_at="2021-01-05")
    mandates.record_collection(session, A, mandate.id, date(2022, 5, 31))
    mandates.record_collection(session, A, mandate.id, date(2022, 1, 31))  # never moves back
    assert mandate.last_collected_on == date(2022, 5, 31)
    assert expired_ids(session, date(2025, 5, 30)) == []
    assert expired_ids(session, date(2025, 5, 31)) == [mandate.id]


def test_a_bank_files_collections_are_recorded_at_once_the_latest_per_mandate(session):
    first, second = import_(session, signed_at="2021-01-05"), import_(session, signed_at="2021-01-05")
    foreign = import_(session, merchant=B, signed_at="2021-01-05")
    recorded, unknown = mandates.record_collections(session, [
        {"merchant_id": A, "mandate_id": first.id, "collected_on": date(2022, 1, 31)},
        {"merchant_id": A, "mandate_id": first.id, "collected_on": date(2022, 5, 31)},
        {"merchant_id": A, "mandate_id": second.id, "collected_on": date(2022, 2, 28)},
        {"merchant_id": A, "mandate_id": foreign.id, "collected_on": date(2022, 2, 28)}])
    assert recorded == 2 and [i["mandate_id"] for i in unknown] == [foreign.id]
    assert (first.last_collected_on, second.last_collected_on) == (date(2022, 5, 31), date(2022, 2, 28))
    assert foreign.last_collected_on is None
    mandates.record_collections(session, [{"merchant_id": A, "mandate_id": first.id,
                                           "collected_on": date(2022, 3, 31)}])
    assert first.last_collected_on == date(2022, 5, 31)  # never moves back


def test_signature_on_29_february_expires_on_28_february_36_months_later(session):
    mandate = import_(session, signed_at="2024-02-29")
    assert expired_ids(session, date(2027, 2, 27)) == []
    assert expired_ids(session, date(2027, 2, 28)) == [mandate.id]


def test_dormancy_spares_recent_and_revoked_mandates_and_works_in_batches(session):
    old = [import_(session, signed_at="2020-01-01", merchant=m) for m in (A, B, A)]
    revoked = import_(session, signed_at="2020-01-01")
    mandates.revoke_mandate(session, A, revoked.id, {})
    recent = import_(session, signed_at="2024-01-01")
    first = mandates.expire_dormant(session, date(2025, 6, 15), batch_size=2)
    second = mandates.expire_dormant(session, date(2025, 6, 15), batch_size=2)
    assert len(first) == 2 and len(second) == 1
    assert {m.id for m in first + second} == {m.id for m in old}
    assert mandates.expire_dormant(session, date(2025, 6, 15), batch_size=2) == []
    assert (revoked.status, recent.status) == ("revoked", "active")
    with pytest.raises(Conflict):
        mandates.revoke_mandate(session, A, old[0].id, {})
