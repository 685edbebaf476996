"""`agentdesk coupons create|list|expire|redeem`: discount definitions (admins) and redeeming one on an account."""

from __future__ import annotations

from datetime import UTC, datetime, time
from typing import TYPE_CHECKING

import click

from agentdesk.cli import output
from agentdesk.cli.arguments import COUNT
from agentdesk.cli.output import Column
from agentdesk.cli.root import Desk, pass_desk
from agentdesk.domain.errors import InvalidInput
from agentdesk.domain.text import visible

if TYPE_CHECKING:
    from agentdesk.services.billing.coupons import CouponInfo


def _duration(c: CouponInfo) -> str:
    return f"{c.cycles} cycles" if c.duration == "repeating" else c.duration


def _state(c: CouponInfo) -> str:
    used = f"{c.redemptions}/{c.max_redemptions}" if c.max_redemptions is not None else str(c.redemptions)
    return f"used {used}" + ("  expired" if c.expired else "")


COLUMNS: tuple[Column[CouponInfo], ...] = (
    Column(lambda c: c.code, 16),
    Column(lambda c: c.value, 24),
    Column(_duration, 12),
    Column(lambda c: ",".join(c.plans) or "all plans", 20, clip=True),
    Column(lambda c: f"until {c.expires_at:%Y-%m-%d}" if c.expires_at else "", 16),
    Column(_state, 14),
    Column(lambda c: c.description or ""),
)


def money_pairs(values: tuple[str, ...], currency: str | None, field: str, allow_zero: bool) -> dict[str, int]:
    """"5.00" (in `currency`) or "EUR:5.00" each → {currency: minor units}, typed amounts read strictly."""
    from agentdesk.domain.money import currency_code, parse_amount

    found: dict[str, int] = {}
    for value in values:
        code, sep, amount = value.partition(":")
        if not sep:
            if currency is None:
                raise InvalidInput(fields={field: f"{value!r}: give the currency (--currency, or CUR:AMOUNT)"})
            code, amount = currency, value
        code = currency_code(code)
        if code in found:
            raise InvalidInput(fields={field: f"{code} is given twice"})
        found[code] = parse_amount(amount, code, field=field, allow_zero=allow_zero)
    return found


@click.group()
def coupons() -> None:
    """coupons: define, list and expire them (admins), redeem one on a customer's account"""


@coupons.command()
@click.argument("code", metavar="CODE")
@click.option("--percent", metavar="P", help="percent off, e.g. 15 or 12.5")
@click.option("--amount", "amounts", multiple=True, metavar="AMOUNT",
              help="fixed amount off: 5.00 with --currency, or CUR:AMOUNT (repeat for each currency)")
@click.option("--currency", metavar="CUR", help="the currency of a bare --amount")
@click.option("--duration", required=True, type=click.Choice(["once", "repeating", "forever"]))
@click.option("--cycles", type=COUNT, metavar="N", help="billing cycles a repeating coupon applies to")
@click.option("--plan", "plans", multiple=True, metavar="CODE", help="only these plans (repeat); default all")
@click.option("--minimum", multiple=True, metavar="CUR:AMOUNT", help="what an invoice must reach (repeat)")
@click.option("--expires", metavar="DATE", help="no redemptions from this day on (YYYY-MM-DD, UTC)")
@click.option("--max-redemptions", type=COUNT, metavar="N")
@click.option("--description", metavar="T")
@output.json_option
@pass_desk
def create(desk: Desk, code: str, percent: str | None, amounts: tuple[str, ...], currency: str | None,
           duration: str, cycles: int | None, plans: tuple[str, ...], minimum: tuple[str, ...], expires: str | None,
           max_redemptions: int | None, description: str | None, as_json: bool) -> int:
    """define coupon CODE: a percent or fixed amounts off"""
    from agentdesk.domain.dates import parse_date
    from agentdesk.services.billing import coupons as service

    if (percent is None) == (not amounts):
        raise InvalidInput(fields={"percent": "give either --percent or --amount"})
    fixed = money_pairs(amounts, currency, "amount", allow_zero=False) if amounts else None
    floor = money_pairs(minimum, None, "minimum", allow_zero=True)
    expires_at = datetime.combine(parse_date(expires, "expires"), time.min, tzinfo=UTC) if expires else None
    info = service.create_coupon(desk.store(), desk.actor, code, "percent" if percent is not None else "fixed",
                                 percent=percent, amounts=fixed, duration=duration, cycles=cycles, plans=list(plans),
                                 minimum=floor, expires_at=expires_at, max_redemptions=max_redemptions,
                                 description=description)
    output.record(info.to_dict(), as_json=as_json,
                  lines=lambda: [f"coupon {visible(info.code)}: {visible(info.value)} off, {_duration(info)}"])
    return 0


@coupons.command("list")
@click.option("--all", "include_expired", is_flag=True, help="expired and used-up coupons too")
@output.json_option
@pass_desk
def list_(desk: Desk, include_expired: bool, as_json: bool) -> int:
    """coupons that can be redeemed (--all: every one)"""
    from agentdesk.services.billing import coupons as service

    found = service.list_coupons(desk.store(), desk.actor, include_expired)
    output.table(found, COLUMNS, as_json=as_json, to_json=lambda c: c.to_dict())
    if not found and not as_json:
        output.echo("no coupons")
    return 0


@coupons.command()
@click.argument("code", metavar="CODE")
@pass_desk
def expire(desk: Desk, code: str) -> int:
    """end coupon CODE now (redemptions already made keep applying)"""
    from agentdesk.services.billing import coupons as service

    info = service.expire_coupon(desk.store(), desk.actor, code)
    output.echo(f"coupon {visible(info.code)} expired; {info.redemptions} redemption(s) made keep their terms")
    return 0


@coupons.command()
@click.argument("customer", metavar="CUSTOMER")
@click.argument("code", metavar="CODE")
@click.option("--email", is_flag=True, help="tell the customer by email")
@output.json_option
@pass_desk
def redeem(desk: Desk, customer: str, code: str, email: bool, as_json: bool) -> int:
    """redeem CODE on CUSTOMER's account: it discounts their next invoices"""
    from agentdesk.services.billing import coupons as service

    info = service.redeem_on_account(desk.store(), desk.actor, customer, code, email=email)
    output.record(info.to_dict(), as_json=as_json,
                  lines=lambda: [f"coupon {visible(info.code)} ({visible(info.value)} off) redeemed on "
                                 f"{visible(customer)}'s account" + ("; the customer is emailed" if email else "")])
    return 0
