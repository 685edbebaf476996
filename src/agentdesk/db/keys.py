"""The service key: the secret behind card fingerprints, the timeline chain and the money seals.

It is 32 random bytes from `secrets`, kept in a file (64 hexadecimal characters) that is never in the
database: beside an SQLite store (`<store file>.key`), or where `key_file` / `AGENTDESK_KEY_FILE` says
(server deployments; without it a PostgreSQL store's key is `<data dir>/agentdesk.key`). The file is
created with the store, mode 0600, and never overwritten.

The store records a *key record* in its `setting` table: a check value (an HMAC of a fixed label) and
the id of the last event written before the store was keyed, itself MACed. Opening a store that has a
record with a missing or different key file is refused: a new key would silently make every
fingerprint and every keyed hash unverifiable. A store with data but no record (from before keys
existed) is keyed once, explicitly, by `establish`: its card fingerprints are re-keyed and its money
rows sealed in the same transaction that records the check value.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import os
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import bindparam, text
from sqlalchemy.engine import Connection, Engine, RowMapping, make_url

log = logging.getLogger(__name__)

KEY_BYTES = 32
KEY_SETTING = "service_key"
CHECK_LABEL = "agentdesk service key check"
KEY_FILE_SUFFIX = ".key"
CHECKPOINT_SUFFIX = ".checkpoints.log"
STRIPE_TOKEN_PREFIX = "pm_"
"""Instruments tokenised by Stripe keep Stripe's own fingerprint, which is not ours to re-key."""
MONEY_TABLES = ("transaction", "credit_memo")


class KeyProblem(Exception):
    """The key file is missing, unreadable or not the one this store was keyed with."""


def utc_text(value: datetime | str) -> str:
    """A timestamp in one canonical form, whatever the database handed back (naive UTC, aware, or text)."""
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _plain(value: object) -> object:
    return getattr(value, "value", value)


class ServiceKey:
    """HMAC-SHA256 with the service key. Each use prefixes its own label, so no MAC of one kind is ever
    a valid MAC of another."""

    def __init__(self, secret: bytes, path: Path | None = None):
        if len(secret) != KEY_BYTES:
            raise ValueError(f"a service key is {KEY_BYTES} bytes")
        self._base = hmac.new(secret, digestmod=hashlib.sha256)
        self.path = path

    def __repr__(self) -> str:
        return f"ServiceKey(path={str(self.path)!r})"

    def mac(self, data: str | bytes) -> str:
        digest = self._base.copy()
        digest.update(data.encode() if isinstance(data, str) else data)
        return digest.hexdigest()

    def fingerprint(self, label: str, data: str) -> str:
        """A keyed fingerprint (32 hex): equal for equal data, and nothing can be learnt from it without the key."""
        return self.mac(f"fingerprint:{label}:{data}")[:32]

    def card_fingerprint(self, legacy_digest: str) -> str:
        """A card's fingerprint, made from the unkeyed digest older stores kept: so a legacy fingerprint
        is re-keyed without the card number, and the same card matches in old and new rows."""
        return self.fingerprint("card", legacy_digest)

    def check_value(self) -> str:
        return self.mac(CHECK_LABEL)

    def seal_money(self, table: str, row: Mapping[str, Any] | RowMapping, customer_id: int | None = None) -> str:
        """The MAC of a money row's immutable fields: id, customer, type, amount, currency, parent, created_at.

        `customer_id` overrides the row's (a merge moves rows to the kept customer; the seal keeps the first)."""
        content = json.dumps(
            [table, row["id"], row["customer_id"] if customer_id is None else customer_id,
             _plain(row.get("type", table)), row["amount"], row["currency"], row.get("parent_id"),
             utc_text(row["created_at"])],
            separators=(",", ":"),
        )
        return self.mac(f"money-row:{content}")


def generate() -> bytes:
    return secrets.token_bytes(KEY_BYTES)


# --- where the key lives ------------------------------------------------------------------


