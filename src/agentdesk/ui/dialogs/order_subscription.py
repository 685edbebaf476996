"""The order screen's subscription actions: each dialog asks the service for its preview (what will happen,
what it costs, credits or refunds, computed exactly as the action would) and shows it before the agent
confirms with a second Enter; the action then runs with the same choices.
"""

from __future__ import annotations

from datetime import date
from typing import ClassVar, TypeVar

from rich.text import Text
from textual.app import ComposeResult
from textual.widgets import Checkbox, Input, RadioButton, RadioSet

from agentdesk.domain.dates import parse_date, parse_optional_date
from agentdesk.domain.errors import InvalidInput
from agentdesk.domain.numbers import parse_count
from agentdesk.domain.permissions import Action
from agentdesk.domain.text import visible
from agentdesk.services.billing import engine
from agentdesk.services.orders import subscriptions as subs
from agentdesk.services.orders.read import OrderDetail
from agentdesk.services.orders.subscriptions import SubscriptionResult
from agentdesk.ui.base import form_field
from agentdesk.ui.dialogs.order_actions import OrderDialog

R = TypeVar("R")


class PreviewDialog(OrderDialog[R]):
    """Enter → the service's preview of these choices → Enter again does the same with `preview=False`."""

    needs: ClassVar[Action | None] = Action.CHANGE_SUBSCRIPTIONS

    def __init__(self, detail: OrderDetail) -> None:
        super().__init__(detail)
        self.previewed: R | None = None

    async def run(self, preview: bool) -> R:
        raise NotImplementedError

    async def perform(self) -> R:
        return await self.run(False)

    def confirmation(self) -> str:
        return str(getattr(self.previewed, "message", ""))

    def action_submit(self) -> None:
        if self.stage != "edit" or self.busy:
            super().action_submit()
            return
        if self.needs is not None and not self.refuse(self.needs):
            return
        self.clear_errors()
        self._say(Text("working out what it does…", style="dim"))
        self.attempt(lambda: self.run(True), self._previewed)

    def _previewed(self, preview: R) -> None:
        self.previewed = preview
        self.stage = "confirm"
        shown = Text(visible(str(getattr(preview, "message", ""))), style="bold yellow")
        for line in getattr(preview, "details", ()):
            shown.append("\n" + visible(line))
        shown.append("\nEnter to confirm · Esc to change", style="dim")
        self._say(shown)

    def outcome(self, result: R) -> str:
        return str(getattr(result, "message", "Done."))

    def when(self, widget_id: str, field: str) -> date | None:
        return parse_optional_date(self.text(widget_id), field)


def radio(set_id: str, choices: list[tuple[str, str]]) -> RadioSet:
    return RadioSet(*[RadioButton(label, value=i == 0, id=f"{set_id}-{key}") for i, (key, label) in
                      enumerate(choices)], id=set_id, compact=True)


def chosen(dialog: OrderDialog, set_id: str) -> str:
    pressed = dialog.query_one(f"#{set_id}", RadioSet).pressed_button
    return (pressed.id or "").removeprefix(f"{set_id}-") if pressed is not None else ""


class CancelSubscriptionDialog(PreviewDialog[SubscriptionResult]):
    heading = "Cancel subscription"
    CHOICES: ClassVar[list[tuple[str, str]]] = [
        ("end", "At the end of the period (scheduled; can be withdrawn)"),
        ("none", "Now, no refund"),
        ("prorated", "Now, refund the unused part of the period"),
        ("last-invoice", "Now, refund the last invoice in full"),
    ]

    def fields(self) -> ComposeResult:
        yield radio("cancel-when", self.CHOICES)
        yield from form_field("Reason (optional)", Input(id="cancel-reason", compact=True, max_length=500), "reason")

    async def run(self, preview: bool) -> SubscriptionResult:
        choice = chosen(self, "cancel-when")
        at_end = choice == "end"
        return await self.call(subs.cancel, self.app.settings, self.number, at_period_end=at_end,
                               refund="none" if at_end else choice, reason=self.text("cancel-reason") or None,
                               preview=preview)


class WithdrawCancelDialog(PreviewDialog[SubscriptionResult]):
    heading = "Withdraw cancellation"

    async def run(self, preview: bool) -> SubscriptionResult:
        return await self.call(subs.withdraw_cancel, self.number, preview=preview)


class WithdrawChangeDialog(PreviewDialog[SubscriptionResult]):
    heading = "Withdraw plan change"

    async def run(self, preview: bool) -> SubscriptionResult:
        return await self.call(subs.withdraw_change, self.number, preview=preview)


class PauseDialog(PreviewDialog[SubscriptionResult]):
    heading = "Pause"

    def fields(self) -> ComposeResult:
        yield from form_field("From (YYYY-MM-DD; empty: today)", Input(id="pause-from", compact=True), "start")
        yield from form_field("Until, inclusive (empty: until resumed)", Input(id="pause-until", compact=True),
                              "until")

    async def run(self, preview: bool) -> SubscriptionResult:
        start, until = self.when("pause-from", "start"), self.when("pause-until", "until")
        return await self.call(subs.pause, self.number, start=start, until=until, preview=preview)


