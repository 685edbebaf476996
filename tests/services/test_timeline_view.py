"""Timeline pages, filters, notes, mentions, attachments and links."""

import json
import os
from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import select

from agentdesk.config import load_settings
from agentdesk.db.models import Customer, TimelineEvent
from agentdesk.domain.enums import Role
from agentdesk.domain.errors import InvalidInput, PermissionDenied
from agentdesk.domain.permissions import SYSTEM
from agentdesk.services.customers import records as customers
from agentdesk.services.timeline import attachments
from agentdesk.services.timeline import notes as timeline_notes
from agentdesk.services.timeline.catalog import EventType
from agentdesk.services.timeline.read import TimelineFilter, cursor_of, timeline_page
from agentdesk.services.timeline.record import record_event

from ..conftest import customer_input, policy

START = datetime(2026, 1, 1, tzinfo=UTC)
KINDS = [EventType.NOTE, EventType.EMAIL_SENT, EventType.MANUAL_CHARGE]


@pytest.fixture
def busy(store, admin):
    """A customer with 257 events over 257 hours, cycling through three types, some sharing a timestamp."""
    customers.create_customer(store, admin, customer_input())
    with store.write() as s:
        cid = s.execute(select(Customer.id)).scalar_one()
        for n in range(257):
            kind = KINDS[n % 3]
            when = START + timedelta(hours=n - n % 2)
            attrs = {
                EventType.NOTE: {"text": f"note number {n}"},
                EventType.EMAIL_SENT: {"subject": f"receipt {n}", "to": "grace@example.com"},
                EventType.MANUAL_CHARGE: {"amount": n, "currency": "USD"},
            }[kind]
            record_event(s, SYSTEM, cid, kind, occurred_at=when, **attrs)
    return store


def walk(store, actor, f, limit):
    page = timeline_page(store, actor, "C-1", f, limit)
    seen = list(page.entries)
    while page.more:
        page = timeline_page(store, actor, "C-1", f, limit, after=cursor_of(seen[-1]))
        seen += page.entries
    return seen


def expected(store, types=None, since=None, until=None):
    with store.read() as s:
        rows = (
            s.execute(select(TimelineEvent).order_by(TimelineEvent.occurred_at.desc(), TimelineEvent.id.desc()))
            .scalars()
            .all()
        )
    out = []
    for r in rows:
        if types and r.type not in types:
            continue
        if since and r.occurred_at.date() < since:
            continue
        if until and r.occurred_at.date() > until:
            continue
        out.append(r.id)
    return out


@pytest.mark.parametrize("limit", [1, 7, 50, 258])
def test_pages_return_exactly_the_events_in_order(busy, admin, limit):
    assert [e.id for e in walk(busy, admin, TimelineFilter(), limit)] == expected(busy)


@pytest.mark.parametrize("types", [{"note"}, {"email_sent", "manual_charge"}])
def test_type_filter_at_page_boundaries(busy, admin, types):
    got = walk(busy, admin, TimelineFilter(frozenset(types)), 10)
    assert [e.id for e in got] == expected(busy, types) and {e.type for e in got} == types


def test_date_filter_and_text_search(busy, admin):
    since, until = date(2026, 1, 3), date(2026, 1, 5)
    got = walk(busy, admin, TimelineFilter(since=since, until=until), 9)
    assert [e.id for e in got] == expected(busy, since=since, until=until)
    assert got and all(since <= e.occurred_at.date() <= until for e in got)
    found = walk(busy, admin, TimelineFilter(text="NUMBER 12"), 5)
    wanted = sorted(f"note number {n}" for n in range(257) if n % 3 == 0 and str(n).startswith("12"))
    assert sorted(e.attributes["text"] for e in found) == wanted and len(wanted) == 5


def test_backward_pages_return_to_the_newest(busy, admin):
    forward = walk(busy, admin, TimelineFilter(), 20)
    page = timeline_page(busy, admin, "C-1", None, 20, after=cursor_of(forward[100]), backward=True)
    assert [e.id for e in page.entries] == [e.id for e in forward[80:100]]


def test_bad_filters():
    with pytest.raises(InvalidInput, match="unknown event type"):
        TimelineFilter(frozenset({"party"}))
    with pytest.raises(InvalidInput, match="ends before"):
        TimelineFilter(since=date(2026, 2, 1), until=date(2026, 1, 1))


