"""Quotes: draft → issued → accepted once into the order as quoted; rejected, recalled, expired by the worker;
payment acceptance waits for an approved payment; roles and timeline events — on SQLite and PostgreSQL."""

from __future__ import annotations

import threading
from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import text

from agentdesk.config import load_settings
from agentdesk.db.models import Invoice, Job, Order, OrderItem, Quote, Transaction
from agentdesk.domain.enums import Role
from agentdesk.domain.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from agentdesk.services.customers import records as customers
from agentdesk.services.jobs.runner import run_due
from agentdesk.services.money import instruments
from agentdesk.services.orders.quotes import (
    accept_quote,
    create_quote,
    expire_quotes,
    issue_quote,
    list_quotes,
    quote_detail,
    recall_quote,
    reject_quote,
)
from agentdesk.services.orders.requests import ItemOverrides, ItemRequest, OrderRequest

from ..conftest import customer_input
from .test_orders import event_types, rows, seed_catalog

NOW = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)
EXPIRES = date(2026, 3, 31)


@pytest.fixture
def settings(store, tmp_path):
    return load_settings(store.url, env={"AGENTDESK_DATA_DIR": str(tmp_path / "data")})


@pytest.fixture
def shop(store, admin, settings):
    """The catalog of tests/services/test_orders.py, and customer C-1 (USD, a Visa that approves)."""
    seed_catalog(store)
    customers.create_customer(store, admin, customer_input())
    instruments.add_card(store, admin, settings, "C-1", "4242424242424242", "12/30")
    return "C-1"


def quoted(store, actor, *items: ItemRequest, coupons=(), accept_by="customer", now=NOW, **kwargs):
    req = OrderRequest("C-1", list(items) or [ItemRequest("basic-m")], coupons=list(coupons))
    return create_quote(store, actor, req, expires_on=kwargs.pop("expires_on", EXPIRES), accept_by=accept_by,
                        now=now, **kwargs)


def issued(store, actor, *items: ItemRequest, **kwargs) -> str:
    number = quoted(store, actor, *items, **kwargs).summary.number
    issue_quote(store, actor, number, now=NOW)
    return number


def test_lifecycle_draft_issued_accepted_with_events_and_email(store, admin, settings, shop):
    detail = quoted(store, admin, ItemRequest("basic-m", quantity=2), terms="Net 30", signature_name="Ada Buyer",
                    redirect_url="https://shop.example/thanks")
    s = detail.summary
    assert (s.number, s.status, s.total, s.currency, s.accept_by) == ("QUO-00000001", "draft", 1798, "USD",
                                                                      "customer")
    assert detail.priced["lines"][0]["quantity"] == 2 and detail.signature_name == "Ada Buyer"
    assert rows(store, Order) == [] and rows(store, Invoice) == []
    with pytest.raises(Conflict, match="only an issued quote"):
        accept_quote(store, admin, settings, s.number, now=NOW)

    outcome = issue_quote(store, admin, s.number, now=NOW)
    assert outcome.quote.status == "issued" and "grace@example.com" in outcome.message
    (email,) = [j for j in rows(store, Job) if j.idempotency_key == "email-quote-1-issued"]
    assert email.payload["to"] == "grace@example.com" and "QUO-00000001" in email.payload["subject"]
    assert "17.98 USD" in email.payload["body"] and "Net 30" in email.payload["body"]
    with pytest.raises(Conflict, match="only a draft"):
        issue_quote(store, admin, s.number, now=NOW)

    accepted = accept_quote(store, admin, settings, s.number, now=NOW + timedelta(days=2))
    assert accepted.accepted and accepted.payment == "approved"
    (order,) = rows(store, Order)
    assert accepted.quote.order == order.number and order.status == "active"
    (row,) = rows(store, Quote)
    assert (row.status, row.order_id, row.accepting_at) == ("accepted", order.id, None)
    assert row.decided_at == NOW + timedelta(days=2)
    types = event_types(store)
    assert [t for t in types if t.startswith("quote_")] == ["quote_created", "quote_issued", "quote_accepted"]
    assert "order_created" in types
    assert [q.number for q in list_quotes(store, admin, "C-1")] == ["QUO-00000001"]
    assert quote_detail(store, admin, "quo-00000001").summary.order == order.number


