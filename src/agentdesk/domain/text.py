"""Untrusted text made safe to show: control characters become visible escapes.

Names, notes and emails come from customers and merchants. Shown as they are,
an ESC byte would let them drive the agent's terminal; so every C0/C1 control
character (except nothing) is rewritten as a visible `\\xNN` escape.
"""

from __future__ import annotations

import re

from agentdesk.domain.errors import InvalidInput

_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def visible(text: object) -> str:
    if text is None:
        return ""
    return _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", str(text))


_REFUSED = re.compile(r"[\x00-\x08\x0a-\x1f\x7f-\x9f\ud800-\udfff]")
_REFUSED_MULTILINE = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\ud800-\udfff]")


def check_text(value: str, field: str, *, multiline: bool = False, limit: int | None = None) -> str:
    """`value` unchanged when it may be stored, else `InvalidInput` naming `field`.

    Refused: C0 controls (newline and tab allowed when `multiline`), DEL, C1 controls and
    lone surrogates, and more than `limit` characters. PostgreSQL cannot store NUL and a
    terminal obeys the rest, so no free-text field of a write service takes them.
    """
    if not isinstance(value, str):
        raise InvalidInput(fields={field: "must be text"})
    found = (_REFUSED_MULTILINE if multiline else _REFUSED).search(value)
    if found:
        raise InvalidInput(fields={field: f"contains a control character (U+{ord(found.group()):04X})"})
    if limit is not None and len(value) > limit:
        raise InvalidInput(fields={field: f"is longer than {limit} characters"})
    return value
