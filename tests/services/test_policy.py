"""Policy in the store (issue 10, finding 2): limits and ceilings come from the store, changed only by admins,
audited, and read at each decision; nothing in the environment or a config file changes them."""

import re
from datetime import timedelta

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.exc import DBAPIError

from agentdesk.config import load_settings
from agentdesk.db.models import Customer, PaymentInstrument, PolicyChange, Transaction, utcnow
from agentdesk.db.store import Store
from agentdesk.domain.enums import Role
from agentdesk.domain.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from agentdesk.domain.money import parse_amount
from agentdesk.domain.permissions import SYSTEM
from agentdesk.services.customers import records as customers
from agentdesk.services.money import payments, refunds, settlement
from agentdesk.services.policy import service as policy
from agentdesk.services.policy.keys import FAMILIES, resolve_key
from agentdesk.services.timeline import attachments

from ..conftest import add_website, customer_input
from ..conftest import policy as set_values


@pytest.fixture
def settings(store, tmp_path):
    return load_settings(store.url, env={"AGENTDESK_DATA_DIR": str(tmp_path / "data")})


@pytest.fixture
def customer(store, admin):
    customers.create_customer(store, admin, customer_input())
    add_card(store, "C-1")
    return "C-1"


def add_card(store, external_id: str, token: str = "tok_approve") -> None:
    with store.write(unrecorded="test fixture") as s:
        cid = s.execute(select(Customer.id).where(Customer.external_id == external_id)).scalar_one()
        s.add(PaymentInstrument(customer_id=cid, method="card", brand="Visa", last4="4242", is_primary=True,
                                gateway_token=token, fingerprint="fp"))


def settled_sale(store, admin, settings, external_id: str, amount: int, currency: str = "USD") -> int:
    paid = payments.collect_payment(store, admin, settings, external_id, amount, currency)
    assert paid.ok and paid.transaction_id is not None
    settlement.settle_from_gateway(store, settings, everything=True)
    return paid.transaction_id


def count(store, model, *where) -> int:
    with store.read() as s:
        return s.execute(select(func.count()).select_from(model).where(*where)).scalar_one()


def refunds_of(store, txn_id: int) -> int:
    return count(store, Transaction, Transaction.parent_id == txn_id)


# --- the seeded policy ------------------------------------------------------------------------


def test_the_migration_seeds_valid_defaults_each_with_its_audit_row(store):
    with store.read() as s:
        for cur in ("USD", "EUR", "GBP", "CAD", "AUD"):
            assert policy.refund_limit(s, Role.AGENT, cur) == 50_000, cur
            assert policy.payout_ceiling(s, cur) == 500_000, cur
        assert policy.refund_limit(s, Role.AGENT, "JPY") == 50_000
        assert policy.payout_ceiling(s, "JPY") == 500_000
        assert policy.refund_limit(s, Role.ADMIN, "USD") is None and policy.refund_limit(s, Role.FINANCE, "USD") is None
        assert policy.refund_limit(s, Role.AGENT, "CHF") is None and policy.payout_ceiling(s, "CHF") is None
        assert policy.attachment_limit(s) == 10 * 2**20
        assert policy.notify_emails(s) == ()
        assert policy.dunning_schedule(s) == (1, 3, 7)
        assert policy.link_expiry_hours(s, "kyc") == 168 and policy.link_expiry_hours(s, "portal") == 72
        assert policy.portal_base_url(s) is None and policy.website_gateway(s, "shop-us") is None
        seeded = s.execute(text("SELECT key, value FROM policy")).all()
        assert len(seeded) == 23
        assert policy.link_expiry_hours(s, "password_reset") == 2 and policy.link_expiry_hours(s, "quote") == 336
        changes = s.execute(select(PolicyChange)).scalars().all()
    for key_name, _ in seeded:
        resolve_key(key_name)
    assert sorted(c.key for c in changes) == sorted(k for k, _ in seeded)
    assert all(c.old_value is None and c.agent_label in ("migration 0014", "migration 0020") for c in changes)
    shown = {e.key: e for e in policy.show_policy(store, SYSTEM)}
    assert shown["refund_limit.agent.USD"].shown == "500.00 USD"
    assert shown["refund_limit.agent.JPY"].shown == "50,000 JPY"
    assert shown["payout_ceiling.USD"].shown == "5,000.00 USD" and shown["portal_base_url"].is_set is False
    assert shown["portal_base_url"].shown == "not set (no links can be sent)"


# --- refund limits ----------------------------------------------------------------------------


