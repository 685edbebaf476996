"""The change feed behind live refresh (issue 16), on SQLite and PostgreSQL.

A second `Store` on the same database stands for another console (its own engine and sessions): what it
commits through a service reaches the feed; nothing is reported when nothing changed; a mention reaches
the mentioned agent's feed only.
"""

from __future__ import annotations

import queue

import pytest

from agentdesk.db.store import Store
from agentdesk.domain.enums import Role
from agentdesk.services.changes import ChangeFeed, Changes
from agentdesk.services.customers import records, tags
from agentdesk.services.timeline import notes

from ..conftest import customer_input

WAIT = 10.0
"""Upper bound of a wait for a change that must come (it usually takes one poll)."""


@pytest.fixture
def people(store, actors):
    admin = actors[Role.ADMIN]
    first = records.create_customer(store, admin, customer_input())
    second = records.create_customer(store, admin, customer_input(external_id="C-2", first_name="Alan",
                                                                  last_name="Turing", emails=[], phones=[]))
    return {"first": first.id, "second": second.id}


@pytest.fixture
def other_console(store):
    """The same database through another engine: another console's sessions."""
    other = Store(store.url, key_file=store.key_path)
    yield other
    other.dispose()


def poll_until(feed: ChangeFeed, wanted: set[int]) -> Changes:
    """Poll until every customer in `wanted` was reported (or `WAIT` ran out); everything seen, merged."""
    seen: set[int] = set()
    mentions = []
    resync = False
    for _ in range(int(WAIT / 0.5)):
        changes = feed.poll(0.5)
        seen |= changes.customers
        mentions += changes.mentions
        resync |= changes.resync
        if wanted <= seen:
            break
    return Changes(frozenset(seen), tuple(mentions), resync)


def test_a_change_by_another_console_is_reported_and_nothing_else(store, actors, people, other_console):
    with ChangeFeed(store, actors[Role.AGENT], interval=0.05) as feed:
        assert not feed.poll(0.3)
        tags.add_tag(other_console, actors[Role.ADMIN], "C-1", "vip")
        changes = poll_until(feed, {people["first"]})
        assert changes.customers == {people["first"]}
        assert changes.mentions == ()
        assert not changes.resync
        assert not feed.poll(0.3), "a change is reported once"


def test_changes_made_before_the_feed_opened_are_not_reported(store, actors, people):
    notes.add_note(store, actors[Role.ADMIN], "C-2", "before")
    with ChangeFeed(store, actors[Role.AGENT], interval=0.05) as feed:
        assert not feed.poll(0.3)


def test_several_customers_in_one_batch(store, actors, people, other_console):
    with ChangeFeed(store, actors[Role.AGENT], interval=0.05) as feed:
        notes.add_note(other_console, actors[Role.ADMIN], "C-1", "one")
        notes.add_note(other_console, actors[Role.ADMIN], "C-2", "two")
        created = records.create_customer(other_console, actors[Role.ADMIN],
                                          customer_input(external_id="C-3", emails=[], phones=[]))
        changes = poll_until(feed, {people["first"], people["second"], created.id})
        assert changes.customers == {people["first"], people["second"], created.id}


def test_a_mention_reaches_the_mentioned_agent_only(store, actors, people, other_console):
    cara, sam = actors[Role.AGENT], actors[Role.SALES]
    with ChangeFeed(store, cara, interval=0.05) as for_cara, ChangeFeed(store, sam, interval=0.05) as for_sam:
        notes.add_note(other_console, actors[Role.ADMIN], "C-2", "@cara please call back\nabout the refund")
        to_cara = poll_until(for_cara, {people["second"]})
        to_sam = poll_until(for_sam, {people["second"]})
        assert to_sam.customers == to_cara.customers == {people["second"]}
        assert to_sam.mentions == ()
        [notice] = to_cara.mentions
        assert (notice.customer, notice.customer_name, notice.by) == ("C-2", "Alan Turing", "ada")
        assert notice.customer_id == people["second"]
        assert notice.text.startswith("@cara please call back")
        notes.add_note(other_console, actors[Role.ADMIN], "C-2", "no mention this time")
        assert poll_until(for_cara, {people["second"]}).mentions == (), "a mention is reported once"


def test_the_thread_delivers_changes_and_stops(store, actors, people, other_console):
    feed = ChangeFeed(store, actors[Role.AGENT], interval=0.05)
    delivered: queue.Queue[Changes] = queue.Queue()
    feed.start(delivered.put)
    try:
        assert feed.ready.wait(WAIT)
        tags.add_tag(other_console, actors[Role.ADMIN], "C-2", "gold")
        changes = delivered.get(timeout=WAIT)
        assert people["second"] in changes.customers
    finally:
        feed.stop()
    assert feed._thread is None and not feed._open


def test_rows_by_id_reads_the_table_rows_of_changed_customers(store, actors, people):
    from agentdesk.services.customers.search import rows_by_id

    tags.add_tag(store, actors[Role.ADMIN], "C-2", "vip")
    rows = rows_by_id(store, actors[Role.AGENT], [people["second"], people["first"], 2**40, -1, people["second"]])
    assert [(r.id, r.external_id, r.name) for r in rows] == [(people["first"], "C-1", "Grace Hopper"),
                                                             (people["second"], "C-2", "Alan Turing")]
    assert rows_by_id(store, actors[Role.AGENT], []) == []


def test_a_feed_needs_a_role_that_sees_customers(store, actors):
    from agentdesk.domain.errors import PermissionDenied
    from agentdesk.domain.permissions import Actor

    with pytest.raises(PermissionDenied):
        ChangeFeed(store, Actor(None, "someone", "Someone", Role.ADMIN, customer=True))


def test_sqlite_misses_nothing_across_a_reconnection(sqlite_store):
    """The change log is read from the last sequence seen, whatever happened while the feed was away."""
    from ..conftest import add_roles, add_website

    add_website(sqlite_store)
    admin = add_roles(sqlite_store)[Role.ADMIN]
    customer = records.create_customer(sqlite_store, admin, customer_input())
    with ChangeFeed(sqlite_store, admin, interval=0.05) as feed:
        feed.close()
        notes.add_note(sqlite_store, admin, "C-1", "while the feed was away")
        feed.open()
        assert poll_until(feed, {customer.id}).customers == {customer.id}


@pytest.mark.parametrize("store", [pytest.param("pg", marks=pytest.mark.pg)], indirect=True)
def test_a_dropped_listen_connection_is_reopened_and_says_resync(store, actors, people, other_console):
    from sqlalchemy import text

    feed = ChangeFeed(store, actors[Role.AGENT])
    delivered: queue.Queue[Changes] = queue.Queue()
    feed.start(delivered.put)
    try:
        assert feed.ready.wait(WAIT)
        pid = feed.signals.connection.info.backend_pid  # type: ignore[attr-defined]
        with other_console.engine.begin() as connection:
            connection.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
        assert delivered.get(timeout=WAIT).resync
        notes.add_note(other_console, actors[Role.ADMIN], "C-1", "after the reconnection")
        changes = delivered.get(timeout=WAIT)
        assert changes.customers == {people["first"]} and not changes.resync
    finally:
        feed.stop()
