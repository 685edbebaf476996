"""Affiliate commissions: recorded when an affiliate's customer pays an invoice, listed for payout,
adjusted by finance and admins with a reason."""

from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import select

from agentdesk.config import load_settings
from agentdesk.db.models import (
    AffiliateCommission,
    Order,
    OrderItem,
    Plan,
    Product,
    TimelineEvent,
    utcnow,
)
from agentdesk.domain import pricing
from agentdesk.domain.enums import BillingTiming, InvoiceLineKind, OrderKind, OrderStatus, PlanInterval, Role
from agentdesk.domain.errors import InvalidInput, NotFound, PermissionDenied
from agentdesk.services.billing import affiliates, invoices
from agentdesk.services.customers import extras
from agentdesk.services.customers import records as customers
from agentdesk.services.customers.lookup import customer_by_ref

from ..conftest import customer_input, policy
from .test_refunds import add_card


@pytest.fixture
def settings(store, tmp_path):
    return load_settings(store.url, env={"AGENTDESK_DATA_DIR": str(tmp_path / "data")})


def add_customer(store, admin, external_id: str = "C-1", affiliate: str | None = "acme-partners",
                 token: str = "tok_approve") -> str:
    customers.create_customer(store, admin, customer_input(external_id=external_id, emails=[], phones=[]))
    add_card(store, external_id, token)
    if affiliate:
        extras.set_lead_source(store, admin, external_id, {"source": "partner", "affiliate": affiliate})
    return external_id


def add_order(store, external_id: str, *, code: str = "pro-monthly", price: int = 2_000, rate_bp: int | None = None,
              timing: BillingTiming = BillingTiming.ADVANCE, metered: int | None = None,
              kind: OrderKind = OrderKind.SUBSCRIPTION, status: OrderStatus = OrderStatus.ACTIVE) -> str:
    """A catalog plan and an order for it, written as the demo writes them; returns the order number."""
    with store.write(unrecorded="test fixture") as s:
        plan = s.execute(select(Plan).where(Plan.code == code)).scalar_one_or_none()
        if plan is None:
            product = Product(sku=f"SKU-{code}", name=f"Product {code}")
            s.add(product)
            s.flush()
            plan = Plan(product_id=product.id, code=code, name=f"Plan {code}", price=price, currency="USD",
                        interval=PlanInterval.MONTH, billing_timing=timing, metered_unit_price=metered,
                        commission_rate_bp=rate_bp)
            s.add(plan)
            s.flush()
        customer = customer_by_ref(s, external_id)
        today = utcnow().date()
        order = Order(number=f"tmp-{code}-{utcnow().timestamp()}", customer_id=customer.id,
                      website_id=customer.website_id, kind=kind, status=status, currency="USD", total=price,
                      starts_on=today - timedelta(days=3), period_start=today - timedelta(days=3),
                      period_end=today + timedelta(days=27), next_bill_date=today + timedelta(days=27),
                      cycles_billed=1)
        s.add(order)
        s.flush()
        order.number = f"ORD-{order.id:08d}"
        s.add(OrderItem(order_id=order.id, plan_id=plan.id, quantity=1, unit_price=price, currency="USD",
                        billing_timing=timing, metered_unit_price=metered))
        return order.number


def bill_order(store, actor, settings, number: str, cycle: int = 1):
    """Issue the order's invoice for `cycle` and collect it; (invoice number, collect result)."""
    now = utcnow()
    with store.write() as s:
        order = s.execute(select(Order).where(Order.number == number)).scalar_one()
        item = s.execute(select(OrderItem).where(OrderItem.order_id == order.id)).scalar_one()
        invoice = invoices.issue_invoice(
            s, actor, customer_id=order.customer_id, order=order, cycle=cycle,
            lines=[pricing.Line(InvoiceLineKind.ITEM, "Pro", item.quantity, item.unit_price, None, item.id)],
            currency=order.currency, billing_key=f"order-{order.id}-cycle-{cycle}", period_start=order.period_start,
            period_end=order.period_end, issued_at=now, due_at=now, now=now)
        assert invoice is not None
        invoice_id, invoice_number = invoice.id, invoice.number
    return invoice_number, invoices.collect_invoice(store, actor, settings, invoice_id, now=now)


def commissions(store) -> list[AffiliateCommission]:
    with store.read() as s:
        return list(s.execute(select(AffiliateCommission).order_by(AffiliateCommission.id)).scalars())


def events(store, kind: str) -> list[TimelineEvent]:
    with store.read() as s:
        return list(s.execute(select(TimelineEvent).where(TimelineEvent.type == kind)
                              .order_by(TimelineEvent.id)).scalars())