def test_accept_places_the_order_exactly_as_quoted(store, admin, settings, shop):
    number = issued(store, admin, ItemRequest("basic-m", quantity=3, overrides=ItemOverrides(unit_price=700)),
                    coupons=["SAVE10"])
    (q,) = rows(store, Quote)
    assert q.total == 1890  # 3 × 7.00 less 10 %
    assert q.request["items"][0]["overrides"] == {"unit_price": 700} and q.request["coupons"] == ["SAVE10"]
    accept_quote(store, admin, settings, number, now=NOW)
    (item,) = rows(store, OrderItem)
    assert (item.quantity, item.unit_price, item.customised) == (3, 700, ["unit_price"])
    (invoice,) = rows(store, Invoice)
    assert (invoice.subtotal, invoice.discount, invoice.total, invoice.status) == (2100, 210, 1890, "paid")
    assert "coupon_redeemed" in event_types(store)


def test_a_changed_price_is_refused_and_the_quote_stays_issued(store, admin, settings, shop):
    number = issued(store, admin, ItemRequest("basic-m"))
    with store.write(unrecorded="test fixture") as s:
        s.execute(text("UPDATE plan SET price = 999 WHERE code = 'basic-m'"))
    with pytest.raises(Conflict, match=r"no longer holds at 8\.99 USD"):
        accept_quote(store, admin, settings, number, now=NOW)
    (q,) = rows(store, Quote)
    assert (q.status, q.accepting_at, q.order_id) == ("issued", None, None) and rows(store, Order) == []


def test_accepted_twice_places_one_order(store, admin, settings, shop):
    number = issued(store, admin)
    first = accept_quote(store, admin, settings, number, now=NOW)
    second = accept_quote(store, admin, settings, number, now=NOW)
    assert second.accepted and second.quote.order == first.quote.order and "already accepted" in second.message
    assert len(rows(store, Order)) == 1 and len(rows(store, Transaction)) == 1
    assert event_types(store).count("quote_accepted") == 1


