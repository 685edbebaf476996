"""A billing run over N due renewals with the sandbox gateway: renewals per second and memory.

    .venv/bin/python benchmarks/billing_run.py                       # 100,000 renewals, a new SQLite file
    .venv/bin/python benchmarks/billing_run.py --orders 20000 --db postgresql+psycopg://postgres@127.0.0.1/benchbill

Adds N customers, each with a sandbox card ("tok_approve", approved), an email and one monthly subscription
whose next bill is today (built with Core bulk inserts in a child process, so the run's memory is its own),
then times `run_billing`: each renewal issues its invoice, moves the period on and collects the payment
(pending → gateway → outcome, receipt queued). Prints renewals/s, the resident memory before and after the
run, the highest sampled during it, and the process's peak RSS.
"""

from __future__ import annotations

import argparse
import logging
import multiprocessing
import os
import resource
import tempfile
import threading
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

CHUNK = 5_000


def rss_mib() -> float:
    """The current resident set size (Linux /proc), in MiB."""
    with open("/proc/self/statm") as f:
        pages = int(f.read().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE") / 2**20


def build(url: str, orders: int) -> None:
    """N due subscriptions, written a chunk at a time with Core inserts (no timeline: setup, not activity)."""
    from sqlalchemy import func, insert, select

    from agentdesk.config import load_settings
    from agentdesk.db.models import (
        Customer,
        CustomerEmail,
        Order,
        OrderItem,
        PaymentInstrument,
        Plan,
        Product,
        Website,
    )
    from agentdesk.db.store import Store
    from agentdesk.domain.periods import add_months

    settings = load_settings(url)
    store = Store(url, key_file=settings.key_file, data_dir=settings.data_dir)
    store.upgrade()
    store.open_key()
    now = datetime.now(UTC)
    today = now.date()
    run = uuid.uuid4().hex[:8]
    with store.engine.begin() as c:
        website_id = c.execute(select(Website.id).where(Website.code == "bench")).scalar()
        if website_id is None:
            website_id = c.execute(insert(Website).values(code="bench", name="Bench", url="https://bench.example",
                                                          default_currency="USD", gateway="sandbox")
                                   .returning(Website.id)).scalar_one()
        product_id = c.execute(insert(Product).values(sku=f"BENCH-{run}", name="Bench product", options={})
                               .returning(Product.id)).scalar_one()
        plan_id = c.execute(insert(Plan).values(product_id=product_id, code=f"BENCH-{run}", name="Monthly",
                                                price=1_250, currency="USD", interval="month")
                            .returning(Plan.id)).scalar_one()
        first = {table: (c.execute(select(func.max(table.id))).scalar() or 0) + 1  # type: ignore[attr-defined]
                 for table in (Customer, CustomerEmail, PaymentInstrument, Order, OrderItem)}
    start = add_months(today, -1)
    started = time.perf_counter()
    for offset in range(0, orders, CHUNK):
        n = range(offset, min(offset + CHUNK, orders))
        customers = [dict(id=first[Customer] + k, external_id=f"bill-{run}-{k}", website_id=website_id,
                          first_name="Bench", last_name=f"Customer {k}", currency="USD", payment_count=0,
                          lifetime_value=0, blocked=False, custom_fields={}, lead_source={}, edd_required=False,
                          created_at=now, updated_at=now) for k in n]
        emails = [dict(id=first[CustomerEmail] + k, customer_id=first[Customer] + k,
                       address=f"bill-{run}-{k}@example.com", is_primary=True) for k in n]
        cards = [dict(id=first[PaymentInstrument] + k, customer_id=first[Customer] + k, method="card", brand="Visa",
                      last4="4242", exp_month=12, exp_year=2030, status="active", is_primary=True, allow_backup=False,
                      gateway_token="tok_approve", billing_address={}, created_at=now) for k in n]
        orders_rows = [dict(id=first[Order] + k, number=f"ORD-{first[Order] + k:08d}", customer_id=first[Customer] + k,
                            website_id=website_id, kind="subscription", status="active", currency="USD", total=1_250,
                            instrument_id=first[PaymentInstrument] + k, autopay=True, next_bill_date=today,
                            starts_on=start, period_start=start, period_end=today, cycles_billed=1,
                            in_credit_control=False, shipping_amount=0, created_at=now - timedelta(days=31))
                       for k in n]
        items = [dict(id=first[OrderItem] + k, order_id=first[Order] + k, plan_id=plan_id, quantity=1, unit_price=1_250,
                      currency="USD", kind="subscription", interval="month", interval_count=1, trial_days=0,
                      trial_price=0, setup_fee=0, billing_timing="advance", invoice_issue_days=0, invoice_due_days=0,
                      options={}, customised=[]) for k in n]
        with store.engine.begin() as c:
            for table, rows in ((Customer, customers), (CustomerEmail, emails), (PaymentInstrument, cards),
                                (Order, orders_rows), (OrderItem, items)):
                c.execute(insert(table), rows)
    if store.engine.dialect.name == "postgresql":
        with store.engine.begin() as c:
            for table in ("customer", "customer_email", "payment_instrument", "orders", "order_item"):
                c.exec_driver_sql(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                                  f"(SELECT max(id) FROM {table}))")
            c.exec_driver_sql("ANALYZE")
    print(f"built {orders:,} due subscriptions in {time.perf_counter() - started:.1f} s", flush=True)
    store.dispose()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--orders", "--customers", type=int, default=100_000, help="due renewals to bill")
    parser.add_argument("--db", help="database URL (default: a new SQLite file in a temporary directory)")
    parser.add_argument("--batch", type=int, default=500)
    parser.add_argument("--profile", help="write a cProfile of the run to this file")
    parser.add_argument("--check", action="store_true",
                        help="afterwards, check each order billed and charged once, and audit the timeline "
                             "chains and money seals (timeline verify) and the aggregates (audit money)")
    args = parser.parse_args()
    # A batch that fails falls back to one order at a time: slower, not wrong; the warning says why.
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    url = args.db or f"sqlite:///{Path(tempfile.mkdtemp()) / 'bench-billing.db'}"

    child = multiprocessing.get_context("spawn").Process(target=build, args=(url, args.orders))
    child.start()
    child.join()
    if child.exitcode != 0:
        raise SystemExit(f"building the orders failed ({child.exitcode})")

    from agentdesk.config import load_settings
    from agentdesk.db.store import Store
    from agentdesk.services.billing.engine import run_billing

    settings = load_settings(url)
    store = Store(url, key_file=settings.key_file, data_dir=settings.data_dir)
    before = rss_mib()
    highest = [before]
    done = threading.Event()

    def sample() -> None:
        while not done.wait(0.5):
            highest[0] = max(highest[0], rss_mib())

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    started = time.perf_counter()
    if args.profile:
        import cProfile

        profiler = cProfile.Profile()
        report = profiler.runcall(run_billing, store, settings, None, args.batch)
        profiler.dump_stats(args.profile)
    else:
        report = run_billing(store, settings, batch=args.batch)
    elapsed = time.perf_counter() - started
    done.set()
    sampler.join()
    after = rss_mib()
    print(f"database        {store.engine.dialect.name}  ({url if args.db else url.removeprefix('sqlite:///')})")
    print(f"report          {report.summary()}")
    print(f"renewals        {report.invoiced:,} in {elapsed:.1f} s  = {report.invoiced / elapsed:,.0f} renewals/s")
    print(f"memory          {before:.0f} MiB before, {after:.0f} MiB after, {highest[0]:.0f} MiB highest sampled")
    print(f"peak RSS        {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB")
    if args.check:
        check(store)
    store.dispose()


def check(store: Any) -> None:
    """Exactly once (one invoice per order period, one approved payment and one sandbox sale per invoice),
    then `audit verify` and `audit money` over the whole store; exits non-zero on any problem."""
    from sqlalchemy import func, select
    from sqlmodel import col

    from agentdesk.db.models import Invoice, Order, SandboxOperation, Transaction
    from agentdesk.domain.permissions import SYSTEM
    from agentdesk.services.money.audit import audit_money
    from agentdesk.services.timeline.audit import verify

    with store.read() as session:
        orders = session.execute(select(func.count()).select_from(Order)).scalar_one()
        invoices = session.execute(select(func.count()).select_from(Invoice)).scalar_one()
        keys = session.execute(select(func.count(func.distinct(Invoice.billing_key)))).scalar_one()
        approved = session.execute(select(func.count()).select_from(Transaction)
                                   .where(col(Transaction.status) == "approved")).scalar_one()
        sales = session.execute(select(func.count()).select_from(SandboxOperation)
                                .where(col(SandboxOperation.operation) == "sale")).scalar_one()
    chains = verify(store, SYSTEM)
    money = audit_money(store, SYSTEM)
    print(f"exactly once    {orders:,} orders, {invoices:,} invoices ({keys:,} billing keys), "
          f"{approved:,} approved payments, {sales:,} sandbox sales")
    print(f"audit verify    {chains.events:,} events, {chains.money_rows:,} money rows, "
          f"{len(chains.findings)} findings")
    print(f"audit money     {money.customers:,} customers, {len(money.mismatches)} mismatches")
    for finding in chains.findings[:5]:
        print(f"  {finding}")
    for mismatch in money.mismatches[:5]:
        print(f"  {mismatch}")
    if not (orders == invoices == keys == approved == sales) or chains.findings or money.mismatches:
        raise SystemExit("check failed")


if __name__ == "__main__":
    main()
