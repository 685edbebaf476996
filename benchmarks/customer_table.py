"""Customer table at scale: service latencies, and the console driven headless through the pilot.

    .venv/bin/python benchmarks/demo_build.py --customers 1000000 --keep /tmp/bench-1m.db
    .venv/bin/python benchmarks/customer_table.py --db sqlite:////tmp/bench-1m.db
    .venv/bin/python benchmarks/customer_table.py --db postgresql+psycopg://postgres@127.0.0.1/bench1m --no-console

Prints median and p95 of: 50 varied searches (name and email fragments, phone
digits typed several ways, exact ids, card last four), the first page of each
segment and sort, a page 900,000 rows deep via keyset, segment counts; then,
at 100x30 through the pilot: keystroke to updated table, Page Down to the next
page drawn, and the console's peak RSS after scrolling deep.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import resource
import statistics
import time

from sqlalchemy import text

from agentdesk.db.store import Store
from agentdesk.services.agents.identity import resolve_actor
from agentdesk.services.customers.filters import CustomerQuery, Segment, SortKey
from agentdesk.services.customers.search import fetch_page, segment_counts


def stats(samples: list[float]) -> str:
    ms = sorted(s * 1000 for s in samples)
    p95 = ms[min(len(ms) - 1, round(0.95 * (len(ms) - 1)))]
    return f"median {statistics.median(ms):7.2f} ms   p95 {p95:7.2f} ms   max {ms[-1]:7.2f} ms   (n={len(ms)})"


def timed(fn, *args, **kwargs) -> tuple[float, object]:
    started = time.perf_counter()
    result = fn(*args, **kwargs)
    return time.perf_counter() - started, result


def search_terms(store, rng: random.Random) -> list[tuple[str, str]]:
    with store.read() as s:
        top = s.execute(text("SELECT MAX(id) FROM customer")).scalar_one()
        ids = [rng.randint(1, top) for _ in range(10)]
        people = s.execute(
            text(
                "SELECT c.external_id, c.first_name, c.last_name, e.address FROM customer c "
                "JOIN customer_email e ON e.customer_id = c.id AND e.is_primary WHERE c.id IN ({})".format(
                    ",".join(map(str, ids))
                )
            )
        ).all()
        phones = s.execute(
            text("SELECT number, digits FROM customer_phone WHERE customer_id IN ({})".format(",".join(map(str, ids))))
        ).all()
        cards = (
            s.execute(
                text("SELECT last4 FROM payment_instrument WHERE customer_id IN ({})".format(",".join(map(str, ids))))
            )
            .scalars()
            .all()
        )
    terms: list[tuple[str, str]] = []
    for external_id, first, last, email in people:
        terms.append(("name fragment", last[1:5].lower()))
        terms.append(("full name", f"{first} {last[:3]}"))
        terms.append(("email fragment", email.split("@")[0][-8:]))
        terms.append(("exact id", external_id))
        terms.append(("exact email", email))
    for number, digits in phones:
        terms.append(("phone as stored", number))
        terms.append(("phone digits", digits[-7:]))
    for last4 in cards:
        terms.append(("last4", last4))
    terms += [("common 3 letters", "son"), ("common 3 letters", "ann"), ("no match", "zqxj")]
    rng.shuffle(terms)
    return terms[:50]


def services(store, actor) -> None:
    rng = random.Random(7)
    terms = search_terms(store, rng)
    samples, kinds = [], {}
    for kind, term in terms:
        elapsed, _ = timed(fetch_page, store, actor, CustomerQuery(Segment.ALL, term), 50)
        samples.append(elapsed)
        kinds.setdefault(kind, []).append(elapsed)
    print(f"search, 50 varied           {stats(samples)}")
    for kind, values in sorted(kinds.items()):
        print(f"  {kind:<24}  {stats(values)}")

    for segment in Segment:
        for sort in SortKey:
            query = CustomerQuery(segment, sort=sort)
            samples = [timed(fetch_page, store, actor, query, 100)[0] for _ in range(5)]
            print(f"first page {segment.value:<9} {sort.value:<12} {stats(samples)}")

    dialect = store.engine.dialect.name
    for sort, order in [
        (SortKey.NEWEST, "id DESC"),
        (SortKey.LIFETIME_VALUE, "lifetime_value DESC, id DESC"),
        (SortKey.NAME, "last_name DESC, first_name DESC, id DESC"),
    ]:
        with store.read() as s:
            total = s.execute(text("SELECT COUNT(*) FROM customer")).scalar_one()
            depth = min(900_000, total - 200)
            row_id = s.execute(text(f"SELECT id FROM customer ORDER BY {order} LIMIT 1 OFFSET {depth}")).scalar_one()
        anchor = fetch_page(store, actor, CustomerQuery(Segment.ALL, "", sort=sort), 1)
        with store.read() as s:
            from agentdesk.db.models import Customer

            c = s.get(Customer, row_id)
        cursor = {
            SortKey.NEWEST: (c.id,),
            SortKey.LIFETIME_VALUE: (c.lifetime_value, c.id),
            SortKey.NAME: (c.last_name, c.first_name, c.id),
        }[sort]
        query = CustomerQuery(Segment.ALL, sort=sort)
        samples = [timed(fetch_page, store, actor, query, 100, cursor)[0] for _ in range(5)]
        print(f"page {depth:,} deep ({sort.value:<6}) {stats(samples)}   [{dialect}]")
        del anchor

    samples = [timed(segment_counts, store, actor)[0] for _ in range(5)]
    print(f"segment counts              {stats(samples)}")


async def _key(app, key: str, character: str | None = None) -> None:
    """Deliver one key press as the terminal driver would, without the pilot's idle waits."""
    from textual import events

    app.post_message(events.Key(key, character))
    await asyncio.sleep(0)