@pytest.mark.parametrize("role", list(Role))
def test_refund_limits_by_role_without_and_with_a_policy_value(store, actors, role):
    """An agent is capped by refund_limit.agent.<CUR> and refused in a currency without one; admin and finance
    are unlimited until a value is set for their role; sales may not refund at all."""
    actor = actors[role]
    with store.read() as s:
        if role is Role.SALES:
            with pytest.raises(PermissionDenied, match="may not refund"):
                policy.check_refund(s, actor, 100, "USD")
            return
        policy.check_refund(s, actor, 50_000, "USD")
        if role is Role.AGENT:
            with pytest.raises(PermissionDenied, match=r"beyond the agent limit \(policy refund_limit\.agent\.USD\); "
                                                       "ask finance or an admin"):
                policy.check_refund(s, actor, 50_001, "USD")
            with pytest.raises(PermissionDenied, match=re.escape(
                    "there is no agent refund limit for CHF, so agents may not refund in it; ask finance or an admin, "
                    "or an admin sets one with `agentdesk policy set refund_limit.agent.CHF AMOUNT`")):
                policy.check_refund(s, actor, 1, "CHF")
        else:
            policy.check_refund(s, actor, 10_000_000_000, "USD")
            policy.check_refund(s, actor, 10_000_000_000, "CHF")
    if role is not Role.AGENT:
        set_values(store, {f"refund_limit.{role.value}.USD": "2000.00"})
        with store.read() as s:
            policy.check_refund(s, actor, 200_000, "USD")
            with pytest.raises(PermissionDenied, match=f"policy refund_limit.{role.value}.USD"):
                policy.check_refund(s, actor, 200_001, "USD")
            policy.check_refund(s, actor, 10_000_000_000, "EUR")


def test_an_agent_refund_above_the_policy_limit_is_refused_and_nothing_is_recorded(store, actors, settings, customer):
    admin, agent = actors[Role.ADMIN], actors[Role.AGENT]
    sid = settled_sale(store, admin, settings, "C-1", 60_000)
    with pytest.raises(PermissionDenied, match=r"above 500\.00 USD .* agent limit \(policy refund_limit\.agent\.USD\)"):
        refunds.refund_transaction(store, agent, settings, sid, 50_001)
    with pytest.raises(PermissionDenied, match="agent limit"):
        refunds.refund_transaction(store, agent, settings, sid)
    assert refunds_of(store, sid) == 0
    assert refunds.refund_transaction(store, agent, settings, sid, 50_000).ok
    assert refunds.refund_transaction(store, actors[Role.FINANCE], settings, sid, 10_000).ok


def test_refund_limits_are_per_currency(store, actors, settings, customer):
    admin, agent = actors[Role.ADMIN], actors[Role.AGENT]
    add_website(store, "shop-jp", "JPY")
    customers.create_customer(store, admin, customer_input(external_id="J-1", website="shop-jp", emails=[]))
    add_card(store, "J-1")
    yen = settled_sale(store, admin, settings, "J-1", 80_000, "JPY")
    dollars = settled_sale(store, admin, settings, "C-1", 80_000, "USD")
    with pytest.raises(PermissionDenied, match=r"above 50,000 JPY .*refund_limit\.agent\.JPY"):
        refunds.refund_transaction(store, agent, settings, yen, 50_001)
    with pytest.raises(PermissionDenied, match=r"above 500\.00 USD .*refund_limit\.agent\.USD"):
        refunds.refund_transaction(store, agent, settings, dollars, 50_001)
    assert refunds.refund_transaction(store, agent, settings, yen, 50_000).ok, "¥50,000 is within the JPY limit"
    set_values(store, {"refund_limit.agent.JPY": "1000"})
    with pytest.raises(PermissionDenied, match=r"above 1,000 JPY"):
        refunds.refund_transaction(store, agent, settings, yen, 1_001)
    assert refunds.refund_transaction(store, agent, settings, dollars, 50_000).ok, "USD is not touched by JPY"
    policy.unset_policy(store, admin, "refund_limit.agent.JPY")
    with pytest.raises(PermissionDenied, match=r"no agent refund limit for JPY.*refund_limit\.agent\.JPY AMOUNT"):
        refunds.refund_transaction(store, agent, settings, yen, 1)


def test_a_void_is_held_to_the_same_limit(store, actors, settings, customer):
    admin, agent = actors[Role.ADMIN], actors[Role.AGENT]
    paid = payments.collect_payment(store, admin, settings, "C-1", 70_000, "USD")
    assert paid.ok and paid.transaction_id is not None
    with pytest.raises(PermissionDenied, match="agent limit"):
        refunds.void_transaction(store, agent, settings, paid.transaction_id)
    assert refunds_of(store, paid.transaction_id) == 0
    set_values(store, {"refund_limit.agent.USD": "700.00"})
    assert refunds.void_transaction(store, agent, settings, paid.transaction_id).ok


