"""`agentdesk subscriptions …`: every subscription action of the order screen, over the same services.

Each command with `--preview` prints what would happen and what it costs or refunds, and writes nothing;
without it the action is taken (the command line is the confirmation)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import click

from agentdesk.cli import output
from agentdesk.cli.arguments import COUNT
from agentdesk.cli.root import EXIT_ERROR, Desk, pass_desk
from agentdesk.domain.text import visible

if TYPE_CHECKING:
    from agentdesk.services.orders.subscriptions import SubscriptionResult

preview_option = click.option("--preview", "preview", is_flag=True,
                              help="say what would happen and what it costs or refunds; change nothing")


def _show(result: SubscriptionResult, as_json: bool) -> int:
    output.record(result.to_dict(), as_json=as_json, lines=lambda: [visible(line) for line in result.lines()])
    return 0 if result.ok else EXIT_ERROR


def _date(text: str | None, field: str) -> Any:
    from agentdesk.domain.dates import parse_date

    return parse_date(text, field) if text is not None else None


@click.group()
def subscriptions() -> None:
    """subscriptions: cancel, pause, trials, plan changes, billing date, quantity, coupons, bill now"""


@subscriptions.command()
@click.argument("order", metavar="ORDER")
@click.option("--at-period-end", is_flag=True, help="cancel when the paid-for period ends (can be withdrawn)")
@click.option("--refund", type=click.Choice(["none", "prorated", "last-invoice"]), default="none",
              show_default=True, help="when cancelling now: refund the unused days, or the last invoice in full")
@click.option("--reason", metavar="TEXT", help="why (kept with the refund)")
@preview_option
@output.json_option
@pass_desk
def cancel(desk: Desk, order: str, at_period_end: bool, refund: str, reason: str | None, preview: bool,
           as_json: bool) -> int:
    """cancel ORDER now (with a refund choice) or at the end of its period"""
    from agentdesk.services.orders import subscriptions as subs

    return _show(subs.cancel(desk.store(), desk.actor, desk.settings, order, at_period_end=at_period_end,
                             refund=refund, reason=reason, preview=preview), as_json)


@subscriptions.command("withdraw-cancel")
@click.argument("order", metavar="ORDER")
@preview_option
@output.json_option
@pass_desk
def withdraw_cancel(desk: Desk, order: str, preview: bool, as_json: bool) -> int:
    """take back a cancellation set for the end of the period or trial"""
    from agentdesk.services.orders import subscriptions as subs

    return _show(subs.withdraw_cancel(desk.store(), desk.actor, order, preview=preview), as_json)


@subscriptions.command()
@click.argument("order", metavar="ORDER")
@click.option("--from", "start", metavar="DATE", help="first day of the pause (default: today)")
@click.option("--until", metavar="DATE", help="last day of the pause (default: until resumed)")
@preview_option
@output.json_option
@pass_desk
def pause(desk: Desk, order: str, start: str | None, until: str | None, preview: bool, as_json: bool) -> int:
    """pause ORDER: no bills while paused; the next bill date moves on by the days paused"""
    from agentdesk.services.orders import subscriptions as subs

    return _show(subs.pause(desk.store(), desk.actor, order, start=_date(start, "from"), until=_date(until, "until"),
                            preview=preview), as_json)


@subscriptions.command()
@click.argument("order", metavar="ORDER")
@preview_option
@output.json_option
@pass_desk
def resume(desk: Desk, order: str, preview: bool, as_json: bool) -> int:
    """end ORDER's pause now, or cancel a pause not begun yet"""
    from agentdesk.services.orders import subscriptions as subs

    return _show(subs.resume(desk.store(), desk.actor, order, preview=preview), as_json)


@subscriptions.command()
@click.argument("order", metavar="ORDER")
@click.argument("action", type=click.Choice(["restart", "skip", "stop"]))
@preview_option
@output.json_option
@pass_desk
def trial(desk: Desk, order: str, action: str, preview: bool, as_json: bool) -> int:
    """restart the trial, skip it (bill now) or stop the subscription when it ends"""
    from agentdesk.services.orders import subscriptions as subs

    return _show(subs.trial(desk.store(), desk.actor, desk.settings, order, action, preview=preview), as_json)


def _options(values: tuple[str, ...]) -> dict[str, str]:
    from agentdesk.domain.errors import InvalidInput

    found: dict[str, str] = {}
    for value in values:
        key, sep, chosen = value.partition("=")
        if not sep or not key.strip() or not chosen.strip():
            raise InvalidInput(fields={"option": f"{value!r}: write KEY=VALUE, e.g. size=L"})
        found[key.strip()] = chosen.strip()
    return found


