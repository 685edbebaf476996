"""What a paste may put into a field: terminal escapes and control characters never get in.

A terminal hands a paste over as one `Paste` event. Text copied from a terminal or a web page
can carry escape sequences (colours, window titles) and other control characters; typed into a
field they would be stored, and shown raw they would drive the agent's terminal. They are
removed whole before the text reaches the field, so what remains keeps its order. A one-line
field takes the pasted lines joined by spaces; a multi-line one keeps newlines and tabs.
"""

from __future__ import annotations

import re

_ESCAPE_SEQUENCE = re.compile(
    r"\x1b\[[0-?]*[ -/]*[@-~]"                   # CSI: colours, cursor moves
    r"|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)?"        # OSC: window title, clipboard, links
    r"|\x1b[PX^_][^\x1b]*(?:\x1b\\)?"             # DCS, SOS, PM, APC strings
    r"|\x1b[ -/]*[0-~]?"                         # any other escape
    r"|\x9b[0-?]*[ -/]*[@-~]"                    # 8-bit CSI
    r"|\x9d[^\x07\x9c]*[\x07\x9c]?"              # 8-bit OSC
)
_UNWANTED = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069\ud800-\udfff]")


def clean_paste(text: str, multiline: bool = False) -> str:
    """`text` without escape sequences and control characters (bidi overrides and lone surrogates
    included); newlines and tabs kept when `multiline`, else each run of them becomes one space."""
    text = _ESCAPE_SEQUENCE.sub("", text.replace("\r\n", "\n").replace("\r", "\n"))
    text = _UNWANTED.sub("", text)
    if not multiline:
        text = re.sub(r"\s*[\n\t]+\s*", " ", text)
    return text
