"""Issue 12's coupon promises checked where they could break: one coupon never discounts an invoice line twice
(even redeemed both on the order and on the account), coupons together never take an invoice below zero, and
a coupon on the customer's account discounts their next invoices, renewals billed by the engine included."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from agentdesk.config import load_settings
from agentdesk.db.models import CouponRedemption, Invoice, InvoiceDiscount, InvoiceLine
from agentdesk.domain.enums import CouponDuration, Role
from agentdesk.services.billing import coupons
from agentdesk.services.billing.engine import run_billing
from agentdesk.services.orders.create import create_order
from agentdesk.services.orders.preview import preview_order
from agentdesk.services.orders.requests import ItemRequest, OrderRequest

from .billing_helpers import NOW, add_coupon, add_customer, add_order, add_plan, events_of, issue, lines_of, rows


@pytest.fixture
def settings(store, tmp_path):
    return load_settings(store.url, env={"AGENTDESK_DATA_DIR": str(tmp_path / "data")})


@pytest.fixture
def plans(store):
    add_plan(store, "BASIC", 1_250)
    add_plan(store, "PRO", 3_000)


def redeem_on_order(store, actor, code: str, customer_id: int, order_id: int) -> None:
    with store.write() as s:
        coupon = coupons.check_coupon(s, code, currency="USD", plan_codes=["BASIC", "PRO"], now=NOW)
        coupons.redeem(s, actor, coupon, customer_id, order_id, NOW)


def test_a_coupon_on_the_order_and_on_the_account_discounts_each_line_once(store, actors, settings, plans):
    admin = actors[Role.ADMIN]
    cid = add_customer(store, admin, settings)
    order = add_order(store, cid, [("BASIC", 1, 1_000), ("PRO", 1, 3_000)])
    add_coupon(store, "TEN", percent_bp=1_000, duration=CouponDuration.REPEATING, cycles=2)
    redeem_on_order(store, admin, "TEN", cid, order)
    coupons.redeem_on_account(store, actors[Role.SALES], "C-1", "TEN", now=NOW)
    invoice = issue(store, admin, order)
    assert [line.discount for line in lines_of(store, invoice.id)] == [100, 300], "10 % once, not 19 %"
    assert invoice.discount == 400 and invoice.total == 3_600
    line_ids = [line.id for line in lines_of(store, invoice.id)]
    discounts = rows(store, InvoiceDiscount, InvoiceDiscount.invoice_line_id.in_(line_ids))
    assert len(discounts) == 2 and len({d.redemption_id for d in discounts}) == 1
    account = [r for r in rows(store, CouponRedemption) if r.order_id is None]
    assert [r.cycles_applied for r in account] == [0], "the account's redemption is kept for a later invoice"


def test_coupons_together_never_take_an_invoice_below_zero(store, actors, settings, plans):
    admin = actors[Role.ADMIN]
    cid = add_customer(store, admin, settings)
    order = add_order(store, cid, [("BASIC", 2, 1_250)])
    add_coupon(store, "HALF", percent_bp=5_000)
    add_coupon(store, "BIG", amounts={"USD": 2_000})
    add_coupon(store, "MORE", amounts={"USD": 9_999})
    for code in ("HALF", "BIG", "MORE"):
        redeem_on_order(store, admin, code, cid, order)
    invoice = issue(store, admin, order)
    [line] = lines_of(store, invoice.id)
    assert (line.amount, line.discount, line.total) == (2_500, 2_500, 0)
    assert (invoice.subtotal, invoice.discount, invoice.total, invoice.status) == (2_500, 2_500, 0, "paid")
    used = {r.coupon_id: r.cycles_applied for r in rows(store, CouponRedemption)}
    assert sorted(used.values()) == [0, 1, 1], "the coupon left with nothing to take is not used up"


def test_an_account_coupon_discounts_the_renewals_the_engine_bills(store, actors, settings, plans):
    agent = actors[Role.AGENT]
    cid = add_customer(store, actors[Role.ADMIN], settings)
    start = datetime(2027, 1, 15, 9, tzinfo=UTC)
    order_request = OrderRequest("C-1", [ItemRequest("PRO")])
    preview = preview_order(store, agent, order_request, now=start)
    placed = create_order(store, agent, settings, order_request, expected_total=preview.total_today, now=start)
    assert placed.payment == "approved" and placed.total_today == 3_000
    coupons.create_coupon(store, actors[Role.ADMIN], "LOYAL", "fixed", amounts={"USD": 500}, duration="repeating",
                          cycles=2)
    coupons.redeem_on_account(store, agent, "C-1", "LOYAL", now=start)
    for month in (2, 3, 4):
        run_billing(store, settings, now=datetime(2027, month, 15, 10, tzinfo=UTC))
    billed = rows(store, Invoice, Invoice.customer_id == cid)
    assert [(i.cycle, i.period_start, i.discount, i.total, i.status) for i in billed] == [
        (1, date(2027, 1, 15), 0, 3_000, "paid"),
        (2, date(2027, 2, 15), 500, 2_500, "paid"),
        (3, date(2027, 3, 15), 500, 2_500, "paid"),
        (4, date(2027, 4, 15), 0, 3_000, "paid"),
    ]
    assert [e["scope"] for e in events_of(store, cid, "coupon_redeemed")] == ["account"]
    assert [line.kind for line in rows(store, InvoiceLine, InvoiceLine.invoice_id == billed[1].id)] == ["item"]
