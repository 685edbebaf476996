"""Subscription actions on real orders (SQLite and PostgreSQL): cancel (now with refunds, at period end,
withdrawn), pause and resume, trials, plan changes, billing date, quantity, coupons; the scheduled-change
executor carrying each change out once, also under concurrent workers; roles; events and emails."""

from __future__ import annotations

import threading
from datetime import UTC, date, datetime

import pytest
from sqlalchemy import select

from agentdesk.config import load_settings
from agentdesk.db.models import (
    CreditMemo,
    Invoice,
    Order,
    OrderItem,
    Plan,
    Product,
    ScheduledChange,
    TimelineEvent,
    Transaction,
)
from agentdesk.domain.enums import (
    InvoiceStatus,
    OrderStatus,
    PlanInterval,
    Role,
    ScheduledChangeStatus,
    TransactionStatus,
    TransactionType,
)
from agentdesk.domain.errors import Conflict, InvalidInput, PermissionDenied
from agentdesk.services.billing.engine import run_billing
from agentdesk.services.money import refunds
from agentdesk.services.money.settlement import settle_from_gateway
from agentdesk.services.orders import subscriptions as subs
from agentdesk.services.orders.create import create_order
from agentdesk.services.orders.preview import preview_order
from agentdesk.services.orders.requests import ItemRequest, OrderRequest
from agentdesk.services.orders.schedule import run_scheduled

from ..conftest import policy
from .billing_helpers import add_coupon, add_customer, count, email_jobs, events_of, rows

PLACED = datetime(2027, 3, 1, 9, tzinfo=UTC)
MAR11 = datetime(2027, 3, 11, 9, tzinfo=UTC)
APR1 = datetime(2027, 4, 1, 9, tzinfo=UTC)


@pytest.fixture
def settings(store, tmp_path):
    return load_settings(store.url, env={"AGENTDESK_DATA_DIR": str(tmp_path / "data")})


def add_plan(store, code: str, price: int, *, sku: str = "SKU-BOX", trial_days: int = 0,
             options: dict | None = None) -> None:
    with store.write() as s:
        product = s.execute(select(Product).where(Product.sku == sku)).scalar_one_or_none()
        if product is None:
            product = Product(sku=sku, name="Box", options=options or {})
            s.add(product)
            s.flush()
        s.add(Plan(product_id=product.id, code=code, name=f"Plan {code}", price=price, currency="USD",
                   interval=PlanInterval.MONTH, trial_days=trial_days))


@pytest.fixture
def world(store, admin, settings):
    """A customer with a card, plans BASIC 31.00, PREMIUM 62.00, LITE 15.50 (options size S/M/L) and
    TRIAL 31.00 with 14 trial days."""
    add_customer(store, admin, settings, external_id="C-1")
    add_plan(store, "BASIC", 3_100, options={"size": ["S", "M", "L"]})
    add_plan(store, "PREMIUM", 6_200)
    add_plan(store, "LITE", 1_550)
    add_plan(store, "TRIAL", 3_100, sku="SKU-T", trial_days=14)
    return settings


def place(store, admin, settings, plan: str = "BASIC", customer: str = "C-1", quantity: int = 1,
          when: datetime = PLACED) -> str:
    request = OrderRequest(customer, [ItemRequest(plan, quantity)])
    total = preview_order(store, admin, request, now=when).total_today
    return create_order(store, admin, settings, request, expected_total=total, now=when).order_number


def order_row(store, number: str) -> Order:
    with store.read() as s:
        return s.execute(select(Order).where(Order.number == number)).scalar_one()


def sale_of(store, number: str) -> Transaction:
    order = order_row(store, number)
    return rows(store, Transaction, Transaction.order_id == order.id, Transaction.type == TransactionType.SALE)[0]


def subjects(store, customer_id: int) -> list[str]:
    return [j["subject"] for j in email_jobs(store, customer_id) if "subject" in j]


def types(store, customer_id: int) -> list[str]:
    return [e.type for e in rows(store, TimelineEvent, TimelineEvent.customer_id == customer_id)]


# --- cancel ------------------------------------------------------------------------------------


