"""KYC documents, AML checks and enhanced due diligence (EDD) for a customer.

Documents are kept like attachments (by sha256 in the data dir). AML checks
are recorded as they come in (from a screening provider through the API, or
entered by an agent). EDD is a flag plus manual scores per risk factor; while
it is required, the automated search runs monthly after the latest check.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from sqlmodel import Session, col, select

from agentdesk.config import Settings
from agentdesk.db.models import Agent, AmlCheck, Attachment, EddScore, KycDocument, TimelineEvent, utcnow
from agentdesk.db.store import Store
from agentdesk.domain import limits
from agentdesk.domain.enums import AmlResult, KycStatus
from agentdesk.domain.errors import InvalidInput, NotFound
from agentdesk.domain.permissions import CUSTOMER, Action, Actor, require
from agentdesk.domain.validation import clean_line
from agentdesk.services.customers.lookup import customer_by_ref
from agentdesk.services.timeline.attachments import keep_file
from agentdesk.services.timeline.catalog import EventType
from agentdesk.services.timeline.record import record_event

DOCUMENT_KINDS = ("passport", "id_card", "driving_licence", "proof_of_address", "bank_statement", "selfie", "other")
REVIEW = (KycStatus.ACCEPTED.value, KycStatus.REJECTED.value)
AML_RESULTS = tuple(result.value for result in AmlResult)
FACTORS = ("arrest", "fraud", "bankruptcy", "occupation", "sanctions", "pep", "adverse_media")
LIKELIHOOD = {"none": 0, "low": 1, "medium": 2, "high": 3}
SEARCH_EVERY = timedelta(days=30)


@dataclass(frozen=True)
class DocumentView:
    id: int
    kind: str
    status: KycStatus
    name: str
    size: int
    uploaded_at: datetime
    uploaded_by: str | None
    attachment_id: int


@dataclass(frozen=True)
class AmlView:
    id: int
    checked_at: datetime
    result: AmlResult
    matches: int
    source: str


@dataclass(frozen=True)
class Compliance:
    documents: list[DocumentView]
    checks: list[AmlView]
    edd_required: bool
    scores: dict[str, str]
    next_search: date | None


def _customer_uploads(session: Session, customer_id: int) -> set[int]:
    """The documents the customer uploaded on a portal link: no agent on the row, so their upload event's
    actor tells."""
    events = session.exec(select(TimelineEvent.attributes).where(
        TimelineEvent.customer_id == customer_id, TimelineEvent.type == EventType.KYC_DOCUMENT_UPLOADED.value,
        TimelineEvent.actor_label == CUSTOMER.login)).all()
    return {int(attrs["document"]) for attrs in events if isinstance(attrs, dict) and "document" in attrs}


def compliance_for(session: Session, customer_id: int) -> Compliance:
    customer = customer_by_ref(session, customer_id)
    docs = session.exec(
        select(KycDocument, Attachment, Agent.login)
        .join(Attachment, col(Attachment.id) == col(KycDocument.attachment_id))
        .outerjoin(Agent, col(Agent.id) == col(KycDocument.uploaded_by)).where(KycDocument.customer_id == customer.id)
        .order_by(col(KycDocument.id).desc())).all()
    checks = session.exec(select(AmlCheck).where(AmlCheck.customer_id == customer.id)
                          .order_by(col(AmlCheck.checked_at).desc(), col(AmlCheck.id).desc())).all()
    scores = {s.factor: s.likelihood for s in session.exec(
        select(EddScore).where(EddScore.customer_id == customer.id).order_by(col(EddScore.factor)))}
    next_search = None
    if customer.edd_required:
        last = checks[0].checked_at.date() if checks else utcnow().date()
        next_search = last + SEARCH_EVERY if checks else last
    by_customer = _customer_uploads(session, customer.id) if any(login is None for _, _, login in docs) else set()
    return Compliance(
        [DocumentView(d.id, d.kind, d.status, a.name, a.size, d.uploaded_at,
                      login or (CUSTOMER.login if d.id in by_customer else None), a.id) for d, a, login in docs],
        [AmlView(c.id, c.checked_at, c.result, c.matches, c.source) for c in checks],
        customer.edd_required, scores, next_search,
    )


def compliance(store: Store, actor: Actor, customer: str | int) -> Compliance:
    require(actor, Action.VIEW_CUSTOMERS)
    with store.read() as session:
        return compliance_for(session, customer_by_ref(session, customer).id)


def upload_document(store: Store, actor: Actor, settings: Settings, customer: str | int, kind: str, path: str) -> int:
    """Upload a KYC document on the customer's behalf; it waits for review as "pending"."""
    require(actor, Action.EDIT_CUSTOMERS)
    kind = (kind or "").strip().lower()
    if kind not in DOCUMENT_KINDS:
        raise InvalidInput(fields={"kind": f"choose one of: {', '.join(DOCUMENT_KINDS)}"})
    sha, size, content_type, name = keep_file(store, settings, path)
    with store.write() as session:
        cid = customer_by_ref(session, customer).id
        attachment = Attachment(customer_id=cid, sha256=sha, name=name, content_type=content_type, size=size,
                                agent_id=actor.agent_id)
        session.add(attachment)
        session.flush()
        document = KycDocument(customer_id=cid, kind=kind, attachment_id=attachment.id, uploaded_by=actor.agent_id)
        session.add(document)
        session.flush()
        record_event(session, actor, cid, EventType.KYC_DOCUMENT_UPLOADED, document=document.id, kind=kind, name=name)
        return document.id


