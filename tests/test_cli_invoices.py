"""`agentdesk coupons …` and `agentdesk invoices …` through `main()`, on SQLite and PostgreSQL."""

from __future__ import annotations

import json

import pytest

from agentdesk.config import load_settings
from agentdesk.db.models import Coupon, CouponRedemption, Invoice, Transaction
from agentdesk.domain.enums import Role

from .conftest import run_cli
from .services.billing_helpers import (
    APPROVE,
    DECLINE,
    add_customer,
    add_order,
    add_plan,
    email_jobs,
    events_of,
    issue,
    rows,
)


@pytest.fixture
def settings(store, tmp_path):
    return load_settings(store.url, env={"AGENTDESK_DATA_DIR": str(tmp_path / "data")})


@pytest.fixture
def cli(store, actors, capsys, login):
    """`agentdesk --db STORE ARGS…` as `who` (default the admin ada): (exit status, stdout, stderr)."""

    def run(*args: str, who: str = "ada") -> tuple[int, str, str]:
        login["name"] = who
        return run_cli(capsys, "--db", store.url, *args)
    return run


def test_coupons_create_list_expire_and_redeem(store, actors, settings, cli):
    add_plan(store, "PRO", 3_000)
    add_customer(store, actors[Role.ADMIN], settings)
    code, out, err = cli("coupons", "create", "spring", "--percent", "12.5", "--duration", "repeating",
                         "--cycles", "3", "--plan", "PRO", "--minimum", "USD:20.00", "--expires", "2099-01-01",
                         "--max-redemptions", "10", "--description", "Spring sale")
    assert code == 0, err
    assert out == "coupon SPRING: 12.5% off, 3 cycles\n"
    code, out, err = cli("coupons", "create", "FIVE", "--amount", "5.00", "--currency", "USD", "--amount",
                         "EUR:4.50", "--duration", "once", "--json")
    assert code == 0, err
    made = json.loads(out)
    assert made["amounts"] == {"USD": 500, "EUR": 450} and made["kind"] == "fixed"
    code, _, err = cli("coupons", "create", "BOTH", "--percent", "5", "--amount", "USD:1.00", "--duration", "once")
    assert code != 0 and "either --percent or --amount" in err and len(err.strip().splitlines()) == 1
    code, _, err = cli("coupons", "create", "BAD", "--amount", "5.001", "--currency", "USD", "--duration", "once")
    assert code != 0 and "decimal places" in err
    code, _, err = cli("coupons", "create", "NOPE", "--percent", "5", "--duration", "once", who="sam")
    assert code != 0 and "may not" in err
    assert [c.code for c in rows(store, Coupon)] == ["SPRING", "FIVE"]

    code, out, _ = cli("coupons", "list", "--json", who="sam")
    listed = json.loads(out)
    assert code == 0 and [c["code"] for c in listed] == ["FIVE", "SPRING"]
    assert listed[1]["minimum"] == {"USD": 2_000} and listed[1]["percent_bp"] == 1_250
    code, out, _ = cli("coupons", "list")
    assert code == 0 and out.splitlines()[0].startswith("FIVE") and "4.50 EUR, 5.00 USD" in out

    code, out, err = cli("coupons", "redeem", "C-1", "five", "--email", who="sam")
    assert code == 0, err
    assert out == "coupon FIVE (4.50 EUR, 5.00 USD off) redeemed on C-1's account; the customer is emailed\n"
    assert len(rows(store, CouponRedemption)) == 1
    code, _, err = cli("coupons", "redeem", "C-1", "FIVE", who="sam")
    assert code != 0 and "already applied" in err

    code, out, err = cli("coupons", "expire", "FIVE")
    assert code == 0 and "expired" in out, err
    code, out, _ = cli("coupons", "list", "--json")
    assert [c["code"] for c in json.loads(out)] == ["SPRING"]
    code, out, _ = cli("coupons", "list", "--all", "--json")
    assert [(c["code"], c["expired"]) for c in json.loads(out)] == [("FIVE", True), ("SPRING", False)]


def test_invoices_list_show_pay_and_resend(store, actors, settings, cli):
    admin = actors[Role.ADMIN]
    add_plan(store, "PRO", 3_000, name="Pro monthly")
    cid = add_customer(store, admin, settings, cards=(DECLINE,))
    order = add_order(store, cid, [("PRO", 2, 3_000)])
    invoice = issue(store, admin, order, cycle=2, notes="PO 77")
    number = invoice.number

    code, out, err = cli("invoices", "list", "C-1", "--json", who="sam")
    assert code == 0, err
    assert [(i["number"], i["total"], i["status"]) for i in json.loads(out)] == [(number, 6_000, "issued")]
    code, out, _ = cli("invoices", "list", "C-1")
    assert out.startswith(number) and "60.00 USD" in out and "issued" in out
    code, _, err = cli("invoices", "list", "C-1", "--status", "bogus")
    assert code != 0 and "status" in err

    code, out, err = cli("invoices", "pay", number, "--json", who="sam")
    assert code != 0 and "may not" in err
    code, out, _ = cli("invoices", "pay", number, "--json", who="cara")
    declined = json.loads(out)
    assert code == 1 and declined["status"] == "declined" and declined["invoice"] == number
    assert events_of(store, cid, "subscription_billing_failed")[0]["invoice"] == number

    from agentdesk.services.money import instruments

    instruments.add_card(store, admin, settings, "C-1", APPROVE, "12/30")
    code, out, err = cli("invoices", "pay", number, "--instrument", "9999", who="finn")
    assert code != 0 and "no active payment instrument ending 9999" in err and "4242" in err
    code, out, err = cli("invoices", "pay", number.lower(), "--instrument", APPROVE[-4:], who="finn")
    assert code == 0, err
    assert out.startswith("Charged 60.00 USD to ") and number in out
    assert rows(store, Invoice)[0].status == "paid"
    assert [t.status for t in rows(store, Transaction)] == ["declined", "approved"]
    code, out, _ = cli("invoices", "pay", number)
    assert code == 0 and "Nothing is due" in out

    code, out, _ = cli("invoices", "show", number, "--json")
    shown = json.loads(out)
    assert shown["customer"] == "C-1" and shown["lines"][0]["quantity"] == 2
    assert [p["status"] for p in shown["payments"]] == ["declined", "approved"] and shown["notes"] == "PO 77"
    code, out, _ = cli("invoices", "show", number)
    assert code == 0 and "item      Pro monthly: 2 × 30.00 USD = 60.00 USD" in out and "PO 77" in out
    code, _, err = cli("invoices", "show", "INV-00000999")
    assert code != 0 and "no invoice" in err

    code, out, err = cli("invoices", "resend", number, who="cara")
    assert code == 0 and out == f"invoice {number} queued to c-1@example.com\n", err
    assert any(j["subject"].startswith(f"Invoice {number}") for j in email_jobs(store, cid))
    assert events_of(store, cid, "invoice_resent") == [{"invoice": number, "to": "c-1@example.com"}]
