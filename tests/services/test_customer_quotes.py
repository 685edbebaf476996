"""The customer's quote link: the page shows the quote as priced; accepting places the order exactly as
quoted, once; a payment quote's order waits for its invoice and the quote is accepted when it is paid;
expired, recalled and decided quotes are refused in the customer's words; declining records
QUOTE_REJECTED by "customer"; the link completes with the decision — on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from sqlalchemy import text

from agentdesk.config import load_settings
from agentdesk.db.models import Invoice, Job, Link, Order, OrderItem, Quote, TimelineEvent
from agentdesk.domain.enums import LinkKind
from agentdesk.domain.errors import Conflict, InvalidInput
from agentdesk.services.billing import invoices
from agentdesk.services.customers import records as customers
from agentdesk.services.links.access import LinkUnavailable, LinkUsed
from agentdesk.services.links.customer_money import CardEntry
from agentdesk.services.links.customer_quotes import accept_quote_link, quote_page, reject_quote_link
from agentdesk.services.money import instruments
from agentdesk.services.orders.quotes import issue_quote, recall_quote
from agentdesk.services.orders.requests import ItemOverrides, ItemRequest

from ..conftest import customer_input, policy
from ..support.links import link_row, ready_link
from .test_orders import event_types, rows, seed_catalog
from .test_quotes import NOW, issued


@pytest.fixture
def settings(store, tmp_path):
    return load_settings(store.url, env={"AGENTDESK_DATA_DIR": str(tmp_path / "data")})


@pytest.fixture
def shop(store, admin, settings):
    """The catalog of test_orders.py and customer C-1 (USD, a Visa that approves), as in test_quotes.py."""
    seed_catalog(store)
    customers.create_customer(store, admin, customer_input())
    instruments.add_card(store, admin, settings, "C-1", "4242424242424242", "12/30")
    return "C-1"


def quote_link(store, number: str, **options) -> str:
    (row,) = rows(store, Quote, Quote.number == number)
    return ready_link(store, row.customer_id, LinkKind.QUOTE,
                      {"quote": number, "quote_id": row.id, "redirect_url": None, **options})


def events(store, type_: str) -> list[TimelineEvent]:
    return rows(store, TimelineEvent, TimelineEvent.type == type_)


def test_the_page_shows_the_quote_as_priced(store, admin, settings, shop):
    number = issued(store, admin, ItemRequest("basic-m", quantity=3, overrides=ItemOverrides(unit_price=700)),
                    coupons=["SAVE10"], terms="Net 30 <b>bold</b>", signature_name="Ada Buyer",
                    redirect_url="https://shop.example/thanks")
    token = quote_link(store, number)
    page = quote_page(store, token, now=NOW)
    assert (page.number, page.status, page.currency, page.accept_by) == (number, "issued", "USD", "customer")
    (line,) = page.lines
    assert (line.quantity, line.unit_price, line.amount, line.discount) == (3, 700, 2100, 210)
    assert (page.subtotal, page.discount, page.total) == (2100, 210, 1890)
    assert page.coupons[0][0] == "SAVE10"
    assert page.terms == "Net 30 <b>bold</b>" and page.signature_name == "Ada Buyer"
    assert page.redirect_url == "https://shop.example/thanks" and page.expires_on == date(2026, 3, 31)
    assert page.open and page.order_number is None and page.first_name
    assert quote_page(store, quote_link(store, number, redirect_url="https://x.example/done"),
                      now=NOW).redirect_url == "https://x.example/done"


def test_accepted_twice_on_the_link_places_one_order_as_quoted(store, admin, settings, shop):
    number = issued(store, admin, ItemRequest("basic-m", quantity=2, overrides=ItemOverrides(unit_price=700)))
    token = quote_link(store, number)
    decision = accept_quote_link(store, settings, token, now=NOW)
    assert decision.accepted and decision.order_number is not None
    assert f"accepted quote {number}" in decision.message and decision.order_number in decision.message
    (order,) = rows(store, Order)
    (item,) = rows(store, OrderItem)
    assert (order.number, order.status, item.quantity, item.unit_price) == (decision.order_number, "active", 2, 700)
    (q,) = rows(store, Quote)
    assert (q.status, q.order_id, q.accepting_at) == ("accepted", order.id, None)
    (accepted,) = events(store, "quote_accepted")
    assert accepted.actor_label == "customer" and accepted.attributes["order"] == order.number
    assert [e.actor_label for e in events(store, "order_created")] == ["customer"]

    link = link_row(store, token)
    assert (link.status, link.uses, link.result["order"]) == ("completed", 1, order.number)
    (done,) = events(store, "link_completed")
    assert done.actor_label == "customer" and "accepted" in done.attributes["outcome"]

    with pytest.raises(LinkUsed):
        accept_quote_link(store, settings, token, now=NOW)
    second = quote_link(store, number)
    again = accept_quote_link(store, settings, second, now=NOW)
    assert again.accepted and again.order_number == order.number
    assert len(rows(store, Order)) == 1 and len(events(store, "quote_accepted")) == 1


def test_expired_recalled_and_decided_quotes_are_refused_in_plain_words(store, admin, settings, shop):
    expired = issued(store, admin, expires_on=NOW.date() + timedelta(days=1))
    token = quote_link(store, expired)
    later = NOW + timedelta(days=3)
    assert quote_page(store, token, now=later).refusal == (
        f"Quote {expired} expired on 2026-03-11. Ask us for a new quote.")
    with pytest.raises(Conflict, match=r"expired on 2026-03-11\. Ask us for a new quote"):
        accept_quote_link(store, settings, token, now=later)
    with pytest.raises(Conflict, match="expired"):
        reject_quote_link(store, token, None, now=later)

    recalled = issued(store, admin)
    recall_token = quote_link(store, recalled)
    recall_quote(store, admin, recalled, "priced wrong")
    with pytest.raises(Conflict, match=f"Quote {recalled} was withdrawn"):
        accept_quote_link(store, settings, recall_token, now=NOW)
    assert rows(store, Order) == [] and "quote_accepted" not in event_types(store)
    for t in (token, recall_token):
        assert (link_row(store, t).status, link_row(store, t).uses) == ("ready", 0)

    with pytest.raises(LinkUnavailable):
        quote_page(store, "0" * 64, now=NOW)
    other = issued(store, admin)
    invoice_token = ready_link(store, rows(store, Quote)[0].customer_id, LinkKind.PAY_INVOICE, {"quote_id": 1})
    with pytest.raises(LinkUnavailable):
        accept_quote_link(store, settings, invoice_token, now=NOW)
    assert other


def test_rejected_on_the_link_by_customer(store, admin, settings, shop):
    number = issued(store, admin)
    token = quote_link(store, number)
    decision = reject_quote_link(store, token, "too <i>dear</i>", now=NOW)
    assert f"declined quote {number}" in decision.message and decision.order_number is None
    (q,) = rows(store, Quote)
    assert (q.status, q.decided_at is not None) == ("rejected", True)
    (rejected,) = events(store, "quote_rejected")
    assert rejected.actor_label == "customer" and rejected.attributes["reason"] == "too <i>dear</i>"
    assert (link_row(store, token).status, link_row(store, token).uses) == ("completed", 1)
    fresh = quote_link(store, number)
    assert quote_page(store, fresh, now=NOW).refusal == f"You declined quote {number} on {NOW.date().isoformat()}."
    with pytest.raises(Conflict, match="You declined"):
        accept_quote_link(store, settings, fresh, now=NOW)
    assert rows(store, Order) == []


def test_a_payment_quote_waits_for_its_invoice_and_is_accepted_when_paid(store, admin, settings, shop):
    number = issued(store, admin, accept_by="payment")
    token = quote_link(store, number)
    decision = accept_quote_link(store, settings, token, now=NOW)
    assert not decision.accepted and "pay the invoice we email you" in decision.message
    (order,) = rows(store, Order)
    (invoice,) = rows(store, Invoice)
    (q,) = rows(store, Quote)
    assert (order.status, invoice.status, q.status, q.order_id) == ("pending", "issued", "issued", order.id)
    assert link_row(store, token).status == "ready" and "quote_accepted" not in event_types(store)
    assert rows(store, TimelineEvent, TimelineEvent.type == "transaction_sale") == []
    page = quote_page(store, token, now=NOW)
    assert page.open and page.order_number == order.number and f"invoice {invoice.number}" in (page.waiting or "")
    again = accept_quote_link(store, settings, token, now=NOW)
    assert not again.accepted and again.order_number == order.number and len(rows(store, Order)) == 1

    paid = invoices.collect_invoice(store, admin, settings, invoice.id, now=NOW + timedelta(hours=2))
    assert paid.status == "approved"
    (q,) = rows(store, Quote)
    assert q.status == "accepted" and rows(store, Order)[0].status == "active"
    (accepted,) = events(store, "quote_accepted")
    assert accepted.attributes["accept_by"] == "payment" and accepted.attributes["order"] == order.number
    assert quote_page(store, token, now=NOW).refusal == f"You accepted quote {number} on 2026-03-10."


def test_a_crashed_acceptance_is_claimable_after_ten_minutes_and_places_no_second_order(store, admin, settings, shop):
    number = issued(store, admin)
    with store.write(unrecorded="test fixture: an acceptance that crashed") as s:
        s.execute(text("UPDATE quote SET accepting_at = :at"), {"at": NOW})
    token = quote_link(store, number)
    with pytest.raises(Conflict, match="being accepted right now"):
        accept_quote_link(store, settings, token, now=NOW + timedelta(minutes=5))
    decision = accept_quote_link(store, settings, token, now=NOW + timedelta(minutes=11))
    assert decision.accepted and len(rows(store, Order)) == 1
    with store.write(unrecorded="test fixture: crashed after placing the order") as s:
        s.execute(text("UPDATE quote SET status = 'issued', accepting_at = :at"), {"at": NOW})
    again = accept_quote_link(store, settings, quote_link(store, number), now=NOW + timedelta(minutes=30))
    assert again.order_number == decision.order_number and len(rows(store, Order)) == 1


def test_a_declined_card_on_a_customer_quote_leaves_the_order_waiting(store, admin, settings, shop):
    with store.write(unrecorded="test fixture") as s:
        s.execute(text("UPDATE payment_instrument SET status = 'inactive'"))
    instruments.add_card(store, admin, settings, "C-1", "4000000000000002", "12/30", primary=True)
    number = issued(store, admin)
    decision = accept_quote_link(store, settings, quote_link(store, number), now=NOW)
    assert decision.accepted and decision.order_number == rows(store, Order)[0].number
    assert rows(store, Order)[0].status == "pending"


def test_a_payment_quote_is_paid_on_the_page_declined_first_then_a_saved_card(store, admin, settings, shop):
    number = issued(store, admin, accept_by="payment")
    token = quote_link(store, number)
    page = quote_page(store, token, now=NOW)
    assert page.pay_here and [c.label for c in page.cards] == ["Visa •••• 4242"]
    with pytest.raises(InvalidInput, match="not both"):
        accept_quote_link(store, settings, token, CardEntry("", ""), instrument_id=page.cards[0].id, now=NOW)

    declined = accept_quote_link(store, settings, token, CardEntry("4000000000000002", "12/30"), now=NOW)
    assert declined.declined and not declined.accepted and "did not go through" in declined.message
    (order,) = rows(store, Order)
    assert order.status == "pending" and rows(store, Quote)[0].status == "issued"
    assert (link_row(store, token).status, link_row(store, token).uses) != ("completed", 1)
    assert len(events(store, "new_payment_method")) == 2  # the shop's card, and the one typed on the page

    paid = accept_quote_link(store, settings, token, instrument_id=page.cards[0].id,
                             now=NOW + timedelta(minutes=1))
    assert paid.accepted and not paid.declined and paid.order_number == order.number
    assert len(rows(store, Order)) == 1 and rows(store, Order)[0].status == "active"
    assert [i.status for i in rows(store, Invoice)] == ["paid"]
    (accepted,) = events(store, "quote_accepted")
    assert accepted.actor_label == "customer" and accepted.attributes["accept_by"] == "payment"
    assert (link_row(store, token).status, link_row(store, token).uses) == ("completed", 1)
    with pytest.raises(LinkUsed):
        accept_quote_link(store, settings, token, instrument_id=page.cards[0].id, now=NOW)


def test_issuing_with_a_portal_queues_an_emailed_acceptance_link(store, admin, settings, shop):
    number = quoted_draft(store, admin)
    plain = issue_quote(store, admin, number, now=NOW, settings=settings)
    assert "acceptance link" not in plain.message and rows(store, Link) == []

    policy(store, {"portal_base_url": "https://portal.example"})
    second = quoted_draft(store, admin)
    outcome = issue_quote(store, admin, second, now=NOW, settings=settings)
    (link,) = rows(store, Link)
    (q,) = rows(store, Quote, Quote.number == second)
    assert (link.kind, link.status, link.email_to) == ("quote", "queued", "grace@example.com")
    assert (link.options["quote"], link.options["quote_id"]) == (second, q.id)
    assert outcome.message.endswith(f"an acceptance link (link {link.id}) is queued for grace@example.com")
    (email,) = [j for j in rows(store, Job) if j.idempotency_key == f"email-quote-{q.id}-issued"]
    assert "link to accept or decline it online" in email.payload["body"]
    assert event_types(store)[-2:] == ["quote_issued", "link_requested"]


def quoted_draft(store, actor) -> str:
    from agentdesk.services.orders.quotes import create_quote
    from agentdesk.services.orders.requests import OrderRequest

    return create_quote(store, actor, OrderRequest("C-1", [ItemRequest("basic-m")]), expires_on=date(2026, 3, 31),
                        accept_by="customer", now=NOW).summary.number


def test_a_blocked_customer_is_refused_without_being_told_why(store, admin, settings, shop):
    from agentdesk.services.risk import blocklist

    number = issued(store, admin)
    token = quote_link(store, number)
    blocklist.add_entry(store, admin, "email", "grace@example.com", "chargeback ring 42")
    with pytest.raises(Conflict) as refused:
        accept_quote_link(store, settings, token, now=NOW)
    assert str(refused.value) == ("We cannot accept this quote online. Nothing was ordered or charged; please "
                                  "contact us.")
    assert rows(store, Order) == [] and "blocked_attempt" in event_types(store)
    (q,) = rows(store, Quote)
    assert (q.status, q.accepting_at, link_row(store, token).uses) == ("issued", None, 0)
