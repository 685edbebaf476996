import pytest
from sqlalchemy import select

from agentdesk.db import search_index
from agentdesk.db.models import Customer, PaymentInstrument
from agentdesk.domain.errors import InvalidInput
from agentdesk.domain.validation import ContactInput
from agentdesk.services.customers import records as customers
from agentdesk.services.customers.filters import CustomerQuery, Segment, SortKey
from agentdesk.services.customers.search import cursor_for, fetch_page, search_customers

from ..conftest import customer_input


@pytest.fixture
def people(store, admin):
    customers.create_customer(store, admin, customer_input())
    customers.create_customer(
        store,
        admin,
        customer_input(
            external_id="C-2",
            first_name="Ada",
            last_name="Lovelace",
            organization="Analytical Engines",
            emails=[ContactInput("ada@engines.example"), ContactInput("countess@lovelace.example")],
            phones=[ContactInput("+44 20 7946 0123")],
        ),
    )
    customers.create_customer(
        store,
        admin,
        customer_input(
            external_id="C-3",
            first_name="Alan",
            last_name="Turing",
            emails=[ContactInput("alan@bletchley.example")],
            phones=[],
        ),
    )
    with store.write(unrecorded="test fixture") as s:
        alan = s.execute(select(Customer).where(Customer.external_id == "C-3")).scalar_one()
        s.add(PaymentInstrument(customer_id=alan.id, method="card", brand="Visa", last4="4242", is_primary=True))
        search_index.refresh(s, [alan.id])
    return store


def ids(page) -> list[str]:
    return [row.external_id for row in page.rows]


@pytest.mark.parametrize(
    "text, expected",
    [
        ("lovelace", ["C-2"]),
        ("ADA LOVE", ["C-2"]),
        ("countess@", ["C-2"]),
        ("engines", ["C-2"]),
        ("C-3", ["C-3"]),
        ("(415) 555-0100", ["C-1"]),
        ("4155550100", ["C-1"]),
        ("555 0100", ["C-1"]),
        ("4242", ["C-3"]),
        ("nobody-here", []),
        ("a%e", []),
        ("_da", []),
    ],
)
def test_search_finds_each_field_kind(people, admin, text, expected):
    assert ids(search_customers(people, admin, text)) == expected


def test_exact_id_ranks_first(people, admin):
    customers.create_customer(people, admin, customer_input(external_id="C-22", first_name="Zed", emails=[], phones=[]))
    assert ids(search_customers(people, admin, "C-2"))[0] == "C-2"
    assert set(ids(search_customers(people, admin, "C-2"))) == {"C-2", "C-22"}


def test_exact_email_ranks_first(people, admin):
    customers.create_customer(
        people, admin, customer_input(external_id="C-9", emails=[ContactInput("xada@engines.example")], phones=[])
    )
    assert ids(search_customers(people, admin, "ada@engines.example")) == ["C-2", "C-9"]


def test_segments_filter(people, admin):
    assert ids(search_customers(people, admin, "", "customers")) == []
    assert len(search_customers(people, admin, "", "leads").rows) == 3


def every_page(store, admin, text, limit, sort=SortKey.NEWEST, descending=True) -> list[str]:
    """Walk forward page by page the way the table does, from each page's last ordered row."""
    query = CustomerQuery(Segment.ALL, text, sort=sort, descending=descending)
    page = fetch_page(store, admin, query, limit)
    seen = ids(page)
    while page.more:
        ordered = [r for r in page.rows if not r.exact]
        if ordered:
            page = fetch_page(store, admin, query, limit, after=cursor_for(ordered[-1], sort))
        else:
            page = fetch_page(store, admin, query, limit, include_exact=False)
        seen += ids(page)
    return seen


def test_keyset_pages_return_every_row_once(store, admin):
    for n in range(23):
        customers.create_customer(store, admin, customer_input(external_id=f"K-{n:02d}", emails=[], phones=[]))
    seen = every_page(store, admin, "K-", 5)
    assert sorted(seen) == [f"K-{n:02d}" for n in range(23)]
    assert len(seen) == len(set(seen))


def test_exact_match_is_not_repeated_on_later_pages(store, admin):
    for n in range(6):
        customers.create_customer(store, admin, customer_input(external_id=f"D-{n}", emails=[], phones=[]))
    seen = every_page(store, admin, "D-", 2)
    assert sorted(seen) == [f"D-{n}" for n in range(6)]
    assert every_page(store, admin, "D-3", 1) == ["D-3"]


def test_bad_search_arguments(store, admin):
    with pytest.raises(InvalidInput, match="segment"):
        search_customers(store, admin, "", "vip")
    with pytest.raises(InvalidInput, match="limit"):
        search_customers(store, admin, "", limit=0)


UK_SPELLINGS = ("+44 378 828 0574", "0378 828 0574", "0044 378 828 0574", "+44 (0)378 828 0574",
                "00 44 (0) 378 828 0574", "011 44 378 828 0574", "(0378) 828-0574", "443788280574")


@pytest.mark.parametrize("spelling", UK_SPELLINGS)
def test_any_spelling_an_agent_hears_finds_a_uk_number(store, admin, spelling):
    from agentdesk.domain.validation import AddressInput

    customers.create_customer(store, admin, customer_input(
        external_id="UK-1", first_name="Harriet", last_name="Jones", emails=[],
        phones=[ContactInput("+44 378 828 0574")], addresses=[AddressInput("1 Downing St", "London", "GB")]))
    customers.create_customer(store, admin, customer_input(
        external_id="US-1", first_name="Sam", last_name="Smith", emails=[], phones=[ContactInput("+1 415 555 0123")],
        addresses=[AddressInput("1 Main St", "Springfield", "US")]))
    page = search_customers(store, admin, spelling)
    assert [r.external_id for r in page.rows] == ["UK-1"], spelling
    partial = search_customers(store, admin, spelling[:-3])
    assert "UK-1" in [r.external_id for r in partial.rows], spelling[:-3]


def test_phone_candidates_and_local_digits():
    from agentdesk.services.customers.search import local_digits, phone_candidates

    assert phone_candidates("0378 828 0574", frozenset({"GB"})) == {"443788280574"}
    assert phone_candidates("0378 828 0574", frozenset()) == set()
    assert "443788280574" in phone_candidates("011 44 378 828 0574", frozenset({"US"}))
    assert phone_candidates("+44 (0)378 828 0574", frozenset()) == {"443788280574"}
    assert local_digits("0044 378 828") == "44378828" and local_digits("0378 828 05") == "37882805"
    assert local_digits("+44 (0)378 828") == "44378828" and local_digits("0100") == "0100"


def test_the_stored_country_mix_is_read_by_index_seeks(store, admin):
    from agentdesk.domain.validation import AddressInput
    from agentdesk.services.customers import search

    for n, country in enumerate(("GB", "DE", "GB", "JP")):
        customers.create_customer(store, admin, customer_input(
            external_id=f"R-{n}", emails=[], phones=[], addresses=[AddressInput("1 A St", "Town", country)]))
    search._regions_cache.clear()
    with store.read() as session:
        assert search.stored_regions(store, session) == {"DE", "GB", "JP"}
