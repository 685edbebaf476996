"""`agentdesk links request|list|show|revoke|send`: customer links over the same services."""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

from agentdesk.cli import output
from agentdesk.cli.arguments import COUNT
from agentdesk.cli.output import Column
from agentdesk.cli.root import Desk, pass_desk
from agentdesk.domain.money import format_amount
from agentdesk.domain.text import visible

if TYPE_CHECKING:
    from agentdesk.services.links.read import LinkInfo

KINDS = ("kyc", "deposit", "portal", "payout", "pay-invoice", "add-card", "quote", "password-reset")


def _when(value: object) -> str:
    return value.strftime("%Y-%m-%d %H:%M UTC") if value is not None else ""  # type: ignore[attr-defined]


COLUMNS: tuple[Column[LinkInfo], ...] = (
    Column(lambda i: i.id, 6, right=True),
    Column(lambda i: i.kind.value, 14),
    Column(lambda i: i.status.value, 9),
    Column(lambda i: _when(i.expires_at) if i.expires_at else "", 20),
    Column(lambda i: i.requested_by, 12),
    Column(lambda i: i.email_to or ""),
)


@click.group()
def links() -> None:
    """links: send a customer a KYC, deposit, portal, payout, invoice, card, quote or password link"""


def _options_lines(info: LinkInfo) -> list[str]:
    o = info.options
    cur = o.get("currency")
    lines = []
    if o.get("document_types"):
        lines.append("Documents: " + ", ".join(visible(d) for d in o["document_types"]))
    if o.get("strategy"):
        lines.append(f"Strategy: {visible(o['strategy'])}")
    if cur and o.get("amounts"):
        lines.append("Amounts: " + ", ".join(format_amount(a, cur) for a in o["amounts"]))
    if "custom_amount" in o:
        lines.append("Custom amount: " + ("allowed" if o["custom_amount"] else "not allowed"))
    if cur and (o.get("minimum") is not None or o.get("maximum") is not None):
        low = format_amount(o["minimum"], cur) if o.get("minimum") is not None else "any"
        high = format_amount(o["maximum"], cur) if o.get("maximum") is not None else "any"
        lines.append(f"Limits: {low} to {high}")
    for key, label in (("invoice", "Invoice"), ("quote", "Quote"), ("login", "Membership login"),
                       ("redirect_url", "Redirect")):
        if o.get(key):
            lines.append(f"{label}: {visible(o[key])}")
    return lines


def detail_lines(info: LinkInfo) -> list[str]:
    lines = [f"Link {info.id} · {info.kind.value} · {info.status.value} · customer {visible(info.customer)}"]
    if info.url:
        lines.append(f"URL: {info.url}")
    elif info.status.value == "queued":
        lines.append("Generating: the worker makes it ready (`agentdesk worker`, or the console)")
    if info.expires_at:
        lines.append(f"Expires: {_when(info.expires_at)}")
    lines += _options_lines(info)
    if info.email_to:
        lines.append(f"Email to: {visible(info.email_to)}")
    lines.append(f"Requested by {visible(info.requested_by)} at {_when(info.created_at)}")
    for label, value in (("Ready", info.ready_at), ("Sent", info.sent_at), ("Opened", info.opened_at),
                         ("Completed", info.completed_at), ("Ended", info.ended_at)):
        if value is not None:
            lines.append(f"{label}: {_when(value)}")
    if info.error:
        lines.append(f"Error: {visible(info.error)}")
    if info.result:
        lines.append("Result: " + ", ".join(f"{visible(str(k))} {visible(str(v))}" for k, v in info.result.items()))
    return lines


@links.command()
@click.argument("kind", type=click.Choice(KINDS), metavar="KIND")
@click.argument("customer", metavar="CUSTOMER")
@click.option("--document", "documents", multiple=True, metavar="TYPE",
              help="kyc: a document type to ask for (repeatable; default passport and proof_of_address)")
@click.option("--strategy", metavar="NAME", help="deposit: a deposit strategy's amounts and limits")
@click.option("--amount", "amounts", multiple=True, metavar="AMOUNT",
              help="deposit: a fixed amount to offer, e.g. 25.00 (repeatable)")
