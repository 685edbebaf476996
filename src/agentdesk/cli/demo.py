"""`agentdesk demo`: a deterministic demo data set in an empty store."""

from __future__ import annotations

import click

from agentdesk.cli import output
from agentdesk.cli.arguments import COUNT
from agentdesk.cli.root import Desk, pass_desk
from agentdesk.db.store import Store


@click.command()
@click.option("--customers", type=COUNT, default=1000, show_default=True, metavar="N",
              help="how many customers and leads")
@click.option("--seed", type=COUNT, default=1, show_default=True, metavar="S",
              help="random seed; the same seed gives the same data")
@click.option("--if-empty", is_flag=True, help="do nothing, successfully, if the store already has data")
@pass_desk
def demo(desk: Desk, customers: int, seed: int, if_empty: bool) -> int:
    """build demo data in an empty store"""
    from agentdesk.demo import builder
    from agentdesk.services.agents.identity import is_demo

    store = desk.store(create=True)
    url = desk.settings.database_url
    if if_empty and not builder.store_is_empty(store):
        output.echo(f"store already has data: {url}", err=True)
        if is_demo(store) and (portal := _demo_portal_address(store)):
            output.echo(f"customer links point at {portal} (`make portal` serves them there)", err=True)
        return 0
    with output.progress("building demo data", total=customers) as update:
        summary = builder.build_demo(store, customers, seed=seed, login=desk.login, progress=update)
    portal = _demo_portal_address(store)
    agents = ", ".join(f"{login} ({role})" for login, _, role in builder.DEMO_AGENTS)
    output.echo(
        f"demo store ready: {summary.customers:,} customers and {summary.leads:,} leads in {url}; "
        f"{desk.login} is an admin (other demo agents: {agents})"
    )
    output.echo(f"service key: {store.key_path} (keep it with the store: without it card fingerprints and the "
                "timeline chain cannot be checked)")
    if portal:
        output.echo(f"customer links point at {portal} (`make portal` serves them there)")
    return 0


DEMO_PORTAL = "http://127.0.0.1:8080"


def _demo_portal_address(store: Store) -> str | None:
    """A demo store sends links to the portal `make portal` starts on this machine (policy, set as the system)."""
    from agentdesk.domain.permissions import SYSTEM
    from agentdesk.services.policy.service import set_policy, show_policy

    shown = {entry.key: entry for entry in show_policy(store, SYSTEM)}
    if shown.get("portal_base_url") is not None and shown["portal_base_url"].is_set:
        return None
    set_policy(store, SYSTEM, "portal_base_url", DEMO_PORTAL)
    return DEMO_PORTAL
