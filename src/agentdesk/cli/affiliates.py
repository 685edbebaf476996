"""`agentdesk affiliates commissions|adjust`: affiliate commissions for payout, and their adjustment."""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

from agentdesk.cli import output
from agentdesk.cli.output import Column
from agentdesk.cli.root import Desk, pass_desk
from agentdesk.domain.formatting import format_utc
from agentdesk.domain.money import format_amount

if TYPE_CHECKING:
    from agentdesk.services.billing.affiliates import CommissionInfo


def _rate(c: CommissionInfo) -> str:
    from agentdesk.services.billing.affiliates import describe_rate

    return describe_rate(c.rate_bp)


COLUMNS: tuple[Column[CommissionInfo], ...] = (
    Column(lambda c: format_utc(c.created_at), 20),
    Column(lambda c: c.invoice_number, 12),
    Column(lambda c: c.order_number or "", 12),
    Column(lambda c: c.affiliate, 20),
    Column(lambda c: format_amount(c.amount, c.currency), 18, right=True),
    Column(_rate, 7, right=True),
    Column(lambda c: f"of {format_amount(c.base_amount, c.currency)}"),
    Column(lambda c: f"adjusted by {c.adjusted_by}: {c.adjustment_reason}" if c.adjusted_by else ""),
)


@click.group()
def affiliates() -> None:
    """affiliate commissions on paid invoices: list for payout, adjust (finance, admins)"""


@affiliates.command()
@click.option("--affiliate", metavar="A", help="only this affiliate's commissions")
@click.option("--since", metavar="DATE", help="only those recorded on or after this day (YYYY-MM-DD)")
@output.json_option
@pass_desk
def commissions(desk: Desk, affiliate: str | None, since: str | None, as_json: bool) -> int:
    """commissions recorded, oldest first, with totals per affiliate and currency"""
    from agentdesk.domain.dates import parse_optional_date
    from agentdesk.services.billing import affiliates as service

    rows = service.list_commissions(desk.store(), desk.actor, affiliate, parse_optional_date(since, "since"))
    output.table(rows, COLUMNS, as_json=as_json, to_json=lambda c: c.to_dict())
    if not as_json:
        totals: dict[tuple[str, str], int] = {}
        for row in rows:
            totals[(row.affiliate, row.currency)] = totals.get((row.affiliate, row.currency), 0) + row.amount
        for (name, currency), amount in sorted(totals.items()):
            output.echo(f"total {name}: {format_amount(amount, currency)}")
        if not rows:
            output.echo("no commissions")
    return 0


@affiliates.command()
@click.argument("invoice", metavar="INVOICE")
@click.option("--affiliate", metavar="A", help="move the sale to this affiliate")
@click.option("--amount", metavar="X", help="the commission, e.g. 12.30 (in the invoice's currency)")
@click.option("--rate", metavar="PCT", help="a new rate in percent, e.g. 12.5; recomputes the amount unless --amount")
@click.option("--reason", required=True, metavar="TEXT", help="why (on the customer's timeline)")
@output.json_option
@pass_desk
def adjust(desk: Desk, invoice: str, affiliate: str | None, amount: str | None, rate: str | None, reason: str,
           as_json: bool) -> int:
    """edit a sale's affiliate and/or its commission (finance, admins)"""
    from agentdesk.domain.money import parse_amount
    from agentdesk.services.billing import affiliates as service

    store, actor = desk.store(), desk.actor
    minor = None
    if amount is not None:
        currency = service.invoice_currency(store, actor, invoice)
        minor = parse_amount(amount, currency, field="amount", allow_zero=True)
    rate_bp = service.parse_rate(rate) if rate is not None else None
    info = service.adjust_commission(store, actor, invoice, affiliate=affiliate, amount=minor, rate_bp=rate_bp,
                                     reason=reason)
    output.record(info.to_dict(), as_json=as_json, lines=lambda: [f"{info.invoice_number}: {info.summary}"])
    return 0
