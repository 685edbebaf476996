"""Blocklists: admins only, every entry type enforced, expiry, the flag and the timeline."""

from datetime import date, timedelta

import pytest
from sqlalchemy import select, text

from agentdesk.config import load_settings
from agentdesk.db.models import Customer, TimelineEvent
from agentdesk.domain.enums import Role
from agentdesk.domain.errors import Conflict, InvalidInput, PermissionDenied
from agentdesk.domain.validation import AddressInput, ContactInput
from agentdesk.services.customers import records as customers
from agentdesk.services.money import payments
from agentdesk.services.risk import blocklist
from agentdesk.services.risk.blocklist import Blocked

from ..conftest import customer_input
from .test_refunds import add_card


@pytest.fixture
def settings(store, tmp_path):
    return load_settings(store.url, env={"AGENTDESK_DATA_DIR": str(tmp_path / "data")})


@pytest.fixture
def grace(store, admin):
    customers.create_customer(store, admin, customer_input(addresses=[AddressInput("1 Navy Way", "Arlington", "US")]))
    add_card(store, "C-1", "tok_approve")
    with store.write(unrecorded="test fixture") as s:
        s.execute(text("UPDATE payment_instrument SET bin = '424242', fingerprint = 'fp-grace'"))
        s.execute(text("UPDATE customer SET signup_ip = '203.0.113.7'"))
    return "C-1"


def flag(store) -> bool:
    with store.read() as s:
        return s.execute(select(Customer.blocked)).scalar_one()


def events(store, type_) -> list[TimelineEvent]:
    with store.read() as s:
        return list(s.execute(select(TimelineEvent).where(TimelineEvent.type == type_)).scalars())


@pytest.mark.parametrize(
    "kind, value, direct",
    [
        ("customer", "C-1", True),
        ("email", "G.Hopper@Navy.example", True),
        ("phone", "+1 415 555 0100", True),
        ("fingerprint", "fp-grace", True),
        ("bin", "424242", False),
        ("ip", "203.0.113.7", False),
        ("country", "us", False),
    ],
)
def test_each_entry_type_blocks_payments_and_payouts(store, actors, settings, grace, kind, value, direct):
    admin = actors[Role.ADMIN]
    entry = blocklist.add_entry(store, admin, kind, value, "chargeback fraud")
    assert flag(store) is direct
    assert [e.attributes["entry"] for e in events(store, "blocklisted")] == ([entry.id] if direct else [])
    with pytest.raises(Blocked, match="chargeback fraud"):
        payments.collect_payment(store, admin, settings, "C-1", 1_000, "USD")
    with pytest.raises(Blocked):
        payments.send_payout(store, actors[Role.FINANCE], settings, "C-1", 1_000, "USD", "req-9")
    attempts = events(store, "blocked_attempt")
    assert [a.attributes["action"] for a in attempts] == ["payment", "payout"]
    with store.read() as s:
        assert s.execute(text('SELECT COUNT(*) FROM "transaction"')).scalar_one() == 0
    assert customers.get_customer(store, actors[Role.AGENT], "C-1").block_reasons[0].endswith("chargeback fraud")
    blocklist.remove_entry(store, admin, entry.id)
    assert flag(store) is False
    assert payments.collect_payment(store, admin, settings, "C-1", 1_000, "USD").ok


def test_only_admins_change_blocklists(store, actors, grace):
    for role in (Role.AGENT, Role.SALES, Role.FINANCE):
        with pytest.raises(PermissionDenied):
            blocklist.add_entry(store, actors[role], "customer", "C-1")
    entry = blocklist.add_entry(store, actors[Role.ADMIN], "customer", "C-1")
    for role in (Role.AGENT, Role.SALES, Role.FINANCE):
        with pytest.raises(PermissionDenied):
            blocklist.remove_entry(store, actors[role], entry.id)
        assert [e.id for e in blocklist.list_entries(store, actors[role])] == [entry.id]


def test_expiry(store, admin, settings, grace):
    entry = blocklist.add_entry(
        store, admin, "email", "grace@example.com", expires=(date.today() + timedelta(days=3)).isoformat()
    )
    assert flag(store)
    with store.write(unrecorded="test: time passes") as s:
        s.execute(text("UPDATE blocklist_entry SET expires_at = :t"), {"t": "2000-01-01 00:00:00.000000"})
    assert blocklist.expire_flags(store) == 1 and not flag(store)
    assert payments.collect_payment(store, admin, settings, "C-1", 500, "USD").ok
    assert not blocklist.list_entries(store, admin)
    assert blocklist.list_entries(store, admin, include_inactive=True)[0].id == entry.id


@pytest.mark.parametrize(
    "kind, value, field",
    [
        ("email", "nope", "value"),
        ("phone", "12", "value"),
        ("bin", "42", "value"),
        ("ip", "300.1.1.1", "value"),
        ("country", "Atlantis", "value"),
        ("shoe", "x", "kind"),
        ("customer", " ", "value"),
    ],
)
def test_bad_entries(store, admin, kind, value, field):
    with pytest.raises(InvalidInput) as refused:
        blocklist.add_entry(store, admin, kind, value)
    assert field in refused.value.fields
    assert blocklist.list_entries(store, admin) == []


@pytest.mark.parametrize("address", ["a..b@x.com", ".a@x.com", "a.@x.com"])
def test_email_entries_are_checked_by_email_validator(store, admin, address):
    with pytest.raises(InvalidInput, match="is not an email address"):
        blocklist.add_entry(store, admin, "email", address)
    assert blocklist.list_entries(store, admin) == []


def test_international_email_entries_are_normalised_and_match(store, admin):
    customers.create_customer(store, admin, customer_input(external_id="C-9", emails=[ContactInput("Anna@münchen.de")]))
    entry = blocklist.add_entry(store, admin, "email", "ANNA@MÜNCHEN.DE", "fraud")
    assert entry.value == "anna@münchen.de"
    assert customers.get_customer(store, admin, "C-9").blocked
    assert blocklist.add_entry(store, admin, "email", "josé@example.com").value == "josé@example.com"


def test_duplicates_and_past_expiry(store, admin, grace):
    blocklist.add_entry(store, admin, "country", "US")
    with pytest.raises(Conflict, match="already blocked"):
        blocklist.add_entry(store, admin, "country", "us")
    with pytest.raises(InvalidInput, match="future"):
        blocklist.add_entry(store, admin, "customer", "C-1", expires="2001-01-01")
