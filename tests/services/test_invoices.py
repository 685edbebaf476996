"""Issuing invoices (lines, coupons, account charges, credit drawn down, exactly once per billing key) and
collecting them through the sandbox gateway (approved, declined with dunning, backup instruments, timeouts
repaired without a second charge), on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from agentdesk.config import load_settings
from agentdesk.db.models import (
    AccountCharge,
    CreditApplication,
    CreditMemo,
    Customer,
    Invoice,
    InvoiceDiscount,
    InvoiceLine,
    Order,
    SandboxOperation,
    TimelineEvent,
    Transaction,
)
from agentdesk.domain.enums import CouponDuration, InvoiceLineKind, OrderKind, OrderStatus, Role
from agentdesk.domain.errors import PermissionDenied
from agentdesk.domain.permissions import SYSTEM
from agentdesk.domain.pricing import Line
from agentdesk.services.billing import coupons, invoices
from agentdesk.services.money import payments

from .billing_helpers import (
    APPROVE,
    DECLINE,
    NOW,
    TIMEOUT,
    add_coupon,
    add_customer,
    add_order,
    add_plan,
    count,
    email_jobs,
    event_types,
    events_of,
    invoice_row,
    issue,
    lines_of,
    rows,
)


@pytest.fixture
def settings(store, tmp_path):
    return load_settings(store.url, env={"AGENTDESK_DATA_DIR": str(tmp_path / "data")})


@pytest.fixture
def plans(store):
    add_plan(store, "BASIC", 1_250)
    add_plan(store, "PRO", 3_000)
    add_plan(store, "YEN", 1_999, "JPY")
    add_plan(store, "DINAR", 12_345, "KWD")


def redeem(store, admin, code: str, customer_id: int, order_id: int | None) -> None:
    with store.write() as s:
        coupon = coupons.check_coupon(s, code, currency="USD", plan_codes=["BASIC", "PRO"], now=NOW)
        coupons.redeem(s, admin, coupon, customer_id, order_id, NOW)


# --- issuing ---------------------------------------------------------------------------------------------


def test_lines_are_quantity_times_unit_price_and_a_percent_coupon_once(store, admin, settings, plans):
    cid = add_customer(store, admin, settings)
    order = add_order(store, cid, [("BASIC", 3, 1_250), ("PRO", 1, 2_999)])
    add_coupon(store, "TEN", percent_bp=1_000, duration=CouponDuration.ONCE)
    redeem(store, admin, "ten", cid, order)
    invoice = issue(store, admin, order)
    assert invoice is not None and invoice.number == f"INV-{invoice.id:08d}"
    lines = lines_of(store, invoice.id)
    assert [(line.quantity, line.unit_price, line.amount, line.discount, line.total) for line in lines] == [
        (3, 1_250, 3_750, 375, 3_375), (1, 2_999, 2_999, 300, 2_699)]
    assert all(line.order_item_id is not None and line.kind == "item" for line in lines)
    row = invoice_row(store, invoice.id)
    assert (row.subtotal, row.discount, row.credit_applied, row.total, row.status) == (6_749, 675, 0, 6_074, "issued")
    assert count(store, InvoiceDiscount) == 2
    issued = events_of(store, cid, "invoice_issued")
    assert issued == [{"invoice": invoice.number, "amount": 6_074, "currency": "USD",
                       "order": f"ORD-{order:08d}", "due": "2027-03-01"}]
    assert events_of(store, cid, "coupon_redeemed")[0]["scope"] == "order"
    redemption = rows(store, coupons.CouponRedemption)[0]
    assert redemption.cycles_applied == 1 and redemption.ended_at is not None, "a once coupon ends after one invoice"
    second = issue(store, admin, order, cycle=2)
    assert second is not None and invoice_row(store, second.id).discount == 0


def test_fixed_coupon_spreads_over_eligible_lines_never_below_zero(store, admin, settings, plans):
    cid = add_customer(store, admin, settings)
    order = add_order(store, cid, [("BASIC", 1, 1_000), ("PRO", 1, 3_000)])
    add_coupon(store, "BIG", amounts={"USD": 5_000}, duration=CouponDuration.REPEATING, cycles=2)
    redeem(store, admin, "BIG", cid, order)
    shipping = Line(InvoiceLineKind.SHIPPING, "Shipping", 1, 500)
    invoice = issue(store, admin, order, extra=[shipping])
    lines = lines_of(store, invoice.id)
    assert [(line.kind, line.discount, line.total) for line in lines] == [
        ("item", 1_000, 0), ("item", 3_000, 0), ("shipping", 0, 500)], "shipping is never discounted"
    assert invoice_row(store, invoice.id).total == 500
    partial_order = add_order(store, cid, [("BASIC", 1, 1_000), ("PRO", 1, 3_000)])
    add_coupon(store, "FIVE", amounts={"USD": 1_000})
    redeem(store, admin, "FIVE", cid, partial_order)
    spread = issue(store, admin, partial_order)
    assert [line.discount for line in lines_of(store, spread.id)] == [250, 750], "spread in proportion to the lines"
    redemption = rows(store, coupons.CouponRedemption, coupons.CouponRedemption.order_id == order)[0]
    assert redemption.cycles_applied == 1 and redemption.ended_at is None, "a 2-cycle coupon has one left"
    issue(store, admin, order, cycle=2)
    redemption = rows(store, coupons.CouponRedemption, coupons.CouponRedemption.order_id == order)[0]
    assert redemption.cycles_applied == 2 and redemption.ended_at is not None


def test_a_coupon_never_discounts_one_line_twice(store, admin, settings, plans):
    from sqlalchemy.exc import IntegrityError

    cid = add_customer(store, admin, settings)
    order = add_order(store, cid, [("BASIC", 1, 1_250)])
    add_coupon(store, "TEN", percent_bp=1_000)
    redeem(store, admin, "TEN", cid, order)
    invoice = issue(store, admin, order)
    discount = rows(store, InvoiceDiscount)[0]
    with pytest.raises(IntegrityError), store.write(unrecorded="test: a second discount row") as s:
        s.add(InvoiceDiscount(invoice_line_id=discount.invoice_line_id, redemption_id=discount.redemption_id,
                              amount=1))
    assert count(store, InvoiceDiscount) == 1 and invoice_row(store, invoice.id).discount == 125
    with pytest.raises(coupons.InvalidInput, match="already applied to this order"):
        redeem(store, admin, "TEN", cid, order)


def test_plan_restriction_and_minimum(store, admin, settings, plans):
    cid = add_customer(store, admin, settings)
    order = add_order(store, cid, [("BASIC", 1, 1_250), ("PRO", 1, 3_000)])
    add_coupon(store, "PROONLY", percent_bp=5_000, plans=["PRO"])
    add_coupon(store, "BIGSPEND", amounts={"USD": 1_000}, minimum={"USD": 10_000})
    redeem(store, admin, "PROONLY", cid, order)
    redeem(store, admin, "BIGSPEND", cid, order)
    invoice = issue(store, admin, order)
    assert [line.discount for line in lines_of(store, invoice.id)] == [0, 1_500]
    bigspend = rows(store, coupons.CouponRedemption)[1]
    assert bigspend.cycles_applied == 0 and bigspend.ended_at is None, "below the minimum: nothing used"
    with store.read() as s, pytest.raises(coupons.InvalidInput, match="applies only to PRO") as refused:
        coupons.check_coupon(s, "PROONLY", currency="USD", plan_codes=["BASIC"], now=NOW)
    assert refused.value.fields == {"coupon": "coupon PROONLY applies only to PRO"}


def test_account_charges_are_billed_once_with_the_next_invoice(store, admin, settings, plans):
    cid = add_customer(store, admin, settings)
    order = add_order(store, cid, [("BASIC", 1, 1_250)])
    with store.write() as s:
        s.add(AccountCharge(customer_id=cid, amount=700, currency="USD", description="Late fee"))
        s.add(AccountCharge(customer_id=cid, amount=900, currency="EUR", description="Other currency"))
        from agentdesk.services.timeline.catalog import EventType
        from agentdesk.services.timeline.record import record_event
        record_event(s, admin, cid, EventType.MANUAL_CHARGE, amount=700, currency="USD")
    invoice = issue(store, admin, order)
    assert [(line.kind, line.total) for line in lines_of(store, invoice.id)] == [("item", 1_250), ("charge", 700)]
    second = issue(store, admin, order, cycle=2)
    assert [line.kind for line in lines_of(store, second.id)] == ["item"], "a charge is billed once"
    assert [c.invoice_id for c in rows(store, AccountCharge)] == [invoice.id, None]


def test_a_charge_named_by_its_line_or_tied_to_another_order(store, admin, settings, plans):
    cid = add_customer(store, admin, settings)
    order, other = add_order(store, cid, [("BASIC", 1, 1_250)]), add_order(store, cid, [("PRO", 1, 3_000)])
    with store.write() as s:
        own = AccountCharge(customer_id=cid, amount=300, currency="USD", description="Now", order_id=order)
        tied = AccountCharge(customer_id=cid, amount=400, currency="USD", description="Other's", order_id=other)
        s.add_all([own, tied])
        s.flush()
        own_id, tied_id = own.id, tied.id
        from agentdesk.services.timeline.catalog import EventType
        from agentdesk.services.timeline.record import record_event
        record_event(s, admin, cid, EventType.MANUAL_CHARGE, amount=700, currency="USD")
        alone = invoices.issue_invoice(
            s, admin, customer_id=cid, order=None, cycle=None,
            lines=[Line(InvoiceLineKind.CHARGE, "Now", 1, 300, None, own_id)], currency="USD",
            billing_key=f"charge-{own_id}", period_start=None, period_end=None, issued_at=NOW, due_at=NOW,
            include_account_charges=False, now=NOW)
        assert alone is not None
    assert [(line.kind, line.total) for line in lines_of(store, alone.id)] == [("charge", 300)]
    first = issue(store, admin, order)
    assert [line.kind for line in lines_of(store, first.id)] == ["item"], "another order's charge waits for it"
    theirs = issue(store, admin, other)
    assert [(line.kind, line.total) for line in lines_of(store, theirs.id)] == [("item", 3_000), ("charge", 400)]
    assert {c.id: c.invoice_id for c in rows(store, AccountCharge)} == {own_id: alone.id, tied_id: theirs.id}


def test_an_invoice_too_large_is_refused_whole(store, admin, settings, plans):
    cid = add_customer(store, admin, settings)
    order = add_order(store, cid, [("PRO", 1, 3_000)])
    huge = Line(InvoiceLineKind.ITEM, "Huge", 10**9, 10**9, "PRO")
    with pytest.raises(invoices.InvalidInput, match="more than one line can bill"):
        issue(store, admin, order, extra=[huge])
    assert count(store, Invoice) == 0 and count(store, InvoiceLine) == 0


def test_credit_memos_drawn_oldest_first_never_below_zero(store, admin, settings, plans):
    cid = add_customer(store, admin, settings)
    first = payments.create_credit_memo(store, admin, "C-1", 1_000, "USD", "goodwill")
    second = payments.create_credit_memo(store, admin, "C-1", 5_000, "USD", "refund as credit")
    payments.create_credit_memo(store, admin, "C-1", 9_000, "EUR", "other currency")
    order = add_order(store, cid, [("PRO", 1, 3_000)])
    invoice = issue(store, admin, order)
    row = invoice_row(store, invoice.id)
    assert (row.credit_applied, row.total, row.status) == (3_000, 0, "paid") and row.paid_at is not None
    remaining = {m.id: m.remaining for m in rows(store, CreditMemo)}
    assert remaining[first.id] == 0 and remaining[second.id] == 3_000
    assert [(a.credit_memo_id, a.amount) for a in rows(store, CreditApplication)] == [(first.id, 1_000),
                                                                                        (second.id, 2_000)]
    assert [e["amount"] for e in events_of(store, cid, "credit_applied")] == [1_000, 2_000]
    big = add_order(store, cid, [("PRO", 4, 3_000)])
    later = issue(store, admin, big)
    assert (invoice_row(store, later.id).credit_applied, invoice_row(store, later.id).total) == (3_000, 9_000)
    assert {m.currency: m.remaining for m in rows(store, CreditMemo) if m.remaining} == {"EUR": 9_000}


@pytest.mark.parametrize(("plan", "currency", "price", "coupon", "discount"), [
    ("YEN", "JPY", 1_999, {"percent_bp": 1_500}, 600),
    ("DINAR", "KWD", 12_345, {"amounts": {"KWD": 1_500}}, 1_500),
])
def test_currencies_with_no_and_three_decimals(store, admin, settings, plans, plan, currency, price, coupon, discount):
    cid = add_customer(store, admin, settings)
    order = add_order(store, cid, [(plan, 2, price)], currency=currency)
    add_coupon(store, "OFF", **coupon)
    with store.write() as s:
        found = coupons.check_coupon(s, "OFF", currency=currency, plan_codes=[plan], now=NOW)
        coupons.redeem(s, admin, found, cid, order, NOW)
    invoice = issue(store, admin, order)
    row = invoice_row(store, invoice.id)
    assert (row.currency, row.subtotal, row.discount, row.total) == (currency, 2 * price, discount,
                                                                     2 * price - discount)
    with store.read() as s:
        subject, body = invoices.invoice_email(row, lines_of(store, invoice.id), "Grace Hopper")
    money = invoices.format_amount(row.total, currency)
    assert money in subject and money in body
    assert ("." not in money.split()[0]) if currency == "JPY" else (len(money.split()[0].split(".")[1]) == 3)


def test_an_existing_billing_key_writes_nothing(store, admin, settings, plans):
    cid = add_customer(store, admin, settings)
    order = add_order(store, cid, [("BASIC", 1, 1_250)])
    payments.create_credit_memo(store, admin, "C-1", 100, "USD", "goodwill")
    add_coupon(store, "TEN", percent_bp=1_000)
    redeem(store, admin, "TEN", cid, order)
    assert issue(store, admin, order) is not None
    before = (count(store, Invoice), count(store, InvoiceLine), count(store, TimelineEvent),
              count(store, CreditApplication), [m.remaining for m in rows(store, CreditMemo)],
              [r.cycles_applied for r in rows(store, coupons.CouponRedemption)])
    assert issue(store, admin, order) is None
    after = (count(store, Invoice), count(store, InvoiceLine), count(store, TimelineEvent),
             count(store, CreditApplication), [m.remaining for m in rows(store, CreditMemo)],
             [r.cycles_applied for r in rows(store, coupons.CouponRedemption)])
    assert after == before


# --- collecting ------------------------------------------------------------------------------------------


def test_collect_approved_pays_the_invoice_and_starts_the_order(store, admin, settings, plans):
    cid = add_customer(store, admin, settings)
    order = add_order(store, cid, [("BASIC", 2, 1_250)], status=OrderStatus.PENDING)
    invoice = issue(store, admin, order)
    result = invoices.collect_invoice(store, admin, settings, invoice.id, now=NOW)
    assert result.ok and result.status == "approved" and result.amount == 2_500
    row = invoice_row(store, invoice.id)
    assert (row.status, row.amount_paid, row.attempts, row.next_attempt_at) == ("paid", 2_500, 1, None)
    txn = rows(store, Transaction)[0]
    assert (txn.invoice_id, txn.order_id, txn.status, txn.amount) == (invoice.id, order, "approved", 2_500)
    assert txn.idempotency_key == f"invoice-{invoice.id}-attempt-1" and txn.seal is not None
    with store.read() as s:
        customer = s.get(Customer, cid)
        started = s.get(Order, order)
    assert customer.payment_count == 1 and customer.last_payment_at is not None
    assert started.status == "active" and started.abandon_at is None
    assert events_of(store, cid, "invoice_paid") == [{"invoice": invoice.number, "amount": 2_500, "currency": "USD",
                                                     "order": f"ORD-{order:08d}", "transaction": txn.id}]
    assert "subscription_billed" not in event_types(store, cid), "a first payment is not a renewal"
    assert [j["subject"] for j in email_jobs(store, cid)] == [f"Receipt for {invoice.number}"]
    again = invoices.collect_invoice(store, admin, settings, invoice.id, now=NOW)
    assert again.status == "nothing_due" and count(store, Transaction) == 1


def test_collect_a_renewal_records_subscription_billed_and_one_time_completes(store, admin, settings, plans):
    cid = add_customer(store, admin, settings)
    order = add_order(store, cid, [("PRO", 1, 3_000)])
    renewal = issue(store, admin, order, cycle=2)
    assert invoices.collect_invoice(store, SYSTEM, settings, renewal.id, now=NOW).ok
    billed = events_of(store, cid, "subscription_billed")
    assert billed and billed[0]["invoice"] == renewal.number and billed[0]["amount"] == 3_000
    once = add_order(store, cid, [("BASIC", 1, 1_250)], kind=OrderKind.ONE_TIME, status=OrderStatus.PENDING)
    invoice = issue(store, admin, once)
    assert invoices.collect_invoice(store, admin, settings, invoice.id, now=NOW).ok
    with store.read() as s:
        done = s.get(Order, once)
    assert done.status == "completed" and done.completed_at is not None
    assert events_of(store, cid, "order_completed")[-1]["order"] == done.number


def test_collect_needs_the_billing_right(store, actors, settings, plans):
    cid = add_customer(store, actors[Role.ADMIN], settings)
    invoice = issue(store, actors[Role.ADMIN], add_order(store, cid, [("BASIC", 1, 1_250)]))
    with pytest.raises(PermissionDenied):
        invoices.collect_invoice(store, actors[Role.SALES], settings, invoice.id)
    assert invoices.collect_invoice(store, actors[Role.FINANCE], settings, invoice.id).ok


def test_declined_renewal_follows_the_dunning_schedule(store, admin, settings, plans):
    cid = add_customer(store, admin, settings, cards=(DECLINE,))
    order = add_order(store, cid, [("PRO", 1, 3_000)])
    invoice = issue(store, admin, order, cycle=2)
    first = invoices.collect_invoice(store, SYSTEM, settings, invoice.id, now=NOW)
    assert first.status == "declined" and "declined" in first.message
    row = invoice_row(store, invoice.id)
    assert row.status == "issued" and row.next_attempt_at == row.due_at + timedelta(days=1)
    failed = events_of(store, cid, "subscription_billing_failed")
    assert failed and failed[0]["invoice"] == invoice.number and failed[0]["order"] == f"ORD-{order:08d}"
    assert events_of(store, cid, "credit_control_entered") == [{"order": f"ORD-{order:08d}",
                                                               "invoice": invoice.number}]
    with store.read() as s:
        assert s.get(Order, order).in_credit_control
    assert rows(store, Transaction)[0].seal is not None, "the declined attempt is bound to its event"
    for attempt, days in [(2, 3), (3, 7), (4, None)]:
        invoices.collect_invoice(store, SYSTEM, settings, invoice.id, now=NOW)
        row = invoice_row(store, invoice.id)
        assert row.attempts == attempt
        assert row.next_attempt_at == (row.due_at + timedelta(days=days) if days else None)
    resubmissions = events_of(store, cid, "billing_resubmission_failed")
    assert [e["attempt"] for e in resubmissions] == [2, 3, 4]
    assert len(events_of(store, cid, "credit_control_entered")) == 1
    assert len([j for j in email_jobs(store, cid) if j["subject"].startswith("Payment failed")]) == 4
    good = payments_add_card(store, admin, settings, APPROVE)
    paid = invoices.collect_invoice(store, admin, settings, invoice.id, instrument_id=good, now=NOW)
    assert paid.ok and invoice_row(store, invoice.id).status == "paid"
    assert events_of(store, cid, "credit_control_exited") == [{"order": f"ORD-{order:08d}", "invoice": invoice.number}]
    with store.read() as s:
        assert not s.get(Order, order).in_credit_control


def payments_add_card(store, admin, settings, number: str, backup: bool = False) -> int:
    from agentdesk.services.money import instruments

    return instruments.add_card(store, admin, settings, "C-1", number, "12/30", allow_backup=backup)


def test_declined_first_payment_of_a_new_order_is_not_retried(store, admin, settings, plans):
    cid = add_customer(store, admin, settings, cards=(DECLINE,))
    order = add_order(store, cid, [("PRO", 1, 3_000)], status=OrderStatus.PENDING)
    invoice = issue(store, admin, order)
    result = invoices.collect_invoice(store, admin, settings, invoice.id, now=NOW)
    assert result.status == "declined"
    row = invoice_row(store, invoice.id)
    assert row.next_attempt_at is None and row.status == "issued"
    assert events_of(store, cid, "payment_failed")[0]["invoice"] == invoice.number
    assert "subscription_billing_failed" not in event_types(store, cid)
    with store.read() as s:
        assert s.get(Order, order).status == "pending" and s.get(Customer, cid).payment_count == 0
    assert any(j["subject"] == f"Payment failed for {invoice.number}" for j in email_jobs(store, cid))


def test_a_backup_instrument_is_tried_when_the_first_declines(store, admin, settings, plans):
    cid = add_customer(store, admin, settings, cards=(DECLINE, APPROVE), backup=True)
    order = add_order(store, cid, [("PRO", 1, 3_000)])
    invoice = issue(store, admin, order, cycle=2)
    result = invoices.collect_invoice(store, SYSTEM, settings, invoice.id, now=NOW)
    assert result.ok
    txns = rows(store, Transaction)
    assert [t.status for t in txns] == ["declined", "approved"]
    assert txns[1].idempotency_key == f"invoice-{invoice.id}-attempt-1-backup-{txns[1].instrument_id}"
    assert all(t.seal is not None for t in txns) and all(t.invoice_id == invoice.id for t in txns)
    assert "subscription_billing_failed" not in event_types(store, cid)
    assert invoice_row(store, invoice.id).status == "paid"


def test_a_card_not_allowed_for_backup_is_not_charged(store, admin, settings, plans):
    cid = add_customer(store, admin, settings, cards=(DECLINE, APPROVE), backup=False)
    invoice = issue(store, admin, add_order(store, cid, [("PRO", 1, 3_000)]), cycle=2)
    assert invoices.collect_invoice(store, SYSTEM, settings, invoice.id, now=NOW).status == "declined"
    assert count(store, Transaction) == 1


def test_a_timeout_stays_pending_and_the_repair_finishes_it_once(store, admin, settings, plans):
    cid = add_customer(store, admin, settings, cards=(TIMEOUT,))
    order = add_order(store, cid, [("PRO", 1, 3_000)], status=OrderStatus.PENDING)
    invoice = issue(store, admin, order)
    result = invoices.collect_invoice(store, admin, settings, invoice.id, now=NOW)
    assert result.status == "pending" and "never charged twice" in result.message
    again = invoices.collect_invoice(store, admin, settings, invoice.id, now=NOW)
    assert again.status == "pending" and count(store, Transaction) == 1, "no second charge while one is pending"
    assert invoice_row(store, invoice.id).status == "issued"
    assert invoices.repair_pending_payments(store, settings) == 1
    txn = rows(store, Transaction)[0]
    assert txn.status == "approved" and txn.seal is not None
    assert invoice_row(store, invoice.id).status == "paid"
    with store.read() as s:
        assert s.get(Customer, cid).payment_count == 1 and s.get(Order, order).status == "active"
        operations = s.execute(select(SandboxOperation).where(SandboxOperation.operation == "sale")).scalars().all()
    assert len(operations) == 1, "the gateway moved money once"
    assert invoices.repair_pending_payments(store, settings) == 0
    assert count(store, Transaction) == 1


def test_start_up_repairs_a_pending_invoice_payment(store, admin, settings, plans):
    from agentdesk.services.jobs import runner

    cid = add_customer(store, admin, settings, cards=(TIMEOUT,))
    invoice = issue(store, admin, add_order(store, cid, [("PRO", 1, 3_000)]), cycle=2)
    assert invoices.collect_invoice(store, SYSTEM, settings, invoice.id, now=NOW).status == "pending"
    report = runner.start_up(store, settings, checkpoint=False)
    assert report.payments_repaired == 1 and invoice_row(store, invoice.id).status == "paid"
    assert events_of(store, cid, "subscription_billed")[0]["invoice"] == invoice.number


# --- reading and resending -------------------------------------------------------------------------------


def test_list_show_and_resend(store, actors, settings, plans):
    admin = actors[Role.ADMIN]
    cid = add_customer(store, admin, settings)
    order = add_order(store, cid, [("BASIC", 2, 1_250)])
    add_coupon(store, "TEN", percent_bp=1_000)
    redeem(store, admin, "TEN", cid, order)
    payments.create_credit_memo(store, admin, "C-1", 500, "USD", "goodwill")
    first = issue(store, admin, order, notes="PO 4471\nthank you")
    invoices.collect_invoice(store, admin, settings, first.id, now=NOW)
    second = issue(store, admin, order, cycle=2)
    sales = actors[Role.SALES]
    listed = invoices.list_invoices(store, sales, "C-1")
    assert [i.number for i in listed] == [second.number, first.number], "newest first"
    assert [i.number for i in invoices.list_invoices(store, sales, cid, status="paid")] == [first.number]
    assert [i.number for i in invoices.open_invoices(store, sales, cid)] == [second.number]
    with pytest.raises(invoices.InvalidInput, match="status"):
        invoices.list_invoices(store, sales, cid, status="sent")
    detail = invoices.invoice_detail(store, sales, first.number.lower())
    assert detail.customer_name == "Grace Hopper" and detail.order_number == f"ORD-{order:08d}"
    assert detail.lines[0].discounts == [("TEN", 250)] and detail.lines[0].amount == 2_500
    assert [c.amount for c in detail.credits] == [500] and detail.total == 1_750
    assert [p.status for p in detail.payments] == ["approved"] and detail.payments[0].instrument
    assert detail.notes == "PO 4471\nthank you"
    as_json = detail.to_dict()
    assert as_json["lines"][0]["discounts"] == [{"coupon": "TEN", "amount": 250}] and as_json["status"] == "paid"
    with pytest.raises(invoices.NotFound):
        invoices.invoice_detail(store, sales, "INV-99999999")
    with pytest.raises(PermissionDenied):
        invoices.resend_invoice(store, sales, first.number)
    assert invoices.resend_invoice(store, actors[Role.AGENT], first.number) == "c-1@example.com"
    invoices.resend_invoice(store, actors[Role.AGENT], first.number)
    resent = [j for j in email_jobs(store, cid) if j["subject"].startswith(f"Invoice {first.number}")]
    assert len(resent) == 2 and "PO 4471" in resent[0]["body"] and "TEN" not in resent[0]["subject"]
    assert events_of(store, cid, "invoice_resent") == [{"invoice": first.number, "to": "c-1@example.com"}] * 2


def test_resend_refused_without_an_email(store, admin, settings, plans):
    cid = add_customer(store, admin, settings, external_id="C-2", email="")
    invoice = issue(store, admin, add_order(store, cid, [("BASIC", 1, 1_250)]))
    with pytest.raises(invoices.Conflict, match="no email"):
        invoices.resend_invoice(store, admin, invoice.number)
    assert events_of(store, cid, "invoice_resent") == []
