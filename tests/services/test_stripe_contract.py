"""The Stripe adapter against the contract server (tests/support/stripe_contract.py): every request it sends
keeps the rules of Stripe's API reference, and Stripe's errors reach the agent in the right words."""

import httpx
import pytest
from sqlalchemy import func, select, text

from agentdesk.config import load_settings
from agentdesk.db.models import Customer, PaymentInstrument, StripeCustomer, Transaction
from agentdesk.domain.enums import Role, TransactionStatus
from agentdesk.domain.errors import Conflict, InvalidInput
from agentdesk.domain.validation import CardInput
from agentdesk.services.customers import records as customers
from agentdesk.services.money import instruments, payments
from agentdesk.services.money.gateways import GatewayError, GatewayTimeout, Outcome
from agentdesk.services.money.gateways.stripe import (
    NEEDS_CUSTOMER,
    NO_CARD_NUMBERS,
    NO_PAYOUTS,
    NOT_SAVED,
    STRIPE_API_VERSION,
    StripeGateway,
)

from ..conftest import add_roles, add_website, customer_input
from ..support.stripe_contract import StripeContract

KEY = "sk_test_contract"


@pytest.fixture
def contract():
    server = StripeContract(STRIPE_API_VERSION).start()
    yield server
    server.stop()


def gateway_on(contract: StripeContract, **options) -> StripeGateway:
    return StripeGateway(api_key=KEY, base_url=contract.url, timeout=options.pop("timeout", 5),
                         max_network_retries=options.pop("max_network_retries", 0), **options)


def stripe_settings(store, tmp_path, contract: StripeContract, **stripe):
    settings = load_settings(store.url, env={"AGENTDESK_DATA_DIR": str(tmp_path)})
    config = {"api_key": KEY, "base_url": contract.url, "max_network_retries": 0, **stripe}
    return type(settings)(**{**settings.__dict__, "gateways": {"stripe": config}})


def stripe_customer(store, tmp_path, contract: StripeContract, token: str = "pm_card"):
    """A Stripe website, an admin, customer C-1 with `token` saved to their Stripe Customer; (admin, settings)."""
    add_website(store)
    with store.write(unrecorded="test fixture") as s:
        s.execute(text("UPDATE website SET gateway = 'stripe'"))
    admin = add_roles(store)[Role.ADMIN]
    settings = stripe_settings(store, tmp_path, contract)
    customers.create_customer(store, admin, customer_input())
    with store.read() as s:
        cid = s.execute(select(Customer.id)).scalar_one()
    StripeGateway.from_settings(settings.gateways.stripe).save_payment_method(store, cid, token)
    with store.write(unrecorded="test fixture") as s:
        s.add(PaymentInstrument(customer_id=cid, method="card", brand="Visa", last4="4242", is_primary=True,
                                gateway_token=token))
    return admin, settings


def attach(contract: StripeContract, gateway: StripeGateway, method: str) -> str:
    customer = gateway.client.v1.customers.create({}, {"idempotency_key": f"test-{method}"})
    gateway.client.v1.payment_methods.attach(method, {"customer": customer.id},
                                             {"idempotency_key": f"test-attach-{method}"})
    return customer.id


def test_every_request_keeps_stripe_rules(contract):
    gateway = gateway_on(contract)
    customer = attach(contract, gateway, "pm_card")
    auth = gateway.authorize(amount=5_000, currency="USD", token="pm_card", idempotency_key="auth-1")
    assert auth.approved and not auth.settled
    assert gateway.capture(reference=auth.reference, amount=5_000, idempotency_key="cap-1").settled
    sale = gateway.sale(amount=900, currency="EUR", token="pm_card", idempotency_key="sale-1")
    assert sale.approved and sale.settled
    assert gateway.refund(reference=sale.reference, amount=400, currency="EUR", idempotency_key="ref-1").approved
    other = gateway.authorize(amount=100, currency="USD", token="pm_card", idempotency_key="auth-2")
    assert gateway.void(reference=other.reference, idempotency_key="void-1").approved

    assert contract.violations == []
    assert all(r["headers"]["stripe-version"] == STRIPE_API_VERSION for r in contract.requests)
    keys = [r["headers"]["idempotency-key"] for r in contract.posts("/v1/payment_intents")]
    assert keys == ["auth-1", "cap-1", "sale-1", "auth-2", "void-1"]
    assert [r["headers"]["idempotency-key"] for r in contract.posts("/v1/refunds")] == ["ref-1"]
    created = [r["params"] for r in contract.posts("/v1/payment_intents") if r["path"] == "/v1/payment_intents"]
    assert {(p["customer"], p["off_session"], p["confirm"], p["payment_method"]) for p in created} == {
        (customer, "true", "true", "pm_card")}
    assert [p["metadata[agentdesk_key]"] for p in created] == ["auth-1", "sale-1", "auth-2"]


