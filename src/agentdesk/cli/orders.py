"""`agentdesk orders create|list|show`: the order builder without the screen, over the same services."""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

from agentdesk.cli import output
from agentdesk.cli.arguments import COUNT
from agentdesk.cli.output import Column
from agentdesk.cli.root import EXIT_ERROR, Desk, pass_desk
from agentdesk.domain.formatting import format_utc
from agentdesk.domain.money import format_amount
from agentdesk.domain.text import visible

if TYPE_CHECKING:
    from agentdesk.services.orders.preview import OrderPreview
    from agentdesk.services.orders.read import OrderDetail, OrderSummary

COLUMNS: tuple[Column[OrderSummary], ...] = (
    Column(lambda o: o.number, 12),
    Column(lambda o: o.kind, 12),
    Column(lambda o: o.status, 9),
    Column(lambda o: format_amount(o.total, o.currency), 16, right=True),
    Column(lambda o: o.next_bill_date.isoformat() if o.next_bill_date else "", 10),
    Column(lambda o: format_utc(o.created_at), 20),
    Column(lambda o: o.product),
)


@click.group()
def orders() -> None:
    """orders: create one (preview first), list a customer's, show one, cancel, resend welcome, entitlements"""


def preview_lines(preview: OrderPreview) -> list[str]:
    cur = preview.currency
    lines = [f"Today ({cur}):"] if preview.lines else ["Nothing is charged today."]
    for line in preview.lines:
        text = (f"  {line.kind:<9} {visible(line.description)}: {line.quantity} × "
                f"{format_amount(line.unit_price, cur)} = {format_amount(line.amount, cur)}")
        if line.discount:
            text += f", discount {format_amount(line.discount, cur)}"
        lines.append(text)
    if preview.lines:
        lines.append(f"Subtotal {format_amount(preview.subtotal, cur)}, discount "
                     f"{format_amount(preview.discount, cur)}, credit {format_amount(preview.credit, cur)}")
    lines.append(f"Total today: {format_amount(preview.total_today, cur)}")
    lines.append(f"First bill: {preview.first_bill_date.isoformat()}")
    for bill in preview.upcoming:
        lines.append(f"Then: {bill.date.isoformat()} {format_amount(bill.amount, cur)}")
    for code, value in preview.coupons:
        shown = f"-{format_amount(value, cur)}" if isinstance(value, int) else f"nothing today ({value})"
        lines.append(f"Coupon {visible(code)}: {shown}")
    lines += [f"warning: {visible(w)}" for w in preview.warnings]
    return lines


@orders.command()
@click.argument("customer", metavar="CUSTOMER")
@click.option("--plan", "plan_code", required=True, metavar="CODE", help="the catalog plan to order")
@click.option("--quantity", type=COUNT, default=1, show_default=True)
@click.option("--unit-price", metavar="AMOUNT", help="a price for this customer only, e.g. 12.30")
@click.option("--coupon", "coupons", multiple=True, metavar="CODE", help="a coupon to redeem (repeatable)")
@click.option("--instrument", metavar="LAST4", help="the active card ending with these four digits "
                                                   "(default: the primary)")
