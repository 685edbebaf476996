"""The Stripe adapter against localstripe, started here on 127.0.0.1 and stopped afterwards."""

import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select, text

from agentdesk.config import load_settings
from agentdesk.db.models import Customer, PaymentInstrument, StripeCustomer, Transaction
from agentdesk.domain.errors import InvalidInput
from agentdesk.services.customers import records as customers
from agentdesk.services.money import payments, refunds
from agentdesk.services.money.gateways import GatewayError, GatewayTimeout, Outcome
from agentdesk.services.money.gateways.stripe import NEEDS_CUSTOMER, NOT_SAVED, StripeGateway

from ..conftest import customer_input

ROOT = Path(__file__).resolve().parents[2]
KEY = "sk_test_agentdesk"


@pytest.fixture(scope="module")
def localstripe(tmp_path_factory):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    state = tmp_path_factory.mktemp("localstripe") / "state.pickle"
    proc = subprocess.Popen(
        [sys.executable, "-m", "tests.support.localstripe_server", str(port), str(state)],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.time() + 30
    while time.time() < deadline:
        try:
            httpx.get(f"{url}/v1/customers", auth=(KEY, ""), timeout=1)
            break
        except httpx.TransportError:
            if proc.poll() is not None:
                raise RuntimeError(proc.stderr.read().decode()) from None
            time.sleep(0.1)
    else:
        proc.kill()
        raise RuntimeError("localstripe did not start")
    yield url
    proc.terminate()
    proc.wait(10)


def card(url: str, number: str, attached: bool = True) -> str:
    """A PaymentMethod made directly on localstripe (as Stripe's own page would), attached to a new customer."""
    response = httpx.post(
        f"{url}/v1/payment_methods",
        auth=(KEY, ""),
        data={
            "type": "card",
            "card[number]": number,
            "card[exp_month]": "12",
            "card[exp_year]": "2031",
            "card[cvc]": "123",
        },
    )
    response.raise_for_status()
    pm = response.json()["id"]
    if attached:
        customer = httpx.post(f"{url}/v1/customers", auth=(KEY, ""), data={}).json()["id"]
        httpx.post(f"{url}/v1/payment_methods/{pm}/attach", auth=(KEY, ""), data={"customer": customer})
    return pm


@pytest.fixture
def gateway(localstripe):
    return StripeGateway(api_key=KEY, base_url=localstripe, timeout=5, max_network_retries=0)


def test_authorize_capture_and_refunds(gateway, localstripe):
    pm = card(localstripe, "4242424242424242")
    auth = gateway.authorize(amount=5_000, currency="USD", token=pm, idempotency_key="a-1")
    assert auth.approved and not auth.settled and auth.reference.startswith("pi_")
    captured = gateway.capture(reference=auth.reference, amount=5_000, idempotency_key="c-1")
    assert captured.approved and captured.settled
    partial = gateway.refund(reference=auth.reference, amount=1_500, currency="USD", idempotency_key="r-1")
    rest = gateway.refund(reference=auth.reference, amount=3_500, currency="USD", idempotency_key="r-2")
    assert partial.approved and rest.approved and partial.reference != rest.reference
    intent = httpx.get(f"{localstripe}/v1/payment_intents/{auth.reference}", auth=(KEY, "")).json()
    assert intent["customer"].startswith("cus_") and intent["metadata"] == {"agentdesk_key": "a-1"}


def test_void_and_sale(gateway, localstripe):
    pm = card(localstripe, "4242424242424242")
    auth = gateway.authorize(amount=2_000, currency="EUR", token=pm, idempotency_key="a-2")
    assert gateway.void(reference=auth.reference, idempotency_key="v-1").approved
    sale = gateway.sale(amount=900, currency="EUR", token=pm, idempotency_key="s-1")
    assert sale.approved and sale.settled


def test_declined_card_and_errors(gateway, localstripe):
    declined = gateway.sale(
        amount=900, currency="USD", token=card(localstripe, "4000000000000341"), idempotency_key="s-2"
    )
    assert declined.outcome is Outcome.DECLINED and declined.message
    missing = gateway.refund(reference="pi_doesnotexist", amount=1, currency="USD", idempotency_key="r-x")
    assert missing.outcome is Outcome.FAILED and "not the card" in missing.message
    loose = gateway.sale(amount=900, currency="USD", token=card(localstripe, "4242424242424242", attached=False),
                         idempotency_key="s-3")
    assert loose.outcome is Outcome.FAILED and loose.message == NOT_SAVED
    with pytest.raises(GatewayError):
        gateway.payout(amount=1, currency="USD", token="pm_x", idempotency_key="p-1")
    with pytest.raises(GatewayError, match="add-card link"):
        gateway.tokenize_card("4242424242424242", 12, 2031)
    with pytest.raises(GatewayError):
        StripeGateway(api_key="")


def test_a_card_needing_authentication_sends_the_customer_a_link(gateway, localstripe):
    needs = gateway.sale(amount=900, currency="USD", token=card(localstripe, "4000002500003155"),
                         idempotency_key="s-3ds")
    assert needs.outcome is Outcome.AUTHENTICATION_REQUIRED and needs.message == NEEDS_CUSTOMER


def test_unreachable_and_slow_stripe(localstripe):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed = probe.getsockname()[1]
    down = StripeGateway(api_key=KEY, base_url=f"http://127.0.0.1:{closed}", timeout=2, max_network_retries=0)
    failed = down.refund(reference="pi_1", amount=1, currency="USD", idempotency_key="k")
    assert failed.outcome is Outcome.FAILED and "could not be reached" in failed.message
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(1)
    slow = StripeGateway(api_key=KEY, base_url=f"http://127.0.0.1:{server.getsockname()[1]}", timeout=0.5,
                         max_network_retries=0)
    with pytest.raises(GatewayTimeout):
        slow.sale(amount=1, currency="USD", token="pm_x", idempotency_key="k2")
    server.close()


def test_our_rules_hold_where_localstripe_enforces_none(sqlite_store, tmp_path, localstripe):
    """localstripe would refund past the captured amount; the refund service refuses first."""
    from agentdesk.domain.enums import Role

    from ..conftest import add_roles, add_website

    store = sqlite_store
    add_website(store)
    with store.write(unrecorded="test fixture") as s:
        s.execute(text("UPDATE website SET gateway = 'stripe'"))
    admin = add_roles(store)[Role.ADMIN]
    settings = load_settings(store.url, env={"AGENTDESK_DATA_DIR": str(tmp_path)})
    settings = type(settings)(
        **{**settings.__dict__, "gateways": {"stripe": {"api_key": KEY, "base_url": localstripe}}}
    )
    customers.create_customer(store, admin, customer_input())
    with store.write(unrecorded="test fixture") as s:
        cid = s.execute(select(Customer.id)).scalar_one()
        s.add(
            PaymentInstrument(
                customer_id=cid,
                method="card",
                brand="Visa",
                last4="4242",
                is_primary=True,
                gateway_token=card(localstripe, "4242424242424242", attached=False),
            )
        )
        token = s.execute(select(PaymentInstrument.gateway_token)).scalar_one()
    StripeGateway(api_key=KEY, base_url=localstripe).save_payment_method(store, cid, token)
    with store.read() as s:
        assert s.execute(select(StripeCustomer.stripe_id)).scalar_one().startswith("cus_")
    paid = payments.collect_payment(store, admin, settings, "C-1", 3_000, "USD")
    assert paid.ok
    with store.read() as s:
        sale = s.get(Transaction, paid.transaction_id)
    assert sale.settled and sale.gateway == "stripe" and sale.gateway_ref.startswith("pi_")
    assert refunds.refund_transaction(store, admin, settings, sale.id, 2_000).ok
    with pytest.raises(InvalidInput, match=r"only 10\.00 USD remains"):
        refunds.refund_transaction(store, admin, settings, sale.id, 2_000)
    assert refunds.refund_transaction(store, admin, settings, sale.id).ok
    with store.read() as s:
        children = s.execute(select(Transaction).where(Transaction.parent_id == sale.id)).scalars().all()
    assert sorted(c.amount for c in children) == [1_000, 2_000]
    assert all(c.gateway_ref.startswith("re_") for c in children)
