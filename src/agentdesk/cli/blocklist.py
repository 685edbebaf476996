"""`agentdesk blocklist add|remove|list`: values that may not buy."""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

from agentdesk.cli import output
from agentdesk.cli.arguments import COUNT
from agentdesk.cli.output import Column
from agentdesk.cli.root import Desk, pass_desk
from agentdesk.domain.text import visible
from agentdesk.services.risk.blocklist import KINDS

if TYPE_CHECKING:
    from agentdesk.services.risk.blocklist import EntryInfo


def _note(e: EntryInfo) -> str:
    until = f" until {e.expires_at:%Y-%m-%d}" if e.expires_at else ""
    state = "" if e.active else " (inactive)"
    return f"{e.reason or ''}{until}{state}"


ENTRY_COLUMNS: tuple[Column[EntryInfo], ...] = (
    Column(lambda e: e.id, 6, right=True),
    Column(lambda e: e.kind, 11),
    Column(lambda e: e.value, 32),
    Column(_note),
)


@click.group()
def blocklist() -> None:
    """values that may not buy (admins change them)"""


@blocklist.command()
@click.option("--type", "kind", required=True, type=click.Choice(KINDS))
@click.option("--value", required=True)
@click.option("--reason")
@click.option("--expires", metavar="DATE")
@output.json_option
@pass_desk
def add(desk: Desk, kind: str, value: str, reason: str | None, expires: str | None, as_json: bool) -> int:
    """block a value"""
    from agentdesk.services.risk import blocklist as entries

    entry = entries.add_entry(desk.store(), desk.actor, kind, value, reason, expires)
    output.record(entry.to_dict(), as_json=as_json,
                  lines=lambda: [f"blocked {entry.kind} {visible(entry.value)} (entry {entry.id})"])
    return 0


@blocklist.command()
@click.argument("entry", type=COUNT, metavar="ENTRY")
@pass_desk
def remove(desk: Desk, entry: int) -> int:
    """remove an entry"""
    from agentdesk.services.risk import blocklist as entries

    removed = entries.remove_entry(desk.store(), desk.actor, entry)
    output.echo(f"removed entry {removed.id} ({removed.kind} {visible(removed.value)})")
    return 0


@blocklist.command("list")
@click.option("--all", "include_inactive", is_flag=True)
@output.json_option
@pass_desk
def list_entries(desk: Desk, include_inactive: bool, as_json: bool) -> int:
    """active entries (--all: removed and expired too)"""
    from agentdesk.services.risk import blocklist as entries

    found = entries.list_entries(desk.store(), desk.actor, include_inactive=include_inactive)
    output.table(found, ENTRY_COLUMNS, as_json=as_json, to_json=lambda e: e.to_dict())
    return 0
