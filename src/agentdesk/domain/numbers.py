"""Whole numbers typed by people: ASCII digits only, and no larger than a 64-bit column holds.

Python's `int()` reads Arabic-Indic, full-width and Devanagari digits as numbers and `1_000` as 1000; a count or an
id typed at the keyboard means the ASCII digits the agent sees, nothing else.
"""

from __future__ import annotations

import re

from agentdesk.domain.errors import InvalidInput
from agentdesk.domain.limits import INT64_MAX

ASCII_DIGITS = re.compile(r"[0-9]+")


def shown(raw: str, width: int = 40) -> str:
    """`raw` quoted for a message, cut to `width` characters."""
    return repr(raw if len(raw) <= width else raw[:width] + "…")


def non_ascii_digit_reason(raw: str) -> str | None:
    """Why `raw` is refused when it holds digits of another script (Arabic-Indic, full-width…), else None."""
    if any(ch.isdigit() and ch not in "0123456789" for ch in raw):
        return f"{shown(raw)} has digits other than 0-9; type the number with ASCII digits"
    return None


def parse_count(text: str, field: str, *, minimum: int = 0, maximum: int = INT64_MAX) -> int:
    """A whole number from `minimum` to `maximum` written in ASCII digits, or `InvalidInput` saying why."""
    raw = (text or "").strip()
    if not raw:
        raise InvalidInput(fields={field: "enter a whole number"})
    if not ASCII_DIGITS.fullmatch(raw):
        reason = non_ascii_digit_reason(raw)
        if reason is None and raw.startswith("-") and ASCII_DIGITS.fullmatch(raw[1:]):
            reason = "must not be negative"
        raise InvalidInput(fields={field: reason or f"{shown(raw)} is not a whole number (digits 0-9 only)"})
    significant = raw.lstrip("0") or "0"
    if len(significant) > len(str(maximum)) or int(significant) > maximum:
        raise InvalidInput(fields={field: f"must be at most {maximum:,}"})
    number = int(significant)
    if number < minimum:
        raise InvalidInput(fields={field: f"must be at least {minimum:,}"})
    return number
