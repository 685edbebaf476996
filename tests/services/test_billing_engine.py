"""The billing engine with a moved clock, on SQLite and PostgreSQL: trials ending, renewals on the anchor day,
limited recurrence, usage in arrears, abandonment, dunning and delinquency — and nothing billed twice.

Orders are placed through the order service (as an agent would) and billed by `run_billing` with the sandbox."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import select, text

from agentdesk.config import load_settings
from agentdesk.db.models import Invoice, Order, SandboxOperation, Transaction
from agentdesk.domain.enums import BillingTiming
from agentdesk.services.billing import charges, invoices
from agentdesk.services.billing.engine import BillingReport, run_billing
from agentdesk.services.orders.create import create_order
from agentdesk.services.orders.preview import preview_order
from agentdesk.services.orders.requests import ItemOverrides, ItemRequest, OrderRequest

from .billing_helpers import add_customer, add_plan, count, event_types, events_of, rows


@pytest.fixture
def settings(store, tmp_path):
    return load_settings(store.url, env={"AGENTDESK_DATA_DIR": str(tmp_path / "data")})


@pytest.fixture
def customer(store, admin, settings):
    add_plan(store, "BASIC", 1_250)
    return add_customer(store, admin, settings)


def at(day: date, hour: int = 9) -> datetime:
    return datetime(day.year, day.month, day.day, hour, tzinfo=UTC)


def place(store, admin, settings, now: datetime, overrides: ItemOverrides | None = None, quantity: int = 1,
          **request) -> Order:
    order_request = OrderRequest("C-1", [ItemRequest("BASIC", quantity, overrides=overrides or ItemOverrides())],
                                 **request)
    preview = preview_order(store, admin, order_request, now=now)
    result = create_order(store, admin, settings, order_request, expected_total=preview.total_today, now=now)
    return order_row(store, result.order_number)


def order_row(store, number: str) -> Order:
    with store.read() as s:
        return s.execute(select(Order).where(Order.number == number)).scalar_one()


def invoices_of(store, order: Order) -> list[Invoice]:
    return rows(store, Invoice, Invoice.order_id == order.id)


def periods(store, order: Order) -> list[tuple[int | None, date | None, date | None, str]]:
    return [(i.cycle, i.period_start, i.period_end, i.status) for i in invoices_of(store, order)]


def sales(store, order: Order) -> list[Transaction]:
    return rows(store, Transaction, Transaction.order_id == order.id, Transaction.type == "sale")


def decline_from_now_on(store) -> None:
    """The customer's card starts declining (as a real card that expired or ran out of funds would)."""
    with store.write(unrecorded="test fixture") as s:
        s.execute(text("UPDATE payment_instrument SET gateway_token = 'tok_decline'"))


def test_trial_end_bills_the_first_period_and_charges_it(store, admin, settings, customer):
    start = at(date(2027, 3, 1))
    order = place(store, admin, settings, start, ItemOverrides(trial_days=14))
    assert order.status == "active" and invoices_of(store, order) == [], "a free trial charges nothing today"

    assert run_billing(store, settings, now=start + timedelta(days=13)) == BillingReport()
    report = run_billing(store, settings, now=start + timedelta(days=14))
    assert (report.trials_ended, report.invoiced, report.collected, report.errors) == (1, 1, 1, 0)

    assert periods(store, order) == [(1, date(2027, 3, 15), date(2027, 4, 15), "paid")]
    [sale] = sales(store, order)
    assert (sale.status, sale.amount, sale.invoice_id) == ("approved", 1_250, invoices_of(store, order)[0].id)
    order = order_row(store, order.number)
    assert (order.status, order.cycles_billed, order.next_bill_date) == ("active", 1, date(2027, 4, 15))
    types = event_types(store, customer)
    assert types.index("trial_ended") < types.index("invoice_issued") < types.index("subscription_billed")
    assert events_of(store, customer, "trial_ended") == [{"product": "Product BASIC",
                                                          "order": order.number}]
    assert run_billing(store, settings, now=start + timedelta(days=20)) == BillingReport()