def test_paid_invoice_of_an_affiliate_lead_earns_the_plan_rate(store, admin, settings):
    add_customer(store, admin)
    number = add_order(store, "C-1", rate_bp=1_250, price=1_999)
    invoice_number, paid = bill_order(store, admin, settings, number)
    assert paid.status == "approved"
    [row] = commissions(store)
    assert (row.affiliate, row.rate_bp, row.base_amount, row.amount, row.currency) == (
        "acme-partners", 1_250, 1_999, 250, "USD"), "12.5% of 19.99 is 2.49875, rounded to 2.50"
    assert row.transaction_id == paid.transaction_id
    [event] = events(store, "commission_recorded")
    assert event.attributes == {"affiliate": "acme-partners", "amount": 250, "currency": "USD",
                                "invoice": invoice_number, "rate_bp": 1_250, "order": number}
    with store.read() as s:
        shown = affiliates.commission_for_transaction(s, paid.transaction_id)
        on_order = affiliates.commission_for_order(s, row.order_id)
    assert shown is not None and shown.summary == \
        "affiliate acme-partners: commission 2.50 USD (12.5% of 19.99 USD)"
    assert [c.invoice_number for c in on_order] == [invoice_number]
    profile = customers.get_customer(store, admin, "C-1")
    [txn] = [t for t in profile.transactions if t.id == paid.transaction_id]
    assert txn.note == shown.summary, "the profile's transaction detail shows the commission"


def test_policy_default_rate_when_the_plan_names_none(store, admin, settings):
    add_customer(store, admin)
    number = add_order(store, "C-1", rate_bp=None, price=10_000)
    bill_order(store, admin, settings, number)
    assert commissions(store) == [], "the default rate is 0: no commission"
    policy(store, {"affiliate_rate": "7.5%"})
    bill_order(store, admin, settings, number, cycle=2)
    [row] = commissions(store)
    assert (row.rate_bp, row.amount) == (750, 750)


def test_no_commission_without_an_affiliate_or_a_rate_or_a_payment(store, admin, settings):
    add_customer(store, admin, "C-1", affiliate=None)
    bill_order(store, admin, settings, add_order(store, "C-1", rate_bp=2_000))
    add_customer(store, admin, "C-2", affiliate="acme-partners", token="tok_decline")
    _, declined = bill_order(store, admin, settings, add_order(store, "C-2", code="zero", rate_bp=0))
    assert declined.status == "declined"
    add_customer(store, admin, "C-3", affiliate="acme-partners")
    bill_order(store, admin, settings, add_order(store, "C-3", code="zero", rate_bp=0))
    assert commissions(store) == [] and events(store, "commission_recorded") == []


def test_one_commission_per_invoice(store, admin, settings):
    add_customer(store, admin)
    invoice_number, paid = bill_order(store, admin, settings, add_order(store, "C-1", rate_bp=1_000))
    with store.write() as s:
        from agentdesk.db.models import Invoice, Transaction

        invoice = s.execute(select(Invoice).where(Invoice.number == invoice_number)).scalar_one()
        assert affiliates.record_commission(s, invoice, s.get(Transaction, paid.transaction_id)) is None
    assert len(commissions(store)) == 1


@pytest.fixture
def sale(store, admin, settings):
    add_customer(store, admin)
    invoice_number, _ = bill_order(store, admin, settings, add_order(store, "C-1", rate_bp=1_000, price=5_000))
    return invoice_number


def test_finance_and_admins_adjust_with_a_reason(store, actors, sale):
    finance, admin = actors[Role.FINANCE], actors[Role.ADMIN]
    moved = affiliates.adjust_commission(store, finance, sale.lower(), affiliate="beta-media",
                                         reason="the customer came through beta's newsletter")
    assert (moved.affiliate, moved.amount, moved.adjusted_by) == ("beta-media", 500, "finn")
    rated = affiliates.adjust_commission(store, admin, sale, rate_bp=2_000, reason="launch bonus")
    assert (rated.rate_bp, rated.amount) == (2_000, 1_000), "a new rate recomputes the amount"
    fixed = affiliates.adjust_commission(store, admin, sale, amount=333, reason="agreed flat fee")
    assert (fixed.rate_bp, fixed.amount) == (2_000, 333)
    adjusted = events(store, "commission_adjusted")
    assert [e.attributes["changes"] for e in adjusted] == [
        {"affiliate": {"from": "acme-partners", "to": "beta-media"}},
        {"rate_bp": {"from": 1_000, "to": 2_000}, "amount": {"from": 500, "to": 1_000}},
        {"amount": {"from": 1_000, "to": 333}},
    ]
    assert adjusted[0].attributes["reason"] == "the customer came through beta's newsletter"
    assert adjusted[0].actor_label == finance.label
    [row] = commissions(store)
    assert (row.affiliate, row.amount, row.adjustment_reason) == ("beta-media", 333, "agreed flat fee")


