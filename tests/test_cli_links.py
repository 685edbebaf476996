"""`agentdesk links …` driven through `main()` as an agent's shell would, with `agentdesk worker --once` in
between, on both databases."""

import email
import email.policy
import json
import re

import pytest
from sqlalchemy import select

from agentdesk.config import load_settings
from agentdesk.db.models import Link, TimelineEvent
from agentdesk.domain.enums import LinkStatus, Role
from agentdesk.services.customers import records as customers
from agentdesk.services.jobs import mailer
from agentdesk.services.links import access

from .conftest import customer_input, policy, run_cli

URL = re.compile(r"https://pay\.example/l/([0-9a-f]{64})")
HOSTILE = "\x1b[31mred\x1b[0m <b>"


@pytest.fixture
def shop(store, actors):
    customers.create_customer(store, actors[Role.ADMIN], customer_input())
    policy(store, {"portal_base_url": "https://pay.example"})
    return store


def cli(store, capsys, *argv: str) -> tuple[int, str, str]:
    return run_cli(capsys, "--db", store.url, "links", *argv)


def worker(store, capsys) -> None:
    code, _, err = run_cli(capsys, "--db", store.url, "worker", "--once")
    assert code == 0, err


def link_events(store) -> list[tuple[str, str, str | None]]:
    with store.read() as s:
        rows = s.execute(select(TimelineEvent).order_by(TimelineEvent.id)).scalars()
        return [(e.type, e.actor_label, e.attributes.get("requested_by")) for e in rows if e.type.startswith("link_")]


def test_request_kyc_with_email_then_show_list_and_open(shop, capsys, login):
    login["name"] = "sam"
    code, out, err = cli(shop, capsys, "request", "kyc", "C-1", "--document", "passport", "--document", "selfie",
                         "--redirect", "https://shop.example/done", "--email", "--json")
    assert code == 0, err
    queued = json.loads(out)
    assert (queued["kind"], queued["status"], queued["url"], queued["email_to"], queued["requested_by"]) == (
        "kyc", "queued", None, "grace@example.com", "sam")
    assert queued["options"] == {"document_types": ["passport", "selfie"], "redirect_url": "https://shop.example/done"}

    code, out, _ = cli(shop, capsys, "show", str(queued["id"]))
    assert code == 0 and "Generating: the worker makes it ready" in out
    worker(shop, capsys)

    code, out, err = cli(shop, capsys, "show", str(queued["id"]))
    assert code == 0, err
    match = URL.search(out)
    assert match and "kyc · sent · customer C-1" in out and "Documents: passport, selfie" in out
    assert "Email to: grace@example.com" in out and "Requested by sam" in out
    settings = load_settings(shop.url)
    (eml,) = (mailer.outbox_dir(settings)).glob("*.eml")
    message = email.message_from_bytes(eml.read_bytes(), policy=email.policy.default)
    assert match.group(0) in message.get_body(("plain",)).get_content()  # type: ignore[union-attr]

    code, out, _ = cli(shop, capsys, "list", "C-1")
    assert code == 0 and str(queued["id"]) in out and "kyc" in out and "sent" in out and "sam" in out
    assert access.open_link(shop, match.group(1)).id == queued["id"]
    assert link_events(shop) == [("link_requested", "sam", "sam"), ("link_ready", "System", "sam"),
                                 ("link_sent", "System", "sam"), ("link_opened", "customer", "sam")]


def test_deposit_amounts_are_typed_in_the_currency(shop, capsys, login):
    login["name"] = "cara"
    code, out, err = cli(shop, capsys, "request", "deposit", "C-1", "--amount", "25.00", "--amount", "10",
                         "--custom", "allowed", "--min", "5", "--max", "500.50", "--json")
    assert code == 0, err
    options = json.loads(out)["options"]
    assert options == {"currency": "USD", "amounts": [1000, 2500], "custom_amount": True, "minimum": 500,
                       "maximum": 50_050, "strategy": None, "redirect_url": None}
    code, out, err = cli(shop, capsys, "request", "deposit", "C-1", "--amount", "1٢")
    assert code == 1 and "amount" in err
    code, out, err = cli(shop, capsys, "request", "deposit", "C-1", "--amount", "12.345")
    assert code == 1 and "amount" in err
    worker(shop, capsys)
    code, out, _ = cli(shop, capsys, "show", "1")
    assert "Amounts: 10.00 USD, 25.00 USD" in out and "Limits: 5.00 USD to 500.50 USD" in out
    assert "Custom amount: allowed" in out


