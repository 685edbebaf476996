"""`agentdesk audit verify`: what a database writer without the service key changed, and where.

Three checks, each naming the customer it concerns:

- the chains (`chain.walk`): an event forged or rewritten without the key, its content changed, an event
  deleted or moved from the middle;
- the checkpoints (`checkpoints`): events gone since the latest checkpoint of each customer: the last ones
  (truncated), ones before the pinned head (deleted), or all of them;
- the money rows: a sale, refund, void, payout or credit memo whose immutable fields no longer give its seal
  (changed), one that an event recorded but that is gone (deleted), and one that no event sealed (written
  outside the services).

What it cannot catch: anyone holding the service key can rewrite history consistently; a checkpoint file
shipped elsewhere (`audit checkpoint --out`) narrows that to what happened since it was shipped.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Row, text
from sqlalchemy.engine import Connection
from sqlmodel import col, select

from agentdesk.db.keys import ServiceKey
from agentdesk.db.models import Customer
from agentdesk.db.store import Store
from agentdesk.domain.errors import InvalidInput
from agentdesk.domain.permissions import Action, Actor, require
from agentdesk.services.customers.lookup import customer_by_ref
from agentdesk.services.timeline import chain as timeline_chain
from agentdesk.services.timeline import checkpoints as timeline_checkpoints
from agentdesk.services.timeline.chain import CHANGED, DELETED, FORGED, TRUNCATED, Break
from agentdesk.services.timeline.checkpoints import Pin

MONEY_CHANGED = "money row changed"
MONEY_DELETED = "money row deleted"
MONEY_UNSEALED = "money row unsealed"
CHECKPOINT_DAMAGED = "checkpoint damaged"
KINDS = (FORGED, CHANGED, DELETED, TRUNCATED, MONEY_CHANGED, MONEY_DELETED, MONEY_UNSEALED, CHECKPOINT_DAMAGED)


@dataclass(frozen=True)
class Finding:
    customer: str
    """The customer's id as agents know it (or "#<n>" for one no longer in the store; "-" for the file)."""
    kind: str
    event_id: int | None
    problem: str

    def to_dict(self) -> dict[str, Any]:
        return {"customer": self.customer, "kind": self.kind, "event": self.event_id, "problem": self.problem}


ChainBreak = Finding


@dataclass(frozen=True)
class AuditReport:
    events: int
    customers: int
    money_rows: int
    unkeyed_events: int
    """Events from before the store was keyed (plain sha256): checked, and pinned by the checkpoints."""
    checkpoint: Path | None
    checkpoint_at: str | None
    pinned: int
    """Customers the checkpoint file pins."""
    findings: list[Finding] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.findings

    def by_customer(self) -> dict[str, list[Finding]]:
        grouped: dict[str, list[Finding]] = {}
        for finding in self.findings:
            grouped.setdefault(finding.customer, []).append(finding)
        return grouped

    def to_dict(self) -> dict[str, Any]:
        return {"ok": self.ok, "events": self.events, "customers": self.customers, "money_rows": self.money_rows,
                "unkeyed_events": self.unkeyed_events,
                "checkpoint": str(self.checkpoint) if self.checkpoint else None,
                "checkpoint_at": self.checkpoint_at, "pinned_customers": self.pinned,
                "findings": [f.to_dict() for f in self.findings]}


