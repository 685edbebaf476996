"""The transactions tab: the customer's transactions newest first, and the money actions on them.

The rows come from the detail the screen loaded; the dispute flag (a chargeback the customer's bank
opened, as the gateway reported it) is read after each load, off the event loop. Marking (Space) only redraws
a cell. A money action that changed something posts `ProfileChanged` so the screen reloads the customer.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.widgets import DataTable

from agentdesk.domain.money import format_amount
from agentdesk.domain.permissions import Action
from agentdesk.domain.text import visible
from agentdesk.services.customers.records import CustomerDetail, TransactionView
from agentdesk.services.money import disputes, refunds
from agentdesk.ui.base import DeskWidget, desk_work
from agentdesk.ui.dialogs.transaction import TransactionChoice, TransactionDialog
from agentdesk.ui.widgets.plain_text import plain
from agentdesk.ui.widgets.profile import ProfileChanged, changed
from agentdesk.ui.widgets.profile.list_pane import refill

COLUMNS: list[tuple[str, str, int | None]] = [
    ("id", "Txn", None), ("date", "Date", None), ("type", "Type", None), ("status", "Status", None),
    ("dispute", "", None), ("amount", "Amount", None), ("order", "Order", None),
    ("settled", "Settled", None), ("parent", "Of", None), ("note", "Note", 40), ("gateway", "Gateway", None),
    ("instrument", "Instrument", None),
]
"""Key, title and width (None: as wide as the widest value or the title, so neither is ever cut). The untitled
`dispute` column is one cell wide: a flag next to the status (its dialog says the rest), so the columns an
agent reads first still fit 80 columns."""
OPEN_DISPUTE, CLOSED_DISPUTE = "⚑", "⚐"
DISPUTE_GATEWAYS = frozenset({"stripe"})
"""Gateways whose events report disputes: a customer with no payment through one has none, and no read."""

GATES = {
    "refund": Action.REFUND, "mark": Action.REFUND, "refund_marked": Action.REFUND, "refund_order": Action.REFUND,
    "resend_email": Action.REFUND, "collect": Action.BILLING, "credit_memo": Action.BILLING, "payout": Action.PAYOUT,
}


class TransactionTable(DataTable[Text]):
    """The rows of transactions; ← and → scroll a whole column at a time."""

    def _column_starts(self) -> list[int]:
        starts, x = [], 0
        for column in self.ordered_columns:
            starts.append(x)
            x += column.get_render_width(self)
        return starts

    def action_cursor_right(self) -> None:
        later = [x for x in self._column_starts() if x > self.scroll_x]
        if later and self.max_scroll_x > self.scroll_x:
            self.scroll_to(x=min(later[0], self.max_scroll_x), animate=False)

    def action_cursor_left(self) -> None:
        earlier = [x for x in self._column_starts() if x < self.scroll_x]
        if earlier:
            self.scroll_to(x=earlier[-1], animate=False)


def _report(results: Sequence[refunds.RefundResult]) -> str:
    """One line per transaction of a bulk refund (refusals included)."""
    return "\n".join(visible(r.message) for r in results)


class TransactionsPane(DeskWidget):
    ROLE_GATES: ClassVar[dict[str, Action]] = GATES
    DEFAULT_CSS = """
    TransactionsPane { height: 1fr; }
    TransactionsPane DataTable { height: 1fr; }
    """
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("r", "refund", "Refund/void", id="profile.refund"),
        Binding("space", "mark", "Mark", id="profile.mark"),
        Binding("R", "refund_marked", "Refund marked", id="profile.refund_marked"),
        Binding("O", "refund_order", "Refund order", show=False, id="profile.refund_order"),
        Binding("E", "resend_email", "Resend email", show=False, id="profile.resend_email"),
        Binding("dollar_sign", "collect", "Collect payment", show=False, id="profile.collect"),
        Binding("P", "payout", "Payout", show=False, id="profile.payout"),
        Binding("M", "credit_memo", "Credit memo", show=False, id="profile.credit_memo"),
    ]

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.detail: CustomerDetail | None = None
        self.marked: set[int] = set()
        self.disputes: dict[int, disputes.DisputeView] = {}

    def compose(self) -> ComposeResult:
        yield TransactionTable(id="transactions-table", cursor_type="row", zebra_stripes=True)

    def on_mount(self) -> None:
        table = self.table
        for key, label, width in COLUMNS:
            table.add_column(label, key=key, width=width)

    @property
    def table(self) -> TransactionTable:
        return self.query_one("#transactions-table", TransactionTable)

    @property
    def transactions(self) -> list[TransactionView]:
        return self.detail.transactions if self.detail else []

    def focus_table(self) -> None:
        self.table.focus()

    # --- drawing ------------------------------------------------------------------------------

    def show(self, detail: CustomerDetail) -> None:
        """A freshly loaded customer: redraw every row, the cursor staying on its transaction and the marks
        still there."""
        self.detail = detail
        self.marked &= {t.id for t in detail.transactions}
        refill(self.table, [(str(t.id), self._cells(t)) for t in detail.transactions])
        if any(t.gateway in DISPUTE_GATEWAYS for t in detail.transactions):
            self.load_disputes(detail.id)
        else:
            self.disputes = {}

    @desk_work(group="transaction-disputes")
    async def load_disputes(self, customer_id: int) -> None:
        found = await self.call(disputes.customer_disputes, customer_id)
        if self.detail is None or self.detail.id != customer_id:
            return
        self.disputes = found
        for t in self.detail.transactions:
            self.table.update_cell(str(t.id), "dispute", self._dispute_cell(t), update_width=True)

    def _dispute_cell(self, t: TransactionView) -> Text:
        dispute = self.disputes.get(t.id)
        if dispute is None:
            return Text("")
        if dispute.open:
            return Text(OPEN_DISPUTE, style="bold red")
        return Text(CLOSED_DISPUTE, style="dim")

    def _id_cell(self, t: TransactionView) -> Text:
        return Text(("✓" if t.id in self.marked else " ") + str(t.id))

    def _cells(self, t: TransactionView) -> list[Text]:
        return [
            self._id_cell(t),
            Text(f"{t.created_at:%Y-%m-%d %H:%M}"),
            Text(t.type),
            Text(t.status.replace("_", " ")),
            self._dispute_cell(t),
            Text(format_amount(t.amount, t.currency), justify="right"),
            plain(t.order_number or ""),
            Text("settled" if t.settled else "unsettled", style="" if t.settled else "yellow"),
            Text(str(t.parent_id) if t.parent_id else ""),
            plain(t.note or t.error or "", "yellow" if t.note else "red"),
            plain(t.gateway),
            plain(t.instrument or ""),
        ]

    def _current(self) -> TransactionView | None:
        if not self.transactions:
            self.app.notify("This customer has no transactions.", timeout=3)
            return None
        return self.transactions[min(self.table.cursor_row, len(self.transactions) - 1)]

    def _after_dialog(self, result: object) -> None:
        if changed(result):
            self.post_message(ProfileChanged())

    # --- transactions ---------------------------------------------------------------------------

    @on(DataTable.RowSelected, "#transactions-table")
    def _selected(self, event: DataTable.RowSelected) -> None:
        event.stop()
        if self.transactions:
            self.open_transaction(self.transactions[event.cursor_row].id)

    def open_transaction(self, txn_id: object) -> bool:
        """Show one of this customer's transactions with its history; False when it is not theirs."""
        txn = next((t for t in self.transactions if t.id == txn_id), None)
        if txn is None:
            return False
        related = [t for t in self.transactions if t.parent_id == txn.id or t.id == txn.parent_id]

        def chosen(choice: TransactionChoice | None) -> None:
            if choice == "refund":
                self._refund(txn)
            elif choice == "resend":
                self._resend(txn)

        self.app.push_screen(TransactionDialog(txn, related, self.disputes.get(txn.id)), chosen)
        return True

    def action_mark(self) -> None:
        """Toggle the mark on the highlighted row; redraws that one cell, no store round trip."""
        if not self.refuse(Action.REFUND):
            return
        txn = self._current()
        if txn is None:
            return
        self.marked.symmetric_difference_update({txn.id})
        self.table.update_cell(str(txn.id), "id", self._id_cell(txn))

    def action_refund(self) -> None:
        if not self.refuse(Action.REFUND):
            return
        txn = self._current()
        if txn is not None:
            self._refund(txn)

    def _refund(self, txn: TransactionView) -> None:
        from agentdesk.ui.dialogs.money import RefundDialog

        if not self.refuse(Action.REFUND):
            return
        self.app.push_screen(RefundDialog(txn.id), self._after_dialog)

    def action_refund_marked(self) -> None:
        if not self.refuse(Action.REFUND):
            return
        if not self.marked:
            self.app.notify("Mark transactions with Space first.", timeout=3)
            return
        self.refund_marked(sorted(self.marked))

    @desk_work(group="bulk-refund")
    async def refund_marked(self, ids: list[int]) -> None:
        try:
            results = await self.call(refunds.refund_many, self.app.settings, ids)
        finally:
            self.post_message(ProfileChanged())
        self.marked.difference_update(ids)
        self.app.notify(_report(results), title="Refund marked", timeout=10, markup=False)

    def action_refund_order(self) -> None:
        if not self.refuse(Action.REFUND):
            return
        txn = self._current()
        if txn is None:
            return
        if not txn.order_number:
            self.app.notify("This transaction belongs to no order.", timeout=3)
            return
        self.refund_whole_order(txn.order_number)

    @desk_work(group="order-refund")
    async def refund_whole_order(self, number: str) -> None:
        try:
            results = await self.call(refunds.refund_order, self.app.settings, number)
        finally:
            self.post_message(ProfileChanged())
        self.app.notify(_report(results), title=f"Order {visible(number)}", timeout=10, markup=False)

    def action_resend_email(self) -> None:
        if not self.refuse(Action.REFUND):
            return
        txn = self._current()
        if txn is not None:
            self._resend(txn)

    def _resend(self, txn: TransactionView) -> None:
        if not self.refuse(Action.REFUND):
            return
        self.resend(txn.id)

    @desk_work(group="resend")
    async def resend(self, txn_id: int) -> None:
        to = await self.call(refunds.resend_confirmation, txn_id)
        self.app.notify(f"Confirmation queued to {visible(to)}", markup=False)

    # --- money in and out -------------------------------------------------------------------------

    def action_collect(self) -> None:
        from agentdesk.ui.dialogs.money import CollectPaymentDialog

        if not self.refuse(Action.BILLING) or self.detail is None:
            return
        self.app.push_screen(CollectPaymentDialog(self.detail.id, self.detail.currency), self._after_dialog)

    def action_payout(self) -> None:
        from agentdesk.ui.dialogs.money import PayoutDialog

        if not self.refuse(Action.PAYOUT) or self.detail is None:
            return
        self.app.push_screen(PayoutDialog(self.detail.id, self.detail.currency), self._after_dialog)

    def action_credit_memo(self) -> None:
        from agentdesk.ui.dialogs.money import CreditMemoDialog

        if not self.refuse(Action.BILLING) or self.detail is None:
            return
        self.app.push_screen(CreditMemoDialog(self.detail.id, self.detail.currency), self._after_dialog)
