"""Admins' merge (from marked rows of the table) and anonymise (from the profile) dialogs."""

from __future__ import annotations

import asyncio

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, Label, OptionList, Static
from textual.widgets.option_list import Option

from agentdesk.domain.errors import ServiceError
from agentdesk.domain.text import visible
from agentdesk.services.risk import privacy
from agentdesk.ui.base import desk_work


class MergeDialog(ModalScreen[bool]):
    """Choose the customer to keep (↑/↓), read what moves and which fields win, Enter twice to merge."""

    BINDINGS = [Binding("escape", "cancel", "Cancel"), Binding("enter", "next", "Merge", priority=True)]

    def __init__(self, rows: list) -> None:
        super().__init__()
        self.rows = rows
        self.confirming = False

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Static(Text("Merge duplicates · choose the customer to keep · Enter merge · Esc cancel", style="bold"))
            yield OptionList(*[Option(Text(f"{visible(r.external_id):<14} {visible(r.name)}  {visible(r.email or '')}"))
                               for r in self.rows], id="merge-keep")
            yield Static(id="merge-preview")

    def on_mount(self) -> None:
        keep = self.query_one(OptionList)
        keep.highlighted = 0
        keep.focus()

    def _kept_and_others(self):
        index = self.query_one(OptionList).highlighted or 0
        kept = self.rows[index].external_id
        return kept, [r.external_id for r in self.rows if r.external_id != kept]

    @on(OptionList.OptionHighlighted, "#merge-keep")
    def _highlighted(self) -> None:
        self.confirming = False
        self.load_preview()

    @desk_work(group="merge-preview")
    async def load_preview(self) -> None:
        kept, others = self._kept_and_others()
        app = self.app
        try:
            preview = await asyncio.to_thread(privacy.merge_preview, app.store, app.actor, kept, others)
        except ServiceError as exc:
            self.query_one("#merge-preview", Static).update(Text(visible(str(exc)), style="red"))
            return
        out = Text()
        out.append(f"Keep {visible(preview.kept)}; merge {visible(', '.join(preview.merged))} into it.\n")
        moving = ", ".join(f"{n} {kind}" for kind, n in preview.moves.items() if n)
        out.append(f"Moves: {moving or 'nothing'}\n")
        for field, (mine, theirs) in preview.conflicts.items():
            out.append(f"{field}: keeps {visible(mine)!s} (not {visible(', '.join(theirs))})\n", style="yellow")
        self.query_one("#merge-preview", Static).update(out)

    def action_next(self) -> None:
        if not self.confirming:
            self.confirming = True
            kept, others = self._kept_and_others()
            self.query_one("#merge-preview", Static).update(Text(
                f"Merge {', '.join(others)} into {kept}? This cannot be undone. Enter to confirm, Esc to cancel.",
                style="bold yellow"))
            return
        self.merge()

    @desk_work(group="merge")
    async def merge(self) -> None:
        kept, others = self._kept_and_others()
        app = self.app
        try:
            await asyncio.to_thread(privacy.merge_customers, app.store, app.actor, kept, others)
        except ServiceError as exc:
            self.confirming = False
            self.query_one("#merge-preview", Static).update(Text(visible(str(exc)), style="red"))
            return
        app.notify(f"Merged {', '.join(others)} into {kept}", markup=False)
        self.dismiss(True)

    def action_cancel(self) -> None:
        self.dismiss(False)


class AnonymiseDialog(ModalScreen[bool]):
    BINDINGS = [Binding("escape", "cancel", "Cancel")]

    def __init__(self, customer_id: int, external_id: str) -> None:
        super().__init__()
        self.customer_id = customer_id
        self.external_id = external_id

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Static(Text("Anonymise this customer", style="bold red"))
            yield Static(Text("Names, emails, phones, addresses, tax ids, tags and card tokens are replaced or removed; "
                              "payments and refunds stay. This cannot be undone."))
            yield Label(f"Type {visible(self.external_id)} to confirm")
            yield Input(id="anonymise-confirm", compact=True)
            yield Static(id="anonymise-error")

    def on_mount(self) -> None:
        self.query_one(Input).focus()

    @on(Input.Submitted)
    def _submitted(self, event: Input.Submitted) -> None:
        self.anonymise(event.value)

    @desk_work(group="anonymise")
    async def anonymise(self, typed: str) -> None:
        app = self.app
        try:
            await asyncio.to_thread(privacy.anonymise_customer, app.store, app.actor, self.customer_id, typed)
        except ServiceError as exc:
            self.query_one("#anonymise-error", Static).update(Text(visible(str(exc)), style="red"))
            return
        self.dismiss(True)

    def action_cancel(self) -> None:
        self.dismiss(False)