@click.option("--custom", type=click.Choice(["allowed", "denied", "strategy"]), default="strategy",
              show_default=True, help="deposit: may the customer type their own amount")
@click.option("--min", "minimum", metavar="AMOUNT", help="deposit (custom amount) / payout: the smallest amount")
@click.option("--max", "maximum", metavar="AMOUNT", help="deposit (custom amount) / payout: the largest amount")
@click.option("--currency", metavar="CUR", help="deposit / payout: default the customer's currency")
@click.option("--invoice", metavar="NUMBER", help="pay-invoice: the open invoice to pay")
@click.option("--quote", metavar="NUMBER", help="quote: the issued quote to accept")
@click.option("--redirect", metavar="URL", help="where the portal sends the customer when done (https://)")
@click.option("--email", is_flag=True, help="email the link to the customer's primary address once generated")
@output.json_option
@pass_desk
def request(desk: Desk, kind: str, customer: str, documents: tuple[str, ...], strategy: str | None,
            amounts: tuple[str, ...], custom: str, minimum: str | None, maximum: str | None, currency: str | None,
            invoice: str | None, quote: str | None, redirect: str | None, email: bool, as_json: bool) -> int:
    """queue a link of KIND for CUSTOMER; the worker generates it (and emails it with --email)"""
    from agentdesk.services.links.requests import request_link, typed_request

    store, actor = desk.store(), desk.actor
    typed = typed_request(store, actor, customer, kind, amounts=amounts, minimum=minimum, maximum=maximum,
                          currency=currency, email=email, redirect_url=redirect, document_types=documents,
                          strategy=strategy, custom_amount=custom, invoice=invoice, quote=quote)
    info = request_link(store, actor, desk.settings, customer, typed)
    message = f"Link {info.id} ({info.kind.value}) for {visible(info.customer)} is queued"
    message += (f"; the worker generates it and emails it to {visible(info.email_to)}" if info.email_to
                else f"; the worker generates it: `agentdesk links show {info.id}` then gives its URL")
    output.record(info.to_dict(), as_json=as_json, lines=lambda: [message])
    return 0


@links.command("list")
@click.argument("customer", metavar="CUSTOMER")
@output.json_option
@pass_desk
def list_(desk: Desk, customer: str, as_json: bool) -> int:
    """the customer's links, newest first"""
    from agentdesk.services.links.read import list_links

    rows = list_links(desk.store(), desk.actor, customer)
    output.table(rows, COLUMNS, as_json=as_json, to_json=lambda i: i.to_dict())
    if not rows and not as_json:
        output.echo("no links", err=True)
    return 0


@links.command()
@click.argument("link", type=COUNT, metavar="LINK")
@output.json_option
@pass_desk
def show(desk: Desk, link: int, as_json: bool) -> int:
    """one link: status, URL while it can be used, options, each step's time"""
    from agentdesk.services.links.read import show_link

    info = show_link(desk.store(), desk.actor, link)
    output.record(info.to_dict(), as_json=as_json, lines=lambda: detail_lines(info))
    return 0


@links.command()
@click.argument("link", type=COUNT, metavar="LINK")
@click.option("--reason", metavar="TEXT")
@output.json_option
@pass_desk
def revoke(desk: Desk, link: int, reason: str | None, as_json: bool) -> int:
    """end a link now: the portal refuses it from then on"""
    from agentdesk.services.links.read import revoke_link

    info = revoke_link(desk.store(), desk.actor, link, reason)
    output.record(info.to_dict(), as_json=as_json, lines=lambda: [f"Link {info.id} revoked"])
    return 0


@links.command()
@click.argument("link", type=COUNT, metavar="LINK")
@click.option("--to", metavar="EMAIL", help="another address (default: the customer's primary email)")
@output.json_option
@pass_desk
def send(desk: Desk, link: int, to: str | None, as_json: bool) -> int:
    """email a generated link (again)"""
    from agentdesk.services.links.read import send_link

    info = send_link(desk.store(), desk.actor, link, to)
    where = visible(to) if to else "the customer's primary email"
    output.record(info.to_dict(), as_json=as_json,
                  lines=lambda: [f"Link {info.id} will be emailed to {where} by the worker"])
    return 0
