from datetime import date

import pytest
from sqlalchemy import func, select

from agentdesk.db.models import Customer, CustomerEmail, CustomerPhone, TimelineEvent
from agentdesk.domain.enums import Role
from agentdesk.domain.errors import Conflict, InvalidInput, NotFound
from agentdesk.domain.validation import AddressInput, ContactInput
from agentdesk.services.customers import records as customers
from agentdesk.services.customers import records as customers_module
from agentdesk.services.customers.search import Segment, segment_counts

from ..conftest import customer_input


def counts(store) -> tuple[int, int, int, int]:
    with store.read() as s:
        return tuple(
            s.execute(select(func.count()).select_from(model)).scalar_one()
            for model in (Customer, CustomerEmail, CustomerPhone, TimelineEvent)
        )


def test_create_with_several_contacts_and_one_primary_each(store, admin):
    detail = customers.create_customer(
        store,
        admin,
        customer_input(
            organization="US Navy",
            date_of_birth="1906-12-09",
            addresses=[AddressInput("1 Navy Way", "Arlington", "us", region="VA", postal_code="22202")],
        ),
    )
    assert detail.name == "Grace Hopper"
    assert [e.value for e in detail.emails] == ["grace@example.com", "g.hopper@navy.example"]
    assert [e.primary for e in detail.emails] == [True, False]
    assert [p.primary for p in detail.phones] == [False, True]
    assert detail.addresses[0].country == "US"
    assert detail.date_of_birth == date(1906, 12, 9)
    assert detail.currency == "USD" and detail.payment_count == 0 and detail.lifetime_value == 0
    assert [e.type for e in detail.timeline] == ["customer_created"]
    assert detail.timeline[0].actor == "ada"
    with store.read() as s:
        primaries = s.execute(
            select(func.count()).select_from(CustomerEmail).where(CustomerEmail.is_primary)
        ).scalar_one()
        digits = s.execute(select(CustomerPhone.digits).order_by(CustomerPhone.id)).scalars().all()
    assert primaries == 1
    assert digits == ["14155550100", "442079460958"]


def test_generated_id_when_left_empty(store, admin):
    detail = customers.create_customer(store, admin, customer_input(external_id=""))
    assert detail.external_id.startswith("cus_") and len(detail.external_id) == 20


@pytest.mark.parametrize(
    "overrides, field",
    [
        ({"emails": [ContactInput("not-an-email")]}, "emails[0]"),
        ({"emails": [ContactInput("a@b.example"), ContactInput("A@b.example")]}, "emails[1]"),
        ({"emails": [ContactInput("a@b.example", True), ContactInput("c@d.example", True)]}, "emails"),
        ({"first_name": "   "}, "first_name"),
        ({"last_name": ""}, "last_name"),
        ({"phones": [ContactInput("12")]}, "phones[0]"),
        ({"phones": [ContactInput("call me maybe")]}, "phones[0]"),
        ({"date_of_birth": "1990-13-01"}, "date_of_birth"),
        ({"date_of_birth": "2999-01-01"}, "date_of_birth"),
        ({"external_id": "has space"}, "external_id"),
        ({"addresses": [AddressInput("1 Main St", "Springfield", "XX")]}, "addresses[0].country"),
        ({"first_name": "Bad\x1b[31m"}, "first_name"),
        ({"website": "nowhere"}, "website"),
    ],
)
def test_invalid_input_names_the_field_and_writes_nothing(store, admin, overrides, field):
    before = counts(store)
    with pytest.raises(InvalidInput) as refused:
        customers.create_customer(store, admin, customer_input(**overrides))
    assert field in refused.value.fields
    assert refused.value.fields[field]
    assert counts(store) == before


def test_every_problem_is_reported_at_once(store, admin):
    with pytest.raises(InvalidInput) as refused:
        customers.create_customer(
            store, admin, customer_input(first_name="", last_name="", emails=[ContactInput("nope")])
        )
    assert {"first_name", "last_name", "emails[0]"} <= set(refused.value.fields)


def test_duplicate_id_is_a_conflict_and_writes_nothing(store, admin):
    customers.create_customer(store, admin, customer_input())
    before = counts(store)
    with pytest.raises(Conflict, match="C-1"):
        customers.create_customer(store, admin, customer_input(emails=[ContactInput("other@example.com")]))
    assert counts(store) == before