def test_cancel_now_with_a_prorated_refund_of_the_unused_days(store, admin, world):
    number = place(store, admin, world)
    order = order_row(store, number)
    assert (order.period_start, order.period_end) == (date(2027, 3, 1), date(2027, 4, 1))
    with pytest.raises(Conflict, match="not settled"):
        subs.cancel(store, admin, world, number, refund="prorated", now=MAR11)
    settle_from_gateway(store, world, everything=True)
    before = count(store, TimelineEvent)
    shown = subs.cancel(store, admin, world, number, refund="prorated", preview=True, now=MAR11)
    assert shown.preview and shown.refund == 2_100  # 21 unused days of 31 at 31.00
    assert "21 unused of 31 days" in shown.details[0]
    assert count(store, TimelineEvent) == before and order_row(store, number).status is OrderStatus.ACTIVE

    done = subs.cancel(store, admin, world, number, refund="prorated", now=MAR11)
    assert done.refund == 2_100 and done.payment == "approved" and done.status == "cancelled"
    order = order_row(store, number)
    assert order.status is OrderStatus.CANCELLED and order.next_bill_date is None
    refund = rows(store, Transaction, Transaction.type == TransactionType.REFUND)
    assert [(r.amount, r.status) for r in refund] == [(2_100, TransactionStatus.APPROVED)]
    assert events_of(store, order.customer_id, "subscription_cancelled")[0]["order"] == number
    assert events_of(store, order.customer_id, "manual_refund")[0]["amount"] == 2_100
    assert any("is cancelled" in s for s in subjects(store, order.customer_id))
    assert any("refund of 21.00 USD" in s for s in subjects(store, order.customer_id))
    assert run_billing(store, world, now=APR1).invoiced == 0


def test_a_prorated_refund_never_exceeds_what_is_left_of_the_payment(store, admin, world):
    number = place(store, admin, world)
    sale = sale_of(store, number)
    settle_from_gateway(store, world, everything=True)
    refunds.refund_transaction(store, admin, world, sale.id, 2_000, reason="goodwill")
    shown = subs.cancel(store, admin, world, number, refund="prorated", preview=True, now=MAR11)
    assert shown.refund == 1_100
    done = subs.cancel(store, admin, world, number, refund="prorated", now=MAR11)
    assert done.refund == 1_100
    taken = rows(store, Transaction, Transaction.parent_id == sale.id, Transaction.status == TransactionStatus.APPROVED)
    assert sum(t.amount for t in taken) == 3_100


def test_cancel_with_the_last_invoice_refunded_voids_an_unsettled_payment(store, admin, world):
    number = place(store, admin, world)
    done = subs.cancel(store, admin, world, number, refund="last-invoice", now=MAR11)
    assert done.refund == 3_100
    assert sale_of(store, number).status is TransactionStatus.VOIDED
    assert events_of(store, order_row(store, number).customer_id, "transaction_voided")[0]["amount"] == 3_100


def test_an_agent_refunds_on_cancel_only_within_the_refund_limit(store, actors, world):
    admin, agent = actors[Role.ADMIN], actors[Role.AGENT]
    number = place(store, admin, world)
    settle_from_gateway(store, world, everything=True)
    policy(store, {"refund_limit.agent.USD": "20.00"})
    with pytest.raises(PermissionDenied):
        subs.cancel(store, agent, world, number, refund="prorated", now=MAR11)
    assert order_row(store, number).status is OrderStatus.ACTIVE
    policy(store, {"refund_limit.agent.USD": "50.00"})
    assert subs.cancel(store, agent, world, number, refund="prorated", now=MAR11).refund == 2_100


