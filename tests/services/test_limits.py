"""The store's limits (issue 10, finding 5): 64-bit money, text limits from one definition, no control characters.

Each case ran into PostgreSQL before: an amount above 2**31 - 1 minor units, a value longer than
its column, a NUL byte. SQLite kept all of them. Both now accept the same values and refuse the
same ones, naming the field, with nothing written.
"""

from __future__ import annotations

import pytest
from sqlalchemy import BigInteger, func, inspect, select, text

from agentdesk.config import load_settings
from agentdesk.db.models import BlocklistEntry, Customer, SavedSegment, TimelineEvent
from agentdesk.db.store import Store
from agentdesk.domain import limits
from agentdesk.domain.enums import Role
from agentdesk.domain.errors import InvalidInput, NotFound
from agentdesk.domain.money import parse_amount
from agentdesk.domain.validation import AddressInput, ContactInput
from agentdesk.services.agents import identity
from agentdesk.services.customers import extras, segments, tags
from agentdesk.services.customers import records as customers
from agentdesk.services.customers.filters import CustomerQuery, Segment, parse_filters
from agentdesk.services.customers.search import search_customers
from agentdesk.services.money import payments, refunds
from agentdesk.services.risk import blocklist, compliance
from agentdesk.services.timeline import notes

from ..conftest import customer_input

BIG = parse_amount("21474836.48", "USD")
"""One minor unit above what a 32-bit INTEGER holds."""

MONEY_COLUMNS = {
    "customer": ["lifetime_value"], "plan": ["price"], "orders": ["total"], "order_item": ["unit_price"],
    "transaction": ["amount"], "credit_memo": ["amount", "remaining"], "sandbox_operation": ["amount"],
    "attachment": ["size"],
}


@pytest.fixture
def settings(store, tmp_path):
    return load_settings(store.url, env={"AGENTDESK_DATA_DIR": str(tmp_path / "data")})


@pytest.fixture
def customer(store, admin):
    customers.create_customer(store, admin, customer_input())
    return "C-1"


def count(store: Store, model: type) -> int:
    with store.read() as session:
        return session.execute(select(func.count()).select_from(model)).scalar_one()


def ltv(store: Store, external_id: str = "C-1") -> int:
    with store.read() as session:
        return session.execute(select(Customer.lifetime_value).where(Customer.external_id == external_id)).scalar_one()


def test_every_money_column_is_64_bit(store):
    with store.engine.connect() as connection:
        inspector = inspect(connection)
        for table, names in MONEY_COLUMNS.items():
            columns = {c["name"]: c["type"] for c in inspector.get_columns(table)}
            for name in names:
                assert isinstance(columns[name], BigInteger), f"{table}.{name} is {columns[name]}"


def test_amounts_above_32_bits_are_kept(store, actors, settings, customer):
    paid = payments.collect_payment(store, actors[Role.ADMIN], settings, "C-1", BIG, "USD", "wire", outside=True)
    assert paid.ok and ltv(store) == BIG
    memo = payments.create_credit_memo(store, actors[Role.ADMIN], "C-1", 2**40, "USD", "goodwill")
    detail = customers.get_customer(store, actors[Role.ADMIN], "C-1")
    assert memo.amount == 2**40 and detail.available_credit == {"USD": 2**40}
    assert detail.transactions[0].amount == BIG


def test_a_payout_above_32_bits_is_paid(store, actors, settings, customer):
    from .test_refunds import add_card

    try:
        from agentdesk.services.policy import service as policy
    except ImportError:  # before payout ceilings were policy
        policy = None
    if policy is not None:
        policy.set_policy(store, actors[Role.ADMIN], "payout_ceiling.USD", "99999999.00")
    add_card(store, "C-1", "tok_approve")
    result = payments.send_payout(store, actors[Role.FINANCE], settings, "C-1", BIG, "USD", "req-big")
    assert result.ok and result.amount == BIG
    detail = customers.get_customer(store, actors[Role.ADMIN], "C-1")
    assert [t.amount for t in detail.transactions if t.type == "credit"] == [BIG]


