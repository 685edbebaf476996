"""Rich `Text` built from untrusted values: never parsed as markup, control characters made visible."""

from __future__ import annotations

from rich.text import Text

from agentdesk.domain.text import visible


def plain(value: object, style: str = "") -> Text:
    return Text(visible(value), style=style, end="")


def lines(*parts: Text | str) -> Text:
    """Join already-safe Text parts (or trusted literal strings) with newlines."""
    out = Text(end="")
    for index, part in enumerate(parts):
        if index:
            out.append("\n")
        out.append(part if isinstance(part, Text) else Text(part))
    return out
