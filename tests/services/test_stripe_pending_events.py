"""Stripe's events finish what we left pending and undo what Stripe takes back, once, on SQLite and PostgreSQL:
an invoice payment left pending is paid (or sends the customer a pay-invoice link) as the start-up repair
would; a pending refund is finished; an accepted refund Stripe reports failed is reversed with the customer's
totals restored; a Stripe-hosted link paid by a method that settles later completes when its payment does."""

from __future__ import annotations

from sqlalchemy import select

from agentdesk.db.models import Customer, Invoice, Job, Link, Transaction
from agentdesk.domain.enums import InvoiceStatus, LinkKind, LinkStatus, TransactionStatus
from agentdesk.domain.permissions import SYSTEM
from agentdesk.services.billing import invoices
from agentdesk.services.jobs import runner
from agentdesk.services.links.requests import LinkRequest, request_link
from agentdesk.services.money import aggregates, payments, refunds, stripe_events
from agentdesk.services.money import audit as money_audit
from agentdesk.services.money.gateways.stripe import NEEDS_CUSTOMER
from agentdesk.services.timeline import audit as timeline_audit

from ..conftest import policy
from .billing_helpers import add_order, add_plan, events_of, issue, rows
from .test_stripe_contract import contract, stripe_customer, stripe_settings  # noqa: F401
from .test_stripe_links import link_row

PORTAL = "https://portal.example"


def customer_id(store) -> int:
    with store.read() as s:
        return s.execute(select(Customer.id)).scalar_one()


def totals(store, cid: int) -> tuple[int, int]:
    """(payment count, lifetime value) as stored, checked against what the rows say."""
    with store.read() as s:
        customer = s.get(Customer, cid)
        row = s.execute(aggregates.computed(cid, cid)).one()
    assert (customer.payment_count, customer.lifetime_value) == (row.payment_count, row.lifetime_value)
    return customer.payment_count, customer.lifetime_value


def txn(store, txn_id: int) -> Transaction:
    with store.read() as s:
        row = s.get(Transaction, txn_id)
        s.expunge(row)
        return row


def test_invoice_payments_left_pending_are_finished_by_their_events_as_the_repair_would(
        store, tmp_path, contract):  # noqa: F811
    admin, _ = stripe_customer(store, tmp_path, contract)
    settings = stripe_settings(store, tmp_path, contract, timeout=0.5)
    policy(store, {"portal_base_url": PORTAL})
    cid = customer_id(store)
    add_plan(store, "BASIC", 2_500)
    first = issue(store, admin, add_order(store, cid, [("BASIC", 1, 2_500)]))
    second = issue(store, admin, add_order(store, cid, [("BASIC", 1, 2_500)]), key="second")
    contract.slow_next = 2.0
    paid_later = invoices.collect_invoice(store, SYSTEM, settings, first.id)
    contract.slow_next = 2.0
    needs_later = invoices.collect_invoice(store, SYSTEM, settings, second.id)
    assert paid_later.status == needs_later.status == TransactionStatus.PENDING.value
    first_intent, second_intent = list(contract.intents.values())[-2:]
    succeeded = contract.add_event("payment_intent.succeeded", first_intent)
    failed = contract.add_event("payment_intent.payment_failed", {
        **second_intent, "status": "requires_payment_method",
        "last_payment_error": {"type": "card_error", "code": "authentication_required",
                               "decline_code": "authentication_required",
                               "message": "This transaction requires authentication."}})

    assert stripe_events.handle_event(store, settings, failed, "webhook").startswith(
        f"transaction {needs_later.transaction_id} declined: {second.number} needs the customer to authenticate")
    assert stripe_events.poll_events(store, settings) == 1
    for event in (succeeded, failed):
        assert stripe_events.handle_event(store, settings, event, "webhook") == "duplicate"

    done, needs = txn(store, paid_later.transaction_id), txn(store, needs_later.transaction_id)
    assert (done.status, done.gateway_ref, done.settled) == (TransactionStatus.APPROVED, first_intent["id"], True)
    assert (needs.status, needs.error, needs.gateway_ref) == (TransactionStatus.DECLINED, NEEDS_CUSTOMER,
                                                              second_intent["id"])
    [paid_invoice] = rows(store, Invoice, Invoice.id == first.id)
    [open_invoice] = rows(store, Invoice, Invoice.id == second.id)
    assert (paid_invoice.status, paid_invoice.amount_paid) == (InvoiceStatus.PAID, 2_500)
    assert (open_invoice.status, open_invoice.amount_paid, open_invoice.next_attempt_at) == (
        InvoiceStatus.ISSUED, 0, None)
    assert [e["invoice"] for e in events_of(store, cid, "invoice_paid")] == [first.number]
    [link] = rows(store, Link, Link.customer_id == cid)
    assert (link.kind, link.options["invoice_id"]) == (LinkKind.PAY_INVOICE, second.id)
    assert [e["link"] for e in events_of(store, cid, "payment_needs_authentication")] == [link.id]
    assert totals(store, cid) == (1, 2_500)
    assert invoices.repair_pending_payments(store, settings) == 0
    assert contract.violations == []


