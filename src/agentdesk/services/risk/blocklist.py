"""Blocklists: values that may not buy or be paid, managed by admins, enforced in the services.

An entry names a customer id, an email, a phone, a card fingerprint, a BIN, an
IP address or a country, with a reason and an optional expiry. A customer is
blocked while any active entry matches one of its values; the customer's
`blocked` flag (the badge, the table filter) follows the entries that name it
directly (id, email, phone, fingerprint), on add, remove and expiry. Every
action that would take or send money asks `refuse_if_blocked` first; a refused
attempt is recorded on the customer's timeline.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from typing import Any

from sqlalchemy import ColumnElement, func, or_
from sqlmodel import Session, col, select

from agentdesk.db.models import (
    Address,
    BlocklistEntry,
    Customer,
    CustomerEmail,
    CustomerPhone,
    PaymentInstrument,
    utcnow,
)
from agentdesk.db.store import Store, get_row
from agentdesk.domain import limits
from agentdesk.domain.countries import COUNTRY_CODES
from agentdesk.domain.dates import parse_date
from agentdesk.domain.enums import BlocklistKind, BlocklistKindSets
from agentdesk.domain.errors import Conflict, InvalidInput, NotFound, ServiceError
from agentdesk.domain.permissions import Action, Actor, require
from agentdesk.domain.text import check_text
from agentdesk.domain.validation import clean_line, normalized_email, phone_digits
from agentdesk.services.timeline.catalog import EventType
from agentdesk.services.timeline.record import record_event

KINDS = tuple(kind.value for kind in BlocklistKind)


class Blocked(ServiceError):
    """The action is refused because a blocklist entry matches the customer."""


@dataclass(frozen=True)
class EntryInfo:
    id: int
    kind: BlocklistKind
    value: str
    reason: str | None
    expires_at: datetime | None
    created_at: datetime
    created_by: int | None
    active: bool

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "kind": self.kind, "value": self.value, "reason": self.reason,
                "expires_at": self.expires_at.isoformat() if self.expires_at else None,
                "created_at": self.created_at.isoformat(), "active": self.active}


def _info(entry: BlocklistEntry, now: datetime) -> EntryInfo:
    return EntryInfo(entry.id, entry.kind, entry.value, entry.reason, entry.expires_at, entry.created_at,
                     entry.created_by,
                     entry.removed_at is None and (entry.expires_at is None or entry.expires_at > now))


def blocklist_kind(text: str) -> BlocklistKind:
    cleaned = (text or "").strip().lower()
    try:
        return BlocklistKind(cleaned)
    except ValueError:
        raise InvalidInput(
            fields={"kind": f"{cleaned!r} is not a blocklist type; use one of: {', '.join(KINDS)}"}
        ) from None


def normalise(kind: BlocklistKind, value: str) -> str:
    raw = check_text(check_text(value or "", "value").strip(), "value", limit=limits.BLOCK_VALUE)
    if not raw:
        raise InvalidInput(fields={"value": "say what to block"})
    if kind == BlocklistKind.EMAIL:
        try:
            return normalized_email(raw).lower()
        except ValueError as exc:
            raise InvalidInput(fields={"value": f"{raw!r} is not an email address: {exc}"}) from None
    if kind == BlocklistKind.PHONE:
        digits = phone_digits(raw)
        if not 7 <= len(digits) <= 15:
            raise InvalidInput(fields={"value": f"{raw!r} is not a phone number"})
        return digits
    if kind == BlocklistKind.BIN:
        if not raw.isascii() or not raw.isdigit() or not 6 <= len(raw) <= 8:
            raise InvalidInput(fields={"value": "a BIN is the card's first 6 to 8 digits"})
        return raw
    if kind == BlocklistKind.IP:
        try:
            return str(ipaddress.ip_address(raw))
        except ValueError:
            raise InvalidInput(fields={"value": f"{raw!r} is not an IP address"}) from None
    if kind == BlocklistKind.COUNTRY:
        code = raw.upper()
        if code not in COUNTRY_CODES:
            raise InvalidInput(fields={"value": f"{raw!r} is not an ISO 3166 country code"})
        return code
    return raw


def parse_expiry(text: str | None) -> datetime | None:
    if not text or not str(text).strip():
        return None
    day = parse_date(str(text), "expires")
    if day <= date.today():
        raise InvalidInput(fields={"expires": "the expiry must be in the future"})
    return datetime.combine(day, time.min, tzinfo=UTC)


def _active(now: datetime) -> tuple[ColumnElement[bool], ...]:
    expires_at = col(BlocklistEntry.expires_at)
    return col(BlocklistEntry.removed_at).is_(None), or_(expires_at.is_(None), expires_at > now)


def _customers_named(session: Session, kind: BlocklistKind, value: str) -> list[int]:
    if kind == BlocklistKind.CUSTOMER:
        query = select(Customer.id).where(Customer.external_id == value)
    elif kind == BlocklistKind.EMAIL:
        query = select(CustomerEmail.customer_id).where(func.lower(col(CustomerEmail.address)) == value)
    elif kind == BlocklistKind.PHONE:
        query = select(CustomerPhone.customer_id).where(CustomerPhone.digits == value)
    elif kind == BlocklistKind.FINGERPRINT:
        query = select(PaymentInstrument.customer_id).where(PaymentInstrument.fingerprint == value)
    else:
        return []
    return sorted(set(session.exec(query)))


def _values_of(session: Session, customer: Customer) -> dict[BlocklistKind, set[str]]:
    cid = customer.id
    emails = session.exec(select(CustomerEmail.address).where(CustomerEmail.customer_id == cid))
    phones = session.exec(select(CustomerPhone.digits).where(CustomerPhone.customer_id == cid))
    cards = session.exec(select(PaymentInstrument.fingerprint, PaymentInstrument.bin)
                         .where(PaymentInstrument.customer_id == cid)).all()
    countries = session.exec(select(Address.country).where(Address.customer_id == cid))
    return {
        BlocklistKind.CUSTOMER: {customer.external_id},
        BlocklistKind.EMAIL: {e.lower() for e in emails},
        BlocklistKind.PHONE: set(phones),
        BlocklistKind.FINGERPRINT: {fingerprint for fingerprint, _ in cards if fingerprint},
        BlocklistKind.BIN: {bin_ for _, bin_ in cards if bin_},
        BlocklistKind.IP: {customer.signup_ip} if customer.signup_ip else set(),
        BlocklistKind.COUNTRY: set(countries),
    }


def entries_matching(session: Session, customer: Customer,
                     kinds: tuple[BlocklistKind, ...] = tuple(BlocklistKind)) -> list[BlocklistEntry]:
    values = _values_of(session, customer)
    conditions = [(col(BlocklistEntry.kind) == kind) & col(BlocklistEntry.value).in_(sorted(values[kind]))
                  for kind in kinds if values[kind]]
    if not conditions:
        return []
    return list(session.exec(select(BlocklistEntry).where(*_active(utcnow()), or_(*conditions))
                             .order_by(col(BlocklistEntry.id))))


def _set_flag(session: Session, customer: Customer) -> None:
    blocked = bool(entries_matching(session, customer, BlocklistKindSets.DIRECT))
    if customer.blocked != blocked:
        customer.blocked = blocked
        customer.updated_at = utcnow()
        session.add(customer)


def add_entry(store: Store, actor: Actor, kind: BlocklistKind | str, value: str, reason: str | None = None,
              expires: str | datetime | None = None) -> EntryInfo:
    require(actor, Action.BLOCKLIST)
    kind = blocklist_kind(kind)
    value = normalise(kind, value)
    expires_at = expires if isinstance(expires, datetime) else parse_expiry(expires)
    reason = clean_line(reason, "reason", limits.REASON)
    with store.write() as session:
        now = utcnow()
        clash = session.exec(select(BlocklistEntry).where(BlocklistEntry.kind == kind, BlocklistEntry.value == value,
                                                          *_active(now))).first()
        if clash is not None:
            raise Conflict(f"{kind} {value} is already blocked (entry {clash.id})")
        entry = BlocklistEntry(kind=kind, value=value, reason=reason, expires_at=expires_at, created_by=actor.agent_id)
        session.add(entry)
        session.flush()
        for cid in _customers_named(session, kind, value):
            _set_flag(session, get_row(session, Customer, cid))
            record_event(session, actor, cid, EventType.BLOCKLISTED, entry=entry.id, kind=kind, value=value,
                         reason=reason, expires=expires_at.date().isoformat() if expires_at else None)
        return _info(entry, now)


def remove_entry(store: Store, actor: Actor, entry_id: int) -> EntryInfo:
    require(actor, Action.BLOCKLIST)
    with store.write() as session:
        entry = session.get(BlocklistEntry, entry_id) if limits.in_id_range(entry_id) else None
        if entry is None or entry.removed_at is not None:
            raise NotFound(f"no active blocklist entry {entry_id}")
        entry.removed_at = utcnow()
        entry.removed_by = actor.agent_id
        session.add(entry)
        session.flush()
        for cid in _customers_named(session, entry.kind, entry.value):
            _set_flag(session, get_row(session, Customer, cid))
            record_event(session, actor, cid, EventType.UNBLOCKED, entry=entry.id, kind=entry.kind, value=entry.value)
        return _info(entry, utcnow())


def list_entries(store: Store, actor: Actor, include_inactive: bool = False) -> list[EntryInfo]:
    require(actor, Action.VIEW_CUSTOMERS)
    now = utcnow()
    with store.read() as session:
        query = select(BlocklistEntry).order_by(col(BlocklistEntry.id).desc())
        if not include_inactive:
            query = query.where(*_active(now))
        return [_info(e, now) for e in session.exec(query)]


def blocks_on(store: Store, actor: Actor, customer_id: int) -> list[EntryInfo]:
    """The active entries that match a customer: what the badge and its reason show."""
    require(actor, Action.VIEW_CUSTOMERS)
    now = utcnow()
    with store.read() as session:
        customer = get_row(session, Customer, customer_id, "customer")
        return [_info(e, now) for e in entries_matching(session, customer)]


def refuse_if_blocked(store: Store, actor: Actor, customer_id: int, action: str) -> None:
    """Raise `Blocked` (after recording the refused attempt) if any active entry matches the customer."""
    with store.read() as session:
        customer = session.get(Customer, customer_id)
        matches = entries_matching(session, customer) if customer else []
    if not matches:
        return
    entry = matches[0]
    with store.write() as session:
        record_event(session, actor, customer_id, EventType.BLOCKED_ATTEMPT, action=action, entry=entry.id,
                     kind=entry.kind)
    why = f" ({entry.reason})" if entry.reason else ""
    raise Blocked(f"refused: the customer's {entry.kind} {entry.value} is on the blocklist{why}")


def expire_flags(store: Store) -> int:
    """Clear the flag of customers whose only entries have expired (the worker runs this)."""
    changed = 0
    with store.read() as session:
        flagged = list(session.exec(select(Customer.id).where(Customer.blocked)))
    for cid in flagged:
        with store.write(unrecorded="an expiry is the entry's own end, recorded when it was added") as session:
            customer = get_row(session, Customer, cid)
            before = customer.blocked
            _set_flag(session, customer)
            changed += before != customer.blocked
    return changed
