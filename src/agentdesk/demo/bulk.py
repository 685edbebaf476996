"""Bulk loading of the demo's rows: what makes a million customers a minute's work, not ten.

The rows go in as tuples of stored values, straight through the driver (SQLite's
`executemany`, PostgreSQL's `COPY`), not through SQLAlchemy's per-row parameter
processing; the values are what SQLAlchemy would have stored (the demo tests compare
a build's stored text with the one the row-by-row insert made). During the load the
tables' secondary indexes are dropped and then created once, from their own
definitions, so the schema ends as migrated; the change-signal trigger of migration
0023 is suspended too, and on SQLite its rows (each customer's newest event) are
written as it would have written them. On SQLite the load runs without a journal
and without syncing, so an interrupted build leaves a file to delete, never a store
to trust: the store is marked a demo store only once the build is complete.
On PostgreSQL the whole load is one transaction, analysed afterwards.
"""

from __future__ import annotations

import contextlib
import functools
import json
import multiprocessing
import queue
import sqlite3
import traceback
from collections.abc import Callable, Iterable
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any, Protocol

from sqlalchemy import Boolean, Date, DateTime, Table
from sqlalchemy.engine import make_url
from sqlalchemy.sql.schema import ScalarElementColumnDefault
from sqlalchemy.types import JSON

from agentdesk.db import keys, search_index
from agentdesk.db.keys import ServiceKey
from agentdesk.demo import sealing

Row = dict[str, Any]
Rows = dict[str, list[Row]]
SEARCH = "customer_search"
CHANGES = "customer_change"
SQLITE_CHANGE_TRIGGER = "timeline_event_customer_change"
PG_CHANGE_TRIGGER = "timeline_event_notify_customer"
SEPARATE_WRITER_FROM = 20_000
"""From this many customers on, the rows are written by a second process while the next ones are laid out."""
SQLITE_COMMIT_EVERY = 50_000
"""Rows per SQLite transaction (of the largest table): fewer commits, fewer full-text index segments."""


def _enum_value(value: Any) -> Any:
    return getattr(value, "value", value)


@functools.lru_cache(maxsize=1 << 16)
def sqlite_time(value: datetime | None) -> str | None:
    """A timestamp as SQLAlchemy's SQLite dialect stores a UTC datetime: naive UTC, always with microseconds."""
    if value is None:
        return None
    if value.tzinfo is not UTC:
        value = value.astimezone(UTC)
    return value.isoformat(" ", "microseconds")[:26]


def _sqlite_date(value: date | None) -> str | None:
    return None if value is None else value.isoformat()


def _sqlite_bool(value: bool | None) -> int | None:
    return None if value is None else int(value)


def _json_text(value: Any) -> str:
    """SQLAlchemy's JSON type stores Python None as JSON null, with json.dumps' default form."""
    return "null" if value is None else json.dumps(value)


def _pg_time(value: datetime | None) -> datetime | None:
    return value


class Converter(Protocol):
    columns: list[str]

    def __call__(self, rows: list[Row]) -> list[tuple[Any, ...]]: ...


def converter(table: Table, keys: Iterable[str], dialect: str) -> Converter:
    """A function turning generated rows (dicts) into tuples of stored values, in `converter.columns` order.

    The columns are the generated ones plus those with a Python-side default SQLAlchemy would have filled in;
    columns with only a server default are left to the database, as before. The function is compiled once
    per table, so a row costs one tuple display, not a loop over its columns."""
    keys = set(keys)
    columns: list[str] = []
    expressions: list[str] = []
    namespace: dict[str, Callable[..., Any]] = {
        "time": sqlite_time if dialect == "sqlite" else _pg_time,
        "day": _sqlite_date if dialect == "sqlite" else (lambda v: v),
        "flag": _sqlite_bool if dialect == "sqlite" else (lambda v: v),
        "js": _json_text,
        "enum": _enum_value,
    }
    for column in table.c:
        name = column.name
        if name in keys:
            value = f"r[{name!r}]"
        elif isinstance(column.default, ScalarElementColumnDefault):
            namespace[f"default_{len(columns)}"] = column.default.arg
            value = f"default_{len(columns)}"
        else:
            continue
        kind = column.type
        if isinstance(kind, DateTime) or isinstance(getattr(kind, "impl", None), DateTime):
            value = f"time({value})"
        elif isinstance(kind, Date):
            value = f"day({value})"
        elif isinstance(kind, Boolean):
            value = f"flag({value})"
        elif isinstance(kind, JSON):
            value = f"js({value})"
        elif getattr(kind, "enum", None) is not None:
            value = f"enum({value})"
        columns.append(name)
        expressions.append(value)
    source = f"def convert(rows):\n    return [({', '.join(expressions)},) for r in rows]\n"
    exec(compile(source, f"<demo bulk converter for {table.name}>", "exec"), namespace)
    convert = namespace["convert"]
    convert.columns = columns  # type: ignore[attr-defined]
    return convert  # type: ignore[return-value]


