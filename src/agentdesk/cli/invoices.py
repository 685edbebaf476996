"""`agentdesk invoices list|show|resend|pay|void|mark-paid|write-off|apply-credit`: a customer's invoices, one in
full, sending it again, paying it, and settling it otherwise (void, paid outside, written off, credit)."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import click

from agentdesk.cli import output
from agentdesk.cli.output import Column
from agentdesk.cli.root import EXIT_ERROR, Desk, pass_desk
from agentdesk.domain.money import format_amount
from agentdesk.domain.text import visible

if TYPE_CHECKING:
    from agentdesk.services.billing.invoices import InvoiceDetail, InvoiceSummary


def _period(inv: InvoiceSummary) -> str:
    if inv.period_start and inv.period_end:
        return f"{inv.period_start.isoformat()}..{inv.period_end.isoformat()}"
    return ""


COLUMNS: tuple[Column[InvoiceSummary], ...] = (
    Column(lambda i: i.number, 12),
    Column(lambda i: i.order_number or "", 12),
    Column(_period, 22),
    Column(lambda i: format_amount(i.total, i.currency), 18, right=True),
    Column(lambda i: f"paid {format_amount(i.amount_paid, i.currency)}", 22, right=True),
    Column(lambda i: i.status, 14, gap="  "),
    Column(lambda i: f"due {i.due_at:%Y-%m-%d}"),
)


@click.group()
def invoices() -> None:
    """customers' invoices: list, show, resend, pay, void, mark paid, write off, apply credit"""


@invoices.command("list")
@click.argument("customer", metavar="CUSTOMER")
@click.option("--status", metavar="S", help="only invoices in this status (issued, paid, past_due, void, "
                                            "uncollectible)")
@output.json_option
@pass_desk
def list_(desk: Desk, customer: str, status: str | None, as_json: bool) -> int:
    """CUSTOMER's invoices, newest first"""
    from agentdesk.services.billing import invoices as service

    found = service.list_invoices(desk.store(), desk.actor, customer, status)
    output.table(found, COLUMNS, as_json=as_json, to_json=lambda i: i.to_dict())
    if not found and not as_json:
        output.echo("no invoices")
    return 0


def detail_lines(d: InvoiceDetail) -> list[str]:
    def money(minor: int) -> str:
        return format_amount(minor, d.currency)

    head = f"Invoice {visible(d.number)}  {d.status}  {visible(d.customer_name)} ({visible(d.customer_ref)})"
    lines = [head]
    if d.order_number or d.period_start:
        lines.append(f"  order {visible(d.order_number or '-')}" + (f"  period {_period(d)}" if _period(d) else ""))
    lines.append(f"  issued {d.issued_at:%Y-%m-%d}  due {d.due_at:%Y-%m-%d}"
                 + (f"  paid {d.paid_at:%Y-%m-%d}" if d.paid_at else "")
                 + (f"  next attempt {d.next_attempt_at:%Y-%m-%d}" if d.next_attempt_at else ""))
    for line in d.lines:
        lines.append(f"  {line.kind:<9} {visible(line.description)}: {line.quantity} × {money(line.unit_price)}"
                     f" = {money(line.amount)}")
        lines += [f"            coupon {visible(code)} -{money(amount)}" for code, amount in line.discounts]
    lines.append(f"  subtotal {money(d.subtotal)}")
    if d.discount:
        lines.append(f"  discounts -{money(d.discount)}")
    lines += [f"  credit {'-' + money(c.amount) if c.amount > 0 else 'returned ' + money(-c.amount)} "
              f"(credit memo {c.credit_memo_id}: {visible(c.reason)})" for c in d.credits]
    lines.append(f"  total {money(d.total)}   paid {money(d.amount_paid)}")
    for p in d.payments:
        lines.append(f"  payment #{p.transaction_id} {p.status} {format_amount(p.amount, p.currency)}"
                     + (f" {visible(p.instrument)}" if p.instrument else "")
                     + (f" ({visible(p.message)})" if p.message else ""))
    if d.notes:
        lines.append("  notes:")
        lines += [f"    {visible(part)}" for part in d.notes.split("\n")]
    return lines


@invoices.command()
@click.argument("invoice", metavar="INVOICE")
@output.json_option
@pass_desk
def show(desk: Desk, invoice: str, as_json: bool) -> int:
    """one invoice: lines, discounts, credit, payments"""
    from agentdesk.services.billing import invoices as service

    detail = service.invoice_detail(desk.store(), desk.actor, invoice)
    output.record(detail.to_dict(), as_json=as_json, lines=lambda: detail_lines(detail))
    return 0


