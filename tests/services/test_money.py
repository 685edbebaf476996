import pytest

from agentdesk.domain.errors import InvalidInput
from agentdesk.domain.money import format_amount, parse_amount


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
