from decimal import Decimal

import pytest

from common.money import format_amount, from_decimal, parse_amount, to_decimal


@pytest.mark.parametrize(
    "cents, text",
    [(1250, "12,50"), (-5, "-0,05"), (0, "0,00"), (123456789, "1234567,89"),
     (-1250, "-12,50"), (7, "0,07")],
)
def test_amount_is_formatted_with_a_decimal_comma(cents, text):
    assert format_amount(cents) == text


def test_amount_is_formatted_with_a_decimal_point_on_request():
    assert format_amount(1250, decimal=".") == "12.50"


@pytest.mark.parametrize("value", [12.5, True, Decimal("12.50"), "1250", None])
def test_formatting_refuses_anything_but_integer_cents(value):
    with pytest.raises(TypeError):
        format_amount(value)


def test_formatting_refuses_an_unknown_decimal_mark():
    with pytest.raises(ValueError):
        format_amount(1250, decimal=";")


@pytest.mark.parametrize(
    "text, cents",
    [("12,50", 1250), ("12.50", 1250), ("12", 1200), ("12,5", 1250), ("0,05", 5), (" 7 ", 700),
     ("-12,50", -1250), ("1234567,89", 123456789)],
)
def test_amount_text_is_parsed_to_cents(text, cents):
    assert parse_amount(text) == cents


@pytest.mark.parametrize(
    "text",
    ["12,505", "12.001", "", "abc", "12,", ",50", "1 234,50", "1.234,50", "12 €", "1e3",
     "NaN", "١٢"],
)
def test_parsing_refuses_more_than_two_decimals_and_garbage(text):
    with pytest.raises(ValueError):
        parse_amount(text)


def test_parsing_refuses_a_number():
    with pytest.raises(TypeError):
        parse_amount(12.5)


@pytest.mark.parametrize(
    "value, cents",
    [(Decimal("12.50"), 1250), (Decimal("12.5"), 1250), (Decimal("12"), 1200),
     (Decimal("12.500"), 1250), (Decimal("-0.05"), -5)],
)
def test_decimal_from_an_xml_file_becomes_cents(value, cents):
    assert from_decimal(value) == cents


@pytest.mark.parametrize("value", [Decimal("12.505"), Decimal("NaN"), Decimal("Infinity")])
def test_decimal_with_a_fraction_of_a_cent_is_refused(value):
    with pytest.raises(ValueError):
        from_decimal(value)


def test_float_is_not_taken_for_a_decimal():
    with pytest.raises(TypeError):
        from_decimal(12.5)


@pytest.mark.parametrize(
    "cents, text", [(1250, "12.50"), (0, "0.00"), (-5, "-0.05"), (123456789, "1234567.89")]
)
def test_cents_become_a_decimal_with_two_places(cents, text):
    assert str(to_decimal(cents)) == text


def test_cents_survive_a_round_trip_through_decimal():
    for cents in (-100001, -1, 0, 1, 99, 100, 1250, 10**12 + 7):
        assert from_decimal(to_decimal(cents)) == cents
        assert parse_amount(format_amount(cents)) == cents
