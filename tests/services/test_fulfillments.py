"""Fulfillments: created for a paid invoice of products that ship, shipped with carrier and tracking (the customer
emailed), delivered, cancelled while pending, reshipped free or charged, imported from a carrier's CSV — each on
the timeline, by the roles that may, on SQLite and PostgreSQL."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from agentdesk.config import load_settings
from agentdesk.db.models import Fulfillment, Invoice, Job, Order, TimelineEvent, Transaction
from agentdesk.domain.enums import FulfillmentStatus, Role
from agentdesk.domain.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from agentdesk.domain.permissions import SYSTEM
from agentdesk.domain.validation import AddressInput
from agentdesk.services.customers import records as customers
from agentdesk.services.jobs.runner import run_due
from agentdesk.services.money import instruments
from agentdesk.services.orders import fulfillments as service
from agentdesk.services.orders.requests import ItemRequest, ShippingChoice

from ..conftest import customer_input
from .test_orders import NOW, place, request, rows, seed_catalog


def open_shop(store, admin, settings) -> str:
    """The order tests' catalog, and customer C-1 (USD, an address in the US and one in France, a Visa that
    approves)."""
    seed_catalog(store)
    customers.create_customer(store, admin, customer_input(
        addresses=[AddressInput("1 Main St", "Springfield", "US"), AddressInput("2 Rue", "Paris", "FR")]))
    instruments.add_card(store, admin, settings, "C-1", "4242424242424242", "12/30")
    return "C-1"


@pytest.fixture
def settings(store, tmp_path):
    return load_settings(store.url, env={"AGENTDESK_DATA_DIR": str(tmp_path / "data")})


@pytest.fixture
def shop(store, admin, settings):
    return open_shop(store, admin, settings)


def us_address(store) -> int:
    from agentdesk.db.models import Address

    with store.read() as s:
        return s.execute(select(Address.id).where(Address.country == "US")).scalar_one()


def buy(store, actor, settings, code: str = "band", quantity: int = 2, **kw) -> tuple[str, int]:
    """Place and pay an order; (order number, its paid invoice id)."""
    item = ItemRequest(code, quantity, options={"size": "M"}) if code == "band" else ItemRequest(code, quantity)
    shipping = ShippingChoice("catalog", address_id=us_address(store)) if code == "band" else ShippingChoice()
    _, result = place(store, actor, settings, request(item, shipping=shipping, **kw))
    assert result.payment == "approved", result.message
    with store.read() as s:
        invoice = s.execute(select(Invoice).where(Invoice.number == result.invoice_number)).scalar_one()
        return result.order_number, invoice.id


def fulfil(store, invoice_id: int) -> Fulfillment | None:
    """What services/billing/paid.py does once wired: the fulfillment of a paid invoice (created here if the
    payment did not create it already)."""
    with store.write() as s:
        existing = s.execute(select(Fulfillment).where(Fulfillment.invoice_id == invoice_id)).scalar_one_or_none()
        if existing is not None:
            return existing
        return service.create_for_paid_invoice(s, SYSTEM, s.get(Invoice, invoice_id), now=NOW)


def events(store, kind: str) -> list[dict]:
    return [e.attributes for e in rows(store, TimelineEvent, TimelineEvent.type == kind)]


def shipped_order(store, admin, settings) -> tuple[str, int]:
    number, invoice_id = buy(store, admin, settings)
    row = fulfil(store, invoice_id)
    assert row is not None
    return number, row.id


def test_a_paid_invoice_of_a_shipped_product_gets_one_pending_fulfillment(store, admin, settings, shop):
    number, invoice_id = buy(store, admin, settings)
    row = fulfil(store, invoice_id)
    assert row is not None
    [stored] = rows(store, Fulfillment)
    assert (stored.status, stored.invoice_id, stored.address_id, stored.reship_of_id) == (
        FulfillmentStatus.PENDING, invoice_id, us_address(store), None)
    assert stored.items == [{"sku": "BAND", "name": "Band", "quantity": 2, "options": {"size": "M"}}]
    assert events(store, "fulfillment_created") == [{"order": number, "fulfillment": stored.id,
                                                     "items": ["2 × Band (size M)"]}]
    with store.write() as s:
        assert service.create_for_paid_invoice(s, SYSTEM, s.get(Invoice, invoice_id)) is None
    assert len(rows(store, Fulfillment)) == 1, "one fulfillment per paid invoice"
    [info] = service.list_fulfillments(store, admin, order_number=number)
    assert (info.id, info.status, info.summary, info.invoice) == (stored.id, "pending", "2 × Band (size M)",
                                                                  rows(store, Invoice)[0].number)
    assert "1 Main St" in (info.address or "")
    assert [f.id for f in service.list_fulfillments(store, admin, "C-1")] == [stored.id]


def test_nothing_to_ship_creates_nothing(store, admin, settings, shop):
    _, invoice_id = buy(store, admin, settings, "gift", 1)
    with store.write() as s:
        assert service.create_for_paid_invoice(s, SYSTEM, s.get(Invoice, invoice_id)) is None
    assert rows(store, Fulfillment) == [] and events(store, "fulfillment_created") == []


def test_ship_with_carrier_and_tracking_then_deliver(store, admin, actors, settings, shop):
    agent = actors[Role.AGENT]
    number, fid = shipped_order(store, admin, settings)
    try:
        service.update_fulfillment(store, agent, fid, status="shipped", carrier="UPS")
        raise AssertionError("shipped without tracking")
    except InvalidInput as exc:
        assert "tracking" in exc.fields
    try:
        service.update_fulfillment(store, agent, fid, status="delivered")
        raise AssertionError("delivered without a carrier")
    except InvalidInput as exc:
        assert "carrier" in exc.fields
    assert rows(store, Fulfillment)[0].status == FulfillmentStatus.PENDING
    assert events(store, "fulfillment_updated") == []
    info = service.update_fulfillment(store, agent, fid, status="shipped", carrier=" UPS ", tracking="1Z999")
    assert (info.status, info.carrier, info.tracking_number) == ("shipped", "UPS", "1Z999")
    row = rows(store, Fulfillment)[0]
    assert row.shipped_at is not None and row.delivered_at is None
    [event] = events(store, "fulfillment_updated")
    assert event["order"] == number and event["fulfillment"] == fid
    assert event["changes"]["status"] == {"from": "pending", "to": "shipped"}
    assert event["changes"]["tracking_number"] == {"from": None, "to": "1Z999"}
    [mail] = [j.payload for j in rows(store, Job) if "has shipped" in j.payload["subject"]]
    assert "1Z999" in mail["body"] and "UPS" in mail["body"] and mail["to"] == "grace@example.com"
    run_due(store, settings)
    assert f"Your order {number} has shipped" in [e["subject"] for e in events(store, "email_sent")]
    try:
        service.update_fulfillment(store, agent, fid, status="shipped", carrier="UPS", tracking="1Z999")
        raise AssertionError("a change that changes nothing")
    except Conflict:
        pass
    info = service.update_fulfillment(store, agent, fid, status=FulfillmentStatus.DELIVERED)
    assert info.status == "delivered" and rows(store, Fulfillment)[0].delivered_at is not None
    for attempt in ({"status": "shipped"}, {"tracking": "X"}):
        try:
            service.update_fulfillment(store, agent, fid, **attempt)
            raise AssertionError("a delivered fulfillment changed")
        except Conflict as exc:
            assert "delivered" in str(exc)
    try:
        service.cancel_fulfillment(store, agent, fid, "lost")
        raise AssertionError("a delivered fulfillment cancelled")
    except Conflict as exc:
        assert "only a pending one" in str(exc)


def test_cancel_a_pending_fulfillment_needs_a_reason(store, admin, actors, settings, shop):
    agent = actors[Role.AGENT]
    number, fid = shipped_order(store, admin, settings)
    try:
        service.cancel_fulfillment(store, agent, fid, "  ")
        raise AssertionError("cancelled without a reason")
    except InvalidInput as exc:
        assert "reason" in exc.fields
    info = service.cancel_fulfillment(store, agent, fid, "customer picked it up in store")
    assert info.status == "cancelled" and info.reason == "customer picked it up in store"
    assert rows(store, Fulfillment)[0].cancelled_at is not None
    assert events(store, "fulfillment_cancelled") == [{"order": number, "fulfillment": fid,
                                                       "reason": "customer picked it up in store"}]
    (mail,) = [j for j in rows(store, Job) if j.idempotency_key == f"email-fulfillment-{fid}-cancelled"]
    assert mail.payload["subject"] == f"A shipment of your order {number} is cancelled"
    assert "We will not send this shipment" in mail.payload["body"] and "picked it up" not in mail.payload["body"]
    try:
        service.update_fulfillment(store, agent, fid, status="shipped", carrier="UPS", tracking="1")
        raise AssertionError("a cancelled fulfillment shipped")
    except Conflict:
        pass
    try:
        service.cancel_fulfillment(store, agent, 999_999, "x")
        raise AssertionError("an unknown fulfillment")
    except NotFound:
        pass


def test_reship_is_free_unless_the_agent_adds_a_charge(store, admin, actors, settings, shop):
    agent = actors[Role.AGENT]
    number, fid = shipped_order(store, admin, settings)
    try:
        service.reship_fulfillment(store, agent, settings, fid, "lost")
        raise AssertionError("reshipped before it was sent")
    except Conflict as exc:
        assert "only one that was sent" in str(exc)
    service.update_fulfillment(store, agent, fid, status="shipped", carrier="UPS", tracking="1Z1")
    try:
        service.reship_fulfillment(store, agent, settings, fid, "")
        raise AssertionError("reshipped without a reason")
    except InvalidInput as exc:
        assert "reason" in exc.fields
    payments = len(rows(store, Transaction))
    free = service.reship_fulfillment(store, agent, settings, fid, "lost in transit")
    assert free.charge is None and free.fulfillment.status == "pending" and free.fulfillment.reship_of == fid
    new = rows(store, Fulfillment)[-1]
    assert (new.invoice_id, new.reship_of_id, new.reason, new.items) == (
        None, fid, "lost in transit", rows(store, Fulfillment)[0].items)
    assert events(store, "fulfillment_reshipped") == [{"order": number, "fulfillment": new.id, "reship_of": fid,
                                                       "reason": "lost in transit"}]
    assert len(rows(store, Transaction)) == payments, "a reship costs nothing unless a charge is added"
    (mail,) = [j for j in rows(store, Job) if j.idempotency_key == f"email-fulfillment-{new.id}-reshipped"]
    assert mail.payload["subject"] == f"We are sending your order {number} again"
    assert "There is no charge for it." in mail.payload["body"] and "lost in transit" not in mail.payload["body"]
    try:
        service.reship_fulfillment(store, agent, settings, fid, "again", charge=0)
        raise AssertionError("a zero charge")
    except InvalidInput as exc:
        assert "charge" in exc.fields
    charged = service.reship_fulfillment(store, agent, settings, fid, "damaged, customer pays postage", charge=799)
    assert charged.charge is not None and charged.charge.payment == "approved" and charged.charge.amount == 799
    assert charged.charge.order_number == number and "Reshipment" in charged.charge.description
    assert [t.amount for t in rows(store, Transaction)][-1] == 799
    assert events(store, "manual_charge")[-1]["amount"] == 799
    assert len(rows(store, Fulfillment)) == 3
    (mail,) = [j for j in rows(store, Job)
               if j.idempotency_key == f"email-fulfillment-{rows(store, Fulfillment)[-1].id}-reshipped"]
    assert "A charge of 7.99 USD is billed for it." in mail.payload["body"]


def test_roles(store, admin, actors, settings, shop):
    _, fid = shipped_order(store, admin, settings)
    for role in (Role.SALES, Role.FINANCE):
        actor = actors[role]
        for call in (lambda a: service.update_fulfillment(store, a, fid, status="shipped", carrier="U", tracking="1"),
                     lambda a: service.cancel_fulfillment(store, a, fid, "x"),
                     lambda a: service.reship_fulfillment(store, a, settings, fid, "x")):
            try:
                call(actor)
                raise AssertionError(f"{role} changed a fulfillment")
            except PermissionDenied:
                pass
        assert [f.id for f in service.list_fulfillments(store, actor, "C-1")] == [fid], "everyone reads them"
    assert rows(store, Fulfillment)[0].status == FulfillmentStatus.PENDING


def write_csv(tmp_path, text: str):
    path = tmp_path / "carrier.csv"
    path.write_text(text, encoding="utf-8")
    return path


def test_import_is_checked_whole_then_applied_in_one_transaction(store, admin, actors, settings, shop, tmp_path):
    agent = actors[Role.AGENT]
    first_order, first = shipped_order(store, admin, settings)
    _, second = shipped_order(store, admin, settings)
    bad = write_csv(tmp_path, f"fulfillment,carrier,tracking_number,status\n{first},UPS,1Z1,shipped\n"
                              f"{second},DHL,,shipped\n{first},UPS,1Z1,lost\n")
    try:
        service.import_fulfillments(store, agent, bad)
        raise AssertionError("a bad file was imported")
    except InvalidInput as exc:
        assert "line 3: tracking_number" in exc.fields
        assert "line 4: fulfillment" in exc.fields
        assert "nothing changed" in str(exc)
    assert {f.status for f in rows(store, Fulfillment)} == {FulfillmentStatus.PENDING}
    assert events(store, "fulfillment_updated") == []
    good = write_csv(tmp_path, f"order,carrier,tracking_number,status,shipped_at\n{first_order},UPS,1Z1,shipped,"
                               f"2026-03-09\n")
    report = service.import_fulfillments(store, agent, good, now=NOW)
    assert (report.rows, report.updated, report.unchanged) == (1, 1, 0)
    row = rows(store, Fulfillment)[0]
    assert (row.status, row.carrier, row.tracking_number) == (FulfillmentStatus.SHIPPED, "UPS", "1Z1")
    assert row.shipped_at is not None and row.shipped_at.date().isoformat() == "2026-03-09"
    again = service.import_fulfillments(store, agent, good, now=NOW)
    assert (again.updated, again.unchanged) == (0, 1), "a file imported twice changes nothing"
    both = write_csv(tmp_path, f"fulfillment,carrier,tracking_number,status\n{first},,,delivered\n"
                               f"{second},DHL,JD0001,delivered\n")
    report = service.import_fulfillments(store, agent, both, now=NOW)
    assert report.updated == 2
    assert [f.status for f in rows(store, Fulfillment)] == [FulfillmentStatus.DELIVERED] * 2
    assert len(events(store, "fulfillment_updated")) == 3
    for text, field in (("status\nshipped\n", "file"), ("fulfillment,status,colour\n1,shipped,red\n", "file"),
                        ("fulfillment,status\nabc,shipped\n", "line 2: fulfillment"),
                        ("fulfillment,status\n999999,shipped\n", "line 2: row")):
        try:
            service.import_fulfillments(store, agent, write_csv(tmp_path, text))
            raise AssertionError(text)
        except InvalidInput as exc:
            assert field in exc.fields, (text, exc.fields)
    try:
        service.import_fulfillments(store, actors[Role.SALES], good)
        raise AssertionError("sales imported")
    except PermissionDenied:
        pass
    with store.read() as s:
        assert s.execute(select(Order.status).where(Order.number == first_order)).scalar_one() == "completed"
