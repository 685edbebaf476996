"""The invoices tab: the customer's invoices newest first; Enter opens one, $ pays it, E resends it.

The pane loads its own list (`invoices.list_invoices`) the first time its tab is shown, and again
after anything on the customer changed (at once while it is shown, else when it is next shown), so
opening a profile costs no invoice query; paying or resending posts `ProfileChanged` so the
transactions, orders and timeline follow.
"""

from __future__ import annotations

from typing import ClassVar

from rich.text import Text
from textual import on
from textual.binding import Binding, BindingType
from textual.widgets import DataTable

from agentdesk.domain.enums import InvoiceStatus, InvoiceStatusSets
from agentdesk.domain.errors import ServiceError
from agentdesk.domain.money import format_amount
from agentdesk.domain.permissions import Action
from agentdesk.domain.text import visible
from agentdesk.services.billing import invoices
from agentdesk.ui.base import desk_work
from agentdesk.ui.widgets.plain_text import plain
from agentdesk.ui.widgets.profile import ProfileChanged, changed
from agentdesk.ui.widgets.profile.list_pane import ListPane, refill

COLUMNS: list[tuple[str, str]] = [
    ("number", "Invoice"), ("status", "Status"), ("total", "Total"), ("paid", "Paid"), ("due", "Due"),
    ("order", "Order"), ("period", "Period"),
]
"""What an agent asks about first fits 80 columns; the order and the period scroll in with →."""

STATUS_STYLE = {
    InvoiceStatus.PAID: "green", InvoiceStatus.ISSUED: "yellow", InvoiceStatus.PAST_DUE: "bold red",
    InvoiceStatus.VOID: "dim", InvoiceStatus.UNCOLLECTIBLE: "red",
}


def status_text(status: str) -> Text:
    return Text(status.replace("_", " "), style=STATUS_STYLE.get(InvoiceStatus(status), ""))


def period_text(start: object, end: object) -> str:
    """"2027-01-01 → 2027-01-31", or one date, or nothing (an invoice for account charges)."""
    return " → ".join(f"{d:%Y-%m-%d}" for d in (start, end) if d is not None)


def is_open(invoice: invoices.InvoiceSummary) -> bool:
    return invoice.status in InvoiceStatusSets.OPEN


class InvoicesPane(ListPane):
    prefix = "invoices"
    ROLE_GATES: ClassVar[dict[str, Action]] = {"collect": Action.BILLING, "resend": Action.BILLING}
    DEFAULT_CSS = """
    InvoicesPane { height: 1fr; }
    InvoicesPane DataTable { height: 1fr; }
    InvoicesPane #invoices-status { height: auto; color: $text-muted; }
    """
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("enter", "open", "Open", show=False, id="profile.invoice.open"),
        Binding("dollar_sign", "collect", "Pay invoice", id="profile.invoice.collect"),
        Binding("E", "resend", "Resend invoice", id="profile.invoice.resend"),
    ]

    def __init__(self, customer_id: int, **kwargs) -> None:
        super().__init__(customer_id, **kwargs)
        self.invoices: list[invoices.InvoiceSummary] = []

    def on_mount(self) -> None:
        table = self.table
        for key, label in COLUMNS:
            table.add_column(label, key=key)

    # --- loading ------------------------------------------------------------------------------

    @desk_work(group="invoices")
    async def _load(self) -> None:
        status = self.status
        try:
            found = await self.call(invoices.list_invoices, self.customer_id)
        except ServiceError as exc:
            status.update(plain(str(exc), "red"))
            return
        self.show(found)

    def show(self, found: list[invoices.InvoiceSummary]) -> None:
        if found != self.invoices:
            self.invoices = found
            refill(self.table, [(inv.number, self._cells(inv)) for inv in found])
        owing = [i for i in found if is_open(i)]
        summary = f"{len(found)} invoice{'s' if len(found) != 1 else ''}" if found else "no invoices"
        if owing:
            due = sum(i.owed for i in owing)
            summary += f" · {len(owing)} open, {format_amount(due, owing[0].currency)} owed"
        self.status.update(
            Text(f"{summary} · Enter open · $ pay · E resend", style="dim"))

    @staticmethod
    def _cells(inv: invoices.InvoiceSummary) -> list[Text]:
        return [
            plain(inv.number, "bold"),
            status_text(inv.status),
            Text(format_amount(inv.total, inv.currency), justify="right"),
            Text(format_amount(inv.amount_paid, inv.currency), justify="right"),
            Text(f"{inv.due_at:%Y-%m-%d}"),
            plain(inv.order_number or ""),
            Text(period_text(inv.period_start, inv.period_end)),
        ]

    def current(self) -> invoices.InvoiceSummary | None:
        if not self.invoices:
            self.app.notify("This customer has no invoices.", timeout=3)
            return None
        return self.invoices[min(self.table.cursor_row, len(self.invoices) - 1)]

    def _after(self, result: object) -> None:
        if changed(result):
            self.post_message(ProfileChanged())

    # --- actions ------------------------------------------------------------------------------

    @on(DataTable.RowSelected, "#invoices-table")
    def _selected(self, event: DataTable.RowSelected) -> None:
        event.stop()
        self.action_open()

    def action_open(self) -> None:
        from agentdesk.ui.dialogs.invoice import InvoiceDialog

        inv = self.current()
        if inv is not None:
            self.app.push_screen(InvoiceDialog(self.customer_id, inv.number), self._after)

    def action_collect(self) -> None:
        from agentdesk.ui.dialogs.money import CollectPaymentDialog

        if not self.refuse(Action.BILLING):
            return
        inv = self.current()
        if inv is None:
            return
        if not is_open(inv):
            self.app.notify(f"{visible(inv.number)} is {inv.status.replace('_', ' ')}: nothing to pay.", timeout=4,
                            markup=False)
            return
        self.app.push_screen(CollectPaymentDialog(self.customer_id, inv.currency, invoice=inv.number), self._after)

    def action_resend(self) -> None:
        if not self.refuse(Action.BILLING):
            return
        inv = self.current()
        if inv is not None:
            self.resend(inv.number)

    @desk_work(group="invoice-resend")
    async def resend(self, number: str) -> None:
        to = await self.call(invoices.resend_invoice, number)
        self.app.notify(f"Invoice {visible(number)} queued to {visible(to)}", markup=False)
        self.post_message(ProfileChanged(detail=False))
