"""The customer's money actions on links (deposit, pay invoice, cards, address, payout request), driven through
the same functions the portal calls, on SQLite and PostgreSQL."""

from __future__ import annotations

import threading

import pytest

from agentdesk.config import load_settings
from agentdesk.db.models import Address, Invoice, Order, PaymentInstrument, PayoutRequest, Transaction
from agentdesk.domain.enums import InvoiceStatus, LinkKind, LinkStatus, Role, TransactionType
from agentdesk.domain.errors import Conflict, InvalidInput
from agentdesk.domain.validation import AddressInput
from agentdesk.services.links import access
from agentdesk.services.links import customer_money as cm
from agentdesk.services.links.customer_money import CardEntry

from ..support.links import link_row, ready_link
from .billing_helpers import (
    APPROVE,
    DECLINE,
    TIMEOUT,
    add_customer,
    add_order,
    add_plan,
    count,
    event_types,
    events_of,
    invoice_row,
    issue,
    rows,
)

DEPOSIT = {"currency": "USD", "amounts": [1_000, 2_500], "custom_amount": True, "minimum": 500, "maximum": 50_000,
           "strategy": None, "redirect_url": "https://shop.example/done"}


@pytest.fixture
def settings(store, tmp_path):
    return load_settings(store.url, env={"AGENTDESK_DATA_DIR": str(tmp_path / "data")})


@pytest.fixture
def customer(store, actors, settings) -> int:
    return add_customer(store, actors[Role.ADMIN], settings)


def saved_card(store, customer_id: int) -> int:
    return rows(store, PaymentInstrument, PaymentInstrument.customer_id == customer_id)[0].id


def sales(store, customer_id: int) -> list[Transaction]:
    return rows(store, Transaction, Transaction.customer_id == customer_id, Transaction.type == TransactionType.SALE)


# --- deposit ---------------------------------------------------------------------------------------------------


def test_deposit_page_shows_the_links_terms_and_saved_cards(store, customer):
    token = ready_link(store, customer, LinkKind.DEPOSIT, DEPOSIT)
    page = cm.deposit_page(store, token)
    assert (page.first_name, page.currency, page.amounts, page.custom_amount) == ("Grace", "USD", [1_000, 2_500], True)
    assert (page.minimum, page.maximum, page.redirect_url) == (500, 50_000, "https://shop.example/done")
    [card] = page.cards
    assert (card.label, card.expiry, card.is_default) == ("Visa •••• 4242", "12/30", True)


def test_deposit_with_a_new_card_is_a_sale_and_the_link_serves_again(store, settings, customer):
    token = ready_link(store, customer, LinkKind.DEPOSIT, DEPOSIT)
    outcome = cm.make_deposit(store, settings, token, 2_500, CardEntry("4242 4242 4242 4242", "11/31"), None)
    assert outcome.approved and outcome.amount == 2_500 and outcome.currency == "USD"
    assert "$25.00" in outcome.message and "Visa •••• 4242" in outcome.message
    [sale] = sales(store, customer)
    assert (sale.id, sale.status, sale.amount, sale.agent_id) == (outcome.transaction_id, "approved", 2_500, None)
    assert len(rows(store, PaymentInstrument, PaymentInstrument.customer_id == customer)) == 2
    types = event_types(store, customer)
    assert types[-3:] == ["new_payment_method", "additional_payment", "link_completed"]
    link = link_row(store, token)
    assert link.status == LinkStatus.COMPLETED and link.uses == 1 and link.result == {"transactions": [sale.id]}
    # A deposit link serves until it expires: a custom amount on the saved card.
    again = cm.make_deposit(store, settings, token, 777, None, saved_card(store, customer))
    assert again.approved and link_row(store, token).uses == 2
    assert link_row(store, token).result == {"transactions": [sale.id, again.transaction_id]}
    [completed, _] = events_of(store, customer, "link_completed")[::-1]
    assert completed["requested_by"] == "ada" and "deposit" in completed["outcome"]
    from agentdesk.db.models import TimelineEvent

    actors = {e.actor_label for e in rows(store, TimelineEvent, TimelineEvent.customer_id == customer,
                                          TimelineEvent.type == "additional_payment")}
    assert actors == {"customer"}


