"""`agentdesk deposit-strategies` and `agentdesk payout-requests` driven through `main()`, on both databases."""

from __future__ import annotations

import json

import pytest
from sqlmodel import select

from agentdesk.config import load_settings
from agentdesk.db.models import PaymentInstrument
from agentdesk.domain.enums import LinkKind, Role
from agentdesk.services.customers import records as customers
from agentdesk.services.links import customer_money
from agentdesk.services.money import instruments

from .conftest import customer_input, policy, run_cli
from .support.links import ready_link

HOSTILE = "\x1b[31mred\x1b[0m <b>x</b>"


def cli(store, capsys, *argv: str) -> tuple[int, str, str]:
    return run_cli(capsys, "--db", store.url, *argv)


def test_create_list_delete(store, actors, capsys, login):
    login["name"] = "ada"
    code, out, err = cli(store, capsys, "deposit-strategies", "create", "standard", "--amount", "USD:10",
                         "--amount", "usd:25.50", "--custom-amount", "--limit", "USD:5:500", "--website", "shop-us",
                         "--json")
    assert code == 0, err
    made = json.loads(out)
    assert (made["amounts"], made["limits"], made["websites"], made["custom_amount"]) == (
        {"USD": [1_000, 2_550]}, {"USD": [500, 50_000]}, ["shop-us"], True)
    code, out, _ = cli(store, capsys, "deposit-strategies", "list")
    assert code == 0 and out.strip() == "standard · USD 10.00, 25.50 · custom 5.00 to 500.00 USD · shop-us"
    code, out, err = cli(store, capsys, "deposit-strategies", "create", "standard", "--amount", "USD:1")
    assert code != 0 and "already exists" in err
    code, _, err = cli(store, capsys, "deposit-strategies", "create", "bad", "--amount", "USD")
    assert code != 0 and "CUR:AMOUNT" in err
    code, _, err = cli(store, capsys, "deposit-strategies", "create", "bad", "--custom-amount", "--limit", "USD:9:1")
    assert code != 0 and "minimum is above the maximum" in err
    code, out, _ = cli(store, capsys, "deposit-strategies", "delete", "standard")
    assert code == 0 and "Deleted" in out
    code, out, _ = cli(store, capsys, "deposit-strategies", "list", "--json")
    assert code == 0 and json.loads(out) == []


def test_only_admins_create_or_delete(store, actors, capsys, login):
    login["name"] = "cara"
    code, _, err = cli(store, capsys, "deposit-strategies", "create", "mine", "--amount", "USD:10")
    assert code != 0 and "change policy" in err
    code, out, _ = cli(store, capsys, "deposit-strategies", "list")
    assert code == 0 and "No deposit strategies" in out


def test_names_are_shown_as_plain_text(store, actors, capsys, login):
    login["name"] = "ada"
    code, _, err = cli(store, capsys, "deposit-strategies", "create", "<b>x</b> & co", "--amount", "USD:10")
    assert code == 0, err
    code, out, _ = cli(store, capsys, "deposit-strategies", "list")
    assert "<b>x</b> & co" in out and "\x1b" not in out
    code, _, err = cli(store, capsys, "deposit-strategies", "create", HOSTILE, "--amount", "USD:10")
    assert code != 0 and "\x1b" not in err


@pytest.fixture
def request_id(store, actors, tmp_path) -> int:
    admin = actors[Role.ADMIN]
    policy(store, {"payout_ceiling.USD": "1000.00"})
    detail = customers.create_customer(store, admin, customer_input())
    settings = load_settings(store.url, env={"AGENTDESK_DATA_DIR": str(tmp_path / "data")})
    instruments.add_card(store, admin, settings, "C-1", "4242424242424242", "12/30")
    with store.read() as s:
        card = s.exec(select(PaymentInstrument)).one().id
    token = ready_link(store, detail.id, LinkKind.PAYOUT, {"currency": "USD", "minimum": 100, "maximum": 10_000})
    return customer_money.request_payout(store, token, 4_200, card).id


def test_payout_requests_list_approve_reject(store, request_id, capsys, login):
    login["name"] = "sam"
    code, out, _ = cli(store, capsys, "payout-requests", "list", "--status", "pending")
    assert code == 0 and f"#{request_id} C-1 42.00 USD to Visa •••• 4242 · pending" in out
    code, _, err = cli(store, capsys, "payout-requests", "approve", str(request_id))
    assert code != 0 and "send payouts" in err
    login["name"] = "finn"
    code, out, err = cli(store, capsys, "payout-requests", "approve", str(request_id), "--json")
    assert code == 0, err
    assert json.loads(out)["status"] == "paid" and json.loads(out)["decided_by"] == "finn"
    code, _, err = cli(store, capsys, "payout-requests", "reject", str(request_id), "--reason", "late")
    assert code != 0 and "already paid" in err
    code, out, _ = cli(store, capsys, "payout-requests", "list", "--customer", "C-1", "--json")
    assert [r["status"] for r in json.loads(out)] == ["paid"]
    code, _, err = cli(store, capsys, "payout-requests", "list", "--status", "bogus")
    assert code != 0 and "status" in err


def test_reject_from_the_command_line(store, request_id, capsys, login):
    login["name"] = "ada"
    code, out, err = cli(store, capsys, "payout-requests", "reject", str(request_id), "--reason", "KYC pending")
    assert code == 0, err
    assert "rejected (KYC pending)" in out
    code, _, err = cli(store, capsys, "payout-requests", "approve", "999")
    assert code != 0 and "no payout request 999" in err
