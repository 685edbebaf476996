"""The adversarial corpus of issue 10: text an attacker, a careless paste or a broken terminal hands the console.

Each input has a category and a label (for reports). `TEXT` is everything; `NUMBERS` and `DATES` are what
number and date parameters get, plus `GENERIC` (the hostile text any parameter must survive).
Lone surrogates stand for invalid UTF-8: Python turns the bytes `\\xff` in argv into `\\udcff`.
"""
# ruff: noqa: RUF001  (look-alike digits and signs are the point)

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Hostile:
    category: str
    label: str
    text: str


def _group(category: str, items: dict[str, str]) -> list[Hostile]:
    return [Hostile(category, label, text) for label, text in items.items()]


MARKUP = _group("markup", {
    "rich colour": "[red]x[/red]",
    "rich link": "[link=https://evil.example]click here[/link]",
    "unclosed tag": "[bold]never closed",
    "html": "<script>alert(1)</script>",
})

TERMINAL = _group("terminal escapes", {
    "CSI colour": "\x1b[31mred\x1b[0m",
    "CSI clear screen": "\x1b[2J\x1b[H",
    "OSC 52 clipboard": "\x1b]52;c;ZWNobyBwd25lZCA+IH4vLmJhc2hyYw==\x07",
    "OSC 8 link": "\x1b]8;;https://evil.example\x1b\\innocent\x1b]8;;\x1b\\",
    "C1 CSI": "\x9b31mred",
    "C1 NEL": "line\x85next",
    "DEL": "abc\x7f\x7f",
    "backspaces": "admin\x08\x08\x08\x08\x08guest",
    "carriage return": "ok\rEVIL",
})

UNICODE = _group("unicode tricks", {
    "RTL override": "\u202egnp.exe",
    "bidi isolate": "abc\u2066def\u2069",
    "zero-width joiner": "👨\u200d👩\u200d👧",
    "zero-width space": "a\u200bb",
    "byte order mark": "\ufeffname",
    "NFD accent": "Jose\u0301",
    "ideographic space": "\u3000",
    "line separator": "one\u2028two",
})

CONTROL = _group("control characters", {
    "NUL": "a\x00b",
    "newline": "line1\nline2",
    "CRLF": "line1\r\nline2",
    "tab": "a\tb",
})

ENCODING = _group("invalid UTF-8", {
    "trailing 0xff": "bad\udcff",
    "two stray bytes": "\udc80\udc81",
    "mixed": "caf\udce9 ok",
})

LONG = _group("long", {
    "10k ascii": "x" * 10_000,
    "5k astral": "𝔘" * 5_000,
    "10k newlines": "\n" * 10_000,
})

FORMULAS = _group("formulas", {
    "DDE": "=cmd|' /C calc'!A0",
    "minus": "-2+3",
    "at": "@SUM(A1)",
    "full-width equals": "＝1+1",
    "full-width at": "＠SUM(A1)",
    "tab formula": "\t=1",
})

SQL = _group("SQL and LIKE", {
    "quote": "O'Brien",
    "tautology": "' OR '1'='1",
    "drop table": "x'; DROP TABLE customer; --",
    "percent": "%",
    "underscore": "_",
    "backslash": "a\\%b\\_c\\\\",
    "double quote": '"quoted"',
})

NUMBER_INPUTS = _group("numbers", {
    "arabic-indic": "١٢",
    "full-width": "１２",
    "devanagari": "१२",
    "superscript": "²",
    "exponent": "1e9",
    "inf": "inf",
    "nan": "nan",
    "negative zero": "-0",
    "hex": "0x10",
    "underscore": "1_000",
    "30 nines": "9" * 30,
    "above int64 in cents": "92233720368547758.08",
    "above int32 in cents": "21474836.48",
    "2^63": str(2**63),
    "leading zeros": "0" * 40 + "1",
    "trailing dot": "12.",
    "leading dot": ".5",
    "comma decimal": "1,5",
    "zero": "0",
    "plain": "1",
})

DATE_INPUTS = _group("dates", {
    "29 Feb 2023": "2023-02-29",
    "zero date": "0000-00-00",
    "end of range": "9999-12-31",
    "start of range": "0001-01-01",
    "basic format": "20240101",
    "ISO week": "2024-W01-1",
    "ordinal": "2024-001",
    "unpadded": "2024-1-1",
    "arabic digits": "٢٠٢٤-٠١-٠١",
    "month 13": "2024-13-01",
    "day 99": "2024-01-99",
    "with time": "2024-01-01T00:00",
})

TEXT: list[Hostile] = [*MARKUP, *TERMINAL, *UNICODE, *CONTROL, *ENCODING, *LONG, *FORMULAS, *SQL,
                       NUMBER_INPUTS[0], NUMBER_INPUTS[1], NUMBER_INPUTS[4], DATE_INPUTS[0], DATE_INPUTS[4]]
"""Every input a free-text parameter that writes is driven with."""


def _pick(*labels: str) -> list[Hostile]:
    found = {h.label: h for h in TEXT}
    return [found[label] for label in labels]


SAMPLE: list[Hostile] = _pick(
    "rich link", "CSI colour", "OSC 52 clipboard", "C1 CSI", "DEL", "carriage return", "RTL override",
    "zero-width joiner", "NUL", "newline", "trailing 0xff", "10k ascii", "full-width equals", "tautology", "percent",
    "underscore", "backslash", "arabic-indic",
)
"""One or two of each kind, for parameters that only look something up (an id, a search, a filter)."""

GENERIC: list[Hostile] = _pick("rich colour", "OSC 52 clipboard", "RTL override", "NUL", "trailing 0xff", "10k ascii")
"""The hostile text number and date parameters get besides their own corpus."""

NUMBERS: list[Hostile] = [*NUMBER_INPUTS, *GENERIC]
DATES: list[Hostile] = [*DATE_INPUTS, *GENERIC]

RAW_OUTPUT = "[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069\ud800-\udfff]"
"""A pattern for what no output may hold raw: C0 (but newline and tab), DEL, C1, bidi overrides, lone surrogates."""
