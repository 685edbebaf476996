"""One invoice: its lines, discounts, credit applied, total, payments and notes; E resends it, $ pays it,
V voids it, P marks it paid outside, W writes it off, C applies the customer's available credit.

Paying goes through the collect-payment dialog with this invoice chosen, so the amount is confirmed
before the card is charged; the outcome (approved, declined with the gateway's reason, or pending) is
shown here and the invoice read again. Void, paid outside and write-off are refund-like (finance,
admins, agents within their refund limit); each action opens a dialog that shows the service's own
preview of exactly what happens and the amount, and asks for a second Enter. The dialog returns True
when something changed (the profile reloads).
"""

from __future__ import annotations

from typing import ClassVar

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical, VerticalScroll
from textual.widgets import Input, Static

from agentdesk.domain.enums import InvoiceStatusSets
from agentdesk.domain.errors import Conflict, ServiceError
from agentdesk.domain.money import format_amount
from agentdesk.domain.permissions import Action
from agentdesk.domain.text import visible
from agentdesk.services.billing import invoice_actions, invoices
from agentdesk.services.billing.invoice_actions import InvoiceAction, InvoiceActionPreview, InvoiceActionResult
from agentdesk.ui.base import ConfirmingDialog, DeskModal, desk_work, form_field
from agentdesk.ui.widgets.plain_text import plain
from agentdesk.ui.widgets.profile.invoices import period_text, status_text


def _multiline(value: str, style: str = "") -> Text:
    """Untrusted text whose line breaks are kept; everything else escaped, never markup."""
    return Text("\n").join(plain(line, style) for line in value.split("\n"))


def invoice_view(d: invoices.InvoiceDetail) -> RenderableType:
    """The whole invoice as the agent reads it; every stored text goes through `plain`."""
    cur = d.currency

    def money(minor: int) -> str:
        return format_amount(minor, cur)

    head = Text()
    head.append(f"Invoice {visible(d.number)}", style="bold")
    head.append("  ")
    head.append(status_text(d.status))
    head.append("\n")
    head.append(plain(d.customer_name))
    if d.order_number:
        head.append("  · order ")
        head.append(plain(d.order_number))
    period = period_text(d.period_start, d.period_end)
    if period:
        head.append(f"  · period {period}")
    head.append(f"\nissued {d.issued_at:%Y-%m-%d}  · due {d.due_at:%Y-%m-%d}")
    if d.paid_at:
        head.append(f"  · paid {d.paid_at:%Y-%m-%d}", style="green")
    if d.next_attempt_at and d.status in InvoiceStatusSets.OPEN:
        head.append(f"  · next attempt {d.next_attempt_at:%Y-%m-%d}", style="yellow")

    lines = Table(box=None, padding=(0, 1), show_edge=False, expand=True, header_style="bold")
    lines.add_column("Line", ratio=1, overflow="fold")
    lines.add_column("Qty × unit price", justify="right", no_wrap=True)
    lines.add_column("Amount", justify="right", no_wrap=True)
    for line in d.lines:
        what = Text(f"{line.kind.replace('_', ' ')}: ", style="dim")
        what.append(plain(line.description))
        line_period = period_text(line.period_start, line.period_end)
        if line_period:
            what.append(f"\n{line_period}", style="dim")
        for code, amount in line.discounts:
            what.append("\ncoupon ", style="cyan")
            what.append(plain(code, "cyan"))
            what.append(f" -{money(amount)}", style="cyan")
        lines.add_row(what, Text(f"{line.quantity} × {money(line.unit_price)}"), Text(money(line.amount)))

    sums = Table(box=None, padding=(0, 1), show_header=False, show_edge=False, expand=True)
    sums.add_column("what", ratio=1, justify="right")
    sums.add_column("amount", justify="right", no_wrap=True)
    sums.add_row("Subtotal", money(d.subtotal))
    if d.discount:
        sums.add_row("Discounts", f"-{money(d.discount)}")
    if d.credit_applied:
        sums.add_row("Credit applied", f"-{money(d.credit_applied)}")
        for credit in d.credits:
            memo = Text(f"credit memo {credit.credit_memo_id}: ", style="dim")
            memo.append(plain(credit.reason, "dim"))
            if credit.amount < 0:
                memo.append(" (returned)", style="dim")
            sums.add_row(memo, Text(f"-{money(credit.amount)}" if credit.amount > 0 else f"+{money(-credit.amount)}",
                                    style="dim"))
    sums.add_row(Text("Total", style="bold"), Text(money(d.total), style="bold"))
    sums.add_row("Paid", money(d.amount_paid))
    if d.owed > 0:
        sums.add_row(Text("Owed", style="bold yellow"), Text(money(d.owed), style="bold yellow"))

    tail = Text()
    tail.append("\nPayments\n", style="bold underline")
    if not d.payments:
        tail.append("none yet\n", style="dim")
    for p in d.payments:
        tail.append(f"{p.created_at:%Y-%m-%d %H:%M}  #{p.transaction_id}  {p.status.replace('_', ' '):<9} "
                    f"{format_amount(p.amount, p.currency)}")
        if p.instrument:
            tail.append("  ")
            tail.append(plain(p.instrument))
        if p.message:
            tail.append("  ")
            tail.append(plain(p.message, "red" if p.status != "approved" else "dim"))
        tail.append("\n")
    if d.notes:
        tail.append("\nNotes\n", style="bold underline")
        tail.append(_multiline(d.notes))
        tail.append("\n")
    return Group(head, Text(""), lines, Text(""), sums, tail)


