"""Tax IDs (add, delete, set default) and the lead source (where the customer came from)."""

from __future__ import annotations

import re
from dataclasses import dataclass

from sqlalchemy import update
from sqlmodel import Session, col, select

from agentdesk.db.models import TaxId, utcnow
from agentdesk.db.store import Store
from agentdesk.domain import limits
from agentdesk.domain.errors import InvalidInput, NotFound
from agentdesk.domain.permissions import Action, Actor, require
from agentdesk.domain.validation import line_problem
from agentdesk.services.customers.lookup import customer_by_ref
from agentdesk.services.timeline.catalog import EventType
from agentdesk.services.timeline.record import record_event

TAX_TYPES = ("vat", "ein", "ssn", "abn", "gst", "other")
TAX_VALUE = re.compile(rf"[A-Za-z0-9][A-Za-z0-9 .\-/]{{1,{limits.TAX_ID - 1}}}")
LEAD_FIELDS = ("source", "medium", "campaign", "term", "content", "affiliate", "sub_affiliate", "referrer",
               "landing_page", "funnel")


@dataclass(frozen=True)
class TaxIdInfo:
    id: int
    type: str
    value: str
    default: bool


def tax_ids(session: Session, customer_id: int) -> list[TaxIdInfo]:
    rows = session.exec(select(TaxId).where(TaxId.customer_id == customer_id).order_by(col(TaxId.id)))
    return [TaxIdInfo(t.id, t.type, t.value, t.is_default) for t in rows]


def add_tax_id(store: Store, actor: Actor, customer: str | int, kind: str, value: str, default: bool = False) -> int:
    require(actor, Action.EDIT_CUSTOMERS)
    kind = (kind or "").strip().lower()
    raw_value = str(value or "")
    value = " ".join(raw_value.split())
    problems = {}
    if kind not in TAX_TYPES:
        problems["type"] = f"choose one of: {', '.join(TAX_TYPES)}"
    if not TAX_VALUE.fullmatch(value) or line_problem(raw_value, limit=limits.TAX_ID):
        problems["value"] = f"2 to {limits.TAX_ID} letters, digits, spaces, '.', '-' or '/'"
    if problems:
        raise InvalidInput(fields=problems)
    with store.write() as session:
        row = customer_by_ref(session, customer)
        existing = session.exec(select(TaxId).where(TaxId.customer_id == row.id)).all()
        make_default = default or not existing
        if make_default:
            session.exec(update(TaxId).where(col(TaxId.customer_id) == row.id).values(is_default=False))
        tax = TaxId(customer_id=row.id, type=kind, value=value, is_default=make_default)
        session.add(tax)
        session.flush()
        record_event(session, actor, row.id, EventType.CUSTOMER_EDITED,
                     changes={"tax id": {"from": None, "to": f"{kind} {value}"}})
        return tax.id


def delete_tax_id(store: Store, actor: Actor, tax_id: int) -> None:
    require(actor, Action.EDIT_CUSTOMERS)
    with store.write() as session:
        tax = session.get(TaxId, tax_id) if limits.in_id_range(tax_id) else None
        if tax is None:
            raise NotFound(f"no tax id {tax_id}")
        session.delete(tax)
        session.flush()
        if tax.is_default:
            other = session.exec(
                select(TaxId).where(TaxId.customer_id == tax.customer_id).order_by(col(TaxId.id))
            ).first()
            if other is not None:
                other.is_default = True
                session.add(other)
        record_event(session, actor, tax.customer_id, EventType.CUSTOMER_EDITED,
                     changes={"tax id": {"from": f"{tax.type} {tax.value}", "to": None}})


def set_default_tax_id(store: Store, actor: Actor, tax_id: int) -> None:
    require(actor, Action.EDIT_CUSTOMERS)
    with store.write() as session:
        tax = session.get(TaxId, tax_id) if limits.in_id_range(tax_id) else None
        if tax is None:
            raise NotFound(f"no tax id {tax_id}")
        if tax.is_default:
            return
        session.exec(update(TaxId).where(col(TaxId.customer_id) == tax.customer_id).values(is_default=False))
        tax.is_default = True
        session.add(tax)
        record_event(session, actor, tax.customer_id, EventType.CUSTOMER_EDITED,
                     changes={"default tax id": {"from": None, "to": f"{tax.type} {tax.value}"}})


def set_lead_source(store: Store, actor: Actor, customer: str | int, values: dict[str, str]) -> dict[str, str]:
    require(actor, Action.EDIT_CUSTOMERS)
    unknown = set(values) - set(LEAD_FIELDS)
    if unknown:
        raise InvalidInput(fields={name: "not a lead source field" for name in sorted(unknown)})
    cleaned = {}
    for name in LEAD_FIELDS:
        problem = line_problem(str(values.get(name) or ""), limit=limits.LEAD_FIELD)
        if problem is not None:
            raise InvalidInput(fields={name: problem})
        text = " ".join(str(values.get(name) or "").split())
        if text:
            cleaned[name] = text
    with store.write() as session:
        row = customer_by_ref(session, customer)
        old = dict(row.lead_source or {})
        if old != cleaned:
            changes = {f"lead {k}": {"from": old.get(k), "to": cleaned.get(k)} for k in LEAD_FIELDS
                       if old.get(k) != cleaned.get(k)}
            row.lead_source = cleaned
            row.updated_at = utcnow()
            session.add(row)
            record_event(session, actor, row.id, EventType.CUSTOMER_EDITED, changes=changes)
        return cleaned
