"""Manual charges (with the next invoice, or now), usage on in-arrears items, additional payments."""

from datetime import timedelta

import pytest
from sqlalchemy import select

from agentdesk.config import load_settings
from agentdesk.db.models import AccountCharge, Invoice, InvoiceLine, Transaction, UsageRecord, utcnow
from agentdesk.domain.enums import BillingTiming, OrderKind, OrderStatus, Role
from agentdesk.domain.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from agentdesk.services.billing import charges

from .test_affiliates import add_customer, add_order, bill_order, events
from .test_refunds import customer_row


@pytest.fixture
def settings(store, tmp_path):
    return load_settings(store.url, env={"AGENTDESK_DATA_DIR": str(tmp_path / "data")})


def charge_rows(store) -> list[AccountCharge]:
    with store.read() as s:
        return list(s.execute(select(AccountCharge).order_by(AccountCharge.id)).scalars())


def invoice_by_number(store, number: str) -> tuple[Invoice, list[InvoiceLine]]:
    with store.read() as s:
        invoice = s.execute(select(Invoice).where(Invoice.number == number)).scalar_one()
        lines = list(s.execute(select(InvoiceLine).where(InvoiceLine.invoice_id == invoice.id)
                               .order_by(InvoiceLine.id)).scalars())
        return invoice, lines


def test_manual_charge_is_billed_with_the_next_invoice(store, actors, settings):
    agent = actors[Role.AGENT]
    add_customer(store, actors[Role.ADMIN], affiliate=None)
    number = add_order(store, "C-1", price=2_000)
    added = charges.add_charge(store, agent, settings, "C-1", 450, "usd", "  replacement   cable ")
    assert (added.invoice_number, added.payment, added.description) == (None, "waiting for the next invoice",
                                                                         "replacement cable")
    [row] = charge_rows(store)
    assert (row.amount, row.invoice_id, row.order_id, row.agent_id) == (450, None, None, agent.agent_id)
    [event] = events(store, "manual_charge")
    assert event.attributes == {"amount": 450, "currency": "USD", "description": "replacement cable",
                                "charge": row.id}
    invoice_number, paid = bill_order(store, agent, settings, number, cycle=2)
    invoice, lines = invoice_by_number(store, invoice_number)
    assert invoice.total == 2_450 and paid.amount == 2_450 and paid.status == "approved"
    assert [(line.kind, line.description, line.amount) for line in lines][-1] == ("charge", "replacement cable", 450)
    assert charge_rows(store)[0].invoice_id == invoice.id
    again, _ = bill_order(store, agent, settings, number, cycle=3)
    assert invoice_by_number(store, again)[0].total == 2_000, "a charge is billed once"


def test_charge_on_an_order_waits_for_that_order(store, actors, settings):
    admin = actors[Role.ADMIN]
    add_customer(store, admin, affiliate=None)
    first = add_order(store, "C-1", code="a", price=1_000)
    second = add_order(store, "C-1", code="b", price=3_000)
    added = charges.add_charge(store, admin, settings, "C-1", 700, "USD", "extra seat", order_number=second.lower())
    assert added.order_number == second and events(store, "manual_charge")[0].attributes["order"] == second
    on_first, _ = bill_order(store, admin, settings, first)
    assert invoice_by_number(store, on_first)[0].total == 1_000
    on_second, _ = bill_order(store, admin, settings, second)
    assert invoice_by_number(store, on_second)[0].total == 3_700


def test_manual_charge_billed_now(store, actors, settings):
    finance = actors[Role.FINANCE]
    add_customer(store, actors[Role.ADMIN], affiliate=None)
    number = add_order(store, "C-1")
    now = charges.add_charge(store, finance, settings, "C-1", 1_500, "USD", "late fee", order_number=number,
                             bill_now=True)
    assert now.payment == "approved" and now.invoice_number is not None and now.transaction_id is not None
    invoice, lines = invoice_by_number(store, now.invoice_number)
    assert (invoice.billing_key, invoice.status, invoice.total, invoice.amount_paid, invoice.order_id) == (
        f"charge-{now.charge_id}", "paid", 1_500, 1_500, None)
    assert [(line.kind, line.amount) for line in lines] == [("charge", 1_500)]
    [row] = charge_rows(store)
    assert (row.invoice_id, row.order_id is not None) == (invoice.id, True), "billed now, still linked to its order"
    assert events(store, "manual_charge")[0].attributes["invoice"] == now.invoice_number
    assert events(store, "invoice_paid")[0].attributes["invoice"] == now.invoice_number
    assert events(store, "subscription_billed") == [], "paying a charge is not a renewal"
    with store.read() as s:
        txn = s.get(Transaction, now.transaction_id)
    assert (txn.invoice_id, txn.status, txn.amount) == (invoice.id, "approved", 1_500)
    renewal, _ = bill_order(store, finance, settings, number, cycle=2)
    assert invoice_by_number(store, renewal)[0].total == 2_000, "the charge billed now is not billed again"


def test_charge_billed_now_declined(store, actors, settings):
    admin = actors[Role.ADMIN]
    add_customer(store, admin, affiliate=None, token="tok_decline")
    result = charges.add_charge(store, admin, settings, "C-1", 900, "USD", "repair", bill_now=True)
    assert result.payment == "declined"
    invoice, _ = invoice_by_number(store, result.invoice_number)
    assert invoice.status == "issued" and invoice.amount_paid == 0
    assert events(store, "payment_failed")[0].attributes["invoice"] == result.invoice_number


