"""Tamper evidence: each customer's events form a chain of keyed hashes.

An event's hash covers the previous event's hash and the event's own content
(type, title, actor, time, attributes, the money rows it recorded) in a
canonical JSON form; the chain runs in id order. Since the store was keyed, the
hash is an HMAC-SHA256 with the service key (`hash_version` 2), so nobody
without the key can write an event, or rewrite one, that verifies. Events from
before (version 1, plain sha256) stay verifiable as they are: the first keyed
event of a chain covers their last hash, and the first checkpoint pins chains
that have none yet. A version-1 event after the store was keyed is a forgery.

`walk` names what is wrong with one chain; comparing with the checkpoints
(what was there before) is `services.timeline.audit`'s job.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Row, bindparam, update
from sqlalchemy import select as sa_select
from sqlalchemy.engine import Connection
from sqlmodel import Session, col, select

from agentdesk.db.keys import ServiceKey, utc_text
from agentdesk.db.models import Customer, TimelineEvent, table_of

GENESIS = "0" * 64
UNKEYED = 1
KEYED = 2
_EVENTS = table_of(TimelineEvent)
EVENT_COLUMNS = ("id", "customer_id", "type", "title", "actor_agent_id", "actor_label", "occurred_at", "attributes",
                 "prev_hash", "hash", "hash_version", "bound_rows")

FORGED = "forged"
CHANGED = "changed"
DELETED = "deleted"
TRUNCATED = "truncated"
EVENT_KINDS = (FORGED, CHANGED, DELETED, TRUNCATED)


def _when(value: datetime | str) -> str:
    return utc_text(value)


def _json(value: object) -> object:
    return json.loads(value) if isinstance(value, str) else value


def event_hash(prev_hash: str, customer_id: int, type_: str, title: str, actor_agent_id: int | None,
               actor_label: str, occurred_at: datetime | str, attributes: dict[str, Any] | str) -> str:
    """The unkeyed (version 1) hash of events written before the store was keyed."""
    content = json.dumps(
        [customer_id, type_, title, actor_agent_id, actor_label, _when(occurred_at), _json(attributes)],
        sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str,
    )
    return hashlib.sha256((prev_hash + content).encode()).hexdigest()


def keyed_event_hash(key: ServiceKey, prev_hash: str, customer_id: int, type_: str, title: str,
                     actor_agent_id: int | None, actor_label: str, occurred_at: datetime | str,
                     attributes: dict[str, Any] | str, bound_rows: list[Any] | str | None) -> str:
    """HMAC(key, prev_hash + content): the hash of every event written since the store was keyed."""
    content = json.dumps(
        [KEYED, customer_id, type_, title, actor_agent_id, actor_label, _when(occurred_at), _json(attributes),
         _json(bound_rows) or []],
        sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str,
    )
    return key.mac("timeline-event:" + prev_hash + content)


def _last_hash(session: Session, customer_id: int) -> str:
    chain: dict[int, str] = session.info.setdefault("chain_heads", {})
    if customer_id in chain:
        return chain[customer_id]
    if session.get_bind().dialect.name == "postgresql":
        # Serialise writers of one customer's chain: the second waits, then reads the new head. NO KEY UPDATE
        # (as in money.aggregates) never conflicts with the KEY SHARE a foreign-key insert already holds.
        session.exec(select(Customer.id).where(Customer.id == customer_id).with_for_update(key_share=True))
    head = session.exec(
        select(TimelineEvent.hash).where(TimelineEvent.customer_id == customer_id, col(TimelineEvent.hash).is_not(None))
        # `id + 0`: ordered by the id itself, PostgreSQL walks the primary key backwards until it meets this
        # customer (the whole table for an old customer); this way it reads the customer's index entries.
        .order_by((col(TimelineEvent.id) + 0).desc()).limit(1)
    ).one_or_none()
    return head or GENESIS


def prefetch_heads(session: Session, customer_ids: list[int]) -> None:
    """The chain heads of many customers in two queries, for a transaction that records events for each of
    them (on PostgreSQL their rows are locked first, in id order, as `_last_hash` does one at a time)."""
    chain: dict[int, str] = session.info.setdefault("chain_heads", {})
    ids = sorted(set(customer_ids) - set(chain))
    if not ids:
        return
    if session.get_bind().dialect.name == "postgresql":
        session.exec(select(Customer.id).where(col(Customer.id).in_(ids)).order_by(col(Customer.id))
                     .with_for_update(key_share=True)).all()
    from sqlalchemy import func

    newest = session.exec(select(TimelineEvent.customer_id, func.max(TimelineEvent.id)).where(
        col(TimelineEvent.customer_id).in_(ids), col(TimelineEvent.hash).is_not(None))
        .group_by(col(TimelineEvent.customer_id))).all()
    heads = dict(session.exec(select(TimelineEvent.customer_id, TimelineEvent.hash).where(
        col(TimelineEvent.id).in_([event_id for _, event_id in newest]))).all()) if newest else {}
    for customer_id in ids:
        chain[customer_id] = heads.get(customer_id) or GENESIS


def link(session: Session, event: TimelineEvent, key: ServiceKey) -> None:
    """Set the new event's place in its customer's chain, with its keyed hash (call before it is flushed)."""
    prev = _last_hash(session, event.customer_id)
    event.prev_hash = prev
    event.hash_version = KEYED
    event.hash = keyed_event_hash(key, prev, event.customer_id, event.type, event.title, event.actor_agent_id,
                                  event.actor_label, event.occurred_at, event.attributes, event.bound_rows)
    session.info["chain_heads"][event.customer_id] = event.hash


@dataclass(frozen=True)
class Break:
    customer_id: int
    event_id: int | None
    kind: str
    """forged, changed, deleted or truncated (or a money row's finding, see `audit`)."""
    problem: str


def content_matches(row: Row[Any], key: ServiceKey) -> bool:
    if (row.hash_version or UNKEYED) == KEYED:
        expected = keyed_event_hash(key, row.prev_hash or "", row.customer_id, row.type, row.title,
                                    row.actor_agent_id, row.actor_label, row.occurred_at, row.attributes,
                                    row.bound_rows)
    else:
        expected = event_hash(row.prev_hash or "", row.customer_id, row.type, row.title, row.actor_agent_id,
                              row.actor_label, row.occurred_at, row.attributes)
    return row.hash == expected


def walk(rows: list[Row[Any]], key: ServiceKey, keyed_from_event: int, pinned_hashes: frozenset[str] = frozenset(),
         ) -> list[Break]:
    """What is wrong with one customer's chain (its rows in id order).

    A broken link means an event before this one was deleted or moved. A hash that does not match its
    content is "changed" when something trustworthy still vouches for that hash (the next event, itself
    intact, links to it; or a checkpoint pinned it): only the content was edited. Otherwise the hash was
    rewritten, or the event written, without the key: "forged". Every event goes through the checks, so
    one edit does not hide the next."""
    matches = [content_matches(row, key) for row in rows]
    found: list[Break] = []
    prev = GENESIS
    keyed_seen = False
    since = f" (after event {keyed_from_event})" if keyed_from_event else ""
    for i, row in enumerate(rows):
        if row.prev_hash != prev:
            found.append(Break(row.customer_id, row.id, DELETED,
                               "its link to the previous event does not match: an event before it was deleted, "
                               "or moved, or its hash rewritten"))
        keyed = (row.hash_version or UNKEYED) == KEYED
        if not keyed and (keyed_seen or row.id > keyed_from_event):
            found.append(Break(row.customer_id, row.id, FORGED,
                               f"an unkeyed hash on an event written since the store was keyed{since}: it was "
                               "written or rewritten without the service key"))
        elif not matches[i]:
            vouched = (i + 1 < len(rows) and rows[i + 1].prev_hash == row.hash and matches[i + 1]
                       and (rows[i + 1].hash_version or UNKEYED) == KEYED) or row.hash in pinned_hashes
            if vouched:
                found.append(Break(row.customer_id, row.id, CHANGED,
                                   "its content was changed: it no longer matches its hash"))
            elif keyed:
                found.append(Break(row.customer_id, row.id, FORGED,
                                   "its hash is not the service key's MAC of its content: it was written or "
                                   "rewritten without the key"))
            else:
                found.append(Break(row.customer_id, row.id, CHANGED,
                                   "its content does not match its hash (the event was changed)"))
        keyed_seen = keyed_seen or keyed
        prev = row.hash
    return found


def customer_chains(connection: Connection, customer_id: int | None = None) -> Iterator[list[Row[Any]]]:
    """Every customer's events in id order, one customer at a time (or one customer's)."""
    t = _EVENTS
    query = sa_select(*(t.c[name] for name in EVENT_COLUMNS)).order_by(t.c.customer_id, t.c.id)
    if customer_id is not None:
        query = query.where(t.c.customer_id == customer_id)
    current: int | None = None
    batch: list[Row[Any]] = []
    for row in connection.execute(query.execution_options(yield_per=5000)):
        if row.customer_id != current:
            if batch:
                yield batch
            current, batch = row.customer_id, []
        batch.append(row)
    if batch:
        yield batch


def backfill(connection: Connection, batch: int = 5000) -> int:
    """Chain (unkeyed) every event that has no hash yet: a store from before the chain existed (migration 0006)."""
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
