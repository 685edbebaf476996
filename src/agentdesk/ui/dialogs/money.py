"""Dialogs for money: refund or void, collect a payment, payout, credit memo.

Each one states exactly what will happen and asks for a second Enter before
calling the service, which runs in a worker; the result is shown in place.
"""

from __future__ import annotations

import asyncio
import secrets

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, Label, RadioButton, RadioSet, Static

from agentdesk.domain.errors import InvalidInput, ServiceError
from agentdesk.domain.money import format_amount, parse_amount
from agentdesk.domain.text import visible
from agentdesk.services.money import payments, refunds
from agentdesk.ui.base import desk_work


class MoneyDialog(ModalScreen[bool]):
    """Common flow: fill in → Enter shows the confirmation → Enter again does it → Esc closes.

    Dismisses with True when something was done, so the profile reloads."""

    BINDINGS = [
        Binding("escape", "back", "Back / close"),
        Binding("enter", "next", "Next / confirm", priority=True),
    ]
    heading = ""

    def __init__(self) -> None:
        super().__init__()
        self.stage = "edit"
        self.did_something = False

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Static(Text(self.heading, style="bold"), id="money-title")
            yield Static(id="money-facts")
            yield from self.fields()
            yield Static(id="money-confirm")
            yield Static(id="money-result")

    def fields(self) -> ComposeResult:
        yield from ()

    def set_facts(self, text: Text) -> None:
        self.query_one("#money-facts", Static).update(text)

    def show_error(self, message: str) -> None:
        self.query_one("#money-result", Static).update(Text(visible(message), style="red"))

    def confirmation(self) -> str | None:
        """The exact sentence of what will happen, or None after showing an error."""
        raise NotImplementedError

    async def perform(self) -> str:
        raise NotImplementedError

    def action_next(self) -> None:
        if self.stage == "edit":
            self.query_one("#money-result", Static).update("")
            sentence = self.confirmation()
            if sentence is None:
                return
            self.stage = "confirm"
            self.query_one("#money-confirm", Static).update(
                Text.assemble((visible(sentence), "bold yellow"), "\nEnter to confirm · Esc to change")
            )
        elif self.stage == "confirm":
            self.stage = "running"
            self.query_one("#money-confirm", Static).update(Text("working…", style="dim"))
            self.run_it()
        elif self.stage == "done":
            self.dismiss(self.did_something)

    @desk_work(group="money")
    async def run_it(self) -> None:
        try:
            message = await self.perform()
        except ServiceError as exc:
            self.stage = "edit"
            self.query_one("#money-confirm", Static).update("")
            self.show_error(str(exc))
            return
        self.stage = "done"
        self.query_one("#money-confirm", Static).update("")
        self.query_one("#money-result", Static).update(
            Text.assemble((visible(message), "bold"), "\nEnter or Esc to close")
        )

    def action_back(self) -> None:
        if self.stage == "confirm":
            self.stage = "edit"
            self.query_one("#money-confirm", Static).update("")
            return
        if self.stage != "running":
            self.dismiss(self.did_something)


class RefundDialog(MoneyDialog):
    heading = "Refund or void"

    def __init__(self, txn_id: int) -> None:
        super().__init__()
        self.txn_id = txn_id
        self.plan: refunds.RefundPlan | None = None

    def fields(self) -> ComposeResult:
        yield Label("Amount (empty: everything that remains)")
        yield Input(id="refund-amount", compact=True)
        yield Label("Reason")
        yield Input(id="refund-reason", compact=True, max_length=500)

    def on_mount(self) -> None:
        self.query_one("#refund-amount", Input).focus()
        self.load_plan()

    @desk_work(group="plan")
    async def load_plan(self) -> None:
        try:
            self.plan = await asyncio.to_thread(refunds.refund_plan, self.app.store, self.app.actor, self.txn_id)
        except ServiceError as exc:
            self.show_error(str(exc))
            return
        p = self.plan
        money = lambda v: format_amount(v, p.currency)  # noqa: E731
        facts = Text()
        facts.append(f"Transaction {p.transaction_id}: {money(p.captured)}, {'settled' if p.settled else 'not settled'}")
        if p.instrument:
            facts.append(f", {visible(p.instrument)}")
        if p.order:
            facts.append(f", order {visible(p.order)}")
        facts.append(f"\nAlready refunded {money(p.refunded)} · in progress {money(p.pending)} · remaining {money(p.remaining)}\n")
        if p.kind is None:
            facts.append(f"Nothing can be done: {p.reason_not}.", style="yellow")
            for field in self.query(Input):
                field.disabled = True
        elif p.kind is refunds.RefundKind.VOID:
            facts.append("Not settled yet: it can only be voided, in full.", style="cyan")
            amount = self.query_one("#refund-amount", Input)
            amount.value = format_amount(p.remaining, p.currency).split(" ")[0].replace(",", "")
            amount.disabled = True
            self.query_one("#refund-reason", Input).focus()
        else:
            facts.append("Settled: refund all of it, or part by typing an amount.", style="cyan")
        self.set_facts(facts)

    def confirmation(self) -> str | None:
        p = self.plan
        if p is None or p.kind is None:
            self.show_error("Nothing to do for this transaction.")
            return None
        try:
            self.amount = refunds.parse_refund_amount(self.query_one("#refund-amount", Input).value, p)
        except InvalidInput as exc:
            self.show_error(str(exc))
            return None
        if self.amount > p.remaining:
            self.show_error(f"Only {format_amount(p.remaining, p.currency)} remains.")
            return None
        to = f" to {p.instrument}" if p.instrument else ""
        if p.kind is refunds.RefundKind.VOID:
            return f"Void transaction {p.transaction_id} for {format_amount(p.remaining, p.currency)}: the charge is cancelled before it settles."
        left = p.remaining - self.amount
        return (f"Refund {format_amount(self.amount, p.currency)} of transaction {p.transaction_id}{to}; "
                f"{format_amount(left, p.currency)} will remain refundable.")

    async def perform(self) -> str:
        reason = self.query_one("#refund-reason", Input).value
        result = await asyncio.to_thread(
            refunds.refund_transaction, self.app.store, self.app.actor, self.app.settings, self.txn_id,
            self.amount, reason, self.plan.kind,
        )
        self.did_something = True
        return result.message