class InvoiceDialog(DeskModal[bool]):
    """The invoice `number` of customer `customer_id` (read through `invoice_detail`)."""

    ROLE_GATES: ClassVar[dict[str, Action]] = {
        "resend": Action.BILLING, "collect": Action.BILLING,
        **{action.value: needs for action, needs in invoice_actions.NEEDS.items()},
    }
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,enter", "close", "Close", id="invoice.close"),
        Binding("E", "resend", "Resend invoice", id="invoice.resend"),
        Binding("dollar_sign", "collect", "Collect payment", id="invoice.collect"),
        Binding("V", "void", "Void invoice", id="invoice.void"),
        Binding("P", "mark_paid", "Mark paid outside", id="invoice.mark_paid"),
        Binding("W", "write_off", "Write off", id="invoice.write_off"),
        Binding("C", "apply_credit", "Apply credit", id="invoice.apply_credit"),
    ]
    DEFAULT_CSS = """
    InvoiceDialog #invoice-outcome { height: auto; display: none; }
    """

    def __init__(self, customer_id: int, number: str) -> None:
        super().__init__()
        self.customer_id = customer_id
        self.number = number
        self.detail: invoices.InvoiceDetail | None = None
        self.changed = False

    def compose(self) -> ComposeResult:
        with VerticalScroll(classes="dialog"):
            yield Static(Text("loading…", style="dim"), id="invoice-body")
            with Vertical(classes="dialog-footer"):
                yield Static(id="invoice-outcome")
                yield Static(id="invoice-hint", classes="dialog-hint")

    def on_mount(self) -> None:
        self.reload()

    @desk_work(group="invoice-detail")
    async def reload(self) -> None:
        body = self.query_one("#invoice-body", Static)
        try:
            self.detail = await self.call(invoices.invoice_detail, self.number)
        except ServiceError as exc:
            body.update(plain(str(exc), "red"))
            return
        body.update(invoice_view(self.detail))
        self._hint()

    def _hint(self) -> None:
        keys = []
        is_open = self.detail is not None and self.detail.status in InvoiceStatusSets.OPEN
        if self.may(Action.BILLING):
            if is_open:
                keys.append("$ collect payment")
            keys.append("E resend invoice")
        if is_open:
            keys += [f"{key} {label}" for key, action, label in ACTION_KEYS if self.may(invoice_actions.NEEDS[action])]
        keys.append("Esc close")
        self.query_one("#invoice-hint", Static).update(Text(" · ".join(keys), style="dim"))

    def say(self, text: Text) -> None:
        outcome = self.query_one("#invoice-outcome", Static)
        outcome.update(text)
        outcome.display = True

    def action_close(self) -> None:
        self.dismiss(self.changed)

    def action_resend(self) -> None:
        if self.refuse(Action.BILLING):
            self.resend()

    @desk_work(group="invoice-resend")
    async def resend(self) -> None:
        to = await self.call(invoices.resend_invoice, self.number)
        self.changed = True
        sentence = f"Invoice {visible(self.number)} queued to {visible(to)}"
        self.say(Text(sentence, style="green"))
        self.app.notify(sentence, markup=False)

    def action_collect(self) -> None:
        from agentdesk.ui.dialogs.money import CollectPaymentDialog

        if not self.refuse(Action.BILLING) or self.detail is None:
            return
        d = self.detail
        if d.status not in InvoiceStatusSets.OPEN:
            self.app.notify(f"{visible(d.number)} is {d.status.replace('_', ' ')}: nothing to collect.",
                            timeout=4, markup=False)
            return
        self.app.push_screen(CollectPaymentDialog(self.customer_id, d.currency, invoice=d.number), self._collected)

    def _collected(self, result: object) -> None:
        from agentdesk.ui.dialogs.money import collect_outcome

        if isinstance(result, invoices.CollectResult):
            self.changed = True
            self.say(Text(collect_outcome(result), style="green" if result.ok else "bold red"))
            self.reload()

    def _act(self, action: InvoiceAction) -> None:
        if not self.refuse(invoice_actions.NEEDS[action]) or self.detail is None:
            return
        d = self.detail
        if d.status not in InvoiceStatusSets.OPEN:
            self.app.notify(f"{visible(d.number)} is {d.status.replace('_', ' ')}: only an issued or past-due "
                            "invoice can be voided, marked paid, written off or given credit.", timeout=5,
                            markup=False)
            return
        self.app.push_screen(ACTION_DIALOGS[action](d.number), self._acted)

    def action_void(self) -> None:
        self._act(InvoiceAction.VOID)

    def action_mark_paid(self) -> None:
        self._act(InvoiceAction.MARK_PAID)

    def action_write_off(self) -> None:
        self._act(InvoiceAction.WRITE_OFF)

    def action_apply_credit(self) -> None:
        self._act(InvoiceAction.APPLY_CREDIT)

    def _acted(self, result: object) -> None:
        if isinstance(result, InvoiceActionResult):
            self.changed = True
            self.say(Text(visible(result.message), style="green"))
            self.reload()


