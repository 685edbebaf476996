"""Issue 12's emails end to end: each case the issue names is queued by the action, and once the job runner
has run it, it is an "email sent" event on the customer's timeline with its subject and recipient."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from agentdesk.config import load_settings
from agentdesk.db.models import Customer, Invoice, Order, TimelineEvent
from agentdesk.domain.enums import Role
from agentdesk.domain.validation import ContactInput
from agentdesk.services.billing import coupons
from agentdesk.services.customers import records as customers
from agentdesk.services.jobs import runner
from agentdesk.services.money import instruments
from agentdesk.services.orders.requests import ItemRequest, OrderRequest

from ..conftest import customer_input
from .test_orders import place, request, seed_catalog


@pytest.fixture
def settings(store, tmp_path):
    return load_settings(store.url, env={"AGENTDESK_DATA_DIR": str(tmp_path / "data")})


def add_buyer(store, admin, settings, external_id: str, card: str) -> int:
    address = f"{external_id.lower()}@example.com"
    customers.create_customer(store, admin, customer_input(external_id=external_id, emails=[ContactInput(address)],
                                                           phones=[]))
    instruments.add_card(store, admin, settings, external_id, card, "12/30")
    with store.read() as s:
        return s.execute(select(Customer.id).where(Customer.external_id == external_id)).scalar_one()


def sent(store, customer_id: int) -> list[tuple[str, str]]:
    with store.read() as s:
        found = s.execute(select(TimelineEvent).where(TimelineEvent.customer_id == customer_id,
                                                      TimelineEvent.type == "email_sent")
                          .order_by(TimelineEvent.id)).scalars()
        return [(e.attributes["subject"], e.attributes["to"]) for e in found]


def numbers(store, customer_id: int) -> tuple[list[str], list[str]]:
    with store.read() as s:
        orders = s.execute(select(Order.number).where(Order.customer_id == customer_id).order_by(Order.id))
        invoices = s.execute(select(Invoice.number).where(Invoice.customer_id == customer_id).order_by(Invoice.id))
        return list(orders.scalars()), list(invoices.scalars())


def test_every_billing_email_becomes_an_email_sent_event_with_subject_and_recipient(store, actors, settings):
    admin, sales = actors[Role.ADMIN], actors[Role.SALES]
    seed_catalog(store)
    paying = add_buyer(store, admin, settings, "C-1", "4242424242424242")
    declined = add_buyer(store, admin, settings, "C-2", "4000000000000002")

    assert place(store, sales, settings, request("basic-m"))[1].payment == "approved"
    assert place(store, sales, settings, request("gift", autopay=False))[1].payment == "no autopay"
    coupons.redeem_on_account(store, sales, "C-1", "FIVE", email=True)
    refused = place(store, sales, settings, OrderRequest("C-2", [ItemRequest("basic-m")]))[1]
    assert refused.payment == "declined"
    assert sent(store, paying) == [] and sent(store, declined) == [], "nothing is sent before the runner runs"

    report = runner.run_due(store, settings, checkpoint=False)
    assert report.failed == 0 and report.retrying == 0

    (subscription, gift), (paid, issued) = numbers(store, paying)
    assert sorted(sent(store, paying)) == sorted([
        (f"Welcome: your order {subscription}", "c-1@example.com"),
        (f"Receipt for {paid}", "c-1@example.com"),
        (f"Welcome: your order {gift}", "c-1@example.com"),
        (f"Invoice {issued}: 25.00 USD", "c-1@example.com"),
        ("Coupon FIVE added to your account", "c-1@example.com"),
    ])
    [pending], [unpaid] = numbers(store, declined)
    assert sorted(sent(store, declined)) == sorted([
        (f"Welcome: your order {pending}", "c-2@example.com"),
        (f"Payment failed for {unpaid}", "c-2@example.com"),
    ])
    assert runner.run_due(store, settings, checkpoint=False).done == 0, "each email is sent once"


def test_the_welcome_email_names_the_coupons_of_the_order(store, actors, settings):
    from agentdesk.db.models import Job

    admin, sales = actors[Role.ADMIN], actors[Role.SALES]
    seed_catalog(store)
    add_buyer(store, admin, settings, "C-1", "4242424242424242")
    _, result = place(store, sales, settings, request("basic-m", coupons=["save10"]))
    assert result.payment == "approved"
    with store.read() as s:
        [body] = s.execute(select(Job.payload).where(Job.idempotency_key.like("email-welcome-%"))).scalars()
    assert "Coupon SAVE10:" in body["body"] and "off today" in body["body"]
