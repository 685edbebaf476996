"""Which customers changed in the store, as it happens: live refresh for the console (issue 16).

Every timeline event signals its customer from inside the database, in the event's own transaction
(migration 0023): PostgreSQL sends `NOTIFY agentdesk_customer '<id>'` at commit, SQLite upserts
`customer_change(customer_id, seq = event id)`. The store's TimelineGuard makes every customer change
record an event, so the signal covers other consoles, the worker and the portal alike.

`ChangeFeed` turns these signals into `Changes` (customer ids, and new @mentions of the watching agent) on
one dedicated connection: LISTEN on PostgreSQL; on SQLite `PRAGMA data_version` about once a second and the
change log only when it moved. `poll()` is one bounded wait (tests call it directly); `start()` runs it on a
daemon thread that hands every non-empty batch to a callback, so a console's event loop never waits on the
store. A lost connection is reopened; on PostgreSQL what was sent meanwhile is lost, so the first batch after
the reconnection says `resync` (anything may have changed).

Nothing heavy is imported at import time: the console loads this module as it starts.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from agentdesk.domain.permissions import Action, Actor, require

if TYPE_CHECKING:
    from agentdesk.db.store import Store

CHANNEL = "agentdesk_customer"
SQLITE_INTERVAL = 1.0
"""Seconds between two `PRAGMA data_version` checks on SQLite."""
PG_WAIT = 0.5
"""Longest a PostgreSQL wait for a notification lasts before the feed checks whether it should stop."""
RETRY_DELAYS = (1.0, 2.0, 5.0, 10.0, 30.0)
"""Seconds before reconnecting after the first, second… failure in a row (the last repeats)."""
MENTION_TEXT = 120
"""A mention's note is cut to this many characters in the notice."""

log = logging.getLogger("agentdesk.changes")


@dataclass(frozen=True)
class MentionNotice:
    """The watching agent was named with @login in a note on a customer."""

    id: int
    customer_id: int
    customer: str
    """The customer's external id."""
    customer_name: str
    by: str
    text: str


@dataclass(frozen=True)
class Changes:
    customers: frozenset[int] = frozenset()
    mentions: tuple[MentionNotice, ...] = ()
    resync: bool = False
    """The feed lost its connection for a while: any customer may have changed."""

    def __bool__(self) -> bool:
        return bool(self.customers or self.mentions or self.resync)

    def touches(self, customer_id: int) -> bool:
        return self.resync or customer_id in self.customers


class _Signals(Protocol):
    def open(self) -> bool:
        """Connect; True when signals may have been missed since the last connection."""

    def collect(self, wait: float, stop: threading.Event) -> set[int]:
        """The customers signalled, waiting up to `wait` seconds for one (less once `stop` is set)."""

    def close(self) -> None: ...


def _dedicated(store: Store) -> Any:
    """A driver connection made by the store's own engine (same settings), taken out of its pool for good."""
    proxied = store.engine.raw_connection()
    proxied.detach()
    return proxied.dbapi_connection


class _SqliteSignals:
    """`customer_change` read after `PRAGMA data_version` (which moves when another connection commits)."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.connection: Any = None
        self.version: int | None = None
        self.last_seq: int | None = None
        """The newest change read; kept across reconnections, so nothing is missed."""

    def _scalar(self, sql: str, *args: object) -> Any:
        return self.connection.execute(sql, args).fetchone()[0]

    def open(self) -> bool:
        self.connection = _dedicated(self.store)
        if self.last_seq is None:
            self.version = self._scalar("PRAGMA data_version")
            self.last_seq = self._scalar("SELECT coalesce(max(seq), 0) FROM customer_change")
        else:
            self.version = None
        return False

    def collect(self, wait: float, stop: threading.Event) -> set[int]:
        version = self._scalar("PRAGMA data_version")
        if version == self.version:
            stop.wait(wait)
            return set()
        self.version = version
        rows = self.connection.execute(
            "SELECT customer_id, seq FROM customer_change WHERE seq > ? ORDER BY seq", (self.last_seq,)
        ).fetchall()
        if rows:
            self.last_seq = rows[-1][1]
        return {row[0] for row in rows}

    def close(self) -> None:
        if self.connection is not None:
            self.connection.close()
            self.connection = None


class _PostgresSignals:
    """`LISTEN agentdesk_customer` on an autocommit connection of its own."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.connection: Any = None
        self.opened = False

    def open(self) -> bool:
        connection = _dedicated(self.store)
        connection.rollback()
        connection.autocommit = True
        connection.execute(f"LISTEN {CHANNEL}")
        self.connection = connection
        missed, self.opened = self.opened, True
        return missed

    def collect(self, wait: float, stop: threading.Event) -> set[int]:
        payloads = [n.payload for n in self.connection.notifies(timeout=wait, stop_after=1)]
        if payloads:
            payloads += [n.payload for n in self.connection.notifies(timeout=0)]
        return {int(p) for p in payloads if p.isascii() and p.isdigit()}

    def close(self) -> None:
        if self.connection is not None:
            self.connection.close()
            self.connection = None


