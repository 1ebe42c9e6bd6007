from datetime import date

import pytest

from common.sepa import (
    InvalidIdentifier,
    bic_from_iban,
    generate_umr,
    mask_iban,
    validate_bic,
    validate_creditor_id,
    validate_iban,
    validate_umr,
)

CREDITOR_IBAN = "FR7630006000011234567890189"
DEBTOR_IBAN = "DE89370400440532013000"
SANDBOX_IBANS = [
    "FR7630006000010000000040116",
    "FR7630006000010000000040407",
    "FR7630006000010000000060195",
    "FR7630006000010000000060389",
    "FR7630006000010000000060292",
    "FR7630006000010000000060680",
    "FR7630006000010000000070186",
]


def refusal(validate, value):
    with pytest.raises(InvalidIdentifier) as caught:
        validate(value)
    return caught.value


# IBAN


@pytest.mark.parametrize("iban", [CREDITOR_IBAN, DEBTOR_IBAN, *SANDBOX_IBANS])
def test_spec_sample_ibans_are_valid(iban):
    assert validate_iban(iban) == iban


def test_iban_is_returned_compact_and_upper_case():
    assert validate_iban(" de89 3704 0044 0532 0130 00 ") == DEBTOR_IBAN


def test_iban_with_wrong_check_digits_is_refused():
    error = refusal(validate_iban, "DE88370400440532013000")
    assert error.field == "iban"
    assert "check digits" in str(error)


def test_iban_with_a_mistyped_account_digit_is_refused():
    assert refusal(validate_iban, "DE89370400440532013001").field == "iban"


def test_iban_too_short_for_its_country_is_refused():
    error = refusal(validate_iban, "DE8937040044053201300")
    assert "DE IBANs have 22 characters" in str(error)


def test_iban_too_long_for_its_country_is_refused():
    assert "length" in str(refusal(validate_iban, CREDITOR_IBAN + "0"))


@pytest.mark.parametrize(
    "iban", ["DE89-3704-0044-0532-0130-00", "DE89370400440532013_00", "DE8937040044053201300é"]
)
def test_iban_with_bad_characters_is_refused(iban):
    assert "letters and digits" in str(refusal(validate_iban, iban))


def test_iban_of_an_unknown_country_is_refused():
    assert "country" in str(refusal(validate_iban, "XX89370400440532013000"))


def test_valid_iban_of_a_country_outside_sepa_is_refused():
    error = refusal(validate_iban, "TR330006100519786457841326")
    assert "not in the SEPA scheme" in str(error)


def test_iban_of_a_sepa_country_outside_the_eurozone_is_accepted():
    assert validate_iban("GB82WEST12345698765432") == "GB82WEST12345698765432"


@pytest.mark.parametrize("value", ["", "   ", None, 76])
def test_missing_iban_is_refused(value):
    assert refusal(validate_iban, value).field == "iban"


def test_invalid_identifier_is_a_value_error():
    assert issubclass(InvalidIdentifier, ValueError)


# BIC


@pytest.mark.parametrize("bic", ["BNPAFRPP", "BNPAFRPPXXX", "COBADEFFXXX", "AGRIFRPP882"])
def test_bic_of_8_or_11_characters_is_valid(bic):
    assert validate_bic(bic) == bic


def test_bic_is_returned_compact_and_upper_case():
    assert validate_bic("bnpa fr pp") == "BNPAFRPP"


def test_bic_with_an_unknown_country_is_refused():
    error = refusal(validate_bic, "BNPAXXPP")
    assert error.field == "bic"
    assert "country" in str(error)


@pytest.mark.parametrize("bic", ["BNPAFRP", "BNPAFRPPX", "BNPAFRPPXXXX"])
def test_bic_of_a_wrong_length_is_refused(bic):
    assert "8 or 11" in str(refusal(validate_bic, bic))


def test_bic_with_bad_characters_is_refused():
    assert refusal(validate_bic, "BNPA-FRPP").field == "bic"


def test_bic_is_derived_from_a_known_iban():
    assert bic_from_iban(DEBTOR_IBAN) == "COBADEFFXXX"
    assert bic_from_iban(CREDITOR_IBAN).startswith("AGRIFRPP")


