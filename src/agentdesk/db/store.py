"""The engine, sessions and schema migrations for SQLite and PostgreSQL.

`Store.read()` gives a session for queries; `Store.write()` gives a session
whose transaction commits when the block ends and rolls back on any error. On
SQLite a write transaction starts with `BEGIN IMMEDIATE`, so two writers never
deadlock on a lock upgrade: the second waits (busy timeout) for the first.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TypeVar

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import event, inspect, text
from sqlalchemy.engine import Connection, Engine, make_url
from sqlalchemy.exc import OperationalError
from sqlmodel import Session, create_engine

from agentdesk.db import keys
from agentdesk.domain.errors import NotFound, StoreBusy

SQLITE_BUSY_TIMEOUT_MS = 15_000
MIGRATIONS_DIR = Path(__file__).parent / "migrations"


T = TypeVar("T")


def get_row(session: Session, model: type[T], ident: object, what: str | None = None) -> T:
    """The row of `model` with this primary key, or `NotFound` naming what was asked for.

    For rows the caller was given an id of, and for rows a foreign key guarantees
    (a transaction's customer): there, a missing one is a bug reported as such.
    """
    row = session.get(model, ident)
    if row is None:
        raise NotFound(f"no {what or model.__name__.lower()} {ident}")
    return row


class StoreError(Exception):
    """The store cannot be opened or is not at the schema this version needs."""


class MissingTimelineEvent(Exception):
    """A write changed a customer's data without recording what happened on their timeline."""


class AppendOnlyViolation(Exception):
    """Timeline events are never changed or deleted; a correction is a new note."""


class TimelineGuard:
    """Makes a write without its timeline event impossible to commit.

    It watches what each flush changes: rows of customer-scoped tables mark
    their customer as touched, new timeline events mark theirs as recorded.
    At commit every touched customer must be recorded, and no existing event
    may have been changed or deleted.
    """

    def __init__(self, session: Session, unrecorded: str | None):
        from agentdesk.db import models

        self.guarded = (models.Customer, models.CustomerEmail, models.CustomerPhone, models.Address,
                        models.PaymentInstrument, models.Order, models.Transaction, models.CustomerTag,
                        models.TaxId, models.CreditMemo, models.Attachment, models.Mention, models.KycDocument,
                        models.AmlCheck, models.EddScore, models.Invoice, models.CouponRedemption,
                        models.AccountCharge, models.AffiliateCommission, models.Quote, models.ScheduledChange,
                        models.Fulfillment, models.Link, models.PayoutRequest, models.Dispute)
        self.event_type = models.TimelineEvent
        self.customer_type = models.Customer
        self.unrecorded = unrecorded
        self.touched: set[int] = set()
        self.recorded: set[int] = set()
        event.listen(session, "before_flush", self._before_flush)
        event.listen(session, "after_flush", self._after_flush)
        event.listen(session, "before_commit", self._before_commit)

    def _customer_of(self, obj: object) -> int | None:
        return obj.id if isinstance(obj, self.customer_type) else getattr(obj, "customer_id", None)

    def _before_flush(self, session: Session, _context: object, _instances: object) -> None:
        """Refused here, before the database's own triggers would refuse the statement less clearly."""
        for obj in list(session.deleted) + [o for o in session.dirty if session.is_modified(o)]:
            if isinstance(obj, self.event_type):
                raise AppendOnlyViolation(f"timeline event {obj.id} cannot be changed or deleted")

    def _after_flush(self, session: Session, _context: object) -> None:
        new, deleted = list(session.new), list(session.deleted)
        changed = [o for o in session.dirty if session.is_modified(o)]
        for obj in new:
            if isinstance(obj, self.event_type):
                self.recorded.add(obj.customer_id)
        for obj in new + deleted + changed:
            if isinstance(obj, self.guarded):
                customer = self._customer_of(obj)
                if customer is not None:
                    self.touched.add(customer)

    def _before_commit(self, session: Session) -> None:
        session.flush()
        missing = self.touched - self.recorded
        if missing and not self.unrecorded:
            raise MissingTimelineEvent(
                f"customer(s) {sorted(missing)} changed without a timeline event in the same transaction"
            )


BUSY_MESSAGES = ("database is locked", "database table is locked", "lock timeout", "could not obtain lock")


@contextmanager
def _busy_as_store_busy() -> Iterator[None]:
    """A store locked past its timeout is something an agent can act on ("try again"), not a crash."""
    try:
        yield
    except OperationalError as exc:
        if any(message in str(exc.orig).lower() for message in BUSY_MESSAGES):
            raise StoreBusy() from exc
        raise


def _prepare_sqlite(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: sqlite3.Connection, _record: object) -> None:
        # Let SQLAlchemy's begin event, not the driver, start transactions.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Connection) -> None:
        mode = connection.get_execution_options().get("sqlite_begin", "DEFERRED")
        connection.exec_driver_sql(f"BEGIN {mode}")


def _create_private(database: Path) -> None:
    """A new SQLite store is created 0600 in a 0700 directory; SQLite gives its -wal and -shm files the same mode."""
    if not database.parent.is_dir():
        database.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    if not database.exists():
        os.close(os.open(database, os.O_WRONLY | os.O_CREAT, 0o600))


def make_engine(url: str) -> Engine:
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            _create_private(Path(parsed.database).expanduser())
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": SQLITE_BUSY_TIMEOUT_MS / 1000})
        _prepare_sqlite(engine)
        return engine
    if parsed.get_backend_name() == "postgresql":
        return create_engine(url, pool_pre_ping=True, pool_size=5, max_overflow=5)
    raise StoreError(f"unsupported database {parsed.get_backend_name()!r}: use SQLite or PostgreSQL")


class Store:
    def __init__(self, url: str, key_file: Path | None = None, data_dir: Path | None = None):
        """`key_file`/`data_dir` say where the service key lives (see `agentdesk.db.keys.key_path`)."""
        self.url = url
        self.engine = make_engine(url)
        self.is_sqlite = self.engine.dialect.name == "sqlite"
        self._write_engine = self.engine.execution_options(sqlite_begin="IMMEDIATE") if self.is_sqlite else self.engine
        self.key_path = keys.key_path(url, key_file, data_dir)
        self._keyed: keys.KeyedStore | None = None

    # --- the service key --------------------------------------------------------------

    def open_key(self, connection: Connection | None = None) -> keys.KeyedStore:
        """The store's service key, checked against the store's record of it (a store never keyed is keyed
        now, in `connection`'s transaction if given: see `keys.establish`). Raises StoreError naming what is
        wrong with the key file."""
        if self._keyed is None:
            try:
                self._keyed = keys.establish(self._write_engine, self.key_path, connection)
            except keys.KeyProblem as exc:
                raise StoreError(str(exc)) from None
        return self._keyed

    @property
    def key(self) -> keys.ServiceKey:
        """The service key: card fingerprints, keyed timeline hashes, money seals, checkpoints."""
        return self.open_key().key

    @property
    def keyed_from_event(self) -> int:
        """Every event after this id must carry a keyed hash (earlier ones are from before the store was keyed)."""
        return self.open_key().record.keyed_from_event

    @property
    def checkpoint_path(self) -> Path | None:
        """The append-only file of timeline checkpoints, beside the key."""
        return keys.checkpoint_path_for(self.key_path)

    @contextmanager
    def read(self) -> Iterator[Session]:
        with _busy_as_store_busy(), Session(self.engine, expire_on_commit=False) as session:
            yield session

    @contextmanager
    def write(self, unrecorded: str | None = None) -> Iterator[Session]:
        """One unit of work: everything done in the block commits together or not at all.

        A change to a customer's data must commit with a timeline event for that
        customer (see `TimelineGuard`); `unrecorded` names the reason a write
        legitimately has none (a pending record whose outcome will be recorded).
        """
        with _busy_as_store_busy(), Session(self._write_engine, expire_on_commit=False) as session:
            session.info["store"] = self
            TimelineGuard(session, unrecorded)
            with session.begin():
                yield session

    def dispose(self) -> None:
        self.engine.dispose()

    # --- schema -----------------------------------------------------------------

    def _alembic_config(self) -> Config:
        config = Config()
        config.set_main_option("script_location", str(MIGRATIONS_DIR))
        config.set_main_option("sqlalchemy.url", self.url.replace("%", "%%"))
        return config

    def head_revision(self) -> str | None:
        return ScriptDirectory.from_config(self._alembic_config()).get_current_head()

    def current_revision(self) -> str | None:
        with self.engine.connect() as connection:
            return MigrationContext.configure(connection).get_current_revision()

    def is_current(self) -> bool:
        return self.current_revision() == self.head_revision()

    def has_foreign_tables(self) -> bool:
        """True when the database holds tables but no migration record: not ours to touch."""
        with self.engine.connect() as connection:
            names = set(inspect(connection).get_table_names())
        return bool(names - {"alembic_version"}) and "alembic_version" not in names

    def upgrade(self, revision: str = "head") -> None:
        if self.has_foreign_tables():
            raise StoreError("the database holds tables that AgentDesk did not create; refusing to migrate it")
        config = self._alembic_config()
        self._check_recorded_key()
        with self.engine.begin() as connection:
            config.attributes["connection"] = connection
            command.upgrade(config, revision)
        if revision == "head":
            self.open_key()

    def analyze(self) -> bool:
        """Refresh the planner's statistics of every table (PostgreSQL's ANALYZE); True if it did.

        After a migration or a bulk load PostgreSQL plans as if the new rows were not there until autovacuum
        gets round to them (a fresh million-customer store searched for a second per keystroke). SQLite keeps
        no statistics unless asked, and the queries here are shaped for that: nothing to do there."""
        if self.is_sqlite:
            return False
        with self.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
            connection.exec_driver_sql("ANALYZE")
        return True

    def _check_recorded_key(self) -> None:
        """A store that recorded a key is not touched (not even migrated) without that key."""
        with self.engine.connect() as connection:
            if "setting" not in inspect(connection).get_table_names():
                return
            recorded = connection.execute(text("SELECT 1 FROM setting WHERE key = :k"), {"k": keys.KEY_SETTING}).first()
        if recorded is not None:
            self.open_key()

    def ensure_schema(self) -> None:
        """Bring an embedded store up to date (a server store must be upgraded on purpose), and open its key."""
        if self.is_current():
            self.open_key()
            return
        if self.is_sqlite:
            self.upgrade()
            return
        raise StoreError(
            "the PostgreSQL database is not at this version's schema; run `agentdesk --db URL db upgrade`"
        )
