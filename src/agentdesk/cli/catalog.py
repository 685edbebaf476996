"""`agentdesk catalog list|import`: products and their plans (price points); admins import them from TOML."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import click

from agentdesk.cli import output
from agentdesk.cli.arguments import FilePath
from agentdesk.cli.output import Column
from agentdesk.cli.root import Desk, pass_desk
from agentdesk.domain.enums import BillingTiming, PlanKind
from agentdesk.domain.money import format_amount
from agentdesk.domain.periods import describe_interval

if TYPE_CHECKING:
    from agentdesk.services.catalog.service import PlanInfo

KIND_TITLES = {PlanKind.SUBSCRIPTION: "subscription", PlanKind.ONE_TIME: "one-time", PlanKind.TRIAL_ONLY: "trial only"}


def interval_cell(plan: PlanInfo) -> str:
    text = describe_interval(plan.interval, plan.interval_count)
    return f"{text}, {plan.cycles} times" if plan.cycles else text


def trial_cell(plan: PlanInfo) -> str:
    if not plan.trial_days:
        return ""
    price = format_amount(plan.trial_price, plan.currency) if plan.trial_price else "free"
    return f"{plan.trial_days} days {price}" if price == "free" else f"{plan.trial_days} days at {price}"


def timing_cell(plan: PlanInfo) -> str:
    if plan.kind is PlanKind.ONE_TIME:
        return ""
    parts = ["in arrears" if plan.billing_timing is BillingTiming.ARREARS else "in advance"]
    if plan.metered_unit_price is not None:
        parts.append(f"{format_amount(plan.metered_unit_price, plan.currency)} per unit")
    if plan.invoice_issue_days:
        when = "before" if plan.billing_timing is BillingTiming.ADVANCE else "after"
        parts.append(f"issued {plan.invoice_issue_days} d {when}")
    if plan.invoice_due_days:
        parts.append(f"due in {plan.invoice_due_days} d")
    return ", ".join(parts)


HEADERS = ("PRODUCT", "PLAN", "KIND", "PRICE", "INTERVAL", "TRIAL", "SETUP FEE", "TIMING")
CELLS = (
    lambda p: p.product_name + ("" if p.active else " (inactive)"),
    lambda p: p.code,
    lambda p: KIND_TITLES[p.kind],
    lambda p: format_amount(p.price, p.currency),
    interval_cell,
    trial_cell,
    lambda p: format_amount(p.setup_fee, p.currency) if p.setup_fee else "",
    timing_cell,
)
RIGHT = {3, 6}


@click.group()
def catalog() -> None:
    """products and plans (price points): list them, or import them from a TOML file (admins)"""


@catalog.command("list")
@click.option("--all", "include_inactive", is_flag=True, help="include inactive products and plans")
@output.json_option
@pass_desk
def list_(desk: Desk, include_inactive: bool, as_json: bool) -> int:
    """every product's plans: kind, price, interval, trial, setup fee and billing timing"""
    from agentdesk.services.catalog import service

    products = service.list_catalog(desk.store(), desk.actor, include_inactive=include_inactive)
    if as_json:
        output.emit_json([p.to_dict() for p in products])
        return 0
    plans = [plan for product in products for plan in product.plans]
    widths = [max([len(h)] + [len(str(cell(p))) for p in plans]) for h, cell in zip(HEADERS, CELLS, strict=True)]
    columns = [Column(cell, widths[i], right=i in RIGHT, gap="  ") for i, cell in enumerate(CELLS)]
    output.echo("  ".join(h.rjust(w) if i in RIGHT else h.ljust(w)
                          for i, (h, w) in enumerate(zip(HEADERS, widths, strict=True))).rstrip())
    for plan in plans:
        output.echo("".join((col.gap if i else "") + col.render(plan) for i, col in enumerate(columns)).rstrip())
    if not plans:
        output.echo("no plans in the catalog" + ("" if include_inactive else " (--all shows inactive ones)"))
    return 0


@catalog.command("import")
@click.argument("file", type=FilePath(dir_okay=False, path_type=Path))
@output.json_option
@pass_desk
def import_(desk: Desk, file: Path, as_json: bool) -> int:
    """add or update products, plans and shipping rates from FILE (admins); any bad entry refuses the whole
    file, naming the entry and field. Nothing is deleted; existing orders keep their terms."""
    from agentdesk.services.catalog import service

    report = service.import_catalog(desk.store(), desk.actor, file)
    output.record(report.to_dict(), as_json=as_json, lines=lambda: [
        f"imported {file}: {report.products_added} products added, {report.products_updated} changed; "
        f"{report.plans_added} plans added, {report.plans_updated} changed; "
        f"{report.shipping_rates} shipping rates added or changed"
    ])
    return 0
