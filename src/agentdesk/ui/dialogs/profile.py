"""Profile dialogs for tags, payment instruments, tax IDs and the lead source."""

from __future__ import annotations

import asyncio

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, OptionList, Static
from textual.widgets.option_list import Option

from agentdesk.domain.errors import ServiceError
from agentdesk.domain.text import visible
from agentdesk.ui.base import desk_work


class TagsDialog(ModalScreen[bool]):
    """Add a tag (type it, Enter) or remove one (pick it, Enter)."""

    BINDINGS = [Binding("escape", "close", "Close")]

    def __init__(self, customer_id: int, tags: list[str]) -> None:
        super().__init__()
        self.customer_id = customer_id
        self.tags = list(tags)
        self.changed = False

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Static(Text("Tags · type a tag and Enter to add · pick one and Enter to remove · Esc close",
                              style="bold"))
            yield Input(placeholder="new tag", id="tag-new", compact=True)
            yield OptionList(id="tag-list")
            yield Static(id="tag-status")

    def on_mount(self) -> None:
        self._show()
        self.query_one("#tag-new", Input).focus()

    def _show(self) -> None:
        options = self.query_one(OptionList)
        options.clear_options()
        for tag in self.tags:
            options.add_option(Option(Text(f"✕ {visible(tag)}")))
        if self.tags:
            options.highlighted = 0

    @on(Input.Submitted, "#tag-new")
    def _add(self, event: Input.Submitted) -> None:
        if event.value.strip():
            self.change(event.value, add=True)

    @on(OptionList.OptionSelected, "#tag-list")
    def _remove(self, event: OptionList.OptionSelected) -> None:
        self.change(self.tags[event.option_index], add=False)

    @desk_work(group="tags")
    async def change(self, tag: str, add: bool) -> None:
        from agentdesk.services.customers import tags as tag_service

        app = self.app
        try:
            call = tag_service.add_tag if add else tag_service.remove_tag
            self.tags = await asyncio.to_thread(call, app.store, app.actor, self.customer_id, tag)
        except ServiceError as exc:
            self.query_one("#tag-status", Static).update(Text(visible(str(exc)), style="red"))
            return
        self.changed = True
        self.query_one("#tag-new", Input).value = ""
        self.query_one("#tag-status", Static).update(Text(f"{'Added' if add else 'Removed'} {visible(tag.strip().lower())}",
                                                          style="green"))
        self._show()

    def action_close(self) -> None:
        self.dismiss(self.changed)


