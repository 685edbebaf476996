"""`agentdesk payout-requests list|approve|reject`: payouts customers asked for on payout links."""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

from agentdesk.cli import output
from agentdesk.cli.output import Column
from agentdesk.cli.root import EXIT_ERROR, Desk, pass_desk
from agentdesk.domain.formatting import format_utc
from agentdesk.domain.text import visible

if TYPE_CHECKING:
    from agentdesk.services.money.payout_requests import PayoutRequestInfo

COLUMNS: tuple[Column[PayoutRequestInfo], ...] = (
    Column(lambda r: format_utc(r.created_at), 20),
    Column(lambda r: r.summary),
)


def _report(info: PayoutRequestInfo, as_json: bool) -> int:
    output.record(info.to_dict(), as_json=as_json, lines=lambda: [f"Payout request {visible(info.summary)}"])
    return EXIT_ERROR if info.status == "failed" else 0


@click.group("payout-requests")
def payout_requests() -> None:
    """payouts customers requested on payout links; admin or finance approves (pays) or rejects"""


@payout_requests.command("list")
@click.option("--status", help="pending, approved, paid, rejected or failed")
@click.option("--customer", metavar="CUSTOMER", help="only this customer's requests")
@output.json_option
@pass_desk
def list_(desk: Desk, status: str | None, customer: str | None, as_json: bool) -> int:
    """requests, newest first"""
    from agentdesk.services.money import payout_requests as service

    rows = service.list_payout_requests(desk.store(), desk.actor, status, customer)
    if not rows and not as_json:
        output.echo("No payout requests")
        return 0
    output.table(rows, COLUMNS, as_json=as_json, to_json=lambda r: r.to_dict())
    return 0


@payout_requests.command()
@click.argument("request_id", metavar="ID", type=int)
@output.json_option
@pass_desk
def approve(desk: Desk, request_id: int, as_json: bool) -> int:
    """approve request ID and pay it to the customer's chosen card (admin, finance); again re-sends it safely"""
    from agentdesk.services.money import payout_requests as service

    return _report(service.approve_payout_request(desk.store(), desk.actor, desk.settings, request_id), as_json)


@payout_requests.command()
@click.argument("request_id", metavar="ID", type=int)
@click.option("--reason", required=True, help="why (shown on the customer's timeline)")
@output.json_option
@pass_desk
def reject(desk: Desk, request_id: int, reason: str, as_json: bool) -> int:
    """reject the pending request ID (admin, finance)"""
    from agentdesk.services.money import payout_requests as service

    return _report(service.reject_payout_request(desk.store(), desk.actor, request_id, reason), as_json)