def test_cancel_at_period_end_runs_once_before_the_renewal_and_can_be_withdrawn(store, admin, world):
    kept, ending = place(store, admin, world), place(store, admin, world)
    customer_id = order_row(store, kept).customer_id
    for number in (kept, ending):
        result = subs.cancel(store, admin, world, number, at_period_end=True, now=MAR11)
        assert result.scheduled_on == date(2027, 4, 1)
    assert order_row(store, ending).cancel_at_period_end
    with pytest.raises(InvalidInput):
        subs.cancel(store, admin, world, kept, at_period_end=True, refund="prorated", now=MAR11)
    with pytest.raises(Conflict, match="already set to end"):
        subs.cancel(store, admin, world, kept, at_period_end=True, now=MAR11)
    subs.withdraw_cancel(store, admin, kept, now=MAR11)
    assert not order_row(store, kept).cancel_at_period_end
    assert len(events_of(store, customer_id, "cancellation_scheduled")) == 2
    assert len(events_of(store, customer_id, "cancellation_withdrawn")) == 1
    assert run_scheduled(store, world, now=MAR11) == 0
    assert run_scheduled(store, world, now=APR1) == 1
    assert run_scheduled(store, world, now=APR1) == 0
    assert order_row(store, ending).status is OrderStatus.CANCELLED
    assert order_row(store, kept).status is OrderStatus.ACTIVE
    run_billing(store, world, now=APR1)
    billed = {i.order_id for i in rows(store, Invoice, Invoice.cycle == 2)}
    assert billed == {order_row(store, kept).id}
    statuses = sorted(c.status.value for c in rows(store, ScheduledChange))
    assert statuses == ["done", "withdrawn"]
    with pytest.raises(Conflict):
        subs.withdraw_cancel(store, admin, ending, now=APR1)
    assert any("ends on 2027-04-01" in s for s in subjects(store, customer_id))
    assert any("continues" in s for s in subjects(store, customer_id))


def test_concurrent_workers_carry_out_each_scheduled_change_once(store, admin, world):
    numbers = [place(store, admin, world) for _ in range(4)]
    for number in numbers:
        subs.cancel(store, admin, world, number, at_period_end=True, now=MAR11)
    barrier = threading.Barrier(4)
    counts: list[int] = []
    errors: list[BaseException] = []

    def worker() -> None:
        try:
            barrier.wait()
            counts.append(run_scheduled(store, world, now=APR1))
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert sum(counts) == 4
    customer_id = order_row(store, numbers[0]).customer_id
    cancelled = events_of(store, customer_id, "subscription_cancelled")
    assert sorted(e["order"] for e in cancelled) == sorted(numbers)
    assert count(store, ScheduledChange, ScheduledChange.status == ScheduledChangeStatus.DONE) == 4


# --- pause -------------------------------------------------------------------------------------


def test_pause_until_a_date_moves_the_next_bill_date_by_the_days_paused(store, admin, world):
    number = place(store, admin, world)
    customer_id = order_row(store, number).customer_id
    shown = subs.pause(store, admin, number, until=date(2027, 3, 20), preview=True, now=MAR11)
    assert "becomes 2027-04-11 (10 days paused)" in " ".join(shown.details)
    subs.pause(store, admin, number, until=date(2027, 3, 20), now=MAR11)
    order = order_row(store, number)
    assert (order.status, order.paused_from, order.paused_until) == (OrderStatus.PAUSED, date(2027, 3, 11),
                                                                     date(2027, 3, 20))
    assert events_of(store, customer_id, "pause_activated")[0]["until"] == "2027-03-20"
    assert run_scheduled(store, world, now=datetime(2027, 3, 20, 9, tzinfo=UTC)) == 0
    assert run_scheduled(store, world, now=datetime(2027, 3, 21, 9, tzinfo=UTC)) == 1
    order = order_row(store, number)
    assert order.status is OrderStatus.ACTIVE and order.paused_from is None
    assert (order.next_bill_date, order.period_end) == (date(2027, 4, 11), date(2027, 4, 11))
    assert events_of(store, customer_id, "pause_ended")[0]["days"] == 10
    assert run_billing(store, world, now=APR1).invoiced == 0
    assert run_billing(store, world, now=datetime(2027, 4, 11, 9, tzinfo=UTC)).invoiced == 1
    assert any("paused" in s for s in subjects(store, customer_id))


