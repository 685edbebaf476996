"""Filters, sorts and keyset pages of the customer query, checked against the stored rows."""

from datetime import datetime

import pytest
from sqlalchemy import text

from agentdesk.db import search_index
from agentdesk.demo import builder as demo
from agentdesk.domain.errors import InvalidInput
from agentdesk.services.agents import identity
from agentdesk.services.customers import records as customers
from agentdesk.services.customers import tags
from agentdesk.services.customers.filters import CustomerFilters, CustomerQuery, Segment, SortKey, parse_filters
from agentdesk.services.customers.search import count_matching, cursor_for, fetch_page

from ..conftest import customer_input, make_store


@pytest.fixture
def demo_store(store):
    demo.build_demo(store, 400, seed=11, login="op")
    return store


@pytest.fixture
def op(demo_store):
    return identity.resolve_actor(demo_store, "op")


def walk(store, actor, query, limit=37) -> list:
    """Every row of the query, read forward page by page the way the table does."""
    page = fetch_page(store, actor, query, limit)
    rows = list(page.rows)
    while page.more:
        ordered = [r for r in page.rows if not r.exact]
        page = (
            fetch_page(store, actor, query, limit, after=cursor_for(ordered[-1], query.sort))
            if ordered
            else fetch_page(store, actor, query, limit, include_exact=False)
        )
        rows += page.rows
    return rows


def walk_back(store, actor, query, limit=41) -> list:
    page = fetch_page(store, actor, query, limit, backward=True)
    rows = list(page.rows)
    while page.more:
        page = fetch_page(store, actor, query, limit, after=cursor_for(rows[0], query.sort), backward=True)
        rows = page.rows + rows
    return rows


def stored(store, sql: str, **params) -> set[str]:
    with store.read() as s:
        return {r[0] for r in s.execute(text(sql), params).all()}


@pytest.mark.parametrize("sort", list(SortKey))
@pytest.mark.parametrize("descending", [True, False])
def test_every_sort_pages_each_row_once_in_order(demo_store, op, sort, descending):
    query = CustomerQuery(Segment.ALL, sort=sort, descending=descending)
    rows = walk(demo_store, op, query)
    assert len(rows) == 400 and len({r.id for r in rows}) == 400
    assert walk_back(demo_store, op, query) == rows
    keys = [cursor_for(r, sort) for r in rows]
    if sort is SortKey.LAST_PAYMENT:
        paid = [k for k in keys if k[0] is not None]
        assert all(k[0] is None for k in keys[len(paid) :]), "customers who never paid come last"
        unpaid = keys[len(paid) :]
        assert paid == sorted(paid, reverse=descending)
        assert unpaid == sorted(unpaid, key=lambda k: k[1], reverse=descending)
    else:
        assert keys == sorted(keys, reverse=descending)


def test_pages_stay_exact_while_rows_are_inserted(demo_store, op):
    query = CustomerQuery(Segment.ALL, sort=SortKey.NAME, descending=False)
    before = {r.id for r in walk(demo_store, op, query)}
    page = fetch_page(demo_store, op, query, 50)
    seen = [r.id for r in page.rows]
    n = 0
    while page.more:
        n += 1
        for name in ("Aaron", "Mmm", "Zzz"):
            customers.create_customer(
                demo_store,
                op,
                customer_input(external_id=f"ins-{n}-{name}", first_name=name, last_name=name, emails=[], phones=[]),
            )
        page = fetch_page(demo_store, op, query, 50, after=cursor_for(page.rows[-1], query.sort))
        seen += [r.id for r in page.rows]
    assert len(seen) == len(set(seen))
    assert before <= set(seen)


FILTER_CASES = [
    (
        {"country": "de"},
        "SELECT c.external_id FROM customer c "
        "WHERE EXISTS (SELECT 1 FROM address a WHERE a.customer_id = c.id AND a.country = 'DE')",
    ),
    (
        {"website": "lumen-uk"},
        "SELECT c.external_id FROM customer c JOIN website w ON w.id = c.website_id WHERE w.code = 'lumen-uk'",
    ),
    (
        {"currency": "eur", "ltv_min": "50.00"},
        "SELECT external_id FROM customer WHERE currency = 'EUR' AND lifetime_value >= 5000",
    ),
    (
        {"payments_min": "2", "payments_max": "3"},
        "SELECT external_id FROM customer WHERE payment_count BETWEEN 2 AND 3",
    ),
    ({"ltv_max": "0"}, "SELECT external_id FROM customer WHERE lifetime_value <= 0"),
    (
        {"active_subscription": "yes"},
        "SELECT c.external_id FROM customer c WHERE EXISTS (SELECT 1 FROM orders o "
        "WHERE o.customer_id = c.id AND o.kind = 'subscription' AND o.status = 'active')",
    ),
    (
        {"active_subscription": "no"},
        "SELECT c.external_id FROM customer c WHERE NOT EXISTS (SELECT 1 FROM orders o "
        "WHERE o.customer_id = c.id AND o.kind = 'subscription' AND o.status = 'active')",
    ),
    ({"blocked": "no"}, "SELECT external_id FROM customer"),
    ({"blocked": "yes"}, "SELECT external_id FROM customer WHERE 1 = 0"),
]


@pytest.mark.parametrize("values, sql", FILTER_CASES)
def test_each_filter_returns_exactly_the_matching_customers(demo_store, op, values, sql):
    query = CustomerQuery(Segment.ALL, filters=parse_filters(values))
    found = {r.external_id for r in walk(demo_store, op, query)}
    assert found == stored(demo_store, sql)
    assert count_matching(demo_store, op, query) == (len(found), True)


