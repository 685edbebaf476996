"""The portal takes Stripe's signed webhooks (`POST /webhooks/stripe`: signature verified, no CSRF, no guessing
limit) through the same handler as the worker's polling, and sends a Stripe website's billing-portal link to a
fresh Stripe billing portal session each time it is opened."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from urllib.parse import urlsplit

from sqlalchemy import func, select
from starlette.testclient import TestClient

from agentdesk.db.models import Customer, GatewayEvent, Link, PaymentInstrument, StripeCustomer
from agentdesk.domain.enums import LinkKind, LinkStatus
from agentdesk.portal.app import create_app
from agentdesk.services.jobs import runner
from agentdesk.services.links.read import show_link
from agentdesk.services.links.requests import LinkRequest, request_link
from agentdesk.services.money import stripe_events
from tests.conftest import policy
from tests.services.test_stripe_contract import contract, stripe_customer, stripe_settings  # noqa: F401

SECRET = "whsec_portal_test"
PORTAL = "https://portal.example"


def signed(event: dict, secret: str = SECRET) -> tuple[bytes, dict[str, str]]:
    body = json.dumps(event).encode()
    stamp = int(time.time())
    signature = hmac.new(secret.encode(), f"{stamp}.".encode() + body, hashlib.sha256).hexdigest()
    return body, {"Stripe-Signature": f"t={stamp},v1={signature}", "Content-Type": "application/json"}


def portal_app(store, tmp_path, contract):  # noqa: F811
    admin, _ = stripe_customer(store, tmp_path, contract)
    settings = stripe_settings(store, tmp_path, contract, webhook_secret=SECRET)
    policy(store, {"portal_base_url": PORTAL})
    client = TestClient(create_app(store, settings), base_url="https://testserver")
    return admin, settings, client


def count(store, model) -> int:
    with store.read() as s:
        return s.execute(select(func.count()).select_from(model)).scalar_one()


def test_a_signed_webhook_completes_the_add_card_link_once(store, tmp_path, contract):  # noqa: F811
    admin, settings, client = portal_app(store, tmp_path, contract)
    link = request_link(store, admin, settings, "C-1", LinkRequest(LinkKind.ADD_CARD))
    runner.run_due(store, settings)
    with store.read() as s:
        ref = s.get(Link, link.id).gateway_ref  # type: ignore[union-attr]
    event = contract.add_event("checkout.session.completed", contract.complete_checkout(ref or ""))
    body, headers = signed(event)
    cards_before = count(store, PaymentInstrument)

    for _ in range(2):
        answer = client.post("/webhooks/stripe", content=body, headers=headers)
        assert (answer.status_code, answer.json()) == (200, {"received": True})
    assert stripe_events.poll_events(store, settings) == 0

    with store.read() as s:
        row = s.get(Link, link.id)
        event_row = s.get(GatewayEvent, event["id"])
        card = s.execute(select(PaymentInstrument).order_by(PaymentInstrument.id.desc())).scalars().first()  # type: ignore[union-attr]
    assert row is not None and (row.status, row.uses) == (LinkStatus.COMPLETED, 1)
    assert event_row is not None and event_row.received_via == "webhook"
    assert count(store, PaymentInstrument) == cards_before + 1
    assert card is not None and (card.brand, card.last4) == ("Mastercard", "4444")
    assert contract.violations == []


def test_a_bad_signature_is_refused_with_400_and_nothing_written(store, tmp_path, contract):  # noqa: F811
    admin, settings, client = portal_app(store, tmp_path, contract)
    link = request_link(store, admin, settings, "C-1", LinkRequest(LinkKind.ADD_CARD))
    runner.run_due(store, settings)
    with store.read() as s:
        ref = s.get(Link, link.id).gateway_ref  # type: ignore[union-attr]
    event = contract.add_event("checkout.session.completed", contract.complete_checkout(ref or ""))
    body, headers = signed(event, secret="whsec_someone_else")
    cards_before = count(store, PaymentInstrument)
    for _ in range(25):  # more than the portal's guessing limit (20): the webhook is not counted against it
        answer = client.post("/webhooks/stripe", content=body, headers=headers)
        assert (answer.status_code, answer.text) == (400, "bad signature")
    forged = json.dumps({**event, "id": "evt_forged"}).encode()
    _, good = signed(event)
    assert client.post("/webhooks/stripe", content=forged, headers=good).status_code == 400
    assert client.post("/webhooks/stripe", content=body).status_code == 400
    assert count(store, GatewayEvent) == 0 and count(store, PaymentInstrument) == cards_before
    with store.read() as s:
        assert s.get(Link, link.id).status == LinkStatus.READY  # type: ignore[union-attr]


def test_a_stripe_portal_link_opens_a_fresh_billing_portal_session_each_time(store, tmp_path, contract):  # noqa: F811
    admin, settings, client = portal_app(store, tmp_path, contract)
    link = request_link(store, admin, settings, "C-1", LinkRequest(LinkKind.PORTAL))
    runner.run_due(store, settings)
    shown = show_link(store, admin, link.id)
    assert shown.url is not None and shown.url.startswith(f"{PORTAL}/l/")
    path = urlsplit(shown.url).path

    places = []
    for _ in range(2):
        answer = client.get(path, follow_redirects=False)
        assert answer.status_code == 303
        places.append(answer.headers["location"])
    posts = contract.posts("/v1/billing_portal/sessions")
    assert len(posts) == 2 and len(set(places)) == 2
    assert all(place.startswith("https://billing.stripe.com/p/session/") for place in places)
    with store.read() as s:
        stripe_id = s.execute(select(StripeCustomer.stripe_id).join(
            Customer, Customer.id == StripeCustomer.customer_id)).scalar_one()
        row = s.get(Link, link.id)
    assert {p["params"]["customer"] for p in posts} == {stripe_id}
    assert {p["params"]["return_url"] for p in posts} == {PORTAL}
    assert len({p["headers"]["idempotency-key"] for p in posts}) == 2
    assert row is not None and row.hosted_url == places[-1] and row.status == LinkStatus.OPENED
    assert show_link(store, admin, link.id).url == shown.url  # the short-lived Stripe URL is never the link's
    assert contract.violations == []
