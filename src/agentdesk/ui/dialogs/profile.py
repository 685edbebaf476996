"""Profile dialogs for tags, payment instruments, tax IDs and the lead source.

The list dialogs stay open while the agent makes several changes; each change
is one service call, and closing returns True when anything changed (None when
nothing did), so the profile knows to reload.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.widgets import Input, OptionList, Static
from textual.widgets.option_list import Option

from agentdesk.domain.errors import InvalidInput
from agentdesk.domain.permissions import Action
from agentdesk.domain.text import visible
from agentdesk.services.customers import extras as profile_extras
from agentdesk.services.customers import tags as tag_service
from agentdesk.services.customers.extras import TaxIdInfo
from agentdesk.services.customers.records import CustomerDetail, InstrumentView, get_customer
from agentdesk.services.money import instruments
from agentdesk.ui.base import ServiceDialog


class TagsDialog(ServiceDialog[bool]):
    """Add a tag (type it, Enter) or remove one (pick it, Enter)."""

    DEFAULT_CSS = """
    #tag-list { height: auto; max-height: 8; }
    """
    heading = "Tags"
    needs = Action.EDIT_CUSTOMERS
    submit_hint = "type a tag and Enter to add · pick one and Enter to remove · Esc close"

    def __init__(self, customer_id: int, tags: list[str]) -> None:
        super().__init__()
        self.customer_id = customer_id
        self.tags = list(tags)

    def fields(self) -> ComposeResult:
        yield Input(placeholder="new tag", id="tag-new", compact=True)
        yield Static(id="error-tag", classes="field-error")
        yield OptionList(id="tag-list")

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
    def _add(self) -> None:
        self.action_submit()

    async def perform(self) -> bool:
        tag = self.query_one("#tag-new", Input).value
        if not tag.strip():
            raise InvalidInput(fields={"tag": "type a tag first"})
        self.tags = await self.call(tag_service.add_tag, self.customer_id, tag)
        self.query_one("#tag-new", Input).value = ""
        self.note(f"Added {tag.strip().lower()}")
        return True

    @on(OptionList.OptionSelected, "#tag-list")
    def _remove(self, event: OptionList.OptionSelected) -> None:
        tag = self.tags[event.option_index]

        async def remove() -> bool:
            self.tags = await self.call(tag_service.remove_tag, self.customer_id, tag)
            self.note(f"Removed {tag}")
            return True

        self.attempt(remove, self.submitted)

    def submitted(self, result: bool) -> None:
        self.result = result
        self._show()


class ListDialog(ServiceDialog[bool]):
    """A dialog over a list of the customer's things that reloads the customer after each change."""

    needs = Action.EDIT_CUSTOMERS

    def __init__(self, detail: CustomerDetail) -> None:
        super().__init__()
        self.customer_id = detail.id
        self.detail = detail

    def change(self, service: Callable[..., Any], *args: Any, message: str = "Saved") -> None:
        """Call `service(store, actor, *args)`, then read the customer again and redraw the list."""

        async def run() -> CustomerDetail:
            await self.call(service, *args)
            return await self.call(get_customer, self.customer_id)

        def done(detail: CustomerDetail) -> None:
            self.detail = detail
            self.result = True
            self.redraw()
            self.note(message)

        self.attempt(run, done)

    def redraw(self) -> None:
        raise NotImplementedError


