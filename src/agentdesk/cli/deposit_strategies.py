"""`agentdesk deposit-strategies create|list|delete`: the amounts deposit links offer (admins)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

from agentdesk.cli import output
from agentdesk.cli.output import Column
from agentdesk.cli.root import CliError, Desk, pass_desk
from agentdesk.domain.text import visible

if TYPE_CHECKING:
    from agentdesk.services.links.strategies import StrategyInfo

COLUMNS: tuple[Column[StrategyInfo], ...] = (Column(lambda s: s.summary),)


def _amounts(values: tuple[str, ...]) -> dict[str, list[int]]:
    """"USD:10" "USD:25.50" → {"USD": [1000, 2550]} (amounts typed in major units)."""
    from agentdesk.domain.money import currency_code, parse_amount

    found: dict[str, list[int]] = {}
    for value in values:
        currency, sep, amount = value.partition(":")
        if not sep:
            raise CliError(f"--amount {value!r}: write CUR:AMOUNT, such as USD:25.00")
        code = currency_code(currency)
        found.setdefault(code, []).append(parse_amount(amount, code))
    return found


def _limits(values: tuple[str, ...]) -> dict[str, tuple[int, int]]:
    """"USD:5:500" → {"USD": (500, 50000)}."""
    from agentdesk.domain.money import currency_code, parse_amount

    found: dict[str, tuple[int, int]] = {}
    for value in values:
        parts = value.split(":")
        if len(parts) != 3:
            raise CliError(f"--limit {value!r}: write CUR:MIN:MAX, such as USD:5:500")
        code = currency_code(parts[0])
        if code in found:
            raise CliError(f"--limit: {code} given twice")
        found[code] = (parse_amount(parts[1], code, field="minimum"), parse_amount(parts[2], code, field="maximum"))
    return found


@click.group("deposit-strategies")
def deposit_strategies() -> None:
    """amounts deposit links offer per currency, custom-amount rule and limits (admins change them)"""


@deposit_strategies.command()
@click.argument("name")
@click.option("--amount", "amounts", multiple=True, metavar="CUR:AMOUNT", help="an amount offered (repeat)")
@click.option("--custom-amount", is_flag=True, help="the customer may type an amount within --limit")
@click.option("--limit", "limits", multiple=True, metavar="CUR:MIN:MAX", help="custom amount limits (repeat)")
@click.option("--website", "websites", multiple=True, metavar="CODE", help="only for this website (repeat; "
              "none: every website)")
@output.json_option
@pass_desk
def create(desk: Desk, name: str, amounts: tuple[str, ...], custom_amount: bool, limits: tuple[str, ...],
           websites: tuple[str, ...], as_json: bool) -> int:
    """create the strategy NAME"""
    from agentdesk.services.links import strategies

    info = strategies.create_strategy(desk.store(), desk.actor, name, _amounts(amounts), custom_amount,
                                      _limits(limits), list(websites))
    output.record(info.to_dict(), as_json=as_json, lines=lambda: [f"Created deposit strategy {visible(info.summary)}"])
    return 0


@deposit_strategies.command("list")
@output.json_option
@pass_desk
def list_(desk: Desk, as_json: bool) -> int:
    """every strategy: amounts, custom-amount limits, websites"""
    from agentdesk.services.links import strategies

    rows = strategies.list_strategies(desk.store(), desk.actor)
    if not rows and not as_json:
        output.echo("No deposit strategies; an admin creates one with 'agentdesk deposit-strategies create'")
        return 0
    output.table(rows, COLUMNS, as_json=as_json, to_json=lambda s: s.to_dict())
    return 0


@deposit_strategies.command()
@click.argument("name")
@pass_desk
def delete(desk: Desk, name: str) -> int:
    """delete the strategy NAME (links already requested keep their terms)"""
    from agentdesk.services.links import strategies

    strategies.delete_strategy(desk.store(), desk.actor, name)
    output.echo(f"Deleted deposit strategy {visible(name)}")
    return 0
