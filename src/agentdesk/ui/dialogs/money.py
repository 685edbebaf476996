"""Dialogs for money: refund or void, collect a payment, payout, credit memo.

Each one states exactly what will happen and asks for a second Enter before
calling the service (see `ConfirmingDialog`); then it closes with the service's
result (None when nothing was done) and the outcome is announced on the profile.
"""

from __future__ import annotations

import secrets
from typing import TypeVar

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import Input, Label, RadioButton, RadioSet

from agentdesk.domain.errors import InvalidInput
from agentdesk.domain.money import format_amount, format_major, parse_amount
from agentdesk.domain.permissions import Action
from agentdesk.domain.text import visible
from agentdesk.services.billing import invoices
from agentdesk.services.money import payments, refunds
from agentdesk.ui.base import ConfirmingDialog, form_field

R = TypeVar("R")


class MoneyDialog(ConfirmingDialog[R]):
    """Fill in → Enter shows the confirmation → Enter again does it and closes."""

    DEFAULT_CSS = """
    MoneyDialog #dialog-confirm { height: auto; }
    """


class RefundDialog(MoneyDialog[refunds.RefundResult]):
    heading = "Refund or void"
    needs = Action.REFUND

    def __init__(self, txn_id: int) -> None:
        super().__init__()
        self.txn_id = txn_id
        self.plan: refunds.RefundPlan | None = None
        self.amount = 0

    def fields(self) -> ComposeResult:
        amount = Input(id="refund-amount", compact=True)
        yield from form_field("Amount (empty: everything that remains)", amount, "amount")
        yield from form_field("Reason", Input(id="refund-reason", compact=True, max_length=500), "reason")

    def on_mount(self) -> None:
        self.query_one("#refund-amount", Input).focus()
        self.load(lambda: self.call(refunds.refund_plan, self.txn_id), self.show_plan)

    def show_plan(self, plan: refunds.RefundPlan) -> None:
        self.plan = p = plan

        def money(v: int) -> str:
            return format_amount(v, p.currency)

        facts = Text()
        state = "settled" if p.settled else "not settled"
        facts.append(f"Transaction {p.transaction_id}: {money(p.captured)}, {state}")
        if p.instrument:
            facts.append(f", {visible(p.instrument)}")
        if p.order:
            facts.append(f", order {visible(p.order)}")
        facts.append(f"\nAlready refunded {money(p.refunded)} · in progress {money(p.pending)} · "
                     f"remaining {money(p.remaining)}\n")
        if p.kind is None:
            facts.append(f"Nothing can be done: {visible(p.reason_not)}.", style="yellow")
            for box in self.query(Input):
                box.disabled = True
        elif p.kind is refunds.RefundKind.VOID:
            facts.append("Not settled yet: it can only be voided, in full.", style="cyan")
            amount = self.query_one("#refund-amount", Input)
            amount.value = money(p.remaining).split(" ")[0].replace(",", "")
            amount.disabled = True
            self.query_one("#refund-reason", Input).focus()
        else:
            facts.append("Settled: refund all of it, or part by typing an amount.", style="cyan")
        self.facts.update(facts)

    def confirmation(self) -> str:
        p = self.plan
        if p is None or p.kind is None:
            raise InvalidInput("Nothing to do for this transaction.")
        self.amount = refunds.parse_refund_amount(self.query_one("#refund-amount", Input).value, p)
        if self.amount > p.remaining:
            raise InvalidInput(fields={"amount": f"only {format_amount(p.remaining, p.currency)} remains"})
        if p.kind is refunds.RefundKind.VOID:
            return (f"Void transaction {p.transaction_id} for {format_amount(p.remaining, p.currency)}: "
                    "the charge is cancelled before it settles.")
        to = f" to {p.instrument}" if p.instrument else ""
        left = p.remaining - self.amount
        return (f"Refund {format_amount(self.amount, p.currency)} of transaction {p.transaction_id}{to}; "
                f"{format_amount(left, p.currency)} will remain refundable.")

    async def perform(self) -> refunds.RefundResult:
        assert self.plan is not None
        return await self.call(refunds.refund_transaction, self.app.settings, self.txn_id, self.amount,
                               self.query_one("#refund-reason", Input).value, self.plan.kind)

    def outcome(self, result: refunds.RefundResult) -> str:
        return result.message


