"""Admins' block and unblock dialogs on the profile (the service refuses everyone else)."""

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
from agentdesk.services.customers.records import CustomerDetail
from agentdesk.services.risk import blocklist
from agentdesk.ui.base import desk_work


def choices(d: CustomerDetail) -> list[tuple[str, str]]:
    """(kind, value) pairs this customer offers to block."""
    found = [("customer", d.external_id)]
    found += [("email", e.value) for e in d.emails]
    found += [("phone", p.value) for p in d.phones]
    found += [("fingerprint", i.fingerprint) for i in d.instruments if i.fingerprint]
    found += [("country", a.country) for a in d.addresses[:1]]
    return found


class BlockDialog(ModalScreen[bool]):
    BINDINGS = [Binding("escape", "cancel", "Cancel"), Binding("ctrl+s", "save", "Block")]

    def __init__(self, detail: CustomerDetail) -> None:
        super().__init__()
        self.detail = detail
        self.options = choices(detail)

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Static(Text("Block · choose what · Ctrl+S block · Esc cancel", style="bold"))
            yield OptionList(*[Option(Text(f"{kind:<12} {visible(value)}")) for kind, value in self.options],
                             id="block-what")
            yield Label("Reason")
            yield Input(id="block-reason", compact=True, max_length=500)
            yield Label("Expires (YYYY-MM-DD, empty: never)")
            yield Input(id="block-expires", compact=True)
            yield Static(id="block-error")

    def on_mount(self) -> None:
        what = self.query_one(OptionList)
        what.highlighted = 0
        what.focus()

    @on(Input.Submitted)
    def _submitted(self) -> None:
        self.action_save()

    @desk_work(group="block")
    async def action_save(self) -> None:
        index = self.query_one(OptionList).highlighted or 0
        kind, value = self.options[index]
        app = self.app
        try:
            await asyncio.to_thread(blocklist.add_entry, app.store, app.actor, kind, value,
                                    self.query_one("#block-reason", Input).value,
                                    self.query_one("#block-expires", Input).value)
        except ServiceError as exc:
            self.query_one("#block-error", Static).update(Text(visible(str(exc)), style="red"))
            return
        self.dismiss(True)

    def action_cancel(self) -> None:
        self.dismiss(False)


class UnblockDialog(ModalScreen[bool]):
    BINDINGS = [Binding("escape", "cancel", "Cancel")]

    def __init__(self, customer_id: int) -> None:
        super().__init__()
        self.customer_id = customer_id
        self.entries: list[blocklist.EntryInfo] = []

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Static(Text("Unblock · Enter removes the entry · Esc cancel", style="bold"))
            yield OptionList(id="unblock-list")
            yield Static(id="unblock-status")

    def on_mount(self) -> None:
        self.load()

    @desk_work(group="unblock-load")
    async def load(self) -> None:
        app = self.app
        self.entries = await asyncio.to_thread(blocklist.blocks_on, app.store, app.actor, self.customer_id)
        options = self.query_one(OptionList)
        for e in self.entries:
            options.add_option(Option(Text(f"#{e.id} {e.kind} {visible(e.value)} {visible(e.reason or '')}")))
        if self.entries:
            options.highlighted = 0
            options.focus()
        else:
            self.query_one("#unblock-status", Static).update(Text("No entry blocks this customer.", style="dim"))

    @on(OptionList.OptionSelected, "#unblock-list")
    def _chosen(self, event: OptionList.OptionSelected) -> None:
        self.remove_entry(self.entries[event.option_index].id)

    @desk_work(group="unblock")
    async def remove_entry(self, entry_id: int) -> None:
        app = self.app
        try:
            await asyncio.to_thread(blocklist.remove_entry, app.store, app.actor, entry_id)
        except ServiceError as exc:
            self.query_one("#unblock-status", Static).update(Text(visible(str(exc)), style="red"))
            return
        self.dismiss(True)

    def action_cancel(self) -> None:
        self.dismiss(False)