class ChangeFeed:
    """The customers changed in `store` since the feed opened, and new mentions of `actor`.

    Use as a context manager and `poll()`, or `start(deliver)` on its own thread and `stop()`."""

    def __init__(self, store: Store, actor: Actor, interval: float = SQLITE_INTERVAL) -> None:
        require(actor, Action.VIEW_CUSTOMERS)
        self.store = store
        self.actor = actor
        self.interval = interval if store.is_sqlite else PG_WAIT
        self.signals: _Signals = _SqliteSignals(store) if store.is_sqlite else _PostgresSignals(store)
        self.ready = threading.Event()
        """Set once the feed listens: a change committed after it is reported."""
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._open = False
        self._missed = False
        self._mention_floor: int | None = None
        self._reported: set[int] = set()

    # --- one step at a time -------------------------------------------------------------------

    def open(self) -> None:
        self._missed = self.signals.open() or self._missed
        if self._mention_floor is None:
            self._mention_floor = self._newest_mention()
        self._open = True
        self.ready.set()

    def close(self) -> None:
        self._open = False
        self.signals.close()

    def __enter__(self) -> ChangeFeed:
        self.open()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def poll(self, timeout: float = 0.0) -> Changes:
        """What changed, waiting up to `timeout` seconds for something to (an empty `Changes` if nothing did)."""
        deadline = time.monotonic() + timeout
        customers: set[int] = set()
        while not (customers or self._missed):
            remaining = deadline - time.monotonic()
            customers = self.signals.collect(max(0.0, min(self.interval, remaining)), self._stop)
            if customers or remaining <= 0 or self._stop.is_set():
                break
        resync, self._missed = self._missed, False
        if not (customers or resync):
            return Changes()
        return Changes(frozenset(customers), tuple(self._new_mentions()), resync)

    # --- mentions -----------------------------------------------------------------------------

    def _newest_mention(self) -> int:
        from sqlalchemy import func, select

        from agentdesk.db.models import Mention

        with self.store.read() as session:
            return int(session.execute(select(func.coalesce(func.max(Mention.id), 0))).scalar_one())

    def _new_mentions(self) -> list[MentionNotice]:
        """Mentions of the agent made since the feed opened, not yet reported nor read. The floor stays put
        and reported ids are remembered: on PostgreSQL a smaller id can commit after a larger one."""
        from sqlalchemy import select
        from sqlmodel import col

        from agentdesk.db.models import Customer, Mention, TimelineEvent

        if self.actor.agent_id is None:
            return []
        query = (select(col(Mention.id), col(Mention.customer_id), col(Customer.external_id), col(Customer.first_name),
                        col(Customer.last_name), col(TimelineEvent.actor_label), col(TimelineEvent.attributes))
                 .join(TimelineEvent, col(TimelineEvent.id) == col(Mention.event_id))
                 .join(Customer, col(Customer.id) == col(Mention.customer_id))
                 .where(col(Mention.agent_id) == self.actor.agent_id, col(Mention.id) > (self._mention_floor or 0),
                        col(Mention.seen_at).is_(None))
                 .order_by(col(Mention.id)))
        with self.store.read() as session:
            rows = session.execute(query).all()
        notices = []
        for mention_id, customer_id, external_id, first, last, by, attributes in rows:
            if mention_id in self._reported:
                continue
            self._reported.add(mention_id)
            text = str((attributes or {}).get("text", ""))
            notices.append(MentionNotice(mention_id, customer_id, external_id, f"{first} {last}".strip(), by,
                                         text[:MENTION_TEXT] + ("…" if len(text) > MENTION_TEXT else "")))
        return notices

    # --- on a thread of its own ---------------------------------------------------------------

    def start(self, deliver: Callable[[Changes], object]) -> None:
        """Run on a daemon thread: every non-empty `Changes` goes to `deliver` (called on that thread)."""
        if self._thread is not None:
            return
        self._thread = threading.Thread(target=self._run, args=(deliver,), name="agentdesk-changes", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 2.0) -> None:
        """Stop the thread (it closes its connection) and wait up to `timeout` seconds for it."""
        self._stop.set()
        thread, self._thread = self._thread, None
        if thread is not None:
            thread.join(timeout)

    def _run(self, deliver: Callable[[Changes], object]) -> None:
        failures = 0
        try:
            while not self._stop.is_set():
                try:
                    if not self._open:
                        self.open()
                    changes = self.poll(self.interval)
                    failures = 0
                except Exception as exc:  # the thread's boundary: a lost connection is retried
                    delay = RETRY_DELAYS[min(failures, len(RETRY_DELAYS) - 1)]
                    failures += 1
                    log.warning("change feed: %s; reconnecting in %.0f s", exc, delay, exc_info=failures == 1)
                    self._close_quietly()
                    self._stop.wait(delay)
                    continue
                if changes:
                    try:
                        deliver(changes)
                    except Exception:
                        log.exception("change feed: delivering changes failed")
        finally:
            self._close_quietly()

    def _close_quietly(self) -> None:
        try:
            self.close()
        except Exception as exc:
            log.debug("change feed: closing: %s", exc)