def test_no_bills_while_paused_and_resume_early_moves_the_date_by_the_days_paused(store, admin, world):
    number = place(store, admin, world)
    customer_id = order_row(store, number).customer_id
    subs.pause(store, admin, number, now=datetime(2027, 3, 25, 9, tzinfo=UTC))
    assert run_billing(store, world, now=datetime(2027, 4, 5, 9, tzinfo=UTC)).invoiced == 0
    result = subs.resume(store, admin, number, now=datetime(2027, 4, 9, 9, tzinfo=UTC))
    assert result.extra["days_paused"] == 15
    assert order_row(store, number).next_bill_date == date(2027, 4, 16)
    assert events_of(store, customer_id, "pause_ended_early")[0]["days"] == 15
    with pytest.raises(Conflict):
        subs.resume(store, admin, number, now=datetime(2027, 4, 9, 9, tzinfo=UTC))


def test_a_scheduled_pause_starts_on_its_day_or_is_cancelled(store, admin, world):
    first, second = place(store, admin, world), place(store, admin, world)
    customer_id = order_row(store, first).customer_id
    with pytest.raises(InvalidInput):
        subs.pause(store, admin, first, start=date(2027, 3, 1), now=MAR11)
    with pytest.raises(InvalidInput):
        subs.pause(store, admin, first, start=date(2027, 3, 20), until=date(2027, 3, 19), now=MAR11)
    for number in (first, second):
        subs.pause(store, admin, number, start=date(2027, 3, 20), until=date(2027, 5, 19), now=MAR11)
    assert events_of(store, customer_id, "pause_scheduled")[0]["months"] == 2
    subs.resume(store, admin, second, now=MAR11)
    assert events_of(store, customer_id, "pause_cancelled")[0]["order"] == second
    assert run_scheduled(store, world, now=datetime(2027, 3, 20, 9, tzinfo=UTC)) == 1
    assert order_row(store, first).status is OrderStatus.PAUSED
    assert order_row(store, second).status is OrderStatus.ACTIVE
    assert run_scheduled(store, world, now=datetime(2027, 5, 20, 9, tzinfo=UTC)) == 1
    order = order_row(store, first)
    assert order.status is OrderStatus.ACTIVE and order.next_bill_date == date(2027, 6, 1)  # Apr 1 + 61 days


# --- trials ------------------------------------------------------------------------------------


def test_trial_restart_skip_and_stop(store, admin, world):
    restarted, skipped, stopped = (place(store, admin, world, "TRIAL") for _ in range(3))
    customer_id = order_row(store, restarted).customer_id
    assert order_row(store, restarted).trial_ends_on == date(2027, 3, 15)
    subs.trial(store, admin, world, restarted, "restart", now=MAR11)
    order = order_row(store, restarted)
    assert (order.trial_ends_on, order.next_bill_date) == (date(2027, 3, 25), date(2027, 3, 25))
    assert events_of(store, customer_id, "trial_restarted")[0]["until"] == "2027-03-25"

    shown = subs.trial(store, admin, world, skipped, "skip", preview=True, now=MAR11)
    assert shown.charge == 3_100
    done = subs.trial(store, admin, world, skipped, "skip", now=MAR11)
    assert done.payment == "approved"
    invoice = rows(store, Invoice, Invoice.order_id == order_row(store, skipped).id)[0]
    assert invoice.billing_key == f"order-{order_row(store, skipped).id}-cycle-1"
    assert invoice.status is InvoiceStatus.PAID and invoice.total == 3_100
    order = order_row(store, skipped)
    assert (order.period_start, order.period_end, order.cycles_billed) == (date(2027, 3, 11), date(2027, 4, 11), 1)
    assert events_of(store, customer_id, "trial_skipped")[0]["invoice"] == invoice.number
    with pytest.raises(Conflict, match="not in a trial"):
        subs.trial(store, admin, world, skipped, "restart", now=MAR11)

    subs.trial(store, admin, world, stopped, "stop", now=MAR11)
    assert events_of(store, customer_id, "trial_stop_scheduled")[0]["on"] == "2027-03-15"
    trial_end = datetime(2027, 3, 15, 9, tzinfo=UTC)
    run_scheduled(store, world, now=trial_end)
    run_billing(store, world, now=trial_end)
    assert order_row(store, stopped).status is OrderStatus.CANCELLED
    assert count(store, Invoice, Invoice.order_id == order_row(store, stopped).id) == 0
    assert any("trial" in s for s in subjects(store, customer_id))


# --- plan changes ------------------------------------------------------------------------------


