"""Timeline checkpoints: each customer's chain head, kept outside the database.

A keyed chain stops anyone without the service key from forging or rewriting
events, but not from deleting the last ones: what is left still verifies. So
the heads are written down elsewhere: an append-only file of JSON lines owned
by the service account (beside the key, `<store>.checkpoints.log`), written by
the worker every few minutes and by `agentdesk audit checkpoint [--out FILE]`
(a file to ship to another machine). `audit verify` compares the store with the
latest entry of each customer and reports what went missing.

Each line holds the checkpoint time, the highest event id it covers
(`through`), and for every customer with events since the previous checkpoint
its head event id, head hash and event count: incremental, so a large store
does not mean a large line every few minutes (the first checkpoint lists every
customer, spread over lines of `HEADS_PER_LINE`). Each line is MACed with the
service key and carries the previous line's MAC, so a line cannot be changed,
inserted or removed from the middle without the key. A customer whose chain no
longer extends what the log pinned (events deleted in between) is not re-pinned:
its old entry stays the latest, and `audit verify` keeps reporting it.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import text
from sqlalchemy.engine import Connection

from agentdesk.db.keys import ServiceKey
from agentdesk.db.store import Store
from agentdesk.domain.errors import Conflict, InvalidInput
from agentdesk.domain.permissions import Action, Actor, require

log = logging.getLogger(__name__)

LINE_VERSION = 1
HEADS_PER_LINE = 5000
EVERY = timedelta(minutes=5)
"""How often the worker writes a checkpoint when events were added."""
IDLE_EVERY = timedelta(hours=1)
"""How often it writes one anyway (an empty line: the worker was running, nothing changed)."""
GENESIS_MAC = "0" * 64
_CHUNK = 500


@dataclass(frozen=True)
class Pin:
    """A customer's chain as a checkpoint saw it."""

    event_id: int
    hash: str
    count: int
    at: str


@dataclass
class CheckpointLog:
    """What a checkpoint file says, read up to its first damaged line."""

    path: Path
    pins: dict[int, Pin] = field(default_factory=dict)
    through: int = 0
    """The highest event id the latest checkpoint covered."""
    through_hash: str | None = None
    """That event's hash, as pinned."""
    last_mac: str = GENESIS_MAC
    last_at: datetime | None = None
    lines: int = 0
    damage: str | None = None
    """The first line that does not verify (changed, inserted, removed or from another key), if any."""
    trusted_size: int = 0
    """Bytes of whole, verified lines: where the next line goes."""
    _inode: int = 0
    _check: str = ""


_CACHE: dict[Path, CheckpointLog] = {}
"""Logs already read in this process, so the worker reads only what was appended since."""


def _canonical(body: dict[str, Any]) -> str:
    return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=True)


def _line_mac(key: ServiceKey, body: dict[str, Any]) -> str:
    return key.mac("timeline-checkpoint:" + _canonical(body))


