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
    """apply the schema migrations (and key a store from before service keys)"""
    from agentdesk.services.timeline import checkpoints

    store = desk.raw_store(create=True)
    before = store.current_revision()
    store.upgrade()
    after = store.current_revision()
    output.echo(f"schema at {after}" + (" (already current)" if before == after else f" (was {before or 'empty'})"))
    if before != after and store.analyze():
        output.echo("table statistics refreshed (ANALYZE)")
    keyed = store.open_key()
    if keyed.created:
        output.echo(f"service key created: {store.key_path} (mode 0600). Back it up with the store: without it "
                    "card fingerprints and the timeline chain cannot be checked, and the store refuses to start")
    if keyed.rekeyed:
        done = keyed.rekeyed
        output.echo(f"store keyed: {done['fingerprints']:,} card fingerprints and {done['blocklist entries']:,} "
                    f"fingerprint blocklist entries re-keyed, {done['money rows']:,} money rows sealed")
        result = checkpoints.write_checkpoint(store)
        if result is not None:
            output.echo(f"first checkpoint: {result.customers:,} customers' timeline chains pinned in {result.path}")
    return 0