class InstrumentsDialog(ModalScreen[bool]):
    """The customer's payment instruments: p primary · b backup on/off · x expiry · d deactivate · a add card."""

    BINDINGS = [
        Binding("escape", "close", "Close"),
        Binding("p", "primary", "Primary"),
        Binding("b", "backup", "Backup on/off"),
        Binding("d", "deactivate", "Deactivate"),
        Binding("x", "expiry", "Expiry"),
        Binding("a", "add", "Add card"),
        Binding("o", "add_other", "Add other method"),
        Binding("g", "sticky", "Sticky gateway"),
        Binding("l", "billing", "Billing address"),
        Binding("c", "copy_fingerprint", "Copy fingerprint"),
    ]

    def __init__(self, detail) -> None:
        super().__init__()
        self.customer_id = detail.id
        self.instruments = list(detail.instruments)
        self.changed = False
        self.mode: str | None = None

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Static(Text("Payment instruments · p primary · b backup · x expiry · d deactivate · a add card · "
                              "o other method · g sticky gateway · l billing address · c copy fingerprint · Esc close",
                              style="bold"))
            yield OptionList(id="instrument-list")
            yield Input(id="instrument-input", compact=True)
            yield Static(id="instrument-status")

    def on_mount(self) -> None:
        self.query_one("#instrument-input").display = False
        self._show()

    def _show(self, keep: int = 0) -> None:
        options = self.query_one(OptionList)
        options.clear_options()
        for i in self.instruments:
            flags = [i.status] + (["primary"] if i.primary else []) + (["backup"] if i.allow_backup else [])
            flags += [f"via {i.sticky_gateway}"] if i.sticky_gateway else []
            flags += [f"bills to {i.billing_address.get('city')}"] if i.billing_address else []
            options.add_option(Option(Text(f"{visible(i.label):<34} {', '.join(flags)}  fp {visible(i.fingerprint or '—')}")))
        if self.instruments:
            options.highlighted = min(keep, len(self.instruments) - 1)
        options.focus()

    def _current(self):
        index = self.query_one(OptionList).highlighted
        return self.instruments[index] if index is not None and self.instruments else None

    def _status(self, message: str, error: bool = False) -> None:
        self.query_one("#instrument-status", Static).update(Text(visible(message), style="red" if error else "green"))

    @desk_work(group="instruments")
    async def run(self, call, *args, message: str = "Saved") -> None:
        from agentdesk.services.customers.records import get_customer

        app = self.app
        keep = self.query_one(OptionList).highlighted or 0
        try:
            await asyncio.to_thread(call, app.store, app.actor, *args)
            detail = await asyncio.to_thread(get_customer, app.store, app.actor, self.customer_id)
        except ServiceError as exc:
            self._status(str(exc), error=True)
            return
        self.instruments = list(detail.instruments)
        self.changed = True
        self.query_one("#instrument-input").display = False
        self._show(keep)
        self._status(message)

    def action_primary(self) -> None:
        from agentdesk.services.money import instruments

        if (i := self._current()) is not None:
            self.run(instruments.set_primary, i.id, message=f"{i.label} is now primary")

    def action_backup(self) -> None:
        from agentdesk.services.money import instruments

        if (i := self._current()) is not None:
            self.run(instruments.set_backup, i.id, not i.allow_backup, message="Backup use changed")

    def action_deactivate(self) -> None:
        from agentdesk.services.money import instruments

        if (i := self._current()) is not None:
            self.run(instruments.deactivate, i.id, message=f"{i.label} deactivated")

    def _ask(self, mode: str, placeholder: str) -> None:
        self.mode = mode
        field = self.query_one("#instrument-input", Input)
        field.value = ""
        field.placeholder = placeholder
        field.display = True
        field.focus()

    def action_expiry(self) -> None:
        if self._current() is not None:
            self._ask("expiry", "new expiry MM/YY, Enter")

    def action_add(self) -> None:
        self._ask("add", "card number, then a space and MM/YY, Enter")

    def action_add_other(self) -> None:
        self._ask("other", "bank_account 1234 · paypal · other, Enter")

    def action_sticky(self) -> None:
        if self._current() is not None:
            self._ask("sticky", "sandbox or stripe (empty: the website's default), Enter")

    def action_billing(self) -> None:
        if self._current() is not None:
            self._ask("billing", "line 1; city; country; postal code, Enter")

    def action_copy_fingerprint(self) -> None:
        current = self._current()
        if current is None or not current.fingerprint:
            self._status("This instrument has no fingerprint.", error=True)
            return
        self.app.copy_to_clipboard(current.fingerprint)
        self._status(f"Copied the fingerprint {current.fingerprint}")

    @on(Input.Submitted, "#instrument-input")
    def _entered(self, event: Input.Submitted) -> None:
        from agentdesk.services.money import instruments

        text = event.value.strip()
        if self.mode == "expiry" and (i := self._current()) is not None:
            self.run(instruments.update_expiry, i.id, text, message="Expiry updated")
        elif self.mode == "add":
            number, _, expiry = text.rpartition(" ")
            self.run(instruments.add_card, self.app.settings, self.customer_id, number, expiry, message="Card added")
        elif self.mode == "other":
            method, _, reference = text.partition(" ")
            self.run(instruments.add_other_method, self.customer_id, method, reference, message="Method added")
        elif self.mode == "sticky" and (i := self._current()) is not None:
            self.run(instruments.set_sticky_gateway, i.id, text, message="Sticky gateway set")
        elif self.mode == "billing" and (i := self._current()) is not None:
            parts = [p.strip() for p in text.split(";")] + ["", "", "", ""]
            self.run(instruments.set_billing_address, i.id, parts[0], parts[1], parts[2], parts[3] or None,
                     message="Billing address saved")

    def action_close(self) -> None:
        if self.query_one("#instrument-input").display:
            self.query_one("#instrument-input").display = False
            self.query_one(OptionList).focus()
            return
        self.dismiss(self.changed)


