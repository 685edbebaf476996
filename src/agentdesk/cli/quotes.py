"""`agentdesk quotes create|list|show|issue|recall|accept|reject|render`: quotes over the same services."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import click

from agentdesk.cli import output
from agentdesk.cli.arguments import COUNT, FilePath
from agentdesk.cli.output import Column
from agentdesk.cli.root import EXIT_ERROR, Desk, pass_desk
from agentdesk.domain.money import format_amount
from agentdesk.domain.text import visible

if TYPE_CHECKING:
    from agentdesk.services.orders.quotes import QuoteDetail, QuoteOutcome, QuoteSummary

COLUMNS: tuple[Column[QuoteSummary], ...] = (
    Column(lambda q: q.number, 12),
    Column(lambda q: q.status, 9),
    Column(lambda q: format_amount(q.total, q.currency), 16, right=True),
    Column(lambda q: q.expires_on.isoformat(), 10),
    Column(lambda q: q.accept_by, 8),
    Column(lambda q: q.order or ""),
)


@click.group()
def quotes() -> None:
    """quotes: offer an order at a price; issue, accept (once), reject, recall, print"""


def detail_lines(d: QuoteDetail) -> list[str]:
    s, cur, priced = d.summary, d.summary.currency, d.priced
    lines = [f"{s.number}  {s.status}  {format_amount(s.total, cur)} due on acceptance",
             f"Customer: {visible(s.customer)} ({visible(d.customer_name)}), website {visible(d.website)}",
             f"Valid until {s.expires_on.isoformat()}; accepted by {s.accept_by}"
             + (f"; order {s.order}" if s.order else "")]
    for line in priced.get("lines", []):
        text = (f"  {visible(line['description'])}: {line['quantity']} × {format_amount(line['unit_price'], cur)} "
                f"= {format_amount(line['amount'], cur)}")
        if line.get("discount"):
            text += f", discount {format_amount(line['discount'], cur)}"
        lines.append(text)
    if priced.get("discount"):
        lines.append(f"Discounts: {format_amount(priced['discount'], cur)}")
    for coupon in priced.get("coupons", []):
        lines.append(f"Coupon {visible(coupon['code'])}")
    for bill in priced.get("upcoming", []):
        lines.append(f"Then: {bill['date']} {format_amount(bill['amount'], cur)}")
    if d.terms:
        lines.append(f"Terms: {visible(d.terms)}")
    if d.redirect_url:
        lines.append(f"Redirect: {visible(d.redirect_url)}")
    if d.signature_name:
        lines.append(f"Signature line: {visible(d.signature_name)}")
    if d.agent:
        lines.append(f"By {visible(d.agent)}")
    return lines


@quotes.command()
@click.argument("customer", metavar="CUSTOMER")
@click.option("--plan", "plan_code", required=True, metavar="CODE", help="the catalog plan to quote")
@click.option("--quantity", type=COUNT, default=1, show_default=True)
@click.option("--unit-price", metavar="AMOUNT", help="a price for this customer only, e.g. 12.30")
@click.option("--coupon", "coupons", multiple=True, metavar="CODE", help="a coupon to apply (repeatable)")
@click.option("--expires", required=True, metavar="DATE", help="the last day it can be accepted (YYYY-MM-DD)")
@click.option("--accept-by", required=True, type=click.Choice(["payment", "customer"]),
              help="payment: accepted when the amount due is paid; customer: when the customer says yes")
@click.option("--terms", metavar="TEXT", help="terms printed on the quote")
@click.option("--redirect-url", metavar="URL", help="where the customer goes after accepting or rejecting")
@click.option("--signature", metavar="NAME", help="print a signature line with this signatory's name")
@output.json_option
@pass_desk
def create(desk: Desk, customer: str, plan_code: str, quantity: int, unit_price: str | None,
           coupons: tuple[str, ...], expires: str, accept_by: str, terms: str | None, redirect_url: str | None,
           signature: str | None, as_json: bool) -> int:
    """a draft quote of PLAN for CUSTOMER, priced now"""
    from agentdesk.domain.dates import parse_date
    from agentdesk.domain.money import parse_amount
    from agentdesk.services.orders.preview import order_context
    from agentdesk.services.orders.quotes import create_quote
    from agentdesk.services.orders.requests import ItemOverrides, ItemRequest, OrderRequest, ShippingChoice

    store, actor = desk.store(), desk.actor
    currency, shipped = order_context(store, actor, customer, plan_code)
    overrides = ItemOverrides(unit_price=parse_amount(unit_price, currency, field="unit_price", allow_zero=True)
                              if unit_price is not None else None)
    request = OrderRequest(customer, [ItemRequest(plan_code, quantity, overrides=overrides)], coupons=list(coupons),
                           shipping=ShippingChoice("catalog" if shipped else "none"))
    detail = create_quote(store, actor, request, expires_on=parse_date(expires, "expires"), accept_by=accept_by,
                          terms=terms, redirect_url=redirect_url, signature_name=signature)
    output.record(detail.to_dict(), as_json=as_json, lines=lambda: detail_lines(detail))
    return 0


@quotes.command("list")
@click.argument("customer", metavar="CUSTOMER")
@output.json_option
@pass_desk
def list_(desk: Desk, customer: str, as_json: bool) -> int:
    """the customer's quotes, newest first"""
    from agentdesk.services.orders.quotes import list_quotes

    rows = list_quotes(desk.store(), desk.actor, customer)
    output.table(rows, COLUMNS, as_json=as_json, to_json=lambda q: q.to_dict())
    if not rows and not as_json:
        output.echo("no quotes", err=True)
    return 0


