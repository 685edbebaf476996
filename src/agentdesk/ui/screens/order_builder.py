"""The order builder (`o` on a customer's profile, or "New order for …" in the palette).

One keyboard form over the whole terminal: website, the type (derived from the items, shown), the
items (`a` adds one, Enter on an item edits it, Delete removes it — see `OrderItemDialog`), coupons,
the payment instrument (the default preselected) and autopay, shipping and its address, when it
starts and renews, auto-abandon and delinquency days, and notes printed on the invoice.

Ctrl+S previews (`orders.preview_order`, nothing written); the preview's Enter creates the order for
exactly the previewed total (`orders.create_order`), and the outcome is announced on the profile:
approved, declined with the gateway's reason (the order stays pending), or pending. F6 saves the same
request as a quote instead (`OrderQuoteDialog`: expiry, acceptance, terms…). Esc asks before
throwing a filled form away. Typed amounts go through `parse_amount` in the customer's currency.
"""

from __future__ import annotations

from typing import Any, ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.widgets import Checkbox, DataTable, Footer, Input, Select, Static

from agentdesk.domain import limits
from agentdesk.domain.dates import parse_date
from agentdesk.domain.enums import InstrumentStatus, PlanKind
from agentdesk.domain.errors import InvalidInput
from agentdesk.domain.money import format_amount, parse_amount
from agentdesk.domain.permissions import Action
from agentdesk.domain.text import visible
from agentdesk.services.customers.records import CustomerDetail
from agentdesk.services.orders import preview as orders_preview
from agentdesk.services.orders.create import OrderResult
from agentdesk.services.orders.preview import OrderPreview
from agentdesk.services.orders.requests import OrderRequest, ShippingChoice, ShippingMode
from agentdesk.ui.base import ServiceDialog, field_row, put
from agentdesk.ui.dialogs.order_item import MAX_DAYS, ItemDraft, OrderItemDialog, whole_number
from agentdesk.ui.dialogs.order_preview import OrderPreviewDialog
from agentdesk.ui.dialogs.order_quote import OrderQuoteDialog, QuoteSaved

SHIPPING = [("none", "none"), ("catalog rate for the address's country", "catalog"), ("manual amount", "manual")]
FIELD_OF = {
    "coupon": "coupons", "website": "website_code", "instrument": "instrument_id", "address_id": "address",
    "invoice_notes": "notes", "customer_ref": "items",
}
"""A service's field name (its head, `items[0].x` → items) → the builder's field showing its problem."""