ACTION_KEYS = (("V", InvoiceAction.VOID, "void"), ("P", InvoiceAction.MARK_PAID, "mark paid outside"),
               ("W", InvoiceAction.WRITE_OFF, "write off"), ("C", InvoiceAction.APPLY_CREDIT, "apply credit"))


class InvoiceActionDialog(ConfirmingDialog[InvoiceActionResult]):
    """One action on invoice `number`: the service's preview (what happens, the amount) above the fields,
    refused there already when the action would be; a second Enter does it."""

    action: ClassVar[InvoiceAction]
    DEFAULT_CSS = """
    InvoiceActionDialog #dialog-confirm { height: auto; }
    """

    def __init__(self, number: str) -> None:
        super().__init__()
        self.number = number
        self.preview: InvoiceActionPreview | None = None
        self.refusal: ServiceError | None = None

    def on_mount(self) -> None:
        super().on_mount()
        self.facts.update(Text("reading the invoice…", style="dim"))
        self.load(self._read, self._previewed)
        boxes = self.query(Input)
        if boxes:
            boxes.first().focus()

    async def _read(self) -> InvoiceActionPreview | None:
        """The preview, or None when the service refuses the action (the refusal shown in its place)."""
        try:
            return await self.call(invoice_actions.preview_action, self.number, self.action.value)
        except ServiceError as exc:
            self.refusal = exc
            self.facts.update(Text(visible(str(exc)), style="red"))
            return None

    def _previewed(self, preview: InvoiceActionPreview | None) -> None:
        if preview is None:
            return
        self.preview = preview
        self.facts.update(Text(visible(preview.sentence)))

    def text(self, widget_id: str) -> str:
        return self.query_one(f"#{widget_id}", Input).value

    def confirmation(self) -> str:
        if self.refusal is not None:
            raise self.refusal
        if self.preview is None:
            raise Conflict("still reading the invoice; press Enter again in a moment")
        return self.preview.sentence

    def outcome(self, result: InvoiceActionResult) -> str:
        return result.message


class VoidInvoiceDialog(InvoiceActionDialog):
    heading = "Void invoice"
    action = InvoiceAction.VOID
    needs = Action.REFUND

    def fields(self) -> ComposeResult:
        yield from form_field("Reason (kept on the timeline; optional)",
                              Input(id="invoice-reason", compact=True, max_length=500), "reason")

    async def perform(self) -> InvoiceActionResult:
        return await self.call(invoice_actions.void_invoice, self.number, self.text("invoice-reason"))


class MarkPaidDialog(InvoiceActionDialog):
    heading = "Mark invoice paid outside"
    action = InvoiceAction.MARK_PAID
    needs = Action.REFUND

    def fields(self) -> ComposeResult:
        yield from form_field("Payment reference (transfer id, cheque number…)",
                              Input(id="invoice-reference", compact=True,
                                    max_length=invoice_actions.REFERENCE_LIMIT), "reference")

    def confirmation(self) -> str:
        sentence = super().confirmation()
        reference = invoice_actions.clean_reference(self.text("invoice-reference"))
        return f"{sentence} Reference: {reference}."

    async def perform(self) -> InvoiceActionResult:
        return await self.call(invoice_actions.mark_paid_outside, self.number, self.text("invoice-reference"))


class WriteOffDialog(InvoiceActionDialog):
    heading = "Write off invoice"
    action = InvoiceAction.WRITE_OFF
    needs = Action.REFUND

    def fields(self) -> ComposeResult:
        yield from form_field("Reason (kept on the timeline; optional)",
                              Input(id="invoice-reason", compact=True, max_length=500), "reason")

    async def perform(self) -> InvoiceActionResult:
        return await self.call(invoice_actions.write_off_invoice, self.number, self.text("invoice-reason"))


class ApplyCreditDialog(InvoiceActionDialog):
    heading = "Apply available credit"
    action = InvoiceAction.APPLY_CREDIT
    needs = Action.BILLING

    async def perform(self) -> InvoiceActionResult:
        return await self.call(invoice_actions.apply_credit, self.number)


ACTION_DIALOGS: dict[InvoiceAction, type[InvoiceActionDialog]] = {
    InvoiceAction.VOID: VoidInvoiceDialog, InvoiceAction.MARK_PAID: MarkPaidDialog,
    InvoiceAction.WRITE_OFF: WriteOffDialog, InvoiceAction.APPLY_CREDIT: ApplyCreditDialog,
}