def test_adjusting_is_refused_for_agents_sales_and_without_reason(store, actors, sale):
    for role in (Role.AGENT, Role.SALES):
        with pytest.raises(PermissionDenied):
            affiliates.adjust_commission(store, actors[role], sale, amount=1, reason="because")
        with pytest.raises(PermissionDenied):
            affiliates.list_commissions(store, actors[role])
    finance = actors[Role.FINANCE]
    with pytest.raises(InvalidInput) as refused:
        affiliates.adjust_commission(store, finance, sale, amount=1, reason="  ")
    assert "reason" in refused.value.fields
    with pytest.raises(InvalidInput, match="more than the sale"):
        affiliates.adjust_commission(store, finance, sale, amount=5_001, reason="typo")
    with pytest.raises(InvalidInput) as nothing:
        affiliates.adjust_commission(store, finance, sale, reason="nothing")
    assert "affiliate" in nothing.value.fields
    with pytest.raises(InvalidInput, match="nothing changes"):
        affiliates.adjust_commission(store, finance, sale, amount=500, reason="same")
    with pytest.raises(InvalidInput) as rate:
        affiliates.adjust_commission(store, finance, sale, rate_bp=10_001, reason="too much")
    assert "rate" in rate.value.fields
    with pytest.raises(NotFound):
        affiliates.adjust_commission(store, finance, "INV-99999999", amount=1, reason="nope")
    [row] = commissions(store)
    assert (row.amount, row.adjusted_by) == (500, None) and events(store, "commission_adjusted") == []


def test_naming_an_affiliate_on_a_sale_without_one(store, actors, settings):
    admin = actors[Role.ADMIN]
    add_customer(store, admin, affiliate=None)
    invoice_number, _ = bill_order(store, admin, settings, add_order(store, "C-1", rate_bp=1_500, price=2_000))
    with pytest.raises(InvalidInput, match="no affiliate yet"):
        affiliates.adjust_commission(store, admin, invoice_number, amount=100, reason="late claim")
    added = affiliates.adjust_commission(store, admin, invoice_number, affiliate="gamma", reason="late claim")
    assert (added.affiliate, added.rate_bp, added.amount, added.transaction_id is not None) == ("gamma", 1_500, 300,
                                                                                                 True)
    [event] = events(store, "commission_adjusted")
    assert event.attributes["changes"]["affiliate"] == {"from": None, "to": "gamma"}


def test_list_by_affiliate_and_since(store, actors, settings):
    admin, finance = actors[Role.ADMIN], actors[Role.FINANCE]
    add_customer(store, admin, "C-1", affiliate="acme-partners")
    add_customer(store, admin, "C-2", affiliate="beta-media")
    first, _ = bill_order(store, admin, settings, add_order(store, "C-1", rate_bp=1_000))
    second, _ = bill_order(store, admin, settings, add_order(store, "C-2", rate_bp=1_000))
    with store.write(unrecorded="test fixture: an older sale") as s:
        old = s.execute(select(AffiliateCommission).order_by(AffiliateCommission.id)).scalars().first()
        old.created_at = datetime(2024, 1, 15, 12, tzinfo=UTC)
    assert [c.invoice_number for c in affiliates.list_commissions(store, finance)] == [first, second]
    assert [c.invoice_number for c in affiliates.list_commissions(store, finance, affiliate="beta-media")] == [second]
    assert [c.invoice_number for c in affiliates.list_commissions(store, admin, since=date(2024, 2, 1))] == [second]
    assert [c.invoice_number for c in affiliates.list_commissions(store, admin, since=date(2024, 1, 15))] == \
        [first, second]
    assert affiliates.list_commissions(store, admin, affiliate="nobody") == []
    listed = affiliates.list_commissions(store, admin, affiliate="acme-partners")[0].to_dict()
    assert listed["customer"] == "C-1" and listed["amount"] == 200 and listed["currency"] == "USD"


def test_policy_key_is_basis_points_or_a_percent(store, admin):
    from agentdesk.services.policy import service

    policy(store, {"affiliate_rate": "1250"})
    with store.read() as s:
        assert service.affiliate_rate(s) == 1_250
    with pytest.raises(InvalidInput):
        policy(store, {"affiliate_rate": "101%"})
    with pytest.raises(InvalidInput):
        policy(store, {"affiliate_rate": "10001"})

