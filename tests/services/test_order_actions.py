"""Order actions (cancel an order, resend its welcome email) and entitlements (what orders grant, refresh, the
membership login) — rules, roles, timeline events and emails, on SQLite and PostgreSQL."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from agentdesk.config import load_settings
from agentdesk.db.models import Customer, Fulfillment, Invoice, Job, Link, Order, Product, TimelineEvent, Transaction
from agentdesk.domain.enums import FulfillmentStatus, RefundOutcome, Role
from agentdesk.domain.errors import Conflict, InvalidInput, PermissionDenied
from agentdesk.services.jobs.runner import run_due
from agentdesk.services.orders import actions, entitlements
from agentdesk.services.orders import fulfillments as shipping
from agentdesk.services.orders.requests import ItemRequest, OrderRequest

from ..conftest import customer_input, policy
from .test_fulfillments import buy, fulfil, open_shop, shipped_order
from .test_orders import place, request, rows


@pytest.fixture
def settings(store, tmp_path):
    return load_settings(store.url, env={"AGENTDESK_DATA_DIR": str(tmp_path / "data")})


@pytest.fixture
def shop(store, admin, settings):
    return open_shop(store, admin, settings)


def events(store, kind: str) -> list[dict]:
    return [e.attributes for e in rows(store, TimelineEvent, TimelineEvent.type == kind)]


def order_row(store, number: str) -> Order:
    with store.read() as s:
        return s.execute(select(Order).where(Order.number == number)).scalar_one()


def pending_order(store, actor, settings) -> str:
    _, result = place(store, actor, settings, request("basic-m", autopay=False))
    assert result.status == "pending"
    return result.order_number


def subjects(store) -> list[str]:
    return [e["subject"] for e in events(store, "email_sent")]


def test_cancel_a_pending_order_voids_its_open_invoice(store, actors, settings, shop):
    sales = actors[Role.SALES]
    number = pending_order(store, sales, settings)
    result = actions.cancel_order(store, sales, settings, number, "customer changed their mind")
    order = order_row(store, number)
    [invoice] = rows(store, Invoice, Invoice.order_id == order.id)
    assert (order.status, invoice.status, result.refunds) == ("cancelled", "void", [])
    assert order.cancelled_at is not None and order.abandon_at is None and invoice.closed_at is not None
    assert result.voided_invoices == [invoice.number] and "cancelled" in result.message
    assert events(store, "order_cancelled") == [{"order": number, "reason": "customer changed their mind"}]
    assert events(store, "invoice_voided") == [{"invoice": invoice.number, "amount": invoice.total,
                                                "currency": "USD", "order": number,
                                                "reason": f"order {number} cancelled"}]
    run_due(store, settings)
    assert f"Your order {number} is cancelled" in subjects(store)
    try:
        actions.cancel_order(store, sales, settings, number)
        raise AssertionError("cancelled twice")
    except Conflict as exc:
        assert "cancelled already" in str(exc)


def test_cancel_a_paid_one_time_order_not_shipped_takes_the_money_back(store, admin, actors, settings, shop):
    agent = actors[Role.AGENT]
    number, invoice_id = buy(store, admin, settings)
    fid = fulfil(store, invoice_id).id
    [payment] = rows(store, Transaction)
    result = actions.cancel_order(store, agent, settings, number.lower(), "ordered twice")
    assert order_row(store, number).status == "cancelled"
    assert result.fulfillments_cancelled == [fid]
    assert rows(store, Fulfillment)[0].status == FulfillmentStatus.CANCELLED
    [refund] = result.refunds
    assert refund.status is RefundOutcome.APPROVED and refund.amount == payment.amount
    back = rows(store, Transaction, Transaction.parent_id == payment.id)
    assert [(t.type, t.status, t.amount) for t in back] == [(refund.kind.value, "approved", payment.amount)]
    assert events(store, "fulfillment_cancelled")[0]["fulfillment"] == fid
    assert events(store, "order_cancelled") == [{"order": number, "reason": "ordered twice"}]
    assert rows(store, Invoice)[0].status == "paid", "a paid invoice stays paid; its payment is taken back"
    run_due(store, settings)
    assert f"Your order {number} is cancelled" in subjects(store)


def test_what_cannot_be_cancelled_says_why(store, admin, actors, settings, shop):
    agent = actors[Role.AGENT]
    _, running = place(store, admin, settings, request("basic-m"))
    try:
        actions.cancel_order(store, agent, settings, running.order_number)
        raise AssertionError("a running subscription cancelled as an order")
    except Conflict as exc:
        assert "subscription" in str(exc)
    number, fid = shipped_order(store, admin, settings)
    shipping.update_fulfillment(store, agent, fid, status="shipped", carrier="UPS", tracking="1Z")
    before = len(rows(store, TimelineEvent))
    try:
        actions.cancel_order(store, agent, settings, number)
        raise AssertionError("a shipped order cancelled")
    except Conflict as exc:
        assert "shipped" in str(exc) and "refund" in str(exc)
    assert order_row(store, number).status == "completed" and len(rows(store, TimelineEvent)) == before


def test_cancel_roles_and_refund_limits(store, admin, actors, settings, shop):
    number, _ = buy(store, admin, settings, "gift", 1)
    for role in (Role.SALES, Role.FINANCE):
        try:
            actions.cancel_order(store, actors[role], settings, number)
            raise AssertionError(f"{role} cancelled a paid order")
        except PermissionDenied:
            pass
    policy(store, {"refund_limit.agent.USD": "10.00"})
    try:
        actions.cancel_order(store, actors[Role.AGENT], settings, number)
        raise AssertionError("an agent refunded above the limit")
    except PermissionDenied as exc:
        assert "refund_limit.agent.USD" in str(exc)
    assert order_row(store, number).status == "completed" and events(store, "order_cancelled") == []
    assert len(rows(store, Transaction)) == 1
    result = actions.cancel_order(store, admin, settings, number)
    assert [r.status for r in result.refunds] == [RefundOutcome.APPROVED]


def test_resend_welcome_queues_it_again(store, actors, settings, shop):
    sales = actors[Role.SALES]
    _, result = place(store, sales, settings, request("basic-m"))
    number = result.order_number
    run_due(store, settings)
    welcome = f"Welcome: your order {number}"
    assert subjects(store).count(welcome) == 1
    assert actions.resend_welcome(store, sales, number) == "grace@example.com"
    actions.resend_welcome(store, actors[Role.AGENT], number)
    keys = [j.idempotency_key for j in rows(store, Job) if j.payload.get("subject") == welcome]
    assert len(keys) == 3 and len(set(keys)) == 3
    run_due(store, settings)
    assert subjects(store).count(welcome) == 3
    try:
        actions.resend_welcome(store, actors[Role.FINANCE], number)
        raise AssertionError("finance resent a welcome email")
    except PermissionDenied:
        pass


def test_resend_welcome_needs_an_email(store, admin, settings, shop):
    from agentdesk.services.customers import records as customers

    customers.create_customer(store, admin, customer_input(external_id="C-2", emails=[]))
    _, result = place(store, admin, settings, OrderRequest("C-2", [ItemRequest("basic-m")], autopay=False))
    with pytest.raises(Conflict, match="no email"):
        actions.resend_welcome(store, admin, result.order_number)


def test_entitlements_of_active_orders_and_refresh(store, admin, actors, settings, shop):
    with store.write() as s:
        for product in s.execute(select(Product)).scalars():
            product.entitlements = {"STREAM": ["hd-streaming", "1-screen"], "BAND": ["band-sync"]}.get(product.sku, [])
    agent, sales = actors[Role.AGENT], actors[Role.SALES]
    _, active = place(store, admin, settings, request("basic-m"))
    waiting = pending_order(store, admin, settings)
    band, _ = buy(store, admin, settings)
    gift, _ = buy(store, admin, settings, "gift", 1)
    found = entitlements.entitlements_for(store, sales, "C-1")
    assert [(e.order, e.sku, e.access) for e in found] == [
        (active.order_number, "STREAM", ["hd-streaming", "1-screen"]), (band, "BAND", ["band-sync"])]
    assert entitlements.order_entitlements(store, sales, waiting) == []
    refreshed = entitlements.refresh_entitlements(store, agent, active.order_number)
    assert [e.product for e in refreshed] == ["Streaming"]
    assert events(store, "entitlements_refreshed") == [{"product": "Streaming", "order": active.order_number,
                                                        "access": ["hd-streaming", "1-screen"]}]
    with pytest.raises(Conflict, match="pending"):
        entitlements.refresh_entitlements(store, agent, waiting)
    with pytest.raises(Conflict, match="grant no access"):
        entitlements.refresh_entitlements(store, agent, gift)
    with pytest.raises(PermissionDenied):
        entitlements.refresh_entitlements(store, sales, active.order_number)
    assert len(events(store, "entitlements_refreshed")) == 1


def test_membership_login_and_password_reset(store, admin, actors, settings, shop):
    agent = actors[Role.AGENT]
    assert entitlements.set_membership_login(store, agent, "C-1", "  grace.h@navy ") == "grace.h@navy"
    with store.read() as s:
        assert s.execute(select(Customer.membership_login)).scalar_one() == "grace.h@navy"
    assert events(store, "customer_edited")[-1] == {"changes": {"membership_login": {"from": None,
                                                                                    "to": "grace.h@navy"}}}
    for bad in ("grace hopper", "-grace", "x" * 65, "gräce"):
        with pytest.raises(InvalidInput) as caught:
            entitlements.set_membership_login(store, agent, "C-1", bad)
        assert "login" in caught.value.fields
    with pytest.raises(Conflict):
        entitlements.set_membership_login(store, agent, "C-1", "grace.h@navy")
    with pytest.raises(PermissionDenied):
        entitlements.set_membership_login(store, actors[Role.FINANCE], "C-1", "other")
    before = (len(rows(store, TimelineEvent)), len(rows(store, Job)))
    with pytest.raises(Conflict, match="portal_base_url"):
        entitlements.request_password_reset(store, agent, settings, "C-1")
    assert (len(rows(store, TimelineEvent)), len(rows(store, Job))) == before, "nothing sent, nothing recorded"
    policy(store, {"portal_base_url": "https://portal.example"})
    reset = entitlements.request_password_reset(store, agent, settings, "C-1")
    assert reset.message == "reset link queued for grace@example.com" and reset.login == "grace.h@navy"
    (link,) = rows(store, Link)
    assert (link.kind, link.status, link.email_to, link.options["login"]) == ("password_reset", "queued",
                                                                             "grace@example.com", "grace.h@navy")
    assert events(store, "password_reset_requested") == [{"login": "grace.h@navy"}]
    assert events(store, "link_requested")[-1]["kind"] == "password_reset"
    assert entitlements.set_membership_login(store, agent, "C-1", "") is None
    assert events(store, "customer_edited")[-1]["changes"]["membership_login"] == {"from": "grace.h@navy", "to": None}
    with pytest.raises(Conflict, match="no membership login"):
        entitlements.request_password_reset(store, agent, settings, "C-1")


def test_the_catalog_carries_entitlements(store, admin, tmp_path):
    from agentdesk.services.catalog.service import import_catalog
    from agentdesk.services.catalog.spec import parse_catalog

    product = '[[products]]\nsku = "TV"\nname = "TV"\nentitlements = {}\nplans = [{{ code = "tv-m", name = "TV", ' \
              'price = 100, currency = "USD", interval = "month" }}]\n'
    for bad, why in (('["hd", "hd"]', "twice"), ('["two words"]', "letter or digit"), ('"hd"', "list")):
        with pytest.raises(InvalidInput) as caught:
            parse_catalog(product.format(bad).encode())
        assert any(key.startswith("products[0].entitlements") and why in text
                   for key, text in caught.value.fields.items()), caught.value.fields
    path = tmp_path / "catalog.toml"
    path.write_text(product.format('["hd-streaming", "4-screens"]'))
    import_catalog(store, admin, path)
    with store.read() as s:
        assert s.execute(select(Product.entitlements).where(Product.sku == "TV")).scalar_one() == [
            "hd-streaming", "4-screens"]
