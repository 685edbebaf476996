"""`agentdesk`: the console, and headless subcommands over the same services.

Global options come before the subcommand. Headless commands never prompt:
the command line is the confirmation. Results go to stdout (JSON with
`--json`); an error is one line on stderr and a non-zero exit status.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Sequence

from sqlalchemy.exc import OperationalError

from agentdesk import __version__
from agentdesk.config import ConfigError, Settings, load_settings
from agentdesk.plain import visible
from agentdesk.services import customer_search, customers, demo, identity
from agentdesk.services.errors import ServiceError
from agentdesk.services.money import format_amount
from agentdesk.store import Store, StoreError

EXIT_ERROR = 1
EXIT_USAGE = 2


class CliError(Exception):
    pass


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="agentdesk",
        description="Keyboard-driven console for subscription-billing support agents. "
        "Without a subcommand it starts the console.",
    )
    parser.add_argument("--version", action="version", version=f"agentdesk {__version__}")
    parser.add_argument("--db", metavar="URL", help="database URL (sqlite:///PATH or postgresql+psycopg://...)")
    parser.add_argument("--as", dest="as_login", metavar="LOGIN", help="act as another agent (demo databases only)")
    sub = parser.add_subparsers(dest="command", metavar="SUBCOMMAND")

    p_demo = sub.add_parser("demo", help="build demo data in an empty store")
    p_demo.add_argument("--customers", type=int, default=1000, metavar="N", help="how many customers and leads (default 1000)")
    p_demo.add_argument("--seed", type=int, default=1, metavar="S", help="random seed; the same seed gives the same data")
    p_demo.add_argument("--if-empty", action="store_true", help="do nothing, successfully, if the store already has data")

    p_db = sub.add_parser("db", help="database schema")
    db_sub = p_db.add_subparsers(dest="db_command", metavar="ACTION", required=True)
    db_sub.add_parser("upgrade", help="apply the schema migrations")

    p_agents = sub.add_parser("agents", help="agents and their roles")
    agents_sub = p_agents.add_subparsers(dest="agents_command", metavar="ACTION", required=True)
    p_add = agents_sub.add_parser("add", help="add an agent (admins; or the first admin of an empty store)")
    p_add.add_argument("login")
    p_add.add_argument("--role", required=True, help="admin, agent, sales or finance")
    p_add.add_argument("--name", help="display name (defaults to the login)")
    p_list = agents_sub.add_parser("list", help="list agents")
    p_list.add_argument("--json", action="store_true")

    p_customers = sub.add_parser("customers", help="find and show customers")
    customers_sub = p_customers.add_subparsers(dest="customers_command", metavar="ACTION", required=True)
    p_search = customers_sub.add_parser("search", help="search customers")
    p_search.add_argument("text", nargs="?", default="", help="id, name, email, phone, organization or card last four")
    p_search.add_argument("--segment", default="all", choices=[s.value for s in customer_search.Segment])
    p_search.add_argument("--limit", type=int, default=20)
    p_search.add_argument("--json", action="store_true")
    p_show = customers_sub.add_parser("show", help="show one customer")
    p_show.add_argument("id", help="the customer's id")
    p_show.add_argument("--json", action="store_true")
    return parser


def open_store(settings: Settings) -> Store:
    store = Store(settings.database_url)
    store.ensure_schema()
    return store


def _emit_json(data) -> None:
    json.dump(data, sys.stdout, indent=2, ensure_ascii=False)
    sys.stdout.write("\n")


def cmd_demo(args, settings: Settings) -> int:
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    store = open_store(settings)
    if args.if_empty and not demo.store_is_empty(store):
        print(f"store already has data: {settings.database_url}", file=sys.stderr)
        return 0
    with Progress(
        TextColumn("building demo data"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
        transient=False, disable=not sys.stderr.isatty(), console=None,
    ) as bar:
        task = bar.add_task("demo", total=args.customers)
        summary = demo.build_demo(
            store, args.customers, seed=args.seed, login=identity.os_login(),
            progress=lambda done, total: bar.update(task, completed=done),
        )
    print(
        f"demo store ready: {summary.customers:,} customers and {summary.leads:,} leads in {settings.database_url}; "
        f"{identity.os_login()} is an admin (other demo agents: "
        + ", ".join(f"{login} ({role})" for login, _, role in demo.DEMO_AGENTS)
        + ")"
    )
    return 0


def cmd_db(args, settings: Settings) -> int:
    store = Store(settings.database_url)
    before = store.current_revision()
    store.upgrade()
    after = store.current_revision()
    print(f"schema at {after}" + (" (already current)" if before == after else f" (was {before or 'empty'})"))
    return 0


def cmd_agents(args, settings: Settings) -> int:
    store = open_store(settings)
    if args.agents_command == "add":
        actor = identity.resolve_actor(store, as_login=args.as_login) if identity.has_agents(store) else None
        agent = identity.add_agent(store, actor, args.login, args.role, args.name)
        print(f"added {agent.login} as {agent.role}")
        return 0
    actor = identity.resolve_actor(store, as_login=args.as_login)
    agents = identity.list_agents(store, actor)
    if args.json:
        _emit_json([a.to_dict() for a in agents])
    else:
        for a in agents:
            print(f"{visible(a.login):<20} {a.role:<8} {'active' if a.active else 'inactive':<8} {visible(a.name)}")
    return 0


def cmd_customers(args, settings: Settings) -> int:
    store = open_store(settings)
    actor = identity.resolve_actor(store, as_login=args.as_login)
    if args.customers_command == "search":
        page = customer_search.search_customers(store, actor, args.text, args.segment, args.limit)
        if args.json:
            _emit_json([row.to_dict() for row in page.rows])
            return 0
        for row in page.rows:
            print(
                f"{visible(row.external_id):<14} {visible(row.name)[:30]:<30} {visible(row.email or '')[:34]:<34} "
                f"{row.payment_count:>3} {format_amount(row.lifetime_value, row.currency):>14}"
            )
        if not page.rows:
            print("no customers match", file=sys.stderr)
        return 0
    detail = customers.get_customer(store, actor, args.id)
    if args.json:
        _emit_json(detail.to_dict())
        return 0
    _print_detail(detail)
    return 0


def _print_detail(d: customers.CustomerDetail) -> None:
    print(f"{visible(d.name)}  ({visible(d.external_id)}, website {d.website})")
    if d.organization or d.job_title:
        print(f"  {visible(d.job_title or '')} {('at ' + visible(d.organization)) if d.organization else ''}".rstrip())
    print(f"  payments: {d.payment_count}   lifetime value: {format_amount(d.lifetime_value, d.currency)}")
    for e in d.emails:
        print(f"  email  {visible(e.value)}{'  (primary)' if e.primary else ''}")
    for p in d.phones:
        print(f"  phone  {visible(p.value)}{'  (primary)' if p.primary else ''}")
    for a in d.addresses:
        print(f"  address {visible(a.line1)}, {visible(a.city)} {visible(a.postal_code or '')} {a.country}")
    for t in d.transactions:
        print(
            f"  txn {t.id:>8} {t.created_at:%Y-%m-%d} {t.type:<7} {t.status:<18} "
            f"{format_amount(t.amount, t.currency):>14} {'settled' if t.settled else 'unsettled'}"
        )


COMMANDS = {"demo": cmd_demo, "db": cmd_db, "agents": cmd_agents, "customers": cmd_customers}


def run_console(args, settings: Settings) -> int:
    from agentdesk.app import AgentDeskApp, FirstRun

    store = open_store(settings)
    if not identity.has_agents(store):
        AgentDeskApp(store, settings, actor=None, first_run=FirstRun(identity.os_login())).run()
        return 0
    actor = identity.resolve_actor(store, as_login=args.as_login)
    AgentDeskApp(store, settings, actor=actor).run()
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        settings = load_settings(database_url=args.db)
        if args.command is None:
            return run_console(args, settings)
        return COMMANDS[args.command](args, settings)
    except (ServiceError, ConfigError, StoreError, CliError) as exc:
        print(f"agentdesk: {exc}", file=sys.stderr)
        return EXIT_ERROR
    except OperationalError as exc:
        reason = str(exc.orig).strip().splitlines()[0] if exc.orig else str(exc)
        print(f"agentdesk: the database could not be used: {reason}", file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:
        print("agentdesk: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