def test_a_pending_refund_is_finished_and_an_accepted_one_stripe_fails_is_reversed(store, tmp_path,
                                                                                  contract):  # noqa: F811
    admin, _ = stripe_customer(store, tmp_path, contract)
    settings = stripe_settings(store, tmp_path, contract, timeout=0.5)
    policy(store, {"notify_emails": ["finance@example.com"]})
    cid = customer_id(store)
    paid = payments.collect_payment(store, admin, settings, "C-1", 3_000, "USD")
    accepted = refunds.refund_transaction(store, admin, settings, paid.transaction_id, 1_000)
    contract.slow_next = 2.0
    waiting = refunds.refund_transaction(store, admin, settings, paid.transaction_id, 500)
    assert accepted.ok and not waiting.finished
    assert totals(store, cid) == (1, 2_000)
    accepted_ref, waiting_ref = list(contract.refunds.values())[-2:]

    finished = contract.add_event("refund.updated", {**waiting_ref, "status": "succeeded"})
    assert stripe_events.handle_event(store, settings, finished, "webhook") == f"refund {waiting.refund_id} approved"
    assert txn(store, waiting.refund_id).status == TransactionStatus.APPROVED
    assert txn(store, paid.transaction_id).status == TransactionStatus.PARTIALLY_REFUNDED
    assert totals(store, cid) == (1, 1_500)
    assert refunds.repair_pending(store, settings) == []

    returned = {**accepted_ref, "status": "failed", "failure_reason": "expired_or_canceled_card"}
    by_charge = contract.add_event("charge.refund.updated", returned)
    by_refund = contract.add_event("refund.updated", returned)
    assert stripe_events.handle_event(store, settings, by_refund, "webhook") == (
        f"refund {accepted.refund_id} reversed: transaction {paid.transaction_id} is partially_refunded again")
    assert stripe_events.poll_events(store, settings) == 1  # the charge.refund.updated of the same change
    assert stripe_events.handle_event(store, settings, by_charge, "webhook") == "duplicate"

    reversed_refund = txn(store, accepted.refund_id)
    assert (reversed_refund.status, reversed_refund.settled) == (TransactionStatus.FAILED, False)
    assert "expired_or_canceled_card" in reversed_refund.error
    assert txn(store, paid.transaction_id).status == TransactionStatus.PARTIALLY_REFUNDED
    assert totals(store, cid) == (1, 2_500)
    [event] = events_of(store, cid, "refund_reversed")
    assert (event["refund"], event["transaction"], event["amount"], event["currency"]) == (
        accepted.refund_id, paid.transaction_id, 1_000, "USD")
    assert "did not reach the customer" in event["message"]
    [notice] = [j.payload for j in rows(store, Job, Job.idempotency_key == f"refund-reversed-{accepted.refund_id}")]
    assert notice["to"] == ["finance@example.com"] and "10.00 USD" in notice["subject"]
    plan = refunds.refund_plan(store, admin, paid.transaction_id)
    assert (plan.refunded, plan.remaining) == (500, 2_500)

    again = contract.add_event("refund.updated", {**waiting_ref, "status": "canceled"})
    stripe_events.handle_event(store, settings, again, "poll")
    assert txn(store, paid.transaction_id).status == TransactionStatus.APPROVED
    assert totals(store, cid) == (1, 3_000)
    assert len(events_of(store, cid, "refund_reversed")) == 2
    assert money_audit.audit_money(store, admin).mismatches == []
    assert timeline_audit.verify(store, admin).ok
    assert contract.violations == []


def test_a_stripe_link_paid_by_a_method_that_settles_later_completes_when_it_is_paid(store, tmp_path,
                                                                                    contract):  # noqa: F811
    admin, settings = stripe_customer(store, tmp_path, contract)
    policy(store, {"portal_base_url": PORTAL})
    cid = customer_id(store)
    add_plan(store, "BASIC", 2_500)
    invoice = issue(store, admin, add_order(store, cid, [("BASIC", 1, 2_500)], autopay=False))
    deposit = request_link(store, admin, settings, "C-1", LinkRequest(LinkKind.DEPOSIT, amounts=(5_000,)))
    pay = request_link(store, admin, settings, "C-1", LinkRequest(LinkKind.PAY_INVOICE, invoice=invoice.number))
    assert runner.run_due(store, settings).messages == []

    def completed_unpaid(link_id: int) -> dict:
        checkout = contract.complete_checkout(link_row(store, link_id).gateway_ref or "")
        return {**checkout, "payment_status": "unpaid"}

    deposit_done, pay_done = completed_unpaid(deposit.id), completed_unpaid(pay.id)
    for done in (deposit_done, pay_done):
        contract.add_event("checkout.session.completed", done)
    assert stripe_events.poll_events(store, settings) == 2
    assert link_row(store, deposit.id).status != LinkStatus.COMPLETED
    assert rows(store, Transaction, Transaction.idempotency_key.like("stripe-checkout-%")) == []  # type: ignore[union-attr]

    later = contract.add_event("checkout.session.async_payment_succeeded", {**deposit_done, "payment_status": "paid"})
    lost = contract.add_event("checkout.session.async_payment_failed", pay_done)
    assert stripe_events.handle_event(store, settings, later, "webhook").endswith(f"link {deposit.id} completed")
    assert stripe_events.poll_events(store, settings) == 1
    assert stripe_events.handle_event(store, settings, lost, "webhook") == "duplicate"

    [sale] = rows(store, Transaction, Transaction.idempotency_key.like("stripe-checkout-%"))  # type: ignore[union-attr]
    assert (sale.amount, sale.status, sale.invoice_id) == (5_000, TransactionStatus.APPROVED, None)
    assert link_row(store, deposit.id).status == LinkStatus.COMPLETED
    assert link_row(store, pay.id).status == LinkStatus.READY
    [failed] = events_of(store, cid, "payment_failed")
    assert (failed["amount"], failed["invoice"]) == (invoice.total, invoice.number)
    assert "send them a new link" in failed["message"]
    with store.read() as s:
        assert s.get(Invoice, invoice.id).status == InvoiceStatus.ISSUED
    assert contract.violations == []
