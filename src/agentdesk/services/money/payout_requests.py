"""Payout requests customers make on payout links; an admin or finance approves (pays once) or rejects them.

Approval moves the request pending → approved in a conditional update, sends the payout through
`payments.send_payout` keyed by the request (`payout-request-<id>`), then records the outcome
(paid, failed, or still approved while the gateway has not answered). A second approver, or the same
one again, re-sends with the same key: the gateway pays once whatever is retried.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import update
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from agentdesk.config import Settings
from agentdesk.db.models import Agent, Customer, PaymentInstrument, PayoutRequest, Transaction, utcnow
from agentdesk.db.store import Store, get_row
from agentdesk.domain import limits
from agentdesk.domain.enums import InstrumentStatus, PayoutRequestStatus, TransactionStatus
from agentdesk.domain.errors import Conflict, InvalidInput, NotFound, ServiceError
from agentdesk.domain.formatting import instrument_label
from agentdesk.domain.money import format_amount
from agentdesk.domain.permissions import Action, Actor, require
from agentdesk.domain.validation import clean_line
from agentdesk.services.customers.lookup import customer_by_ref
from agentdesk.services.money import payments
from agentdesk.services.policy import service as policy
from agentdesk.services.timeline.catalog import EventType
from agentdesk.services.timeline.record import record_event


@dataclass(frozen=True)
class PayoutRequestInfo:
    id: int
    customer_id: int
    customer: str
    """The customer's external id."""
    amount: int
    currency: str
    instrument_id: int
    method: str
    """The instrument's label, e.g. "Visa •••• 4242"."""
    status: PayoutRequestStatus
    transaction_id: int | None
    reason: str | None
    link_id: int | None
    decided_by: str | None
    decided_at: datetime | None
    created_at: datetime

    @property
    def summary(self) -> str:
        """One line for lists: "#3 C-1 $12.50 to Visa •••• 4242 · pending"."""
        amount = format_amount(self.amount, self.currency)
        text = f"#{self.id} {self.customer} {amount} to {self.method} · {self.status}"
        return f"{text} ({self.reason})" if self.reason else text

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["status"] = self.status.value
        for key in ("decided_at", "created_at"):
            value = data[key]
            data[key] = value.isoformat() if value is not None else None
        return data


def request_key(request_id: int) -> str:
    """The request id given to `send_payout` (its transaction's key is "payout-" + this)."""
    return f"payout-request-{request_id}"


def info_of(session: Session, row: PayoutRequest) -> PayoutRequestInfo:
    customer = get_row(session, Customer, row.customer_id)
    instrument = get_row(session, PaymentInstrument, row.instrument_id, "payment instrument")
    decider = session.get(Agent, row.decided_by) if row.decided_by is not None else None
    return PayoutRequestInfo(row.id, row.customer_id, customer.external_id, row.amount, row.currency, row.instrument_id,
                             instrument_label(instrument.method, instrument.brand, instrument.last4), row.status,
                             row.transaction_id, row.reason, row.link_id, decider.login if decider else None,
                             row.decided_at, row.created_at)


def _request(session: Session, request_id: int) -> PayoutRequest:
    row = session.get(PayoutRequest, request_id) if limits.in_id_range(request_id) else None
    if row is None:
        raise NotFound(f"no payout request {request_id}")
    return row


def list_payout_requests(store: Store, actor: Actor, status: str | None = None,
                         customer_ref: str | int | None = None) -> list[PayoutRequestInfo]:
    """Newest first; `status` one of pending, approved, paid, rejected, failed."""
    require(actor, Action.VIEW_CUSTOMERS)
    wanted: PayoutRequestStatus | None = None
    if status is not None:
        try:
            wanted = PayoutRequestStatus(status.strip().lower())
        except ValueError:
            choices = ", ".join(s.value for s in PayoutRequestStatus)
            raise InvalidInput(fields={"status": f"one of {choices}"}) from None
    with store.read() as session:
        query = select(PayoutRequest)
        if wanted is not None:
            query = query.where(PayoutRequest.status == wanted)
        if customer_ref is not None:
            query = query.where(PayoutRequest.customer_id == customer_by_ref(session, customer_ref).id)
        rows = session.exec(query.order_by(col(PayoutRequest.id).desc()).limit(1000)).all()
        return [info_of(session, row) for row in rows]


def show_payout_request(store: Store, actor: Actor, request_id: int) -> PayoutRequestInfo:
    require(actor, Action.VIEW_CUSTOMERS)
    with store.read() as session:
        return info_of(session, _request(session, request_id))


def _move(session: Session, request_id: int, before: PayoutRequestStatus, **values: Any) -> bool:
    """A conditional update: True when this call moved the request from `before`."""
    done = session.execute(
        update(PayoutRequest).where(col(PayoutRequest.id) == request_id, col(PayoutRequest.status) == before)
        .values(**values).execution_options(synchronize_session=False)
    )
    return bool(done.rowcount == 1)  # type: ignore[attr-defined]


