"""A Stripe website's links open Stripe's pages (Checkout, Identity), made against the contract server; their
completion events, delivered by poll and by webhook twice, complete each link once and write once."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select

from agentdesk.config import load_settings
from agentdesk.db.models import Customer, Invoice, Link, PaymentInstrument, TimelineEvent, Transaction, utcnow
from agentdesk.domain.enums import InvoiceStatus, LinkKind, LinkStatus, TransactionStatus
from agentdesk.domain.errors import Conflict, InvalidInput
from agentdesk.services.jobs import runner
from agentdesk.services.links import stripe_hosted
from agentdesk.services.links.read import show_link
from agentdesk.services.links.requests import STRIPE_NO_PAYOUT, STRIPE_ONE_AMOUNT, LinkRequest, request_link
from agentdesk.services.money import stripe_events

from ..conftest import policy
from .billing_helpers import add_order, add_plan, issue
from .test_stripe_contract import contract, stripe_customer  # noqa: F401

PORTAL = "https://portal.example"


def setup(store, tmp_path, contract):  # noqa: F811
    admin, settings = stripe_customer(store, tmp_path, contract)
    policy(store, {"portal_base_url": PORTAL})
    with store.read() as s:
        cid = s.execute(select(Customer.id)).scalar_one()
    return admin, settings, cid


def events_of(store, kind: str) -> list[TimelineEvent]:
    with store.read() as s:
        return list(s.execute(select(TimelineEvent).where(TimelineEvent.type == kind)
                              .order_by(TimelineEvent.id)).scalars())


def link_row(store, link_id: int) -> Link:
    with store.read() as s:
        row = s.get(Link, link_id)
        assert row is not None
        s.expunge(row)
        return row


def post_for(contract, link_id: int, kind: str) -> dict:  # noqa: F811
    [post] = [r for r in contract.posts() if r["headers"].get("idempotency-key") == f"link-{link_id}-{kind}"]
    return post


def test_stripe_links_open_stripes_pages_and_complete_once_by_poll_and_webhook(store, tmp_path, contract):  # noqa: F811
    admin, settings, cid = setup(store, tmp_path, contract)
    add_plan(store, "BASIC", 2_500, name="Basic plan")
    invoice = issue(store, admin, add_order(store, cid, [("BASIC", 1, 2_500)], autopay=False))
    assert invoice is not None
    asked = {
        "deposit": request_link(store, admin, settings, "C-1", LinkRequest(LinkKind.DEPOSIT, amounts=(5_000,))),
        "add_card": request_link(store, admin, settings, "C-1", LinkRequest(LinkKind.ADD_CARD)),
        "pay_invoice": request_link(store, admin, settings, "C-1",
                                    LinkRequest(LinkKind.PAY_INVOICE, invoice=invoice.number)),
        "kyc": request_link(store, admin, settings, "C-1",
                            LinkRequest(LinkKind.KYC, document_types=("passport", "selfie"))),
    }
    assert runner.run_due(store, settings).messages == []

    shown = {kind: show_link(store, admin, info.id) for kind, info in asked.items()}
    for kind, info in shown.items():
        row = link_row(store, info.id)
        made = contract.sessions[row.gateway_ref]
        assert info.status == LinkStatus.READY and info.gateway_ref == row.gateway_ref
        assert info.url == row.hosted_url == made["url"] and row.token_hash is None
        assert made["metadata"]["link_id"] == str(info.id)
        assert post_for(contract, info.id, kind)["headers"]["stripe-version"] == contract.version
    assert shown["deposit"].url.startswith("https://checkout.stripe.com/")
    assert shown["kyc"].url.startswith("https://verify.stripe.com/")
    deposit = post_for(contract, shown["deposit"].id, "deposit")["params"]
    assert (deposit["mode"], deposit["line_items[0][price_data][unit_amount]"],
            deposit["line_items[0][price_data][currency]"], deposit["success_url"]) == (
        "payment", "5000", "usd", PORTAL)
    setup_post = post_for(contract, shown["add_card"].id, "add_card")["params"]
    assert (setup_post["mode"], setup_post["currency"]) == ("setup", "usd")
    assert "line_items[0][quantity]" not in setup_post
    invoice_post = post_for(contract, shown["pay_invoice"].id, "pay_invoice")["params"]
    assert invoice_post["line_items[0][price_data][unit_amount]"] == str(invoice.total)
    assert invoice_post["metadata[invoice]"] == invoice.number
    kyc_post = post_for(contract, shown["kyc"].id, "kyc")["params"]
    assert (kyc_post["type"], kyc_post["options[document][allowed_types][0]"],
            kyc_post["options[document][require_matching_selfie]"]) == ("document", "passport", "true")
    checkout_life = shown["deposit"].expires_at - shown["deposit"].created_at  # type: ignore[operator]
    kyc_life = shown["kyc"].expires_at - shown["kyc"].created_at  # type: ignore[operator]
    assert checkout_life == min(kyc_life, stripe_hosted.CHECKOUT_LONGEST) <= timedelta(hours=24)
    assert int(deposit["expires_at"]) == int(shown["deposit"].expires_at.timestamp())  # type: ignore[union-attr]

    done = [
        contract.add_event("checkout.session.completed",
                           contract.complete_checkout(link_row(store, shown[kind].id).gateway_ref or ""))
        for kind in ("deposit", "add_card", "pay_invoice")
    ]
    done.append(contract.add_event("identity.verification_session.verified",
                                   contract.verification(link_row(store, shown["kyc"].id).gateway_ref or "",
                                                         "verified")))
    for event in reversed(done):
        assert stripe_events.handle_event(store, settings, event, "webhook") != "duplicate"
    assert stripe_events.poll_events(store, settings) == 0
    for event in done:
        assert stripe_events.handle_event(store, settings, event, "webhook") == "duplicate"
        assert stripe_events.handle_event(store, settings, event, "poll") == "duplicate"

    for kind, info in shown.items():
        row = link_row(store, info.id)
        assert (row.status, row.uses) == (LinkStatus.COMPLETED, 1), kind
    with store.read() as s:
        sales = s.execute(select(Transaction).where(Transaction.gateway == "stripe",
                                                    Transaction.idempotency_key.like("stripe-checkout-%"))  # type: ignore[union-attr]
                          .order_by(Transaction.amount)).scalars().all()
        paid = s.get(Invoice, invoice.id)
        cards = s.execute(select(PaymentInstrument).where(PaymentInstrument.customer_id == cid)
                          .order_by(PaymentInstrument.id)).scalars().all()
    assert [(t.amount, t.currency, t.status, t.invoice_id) for t in sales] == [
        (invoice.total, "USD", TransactionStatus.APPROVED, invoice.id),
        (5_000, "USD", TransactionStatus.APPROVED, None)]
    assert paid is not None and paid.status is InvoiceStatus.PAID and paid.amount_paid == invoice.total
    new_card = cards[-1]
    assert (len(cards), new_card.brand, new_card.last4, new_card.exp_month, new_card.exp_year) == (
        2, "Mastercard", "4444", 8, 2031)
    assert new_card.gateway_token in contract.methods and contract.methods[new_card.gateway_token]["customer"]
    assert link_row(store, shown["add_card"].id).result == {"instrument": new_card.id}
    assert link_row(store, shown["pay_invoice"].id).result == {"transaction": sales[0].id, "invoice": invoice.number}
    assert len(events_of(store, "link_completed")) == 4
    assert sorted(e.attributes["transaction"] for e in events_of(store, "additional_payment")) == sorted(
        t.id for t in sales)
    assert [e.attributes["invoice"] for e in events_of(store, "invoice_paid")] == [invoice.number]
    assert len(events_of(store, "new_payment_method")) == 1
    [checked] = events_of(store, "kyc_identity_checked")
    assert checked.attributes == {"status": "verified", "verification": link_row(store, shown["kyc"].id).gateway_ref,
                                  "link": shown["kyc"].id}
    assert contract.violations == []


def test_an_identity_check_needing_input_is_recorded_and_leaves_the_link_open(store, tmp_path, contract):  # noqa: F811
    admin, settings, _ = setup(store, tmp_path, contract)
    link = request_link(store, admin, settings, "C-1", LinkRequest(LinkKind.KYC))
    runner.run_due(store, settings)
    ref = link_row(store, link.id).gateway_ref or ""
    assert post_for(contract, link.id, "kyc")["params"]["options[document][allowed_types][2]"] == "driving_license"
    event = contract.add_event("identity.verification_session.requires_input",
                               contract.verification(ref, "requires_input", "The document has expired."))
    assert stripe_events.poll_events(store, settings) == 1
    assert stripe_events.handle_event(store, settings, event, "webhook") == "duplicate"
    assert link_row(store, link.id).status == LinkStatus.READY
    [checked] = events_of(store, "kyc_identity_checked")
    assert checked.attributes["status"] == "requires_input"
    assert checked.attributes["reason"] == "The document has expired."


def test_a_retried_generation_gets_the_same_stripe_session(store, tmp_path, contract):  # noqa: F811
    admin, settings, _ = setup(store, tmp_path, contract)
    link = request_link(store, admin, settings, "C-1", LinkRequest(LinkKind.ADD_CARD))
    contract.set_failure(500, "api_error")
    report = runner.run_due(store, settings)
    assert link_row(store, link.id).status == LinkStatus.QUEUED and report.messages == []
    first = stripe_hosted.make_page(store, settings, link.id)
    again = stripe_hosted.make_page(store, settings, link.id)
    assert isinstance(first, stripe_hosted.HostedPage) and isinstance(again, stripe_hosted.HostedPage)
    assert first.gateway_ref == again.gateway_ref and len(contract.sessions) == 1
    runner.run_due(store, settings, now=utcnow() + timedelta(minutes=5))
    row = link_row(store, link.id)
    assert (row.status, row.gateway_ref, row.error) == (LinkStatus.READY, first.gateway_ref, None)
    assert len(contract.sessions) == 1 and contract.violations == []


def test_without_stripe_config_the_link_fails_saying_so(store, tmp_path, contract):  # noqa: F811
    admin, _, _ = setup(store, tmp_path, contract)
    plain = load_settings(store.url, env={"AGENTDESK_DATA_DIR": str(tmp_path)})
    link = request_link(store, admin, plain, "C-1", LinkRequest(LinkKind.DEPOSIT, amounts=(1_000,)))
    runner.run_due(store, plain)
    row = link_row(store, link.id)
    assert row.status == LinkStatus.FAILED and "[gateways.stripe]" in (row.error or "")
    assert row.hosted_url is None and not contract.posts("/v1/checkout")


def test_kinds_stripe_has_no_page_for_are_refused_with_the_reason(store, tmp_path, contract):  # noqa: F811
    admin, settings, _ = setup(store, tmp_path, contract)
    policy(store, {"payout_ceiling.USD": 100_000})
    with store.read() as s:
        before = s.execute(select(func.count()).select_from(Link)).scalar_one()
    with pytest.raises(Conflict, match=STRIPE_NO_PAYOUT):
        request_link(store, admin, settings, "C-1", LinkRequest(LinkKind.PAYOUT, maximum=10_000))
    for bad in (LinkRequest(LinkKind.DEPOSIT, amounts=(1_000, 2_000)),
                LinkRequest(LinkKind.DEPOSIT, custom_amount="allowed", amounts=(1_000,))):
        with pytest.raises(InvalidInput) as refused:
            request_link(store, admin, settings, "C-1", bad)
        assert refused.value.fields == {"amounts": STRIPE_ONE_AMOUNT}
    with pytest.raises(InvalidInput, match="") as refused:
        request_link(store, admin, settings, "C-1", LinkRequest(LinkKind.KYC, document_types=("proof_of_address",)))
    assert "does not collect proof of address" in refused.value.fields["document_types"]
    with store.read() as s:
        assert s.execute(select(func.count()).select_from(Link)).scalar_one() == before


def test_a_checkout_of_someone_else_on_the_account_is_passed_over_without_asking_stripe(store, tmp_path,
                                                                                      contract):  # noqa: F811
    _, settings, _ = setup(store, tmp_path, contract)
    foreign = {"id": "cs_test_elsewhere", "object": "checkout.session", "mode": "setup", "status": "complete",
               "setup_intent": "seti_elsewhere", "customer": "cus_elsewhere", "metadata": {}}
    event = contract.add_event("checkout.session.completed", foreign)
    gets = len(contract.requests)
    assert stripe_events.handle_event(store, settings, event, "webhook") == "no link of ours for checkout " \
                                                                            "cs_test_elsewhere"
    assert len(contract.requests) == gets
    with store.read() as s:
        assert s.execute(select(func.count()).select_from(Transaction)).scalar_one() == 0


def test_a_quote_accepted_by_paying_is_refused_for_a_stripe_website(store, tmp_path, contract):  # noqa: F811
    from datetime import UTC, datetime

    from agentdesk.services.links.requests import STRIPE_NO_PAID_QUOTE
    from agentdesk.services.orders.quotes import create_quote, issue_quote
    from agentdesk.services.orders.requests import ItemRequest, OrderRequest

    from .test_orders import seed_catalog

    admin, settings, _ = setup(store, tmp_path, contract)
    seed_catalog(store)
    last_day = datetime.now(UTC).date() + timedelta(days=3)
    numbers = {how: create_quote(store, admin, OrderRequest("C-1", [ItemRequest("basic-m")]), expires_on=last_day,
                                 accept_by=how).summary.number for how in ("payment", "customer")}
    for number in numbers.values():
        issue_quote(store, admin, number)
    with pytest.raises(Conflict) as refused:
        request_link(store, admin, settings, "C-1", LinkRequest(LinkKind.QUOTE, quote=numbers["payment"]))
    assert str(refused.value) == STRIPE_NO_PAID_QUOTE.format(quote=numbers["payment"])
    accepted = request_link(store, admin, settings, "C-1", LinkRequest(LinkKind.QUOTE, quote=numbers["customer"]))
    assert accepted.status == LinkStatus.QUEUED and "hosted_by" not in accepted.options


def test_a_revoked_stripe_link_has_its_stripe_page_closed_by_the_worker(store, tmp_path, contract):  # noqa: F811
    from agentdesk.services.links.read import revoke_link

    admin, settings, _ = setup(store, tmp_path, contract)
    deposit = request_link(store, admin, settings, "C-1", LinkRequest(LinkKind.DEPOSIT, amounts=(2_000,)))
    kyc = request_link(store, admin, settings, "C-1", LinkRequest(LinkKind.KYC))
    runner.run_due(store, settings)
    refs = {link.id: link_row(store, link.id).gateway_ref or "" for link in (deposit, kyc)}
    for link in (deposit, kyc):
        assert revoke_link(store, admin, link.id, "sent to the wrong customer").url is None
    assert runner.run_due(store, settings).messages == []
    assert [contract.sessions[refs[link.id]]["status"] for link in (deposit, kyc)] == ["expired", "canceled"]
    assert all(link_row(store, link.id).hosted_url is None for link in (deposit, kyc))
    runner.run_due(store, settings)
    assert len(contract.posts("/v1/checkout/sessions/")) == 1 and contract.violations == []