@subscriptions.command()
@click.argument("order", metavar="ORDER")
@click.option("--plan", "plan_code", required=True, metavar="CODE", help="the price point (plan) to move to")
@click.option("--option", "options", multiple=True, metavar="KEY=VALUE", help="a product option (repeatable)")
@click.option("--at-renewal", is_flag=True, help="change at the next renewal instead of now")
@click.option("--item", metavar="CODE", help="the plan code of the item to change, when the order has several")
@preview_option
@output.json_option
@pass_desk
def change(desk: Desk, order: str, plan_code: str, options: tuple[str, ...], at_renewal: bool, item: str | None,
           preview: bool, as_json: bool) -> int:
    """change ORDER's price point or option: an upgrade now is prorated; a downgrade waits for the renewal"""
    from agentdesk.services.orders import subscriptions as subs

    return _show(subs.change(desk.store(), desk.actor, desk.settings, order, plan_code=plan_code,
                             options=_options(options), at_renewal=at_renewal, item=item, preview=preview), as_json)


@subscriptions.command("withdraw-change")
@click.argument("order", metavar="ORDER")
@preview_option
@output.json_option
@pass_desk
def withdraw_change(desk: Desk, order: str, preview: bool, as_json: bool) -> int:
    """take back a scheduled plan change or downgrade"""
    from agentdesk.services.orders import subscriptions as subs

    return _show(subs.withdraw_change(desk.store(), desk.actor, order, preview=preview), as_json)


@subscriptions.command("billing-date")
@click.argument("order", metavar="ORDER")
@click.argument("new_date", metavar="DATE")
@preview_option
@output.json_option
@pass_desk
def billing_date(desk: Desk, order: str, new_date: str, preview: bool, as_json: bool) -> int:
    """move ORDER's next bill date (the renewal anchor); added days charged, removed days credited"""
    from agentdesk.services.orders import subscriptions as subs

    return _show(subs.billing_date(desk.store(), desk.actor, desk.settings, order, _date(new_date, "date"),
                                   preview=preview), as_json)


@subscriptions.command()
@click.argument("order", metavar="ORDER")
@click.argument("new_quantity", metavar="N", type=COUNT)
@click.option("--item", metavar="CODE", help="the plan code of the item, when the order has several")
@preview_option
@output.json_option
@pass_desk
def quantity(desk: Desk, order: str, new_quantity: int, item: str | None, preview: bool, as_json: bool) -> int:
    """set an item's quantity (price = quantity × unit price), prorated for the rest of the period"""
    from agentdesk.services.orders import subscriptions as subs

    return _show(subs.quantity(desk.store(), desk.actor, desk.settings, order, new_quantity, item=item,
                               preview=preview), as_json)


@subscriptions.command()
@click.argument("order", metavar="ORDER")
@click.argument("action", type=click.Choice(["add", "remove"]))
@click.argument("code", metavar="CODE")
@preview_option
@output.json_option
@pass_desk
def coupon(desk: Desk, order: str, action: str, code: str, preview: bool, as_json: bool) -> int:
    """add a coupon to ORDER's next invoices, or remove one"""
    from agentdesk.services.orders import subscriptions as subs

    return _show(subs.coupon(desk.store(), desk.actor, order, action, code, preview=preview), as_json)


@subscriptions.command("scheduled")
@click.argument("order", metavar="ORDER")
@click.option("--all", "everything", is_flag=True, help="also changes carried out, withdrawn or failed")
@output.json_option
@pass_desk
def scheduled(desk: Desk, order: str, everything: bool, as_json: bool) -> int:
    """ORDER's scheduled changes, soonest first"""
    from agentdesk.services.orders import subscriptions as subs

    found = subs.scheduled_changes(desk.store(), desk.actor, order, include_decided=everything)
    output.record([c.to_dict() for c in found], as_json=as_json,
                  lines=lambda: [f"{c.run_on.isoformat()}  {c.status:<9} {visible(c.summary)}" for c in found]
                  or ["no scheduled changes"])
    return 0


@subscriptions.command("bill-now")
@click.argument("order", metavar="ORDER")
@click.option("--reason", metavar="TEXT", help="why the cycle is billed early (on the timeline)")
@preview_option
@output.json_option
@pass_desk
def bill_now(desk: Desk, order: str, reason: str | None, preview: bool, as_json: bool) -> int:
    """force bill: invoice ORDER's next cycle today and collect it"""
    from agentdesk.services.billing import engine

    result = engine.bill_now(desk.store(), desk.actor, desk.settings, order, preview=preview, reason=reason)
    output.record(result.to_dict(), as_json=as_json, lines=lambda: [visible(result.message)])
    return 0 if result.ok else EXIT_ERROR
