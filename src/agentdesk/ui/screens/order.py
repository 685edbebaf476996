"""One order: items with options and price points, status, periods and scheduled changes (1), invoices (2,
Enter opens one), payments (3), fulfillments (4) and the order's own timeline (5).

Every change is a key with a dialog (ui/dialogs/order_actions*.py) that says what will happen and what it
costs or refunds before the agent confirms; keys are hidden from roles without the permission. The screen
reads through services only (`order_detail`, `order_standing`, `list_fulfillments`) and reads again after
any change. Opened from the profile (Enter on the overview or the Orders tab) and from a timeline event
that names an order.
"""

from __future__ import annotations

from typing import ClassVar

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.widgets import DataTable, Footer, Static, TabbedContent, TabPane

from agentdesk.domain.errors import ServiceError
from agentdesk.domain.permissions import Action
from agentdesk.services.orders import entitlements, fulfillments, read, standing
from agentdesk.services.orders import subscriptions as subs
from agentdesk.ui.base import DeskScreen, desk_work
from agentdesk.ui.screens import order_view as view
from agentdesk.ui.widgets.plain_text import plain
from agentdesk.ui.widgets.profile import changed

TABLES: dict[str, list[str]] = {
    "order-invoices": ["Invoice", "Status", "Cycle", "Total", "Paid", "Due", "Period"],
    "order-payments": ["Txn", "Date", "Type", "Status", "Amount", "Invoice", "Message"],
    "order-fulfillments": ["#", "Status", "Items", "Carrier", "Tracking", "Reason", "Created"],
    "order-events": ["When", "Event", "By", "Details"],
}
TABS = ("summary", "invoices", "payments", "fulfillments", "events")