def test_a_declined_card_says_so_and_leaves_the_link_usable(store, settings, customer):
    token = ready_link(store, customer, LinkKind.DEPOSIT, DEPOSIT)
    outcome = cm.make_deposit(store, settings, token, 1_000, CardEntry("4000 0000 0000 0002", "11/31"), None)
    assert not outcome.approved and outcome.message == cm.DECLINED
    [sale] = sales(store, customer)
    assert sale.status == "declined"
    link = link_row(store, token)
    assert link.uses == 0 and link.status == LinkStatus.READY
    assert "payment_failed" in event_types(store, customer) and "link_completed" not in event_types(store, customer)
    assert cm.make_deposit(store, settings, token, 1_000, None, saved_card(store, customer)).approved


def test_a_lost_gateway_answer_is_pending_and_does_not_complete_the_link(store, settings, customer):
    token = ready_link(store, customer, LinkKind.DEPOSIT, DEPOSIT)
    outcome = cm.make_deposit(store, settings, token, 1_000, CardEntry(TIMEOUT, "11/31"), None)
    assert not outcome.approved and outcome.message == cm.PENDING
    [sale] = sales(store, customer)
    assert sale.status == "pending" and sale.idempotency_key and link_row(store, token).uses == 0


def test_deposit_amounts_outside_the_links_terms_are_refused(store, settings, customer):
    card = saved_card(store, customer)
    token = ready_link(store, customer, LinkKind.DEPOSIT, DEPOSIT)
    for amount in (499, 50_001, 0, -100):
        with pytest.raises(InvalidInput) as refused:
            cm.make_deposit(store, settings, token, amount, None, card)
        assert "amount" in refused.value.fields
    fixed = ready_link(store, customer, LinkKind.DEPOSIT, {**DEPOSIT, "custom_amount": False})
    with pytest.raises(InvalidInput, match="one of the amounts offered"):
        cm.make_deposit(store, settings, fixed, 1_234, None, card)
    with pytest.raises(InvalidInput, match="enter a card or choose"):
        cm.make_deposit(store, settings, token, 1_000, None, None)
    with pytest.raises(InvalidInput, match="check digit"):
        cm.make_deposit(store, settings, token, 1_000, CardEntry("4242 4242 4242 4241", "11/31"), None)
    assert sales(store, customer) == []


def test_someone_elses_card_is_not_offered_to_pay_with(store, actors, settings, customer):
    other = add_customer(store, actors[Role.ADMIN], settings, "C-2")
    token = ready_link(store, customer, LinkKind.DEPOSIT, DEPOSIT)
    with pytest.raises(InvalidInput, match="saved cards"):
        cm.make_deposit(store, settings, token, 1_000, None, saved_card(store, other))
    assert sales(store, customer) == [] and sales(store, other) == []


def test_expired_revoked_and_wrong_kind_links_are_one_answer(store, settings, customer):
    card = saved_card(store, customer)
    expired = ready_link(store, customer, LinkKind.DEPOSIT, DEPOSIT, hours=-1)
    portal = ready_link(store, customer, LinkKind.PORTAL, {})
    for token in (expired, portal, "0" * 64, "not a token"):
        with pytest.raises(access.LinkUnavailable):
            cm.make_deposit(store, settings, token, 1_000, None, card)
        with pytest.raises(access.LinkUnavailable):
            cm.deposit_page(store, token)
    assert sales(store, customer) == []


# --- pay an invoice ----------------------------------------------------------------------------------------------


@pytest.fixture
def invoice(store, actors, customer) -> Invoice:
    add_plan(store, "BASIC", 2_500, name="Basic plan")
    order_id = add_order(store, customer, [("BASIC", 1, 2_500)], autopay=False)
    invoice = issue(store, actors[Role.ADMIN], order_id)
    assert invoice is not None and invoice.status is InvoiceStatus.ISSUED
    return invoice


