"""The database itself refuses changes to timeline events (migration 0016), on SQLite and PostgreSQL."""

import pytest
from sqlalchemy import select, text
from sqlalchemy.exc import DBAPIError

from agentdesk.db.models import TimelineEvent
from agentdesk.services.customers import records as customers

from ..conftest import customer_input
from ..support.tamper import disable_timeline_guard


def _titles(store) -> list[str]:
    with store.read() as s:
        return list(s.execute(select(TimelineEvent.title).order_by(TimelineEvent.id)).scalars())


@pytest.mark.parametrize("statement", [
    "UPDATE timeline_event SET title = 'nothing happened'",
    "UPDATE timeline_event SET actor_label = 'someone else', hash = NULL",
    "DELETE FROM timeline_event",
])
def test_the_database_refuses_to_change_or_delete_an_event(store, admin, statement):
    customers.create_customer(store, admin, customer_input())
    customers.edit_customer(store, admin, "C-1", {"job_title": "Rear Admiral"})
    before = _titles(store)
    assert len(before) == 2
    with pytest.raises(DBAPIError, match="append-only"), store.engine.begin() as conn:
        conn.execute(text(statement))
    assert _titles(store) == before


@pytest.mark.pg
def test_postgresql_refuses_truncate(pg_url):
    from ..conftest import make_store

    store = make_store(pg_url)
    try:
        with pytest.raises(DBAPIError, match="append-only"), store.engine.begin() as conn:
            conn.execute(text("TRUNCATE timeline_event CASCADE"))
    finally:
        store.dispose()


def test_new_events_are_still_added(store, admin):
    customers.create_customer(store, admin, customer_input())
    customers.edit_customer(store, admin, "C-1", {"job_title": "Rear Admiral"})
    customers.edit_customer(store, admin, "C-1", {"job_title": "Commodore"})
    assert _titles(store) == ["Customer created", "Customer edited", "Customer edited"]


def test_an_attacker_with_schema_rights_must_first_remove_the_guard(store, admin):
    customers.create_customer(store, admin, customer_input())
    with store.engine.begin() as conn:
        removed = disable_timeline_guard(conn)
        conn.execute(text("UPDATE timeline_event SET title = 'nothing happened'"))
    assert removed
    assert _titles(store) == ["nothing happened"]