class ResumeDialog(PreviewDialog[SubscriptionResult]):
    heading = "Resume / cancel the pause"

    async def run(self, preview: bool) -> SubscriptionResult:
        return await self.call(subs.resume, self.number, preview=preview)


class TrialDialog(PreviewDialog[SubscriptionResult]):
    heading = "Trial"

    def fields(self) -> ComposeResult:
        yield radio("trial-action", [("restart", "Restart: a new trial of the plan's length from today"),
                                     ("skip", "Skip: end the trial now and bill the first period"),
                                     ("stop", "Stop: end the subscription when the trial ends")])

    async def run(self, preview: bool) -> SubscriptionResult:
        return await self.call(subs.trial, self.app.settings, self.number, chosen(self, "trial-action"),
                               preview=preview)


def parse_options(text: str) -> dict[str, str]:
    """"size=M, colour=red" → {"size": "M", "colour": "red"}."""
    found: dict[str, str] = {}
    for part in (p.strip() for p in text.split(",")):
        if not part:
            continue
        key, sep, value = part.partition("=")
        if not sep or not key.strip() or not value.strip():
            raise InvalidInput(fields={"options": f"write each option as name=value (not {part!r})"})
        found[key.strip()] = value.strip()
    return found


class ChangePlanDialog(PreviewDialog[SubscriptionResult]):
    heading = "Change plan, price point or option"

    def fields(self) -> ComposeResult:
        first = self.detail.items[0] if self.detail.items else None
        yield from form_field("Plan code (the new price point)", Input(first.plan_code if first else "",
                                                                       id="change-plan", compact=True), "plan_code")
        options = ", ".join(f"{k}={v}" for k, v in first.options.items()) if first else ""
        yield from form_field("Options (name=value, …)", Input(options, id="change-options", compact=True),
                              "options")
        if len(self.detail.items) > 1:
            yield from form_field("Item (its plan code)", Input(id="change-item", compact=True), "item")
        yield Checkbox("At renewal (a downgrade always waits for the renewal)", id="change-at-renewal",
                       compact=True)

    async def run(self, preview: bool) -> SubscriptionResult:
        items = self.query("#change-item")
        item = self.text("change-item").strip() or None if items else None
        return await self.call(subs.change, self.app.settings, self.number, plan_code=self.text("change-plan"),
                               options=parse_options(self.text("change-options")),
                               at_renewal=self.query_one("#change-at-renewal", Checkbox).value, item=item,
                               preview=preview)


class BillingDateDialog(PreviewDialog[SubscriptionResult]):
    heading = "Billing date"

    def fields(self) -> ComposeResult:
        yield from form_field("New next bill date (YYYY-MM-DD)", Input(id="billing-date", compact=True), "date")

    async def run(self, preview: bool) -> SubscriptionResult:
        new_date = parse_date(self.text("billing-date"), "date")
        return await self.call(subs.billing_date, self.app.settings, self.number, new_date, preview=preview)


class QuantityDialog(PreviewDialog[SubscriptionResult]):
    heading = "Quantity"

    def fields(self) -> ComposeResult:
        first = self.detail.items[0] if self.detail.items else None
        yield from form_field("New quantity", Input(str(first.quantity) if first else "", id="quantity-value",
                                                    compact=True), "quantity")
        if len(self.detail.items) > 1:
            yield from form_field("Item (its plan code)", Input(id="quantity-item", compact=True), "item")

    async def run(self, preview: bool) -> SubscriptionResult:
        count = parse_count(self.text("quantity-value"), "quantity", minimum=1, maximum=10_000)
        item = (self.text("quantity-item").strip() or None) if self.query("#quantity-item") else None
        return await self.call(subs.quantity, self.app.settings, self.number, count, item=item, preview=preview)


class CouponDialog(PreviewDialog[SubscriptionResult]):
    heading = "Coupon on the order"
    needs = None
    """Adding needs CREATE_ORDERS, removing CHANGE_SUBSCRIPTIONS: the service decides."""

    def fields(self) -> ComposeResult:
        yield radio("coupon-action", [("add", "Add a coupon (its next invoices)"), ("remove", "Remove a coupon")])
        code = self.detail.coupons[0].code if self.detail.coupons else ""
        yield from form_field("Coupon code", Input(code, id="coupon-code", compact=True), "coupon")

    async def run(self, preview: bool) -> SubscriptionResult:
        return await self.call(subs.coupon, self.number, chosen(self, "coupon-action"), self.text("coupon-code"),
                               preview=preview)


class BillNowDialog(PreviewDialog[engine.BillNow]):
    """Force bill: the next cycle invoiced today and collected (the billing engine's `bill_now`)."""

    heading = "Bill now"
    needs = Action.BILLING

    def fields(self) -> ComposeResult:
        yield from form_field("Reason (optional)", Input(id="bill-reason", compact=True, max_length=500), "reason")

    async def run(self, preview: bool) -> engine.BillNow:
        return await self.call(engine.bill_now, self.app.settings, self.number, preview=preview,
                               reason=self.text("bill-reason") or None)