def invoice_link(store, customer: int, invoice: Invoice) -> str:
    return ready_link(store, customer, LinkKind.PAY_INVOICE, {"invoice": invoice.number, "invoice_id": invoice.id,
                                                              "redirect_url": None})


def test_pay_invoice_once_then_the_link_is_used(store, settings, customer, invoice):
    token = invoice_link(store, customer, invoice)
    page = cm.pay_invoice_page(store, token)
    assert (page.number, page.total, page.amount_due, page.status) == (invoice.number, 2_500, 2_500, "issued")
    assert page.lines and page.lines[0][1] == 2_500 and "Basic plan" in page.lines[0][0]
    outcome = cm.pay_invoice(store, settings, token, CardEntry("4242424242424242", "10/32"), None)
    assert outcome.approved and outcome.amount == 2_500 and invoice.number in outcome.message
    row = invoice_row(store, invoice.id)
    assert row.status is InvoiceStatus.PAID and row.amount_paid == 2_500
    [paid] = events_of(store, customer, "invoice_paid")
    assert paid["transaction"] == outcome.transaction_id
    assert link_row(store, token).status == LinkStatus.COMPLETED
    with pytest.raises(access.LinkUsed):
        cm.pay_invoice(store, settings, token, None, saved_card(store, customer))
    with pytest.raises(access.LinkUsed):
        cm.pay_invoice_page(store, token)
    assert count(store, Transaction, Transaction.invoice_id == invoice.id) == 1


def test_an_invoice_paid_meanwhile_is_refused_on_a_second_link(store, settings, customer, invoice):
    first, second = invoice_link(store, customer, invoice), invoice_link(store, customer, invoice)
    assert cm.pay_invoice(store, settings, first, None, saved_card(store, customer)).approved
    assert cm.pay_invoice_page(store, second).amount_due == 0
    with pytest.raises(Conflict, match="already paid"):
        cm.pay_invoice(store, settings, second, None, saved_card(store, customer))
    assert link_row(store, second).uses == 0


def test_a_declined_invoice_payment_keeps_the_link(store, settings, customer, invoice):
    token = invoice_link(store, customer, invoice)
    outcome = cm.pay_invoice(store, settings, token, CardEntry(DECLINE, "10/32"), None)
    assert not outcome.approved and outcome.message == cm.DECLINED
    assert invoice_row(store, invoice.id).status is not InvoiceStatus.PAID and link_row(store, token).uses == 0
    assert cm.pay_invoice(store, settings, token, CardEntry(APPROVE, "10/32"), None).approved


# --- cards and address ---------------------------------------------------------------------------------------


def test_add_card_completes_an_add_card_link_but_not_a_portal_link(store, settings, customer):
    token = ready_link(store, customer, LinkKind.ADD_CARD, {})
    view = cm.add_card(store, settings, token, CardEntry("5555 5555 5555 4444", "01/33"), make_default=True)
    assert view.is_default and view.label.endswith("•••• 4444") and view.expiry == "01/33"
    assert link_row(store, token).status == LinkStatus.COMPLETED
    with pytest.raises(access.LinkUsed):
        cm.add_card(store, settings, token, CardEntry(APPROVE, "01/33"), make_default=False)
    portal = ready_link(store, customer, LinkKind.PORTAL, {})
    second = cm.add_card(store, settings, portal, CardEntry(APPROVE, "02/34"), make_default=False)
    assert not second.is_default and link_row(store, portal).uses == 0
    defaults = [i.id for i in rows(store, PaymentInstrument, PaymentInstrument.customer_id == customer) if i.is_primary]
    assert defaults == [view.id]
    assert events_of(store, customer, "new_payment_method")[-2:] == [{"instrument": view.label},
                                                                      {"instrument": second.label}]


def test_set_default_card_only_on_a_portal_link(store, settings, customer):
    portal = ready_link(store, customer, LinkKind.PORTAL, {})
    new = cm.add_card(store, settings, portal, CardEntry("5555 5555 5555 4444", "01/33"), make_default=False)
    cm.set_default_card(store, portal, new.id)
    overview = cm.portal_overview(store, portal)
    assert [(c.id, c.is_default) for c in overview.cards] == [(new.id, True), (saved_card(store, customer), False)]
    assert events_of(store, customer, "payment_method_changed")[-1] == {"from": "Visa •••• 4242", "to": new.label}
    add_card_link = ready_link(store, customer, LinkKind.ADD_CARD, {})
    with pytest.raises(access.LinkUnavailable):
        cm.set_default_card(store, add_card_link, saved_card(store, customer))


