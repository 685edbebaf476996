"""The catalog: import (validated, refused whole, upsert), listing, type-ahead, shipping rates, permissions."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import func, select

from agentdesk.db.models import Order, OrderItem, Plan, Product, ShippingRate
from agentdesk.domain.enums import BillingTiming, OrderKind, OrderStatus, PlanInterval, PlanKind, Role
from agentdesk.domain.errors import InvalidInput, NotFound, PermissionDenied
from agentdesk.services.catalog import service as catalog
from agentdesk.services.catalog.spec import demo_catalog
from agentdesk.services.customers import records as customers

from ..conftest import add_roles, add_website, customer_input

BASE = """
[[products]]
sku = "BOX"
name = "Coffee box"
description = "Beans by post"
requires_shipping = true
options = { grind = ["whole", "fine"] }
plans = [
  { code = "box-m", name = "Box monthly", price = 1500, currency = "USD", interval = "month", trial_days = 14 },
  { code = "box-once", name = "One box", kind = "one_time", price = 1800, currency = "USD" },
]

[[products]]
sku = "CLUB"
name = "Tasting club"

[[products.plans]]
code = "club-w"
name = "Club weekly"
price = 500
currency = "EUR"
interval = "week"
cycles = 12
setup_fee = 900

[[products.plans]]
code = "club-usage"
name = "Club tastings"
price = 0
currency = "EUR"
interval = "month"
billing_timing = "arrears"
metered_unit_price = 250
invoice_issue_days = 2
invoice_due_days = 10
commission_rate_bp = 1200

[[shipping]]
country = "US"
currency = "USD"
amount = 500

