"""Append-only timelines, the write guard and the hash chain."""

import pytest
from sqlalchemy import select, text

from agentdesk.db.models import Customer, CustomerEmail, TimelineEvent
from agentdesk.db.store import AppendOnlyViolation, MissingTimelineEvent
from agentdesk.demo import builder as demo
from agentdesk.services.agents import identity
from agentdesk.services.customers import records as customers
from agentdesk.services.customers import tags
from agentdesk.services.timeline import audit
from agentdesk.services.timeline import chain as timeline_chain
from agentdesk.services.timeline.catalog import EventType
from agentdesk.services.timeline.record import record_event

from ..conftest import customer_input
from ..support.tamper import disable_timeline_guard


def test_a_customer_write_without_its_event_cannot_commit(store, admin):
    customers.create_customer(store, admin, customer_input())
    with pytest.raises(MissingTimelineEvent), store.write() as s:
        customer = s.execute(select(Customer)).scalar_one()
        s.add(CustomerEmail(customer_id=customer.id, address="sneaky@example.com"))
    with store.read() as s:
        assert s.execute(select(CustomerEmail.address)).scalars().all() == ["grace@example.com",
                                                                            "g.hopper@navy.example"]
    with store.write() as s:
        customer = s.execute(select(Customer)).scalar_one()
        s.add(CustomerEmail(customer_id=customer.id, address="ok@example.com"))
        record_event(s, admin, customer.id, EventType.CUSTOMER_EDITED, changes={"emails": {"added": "ok@example.com"}})


def test_events_cannot_be_changed_or_deleted(store, admin):
    customers.create_customer(store, admin, customer_input())
    with pytest.raises(AppendOnlyViolation), store.write() as s:
        event = s.execute(select(TimelineEvent)).scalars().first()
        event.title = "nothing happened"
    with pytest.raises(AppendOnlyViolation), store.write() as s:
        s.delete(s.execute(select(TimelineEvent)).scalars().first())
    with store.read() as s:
        assert s.execute(select(TimelineEvent.title)).scalars().all() == ["Customer created"]


def chain_ok(store, admin, customer=None):
    return audit.verify_chains(store, admin, customer)


def test_service_writes_extend_the_chain(store, admin):
    customers.create_customer(store, admin, customer_input())
    customers.edit_customer(store, admin, "C-1", {"job_title": "Rear Admiral"})
    tags.add_tag(store, admin, "C-1", "vip")
    checked, breaks = chain_ok(store, admin, "C-1")
    assert checked == 3 and breaks == []
    with store.read() as s:
        rows = s.execute(select(TimelineEvent).order_by(TimelineEvent.id)).scalars().all()
    assert rows[0].prev_hash == timeline_chain.GENESIS
    assert [r.prev_hash for r in rows[1:]] == [r.hash for r in rows[:-1]]


@pytest.fixture
def chained(sqlite_store):
    demo.build_demo(sqlite_store, 40, seed=6, login="op")
    op = identity.resolve_actor(sqlite_store, "op")
    checked, breaks = audit.verify_chains(sqlite_store, op)
    assert breaks == [] and checked > 100
    with sqlite_store.read() as s:
        cid, external = s.execute(text(
            "SELECT c.id, c.external_id FROM customer c JOIN timeline_event e ON e.customer_id = c.id "
            "GROUP BY c.id, c.external_id HAVING COUNT(*) >= 4 ORDER BY c.id LIMIT 1")).one()
        ids = s.execute(text("SELECT id FROM timeline_event WHERE customer_id = :c ORDER BY id"),
                        {"c": cid}).scalars().all()
    return sqlite_store, op, external, ids


def test_a_changed_row_is_detected(chained):
    store, op, external, ids = chained
    with store.engine.begin() as conn:  # straight at the database, past every service
        disable_timeline_guard(conn)
        conn.exec_driver_sql("UPDATE timeline_event SET actor_label = 'nobody' WHERE id = ?", (ids[1],))
    _, breaks = audit.verify_chains(store, op)
    assert [(b.customer, b.event_id) for b in breaks] == [(external, ids[1])]
    assert "changed" in breaks[0].problem


def test_a_deleted_row_is_detected(chained):
    store, op, external, ids = chained
    with store.engine.begin() as conn:
        disable_timeline_guard(conn)
        conn.exec_driver_sql("DELETE FROM timeline_event WHERE id = ?", (ids[1],))
    _, breaks = audit.verify_chains(store, op, external)
    assert [(b.customer, b.event_id) for b in breaks] == [(external, ids[2])]


def test_reordered_rows_are_detected(chained):
    store, op, external, ids = chained
    with store.engine.begin() as conn:
        disable_timeline_guard(conn)
        read = "SELECT type, title, attributes, occurred_at FROM timeline_event WHERE id = ?"
        a = conn.exec_driver_sql(read, (ids[1],)).one()
        b = conn.exec_driver_sql(read, (ids[2],)).one()
        for target, row in ((ids[1], b), (ids[2], a)):
            conn.exec_driver_sql(
                "UPDATE timeline_event SET type = ?, title = ?, attributes = ?, occurred_at = ? WHERE id = ?",
                (*row, target))
    _, breaks = audit.verify_chains(store, op, external)
    assert breaks and breaks[0].event_id == ids[1]


def test_audit_cli(chained, capsys, monkeypatch):
    from agentdesk import cli

    store, _, external, ids = chained
    monkeypatch.setattr(identity, "os_login", lambda: "op")
    assert cli.main(["--db", store.url, "audit", "verify"]) == 0
    assert "every chain intact" in capsys.readouterr().out
    with store.engine.begin() as conn:
        disable_timeline_guard(conn)
        conn.exec_driver_sql("UPDATE timeline_event SET attributes = '{\"forged\": 1}' WHERE id = ?", (ids[0],))
    assert cli.main(["--db", store.url, "audit", "verify", external]) == 1
    captured = capsys.readouterr()
    assert f"{external}: changed: event {ids[0]}: its content was changed" in captured.out
    assert "TAMPERED: 1 finding(s) (changed) in 1 customer(s)" in captured.err