def test_lifetime_value_filter_above_32_bits(store, actors, settings, customer):
    customers.create_customer(store, actors[Role.ADMIN], customer_input(external_id="C-2", emails=[], phones=[]))
    payments.collect_payment(store, actors[Role.ADMIN], settings, "C-1", BIG + 1, "USD", outside=True)
    payments.collect_payment(store, actors[Role.ADMIN], settings, "C-2", 100, "USD", outside=True)
    page = search_customers(store, actors[Role.ADMIN], filters=parse_filters({"ltv_min": "21474836.48"}))
    assert [row.external_id for row in page.rows] == ["C-1"]
    page = search_customers(store, actors[Role.ADMIN], filters=parse_filters({"ltv_max": "21474836.48"}))
    assert [row.external_id for row in page.rows] == ["C-2"]


def test_amounts_beyond_the_ceiling_are_refused(store, actors, settings, customer):
    admin = actors[Role.ADMIN]
    for amount in (limits.AMOUNT_MAX + 1, 2**63, 2**64):
        with pytest.raises(InvalidInput) as refused:
            payments.collect_payment(store, admin, settings, "C-1", amount, "USD", outside=True)
        assert "amount" in refused.value.fields
        with pytest.raises(InvalidInput):
            payments.create_credit_memo(store, admin, "C-1", amount, "USD", "too much")
    with pytest.raises(InvalidInput) as refused:
        parse_filters({"ltv_min": 2**64})
    assert "ltv_min" in refused.value.fields
    assert ltv(store) == 0


@pytest.mark.parametrize(("field", "draft"), [
    ("first_name", {"first_name": "N" * (limits.NAME + 1)}),
    ("last_name", {"last_name": "N" * (limits.NAME + 1)}),
    ("addresses[0].postal_code", {"addresses": [AddressInput("1 Main St", "Springfield", "US",
                                                             postal_code="9" * (limits.POSTAL_CODE + 1))]}),
    ("addresses[0].city", {"addresses": [AddressInput("1 Main St", "C" * (limits.CITY + 1), "US")]}),
    ("addresses[0].region", {"addresses": [AddressInput("1 Main St", "Springfield", "US",
                                                        region="R" * (limits.REGION + 1))]}),
    ("addresses[0].line1", {"addresses": [AddressInput("L" * (limits.ADDRESS_LINE + 1), "Springfield", "US")]}),
    ("phones[0].label", {"phones": [ContactInput("+1 415 555 0100", label="x" * (limits.CONTACT_LABEL + 1))]}),
])
def test_over_long_customer_fields_are_refused_naming_the_field(store, admin, field, draft):
    with pytest.raises(InvalidInput) as refused:
        customers.create_customer(store, admin, customer_input(**draft))
    assert field in refused.value.fields and "longer than" in refused.value.fields[field]
    assert count(store, Customer) == 0


def test_names_as_long_as_validation_allows_are_stored(store, admin):
    """Names of 101 to 200 characters: validation took them, PostgreSQL's VARCHAR(100) did not."""
    long_name = "Ñ" * limits.NAME
    address = AddressInput("L" * limits.ADDRESS_LINE, "C" * limits.CITY, "US", region="R" * limits.REGION,
                           postal_code="9" * limits.POSTAL_CODE)
    created = customers.create_customer(store, admin, customer_input(first_name=long_name, last_name=long_name,
                                                                     addresses=[address]))
    assert created.first_name == long_name and created.last_name == long_name
    assert customers.get_customer(store, admin, "C-1").addresses[0].postal_code == "9" * limits.POSTAL_CODE