def test_bic_of_a_bank_missing_from_the_registry_is_none():
    assert bic_from_iban("GB82WEST12345698765432") is None


def test_bic_cannot_be_derived_from_an_invalid_iban():
    with pytest.raises(InvalidIdentifier):
        bic_from_iban("DE88370400440532013000")


# Creditor identifier (ICS)


@pytest.mark.parametrize("ics", ["FR72ZZZ123456", "DE98ZZZ09999999999"])
def test_sample_creditor_identifiers_are_valid(ics):
    assert validate_creditor_id(ics) == ics


def test_creditor_identifier_is_returned_compact_and_upper_case():
    assert validate_creditor_id("fr72 zzz 123456") == "FR72ZZZ123456"


def test_creditor_business_code_does_not_enter_the_check_digits():
    assert validate_creditor_id("FR72ABC123456") == "FR72ABC123456"


@pytest.mark.parametrize(
    "ics", ["FR72ZZZ123457", "FR73ZZZ123456", "FR72ZZZ213456", "DE98ZZZ09999999998"]
)
def test_creditor_identifier_with_altered_digits_is_refused(ics):
    error = refusal(validate_creditor_id, ics)
    assert error.field == "creditor_id"
    assert "check digits" in str(error)


@pytest.mark.parametrize("ics", ["FR72ZZZ1234567", "FR72ZZZ12345", "DE98ZZZ0999999999"])
def test_creditor_identifier_of_a_wrong_length_for_its_country_is_refused(ics):
    assert "length" in str(refusal(validate_creditor_id, ics))


@pytest.mark.parametrize(
    "ics", ["FR72ZZZ", "FRXXZZZ123456", "F72ZZZ123456", "FR72ZZZ123456" + "0" * 23]
)
def test_malformed_creditor_identifier_is_refused(ics):
    assert refusal(validate_creditor_id, ics).field == "creditor_id"


def test_creditor_identifier_of_a_country_outside_sepa_is_refused():
    assert "SEPA" in str(refusal(validate_creditor_id, "US72ZZZ123456"))


# Mandate reference (UMR)


def test_mandate_reference_of_35_characters_is_valid():
    assert validate_umr("A" * 35) == "A" * 35


def test_mandate_reference_of_36_characters_is_refused():
    error = refusal(validate_umr, "A" * 36)
    assert error.field == "reference"
    assert "35" in str(error)


def test_mandate_reference_may_use_every_allowed_character():
    umr = "Az09/-?:().,'+ x"
    assert validate_umr(umr) == umr


@pytest.mark.parametrize("umr", ["MD_0001", "MDé0001", "MD#0001", "MD*1", "MD\n1"])
def test_mandate_reference_with_a_forbidden_character_is_refused(umr):
    assert "not allowed" in str(refusal(validate_umr, umr))


def test_mandate_reference_starting_with_a_slash_is_refused():
    assert "start" in str(refusal(validate_umr, "/MD0001"))


def test_mandate_reference_containing_a_double_slash_is_refused():
    assert "//" in str(refusal(validate_umr, "MD//0001"))


@pytest.mark.parametrize("umr", ["", "   ", None])
def test_missing_mandate_reference_is_refused(umr):
    assert refusal(validate_umr, umr).field == "reference"


def test_generated_mandate_reference_is_readable_and_dated():
    umr = generate_umr(today=date(2026, 11, 25))
    prefix, day, suffix = umr.split("-")
    assert (prefix, day) == ("DBT", "20261125")
    assert len(suffix) == 10
    assert not set(suffix) & set("ILOU")


def test_generated_mandate_references_are_valid_and_distinct():
    references = [generate_umr(today=date(2026, 11, 25)) for _ in range(10_000)]
    assert len(set(references)) == len(references)
    assert all(validate_umr(umr) == umr for umr in references)


def test_generated_mandate_reference_takes_the_given_prefix():
    assert generate_umr("ACME", today=date(2026, 1, 2)).startswith("ACME-20260102-")


# Masking


def test_masked_iban_keeps_country_check_digits_and_last_four_characters():
    assert mask_iban(CREDITOR_IBAN) == "FR76 **** **** **** **** ***0 189"


def test_masked_iban_accepts_the_printed_form():
    assert mask_iban("DE89 3704 0044 0532 0130 00") == "DE89 **** **** **** **30 00"