def sqlite_file(url: str) -> Path | None:
    """The file of an SQLite store URL; None for an in-memory store or a server database."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite" or not parsed.database or parsed.database == ":memory:":
        return None
    return Path(parsed.database).expanduser()


def key_path(url: str, key_file: Path | None = None, data_dir: Path | None = None) -> Path | None:
    """`key_file` when set; else `<store file>.key` beside an SQLite store; else `<data dir>/agentdesk.key`.

    None for an in-memory SQLite store (its key lives and dies with the process)."""
    if key_file is not None:
        return Path(key_file).expanduser()
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        store_file = sqlite_file(url)
        return None if store_file is None else store_file.with_name(store_file.name + KEY_FILE_SUFFIX)
    if data_dir is None:
        import platformdirs

        data_dir = Path(platformdirs.user_data_dir("agentdesk"))
    return Path(data_dir).expanduser() / "agentdesk.key"


def checkpoint_path_for(key_file: Path | None) -> Path | None:
    """The timeline checkpoints are kept beside the key: `<key file without .key>.checkpoints.log`."""
    if key_file is None:
        return None
    stem = key_file.name[: -len(KEY_FILE_SUFFIX)] if key_file.name.endswith(KEY_FILE_SUFFIX) else key_file.name
    return key_file.with_name(stem + CHECKPOINT_SUFFIX)


def read_key_file(path: Path) -> ServiceKey:
    """The key in `path`. FileNotFoundError when there is none; KeyProblem when it is not a key."""
    try:
        content = path.read_text(encoding="ascii").strip()
    except FileNotFoundError:
        raise
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) else "not text"
        raise KeyProblem(f"the key file {path} cannot be read ({reason})") from None
    try:
        secret = bytes.fromhex(content)
    except ValueError:
        secret = b""
    if len(secret) != KEY_BYTES:
        raise KeyProblem(f"the key file {path} does not hold a service key ({KEY_BYTES * 2} hexadecimal characters)")
    return ServiceKey(secret, path)


def create_key_file(path: Path) -> ServiceKey:
    """Write a new key to `path` (mode 0600), or read the one already there: never overwrite a key.

    The key is written to a private temporary file and linked into place, so a second process creating
    the same store at the same moment reads a whole key, never half of one."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    secret = generate()
    temporary = path.with_name(f".{path.name}.{secrets.token_hex(6)}.tmp")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w", encoding="ascii") as fh:
            fh.write(secret.hex() + "\n")
            fh.flush()
            os.fsync(fh.fileno())
        try:
            os.link(temporary, path)
        except FileExistsError:
            return read_key_file(path)
    finally:
        temporary.unlink(missing_ok=True)
    _sync_directory(path.parent)
    log.info("created the service key %s", path)
    return ServiceKey(secret, path)


def _sync_directory(directory: Path) -> None:
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


# --- the key record in the store -----------------------------------------------------------


@dataclass(frozen=True)
class KeyRecord:
    """What the store remembers about its key: the check value, and the last event written before the
    store was keyed (every later event must carry a keyed hash)."""

    check: str
    keyed_from_event: int
    mac: str

    @classmethod
    def make(cls, key: ServiceKey, keyed_from_event: int) -> KeyRecord:
        return cls(key.check_value(), keyed_from_event, key.mac(f"key-record:{keyed_from_event}"))

    @classmethod
    def parse(cls, value: str) -> KeyRecord | None:
        parts = value.split(":")
        if len(parts) != 4 or parts[0] != "v1" or not parts[2].isdigit():
            return None
        return cls(parts[1], int(parts[2]), parts[3])

    def text(self) -> str:
        return f"v1:{self.check}:{self.keyed_from_event}:{self.mac}"

    def matches(self, key: ServiceKey) -> bool:
        return hmac.compare_digest(self.check, key.check_value())

    def intact(self, key: ServiceKey) -> bool:
        return hmac.compare_digest(self.mac, key.mac(f"key-record:{self.keyed_from_event}"))


@dataclass
class KeyedStore:
    """The result of opening a store's key: the key, the record, and what the first opening did."""

    key: ServiceKey
    record: KeyRecord
    created: bool = False
    rekeyed: dict[str, int] = field(default_factory=dict)
    """For a store keyed now: what was re-keyed or sealed (fingerprints, blocklist entries, money rows)."""


def _read_record(connection: Connection) -> tuple[bool, KeyRecord | None]:
    value = connection.execute(text("SELECT value FROM setting WHERE key = :k"), {"k": KEY_SETTING}).scalar()
    if value is None:
        return False, None
    return True, KeyRecord.parse(value)


def _has_data(connection: Connection) -> bool:
    for table in ("customer", "agent", "timeline_event", "blocklist_entry", "payment_instrument"):
        if connection.execute(text(f'SELECT 1 FROM "{table}" LIMIT 1')).first() is not None:
            return True
    return False


def missing_key_message(path: Path | None) -> str:
    return (f"the key file {path} is missing; restore it from backup: without it card fingerprints and the "
            "timeline chain cannot be checked (AgentDesk never makes a new key for a store that has one)")


def establish(engine: Engine, path: Path | None, connection: Connection | None = None) -> KeyedStore:
    """Open the store's key, keying the store first if it has never been keyed. Raises KeyProblem.

    - a store with a key record: the key file must exist and match it (a read, nothing written);
    - an empty store: the key file is created (or an existing one adopted) and recorded;
    - a store with data but no record (made before keys existed): the same, plus, in one transaction with
      the record, its sandbox card fingerprints and fingerprint blocklist entries are re-keyed and its
      money rows sealed.

    Keying writes in `connection`'s transaction when one is given (a caller already inside a write, which on
    SQLite holds the only write lock), else in a transaction of its own.
    """
    with engine.execution_options(sqlite_begin="DEFERRED").connect() as reading:
        present, record = _read_record(reading)
    if present:
        return _recorded(record, path)
    if connection is not None:
        return _key_the_store(connection, path)
    with engine.begin() as writing:
        keyed = _key_the_store(writing, path)
    if keyed.rekeyed:
        log.warning("keyed a store from before service keys with %s: %s", path, keyed.rekeyed)
    return keyed