@pytest.mark.parametrize(("year", "february"), [(2027, 28), (2028, 29)])
def test_renewals_keep_the_anchor_day(store, admin, settings, customer, year, february):
    order = place(store, admin, settings, at(date(year, 1, 31)))
    assert periods(store, order) == [(1, date(year, 1, 31), date(year, 2, february), "paid")]

    report = run_billing(store, settings, now=at(date(year, 2, february)))
    assert (report.invoiced, report.collected) == (1, 1)
    report = run_billing(store, settings, now=at(date(year, 3, 31)))
    assert (report.invoiced, report.collected) == (1, 1)
    assert periods(store, order) == [
        (1, date(year, 1, 31), date(year, 2, february), "paid"),
        (2, date(year, 2, february), date(year, 3, 31), "paid"),
        (3, date(year, 3, 31), date(year, 4, 30), "paid"),
    ]
    assert [s.amount for s in sales(store, order)] == [1_250] * 3
    assert len(events_of(store, customer, "subscription_renewed")) == 2
    assert len(events_of(store, customer, "subscription_billed")) == 2


def test_a_clock_moved_months_ahead_bills_each_missed_period_once(store, admin, settings, customer):
    order = place(store, admin, settings, at(date(2027, 1, 31)))
    report = run_billing(store, settings, now=at(date(2027, 6, 1)), batch=2)
    assert (report.invoiced, report.collected, report.errors) == (4, 4, 0)
    assert [(c, s, e) for c, s, e, _ in periods(store, order)] == [
        (1, date(2027, 1, 31), date(2027, 2, 28)), (2, date(2027, 2, 28), date(2027, 3, 31)),
        (3, date(2027, 3, 31), date(2027, 4, 30)), (4, date(2027, 4, 30), date(2027, 5, 31)),
        (5, date(2027, 5, 31), date(2027, 6, 30))]


def test_running_twice_with_the_same_clock_bills_nothing_twice(store, admin, settings, customer):
    order = place(store, admin, settings, at(date(2027, 3, 1)))
    trial = place(store, admin, settings, at(date(2027, 3, 1)), ItemOverrides(trial_days=31))
    first = run_billing(store, settings, now=at(date(2027, 4, 1)))
    assert (first.invoiced, first.collected, first.trials_ended) == (2, 2, 1)
    assert run_billing(store, settings, now=at(date(2027, 4, 1))) == BillingReport()
    assert run_billing(store, settings, now=at(date(2027, 4, 1), 23)) == BillingReport()
    assert len(invoices_of(store, order)) == 2 and len(invoices_of(store, trial)) == 1
    assert count(store, Transaction) == 3 == count(store, SandboxOperation, SandboxOperation.operation == "sale")
    assert len(events_of(store, customer, "trial_ended")) == 1


def test_limited_recurrence_completes_after_its_last_period(store, admin, settings, customer):
    order = place(store, admin, settings, at(date(2027, 3, 1)), ItemOverrides(cycles=3))
    for month in (4, 5):
        assert run_billing(store, settings, now=at(date(2027, month, 1))).invoiced == 1
    assert order_row(store, order.number).status == "active", "the third period is paid for and runs to its end"
    report = run_billing(store, settings, now=at(date(2027, 6, 1)))
    assert (report.invoiced, report.completed) == (0, 1)
    order = order_row(store, order.number)
    assert (order.status, order.cycles_billed, order.next_bill_date) == ("completed", 3, None)
    assert order.completed_at is not None
    assert [c for c, *_ in periods(store, order)] == [1, 2, 3]
    assert events_of(store, customer, "order_completed") == [{"order": order.number,
                                                              "product": "Product BASIC"}]
    assert run_billing(store, settings, now=at(date(2027, 9, 1))) == BillingReport()