@click.option("--no-autopay", is_flag=True, help="send the invoice instead of charging the instrument")
@click.option("--start", metavar="DATE", help="start on this day (YYYY-MM-DD); nothing is charged before")
@click.option("--trial-days", type=COUNT, metavar="N", help="a trial of N days for this customer (0: none)")
@click.option("--shipping", metavar="AMOUNT", help="shipping amount (default: the catalog's rate when shipped)")
@click.option("--preview", "preview_only", is_flag=True, help="print the preview and write nothing")
@output.json_option
@pass_desk
def create(desk: Desk, customer: str, plan_code: str, quantity: int, unit_price: str | None,
           coupons: tuple[str, ...], instrument: str | None, no_autopay: bool, start: str | None,
           trial_days: int | None, shipping: str | None, preview_only: bool, as_json: bool) -> int:
    """order PLAN for CUSTOMER: previews, then places it for the previewed total"""
    from agentdesk.domain.dates import parse_date
    from agentdesk.domain.money import parse_amount
    from agentdesk.services.money.instruments import resolve_instrument
    from agentdesk.services.orders.create import create_order
    from agentdesk.services.orders.preview import order_context, preview_order
    from agentdesk.services.orders.requests import ItemOverrides, ItemRequest, OrderRequest, ShippingChoice

    store, actor = desk.store(), desk.actor
    currency, shipped = order_context(store, actor, customer, plan_code)
    overrides = ItemOverrides(
        unit_price=parse_amount(unit_price, currency, field="unit_price", allow_zero=True)
        if unit_price is not None else None,
        trial_days=trial_days,
    )
    if shipping is not None:
        choice = ShippingChoice("manual", parse_amount(shipping, currency, field="shipping", allow_zero=True))
    else:
        choice = ShippingChoice("catalog" if shipped else "none")
    request = OrderRequest(
        customer, [ItemRequest(plan_code, quantity, overrides=overrides)], coupons=list(coupons),
        instrument_id=None if instrument is None else resolve_instrument(store, actor, customer, instrument),
        autopay=not no_autopay, shipping=choice,
        start_on=parse_date(start, "start") if start is not None else None,
    )
    preview = preview_order(store, actor, request)
    if preview_only:
        output.record(preview.to_dict(), as_json=as_json, lines=lambda: preview_lines(preview))
        return 0
    result = create_order(store, actor, desk.settings, request, expected_total=preview.total_today)
    output.record({**result.to_dict(), "preview": preview.to_dict()}, as_json=as_json,
                  lines=lambda: [*preview_lines(preview), visible(result.message)])
    return 0 if result.ok else EXIT_ERROR


@orders.command("list")
@click.argument("customer", metavar="CUSTOMER")
@output.json_option
@pass_desk
def list_(desk: Desk, customer: str, as_json: bool) -> int:
    """the customer's orders, newest first"""
    from agentdesk.services.orders.read import list_orders

    rows = list_orders(desk.store(), desk.actor, customer)
    output.table(rows, COLUMNS, as_json=as_json, to_json=lambda o: o.to_dict())
    if not rows and not as_json:
        output.echo("no orders", err=True)
    return 0


def detail_lines(d: OrderDetail) -> list[str]:
    s, cur = d.summary, d.summary.currency
    lines = [f"{s.number}  {s.kind}  {s.status}  {format_amount(s.total, cur)}"
             + ("  in credit control" if s.in_credit_control else ""),
             f"Customer: {visible(d.customer)} ({visible(d.customer_name)}), website {visible(d.website)}",
             f"Created: {format_utc(s.created_at)}" + (f" by {visible(d.agent)}" if d.agent else ""),
             f"Payment: {visible(d.instrument or 'none')}, autopay {'on' if s.autopay else 'off'}"]
    if d.starts_on:
        lines.append(f"Starts: {d.starts_on.isoformat()}"
                     + (f", trial ends {d.trial_ends_on.isoformat()}" if d.trial_ends_on else ""))
    if d.period_start and d.period_end:
        lines.append(f"Period: {d.period_start.isoformat()} to {d.period_end.isoformat()} "
                     f"(cycles billed {d.cycles_billed})")
    if s.next_bill_date:
        lines.append(f"Next bill: {s.next_bill_date.isoformat()}")
    if d.shipping_amount or d.shipping_country:
        lines.append(f"Shipping: {format_amount(d.shipping_amount, cur)} to {d.shipping_country or '?'}")
    if d.abandon_at:
        lines.append(f"Abandoned if unpaid by {format_utc(d.abandon_at)}")
    if d.delinquency_days:
        lines.append(f"Cancelled after {d.delinquency_days} days unpaid")
    lines.append("Items:")
    for i in d.items:
        text = (f"  {visible(i.name)} ({visible(i.plan_code)}): {i.quantity} × {format_amount(i.unit_price, cur)} = "
                f"{format_amount(i.amount, cur)}, {i.recurrence}")
        if i.trial_days:
            text += f", trial {i.trial_days} days at {format_amount(i.trial_price, cur)}"
        if i.setup_fee:
            text += f", setup fee {format_amount(i.setup_fee, cur)}"
        if i.options:
            text += ", " + ", ".join(f"{visible(k)} {visible(v)}" for k, v in i.options.items())
        if i.customised:
            text += f" [customised: {', '.join(i.customised)}]"
        lines.append(text)
    for c in d.coupons:
        lines.append(f"Coupon {visible(c.code)}: applied {c.cycles_applied} time(s)" + (", ended" if c.ended else ""))
    for inv in d.invoices:
        lines.append(f"Invoice {inv.number}: {inv.status}, {format_amount(inv.total, inv.currency)}, paid "
                     f"{format_amount(inv.amount_paid, inv.currency)}, due {inv.due_at.date().isoformat()}")
    for t in d.transactions:
        lines.append(f"Transaction {t.id}: {t.type} {t.status} {format_amount(t.amount, t.currency)}"
                     + (f" ({visible(t.message)})" if t.message else ""))
    lines += [visible(commission.summary) for commission in d.commissions]
    if d.notes:
        lines.append(f"Notes: {visible(d.notes)}")
    return lines


