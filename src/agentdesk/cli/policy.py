"""`agentdesk policy show|set|unset|history`: limits, ceilings and gateways kept in the store (admins change them)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

from agentdesk.cli import output
from agentdesk.cli.output import Column
from agentdesk.cli.root import Desk, pass_desk
from agentdesk.domain.formatting import format_utc
from agentdesk.domain.text import visible
from agentdesk.services.policy.keys import FAMILIES

if TYPE_CHECKING:
    from agentdesk.services.policy.service import PolicyChangeInfo, PolicyEntry

KEYS_HELP = "\b\nKeys (VALUE typed as):\n" + "\n".join(
    f"  {family.pattern:<28} {family.kind.unit}" for family in FAMILIES
)

ENTRY_COLUMNS: tuple[Column[PolicyEntry], ...] = (
    Column(lambda e: e.key, 28),
    Column(lambda e: e.shown, 34),
    Column(lambda e: f"{e.updated_by}, {format_utc(e.updated_at)}" if e.updated_at and e.updated_by else ""),
)

CHANGE_COLUMNS: tuple[Column[PolicyChangeInfo], ...] = (
    Column(lambda c: format_utc(c.at), 20),
    Column(lambda c: c.by, 16),
    Column(lambda c: c.key, 28),
    Column(lambda c: f"{c.old_shown} → {c.new_shown}"),
)


def _report(change: PolicyChangeInfo, as_json: bool) -> int:
    def lines() -> list[str]:
        if not change.changed:
            return [f"{visible(change.key)} is already {visible(change.new_shown)}; nothing changed"]
        return [f"{visible(change.key)}: {visible(change.old_shown)} → {visible(change.new_shown)}"]

    output.record(change.to_dict(), as_json=as_json, lines=lines)
    return 0


@click.group()
def policy() -> None:
    """refund limits, payout ceilings, gateways and other policy, kept in the store (admins change it)"""


@policy.command()
@output.json_option
@pass_desk
def show(desk: Desk, as_json: bool) -> int:
    """the policy in force: every key set, and every default"""
    from agentdesk.services.policy import service

    entries = service.show_policy(desk.store(), desk.actor)
    output.table(entries, ENTRY_COLUMNS, as_json=as_json, to_json=lambda e: e.to_dict())
    return 0


@policy.command("set", epilog=KEYS_HELP)
@click.argument("key")
@click.argument("value")
@output.json_option
@pass_desk
def set_(desk: Desk, key: str, value: str, as_json: bool) -> int:
    """set KEY to VALUE (admins); recorded with who, when, from and to"""
    from agentdesk.services.policy import service

    return _report(service.set_policy(desk.store(), desk.actor, key, value), as_json)


@policy.command(epilog=KEYS_HELP)
@click.argument("key")
@output.json_option
@pass_desk
def unset(desk: Desk, key: str, as_json: bool) -> int:
    """remove KEY's value (admins): its default, or what "not set" means for it, applies again"""
    from agentdesk.services.policy import service

    return _report(service.unset_policy(desk.store(), desk.actor, key), as_json)


@policy.command()
@click.argument("key", required=False)
@output.json_option
@pass_desk
def history(desk: Desk, key: str | None, as_json: bool) -> int:
    """every policy change, newest first (of KEY only, if given)"""
    from agentdesk.services.policy import service

    changes = service.policy_history(desk.store(), desk.actor, key)
    output.table(changes, CHANGE_COLUMNS, as_json=as_json, to_json=lambda c: c.to_dict())
    return 0
