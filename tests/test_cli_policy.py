"""`agentdesk policy` and the issue's escalation routes, driven through `main()` as an agent's shell would."""

import json

import pytest
from sqlalchemy import func, select

from agentdesk.db.models import PolicyChange, Transaction
from agentdesk.db.store import Store
from agentdesk.services.agents import identity

from .conftest import run_cli


@pytest.fixture
def demo_db(sqlite_url, capsys, login, monkeypatch, tmp_path):
    monkeypatch.setenv("AGENTDESK_DATA_DIR", str(tmp_path / "data"))
    code, _, err = run_cli(capsys, "--db", sqlite_url, "demo", "--customers", "60", "--seed", "3")
    assert code == 0, err
    return sqlite_url


def settled_usd_sale(db_url: str, data_dir, amount: int) -> int:
    """A new settled USD sale of `amount` minor units, charged by an admin to a demo customer's card."""
    from agentdesk.config import load_settings
    from agentdesk.db.models import Customer, PaymentInstrument
    from agentdesk.services.money import payments, settlement

    store = Store(db_url)
    try:
        with store.read() as s:
            customer = s.execute(select(Customer.external_id).join(
                PaymentInstrument, PaymentInstrument.customer_id == Customer.id).where(
                Customer.currency == "USD", PaymentInstrument.status == "active", Customer.blocked.is_(False),
                PaymentInstrument.gateway_token.is_not(None)).order_by(Customer.id)).scalars().first()
        settings = load_settings(db_url, env={"AGENTDESK_DATA_DIR": str(data_dir)})
        alice = identity.resolve_actor(store, "alice")
        paid = payments.collect_payment(store, alice, settings, customer, amount, "USD")
        assert paid.ok and paid.transaction_id is not None, paid.message
        settlement.settle_from_gateway(store, settings, everything=True)
        return paid.transaction_id
    finally:
        store.dispose()


def refunds_of(db_url: str, txn_id: int) -> int:
    store = Store(db_url)
    try:
        with store.read() as s:
            return s.execute(select(func.count()).select_from(Transaction)
                             .where(Transaction.parent_id == txn_id)).scalar_one()
    finally:
        store.dispose()


def test_an_agent_cannot_lift_their_own_limit(demo_db, capsys, monkeypatch, tmp_path):
    """Issue 10, finding 2: each of the three routes used to make `refund --amount` above the limit succeed.
    Now each stops before anything happens, saying the setting is store policy; without them the policy holds."""
    sale = settled_usd_sale(demo_db, tmp_path / "data", 60_000)
    refund = ["--db", demo_db, "--as", "bob", "refund", str(sale), "--amount", "600.00"]

    monkeypatch.setenv("AGENTDESK_AGENT_REFUND_LIMIT", "99999999")
    code, out, err = run_cli(capsys, *refund)
    assert code == 1 and out == ""
    assert err.startswith("agentdesk: AGENTDESK_AGENT_REFUND_LIMIT: not a local setting any more: it is store "
                          "policy") and "agentdesk policy set refund_limit.agent.<CUR> AMOUNT" in err
    monkeypatch.delenv("AGENTDESK_AGENT_REFUND_LIMIT")

    own = tmp_path / "mine.toml"
    own.write_text("agent_refund_limit = 99999999\n")
    monkeypatch.setenv("AGENTDESK_CONFIG", str(own))
    code, _, err = run_cli(capsys, *refund)
    assert code == 1 and err.startswith(f"agentdesk: {own}: agent_refund_limit: not a local setting any more")
    monkeypatch.delenv("AGENTDESK_CONFIG")

    default = tmp_path / "config" / "agentdesk" / "config.toml"
    default.parent.mkdir(parents=True)
    default.write_text("agent_refund_limit = 99999999\n")
    code, _, err = run_cli(capsys, *refund)
    assert code == 1 and err.startswith(f"agentdesk: {default}: agent_refund_limit: not a local setting any more")
    default.unlink()

    code, _, err = run_cli(capsys, *refund)
    assert code == 1 and "beyond the agent limit (policy refund_limit.agent.USD)" in err and "500.00" in err
    assert refunds_of(demo_db, sale) == 0
    code, out, err = run_cli(capsys, "--db", demo_db, "--as", "bob", "refund", str(sale), "--amount", "5.00", "--json")
    assert code == 0 and json.loads(out)["status"] == "approved", err


