"""The orders tab: the customer's orders grouped Active / Pending / Past; Enter opens one.

Loaded (`orders.list_orders`) the first time the tab is shown and again after the customer changed."""

from __future__ import annotations

from typing import ClassVar

from rich.text import Text
from textual import on
from textual.binding import Binding, BindingType
from textual.widgets import DataTable

from agentdesk.domain.enums import OrderStatus
from agentdesk.domain.errors import ServiceError
from agentdesk.domain.money import format_amount
from agentdesk.services.orders import read as orders
from agentdesk.ui.base import desk_work
from agentdesk.ui.widgets.plain_text import plain
from agentdesk.ui.widgets.profile.list_pane import ListPane, refill

GROUPS: list[tuple[str, tuple[OrderStatus, ...]]] = [
    ("Active", (OrderStatus.ACTIVE, OrderStatus.PAUSED)),
    ("Pending", (OrderStatus.PENDING,)),
    ("Past", (OrderStatus.COMPLETED, OrderStatus.CANCELLED, OrderStatus.ABANDONED)),
]
COLUMNS = ["Group", "Order", "Status", "Product", "Amount", "Next bill / since"]


def grouped(found: list[orders.OrderSummary]) -> list[tuple[str, orders.OrderSummary]]:
    """(group, order) in the order shown: active, then pending, then past; newest first within each."""
    return [(name, o) for name, statuses in GROUPS for o in found if o.status in statuses]


class OrdersPane(ListPane):
    prefix = "orders"
    DEFAULT_CSS = """
    OrdersPane { height: 1fr; }
    OrdersPane DataTable { height: 1fr; }
    OrdersPane #orders-status { height: auto; color: $text-muted; }
    """
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("enter", "open", "Open order", show=False, id="profile.order.open"),
    ]

    def __init__(self, customer_id: int, **kwargs) -> None:
        super().__init__(customer_id, **kwargs)
        self.rows: list[tuple[str, orders.OrderSummary]] = []

    def on_mount(self) -> None:
        for label in COLUMNS:
            self.table.add_column(label, key=label.lower())

    @desk_work(group="orders")
    async def _load(self) -> None:
        status = self.status
        try:
            found = await self.call(orders.list_orders, self.customer_id)
        except ServiceError as exc:
            status.update(plain(str(exc), "red"))
            return
        self.show(found)

    def show(self, found: list[orders.OrderSummary]) -> None:
        rows = grouped(found)
        if rows != self.rows:
            self.rows = rows
            refill(self.table, self._lines())
        counts = [f"{sum(1 for g, _ in self.rows if g == name)} {name.lower()}" for name, _ in GROUPS]
        text = " · ".join(counts) + " · Enter open" if self.rows else "no orders"
        self.status.update(Text(text, style="dim"))

    def _lines(self) -> list[tuple[str, list[Text]]]:
        lines = []
        previous = ""
        for group, o in self.rows:
            billing = o.next_bill_date is not None and o.status != OrderStatus.CANCELLED and group != "Past"
            when = f"next bill {o.next_bill_date:%Y-%m-%d}" if billing else f"since {o.created_at:%Y-%m-%d}"
            lines.append((o.number, [Text(group if group != previous else "", style="bold"), plain(o.number, "bold"),
                                     Text(o.status), plain(o.product),
                                     Text(format_amount(o.total, o.currency), justify="right"), Text(when)]))
            previous = group
        return lines

    @on(DataTable.RowSelected, "#orders-table")
    def _selected(self, event: DataTable.RowSelected) -> None:
        event.stop()
        self.action_open()

    def action_open(self) -> None:
        from agentdesk.ui.screens.order import OrderScreen

        if not self.rows:
            self.app.notify("This customer has no orders.", timeout=3)
            return
        _, order = self.rows[min(self.table.cursor_row, len(self.rows) - 1)]
        self.app.push_screen(OrderScreen(order.number, self.customer_id))