def test_the_contract_server_catches_a_broken_request(contract):
    """The checks are real: a hand-made request without the version, the key or with a card number fails."""
    response = httpx.post(f"{contract.url}/v1/payment_methods",
                          data={"type": "card", "card[number]": "4242424242424242"},
                          headers={"Authorization": f"Bearer {KEY}", "Stripe-Version": STRIPE_API_VERSION})
    assert response.status_code == 400
    assert contract.violations == ["POST /v1/payment_methods: a POST without an Idempotency-Key "
                                   "(or one over 255 characters)"]
    response = httpx.post(f"{contract.url}/v1/payment_methods",
                          data={"type": "card", "card[number]": "4242424242424242"},
                          headers={"Authorization": f"Bearer {KEY}", "Stripe-Version": STRIPE_API_VERSION,
                                   "Idempotency-Key": "k"})
    assert "raw card data" in contract.violations[-1]
    response = httpx.post(f"{contract.url}/v1/customers", data={},
                          headers={"Authorization": f"Bearer {KEY}", "Idempotency-Key": "k2"})
    assert "Stripe-Version" in contract.violations[-1]


def test_stripe_errors_in_the_right_words(contract):
    gateway = gateway_on(contract)
    attach(contract, gateway, "pm_auth")
    attach(contract, gateway, "pm_declined")
    needs = gateway.sale(amount=900, currency="USD", token="pm_auth", idempotency_key="s-auth")
    assert needs.outcome is Outcome.AUTHENTICATION_REQUIRED and needs.message == NEEDS_CUSTOMER
    assert "pay-invoice link" in needs.message and needs.reference.startswith("pi_")
    declined = gateway.sale(amount=900, currency="USD", token="pm_declined", idempotency_key="s-dec")
    assert declined.outcome is Outcome.DECLINED and "insufficient_funds" in declined.message
    loose = gateway.sale(amount=900, currency="USD", token="pm_loose", idempotency_key="s-loose")
    assert loose.outcome is Outcome.FAILED and loose.message == NOT_SAVED
    bad = gateway.refund(reference="pi_unknown", amount=1, currency="USD", idempotency_key="r-bad")
    assert bad.outcome is Outcome.FAILED and "invalid" in bad.message and "not the card" in bad.message
    assert "declined" not in bad.message
    contract.set_failure(429, "rate_limit_error")
    limited = gateway.sale(amount=900, currency="USD", token="pm_declined", idempotency_key="s-429")
    assert limited.outcome is Outcome.FAILED and "limiting" in limited.message
    contract.set_failure(500, "api_error")
    down = gateway.capture(reference="pi_x", amount=1, idempotency_key="c-500")
    assert down.outcome is Outcome.FAILED and "try again later" in down.message
    assert contract.violations == []
    with pytest.raises(GatewayError, match="card numbers are not taken for Stripe websites"):
        gateway.tokenize_card("4242424242424242", 12, 2031)
    with pytest.raises(GatewayError, match="cannot pay out"):
        gateway.payout(amount=1, currency="USD", token="pm_card", idempotency_key="p-1")