def test_policy_set_is_for_admins_and_each_change_is_on_the_log(demo_db, capsys):
    for login in ("bob", "sara", "fred"):
        code, out, err = run_cli(capsys, "--db", demo_db, "--as", login, "policy", "set", "refund_limit.agent.USD",
                             "99999999")
        assert code == 1 and out == "" and "may not change policy" in err and "this needs admin" in err, login
        code, _, err = run_cli(capsys, "--db", demo_db, "--as", login, "policy", "unset", "payout_ceiling.USD")
        assert code == 1 and "may not change policy" in err
    code, out, _ = run_cli(capsys, "--db", demo_db, "--as", "bob", "policy", "show", "--json")
    shown = {e["key"]: e for e in json.loads(out)}
    assert code == 0 and shown["refund_limit.agent.USD"]["value"] == 50_000
    assert shown["refund_limit.agent.USD"]["shown"] == "500.00 USD"

    code, out, err = run_cli(capsys, "--db", demo_db, "--as", "alice", "policy", "set", "refund_limit.agent.usd", "250")
    assert code == 0 and out.strip() == "refund_limit.agent.USD: 500.00 USD → 250.00 USD", err
    code, out, _ = run_cli(
        capsys, "--db", demo_db, "--as", "alice", "policy", "set", "refund_limit.agent.USD", "250.00", "--json"
    )
    assert code == 0 and json.loads(out)["changed"] is False
    code, out, _ = run_cli(capsys, "--db", demo_db, "policy", "history", "refund_limit.agent.USD", "--json")
    history = json.loads(out)
    assert code == 0 and [(h["old"], h["new"], h["by"]) for h in history] == [
        (50_000, 25_000, "alice"), (None, 50_000, "migration 0014")]
    code, out, _ = run_cli(capsys, "--db", demo_db, "policy", "history")
    first = out.splitlines()[0]
    assert code == 0 and "alice" in first and "refund_limit.agent.USD" in first and "500.00 USD → 250.00 USD" in first
    code, out, _ = run_cli(capsys, "--db", demo_db, "policy", "show")
    line = next(ln for ln in out.splitlines() if ln.startswith("refund_limit.agent.USD "))
    assert "250.00 USD" in line and "alice" in line

    store = Store(demo_db)
    try:
        with store.read() as s:
            before = s.execute(select(func.count()).select_from(PolicyChange)).scalar_one()
    finally:
        store.dispose()
    code, _, err = run_cli(capsys, "--db", demo_db, "policy", "set", "refund_limit.agent.USD", "12.345")
    assert code == 1 and err.strip() == "agentdesk: policy refund_limit.agent.USD: USD has 2 decimal places; " \
        "'12.345' has 3"
    code, _, err = run_cli(capsys, "--db", demo_db, "policy", "set", "agent_refund_limit", "1")
    assert code == 1 and err.startswith("agentdesk: unknown policy key 'agent_refund_limit'; valid keys: "
                                        "refund_limit.<role>.<CUR>, payout_ceiling.<CUR>, ")
    store = Store(demo_db)
    try:
        with store.read() as s:
            assert s.execute(select(func.count()).select_from(PolicyChange)).scalar_one() == before
    finally:
        store.dispose()


def test_a_payout_above_the_ceiling_is_refused(demo_db, capsys):
    """Issue 10: `payout … --amount 999999999999.99` used to be approved."""
    found = run_cli(capsys, "--db", demo_db, "customers", "search", "--json", "--limit", "200")[1]
    customers = json.loads(found)["customers"]
    target = next(c for c in customers if c["currency"] == "USD" and json.loads(run_cli(
        capsys, "--db", demo_db, "customers", "show", c["id"], "--json")[1])["instruments"])
    args = ["--db", demo_db, "--as", "fred", "payout", target["id"], "--currency", "USD", "--json"]
    code, out, err = run_cli(capsys, *args, "--amount", "999999999999.99", "--request-id", "req-huge")
    assert code == 1 and out == ""
    assert "999,999,999,999.99 USD is above the payout ceiling of 5,000.00 USD (policy payout_ceiling.USD)" in err
    code, out, err = run_cli(capsys, *args, "--amount", "5000.00", "--request-id", "req-ok")
    assert code == 0 and json.loads(out)["status"] == "approved", err
    code, out, _ = run_cli(capsys, "--db", demo_db, "policy", "set", "payout_ceiling.USD", "20000.00")
    assert code == 0
    code, out, err = run_cli(capsys, *args, "--amount", "15000.00", "--request-id", "req-raised")
    assert code == 0 and json.loads(out)["status"] == "approved", err
