"""Untrusted text: refused at the door when it cannot be stored safely, escaped when shown.

Names, notes and emails come from customers and merchants. `check_text` is the one
gate every free-text value passes before it is written: no lone surrogates (what
Python makes of invalid UTF-8 in arguments), no NUL or other control characters
(newline and tab only where the field is multi-line), no more than the column holds.

`visible` is the other half: shown as they are, an ESC byte would let stored text
drive the agent's terminal and a right-to-left override would reorder what the
agent reads; so control, bidirectional-override and surrogate code points are
rewritten as visible escapes.
"""

from __future__ import annotations

import re

from agentdesk.domain.errors import InvalidInput

_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
_SURROGATE = re.compile(r"[\ud800-\udfff]")
_SHOWN_ESCAPED = re.compile(r"[\x00-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069\ud800-\udfff]")
_MULTILINE_ALLOWED = frozenset("\n\t")


def has_surrogates(text: str) -> bool:
    """True when `text` holds a lone surrogate: undecodable bytes smuggled in by surrogateescape."""
    return _SURROGATE.search(text) is not None


def text_problem(value: str, *, multiline: bool = False, limit: int | None = None) -> str | None:
    """Why `value` may not be stored as free text, or None when it may."""
    if not isinstance(value, str):
        return "must be text"
    if has_surrogates(value):
        return "is not valid UTF-8"
    if "\x00" in value:
        return "contains a NUL character"
    for match in _CONTROL.finditer(value):
        if multiline and match.group() in _MULTILINE_ALLOWED:
            continue
        allowed = " (only newline and tab are allowed)" if multiline else ""
        return f"contains a control character (U+{ord(match.group()):04X}){allowed}"
    if limit is not None and len(value) > limit:
        return f"is longer than {limit} characters ({len(value)})"
    return None


def check_text(value: str, field: str, *, multiline: bool = False, limit: int | None = None) -> str:
    """`value` unchanged when it is storable free text, else `InvalidInput` naming `field` and the reason.

    Refuses what is not a str, lone surrogates, NUL, every C0/C1 control and DEL (newline and
    tab allowed when `multiline`), and more than `limit` characters. PostgreSQL cannot store NUL
    and a terminal obeys the rest. It does not strip or collapse spaces.
    """
    problem = text_problem(value, multiline=multiline, limit=limit)
    if problem is not None:
        raise InvalidInput(fields={field: problem})
    return value


def visible(text: object) -> str:
    """`text` safe to print: control characters as `\\xNN`, bidi overrides and surrogates as `\\uNNNN`."""
    if text is None:
        return ""

    def escape(match: re.Match[str]) -> str:
        code = ord(match.group())
        return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"

    return _SHOWN_ESCAPED.sub(escape, str(text))