def test_the_sdk_retries_with_the_same_key_and_a_timeout_is_a_timeout(contract):
    gateway = gateway_on(contract, max_network_retries=1)
    attach(contract, gateway, "pm_card")
    contract.set_failure(500, "api_error")
    sale = gateway.sale(amount=700, currency="USD", token="pm_card", idempotency_key="s-retry")
    assert sale.approved
    tries = [r["headers"]["idempotency-key"] for r in contract.posts("/v1/payment_intents")]
    assert tries == ["s-retry", "s-retry"]
    slow = gateway_on(contract, timeout=0.5)
    contract.slow_next = 2.0
    with pytest.raises(GatewayTimeout):
        slow.sale(amount=700, currency="USD", token="pm_card", idempotency_key="s-slow")


def test_stripe_customer_is_created_once_per_customer_and_account(store, tmp_path, contract):
    admin, settings = stripe_customer(store, tmp_path, contract)
    gateway = StripeGateway.from_settings(settings.gateways.stripe)
    with store.read() as s:
        cid = s.execute(select(Customer.id)).scalar_one()
    first = gateway.customer_for(store, cid)
    assert gateway.customer_for(store, cid) == first
    with store.read() as s:
        rows = s.execute(select(StripeCustomer)).scalars().all()
    assert [(r.customer_id, r.stripe_id) for r in rows] == [(cid, first)]
    created = contract.posts("/v1/customers")
    assert [r["headers"]["idempotency-key"] for r in created] == [f"stripe-customer-{cid}"]
    assert contract.methods["pm_card"]["customer"] == first
    other = StripeGateway.from_settings(settings.gateways.stripe.model_copy(update={"account": "acct_other"}))
    assert other.customer_for(store, cid) != first
    with store.read() as s:
        assert s.execute(select(func.count()).select_from(StripeCustomer)).scalar_one() == 2

    paid = payments.collect_payment(store, admin, settings, "C-1", 3_000, "USD")
    assert paid.ok
    assert contract.posts("/v1/payment_intents")[-1]["params"]["customer"] == first
    assert contract.violations == []


def test_an_agent_cannot_type_a_card_number_for_a_stripe_website(store, tmp_path, contract):
    admin, settings = stripe_customer(store, tmp_path, contract)
    with store.read() as s:
        before = s.execute(select(func.count()).select_from(PaymentInstrument)).scalar_one()
    with pytest.raises(InvalidInput) as refused:
        instruments.add_card(store, admin, settings, "C-1", "4242424242424242", "12/31")
    assert NO_CARD_NUMBERS in str(refused.value.fields)
    with store.read() as s:
        assert s.execute(select(func.count()).select_from(PaymentInstrument)).scalar_one() == before
    with pytest.raises(InvalidInput) as refused:
        customers.create_customer(store, admin, customer_input(external_id="C-2", card=CardInput(
            "4242424242424242", "12/31", False)), settings)
    assert NO_CARD_NUMBERS in str(refused.value.fields)
    with store.read() as s:
        assert s.execute(select(func.count()).select_from(Customer)).scalar_one() == 1
    assert not any("4242424242424242" in str(r["params"]) for r in contract.requests)


def test_a_payout_on_stripe_is_refused_before_anything_is_written(store, tmp_path, contract):
    admin, settings = stripe_customer(store, tmp_path, contract)
    with pytest.raises(Conflict) as refused:
        payments.send_payout(store, admin, settings, "C-1", 1_000, "USD", "payout-1")
    assert str(refused.value) == NO_PAYOUTS
    with store.read() as s:
        assert s.execute(select(func.count()).select_from(Transaction)).scalar_one() == 0
    assert not [r for r in contract.requests if "payout" in r["path"]]


def test_a_charge_that_needs_the_customer_says_so_to_the_agent(store, tmp_path, contract):
    admin, settings = stripe_customer(store, tmp_path, contract, token="pm_auth")
    result = payments.collect_payment(store, admin, settings, "C-1", 2_500, "USD")
    assert result.status is TransactionStatus.DECLINED
    assert "pay-invoice link" in result.message
    with store.read() as s:
        txn = s.execute(select(Transaction)).scalar_one()
    assert txn.status == TransactionStatus.DECLINED and "pay-invoice link" in txn.error
