"""`agentdesk audit verify`: tamper evidence."""

from __future__ import annotations

import click

from agentdesk.cli import output
from agentdesk.cli.root import EXIT_ERROR, Desk, pass_desk
from agentdesk.domain.text import visible


@click.group()
def audit() -> None:
    """tamper evidence"""


@audit.command()
@click.argument("customer", required=False, metavar="CUSTOMER")
@pass_desk
def verify(desk: Desk, customer: str | None) -> int:
    """check the timeline hash chains (one customer's, or all)"""
    from agentdesk.services.timeline import audit as chains

    checked, breaks = chains.verify_chains(desk.store(), desk.actor, customer)
    if not breaks:
        output.echo(f"ok: {checked:,} events checked, every chain intact")
        return 0
    for b in breaks:
        output.echo(f"BROKEN customer {visible(b.customer)}: event {b.event_id}: {b.problem}")
    output.echo(f"{len(breaks)} broken chain(s) among {checked:,} events", err=True)
    return EXIT_ERROR
