"""`?`: the keys that work on the screen below (its focused pane's included), and where to find every action."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.screen import Screen
from textual.widgets import Static

from agentdesk.ui.base import DeskModal
from agentdesk.ui.commands import is_desk_action

if TYPE_CHECKING:
    from agentdesk.app import AgentDeskApp


def human_title(screen: Screen) -> str:
    """The screen's `TITLE`, else its class name in words ("CustomerProfileScreen" → "Customer profile")."""
    title = type(screen).TITLE
    if title:
        return title
    words = re.findall(r"[A-Z][a-z0-9]*", type(screen).__name__.removesuffix("Screen")) or [type(screen).__name__]
    return " ".join([words[0], *(w.lower() for w in words[1:])])


def keys_text(app: AgentDeskApp, screen: Screen) -> Text:
    """Every key Textual would act on for `screen` now (after `check_action`), grouped by binding."""
    out = Text(end="")
    out.append(f"{human_title(screen)} keys\n\n", style="bold")
    keys: dict[tuple[int, str], list[str]] = {}
    described: dict[tuple[int, str], Binding] = {}
    enabled: dict[tuple[int, str], bool] = {}
    for key, active in screen.active_bindings.items():
        binding = active.binding
        if not (is_desk_action(active, app, disabled_too=True)
                or (active.node is app and binding.description and not binding.system)):
            continue
        where = (id(active.node), binding.action)
        keys.setdefault(where, []).append(app.get_key_display(Binding(key, "")))
        described.setdefault(where, binding)
        enabled[where] = active.enabled
    for where, binding in described.items():
        out.append(f"{' / '.join(keys[where]):>12}  ", style="bold cyan" if binding.show else "cyan")
        if enabled[where]:
            out.append(f"{binding.description}\n")
        else:
            out.append(f"{binding.description} (not now)\n", style="dim")
    out.append("\nTab / Shift+Tab move between parts of the screen; arrows, PgUp/PgDn, Home/End move within them.\n")
    out.append("Ctrl+P opens the command palette: every action here, and “open customer …” from anywhere.\n")
    out.append("Esc closes this help.", style="dim")
    return out


class HelpScreen(DeskModal[None]):
    DEFAULT_CSS = """
    HelpScreen > #help-box { max-width: 100; }
    """
    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape,question_mark,q", "dismiss", "Close", id="help.close")]

    def __init__(self, below: Screen) -> None:
        super().__init__()
        self.below = below

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="help-box", classes="dialog"):
            yield Static(keys_text(self.app, self.below))