@invoices.command()
@click.argument("invoice", metavar="INVOICE")
@pass_desk
def resend(desk: Desk, invoice: str) -> int:
    """email INVOICE to its customer again"""
    from agentdesk.services.billing import invoices as service

    to = service.resend_invoice(desk.store(), desk.actor, invoice)
    output.echo(f"invoice {visible(invoice.strip().upper())} queued to {visible(to)}")
    return 0


@invoices.command()
@click.argument("invoice", metavar="INVOICE")
@click.option("--instrument", metavar="LAST4", help="charge the active card ending with these four digits "
                                                   "(default: the order's, else the customer's primary)")
@output.json_option
@pass_desk
def pay(desk: Desk, invoice: str, instrument: str | None, as_json: bool) -> int:
    """collect what INVOICE still owes now"""
    from agentdesk.services.billing import invoices as service
    from agentdesk.services.money.instruments import resolve_instrument

    instrument_id = None
    if instrument is not None:
        owner = service.invoice_detail(desk.store(), desk.actor, invoice).customer_ref
        instrument_id = resolve_instrument(desk.store(), desk.actor, owner, instrument)
    result = service.pay_invoice(desk.store(), desk.actor, desk.settings, invoice, instrument_id)
    output.record(result.to_dict(), as_json=as_json, lines=lambda: [visible(result.message)])
    return EXIT_ERROR if result.status in ("declined", "failed") else 0


def _act(desk: Desk, invoice: str, action: str, preview: bool, as_json: bool, run: Callable[[], Any],
         reference: str | None = None, reason: str | None = None) -> int:
    """`--preview`: what the action would do (nothing written); else do it and say what was done."""
    from agentdesk.services.billing import invoice_actions

    if preview:
        seen = invoice_actions.preview_action(desk.store(), desk.actor, invoice, action, reference=reference,
                                              reason=reason)
        output.record(seen.to_dict(), as_json=as_json, lines=lambda: [visible(seen.sentence),
                                                                       "(preview: nothing was changed)"])
        return 0
    done = run()
    output.record(done.to_dict(), as_json=as_json, lines=lambda: [visible(done.message)])
    return 0


preview_option = click.option("--preview", is_flag=True, help="say what would happen and change nothing")


@invoices.command()
@click.argument("invoice", metavar="INVOICE")
@click.option("--reason", metavar="T", help="why it is voided (on the timeline)")
@preview_option
@output.json_option
@pass_desk
def void(desk: Desk, invoice: str, reason: str | None, preview: bool, as_json: bool) -> int:
    """void an unpaid INVOICE: its credit goes back, its account charges bill later"""
    from agentdesk.services.billing import invoice_actions

    return _act(desk, invoice, "void", preview, as_json,
                lambda: invoice_actions.void_invoice(desk.store(), desk.actor, invoice, reason), reason=reason)


@invoices.command("mark-paid")
@click.argument("invoice", metavar="INVOICE")
@click.option("--reference", metavar="REF", required=True, help="the outside payment's reference (transfer id…)")
@preview_option
@output.json_option
@pass_desk
def mark_paid(desk: Desk, invoice: str, reference: str, preview: bool, as_json: bool) -> int:
    """record that INVOICE was paid outside the console"""
    from agentdesk.services.billing import invoice_actions

    return _act(desk, invoice, "mark_paid", preview, as_json,
                lambda: invoice_actions.mark_paid_outside(desk.store(), desk.actor, invoice, reference),
                reference=reference)


@invoices.command("write-off")
@click.argument("invoice", metavar="INVOICE")
@click.option("--reason", metavar="T", help="why it is written off (on the timeline)")
@preview_option
@output.json_option
@pass_desk
def write_off(desk: Desk, invoice: str, reason: str | None, preview: bool, as_json: bool) -> int:
    """write INVOICE off as uncollectible: no more payment attempts"""
    from agentdesk.services.billing import invoice_actions

    return _act(desk, invoice, "write_off", preview, as_json,
                lambda: invoice_actions.write_off_invoice(desk.store(), desk.actor, invoice, reason), reason=reason)


@invoices.command("apply-credit")
@click.argument("invoice", metavar="INVOICE")
@preview_option
@output.json_option
@pass_desk
def apply_credit(desk: Desk, invoice: str, preview: bool, as_json: bool) -> int:
    """draw the customer's available credit onto what INVOICE owes"""
    from agentdesk.services.billing import invoice_actions

    return _act(desk, invoice, "apply_credit", preview, as_json,
                lambda: invoice_actions.apply_credit(desk.store(), desk.actor, invoice))
