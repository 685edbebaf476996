"""Untrusted text made safe to show: control characters become visible escapes.

Names, notes and emails come from customers and merchants. Shown as they are,
an ESC byte would let them drive the agent's terminal; so every C0/C1 control
character (except nothing) is rewritten as a visible `\\xNN` escape.
"""

from __future__ import annotations

import re

_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def visible(text: object) -> str:
    if text is None:
        return ""
    return _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", str(text))