def test_a_change_applies_to_the_next_decision_of_a_running_process(store, actors, settings, customer):
    """Nothing is cached: another process (here another Store on the same database) lowers the limit, and the
    next refund of this one is held to it; raising it again lets the same refund through."""
    agent = actors[Role.AGENT]
    sid = settled_sale(store, actors[Role.ADMIN], settings, "C-1", 100_000)
    assert refunds.refund_transaction(store, agent, settings, sid, 20_000).ok
    elsewhere = Store(store.url, key_file=settings.key_file, data_dir=settings.data_dir)
    try:
        admin_there = actors[Role.ADMIN]
        policy.set_policy(elsewhere, admin_there, "refund_limit.agent.USD", "100.00")
        with pytest.raises(PermissionDenied, match=r"above 100\.00 USD"):
            refunds.refund_transaction(store, agent, settings, sid, 20_000)
        policy.set_policy(elsewhere, admin_there, "refund_limit.agent.USD", "300.00")
    finally:
        elsewhere.dispose()
    assert refunds.refund_transaction(store, agent, settings, sid, 20_000).ok
    with pytest.raises(PermissionDenied, match=r"above 300\.00 USD"):
        refunds.refund_transaction(store, agent, settings, sid, 30_001)


def test_a_corrupt_stored_limit_fails_closed(store, actors, settings, customer):
    """A value written around the services (not through `policy set`) never means "unlimited"."""
    sid = settled_sale(store, actors[Role.ADMIN], settings, "C-1", 10_000)
    with store.write(unrecorded="test: a database writer") as s:
        s.execute(text("UPDATE policy SET value = :v WHERE key = 'refund_limit.agent.USD'"), {"v": '"lots"'})
    with pytest.raises(Conflict, match=r"stored policy refund_limit\.agent\.USD is not valid.*policy set"):
        refunds.refund_transaction(store, actors[Role.AGENT], settings, sid, 100)
    assert refunds_of(store, sid) == 0
    shown = {e.key: e.shown for e in policy.show_policy(store, SYSTEM)}
    assert shown["refund_limit.agent.USD"].startswith("not valid")


# --- payout ceilings --------------------------------------------------------------------------


def test_a_payout_above_the_ceiling_is_refused_and_within_it_approved(store, actors, settings, customer):
    finance, admin = actors[Role.FINANCE], actors[Role.ADMIN]
    huge = parse_amount("999999999999.99", "USD")
    with pytest.raises(InvalidInput, match=r"999,999,999,999\.99 USD is above the payout ceiling of 5,000\.00 USD "
                                           r"\(policy payout_ceiling\.USD\)"):
        payments.send_payout(store, finance, settings, "C-1", huge, "USD", "req-huge")
    with pytest.raises(InvalidInput, match="payout ceiling"):
        payments.send_payout(store, admin, settings, "C-1", 500_001, "USD", "req-just-over")
    assert count(store, Transaction, Transaction.type == "credit") == 0, "nothing recorded, nothing sent"
    assert payments.send_payout(store, finance, settings, "C-1", 500_000, "USD", "req-at").ok
    with pytest.raises(PermissionDenied, match=r"no payout ceiling for CHF.*policy set payout_ceiling\.CHF AMOUNT"):
        payments.send_payout(store, finance, settings, "C-1", 100, "CHF", "req-chf")
    set_values(store, {"payout_ceiling.USD": "10000.00"})
    assert payments.send_payout(store, finance, settings, "C-1", 500_001, "USD", "req-just-over").ok
    assert count(store, Transaction, Transaction.type == "credit") == 2


# --- other decisions --------------------------------------------------------------------------


def test_the_attachment_limit_is_read_for_each_file(store, admin, settings, tmp_path):
    customers.create_customer(store, admin, customer_input())
    file = tmp_path / "scan.pdf"
    file.write_bytes(b"x" * 5000)
    assert attachments.add_attachment(store, admin, settings, "C-1", file).attributes["size"] == 5000
    set_values(store, {"attachment_limit": "4 KiB"})
    with pytest.raises(InvalidInput, match=r"the limit is 4,096 \(policy attachment_limit\)"):
        attachments.add_attachment(store, admin, settings, "C-1", file)