def test_created_range_tag_segment_and_search_combine(demo_store, op):
    for external_id in ("CUS-0000010", "CUS-0000200", "CUS-0000390"):
        tags.add_tag(demo_store, op, external_id, "VIP")
    query = CustomerQuery(Segment.CUSTOMERS, filters=parse_filters({"tag": "vip"}))
    expected = stored(
        demo_store,
        "SELECT c.external_id FROM customer c JOIN customer_tag t ON t.customer_id = c.id "
        "WHERE t.tag = 'vip' AND c.payment_count >= 1",
    )
    assert {r.external_id for r in walk(demo_store, op, query)} == expected
    with demo_store.read() as s:
        day = s.execute(text("SELECT created_at FROM customer WHERE external_id = 'CUS-0000200'")).scalar_one()
    day = (day if isinstance(day, datetime) else datetime.fromisoformat(str(day))).date()
    query = CustomerQuery(
        Segment.ALL, filters=parse_filters({"created_from": day.isoformat(), "created_to": day.isoformat()})
    )
    assert "CUS-0000200" in {r.external_id for r in walk(demo_store, op, query)}
    assert all(r.created_at.date() == day for r in walk(demo_store, op, query))
    query = CustomerQuery(Segment.ALL, search="CUS-00002", filters=parse_filters({"tag": "vip"}))
    assert [r.external_id for r in walk(demo_store, op, query)] == ["CUS-0000200"]


@pytest.mark.parametrize(
    "values, field",
    [
        ({"country": "XX"}, "country"),
        ({"created_from": "yesterday"}, "created_from"),
        ({"payments_min": "-1"}, "payments_min"),
        ({"payments_min": "two"}, "payments_min"),
        ({"ltv_min": "1.234"}, "ltv_min"),
        ({"blocked": "maybe"}, "blocked"),
        ({"payments_min": "5", "payments_max": "2"}, "payments_max"),
        ({"currency": "ABC"}, "currency"),
    ],
)
def test_bad_filters_are_refused_by_field(values, field):
    with pytest.raises(InvalidInput) as refused:
        parse_filters(values)
    assert field in refused.value.fields


def test_filters_round_trip_and_chips():
    filters = parse_filters({"country": "us", "tag": " VIP ", "ltv_min": "10", "currency": "usd", "blocked": "no"})
    assert CustomerFilters.from_dict(filters.to_dict()) == filters
    assert [label for _, label in filters.chips()] == [
        "country US",
        "currency USD",
        "tag vip",
        "LTV ≥ 10.00 USD",
        "not blocked",
    ]
    assert filters.without("tag").tag is None
    with pytest.raises(InvalidInput):
        CustomerFilters.from_dict({"colour": "red"})


def test_search_index_follows_create_and_edit(store, admin):
    customers.create_customer(store, admin, customer_input(first_name="Léa", last_name="Dubois"))
    find = lambda t: [r.external_id for r in fetch_page(store, admin, CustomerQuery(Segment.ALL, t)).rows]  # noqa: E731
    assert find("lea dub") == ["C-1"] and find("LÉA") == ["C-1"] and find("navy.example") == ["C-1"]
    customers.edit_customer(store, admin, "C-1", {"last_name": "Martin", "organization": "Octopus Energy"})
    assert find("dubois") == [] and find("martin") == ["C-1"] and find("octopus") == ["C-1"]


def test_rebuild_matches_incremental_index(demo_store, op):
    with demo_store.read() as s:
        before = s.execute(text("SELECT document FROM customer_search ORDER BY 1")).scalars().all()
    with demo_store.write() as s:
        search_index.rebuild(s.connection())
    with demo_store.read() as s:
        after = s.execute(text("SELECT document FROM customer_search ORDER BY 1")).scalars().all()
    assert before == after and len(after) == 400


def test_count_is_capped_for_broad_searches(demo_store, op):
    query = CustomerQuery(Segment.ALL, "cus-")
    assert count_matching(demo_store, op, query, cap=100) == (100, False)
    assert count_matching(demo_store, op, query) == (400, True)


QUERIES = [
    CustomerQuery(Segment.ALL, "ol"),
    CustomerQuery(Segment.CUSTOMERS, "son", sort=SortKey.NAME),
    CustomerQuery(Segment.ALL, "555"),
    CustomerQuery(Segment.LEADS, "example.org", sort=SortKey.CREATED, descending=False),
    CustomerQuery(Segment.ALL, "CUS-0000123"),
    CustomerQuery(
        Segment.CUSTOMERS, "", filters=parse_filters({"country": "US", "ltv_min": "20"}), sort=SortKey.LIFETIME_VALUE
    ),
    CustomerQuery(Segment.ALL, "müller", sort=SortKey.LAST_PAYMENT),
    CustomerQuery(Segment.ALL, "a_b%"),
]


@pytest.mark.pg
def test_sqlite_and_postgresql_give_the_same_rows(tmp_path, pg_url):
    lite = make_store(f"sqlite:///{tmp_path / 'same.db'}")
    pg = make_store(pg_url)
    for s in (lite, pg):
        demo.build_demo(s, 500, seed=4, login="op")
    a_lite, a_pg = identity.resolve_actor(lite, "op"), identity.resolve_actor(pg, "op")
    for query in QUERIES:
        left = [r.external_id for r in walk(lite, a_lite, query, 23)]
        right = [r.external_id for r in walk(pg, a_pg, query, 23)]
        assert left == right, query
        assert count_matching(lite, a_lite, query) == count_matching(pg, a_pg, query)
    assert any(walk(lite, a_lite, q) for q in QUERIES)
    pg.dispose()
    lite.dispose()
