"""The order screen's action keys: which role each needs, when it applies to the order, and the dialog it opens.

A key's dialog (ui/dialogs/order_actions.py, order_subscription.py) says what will happen and what it
costs or refunds before the agent confirms. The keys line under the header lists the keys this agent may
use on this order as read; every key is checked again by its service.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, ClassVar

from rich.text import Text
from textual.binding import Binding
from textual.widgets import DataTable

from agentdesk.domain.permissions import Action
from agentdesk.ui.base import DeskScreen

if TYPE_CHECKING:
    from agentdesk.services.orders import entitlements, fulfillments, read, standing
    from agentdesk.services.orders import subscriptions as subs

_S = Action.CHANGE_SUBSCRIPTIONS
KEYS: list[tuple[str, str, str, Action, str]] = [
    # key, action, description, permission, dialog (module.Class under ui/dialogs)
    ("c", "cancel_subscription", "Cancel subscription", _S, "order_subscription.CancelSubscriptionDialog"),
    ("w", "withdraw_cancel", "Withdraw cancellation", _S, "order_subscription.WithdrawCancelDialog"),
    ("p", "pause", "Pause", _S, "order_subscription.PauseDialog"),
    ("r", "resume", "Resume", _S, "order_subscription.ResumeDialog"),
    ("t", "trial", "Trial", _S, "order_subscription.TrialDialog"),
    ("P", "change_plan", "Change plan", _S, "order_subscription.ChangePlanDialog"),
    ("W", "withdraw_change", "Withdraw change", _S, "order_subscription.WithdrawChangeDialog"),
    ("d", "billing_date", "Billing date", _S, "order_subscription.BillingDateDialog"),
    ("u", "quantity", "Quantity", _S, "order_subscription.QuantityDialog"),
    ("b", "bill_now", "Bill now", Action.BILLING, "order_subscription.BillNowDialog"),
    ("k", "coupon", "Coupon", Action.CREATE_ORDERS, "order_subscription.CouponDialog"),
    ("A", "refresh_access", "Refresh access", _S, "order_actions.RefreshAccessDialog"),
    ("C", "cancel_order", "Cancel order", Action.CREATE_ORDERS, "order_actions.CancelOrderDialog"),
    ("R", "refund_order", "Refund order", Action.REFUND, "order_actions.RefundOrderDialog"),
    ("E", "resend_welcome", "Resend welcome", Action.CREATE_ORDERS, "order_actions.ResendWelcomeDialog"),
    ("s", "reship", "Reship", _S, "order_actions.ReshipDialog"),
    ("x", "cancel_fulfillment", "Cancel fulfillment", _S, "order_actions.CancelFulfillmentDialog"),
    ("m", "membership_login", "Membership login", Action.EDIT_CUSTOMERS, "order_actions.MembershipLoginDialog"),
    ("L", "reset_password", "Reset password", Action.REQUEST_LINKS, "order_actions.PasswordResetDialog"),
]
ACTION_KEYS: list[Binding] = [Binding(key, action, words, show=False, id=f"order.{action}")
                              for key, action, words, _, _ in KEYS]
GATES: dict[str, Action] = {action: gate for _, action, _, gate, _ in KEYS}
DIALOGS: dict[str, str] = {action: dialog for _, action, _, _, dialog in KEYS}


class OrderKeys(DeskScreen):
    """The base of `OrderScreen`: its action methods and its keys line."""

    ACTION_KEYS: ClassVar[list[Binding]] = ACTION_KEYS
    detail: read.OrderDetail | None
    standing: standing.OrderStanding | None
    shipments: list[fulfillments.FulfillmentInfo]
    access: list[entitlements.Entitlement]
    changes: list[subs.ScheduledInfo]

    def after_change(self, result: object) -> None:
        raise NotImplementedError

    def keys_hint(self) -> Text:
        """The action keys this agent may use on this order (the footer has no room for them)."""
        hints = [f"{key} {words.lower()}" for key, action, words, gate, _ in KEYS
                 if self.may(gate) and self.fits(action)]
        return Text(" · ".join([*hints, "1-5 tabs"]))

    def fits(self, action: str) -> bool:
        """Whether the action applies to the order as read (for the keys line; the service has the last word)."""
        from agentdesk.ui.dialogs.order_actions import cancellable, refundable

        d = self.detail
        if d is None:
            return False
        running = d.summary.kind == "subscription" and d.summary.status in ("active", "paused")
        kinds = {c.kind for c in self.changes}
        at_end = bool(self.standing and self.standing.cancel_at_period_end)
        return {
            "cancel_subscription": running,
            "withdraw_cancel": at_end or bool(kinds & {"cancel", "trial_stop"}),
            "pause": running and d.summary.status == "active" and "pause" not in kinds,
            "resume": d.summary.status == "paused" or "pause" in kinds,
            "trial": running and d.trial_ends_on is not None and d.cycles_billed == 0,
            "change_plan": running, "withdraw_change": "change_plan" in kinds,
            "billing_date": running, "quantity": running,
            "bill_now": d.summary.status == "active" and running and not (d.trial_ends_on and d.cycles_billed == 0),
            "coupon": d.summary.status in ("pending", "active", "paused"),
            "reship": bool(self.shipments), "cancel_fulfillment": bool(self.shipments),
            "refresh_access": bool(self.access),
            "cancel_order": cancellable(d) is None,
            "refund_order": bool(refundable(d)),
        }.get(action, True)

    def current_fulfillment(self) -> fulfillments.FulfillmentInfo | None:
        """The fulfillment highlighted on tab 4 (the newest when that tab was not opened)."""
        if not self.shipments:
            self.app.notify("This order has no fulfillments.", timeout=3)
            return None
        row = self.query_one("#order-fulfillments", DataTable).cursor_row
        return self.shipments[min(max(row, 0), len(self.shipments) - 1)]

    def act(self, action: str) -> None:
        """Open the action's dialog on the order as last read, when the agent's role allows it."""
        if not self.refuse(GATES[action]):
            return
        if self.detail is None:
            self.app.notify("The order is still loading.", timeout=3)
            return
        extra: tuple[object, ...] = ()
        if action in ("reship", "cancel_fulfillment"):
            shipment = self.current_fulfillment()
            if shipment is None:
                return
            extra = (shipment,)
        elif action == "refresh_access":
            extra = (self.access,)
        module, name = DIALOGS[action].split(".")
        dialog_type = getattr(importlib.import_module(f"agentdesk.ui.dialogs.{module}"), name)
        self.app.push_screen(dialog_type(self.detail, *extra), self.after_change)

    def action_cancel_subscription(self) -> None:
        self.act("cancel_subscription")

    def action_withdraw_cancel(self) -> None:
        self.act("withdraw_cancel")

    def action_pause(self) -> None:
        self.act("pause")

    def action_resume(self) -> None:
        self.act("resume")

    def action_trial(self) -> None:
        self.act("trial")

    def action_change_plan(self) -> None:
        self.act("change_plan")

    def action_withdraw_change(self) -> None:
        self.act("withdraw_change")

    def action_billing_date(self) -> None:
        self.act("billing_date")

    def action_quantity(self) -> None:
        self.act("quantity")

    def action_bill_now(self) -> None:
        self.act("bill_now")

    def action_coupon(self) -> None:
        self.act("coupon")

    def action_refresh_access(self) -> None:
        self.act("refresh_access")

    def action_cancel_order(self) -> None:
        self.act("cancel_order")

    def action_refund_order(self) -> None:
        self.act("refund_order")

    def action_resend_welcome(self) -> None:
        self.act("resend_welcome")

    def action_reship(self) -> None:
        self.act("reship")

    def action_cancel_fulfillment(self) -> None:
        self.act("cancel_fulfillment")

    def action_membership_login(self) -> None:
        self.act("membership_login")

    def action_reset_password(self) -> None:
        self.act("reset_password")
