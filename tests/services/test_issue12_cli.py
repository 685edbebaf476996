"""`agentdesk orders create` with each option the issue names, checked in what the store holds, `orders list
--json`, and the affiliate commission on `orders show` — on SQLite and PostgreSQL."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import select, text

from agentdesk.config import load_settings
from agentdesk.db.models import Coupon, CouponRedemption, Order, OrderItem, PaymentInstrument, Transaction
from agentdesk.domain.enums import Role
from agentdesk.domain.validation import AddressInput
from agentdesk.services.customers import extras
from agentdesk.services.customers import records as customers
from agentdesk.services.money import instruments

from ..conftest import customer_input, run_cli
from .test_orders import seed_catalog


@pytest.fixture
def shop(store, actors, tmp_path):
    """The catalog; C-1 (an address in the US) with a primary Visa 4242 and a second card 4444."""
    admin = actors[Role.ADMIN]
    seed_catalog(store)
    customers.create_customer(store, admin, customer_input(addresses=[AddressInput("1 Main St", "Springfield", "US")]))
    settings = load_settings(store.url, env={"AGENTDESK_DATA_DIR": str(tmp_path / "data")})
    instruments.add_card(store, admin, settings, "C-1", "4242424242424242", "12/30")
    instruments.add_card(store, admin, settings, "C-1", "5555555555554444", "12/30", primary=False)
    return store


def only(store, model, *where):
    with store.read() as s:
        return list(s.execute(select(model).where(*where).order_by(model.id)).scalars())


def test_every_create_option_reaches_the_order(shop, capsys, login):
    login["name"] = "cara"
    code, out, err = run_cli(capsys, "--db", shop.url, "orders", "create", "C-1", "--plan", "basic-m",
                             "--quantity", "3", "--coupon", "save10", "--coupon", "FIVE", "--instrument", "4444",
                             "--trial-days", "0", "--json")
    assert code == 0, err
    created = json.loads(out)
    assert created["payment"] == "approved"
    assert created["total_today"] == 3 * 899 - 270 - 500, "10 % of 26.97 (2.70), then 5.00 off"
    [order] = only(shop, Order)
    [item] = only(shop, OrderItem)
    [txn] = only(shop, Transaction)
    with shop.read() as s:
        card = s.execute(select(PaymentInstrument).where(PaymentInstrument.id == order.instrument_id)).scalar_one()
        redeemed = s.execute(select(Coupon.code).join(CouponRedemption, CouponRedemption.coupon_id == Coupon.id)
                             .where(CouponRedemption.order_id == order.id).order_by(Coupon.code)).scalars().all()
    assert card.last4 == "4444" and txn.instrument_id == card.id, "the chosen card, not the primary"
    assert item.quantity == 3 and redeemed == ["FIVE", "SAVE10"]

    code, out, err = run_cli(capsys, "--db", shop.url, "orders", "create", "C-1", "--plan", "basic-trial",
                             "--trial-days", "21", "--no-autopay", "--json")
    assert code == 0, err
    assert json.loads(out)["total_today"] == 0
    trial_item = only(shop, OrderItem)[-1]
    assert trial_item.trial_days == 21 and "trial_days" in trial_item.customised

    code, out, err = run_cli(capsys, "--db", shop.url, "orders", "create", "C-1", "--plan", "gift",
                             "--no-autopay", "--json")
    assert code == 0 and json.loads(out)["payment"] == "no autopay", err
    gift = only(shop, Order)[-1]
    assert gift.autopay is False and gift.status == "pending" and only(shop, Transaction) == [txn]

    code, out, err = run_cli(capsys, "--db", shop.url, "orders", "list", "C-1", "--json")
    assert code == 0, err
    listed = json.loads(out)
    assert sorted(o["number"] for o in listed) == sorted(o.number for o in only(shop, Order))
    assert {o["status"] for o in listed} == {"active", "pending"}


def test_orders_show_the_affiliate_commission(shop, actors, capsys, login):
    extras.set_lead_source(shop, actors[Role.ADMIN], "C-1", {"source": "partner", "affiliate": "acme"})
    with shop.write(unrecorded="test fixture: a plan's commission rate") as s:
        s.execute(text("UPDATE plan SET commission_rate_bp = 1000 WHERE code = 'basic-m'"))
    login["name"] = "sam"
    code, out, err = run_cli(capsys, "--db", shop.url, "orders", "create", "C-1", "--plan", "basic-m", "--json")
    assert code == 0, err
    number = json.loads(out)["order"]
    login["name"] = "finn"
    code, out, err = run_cli(capsys, "--db", shop.url, "orders", "show", number)
    assert code == 0, err
    assert "affiliate acme: commission 0.90 USD (10% of 8.99 USD)" in out
    code, out, err = run_cli(capsys, "--db", shop.url, "orders", "show", number, "--json")
    [commission] = json.loads(out)["commissions"]
    assert (commission["affiliate"], commission["amount"], commission["rate_bp"]) == ("acme", 90, 1_000)