def review_document(store: Store, actor: Actor, document_id: int, status: str) -> None:
    require(actor, Action.EDIT_CUSTOMERS)
    if status not in REVIEW:
        raise InvalidInput(fields={"status": "accepted or rejected"})
    with store.write() as session:
        document = session.get(KycDocument, document_id) if limits.in_id_range(document_id) else None
        if document is None:
            raise NotFound(f"no KYC document {document_id}")
        document.status = KycStatus(status)
        document.reviewed_by = actor.agent_id
        document.reviewed_at = utcnow()
        session.add(document)
        record_event(session, actor, document.customer_id, EventType.KYC_DOCUMENT_REVIEWED, document=document.id,
                     kind=document.kind, status=status)


def record_aml_check(store: Store, actor: Actor, customer: str | int, result: str, matches: int = 0,
                     source: str = "manual") -> int:
    require(actor, Action.EDIT_CUSTOMERS)
    if result not in AML_RESULTS:
        raise InvalidInput(fields={"result": f"one of: {', '.join(AML_RESULTS)}"})
    if not isinstance(matches, int) or isinstance(matches, bool) or not 0 <= matches <= limits.INT32_MAX:
        raise InvalidInput(fields={"matches": f"a whole number from 0 to {limits.INT32_MAX:,}"})
    source = clean_line(source, "source", limits.AML_SOURCE) or "manual"
    with store.write() as session:
        cid = customer_by_ref(session, customer).id
        check = AmlCheck(customer_id=cid, result=AmlResult(result), matches=matches, source=source)
        session.add(check)
        session.flush()
        record_event(session, actor, cid, EventType.AML_CHECK, check=check.id, result=result, matches=matches,
                     source=check.source)
        return check.id


def set_edd(store: Store, actor: Actor, customer: str | int, required: bool | None = None,
            scores: dict[str, str] | None = None) -> Compliance:
    """Mark EDD required (or not) and set likelihoods per factor ("none" removes a score)."""
    require(actor, Action.EDIT_CUSTOMERS)
    scores = {k.strip().lower(): (v or "").strip().lower() for k, v in (scores or {}).items()}
    problems: dict[str, str] = {}
    for factor, likelihood in scores.items():
        if factor not in FACTORS:
            problems[factor] = f"not a risk factor; use one of: {', '.join(FACTORS)}"
        elif likelihood not in LIKELIHOOD:
            problems[factor] = f"likelihood is one of: {', '.join(LIKELIHOOD)}"
    if problems:
        raise InvalidInput(fields=problems)
    with store.write() as session:
        row = customer_by_ref(session, customer)
        changes: dict[str, dict[str, Any]] = {}
        if required is not None and required != row.edd_required:
            changes["edd required"] = {"from": row.edd_required, "to": required}
            row.edd_required = required
            row.updated_at = utcnow()
            session.add(row)
        existing = {s.factor: s for s in session.exec(select(EddScore).where(EddScore.customer_id == row.id))}
        for factor, likelihood in scores.items():
            old = existing.get(factor)
            if likelihood == "none":
                if old is not None:
                    changes[factor] = {"from": old.likelihood, "to": None}
                    session.delete(old)
                continue
            if old is None:
                session.add(EddScore(customer_id=row.id, factor=factor, likelihood=likelihood,
                                     score=LIKELIHOOD[likelihood], set_by=actor.agent_id))
                changes[factor] = {"from": None, "to": likelihood}
            elif old.likelihood != likelihood:
                changes[factor] = {"from": old.likelihood, "to": likelihood}
                old.likelihood, old.score = likelihood, LIKELIHOOD[likelihood]
                old.set_by, old.set_at = actor.agent_id, utcnow()
                session.add(old)
        if changes:
            record_event(session, actor, row.id, EventType.EDD_CHANGED, changes=changes)
        session.flush()
        return compliance_for(session, row.id)
