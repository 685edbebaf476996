"""The segment, sort and filter options shared by `customers search`, `export customers` and `segments save`."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

import click

from agentdesk.cli.root import CliError, Desk
from agentdesk.services.customers.filters import SortKey

if TYPE_CHECKING:
    from agentdesk.services.customers.filters import CustomerQuery

F = TypeVar("F", bound=Callable[..., Any])

FILTER_OPTIONS: tuple[tuple[str, str | None, str | None], ...] = (
    ("--website", "CODE", None),
    ("--country", "CC", "ISO 3166 code of any of the customer's addresses"),
    ("--currency", "CUR", None),
    ("--tag", None, None),
    ("--created-from", "DATE", None),
    ("--created-to", "DATE", None),
    ("--payments-min", "N", None),
    ("--payments-max", "N", None),
    ("--ltv-min", "AMOUNT", None),
    ("--ltv-max", "AMOUNT", None),
    ("--blocked", "yes|no", None),
    ("--active-subscription", "yes|no", None),
)
FILTER_KEYS = tuple(flag[2:].replace("-", "_") for flag, _, _ in FILTER_OPTIONS)


def query_options(default_segment: str) -> Callable[[F], F]:
    """`--segment`, `--sort`, `--asc` and the filters; the command receives them as keyword arguments."""

    def decorate(command: F) -> F:
        for flag, metavar, help_text in reversed(FILTER_OPTIONS):
            command = click.option(flag, metavar=metavar, help=help_text)(command)
        command = click.option("--asc", is_flag=True, help="ascending order (default: descending)")(command)
        command = click.option("--sort", type=click.Choice([k.value for k in SortKey]))(command)
        return click.option("--segment", default=default_segment, show_default=True, metavar="NAME",
                            help="customers, leads, all, or the name of a saved segment")(command)

    return decorate


def build_query(desk: Desk, options: dict[str, Any], text: str) -> CustomerQuery:
    """Built-in segment or saved one by name, with the command line's filters laid over it."""
    from agentdesk.services.customers import segments
    from agentdesk.services.customers.filters import CustomerQuery, Segment, parse_filters

    base = CustomerQuery()
    name = options["segment"].strip()
    if name.lower() in {s.value for s in Segment}:
        base = CustomerQuery(segment=Segment(name.lower()))
    else:
        store, actor = desk.store(), desk.actor
        matches = [seg for seg in segments.list_segments(store, actor) if seg.name.lower() == name.lower()]
        if not matches:
            raise CliError(f"no segment named {name!r}; built-in ones are customers, leads and all")
        base = matches[0].query
    overrides = {k: options[k] for k in FILTER_KEYS if options[k] is not None}
    filters = parse_filters({**base.filters.to_dict(), **overrides})
    sort, asc = options["sort"], options["asc"]
    return CustomerQuery(
        segment=base.segment,
        search=text or base.search,
        filters=filters,
        sort=SortKey(sort) if sort else base.sort,
        descending=not asc if (sort or asc) else base.descending,
    )