def test_the_website_gateway_comes_from_policy(store, actors, settings, customer):
    admin = actors[Role.ADMIN]
    set_values(store, {"website_gateway.shop-us": "stripe"})
    with pytest.raises(Conflict, match=r"policy website_gateway\.shop-us uses stripe, but this host has no "
                                       r"\[gateways\.stripe\]"):
        payments.collect_payment(store, admin, settings, "C-1", 1_000, "USD")
    assert count(store, Transaction) == 0, "refused before a pending payment was written"
    set_values(store, {"website_gateway.shop-us": "sandbox"})
    paid = payments.collect_payment(store, admin, settings, "C-1", 1_000, "USD")
    assert paid.ok
    with store.read() as s:
        assert s.get(Transaction, paid.transaction_id).gateway == "sandbox"


def test_notify_emails_are_read_when_the_refund_is_dropped(store, actors, settings, customer):
    from agentdesk.db.models import Job
    from agentdesk.services.jobs import runner as worker

    admin = actors[Role.ADMIN]
    with store.write(unrecorded="test fixture") as s:
        s.execute(text("UPDATE payment_instrument SET gateway_token = 'tok_transient'"))
    sid = settled_sale(store, admin, settings, "C-1", 10_000)
    result = refunds.refund_transaction(store, admin, settings, sid, 3_000)
    assert result.status == "retrying"
    now = utcnow()
    worker.run_due(store, settings, now=now + timedelta(days=1, minutes=1))
    set_values(store, {"notify_emails": "Finance@Merchant.example, leads@merchant.example"})
    worker.run_due(store, settings, now=now + timedelta(days=2, minutes=2))
    with store.read() as s:
        job = s.execute(select(Job).where(Job.idempotency_key == f"refund-dropped-{result.refund_id}")).scalar_one()
    assert job.payload["to"] == ["Finance@merchant.example", "leads@merchant.example"]


# --- changing policy --------------------------------------------------------------------------


@pytest.mark.parametrize("role", [Role.AGENT, Role.SALES, Role.FINANCE])
def test_only_admins_change_policy(store, actors, role):
    before = count(store, PolicyChange)
    with pytest.raises(PermissionDenied, match=r"may not change policy.*this needs admin"):
        policy.set_policy(store, actors[role], "refund_limit.agent.USD", "99999999.00")
    with pytest.raises(PermissionDenied, match="may not change policy"):
        policy.unset_policy(store, actors[role], "payout_ceiling.USD")
    with store.read() as s:
        assert policy.refund_limit(s, Role.AGENT, "USD") == 50_000 and policy.payout_ceiling(s, "USD") == 500_000
    assert count(store, PolicyChange) == before
    assert {e.key for e in policy.show_policy(store, actors[role])} >= {"refund_limit.agent.USD"}, "anyone may read"


def test_every_change_is_audited_with_who_when_from_and_to(store, actors):
    admin = actors[Role.ADMIN]
    start = utcnow()
    first = policy.set_policy(store, admin, "Refund_Limit.agent.usd", "100.00")
    assert (first.key, first.old, first.new, first.by, first.changed) == ("refund_limit.agent.USD", 50_000, 10_000,
                                                                          "ada", True)
    assert (first.old_shown, first.new_shown) == ("500.00 USD", "100.00 USD")
    again = policy.set_policy(store, admin, "refund_limit.agent.USD", "100")
    assert not again.changed and again.id is None, "the same value again writes nothing"
    gone = policy.unset_policy(store, admin, "refund_limit.agent.USD")
    assert (gone.old, gone.new, gone.new_shown) == (10_000, None, "not set")
    with store.read() as s:
        rows = s.execute(select(PolicyChange).where(PolicyChange.key == "refund_limit.agent.USD")
                         .order_by(PolicyChange.id)).scalars().all()
        assert policy.refund_limit(s, Role.AGENT, "USD") is None
    assert [(r.old_value, r.new_value, r.agent_label) for r in rows] == [
        (None, 50_000, "migration 0014"), (50_000, 10_000, "ada"), (10_000, None, "ada")]
    assert rows[1].agent_id == admin.agent_id and start <= rows[1].changed_at <= utcnow()
    history = policy.policy_history(store, actors[Role.AGENT], "refund_limit.agent.USD")
    assert [(h.old_shown, h.new_shown, h.by) for h in history] == [
        ("100.00 USD", "not set", "ada"), ("500.00 USD", "100.00 USD", "ada"), ("not set", "500.00 USD",
                                                                              "migration 0014")]
    assert policy.policy_history(store, admin)[0].key == "refund_limit.agent.USD"