class ItemsTable(DataTable[Text]):
    """The order's items; Enter edits the highlighted one, Delete removes it."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("enter", "edit_item", "Edit item", id="order_builder.edit_item"),
        Binding("delete", "remove_item", "Remove item", id="order_builder.remove_item"),
    ]

    def action_edit_item(self) -> None:
        screen = self.screen
        if isinstance(screen, OrderBuilderScreen):
            screen.edit_item(self.cursor_row)

    def action_remove_item(self) -> None:
        screen = self.screen
        if isinstance(screen, OrderBuilderScreen):
            screen.remove_item(self.cursor_row)


def outcome(result: OrderResult) -> tuple[str, str]:
    """(sentence, severity) announcing what creating the order did."""
    total = format_amount(result.total_today, result.currency)
    invoice = f", invoice {result.invoice_number}" if result.invoice_number else ""
    said = f": {visible(result.message)}" if result.message else ""
    head = f"Order {result.order_number} created{invoice}"
    if result.payment == "approved":
        return f"{head}; {total} charged, payment approved.", "information"
    if result.payment == "declined":
        return f"{head}, but the payment of {total} was declined{said}. The order stays pending.", "warning"
    if result.payment == "pending":
        return (f"{head}; the payment of {total} is pending with the gateway (it is checked again "
                "automatically).", "warning")
    if result.payment == "no autopay":
        return f"{head}; autopay is off, so {total} is invoiced and not charged.", "information"
    return f"{head}; nothing is due today{said}.", "information"


class OrderBuilderScreen(ServiceDialog[OrderResult | QuoteSaved]):
    """Dismisses with the `OrderResult` once the order is created, or `QuoteSaved` once saved as a quote
    (None when closed without either)."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "cancel", "Close", id="order_builder.close"),
        Binding("ctrl+s", "submit", "Preview", id="order_builder.preview", priority=True),
        Binding("a", "add_item", "Add item", id="order_builder.add_item"),
        Binding("f6", "save_quote", "Save as quote", id="order_builder.save_quote"),
        Binding("question_mark", "help", "Help", show=False, id="order_builder.help"),
        Binding("ctrl+p", "palette", "Commands", show=False, id="order_builder.palette"),
    ]
    """A modal screen hides the app's keys: `?` and Ctrl+P are the builder's own (it is a whole screen)."""
    TITLE = "Order builder"
    needs = Action.CREATE_ORDERS
    gated_actions: ClassVar[frozenset[str]] = frozenset({"submit", "add_item", "save_quote"})
    input_prefix = "o-"
    submit_hint = "a add · Enter edit · Del remove · Ctrl+S preview · F6 quote · Esc close"

    def __init__(self, detail: CustomerDetail) -> None:
        super().__init__()
        self.detail = detail
        self.currency = detail.currency
        self.items: list[ItemDraft] = []
        self.heading = f"New order for {detail.name} ({detail.external_id}) · {detail.currency}"
        self.pristine_choices: dict[str, Any] = {}

    def compose(self) -> ComposeResult:
        yield from super().compose()
        yield Footer(compact=True)

    def fields(self) -> ComposeResult:
        d = self.detail
        yield from field_row("Website", Input(d.website, id="o-website_code", compact=True,
                                              max_length=limits.WEBSITE_CODE), "website_code")
        yield from field_row("Type", Static(id="o-type"), "type")
        with Vertical(id="o-items-box"):
            yield Static(Text("Items", style="bold"), classes="field-label")
            yield ItemsTable(id="o-items", cursor_type="row", zebra_stripes=False)
            yield Static(id="o-items-hint")
            yield Static(id="error-items", classes="field-error")
        yield from field_row("Coupons", Input(placeholder="codes, separated by commas", id="o-coupons",
                                              compact=True, max_length=400), "coupons")
        instruments = [i for i in d.instruments if i.status == InstrumentStatus.ACTIVE]
        default = next((i.id for i in instruments if i.primary), instruments[0].id if instruments else None)
        yield from field_row("Pay with", Select([(Text(visible(i.label)), i.id) for i in instruments],
                                                prompt="no payment instrument", compact=True, id="o-instrument_id",
                                                value=Select.NULL if default is None else default),
                             "instrument_id")
        yield Checkbox("Autopay: charge the instrument whenever a bill is due", True, id="o-autopay", compact=True)
        yield from field_row("Shipping", Select([(Text(label), v) for label, v in SHIPPING], allow_blank=False,
                                                value="none", compact=True, id="o-shipping"), "shipping")
        yield from field_row(f"Shipping ({self.currency})", Input(placeholder="manual amount", id="o-shipping_amount",
                                                                   compact=True, max_length=20), "shipping_amount")
        addresses = sorted(d.addresses, key=lambda a: not a.primary)
        yield from field_row("Ship to", Select([(Text(visible(f"{a.line1}, {a.city}, {a.country}")), a.id)
                                                for a in addresses], prompt="no address on file", compact=True,
                                               id="o-address", value=addresses[0].id if addresses else Select.NULL),
                             "address")
        yield from field_row("Start", Input(placeholder="empty: now · or YYYY-MM-DD", id="o-start_on",
                                            compact=True, max_length=10), "start_on")
        yield from field_row("Renewal", Input(placeholder="empty: at period end · or YYYY-MM-DD", id="o-renew_on",
                                              compact=True, max_length=10), "renew_on")
        yield from field_row("Abandon after", Input(placeholder="days unpaid before a pending order is abandoned",
                                                    id="o-abandon_after_days", compact=True, max_length=5),
                             "abandon_after_days")
        yield from field_row("Cancel unpaid", Input(placeholder="days past due before the subscription is cancelled",
                                                    id="o-delinquency_days", compact=True, max_length=5),
                             "delinquency_days")
        yield from field_row("Invoice notes", Input(placeholder="printed on the invoice", id="o-notes", compact=True,
                                                    max_length=limits.INVOICE_NOTES), "notes")

    def on_mount(self) -> None:
        super().on_mount()
        table = self.query_one(ItemsTable)
        table.add_column("Item", key="item")
        table.add_column("Quantity × unit price = amount", key="price")
        table.add_column("Period", key="period")
        table.add_column("Customised", key="customised")
        self.show_items()
        table.focus()

    def action_help(self) -> None:
        self.app.action_help()

    def action_palette(self) -> None:
        self.app.action_command_palette()

    # --- asking before losing the form -------------------------------------------------------------

    def choices(self) -> dict[str, Any]:
        return {str(s.id): s.value for s in self.query(Select)}

    def mark_pristine(self) -> None:
        super().mark_pristine()
        self.pristine_choices = self.choices()

    @property
    def dirty(self) -> bool:
        return bool(self.items) or super().dirty or self.choices() != self.pristine_choices

    # --- items ----------------------------------------------------------------------------------

    def show_items(self, cursor: int | None = None) -> None:
        table = self.query_one(ItemsTable)
        table.clear()
        for draft in self.items:
            customised = ", ".join(name.replace("_", " ") for name in draft.customised)
            table.add_row(Text(visible(draft.name)), Text(draft.price_line()), Text(draft.every),
                          Text(customised or "—", style="yellow" if customised else "dim"))
        if self.items:
            table.move_cursor(row=min(cursor if cursor is not None else len(self.items) - 1, len(self.items) - 1))
        hint = self.query_one("#o-items-hint", Static)
        if self.items:
            total = sum(d.amount for d in self.items)
            hint.update(Text(f"Per period: {format_amount(total, self.currency)} before discounts · "
                             "a add · Enter edit · Del remove", style="dim"))
        else:
            hint.update(Text("No items yet: press a to add one.", style="yellow"))
        kinds = {d.kind for d in self.items}
        kind = "—" if not kinds else "One-time" if kinds == {PlanKind.ONE_TIME} else "Subscription"
        self.query_one("#o-type", Static).update(Text(f"{kind} (from the items)"))

    def action_add_item(self) -> None:
        if not self.refuse(Action.CREATE_ORDERS):
            return

        def added(draft: ItemDraft | None) -> None:
            if draft is not None:
                self.items.append(draft)
                self.show_items()
                put(self.query_one("#error-items", Static), "")
            self.query_one(ItemsTable).focus()

        self.app.push_screen(OrderItemDialog(self.currency), added)

    def edit_item(self, index: int) -> None:
        if not 0 <= index < len(self.items):
            self.action_add_item()
            return

        def edited(draft: ItemDraft | None) -> None:
            if draft is not None:
                self.items[index] = draft
                self.show_items(index)
            self.query_one(ItemsTable).focus()

        self.app.push_screen(OrderItemDialog(self.currency, self.items[index]), edited)

    def remove_item(self, index: int) -> None:
        if 0 <= index < len(self.items):
            removed = self.items.pop(index)
            self.show_items(index)
            self.app.notify(f"Removed {visible(removed.name)}.", timeout=3, markup=False)

    # --- the request ----------------------------------------------------------------------------

    def value(self, name: str) -> str:
        return self.query_one(f"#o-{name}", Input).value.strip()

    def choice(self, name: str) -> Any:
        value = self.query_one(f"#o-{name}", Select).value
        return None if value is Select.NULL else value

    def request(self) -> OrderRequest:
        """The order as typed; every field checked, all problems at once (nothing is sent otherwise)."""
        problems: dict[str, str] = {}

        def read(name: str, parse: Any) -> Any:
            if not self.value(name):
                return None
            try:
                return parse(self.value(name))
            except InvalidInput as exc:
                problems.update(exc.fields or {name: str(exc)})
                return None

        if not self.items:
            problems["items"] = "add at least one item (press a)"
        mode: ShippingMode = self.choice("shipping") or "none"
        amount = read("shipping_amount", lambda t: parse_amount(t, self.currency, field="shipping_amount",
                                                                 allow_zero=True))
        if mode == "manual" and not self.value("shipping_amount"):
            problems["shipping_amount"] = "enter the shipping amount, or choose another shipping"
        elif mode != "manual" and self.value("shipping_amount"):
            problems["shipping_amount"] = "a typed amount is used only with “manual amount” shipping"
        if mode != "none" and self.choice("address") is None:
            problems["address"] = "shipping needs an address; add one to the customer first"
        start = read("start_on", lambda t: parse_date(t, "start_on"))
        renew = read("renew_on", lambda t: parse_date(t, "renew_on"))
        abandon = read("abandon_after_days", lambda t: whole_number(t, "abandon_after_days", low=1, high=MAX_DAYS,
                                                                   what="days"))
        delinquency = read("delinquency_days", lambda t: whole_number(t, "delinquency_days", low=1, high=MAX_DAYS,
                                                                     what="days"))
        if problems:
            raise InvalidInput(fields=problems)
        coupons = [c.strip() for c in self.value("coupons").replace(";", ",").split(",") if c.strip()]
        return OrderRequest(
            customer_ref=self.detail.external_id,
            items=[d.request() for d in self.items],
            website_code=self.value("website_code") or None,
            coupons=coupons,
            instrument_id=self.choice("instrument_id"),
            autopay=self.query_one("#o-autopay", Checkbox).value,
            shipping=ShippingChoice(mode=mode, amount=amount if mode == "manual" else None,
                                    address_id=self.choice("address") if mode != "none" else None),
            start_on=start,
            renew_on=renew,
            abandon_after_days=abandon,
            delinquency_days=delinquency,
            notes=self.value("notes") or None,
        )

    def field_of(self, name: str) -> str:
        """`items[0].unit_price` → items, `shipping.amount` → shipping, `coupon` → coupons."""
        head = name.split("[")[0].split(".")[0]
        return FIELD_OF.get(head, head)

    # --- preview and confirm ---------------------------------------------------------------------

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action in self.gated_actions:
            return self.gate(Action.CREATE_ORDERS)
        return super().check_action(action, parameters)

    def action_submit(self) -> None:
        """Ctrl+S: check the form, preview the order (nothing written), and show the preview."""
        self.attempt(self.previewed, self.show_preview)

    async def previewed(self) -> tuple[OrderRequest, OrderPreview]:
        request = self.request()
        return request, await self.call(orders_preview.preview_order, request)

    def show_preview(self, result: tuple[OrderRequest, OrderPreview]) -> None:
        request, preview = result
        self.app.push_screen(OrderPreviewDialog(self.detail.name, request, preview), self.confirmed)

    def confirmed(self, result: OrderResult | None) -> None:
        if result is None:
            return
        sentence, severity = outcome(result)
        self.app.notify(sentence, title="New order", severity="information" if severity == "information"
                        else "warning", timeout=8 if severity == "information" else 15, markup=False)
        self.result = result
        self.dismiss(result)

    # --- save as quote -------------------------------------------------------------------------

    def action_save_quote(self) -> None:
        """F6: check the form like a preview does, then ask what the quote needs (`OrderQuoteDialog`)."""
        if self.busy or not self.refuse(Action.CREATE_ORDERS):
            return
        self.clear_errors()
        try:
            request = self.request()
        except InvalidInput as exc:
            self.show_error(exc)
            return
        self.app.push_screen(OrderQuoteDialog(self.detail.name, request), self.quoted)

    def quoted(self, saved: QuoteSaved | None) -> None:
        if saved is None:
            return
        self.app.notify(visible(saved.message), title="New quote", timeout=10, markup=False)
        self.result = saved
        self.dismiss(saved)
