"""`agentdesk customers search|show|membership-login|reset-password`."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import click

from agentdesk.cli import output
from agentdesk.cli.arguments import COUNT
from agentdesk.cli.output import Column
from agentdesk.cli.query import build_query, query_options
from agentdesk.cli.root import CliError, Desk, pass_desk
from agentdesk.domain.money import format_amount
from agentdesk.domain.text import visible

if TYPE_CHECKING:
    from agentdesk.services.customers.records import CustomerDetail
    from agentdesk.services.customers.search import CustomerRow

SEARCH_COLUMNS: tuple[Column[CustomerRow], ...] = (
    Column(lambda r: r.external_id, 14),
    Column(lambda r: r.name, 30, clip=True),
    Column(lambda r: r.email or "", 34, clip=True),
    Column(lambda r: r.payment_count, 3, right=True),
    Column(lambda r: format_amount(r.lifetime_value, r.currency), 14, right=True),
)


@click.group()
def customers() -> None:
    """find and show customers (by the public customer id, e.g. CUS-0000017)"""


@customers.command()
@click.argument("text", required=False, default="")
@query_options(default_segment="all")
@click.option("--limit", type=COUNT, default=20, show_default=True)
@click.option("--after", metavar="CURSOR", help="the page after this one: the 'next' a previous --json page gave")
@output.json_option
@pass_desk
def search(desk: Desk, text: str, limit: int, after: str | None, as_json: bool, **options: Any) -> int:
    """search customers by id, name, email, phone, organization or card last four

    With --json the result is {"customers": [...], "next": CURSOR or null}; pass --after CURSOR with the same
    search, filters and sort for the next page.
    """
    from agentdesk.services.customers import search as customer_search

    store, actor = desk.store(), desk.actor
    query = build_query(desk, options, text)
    if not 1 <= limit <= customer_search.MAX_PAGE:
        raise CliError(f"--limit must be between 1 and {customer_search.MAX_PAGE}")
    cursor, include_exact = customer_search.read_cursor(after, query) if after is not None else (None, True)
    page = customer_search.fetch_page(store, actor, query, limit, after=cursor, include_exact=include_exact)
    following = customer_search.next_cursor(page, query)
    if as_json:
        output.emit_json({"customers": [row.to_dict() for row in page.rows], "next": following})
        return 0
    output.table(page.rows, SEARCH_COLUMNS, as_json=False, to_json=lambda row: row.to_dict())
    if not page.rows:
        output.echo("no customers match", err=True)
    elif following:
        output.echo(f"more: add --after {following}", err=True)
    return 0


@customers.command()
@click.argument("customer_id", metavar="ID")
@output.json_option
@pass_desk
def show(desk: Desk, customer_id: str, as_json: bool) -> int:
    """show one customer"""
    from agentdesk.services.customers import records

    detail = records.get_customer(desk.store(), desk.actor, customer_id)
    output.record(detail_json(detail), as_json=as_json, lines=lambda: detail_lines(detail))
    return 0


ROW_NUMBERS = ("emails", "phones", "addresses", "instruments", "orders", "tax_ids")
"""Lists whose `id` is a database row number no command takes: left out of the JSON."""


def detail_json(detail: CustomerDetail) -> dict[str, Any]:
    """The customer as `customers search --json` names it: `id` is the public customer id (what every command
    takes), a transaction's `id` is its number as the console shows it, an order is known by its `number`;
    internal row numbers stay out."""
    data = detail.to_dict()
    data.pop("external_id")
    data["id"] = detail.external_id
    for key in ROW_NUMBERS:
        data[key] = [{k: v for k, v in item.items() if k != "id"} if isinstance(item, dict) else item
                     for item in data.get(key, [])]
    return {"id": data.pop("id"), **data}


def detail_lines(d: CustomerDetail) -> list[str]:
    lines = [f"{visible(d.name)}  ({visible(d.external_id)}, website {d.website})"]
    if d.organization or d.job_title:
        lines.append(
            f"  {visible(d.job_title or '')} {('at ' + visible(d.organization)) if d.organization else ''}".rstrip()
        )
    lines.append(f"  payments: {d.payment_count}   lifetime value: {format_amount(d.lifetime_value, d.currency)}")
    lines += [f"  email  {visible(e.value)}{'  (primary)' if e.primary else ''}" for e in d.emails]
    lines += [f"  phone  {visible(p.value)}{'  (primary)' if p.primary else ''}" for p in d.phones]
    lines += [
        f"  address {visible(a.line1)}, {visible(a.city)} {visible(a.postal_code or '')} {a.country}"
        for a in d.addresses
    ]
    lines += [f"  pays   {visible(i.label)}  ({i.status}{', primary' if i.primary else ''}"
              f"{', backup allowed' if i.allow_backup else ''})" for i in d.instruments]
    lines += [
        f"  txn {t.id:>8} {t.created_at:%Y-%m-%d} {t.type:<7} {t.status:<18} "
        f"{format_amount(t.amount, t.currency):>14} {'settled' if t.settled else 'unsettled'}"
        for t in d.transactions
    ]
    return lines


@customers.command("membership-login")
@click.argument("customer", metavar="CUSTOMER")
@click.argument("login", required=False, default=None)
@click.option("--clear", is_flag=True, help="remove the login")
@output.json_option
@pass_desk
def membership_login(desk: Desk, customer: str, login: str | None, clear: bool, as_json: bool) -> int:
    """set (or --clear) the customer's login name on the membership site; never a password"""
    from agentdesk.services.orders import entitlements

    if clear == (login is not None):
        raise CliError("give the LOGIN to set, or --clear to remove it")
    value = entitlements.set_membership_login(desk.store(), desk.actor, customer, None if clear else login)
    output.record({"customer": customer, "membership_login": value}, as_json=as_json,
                  lines=lambda: [f"membership login of {visible(customer)}: {visible(value) if value else 'none'}"])
    return 0


@customers.command("reset-password")
@click.argument("customer", metavar="CUSTOMER")
@output.json_option
@pass_desk
def reset_password(desk: Desk, customer: str, as_json: bool) -> int:
    """email the customer a link to set a new membership password (through the links queue)"""
    from agentdesk.services.orders import entitlements

    reset = entitlements.request_password_reset(desk.store(), desk.actor, desk.settings, customer)
    output.record(reset.to_dict(), as_json=as_json, lines=lambda: [visible(reset.message)])
    return 0