def shown_time(value: str | datetime) -> str:
    if isinstance(value, str):
        value = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def compare_with_pin(customer_id: int, rows: list[Row[Any]], pin: Pin) -> list[Break]:
    """What happened to a customer's chain since the checkpoint that pinned it."""
    found: list[Break] = []
    up_to = [r for r in rows if r.id <= pin.event_id]
    head = next((r for r in up_to if r.id == pin.event_id), None)
    later = len(rows) - len(up_to)
    missing = pin.count - len(up_to)
    at = shown_time(pin.at)
    since = f"since the checkpoint of {at}"
    if head is None:
        if not rows:
            found.append(Break(customer_id, None, TRUNCATED,
                               f"all {pin.count} of its events are gone {since}"))
        elif not later:
            found.append(Break(customer_id, up_to[-1].id if up_to else None, TRUNCATED,
                               f"its last {missing} event(s) are gone {since}, which ended at event {pin.event_id}"))
        else:
            found.append(Break(customer_id, pin.event_id, DELETED,
                               f"event {pin.event_id}, its last event at the checkpoint of {at}, is gone"))
            if missing > 1:
                found.append(Break(customer_id, pin.event_id, DELETED,
                                   f"{missing - 1} more event(s) before it are gone {since}"))
        return found
    if head.hash != pin.hash:
        found.append(Break(customer_id, head.id, FORGED,
                           f"its hash is not the one the checkpoint of {at} recorded: it was rewritten, or the "
                           "event replaced"))
    if missing > 0:
        found.append(Break(customer_id, head.id, DELETED,
                           f"{missing} event(s) up to event {head.id} are gone {since}"))
    elif missing < 0:
        found.append(Break(customer_id, head.id, FORGED,
                           f"{-missing} event(s) were slipped in before event {head.id} {since}"))
    return found


@dataclass
class _Money:
    """The money rows to check, and the seals the events recorded."""

    key: ServiceKey
    merged_from: dict[int, list[int]]
    bound: dict[tuple[str, int], tuple[int, int, str]] = field(default_factory=dict)
    """(table, id) → (event customer, event id, seal)."""
    findings: list[Break] = field(default_factory=list)
    rows: int = 0

    def candidates(self, customer_id: int) -> list[int]:
        """The customer and every customer merged into it (a merge moves rows; the seal keeps the first)."""
        found, queue = [customer_id], [customer_id]
        while queue:
            for other in self.merged_from.get(queue.pop(), []):
                if other not in found:
                    found.append(other)
                    queue.append(other)
        return found

    def sealed(self, table: str, row: Any) -> bool:
        return any(self.key.seal_money(table, row, c) == row["seal"] for c in self.candidates(row["customer_id"]))

    def check_rows(self, table: str, rows: Iterable[Any]) -> set[int]:
        seen: set[int] = set()
        for row in rows:
            self.rows += 1
            seen.add(row["id"])
            label = _money_label(table, row)
            bound = self.bound.get((table, row["id"]))
            if row["seal"] is None:
                if row.get("status") == "pending":
                    continue
                self.findings.append(Break(row["customer_id"], None, MONEY_UNSEALED,
                                           f"{label} carries no seal: it was written outside the services"))
            elif not self.sealed(table, row) or (bound is not None and bound[2] != row["seal"]):
                where = f" (recorded by event {bound[1]})" if bound else ""
                self.findings.append(Break(
                    row["customer_id"], bound[1] if bound else None, MONEY_CHANGED,
                    f"{label}{where} no longer matches its seal: its amount, currency, type, customer, parent or "
                    "date was changed"))
        return seen

    def check_deleted(self, table: str, present: set[int], connection: Connection) -> None:
        wanted = sorted(i for (t, i) in self.bound if t == table and i not in present)
        existing = _existing_ids(connection, table, wanted)
        for row_id in wanted:
            if row_id in existing:
                continue
            customer_id, event_id, _ = self.bound[(table, row_id)]
            self.findings.append(Break(customer_id, event_id, MONEY_DELETED,
                                       f"{_money_label(table, {'id': row_id})}, recorded by event {event_id}, is gone"))


def _money_label(table: str, row: Any) -> str:
    if table == "credit_memo":
        return f"credit memo {row['id']}"
    kind = row.get("type")
    return f"transaction {row['id']}" + (f" ({getattr(kind, 'value', kind)})" if kind else "")


def _existing_ids(connection: Connection, table: str, ids: list[int]) -> set[int]:
    found: set[int] = set()
    for start in range(0, len(ids), 500):
        chunk = ids[start:start + 500]
        names = ", ".join(f":i{n}" for n in range(len(chunk)))
        rows = connection.execute(text(f'SELECT id FROM "{table}" WHERE id IN ({names})'),
                                  {f"i{n}": v for n, v in enumerate(chunk)})
        found.update(int(r[0]) for r in rows)
    return found