def test_in_arrears_bills_the_usage_recorded_in_the_period_at_the_metered_price(store, admin, settings, customer):
    start = at(date(2027, 3, 1))
    order = place(store, admin, settings, start,
                  ItemOverrides(unit_price=1_000, billing_timing=BillingTiming.ARREARS, metered_unit_price=25))
    assert invoices_of(store, order) == [], "in arrears: nothing billed when the period starts"
    charges.record_usage(store, admin, order.number, 3, date(2027, 3, 5), now=at(date(2027, 3, 5)))
    charges.record_usage(store, admin, order.number, 4, date(2027, 3, 31), now=at(date(2027, 3, 31)))
    charges.record_usage(store, admin, order.number, 10, date(2027, 4, 1), now=at(date(2027, 4, 1), 0))

    report = run_billing(store, settings, now=at(date(2027, 4, 1)))
    assert (report.invoiced, report.collected) == (1, 1)
    [invoice] = invoices_of(store, order)
    assert (invoice.cycle, invoice.period_start, invoice.period_end, invoice.total) == (
        1, date(2027, 3, 1), date(2027, 4, 1), 1_000 + 7 * 25)
    from agentdesk.db.models import InvoiceLine, UsageRecord

    lines = [(line.kind, line.quantity, line.unit_price, line.amount)
             for line in rows(store, InvoiceLine, InvoiceLine.invoice_id == invoice.id)]
    assert lines == [("item", 1, 1_000, 1_000), ("usage", 7, 25, 175)]
    assert [r.invoice_id for r in rows(store, UsageRecord)] == [invoice.id, invoice.id, None], \
        "April's usage waits for April's invoice"
    order = order_row(store, order.number)
    assert (order.period_start, order.period_end, order.next_bill_date) == (date(2027, 4, 1), date(2027, 5, 1),
                                                                           date(2027, 5, 1))
    run_billing(store, settings, now=at(date(2027, 5, 1)))
    assert invoices_of(store, order)[1].total == 1_000 + 10 * 25


def test_pending_orders_past_their_abandon_time_are_abandoned(store, admin, settings, customer):
    with store.write(unrecorded="test fixture") as s:
        s.execute(text("UPDATE payment_instrument SET gateway_token = 'tok_decline'"))
    start = at(date(2027, 3, 1))
    order = place(store, admin, settings, start, abandon_after_days=3)
    assert order.status == "pending" and [i.status for i in invoices_of(store, order)] == ["issued"]
    assert run_billing(store, settings, now=start + timedelta(days=2)).abandoned == 0
    report = run_billing(store, settings, now=start + timedelta(days=3))
    assert (report.abandoned, report.invoiced, report.collected) == (1, 0, 0)
    order = order_row(store, order.number)
    assert order.status == "abandoned" and [i.status for i in invoices_of(store, order)] == ["void"]
    [event] = events_of(store, customer, "order_abandoned")
    assert event["order"] == order.number and "void" in event["reason"]
    assert run_billing(store, settings, now=start + timedelta(days=40)) == BillingReport()


def test_dunning_retries_on_the_policy_schedule_then_stops(store, admin, settings, customer):
    order = place(store, admin, settings, at(date(2027, 3, 1)))
    decline_from_now_on(store)
    renewal = at(date(2027, 4, 1))
    report = run_billing(store, settings, now=renewal)
    assert (report.invoiced, report.collected, report.declined, report.dunning_retries) == (1, 0, 1, 0)
    invoice = invoices_of(store, order)[1]
    assert (invoice.status, invoice.attempts, invoice.next_attempt_at.replace(tzinfo=UTC)) == (
        "issued", 1, renewal + timedelta(days=1))
    assert order_row(store, order.number).in_credit_control
    assert event_types(store, customer)[-4:].count("credit_control_entered") == 1
    assert len(events_of(store, customer, "subscription_billing_failed")) == 1

    assert run_billing(store, settings, now=renewal + timedelta(hours=23)).dunning_retries == 0
    for attempt, (day, following) in enumerate([(1, 3), (3, 7), (7, None)], start=2):
        report = run_billing(store, settings, now=renewal + timedelta(days=day))
        assert (report.dunning_retries, report.declined, report.invoiced) == (1, 1, 0)
        invoice = invoices_of(store, order)[1]
        assert (invoice.status, invoice.attempts) == ("past_due", attempt)
        expected = renewal + timedelta(days=following) if following else None
        assert (invoice.next_attempt_at.replace(tzinfo=UTC) if invoice.next_attempt_at else None) == expected
    failed = events_of(store, customer, "billing_resubmission_failed")
    assert [e["attempt"] for e in failed] == [2, 3, 4]
    assert run_billing(store, settings, now=renewal + timedelta(days=20)).dunning_retries == 0
    assert len([s for s in sales(store, order) if s.status == "declined"]) == 4