def newest_events(events: list[Row]) -> list[tuple[int, int]]:
    """(customer id, id of their newest event): what the SQLite change trigger leaves in customer_change."""
    return list({event["customer_id"]: event["id"] for event in events}.items())


def _quoted(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def sandbox_operations(transactions: list[Row], built_at: datetime) -> list[Row]:
    """The sandbox gateway's record of each demo transaction, as the sandbox would have written it: so a
    refund or void an agent makes later finds its parent at the gateway, and unsettled ones settle a day
    after the build (not a day after the demo's anchor)."""
    return [
        {
            "idempotency_key": t["idempotency_key"], "operation": t["type"], "reference": t["gateway_ref"],
            "parent_reference": None if t["parent_id"] is None else f"sbx_{t['parent_id']:010d}",
            "token": f"tok_demo_{t['instrument_id']}" if t["instrument_id"] else None,
            "amount": t["amount"], "currency": t["currency"],
            "outcome": "declined" if t["status"] == "declined" else "approved",
            "message": None, "settled": t["settled"], "created_at": t["created_at"] if t["settled"] else built_at,
        }
        for t in transactions
    ]


def search_documents(rows: Rows) -> dict[int, str]:
    """`search_index.document` of each customer of the batch, from the rows themselves."""
    emails: dict[int, list[str]] = {}
    phones: dict[int, list[str]] = {}
    cards: dict[int, list[str]] = {}
    for row in rows["customer_email"]:
        emails.setdefault(row["customer_id"], []).append(row["address"])
    for row in rows["customer_phone"]:
        phones.setdefault(row["customer_id"], []).append(row["digits"])
    for row in rows["payment_instrument"]:
        cards.setdefault(row["customer_id"], []).append(row["last4"])
    documents = {}
    for c in rows["customer"]:
        cid = c["id"]
        parts = [c["external_id"], f"{c['first_name']} {c['last_name']}", c["organization"] or "",
                 *emails.get(cid, ()), *phones.get(cid, ()), *cards.get(cid, ())]
        text = "\n".join(p for p in parts if p)
        # folding plain ASCII is lower-casing it
        documents[cid] = text.lower() if text.isascii() else search_index.fold(text)
    return documents


class Loader:
    """Writes the batches of one build on a connection of its own; `finish` makes the store whole again
    (indexes, trigger, statistics)."""

    def __init__(self, url: str, tables: list[str], key: ServiceKey | None, borrowed: Any = None):
        """`key` seals each batch (`sealing.seal`; None: the batches come sealed); `borrowed`: a DB-API
        connection to load on (and leave open) instead of one of the loader's own."""
        from sqlmodel import SQLModel

        import agentdesk.db.models  # noqa: F401 - the tables' definitions

        self.url = make_url(url)
        self.dialect = self.url.get_backend_name()
        self.tables: dict[str, Table] = {name: SQLModel.metadata.tables[name] for name in tables}
        self.converters: dict[str, Converter] = {}
        self.borrowed = borrowed
        self.key = key
        self.built_at = datetime.now(UTC)

    def convert(self, name: str, rows: list[Row]) -> tuple[list[str], list[tuple[Any, ...]]]:
        if name not in self.converters:
            self.converters[name] = converter(self.tables[name], rows[0].keys(), self.dialect)
        convert = self.converters[name]
        return convert.columns, convert(rows)

    def start(self) -> None:
        raise NotImplementedError

    def write(self, rows: Rows) -> None:
        raise NotImplementedError

    def finish(self) -> None:
        raise NotImplementedError

    def abort(self) -> None:
        raise NotImplementedError


class SqliteLoader(Loader):
    def start(self) -> None:
        self.db = self.borrowed or sqlite3.connect(self.url.database or "", isolation_level=None, timeout=15)
        execute = self.db.execute
        execute("PRAGMA foreign_keys=OFF")
        self.journal = execute("PRAGMA journal_mode").fetchone()[0]
        execute("PRAGMA journal_mode=OFF")
        execute("PRAGMA synchronous=OFF")
        execute("PRAGMA cache_size=-262144")
        execute("PRAGMA temp_store=MEMORY")
        names = [*self.tables, CHANGES]
        marks = ", ".join("?" * len(names))
        self.indexes = execute(
            f"SELECT name, sql FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL AND tbl_name IN ({marks}) "
            "ORDER BY rowid", names).fetchall()
        self.triggers = execute(
            "SELECT name, sql FROM sqlite_master WHERE type = 'trigger' AND name = ?", (SQLITE_CHANGE_TRIGGER,)
        ).fetchall()
        execute("BEGIN")
        for name, _ in self.indexes:
            execute(f"DROP INDEX {_quoted(name)}")
        for name, _ in self.triggers:
            execute(f"DROP TRIGGER {_quoted(name)}")
        self.pending = 0

    def write(self, rows: Rows) -> None:
        if self.key is not None:
            sealing.seal(rows, self.key)
        rows = {**rows, "sandbox_operation": sandbox_operations(rows["transaction"], self.built_at)}
        for name, table_rows in rows.items():
            if not table_rows:
                continue
            columns, values = self.convert(name, table_rows)
            self.db.executemany(
                f"INSERT INTO {_quoted(name)} ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})", values
            )
        if self.triggers:
            self.db.executemany(f"INSERT INTO {CHANGES} (customer_id, seq) VALUES (?, ?)",
                                newest_events(rows["timeline_event"]))
        self.db.executemany(f"INSERT INTO {SEARCH} (rowid, document) VALUES (?, ?)", search_documents(rows).items())
        self.pending += len(rows["timeline_event"])
        if self.pending >= SQLITE_COMMIT_EVERY:
            self.db.execute("COMMIT")
            self.db.execute("BEGIN")
            self.pending = 0

    def finish(self) -> None:
        execute = self.db.execute
        for _, sql in self.indexes + self.triggers:
            execute(sql)
        execute("COMMIT")
        execute(f"PRAGMA journal_mode={self.journal}")
        execute("PRAGMA foreign_keys=ON")
        self._close()

    def abort(self) -> None:
        if self.db.in_transaction:
            self.db.execute("ROLLBACK")
        self._close()

    def _close(self) -> None:
        if self.borrowed is None:
            self.db.close()


class PostgresLoader(Loader):
    def start(self) -> None:
        import psycopg

        self.db = psycopg.connect(self.url.set(drivername="postgresql").render_as_string(hide_password=False))
        cursor = self.cursor = self.db.cursor()
        names = list(self.tables)
        cursor.execute("SET LOCAL maintenance_work_mem = '512MB'")
        self.indexes = cursor.execute(
            """SELECT i.indexrelid::regclass::text, pg_get_indexdef(i.indexrelid) FROM pg_index i
               JOIN pg_class t ON t.oid = i.indrelid JOIN pg_namespace n ON n.oid = t.relnamespace
               WHERE n.nspname = current_schema() AND t.relname = ANY(%s)
               AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = i.indexrelid)
               ORDER BY i.indexrelid""", ([*names, SEARCH],)).fetchall()
        self.trigger = cursor.execute(
            "SELECT 1 FROM pg_trigger WHERE tgname = %s AND tgrelid = 'timeline_event'::regclass",
            (PG_CHANGE_TRIGGER,)).fetchone() is not None
        # Foreign keys are checked by system triggers, per row: the generator made every reference, and
        # `session_replication_role` (a superuser's) skips them; without it they are checked as usual.
        cursor.execute("SAVEPOINT replica")
        try:
            cursor.execute("SET LOCAL session_replication_role = replica")
            cursor.execute("RELEASE SAVEPOINT replica")
        except psycopg.errors.InsufficientPrivilege:  # not a superuser: the checks stay
            cursor.execute("ROLLBACK TO SAVEPOINT replica")
        if self.trigger:
            cursor.execute(f"ALTER TABLE timeline_event DISABLE TRIGGER {PG_CHANGE_TRIGGER}")
        for name, _ in self.indexes:
            cursor.execute(f"DROP INDEX {name}")

    def write(self, rows: Rows) -> None:
        if self.key is not None:
            sealing.seal(rows, self.key)
        rows = {**rows, "sandbox_operation": sandbox_operations(rows["transaction"], self.built_at)}
        for name, table_rows in rows.items():
            if not table_rows:
                continue
            columns, values = self.convert(name, table_rows)
            with self.cursor.copy(f"COPY {_quoted(name)} ({', '.join(columns)}) FROM STDIN") as copy:
                for value in values:
                    copy.write_row(value)
        with self.cursor.copy(f"COPY {SEARCH} (customer_id, document) FROM STDIN") as copy:
            for item in search_documents(rows).items():
                copy.write_row(item)

    def finish(self) -> None:
        cursor = self.cursor
        for _, definition in self.indexes:
            cursor.execute(definition)
        if self.trigger:
            cursor.execute(f"ALTER TABLE timeline_event ENABLE TRIGGER {PG_CHANGE_TRIGGER}")
        cursor.execute("SET LOCAL session_replication_role = DEFAULT")
        self.db.commit()
        for name in [*self.tables, SEARCH]:
            cursor.execute(f"ANALYZE {_quoted(name)}")
        self.db.commit()
        self.db.close()

    def abort(self) -> None:
        self.db.rollback()
        self.db.close()


def loader(url: str, tables: list[str], key: ServiceKey | None, borrowed: Any = None) -> Loader:
    if make_url(url).get_backend_name() == "sqlite":
        return SqliteLoader(url, tables, key, borrowed)
    return PostgresLoader(url, tables, key, borrowed)


class Writer:
    """Where a build's batches go: a loader in this process, or (`separate`) in a second process fed through
    a short queue, so the database work overlaps the laying out of the next batches. Either way `finish`
    returns once the store is whole, or raises what went wrong.

    The batches are sealed where there is time for it: on SQLite the writer process does the database's own
    work (B-trees, the full-text index) and is the busier one, so they are sealed here before they are sent;
    on PostgreSQL the server does that work, and the writer process seals them."""

    def __init__(self, url: str, tables: list[str], key: ServiceKey, separate: bool, borrowed: Any = None):
        """The writer process reads the key from its file: `separate` needs a key kept in one."""
        self.process: multiprocessing.process.BaseProcess | None = None
        self.key = key
        if not separate or key.path is None:
            self.loader = loader(url, tables, key, borrowed)
            self.loader.start()
            return
        self.seal_here = make_url(url).get_backend_name() == "sqlite"
        context = multiprocessing.get_context("spawn")
        self.batches: multiprocessing.Queue[Rows | None] = context.Queue(maxsize=3)
        self.results: multiprocessing.Queue[str | None] = context.Queue()
        self.process = context.Process(target=_serve, args=(url, tables, None if self.seal_here else key.path,
                                                            self.batches, self.results),
                                       name="agentdesk-demo-writer", daemon=True)
        self.process.start()

    def put(self, rows: Rows | None) -> None:
        if self.process is None:
            if rows is not None:
                self.loader.write(rows)
            return
        if rows is not None and self.seal_here:
            sealing.seal(rows, self.key)
        while True:
            try:
                self.batches.put(rows, timeout=1)
                return
            except queue.Full:
                self._check()

    def _check(self) -> None:
        assert self.process is not None
        if not self.process.is_alive() or not self.results.empty():
            self._outcome()

    def _outcome(self) -> None:
        assert self.process is not None
        try:
            failure = self.results.get(timeout=5)
        except queue.Empty:
            failure = f"the demo writer process ended (exit code {self.process.exitcode})"
        if failure is not None:
            raise RuntimeError(f"writing the demo data failed:\n{failure}")

    def finish(self) -> None:
        if self.process is None:
            self.loader.finish()
            return
        self.put(None)
        while True:
            try:
                failure = self.results.get(timeout=1)
                break
            except queue.Empty:
                if not self.process.is_alive():
                    self._outcome()
        self.process.join()
        if failure is not None:
            raise RuntimeError(f"writing the demo data failed:\n{failure}")

    def abort(self) -> None:
        if self.process is None:
            self.loader.abort()
            return
        self.batches.cancel_join_thread()  # batches the writer will never read must not hold this process at exit
        if self.process.is_alive():
            self.process.terminate()
            self.process.join()


def _serve(url: str, tables: list[str], key_path: Path | None, batches: multiprocessing.Queue[Rows | None],
           results: multiprocessing.Queue[str | None]) -> None:
    """The writer process: load every batch until None, then finish; report None or the failure."""
    try:
        load = loader(url, tables, None if key_path is None else keys.read_key_file(key_path))
    except BaseException:
        results.put(traceback.format_exc())
        return
    try:
        load.start()
        while (rows := batches.get()) is not None:
            load.write(rows)
        load.finish()
    except BaseException:
        results.put(traceback.format_exc())
        with contextlib.suppress(Exception):  # the first failure is the one to report
            load.abort()
        return
    results.put(None)