def test_note_with_mentions_reaches_the_agent(store, actors):
    admin, agent = actors[Role.ADMIN], actors[Role.AGENT]
    customers.create_customer(store, admin, customer_input())
    entry = timeline_notes.add_note(store, admin, "C-1", "Called twice.\nAsk @cara about the refund.")
    assert entry.attributes["mentions"] == ["cara"]
    mentions = timeline_notes.my_mentions(store, agent)
    assert [(m.customer, m.by) for m in mentions] == [("C-1", "ada")] and "Ask @cara" in mentions[0].text
    assert timeline_notes.my_mentions(store, admin) == []
    timeline_notes.mark_mentions_seen(store, agent, [m.id for m in mentions])
    assert timeline_notes.my_mentions(store, agent) == []
    with pytest.raises(InvalidInput, match="@nobody"):
        timeline_notes.add_note(store, admin, "C-1", "hello @nobody")
    with pytest.raises(InvalidInput, match="empty"):
        timeline_notes.add_note(store, admin, "C-1", "   ")
    with pytest.raises(PermissionDenied):
        timeline_notes.add_note(store, actors[Role.FINANCE], "C-1", "finance may only read")
    fix = timeline_notes.add_note(store, admin, "C-1", "Correction: it was three calls.", corrects=entry.id)
    assert fix.attributes["corrects"] == entry.id


def test_attachments_round_trip_and_oversize_is_refused(store, admin, tmp_path):
    policy(store, {"attachment_limit": "4096"})
    settings = load_settings(store.url, env={"AGENTDESK_DATA_DIR": str(tmp_path / "data")})
    customers.create_customer(store, admin, customer_input())
    original = tmp_path / "id-card.png"
    payload = os.urandom(3000) + b"\x00\xff" * 10
    original.write_bytes(payload)
    entry = attachments.add_attachment(store, admin, settings, "C-1", original, "front side")
    assert entry.attributes["size"] == len(payload) and entry.attributes["content_type"] == "image/png"
    again = attachments.add_attachment(store, admin, settings, "C-1", original)
    assert len(list((tmp_path / "data" / "attachments").iterdir())) == 1, "stored once by content"
    out = attachments.save_attachment(store, admin, settings, again.attributes["attachment"], tmp_path / "copy.png")
    assert out.read_bytes() == payload
    big = tmp_path / "big.bin"
    big.write_bytes(b"x" * 5000)
    with pytest.raises(InvalidInput, match="limit is 4,096"):
        attachments.add_attachment(store, admin, settings, "C-1", big)
    with pytest.raises(InvalidInput, match="not a readable file"):
        attachments.add_attachment(store, admin, settings, "C-1", tmp_path / "missing.pdf")


def test_links_to_customers_and_transactions(store, admin):
    customers.create_customer(store, admin, customer_input())
    customers.create_customer(store, admin, customer_input(external_id="C-2", emails=[]))
    entry = timeline_notes.add_link(store, admin, "C-1", "customer", "C-2", "same household")
    assert entry.attributes == {
        "kind": "customer",
        "target": "C-2",
        "target_id": entry.attributes["target_id"],
        "text": "same household",
    }
    with pytest.raises(InvalidInput, match="no transaction"):
        timeline_notes.add_link(store, admin, "C-1", "transaction", "424242")
    with pytest.raises(InvalidInput, match="itself"):
        timeline_notes.add_link(store, admin, "C-1", "customer", "C-1")


def test_timeline_and_note_cli(busy, capsys, monkeypatch):
    from agentdesk import cli
    from agentdesk.services.agents import identity

    monkeypatch.setattr(identity, "os_login", lambda: "ada")
    assert cli.main(["--db", busy.url, "note", "C-1", "from the command line"]) == 0
    assert cli.main(["--db", busy.url, "timeline", "C-1", "--type", "note", "--limit", "3", "--json"]) == 0
    out = capsys.readouterr().out
    rows = json.loads(out[out.index("[") :])
    assert [r["type"] for r in rows] == ["note"] * 3 and rows[0]["attributes"]["text"] == "from the command line"
    assert (
        cli.main(["--db", busy.url, "timeline", "C-1", "--since", "2026-01-02", "--until", "2026-01-02", "--json"]) == 0
    )
    rows = json.loads(capsys.readouterr().out)
    assert rows and all(r["occurred_at"].startswith("2026-01-02") for r in rows)
    assert cli.main(["--db", busy.url, "timeline", "C-1", "--since", "soon"]) == 1
    assert "since" in capsys.readouterr().err
