"""`agentdesk subscriptions …` driven through `main()` as an agent's shell would, on both databases."""

import json
from datetime import date, timedelta

import pytest
from sqlalchemy import func, select

from agentdesk.config import load_settings
from agentdesk.db.models import CreditMemo, Invoice, Order, ScheduledChange, TimelineEvent
from agentdesk.domain.enums import Role
from agentdesk.services.customers import records as customers
from agentdesk.services.money import instruments

from .conftest import customer_input, run_cli
from .services.test_orders import seed_catalog


@pytest.fixture
def shop(store, actors, tmp_path, capsys, login):
    admin = actors[Role.ADMIN]
    seed_catalog(store)
    customers.create_customer(store, admin, customer_input())
    settings = load_settings(store.url, env={"AGENTDESK_DATA_DIR": str(tmp_path / "data")})
    instruments.add_card(store, admin, settings, "C-1", "4242424242424242", "12/30")
    login["name"] = "cara"
    code, out, err = run_cli(capsys, "--db", store.url, "orders", "create", "C-1", "--plan", "basic-m", "--json")
    assert code == 0, err
    return store, json.loads(out)["order"]


def count(store, model, *where) -> int:
    with store.read() as s:
        return s.execute(select(func.count()).select_from(model).where(*where)).scalar_one()


def order_row(store, number):
    with store.read() as s:
        return s.execute(select(Order).where(Order.number == number)).scalar_one()


def cli(capsys, store, *argv):
    return run_cli(capsys, "--db", store.url, "subscriptions", *argv)


def test_cancel_at_period_end_preview_then_schedule_and_withdraw(shop, capsys):
    store, number = shop
    before = count(store, TimelineEvent)
    code, out, err = cli(capsys, store, "cancel", number, "--at-period-end", "--preview", "--json")
    assert code == 0, err
    data = json.loads(out)
    assert data["preview"] is True and data["scheduled_on"] == order_row(store, number).period_end.isoformat()
    assert count(store, TimelineEvent) == before and count(store, ScheduledChange) == 0
    code, out, err = cli(capsys, store, "cancel", number, "--at-period-end")
    assert code == 0, err
    assert "set to be cancelled" in out and order_row(store, number).cancel_at_period_end
    code, out, _ = cli(capsys, store, "scheduled", number)
    assert "cancel at the end of the period" in out and "pending" in out
    code, out, err = cli(capsys, store, "withdraw-cancel", number, "--json")
    assert code == 0 and json.loads(out)["action"] == "withdraw-cancel"
    code, out, _ = cli(capsys, store, "scheduled", number, "--all", "--json")
    assert [c["status"] for c in json.loads(out)] == ["withdrawn"]


def test_cancel_now_with_refund_choice_is_checked(shop, capsys):
    store, number = shop
    code, _, err = cli(capsys, store, "cancel", number, "--refund", "everything")
    assert code != 0 and "everything" in err
    code, _, err = cli(capsys, store, "cancel", number, "--at-period-end", "--refund", "prorated")
    assert code != 0 and "refunds nothing" in err
    code, out, err = cli(capsys, store, "cancel", number, "--refund", "last-invoice", "--json")
    assert code == 0, err
    data = json.loads(out)
    assert data["status"] == "cancelled" and data["refund"] == 899 and data["payment"] == "approved"


def test_pause_and_resume(shop, capsys):
    store, number = shop
    until = (date.today() + timedelta(days=9)).isoformat()
    code, out, err = cli(capsys, store, "pause", number, "--until", until, "--json")
    assert code == 0, err
    assert json.loads(out)["status"] == "paused"
    code, _, err = cli(capsys, store, "pause", number, "--until", "31/12/2030")
    assert code != 0 and "until" in err
    before = order_row(store, number).next_bill_date
    code, out, err = cli(capsys, store, "resume", number)
    assert code == 0, err
    assert "ended" in out and order_row(store, number).next_bill_date == before  # resumed the same day: 0 days


def test_change_quantity_billing_date_and_coupon(shop, capsys):
    store, number = shop
    code, out, err = cli(capsys, store, "change", number, "--plan", "setup-m", "--preview", "--json")
    assert code == 0, err
    preview = json.loads(out)
    assert preview["preview"] and preview["charge"] == 1000 - 899  # the whole period is unused today
    code, _, err = cli(capsys, store, "change", number, "--plan", "limited-m", "--option", "size")
    assert code != 0 and "KEY=VALUE" in err
    code, out, err = cli(capsys, store, "change", number, "--plan", "limited-m", "--json")
    assert code == 0, err
    assert json.loads(out)["downgrade"] is True and json.loads(out)["scheduled_on"]
    code, out, err = cli(capsys, store, "withdraw-change", number)
    assert code == 0 and "withdrawn" in out
    code, out, err = cli(capsys, store, "quantity", number, "2", "--json")
    assert code == 0, err
    assert json.loads(out)["charge"] == 899 and count(store, Invoice) == 2
    new_date = (order_row(store, number).next_bill_date - timedelta(days=3)).isoformat()
    code, out, err = cli(capsys, store, "billing-date", number, new_date, "--json")
    assert code == 0, err
    assert json.loads(out)["credit"] > 0 and count(store, CreditMemo) == 1
    code, out, err = cli(capsys, store, "coupon", number, "add", "save10")
    assert code == 0 and "SAVE10" in out
    code, out, err = cli(capsys, store, "coupon", number, "remove", "save10", "--json")
    assert code == 0 and json.loads(out)["action"] == "coupon-remove"


def test_finance_and_sales_are_refused(shop, capsys, login):
    store, number = shop
    for who in ("finn", "sam"):
        login["name"] = who
        for argv in (("cancel", number), ("pause", number), ("change", number, "--plan", "setup-m"),
                     ("quantity", number, "3"), ("trial", number, "skip")):
            code, _, err = cli(capsys, store, *argv)
            assert code != 0 and "change subscriptions" in err, (who, argv, err)
    assert order_row(store, number).status.value == "active"


def test_bill_now_previews_then_bills_the_next_cycle(shop, capsys, login):
    from agentdesk.db.models import Invoice

    store, number = shop
    code, out, err = cli(capsys, store, "bill-now", number, "--preview", "--json")
    assert code == 0, err
    assert json.loads(out)["cycle"] == 2 and count(store, Invoice) == 1
    login["name"] = "sam"
    code, _, err = cli(capsys, store, "bill-now", number)
    assert code != 0 and "may not" in err
    login["name"] = "finn"
    code, out, err = cli(capsys, store, "bill-now", number, "--reason", "customer asked")
    assert code == 0 and "Billed cycle 2" in out, err
    assert count(store, Invoice) == 2
    code, _, err = cli(capsys, store, "bill-now", "ORD-404")
    assert code != 0 and "no order" in err
