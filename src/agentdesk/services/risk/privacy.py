"""Anonymising and merging customers (admins only).

Anonymising replaces every piece of personal data on the customer's own rows
with placeholders and keeps the money records; it cannot be undone, so the
service wants the customer's id typed back as confirmation. Merging moves
everything of the duplicates to the kept customer in one transaction and
leaves each duplicate as a pointer to it.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func, update
from sqlmodel import Session, SQLModel, col, select

from agentdesk.db import search_index
from agentdesk.db.models import (
    Address,
    Attachment,
    CreditMemo,
    Customer,
    CustomerEmail,
    CustomerPhone,
    CustomerTag,
    Mention,
    Order,
    PaymentInstrument,
    TaxId,
    TimelineEvent,
    Transaction,
    table_of,
    utcnow,
)
from agentdesk.db.store import Store
from agentdesk.domain.enums import InstrumentStatus
from agentdesk.domain.errors import Conflict, InvalidInput
from agentdesk.domain.permissions import Action, Actor, require
from agentdesk.services.customers.lookup import customer_by_ref
from agentdesk.services.money import aggregates
from agentdesk.services.timeline.catalog import EventType
from agentdesk.services.timeline.record import record_event

PLACEHOLDER = "anonymised"



def anonymise_customer(store: Store, actor: Actor, ref: str | int, typed_confirmation: str) -> None:
    require(actor, Action.MERGE_ANONYMIZE)
    with store.write() as session:
        customer = customer_by_ref(session, ref)
        if (typed_confirmation or "").strip() != customer.external_id:
            raise InvalidInput(fields={"confirmation": f"type the customer's id ({customer.external_id}) to confirm"})
        if customer.first_name == PLACEHOLDER and customer.last_name == PLACEHOLDER:
            raise Conflict("this customer is already anonymised")
        cid = customer.id
        customer.first_name = PLACEHOLDER
        customer.last_name = PLACEHOLDER
        customer.organization = None
        customer.job_title = None
        customer.date_of_birth = None
        customer.company_id = None
        customer.company_email = None
        customer.signup_ip = None
        customer.custom_fields = {}
        customer.updated_at = utcnow()
        session.add(customer)
        personal: tuple[type[SQLModel], ...] = (CustomerEmail, CustomerPhone, Address, TaxId, CustomerTag)
        for model in personal:
            for row in session.exec(select(model).where(table_of(model).c.customer_id == cid)):
                session.delete(row)
        for instrument in session.exec(select(PaymentInstrument).where(PaymentInstrument.customer_id == cid)):
            instrument.gateway_token = None
            instrument.fingerprint = None
            instrument.bin = None
            instrument.status = InstrumentStatus.INACTIVE
            session.add(instrument)
        record_event(session, actor, cid, EventType.CUSTOMER_ANONYMISED)
        search_index.refresh(session, [cid])


@dataclass(frozen=True)
class MergePreview:
    kept: str
    merged: list[str]
    moves: dict[str, int]
    """Rows that move to the kept customer, by kind."""
    conflicts: dict[str, tuple[str, list[str]]]
    """Field → (the kept customer's value, which wins; the others' differing values)."""


MOVED: list[tuple[str, type[SQLModel]]] = [("emails", CustomerEmail), ("phones", CustomerPhone), ("addresses", Address),
         ("instruments", PaymentInstrument), ("orders", Order), ("transactions", Transaction),
         ("timeline events", TimelineEvent), ("tags", CustomerTag), ("tax ids", TaxId), ("credit memos", CreditMemo),
         ("attachments", Attachment), ("mentions", Mention)]
COMPARED = ("first_name", "last_name", "organization", "job_title", "date_of_birth", "currency")


def _load(session: Session, kept_ref: str, merged_refs: list[str]) -> tuple[Customer, list[Customer]]:
    kept = customer_by_ref(session, kept_ref)
    others = [customer_by_ref(session, ref) for ref in dict.fromkeys(merged_refs)]
    if not others or any(o.id == kept.id for o in others):
        raise InvalidInput(fields={"merge": "choose the customer to keep and at least one other to merge into it"})
    for o in [kept, *others]:
        if o.merged_into_id is not None:
            raise Conflict(f"{o.external_id} was already merged into another customer")
    return kept, others


def merge_preview(store: Store, actor: Actor, kept_ref: str, merged_refs: list[str]) -> MergePreview:
    require(actor, Action.MERGE_ANONYMIZE)
    with store.read() as session:
        kept, others = _load(session, kept_ref, merged_refs)
        ids = [o.id for o in others]
        moves: dict[str, int] = {}
        for label, model in MOVED:
            table = table_of(model)
            moves[label] = session.exec(select(func.count()).select_from(table)
                                        .where(table.c.customer_id.in_(ids))).one()
        conflicts: dict[str, tuple[str, list[str]]] = {}
        for name in COMPARED:
            mine = getattr(kept, name)
            theirs = sorted({str(getattr(o, name)) for o in others if getattr(o, name) not in (None, mine)})
            if theirs:
                conflicts[name] = (str(mine), theirs)
        return MergePreview(kept.external_id, [o.external_id for o in others], moves, conflicts)


def merge_customers(store: Store, actor: Actor, kept_ref: str, merged_refs: list[str]) -> MergePreview:
    """All or nothing: every row of the duplicates moves to the kept customer, whose own fields win;
    the duplicates remain as pointers to it and leave the search index."""
    preview = merge_preview(store, actor, kept_ref, merged_refs)
    if any(v for k, v in preview.conflicts.items() if k == "currency"):
        raise Conflict("the customers pay in different currencies; merge is refused to keep lifetime values right")
    with store.write() as session:
        kept, others = _load(session, kept_ref, merged_refs)
        ids = [o.id for o in others]
        session.exec(select(Transaction.id).where(col(Transaction.customer_id).in_(ids))
                     .order_by(col(Transaction.id)).with_for_update()).all()
        aggregates.lock_customers(session, [kept.id, *ids])
        has_primary_email = session.exec(select(CustomerEmail.id).where(CustomerEmail.customer_id == kept.id,
                                                                        CustomerEmail.is_primary)).first()
        has_primary_phone = session.exec(select(CustomerPhone.id).where(CustomerPhone.customer_id == kept.id,
                                                                        CustomerPhone.is_primary)).first()
        # The kept customer's primaries stay primary; the others' become secondary.
        if has_primary_email:
            session.exec(update(CustomerEmail).where(col(CustomerEmail.customer_id).in_(ids)).values(is_primary=False))
        if has_primary_phone:
            session.exec(update(CustomerPhone).where(col(CustomerPhone.customer_id).in_(ids)).values(is_primary=False))
        session.exec(update(Address).where(col(Address.customer_id).in_(ids)).values(is_primary=False))
        session.exec(update(PaymentInstrument).where(col(PaymentInstrument.customer_id).in_(ids))
                     .values(is_primary=False))
        kept_tags = set(session.exec(select(CustomerTag.tag).where(CustomerTag.customer_id == kept.id)))
        for tag in session.exec(select(CustomerTag).where(col(CustomerTag.customer_id).in_(ids))).all():
            if tag.tag in kept_tags:
                session.delete(tag)
            kept_tags.add(tag.tag)
        session.flush()
        for _, model in MOVED:
            if model is CustomerTag:
                for tag in session.exec(select(CustomerTag).where(col(CustomerTag.customer_id).in_(ids))).all():
                    session.delete(tag)
                    session.flush()
                    session.add(CustomerTag(customer_id=kept.id, tag=tag.tag))
                continue
            if model is TimelineEvent:
                continue
            table = table_of(model)
            session.exec(update(table).where(table.c.customer_id.in_(ids)).values(customer_id=kept.id))
        for customer_id in [kept.id, *ids]:
            aggregates.recompute(session, customer_id)
        for other in others:
            other.merged_into_id = kept.id
            other.updated_at = utcnow()
            session.add(other)
            record_event(session, actor, other.id, EventType.MERGED, kept=kept.external_id, merged=[other.external_id])
        kept.updated_at = utcnow()
        session.add(kept)
        record_event(session, actor, kept.id, EventType.MERGED, kept=kept.external_id,
                     merged=[o.external_id for o in others])
        search_index.refresh(session, [kept.id, *ids])
        dialect = session.get_bind().dialect.name
        session.exec(search_index.index_table(dialect).delete().where(search_index.key_column(dialect).in_(ids)))
    return preview