def _begin_approval(store: Store, actor: Actor, request_id: int) -> PayoutRequest:
    """Pending → approved (checks first, so a refusal leaves it pending); an approved one is returned as is for
    re-sending; paid, rejected and failed ones are refused."""
    with store.write(unrecorded="a payout request being approved; the outcome is recorded with the payout") as session:
        row = _request(session, request_id)
        if row.status == PayoutRequestStatus.PENDING:
            instrument = get_row(session, PaymentInstrument, row.instrument_id, "payment instrument")
            if instrument.status != InstrumentStatus.ACTIVE or not instrument.gateway_token:
                raise Conflict(f"{instrument_label(instrument.method, instrument.brand, instrument.last4)} is no "
                               "longer active; reject the request and ask the customer for a new one")
            policy.check_payout(session, row.amount, row.currency)
            _move(session, row.id, PayoutRequestStatus.PENDING, status=PayoutRequestStatus.APPROVED,
                  decided_by=actor.agent_id, decided_at=utcnow())
            session.refresh(row)
        if row.status != PayoutRequestStatus.APPROVED:
            raise Conflict(f"payout request {request_id} is already {row.status}")
        session.expunge(row)
        return row


def _finish(store: Store, actor: Actor, row: PayoutRequest, status: PayoutRequestStatus, transaction_id: int | None,
            reason: str | None) -> PayoutRequestInfo:
    """Approved → paid / failed (or stays approved while the gateway has not answered), with its event once."""
    with store.write() as session:
        if status != PayoutRequestStatus.APPROVED:
            moved = _move(session, row.id, PayoutRequestStatus.APPROVED, status=status, transaction_id=transaction_id,
                          reason=reason[: limits.REASON] if reason else None)
        else:
            moved = _move(session, row.id, PayoutRequestStatus.APPROVED, transaction_id=transaction_id)
        if moved:
            record_event(session, actor, row.customer_id, EventType.PAYOUT_REQUEST_APPROVED, request=row.id,
                         amount=row.amount, currency=row.currency, transaction=transaction_id, status=status.value)
        fresh = _request(session, row.id)
        session.refresh(fresh)
        return info_of(session, fresh)


def approve_payout_request(store: Store, actor: Actor, settings: Settings, request_id: int) -> PayoutRequestInfo:
    """Approve and pay to the instrument the customer chose. Paid once however many approve it, or retry it."""
    require(actor, Action.PAYOUT)
    row = _begin_approval(store, actor, request_id)
    key = request_key(row.id)
    try:
        result = payments.send_payout(store, actor, settings, row.customer_id, row.amount, row.currency, key,
                                      instrument_id=row.instrument_id)
    except IntegrityError:
        raise Conflict(f"payout request {request_id} is being paid by another approver just now; "
                       "look at it again in a moment") from None
    except ServiceError as exc:
        with store.read() as session:
            sent = session.exec(select(Transaction.id).where(Transaction.idempotency_key == f"payout-{key}")).first()
        if sent is not None:
            raise
        return _finish(store, actor, row, PayoutRequestStatus.FAILED, None, str(exc))
    with store.read() as session:
        txn = get_row(session, Transaction, result.transaction_id) if result.transaction_id else None
        txn_status, error = (txn.status, txn.error) if txn else (None, None)
    if txn_status == TransactionStatus.APPROVED:
        return _finish(store, actor, row, PayoutRequestStatus.PAID, result.transaction_id, None)
    if txn_status in (TransactionStatus.DECLINED, TransactionStatus.FAILED):
        return _finish(store, actor, row, PayoutRequestStatus.FAILED, result.transaction_id, error or result.message)
    return _finish(store, actor, row, PayoutRequestStatus.APPROVED, result.transaction_id, None)


def reject_payout_request(store: Store, actor: Actor, request_id: int, reason: str) -> PayoutRequestInfo:
    require(actor, Action.PAYOUT)
    text = clean_line(reason, "reason", limits.REASON)
    if not text:
        raise InvalidInput(fields={"reason": "say why the request is rejected (the customer's agent will see it)"})
    with store.write() as session:
        row = _request(session, request_id)
        if not _move(session, row.id, PayoutRequestStatus.PENDING, status=PayoutRequestStatus.REJECTED, reason=text,
                     decided_by=actor.agent_id, decided_at=utcnow()):
            session.refresh(row)
            raise Conflict(f"payout request {request_id} is already {row.status}; only a pending one can be rejected")
        record_event(session, actor, row.customer_id, EventType.PAYOUT_REQUEST_REJECTED, request=row.id,
                     amount=row.amount, currency=row.currency, reason=text)
        session.refresh(row)
        return info_of(session, row)
