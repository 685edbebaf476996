"""The full-screen timeline of one customer (T on the profile).

The pane itself is `TimelinePanel` (ui/widgets/profile/timeline.py); its dialogs live in
ui/dialogs/timeline.py. Both are importable from here too.
"""

from __future__ import annotations

from typing import ClassVar

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.widgets import Footer, Static

from agentdesk.services.changes import Changes
from agentdesk.ui.base import DeskScreen
from agentdesk.ui.dialogs.timeline import (
    AttachDialog,
    LinkDialog,
    MentionsScreen,
    NoteDialog,
    SaveAttachmentDialog,
    TimelineFilterDialog,
)
from agentdesk.ui.widgets.plain_text import plain
from agentdesk.ui.widgets.profile.timeline import OpenLinked, TimelinePanel, details, link_target, summary

__all__ = [
    "AttachDialog",
    "LinkDialog",
    "MentionsScreen",
    "NoteDialog",
    "OpenLinked",
    "SaveAttachmentDialog",
    "TimelineFilterDialog",
    "TimelinePanel",
    "TimelineScreen",
    "details",
    "link_target",
    "summary",
]


class TimelineScreen(DeskScreen):
    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "back", "Back", id="timeline.back")]

    def __init__(self, customer_id: int, title: str) -> None:
        super().__init__()
        self.customer_id = customer_id
        self.heading = title

    def compose(self) -> ComposeResult:
        yield Static(plain(f"Timeline · {self.heading}", "bold"))
        yield TimelinePanel(self.customer_id)
        yield Footer(compact=True)

    def on_mount(self) -> None:
        self.query_one(TimelinePanel).focus_table()

    def action_back(self) -> None:
        self.app.pop_screen()

    def customers_changed(self, changes: Changes) -> None:
        if changes.touches(self.customer_id):
            self.query_one(TimelinePanel).refresh_newest()

    @on(OpenLinked)
    def _open_linked(self, event: OpenLinked) -> None:
        """A customer or an order opens on top; a transaction opens on the profile below (which holds them)."""
        from agentdesk.ui.screens.customer_profile import CustomerProfileScreen

        event.stop()
        if event.kind == "customer" and isinstance(event.ident, int):
            self.app.push_screen(CustomerProfileScreen(event.ident))
            return
        if event.kind == "order" and isinstance(event.ident, str):
            from agentdesk.ui.screens.order import OrderScreen

            self.app.push_screen(OrderScreen(event.ident, self.customer_id))
            return
        stack = self.app.screen_stack
        below = stack[-2] if len(stack) > 1 else None
        if isinstance(below, CustomerProfileScreen):
            self.app.pop_screen()
            below.post_message(OpenLinked(event.kind, event.ident))