class TaxIdsDialog(ModalScreen[bool]):
    """Tax IDs: type "vat GB123456789" and Enter to add; on a listed one, d deletes and * makes it the default."""

    BINDINGS = [Binding("escape", "close", "Close"), Binding("d", "delete", "Delete"),
                Binding("asterisk", "make_default", "Default")]

    def __init__(self, detail) -> None:
        super().__init__()
        self.customer_id = detail.id
        self.taxes = list(detail.tax_ids)
        self.changed = False

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Static(Text("Tax IDs · type and Enter to add (e.g. vat GB123456789) · d delete · * default · Esc close",
                              style="bold"))
            yield Input(placeholder="type value", id="tax-new", compact=True)
            yield OptionList(id="tax-list")
            yield Static(id="tax-status")

    def on_mount(self) -> None:
        self._show()
        self.query_one("#tax-new", Input).focus()

    def _show(self) -> None:
        options = self.query_one(OptionList)
        options.clear_options()
        for t in self.taxes:
            options.add_option(Option(Text(f"{t.type.upper():<6} {visible(t.value)}{'  ★ default' if t.default else ''}")))
        if self.taxes:
            options.highlighted = 0

    @desk_work(group="taxes")
    async def run(self, call, *args) -> None:
        from agentdesk.services.customers.records import get_customer

        app = self.app
        try:
            await asyncio.to_thread(call, app.store, app.actor, *args)
            detail = await asyncio.to_thread(get_customer, app.store, app.actor, self.customer_id)
        except ServiceError as exc:
            self.query_one("#tax-status", Static).update(Text(visible(str(exc)), style="red"))
            return
        self.taxes = list(detail.tax_ids)
        self.changed = True
        self.query_one("#tax-new", Input).value = ""
        self.query_one("#tax-status", Static).update(Text("Saved", style="green"))
        self._show()

    @on(Input.Submitted, "#tax-new")
    def _add(self, event: Input.Submitted) -> None:
        from agentdesk.services.customers import extras as profile_extras

        kind, _, value = event.value.strip().partition(" ")
        self.run(profile_extras.add_tax_id, self.customer_id, kind, value)

    def _current(self):
        index = self.query_one(OptionList).highlighted
        return self.taxes[index] if index is not None and self.taxes else None

    def action_delete(self) -> None:
        from agentdesk.services.customers import extras as profile_extras

        if self.focused is not self.query_one("#tax-new") and (t := self._current()) is not None:
            self.run(profile_extras.delete_tax_id, t.id)

    def action_make_default(self) -> None:
        from agentdesk.services.customers import extras as profile_extras

        if self.focused is not self.query_one("#tax-new") and (t := self._current()) is not None:
            self.run(profile_extras.set_default_tax_id, t.id)

    def action_close(self) -> None:
        self.dismiss(self.changed)


class LeadSourceDialog(ModalScreen[bool]):
    BINDINGS = [Binding("escape", "cancel", "Cancel"), Binding("ctrl+s", "save", "Save")]

    def __init__(self, detail) -> None:
        super().__init__()
        self.customer_id = detail.id
        self.values = dict(detail.lead_source)

    def compose(self) -> ComposeResult:
        from agentdesk.services.customers.extras import LEAD_FIELDS

        with Vertical(classes="dialog"):
            yield Static(Text("Lead source · Ctrl+S save · Esc cancel", style="bold"))
            for name in LEAD_FIELDS:
                yield Input(self.values.get(name, ""), placeholder=name.replace("_", " "), id=f"lead-{name}", compact=True)
            yield Static(id="lead-status")

    @desk_work(group="lead")
    async def action_save(self) -> None:
        from agentdesk.services.customers import extras as profile_extras

        values = {name: self.query_one(f"#lead-{name}", Input).value for name in profile_extras.LEAD_FIELDS}
        app = self.app
        try:
            await asyncio.to_thread(profile_extras.set_lead_source, app.store, app.actor, self.customer_id, values)
        except ServiceError as exc:
            self.query_one("#lead-status", Static).update(Text(visible(str(exc)), style="red"))
            return
        self.dismiss(True)

    def action_cancel(self) -> None:
        self.dismiss(False)
