"""The order builder's two service calls at scale: the preview, and placing the order with the sandbox.

    .venv/bin/python benchmarks/demo_build.py --customers 1000000 --keep /tmp/bench-1m.db
    .venv/bin/python benchmarks/order_builder.py --db sqlite:////tmp/bench-1m.db
    .venv/bin/python benchmarks/order_builder.py --customers 100000      # builds a demo store in a temp dir

Builds the demo store when the one named is empty (or none is named), then, for random demo
customers with an active card, previews a subscription in their currency (a plan without a trial,
so every order is charged today) and places it for the previewed total: the order, its first
invoice, the welcome email, and the payment through the sandbox gateway. Prints median and p95 of
each (targets: preview <= 30 ms, create <= 50 ms median). Each run adds orders to the store.
"""

from __future__ import annotations

import argparse
import os
import random
import resource
import statistics
import tempfile
import time
from pathlib import Path

from sqlalchemy import text

from agentdesk.config import load_settings
from agentdesk.db.store import Store
from agentdesk.demo import builder as demo
from agentdesk.services.agents.identity import resolve_actor
from agentdesk.services.orders.create import create_order
from agentdesk.services.orders.preview import preview_order
from agentdesk.services.orders.requests import ItemRequest, OrderRequest
from agentdesk.services.risk.blocklist import Blocked


def stats(samples: list[float]) -> str:
    ms = sorted(s * 1000 for s in samples)
    p95 = ms[min(len(ms) - 1, round(0.95 * (len(ms) - 1)))]
    return f"median {statistics.median(ms):7.2f} ms   p95 {p95:7.2f} ms   max {ms[-1]:7.2f} ms   (n={len(ms)})"


def plans_by_currency(store: Store) -> dict[str, list[str]]:
    with store.read() as s:
        rows = s.execute(text(
            "SELECT p.code, p.currency FROM plan p JOIN product d ON d.id = p.product_id "
            "WHERE p.active AND d.active AND p.kind = 'subscription' AND p.trial_days = 0 AND p.trial_price = 0 "
            "AND p.billing_timing = 'advance' AND NOT d.requires_shipping ORDER BY p.code")).all()
    found: dict[str, list[str]] = {}
    for code, currency in rows:
        found.setdefault(currency, []).append(code)
    return found


def buyers(store: Store, rng: random.Random, wanted: int, plans: dict[str, list[str]]) -> list[tuple[str, str]]:
    """(customer id, plan code) for random customers with an active card and a plan in their currency."""
    with store.read() as s:
        top = s.execute(text("SELECT MAX(id) FROM customer")).scalar_one()
        picked: list[tuple[str, str]] = []
        seen: set[int] = set()
        while len(picked) < wanted and len(seen) < top:
            ids = [i for i in (rng.randint(1, top) for _ in range(wanted * 2)) if i not in seen]
            seen.update(ids)
            rows = s.execute(text(
                "SELECT c.external_id, c.currency FROM customer c WHERE c.id IN ({}) AND NOT c.blocked "
                "AND c.merged_into_id IS NULL AND EXISTS (SELECT 1 FROM payment_instrument i WHERE "
                "i.customer_id = c.id AND i.status = 'active' AND i.gateway_token IS NOT NULL)".format(
                    ",".join(map(str, ids)))
            )).all()
            picked += [(ref, rng.choice(plans[cur])) for ref, cur in rows if cur in plans]
    return picked[:wanted]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--db", help="database URL (default: a new SQLite file in a temp dir)")
    parser.add_argument("--customers", type=int, default=1_000_000, help="demo size when the store is empty")
    parser.add_argument("--runs", type=int, default=200)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    url = args.db or f"sqlite:///{Path(tempfile.mkdtemp()) / 'bench-orders.db'}"
    login = os.environ.get("USER") or "bench"
    store = Store(url)
    store.upgrade()
    if demo.store_is_empty(store):
        started = time.perf_counter()
        demo.build_demo(store, args.customers, seed=1, login=login)
        print(f"built a {args.customers:,}-customer demo in {time.perf_counter() - started:.0f} s")
    actor = resolve_actor(store, login)
    settings = load_settings(url)
    with store.read() as s:
        customers = s.execute(text("SELECT COUNT(*) FROM customer")).scalar_one()
    plans = plans_by_currency(store)
    rng = random.Random(args.seed)
    previews: list[float] = []
    creates: list[float] = []
    outcomes: dict[str, int] = {}
    blocked = 0
    for ref, code in buyers(store, rng, args.runs, plans):
        request = OrderRequest(ref, [ItemRequest(code)])
        started = time.perf_counter()
        preview = preview_order(store, actor, request)
        previews.append(time.perf_counter() - started)
        started = time.perf_counter()
        try:
            result = create_order(store, actor, settings, request, expected_total=preview.total_today)
        except Blocked:
            blocked += 1
            continue
        creates.append(time.perf_counter() - started)
        outcomes[result.payment] = outcomes.get(result.payment, 0) + 1
    print(f"store          {store.engine.dialect.name}, {customers:,} customers ({url})")
    print(f"preview_order  {stats(previews)}")
    print(f"create_order   {stats(creates)}  (sandbox; payments: "
          + ", ".join(f"{k} {v}" for k, v in sorted(outcomes.items())) + f"; blocklisted {blocked})")
    print(f"peak RSS       {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB")
    store.dispose()


if __name__ == "__main__":
    main()