def test_the_database_keeps_the_policy_log_append_only(store, actors):
    policy.set_policy(store, actors[Role.ADMIN], "notify_emails", "ops@example.com")
    for statement in ("UPDATE policy_change SET new_value = '[]'", "DELETE FROM policy_change"):
        with pytest.raises(DBAPIError, match="append-only"), store.write(unrecorded="test: a database writer") as s:
            s.execute(text(statement))
    with store.read() as s:
        last = s.execute(select(PolicyChange).order_by(PolicyChange.id.desc())).scalars().first()
    assert last.new_value == ["ops@example.com"]


def test_unknown_keys_are_refused_listing_the_valid_ones(store, admin):
    with pytest.raises(InvalidInput) as refused:
        policy.set_policy(store, admin, "agent_refund_limit", "1")
    message = str(refused.value)
    assert message.startswith("unknown policy key 'agent_refund_limit'; valid keys: ")
    assert all(family.pattern in message for family in FAMILIES)
    for key_name, says in [
        ("refund_limit.sales.USD", "role must be one of admin, agent, finance"),
        ("refund_limit.agent.XYZ", "CUR must be one of"),
        ("refund_limit.agent", "has the form refund_limit.<role>.<CUR>"),
        ("payout_ceiling", "has the form payout_ceiling.<CUR>"),
        ("attachment_limit.big", "has the form attachment_limit"),
        ("link_expiry.coupon",
         "kind must be one of kyc, deposit, portal, payout, pay_invoice, add_card, quote, password_reset"),
    ]:
        with pytest.raises(InvalidInput, match=re.escape(says)):
            policy.set_policy(store, admin, key_name, "1")
    with pytest.raises(NotFound, match=re.escape("website_gateway.shop-xx: no website 'shop-xx'; websites: shop-us")):
        policy.set_policy(store, admin, "website_gateway.shop-xx", "sandbox")


@pytest.mark.parametrize(
    "key_name, value, says",
    [("refund_limit.agent.USD", "12.345", "USD has 2 decimal places"),
     ("refund_limit.agent.USD", "-5", "refund_limit.agent.USD"),
     ("refund_limit.agent.USD", "lots", "refund_limit.agent.USD"),
     ("refund_limit.agent.USD", "\uff11\uff12", "refund_limit.agent.USD"),
     ("refund_limit.agent.JPY", "1.5", "JPY"),
     ("payout_ceiling.USD", "", "payout_ceiling.USD"),
     ("notify_emails", "ops@example.com, a..b@x.com", "'a..b@x.com' is not an email address"),
     ("website_gateway.shop-us", "paypal", "unknown gateway 'paypal'; use sandbox or stripe"),
     ("attachment_limit", "10 parsecs", "expected a size such as 10485760 or 10 MiB"),
     ("attachment_limit", "0", "between 1 and"),
     ("link_expiry.kyc", "0", "hours must be between 1 and"),
     ("link_expiry.kyc", "1.5", "expected a whole number of hours"),
     ("dunning_schedule", "3,1", "days must increase, got 3,1"),
     ("dunning_schedule", "1,,3", "whole numbers of days"),
     ("portal_base_url", "http://portal.example.com", "expected an https:// URL"),
     ("portal_base_url", "javascript:alert(1)", "expected an https:// URL"),
     ("portal_base_url", "https://portal.example.com/a b", "expected an https:// URL")],
)
def test_bad_values_are_refused_with_the_key_and_the_reason(store, admin, key_name, value, says):
    before = count(store, PolicyChange)
    with pytest.raises(InvalidInput) as refused:
        policy.set_policy(store, admin, key_name, value)
    assert str(refused.value).startswith(f"policy {key_name}: ") and says in str(refused.value)
    assert count(store, PolicyChange) == before


def test_good_values_are_kept_in_their_canonical_form(store, admin):
    for key_name, value, stored in [
        ("attachment_limit", "25 MiB", 25 * 2**20), ("link_expiry.portal", "48", 48),
        ("dunning_schedule", " 2, 5 ,9", [2, 5, 9]), ("portal_base_url", "https://pay.example.com/portal/",
                                                      "https://pay.example.com/portal"),
        ("notify_emails", "ops@Example.COM, , ar@example.com, ops@example.com", ["ops@example.com", "ar@example.com"]),
        ("notify_emails", "", []), ("payout_ceiling.KWD", "12.345", 12_345), ("refund_limit.admin.GBP", "0", 0),
        ("website_gateway.shop-us", " Stripe ", "stripe"),
    ]:
        assert policy.set_policy(store, admin, key_name, value).new == stored, key_name
    with store.read() as s:
        assert policy.policy_value(s, "dunning_schedule") == [2, 5, 9]
        assert policy.portal_base_url(s) == "https://pay.example.com/portal"
        assert policy.refund_limit(s, Role.ADMIN, "GBP") == 0