def test_a_failing_timeline_event_undoes_the_write(store, admin, monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("timeline unavailable")

    monkeypatch.setattr(customers_module, "record_event", broken)
    before = counts(store)
    with pytest.raises(RuntimeError):
        customers.create_customer(store, admin, customer_input())
    assert counts(store) == before


def test_edit_records_each_changed_field(store, admin, actors):
    customers.create_customer(store, admin, customer_input())
    detail = customers.edit_customer(
        store,
        actors[Role.AGENT],
        "C-1",
        {"last_name": "Murray Hopper", "job_title": "Rear Admiral", "first_name": "Grace"},
    )
    assert detail.last_name == "Murray Hopper"
    edited = detail.timeline[0]
    assert edited.type == "customer_edited" and edited.actor == "cara"
    assert edited.attributes["changes"] == {
        "last_name": {"from": "Hopper", "to": "Murray Hopper"},
        "job_title": {"from": None, "to": "Rear Admiral"},
    }


def test_edit_without_changes_records_nothing(store, admin):
    customers.create_customer(store, admin, customer_input())
    before = counts(store)
    customers.edit_customer(store, admin, "C-1", {"first_name": "Grace"})
    assert counts(store) == before


def test_bad_edit_writes_nothing(store, admin):
    customers.create_customer(store, admin, customer_input())
    before = counts(store)
    with pytest.raises(InvalidInput) as refused:
        customers.edit_customer(store, admin, "C-1", {"first_name": "", "date_of_birth": "yesterday"})
    assert set(refused.value.fields) == {"first_name", "date_of_birth"}
    with pytest.raises(InvalidInput):
        customers.edit_customer(store, admin, "C-1", {"payment_count": 99})
    assert counts(store) == before
    assert customers.get_customer(store, admin, "C-1").first_name == "Grace"


def test_unknown_customer(store, admin):
    with pytest.raises(NotFound, match="nope"):
        customers.get_customer(store, admin, "nope")
    with pytest.raises(NotFound):
        customers.edit_customer(store, admin, "nope", {"first_name": "X"})


def test_segments_count_customers_and_leads(store, admin):
    for n in range(3):
        customers.create_customer(store, admin, customer_input(external_id=f"L-{n}", emails=[]))
    with store.write(unrecorded="test fixture") as s:
        for external_id in ("L-0", "L-1"):
            c = s.execute(select(Customer).where(Customer.external_id == external_id)).scalar_one()
            c.payment_count = 1
    assert segment_counts(store, admin) == {Segment.CUSTOMERS: 2, Segment.LEADS: 1, Segment.ALL: 3}


def test_customer_services_do_not_reach_into_the_job_runner():
    """The profile's retry note comes from the refunds service; customers never import the worker."""
    import ast
    from pathlib import Path

    folder = Path(customers_module.__file__).parent
    imported = set()
    for path in folder.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module:
                imported.add(node.module)
    assert "agentdesk.services.money.refunds" in imported
    assert not {m for m in imported if m.startswith("agentdesk.services.jobs")}


@pytest.mark.parametrize(
    "address, why",
    [
        ("a..b@x.com", "two periods"),
        (".a@x.com", "start with a period"),
        ("a.@x.com", "period immediately before"),
    ],
)
def test_email_syntax_is_checked_by_email_validator(store, admin, address, why):
    with pytest.raises(InvalidInput) as refused:
        customers.create_customer(store, admin, customer_input(emails=[ContactInput(address)]))
    assert why in refused.value.fields["emails[0]"]
    assert counts(store)[0] == 0


def test_international_emails_are_kept_in_their_normalised_form(store, admin):
    detail = customers.create_customer(
        store, admin, customer_input(emails=[ContactInput("josé@example.com"), ContactInput("Anna@MÜNCHEN.de")])
    )
    assert [e.value for e in detail.emails] == ["josé@example.com", "Anna@münchen.de"]
    with store.read() as s:
        stored = s.execute(select(CustomerEmail.address).order_by(CustomerEmail.id)).scalars().all()
    assert stored == ["josé@example.com", "Anna@münchen.de"]
