"""The order builder's preview: what is charged today and what comes next, then Enter creates it.

It shows the preview the service computed (`orders.preview_order`, which writes nothing): each line
(items as "quantity × unit price = amount", setup fees, shipping) with its discount, the coupons
(applied, or why not), credit drawn from credit memos, the total charged today, and the next two
billing dates with their amounts. Enter creates the order with exactly that total as
`expected_total` (the service refuses when a fresh preview differs, and the agent previews again);
Esc goes back to the form. Closing returns the `OrderResult` (None when the agent went back).
"""

from __future__ import annotations

from typing import ClassVar

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.widgets import Static

from agentdesk.domain.errors import ServiceError
from agentdesk.domain.money import format_amount
from agentdesk.domain.permissions import Action
from agentdesk.domain.text import visible
from agentdesk.services.orders import create as orders_create
from agentdesk.services.orders.create import OrderResult
from agentdesk.services.orders.preview import OrderPreview
from agentdesk.services.orders.requests import OrderRequest
from agentdesk.ui.base import ServiceDialog, put

MINUS = "\u2212"


def preview_text(preview: OrderPreview) -> Table:
    """The preview as a plain table (every value shown as text, never markup): each line's description
    with "quantity × unit price = amount" under it, its discount and its total."""
    cur = preview.currency

    def money(value: int, minus: bool = False) -> str:
        return f"{MINUS if minus and value else ''}{format_amount(value, cur)}"

    table = Table(box=None, show_header=True, header_style="bold", expand=True, pad_edge=False, padding=(0, 1))
    table.add_column("Charged today", ratio=1, overflow="fold")
    table.add_column("Discount", justify="right", no_wrap=True)
    table.add_column("Total", justify="right", no_wrap=True)
    for line in preview.lines:
        what = Text(visible(line.description))
        what.append(f"\n  {line.quantity} × {money(line.unit_price)} = {money(line.amount)}", style="dim")
        table.add_row(what, Text(money(line.discount, minus=True) if line.discount else ""), Text(money(line.total)))
    if not preview.lines:
        table.add_row(Text("nothing today", style="dim"), Text(""), Text(""))
    table.add_row(Text(""), Text(""), Text(""))
    table.add_row(Text("Subtotal"), Text(""), Text(money(preview.subtotal)))
    table.add_row(Text("Discounts"), Text(""), Text(money(preview.discount, minus=True)))
    table.add_row(Text("Credit from credit memos"), Text(""), Text(money(preview.credit, minus=True)))
    table.add_row(Text("Total today", style="bold"), Text(""), Text(money(preview.total_today), style="bold"))
    return table


def after_text(preview: OrderPreview) -> Text:
    """Coupons, what is billed next, and the service's warnings."""
    cur = preview.currency
    out = Text(end="")
    for code, effect in preview.coupons:
        if isinstance(effect, int):
            out.append(f"Coupon {visible(code)}: {MINUS}{format_amount(effect, cur)} today\n", style="green")
        else:
            out.append(f"Coupon {visible(code)} not applied: {visible(effect)}\n", style="yellow")
    if not preview.due_now:
        out.append(f"Nothing is charged today; the first bill is on {preview.first_bill_date.isoformat()}.\n")
    if preview.upcoming:
        nexts = " · ".join(f"{c.date.isoformat()} {format_amount(c.amount, cur)}" for c in preview.upcoming)
        out.append(f"Next billing: {nexts}\n")
    else:
        out.append("No later billing (one-time).\n", style="dim")
    for warning in preview.warnings:
        out.append(f"⚠ {visible(warning)}\n", style="yellow")
    out.rstrip()
    return out


class OrderPreviewDialog(ServiceDialog[OrderResult]):
    """Enter creates the order for exactly the previewed total; Esc goes back to the form."""

    DEFAULT_CSS = """
    OrderPreviewDialog #preview-lines { height: auto; }
    OrderPreviewDialog #preview-after { height: auto; margin-top: 1; }
    OrderPreviewDialog #preview-confirm { height: auto; text-style: bold; color: $warning; }
    """
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "cancel", "Back to the form", id="order_preview.back"),
        Binding("enter", "submit", "Create the order", id="order_preview.confirm", priority=True),
        Binding("ctrl+s", "submit", "Create the order", id="order_preview.submit", priority=True, show=False),
    ]
    needs = Action.CREATE_ORDERS
    submit_hint = ""

    def __init__(self, customer_name: str, request: OrderRequest, preview: OrderPreview) -> None:
        super().__init__()
        self.request = request
        self.preview = preview
        self.heading = f"Preview: new order for {customer_name}"

    def fields(self) -> ComposeResult:
        yield Static(preview_text(self.preview), id="preview-lines")
        yield Static(after_text(self.preview), id="preview-after")

    def footer(self) -> ComposeResult:
        yield Static(Text(self.confirmation()), id="preview-confirm")
        yield from super().footer()
        yield Static(Text("Enter confirm · Esc back to the form", style="dim"), classes="dialog-hint")

    def confirmation(self) -> str:
        p = self.preview
        total = format_amount(p.total_today, p.currency)
        if not p.due_now or p.total_today == 0:
            return f"Create the order: {total} today."
        if not self.request.autopay:
            return f"Create the order with an invoice of {total} (autopay off: nothing is charged now)."
        return f"Create the order and charge exactly {total} today."

    async def perform(self) -> OrderResult:
        return await self.call(orders_create.create_order, self.app.settings, self.request,
                               expected_total=self.preview.total_today)

    def action_cancel(self) -> None:
        if not self.busy:
            self.dismiss(None)

    def action_submit(self) -> None:
        if self.attempt(self.perform, self.submitted):
            put(self.query_one("#preview-confirm", Static), Text("creating the order…", style="dim"))

    def failed(self, error: ServiceError) -> None:
        put(self.query_one("#preview-confirm", Static), Text(self.confirmation()))
        super().failed(error)
