"""Money as integer minor units plus an ISO 4217 code: parsing what people type, and display.

No floats anywhere: text is split into whole and fractional digits and
combined with integer arithmetic.
"""

from __future__ import annotations

import re

from agentdesk.domain.errors import InvalidInput
from agentdesk.domain.limits import AMOUNT_MAX
from agentdesk.domain.numbers import non_ascii_digit_reason, shown

CURRENCY_EXPONENTS: dict[str, int] = {
    "AUD": 2, "BRL": 2, "CAD": 2, "CHF": 2, "CNY": 2, "CZK": 2, "DKK": 2, "EUR": 2,
    "GBP": 2, "HKD": 2, "HUF": 2, "INR": 2, "JPY": 0, "KRW": 0, "KWD": 3, "BHD": 3,
    "MXN": 2, "NOK": 2, "NZD": 2, "PLN": 2, "SEK": 2, "SGD": 2, "USD": 2, "ZAR": 2,
}

CURRENCY_SYMBOLS = {"USD": "$", "EUR": "€", "GBP": "£", "JPY": "¥", "CAD": "CA$", "AUD": "A$"}

_AMOUNT = re.compile(r"(?P<whole>[0-9]+)(?:(?P<sep>[.,])(?P<frac>[0-9]+))?")

MAX_WHOLE_DIGITS = 12
MAX_MINOR = AMOUNT_MAX
"""The largest amount in minor units anyone may type (12 whole digits and 3 decimals): far below what a
64-bit money column holds (2**63 - 1), so sums of amounts stay exact too."""


def currency_code(code: str) -> str:
    normalized = (code or "").strip().upper()
    if normalized not in CURRENCY_EXPONENTS:
        raise InvalidInput(fields={"currency": f"{code!r} is not a supported ISO 4217 currency code"})
    return normalized


def exponent(currency: str) -> int:
    return CURRENCY_EXPONENTS[currency_code(currency)]


def parse_amount(text: str, currency: str, *, field: str = "amount", allow_zero: bool = False) -> int:
    """Turn "12.30" or "12,30" into 1230 (for a two-decimal currency).

    Refuses, with a message saying why: empty text, signs, exponents, thousands
    separators, digits other than ASCII 0-9 (Arabic-Indic, full-width), more decimals than the
    currency has, more than 12 whole digits, and zero unless allowed.
    """
    digits = exponent(currency)
    raw = (text or "").strip()
    if not raw:
        raise InvalidInput(fields={field: "enter an amount"})
    if raw.startswith("-"):
        raise InvalidInput(fields={field: "must not be negative"})
    match = _AMOUNT.fullmatch(raw)
    if not match:
        reason = non_ascii_digit_reason(raw)
        raise InvalidInput(
            fields={field: reason or f"{shown(raw)} is not an amount; write it like 12.30 (digits, one decimal point)"}
        )
    whole, frac = match.group("whole"), match.group("frac") or ""
    if match.group("sep") == "," and len(frac) == 3:
        raise InvalidInput(
            fields={field: f"{shown(raw)} is ambiguous (a thousands separator or a decimal comma?); "
                           "write it without the comma"}
        )
    if match.group("sep") and digits == 0:
        raise InvalidInput(fields={field: f"{currency_code(currency)} has no minor unit; write a whole number"})
    if len(frac) > digits:
        raise InvalidInput(
            fields={field: f"{currency_code(currency)} has {digits} decimal places; {shown(raw)} has {len(frac)}"}
        )
    whole = whole.lstrip("0") or "0"
    if len(whole) > MAX_WHOLE_DIGITS:
        raise InvalidInput(fields={field: f"{shown(raw)} is too large: at most {MAX_WHOLE_DIGITS} digits before "
                                          "the decimal point"})
    minor = int(whole) * 10**digits + (int(frac.ljust(digits, "0")) if digits else 0)
    if minor > MAX_MINOR:
        raise InvalidInput(fields={field: f"{shown(raw)} is too large"})
    if minor == 0 and not allow_zero:
        raise InvalidInput(fields={field: "must be more than zero"})
    return minor


def format_major(minor: int, currency: str) -> str:
    """The plain number in major units, as an agent would type it back: 2500 USD → "25.00", 2500 JPY → "2500".

    No symbol, code or thousands separator, so `parse_amount` reads it back to the same minor units.
    """
    digits = exponent(currency)
    sign = "-" if minor < 0 else ""
    if not digits:
        return f"{sign}{abs(minor)}"
    whole, frac = divmod(abs(minor), 10**digits)
    return f"{sign}{whole}.{frac:0{digits}d}"


def format_amount(minor: int, currency: str, *, symbol: bool = False) -> str:
    """1230, "USD" → "12.30 USD" (or "$12.30" with `symbol`)."""
    code = currency_code(currency)
    digits = CURRENCY_EXPONENTS[code]
    sign = "-" if minor < 0 else ""
    whole, frac = divmod(abs(int(minor)), 10**digits) if digits else (abs(int(minor)), 0)
    number = f"{whole:,}" + (f".{frac:0{digits}d}" if digits else "")
    if symbol and code in CURRENCY_SYMBOLS:
        return f"{sign}{CURRENCY_SYMBOLS[code]}{number}"
    return f"{sign}{number} {code}"
