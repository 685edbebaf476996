"""`agentdesk export customers`: a segment's view streamed to CSV."""

from __future__ import annotations

from typing import Any

import click

from agentdesk.cli import output
from agentdesk.cli.arguments import FilePath
from agentdesk.cli.query import build_query, query_options
from agentdesk.cli.root import Desk, pass_desk
from agentdesk.services.customers import columns as customer_columns
from agentdesk.services.customers.export import CONTACTS_PRESET


@click.group()
def export() -> None:
    """export data as CSV (admin and finance)"""


@export.command("customers")
@click.option("--search", default="", metavar="TEXT")
@query_options(default_segment="customers")
@click.option(
    "--columns", default=CONTACTS_PRESET, show_default=True, metavar="KEYS",
    help=f"comma-separated column keys ({', '.join(customer_columns.COLUMNS)}), "
    f"or '{CONTACTS_PRESET}' for the contact preset",
)
@click.option("--out", required=True, type=FilePath(), metavar="FILE")
@click.option("--force", is_flag=True, help="replace FILE if it exists")
@pass_desk
def export_customers(desk: Desk, search: str, columns: str, out: str, force: bool, **options: Any) -> int:
    """the customers of a segment, with its filters and search"""
    from agentdesk.services.customers import export as exporter

    store, actor = desk.store(), desk.actor
    query = build_query(desk, options, search)
    chosen = columns if columns == CONTACTS_PRESET else columns.split(",")
    with output.progress("exporting", total=None) as update:
        result = exporter.export_customers(store, actor, query, out, chosen, progress=update,
                                           overwrite=force)
    output.echo(f"exported {result.rows:,} customers to {result.path}")
    return 0
