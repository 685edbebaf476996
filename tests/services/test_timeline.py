import pytest

from agentdesk.domain.errors import InvalidInput
from agentdesk.services.customers import records as customers
from agentdesk.services.timeline.catalog import CATALOG, EventType, validate_attributes
from agentdesk.services.timeline.record import list_events, record_event

from ..conftest import customer_input


def test_catalog_has_a_title_for_every_type():
    assert set(CATALOG) == set(EventType)
    assert all(spec.title for spec in CATALOG.values())


@pytest.mark.parametrize(
    "event_type, attributes, says",
    [
        (EventType.BILLING_DATE_CHANGED, {"from": "2026-01-01", "product": "P", "order": "O"}, "to missing"),
        (
            EventType.BILLING_DATE_CHANGED,
            {"from": "2026-01-01", "to": "soon", "product": "P", "order": "O"},
            "to expected date",
        ),
        (EventType.MANUAL_REFUND, {"amount": 12.5, "currency": "USD", "transaction": 1}, "amount expected int"),
        (EventType.MANUAL_REFUND, {"amount": True, "currency": "USD", "transaction": 1}, "amount expected int"),
        (EventType.NOTE, {"text": "hi", "colour": "red"}, "colour not an attribute"),
        (EventType.ADDRESS_MODIFIED, {"fields": "city"}, "fields expected list"),
    ],
)
def test_attributes_are_validated(event_type, attributes, says):
    with pytest.raises(InvalidInput, match=says):
        validate_attributes(event_type, attributes)


def test_events_list_newest_first(store, admin):
    created = customers.create_customer(store, admin, customer_input())
    customers.edit_customer(store, admin, "C-1", {"job_title": "Admiral"})
    with store.write() as session:
        record_event(session, admin, created.id, EventType.NOTE, text="called about billing")
    events = list_events(store, admin, created.id)
    assert [e.type for e in events] == ["note", "customer_edited", "customer_created"]
    assert events[0].attributes == {"text": "called about billing"}
