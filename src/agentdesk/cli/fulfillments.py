"""`agentdesk fulfillments list|ship|deliver|reship|cancel|import`: shipments of orders that ship."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import click

from agentdesk.cli import output
from agentdesk.cli.arguments import COUNT, FilePath
from agentdesk.cli.output import Column
from agentdesk.cli.root import EXIT_ERROR, Desk, pass_desk
from agentdesk.domain.formatting import format_utc
from agentdesk.domain.text import visible

if TYPE_CHECKING:
    from agentdesk.services.orders.fulfillments import FulfillmentInfo

COLUMNS: tuple[Column[FulfillmentInfo], ...] = (
    Column(lambda f: f.id, 6, right=True),
    Column(lambda f: f.order, 12),
    Column(lambda f: f.status, 9),
    Column(lambda f: f.carrier or "", 10, clip=True),
    Column(lambda f: f.tracking_number or "", 20, clip=True),
    Column(lambda f: format_utc(f.created_at), 20),
    Column(lambda f: (f"reship of {f.reship_of}: " if f.reship_of else "") + f.summary),
)


def detail_lines(f: FulfillmentInfo) -> list[str]:
    lines = [f"Fulfillment {f.id} of {f.order}: {f.status}",
             f"Items: {visible(f.summary)}",
             f"Ship to: {visible(f.address or 'no address on file')}"]
    if f.carrier or f.tracking_number:
        lines.append(f"Carrier: {visible(f.carrier or '?')}, tracking {visible(f.tracking_number or '?')}")
    if f.shipped_at:
        lines.append(f"Shipped: {format_utc(f.shipped_at)}")
    if f.delivered_at:
        lines.append(f"Delivered: {format_utc(f.delivered_at)}")
    if f.cancelled_at:
        lines.append(f"Cancelled: {format_utc(f.cancelled_at)}")
    if f.reship_of:
        lines.append(f"Reship of fulfillment {f.reship_of}")
    if f.reason:
        lines.append(f"Reason: {visible(f.reason)}")
    return lines


@click.group()
def fulfillments() -> None:
    """fulfillments: list, ship, deliver, reship, cancel, import a carrier's file"""


@fulfillments.command("list")
@click.argument("customer", metavar="CUSTOMER", required=False)
@click.option("--order", metavar="ORDER", help="one order's fulfillments instead of a customer's")
@output.json_option
@pass_desk
def list_(desk: Desk, customer: str | None, order: str | None, as_json: bool) -> int:
    """CUSTOMER's fulfillments (or --order ORDER's), newest first"""
    from agentdesk.services.orders.fulfillments import list_fulfillments

    rows = list_fulfillments(desk.store(), desk.actor, customer, order)
    output.table(rows, COLUMNS, as_json=as_json, to_json=lambda f: f.to_dict())
    if not rows and not as_json:
        output.echo("no fulfillments", err=True)
    return 0


@fulfillments.command()
@click.argument("fulfillment", type=COUNT, metavar="ID")
@click.option("--carrier", required=True, metavar="C")
@click.option("--tracking", required=True, metavar="T", help="the carrier's tracking number")
@output.json_option
@pass_desk
def ship(desk: Desk, fulfillment: int, carrier: str, tracking: str, as_json: bool) -> int:
    """mark fulfillment ID shipped; the customer is emailed the tracking number"""
    from agentdesk.domain.enums import FulfillmentStatus
    from agentdesk.services.orders.fulfillments import update_fulfillment

    info = update_fulfillment(desk.store(), desk.actor, fulfillment, status=FulfillmentStatus.SHIPPED,
                              carrier=carrier, tracking=tracking)
    output.record(info.to_dict(), as_json=as_json, lines=lambda: detail_lines(info))
    return 0


@fulfillments.command()
@click.argument("fulfillment", type=COUNT, metavar="ID")
@output.json_option
@pass_desk
def deliver(desk: Desk, fulfillment: int, as_json: bool) -> int:
    """mark a shipped fulfillment ID delivered"""
    from agentdesk.domain.enums import FulfillmentStatus
    from agentdesk.services.orders.fulfillments import update_fulfillment

    info = update_fulfillment(desk.store(), desk.actor, fulfillment, status=FulfillmentStatus.DELIVERED)
    output.record(info.to_dict(), as_json=as_json, lines=lambda: detail_lines(info))
    return 0


@fulfillments.command()
@click.argument("fulfillment", type=COUNT, metavar="ID")
@click.option("--reason", required=True, metavar="TEXT", help="why it is sent again (kept on the timeline)")
@click.option("--charge", metavar="AMOUNT", help="charge the customer this much now (default: free)")
@output.json_option
@pass_desk
def reship(desk: Desk, fulfillment: int, reason: str, charge: str | None, as_json: bool) -> int:
    """send fulfillment ID's items again as a new fulfillment"""
    from agentdesk.domain.money import parse_amount
    from agentdesk.services.orders.fulfillments import fulfillment_detail, reship_fulfillment
    from agentdesk.services.orders.read import order_detail

    store, actor = desk.store(), desk.actor
    amount = None
    if charge is not None:
        currency = order_detail(store, actor, fulfillment_detail(store, actor, fulfillment).order).summary.currency
        amount = parse_amount(charge, currency, field="charge")
    result = reship_fulfillment(store, actor, desk.settings, fulfillment, reason, charge=amount)
    output.record(result.to_dict(), as_json=as_json,
                  lines=lambda: [*detail_lines(result.fulfillment), visible(result.message)])
    failed = result.charge is not None and result.charge.payment in ("declined", "failed")
    return EXIT_ERROR if failed else 0


@fulfillments.command()
@click.argument("fulfillment", type=COUNT, metavar="ID")
@click.option("--reason", required=True, metavar="TEXT", help="why it is cancelled (kept on the timeline)")
@output.json_option
@pass_desk
def cancel(desk: Desk, fulfillment: int, reason: str, as_json: bool) -> int:
    """cancel pending fulfillment ID (nothing is sent)"""
    from agentdesk.services.orders.fulfillments import cancel_fulfillment

    info = cancel_fulfillment(desk.store(), desk.actor, fulfillment, reason)
    output.record(info.to_dict(), as_json=as_json, lines=lambda: detail_lines(info))
    return 0


@fulfillments.command("import")
@click.argument("path", type=FilePath(exists=True, dir_okay=False, path_type=Path), metavar="FILE.csv")
@output.json_option
@pass_desk
def import_(desk: Desk, path: Path, as_json: bool) -> int:
    """apply a carrier's CSV (fulfillment or order, carrier, tracking_number, status, shipped_at); a file with a
    bad row is refused whole"""
    from agentdesk.services.orders.fulfillments import import_fulfillments

    report = import_fulfillments(desk.store(), desk.actor, path)
    output.record(report.to_dict(), as_json=as_json,
                  lines=lambda: [f"{report.rows} rows: {report.updated} updated, {report.unchanged} unchanged"])
    return 0
