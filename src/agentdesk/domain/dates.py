"""Dates typed by people: one strict form, YYYY-MM-DD in ASCII digits.

`date.fromisoformat` also takes `20240101`, `2024-W01-1` and digits of any
script, while every prompt says YYYY-MM-DD; this parser takes exactly what
the prompts say, so what an agent reads back is what they typed.
"""

from __future__ import annotations

import re
from datetime import date

from agentdesk.domain.errors import InvalidInput

_DATE = re.compile(r"(?P<year>[0-9]{4})-(?P<month>[0-9]{2})-(?P<day>[0-9]{2})")


def parse_date(text: str, field: str) -> date:
    """The date `text` names (surrounding spaces ignored), or `InvalidInput` naming `field` and why."""
    raw = (text or "").strip()
    match = _DATE.fullmatch(raw)
    if match is None:
        shown = raw if len(raw) <= 40 else raw[:40] + "…"
        raise InvalidInput(fields={field: f"{shown!r} is not a date; write it as YYYY-MM-DD"})
    year, month, day = (int(match.group(part)) for part in ("year", "month", "day"))
    try:
        return date(year, month, day)
    except ValueError:
        raise InvalidInput(fields={field: f"{raw} is not a day of the calendar"}) from None


def parse_optional_date(text: str | None, field: str) -> date | None:
    """None for an absent or blank value, else `parse_date`."""
    if text is None or not text.strip():
        return None
    return parse_date(text, field)