class AmountDialog(MoneyDialog):
    """A money dialog for one customer: an amount in the customer's currency, then its own fields."""

    amount_id = "amount"

    def __init__(self, customer_id: int, currency: str) -> None:
        super().__init__()
        self.customer_id = customer_id
        self.currency = currency

    def fields(self) -> ComposeResult:
        yield Label(f"Amount ({self.currency})")
        yield Input(id=self.amount_id, compact=True)
        yield from self.more_fields()

    def more_fields(self) -> ComposeResult:
        yield from ()

    def on_mount(self) -> None:
        self.query_one(f"#{self.amount_id}", Input).focus()

    def read_amount(self) -> bool:
        try:
            self.amount = parse_amount(self.query_one(f"#{self.amount_id}", Input).value, self.currency)
        except InvalidInput as exc:
            self.show_error(str(exc))
            return False
        return True

    def value(self, widget_id: str) -> str:
        return self.query_one(f"#{widget_id}", Input).value


class CollectPaymentDialog(AmountDialog):
    heading = "Collect a payment"
    amount_id = "pay-amount"

    def more_fields(self) -> ComposeResult:
        yield Label("Description")
        yield Input(id="pay-description", compact=True, max_length=500)
        with RadioSet(id="pay-how", compact=True):
            yield RadioButton("Charge the default payment instrument", value=True, id="pay-card")
            yield RadioButton("Record a payment made outside (bank transfer, cash)", id="pay-outside")

    def confirmation(self) -> str | None:
        if not self.read_amount():
            return None
        money = format_amount(self.amount, self.currency)
        if self.query_one("#pay-outside", RadioButton).value:
            return f"Record {money} as paid outside; no card is charged."
        return f"Charge {money} to the customer's default payment instrument."

    async def perform(self) -> str:
        result = await asyncio.to_thread(
            payments.collect_payment, self.app.store, self.app.actor, self.app.settings, self.customer_id,
            self.amount, self.currency, self.value("pay-description"), self.query_one("#pay-outside", RadioButton).value,
        )
        self.did_something = True
        return result.message


class PayoutDialog(AmountDialog):
    heading = "Send a payout"
    amount_id = "payout-amount"

    def more_fields(self) -> ComposeResult:
        yield Label("Request id (unique; the same id never pays twice)")
        yield Input(f"payout-{secrets.token_hex(4)}", id="payout-request", compact=True)

    def confirmation(self) -> str | None:
        if not self.read_amount():
            return None
        return (f"Pay out {format_amount(self.amount, self.currency)} to the customer "
                f"(request {self.value('payout-request').strip()}). A payout cannot be reversed.")

    async def perform(self) -> str:
        result = await asyncio.to_thread(
            payments.send_payout, self.app.store, self.app.actor, self.app.settings, self.customer_id, self.amount,
            self.currency, self.value("payout-request"),
        )
        self.did_something = True
        return result.message


class CreditMemoDialog(AmountDialog):
    heading = "Create a credit memo"
    amount_id = "memo-amount"

    def more_fields(self) -> ComposeResult:
        yield Label("Reason")
        yield Input(id="memo-reason", compact=True, max_length=500)

    def confirmation(self) -> str | None:
        if not self.read_amount():
            return None
        if not self.value("memo-reason").strip():
            self.show_error("Say why the customer gets this credit.")
            return None
        return f"Give the customer {format_amount(self.amount, self.currency)} of credit for later charges."

    async def perform(self) -> str:
        memo = await asyncio.to_thread(
            payments.create_credit_memo, self.app.store, self.app.actor, self.customer_id, self.amount,
            self.currency, self.value("memo-reason"),
        )
        self.did_something = True
        return f"Credit memo {memo.id}: {format_amount(memo.amount, memo.currency)} available"
