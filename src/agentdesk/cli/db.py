"""`agentdesk db upgrade`."""

from __future__ import annotations

import click

from agentdesk.cli import output
from agentdesk.cli.root import Desk, pass_desk


@click.group()
def db() -> None:
    """database schema"""


@db.command()
@pass_desk
def upgrade(desk: Desk) -> int:
    """apply the schema migrations"""
    store = desk.raw_store()
    before = store.current_revision()
    store.upgrade()
    after = store.current_revision()
    output.echo(f"schema at {after}" + (" (already current)" if before == after else f" (was {before or 'empty'})"))
    return 0
