"""One formatter per thing shown to people: payment instruments, card expiries, dates and times.

The CLI, the console and the portal all show these; writing each once keeps
them saying the same. Amounts are `agentdesk.domain.money.format_amount`.
"""

from __future__ import annotations

from datetime import UTC, date, datetime

from agentdesk.domain.enums import InstrumentMethod

MASK = "••••"


def format_expiry(month: int, year: int) -> str:
    """A card's expiry as printed on it: 3, 2031 → "03/31"."""
    return f"{month:02d}/{year % 100:02d}"


def instrument_label(method: InstrumentMethod | str, brand: str | None, last4: str | None,
                     exp_month: int | None = None, exp_year: int | None = None) -> str:
    """How a payment instrument is named everywhere: "Visa •••• 4242 exp 03/31", "bank account •••• 6789".

    A card is its brand (or "Card") and its last four ("????" when unknown); any
    other method is its name, with its last four when it has one. The expiry is
    added when both its month and year are given.
    """
    if method == InstrumentMethod.CARD:
        label = f"{brand or 'Card'} {MASK} {last4 or '????'}"
    else:
        label = str(method).replace("_", " ") + (f" {MASK} {last4}" if last4 else "")
    if exp_month and exp_year:
        label += f" exp {format_expiry(exp_month, exp_year)}"
    return label


def format_date(value: date | None) -> str:
    """A calendar day, "2026-11-01"; a datetime shows its own date; nothing is an empty string."""
    return f"{value:%Y-%m-%d}" if value else ""


def format_utc(value: datetime) -> str:
    """A moment in UTC to the minute, "2026-11-01 09:00 UTC" (an aware time is converted first)."""
    if value.tzinfo is not None:
        value = value.astimezone(UTC)
    return f"{value:%Y-%m-%d %H:%M} UTC"
