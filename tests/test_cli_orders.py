"""`agentdesk orders create|list|show` driven through `main()` as an agent's shell would, on both databases."""

import json
from datetime import date, timedelta

import pytest
from sqlalchemy import func, select

from agentdesk.config import load_settings
from agentdesk.db.models import Invoice, Job, Order, OrderItem, Plan, TimelineEvent, Transaction
from agentdesk.domain.enums import Role
from agentdesk.domain.validation import AddressInput
from agentdesk.services.customers import records as customers
from agentdesk.services.money import instruments

from .conftest import customer_input, run_cli
from .services.test_orders import seed_catalog


@pytest.fixture
def shop(store, actors, tmp_path):
    admin = actors[Role.ADMIN]
    seed_catalog(store)
    customers.create_customer(store, admin, customer_input(addresses=[AddressInput("1 Main St", "Springfield", "US")]))
    settings = load_settings(store.url, env={"AGENTDESK_DATA_DIR": str(tmp_path / "data")})
    instruments.add_card(store, admin, settings, "C-1", "4242424242424242", "12/30")
    return store


def count(store, model) -> int:
    with store.read() as s:
        return s.execute(select(func.count()).select_from(model)).scalar_one()


def test_preview_prints_and_writes_nothing(shop, capsys, login):
    login["name"] = "cara"
    before = (count(shop, Order), count(shop, TimelineEvent))
    code, out, err = run_cli(capsys, "--db", shop.url, "orders", "create", "C-1", "--plan", "setup-m",
                             "--quantity", "2", "--coupon", "save10", "--preview")
    assert code == 0, err
    assert "setup_fee" in out and "Total today: 40.50 USD" in out and "Coupon SAVE10: -4.50 USD" in out
    assert (count(shop, Order), count(shop, TimelineEvent)) == before
    code, out, err = run_cli(capsys, "--db", shop.url, "orders", "create", "C-1", "--plan", "basic-m",
                             "--unit-price", "5.50", "--preview", "--json")
    data = json.loads(out)
    assert code == 0 and data["total_today"] == 550 and len(data["upcoming"]) == 2
    assert count(shop, Order) == before[0]


def test_create_charges_and_shows_the_order(shop, capsys, login):
    login["name"] = "sam"
    code, out, err = run_cli(capsys, "--db", shop.url, "orders", "create", "C-1", "--plan", "basic-m",
                             "--unit-price", "7.00", "--instrument", "4242", "--json")
    assert code == 0, err
    result = json.loads(out)
    assert result["payment"] == "approved" and result["status"] == "active" and result["total_today"] == 700
    with shop.read() as s:
        order = s.execute(select(Order)).scalar_one()
        item = s.execute(select(OrderItem)).scalar_one()
        plan_price = s.execute(select(Plan.price).where(Plan.code == "basic-m")).scalar_one()
        assert s.execute(select(Transaction.status)).scalar_one() == "approved"
        assert s.execute(select(Invoice.status)).scalar_one() == "paid"
        assert s.execute(select(func.count()).select_from(Job).where(
            Job.idempotency_key == f"email-welcome-{order.id}")).scalar_one() == 1
    assert result["order"] == order.number and item.unit_price == 700 and item.customised == ["unit_price"]
    assert plan_price == 899, "the catalog keeps its price"
    code, out, err = run_cli(capsys, "--db", shop.url, "orders", "list", "C-1")
    assert code == 0 and order.number in out and "active" in out and "7.00 USD" in out
    login["name"] = "finn"
    code, out, err = run_cli(capsys, "--db", shop.url, "orders", "show", order.number)
    assert code == 0, err
    assert "[customised: unit_price]" in out and "Transaction" in out and "approved" in out
    code, out, _ = run_cli(capsys, "--db", shop.url, "orders", "show", order.number, "--json")
    assert json.loads(out)["items"][0]["customised"] == ["unit_price"]


def test_trial_start_and_no_autopay_options(shop, capsys, login):
    login["name"] = "cara"
    start = (date.today() + timedelta(days=5)).isoformat()
    code, out, err = run_cli(capsys, "--db", shop.url, "orders", "create", "C-1", "--plan", "basic-m",
                             "--start", start, "--json")
    assert code == 0, err
    assert json.loads(out)["payment"] == "not due" and json.loads(out)["preview"]["first_bill_date"] == start
    code, out, err = run_cli(capsys, "--db", shop.url, "orders", "create", "C-1", "--plan", "basic-m",
                             "--trial-days", "10", "--json")
    assert code == 0 and json.loads(out)["total_today"] == 0, err
    code, out, err = run_cli(capsys, "--db", shop.url, "orders", "create", "C-1", "--plan", "gift", "--no-autopay")
    assert code == 0 and "sent to the customer" in out, err
    code, out, err = run_cli(capsys, "--db", shop.url, "orders", "create", "C-1", "--plan", "band",
                             "--shipping", "3.00", "--json")
    assert code == 0 and json.loads(out)["total_today"] == 6900 + 300, err
    with shop.read() as s:
        statuses = s.execute(select(Order.status).order_by(Order.id)).scalars().all()
    assert statuses == ["active", "active", "pending", "completed"]


def test_refusals_are_one_line(shop, capsys, login):
    login["name"] = "finn"
    code, out, err = run_cli(capsys, "--db", shop.url, "orders", "create", "C-1", "--plan", "basic-m")
    assert code != 0 and out == "" and "may not create orders" in err and len(err.strip().splitlines()) == 1
    login["name"] = "cara"
    code, _, err = run_cli(capsys, "--db", shop.url, "orders", "create", "C-1", "--plan", "basic-m",
                           "--unit-price", "1,2,3")
    assert code != 0 and "unit_price" in err
    code, _, err = run_cli(capsys, "--db", shop.url, "orders", "create", "C-1", "--plan", "nope")
    assert code != 0 and "no plan" in err
    code, _, err = run_cli(capsys, "--db", shop.url, "orders", "create", "C-1", "--plan", "basic-m",
                           "--start", "next week")
    assert code != 0 and "start" in err
    code, _, err = run_cli(capsys, "--db", shop.url, "orders", "create", "C-1", "--plan", "basic-m",
                           "--instrument", "9999")
    assert code != 0 and "9999" in err
    code, _, err = run_cli(capsys, "--db", shop.url, "orders", "show", "ORD-404")
    assert code != 0 and "no order" in err
    code, _, err = run_cli(capsys, "--db", shop.url, "orders", "create", "C-1", "--plan", "basic-m",
                           "--instrument", "1111")
    assert code != 0 and "no active payment instrument ending 1111 (active: 4242)" in err
    code, _, err = run_cli(capsys, "--db", shop.url, "orders", "create", "C-1", "--plan", "basic-m",
                           "--instrument", "42")
    assert code != 0 and "last four digits" in err
    assert count(shop, Order) == 0
    code, _, err = run_cli(capsys, "--db", shop.url, "orders", "create", "C-1", "--plan", "basic-m",
                           "--instrument", "card 4242")
    assert code == 0, err
