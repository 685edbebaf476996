"""A customer with 100,000 timeline events: first rows, a type filter, the oldest page, peak memory.

    .venv/bin/python benchmarks/timeline.py --db sqlite:////tmp/bench-timeline.db
    .venv/bin/python benchmarks/timeline.py --db postgresql+psycopg://postgres@127.0.0.1/benchtl

Builds the customer on an empty store (or reuses it), then times the service
calls and the console (headless, 100x30): profile open to the first timeline
rows drawn, a type filter applied, End to the oldest page.
"""

from __future__ import annotations

import argparse
import asyncio
import resource
import statistics
import time
from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select

from agentdesk.db.models import Customer, TimelineEvent
from agentdesk.db.store import Store
from agentdesk.demo import builder as demo
from agentdesk.domain.permissions import SYSTEM
from agentdesk.domain.validation import ContactInput, CustomerInput
from agentdesk.services.agents import identity
from agentdesk.services.customers import records as customers
from agentdesk.services.timeline.catalog import EventType
from agentdesk.services.timeline.read import TimelineFilter, timeline_page
from agentdesk.services.timeline.record import record_event

EVENTS = 100_000
KINDS = [
    EventType.NOTE,
    EventType.EMAIL_SENT,
    EventType.MANUAL_CHARGE,
    EventType.SUBSCRIPTION_BILLED,
    EventType.MANUAL_REFUND,
]


def build(store) -> int:
    if demo.store_is_empty(store):
        demo.build_demo(store, 10, login="bench")
    actor = identity.resolve_actor(store, "bench")
    with store.read() as s:
        found = s.execute(select(Customer.id).where(Customer.external_id == "busy")).scalar_one_or_none()
    if found:
        return found
    detail = customers.create_customer(
        store, actor, CustomerInput("Busy", "Customer", "busy", emails=[ContactInput("busy@example.com")])
    )
    start = datetime(2020, 1, 1, tzinfo=UTC)
    started = time.perf_counter()
    for chunk in range(0, EVENTS, 5_000):
        with store.write() as s:
            for n in range(chunk, chunk + 5_000):
                kind = KINDS[n % len(KINDS)]
                when = start + timedelta(minutes=30 * n)
                attrs = {
                    EventType.NOTE: {"text": f"called about invoice {n}"},
                    EventType.EMAIL_SENT: {"subject": f"receipt {n}", "to": "busy@example.com"},
                    EventType.MANUAL_CHARGE: {"amount": 100 + n % 900, "currency": "USD"},
                    EventType.SUBSCRIPTION_BILLED: {
                        "product": "Plan",
                        "order": f"ORD-{n}",
                        "amount": 999,
                        "currency": "USD",
                    },
                    EventType.MANUAL_REFUND: {"amount": 500, "currency": "USD", "transaction": 1},
                }[kind]
                record_event(s, SYSTEM, detail.id, kind, occurred_at=when, **attrs)
    print(f"built {EVENTS:,} events in {time.perf_counter() - started:.1f} s")
    return detail.id


def stats(samples):
    ms = sorted(x * 1000 for x in samples)
    return f"median {statistics.median(ms):7.2f} ms  max {ms[-1]:7.2f} ms  (n={len(ms)})"


def services(store, actor, cid) -> None:
    samples = []
    for _ in range(5):
        s = time.perf_counter()
        timeline_page(store, actor, cid, None, 100)
        samples.append(time.perf_counter() - s)
    print(f"service first page          {stats(samples)}")
    samples = []
    for _ in range(5):
        s = time.perf_counter()
        timeline_page(store, actor, cid, TimelineFilter(frozenset({"manual_refund"})), 100)
        samples.append(time.perf_counter() - s)
    print(f"service type filter page    {stats(samples)}")
    samples = []
    for _ in range(5):
        s = time.perf_counter()
        timeline_page(store, actor, cid, None, 100, None, True)
        samples.append(time.perf_counter() - s)
    print(f"service oldest page         {stats(samples)}")
    samples = []
    for _ in range(3):
        s = time.perf_counter()
        timeline_page(store, actor, cid, TimelineFilter(text="invoice 4242"), 100)
        samples.append(time.perf_counter() - s)
    print(f"service text search         {stats(samples)}")


async def console(store, actor, cid) -> None:
    from textual import events

    from agentdesk.app import AgentDeskApp
    from agentdesk.config import load_settings
    from agentdesk.services.timeline.read import TimelineFilter as F
    from agentdesk.ui.screens.customer_profile import CustomerProfileScreen
    from agentdesk.ui.screens.timeline import TimelinePanel
    from agentdesk.ui.widgets.window_table import WindowTable

    async def until(cond, limit=20):
        deadline = time.perf_counter() + limit
        while not cond():
            if time.perf_counter() > deadline:
                raise TimeoutError
            await asyncio.sleep(0.0005)

    app = AgentDeskApp(store, load_settings(store.url), actor)
    async with app.run_test(size=(100, 30)) as pilot:
        await until(lambda: bool(app.screen.query(WindowTable)))
        started = time.perf_counter()
        app.push_screen(CustomerProfileScreen(cid))
        await until(
            lambda: (
                bool(app.screen.query(TimelinePanel))
                and bool(app.screen.query_one(TimelinePanel).query_one(WindowTable).rows)
            )
        )
        print(f"console: profile → first timeline rows  {1000 * (time.perf_counter() - started):.1f} ms")
        await pilot.press("3")
        panel = app.screen.query_one(TimelinePanel)
        table = panel.query_one(WindowTable)
        before = table.rows
        started = time.perf_counter()
        panel.filter = F(frozenset({"manual_refund"}))
        panel.reload()
        await until(lambda: table.rows is not before)
        print(f"console: type filter → rows            {1000 * (time.perf_counter() - started):.1f} ms")
        panel.filter = F()
        panel.reload()
        await app.workers.wait_for_complete()
        await pilot.pause(0.1)
        before = table.rows
        started = time.perf_counter()
        app.post_message(events.Key("end", None))
        await until(lambda: table.rows is not before)
        print(
            f"console: End → oldest page             {1000 * (time.perf_counter() - started):.1f} ms  "
            f"(oldest shown: {table.current.occurred_at:%Y-%m-%d})"
        )
        for _ in range(300):
            app.post_message(events.Key("pageup", None))
        await pilot.pause(0.5)
        await app.workers.wait_for_complete()
        print(f"console: rows held after 300 PageUp     {len(table.rows)}")
    print(
        f"peak RSS                                {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB"
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--db", required=True)
    args = parser.parse_args()
    store = Store(args.db)
    store.upgrade()
    cid = build(store)
    actor = identity.resolve_actor(store, "bench")
    with store.read() as s:
        count = s.execute(
            select(func.count()).select_from(TimelineEvent).where(TimelineEvent.customer_id == cid)
        ).scalar_one()
    print(f"store {args.db}: customer 'busy' has {count:,} events")
    asyncio.run(console(store, actor, cid))
    services(store, actor, cid)


if __name__ == "__main__":
    main()
