"""One order: items with options and price points, status, periods and scheduled changes (1), invoices (2,
Enter opens one), payments (3), fulfillments (4) and the order's own timeline (5).

Every change is a key (ui/screens/order_keys.py) with a dialog (ui/dialogs/order_*.py) that says what
will happen and what it costs or refunds before the agent confirms; keys are hidden from roles without
the permission. The screen reads through services only (`order_detail`, `order_standing`,
`list_fulfillments`, `order_entitlements`, `scheduled_changes`) and reads again after any change, its own or,
through live refresh, anyone's on the order's customer (tables keep their cursor line).
Opened from the profile (Enter on the overview or the Orders tab) and from a timeline event that names
an order.
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
from agentdesk.services.changes import Changes
from agentdesk.services.orders import entitlements, fulfillments, read, standing
from agentdesk.services.orders import subscriptions as subs
from agentdesk.ui.base import desk_work
from agentdesk.ui.screens import order_view as view
from agentdesk.ui.screens.order_keys import ACTION_KEYS, GATES, OrderKeys
from agentdesk.ui.widgets.plain_text import plain
from agentdesk.ui.widgets.profile import changed

TABLES: dict[str, list[str]] = {
    "order-invoices": ["Invoice", "Status", "Cycle", "Total", "Paid", "Due", "Period"],
    "order-payments": ["Txn", "Date", "Type", "Status", "Amount", "Invoice", "Message"],
    "order-fulfillments": ["#", "Status", "Items", "Carrier", "Tracking", "Reason", "Created"],
    "order-events": ["When", "Event", "By", "Details"],
}
TABS = ("summary", "invoices", "payments", "fulfillments", "events")


class OrderScreen(OrderKeys):
    TITLE = "Order"
    ROLE_GATES: ClassVar[dict[str, Action]] = GATES
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

    def _fill(self, table_id: str, rows: list[list[Text]], empty: str) -> None:
        table = self.query_one(f"#{table_id}", DataTable)
        cursor = table.cursor_row
        table.clear()
        for row in rows:
            table.add_row(*row)
        if not rows:
            table.add_row(Text(empty, style="dim"), *[Text("")] * (len(table.columns) - 1))
        table.move_cursor(row=min(max(cursor, 0), max(len(rows) - 1, 0)))

    def customers_changed(self, changes: Changes) -> None:
        if changes.touches(self.customer_id):
            self.load()

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
