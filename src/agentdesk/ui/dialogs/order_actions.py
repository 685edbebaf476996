"""The order screen's action dialogs for the order itself and its fulfillments: cancel the order, resend
the welcome email, refund the order, reship or cancel a fulfillment. (Subscription actions are in
order_subscription.py.)

Each one says what will happen and what it costs or refunds — from the order as read and the
services' plans — and asks for a second Enter before calling the service; it closes with the
service's result and the outcome is announced on the order screen, which reads the order again.
"""

from __future__ import annotations

from typing import Any, TypeVar

from rich.text import Text
from textual.app import ComposeResult
from textual.widgets import Input

from agentdesk.domain.enums import OrderStatus, TransactionStatusSets, TransactionTypeSets
from agentdesk.domain.errors import InvalidInput
from agentdesk.domain.money import format_amount, parse_amount
from agentdesk.domain.permissions import Action
from agentdesk.domain.text import visible
from agentdesk.services.money import refunds
from agentdesk.services.orders import actions, entitlements, fulfillments
from agentdesk.services.orders.read import OrderDetail
from agentdesk.ui.base import ConfirmingDialog, form_field

R = TypeVar("R")


class OrderDialog(ConfirmingDialog[R]):
    """An action on order `detail` (as the screen last read it): facts first, then the fields."""

    DEFAULT_CSS = """
    OrderDialog #dialog-confirm { height: auto; }
    """

    def __init__(self, detail: OrderDetail) -> None:
        super().__init__()
        self.detail = detail
        self.number = detail.number
        self.currency = detail.summary.currency

    def money(self, minor: int) -> str:
        return format_amount(minor, self.currency)

    def on_mount(self) -> None:
        super().on_mount()
        self.facts.update(self.describe())
        fields = self.query("RadioSet, Input")
        if fields:
            fields.first().focus()

    def describe(self) -> Text:
        """What the agent should know before deciding (the order as read)."""
        return Text(f"Order {visible(self.number)} · {self.detail.summary.status} · "
                    f"{visible(self.detail.summary.product)}")

    def text(self, widget_id: str) -> str:
        return self.query_one(f"#{widget_id}", Input).value

    def outcome(self, result: Any) -> str:
        return str(getattr(result, "message", "Done."))


def refundable(d: OrderDetail) -> list[Any]:
    """The order's payments that still hold money (as read): what a refund or cancel may take back."""
    return [t for t in d.transactions if t.type in TransactionTypeSets.MONEY_IN
            and t.status in TransactionStatusSets.REFUNDABLE]


def cancellable(d: OrderDetail) -> str | None:
    """Why the order cannot be cancelled as an order (as read), or None; the service checks again."""
    status = d.summary.status
    if status in (OrderStatus.CANCELLED, OrderStatus.ABANDONED):
        return f"{d.number} is {status} already."
    if status != OrderStatus.PENDING and d.summary.kind != "one_time":
        return f"{d.number} is a running subscription: cancel the subscription instead (c)."
    if status not in (OrderStatus.PENDING, OrderStatus.COMPLETED):
        return f"{d.number} is {status}; it cannot be cancelled."
    return None


class CancelOrderDialog(OrderDialog[actions.CancelResult]):
    heading = "Cancel order"
    needs = Action.CREATE_ORDERS

    def fields(self) -> ComposeResult:
        yield from form_field("Reason (kept on the timeline; optional)", Input(id="order-reason", compact=True,
                                                                                max_length=500), "reason")

    def describe(self) -> Text:
        d = self.detail
        out = super().describe()
        why_not = cancellable(d)
        if why_not:
            out.append(f"\n{visible(why_not)}", style="yellow")
            return out
        open_invoices = [i for i in d.invoices if i.status in ("issued", "past_due")]
        if open_invoices:
            out.append("\nOpen invoices voided: " + ", ".join(visible(i.number) for i in open_invoices))
        paid = refundable(d) if d.summary.status != OrderStatus.PENDING else []
        if paid:
            out.append(f"\nPayments given back (void or refund): {self.money(sum(t.amount for t in paid))}",
                       style="yellow")
        else:
            out.append("\nNothing was charged: no money moves.")
        out.append("\nPending fulfillments are cancelled; the customer is emailed.")
        return out

    def confirmation(self) -> str:
        why_not = cancellable(self.detail)
        if why_not:
            raise InvalidInput(why_not)
        paid = refundable(self.detail) if self.detail.summary.status != OrderStatus.PENDING else []
        back = f" and give back {self.money(sum(t.amount for t in paid))}" if paid else ", no money moves"
        return f"Cancel order {self.number}{back}; the customer is emailed."

    async def perform(self) -> actions.CancelResult:
        return await self.call(actions.cancel_order, self.app.settings, self.number, self.text("order-reason"))


