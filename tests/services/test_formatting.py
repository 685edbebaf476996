"""One formatter per thing: instrument labels, expiries, dates."""

from datetime import UTC, date, datetime, timedelta, timezone

import pytest

from agentdesk.domain.enums import InstrumentMethod
from agentdesk.domain.formatting import format_date, format_expiry, format_utc, instrument_label


@pytest.mark.parametrize("method, brand, last4, month, year, label", [
    (InstrumentMethod.CARD, "Visa", "4242", None, None, "Visa •••• 4242"),
    (InstrumentMethod.CARD, "Visa", "4242", 3, 2031, "Visa •••• 4242 exp 03/31"),
    (InstrumentMethod.CARD, None, None, None, None, "Card •••• ????"),
    ("card", "Amex", "0005", 12, 2030, "Amex •••• 0005 exp 12/30"),
    (InstrumentMethod.BANK_ACCOUNT, None, "6789", None, None, "bank account •••• 6789"),
    (InstrumentMethod.PAYPAL, None, None, None, None, "paypal"),
    ("other", "ignored", None, 3, None, "other"),
])
def test_instrument_label_one_rule_for_cards_and_other_methods(method, brand, last4, month, year, label):
    assert instrument_label(method, brand, last4, month, year) == label


def test_expiry_and_dates():
    assert format_expiry(3, 2031) == "03/31"
    assert format_date(date(2026, 11, 1)) == "2026-11-01"
    assert format_date(datetime(2026, 11, 1, 23, 59, tzinfo=UTC)) == "2026-11-01"
    assert format_date(None) == ""
    assert format_utc(datetime(2026, 11, 1, 9, 5, tzinfo=UTC)) == "2026-11-01 09:05 UTC"
    assert format_utc(datetime(2026, 11, 1, 10, 5, tzinfo=timezone(timedelta(hours=1)))) == "2026-11-01 09:05 UTC"