@quotes.command()
@click.argument("quote", metavar="QUOTE")
@output.json_option
@pass_desk
def show(desk: Desk, quote: str, as_json: bool) -> int:
    """one quote: lines as priced, terms, expiry, acceptance, order"""
    from agentdesk.services.orders.quotes import quote_detail

    detail = quote_detail(desk.store(), desk.actor, quote)
    output.record(detail.to_dict(), as_json=as_json, lines=lambda: detail_lines(detail))
    return 0


def _outcome(result: QuoteOutcome, as_json: bool) -> None:
    output.record(result.to_dict(), as_json=as_json, lines=lambda: [visible(result.message)])


@quotes.command()
@click.argument("quote", metavar="QUOTE")
@output.json_option
@pass_desk
def issue(desk: Desk, quote: str, as_json: bool) -> int:
    """send a draft to the customer (emailed with its summary, and an acceptance link when the portal is set)"""
    from agentdesk.services.orders.quotes import issue_quote

    _outcome(issue_quote(desk.store(), desk.actor, quote, settings=desk.settings), as_json)
    return 0


@quotes.command()
@click.argument("quote", metavar="QUOTE")
@click.option("--reason", metavar="TEXT")
@output.json_option
@pass_desk
def recall(desk: Desk, quote: str, reason: str | None, as_json: bool) -> int:
    """withdraw a draft or issued quote"""
    from agentdesk.services.orders.quotes import recall_quote

    _outcome(recall_quote(desk.store(), desk.actor, quote, reason), as_json)
    return 0


@quotes.command()
@click.argument("quote", metavar="QUOTE")
@click.option("--reason", metavar="TEXT")
@output.json_option
@pass_desk
def reject(desk: Desk, quote: str, reason: str | None, as_json: bool) -> int:
    """record that the customer declined an issued quote"""
    from agentdesk.services.orders.quotes import reject_quote

    _outcome(reject_quote(desk.store(), desk.actor, quote, reason), as_json)
    return 0


@quotes.command()
@click.argument("quote", metavar="QUOTE")
@output.json_option
@pass_desk
def accept(desk: Desk, quote: str, as_json: bool) -> int:
    """record the customer's acceptance: places the order as quoted (once)"""
    from agentdesk.services.orders.quotes import accept_quote

    result = accept_quote(desk.store(), desk.actor, desk.settings, quote)
    _outcome(result, as_json)
    return 0 if result.accepted else EXIT_ERROR


@quotes.command()
@click.argument("quote", metavar="QUOTE")
@click.option("--format", "fmt", type=click.Choice(["html", "pdf"]), default="html", show_default=True)
@click.option("--out", required=True, type=FilePath(dir_okay=False, path_type=Path), metavar="FILE")
@pass_desk
def render(desk: Desk, quote: str, fmt: str, out: Path) -> int:
    """the printable quote as HTML or PDF"""
    from agentdesk.services.orders.quote_render import render_quote

    data = render_quote(desk.store(), desk.actor, quote, fmt)
    out.write_bytes(data)
    output.echo(f"wrote {visible(str(out))} ({len(data):,} bytes)")
    return 0