class OrderScreen(DeskScreen):
    TITLE = "Order"
    ROLE_GATES: ClassVar[dict[str, Action]] = {
        "cancel_order": Action.CREATE_ORDERS, "resend_welcome": Action.CREATE_ORDERS,
        "refund_order": Action.REFUND, "reship": Action.CHANGE_SUBSCRIPTIONS,
        "cancel_fulfillment": Action.CHANGE_SUBSCRIPTIONS, "refresh_access": Action.CHANGE_SUBSCRIPTIONS,
        **{name: Action.CHANGE_SUBSCRIPTIONS for name in (
            "cancel_subscription", "withdraw_cancel", "pause", "resume", "trial", "change_plan", "withdraw_change",
            "billing_date", "quantity")},
        "coupon": Action.CREATE_ORDERS,
    }
    DEFAULT_CSS = """
    OrderScreen #order-header { height: auto; padding: 0 1; background: $boost; }
    OrderScreen #order-keys { height: auto; padding: 0 1; color: $text-muted; }
    OrderScreen #order-tabs { height: 1fr; }
    OrderScreen DataTable { height: 1fr; }
    OrderScreen #order-summary { height: 1fr; padding: 0 1; }
    """
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "back", "Back", id="order.back"),
        Binding("1", "tab('summary')", "Summary", show=False, id="order.tab.summary"),
        Binding("2", "tab('invoices')", "Invoices", show=False, id="order.tab.invoices"),
        Binding("3", "tab('payments')", "Payments", show=False, id="order.tab.payments"),
        Binding("4", "tab('fulfillments')", "Fulfillments", show=False, id="order.tab.fulfillments"),
        Binding("5", "tab('events')", "Timeline", show=False, id="order.tab.events"),
        Binding("ctrl+r", "reload", "Reload", show=False, id="order.reload"),
    ]
    ACTION_KEYS: ClassVar[list[Binding]] = [
        Binding("c", "cancel_subscription", "Cancel subscription", show=False, id="order.cancel"),
        Binding("w", "withdraw_cancel", "Withdraw cancellation", show=False, id="order.withdraw_cancel"),
        Binding("p", "pause", "Pause", show=False, id="order.pause"),
        Binding("r", "resume", "Resume", show=False, id="order.resume"),
        Binding("t", "trial", "Trial", show=False, id="order.trial"),
        Binding("P", "change_plan", "Change plan", show=False, id="order.change_plan"),
        Binding("W", "withdraw_change", "Withdraw change", show=False, id="order.withdraw_change"),
        Binding("d", "billing_date", "Billing date", show=False, id="order.billing_date"),
        Binding("u", "quantity", "Quantity", show=False, id="order.quantity"),
        Binding("k", "coupon", "Coupon", show=False, id="order.coupon"),
        Binding("A", "refresh_access", "Refresh access", show=False, id="order.refresh_access"),
        Binding("C", "cancel_order", "Cancel order", show=False, id="order.cancel_order"),
        Binding("R", "refund_order", "Refund order", show=False, id="order.refund_order"),
        Binding("E", "resend_welcome", "Resend welcome", show=False, id="order.resend_welcome"),
        Binding("s", "reship", "Reship", show=False, id="order.reship"),
        Binding("x", "cancel_fulfillment", "Cancel fulfillment", show=False, id="order.cancel_fulfillment"),
    ]
    BINDINGS = [*BINDINGS, *ACTION_KEYS]

    def __init__(self, number: str, customer_id: int) -> None:
        super().__init__()
        self.number = number
        self.customer_id = customer_id
        self.detail: read.OrderDetail | None = None
        self.standing: standing.OrderStanding | None = None
        self.shipments: list[fulfillments.FulfillmentInfo] = []
        self.access: list[entitlements.Entitlement] = []
        self.changes: list[subs.ScheduledInfo] = []
        self.changed = False

    def compose(self) -> ComposeResult:
        yield Static(plain(f"{self.number} · loading…", "bold"), id="order-header")
        yield Static(id="order-keys")
        with TabbedContent(id="order-tabs", initial="summary"):
            with TabPane("1 Summary", id="summary"), VerticalScroll(id="order-summary"):
                yield Static(Text("loading…", style="dim"), id="order-summary-body")
            with TabPane("2 Invoices", id="invoices"):
                yield DataTable(id="order-invoices", cursor_type="row", zebra_stripes=True)
            with TabPane("3 Payments", id="payments"):
                yield DataTable(id="order-payments", cursor_type="row", zebra_stripes=True)
            with TabPane("4 Fulfillments", id="fulfillments"):
                yield DataTable(id="order-fulfillments", cursor_type="row", zebra_stripes=True)
            with TabPane("5 Timeline", id="events"):
                yield DataTable(id="order-events", cursor_type="row", zebra_stripes=True)
        yield Footer(compact=True)

    def on_mount(self) -> None:
        for table_id, columns in TABLES.items():
            table = self.query_one(f"#{table_id}", DataTable)
            for label in columns:
                table.add_column(label, key=label.lower())
        self.query_one("#order-summary").focus()
        self.load()

    # --- loading --------------------------------------------------------------------------------

    @desk_work(group="order")
    async def load(self) -> None:
        """The order, where it stands (pause, scheduled changes, its events) and its fulfillments."""
        header = self.query_one("#order-header", Static)
        try:
            detail = await self.call(read.order_detail, self.number)
            where = await self.call(standing.order_standing, self.number)
            shipments = await self.call(fulfillments.list_fulfillments, None, self.number)
            access = await self.call(entitlements.order_entitlements, self.number)
            changes = await self.call(subs.scheduled_changes, self.number)
        except ServiceError as exc:
            header.update(plain(f"{self.number}: {exc}", "red"))
            return
        self.detail, self.standing, self.shipments, self.access = detail, where, shipments, access
        self.changes = changes
        self.number = detail.number
        header.update(view.header_text(detail))
        self.query_one("#order-summary-body", Static).update(view.summary_text(detail, where, access, changes))
        self._fill("order-invoices", view.invoice_cells(detail), "no invoices yet")
        self._fill("order-payments", view.payment_cells(detail), "no payments yet")
        self._fill("order-fulfillments", view.fulfillment_cells(shipments), "nothing to ship")
        self._fill("order-events", view.event_cells(where.events), "no events name this order")
        self.refresh_bindings()
        self.query_one("#order-keys", Static).update(self.keys_hint())

    def keys_hint(self) -> Text:
        """The action keys this agent may use, in one or two lines (the footer has no room for them)."""
        hints = [f"{b.key} {b.description.lower()}" for b in self.ACTION_KEYS
                 if ((gate := self.ROLE_GATES.get(b.action)) is None or self.may(gate)) and self.fits(b.action)]
        return Text(" · ".join([*hints, "1-5 tabs"]))

    def fits(self, action: str) -> bool:
        """Whether the action applies to the order as read (for the hint; the service has the last word)."""
        from agentdesk.ui.dialogs.order_actions import cancellable, refundable

        d = self.detail
        if d is None:
            return False
        running = d.summary.kind == "subscription" and d.summary.status in ("active", "paused")
        kinds = {c.kind for c in self.changes}
        where = self.standing
        fits = {
            "cancel_subscription": running,
            "withdraw_cancel": bool(where and where.cancel_at_period_end) or bool(kinds & {"cancel", "trial_stop"}),
            "pause": running and d.summary.status == "active" and "pause" not in kinds,
            "resume": d.summary.status == "paused" or "pause" in kinds,
            "trial": running and d.trial_ends_on is not None and d.cycles_billed == 0,
            "change_plan": running, "withdraw_change": "change_plan" in kinds,
            "billing_date": running, "quantity": running,
            "coupon": d.summary.status in ("pending", "active", "paused"),
        }
        if action in fits:
            return fits[action]
        if action in ("reship", "cancel_fulfillment"):
            return bool(self.shipments)
        if action == "refresh_access":
            return bool(self.access)
        if action == "cancel_order":
            return cancellable(d) is None
        if action == "refund_order":
            return bool(refundable(d))
        return True

    def _fill(self, table_id: str, rows: list[list[Text]], empty: str) -> None:
        table = self.query_one(f"#{table_id}", DataTable)
        cursor = table.cursor_row
        table.clear()
        for row in rows:
            table.add_row(*row)
        if not rows:
            table.add_row(Text(empty, style="dim"), *[Text("")] * (len(table.columns) - 1))
        table.move_cursor(row=min(max(cursor, 0), max(len(rows) - 1, 0)))

    def after_change(self, result: object) -> None:
        """A dialog's callback: read the order again when something changed."""
        if changed(result):
            self.changed = True
            self.load()

    # --- navigation -----------------------------------------------------------------------------

    def action_back(self) -> None:
        """Back where the agent came from; a profile below reads the customer again if anything changed."""
        from agentdesk.ui.screens.customer_profile import CustomerProfileScreen

        self.app.pop_screen()
        below = self.app.screen
        if self.changed and isinstance(below, CustomerProfileScreen):
            below.reload_all()

    def action_reload(self) -> None:
        self.load()

    def action_tab(self, tab: str) -> None:
        self.query_one("#order-tabs", TabbedContent).active = tab
        if tab == "summary":
            self.query_one("#order-summary").focus()
        else:
            self.query_one(f"#order-{tab}", DataTable).focus()

    @on(DataTable.RowSelected, "#order-invoices")
    def _invoice_selected(self, event: DataTable.RowSelected) -> None:
        from agentdesk.ui.dialogs.invoice import InvoiceDialog

        event.stop()
        d = self.detail
        if d is None or not d.invoices:
            return
        invoice = list(reversed(d.invoices))[min(event.cursor_row, len(d.invoices) - 1)]
        self.app.push_screen(InvoiceDialog(self.customer_id, invoice.number), self.after_change)

    def current_fulfillment(self) -> fulfillments.FulfillmentInfo | None:
        """The fulfillment highlighted on tab 4 (the newest when that tab was not opened)."""
        if not self.shipments:
            self.app.notify("This order has no fulfillments.", timeout=3)
            return None
        row = self.query_one("#order-fulfillments", DataTable).cursor_row
        return self.shipments[min(max(row, 0), len(self.shipments) - 1)]

    # --- actions ----------------------------------------------------------------------------------

    def open_dialog(self, dialog_type: type, *extra: object) -> None:
        """Open an action's dialog on the order as last read (its gate was checked by the key)."""
        if self.detail is None:
            self.app.notify("The order is still loading.", timeout=3)
            return
        self.app.push_screen(dialog_type(self.detail, *extra), self.after_change)

    def action_cancel_order(self) -> None:
        from agentdesk.ui.dialogs.order_actions import CancelOrderDialog

        if self.refuse(Action.CREATE_ORDERS):
            self.open_dialog(CancelOrderDialog)

    def action_resend_welcome(self) -> None:
        from agentdesk.ui.dialogs.order_actions import ResendWelcomeDialog

        if self.refuse(Action.CREATE_ORDERS):
            self.open_dialog(ResendWelcomeDialog)

    def action_refund_order(self) -> None:
        from agentdesk.ui.dialogs.order_actions import RefundOrderDialog

        if self.refuse(Action.REFUND):
            self.open_dialog(RefundOrderDialog)

    def action_reship(self) -> None:
        from agentdesk.ui.dialogs.order_actions import ReshipDialog

        shipment = self.current_fulfillment() if self.refuse(Action.CHANGE_SUBSCRIPTIONS) else None
        if shipment is not None:
            self.open_dialog(ReshipDialog, shipment)

    def action_cancel_fulfillment(self) -> None:
        from agentdesk.ui.dialogs.order_actions import CancelFulfillmentDialog

        shipment = self.current_fulfillment() if self.refuse(Action.CHANGE_SUBSCRIPTIONS) else None
        if shipment is not None:
            self.open_dialog(CancelFulfillmentDialog, shipment)

    def action_refresh_access(self) -> None:
        from agentdesk.ui.dialogs.order_actions import RefreshAccessDialog

        if self.refuse(Action.CHANGE_SUBSCRIPTIONS):
            self.open_dialog(RefreshAccessDialog, self.access)

    # --- subscription actions (ui/dialogs/order_subscription.py) ------------------------------------

    def subscription_dialog(self, action: str, name: str) -> None:
        from agentdesk.ui.dialogs import order_subscription

        if self.refuse(self.ROLE_GATES[action]):
            self.open_dialog(getattr(order_subscription, name))

    def action_cancel_subscription(self) -> None:
        self.subscription_dialog("cancel_subscription", "CancelSubscriptionDialog")

    def action_withdraw_cancel(self) -> None:
        self.subscription_dialog("withdraw_cancel", "WithdrawCancelDialog")

    def action_pause(self) -> None:
        self.subscription_dialog("pause", "PauseDialog")

    def action_resume(self) -> None:
        self.subscription_dialog("resume", "ResumeDialog")

    def action_trial(self) -> None:
        self.subscription_dialog("trial", "TrialDialog")

    def action_change_plan(self) -> None:
        self.subscription_dialog("change_plan", "ChangePlanDialog")

    def action_withdraw_change(self) -> None:
        self.subscription_dialog("withdraw_change", "WithdrawChangeDialog")

    def action_billing_date(self) -> None:
        self.subscription_dialog("billing_date", "BillingDateDialog")

    def action_quantity(self) -> None:
        self.subscription_dialog("quantity", "QuantityDialog")

    def action_coupon(self) -> None:
        self.subscription_dialog("coupon", "CouponDialog")
