"""Admins' block and unblock dialogs on the profile (the service refuses everyone else)."""

from __future__ import annotations

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.widgets import Input, Label, OptionList, Static
from textual.widgets.option_list import Option

from agentdesk.domain import limits
from agentdesk.domain.errors import InvalidInput
from agentdesk.domain.permissions import Action
from agentdesk.domain.text import visible
from agentdesk.services.customers.records import CustomerDetail
from agentdesk.services.risk import blocklist
from agentdesk.ui.base import ServiceDialog, form_field


def choices(d: CustomerDetail) -> list[tuple[str, str]]:
    """(kind, value) pairs this customer offers to block."""
    found = [("customer", d.external_id)]
    found += [("email", e.value) for e in d.emails]
    found += [("phone", p.value) for p in d.phones]
    found += [("fingerprint", i.fingerprint) for i in d.instruments if i.fingerprint]
    found += [("country", a.country) for a in d.addresses[:1]]
    return found


class BlockDialog(ServiceDialog[blocklist.EntryInfo]):
    """Choose what to block (↑/↓), say why and until when; dismisses with the new entry."""

    DEFAULT_CSS = """
    #block-what { height: auto; max-height: 8; }
    """
    heading = "Block this customer"
    needs = Action.BLOCKLIST
    submit_hint = "type the reason, Enter block · Shift+Tab choose what to block · Esc cancel"

    def __init__(self, detail: CustomerDetail) -> None:
        super().__init__()
        self.detail = detail
        self.options = choices(detail)

    def fields(self) -> ComposeResult:
        yield Label(Text("What to block (the customer's id unless you choose another)"))
        yield OptionList(*[Option(Text(f"{kind:<12} {visible(value)}")) for kind, value in self.options],
                         id="block-what")
        yield Static(id="error-value", classes="field-error")
        yield from form_field("Reason", Input(id="block-reason", compact=True, max_length=limits.REASON), "reason")
        yield from form_field("Expires (YYYY-MM-DD, empty: never)", Input(id="block-expires", compact=True,
                                                                           max_length=10), "expires")

    def on_mount(self) -> None:
        self.query_one(OptionList).highlighted = 0
        self.query_one("#block-reason", Input).focus()

    @on(Input.Submitted)
    def _submitted(self) -> None:
        self.action_submit()

    async def perform(self) -> blocklist.EntryInfo:
        kind, value = self.options[self.query_one(OptionList).highlighted or 0]
        return await self.call(blocklist.add_entry, kind, value, self.query_one("#block-reason", Input).value,
                                self.query_one("#block-expires", Input).value)


class UnblockDialog(ServiceDialog[blocklist.EntryInfo]):
    """The entries that block this customer; Enter removes the highlighted one and closes."""

    DEFAULT_CSS = """
    #unblock-list { height: auto; max-height: 8; }
    """
    heading = "Unblock"
    needs = Action.BLOCKLIST
    submit_hint = "Enter removes the entry · Esc cancel"

    def __init__(self, customer_id: int) -> None:
        super().__init__()
        self.customer_id = customer_id
        self.entries: list[blocklist.EntryInfo] = []

    def fields(self) -> ComposeResult:
        yield OptionList(id="unblock-list")

    def on_mount(self) -> None:
        self.load(lambda: self.call(blocklist.blocks_on, self.customer_id), self.show_entries)

    def show_entries(self, entries: list[blocklist.EntryInfo]) -> None:
        self.entries = entries
        options = self.query_one(OptionList)
        for e in entries:
            options.add_option(Option(Text(f"#{e.id} {e.kind} {visible(e.value)} {visible(e.reason or '')}")))
        if entries:
            options.highlighted = 0
            options.focus()
        else:
            self.note("No entry blocks this customer.", style="dim")

    @on(OptionList.OptionSelected, "#unblock-list")
    def _chosen(self) -> None:
        self.action_submit()

    async def perform(self) -> blocklist.EntryInfo:
        index = self.query_one(OptionList).highlighted
        if index is None or not self.entries:
            raise InvalidInput("Choose an entry first.")
        return await self.call(blocklist.remove_entry, self.entries[index].id)
