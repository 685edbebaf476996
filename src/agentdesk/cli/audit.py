"""`agentdesk audit verify|checkpoint|money`: tamper evidence, and money aggregates against their rows."""

from __future__ import annotations

from pathlib import Path

import click

from agentdesk.cli import output
from agentdesk.cli.arguments import FilePath
from agentdesk.cli.root import EXIT_ERROR, Desk, pass_desk
from agentdesk.domain.text import visible


@click.group()
def audit() -> None:
    """tamper evidence"""


@audit.command()
@click.argument("customer", required=False, metavar="CUSTOMER")
@click.option("--checkpoints", "checkpoint_file", type=FilePath(dir_okay=False, path_type=Path), metavar="FILE",
              help="compare with this checkpoint file (default: the one beside the key)")
@output.json_option
@pass_desk
def verify(desk: Desk, customer: str | None, checkpoint_file: Path | None, as_json: bool) -> int:
    """check the timeline chains, the checkpoints and the money rows (one customer's, or all)"""
    from agentdesk.services.timeline import audit as auditing
    from agentdesk.services.timeline.chain import EVENT_KINDS

    report = auditing.verify(desk.store(), desk.actor, customer, checkpoint_file)
    if as_json:
        output.emit_json(report.to_dict())
        return 0 if report.ok else EXIT_ERROR
    checked = (f"{report.events:,} events of {report.customers:,} customers and {report.money_rows:,} money rows "
               "checked")
    against = (f"the checkpoint of {report.checkpoint_at} ({report.pinned:,} customers pinned, {report.checkpoint})"
               if report.checkpoint_at else None)
    if report.ok:
        if against:
            output.echo(f"ok: {checked}; every chain intact and matching {against}")
        else:
            output.echo(f"ok: {checked}; every chain intact. No checkpoint yet, so truncation cannot be checked: "
                        "run `agentdesk audit checkpoint` (the worker writes one every few minutes)")
        if report.unkeyed_events:
            output.echo(f"({report.unkeyed_events:,} events are from before the store was keyed: checked with their "
                        "unkeyed hashes, protected by the keyed events after them and by the checkpoints)")
        return 0
    for name, findings in report.by_customer().items():
        for f in findings:
            where = f"event {f.event_id}: " if f.event_id is not None and f.kind in EVENT_KINDS else ""
            output.echo(f"{visible(name)}: {f.kind}: {where}{f.problem}")
    kinds = sorted({f.kind for f in report.findings}, key=auditing.KINDS.index)
    output.echo(f"TAMPERED: {len(report.findings)} finding(s) ({', '.join(kinds)}) in "
                f"{len(report.by_customer())} customer(s); {checked}"
                + (f", compared with {against}" if against else ", no checkpoint to compare with"), err=True)
    return EXIT_ERROR


@audit.command()
@click.option("--out", type=FilePath(dir_okay=False, path_type=Path), metavar="FILE",
              help="append to this file instead of the store's own (a new file gets every customer's head)")
@pass_desk
def checkpoint(desk: Desk, out: Path | None) -> int:
    """write the chain heads to the append-only checkpoint file"""
    from agentdesk.services.timeline import checkpoints

    result = checkpoints.checkpoint(desk.store(), desk.actor, out)
    output.echo(f"checkpoint of {result.at:%Y-%m-%d %H:%M:%S} UTC through event {result.through:,}: "
                f"{result.customers:,} customers' chain heads appended to {visible(str(result.path))}")
    if result.not_repinned:
        output.echo(f"{len(result.not_repinned)} customer(s) no longer extend the chain the file pinned (events "
                    "deleted since): left as pinned; run `agentdesk audit verify`", err=True)
        return EXIT_ERROR
    return 0


@audit.command()
@click.argument("customer", required=False, metavar="CUSTOMER")
@output.json_option
@pass_desk
def money(desk: Desk, customer: str | None, as_json: bool) -> int:
    """recompute every money aggregate from its rows (one customer's, or all) and name each mismatch"""
    from agentdesk.services.money import audit as money_audit

    store = desk.store()
    total = 1 if customer else money_audit.customer_count(store, desk.actor)
    with output.progress("auditing money", total) as update:
        report = money_audit.audit_money(store, desk.actor, customer, progress=lambda done: update(done, total))
    if as_json:
        output.emit_json({"customers": report.customers, "ok": not report.mismatches,
                          "mismatches": [m.to_dict() for m in report.mismatches]})
        return EXIT_ERROR if report.mismatches else 0
    for m in report.mismatches:
        found = m.to_dict()
        output.echo(f"MISMATCH customer {visible(m.customer)}: {visible(m.field)}: "
                    f"stored {found['stored']}, its rows say {found['computed']}")
    if report.mismatches:
        output.echo(f"{len(report.mismatches)} mismatch(es) among {report.customers:,} customers", err=True)
        return EXIT_ERROR
    output.echo(f"ok: {report.customers:,} customers checked, every money aggregate equals its rows")
    return 0