def test_billing_address_is_validated_and_recorded(store, customer):
    portal = ready_link(store, customer, LinkKind.PORTAL, {})
    with pytest.raises(InvalidInput) as refused:
        cm.update_billing_address(store, portal, AddressInput(line1="", city="Paris", country="XX"))
    assert set(refused.value.fields) == {"line1", "country"}
    cm.update_billing_address(store, portal, AddressInput(line1="1 Rue de <b>Rivoli</b>", city="Paris",
                                                         country="fr", postal_code="75001"))
    [address] = rows(store, Address, Address.customer_id == customer)
    assert (address.line1, address.country, address.is_primary) == ("1 Rue de <b>Rivoli</b>", "FR", True)
    assert cm.portal_overview(store, portal).billing_address["city"] == "Paris"
    cm.update_billing_address(store, portal, AddressInput(line1="1 Rue de <b>Rivoli</b>", city="Lyon", country="FR",
                                                         postal_code="75001"))
    assert events_of(store, customer, "address_modified")[-1] == {"fields": ["city"]}
    assert len(rows(store, Address, Address.customer_id == customer)) == 1


def test_portal_overview_lists_subscriptions_and_invoices(store, customer, invoice):
    portal = ready_link(store, customer, LinkKind.PORTAL, {"redirect_url": "https://shop.example/"})
    overview = cm.portal_overview(store, portal)
    [(number, product, status, _, amount, currency)] = overview.subscriptions
    assert (product, status, amount, currency) == ("Basic plan", "active", 2_500, "USD")
    assert overview.invoices[0][:5] == (invoice.number, "issued", 2_500, 2_500, "USD")
    assert overview.redirect_url == "https://shop.example/"
    assert number == rows(store, Order, Order.customer_id == customer)[0].number


# --- payout request ------------------------------------------------------------------------------------------


PAYOUT = {"currency": "USD", "minimum": 1_000, "maximum": 20_000, "redirect_url": None}


def test_payout_request_within_limits_completes_the_link(store, customer):
    token = ready_link(store, customer, LinkKind.PAYOUT, PAYOUT)
    page = cm.payout_page(store, token)
    assert (page.currency, page.minimum, page.maximum, [m.label for m in page.methods]) == \
        ("USD", 1_000, 20_000, ["Visa •••• 4242"])
    with pytest.raises(InvalidInput, match="amount"):
        cm.request_payout(store, token, 20_001, page.methods[0].id)
    with pytest.raises(InvalidInput, match="amount"):
        cm.request_payout(store, token, 999, page.methods[0].id)
    info = cm.request_payout(store, token, 15_000, page.methods[0].id)
    assert (info.status, info.amount, info.method, info.link_id) == ("pending", 15_000, "Visa •••• 4242",
                                                                   link_row(store, token).id)
    assert events_of(store, customer, "payout_requested") == [
        {"request": info.id, "amount": 15_000, "currency": "USD", "method": "Visa •••• 4242",
         "link": link_row(store, token).id}]
    assert link_row(store, token).result == {"payout_request": info.id}
    with pytest.raises(access.LinkUsed):
        cm.request_payout(store, token, 15_000, page.methods[0].id)
    assert count(store, PayoutRequest) == 1


def test_two_payout_submissions_at_once_make_one_request(store, customer):
    token = ready_link(store, customer, LinkKind.PAYOUT, PAYOUT)
    card = saved_card(store, customer)
    results: list[object] = []

    def submit() -> None:
        try:
            results.append(cm.request_payout(store, token, 5_000, card))
        except Exception as exc:
            results.append(exc)

    threads = [threading.Thread(target=submit) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sum(isinstance(r, access.LinkUsed) for r in results) == 1
    assert count(store, PayoutRequest) == 1