def test_over_long_values_elsewhere_are_refused_naming_the_field(store, admin, customer):
    cases = [
        ("value", lambda: blocklist.add_entry(store, admin, "customer", "B" * (limits.BLOCK_VALUE + 1))),
        ("reason", lambda: blocklist.add_entry(store, admin, "customer", "C-1", "r" * (limits.REASON + 1))),
        ("name", lambda: identity.add_agent(store, admin, "newbie", "agent", "A" * (limits.NAME + 1))),
        ("text", lambda: notes.add_note(store, admin, "C-1", "n" * (limits.NOTE + 1))),
        ("name", lambda: segments.create_segment(store, admin, "s" * (limits.SEGMENT_NAME + 1), CustomerQuery())),
        ("source", lambda: compliance.record_aml_check(store, admin, "C-1", "clear", 0, "s" * 65)),
        ("campaign", lambda: extras.set_lead_source(store, admin, "C-1", {"campaign": "c" * (limits.LEAD_FIELD + 1)})),
    ]
    events_before = count(store, TimelineEvent)
    for field, call in cases:
        with pytest.raises(InvalidInput) as refused:
            call()
        assert field in refused.value.fields, (field, refused.value.fields)
    assert count(store, BlocklistEntry) == 0 and count(store, SavedSegment) == 0
    assert count(store, TimelineEvent) == events_before
    assert [a.login for a in identity.list_agents(store, admin)] == ["ada", "cara", "finn", "sam"]


CONTROL = ["\x00", "\x1b[31m", "\x7f", "\x85", "\x9b", "\ud800", "\x1f"]


@pytest.mark.parametrize("bad", CONTROL, ids=[f"U+{ord(c[0]):04X}" for c in CONTROL])
def test_control_characters_are_refused_in_every_free_text_field(store, actors, settings, customer, bad):
    admin = actors[Role.ADMIN]
    cases = [
        ("text", lambda: notes.add_note(store, admin, "C-1", f"call back{bad}")),
        ("text", lambda: notes.add_link(store, admin, "C-1", "customer", "C-1", f"see{bad}")),
        ("first_name", lambda: customers.create_customer(store, admin, customer_input(external_id="C-9",
                                                                                     first_name=f"Eve{bad}"))),
        ("organization", lambda: customers.edit_customer(store, admin, "C-1", {"organization": f"ACME{bad}"})),
        ("addresses[0].city", lambda: customers.create_customer(
            store, admin, customer_input(external_id="C-9", addresses=[AddressInput("1 Main", f"X{bad}", "US")]))),
        ("custom_fields.plan", lambda: customers.create_customer(
            store, admin, customer_input(external_id="C-9", custom_fields={"plan": f"gold{bad}"}))),
        ("value", lambda: blocklist.add_entry(store, admin, "customer", f"C-1{bad}")),
        ("reason", lambda: blocklist.add_entry(store, admin, "customer", "C-1", f"fraud{bad}")),
        ("reason", lambda: refunds.refund_transaction(store, admin, settings, 1, None, f"asked{bad}")),
        ("reason", lambda: payments.create_credit_memo(store, admin, "C-1", 100, "USD", f"sorry{bad}")),
        ("description", lambda: payments.collect_payment(store, admin, settings, "C-1", 100, "USD", f"x{bad}",
                                                         outside=True)),
        ("name", lambda: identity.add_agent(store, admin, "newbie", "agent", f"New{bad}")),
        ("name", lambda: segments.create_segment(store, admin, f"vip{bad}", CustomerQuery())),
        ("search", lambda: segments.create_segment(store, admin, "vip", CustomerQuery(Segment.ALL, f"a{bad}"))),
        ("tag", lambda: parse_filters({"tag": f"vip{bad}"})),
        ("source", lambda: compliance.record_aml_check(store, admin, "C-1", "clear", 0, f"wc{bad}")),
        ("medium", lambda: extras.set_lead_source(store, admin, "C-1", {"medium": f"email{bad}"})),
    ]
    events_before = count(store, TimelineEvent)
    for field, call in cases:
        with pytest.raises(InvalidInput) as refused:
            call()
        assert field in refused.value.fields, (field, refused.value.fields)
    with pytest.raises(InvalidInput):
        tags.add_tag(store, admin, "C-1", f"vip{bad}")
    with pytest.raises(NotFound):
        customers.get_customer(store, admin, f"C-1{bad}")
    assert count(store, TimelineEvent) == events_before
    assert count(store, Customer) == 1 and count(store, BlocklistEntry) == 0