class ResendWelcomeDialog(OrderDialog[str]):
    heading = "Resend welcome email"
    needs = Action.CREATE_ORDERS

    def confirmation(self) -> str:
        return f"Queue the welcome email of order {self.number} to the customer's primary email again."

    async def perform(self) -> str:
        return await self.call(actions.resend_welcome, self.number)

    def outcome(self, result: str) -> str:
        return f"Welcome email of {self.number} queued to {result}"


class RefreshAccessDialog(OrderDialog[list[entitlements.Entitlement]]):
    heading = "Refresh access"
    needs = Action.CHANGE_SUBSCRIPTIONS

    def __init__(self, detail: OrderDetail, access: list[entitlements.Entitlement]) -> None:
        super().__init__(detail)
        self.access = access

    def describe(self) -> Text:
        out = super().describe()
        if not self.access:
            out.append("\nThis order grants no access now.", style="yellow")
        for grant in self.access:
            out.append(f"\n{visible(grant.product)}: {visible(', '.join(grant.access))}")
        return out

    def confirmation(self) -> str:
        if not self.access:
            raise InvalidInput("This order grants no access to refresh.")
        names = sorted({name for grant in self.access for name in grant.access})
        return f"Re-issue access ({', '.join(names)}) for order {self.number}; no money moves."

    async def perform(self) -> list[entitlements.Entitlement]:
        return await self.call(entitlements.refresh_entitlements, self.number)

    def outcome(self, result: list[entitlements.Entitlement]) -> str:
        return f"Access of {self.number} refreshed: " + "; ".join(", ".join(g.access) for g in result)


class RefundOrderDialog(OrderDialog[list[refunds.RefundResult]]):
    """Every payment of the order back: voided while unsettled, else refunded (refund_order)."""

    heading = "Refund order"
    needs = Action.REFUND

    def __init__(self, detail: OrderDetail) -> None:
        super().__init__(detail)
        self.plans: list[refunds.RefundPlan] = []

    def fields(self) -> ComposeResult:
        yield from form_field("Reason", Input(id="order-reason", compact=True, max_length=500), "reason")

    def on_mount(self) -> None:
        super().on_mount()
        ids = [t.id for t in refundable(self.detail)]

        async def plans() -> list[refunds.RefundPlan]:
            return [await self.call(refunds.refund_plan, txn_id) for txn_id in ids]

        self.load(plans, self.show_plans)

    def show_plans(self, plans: list[refunds.RefundPlan]) -> None:
        self.plans = [p for p in plans if p.kind is not None and p.remaining > 0]
        out = super().describe()
        if not self.plans:
            out.append("\nNo payment of this order holds money to give back.", style="yellow")
        for p in self.plans:
            kind = "void (not settled)" if p.kind is refunds.RefundKind.VOID else "refund"
            out.append(f"\nTransaction {p.transaction_id}: {kind} {format_amount(p.remaining, p.currency)}")
            if p.instrument:
                out.append(f" to {visible(p.instrument)}")
        self.facts.update(out)

    def confirmation(self) -> str:
        if not self.plans:
            raise InvalidInput("Nothing to refund on this order.")
        total = sum(p.remaining for p in self.plans)
        return (f"Give back {format_amount(total, self.plans[0].currency)} of order {self.number} "
                f"({len(self.plans)} payment{'s' if len(self.plans) != 1 else ''}: void where unsettled, "
                "else refund).")

    async def perform(self) -> list[refunds.RefundResult]:
        return await self.call(refunds.refund_order, self.app.settings, self.number, self.text("order-reason"))

    def outcome(self, result: list[refunds.RefundResult]) -> str:
        return "; ".join(r.message for r in result) or "Nothing was refunded."


