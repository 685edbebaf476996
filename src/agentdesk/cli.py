"""`agentdesk`: the console, and headless subcommands over the same services.

Global options come before the subcommand. Headless commands never prompt:
the command line is the confirmation. Results go to stdout (JSON with
`--json`); an error is one line on stderr and a non-zero exit status.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence

from sqlalchemy.exc import OperationalError

from agentdesk import __version__
from agentdesk.config import ConfigError, Settings, load_settings
from agentdesk.db.store import Store, StoreError
from agentdesk.demo import builder as demo
from agentdesk.domain.errors import ServiceError
from agentdesk.domain.money import format_amount, parse_amount
from agentdesk.domain.text import visible
from agentdesk.services.agents import identity
from agentdesk.services.customers import columns as customer_columns
from agentdesk.services.customers import export, segments
from agentdesk.services.customers import records as customers
from agentdesk.services.customers import search as customer_search
from agentdesk.services.customers.filters import CustomerQuery, Segment, SortKey, parse_filters
from agentdesk.services.jobs import runner as worker
from agentdesk.services.money import payments, refunds, settlement
from agentdesk.services.risk import blocklist
from agentdesk.services.timeline import audit
from agentdesk.services.timeline import notes as timeline_notes
from agentdesk.services.timeline import read as timeline_read

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
    add_query_options(p_search, default_segment="all")
    p_search.add_argument("--limit", type=int, default=20)
    p_search.add_argument("--json", action="store_true")
    p_show = customers_sub.add_parser("show", help="show one customer")
    p_show.add_argument("id", help="the customer's id")
    p_show.add_argument("--json", action="store_true")
    p_export = sub.add_parser("export", help="export data as CSV (admin and finance)")
    export_sub = p_export.add_subparsers(dest="export_command", metavar="WHAT", required=True)
    p_ex_customers = export_sub.add_parser("customers", help="the customers of a segment, with its filters and search")
    p_ex_customers.add_argument("--search", default="", metavar="TEXT")
    add_query_options(p_ex_customers, default_segment="customers")
    p_ex_customers.add_argument(
        "--columns", default=export.CONTACTS_PRESET, metavar="KEYS",
        help=f"comma-separated column keys ({', '.join(customer_columns.COLUMNS)}), "
        f"or '{export.CONTACTS_PRESET}' for the contact preset (default)",
    )
    p_ex_customers.add_argument("--out", required=True, metavar="FILE")

    p_refund = sub.add_parser("refund", help="refund a settled transaction (or void an unsettled one, in full)")
    p_refund.add_argument("transaction", type=int, metavar="TXN")
    p_refund.add_argument("--amount", help="e.g. 12.30; default: everything that remains")
    p_refund.add_argument("--reason")
    p_refund.add_argument("--json", action="store_true")
    p_void = sub.add_parser("void", help="void an unsettled transaction (always in full)")
    p_void.add_argument("transaction", type=int, metavar="TXN")
    p_void.add_argument("--reason")
    p_void.add_argument("--json", action="store_true")
    p_refund_order = sub.add_parser("refund-order", help="take back every payment of an order (void, else refund)")
    p_refund_order.add_argument("order", metavar="ORDER")
    p_refund_order.add_argument("--reason")
    p_refund_order.add_argument("--json", action="store_true")

    p_payout = sub.add_parser("payout", help="send money to a customer (admin, finance); cannot be reversed")
    p_payout.add_argument("customer", metavar="CUSTOMER")
    p_payout.add_argument("--amount", required=True)
    p_payout.add_argument("--currency", required=True)
    p_payout.add_argument("--request-id", required=True, help="unique per payout: the same id never pays twice")
    p_payout.add_argument("--json", action="store_true")

    p_timeline = sub.add_parser("timeline", help="a customer's timeline, newest first")
    p_timeline.add_argument("customer", metavar="CUSTOMER")
    p_timeline.add_argument("--type", action="append", default=[], metavar="T", help="only these types (repeatable)")
    p_timeline.add_argument("--since", metavar="DATE")
    p_timeline.add_argument("--until", metavar="DATE")
    p_timeline.add_argument("--search", default="", metavar="TEXT", help="words in notes and attachments")
    p_timeline.add_argument("--limit", type=int, default=100)
    p_timeline.add_argument("--json", action="store_true")
    p_note = sub.add_parser("note", help="add a note to a customer's timeline (@login mentions an agent)")
    p_note.add_argument("customer", metavar="CUSTOMER")
    p_note.add_argument("text")
    p_note.add_argument("--corrects", type=int, metavar="EVENT", help="the note this one corrects")
    p_audit = sub.add_parser("audit", help="tamper evidence")
    audit_sub = p_audit.add_subparsers(dest="audit_command", metavar="ACTION", required=True)
    p_verify = audit_sub.add_parser("verify", help="check the timeline hash chains (one customer's, or all)")
    p_verify.add_argument("customer", nargs="?", metavar="CUSTOMER")

    p_block = sub.add_parser("blocklist", help="values that may not buy (admins change them)")
    block_sub = p_block.add_subparsers(dest="blocklist_command", metavar="ACTION", required=True)
    p_block_add = block_sub.add_parser("add", help="block a value")
    p_block_add.add_argument("--type", required=True, dest="kind", choices=list(blocklist.KINDS))
    p_block_add.add_argument("--value", required=True)
    p_block_add.add_argument("--reason")
    p_block_add.add_argument("--expires", metavar="DATE")
    p_block_add.add_argument("--json", action="store_true")
    p_block_remove = block_sub.add_parser("remove", help="remove an entry")
    p_block_remove.add_argument("entry", type=int, metavar="ENTRY")
    p_block_list = block_sub.add_parser("list", help="active entries (--all: removed and expired too)")
    p_block_list.add_argument("--all", action="store_true")
    p_block_list.add_argument("--json", action="store_true")

    p_worker = sub.add_parser("worker", help="run queued jobs (emails, refund retries) and repairs")
    p_worker.add_argument("--once", action="store_true", help="run what is due now, then exit")
    p_worker.add_argument("--interval", type=float, default=5.0, metavar="SECONDS")

    p_gateway = sub.add_parser("gateway", help="the sandbox gateway")
    gateway_sub = p_gateway.add_subparsers(dest="gateway_command", metavar="ACTION", required=True)
    p_settle = gateway_sub.add_parser("settle", help="settle sandbox sales that are due (or --all now)")
    p_settle.add_argument("--all", action="store_true")

    p_segments = sub.add_parser("segments", help="saved segments")
    segments_sub = p_segments.add_subparsers(dest="segments_command", metavar="ACTION", required=True)
    p_seg_list = segments_sub.add_parser("list", help="your segments and the shared ones")
    p_seg_list.add_argument("--json", action="store_true")
    p_seg_save = segments_sub.add_parser("save", help="save a segment from filter options")
    p_seg_save.add_argument("name")
    p_seg_save.add_argument("--search", default="", metavar="TEXT")
    add_query_options(p_seg_save, default_segment="customers")
    p_seg_save.add_argument("--shared", action="store_true", help="visible to every agent")
    p_seg_delete = segments_sub.add_parser("delete", help="delete a saved segment")
    p_seg_delete.add_argument("name")
    return parser


def add_query_options(parser: argparse.ArgumentParser, default_segment: str) -> None:
    parser.add_argument("--segment", default=default_segment, metavar="NAME",
                        help="customers, leads, all, or the name of a saved segment")
    parser.add_argument("--sort", default=None, choices=[k.value for k in SortKey])
    parser.add_argument("--asc", action="store_true", help="ascending order (default: descending)")
    group = parser.add_argument_group("filters")
    group.add_argument("--website", metavar="CODE")
    group.add_argument("--country", metavar="CC", help="ISO 3166 code of any of the customer's addresses")
    group.add_argument("--currency", metavar="CUR")
    group.add_argument("--tag")
    group.add_argument("--created-from", metavar="DATE")
    group.add_argument("--created-to", metavar="DATE")
    group.add_argument("--payments-min", metavar="N")
    group.add_argument("--payments-max", metavar="N")
    group.add_argument("--ltv-min", metavar="AMOUNT")
    group.add_argument("--ltv-max", metavar="AMOUNT")
    group.add_argument("--blocked", metavar="yes|no")
    group.add_argument("--active-subscription", metavar="yes|no")


FILTER_OPTIONS = ("website", "country", "currency", "tag", "created_from", "created_to", "payments_min",
                  "payments_max", "ltv_min", "ltv_max", "blocked", "active_subscription")


def query_from_args(store, actor, args, text: str) -> CustomerQuery:
    """Built-in segment or saved one by name, with the command line's filters laid over it."""
    base = CustomerQuery()
    name = args.segment.strip()
    if name.lower() in {s.value for s in Segment}:
        base = CustomerQuery(segment=Segment(name.lower()))
    else:
        matches = [seg for seg in segments.list_segments(store, actor) if seg.name.lower() == name.lower()]
        if not matches:
            raise CliError(f"no segment named {name!r}; built-in ones are customers, leads and all")
        base = matches[0].query
    overrides = {k: getattr(args, k) for k in FILTER_OPTIONS if getattr(args, k) is not None}
    filters = parse_filters({**base.filters.to_dict(), **overrides})
    return CustomerQuery(
        segment=base.segment,
        search=text or base.search,
        filters=filters,
        sort=SortKey(args.sort) if args.sort else base.sort,
        descending=not args.asc if (args.sort or args.asc) else base.descending,
    )