def test_notes_and_reasons_keep_newlines_and_tabs(store, admin, customer):
    note = notes.add_note(store, admin, "C-1", "line one\r\n\tline two")
    assert note.attributes["text"] == "line one\n\tline two"
    memo = payments.create_credit_memo(store, admin, "C-1", 100, "USD", "late\ndelivery")
    assert memo.reason == "late delivery", "a one-line reason collapses pasted newlines"


def test_ids_no_row_can_have_are_not_found(store, admin, settings, customer):
    for ident in (0, -1, 2**31, 2**63, 2**64):
        with pytest.raises(NotFound):
            customers.get_customer(store, admin, ident)
        with pytest.raises(NotFound):
            refunds.refund_transaction(store, admin, settings, ident)
        with pytest.raises(NotFound):
            blocklist.remove_entry(store, admin, ident)
        with pytest.raises(NotFound):
            segments.delete_segment(store, admin, ident)
        with pytest.raises(InvalidInput):
            notes.add_link(store, admin, "C-1", "transaction", str(ident))
    with pytest.raises(InvalidInput) as refused:
        parse_filters({"payments_min": str(2**31)})
    assert "payments_min" in refused.value.fields, "payment counts are 32-bit columns"


@pytest.mark.parametrize("database", ["sqlite", pytest.param("pg", marks=pytest.mark.pg)])
def test_upgrading_a_store_with_data_keeps_it(database, tmp_path, request):
    """0012 → head on a store holding a customer: values kept, then 64-bit amounts and 200-character names fit
    (on SQLite the declared types are rewritten in place, the rowid alias left alone)."""
    url = f"sqlite:///{tmp_path / 'old.db'}" if database == "sqlite" else request.getfixturevalue("pg_url")
    store = Store(url)
    store.upgrade("0012")
    when = "2020-01-01 00:00:00+00:00"
    with store.engine.begin() as connection:
        connection.execute(text("INSERT INTO website (code, name, url, default_currency, gateway) "
                                "VALUES ('w', 'w', 'https://w.example', 'USD', 'sandbox')"))
        connection.execute(text(
            "INSERT INTO customer (external_id, website_id, first_name, last_name, currency, payment_count, "
            "lifetime_value, created_at, updated_at, blocked, custom_fields, lead_source, edd_required) "
            "VALUES ('OLD', 1, 'Old', 'Timer', 'USD', 1, 1234, :when, :when, :no, '{}', '{}', :no)"),
            {"when": when, "no": False})
    store.upgrade()
    with store.engine.begin() as connection:
        if database == "sqlite":
            assert connection.execute(text("PRAGMA integrity_check")).scalar_one() == "ok"
            declared = {row[1]: row[2] for row in connection.execute(text("PRAGMA table_info(customer)"))}
            assert declared["lifetime_value"] == "BIGINT" and declared["first_name"] == "VARCHAR(200)"
            assert declared["id"] == "INTEGER", "the rowid alias is untouched"
        assert connection.execute(text("SELECT lifetime_value FROM customer")).scalar_one() == 1234
        connection.execute(text("UPDATE customer SET lifetime_value = :big, first_name = :name"),
                           {"big": 2**62, "name": "N" * limits.NAME})
        assert connection.execute(text("SELECT lifetime_value, first_name FROM customer")).one() == (
            2**62, "N" * limits.NAME)
    store.dispose()