async def _until(condition, timeout: float = 10.0) -> None:
    deadline = time.perf_counter() + timeout
    while not condition():
        if time.perf_counter() > deadline:
            raise TimeoutError("the console did not update")
        await asyncio.sleep(0.0005)


async def console(store, actor, size=(100, 30)) -> None:
    """Keys are posted to the running app like the terminal driver posts them, and the
    clock stops when the table holds the new rows (the next refresh draws them)."""
    from agentdesk.app import AgentDeskApp
    from agentdesk.config import load_settings
    from agentdesk.ui.widgets.window_table import WindowTable

    app = AgentDeskApp(store, load_settings(store.url), actor)
    async with app.run_test(size=size) as pilot:
        await _until(lambda: bool(app.screen.query(WindowTable)) and bool(app.screen.query_one(WindowTable).rows))
        table = app.screen.query_one(WindowTable)
        await pilot.press("slash")
        keystrokes = []
        for word in ("olivia", "mens", "son", "4155", "anna@", "CUS-0000123", "tanaka"):
            for ch in word:
                before = table.rows
                started = time.perf_counter()
                await _key(app, ch, ch)
                await _until(lambda before=before: table.rows is not before)
                keystrokes.append(time.perf_counter() - started)
                await asyncio.sleep(0.03)
            for _ in word:
                await _key(app, "backspace")
            await pilot.pause(0.2)
            await app.workers.wait_for_complete()
        print(f"keystroke → table updated   {stats(keystrokes)}")
        await pilot.press("escape")
        await app.workers.wait_for_complete()
        await pilot.pause(0.1)

        pages = []
        for _ in range(500):
            before = table.position
            started = time.perf_counter()
            await _key(app, "pagedown")
            await _until(lambda before=before: table.position != before or table.at_end)
            pages.append(time.perf_counter() - started)
            await asyncio.sleep(0.002)
        print(f"Page Down → next page       {stats(pages)}   (reached row {table.position:,})")
        ends = []
        for key in ("end", "home", "end", "home"):
            before = table.rows
            started = time.perf_counter()
            await _key(app, key)
            await _until(lambda before=before: table.rows is not before)
            ends.append(time.perf_counter() - started)
        print(f"End / Home → page loaded    {stats(ends)}")
        for _ in range(500):
            await _key(app, "pageup")
        await pilot.pause(0.2)
        await app.workers.wait_for_complete()
        print(f"rows held by the table      {len(table.rows)} (position {table.position:,})")
    print(f"console peak RSS            {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--db", required=True)
    parser.add_argument("--no-console", action="store_true")
    args = parser.parse_args()
    store = Store(args.db)
    store.ensure_schema()
    actor = resolve_actor(store)
    with store.read() as s:
        print(f"store {args.db}: {s.execute(text('SELECT COUNT(*) FROM customer')).scalar_one():,} customers")
    if not args.no_console:
        asyncio.run(console(store, actor))
    services(store, actor)


if __name__ == "__main__":
    main()