def test_upgrade_now_is_prorated_and_billed_now(store, admin, world):
    number = place(store, admin, world)
    order_id = order_row(store, number).id
    shown = subs.change(store, admin, world, number, plan_code="PREMIUM", preview=True, now=MAR11)
    assert shown.charge == 2_100  # 21/31 days: 42.00 new less 21.00 unused
    assert "credit for the unused 21 of 31 days" in " ".join(shown.details).lower()
    done = subs.change(store, admin, world, number, plan_code="PREMIUM", now=MAR11)
    assert done.payment == "approved" and done.invoice is not None
    invoice = rows(store, Invoice, Invoice.billing_key == f"change-{order_id}-1")[0]
    assert invoice.total == 2_100 and invoice.status is InvoiceStatus.PAID
    item = rows(store, OrderItem, OrderItem.order_id == order_id)[0]
    assert item.unit_price == 6_200 and order_row(store, number).total == 6_200
    changed = events_of(store, order_row(store, number).customer_id, "subscription_changed")[0]
    assert changed["to"] == "Plan PREMIUM (size S)"  # the option chosen with the order stays


def test_a_downgrade_waits_for_the_renewal_and_can_be_withdrawn(store, admin, world):
    number = place(store, admin, world)
    order = order_row(store, number)
    result = subs.change(store, admin, world, number, plan_code="LITE", now=MAR11)
    assert result.scheduled_on == date(2027, 4, 1) and result.charge == 0
    assert events_of(store, order.customer_id, "downgrade_scheduled")[0]["on"] == "2027-04-01"
    with pytest.raises(Conflict, match="withdraw it first"):
        subs.change(store, admin, world, number, plan_code="LITE", now=MAR11)
    subs.withdraw_change(store, admin, number, now=MAR11)
    assert events_of(store, order.customer_id, "downgrade_withdrawn")[0]["order"] == number
    subs.change(store, admin, world, number, plan_code="LITE", now=MAR11)
    run_scheduled(store, world, now=APR1)
    run_scheduled(store, world, now=APR1)
    run_billing(store, world, now=APR1)
    renewal = rows(store, Invoice, Invoice.order_id == order.id, Invoice.cycle == 2)[0]
    assert renewal.total == 1_550
    assert len(events_of(store, order.customer_id, "subscription_changed")) == 1


def test_option_change_and_upgrade_at_renewal(store, admin, world):
    number = place(store, admin, world)
    order = order_row(store, number)
    with pytest.raises(InvalidInput, match="size is one of"):
        subs.change(store, admin, world, number, plan_code="BASIC", options={"size": "XL"}, now=MAR11)
    done = subs.change(store, admin, world, number, plan_code="BASIC", options={"Size": "m"}, now=MAR11)
    assert done.charge == 0 and done.invoice is None
    assert rows(store, OrderItem, OrderItem.order_id == order.id)[0].options == {"size": "M"}
    later = subs.change(store, admin, world, number, plan_code="PREMIUM", at_renewal=True, now=MAR11)
    assert later.scheduled_on == date(2027, 4, 1)
    assert events_of(store, order.customer_id, "change_scheduled")[0]["change"] == "change_plan"


# --- billing date and quantity -----------------------------------------------------------------


def test_billing_date_charges_added_days_and_credits_removed_ones(store, admin, world):
    number = place(store, admin, world)
    order = order_row(store, number)
    later = subs.billing_date(store, admin, world, number, date(2027, 4, 11), now=MAR11)
    assert later.charge == 1_000 and later.payment == "approved"
    assert order_row(store, number).next_bill_date == date(2027, 4, 11)
    earlier = subs.billing_date(store, admin, world, number, date(2027, 3, 31), now=MAR11)
    assert earlier.credit == 1_100
    memo = rows(store, CreditMemo, CreditMemo.customer_id == order.customer_id)
    assert [(m.amount, m.remaining) for m in memo] == [(1_100, 1_100)]
    changed = events_of(store, order.customer_id, "billing_date_changed")
    assert [(e["from"], e["to"]) for e in changed] == [("2027-04-01", "2027-04-11"), ("2027-04-11", "2027-03-31")]
    with pytest.raises(InvalidInput):
        subs.billing_date(store, admin, world, number, date(2027, 3, 11), now=MAR11)