def test_a_retry_that_is_paid_leaves_credit_control(store, admin, settings, customer):
    order = place(store, admin, settings, at(date(2027, 3, 1)))
    decline_from_now_on(store)
    run_billing(store, settings, now=at(date(2027, 4, 1)))
    with store.write(unrecorded="test fixture") as s:  # the customer topped up their card
        s.execute(text("UPDATE payment_instrument SET gateway_token = 'tok_approve'"))
    report = run_billing(store, settings, now=at(date(2027, 4, 2)))
    assert (report.dunning_retries, report.collected) == (1, 1)
    invoice = invoices_of(store, order)[1]
    assert (invoice.status, invoice.attempts, invoice.next_attempt_at) == ("paid", 2, None)
    assert not order_row(store, order.number).in_credit_control
    assert events_of(store, customer, "credit_control_exited")[0]["invoice"] == invoice.number


def test_a_subscription_unpaid_past_its_delinquency_period_is_cancelled(store, admin, settings, customer):
    order = place(store, admin, settings, at(date(2027, 3, 1)), delinquency_days=10)
    decline_from_now_on(store)
    renewal = at(date(2027, 4, 1))
    run_billing(store, settings, now=renewal)
    report = run_billing(store, settings, now=renewal + timedelta(days=9))
    assert report.cancelled_delinquent == 0 and order_row(store, order.number).status == "active"
    report = run_billing(store, settings, now=renewal + timedelta(days=10))
    assert report.cancelled_delinquent == 1
    order = order_row(store, order.number)
    assert (order.status, order.next_bill_date) == ("cancelled", None) and order.cancelled_at is not None
    assert [i.status for i in invoices_of(store, order)] == ["paid", "uncollectible"]
    [cancelled] = events_of(store, customer, "subscription_cancelled")
    assert cancelled == {"product": "Product BASIC", "order": order.number, "reason": "unpaid"}
    assert run_billing(store, settings, now=renewal + timedelta(days=60)) == BillingReport()
    assert len(invoices_of(store, order)) == 2


def test_an_order_without_autopay_is_invoiced_but_not_charged(store, admin, settings, customer):
    order = place(store, admin, settings, at(date(2027, 3, 1)), autopay=False)
    assert order.status == "pending", "without autopay the order starts when its first invoice is paid"
    invoices.collect_invoice(store, admin, settings, invoices_of(store, order)[0].id, now=at(date(2027, 3, 2)))
    assert order_row(store, order.number).status == "active"
    report = run_billing(store, settings, now=at(date(2027, 4, 1)))
    assert (report.invoiced, report.collected, report.declined) == (1, 0, 0)
    assert [i.status for i in invoices_of(store, order)] == ["paid", "issued"] and len(sales(store, order)) == 1
    assert invoices_of(store, order)[1].next_attempt_at is None
    assert run_billing(store, settings, now=at(date(2027, 4, 2))) == BillingReport()
    assert [i.status for i in invoices_of(store, order)] == ["paid", "past_due"], "unpaid after its due time"
    assert len(sales(store, order)) == 1


