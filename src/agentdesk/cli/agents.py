"""`agentdesk agents add|list`."""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

from agentdesk.cli import output
from agentdesk.cli.output import Column
from agentdesk.cli.root import Desk, pass_desk

if TYPE_CHECKING:
    from agentdesk.services.agents.identity import AgentInfo

AGENT_COLUMNS: tuple[Column[AgentInfo], ...] = (
    Column(lambda a: a.login, 20),
    Column(lambda a: a.role, 8),
    Column(lambda a: "active" if a.active else "inactive", 8),
    Column(lambda a: a.name),
)


@click.group()
def agents() -> None:
    """agents and their roles"""


@agents.command()
@click.argument("login")
@click.option("--role", required=True, help="admin, agent, sales or finance")
@click.option("--name", help="display name (defaults to the login)")
@pass_desk
def add(desk: Desk, login: str, role: str, name: str | None) -> int:
    """add an agent (admins; or the first admin of an empty store)"""
    from agentdesk.services.agents import identity

    store = desk.store()
    actor = desk.actor if identity.has_agents(store) else None
    agent = identity.add_agent(store, actor, login, role, name)
    output.echo(f"added {agent.login} as {agent.role}")
    return 0


@agents.command("list")
@output.json_option
@pass_desk
def list_agents(desk: Desk, as_json: bool) -> int:
    """list agents"""
    from agentdesk.services.agents import identity

    found = identity.list_agents(desk.store(), desk.actor)
    output.table(found, AGENT_COLUMNS, as_json=as_json, to_json=lambda a: a.to_dict())
    return 0
