"""Invoice actions: void (credit back, charges released), mark paid outside, apply credit, write off — their
rules, refusals, who may, and what the store and the timeline hold afterwards (SQLite and PostgreSQL)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from sqlalchemy import select, update

from agentdesk.config import load_settings
from agentdesk.db.models import (
    AccountCharge,
    Coupon,
    CouponRedemption,
    CreditApplication,
    CreditMemo,
    Customer,
    Invoice,
    Order,
    OrderItem,
    Transaction,
    UsageRecord,
)
from agentdesk.domain.enums import CouponDuration, InvoiceStatus, OrderKind, OrderStatus, Role, TransactionStatus
from agentdesk.domain.errors import Conflict, InvalidInput, PermissionDenied
from agentdesk.domain.permissions import POLICY, Action
from agentdesk.services.billing import charges, coupons, invoices
from agentdesk.services.billing import invoice_actions as actions
from agentdesk.services.money import payments

from ..conftest import policy
from .billing_helpers import (
    NOW,
    add_coupon,
    add_customer,
    add_order,
    add_plan,
    email_jobs,
    event_types,
    events_of,
    invoice_row,
    issue,
    rows,
)


@pytest.fixture
def settings(store, tmp_path):
    return load_settings(store.url, env={"AGENTDESK_DATA_DIR": str(tmp_path / "data")})


@pytest.fixture
def customer(store, actors, settings) -> int:
    add_plan(store, "BASIC", 2_500)
    return add_customer(store, actors[Role.ADMIN], settings)


def open_invoice(store, admin, customer_id: int, *, status: OrderStatus = OrderStatus.ACTIVE,
                 kind: OrderKind = OrderKind.SUBSCRIPTION) -> Invoice:
    order_id = add_order(store, customer_id, [("BASIC", 1, 2_500)], status=status, kind=kind, autopay=False)
    invoice = issue(store, admin, order_id)
    assert invoice is not None and invoice.status is InvoiceStatus.ISSUED
    return invoice


def memo(store, admin, amount: int, reason: str = "goodwill") -> int:
    return payments.create_credit_memo(store, admin, "C-1", amount, "USD", reason).id


def remaining(store, memo_id: int) -> int:
    return rows(store, CreditMemo, CreditMemo.id == memo_id)[0].remaining


def customer_row(store, customer_id: int) -> Customer:
    return rows(store, Customer, Customer.id == customer_id)[0]


def test_void_returns_the_credit_releases_the_charges_and_is_recorded(store, actors, settings, customer):
    admin = actors[Role.ADMIN]
    first, second = memo(store, admin, 1_000, "first"), memo(store, admin, 300, "second")
    charge = charges.add_charge(store, admin, settings, "C-1", 700, "USD", "replacement cable")
    invoice = open_invoice(store, admin, customer)
    assert (invoice.subtotal, invoice.credit_applied, invoice.total) == (3_200, 1_300, 1_900)
    assert remaining(store, first) == remaining(store, second) == 0

    preview = actions.preview_action(store, admin, invoice.number, "void")
    assert (preview.amount, preview.credit_returned, preview.charges_released) == (1_900, 1_300, 1)
    assert "13.00 USD of credit" in preview.sentence and invoice_row(store, invoice.id).status is InvoiceStatus.ISSUED

    done = actions.void_invoice(store, admin, invoice.number, reason="sold in error", now=NOW)
    assert (done.status, done.amount, done.credit_returned, done.charges_released) == ("void", 1_900, 1_300, 1)
    row = invoice_row(store, invoice.id)
    assert row.status is InvoiceStatus.VOID and row.closed_at is not None and row.next_attempt_at is None
    assert remaining(store, first) == 1_000 and remaining(store, second) == 300
    applications = rows(store, CreditApplication, CreditApplication.invoice_id == invoice.id)
    assert sorted(a.amount for a in applications) == [-1_000, -300, 300, 1_000]
    assert rows(store, AccountCharge, AccountCharge.id == charge.charge_id)[0].invoice_id is None
    [voided] = events_of(store, customer, "invoice_voided")
    assert voided == {"invoice": invoice.number, "amount": 1_900, "currency": "USD", "order": voided["order"],
                      "reason": "sold in error", "credit_returned": 1_300, "charges_released": 1}
    assert any(j["subject"] == f"Invoice {invoice.number} cancelled" for j in email_jobs(store, customer))
    # The credit and the charge are there for the next invoice.
    order_id = add_order(store, customer, [("BASIC", 1, 2_500)], autopay=False)
    again = issue(store, admin, order_id)
    assert again is not None and (again.subtotal, again.credit_applied) == (3_200, 1_300)


def test_void_gives_each_coupon_its_cycle_back_and_leaves_the_usage_to_bill_later(store, actors, customer):
    admin = actors[Role.ADMIN]
    add_coupon(store, "ONCE10", percent_bp=1_000, duration=CouponDuration.ONCE)
    add_coupon(store, "GONE5", percent_bp=500, duration=CouponDuration.FOREVER)
    order_id = add_order(store, customer, [("BASIC", 1, 2_500)], autopay=False)
    with store.write() as s:
        for code in ("ONCE10", "GONE5"):
            coupon = s.execute(select(Coupon).where(Coupon.code == code)).scalar_one()
            coupons.redeem(s, admin, coupon, customer, order_id, NOW)
    invoice = issue(store, admin, order_id)
    assert invoice is not None and invoice.discount == 250 + 113  # 10 %, then 5 % of the rest
    once, gone = rows(store, CouponRedemption)
    assert (once.cycles_applied, once.ended_at is not None, gone.cycles_applied) == (1, True, 1)
    (item,) = rows(store, OrderItem, OrderItem.order_id == order_id)
    with store.write(unrecorded="test setup: usage the engine billed on this invoice") as s:
        s.add_all([UsageRecord(order_item_id=item.id, quantity=q, used_on=NOW.date(), invoice_id=invoice.id)
                   for q in (3, 4)])
    with store.write(unrecorded="test setup: an agent removed a coupon") as s:
        s.execute(update(CouponRedemption).where(CouponRedemption.id == gone.id).values(ended_at=NOW))

    preview = actions.preview_action(store, admin, invoice.number, "void")
    assert "coupon discounts on it apply to a later invoice" in preview.sentence
    assert "2 usage records on it will bill with a later invoice" in preview.sentence
    actions.void_invoice(store, admin, invoice.number, "wrong address")
    once, gone = rows(store, CouponRedemption)
    assert (once.cycles_applied, once.ended_at) == (0, None), "the once coupon applies to the next invoice"
    assert (gone.cycles_applied, gone.ended_at is not None) == (0, True), "a removed coupon stays removed"
    assert [u.invoice_id for u in rows(store, UsageRecord)] == [None, None]
    (voided,) = events_of(store, customer, "invoice_voided")
    assert (voided["coupon_cycles_returned"], voided["usage_released"]) == (2, 2)

    again = issue(store, admin, order_id, cycle=2)
    assert again is not None and again.discount == 250
    assert rows(store, CouponRedemption)[0].ended_at is not None


def test_void_refuses_a_paid_or_closed_invoice(store, actors, customer):
    admin = actors[Role.ADMIN]
    invoice = open_invoice(store, admin, customer)
    actions.mark_paid_outside(store, admin, invoice.number, "WIRE-1")
    with pytest.raises(Conflict, match="is paid; only an unpaid invoice can be voided"):
        actions.void_invoice(store, admin, invoice.number)
    with pytest.raises(Conflict, match="is paid"):
        actions.preview_action(store, admin, invoice.number, "void")
    other = open_invoice(store, admin, customer)
    actions.void_invoice(store, admin, other.number)
    with pytest.raises(Conflict, match="is void; only an issued or past-due invoice can be voided"):
        actions.void_invoice(store, admin, other.number)
    assert event_types(store, customer).count("invoice_voided") == 1


def test_void_refuses_an_invoice_with_a_pending_payment(store, actors, customer):
    admin = actors[Role.ADMIN]
    invoice = open_invoice(store, admin, customer)
    with store.write(unrecorded="test: a payment waiting for the gateway") as s:
        s.add(Transaction(customer_id=customer, invoice_id=invoice.id, type="sale", status=TransactionStatus.PENDING,
                          amount=invoice.total, currency="USD", idempotency_key="pending-1"))
    for act in (lambda: actions.void_invoice(store, admin, invoice.number),
                lambda: actions.mark_paid_outside(store, admin, invoice.number, "X"),
                lambda: actions.write_off_invoice(store, admin, invoice.number)):
        with pytest.raises(Conflict, match="pending at the gateway"):
            act()
    assert invoice_row(store, invoice.id).status is InvoiceStatus.ISSUED


def test_mark_paid_outside_records_a_settled_sale_and_activates_the_order(store, actors, customer):
    admin = actors[Role.ADMIN]
    invoice = open_invoice(store, admin, customer, status=OrderStatus.PENDING)
    before = customer_row(store, customer)
    done = actions.mark_paid_outside(store, admin, invoice.number, "  WIRE  2027-03-01 ", now=NOW)
    assert done.status == "paid" and done.amount == 2_500
    row = invoice_row(store, invoice.id)
    assert row.status is InvoiceStatus.PAID and row.amount_paid == 2_500 and row.paid_at is not None
    [txn] = rows(store, Transaction, Transaction.invoice_id == invoice.id)
    assert (txn.id, txn.type, txn.status, txn.gateway, txn.gateway_ref, txn.settled, txn.amount) == (
        done.transaction_id, "sale", "approved", "outside", "WIRE 2027-03-01", True, 2_500)
    assert txn.order_id == row.order_id and txn.seal is not None
    after = customer_row(store, customer)
    assert after.payment_count == before.payment_count + 1
    assert after.lifetime_value == before.lifetime_value + 2_500
    assert rows(store, Order, Order.id == row.order_id)[0].status is OrderStatus.ACTIVE
    types = event_types(store, customer)
    assert types[-2:] == ["invoice_marked_paid", "invoice_paid"]
    [marked] = events_of(store, customer, "invoice_marked_paid")
    assert marked["reference"] == "WIRE 2027-03-01" and marked["transaction"] == txn.id and marked["amount"] == 2_500
    [paid] = events_of(store, customer, "invoice_paid")
    assert paid["transaction"] == txn.id and paid["amount"] == 2_500
    assert any(j["subject"] == f"Receipt for {invoice.number}" for j in email_jobs(store, customer))
    with pytest.raises(Conflict, match="already paid; it cannot be marked paid twice"):
        actions.mark_paid_outside(store, admin, invoice.number, "WIRE-2")
    assert len(rows(store, Transaction, Transaction.invoice_id == invoice.id)) == 1


def test_mark_paid_needs_a_reference(store, actors, customer):
    invoice = open_invoice(store, actors[Role.ADMIN], customer)
    with pytest.raises(InvalidInput) as caught:
        actions.mark_paid_outside(store, actors[Role.ADMIN], invoice.number, "   ")
    assert "reference" in caught.value.fields
    assert invoice_row(store, invoice.id).status is InvoiceStatus.ISSUED


def test_a_renewal_paid_outside_leaves_credit_control(store, actors, customer):
    admin = actors[Role.ADMIN]
    invoice = open_invoice(store, admin, customer)
    with store.write(unrecorded="test: the order entered credit control earlier") as s:
        s.get(Order, invoice.order_id).in_credit_control = True
    actions.mark_paid_outside(store, actors[Role.FINANCE], invoice.number, "CHQ-7")
    assert not rows(store, Order, Order.id == invoice.order_id)[0].in_credit_control
    assert {"subscription_billed", "credit_control_exited"} <= set(event_types(store, customer))


def test_apply_credit_partly_then_in_full(store, actors, customer):
    admin = actors[Role.ADMIN]
    invoice = open_invoice(store, admin, customer)
    first = memo(store, admin, 1_000, "first")
    preview = actions.preview_action(store, admin, invoice.number, "apply-credit")
    assert preview.amount == 1_000 and preview.new_status == "issued" and "15.00 USD is still owed" in preview.sentence
    done = actions.apply_credit(store, actors[Role.AGENT], invoice.number)
    assert (done.amount, done.status) == (1_000, "issued")
    row = invoice_row(store, invoice.id)
    assert (row.credit_applied, row.total, row.status) == (1_000, 1_500, InvoiceStatus.ISSUED)
    assert remaining(store, first) == 0
    second, third = memo(store, admin, 1_200, "second"), memo(store, admin, 800, "third")
    done = actions.apply_credit(store, actors[Role.FINANCE], invoice.number)
    assert (done.amount, done.status) == (1_500, "paid")
    row = invoice_row(store, invoice.id)
    assert (row.credit_applied, row.total, row.amount_paid, row.status) == (2_500, 0, 0, InvoiceStatus.PAID)
    assert (remaining(store, second), remaining(store, third)) == (0, 500)
    applied = events_of(store, customer, "credit_applied")
    assert [(e["amount"], e["credit_memo"]) for e in applied] == [(1_000, first), (1_200, second), (300, third)]
    assert event_types(store, customer)[-1] in ("invoice_paid", "subscription_billed")
    assert rows(store, Transaction, Transaction.invoice_id == invoice.id) == []
    with pytest.raises(Conflict, match="is paid; only an issued or past-due invoice can be given credit"):
        actions.apply_credit(store, admin, invoice.number)


def test_apply_credit_without_credit_is_refused(store, actors, customer):
    invoice = open_invoice(store, actors[Role.ADMIN], customer)
    with pytest.raises(Conflict, match="no credit in USD"):
        actions.apply_credit(store, actors[Role.ADMIN], invoice.number)
    with pytest.raises(PermissionDenied):
        actions.apply_credit(store, actors[Role.SALES], invoice.number)


def test_write_off_stops_the_dunning(store, actors, customer):
    admin = actors[Role.ADMIN]
    invoice = open_invoice(store, admin, customer)
    with store.write(unrecorded="test: a retry is planned") as s:
        row = s.get(Invoice, invoice.id)
        row.status, row.next_attempt_at, row.attempts = InvoiceStatus.PAST_DUE, NOW, 1
        s.get(Order, invoice.order_id).in_credit_control = True
    done = actions.write_off_invoice(store, actors[Role.FINANCE], invoice.number, reason="customer gone")
    assert (done.status, done.amount) == ("uncollectible", 2_500)
    row = invoice_row(store, invoice.id)
    assert row.status is InvoiceStatus.UNCOLLECTIBLE and row.next_attempt_at is None and row.closed_at is not None
    assert events_of(store, customer, "invoice_written_off")[0]["reason"] == "customer gone"
    assert not rows(store, Order, Order.id == invoice.order_id)[0].in_credit_control
    assert invoices.open_invoices(store, admin, "C-1") == []


def test_write_off_a_paid_invoice_is_refused(store, actors, customer):
    admin = actors[Role.ADMIN]
    invoice = open_invoice(store, admin, customer)
    actions.mark_paid_outside(store, admin, invoice.number, "WIRE-1")
    with pytest.raises(Conflict, match="is paid; only an issued or past-due invoice can be written off"):
        actions.write_off_invoice(store, admin, invoice.number)
    assert "invoice_written_off" not in event_types(store, customer)


@pytest.mark.parametrize("act", ["void", "mark_paid", "write_off"])
def test_refund_like_actions_agents_within_their_limit_finance_and_admins(store, actors, customer, act):
    admin = actors[Role.ADMIN]
    policy(store, {"refund_limit.agent.USD": "20.00"})

    def run(actor, number):
        if act == "void":
            return actions.void_invoice(store, actor, number)
        if act == "mark_paid":
            return actions.mark_paid_outside(store, actor, number, "REF-1")
        return actions.write_off_invoice(store, actor, number)

    invoice = open_invoice(store, admin, customer)
    with pytest.raises(PermissionDenied, match=r"counts as a refund: refunds above 20\.00 USD"):
        run(actors[Role.AGENT], invoice.number)
    with pytest.raises(PermissionDenied, match="beyond the agent limit"):
        actions.preview_action(store, actors[Role.AGENT], invoice.number, act)
    with pytest.raises(PermissionDenied):
        run(actors[Role.SALES], invoice.number)
    assert invoice_row(store, invoice.id).status is InvoiceStatus.ISSUED
    assert run(actors[Role.FINANCE], invoice.number).ok
    policy(store, {"refund_limit.agent.USD": "25.00"})
    second = open_invoice(store, admin, customer)
    assert run(actors[Role.AGENT], second.number).invoice_number == second.number
    assert invoice_row(store, second.id).status is not InvoiceStatus.ISSUED


def test_an_unknown_action_or_invoice_is_refused(store, actors, customer):
    invoice = open_invoice(store, actors[Role.ADMIN], customer)
    with pytest.raises(InvalidInput) as caught:
        actions.preview_action(store, actors[Role.ADMIN], invoice.number, "refund")
    assert "action" in caught.value.fields
    with pytest.raises(Exception, match="no invoice"):
        actions.void_invoice(store, actors[Role.ADMIN], "INV-99999999")


def test_the_readme_role_table_gives_the_invoice_actions_their_permissions():
    wanted = {"void, write off or mark paid outside an invoice": Action.REFUND,
              "resend an invoice, apply available credit to it": Action.BILLING}
    assert {actions.NEEDS[a] for a in actions.InvoiceAction} == set(wanted.values())
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    table = {}
    for line in readme.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == 5 and cells[0] in wanted:
            table[cells[0]] = {role for role, cell in zip((Role.ADMIN, Role.AGENT, Role.SALES, Role.FINANCE),
                                                          cells[1:], strict=True) if re.match("✓", cell)}
    assert set(table) == set(wanted)
    for row, action in wanted.items():
        assert table[row] == set(POLICY[action]), row