[[shipping]]
country = "*"
currency = "USD"
amount = 2000
"""


@pytest.fixture
def sqlite_admin(sqlite_store):
    add_website(sqlite_store)
    return sqlite_store, add_roles(sqlite_store)[Role.ADMIN]


def write(tmp_path, text: str, name: str = "catalog.toml"):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def counts(store) -> tuple[int, int, int]:
    with store.read() as s:
        return tuple(s.execute(select(func.count()).select_from(model)).scalar_one()  # type: ignore[return-value]
                     for model in (Product, Plan, ShippingRate))


def test_a_valid_file_is_imported_with_every_term(store, admin, tmp_path):
    report = catalog.import_catalog(store, admin, write(tmp_path, BASE))
    assert report.to_dict() == {"products_added": 2, "products_updated": 0, "plans_added": 4, "plans_updated": 0,
                                "shipping_rates": 2}
    assert counts(store) == (2, 4, 2)
    with store.read() as s:
        plans = {p.code: p for p in s.execute(select(Plan)).scalars()}
        box = s.execute(select(Product).where(Product.sku == "BOX")).scalar_one()
    assert box.requires_shipping and box.options == {"grind": ["whole", "fine"]}
    assert plans["box-m"].kind is PlanKind.SUBSCRIPTION and plans["box-m"].interval is PlanInterval.MONTH
    assert plans["box-m"].trial_days == 14
    assert plans["box-once"].kind is PlanKind.ONE_TIME and plans["box-once"].interval is PlanInterval.ONE_TIME
    assert (plans["club-w"].cycles, plans["club-w"].setup_fee, plans["club-w"].interval) == (12, 900, PlanInterval.WEEK)
    usage = plans["club-usage"]
    assert usage.billing_timing is BillingTiming.ARREARS and usage.metered_unit_price == 250
    assert (usage.invoice_issue_days, usage.invoice_due_days, usage.commission_rate_bp) == (2, 10, 1200)

    again = catalog.import_catalog(store, admin, write(tmp_path, BASE))
    assert again.to_dict() == {"products_added": 0, "products_updated": 0, "plans_added": 0, "plans_updated": 0,
                               "shipping_rates": 0}
    assert counts(store) == (2, 4, 2)


def test_the_packaged_demo_catalog_imports_and_covers_every_kind(store, admin):
    from importlib import resources

    path = resources.files("agentdesk.demo.data").joinpath("catalog.toml")
    report = catalog.import_catalog(store, admin, str(path))
    spec = demo_catalog()
    assert report.plans_added == sum(len(p.plans) for p in spec.products)
    assert report.shipping_rates == len(spec.shipping)
    plans = [plan for product in catalog.list_catalog(store, admin) for plan in product.plans]
    assert {p.kind for p in plans} == set(PlanKind)
    assert {p.interval for p in plans} >= {PlanInterval.ONE_TIME, PlanInterval.WEEK, PlanInterval.MONTH,
                                           PlanInterval.YEAR}
    assert any(p.cycles for p in plans) and any(p.setup_fee for p in plans)
    assert any(p.trial_days and not p.trial_price for p in plans) and any(p.trial_price for p in plans)
    assert any(p.billing_timing is BillingTiming.ARREARS and p.metered_unit_price for p in plans)
    assert any(p.invoice_issue_days and p.invoice_due_days for p in plans)
    assert any(p.commission_rate_bp for p in plans) and any(p.requires_shipping for p in plans)


BAD_ENTRIES = [
    # (what, replace this, with this, field named, message part)
    ("an unknown interval", 'interval = "week"', 'interval = "fortnight"', "products[1].plans[0].interval",
     "must be day, week, month or year"),
    ("a negative price", "price = 500", "price = -5", "products[1].plans[0].price", "must not be negative"),
    ("a price in major units", "price = 1800", "price = 18.00", "products[0].plans[1].price", "whole number"),
    ("a price as text", "price = 1500", 'price = "15.00"', "products[0].plans[0].price", "whole number"),
    ("an unknown kind", 'kind = "one_time"', 'kind = "lifetime"', "products[0].plans[1].kind",
     "must be one_time, subscription or trial_only"),
    ("an unknown field", 'trial_days = 14 }', 'trial_days = 14, colour = "red" }', "products[0].plans[0].colour",
     "not a field"),
    ("an unknown product field", 'sku = "CLUB"', 'sku = "CLUB"\nweight = 3', "products[1].weight", "not a field"),
    ("a missing code", '{ code = "box-once", ', "{ ", "products[0].plans[1].code", "is required"),
    ("an unknown currency", 'currency = "EUR"', 'currency = "XYZ"',
     "products[1].plans[0].currency", "not a supported ISO 4217"),
    ("a plan code twice", 'code = "club-usage"', 'code = "box-m"', "products[1].plans[1].code", "also products[0]"),
    ("a SKU twice", 'sku = "CLUB"', 'sku = "BOX"', "products[1].sku", "also products[0]"),
    ("a trial price without a trial", "cycles = 12", "cycles = 12\ntrial_price = 100",
     "products[1].plans[0].trial_price", "needs trial_days"),
    ("a metered price billed in advance", 'billing_timing = "arrears"\n', "",
     "products[1].plans[1].metered_unit_price", "in arrears"),
    ("a one-time plan with a trial", 'kind = "one_time", price = 1800',
     'kind = "one_time", trial_days = 3, price = 1800', "products[0].plans[1].trial_days", "one-time"),
    ("a one-time interval without the kind", 'kind = "one_time", price = 1800', 'interval = "one_time", price = 1800',
     "products[0].plans[1].interval", 'kind = "one_time"'),
    ("a period too long", 'interval = "week"', 'interval = "week"\ninterval_count = 600',
     "products[1].plans[0].interval_count", "from 1 to 520"),
    ("zero cycles", "cycles = 12", "cycles = 0", "products[1].plans[0].cycles", "at least 1"),
    ("a commission above 100 %", "commission_rate_bp = 1200", "commission_rate_bp = 12000",
     "products[1].plans[1].commission_rate_bp", "from 0 to 10000"),
    ("an empty name", 'name = "Tasting club"', 'name = "  "', "products[1].name", "must not be empty"),
    ("a control character in a name", 'name = "One box"', 'name = "One\\u001b[31mbox"', "products[0].plans[1].name",
     "control character"),
    ("a SKU with spaces", 'sku = "BOX"', 'sku = "BOX 2"', "products[0].sku", "letters, digits"),
    ("an option without values", 'grind = ["whole", "fine"]', "grind = []", "products[0].options.grind",
     "at least one value"),
    ("a lower-case country", 'country = "US"', 'country = "us"', "shipping[0].country", "two-letter"),
    ("a shipping rate twice", 'country = "*"', 'country = "US"', "shipping[1].country", "also shipping[0]"),
    ("a negative shipping amount", "amount = 2000", "amount = -1", "shipping[1].amount", "must not be negative"),
    ("a trial-only plan without a trial", 'kind = "one_time", price = 1800, currency = "USD" }',
     'kind = "trial_only", price = 0, currency = "USD", interval = "week" }', "products[0].plans[1].trial_days",
     "trial-only"),
    ("an unknown section", "[[shipping]]\ncountry = \"US\"", "[[shipment]]\ncountry = \"US\"", "shipment",
     "not a field"),
]


@pytest.mark.parametrize(("what", "old", "new", "where", "why"), BAD_ENTRIES, ids=[c[0] for c in BAD_ENTRIES])
def test_a_bad_entry_refuses_the_whole_file_naming_entry_and_field(sqlite_admin, tmp_path, what, old, new, where,
                                                                   why):
    """Refused before the store is touched, so one database is enough (a refusal on both is tested below)."""
    store, admin = sqlite_admin
    assert old in BASE, what
    with pytest.raises(InvalidInput) as refused:
        catalog.import_catalog(store, admin, write(tmp_path, BASE.replace(old, new, 1)))
    assert where in refused.value.fields, refused.value.fields
    assert why in refused.value.fields[where]
    assert f"{where}: " in str(refused.value) and "nothing imported" in str(refused.value)
    assert counts(store) == (0, 0, 0)


def test_every_problem_is_named_at_once(store, admin, tmp_path):
    text = BASE.replace('interval = "week"', 'interval = "fortnight"').replace("price = 1800", "price = -1")
    with pytest.raises(InvalidInput) as refused:
        catalog.import_catalog(store, admin, write(tmp_path, text.replace('country = "us"', 'country = "usa"')))
    assert {"products[1].plans[0].interval", "products[0].plans[1].price"} <= set(refused.value.fields)


@pytest.mark.parametrize(("content", "why"), [
    (b"[[products]\nsku = 1", "not valid TOML"),
    (b'[[products]]\nsku = "\xff"', "not UTF-8"),
])
def test_a_file_that_is_not_toml_is_refused(store, admin, tmp_path, content, why):
    path = tmp_path / "broken.toml"
    path.write_bytes(content)
    with pytest.raises(InvalidInput, match=why):
        catalog.import_catalog(store, admin, path)
    with pytest.raises(InvalidInput, match="does not exist"):
        catalog.import_catalog(store, admin, tmp_path / "missing.toml")
    assert counts(store) == (0, 0, 0)


def test_a_refused_import_leaves_the_previous_catalog_as_it_was(store, admin, tmp_path):
    catalog.import_catalog(store, admin, write(tmp_path, BASE))
    # A valid change to one plan and a bad entry elsewhere: neither is kept.
    text = BASE.replace("price = 1500", "price = 1700").replace('country = "*"', 'country = "Mars"')
    with pytest.raises(InvalidInput, match=r"shipping\[1\]\.country"):
        catalog.import_catalog(store, admin, write(tmp_path, text))
    with store.read() as s:
        assert s.execute(select(Plan.price).where(Plan.code == "box-m")).scalar_one() == 1500
    # A plan cannot move to another product: refused, naming the entry, nothing written.
    moved = BASE.replace('{ code = "box-once", name = "One box", kind = "one_time", price = 1800, currency = "USD" },',
                         "").replace('[[products.plans]]\ncode = "club-w"',
                                     '[[products.plans]]\ncode = "box-once"\nname = "One box"\nkind = "one_time"\n'
                                     'price = 1900\ncurrency = "USD"\n\n[[products.plans]]\ncode = "club-w"')
    with pytest.raises(InvalidInput) as refused:
        catalog.import_catalog(store, admin, write(tmp_path, moved))
    assert "products[1].plans[0].code" in refused.value.fields and "BOX" in str(refused.value)
    with store.read() as s:
        assert s.execute(select(Plan.price).where(Plan.code == "box-once")).scalar_one() == 1800


def test_an_upsert_changes_the_catalog_but_never_an_existing_orders_terms(store, admin, tmp_path):
    catalog.import_catalog(store, admin, write(tmp_path, BASE))
    buyer = customers.create_customer(store, admin, customer_input())
    with store.write(unrecorded="a test order written directly") as s:
        plan = catalog.plan_by_code(s, "box-m")
        order = Order(number="ORD-T1", customer_id=buyer.id, website_id=1, kind=OrderKind.SUBSCRIPTION,
                      status=OrderStatus.ACTIVE, currency="USD", total=plan.price,
                      created_at=datetime(2026, 1, 1, tzinfo=UTC))
        s.add(order)
        s.flush()
        s.add(OrderItem(order_id=order.id, plan_id=plan.id, quantity=1, unit_price=plan.price, currency="USD",
                        kind=plan.kind, interval=plan.interval, trial_days=plan.trial_days))
    changed = (BASE.replace("price = 1500", "price = 1700").replace("trial_days = 14", "trial_days = 7")
               .replace('{ code = "box-once", name = "One box", kind = "one_time", price = 1800, currency = "USD" },',
                        "")
               .replace('name = "Tasting club"', 'name = "Tasting club"\nactive = false')
               .replace("amount = 2000", "amount = 2500"))
    report = catalog.import_catalog(store, admin, write(tmp_path, changed))
    assert report.to_dict() == {"products_added": 0, "products_updated": 1, "plans_added": 0, "plans_updated": 1,
                                "shipping_rates": 1}
    with store.read() as s:
        item = s.execute(select(OrderItem)).scalar_one()
        plans = {p.code: p for p in s.execute(select(Plan)).scalars()}
        assert s.execute(select(Order.total)).scalar_one() == 1500
        assert catalog.shipping_rate(s, "FR", "USD") == 2500
    assert (item.unit_price, item.trial_days) == (1500, 14)
    assert (plans["box-m"].price, plans["box-m"].trial_days) == (1700, 7)
    assert plans["box-once"].price == 1800 and plans["box-once"].active  # left out of the file: kept as it was
    listed = catalog.list_catalog(store, admin)
    assert [p.sku for p in listed] == ["BOX"]
    everything = catalog.list_catalog(store, admin, include_inactive=True)
    assert [(p.sku, p.active) for p in everything] == [("BOX", True), ("CLUB", False)]
    assert everything[0].to_dict()["plans"][0]["interval"] == "month"


def test_search_plans_is_a_type_ahead_over_code_name_product_and_sku(store, admin, tmp_path):
    catalog.import_catalog(store, admin, write(tmp_path, BASE))
    codes = lambda text, **kw: [p.code for p in catalog.search_plans(store, admin, text, **kw)]  # noqa: E731
    assert codes("box") == ["box-m", "box-once"]
    assert codes("BOX-O") == ["box-once"]
    assert codes("tasting") == ["club-usage", "club-w"]  # the product's name, any case
    assert codes("club") == ["club-usage", "club-w"]  # the SKU
    assert codes("weekly") == ["club-w"]  # the plan's name
    assert codes("once") == ["box-once"]  # inside the code
    assert codes("b") == ["box-m", "box-once", "club-usage", "club-w"]
    assert codes("e", limit=2) == codes("e")[:2]
    assert codes("", currency="eur") == ["club-usage", "club-w"]
    assert codes("%") == [] and codes("_") == []
    assert codes("zzz") == []
    # Prefix matches come before matches inside a word.
    assert codes("m")[0] == "box-m"
    info = catalog.search_plans(store, admin, "club-w")[0]
    assert (info.product_sku, info.product_name, info.setup_fee, info.cycles) == ("CLUB", "Tasting club", 900, 12)
    catalog.import_catalog(store, admin, write(tmp_path, BASE.replace(
        'code = "club-w"', 'code = "club-w"\nactive = false')))
    assert codes("club") == ["club-usage"]
    with store.read() as s:
        with pytest.raises(NotFound, match="no plan club-w"):
            catalog.plan_by_code(s, "club-w")
        with pytest.raises(NotFound, match="no plan nope"):
            catalog.plan_by_code(s, "nope")
        assert catalog.plan_by_code(s, "club-usage").metered_unit_price == 250


def test_shipping_rate_is_the_countrys_then_the_wildcard(store, admin, tmp_path):
    catalog.import_catalog(store, admin, write(tmp_path, BASE))
    with store.read() as s:
        assert catalog.shipping_rate(s, "US", "USD") == 500
        assert catalog.shipping_rate(s, "us", "usd") == 500
        assert catalog.shipping_rate(s, "DE", "USD") == 2000
        assert catalog.shipping_rate(s, "US", "EUR") is None


@pytest.mark.parametrize("role", [Role.AGENT, Role.SALES, Role.FINANCE])
def test_only_admins_import_and_everyone_reads(store, actors, tmp_path, role):
    with pytest.raises(PermissionDenied, match="import the catalog"):
        catalog.import_catalog(store, actors[role], write(tmp_path, BASE))
    assert counts(store) == (0, 0, 0)
    catalog.import_catalog(store, actors[Role.ADMIN], write(tmp_path, BASE))
    assert [p.sku for p in catalog.list_catalog(store, actors[role])] == ["BOX", "CLUB"]
    assert [p.code for p in catalog.search_plans(store, actors[role], "box")] == ["box-m", "box-once"]
