"""`agentdesk timeline|note`: read a customer's timeline, add a note to it."""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

from agentdesk.cli import output
from agentdesk.cli.arguments import COUNT
from agentdesk.cli.output import Column
from agentdesk.cli.root import CliError, Desk, pass_desk

if TYPE_CHECKING:
    from agentdesk.services.timeline.record import TimelineEntry

MAX_LIMIT = 100_000
PAGE = 500

TIMELINE_COLUMNS: tuple[Column[TimelineEntry], ...] = (
    Column(lambda e: f"{e.occurred_at:%Y-%m-%d %H:%M}"),
    Column(lambda e: e.id, 8, right=True, gap="  "),
    Column(lambda e: e.title, 28, gap="  "),
    Column(lambda e: e.actor, 10),
    Column(lambda e: ", ".join(f"{k}={v}" for k, v in e.attributes.items())),
)


@click.command()
@click.argument("customer", metavar="CUSTOMER")
@click.option("--type", "types", multiple=True, metavar="T",
              help="only these types, by code or title in any case (repeatable)")
@click.option("--since", metavar="DATE")
@click.option("--until", metavar="DATE")
@click.option("--search", default="", metavar="TEXT", help="words in notes and attachments")
@click.option("--limit", type=COUNT, default=100, show_default=True)
@output.json_option
@pass_desk
def timeline(desk: Desk, customer: str, types: tuple[str, ...], since: str | None, until: str | None,
             search: str, limit: int, as_json: bool) -> int:
    """a customer's timeline, newest first"""
    from agentdesk.services.timeline import read

    store, actor = desk.store(), desk.actor
    since_date, until_date = read.parse_since_until(since, until)
    wanted = read.TimelineFilter(read.resolve_types(types), since_date, until_date, search)
    if not 1 <= limit <= MAX_LIMIT:
        raise CliError(f"--limit must be between 1 and {MAX_LIMIT}")
    entries: list[TimelineEntry] = []
    after = None
    while len(entries) < limit:
        page = read.timeline_page(store, actor, customer, wanted, min(PAGE, limit - len(entries)), after)
        entries += page.entries
        if not page.more or not page.entries:
            break
        after = read.cursor_of(page.entries[-1])
    output.table(entries, TIMELINE_COLUMNS, as_json=as_json, to_json=lambda e: e.to_dict())
    return 0


@click.command()
@click.argument("customer", metavar="CUSTOMER")
@click.argument("text")
@click.option("--corrects", type=COUNT, metavar="EVENT", help="the note this one corrects")
@pass_desk
def note(desk: Desk, customer: str, text: str, corrects: int | None) -> int:
    """add a note to a customer's timeline (@login mentions an agent)"""
    from agentdesk.services.timeline import notes

    entry = notes.add_note(desk.store(), desk.actor, customer, text, corrects)
    output.echo(f"note {entry.id} added")
    return 0