def test_a_renewal_a_coupon_pays_in_full_gets_a_paid_invoices_bookkeeping(store, admin, settings, customer):
    from agentdesk.services.billing import coupons

    order = place(store, admin, settings, at(date(2027, 3, 1)))
    coupons.create_coupon(store, admin, "FREE", "percent", percent="100", duration="forever")
    coupons.redeem_on_account(store, admin, "C-1", "FREE")
    with store.write(unrecorded="test fixture") as s:  # an earlier retry left the order in credit control
        s.execute(text("UPDATE orders SET in_credit_control = :on"), {"on": True})
    report = run_billing(store, settings, now=at(date(2027, 4, 1)))
    assert (report.invoiced, report.collected, report.errors) == (1, 0, 0)
    renewal = invoices_of(store, order)[1]
    assert (renewal.total, renewal.status, renewal.attempts) == (0, "paid", 0)
    assert len(sales(store, order)) == 1, "nothing owed: nothing charged"
    billed = events_of(store, customer, "subscription_billed")
    assert [(e["invoice"], e["amount"], e.get("transaction")) for e in billed] == [(renewal.number, 0, None)]
    assert events_of(store, customer, "credit_control_exited")[0]["invoice"] == renewal.number
    assert not order_row(store, order.number).in_credit_control


def test_bill_now_bills_the_next_cycle_once_and_the_renewal_does_not_bill_it_again(store, actors, settings,
                                                                                    customer):
    from agentdesk.domain.enums import Role
    from agentdesk.domain.errors import Conflict, PermissionDenied
    from agentdesk.services.billing.engine import bill_now

    admin = actors[Role.ADMIN]
    order = place(store, admin, settings, at(date(2027, 3, 10)))
    with pytest.raises(PermissionDenied):
        bill_now(store, actors[Role.SALES], settings, order.number)
    preview = bill_now(store, actors[Role.AGENT], settings, order.number, preview=True, now=at(date(2027, 3, 20)))
    assert preview.cycle == 2 and preview.amount == 1_250 and "Would bill cycle 2" in preview.message
    assert (preview.period_start, preview.period_end) == (date(2027, 4, 10), date(2027, 5, 10))
    assert len(invoices_of(store, order)) == 1, "a preview writes nothing"
    assert order_row(store, order.number).next_bill_date == date(2027, 4, 10)

    done = bill_now(store, actors[Role.AGENT], settings, order.number, reason="customer asked",
                    now=at(date(2027, 3, 20)))
    assert done.ok and done.payment == "approved" and done.invoice
    assert periods(store, order)[-1] == (2, date(2027, 4, 10), date(2027, 5, 10), "paid")
    assert order_row(store, order.number).next_bill_date == date(2027, 5, 10)
    [event] = events_of(store, customer, "subscription_billed_now")
    assert event["order"] == order.number and event["reason"] == "customer asked"
    assert run_billing(store, settings, now=at(date(2027, 4, 10))).invoiced == 0, "cycle 2 is billed already"
    assert len(sales(store, order)) == 2

    trial = place(store, admin, settings, at(date(2027, 3, 10)), ItemOverrides(trial_days=30))
    with pytest.raises(Conflict, match="skip the trial"):
        bill_now(store, admin, settings, trial.number, now=at(date(2027, 3, 20)))


def test_the_billing_run_carries_out_a_cancellation_due_at_period_end_before_renewing(store, admin, settings,
                                                                                        customer):
    from agentdesk.services.orders import subscriptions as subs

    order = place(store, admin, settings, at(date(2027, 3, 10)))
    subs.cancel(store, admin, settings, order.number, at_period_end=True, now=at(date(2027, 3, 15)))
    report = run_billing(store, settings, now=at(date(2027, 4, 10)))
    assert (report.scheduled_changes, report.invoiced) == (1, 0)
    assert order_row(store, order.number).status == "cancelled"
    assert len(invoices_of(store, order)) == 1