def test_concurrent_accepts_place_one_order(store, actors, settings, shop):
    number = issued(store, actors[Role.ADMIN])
    barrier = threading.Barrier(4)
    results: list[object] = []

    def accept(role: Role) -> None:
        barrier.wait()
        try:
            results.append(accept_quote(store, actors[role], settings, number, now=NOW))
        except Conflict as exc:
            results.append(exc)

    threads = [threading.Thread(target=accept, args=(role,))
               for role in (Role.ADMIN, Role.AGENT, Role.SALES, Role.AGENT)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    (order,) = rows(store, Order)
    assert len(rows(store, Transaction)) == 1 and event_types(store).count("quote_accepted") == 1
    outcomes = [r for r in results if not isinstance(r, Exception)]
    assert outcomes and all(o.quote.order == order.number for o in outcomes)  # type: ignore[attr-defined]
    assert all("being accepted" in str(r) for r in results if isinstance(r, Exception))
    (q,) = rows(store, Quote)
    assert (q.status, q.order_id, q.accepting_at) == ("accepted", order.id, None)


def test_expired_quotes_cannot_be_accepted_and_the_worker_expires_them(store, admin, settings, shop):
    number = issued(store, admin, expires_on=date(2026, 3, 12))
    later = datetime(2026, 3, 13, 0, 30, tzinfo=UTC)
    with pytest.raises(Conflict, match="expired on 2026-03-12"):
        accept_quote(store, admin, settings, number, now=later)
    assert expire_quotes(store, datetime(2026, 3, 12, 23, 0, tzinfo=UTC)) == 0
    run_due(store, settings, now=later)
    (q,) = rows(store, Quote)
    assert (q.status, q.decided_at) == ("expired", later)
    assert expire_quotes(store, later) == 0
    assert event_types(store).count("quote_expired") == 1
    with pytest.raises(Conflict, match="expired"):
        accept_quote(store, admin, settings, number, now=NOW)
    assert rows(store, Order) == []
    with pytest.raises(InvalidInput, match="has passed"):
        quoted(store, admin, expires_on=date(2026, 3, 9))


def test_recall_and_reject(store, admin, settings, shop):
    draft = quoted(store, admin).summary.number
    assert recall_quote(store, admin, draft, reason="priced wrong", now=NOW).quote.status == "recalled"
    with pytest.raises(Conflict, match="only an issued quote"):
        accept_quote(store, admin, settings, draft, now=NOW)
    with pytest.raises(Conflict):
        issue_quote(store, admin, draft, now=NOW)
    other = issued(store, admin)
    assert reject_quote(store, admin, other, reason="too dear", now=NOW).quote.status == "rejected"
    with pytest.raises(Conflict, match="only draft or issued"):
        recall_quote(store, admin, other, now=NOW)
    assert rows(store, Order) == []
    types = [t for t in event_types(store) if t.startswith("quote_")]
    assert types == ["quote_created", "quote_recalled", "quote_created", "quote_issued", "quote_rejected"]


def test_payment_acceptance_waits_for_an_approved_payment(store, admin, settings, shop):
    with store.write(unrecorded="test fixture") as s:
        s.execute(text("UPDATE payment_instrument SET status = 'inactive'"))
    instruments.add_card(store, admin, settings, "C-1", "4000000000000002", "12/30", primary=True)
    number = issued(store, admin, accept_by="payment")
    outcome = accept_quote(store, admin, settings, number, now=NOW)
    assert not outcome.accepted and outcome.payment == "declined"
    assert "stays issued" in outcome.message and "card declined" in outcome.message
    (order,) = rows(store, Order)
    (q,) = rows(store, Quote)
    assert (q.status, q.order_id, q.accepting_at, order.status) == ("issued", order.id, None, "pending")
    assert "quote_accepted" not in event_types(store)

    instruments.add_card(store, admin, settings, "C-1", "4242424242424242", "11/31", primary=True)
    again = accept_quote(store, admin, settings, number, now=NOW + timedelta(hours=1))
    assert again.accepted and again.payment == "approved" and again.quote.order == order.number
    assert len(rows(store, Order)) == 1 and rows(store, Order)[0].status == "active"
    assert [i.status for i in rows(store, Invoice)] == ["paid"]


def test_customer_acceptance_without_a_card_sends_the_invoice(store, admin, settings, shop):
    with store.write(unrecorded="test fixture") as s:
        s.execute(text("UPDATE payment_instrument SET status = 'inactive'"))
    number = issued(store, admin)
    outcome = accept_quote(store, admin, settings, number, now=NOW)
    assert outcome.accepted and outcome.payment == "no autopay"
    (order,) = rows(store, Order)
    assert (order.status, order.autopay) == ("pending", False)


def test_roles_finance_may_not_quote_and_bad_input_is_named(store, actors, settings, shop):
    finance, agent = actors[Role.FINANCE], actors[Role.AGENT]
    with pytest.raises(PermissionDenied):
        quoted(store, finance)
    number = issued(store, agent)
    for call in (lambda: accept_quote(store, finance, settings, number, now=NOW),
                 lambda: reject_quote(store, finance, number, now=NOW),
                 lambda: recall_quote(store, finance, number, now=NOW)):
        with pytest.raises(PermissionDenied):
            call()
    assert rows(store, Quote)[0].status == "issued"
    assert list_quotes(store, finance, "C-1")[0].number == number
    sales_draft = quoted(store, actors[Role.SALES]).summary.number
    with pytest.raises(PermissionDenied):
        issue_quote(store, finance, sales_draft, now=NOW)
    with pytest.raises(InvalidInput) as bad:
        quoted(store, agent, redirect_url="javascript:alert(1)")
    assert "redirect_url" in bad.value.fields
    with pytest.raises(InvalidInput) as bad:
        quoted(store, agent, accept_by="maybe")
    assert "accept_by" in bad.value.fields
    with pytest.raises(NotFound, match="no plan no-such-plan"):
        quoted(store, agent, ItemRequest("no-such-plan"))
    assert len(rows(store, Quote)) == 2


def test_an_acceptance_that_crashed_is_claimable_after_ten_minutes_and_expirable(store, admin, settings, shop):
    number = issued(store, admin)
    with store.write(unrecorded="test fixture: an acceptance that crashed") as s:
        s.execute(text("UPDATE quote SET accepting_at = :at"), {"at": NOW})
    with pytest.raises(Conflict, match="being accepted by another agent"):
        accept_quote(store, admin, settings, number, now=NOW + timedelta(minutes=9))
    with pytest.raises(Conflict, match="being accepted"):
        recall_quote(store, admin, number, now=NOW + timedelta(minutes=9))
    done = accept_quote(store, admin, settings, number, now=NOW + timedelta(minutes=10))
    assert done.accepted and len(rows(store, Order)) == 1

    late = issued(store, admin, expires_on=NOW.date())
    with store.write(unrecorded="test fixture: an acceptance that crashed") as s:
        s.execute(text("UPDATE quote SET accepting_at = :at WHERE number = :n"), {"at": NOW, "n": late})
    assert expire_quotes(store, now=NOW + timedelta(days=1)) == 1
    assert rows(store, Quote, Quote.number == late)[0].status == "expired"