class AmountDialog(MoneyDialog[R]):
    """A money dialog for one customer: an amount in the customer's currency, then its own fields."""

    amount_id = "amount"

    def __init__(self, customer_id: int, currency: str) -> None:
        super().__init__()
        self.customer_id = customer_id
        self.currency = currency
        self.amount = 0

    def fields(self) -> ComposeResult:
        yield from form_field(f"Amount ({self.currency})", Input(id=self.amount_id, compact=True), "amount")
        yield from self.more_fields()

    def more_fields(self) -> ComposeResult:
        yield from ()

    def on_mount(self) -> None:
        self.query_one(f"#{self.amount_id}", Input).focus()

    def read_amount(self) -> int:
        self.amount = parse_amount(self.value(self.amount_id), self.currency)
        return self.amount

    def value(self, widget_id: str) -> str:
        return self.query_one(f"#{widget_id}", Input).value


def collect_outcome(result: invoices.CollectResult) -> str:
    """What paying an invoice did, in one sentence: approved, declined with the gateway's reason, or pending."""
    number = visible(result.invoice_number)
    money = format_amount(result.amount, result.currency)
    said = visible(result.message)
    if result.status == "approved":
        return f"Invoice {number}: approved, {money} paid (transaction {result.transaction_id})."
    if result.status == "nothing_due":
        return f"Invoice {number}: nothing is due. {said}"
    if result.status == "pending":
        return f"Invoice {number}: {money} pending. {said}."
    return f"Invoice {number}: {said or result.status}"


class CollectPaymentDialog(AmountDialog[payments.PaymentResult | invoices.CollectResult]):
    """A free amount, or one of the customer's open invoices (`invoice` preselects one by number):
    the invoice's amount owed is filled in and `collect_invoice` pays it."""

    DEFAULT_CSS = """
    CollectPaymentDialog #pay-invoices { height: auto; }
    """
    heading = "Collect a payment"
    needs = Action.BILLING
    amount_id = "pay-amount"

    def __init__(self, customer_id: int, currency: str, invoice: str | None = None) -> None:
        super().__init__(customer_id, currency)
        self.wanted = invoice
        self.open: list[invoices.InvoiceSummary] = []
        self.chosen: invoices.InvoiceSummary | None = None

    def fields(self) -> ComposeResult:
        yield Vertical(id="pay-invoices", classes="pay-invoices")
        yield from super().fields()

    def more_fields(self) -> ComposeResult:
        yield from form_field("Description", Input(id="pay-description", compact=True, max_length=500), "description")
        with RadioSet(id="pay-how", compact=True):
            yield RadioButton("Charge the default payment instrument", value=True, id="pay-card")
            yield RadioButton("Record a payment made outside (bank transfer, cash)", id="pay-outside")

    def on_mount(self) -> None:
        super().on_mount()
        self.load(lambda: self.call(invoices.open_invoices, self.customer_id), self.show_open)

    def show_open(self, found: list[invoices.InvoiceSummary]) -> None:
        self.open = found
        if not found:
            if self.wanted:
                self.show_error(f"Invoice {self.wanted} is no longer open; nothing to pay on it.")
            return
        wanted = next((n for n, i in enumerate(found) if i.number == self.wanted), None)
        buttons = [RadioButton(Text("No invoice: a free amount"), value=wanted is None, id="pay-invoice-none")]
        buttons += [RadioButton(Text(f"{visible(i.number)} · due {i.due_at:%Y-%m-%d} · owed "
                                     f"{format_amount(i.owed, i.currency)}"), value=n == wanted, id=f"pay-invoice-{n}")
                    for n, i in enumerate(found)]
        choice = RadioSet(*buttons, id="pay-invoice", compact=True)
        self.query_one("#pay-invoices", Vertical).mount(Label(Text("Pay an open invoice (↑ ↓ Space)")), choice)
        self.facts.update(Text(f"{len(found)} open invoice{'s' if len(found) > 1 else ''}: pick one to pay it, "
                               "or collect a free amount.", style="cyan"))
        if wanted is not None:
            self.chosen = found[wanted]
            self.call_after_refresh(self._apply_choice, True)
        elif self.wanted:
            self.show_error(f"Invoice {self.wanted} is no longer open; pick another or a free amount.")

    @on(RadioSet.Changed, "#pay-invoice")
    def _invoice_picked(self, event: RadioSet.Changed) -> None:
        self.chosen = self.open[event.index - 1] if event.index > 0 else None
        self._apply_choice()

    def _apply_choice(self, focus: bool = False) -> None:
        """An invoice chosen: its amount owed, charged to a card (no free amount, description or outside)."""
        amount = self.query_one(f"#{self.amount_id}", Input)
        for widget in (amount, self.query_one("#pay-description", Input), self.query_one("#pay-outside")):
            widget.disabled = self.chosen is not None
        if self.chosen is not None:
            self.query_one("#pay-card", RadioButton).value = True
            amount.value = format_major(self.chosen.owed, self.chosen.currency)
        else:
            amount.value = ""
        if focus:
            self.query_one("#pay-invoice", RadioSet).focus()
            self.call_after_refresh(self.mark_pristine)

    def outside(self) -> bool:
        return self.query_one("#pay-outside", RadioButton).value

    def confirmation(self) -> str:
        if self.chosen is not None:
            inv = self.chosen
            self.amount = inv.owed
            return (f"Charge {format_amount(self.amount, inv.currency)} for invoice {inv.number} (due "
                    f"{inv.due_at:%Y-%m-%d}) to its payment instrument; approved, the invoice is paid.")
        money = format_amount(self.read_amount(), self.currency)
        if self.outside():
            return f"Record {money} as paid outside; no card is charged."
        return f"Charge {money} to the customer's default payment instrument."

    async def perform(self) -> payments.PaymentResult | invoices.CollectResult:
        if self.chosen is not None:
            return await self.call(invoices.collect_invoice, self.app.settings, self.chosen.id)
        return await self.call(payments.collect_payment, self.app.settings, self.customer_id, self.amount,
                               self.currency, self.value("pay-description"), self.outside())

    def outcome(self, result: payments.PaymentResult | invoices.CollectResult) -> str:
        return collect_outcome(result) if isinstance(result, invoices.CollectResult) else result.message


