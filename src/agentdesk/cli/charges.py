"""`agentdesk charges add` (a manual charge on an account) and `agentdesk usage record` (metered usage)."""

from __future__ import annotations

import click

from agentdesk.cli import output
from agentdesk.cli.arguments import COUNT
from agentdesk.cli.root import EXIT_ERROR, Desk, pass_desk
from agentdesk.domain.money import format_amount
from agentdesk.domain.text import visible


@click.group()
def charges() -> None:
    """manual charges on a customer's account, billed with the next invoice or now"""


@charges.command("add")
@click.argument("customer", metavar="CUSTOMER")
@click.argument("amount", metavar="AMOUNT")
@click.option("--description", required=True, metavar="T", help="printed on the invoice")
@click.option("--order", metavar="ORDER", help="bill it with this order's next invoice")
@click.option("--now", "bill_now", is_flag=True, help="bill it now on its own invoice and collect it")
@output.json_option
@pass_desk
def add(desk: Desk, customer: str, amount: str, description: str, order: str | None, bill_now: bool,
        as_json: bool) -> int:
    """add AMOUNT (in the customer's currency) to CUSTOMER's account"""
    from agentdesk.domain.money import parse_amount
    from agentdesk.services.billing import charges as service

    store, actor = desk.store(), desk.actor
    currency = service.customer_currency(store, actor, customer)
    minor = parse_amount(amount, currency)
    result = service.add_charge(store, actor, desk.settings, customer, minor, currency, description,
                                order_number=order, bill_now=bill_now)
    output.record(result.to_dict(), as_json=as_json,
                  lines=lambda: [f"charge {result.charge_id}: {visible(result.message)}"])
    return EXIT_ERROR if result.payment in ("declined", "failed") else 0


@click.group()
def usage() -> None:
    """usage on in-arrears order items, billed at the end of their period"""


@usage.command("record")
@click.argument("order", metavar="ORDER")
@click.argument("quantity", type=COUNT, metavar="QUANTITY")
@click.option("--on", "used_on", metavar="DATE", help="the day the units were used (default today)")
@click.option("--key", metavar="K", help="an idempotency key: the same key records once")
@output.json_option
@pass_desk
def record(desk: Desk, order: str, quantity: int, used_on: str | None, key: str | None, as_json: bool) -> int:
    """record QUANTITY units used on ORDER's in-arrears item"""
    from agentdesk.domain.dates import parse_optional_date
    from agentdesk.services.billing import charges as service

    info = service.record_usage(desk.store(), desk.actor, order, quantity, parse_optional_date(used_on, "on"), key)

    def lines() -> list[str]:
        what = (f"{info.order_number}: {info.quantity:,} × {visible(info.item)} on {info.used_on.isoformat()} "
                f"at {format_amount(info.unit_price, info.currency)} each")
        return [f"recorded {what}" if info.recorded else f"already recorded under this key: {what}"]

    output.record(info.to_dict(), as_json=as_json, lines=lines)
    return 0
