"""`agentdesk worker --once --now DATETIME`: the clock of sandbox stores moves forward and renewals happen;
refused on a store whose website uses a real gateway, without --once, and for a time without its zone."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
from sqlalchemy import select, text

from agentdesk.config import load_settings
from agentdesk.db.models import Invoice, Order, Transaction
from agentdesk.domain.enums import Role
from agentdesk.services.orders.create import create_order
from agentdesk.services.orders.preview import preview_order
from agentdesk.services.orders.requests import ItemRequest, OrderRequest

from .conftest import add_roles, add_website, make_store, policy, run_cli
from .services.billing_helpers import add_customer, add_plan, rows

PLACED = datetime(2027, 3, 1, 9, tzinfo=UTC)


@pytest.fixture
def shop(sqlite_url, login):
    """A sandbox store with one monthly subscription placed on 2027-03-01; yields (url, store, order number)."""
    store = make_store(sqlite_url)
    add_website(store)
    admin = add_roles(store)[Role.ADMIN]
    settings = load_settings(sqlite_url)
    add_plan(store, "BASIC", 1_250)
    add_customer(store, admin, settings)
    request = OrderRequest("C-1", [ItemRequest("BASIC")])
    total = preview_order(store, admin, request, now=PLACED).total_today
    number = create_order(store, admin, settings, request, expected_total=total, now=PLACED).order_number
    yield sqlite_url, store, number
    store.dispose()


def test_worker_once_now_moves_time_and_renews(shop, capsys):
    url, store, number = shop
    code, out, err = run_cli(capsys, "--db", url, "worker", "--once", "--now", "2027-04-01T09:00:00Z")
    assert code == 0, err
    summary = [line for line in out.splitlines() if line.startswith("billing:")]
    assert summary == ["billing: 1 invoiced, 1 collected, 0 declined, 0 retries, 0 trials ended, 0 completed, "
                       "0 abandoned, 0 cancelled unpaid, 0 scheduled changes, 0 errors "
                       "(as of 2027-04-01T09:00:00+00:00)"]
    with store.read() as s:
        order = s.execute(select(Order).where(Order.number == number)).scalar_one()
    assert (order.cycles_billed, order.period_start, order.next_bill_date) == (2, date(2027, 4, 1), date(2027, 5, 1))
    assert [(i.cycle, i.status) for i in rows(store, Invoice)] == [(1, "paid"), (2, "paid")]
    assert [t.status for t in rows(store, Transaction)] == ["approved", "approved"]

    code, out, _ = run_cli(capsys, "--db", url, "worker", "--once", "--now", "2027-04-01T12:00:00+03:00")
    assert code == 0 and "billing: 0 invoiced, 0 collected" in out, "the same period is never billed twice"
    assert len(rows(store, Invoice)) == 2


@pytest.mark.parametrize("how", ["policy", "website"])
def test_the_clock_is_refused_when_a_website_uses_a_real_gateway(shop, capsys, how):
    url, store, _ = shop
    if how == "policy":
        policy(store, {"website_gateway.shop-us": "stripe"})
    else:
        with store.write(unrecorded="test fixture") as s:
            s.execute(text("UPDATE website SET gateway = 'stripe'"))
    code, out, err = run_cli(capsys, "--db", url, "worker", "--once", "--now", "2027-04-01T09:00:00Z")
    assert code != 0 and out == ""
    assert err.count("\n") == 1 and "--now moves the clock only on a sandbox store; shop-us (stripe) uses a real " \
                                   "gateway" in err
    assert len(rows(store, Invoice)) == 1, "nothing was billed"


@pytest.mark.parametrize(("argv", "says"), [
    (["--now", "2027-04-01T09:00:00Z"], "--now needs --once"),
    (["--once", "--now", "2027-04-01T09:00:00"], "has no time zone"),
    (["--once", "--now", "next tuesday"], "is not an ISO 8601 date and time"),
])
def test_the_clock_option_is_checked(shop, capsys, argv, says):
    url, store, _ = shop
    code, out, err = run_cli(capsys, "--db", url, "worker", *argv)
    assert code == 2 and says in err and out == ""
    assert len(rows(store, Invoice)) == 1


def test_worker_help_documents_the_clock(shop, capsys):
    code, out, _ = run_cli(capsys, "worker", "--help")
    assert code == 0 and "--now DATETIME" in out and "sandbox" in out and "--once" in out
