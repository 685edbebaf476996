"""`agentdesk refund|void|refund-order|payout`: money that moves through a gateway."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import click

from agentdesk.cli import output
from agentdesk.cli.arguments import COUNT
from agentdesk.cli.root import EXIT_ERROR, Desk, pass_desk
from agentdesk.domain.text import visible

if TYPE_CHECKING:
    from agentdesk.services.money.refunds import RefundResult

def result_dict(result: RefundResult) -> dict[str, object]:
    if result.status == "refused":
        return {"status": "refused", "message": result.message}
    return {"transaction": result.transaction_id, "kind": result.kind.value if result.kind else None,
            "status": result.status, "amount": result.amount, "currency": result.currency,
            "refund_transaction": result.refund_id, "message": result.message}


def report(results: Sequence[RefundResult], as_json: bool) -> int:
    """One result as an object, several as an array; fails only if every one failed."""
    data = result_dict(results[0]) if len(results) == 1 else [result_dict(r) for r in results]
    output.record(data, as_json=as_json, lines=lambda: [visible(r.message) for r in results])
    failed = [r for r in results if r.status in ("declined", "failed", "refused")]
    return EXIT_ERROR if failed and len(failed) == len(results) else 0


@click.command()
@click.argument("transaction", type=COUNT, metavar="TXN")
@click.option("--amount", help="e.g. 12.30; default: everything that remains")
@click.option("--reason")
@output.json_option
@pass_desk
def refund(desk: Desk, transaction: int, amount: str | None, reason: str | None, as_json: bool) -> int:
    """refund a settled transaction (or void an unsettled one, in full)"""
    from agentdesk.domain.money import parse_amount
    from agentdesk.services.money import refunds

    store, actor = desk.store(), desk.actor
    plan = refunds.refund_plan(store, actor, transaction)
    minor = parse_amount(amount, plan.currency) if amount is not None else None
    return report([refunds.refund_transaction(store, actor, desk.settings, transaction, minor, reason)], as_json)


@click.command()
@click.argument("transaction", type=COUNT, metavar="TXN")
@click.option("--reason")
@output.json_option
@pass_desk
def void(desk: Desk, transaction: int, reason: str | None, as_json: bool) -> int:
    """void an unsettled transaction (always in full)"""
    from agentdesk.services.money import refunds

    store, actor = desk.store(), desk.actor
    return report([refunds.void_transaction(store, actor, desk.settings, transaction, reason)], as_json)


@click.command("refund-order")
@click.argument("order", metavar="ORDER")
@click.option("--reason")
@output.json_option
@pass_desk
def refund_order(desk: Desk, order: str, reason: str | None, as_json: bool) -> int:
    """take back every payment of an order (void, else refund)"""
    from agentdesk.services.money import refunds

    store, actor = desk.store(), desk.actor
    return report(refunds.refund_order(store, actor, desk.settings, order, reason), as_json)


@click.command()
@click.argument("customer", metavar="CUSTOMER")
@click.option("--amount", required=True)
@click.option("--currency", required=True)
@click.option("--request-id", required=True, help="unique per payout: the same id never pays twice")
@output.json_option
@pass_desk
def payout(desk: Desk, customer: str, amount: str, currency: str, request_id: str, as_json: bool) -> int:
    """send money to a customer (admin, finance); cannot be reversed"""
    from agentdesk.domain.money import parse_amount
    from agentdesk.services.money import payments

    store, actor = desk.store(), desk.actor
    minor = parse_amount(amount, currency)
    result = payments.send_payout(store, actor, desk.settings, customer, minor, currency, request_id)
    data = {"status": result.status, "transaction": result.transaction_id, "amount": result.amount,
            "currency": result.currency, "message": result.message}
    output.record(data, as_json=as_json, lines=lambda: [visible(result.message)])
    return 0 if result.status in ("approved", "pending") else EXIT_ERROR
