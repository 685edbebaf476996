"""`agentdesk affiliates commissions|adjust`, `agentdesk charges add` and `agentdesk usage record`
driven through `main()` as an agent's shell would, on both databases."""

import json

import pytest
from sqlalchemy import select

from agentdesk.config import load_settings
from agentdesk.db.models import AccountCharge, AffiliateCommission, Invoice, UsageRecord
from agentdesk.domain.enums import BillingTiming, Role

from .conftest import run_cli
from .services.test_affiliates import add_customer, add_order, bill_order, events


@pytest.fixture
def settings(store, tmp_path):
    return load_settings(store.url, env={"AGENTDESK_DATA_DIR": str(tmp_path / "data")})


@pytest.fixture
def sales(store, actors, settings):
    """Two paid invoices of affiliate leads: acme (10% of 50.00) and beta (20% of 30.00)."""
    admin = actors[Role.ADMIN]
    add_customer(store, admin, "C-1", affiliate="acme")
    add_customer(store, admin, "C-2", affiliate="beta")
    first, _ = bill_order(store, admin, settings, add_order(store, "C-1", code="a", rate_bp=1_000, price=5_000))
    second, _ = bill_order(store, admin, settings, add_order(store, "C-2", code="b", rate_bp=2_000, price=3_000))
    return first, second


def test_commissions_listed_for_payout(store, sales, capsys, login):
    first, second = sales
    login["name"] = "finn"
    code, out, err = run_cli(capsys, "--db", store.url, "affiliates", "commissions", "--json")
    assert code == 0, err
    rows = json.loads(out)
    assert [(r["invoice"], r["affiliate"], r["amount"], r["rate_bp"]) for r in rows] == [
        (first, "acme", 500, 1_000), (second, "beta", 600, 2_000)]
    code, out, err = run_cli(capsys, "--db", store.url, "affiliates", "commissions", "--affiliate", "beta")
    assert code == 0, err
    assert second in out and first not in out and "total beta: 6.00 USD" in out
    code, out, _ = run_cli(capsys, "--db", store.url, "affiliates", "commissions", "--since", "2999-01-01")
    assert code == 0 and out.strip() == "no commissions"
    code, _, err = run_cli(capsys, "--db", store.url, "affiliates", "commissions", "--since", "yesterday")
    assert code != 0 and "YYYY-MM-DD" in err
    login["name"] = "cara"
    code, _, err = run_cli(capsys, "--db", store.url, "affiliates", "commissions")
    assert code != 0 and "may not" in err


def test_adjust_from_the_command_line(store, sales, capsys, login):
    first, _ = sales
    login["name"] = "finn"
    code, out, err = run_cli(capsys, "--db", store.url, "affiliates", "adjust", first, "--affiliate", "gamma",
                             "--rate", "12.5", "--reason", "moved to gamma's campaign", "--json")
    assert code == 0, err
    assert json.loads(out)["affiliate"] == "gamma" and json.loads(out)["amount"] == 625
    code, out, err = run_cli(capsys, "--db", store.url, "affiliates", "adjust", first, "--amount", "7.00",
                             "--reason", "flat fee")
    assert code == 0, err
    assert out.strip() == f"{first}: affiliate gamma: commission 7.00 USD (12.5% of 50.00 USD) · adjusted"
    code, _, err = run_cli(capsys, "--db", store.url, "affiliates", "adjust", first, "--amount", "1.00")
    assert code != 0 and "--reason" in err
    code, _, err = run_cli(capsys, "--db", store.url, "affiliates", "adjust", first, "--rate", "abc",
                           "--reason", "x")
    assert code != 0 and "rate" in err
    login["name"] = "sam"
    code, _, err = run_cli(capsys, "--db", store.url, "affiliates", "adjust", first, "--amount", "1.00",
                           "--reason", "x")
    assert code != 0 and "may not" in err
    with store.read() as s:
        row = s.execute(select(AffiliateCommission).join(Invoice, Invoice.id == AffiliateCommission.invoice_id)
                        .where(Invoice.number == first)).scalar_one()
    assert (row.affiliate, row.amount, row.rate_bp, row.adjustment_reason) == ("gamma", 700, 1_250, "flat fee")
    assert len(events(store, "commission_adjusted")) == 2


def test_charges_add_and_usage_record(store, actors, capsys, login):
    add_customer(store, actors[Role.ADMIN], "C-1", affiliate=None)
    metered = add_order(store, "C-1", code="api", price=0, timing=BillingTiming.ARREARS, metered=3)
    login["name"] = "cara"
    code, out, err = run_cli(capsys, "--db", store.url, "charges", "add", "C-1", "12.50", "--description",
                             "replacement part", "--json")
    assert code == 0, err
    added = json.loads(out)
    assert (added["amount"], added["currency"], added["invoice"]) == (1_250, "USD", None)
    code, out, err = run_cli(capsys, "--db", store.url, "charges", "add", "C-1", "3.00", "--description", "fee",
                             "--order", metered, "--now")
    assert code == 0, err
    assert "Billed on INV-" in out
    code, _, err = run_cli(capsys, "--db", store.url, "charges", "add", "C-1", "1.234", "--description", "x")
    assert code != 0 and "amount" in err
    with store.read() as s:
        rows = s.execute(select(AccountCharge).order_by(AccountCharge.id)).scalars().all()
    assert [(r.amount, r.invoice_id is not None) for r in rows] == [(1_250, False), (300, True)]

    code, out, err = run_cli(capsys, "--db", store.url, "usage", "record", metered, "40", "--key", "m-1")
    assert code == 0, err
    assert out.startswith(f"recorded {metered}: 40 × Plan api on ") and "at 0.03 USD each" in out
    code, out, err = run_cli(capsys, "--db", store.url, "usage", "record", metered, "40", "--key", "m-1")
    assert code == 0 and out.startswith("already recorded under this key")
    code, _, err = run_cli(capsys, "--db", store.url, "usage", "record", metered, "5", "--on", "2999-01-01")
    assert code != 0 and "not come yet" in err
    with store.read() as s:
        assert [r.quantity for r in s.execute(select(UsageRecord)).scalars()] == [40]
    login["name"] = "sam"
    code, _, err = run_cli(capsys, "--db", store.url, "usage", "record", metered, "1")
    assert code != 0 and "may not" in err
