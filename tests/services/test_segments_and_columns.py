import pytest

from agentdesk.domain.enums import Role
from agentdesk.domain.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from agentdesk.services.customers import preferences, segments
from agentdesk.services.customers.columns import DEFAULT_COLUMNS
from agentdesk.services.customers.filters import CustomerQuery, Segment, SortKey, parse_filters


def test_saved_segments_are_private_or_shared(store, actors):
    agent, sales, admin = actors[Role.AGENT], actors[Role.SALES], actors[Role.ADMIN]
    query = CustomerQuery(Segment.CUSTOMERS, "", parse_filters({"country": "US", "tag": "vip"}), SortKey.LIFETIME_VALUE)
    mine = segments.create_segment(store, agent, "US VIPs", query)
    shared = segments.create_segment(
        store, agent, "Big spenders", CustomerQuery(sort=SortKey.LIFETIME_VALUE), shared=True
    )
    assert [s.name for s in segments.list_segments(store, agent)] == ["Big spenders", "US VIPs"]
    assert [s.name for s in segments.list_segments(store, sales)] == ["Big spenders"]
    assert segments.list_segments(store, agent)[1].query == query
    with pytest.raises(Conflict):
        segments.create_segment(store, agent, "US VIPs", query)
    with pytest.raises(InvalidInput):
        segments.create_segment(store, agent, "  ", query)
    with pytest.raises(NotFound):
        segments.rename_segment(store, sales, mine.id, "mine now")
    with pytest.raises(PermissionDenied):
        segments.delete_segment(store, sales, shared.id)
    assert segments.rename_segment(store, admin, shared.id, "Best customers").name == "Best customers"
    assert segments.rename_segment(store, agent, mine.id, "US VIP").name == "US VIP"
    segments.delete_segment(store, agent, mine.id)
    assert [s.name for s in segments.list_segments(store, agent)] == ["Best customers"]


def test_columns_are_remembered_per_agent(store, actors):
    agent, sales = actors[Role.AGENT], actors[Role.SALES]
    assert preferences.table_columns(store, agent) == DEFAULT_COLUMNS
    preferences.set_table_columns(store, agent, ["ltv", "name", "id"])
    preferences.set_table_columns(store, agent, ["name", "ltv", "last_payment"])
    assert preferences.table_columns(store, agent) == ["name", "ltv", "last_payment"]
    assert preferences.table_columns(store, sales) == DEFAULT_COLUMNS
    for bad in ([], ["name", "name"], ["shoe size"]):
        with pytest.raises(InvalidInput):
            preferences.set_table_columns(store, agent, bad)
    assert preferences.table_columns(store, agent) == ["name", "ltv", "last_payment"]
