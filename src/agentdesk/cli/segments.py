"""`agentdesk segments list|save|delete`: saved segments."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import click

from agentdesk.cli import output
from agentdesk.cli.output import Column
from agentdesk.cli.query import build_query, query_options
from agentdesk.cli.root import CliError, Desk, pass_desk
from agentdesk.domain.text import visible

if TYPE_CHECKING:
    from agentdesk.services.customers.segments import SegmentInfo

SEGMENT_COLUMNS: tuple[Column[SegmentInfo], ...] = (
    Column(lambda s: s.name, 30),
    Column(lambda s: "shared" if s.shared else "private", 8),
    Column(lambda s: s.owner),
)


@click.group()
def segments() -> None:
    """saved segments"""


@segments.command("list")
@output.json_option
@pass_desk
def list_segments(desk: Desk, as_json: bool) -> int:
    """your segments and the shared ones"""
    from agentdesk.services.customers import segments as saved

    found = saved.list_segments(desk.store(), desk.actor)
    output.table(found, SEGMENT_COLUMNS, as_json=as_json, to_json=lambda s: s.to_dict())
    return 0


@segments.command()
@click.argument("name")
@click.option("--search", default="", metavar="TEXT")
@query_options(default_segment="customers")
@click.option("--shared", is_flag=True, help="visible to every agent")
@pass_desk
def save(desk: Desk, name: str, search: str, shared: bool, **options: Any) -> int:
    """save a segment from filter options"""
    from agentdesk.services.customers import segments as saved

    store, actor = desk.store(), desk.actor
    query = build_query(desk, options, search)
    segment = saved.create_segment(store, actor, name, query, shared=shared)
    output.echo(f"saved segment {visible(segment.name)!r}")
    return 0


@segments.command()
@click.argument("name")
@pass_desk
def delete(desk: Desk, name: str) -> int:
    """delete a saved segment"""
    from agentdesk.services.customers import segments as saved

    store, actor = desk.store(), desk.actor
    matches = [seg for seg in saved.list_segments(store, actor) if seg.name.lower() == name.strip().lower()]
    if not matches:
        raise CliError(f"no segment named {name!r}")
    saved.delete_segment(store, actor, matches[0].id)
    output.echo(f"deleted segment {visible(matches[0].name)!r}")
    return 0