def test_payout_pay_invoice_quote_and_password_reset_refusals_are_one_line(shop, capsys, login):
    login["name"] = "finn"
    code, _, err = cli(shop, capsys, "request", "payout", "C-1")
    assert code == 1 and "largest payout" in err
    code, out, err = cli(shop, capsys, "request", "payout", "C-1", "--max", "100", "--currency", "eur", "--json")
    assert code == 0, err
    assert json.loads(out)["options"] == {"currency": "EUR", "minimum": 1, "maximum": 10_000, "redirect_url": None}
    code, _, err = cli(shop, capsys, "request", "pay-invoice", "C-1", "--invoice", "INV-404")
    assert code == 1 and "no invoice" in err
    code, _, err = cli(shop, capsys, "request", "quote", "C-1", "--quote", "QUO-404")
    assert code == 1 and "no quote" in err
    code, _, err = cli(shop, capsys, "request", "password-reset", "C-1")
    assert code == 1 and "no membership login" in err
    code, _, err = cli(shop, capsys, "request", "kyc", "C-1", "--redirect", "http://shop.example/")
    assert code == 1 and "https://" in err
    code, _, err = cli(shop, capsys, "request", "kyc", "C-1", "--document", HOSTILE)
    assert code == 1 and "\x1b" not in err
    code, _, err = cli(shop, capsys, "request", "refund", "C-1")
    assert code == 2


def test_revoke_and_send(shop, capsys, login):
    login["name"] = "cara"
    assert cli(shop, capsys, "request", "portal", "C-1")[0] == 0
    worker(shop, capsys)
    code, out, err = cli(shop, capsys, "send", "1", "--to", "billing@example.org")
    assert code == 0 and "will be emailed to billing@example.org" in out, err
    worker(shop, capsys)
    code, out, _ = cli(shop, capsys, "show", "1", "--json")
    shown = json.loads(out)
    assert shown["status"] == "sent" and shown["url"]
    token = URL.fullmatch(shown["url"]).group(1)  # type: ignore[union-attr]

    login["name"] = "ada"
    code, out, err = cli(shop, capsys, "revoke", "1", "--reason", "wrong address")
    assert code == 0 and "Link 1 revoked" in out, err
    with pytest.raises(access.LinkUnavailable):
        access.open_link(shop, token)
    code, _, err = cli(shop, capsys, "revoke", "1")
    assert code == 1 and "only a live link" in err
    code, _, err = cli(shop, capsys, "send", "1")
    assert code == 1 and "revoked" in err
    code, _, err = cli(shop, capsys, "show", "99")
    assert code == 1 and "no link 99" in err
    with shop.read() as s:
        assert s.execute(select(Link.status)).scalar_one() == LinkStatus.REVOKED
    assert link_events(shop)[-1] == ("link_revoked", "ada", "cara")


def test_every_role_may_request_and_no_portal_address_is_said_plainly(shop, capsys, login):
    for name in ("ada", "cara", "sam", "finn"):
        login["name"] = name
        code, out, err = cli(shop, capsys, "request", "add-card", "C-1")
        assert code == 0 and "is queued" in out, err
    code, out, _ = cli(shop, capsys, "list", "C-1", "--json")
    assert sorted(i["requested_by"] for i in json.loads(out)) == ["ada", "cara", "finn", "sam"]
    login["name"] = "ada"
    code, _, err = run_cli(capsys, "--db", shop.url, "policy", "unset", "portal_base_url")
    assert code == 0, err
    code, _, err = cli(shop, capsys, "request", "kyc", "C-1")
    assert code == 1 and "no portal address is set: an admin sets it with " in err
    assert "`agentdesk policy set portal_base_url URL`" in err