def _utc_text(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def read_log(path: Path, key: ServiceKey) -> CheckpointLog:
    """The checkpoint file's pins (latest entry per customer), verified line by line; a missing file is empty."""
    path = Path(path)
    try:
        info = path.stat()
    except FileNotFoundError:
        _CACHE.pop(path, None)
        return CheckpointLog(path)
    cached = _CACHE.get(path)
    state = cached
    if (state is None or state._inode != info.st_ino or state._check != key.check_value()
            or info.st_size < state.trusted_size or state.damage):
        state = CheckpointLog(path, _inode=info.st_ino, _check=key.check_value())
    if info.st_size > state.trusted_size:
        with path.open("rb") as fh:
            fh.seek(state.trusted_size)
            _read_lines(fh.read(), state, key)
    _CACHE[path] = state
    return state


def _read_lines(data: bytes, state: CheckpointLog, key: ServiceKey) -> None:
    offset = 0
    while offset < len(data):
        end = data.find(b"\n", offset)
        if end < 0:
            return  # an unfinished last line (a crash while writing): not trusted, overwritten by the next one
        raw = data[offset:end]
        number = state.lines + 1
        problem = _apply_line(raw, state, key)
        if problem:
            state.damage = f"line {number} of {state.path}: {problem}"
            return
        offset = end + 1
        state.trusted_size += len(raw) + 1


def _apply_line(raw: bytes, state: CheckpointLog, key: ServiceKey) -> str | None:
    try:
        body = json.loads(raw)
        if not isinstance(body, dict):
            raise ValueError
        mac = body.pop("mac")
    except (ValueError, KeyError, TypeError):
        return "not a checkpoint line"
    if not isinstance(mac, str) or mac != _line_mac(key, body):
        return "its MAC does not match: it was changed, or written without this store's key"
    if body.get("prev") != state.last_mac:
        return "it does not follow the line before it: a line was removed or inserted"
    try:
        at = datetime.fromisoformat(str(body["at"]).replace("Z", "+00:00"))
        heads = {int(cid): Pin(int(v[0]), str(v[1]), int(v[2]), str(body["at"])) for cid, v in body["heads"].items()}
        through = int(body["through"])
    except (KeyError, ValueError, TypeError, IndexError):
        return "not a checkpoint line"
    state.pins.update(heads)
    if through != state.through:
        state.through, state.through_hash = through, None
    state.through_hash = next((p.hash for p in heads.values() if p.event_id == through), state.through_hash)
    state.last_mac = mac
    state.last_at = at
    state.lines += 1
    return None


@dataclass(frozen=True)
class CheckpointResult:
    path: Path
    at: datetime
    through: int
    customers: int
    lines: int
    not_repinned: list[int]
    """Customers whose chain no longer extends what the log pinned: left pinned as they were."""


class CheckpointDamaged(Conflict):
    """The checkpoint file was altered: nothing more is appended to it."""


@contextmanager
def _locked_append(path: Path) -> Iterator[int]:
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_APPEND, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield fd
    finally:
        os.close(fd)


def _in_chunks(values: list[int]) -> Iterator[list[int]]:
    for start in range(0, len(values), _CHUNK):
        yield values[start:start + _CHUNK]


def _heads(connection: Connection, since: int, through: int) -> dict[int, tuple[int, int]]:
    """customer → (head event id, event count) for every customer with events in (since, through]."""
    if since == 0:
        query = ("SELECT customer_id, MAX(id), COUNT(*) FROM timeline_event WHERE id <= :through "
                 "GROUP BY customer_id")
    else:
        query = ("SELECT customer_id, MAX(id), COUNT(*) FROM timeline_event WHERE id <= :through AND customer_id IN "
                 "(SELECT customer_id FROM timeline_event WHERE id > :since AND id <= :through) GROUP BY customer_id")
    rows = connection.execute(text(query), {"since": since, "through": through})
    return {int(c): (int(h), int(n)) for c, h, n in rows}


def _hashes(connection: Connection, ids: list[int]) -> dict[int, str]:
    found: dict[int, str] = {}
    for chunk in _in_chunks(sorted(ids)):
        names = ", ".join(f":i{n}" for n in range(len(chunk)))
        rows = connection.execute(text(f"SELECT id, hash FROM timeline_event WHERE id IN ({names})"),
                                  {f"i{n}": v for n, v in enumerate(chunk)})
        found.update({int(i): h for i, h in rows})
    return found


def _counts_up_to(connection: Connection, pins: dict[int, Pin]) -> dict[int, int]:
    """customer → how many of its events have ids up to its pinned head."""
    found: dict[int, int] = {}
    customers = sorted(pins)
    for chunk in _in_chunks(customers):
        where = " OR ".join(f"(customer_id = :c{n} AND id <= :h{n})" for n in range(len(chunk)))
        params: dict[str, int] = {}
        for n, cid in enumerate(chunk):
            params[f"c{n}"], params[f"h{n}"] = cid, pins[cid].event_id
        rows = connection.execute(text(f"SELECT customer_id, COUNT(*) FROM timeline_event WHERE {where} "
                                       "GROUP BY customer_id"), params)
        found.update({int(c): int(n) for c, n in rows})
    return found


def still_extends(pin: Pin, head_hash: str | None, count_up_to_head: int) -> bool:
    return head_hash == pin.hash and count_up_to_head == pin.count


def write_checkpoint(store: Store, path: Path | None = None, now: datetime | None = None,
                     force: bool = True) -> CheckpointResult | None:
    """Append a checkpoint of every chain head changed since the file's last one (all of them in a new file).

    Without `force`, nothing is written when no event was added since, unless the last line is older than
    `IDLE_EVERY`; then None is returned."""
    target = Path(path) if path is not None else store.checkpoint_path
    if target is None:
        raise Conflict("this store has no key file, so there is nowhere to keep its checkpoints; use --out FILE")
    key = store.key
    now = now or datetime.now(UTC)
    with _locked_append(target) as fd:
        state = read_log(target, key)
        if state.damage:
            raise CheckpointDamaged(
                f"the checkpoint file was altered ({state.damage}); nothing more is written to it. Keep it as "
                "evidence, move it aside so a new one starts, and run `agentdesk audit verify`")
        with store.read() as session:
            connection = session.connection()
            through = int(connection.execute(text("SELECT COALESCE(MAX(id), 0) FROM timeline_event")).scalar_one())
            if not force and through == state.through and state.last_at and now - state.last_at < IDLE_EVERY:
                return None
            if through < state.through or (state.through_hash is not None
                                           and _hashes(connection, [state.through]).get(state.through)
                                           != state.through_hash):
                # The newest events were deleted (SQLite may then give their ids again): every chain is compared.
                heads = {cid: head for cid, head in _heads(connection, 0, through).items()
                         if cid not in state.pins or (state.pins[cid].event_id, state.pins[cid].count) != head}
            else:
                heads = _heads(connection, state.through, through) if through > state.through else {}
            pinned = {cid: state.pins[cid] for cid in heads if cid in state.pins}
            old_hashes = _hashes(connection, [p.event_id for p in pinned.values()])
            up_to = _counts_up_to(connection, pinned)
            new_hashes = _hashes(connection, [h for h, _ in heads.values()])
        refused = sorted(cid for cid, pin in pinned.items()
                         if not still_extends(pin, old_hashes.get(pin.event_id), up_to.get(cid, 0)))
        entries = {cid: [h, new_hashes.get(h), n] for cid, (h, n) in sorted(heads.items()) if cid not in refused}
        if os.fstat(fd).st_size > state.trusted_size:
            os.ftruncate(fd, state.trusted_size)  # an unfinished line left by a crash
        at = _utc_text(now)
        items = list(entries.items())
        parts = max(1, -(-len(items) // HEADS_PER_LINE))
        prev, data = state.last_mac, []
        for part in range(parts):
            chunk = items[part * HEADS_PER_LINE:(part + 1) * HEADS_PER_LINE]
            body = {"v": LINE_VERSION, "at": at, "through": through, "part": part + 1, "parts": parts,
                    "heads": {str(cid): value for cid, value in chunk}, "prev": prev}
            mac = _line_mac(key, body)
            data.append(_canonical({**body, "mac": mac}) + "\n")
            prev = mac
        os.write(fd, "".join(data).encode())
        os.fsync(fd)
    if refused:
        log.error("timeline checkpoint: %d customer(s) no longer extend their pinned chain (%s); run audit verify",
                  len(refused), ", ".join(map(str, refused[:20])))
    read_log(target, key)
    return CheckpointResult(target, now, through, len(entries), parts, refused)


def checkpoint(store: Store, actor: Actor, out: Path | None = None) -> CheckpointResult:
    """`agentdesk audit checkpoint [--out FILE]`."""
    require(actor, Action.VIEW_CUSTOMERS)
    try:
        result = write_checkpoint(store, out)
    except OSError as exc:
        raise InvalidInput(fields={"out": f"cannot write the checkpoint there: {exc.strerror or exc}"}) from None
    assert result is not None
    return result


_LAST_WRITE: dict[Path, datetime] = {}


def write_if_due(store: Store, now: datetime | None = None) -> CheckpointResult | None:
    """The worker's call: a checkpoint every `EVERY` when events were added (and every `IDLE_EVERY` anyway).

    A failure is logged, never raised: the worker's other jobs go on."""
    target = store.checkpoint_path
    if target is None:
        return None
    now = now or datetime.now(UTC)
    last = _LAST_WRITE.get(target)
    if last is not None and now - last < EVERY:
        return None
    try:
        result = write_checkpoint(store, target, now, force=False)
    except (OSError, Conflict) as exc:
        log.error("timeline checkpoint not written to %s: %s", target, exc)
        return None
    _LAST_WRITE[target] = now
    return result
