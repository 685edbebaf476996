"""Tamper evidence: each customer's events form a hash chain.

An event's hash is sha256 over the previous event's hash and the event's own
content (type, title, actor, time, attributes) in a canonical JSON form. The
chain runs in id order. Changing a row breaks its own hash; deleting one
breaks the next event's link; swapping two breaks both.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Row, bindparam, update
from sqlalchemy import select as sa_select
from sqlalchemy.engine import Connection
from sqlmodel import Session, col, select

from agentdesk.db.models import Customer, TimelineEvent, table_of

GENESIS = "0" * 64
_EVENTS = table_of(TimelineEvent)


def _when(value: datetime | str) -> str:
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def event_hash(prev_hash: str, customer_id: int, type_: str, title: str, actor_agent_id: int | None,
               actor_label: str, occurred_at: datetime | str, attributes: dict[str, Any] | str) -> str:
    if isinstance(attributes, str):
        attributes = json.loads(attributes)
    content = json.dumps(
        [customer_id, type_, title, actor_agent_id, actor_label, _when(occurred_at), attributes],
        sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str,
    )
    return hashlib.sha256((prev_hash + content).encode()).hexdigest()


def _last_hash(session: Session, customer_id: int) -> str:
    chain: dict[int, str] = session.info.setdefault("chain_heads", {})
    if customer_id in chain:
        return chain[customer_id]
    if session.get_bind().dialect.name == "postgresql":
        # Serialise writers of one customer's chain: the second waits, then reads the new head.
        session.exec(select(Customer.id).where(Customer.id == customer_id).with_for_update())
    head = session.exec(
        select(TimelineEvent.hash).where(TimelineEvent.customer_id == customer_id, col(TimelineEvent.hash).is_not(None))
        .order_by(col(TimelineEvent.id).desc()).limit(1)
    ).one_or_none()
    return head or GENESIS


def link(session: Session, event: TimelineEvent) -> None:
    """Set the new event's place in its customer's chain (call before it is flushed)."""
    prev = _last_hash(session, event.customer_id)
    event.prev_hash = prev
    event.hash = event_hash(prev, event.customer_id, event.type, event.title, event.actor_agent_id,
                            event.actor_label, event.occurred_at, event.attributes)
    session.info["chain_heads"][event.customer_id] = event.hash


@dataclass(frozen=True)
class Break:
    customer_id: int
    event_id: int
    problem: str


def _walk(rows: list[Row[Any]]) -> Break | None:
    prev = GENESIS
    for row in rows:
        if row.prev_hash != prev:
            return Break(row.customer_id, row.id, "its link to the previous event does not match "
                         "(an event before it was changed, removed or moved)")
        expected = event_hash(prev, row.customer_id, row.type, row.title, row.actor_agent_id, row.actor_label,
                              row.occurred_at, row.attributes)
        if row.hash != expected:
            return Break(row.customer_id, row.id, "its content does not match its hash (the event was changed)")
        prev = row.hash
    return None


def verify(connection: Connection, customer_id: int | None = None) -> tuple[int, list[Break]]:
    """Walk the chains (one customer's, or every customer's); returns (events checked, first break of each chain)."""
    t = _EVENTS
    columns = [t.c[name] for name in
               ("id", "customer_id", "type", "title", "actor_agent_id", "actor_label", "occurred_at", "attributes",
                "prev_hash", "hash")]
    query = sa_select(*columns).order_by(t.c.customer_id, t.c.id)
    if customer_id is not None:
        query = query.where(t.c.customer_id == customer_id)
    breaks: list[Break] = []
    checked = 0
    current: int | None = None
    batch: list[Row[Any]] = []
    for row in connection.execute(query.execution_options(yield_per=5000)):
        checked += 1
        if row.customer_id != current:
            if batch and (found := _walk(batch)):
                breaks.append(found)
            current, batch = row.customer_id, []
        batch.append(row)
    if batch and (found := _walk(batch)):
        breaks.append(found)
    return checked, breaks


def backfill(connection: Connection, batch: int = 5000) -> int:
    """Chain every event that has no hash yet (a store from before the chain existed)."""
    t = _EVENTS
    heads: dict[int, str] = {}
    done = 0
    last_id = 0
    while True:
        rows = connection.execute(
            sa_select(t.c.id, t.c.customer_id, t.c.type, t.c.title, t.c.actor_agent_id, t.c.actor_label,
                      t.c.occurred_at, t.c.attributes).where(t.c.id > last_id).order_by(t.c.id).limit(batch)
        ).all()
        if not rows:
            return done
        updates: list[dict[str, Any]] = []
        for row in rows:
            prev = heads.get(row.customer_id, GENESIS)
            digest = event_hash(prev, row.customer_id, row.type, row.title, row.actor_agent_id, row.actor_label,
                                row.occurred_at, row.attributes)
            heads[row.customer_id] = digest
            updates.append({"event_id": row.id, "p": prev, "h": digest})
        connection.execute(
            update(t).where(t.c.id == bindparam("event_id")).values(prev_hash=bindparam("p"), hash=bindparam("h")),
            updates,
        )
        done += len(rows)
        last_id = rows[-1].id
