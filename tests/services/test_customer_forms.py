"""Issue 6's add and edit forms below the UI: phones to E.164, cards, custom fields, full edits."""

from datetime import UTC

import pytest
from sqlalchemy import select, text

from agentdesk.config import load_settings
from agentdesk.db.models import PaymentInstrument, TimelineEvent
from agentdesk.domain.errors import InvalidInput
from agentdesk.domain.validation import AddressInput, CardInput, ContactInput, parse_custom_fields
from agentdesk.services.customers import records as customers

from ..conftest import customer_input


def test_phones_become_e164_using_the_address_country(store, admin):
    detail = customers.create_customer(
        store,
        admin,
        customer_input(
            phones=[ContactInput("020 7946 0958"), ContactInput("+1 (415) 555-0100")],
            addresses=[AddressInput("10 Downing St", "London", "GB")],
        ),
    )
    assert [p.value for p in detail.phones] == ["+442079460958", "+14155550100"]
    with pytest.raises(InvalidInput) as refused:
        customers.create_customer(
            store, admin, customer_input(external_id="C-2", phones=[ContactInput("020 7946 0958")])
        )
    assert "country code" in refused.value.fields["phones[0]"]


@pytest.mark.parametrize(
    "number, expiry, field, says",
    [
        ("4242 4242 4242 4241", "12/30", "card.number", "typo"),
        ("4242", "12/30", "card.number", "12 to 19 digits"),
        ("4242 4242 4242 4242", "13/30", "card.expiry", "MM/YY"),
        ("4242 4242 4242 4242", "01/20", "card.expiry", "expired"),
    ],
)
def test_bad_cards_are_refused_and_nothing_is_written(store, admin, number, expiry, field, says):
    with pytest.raises(InvalidInput) as refused:
        customers.create_customer(store, admin, customer_input(card=CardInput(number, expiry)))
    assert says in refused.value.fields[field]
    with store.read() as s:
        assert s.execute(text("SELECT COUNT(*) FROM customer")).scalar_one() == 0


def test_card_is_tokenised_and_its_number_never_stored(sqlite_store, tmp_path):
    from ..conftest import add_roles, add_website

    store = sqlite_store
    add_website(store)
    admin = add_roles(store)[__import__("agentdesk.domain.enums", fromlist=["Role"]).Role.ADMIN]
    settings = load_settings(store.url, env={"AGENTDESK_DATA_DIR": str(tmp_path / "d")})
    detail = customers.create_customer(
        store, admin, customer_input(card=CardInput("4000 0566 5566 5556", "08/31", allow_backup=True)), settings
    )
    card = detail.instruments[0]
    assert (card.brand, card.last4, card.exp_month, card.exp_year, card.primary, card.allow_backup) == (
        "Visa",
        "5556",
        8,
        2031,
        True,
        True,
    )
    with store.read() as s:
        row = s.execute(select(PaymentInstrument)).scalar_one()
    assert row.bin == "400005" and row.gateway_token.startswith("tok_approve_") and len(row.fingerprint) == 32
    assert any(e.type == "new_payment_method" for e in detail.timeline)
    store.dispose()
    for path in tmp_path.rglob("*"):
        if path.is_file():
            data = path.read_bytes()
            assert b"4000056655665556" not in data and b"4000 0566 5566 5556" not in data, path


def test_custom_fields():
    assert parse_custom_fields("plan=gold; source = trade fair ;") == {"plan": "gold", "source": "trade fair"}
    with pytest.raises(InvalidInput):
        parse_custom_fields("just words")


def test_full_edit_records_fields_and_address(store, admin):
    customers.create_customer(store, admin, customer_input(addresses=[AddressInput("1 Navy Way", "Arlington", "US")]))
    draft = customer_input(
        external_id="C-1",
        last_name="Murray Hopper",
        emails=[ContactInput("g.hopper@navy.example", primary=True), ContactInput("grace@example.com")],
        phones=[ContactInput("+1 (415) 555-0100")],
        addresses=[AddressInput("2 Navy Way", "Arlington", "US", region="VA")],
        custom_fields={"rank": "admiral"},
    )
    detail = customers.update_customer(store, admin, "C-1", draft)
    assert detail.last_name == "Murray Hopper" and detail.custom_fields == {"rank": "admiral"}
    assert [(e.value, e.primary) for e in detail.emails] == [
        ("g.hopper@navy.example", True),
        ("grace@example.com", False),
    ]
    assert detail.addresses[0].line1 == "2 Navy Way" and detail.addresses[0].region == "VA"
    edited, address = detail.timeline[1], detail.timeline[0]
    assert address.type == "address_modified" and address.attributes["fields"] == ["line1", "region"]
    assert edited.type == "customer_edited"
    assert set(edited.attributes["changes"]) == {"last_name", "custom_fields", "emails", "phones"}
    with pytest.raises(InvalidInput, match="cannot be changed"):
        customers.update_customer(store, admin, "C-1", customer_input(external_id="C-9"))
    with pytest.raises(InvalidInput):
        customers.update_customer(store, admin, "C-1", customer_input(external_id="C-1", emails=[ContactInput("bad")]))
    assert customers.get_customer(store, admin, "C-1").last_name == "Murray Hopper"
    with store.read() as s:
        assert s.execute(select(TimelineEvent).where(TimelineEvent.type == "customer_edited")).scalars().all()


def test_monthly_value_for_the_sparkline():
    from datetime import date, datetime

    from agentdesk.services.customers.records import TransactionView, monthly_value

    def txn(kind, status, amount, when, settled=True, currency="USD"):
        at = datetime(*when, tzinfo=UTC)
        return TransactionView(1, kind, status, amount, currency, settled, at, None, None, "sandbox", None)

    rows = [
        txn("sale", "approved", 1000, (2026, 11, 3)),
        txn("sale", "refunded", 500, (2026, 10, 1)),
        txn("refund", "approved", 500, (2026, 10, 5)),
        txn("sale", "approved", 700, (2026, 9, 9), settled=False),
        txn("sale", "approved", 900, (2025, 1, 1)),
        txn("sale", "approved", 300, (2026, 11, 4), currency="EUR"),
    ]
    values = monthly_value(rows, "USD", months=3, today=date(2026, 11, 21))
    assert values == [0, 0, 1000]
