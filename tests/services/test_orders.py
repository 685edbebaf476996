"""The order service: preview (writes nothing), create (order, items' own terms, coupons, first invoice, payment),
blocklist refusals, declines, roles and reading orders back — on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import func, select, text

from agentdesk.config import load_settings
from agentdesk.db.models import (
    Coupon,
    CouponRedemption,
    CreditMemo,
    Customer,
    Invoice,
    InvoiceLine,
    Job,
    Order,
    OrderItem,
    PaymentInstrument,
    Plan,
    Product,
    ShippingRate,
    TimelineEvent,
    Transaction,
)
from agentdesk.domain import periods
from agentdesk.domain.enums import CouponDuration, CouponKind, PlanInterval, Role
from agentdesk.domain.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from agentdesk.domain.validation import AddressInput
from agentdesk.services.billing.engine import run_billing
from agentdesk.services.billing.invoices import repair_pending_payments
from agentdesk.services.customers import records as customers
from agentdesk.services.money import instruments, payments
from agentdesk.services.orders.create import create_order
from agentdesk.services.orders.preview import preview_order
from agentdesk.services.orders.read import list_orders, order_detail
from agentdesk.services.orders.requests import ItemOverrides, ItemRequest, OrderRequest, ShippingChoice
from agentdesk.services.risk import blocklist

from ..conftest import customer_input

NOW = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)
TODAY = NOW.date()

PLANS = [
    # code, product sku, price, currency, interval, extra terms
    ("basic-m", "STREAM", 899, "USD", "month", {}),
    ("basic-trial", "STREAM", 899, "USD", "month", {"trial_days": 7}),
    ("basic-paid-trial", "STREAM", 899, "USD", "month", {"trial_days": 14, "trial_price": 100}),
    ("basic-w", "STREAM", 300, "USD", "week", {}),
    ("setup-m", "STREAM", 1000, "USD", "month", {"setup_fee": 2500}),
    ("limited-m", "STREAM", 500, "USD", "month", {"cycles": 3}),
    ("metered-m", "STREAM", 200, "USD", "month", {"billing_timing": "arrears", "metered_unit_price": 10}),
    ("basic-m-eur", "STREAM", 799, "EUR", "month", {}),
    ("gift", "GIFT", 2500, "USD", "one_time", {"kind": "one_time"}),
    ("band", "BAND", 6900, "USD", "one_time", {"kind": "one_time"}),
]


def seed_catalog(store) -> None:
    with store.write() as s:
        products = {
            "STREAM": Product(sku="STREAM", name="Streaming"),
            "GIFT": Product(sku="GIFT", name="Gift card"),
            "BAND": Product(sku="BAND", name="Band", requires_shipping=True, options={"size": ["S", "M", "L"]}),
        }
        s.add_all(products.values())
        s.flush()
        for code, sku, price, currency, interval, extra in PLANS:
            s.add(Plan(product_id=products[sku].id, code=code, name=code.replace("-", " ").title(), price=price,
                       currency=currency, interval=PlanInterval(interval), **extra))
        s.add_all([ShippingRate(country="US", currency="USD", amount=500),
                   ShippingRate(country="*", currency="USD", amount=1500)])
        s.add_all([
            Coupon(code="SAVE10", kind=CouponKind.PERCENT, percent_bp=1000, duration=CouponDuration.REPEATING,
                   duration_cycles=2),
            Coupon(code="FIVE", kind=CouponKind.FIXED, amounts={"USD": 500}, duration=CouponDuration.ONCE),
            Coupon(code="FREE", kind=CouponKind.PERCENT, percent_bp=10_000, duration=CouponDuration.ONCE),
            Coupon(code="GIFTONLY", kind=CouponKind.PERCENT, percent_bp=1000, duration=CouponDuration.FOREVER,
                   plan_codes=["gift"]),
        ])


@pytest.fixture
def settings(store, tmp_path):
    return load_settings(store.url, env={"AGENTDESK_DATA_DIR": str(tmp_path / "data")})


@pytest.fixture
def shop(store, admin, settings):
    """The catalog, and customer C-1 (USD, an address in the US, a Visa that approves)."""
    seed_catalog(store)
    customers.create_customer(store, admin, customer_input(
        addresses=[AddressInput("1 Main St", "Springfield", "US"), AddressInput("2 Rue", "Paris", "FR")]))
    instruments.add_card(store, admin, settings, "C-1", "4242424242424242", "12/30")
    return "C-1"


def request(*items: ItemRequest | str, **kwargs) -> OrderRequest:
    return OrderRequest("C-1", [ItemRequest(i) if isinstance(i, str) else i for i in items], **kwargs)


def place(store, actor, settings, req: OrderRequest, now: datetime = NOW):
    preview = preview_order(store, actor, req, now=now)
    return preview, create_order(store, actor, settings, req, expected_total=preview.total_today, now=now)


def rows(store, model, *where):
    with store.read() as s:
        return list(s.execute(select(model).where(*where).order_by(model.id)).scalars())


def count(store, model) -> int:
    with store.read() as s:
        return s.execute(select(func.count()).select_from(model)).scalar_one()


def event_types(store) -> list[str]:
    return [e.type for e in rows(store, TimelineEvent)]


WRITTEN = (Order, OrderItem, Invoice, InvoiceLine, Transaction, Job, CouponRedemption, TimelineEvent)


def snapshot(store) -> dict[str, int]:
    return {model.__name__: count(store, model) for model in WRITTEN}


# --- preview -------------------------------------------------------------------------------


def test_preview_prices_today_and_the_next_two_bills_and_writes_nothing(store, admin, shop):
    before = snapshot(store)
    preview = preview_order(store, admin, request(ItemRequest("basic-m", quantity=2)), now=NOW)
    assert snapshot(store) == before
    assert [(line.kind, line.quantity, line.unit_price, line.amount) for line in preview.lines] == [
        ("item", 2, 899, 1798)]
    assert (preview.subtotal, preview.discount, preview.credit, preview.total_today) == (1798, 0, 0, 1798)
    assert preview.due_now and preview.first_bill_date == TODAY
    assert [(u.date, u.amount) for u in preview.upcoming] == [(date(2026, 4, 10), 1798), (date(2026, 5, 10), 1798)]
    assert preview.to_dict()["upcoming"][0] == {"date": "2026-04-10", "amount": 1798}


def test_subscription_paid_today_starts_with_invoice_payment_events_and_welcome_email(store, admin, settings, shop):
    _, result = place(store, admin, settings, request("basic-m"))
    assert result.payment == "approved" and result.status == "active" and result.total_today == 899
    (order,) = rows(store, Order)
    assert order.number == result.order_number == f"ORD-{order.id:08d}"
    assert (order.kind, order.total, order.agent_id, order.cycles_billed) == ("subscription", 899, admin.agent_id, 1)
    assert (order.period_start, order.period_end, order.next_bill_date) == (TODAY, date(2026, 4, 10),
                                                                            date(2026, 4, 10))
    (invoice,) = rows(store, Invoice)
    assert (invoice.number, invoice.status, invoice.total, invoice.billing_key, invoice.cycle) == (
        result.invoice_number, "paid", 899, f"order-{order.id}-cycle-1", 1)
    (txn,) = rows(store, Transaction)
    assert (txn.status, txn.amount, txn.invoice_id, txn.order_id) == ("approved", 899, invoice.id, order.id)
    assert result.transaction_id == txn.id
    types = event_types(store)
    for kind in ("order_created", "new_purchase", "invoice_issued", "invoice_paid"):
        assert kind in types
    created = rows(store, TimelineEvent, TimelineEvent.type == "order_created")[0]
    assert created.attributes["order"] == order.number and created.attributes["invoice"] == invoice.number
    welcome = rows(store, Job, Job.idempotency_key == f"email-welcome-{order.id}")
    assert len(welcome) == 1 and welcome[0].payload["to"] == "grace@example.com"
    assert order.number in welcome[0].payload["subject"] and "8.99 USD" in welcome[0].payload["body"]


OVERRIDES = [
    ("unit_price", "basic-m", 500),
    ("cycles", "basic-m", 6),
    ("interval", "basic-m", PlanInterval.WEEK),
    ("interval_count", "basic-m", 3),
    ("plan_name", "basic-m", "Friends and family"),
    ("currency", "basic-m-eur", "USD"),
    ("kind", "basic-m", "one_time"),
    ("trial_days", "basic-m", 30),
    ("trial_price", "basic-paid-trial", 250),
    ("setup_fee", "basic-m", 1500),
    ("billing_timing", "basic-m", "arrears"),
    ("invoice_issue_days", "basic-m", 3),
    ("invoice_due_days", "basic-m", 10),
    ("metered_unit_price", "metered-m", 25),
]


@pytest.mark.parametrize(("name", "plan_code", "value"), OVERRIDES, ids=[o[0] for o in OVERRIDES])
def test_each_override_is_saved_on_the_order_item_only(store, admin, settings, shop, name, plan_code, value):
    with store.read() as s:
        plan_before = s.execute(select(Plan).where(Plan.code == plan_code)).scalar_one().model_dump()
    item = ItemRequest(plan_code, overrides=ItemOverrides(**{name: value}))
    preview, result = place(store, admin, settings, request(item))
    (row,) = rows(store, OrderItem)
    assert row.customised == [name]
    stored = getattr(row, name)
    assert stored == value, f"{name}: {stored!r}"
    with store.read() as s:
        assert s.execute(select(Plan).where(Plan.code == plan_code)).scalar_one().model_dump() == plan_before
    effects = {
        "unit_price": lambda: preview.total_today == 500,
        "cycles": lambda: row.cycles == 6,
        "interval": lambda: preview.upcoming[0].date == TODAY + timedelta(weeks=1),
        "interval_count": lambda: preview.upcoming[0].date == periods.add_months(TODAY, 3),
        "plan_name": lambda: preview.lines[0].description == "Friends and family",
        "currency": lambda: preview.currency == "USD" and preview.total_today == 799,
        "kind": lambda: preview.upcoming == [] and result.status == "completed",
        "trial_days": lambda: preview.total_today == 0 and preview.upcoming[0].date == TODAY + timedelta(days=30),
        "trial_price": lambda: preview.total_today == 250,
        "setup_fee": lambda: preview.total_today == 899 + 1500 and preview.upcoming[0].amount == 899,
        "billing_timing": lambda: preview.total_today == 0 and preview.first_bill_date == date(2026, 4, 10),
        "invoice_issue_days": lambda: preview.upcoming[0].date == date(2026, 4, 7)
        == rows(store, Order)[0].next_bill_date,
        "invoice_due_days": lambda: rows(store, Invoice)[0].due_at.date() == TODAY + timedelta(days=10),
        "metered_unit_price": lambda: row.metered_unit_price == 25,
    }
    assert effects[name](), name


def test_an_override_equal_to_the_plan_is_not_customised(store, admin, settings, shop):
    place(store, admin, settings, request(ItemRequest("basic-m", overrides=ItemOverrides(unit_price=899,
                                                                                           plan_name="Basic M"))))
    (row,) = rows(store, OrderItem)
    assert row.customised == [] and row.plan_name is None


def test_free_trial_charges_nothing_now_and_bills_the_full_price_at_trial_end(store, admin, settings, shop):
    preview, result = place(store, admin, settings, request("basic-trial"))
    assert preview.total_today == 0 and not preview.due_now and preview.lines == []
    trial_end = TODAY + timedelta(days=7)
    assert preview.first_bill_date == trial_end
    assert [(u.date, u.amount) for u in preview.upcoming] == [(trial_end, 899),
                                                              (periods.add_months(trial_end, 1), 899)]
    assert result.payment == "not due" and result.status == "active" and result.invoice_number is None
    (order,) = rows(store, Order)
    assert (order.trial_ends_on, order.next_bill_date, order.cycles_billed) == (trial_end, trial_end, 0)
    assert rows(store, Invoice) == [] and rows(store, Transaction) == []


def test_paid_trial_charges_the_trial_price_without_billing_cycle_one(store, admin, settings, shop):
    preview, result = place(store, admin, settings, request("basic-paid-trial"))
    assert preview.total_today == 100 and [line.kind for line in preview.lines] == ["trial"]
    assert preview.upcoming[0] == type(preview.upcoming[0])(TODAY + timedelta(days=14), 899)
    assert result.payment == "approved" and result.status == "active"
    (order,) = rows(store, Order)
    (invoice,) = rows(store, Invoice)
    assert invoice.billing_key == f"order-{order.id}-initial" and invoice.cycle is None
    assert order.cycles_billed == 0, "the engine bills cycle 1 when the trial ends"


def test_setup_fee_comes_with_the_first_invoice_only(store, admin, settings, shop):
    preview, _ = place(store, admin, settings, request("setup-m"))
    assert [(line.kind, line.amount) for line in preview.lines] == [("item", 1000), ("setup_fee", 2500)]
    assert preview.total_today == 3500 and [u.amount for u in preview.upcoming] == [1000, 1000]
    lines = rows(store, InvoiceLine)
    assert sorted(line.kind for line in lines) == ["item", "setup_fee"]
    assert all(line.order_item_id == rows(store, OrderItem)[0].id for line in lines)


def test_shipping_from_the_catalog_by_country_or_manual(store, admin, settings, shop):
    with store.read() as s:
        us, fr = s.execute(select(text("id")).select_from(text("address")).order_by(text("id"))).scalars().all()
    band = ItemRequest("band", options={"size": "M"})
    to_us = preview_order(store, admin, request(band, shipping=ShippingChoice("catalog", address_id=us)), now=NOW)
    assert to_us.total_today == 6900 + 500 and to_us.lines[-1].description == "Shipping to US"
    to_fr = preview_order(store, admin, request(band, shipping=ShippingChoice("catalog", address_id=fr)), now=NOW)
    assert to_fr.total_today == 6900 + 1500, "no FR rate: the '*' rate"
    manual = preview_order(store, admin, request(band, shipping=ShippingChoice("manual", amount=250)), now=NOW)
    assert manual.total_today == 7150
    with pytest.raises(InvalidInput, match="must be shipped"):
        preview_order(store, admin, request(band), now=NOW)
    with pytest.raises(InvalidInput, match="size is one of"):
        preview_order(store, admin, request(ItemRequest("band", options={"size": "XXL"}),
                                            shipping=ShippingChoice("manual", amount=0)), now=NOW)
    defaulted = preview_order(store, admin, request("band", shipping=ShippingChoice("manual", amount=0)), now=NOW)
    assert any("size S" in w for w in defaulted.warnings)
    _, result = place(store, admin, settings, request(band, shipping=ShippingChoice("catalog", address_id=fr)))
    assert result.total_today == 8400
    (order,) = rows(store, Order)
    assert (order.shipping_amount, order.shipping_address_id, order.status) == (1500, fr, "completed")
    assert rows(store, OrderItem)[0].options == {"size": "M"}
    assert [line.kind for line in rows(store, InvoiceLine)] == ["item", "shipping"]


def test_future_start_charges_nothing_today_and_bills_on_the_start_date(store, admin, settings, shop):
    start = TODAY + timedelta(days=10)
    preview, result = place(store, admin, settings, request("basic-m", start_on=start))
    assert preview.total_today == 0 and not preview.due_now and preview.first_bill_date == start
    assert [(u.date, u.amount) for u in preview.upcoming] == [(start, 899), (periods.add_months(start, 1), 899)]
    assert result.payment == "not due" and result.status == "active"
    (order,) = rows(store, Order)
    assert (order.starts_on, order.next_bill_date, order.cycles_billed) == (start, start, 0)
    assert rows(store, Invoice) == [] and rows(store, Transaction) == []
    with pytest.raises(InvalidInput, match="past"):
        preview_order(store, admin, request("basic-m", start_on=TODAY - timedelta(days=1)), now=NOW)


def test_renewal_on_a_chosen_date(store, admin, shop):
    preview = preview_order(store, admin, request("basic-m", renew_on=date(2026, 3, 31)), now=NOW)
    assert [u.date for u in preview.upcoming] == [date(2026, 3, 31), date(2026, 4, 30)]
    with pytest.raises(InvalidInput, match="within one period"):
        preview_order(store, admin, request("basic-m", renew_on=date(2026, 6, 1)), now=NOW)


def test_one_currency_one_period_one_kind_per_order(store, admin, shop):
    with pytest.raises(InvalidInput) as bad:
        preview_order(store, admin, request("basic-m-eur"), now=NOW)
    assert "pays in USD" in bad.value.fields["items[0].currency"]
    with pytest.raises(InvalidInput, match="separate orders"):
        preview_order(store, admin, request("basic-m", "basic-w"), now=NOW)
    with pytest.raises(InvalidInput, match="separate orders"):
        preview_order(store, admin, request("basic-m", "gift"), now=NOW)
    with pytest.raises(NotFound, match="no plan"):
        preview_order(store, admin, request("nope"), now=NOW)
    with pytest.raises(InvalidInput, match="quantity"):
        preview_order(store, admin, request(ItemRequest("basic-m", quantity=0)), now=NOW)
    both = preview_order(store, admin, request("basic-m", ItemRequest("limited-m", quantity=2)), now=NOW)
    assert both.total_today == 899 + 1000


def test_coupons_with_limited_cycles_show_in_the_upcoming_bills(store, admin, settings, shop):
    preview = preview_order(store, admin, request("basic-m", coupons=["save10"]), now=NOW)
    assert (preview.discount, preview.total_today) == (90, 809) and preview.coupons == [("SAVE10", 90)]
    assert [u.amount for u in preview.upcoming] == [809, 899], "two cycles: today's and the next"
    once = preview_order(store, admin, request("basic-m", coupons=["FIVE", "SAVE10"]), now=NOW)
    assert once.total_today == 899 - 500 - 40 and [u.amount for u in once.upcoming] == [809, 899]
    skipped = preview_order(store, admin, request("basic-trial", coupons=["SAVE10"]), now=NOW)
    assert skipped.total_today == 0 and [u.amount for u in skipped.upcoming] == [809, 809]
    with pytest.raises(InvalidInput, match="applies only to gift"):
        preview_order(store, admin, request("basic-m", coupons=["GIFTONLY"]), now=NOW)
    with pytest.raises(InvalidInput, match="no coupon"):
        preview_order(store, admin, request("basic-m", coupons=["NOPE"]), now=NOW)
    _, result = place(store, admin, settings, request("basic-m", coupons=["SAVE10"]))
    assert result.total_today == 809 and result.payment == "approved"
    (redemption,) = rows(store, CouponRedemption)
    assert redemption.order_id == rows(store, Order)[0].id and redemption.cycles_applied == 1
    assert rows(store, Invoice)[0].discount == 90
    assert "coupon_redeemed" in event_types(store)


def test_a_full_discount_pays_the_invoice_at_once(store, admin, settings, shop):
    _, result = place(store, admin, settings, request("basic-m", coupons=["FREE"]))
    assert result.total_today == 0 and result.payment == "not due" and result.status == "active"
    assert rows(store, Invoice)[0].status == "paid" and rows(store, Transaction) == []


def test_credit_memos_pay_part_of_today(store, admin, settings, shop):
    payments.create_credit_memo(store, admin, "C-1", 300, "USD", "goodwill")
    preview, result = place(store, admin, settings, request("basic-m"))
    assert (preview.credit, preview.total_today, result.total_today) == (300, 599, 599)
    assert rows(store, CreditMemo)[0].remaining == 0 and rows(store, Transaction)[0].amount == 599


def test_a_changed_total_is_refused_and_nothing_is_written(store, admin, settings, shop):
    before = snapshot(store)
    with pytest.raises(Conflict, match=r"changed to 8\.99 USD"):
        create_order(store, admin, settings, request("basic-m"), expected_total=500, now=NOW)
    assert snapshot(store) == before


def _block_values(store) -> dict[str, str]:
    with store.write(unrecorded="test fixture") as s:
        s.execute(text("UPDATE customer SET signup_ip = '203.0.113.9'"))
    with store.read() as s:
        card = s.execute(select(PaymentInstrument)).scalar_one()
    return {"customer": "C-1", "email": "g.hopper@navy.example", "phone": "+1 415 555 0100",
            "fingerprint": card.fingerprint or "", "bin": card.bin or "", "ip": "203.0.113.9", "country": "FR"}


@pytest.mark.parametrize("kind", ["customer", "email", "phone", "fingerprint", "bin", "ip", "country"])
def test_blocklisted_customers_cannot_buy(store, admin, settings, shop, kind):
    value = _block_values(store)[kind]
    assert value
    blocklist.add_entry(store, admin, kind, value, "fraud ring")
    before = snapshot(store)
    with pytest.raises(blocklist.Blocked, match="on the blocklist"):
        create_order(store, admin, settings, request("basic-m"), expected_total=899, now=NOW)
    after = snapshot(store)
    assert after.pop("TimelineEvent") == before.pop("TimelineEvent") + 1
    assert after == before, "nothing but the refused attempt is written"
    last = rows(store, TimelineEvent)[-1]
    assert last.type == "blocked_attempt" and last.attributes["action"] == "purchase"
    assert last.attributes["kind"] == kind


def test_a_declined_card_leaves_the_order_pending_with_the_reason(store, admin, settings, shop):
    with store.write(unrecorded="test fixture") as s:
        s.execute(text("UPDATE payment_instrument SET status = 'inactive'"))
    instruments.add_card(store, admin, settings, "C-1", "4000000000000002", "12/30", primary=True)
    _, result = place(store, admin, settings, request("basic-m"))
    assert result.payment == "declined" and not result.ok
    assert result.status == "pending" and "card declined" in result.message
    (order,) = rows(store, Order)
    (invoice,) = rows(store, Invoice)
    (txn,) = rows(store, Transaction)
    assert (order.status, invoice.status, invoice.amount_paid, txn.status) == ("pending", "issued", 0, "declined")
    assert "payment_failed" in event_types(store) and "invoice_paid" not in event_types(store)
    with store.read() as s:
        assert s.execute(select(Customer.payment_count)).scalar_one() == 0


def test_no_autopay_sends_the_invoice_and_waits(store, admin, settings, shop):
    _, result = place(store, admin, settings, request("basic-m", autopay=False))
    assert result.payment == "no autopay" and result.status == "pending"
    assert rows(store, Invoice)[0].status == "issued" and rows(store, Transaction) == []


def test_a_one_time_order_completes_when_paid(store, admin, settings, shop):
    _, result = place(store, admin, settings, request(ItemRequest("gift", quantity=2)))
    assert result.status == "completed" and result.total_today == 5000
    (order,) = rows(store, Order)
    assert order.kind == "one_time" and order.completed_at is not None and order.next_bill_date is None
    assert "order_completed" in event_types(store)


def test_roles_admin_agent_and_sales_create_finance_may_not(store, actors, settings, shop):
    finance = actors[Role.FINANCE]
    with pytest.raises(PermissionDenied):
        preview_order(store, finance, request("basic-m"), now=NOW)
    with pytest.raises(PermissionDenied):
        create_order(store, finance, settings, request("basic-m"), expected_total=899, now=NOW)
    assert rows(store, Order) == []
    for role in (Role.ADMIN, Role.AGENT, Role.SALES):
        _, result = place(store, actors[role], settings, request("basic-m"))
        assert result.payment == "approved", role
    assert [o.agent_id for o in rows(store, Order)] == [actors[r].agent_id for r in (Role.ADMIN, Role.AGENT,
                                                                                      Role.SALES)]


def test_orders_read_back_with_items_coupons_invoices_and_payments(store, actors, settings, shop):
    admin = actors[Role.ADMIN]
    item = ItemRequest("basic-m", quantity=2, overrides=ItemOverrides(unit_price=700, plan_name="Team rate"))
    _, result = place(store, admin, settings, request(item, coupons=["SAVE10"], notes="PO 1234"))
    finance = actors[Role.FINANCE]
    (summary,) = list_orders(store, finance, "C-1")
    assert (summary.number, summary.status, summary.product, summary.total) == (
        result.order_number, "active", "Team rate", 1400)
    detail = order_detail(store, finance, result.order_number.lower())
    assert detail.customer == "C-1" and detail.notes == "PO 1234" and detail.agent == "ada"
    (info,) = detail.items
    assert (info.plan_code, info.quantity, info.unit_price, info.customised) == (
        "basic-m", 2, 700, ["unit_price", "plan_name"])
    assert info.recurrence == "monthly, until cancelled"
    assert [(c.code, c.cycles_applied) for c in detail.coupons] == [("SAVE10", 1)]
    assert [(i.number, i.status, i.total) for i in detail.invoices] == [(result.invoice_number, "paid", 1260)]
    assert [(t.type, t.status, t.invoice) for t in detail.transactions] == [
        ("sale", "approved", result.invoice_number)]
    assert detail.to_dict()["items"][0]["customised"] == ["unit_price", "plan_name"]
    with pytest.raises(NotFound):
        order_detail(store, finance, "ORD-99999999")


SCHEDULES = {
    "today": request("setup-m", coupons=["SAVE10"]),
    "trial": request(ItemRequest("basic-trial", quantity=2), coupons=["FIVE"]),
    "paid trial": request("basic-paid-trial"),
    "future start": request("setup-m", start_on=TODAY + timedelta(days=20)),
    "renewal date": request("basic-m", renew_on=date(2026, 3, 31)),
    "issue early": request(ItemRequest("basic-m", overrides=ItemOverrides(invoice_issue_days=5))),
    "limited": request(ItemRequest("limited-m", overrides=ItemOverrides(cycles=2))),
}


@pytest.mark.parametrize("case", list(SCHEDULES))
def test_the_billing_engine_bills_what_the_preview_announced(store, admin, settings, shop, case):
    """The preview's next two bills are the invoices the engine issues, on those days, for those amounts."""
    preview, result = place(store, admin, settings, SCHEDULES[case])
    assert result.payment in ("approved", "not due")
    billed = {i.id for i in rows(store, Invoice)}
    for bill in preview.upcoming:
        run_billing(store, settings, now=datetime.combine(bill.date - timedelta(days=1), NOW.timetz()))
        assert {i.id for i in rows(store, Invoice)} == billed, f"nothing is billed before {bill.date}"
        run_billing(store, settings, now=datetime.combine(bill.date, NOW.timetz()))
        new = [i for i in rows(store, Invoice) if i.id not in billed]
        assert [(i.issued_at.date(), i.total) for i in new] == [(bill.date, bill.amount)], case
        billed |= {i.id for i in new}


def test_no_answer_from_the_gateway_leaves_the_payment_pending_until_the_repair(store, admin, settings, shop):
    with store.write(unrecorded="test fixture") as s:
        s.execute(text("UPDATE payment_instrument SET status = 'inactive'"))
    instruments.add_card(store, admin, settings, "C-1", "4000000000000119", "12/30", primary=True)
    _, result = place(store, admin, settings, request("basic-m"))
    assert result.payment == "pending" and result.status == "pending" and "never charged twice" in result.message
    (txn,) = rows(store, Transaction)
    assert txn.status == "pending" and txn.idempotency_key == f"invoice-{rows(store, Invoice)[0].id}-attempt-1"
    assert repair_pending_payments(store, settings) == 1
    assert [t.status for t in rows(store, Transaction)] == ["approved"]
    assert rows(store, Order)[0].status == "active" and rows(store, Invoice)[0].status == "paid"
