"""`?`: the keys that work on the screen below, and where to find every action."""

from __future__ import annotations

from typing import ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.screen import Screen
from textual.widgets import Static

from agentdesk.ui.base import DeskModal


def _key_label(app, key: str) -> str:
    return app.get_key_display(Binding(key, ""))


def keys_text(app, screen: Screen) -> Text:
    out = Text(end="")
    out.append(f"{screen.__class__.__name__.replace('Screen', '')} keys\n\n", style="bold")
    seen = set()
    for binding in list(screen.BINDINGS) + list(app.BINDINGS):
        if not isinstance(binding, Binding) or not binding.description:
            continue
        for key in binding.key.split(","):
            if key in seen:
                continue
            seen.add(key)
            out.append(f"{_key_label(app, key):>10}  ", style="bold cyan")
            out.append(f"{binding.description}\n")
    out.append("\nTab / Shift+Tab move between parts of the screen; arrows move within them.\n")
    out.append("Ctrl+P opens the command palette, which lists every action.\n")
    out.append("Esc closes this help.", style="dim")
    return out


class HelpScreen(DeskModal[None]):
    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape,question_mark,q", "dismiss", "Close", id="help.close")]

    def __init__(self, below: Screen) -> None:
        super().__init__()
        self.below = below

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="help-box", classes="dialog"):
            yield Static(keys_text(self.app, self.below))