class PayoutDialog(AmountDialog[payments.PaymentResult]):
    heading = "Send a payout"
    needs = Action.PAYOUT
    amount_id = "payout-amount"

    def more_fields(self) -> ComposeResult:
        yield from form_field("Request id (unique; the same id never pays twice)",
                              Input(f"payout-{secrets.token_hex(4)}", id="payout-request", compact=True), "request_id")

    def confirmation(self) -> str:
        return (f"Pay out {format_amount(self.read_amount(), self.currency)} to the customer "
                f"(request {self.value('payout-request').strip()}). A payout cannot be reversed.")

    async def perform(self) -> payments.PaymentResult:
        return await self.call(payments.send_payout, self.app.settings, self.customer_id, self.amount,
                               self.currency, self.value("payout-request"))

    def outcome(self, result: payments.PaymentResult) -> str:
        return result.message


class CreditMemoDialog(AmountDialog[payments.CreditMemoInfo]):
    heading = "Create a credit memo"
    needs = Action.BILLING
    amount_id = "memo-amount"

    def more_fields(self) -> ComposeResult:
        yield from form_field("Reason", Input(id="memo-reason", compact=True, max_length=500), "reason")

    def confirmation(self) -> str:
        self.read_amount()
        if not self.value("memo-reason").strip():
            raise InvalidInput(fields={"reason": "Say why the customer gets this credit."})
        return f"Give the customer {format_amount(self.amount, self.currency)} of credit for later charges."

    async def perform(self) -> payments.CreditMemoInfo:
        return await self.call(payments.create_credit_memo, self.customer_id, self.amount, self.currency,
                               self.value("memo-reason"))

    def outcome(self, memo: payments.CreditMemoInfo) -> str:
        return f"Credit memo {memo.id}: {format_amount(memo.amount, memo.currency)} available"
