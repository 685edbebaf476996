"""Migration 0017 on a store filled at revision 0016: plans get their kind, items a copy of their plan's
terms, orders their cycles billed and current period end (SQLite and PostgreSQL)."""

from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy import text

from agentdesk.config import load_settings
from agentdesk.db.store import Store
from agentdesk.domain.enums import PlanInterval, PlanKind
from agentdesk.domain.permissions import SYSTEM
from agentdesk.services.catalog import service as catalog

NOW = "2026-06-01 10:00:00"


def fill_at_0016(store: Store) -> None:
    """What a store of the previous version holds, written with plain SQL against its schema."""
    rows = [
        ("INSERT INTO website (id, code, name, url, default_currency, gateway)"
         " VALUES (1, 'shop', 'Shop', 'https://shop.example', 'USD', 'sandbox')"),
        ("INSERT INTO customer (id, external_id, website_id, first_name, last_name, currency, payment_count,"
         " lifetime_value, created_at, updated_at) VALUES (1, 'C-1', 1, 'Ada', 'Lovelace', 'USD', 4, 0, :now, :now)"),
        "INSERT INTO product (id, sku, name) VALUES (1, 'BOX', 'Coffee box')",
        ("INSERT INTO plan (id, product_id, code, name, price, currency, interval, interval_count, trial_days)"
         " VALUES (1, 1, 'box-q', 'Box quarterly', 4200, 'USD', 'month', 3, 7)"),
        ("INSERT INTO plan (id, product_id, code, name, price, currency, interval, interval_count, trial_days)"
         " VALUES (2, 1, 'box-once', 'One box', 1800, 'USD', 'one_time', 1, 0)"),
        ("INSERT INTO orders (id, number, customer_id, website_id, kind, status, currency, total, next_bill_date,"
         " created_at) VALUES (1, 'ORD-00000001', 1, 1, 'subscription', 'active', 'USD', 4200, :next, :now)"),
        ("INSERT INTO orders (id, number, customer_id, website_id, kind, status, currency, total, next_bill_date,"
         " created_at) VALUES (2, 'ORD-00000002', 1, 1, 'one_time', 'completed', 'USD', 3600, NULL, :now)"),
        ("INSERT INTO orders (id, number, customer_id, website_id, kind, status, currency, total, next_bill_date,"
         " created_at) VALUES (3, 'ORD-00000003', 1, 1, 'subscription', 'cancelled', 'USD', 4200, NULL, :now)"),
        ("INSERT INTO order_item (id, order_id, plan_id, quantity, unit_price, currency)"
         " VALUES (1, 1, 1, 1, 3900, 'USD')"),
        ("INSERT INTO order_item (id, order_id, plan_id, quantity, unit_price, currency)"
         " VALUES (2, 2, 2, 2, 1800, 'USD')"),
        ("INSERT INTO order_item (id, order_id, plan_id, quantity, unit_price, currency)"
         " VALUES (3, 3, 1, 1, 4200, 'USD')"),
    ]
    sales = [(1, 1, "sale"), (2, 1, "sale"), (3, 1, "sale"), (4, 2, "sale"), (5, 1, "refund")]
    with store.engine.begin() as connection:
        for sql in rows:
            connection.execute(text(sql), {"now": NOW, "next": date(2026, 9, 1)})
        for tid, order_id, kind in sales:
            connection.execute(text(
                'INSERT INTO "transaction" (id, customer_id, order_id, type, status, amount, currency, settled,'
                " gateway, created_at) VALUES (:id, 1, :order, :type, 'approved', 1000, 'USD', true, 'sandbox', :now)"),
                {"id": tid, "order": order_id, "type": kind, "now": NOW})


@pytest.fixture(params=["sqlite", pytest.param("pg", marks=pytest.mark.pg)])
def old_store(request, tmp_path):
    url = f"sqlite:///{tmp_path / 'old.db'}" if request.param == "sqlite" else request.getfixturevalue("pg_url")
    settings = load_settings(url)
    store = Store(url, key_file=settings.key_file, data_dir=settings.data_dir)
    store.upgrade("0016")
    yield store
    store.dispose()


def test_0017_copies_plan_terms_onto_items_and_counts_billed_cycles(old_store):
    assert old_store.current_revision() == "0016"
    fill_at_0016(old_store)
    old_store.upgrade()
    assert old_store.is_current()
    with old_store.engine.connect() as connection:
        q = lambda sql: connection.execute(text(sql)).all()  # noqa: E731
        plans = dict(q("SELECT code, kind FROM plan"))
        items = {r[0]: tuple(r[1:]) for r in q(
            "SELECT id, kind, interval, interval_count, trial_days, unit_price, quantity, setup_fee, billing_timing,"
            " customised FROM order_item")}
        orders = {r[0]: tuple(r[1:]) for r in q(
            "SELECT id, cycles_billed, period_end, autopay, in_credit_control, shipping_amount FROM orders")}
        product = q("SELECT requires_shipping, active FROM product")[0]
    assert plans == {"box-q": "subscription", "box-once": "one_time"}
    # Terms come from the plan; what the order agreed (price, quantity) stays the order's.
    assert items[1][:6] == ("subscription", "month", 3, 7, 3900, 1)
    assert items[2][:6] == ("one_time", "one_time", 1, 0, 1800, 2)
    assert items[3][:4] == ("subscription", "month", 3, 7)
    assert all(item[6:8] == (0, "advance") for item in items.values())
    assert all(item[8] in ("[]", []) for item in items.values())
    # Cycles billed are the order's sales (a refund is not one); the current period ends on the next bill date.
    assert (orders[1][0], str(orders[1][1])) == (3, "2026-09-01")  # SQLite gives the date as text
    assert orders[2][:2] == (1, None)
    assert orders[3][:2] == (0, None)
    assert all(bool(o[2]) and not o[3] and o[4] == 0 for o in orders.values())
    assert tuple(map(bool, product)) == (False, True)

    products = catalog.list_catalog(old_store, SYSTEM)
    assert [(p.code, p.kind, p.interval) for p in products[0].plans] == [
        ("box-q", PlanKind.SUBSCRIPTION, PlanInterval.MONTH), ("box-once", PlanKind.ONE_TIME, PlanInterval.ONE_TIME)]