def test_quantity_times_unit_price_with_prorated_charge_and_credit(store, admin, world):
    number = place(store, admin, world)
    order = order_row(store, number)
    up = subs.quantity(store, admin, world, number, 3, now=MAR11)
    assert up.charge == 4_200 and order_row(store, number).total == 9_300
    down = subs.quantity(store, admin, world, number, 2, now=MAR11)
    assert down.credit == 2_100
    changed = events_of(store, order.customer_id, "quantity_changed")
    assert [(e["from"], e["to"], e["amount"]) for e in changed] == [(1, 3, 4_200), (3, 2, -2_100)]
    with pytest.raises(InvalidInput):
        subs.quantity(store, admin, world, number, 0, now=MAR11)


# --- coupons and roles ----------------------------------------------------------------------------


def test_coupon_added_and_removed(store, actors, world):
    admin, sales = actors[Role.ADMIN], actors[Role.SALES]
    number = place(store, admin, world)
    order = order_row(store, number)
    add_coupon(store, "TEN", percent_bp=1_000)
    subs.coupon(store, sales, number, "add", "ten", now=MAR11)
    assert events_of(store, order.customer_id, "coupon_redeemed")[0]["order"] == number
    with pytest.raises(PermissionDenied):
        subs.coupon(store, sales, number, "remove", "TEN", now=MAR11)
    subs.coupon(store, admin, number, "remove", "TEN", now=MAR11)
    assert events_of(store, order.customer_id, "coupon_removed")[0]["coupon"] == "TEN"
    run_billing(store, world, now=APR1)
    assert rows(store, Invoice, Invoice.order_id == order.id, Invoice.cycle == 2)[0].discount == 0


@pytest.mark.parametrize("role", [Role.FINANCE, Role.SALES])
def test_finance_and_sales_cannot_change_subscriptions(store, actors, world, role):
    number = place(store, actors[Role.ADMIN], world)
    actor = actors[role]
    calls = [
        lambda: subs.cancel(store, actor, world, number, now=MAR11),
        lambda: subs.cancel(store, actor, world, number, at_period_end=True, now=MAR11),
        lambda: subs.withdraw_cancel(store, actor, number, now=MAR11),
        lambda: subs.pause(store, actor, number, now=MAR11),
        lambda: subs.resume(store, actor, number, now=MAR11),
        lambda: subs.trial(store, actor, world, number, "skip", now=MAR11),
        lambda: subs.change(store, actor, world, number, plan_code="PREMIUM", now=MAR11),
        lambda: subs.withdraw_change(store, actor, number, now=MAR11),
        lambda: subs.billing_date(store, actor, world, number, date(2027, 4, 5), now=MAR11),
        lambda: subs.quantity(store, actor, world, number, 2, now=MAR11),
    ]
    for call in calls:
        with pytest.raises(PermissionDenied):
            call()
    if role is Role.FINANCE:
        add_coupon(store, "TEN", percent_bp=1_000)
        with pytest.raises(PermissionDenied):
            subs.coupon(store, actor, number, "add", "TEN", now=MAR11)
    assert order_row(store, number).status is OrderStatus.ACTIVE


def test_previews_write_nothing(store, admin, world):
    number = place(store, admin, world)
    before = (count(store, TimelineEvent), count(store, ScheduledChange), count(store, Invoice))
    subs.cancel(store, admin, world, number, at_period_end=True, preview=True, now=MAR11)
    subs.pause(store, admin, number, start=date(2027, 3, 20), preview=True, now=MAR11)
    subs.change(store, admin, world, number, plan_code="LITE", preview=True, now=MAR11)
    subs.change(store, admin, world, number, plan_code="PREMIUM", preview=True, now=MAR11)
    subs.billing_date(store, admin, world, number, date(2027, 4, 5), preview=True, now=MAR11)
    subs.quantity(store, admin, world, number, 2, preview=True, now=MAR11)
    assert (count(store, TimelineEvent), count(store, ScheduledChange), count(store, Invoice)) == before
    assert order_row(store, number).next_bill_date == date(2027, 4, 1)
