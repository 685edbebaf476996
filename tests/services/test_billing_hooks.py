"""Hooks of the billing engine into orders, on SQLite and PostgreSQL: a paid invoice of something that ships gets
its fulfillment (first payment and renewals billed together in a batch), and an order cancelled at its period's
end is not billed again."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import select, text

from agentdesk.config import load_settings
from agentdesk.db.models import Address, Customer, Fulfillment, Invoice, Order
from agentdesk.services.billing.engine import run_billing
from agentdesk.services.orders.create import create_order
from agentdesk.services.orders.preview import preview_order
from agentdesk.services.orders.requests import ItemRequest, OrderRequest, ShippingChoice

from .billing_helpers import add_customer, add_plan, event_types, rows

START = datetime(2027, 3, 1, 9, tzinfo=UTC)


@pytest.fixture
def settings(store, tmp_path):
    return load_settings(store.url, env={"AGENTDESK_DATA_DIR": str(tmp_path / "data")})


def place(store, admin, settings, customer_ref: str, plan: str, ship: bool = False) -> Order:
    shipping = ShippingChoice()
    if ship:
        with store.write(unrecorded="test setup: the customer's address") as s:
            customer_id = s.execute(select(Customer.id).where(Customer.external_id == customer_ref)).scalar_one()
            row = Address(customer_id=customer_id, line1="1 Main St", city="Springfield", country="US",
                          is_primary=True)
            s.add(row)
            s.flush()
            address = row.id
        shipping = ShippingChoice("manual", amount=300, address_id=address)
    order_request = OrderRequest(customer_ref, [ItemRequest(plan, 1)], shipping=shipping)
    preview = preview_order(store, admin, order_request, now=START)
    result = create_order(store, admin, settings, order_request, expected_total=preview.total_today, now=START)
    assert result.payment == "approved", result.message
    with store.read() as s:
        return s.execute(select(Order).where(Order.number == result.order_number)).scalar_one()


def test_every_paid_invoice_of_a_shipped_product_gets_its_fulfillment(store, admin, settings):
    add_plan(store, "BOX", 2_000, name="Coffee box")
    add_plan(store, "APP", 500, name="App")
    with store.write(unrecorded="test setup: the catalog") as s:
        s.execute(text("UPDATE product SET requires_shipping = true WHERE sku = 'SKU-BOX'"))
    shipped = []
    for ref in ("C-1", "C-2", "C-3"):
        add_customer(store, admin, settings, ref)
        shipped.append(place(store, admin, settings, ref, "BOX", ship=True))
    add_customer(store, admin, settings, "C-4")
    digital = place(store, admin, settings, "C-4", "APP")
    assert [f.order_id for f in rows(store, Fulfillment)] == [o.id for o in shipped], "first payments ship"

    report = run_billing(store, settings, now=START + timedelta(days=31))
    assert (report.invoiced, report.collected, report.errors) == (4, 4, 0), "renewed together, as one batch"
    fulfilled = rows(store, Fulfillment)
    assert len(fulfilled) == 6 and not [f for f in fulfilled if f.order_id == digital.id]
    for order in shipped:
        invoices = rows(store, Invoice, Invoice.order_id == order.id)
        assert [i.status for i in invoices] == ["paid", "paid"]
        mine = [f for f in fulfilled if f.order_id == order.id]
        assert sorted(f.invoice_id for f in mine) == [i.id for i in invoices], "one per paid invoice"
        assert all(f.status == "pending" and f.items[0]["name"] == "Coffee box" for f in mine)
        assert all(f.address_id == order.shipping_address_id is not None for f in mine)
        assert event_types(store, order.customer_id).count("fulfillment_created") == 2

    assert run_billing(store, settings, now=START + timedelta(days=31)).invoiced == 0
    assert len(rows(store, Fulfillment)) == 6, "a re-run creates none twice"


def test_an_order_cancelled_at_its_period_end_is_not_renewed(store, admin, settings):
    add_plan(store, "BASIC", 1_250)
    add_customer(store, admin, settings, "C-1")
    order = place(store, admin, settings, "C-1", "BASIC")
    assert order.period_end == date(2027, 4, 1)
    with store.write(unrecorded="test setup: what a scheduled cancellation leaves on the order") as s:
        s.execute(text("UPDATE orders SET cancel_at_period_end = true WHERE id = :id"), {"id": order.id})

    report = run_billing(store, settings, now=datetime(2027, 4, 1, 9, tzinfo=UTC))
    assert (report.invoiced, report.collected, report.errors) == (0, 0, 0)
    assert len(rows(store, Invoice, Invoice.order_id == order.id)) == 1, "only the first period was billed"