MONEY_QUERIES = {
    "transaction": 'SELECT id, customer_id, type, amount, currency, parent_id, created_at, status, seal '
                   'FROM "transaction"',
    "credit_memo": "SELECT id, customer_id, amount, currency, created_at, seal FROM credit_memo",
}


def verify(store: Store, actor: Actor, customer: str | None = None,
           checkpoint_file: Path | None = None) -> AuditReport:
    """Check the chains, the latest checkpoints and the money rows: of every customer, or of one."""
    require(actor, Action.VIEW_CUSTOMERS)
    key, keyed_from = store.key, store.keyed_from_event
    path = Path(checkpoint_file) if checkpoint_file is not None else store.checkpoint_path
    try:
        logged = timeline_checkpoints.read_log(path, key) if path is not None else None
    except OSError as exc:
        raise InvalidInput(fields={"checkpoints": f"cannot read {str(path)[:80]!r}: {exc.strerror or exc}"}) from None
    pins = logged.pins if logged is not None else {}
    breaks: list[Break] = []
    files: list[Finding] = []
    if logged is not None and logged.damage:
        files.append(Finding("-", CHECKPOINT_DAMAGED, None, f"the checkpoint file was altered: {logged.damage}"))
    events = customers = unkeyed = 0
    with store.read() as session:
        customer_id = None
        if customer is not None:
            customer_id = customer_by_ref(session, customer).id
        connection = session.connection()
        merged: dict[int, list[int]] = {}
        for cid, into in session.exec(select(Customer.id, Customer.merged_into_id)
                                      .where(col(Customer.merged_into_id).is_not(None))):
            if into is not None:
                merged.setdefault(into, []).append(cid)
        money = _Money(key, merged)
        seen: set[int] = set()
        for rows in timeline_chain.customer_chains(connection, customer_id):
            cid = rows[0].customer_id
            seen.add(cid)
            events += len(rows)
            customers += 1
            unkeyed += sum(1 for r in rows if (r.hash_version or timeline_chain.UNKEYED) != timeline_chain.KEYED)
            pin = pins.get(cid)
            found = timeline_chain.walk(rows, key, keyed_from, frozenset({pin.hash}) if pin else frozenset())
            if pin is not None:
                found += compare_with_pin(cid, rows, pin)
            breaks += found
            untrusted = {b.event_id for b in found if b.kind in (FORGED, CHANGED)}
            for row in rows:
                if row.bound_rows and row.id not in untrusted:
                    for table, row_id, seal in row.bound_rows:
                        money.bound[(str(table), int(row_id))] = (cid, row.id, str(seal))
        for cid, pin in pins.items():
            if cid not in seen and (customer_id is None or cid == customer_id):
                breaks += compare_with_pin(cid, [], pin)
        for table, query in MONEY_QUERIES.items():
            if customer_id is not None:
                owners = money.candidates(customer_id)
                query += " WHERE customer_id IN (" + ", ".join(str(int(c)) for c in owners) + ")"
            present = money.check_rows(table, connection.execute(text(query + " ORDER BY id")).mappings())
            money.check_deleted(table, present, connection)
        breaks += money.findings
        ids = {b.customer_id for b in breaks}
        names: dict[int, str] = {}
        if ids:
            names = dict(session.exec(select(Customer.id, Customer.external_id).where(col(Customer.id).in_(ids))).all())
    findings = files + [
        Finding(names.get(b.customer_id, f"#{b.customer_id} (no longer in the store)"), b.kind, b.event_id, b.problem)
        for b in sorted(breaks, key=lambda b: (b.customer_id, KINDS.index(b.kind), b.event_id or 0))
    ]
    at = shown_time(logged.last_at) if logged is not None and logged.last_at else None
    return AuditReport(events, customers, money.rows, unkeyed, path, at, len(pins), findings)


def verify_chains(store: Store, actor: Actor, customer: str | None = None) -> tuple[int, list[Finding]]:
    """(events checked, findings): `verify` for callers that only want the list."""
    report = verify(store, actor, customer)
    return report.events, report.findings