def test_manual_charge_refusals(store, actors, settings):
    add_customer(store, actors[Role.ADMIN], affiliate=None)
    with pytest.raises(PermissionDenied):
        charges.add_charge(store, actors[Role.SALES], settings, "C-1", 100, "USD", "x")
    with pytest.raises(InvalidInput, match="pays in USD"):
        charges.add_charge(store, actors[Role.AGENT], settings, "C-1", 100, "EUR", "x")
    with pytest.raises(InvalidInput) as empty:
        charges.add_charge(store, actors[Role.AGENT], settings, "C-1", 100, "USD", "   ")
    assert "description" in empty.value.fields
    with pytest.raises(InvalidInput) as zero:
        charges.add_charge(store, actors[Role.AGENT], settings, "C-1", 0, "USD", "nothing")
    assert "amount" in zero.value.fields
    with pytest.raises(NotFound):
        charges.add_charge(store, actors[Role.AGENT], settings, "C-1", 100, "USD", "x", order_number="ORD-404")
    add_customer(store, actors[Role.ADMIN], "C-2", affiliate=None)
    other = add_order(store, "C-2")
    with pytest.raises(InvalidInput, match="another customer's order"):
        charges.add_charge(store, actors[Role.AGENT], settings, "C-1", 100, "USD", "x", order_number=other)
    assert charge_rows(store) == [] and events(store, "manual_charge") == []


def test_usage_is_recorded_on_in_arrears_items_only(store, actors, settings):
    agent = actors[Role.AGENT]
    add_customer(store, actors[Role.ADMIN], affiliate=None)
    metered = add_order(store, "C-1", code="api", price=0, timing=BillingTiming.ARREARS, metered=5)
    advance = add_order(store, "C-1", code="pro")
    today = utcnow().date()
    used = charges.record_usage(store, agent, metered, 120, today - timedelta(days=1))
    assert (used.quantity, used.unit_price, used.recorded, used.item) == (120, 5, True, "Plan api")
    [event] = events(store, "usage_recorded")
    assert event.attributes == {"product": "Plan api", "order": metered, "quantity": 120,
                                "on": (today - timedelta(days=1)).isoformat()}
    with pytest.raises(InvalidInput, match="in arrears"):
        charges.record_usage(store, agent, advance, 5, today)
    with pytest.raises(InvalidInput) as future:
        charges.record_usage(store, agent, metered, 5, today + timedelta(days=5))
    assert "on" in future.value.fields
    with pytest.raises(InvalidInput, match="starts on"):
        charges.record_usage(store, agent, metered, 5, today - timedelta(days=30))
    with pytest.raises(InvalidInput) as zero:
        charges.record_usage(store, agent, metered, 0, today)
    assert "quantity" in zero.value.fields
    with pytest.raises(PermissionDenied):
        charges.record_usage(store, actors[Role.SALES], metered, 5, today)
    with store.read() as s:
        assert [r.quantity for r in s.execute(select(UsageRecord)).scalars()] == [120]


def test_usage_key_records_once(store, actors, settings):
    agent = actors[Role.AGENT]
    add_customer(store, actors[Role.ADMIN], affiliate=None)
    metered = add_order(store, "C-1", code="api", price=0, timing=BillingTiming.ARREARS, metered=5)
    today = utcnow().date()
    first = charges.record_usage(store, agent, metered, 7, today, key="meter-2026-01")
    again = charges.record_usage(store, agent, metered, 7, today, key="meter-2026-01")
    assert first.recorded and not again.recorded and again.id == first.id
    with pytest.raises(Conflict, match="already used"):
        charges.record_usage(store, agent, metered, 8, today, key="meter-2026-01")
    assert len(events(store, "usage_recorded")) == 1


def test_additional_payment_on_a_subscription(store, actors, settings):
    agent = actors[Role.AGENT]
    add_customer(store, actors[Role.ADMIN], affiliate=None)
    number = add_order(store, "C-1")
    paid = charges.additional_payment(store, agent, settings, number, 2_500, "extra storage this month")
    assert paid.ok and number in paid.message
    with store.read() as s:
        txn = s.get(Transaction, paid.transaction_id)
    assert (txn.order_id is not None, txn.invoice_id, txn.amount, txn.type, txn.status) == (
        True, None, 2_500, "sale", "approved")
    [event] = events(store, "additional_payment")
    assert event.attributes["order"] == number and event.attributes["transaction"] == txn.id
    assert event.attributes["description"] == "extra storage this month"
    assert customer_row(store).payment_count == 1
    one_time = add_order(store, "C-1", code="book", kind=OrderKind.ONE_TIME, status=OrderStatus.COMPLETED)
    with pytest.raises(InvalidInput, match="not a subscription"):
        charges.additional_payment(store, agent, settings, one_time, 100)
    with pytest.raises(PermissionDenied):
        charges.additional_payment(store, actors[Role.SALES], settings, number, 100)


def test_additional_payment_declined(store, actors, settings):
    add_customer(store, actors[Role.ADMIN], affiliate=None, token="tok_decline")
    number = add_order(store, "C-1")
    result = charges.additional_payment(store, actors[Role.FINANCE], settings, number, 2_500)
    assert result.status == "declined"
    [event] = events(store, "payment_failed")
    assert event.attributes["order"] == number and event.attributes["transaction"] == result.transaction_id
    assert events(store, "additional_payment") == [] and customer_row(store).payment_count == 0


def test_billing_now_needs_a_card_and_writes_nothing_without_one(store, actors, settings):
    from agentdesk.services.customers import records as customers

    from ..conftest import customer_input

    customers.create_customer(store, actors[Role.ADMIN], customer_input(external_id="C-9", emails=[], phones=[]))
    with pytest.raises(Conflict, match="no active payment instrument"):
        charges.add_charge(store, actors[Role.AGENT], settings, "C-9", 500, "USD", "late fee", bill_now=True)
    with store.read() as s:
        assert s.execute(select(Invoice)).first() is None
    assert charge_rows(store) == [] and events(store, "manual_charge") == []
