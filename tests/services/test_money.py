import pytest
from hypothesis import given
from hypothesis import strategies as st

from agentdesk.domain.errors import InvalidInput
from agentdesk.domain.money import format_amount, format_major, parse_amount


@pytest.mark.parametrize(
    "text, currency, minor",
    [("12.30", "USD", 1230), ("12,30", "EUR", 1230), ("12", "USD", 1200), ("0.5", "usd", 50),
     (" 7.05 ", "GBP", 705), ("1500", "JPY", 1500), ("1.234", "KWD", 1234), ("999999999999.99", "USD", 99999999999999)],
)
def test_parse(text, currency, minor):
    assert parse_amount(text, currency) == minor


@pytest.mark.parametrize(
    "text, currency, says",
    [("", "USD", "enter an amount"), ("-5", "USD", "negative"), ("abc", "USD", "not an amount"),
     ("12.345", "USD", "2 decimal places"), ("1e9", "USD", "not an amount"), ("0", "USD", "more than zero"),
     ("1,234", "KWD", "ambiguous"), ("12.5", "JPY", "no minor unit"), ("1.2.3", "USD", "not an amount"),
     ("12.30", "XYZ", "currency"), ("1,000.00", "USD", "not an amount"), ("inf", "USD", "not an amount"),
     ("NaN", "USD", "not an amount"), ("1" * 13, "USD", "too large")],
)
def test_parse_refuses_with_a_reason(text, currency, says):
    with pytest.raises(InvalidInput) as refused:
        parse_amount(text, currency)
    assert says in str(refused.value)


def test_format():
    assert format_amount(1230, "USD") == "12.30 USD"
    assert format_amount(123456789, "EUR") == "1,234,567.89 EUR"
    assert format_amount(-5, "GBP") == "-0.05 GBP"
    assert format_amount(1500, "JPY") == "1,500 JPY"
    assert format_amount(1230, "USD", symbol=True) == "$12.30"
    assert format_amount(1, "KWD") == "0.001 KWD"


@pytest.mark.parametrize("minor, currency, text", [
    (2500, "USD", "25.00"), (2500, "JPY", "2500"), (5, "EUR", "0.05"), (1234, "KWD", "1.234"), (0, "USD", "0.00"),
    (123456789, "USD", "1234567.89"), (-150, "GBP", "-1.50"),
])
def test_format_major_is_the_plain_number_in_major_units(minor, currency, text):
    assert format_major(minor, currency) == text


@given(st.integers(min_value=1, max_value=999_999_999_999), st.sampled_from(["USD", "JPY", "KWD", "EUR"]))
def test_format_major_reads_back_through_parse_amount(minor, currency):
    assert parse_amount(format_major(minor, currency), currency) == minor