class InstrumentsDialog(ListDialog):
    """The customer's payment instruments: p primary · b backup on/off · x expiry · d deactivate · a add card."""

    DEFAULT_CSS = """
    #instrument-list { height: auto; max-height: 8; }
    """
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("p", "primary", "Primary", id="instruments.primary"),
        Binding("b", "backup", "Backup on/off", id="instruments.backup"),
        Binding("d", "deactivate", "Deactivate", id="instruments.deactivate"),
        Binding("x", "expiry", "Expiry", id="instruments.expiry"),
        Binding("a", "add", "Add card", id="instruments.add_card"),
        Binding("o", "add_other", "Add other method", id="instruments.add_other"),
        Binding("g", "sticky", "Sticky gateway", id="instruments.sticky_gateway"),
        Binding("l", "billing", "Billing address", id="instruments.billing_address"),
        Binding("c", "copy_fingerprint", "Copy fingerprint", id="instruments.copy_fingerprint"),
    ]
    heading = "Payment instruments"
    gated_actions = frozenset({"primary", "backup", "deactivate", "expiry", "add", "add_other", "sticky", "billing"})
    submit_hint = ("p primary · b backup · x expiry · d deactivate · a add card · o other method · "
                   "g sticky gateway · l billing address · c copy fingerprint · Esc close")

    def __init__(self, detail: CustomerDetail) -> None:
        super().__init__(detail)
        self.mode: str | None = None

    @property
    def instruments(self) -> list[InstrumentView]:
        return list(self.detail.instruments)

    def fields(self) -> ComposeResult:
        yield OptionList(id="instrument-list")
        yield Input(id="instrument-input", compact=True)

    def on_mount(self) -> None:
        self.query_one("#instrument-input").display = False
        self.redraw()

    def redraw(self) -> None:
        options = self.query_one(OptionList)
        keep = options.highlighted or 0
        options.clear_options()
        for i in self.instruments:
            flags = [i.status] + (["primary"] if i.primary else []) + (["backup"] if i.allow_backup else [])
            flags += [f"via {i.sticky_gateway}"] if i.sticky_gateway else []
            flags += [f"bills to {i.billing_address.get('city')}"] if i.billing_address else []
            options.add_option(Option(Text(f"{visible(i.label):<34} {visible(', '.join(flags))}  "
                                           f"fp {visible(i.fingerprint or '—')}")))
        if self.instruments:
            options.highlighted = min(keep, len(self.instruments) - 1)
        self.query_one("#instrument-input").display = False
        options.focus()

    def _current(self) -> InstrumentView | None:
        index = self.query_one(OptionList).highlighted
        return self.instruments[index] if index is not None and self.instruments else None

    def action_primary(self) -> None:
        if (i := self._current()) is not None:
            self.change(instruments.set_primary, i.id, message=f"{i.label} is now primary")

    def action_backup(self) -> None:
        if (i := self._current()) is not None:
            self.change(instruments.set_backup, i.id, not i.allow_backup, message="Backup use changed")

    def action_deactivate(self) -> None:
        if (i := self._current()) is not None:
            self.change(instruments.deactivate, i.id, message=f"{i.label} deactivated")

    def _ask(self, mode: str, placeholder: str) -> None:
        self.mode = mode
        box = self.query_one("#instrument-input", Input)
        box.value = ""
        box.placeholder = placeholder
        box.display = True
        box.focus()

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
            self.show_error("This instrument has no fingerprint.")
            return
        self.app.copy_to_clipboard(current.fingerprint)
        self.note(f"Copied the fingerprint {current.fingerprint}")

    @on(Input.Submitted, "#instrument-input")
    def _entered(self, event: Input.Submitted) -> None:
        text = event.value.strip()
        current = self._current()
        if self.mode == "add":
            number, _, expiry = text.rpartition(" ")
            self.change(instruments.add_card, self.app.settings, self.customer_id, number, expiry, message="Card added")
        elif self.mode == "other":
            method, _, reference = text.partition(" ")
            self.change(instruments.add_other_method, self.customer_id, method, reference, message="Method added")
        elif current is None:
            return
        elif self.mode == "expiry":
            self.change(instruments.update_expiry, current.id, text, message="Expiry updated")
        elif self.mode == "sticky":
            self.change(instruments.set_sticky_gateway, current.id, text, message="Sticky gateway set")
        elif self.mode == "billing":
            parts = [p.strip() for p in text.split(";")] + ["", "", "", ""]
            self.change(instruments.set_billing_address, current.id, parts[0], parts[1], parts[2], parts[3] or None,
                        message="Billing address saved")

    def action_cancel(self) -> None:
        if self.query_one("#instrument-input").display:
            self.query_one("#instrument-input").display = False
            self.query_one(OptionList).focus()
            return
        super().action_cancel()


class TaxIdsDialog(ListDialog):
    """Tax IDs: type "vat GB123456789" and Enter to add; on a listed one, d deletes and * makes it the default."""

    DEFAULT_CSS = """
    #tax-list { height: auto; max-height: 6; }
    """
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("d", "delete", "Delete", id="tax_ids.delete"),
        Binding("asterisk", "make_default", "Default", id="tax_ids.make_default"),
    ]
    heading = "Tax IDs"
    gated_actions = frozenset({"submit", "delete", "make_default"})
    submit_hint = "type and Enter to add (e.g. vat GB123456789) · d delete · * default · Esc close"

    @property
    def taxes(self) -> list[TaxIdInfo]:
        return list(self.detail.tax_ids)

    def fields(self) -> ComposeResult:
        yield Input(placeholder="type value", id="tax-new", compact=True)
        yield Static(id="error-type", classes="field-error")
        yield Static(id="error-value", classes="field-error")
        yield OptionList(id="tax-list")

    def on_mount(self) -> None:
        self.redraw()
        self.query_one("#tax-new", Input).focus()

    def redraw(self) -> None:
        options = self.query_one(OptionList)
        options.clear_options()
        for t in self.taxes:
            default = "  ★ default" if t.default else ""
            options.add_option(Option(Text(f"{visible(t.type.upper()):<6} {visible(t.value)}{default}")))
        if self.taxes:
            options.highlighted = 0
        self.query_one("#tax-new", Input).value = ""

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action in ("delete", "make_default") and (isinstance(self.focused, Input) or not self.taxes):
            return False
        return super().check_action(action, parameters)

    @on(Input.Submitted, "#tax-new")
    def _add(self) -> None:
        self.action_submit()

    def action_submit(self) -> None:
        kind, _, value = self.query_one("#tax-new", Input).value.strip().partition(" ")
        self.change(profile_extras.add_tax_id, self.customer_id, kind, value)

    def _current(self) -> TaxIdInfo | None:
        index = self.query_one(OptionList).highlighted
        return self.taxes[index] if index is not None and self.taxes else None

    def action_delete(self) -> None:
        if (t := self._current()) is not None:
            self.change(profile_extras.delete_tax_id, t.id)

    def action_make_default(self) -> None:
        if (t := self._current()) is not None:
            self.change(profile_extras.set_default_tax_id, t.id)


class LeadSourceDialog(ServiceDialog[dict[str, str]]):
    """Where the customer came from; dismisses with the saved values."""

    heading = "Lead source"
    needs = Action.EDIT_CUSTOMERS

    def __init__(self, detail: CustomerDetail) -> None:
        super().__init__()
        self.customer_id = detail.id
        self.values = dict(detail.lead_source)

    def fields(self) -> ComposeResult:
        for name in profile_extras.LEAD_FIELDS:
            yield Input(self.values.get(name, ""), placeholder=name.replace("_", " "), id=f"lead-{name}", compact=True)
            yield Static(id=f"error-{name}", classes="field-error")

    async def perform(self) -> dict[str, str]:
        values = {name: self.query_one(f"#lead-{name}", Input).value for name in profile_extras.LEAD_FIELDS}
        return await self.call(profile_extras.set_lead_source, self.customer_id, values)