class ReshipDialog(OrderDialog[fulfillments.ReshipResult]):
    heading = "Reship"
    needs = Action.CHANGE_SUBSCRIPTIONS

    def __init__(self, detail: OrderDetail, shipment: fulfillments.FulfillmentInfo) -> None:
        super().__init__(detail)
        self.shipment = shipment
        self.charge: int | None = None

    def fields(self) -> ComposeResult:
        yield from form_field("Reason (required)", Input(id="reship-reason", compact=True, max_length=500), "reason")
        yield from form_field(f"Charge ({self.currency}; empty: free)", Input(id="reship-charge", compact=True),
                              "charge")

    def describe(self) -> Text:
        f = self.shipment
        out = Text(f"Fulfillment {f.id} of order {visible(self.number)}: {f.status}\n")
        out.append(visible(f.summary))
        if f.address:
            out.append(f"\nTo {visible(f.address)}")
        return out

    def confirmation(self) -> str:
        raw = self.text("reship-charge").strip()
        self.charge = parse_amount(raw, self.currency, field="charge") if raw else None
        if not self.text("reship-reason").strip():
            raise InvalidInput(fields={"reason": "say why; it is kept on the customer's timeline"})
        cost = f"charge {self.money(self.charge)} now" if self.charge else "no charge"
        return f"Send {self.shipment.summary} again as a new fulfillment ({cost})."

    async def perform(self) -> fulfillments.ReshipResult:
        return await self.call(fulfillments.reship_fulfillment, self.app.settings, self.shipment.id,
                               self.text("reship-reason"), self.charge)


class CancelFulfillmentDialog(ReshipDialog):
    heading = "Cancel fulfillment"

    def fields(self) -> ComposeResult:
        yield from form_field("Reason (required)", Input(id="reship-reason", compact=True, max_length=500), "reason")

    def confirmation(self) -> str:
        if not self.text("reship-reason").strip():
            raise InvalidInput(fields={"reason": "say why; it is kept on the customer's timeline"})
        return f"Cancel fulfillment {self.shipment.id}: {self.shipment.summary} will not be sent. No money moves."

    async def perform(self) -> Any:
        return await self.call(fulfillments.cancel_fulfillment, self.shipment.id, self.text("reship-reason"))

    def outcome(self, result: Any) -> str:
        return f"Fulfillment {self.shipment.id} cancelled."


class _MembershipDialog(OrderDialog[R]):
    """Loads the order's customer's membership login and primary email before the agent decides."""

    def __init__(self, detail: OrderDetail) -> None:
        super().__init__(detail)
        self.member: entitlements.Membership | None = None

    def on_mount(self) -> None:
        super().on_mount()
        self.load(lambda: self.call(entitlements.membership, self.detail.customer), self.loaded)

    def loaded(self, member: entitlements.Membership) -> None:
        self.member = member
        self.facts.update(self.describe())
        self.shown(member)

    def shown(self, member: entitlements.Membership) -> None:
        """Fill the fields from what was loaded."""

    def describe(self) -> Text:
        out = super().describe()
        out.append(f"\nCustomer {visible(self.detail.customer_name)} ({visible(self.detail.customer)})")
        if self.member is not None:
            out.append(f"\nMembership login: {visible(self.member.login or '(none)')}")
            out.append(f"\nPrimary email: {visible(self.member.email or '(none)')}")
        return out

    def loaded_member(self) -> entitlements.Membership:
        if self.member is None:
            raise InvalidInput("Still reading the customer; try again in a moment.")
        return self.member


class MembershipLoginDialog(_MembershipDialog[str | None]):
    heading = "Membership login"
    needs = Action.EDIT_CUSTOMERS

    def fields(self) -> ComposeResult:
        yield from form_field("Login (empty clears it)", Input(id="order-login", compact=True, max_length=200),
                              "login")

    def shown(self, member: entitlements.Membership) -> None:
        self.query_one("#order-login", Input).value = member.login or ""

    def confirmation(self) -> str:
        member = self.loaded_member()
        login = self.text("order-login").strip()
        if login == (member.login or ""):
            raise InvalidInput(fields={"login": "that is the login already; nothing would change"})
        if not login:
            return f"Clear the membership login of {self.detail.customer_name} (was {member.login})."
        return f"Set the membership login of {self.detail.customer_name} to {login}."

    async def perform(self) -> str | None:
        return await self.call(entitlements.set_membership_login, self.detail.customer,
                               self.text("order-login").strip() or None)

    def outcome(self, result: str | None) -> str:
        return f"Membership login set to {result}" if result else "Membership login cleared"


class PasswordResetDialog(_MembershipDialog[entitlements.PasswordReset]):
    heading = "Reset password"
    needs = Action.REQUEST_LINKS

    def confirmation(self) -> str:
        member = self.loaded_member()
        if not member.login:
            raise InvalidInput("The customer has no membership login: set one first (m).")
        if not member.email:
            raise InvalidInput("The customer has no primary email address to send the reset link to.")
        return (f"Email a password-reset link for login {member.login} to {member.email}; the customer "
                "sets a new password on it. No password is shown or changed here.")

    async def perform(self) -> entitlements.PasswordReset:
        return await self.call(entitlements.request_password_reset, self.app.settings, self.detail.customer)

    def outcome(self, result: entitlements.PasswordReset) -> str:
        return result.message