def _recorded(record: KeyRecord | None, path: Path | None) -> KeyedStore:
    if record is None:
        raise KeyProblem(f"the store's key record ({KEY_SETTING!r} in the setting table) is damaged; "
                         "restore the store from backup")
    if path is None:
        raise KeyProblem("this store was keyed with a key file, but none is configured; set key_file")
    try:
        key = read_key_file(path)
    except FileNotFoundError:
        raise KeyProblem(missing_key_message(path)) from None
    if not record.matches(key):
        raise KeyProblem(
            f"the key file {path} is not this store's key (its check value does not match the one the store "
            "recorded); restore the store's own key file from backup")
    if not record.intact(key):
        raise KeyProblem(f"the store's key record ({KEY_SETTING!r} in the setting table) was altered; "
                         "restore the store from backup")
    return KeyedStore(key, record)


def _key_the_store(connection: Connection, path: Path | None) -> KeyedStore:
    if connection.dialect.name == "postgresql":
        # Two processes opening a new store at once: the second waits, then finds the record.
        connection.execute(text("SELECT pg_advisory_xact_lock(724270915)"))
    present, record = _read_record(connection)
    if present:
        return _recorded(record, path)
    legacy = _has_data(connection)
    created = False
    if path is None:
        key = ServiceKey(generate())
    else:
        try:
            key = read_key_file(path)
        except FileNotFoundError:
            key, created = create_key_file(path), True
    keyed_from = connection.execute(text("SELECT COALESCE(MAX(id), 0) FROM timeline_event")).scalar_one()
    rekeyed = rekey_legacy(connection, key) if legacy else {}
    record = KeyRecord.make(key, int(keyed_from))
    connection.execute(text("INSERT INTO setting (key, value) VALUES (:k, :v)"), {"k": KEY_SETTING, "v": record.text()})
    return KeyedStore(key, record, created, rekeyed)


# --- keying a store from before keys -----------------------------------------------------------


def rekey_legacy(connection: Connection, key: ServiceKey, batch: int = 5000) -> dict[str, int]:
    """Re-key the unkeyed fingerprints and seal the money rows of a store from before keys (in the caller's
    transaction). Stripe's fingerprints are Stripe's: those instruments, and blocklist entries naming one
    of them, keep theirs."""
    done = {"fingerprints": 0, "blocklist entries": 0, "money rows": 0}
    stripe_prints: set[str] = set()
    instruments = connection.execute(text(
        "SELECT id, fingerprint, gateway_token FROM payment_instrument WHERE fingerprint IS NOT NULL ORDER BY id"
    )).all()
    updates = []
    for row in instruments:
        if (row.gateway_token or "").startswith(STRIPE_TOKEN_PREFIX):
            stripe_prints.add(row.fingerprint)
            continue
        updates.append({"i": row.id, "f": key.card_fingerprint(row.fingerprint)})
    _update_many(connection, "UPDATE payment_instrument SET fingerprint = :f WHERE id = :i", updates, batch)
    done["fingerprints"] = len(updates)
    entries = connection.execute(text(
        "SELECT id, value FROM blocklist_entry WHERE kind = 'fingerprint' ORDER BY id")).all()
    updates = [{"i": e.id, "v": key.card_fingerprint(e.value)} for e in entries if e.value not in stripe_prints]
    _update_many(connection, "UPDATE blocklist_entry SET value = :v WHERE id = :i", updates, batch)
    done["blocklist entries"] = len(updates)
    done["money rows"] = seal_unsealed(connection, key, include_pending=False, batch=batch)
    return done


def seal_unsealed(connection: Connection, key: ServiceKey, include_pending: bool, batch: int = 5000) -> int:
    """Seal every money row that has no seal yet (pending ones only if asked: they are sealed by the event
    that records their outcome)."""
    sealed = 0
    for table in MONEY_TABLES:
        columns = ("id, customer_id, type, amount, currency, parent_id, status, created_at" if table == "transaction"
                   else "id, customer_id, amount, currency, created_at")
        last = 0
        while True:
            rows = connection.execute(text(
                f'SELECT {columns} FROM "{table}" WHERE seal IS NULL AND id > :last ORDER BY id LIMIT :n'
            ), {"last": last, "n": batch}).mappings().all()
            if not rows:
                break
            last = rows[-1]["id"]
            updates = [{"i": row["id"], "s": key.seal_money(table, row)} for row in rows
                       if include_pending or row.get("status") != "pending"]
            _update_many(connection, f'UPDATE "{table}" SET seal = :s WHERE id = :i', updates, batch)
            sealed += len(updates)
    return sealed


def _update_many(connection: Connection, statement: str, rows: list[dict[str, Any]], batch: int) -> None:
    query = text(statement).bindparams(*(bindparam(name) for name in (rows[0] if rows else {})))
    for start in range(0, len(rows), batch):
        connection.execute(query, rows[start:start + batch])
