"""Every money and quote page over HTTP: it renders for a valid token, its forms do what they say (checked in
the store), service refusals appear beside their fields, card numbers are never echoed, and whatever the
customer typed comes back escaped."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from sqlmodel import select

from agentdesk.db.models import Address, PaymentInstrument, PayoutRequest, Transaction, utcnow
from agentdesk.domain.enums import LinkKind, LinkStatus, TransactionType
from agentdesk.services.money import instruments
from agentdesk.services.orders.quotes import create_quote, issue_quote
from agentdesk.services.orders.requests import ItemRequest, OrderRequest
from tests.portal.http_support import ESCAPED, MARKUP, assert_headers, make_portal
from tests.services.billing_helpers import APPROVE, DECLINE, add_order, add_plan, issue
from tests.support.links import link_row

DEPOSIT = {"currency": "USD", "amounts": [1_000, 2_500], "custom_amount": True, "minimum": 500, "maximum": 50_000,
           "strategy": None, "redirect_url": "https://shop.example/done"}
TYPED = "5555 5555 5555 4444"


@pytest.fixture
def portal(sqlite_store, tmp_path):
    p = make_portal(sqlite_store, tmp_path)
    instruments.add_card(p.store, p.admin, p.settings, "C-1", APPROVE, "12/30", primary=True)
    return p


def card_id(portal) -> int:
    with portal.store.read() as session:
        return session.exec(select(PaymentInstrument.id).where(PaymentInstrument.customer_id == portal.customer_id)
                            ).first()


def sales(portal) -> list[Transaction]:
    with portal.store.read() as session:
        return list(session.exec(select(Transaction).where(Transaction.type == TransactionType.SALE)).all())


def greeted(html: str) -> None:
    assert f"Hello {ESCAPED}," in html and MARKUP not in html


# --- deposit -----------------------------------------------------------------------------------------------------


def test_deposit_page_offers_the_amounts_and_the_saved_card(portal):
    token = portal.link(LinkKind.DEPOSIT, DEPOSIT)
    page = portal.client.get(f"/l/{token}")
    assert page.status_code == 200
    assert_headers(page)
    greeted(page.text)
    assert '<label for="amount-1000">10.00 USD</label>' in page.text
    assert 'id="amount-custom"' in page.text and '<label for="custom_amount">' in page.text
    assert f'id="instrument-{card_id(portal)}"' in page.text and "Visa •••• 4242" in page.text
    assert '<label for="number">Card number</label>' in page.text
    assert '<button type="submit" id="submit">Deposit now</button>' in page.text


def test_deposit_with_the_saved_card_is_a_sale(portal):
    token = portal.link(LinkKind.DEPOSIT, DEPOSIT)
    done = portal.post(token, "deposit", {"amount": "2500", "instrument": str(card_id(portal))})
    assert done.status_code == 200, done.text
    assert "Thank you: $25.00 was charged to Visa •••• 4242" in done.text
    assert 'href="https://shop.example/done"' in done.text and f'href="/l/{token}"' in done.text
    [sale] = sales(portal)
    assert (sale.amount, sale.status) == (2_500, "approved")
    assert link_row(portal.store, token).uses == 1


def test_a_custom_deposit_with_a_new_card(portal):
    token = portal.link(LinkKind.DEPOSIT, DEPOSIT)
    done = portal.post(token, "deposit", {"amount": "custom", "custom_amount": "12.34", "instrument": "new",
                                          "number": TYPED, "expiry": "01/33", "name": "Ann"})
    assert done.status_code == 200, done.text
    assert "$12.34" in done.text and TYPED not in done.text
    assert [s.amount for s in sales(portal)] == [1_234]


def test_deposit_problems_are_shown_beside_their_fields_and_the_card_number_is_blanked(portal):
    token = portal.link(LinkKind.DEPOSIT, DEPOSIT)
    bad_number = "4242 4242 4242 4241"
    page = portal.post(token, "deposit", {"amount": "custom", "custom_amount": MARKUP, "instrument": "new",
                                          "number": bad_number, "expiry": MARKUP})
    assert page.status_code == 400
    assert '<a href="#custom_amount">' in page.text and 'id="custom_amount-error"' in page.text
    assert f'id="custom_amount" name="custom_amount" type="text" value="{ESCAPED}"' in page.text
    assert f'id="expiry" name="expiry" type="text" value="{ESCAPED}"' in page.text
    assert "<script>" not in page.text and bad_number not in page.text and "42424241" not in page.text
    assert_headers(page)
    card = portal.post(token, "deposit", {"amount": "1000", "instrument": "new", "number": bad_number,
                                          "expiry": "01/33"})
    assert card.status_code == 400
    assert '<a href="#number">' in card.text and 'id="number-error"' in card.text
    assert bad_number not in card.text and 'value="01/33"' in card.text
    out_of_limits = portal.post(token, "deposit", {"amount": "custom", "custom_amount": "9999.00",
                                                   "instrument": str(card_id(portal))})
    assert out_of_limits.status_code == 400 and '<a href="#custom_amount">enter an amount from' in out_of_limits.text
    assert sales(portal) == []


def test_a_declined_deposit_shows_the_form_again_with_the_reason(portal):
    token = portal.link(LinkKind.DEPOSIT, DEPOSIT)
    page = portal.post(token, "deposit", {"amount": "1000", "instrument": "new", "number": DECLINE,
                                          "expiry": "01/33"})
    assert page.status_code == 402
    assert "Your card was declined" in page.text and DECLINE not in page.text
    assert link_row(portal.store, token).uses == 0


# --- pay an invoice --------------------------------------------------------------------------------------------


@pytest.fixture
def invoice(portal):
    add_plan(portal.store, "BASIC", 2_500, name="Basic <i>plan</i>")
    order_id = add_order(portal.store, portal.customer_id, [("BASIC", 1, 2_500)], autopay=False)
    return issue(portal.store, portal.admin, order_id)


def test_pay_invoice_page_and_payment(portal, invoice):
    token = portal.link(LinkKind.PAY_INVOICE, {"invoice": invoice.number, "invoice_id": invoice.id,
                                               "redirect_url": None})
    page = portal.client.get(f"/l/{token}")
    assert page.status_code == 200
    greeted(page.text)
    assert f"<h2>Invoice {invoice.number}</h2>" in page.text and "Basic &lt;i&gt;plan&lt;/i&gt;" in page.text
    assert '<button type="submit" id="submit">Pay 25.00 USD</button>' in page.text
    done = portal.post(token, "pay", {"instrument": str(card_id(portal))})
    assert done.status_code == 200, done.text
    assert "Payment received" in done.text and 'id="back"' not in done.text
    assert link_row(portal.store, token).status == LinkStatus.COMPLETED
    assert portal.client.get(f"/l/{token}").status_code == 410
    second = portal.link(LinkKind.PAY_INVOICE, {"invoice": invoice.number, "invoice_id": invoice.id})
    paid = portal.client.get(f"/l/{second}")
    assert paid.status_code == 200 and 'id="nothing-due"' in paid.text and 'id="submit"' not in paid.text
    refused = portal.client.post(f"/l/{second}/pay", data={"csrf": portal.client.cookies.get("agentdesk_csrf"),
                                                           "instrument": str(card_id(portal))})
    assert refused.status_code == 409 and "already paid" in refused.text


# --- add a card and the billing portal -----------------------------------------------------------------------


def test_add_card_page_and_a_new_default_card(portal):
    token = portal.link(LinkKind.ADD_CARD, {"redirect_url": "https://shop.example/cards"})
    page = portal.client.get(f"/l/{token}")
    assert page.status_code == 200
    greeted(page.text)
    assert '<label for="make_default">' in page.text and '<button type="submit" id="submit">Add card</button>' \
        in page.text
    done = portal.post(token, "card", {"number": TYPED, "expiry": "01/33", "name": MARKUP, "make_default": "yes"})
    assert done.status_code == 200, done.text
    assert "•••• 4444 was added" in done.text
    assert "It is now your default card" in done.text and TYPED not in done.text
    with portal.store.read() as session:
        default = session.exec(select(PaymentInstrument).where(PaymentInstrument.is_primary)).one()
    assert default.last4 == "4444"
    assert portal.client.get(f"/l/{token}").status_code == 410


def test_a_card_error_echoes_the_name_escaped_and_never_the_number(portal):
    token = portal.link(LinkKind.ADD_CARD, {})
    page = portal.post(token, "card", {"number": TYPED, "expiry": "13/99", "name": MARKUP})
    assert page.status_code == 400
    assert '<a href="#expiry">' in page.text and TYPED not in page.text and "55554444" not in page.text
    assert f'id="name" name="name" type="text" value="{ESCAPED}"' in page.text
    assert "<script>" not in page.text


def test_billing_portal_lists_and_changes(portal, invoice):
    token = portal.link(LinkKind.PORTAL, {"redirect_url": "https://shop.example/"})
    page = portal.client.get(f"/l/{token}")
    assert page.status_code == 200
    greeted(page.text)
    assert 'id="subscriptions"' in page.text and "Basic &lt;i&gt;plan&lt;/i&gt;" in page.text
    assert invoice.number in page.text and 'id="cards"' in page.text
    added = portal.post(token, "card", {"number": TYPED, "expiry": "01/33"})
    assert added.status_code == 200 and f'href="/l/{token}"' in added.text
    page = portal.client.get(f"/l/{token}")
    button = re.search(r'<button type="submit" name="instrument" value="(\d+)" id="default-\d+">Make (.+?) the '
                       r'default</button>', page.text)
    assert button is not None and "4444" in button.group(2)
    changed = portal.post(token, "default-card", {"instrument": button.group(1)})
    assert changed.status_code == 200 and "Your default card was changed" in changed.text
    with portal.store.read() as session:
        assert session.get(PaymentInstrument, int(button.group(1))).is_primary
    wrong = portal.post(token, "address", {"line1": "", "city": MARKUP, "country": "XX"})
    assert wrong.status_code == 400
    assert '<a href="#line1">' in wrong.text and '<a href="#country">' in wrong.text
    assert "<script>" not in wrong.text and "&lt;script&gt;" in wrong.text
    saved = portal.post(token, "address", {"line1": MARKUP, "city": "Paris", "country": "FR", "postal_code": "75001"})
    assert saved.status_code == 200, saved.text
    with portal.store.read() as session:
        assert session.exec(select(Address)).one().line1 == MARKUP
    again = portal.client.get(f"/l/{token}")
    assert 'id="line1" name="line1" type="text" value="&lt;script&gt;' in again.text and "<script>" not in again.text
    assert link_row(portal.store, token).uses == 0


def test_a_portal_form_on_another_kind_of_link_is_not_valid(portal):
    token = portal.link(LinkKind.ADD_CARD, {})
    answer = portal.post(token, "address", {"line1": "1 Main", "city": "Paris", "country": "FR"})
    assert answer.status_code == 404 and "This link is not valid" in answer.text


# --- payout request ------------------------------------------------------------------------------------------


def test_payout_request_page_and_request(portal):
    token = portal.link(LinkKind.PAYOUT, {"currency": "USD", "minimum": 1_000, "maximum": 20_000,
                                          "redirect_url": None})
    page = portal.client.get(f"/l/{token}")
    assert page.status_code == 200
    assert "between 10.00 USD and 200.00 USD" in page.text and '<label for="amount">' in page.text
    too_much = portal.post(token, "payout", {"amount": "500.00", "instrument": str(card_id(portal))})
    assert too_much.status_code == 400 and '<a href="#amount">enter an amount from' in too_much.text
    typed = portal.post(token, "payout", {"amount": MARKUP, "instrument": str(card_id(portal))})
    assert typed.status_code == 400 and "<script>" not in typed.text
    done = portal.post(token, "payout", {"amount": "150.00", "instrument": str(card_id(portal))})
    assert done.status_code == 200, done.text
    assert "Your payout request of 150.00 USD was received" in done.text
    with portal.store.read() as session:
        [request] = session.exec(select(PayoutRequest)).all()
    assert (request.amount, request.status) == (15_000, "pending")


# --- quote -------------------------------------------------------------------------------------------------------


def make_quote(portal, accept_by: str):
    from tests.services.test_orders import seed_catalog

    seed_catalog(portal.store)
    detail = create_quote(portal.store, portal.admin, OrderRequest("C-1", [ItemRequest("basic-m", quantity=2)]),
                          expires_on=(utcnow() + timedelta(days=20)).date(), accept_by=accept_by,
                          terms=f"Net 30 {MARKUP}")
    issue_quote(portal.store, portal.admin, detail.summary.number)
    return detail.summary


@pytest.fixture
def quote(portal):
    return make_quote(portal, "customer")


def quote_link(portal, quote) -> str:
    from agentdesk.db.models import Quote

    with portal.store.read() as session:
        quote_id = session.exec(select(Quote.id).where(Quote.number == quote.number)).one()
    return portal.link(LinkKind.QUOTE, {"quote": quote.number, "quote_id": quote_id, "redirect_url": None})


def test_quote_page_and_accept(portal, quote):
    token = quote_link(portal, quote)
    page = portal.client.get(f"/l/{token}")
    assert page.status_code == 200
    greeted(page.text)
    assert f"<h2>Quote {quote.number}</h2>" in page.text and f"Net 30 {ESCAPED}" in page.text
    assert f'<button type="submit" id="accept">Accept quote {quote.number}</button>' in page.text
    assert '<label for="reason">' in page.text
    done = portal.post(token, "accept", {})
    assert done.status_code == 200, done.text
    assert "Quote accepted" in done.text and "order" in done.text
    assert link_row(portal.store, token).status == LinkStatus.COMPLETED
    assert portal.client.get(f"/l/{token}").status_code == 410


def test_quote_decline_with_a_reason(portal, quote):
    token = quote_link(portal, quote)
    done = portal.post(token, "reject", {"reason": MARKUP})
    assert done.status_code == 200, done.text
    assert f"You declined quote {quote.number}" in done.text and "<script>" not in done.text
    assert link_row(portal.store, token).status == LinkStatus.COMPLETED


def test_a_payment_quote_is_paid_on_the_page(portal):
    quote = make_quote(portal, "payment")
    token = quote_link(portal, quote)
    page = portal.client.get(f"/l/{token}")
    assert page.status_code == 200
    assert 'id="instrument-later"' in page.text and f'id="instrument-{card_id(portal)}"' in page.text
    assert '<label for="number">Card number</label>' in page.text
    declined = portal.post(token, "accept", {"instrument": "new", "number": DECLINE, "expiry": "01/33"})
    assert declined.status_code == 402, declined.text
    assert "did not go through" in declined.text and DECLINE not in declined.text
    assert 'id="quote-waiting"' in declined.text and 'id="instrument-later"' not in declined.text
    paid = portal.post(token, "accept", {"instrument": str(card_id(portal))})
    assert paid.status_code == 200, paid.text
    assert "Quote accepted" in paid.text and f"you accepted quote {quote.number}" in paid.text
    assert link_row(portal.store, token).status == LinkStatus.COMPLETED


# --- password reset ----------------------------------------------------------------------------------------------


def test_password_reset_page_and_change(portal):
    from agentdesk.db.models import Customer
    from agentdesk.services.links.customer_password import verify_password
    from agentdesk.services.orders import entitlements

    entitlements.set_membership_login(portal.store, portal.admin, "C-1", "ann.member")
    token = portal.link(LinkKind.PASSWORD_RESET, {"login": "ann.member", "redirect_url": "https://shop.example/in"})
    page = portal.client.get(f"/l/{token}")
    assert page.status_code == 200
    greeted(page.text)
    assert '<strong id="login">ann.member</strong>' in page.text and "At least 10 characters" in page.text
    assert 'type="password"' in page.text and '<label for="repeat">' in page.text
    secret = "correct horse battery"
    wrong = portal.post(token, "password", {"password": secret, "repeat": secret + "!"})
    assert wrong.status_code == 400
    assert '<a href="#repeat">' in wrong.text and secret not in wrong.text
    done = portal.post(token, "password", {"password": secret, "repeat": secret})
    assert done.status_code == 200, done.text
    assert "Your password was changed" in done.text and 'href="https://shop.example/in"' in done.text
    with portal.store.read() as session:
        stored = session.exec(select(Customer.membership_password_hash)).one()
    assert stored is not None and verify_password(secret, stored)
    assert portal.client.get(f"/l/{token}").status_code == 410