@orders.command()
@click.argument("order", metavar="ORDER")
@output.json_option
@pass_desk
def show(desk: Desk, order: str, as_json: bool) -> int:
    """one order: items and their terms, coupons, invoices, payments, commission"""
    from agentdesk.services.orders.read import order_detail

    detail = order_detail(desk.store(), desk.actor, order)
    output.record(detail.to_dict(), as_json=as_json, lines=lambda: detail_lines(detail))
    return 0


@orders.command("cancel")
@click.argument("order", metavar="ORDER")
@click.option("--reason", metavar="TEXT", help="why (kept on the timeline)")
@output.json_option
@pass_desk
def cancel(desk: Desk, order: str, reason: str | None, as_json: bool) -> int:
    """cancel a pending order, or a paid one-time order not shipped yet (its payments refunded or voided)"""
    from agentdesk.domain.enums import RefundOutcome
    from agentdesk.services.orders.actions import cancel_order

    result = cancel_order(desk.store(), desk.actor, desk.settings, order, reason)
    output.record(result.to_dict(), as_json=as_json, lines=lambda: [visible(result.message)])
    return EXIT_ERROR if any(r.status is not RefundOutcome.APPROVED for r in result.refunds) else 0


@orders.command("resend-welcome")
@click.argument("order", metavar="ORDER")
@output.json_option
@pass_desk
def resend_welcome(desk: Desk, order: str, as_json: bool) -> int:
    """queue ORDER's welcome email to the customer again"""
    from agentdesk.services.orders.actions import resend_welcome as resend

    to = resend(desk.store(), desk.actor, order)
    output.record({"order": order.strip().upper(), "to": to}, as_json=as_json,
                  lines=lambda: [f"welcome email for {visible(order.strip().upper())} queued to {visible(to)}"])
    return 0


@orders.command("entitlements")
@click.argument("order", metavar="ORDER")
@click.option("--refresh", is_flag=True, help="re-issue them to the membership site (recorded on the timeline)")
@output.json_option
@pass_desk
def entitlements(desk: Desk, order: str, refresh: bool, as_json: bool) -> int:
    """what ORDER grants (the access of its products), and --refresh to re-issue it"""
    from agentdesk.services.orders import entitlements as service

    store, actor = desk.store(), desk.actor
    rows = (service.refresh_entitlements(store, actor, order) if refresh
            else service.order_entitlements(store, actor, order))

    def lines() -> list[str]:
        if not rows:
            return [f"{visible(order.strip().upper())} grants no access now"]
        done = "refreshed: " if refresh else ""
        return [f"{done}{e.order} {visible(e.product)} ({visible(e.sku)}): {visible(', '.join(e.access))}"
                for e in rows]

    output.record({"order": order.strip().upper(), "refreshed": refresh,
                   "entitlements": [e.to_dict() for e in rows]}, as_json=as_json, lines=lines)
    return 0
