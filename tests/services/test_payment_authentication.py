"""A payment the card's bank wants the customer to authenticate (3-D Secure) is its own outcome, not a
decline: a renewal or dunning attempt stops retrying, leaves the order out of credit control and sends the
customer a pay-invoice link; an agent is told to send one. On SQLite and PostgreSQL, with the sandbox's
authentication card and with Stripe (the contract server)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select, text

from agentdesk.config import load_settings
from agentdesk.db.models import Customer, Invoice, Link, Order, Transaction
from agentdesk.domain.enums import LinkKind, LinkStatus, TransactionStatus
from agentdesk.domain.permissions import SYSTEM
from agentdesk.services.billing import invoices
from agentdesk.services.billing.engine import run_billing
from agentdesk.services.money.gateways import Outcome
from agentdesk.services.money.gateways.sandbox import SandboxGateway
from agentdesk.services.orders.create import create_order
from agentdesk.services.orders.preview import preview_order
from agentdesk.services.orders.requests import ItemOverrides, ItemRequest, OrderRequest

from ..conftest import policy
from .billing_helpers import add_customer, add_order, add_plan, events_of, issue, rows
from .test_stripe_contract import contract, stripe_customer  # noqa: F401

PORTAL = "https://portal.example"
RENEWAL = datetime(2027, 4, 1, 9, tzinfo=UTC)


@pytest.fixture
def settings(store, tmp_path):
    return load_settings(store.url, env={"AGENTDESK_DATA_DIR": str(tmp_path / "data")})


def subscribed(store, admin, settings) -> tuple[int, Order]:
    """Customer C-1 on a monthly plan placed on 1 March (paid), whose card from now on needs authentication."""
    add_plan(store, "BASIC", 1_250)
    customer_id = add_customer(store, admin, settings)
    request = OrderRequest("C-1", [ItemRequest("BASIC", 1, overrides=ItemOverrides())])
    placed_at = datetime(2027, 3, 1, 9, tzinfo=UTC)
    preview = preview_order(store, admin, request, now=placed_at)
    number = create_order(store, admin, settings, request, expected_total=preview.total_today,
                          now=placed_at).order_number
    with store.write(unrecorded="test fixture") as s:
        s.execute(text("UPDATE payment_instrument SET gateway_token = 'tok_authenticate_1'"))
        order = s.execute(select(Order).where(Order.number == number)).scalar_one()
        s.expunge(order)
    return customer_id, order


def test_the_sandbox_authentication_card_needs_the_customer(store, settings):
    gateway = SandboxGateway(store)
    token = gateway.tokenize("4000 0027 6000 3184")
    first = gateway.sale(amount=500, currency="USD", token=token, idempotency_key="s-1")
    again = gateway.sale(amount=500, currency="USD", token=token, idempotency_key="s-1")
    assert first.outcome is again.outcome is Outcome.AUTHENTICATION_REQUIRED
    assert first.needs_customer and not first.approved and "pay-invoice link" in first.message


def test_a_renewal_that_needs_authentication_sends_a_pay_invoice_link_and_is_not_dunned(store, admin, settings):
    policy(store, {"portal_base_url": PORTAL})
    customer_id, order = subscribed(store, admin, settings)

    report = run_billing(store, settings, now=RENEWAL)
    assert (report.invoiced, report.collected, report.declined, report.needs_authentication) == (1, 0, 0, 1)
    assert "0 declined, 1 needing the customer's authentication," in report.summary()
    [_, invoice] = rows(store, Invoice, Invoice.order_id == order.id)
    assert (invoice.status, invoice.attempts, invoice.next_attempt_at) == ("issued", 1, None)
    [link] = rows(store, Link, Link.customer_id == customer_id)
    assert (link.kind, link.status, link.options["invoice_id"], link.email_to, link.agent_label) == (
        LinkKind.PAY_INVOICE, LinkStatus.QUEUED, invoice.id, "c-1@example.com", "System")
    [needs] = events_of(store, customer_id, "payment_needs_authentication")
    [txn] = rows(store, Transaction, Transaction.invoice_id == invoice.id)
    assert needs == {"amount": 1_250, "currency": "USD", "invoice": invoice.number, "order": order.number,
                     "transaction": txn.id, "message": txn.error, "link": link.id,
                     "next_step": f"pay-invoice link {link.id} queued (emailed to the customer)"}
    assert txn.status == TransactionStatus.DECLINED and "authentication" in txn.error
    [requested] = events_of(store, customer_id, "link_requested")
    assert (requested["kind"], requested["link"], requested["requested_by"]) == ("pay_invoice", link.id, "System")
    assert events_of(store, customer_id, "subscription_billing_failed") == []
    assert events_of(store, customer_id, "credit_control_entered") == []
    with store.read() as s:
        assert not s.get(Order, order.id).in_credit_control

    later = run_billing(store, settings, now=RENEWAL + timedelta(days=3))
    assert (later.dunning_retries, later.declined, later.needs_authentication) == (0, 0, 0)
    assert len(rows(store, Link, Link.customer_id == customer_id)) == 1
    assert len(rows(store, Transaction, Transaction.invoice_id == invoice.id)) == 1


def test_without_a_portal_address_the_timeline_says_no_link_was_sent(store, admin, settings):
    customer_id, _ = subscribed(store, admin, settings)
    report = run_billing(store, settings, now=RENEWAL)
    assert (report.declined, report.needs_authentication) == (0, 1)
    assert rows(store, Link, Link.customer_id == customer_id) == []
    [needs] = events_of(store, customer_id, "payment_needs_authentication")
    assert "link" not in needs
    assert needs["next_step"].startswith("no pay-invoice link was sent: no portal address is set")


def test_an_agent_collecting_is_told_to_send_a_link_and_a_second_system_attempt_reuses_the_open_one(
        store, tmp_path, contract):  # noqa: F811
    admin, settings = stripe_customer(store, tmp_path, contract, token="pm_auth")
    policy(store, {"portal_base_url": PORTAL})
    with store.read() as s:
        customer_id = s.execute(select(Customer.id)).scalar_one()
    add_plan(store, "BASIC", 2_500)
    first = issue(store, admin, add_order(store, customer_id, [("BASIC", 1, 2_500)]))
    by_agent = invoices.pay_invoice(store, admin, settings, first.number)
    assert by_agent.needs_customer and by_agent.status == TransactionStatus.DECLINED.value
    assert by_agent.link is None and by_agent.message.endswith("send the customer a pay-invoice link")
    assert rows(store, Link, Link.customer_id == customer_id) == []

    by_system = invoices.collect_invoice(store, SYSTEM, settings, first.id)
    assert by_system.needs_customer and by_system.link is not None
    [link] = rows(store, Link, Link.customer_id == customer_id)
    assert link.options["hosted_by"] == "stripe" and link.options["invoice"] == first.number
    again = invoices.collect_invoice(store, SYSTEM, settings, first.id)
    assert again.link == link.id and again.message.endswith(f"pay-invoice link {link.id} is already open")
    assert len(rows(store, Link, Link.customer_id == customer_id)) == 1
    assert [e.get("link") for e in events_of(store, customer_id, "payment_needs_authentication")] == [
        None, link.id, link.id]
    assert contract.violations == []
