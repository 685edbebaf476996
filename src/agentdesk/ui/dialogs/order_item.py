"""One item of a new order (`a` or Enter on the order builder's items): a plan found by typing,
a quantity, and — for this customer only — its terms changed.

The plan field searches the catalog as the agent types (`catalog.search_plans`, in the customer's
currency); ↓ moves into the matches, Enter picks the highlighted one. The price line reads
"quantity × unit price = amount". "Customise for this customer" opens the overrides: an empty
override keeps the plan's term (its value is the placeholder), a filled one replaces it on this
order only (the catalog never changes). Typed amounts go through `parse_amount` in the customer's
currency; a bad one is refused beside its field and nothing is added.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any, ClassVar

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.widgets import Checkbox, Input, OptionList, Select, Static
from textual.widgets.option_list import Option

from agentdesk.domain import limits
from agentdesk.domain.enums import BillingTiming, PlanInterval, PlanKind
from agentdesk.domain.errors import InvalidInput
from agentdesk.domain.money import format_amount, format_major, parse_amount
from agentdesk.domain.periods import describe_interval
from agentdesk.domain.permissions import Action
from agentdesk.domain.text import visible
from agentdesk.services.catalog import service as catalog
from agentdesk.services.catalog.service import PlanInfo
from agentdesk.services.orders.requests import ItemOverrides, ItemRequest
from agentdesk.ui.base import ServiceDialog, field_row, put

MATCHES = 20
MAX_QUANTITY = 10_000
MAX_DAYS = 3_650
MAX_CYCLES = 1_000

AMOUNT_OVERRIDES = ("unit_price", "trial_price", "setup_fee", "metered_unit_price")
DAY_OVERRIDES = ("trial_days", "invoice_issue_days", "invoice_due_days")
TEXT_OVERRIDES = AMOUNT_OVERRIDES + DAY_OVERRIDES + ("cycles", "interval_count", "plan_name")
CHOICE_OVERRIDES = ("recurrence", "interval", "kind", "billing_timing")
RECURRENCE = [("until cancelled", "forever"), ("limited to a number of cycles", "limited")]
INTERVALS = [(label, value) for label, value in (("days", PlanInterval.DAY), ("weeks", PlanInterval.WEEK),
                                                 ("months", PlanInterval.MONTH), ("years", PlanInterval.YEAR))]
KINDS = [("subscription", PlanKind.SUBSCRIPTION), ("one-time", PlanKind.ONE_TIME), ("trial only", PlanKind.TRIAL_ONLY)]
TIMINGS = [("in advance (start of each period)", BillingTiming.ADVANCE),
           ("in arrears (end of each period, usage)", BillingTiming.ARREARS)]


@dataclass(frozen=True)
class ItemDraft:
    """An item as the builder holds it: the plan, the quantity, the overrides, and what was typed
    (to open the item again as the agent left it)."""

    plan: PlanInfo
    quantity: int
    overrides: ItemOverrides
    typed: dict[str, Any] = field(default_factory=dict)

    @property
    def currency(self) -> str:
        return self.plan.currency

    @property
    def unit_price(self) -> int:
        return self.plan.price if self.overrides.unit_price is None else self.overrides.unit_price

    @property
    def amount(self) -> int:
        return self.quantity * self.unit_price

    @property
    def kind(self) -> PlanKind:
        return PlanKind(self.overrides.kind or self.plan.kind)

    @property
    def name(self) -> str:
        return self.overrides.plan_name or self.plan.name

    @property
    def customised(self) -> list[str]:
        return [f.name for f in fields(self.overrides) if getattr(self.overrides, f.name) is not None]

    @property
    def every(self) -> str:
        if self.kind is PlanKind.ONE_TIME:
            return "once"
        interval = PlanInterval(self.overrides.interval or self.plan.interval)
        count = self.overrides.interval_count or self.plan.interval_count
        return describe_interval(interval, count)

    def price_line(self) -> str:
        return price_line(self.quantity, self.unit_price, self.currency)

    def request(self) -> ItemRequest:
        return ItemRequest(plan_code=self.plan.code, quantity=self.quantity, overrides=self.overrides)


def price_line(quantity: int, unit_price: int, currency: str) -> str:
    """"2 × 19.99 USD = 39.98 USD"."""
    return f"{quantity} × {format_amount(unit_price, currency)} = {format_amount(quantity * unit_price, currency)}"


def plan_label(plan: PlanInfo) -> Text:
    """One line for a plan in the matches: name, product, code and price — all plain text."""
    every = describe_interval(PlanInterval(plan.interval), plan.interval_count)
    label = Text.assemble(
        (visible(plan.name), "bold"), f" · {format_amount(plan.price, plan.currency)} {every} · ",
        (visible(plan.code), "dim"), f" · {visible(plan.product_name)}",
    )
    label.no_wrap = True
    label.overflow = "ellipsis"
    return label


def plan_terms(plan: PlanInfo) -> str:
    """The catalog terms of a plan, in a sentence (what an override would replace)."""
    every = describe_interval(PlanInterval(plan.interval), plan.interval_count)
    parts = [f"{format_amount(plan.price, plan.currency)} {every}"]
    if plan.cycles:
        parts.append(f"{plan.cycles} cycles")
    if plan.trial_days:
        price = "free" if not plan.trial_price else format_amount(plan.trial_price, plan.currency)
        parts.append(f"{plan.trial_days}-day trial ({price})")
    if plan.setup_fee:
        parts.append(f"setup fee {format_amount(plan.setup_fee, plan.currency)}")
    if plan.billing_timing == BillingTiming.ARREARS:
        parts.append("billed in arrears")
    if plan.metered_unit_price is not None:
        parts.append(f"{format_amount(plan.metered_unit_price, plan.currency)} per unit used")
    return ", ".join(parts)


def whole_number(text: str, field: str, *, low: int, high: int, what: str) -> int:
    raw = text.strip()
    if not raw.isascii() or not raw.isdigit():
        raise InvalidInput(fields={field: f"{visible(raw[:20])!r} is not a whole number of {what}"})
    value = int(raw)
    if not low <= value <= high:
        raise InvalidInput(fields={field: f"must be between {low} and {high:,} {what}"})
    return value


class OrderItemDialog(ServiceDialog[ItemDraft]):
    """Dismisses with the `ItemDraft` (None when closed)."""

    DEFAULT_CSS = """
    OrderItemDialog #item-matches { height: auto; max-height: 7; }
    OrderItemDialog #item-chosen { height: auto; color: $text-muted; }
    OrderItemDialog #item-price { height: auto; text-style: bold; }
    OrderItemDialog #item-overrides { height: auto; display: none; }
    OrderItemDialog #item-overrides.-open { display: block; }
    OrderItemDialog .field-row > .field-label { width: 20; }
    OrderItemDialog Select { width: 1fr; }
    """
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("ctrl+s", "submit", "Keep item", id="order_item.submit", priority=True),
    ]
    needs = Action.CREATE_ORDERS
    input_prefix = "item-"
    submit_hint = "Ctrl+S keep the item · Esc close · ↓ to the matches, Enter picks"

    def __init__(self, currency: str, draft: ItemDraft | None = None) -> None:
        super().__init__()
        self.currency = currency
        self.draft = draft
        self.plan: PlanInfo | None = draft.plan if draft else None
        self.matches: list[PlanInfo] = []
        self.pristine_choices: dict[str, Any] = {}
        self.heading = "Add an item" if draft is None else f"Item: {draft.name}"

    # --- the form --------------------------------------------------------------------------------

    def fields(self) -> ComposeResult:
        typed = self.draft.typed if self.draft else {}
        code = self.draft.plan.code if self.draft else ""
        yield from field_row("Plan", Input(code, placeholder="type a plan, product or SKU", id="item-plan",
                                           compact=True, max_length=limits.NAME), "plan")
        yield OptionList(id="item-matches", compact=True, markup=False)
        yield Static(id="item-chosen")
        quantity = str(self.draft.quantity) if self.draft else "1"
        yield from field_row("Quantity", Input(quantity, id="item-quantity", compact=True, max_length=6), "quantity")
        yield Static(id="item-price")
        yield Checkbox("Customise for this customer (this order only)", bool(self.draft and self.draft.customised),
                       id="item-customise", compact=True)
        with Vertical(id="item-overrides"):
            yield from self.override_fields(typed)

    def override_fields(self, typed: dict[str, Any]) -> ComposeResult:
        def box(name: str, limit: int = 20) -> Input:
            return Input(typed.get(name, ""), id=f"item-{name}", compact=True, max_length=limit)

        def choice(name: str, options: list[tuple[str, Any]]) -> Select[Any]:
            value = typed.get(name)
            return Select([(Text(label), v) for label, v in options], prompt="as the plan", compact=True,
                          id=f"item-{name}", value=Select.NULL if value is None else value)

        yield from field_row(f"Unit price ({self.currency})", box("unit_price"), "unit_price")
        yield from field_row("Recurrence", choice("recurrence", RECURRENCE), "recurrence")
        yield from field_row("Cycles (limited)", box("cycles", 5), "cycles")
        yield from field_row("Every (count)", box("interval_count", 3), "interval_count")
        yield from field_row("Period unit", choice("interval", INTERVALS), "interval")
        yield from field_row("Name on invoices", box("plan_name", limits.NAME), "plan_name")
        yield from field_row("Type", choice("kind", KINDS), "kind")
        yield from field_row("Trial days", box("trial_days", 5), "trial_days")
        yield from field_row(f"Trial price ({self.currency})", box("trial_price"), "trial_price")
        yield from field_row(f"Setup fee ({self.currency})", box("setup_fee"), "setup_fee")
        yield from field_row("Billing timing", choice("billing_timing", TIMINGS), "billing_timing")
        yield from field_row("Issue days shift", box("invoice_issue_days", 5), "invoice_issue_days")
        yield from field_row("Due days after", box("invoice_due_days", 5), "invoice_due_days")
        yield from field_row(f"Metered unit ({self.currency})", box("metered_unit_price"), "metered_unit_price")

    def on_mount(self) -> None:
        super().on_mount()
        self.query_one("#item-matches", OptionList).display = False
        self.show_overrides(self.query_one("#item-customise", Checkbox).value)
        self.show_plan()
        self.query_one("#item-plan" if self.plan is None else "#item-quantity", Input).focus()

    @property
    def dirty(self) -> bool:
        chosen = self.draft is None and self.plan is not None
        return super().dirty or chosen or self.choices() != self.pristine_choices

    def mark_pristine(self) -> None:
        super().mark_pristine()
        self.pristine_choices = self.choices()

    def choices(self) -> dict[str, Any]:
        return {name: self.query_one(f"#item-{name}", Select).value for name in CHOICE_OVERRIDES}

    # --- type-ahead ------------------------------------------------------------------------------

    @on(Input.Changed, "#item-plan")
    def _search(self, event: Input.Changed) -> None:
        text = event.value.strip()
        if not text or (self.plan is not None and text == self.plan.code):
            self.show_matches([])
            return
        self.load(lambda: self.call(catalog.search_plans, text, self.currency, limit=MATCHES), self.show_matches)

    def show_matches(self, plans: list[PlanInfo]) -> None:
        self.matches = list(plans)
        options = self.query_one("#item-matches", OptionList)
        options.clear_options()
        options.add_options([Option(plan_label(plan)) for plan in self.matches])
        options.display = bool(self.matches)
        if self.matches:
            options.highlighted = 0
        elif self.query_one("#item-plan", Input).value.strip() and self.plan is None:
            put(self.query_one("#error-plan", Static),
                Text(f"No active plan in {self.currency} matches; try a product name, SKU or plan code.", "yellow"))
            return
        put(self.query_one("#error-plan", Static), "")

    def on_key(self, event: Any) -> None:
        if event.key == "down" and self.focused is self.query_one("#item-plan", Input) and self.matches:
            event.stop()
            self.query_one("#item-matches", OptionList).focus()

    @on(Input.Submitted, "#item-plan")
    def _pick_first(self, event: Input.Submitted) -> None:
        event.stop()
        if self.matches:
            self.choose(self.matches[self.query_one("#item-matches", OptionList).highlighted or 0])
        elif self.plan is not None:
            self.query_one("#item-quantity", Input).focus()

    @on(OptionList.OptionSelected, "#item-matches")
    def _picked(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        self.choose(self.matches[event.option_index])

    def choose(self, plan: PlanInfo) -> None:
        self.plan = plan
        self.matches = []
        options = self.query_one("#item-matches", OptionList)
        options.clear_options()
        options.display = False
        put(self.query_one("#error-plan", Static), "")
        self.show_plan()
        self.query_one("#item-quantity", Input).focus()

    def show_plan(self) -> None:
        chosen = self.query_one("#item-chosen", Static)
        plan = self.plan
        if plan is None:
            chosen.update(Text("No plan chosen yet.", style="dim"))
        else:
            chosen.update(Text.assemble("Chosen: ", (visible(plan.name), "bold"), f" ({visible(plan.code)}), ",
                                        visible(plan_terms(plan))))
            self.placeholders(plan)
        self.show_price()

    def placeholders(self, plan: PlanInfo) -> None:
        """Each override's field shows the plan's value it would replace."""
        currency = plan.currency
        hints = {
            "unit_price": format_major(plan.price, currency),
            "cycles": str(plan.cycles) if plan.cycles else "until cancelled",
            "interval_count": str(plan.interval_count),
            "plan_name": plan.name,
            "trial_days": str(plan.trial_days),
            "trial_price": format_major(plan.trial_price, currency),
            "setup_fee": format_major(plan.setup_fee, currency),
            "invoice_issue_days": str(plan.invoice_issue_days),
            "invoice_due_days": str(plan.invoice_due_days),
            "metered_unit_price": format_major(plan.metered_unit_price, currency)
            if plan.metered_unit_price is not None else "none",
        }
        for name, hint in hints.items():
            self.query_one(f"#item-{name}", Input).placeholder = f"plan: {hint}"[:60]

    # --- the price line --------------------------------------------------------------------------

    @on(Input.Changed, "#item-quantity, #item-unit_price")
    def _price_changed(self) -> None:
        self.show_price()

    def show_price(self) -> None:
        line = self.query_one("#item-price", Static)
        if self.plan is None:
            line.update("")
            return
        try:
            quantity, unit_price = self.read_quantity(), self.read_unit_price()
        except InvalidInput:
            line.update(Text(f"quantity × unit price = ? ({self.plan.currency})", style="dim"))
            return
        line.update(Text(price_line(quantity, unit_price, self.plan.currency)))

    def read_quantity(self) -> int:
        return whole_number(self.value("quantity"), "quantity", low=1, high=MAX_QUANTITY, what="units")

    def read_unit_price(self) -> int:
        assert self.plan is not None
        typed = self.value("unit_price") if self.customising else ""
        return self.plan.price if not typed else parse_amount(typed, self.currency, field="unit_price",
                                                               allow_zero=True)

    # --- overrides -------------------------------------------------------------------------------

    @on(Checkbox.Changed, "#item-customise")
    def _customise(self, event: Checkbox.Changed) -> None:
        self.show_overrides(event.value)
        self.show_price()

    def show_overrides(self, shown: bool) -> None:
        self.query_one("#item-overrides").set_class(shown, "-open")

    @property
    def customising(self) -> bool:
        return self.query_one("#item-customise", Checkbox).value

    def value(self, name: str) -> str:
        return self.query_one(f"#item-{name}", Input).value.strip()

    def choice(self, name: str) -> Any:
        value = self.query_one(f"#item-{name}", Select).value
        return None if value is Select.NULL else value

    def read_overrides(self) -> ItemOverrides:
        """The filled overrides, every field checked (all problems at once)."""
        if not self.customising:
            return ItemOverrides()
        values: dict[str, Any] = {}
        problems: dict[str, str] = {}

        def read(name: str, parse: Any) -> None:
            if not self.value(name):
                return
            try:
                values[name] = parse(self.value(name))
            except InvalidInput as exc:
                problems.update(exc.fields)

        for name in AMOUNT_OVERRIDES:
            read(name, lambda text, n=name: parse_amount(text, self.currency, field=n, allow_zero=True))
        for name in DAY_OVERRIDES:
            read(name, lambda text, n=name: whole_number(text, n, low=0, high=MAX_DAYS, what="days"))
        read("interval_count", lambda text: whole_number(text, "interval_count", low=1, high=366, what="periods"))
        if self.value("plan_name"):
            values["plan_name"] = self.value("plan_name")
        recurrence = self.choice("recurrence")
        if recurrence == "forever":
            values["cycles"] = 0
            if self.value("cycles"):
                problems["cycles"] = "leave empty for a subscription until cancelled, or choose “limited”"
        elif recurrence == "limited" or self.value("cycles"):
            if not self.value("cycles"):
                problems["cycles"] = "how many cycles? (a whole number)"
            else:
                read("cycles", lambda text: whole_number(text, "cycles", low=1, high=MAX_CYCLES, what="cycles"))
        for name in ("interval", "kind", "billing_timing"):
            if self.choice(name) is not None:
                values[name] = self.choice(name)
        if problems:
            raise InvalidInput(fields=problems)
        return ItemOverrides(**values)

    def typed(self) -> dict[str, Any]:
        texts: dict[str, Any] = {name: self.value(name) for name in TEXT_OVERRIDES}
        texts.update({name: self.choice(name) for name in CHOICE_OVERRIDES})
        return texts

    # --- keeping the item ------------------------------------------------------------------------

    @on(Input.Submitted)
    def _submitted(self, event: Input.Submitted) -> None:
        if event.input.id != "item-plan":
            event.stop()
            self.action_submit()

    async def perform(self) -> ItemDraft:
        problems: dict[str, str] = {}
        if self.plan is None:
            problems["plan"] = "choose a plan: type part of its name, product or SKU and pick one"
        quantity = overrides = None
        try:
            quantity = self.read_quantity()
        except InvalidInput as exc:
            problems.update(exc.fields)
        try:
            overrides = self.read_overrides()
        except InvalidInput as exc:
            problems.update(exc.fields)
        if problems or self.plan is None or quantity is None or overrides is None:
            raise InvalidInput(fields=problems)
        return ItemDraft(self.plan, quantity, overrides, self.typed())