def open_store(settings: Settings) -> Store:
    store = Store(settings.database_url)
    store.ensure_schema()
    return store


def signed_in(settings: Settings, args) -> tuple[Store, identity.Actor]:
    """The store, and who is at the keyboard (the OS login, or `--as` on a demo store)."""
    store = open_store(settings)
    return store, identity.resolve_actor(store, as_login=args.as_login)


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
    store, actor = signed_in(settings, args)
    if args.customers_command == "search":
        query = query_from_args(store, actor, args, args.text)
        if not 1 <= args.limit <= customer_search.MAX_PAGE:
            raise CliError(f"--limit must be between 1 and {customer_search.MAX_PAGE}")
        page = customer_search.fetch_page(store, actor, query, args.limit)
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


def cmd_export(args, settings: Settings) -> int:
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    store, actor = signed_in(settings, args)
    query = query_from_args(store, actor, args, args.search)
    columns = args.columns if args.columns == export.CONTACTS_PRESET else args.columns.split(",")
    with Progress(TextColumn("exporting"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                  disable=not sys.stderr.isatty()) as bar:
        task = bar.add_task("export", total=None)
        result = export.export_customers(
            store, actor, query, args.out, columns,
            progress=lambda done, total: bar.update(task, completed=done, total=total),
        )
    print(f"exported {result.rows:,} customers to {result.path}")
    return 0


def cmd_segments(args, settings: Settings) -> int:
    store, actor = signed_in(settings, args)
    if args.segments_command == "list":
        found = segments.list_segments(store, actor)
        if args.json:
            _emit_json([seg.to_dict() for seg in found])
        else:
            for seg in found:
                print(f"{visible(seg.name):<30} {'shared' if seg.shared else 'private':<8} {visible(seg.owner)}")
        return 0
    if args.segments_command == "save":
        query = query_from_args(store, actor, args, args.search)
        saved = segments.create_segment(store, actor, args.name, query, shared=args.shared)
        print(f"saved segment {visible(saved.name)!r}")
        return 0
    matches = [seg for seg in segments.list_segments(store, actor) if seg.name.lower() == args.name.strip().lower()]
    if not matches:
        raise CliError(f"no segment named {args.name!r}")
    segments.delete_segment(store, actor, matches[0].id)
    print(f"deleted segment {visible(matches[0].name)!r}")
    return 0


def _result_dict(result) -> dict:
    if isinstance(result, str):
        return {"status": "refused", "message": result}
    return {"transaction": result.transaction_id, "kind": result.kind.value, "status": result.status,
            "amount": result.amount, "currency": result.currency, "refund_transaction": result.refund_id,
            "message": result.message}


def _report(results, as_json: bool) -> int:
    if as_json:
        _emit_json([_result_dict(r) for r in results] if len(results) != 1 else _result_dict(results[0]))
    else:
        for r in results:
            print(visible(r if isinstance(r, str) else r.message))
    failed = [r for r in results if isinstance(r, str) or r.status in ("declined", "failed")]
    return EXIT_ERROR if failed and len(failed) == len(results) else 0


def cmd_refund(args, settings: Settings) -> int:
    store, actor = signed_in(settings, args)
    if args.command == "refund-order":
        return _report(refunds.refund_order(store, actor, settings, args.order, args.reason), args.json)
    if args.command == "void":
        return _report([refunds.void_transaction(store, actor, settings, args.transaction, args.reason)], args.json)
    plan = refunds.refund_plan(store, actor, args.transaction)
    amount = parse_amount(args.amount, plan.currency) if args.amount is not None else None
    return _report([refunds.refund_transaction(store, actor, settings, args.transaction, amount, args.reason)], args.json)


def cmd_payout(args, settings: Settings) -> int:
    store, actor = signed_in(settings, args)
    amount = parse_amount(args.amount, args.currency)
    result = payments.send_payout(store, actor, settings, args.customer, amount, args.currency, args.request_id)
    if args.json:
        _emit_json({"status": result.status, "transaction": result.transaction_id, "amount": result.amount,
                    "currency": result.currency, "message": result.message})
    else:
        print(visible(result.message))
    return 0 if result.status in ("approved", "pending") else EXIT_ERROR


def cmd_timeline(args, settings: Settings) -> int:
    store, actor = signed_in(settings, args)
    if args.command == "note":
        entry = timeline_notes.add_note(store, actor, args.customer, args.text, args.corrects)
        print(f"note {entry.id} added")
        return 0
    since, until = timeline_read.parse_since_until(args.since, args.until)
    f = timeline_read.TimelineFilter(frozenset(args.type), since, until, args.search)
    if not 1 <= args.limit <= 100_000:
        raise CliError("--limit must be between 1 and 100000")
    entries, after = [], None
    while len(entries) < args.limit:
        page = timeline_read.timeline_page(store, actor, args.customer, f, min(500, args.limit - len(entries)), after)
        entries += page.entries
        if not page.more or not page.entries:
            break
        after = timeline_read.cursor_of(page.entries[-1])
    if args.json:
        _emit_json([e.to_dict() for e in entries])
        return 0
    for e in entries:
        details = ", ".join(f"{k}={v}" for k, v in e.attributes.items())
        print(f"{e.occurred_at:%Y-%m-%d %H:%M}  {e.id:>8}  {visible(e.title):<28} {visible(e.actor):<10} {visible(details)}")
    return 0


def cmd_audit(args, settings: Settings) -> int:
    store, actor = signed_in(settings, args)
    checked, breaks = audit.verify_chains(store, actor, args.customer)
    if not breaks:
        print(f"ok: {checked:,} events checked, every chain intact")
        return 0
    for b in breaks:
        print(f"BROKEN customer {visible(b.customer)}: event {b.event_id}: {b.problem}")
    print(f"{len(breaks)} broken chain(s) among {checked:,} events", file=sys.stderr)
    return EXIT_ERROR


def cmd_blocklist(args, settings: Settings) -> int:
    store, actor = signed_in(settings, args)
    if args.blocklist_command == "add":
        entry = blocklist.add_entry(store, actor, args.kind, args.value, args.reason, args.expires)
        if args.json:
            _emit_json(entry.to_dict())
        else:
            print(f"blocked {entry.kind} {visible(entry.value)} (entry {entry.id})")
        return 0
    if args.blocklist_command == "remove":
        entry = blocklist.remove_entry(store, actor, args.entry)
        print(f"removed entry {entry.id} ({entry.kind} {visible(entry.value)})")
        return 0
    entries = blocklist.list_entries(store, actor, include_inactive=args.all)
    if args.json:
        _emit_json([e.to_dict() for e in entries])
    else:
        for e in entries:
            until = f" until {e.expires_at:%Y-%m-%d}" if e.expires_at else ""
            state = "" if e.active else " (inactive)"
            print(f"{e.id:>6} {e.kind:<11} {visible(e.value):<32} {visible(e.reason or '')}{until}{state}")
    return 0


def cmd_worker(args, settings: Settings) -> int:
    import time

    store = open_store(settings)
    report = worker.start_up(store, settings)
    print(f"start-up: {report.repaired} interrupted refunds finished, {report.settled} transactions settled")
    while True:
        report = worker.run_due(store, settings)
        if report.done or report.retrying or report.failed:
            print(f"jobs: {report.done} done, {report.retrying} to retry, {report.failed} failed", flush=True)
        if args.once:
            return 0
        worker.settlement.settle_from_gateway(store, settings)
        time.sleep(args.interval)


def cmd_gateway(args, settings: Settings) -> int:
    store, actor = signed_in(settings, args)
    count = settlement.settle_from_gateway(store, settings, actor, everything=args.all)
    print(f"settled {count} transactions")
    return 0


COMMANDS = {
    "refund": cmd_refund, "void": cmd_refund, "refund-order": cmd_refund, "worker": cmd_worker, "payout": cmd_payout,
    "gateway": cmd_gateway, "blocklist": cmd_blocklist, "timeline": cmd_timeline, "note": cmd_timeline, "audit": cmd_audit,
    "demo": cmd_demo, "db": cmd_db, "agents": cmd_agents, "customers": cmd_customers, "export": cmd_export,
    "segments": cmd_segments,
}


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
