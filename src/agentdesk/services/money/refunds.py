"""Refunds and voids: what a transaction allows, and doing it safely.

A refund is for a settled sale and may be partial; a void is for an unsettled
one and is always for the full amount. Completed plus pending refunds never
exceed what was captured.

Doing one is three steps, never a gateway call inside an open transaction:
1. under a lock on the original (`BEGIN IMMEDIATE` on SQLite, `FOR UPDATE` on
   PostgreSQL) check the rules and record the refund as `pending` with a fresh
   idempotency key — commit;
2. call the gateway with that key;
3. record the outcome with its timeline event and customer email — commit.
A crash between 1 and 3 leaves a pending refund that `repair_pending` finishes
by sending the same key again: the gateway answers without paying twice. A
refund the gateway could not do now is retried once a day, three times in all,
then dropped and reported to the notify addresses.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func
from sqlmodel import Session, col, select

from agentdesk.config import Settings
from agentdesk.db.models import Customer, CustomerEmail, Dispute, Job, Order, PaymentInstrument, Transaction, utcnow
from agentdesk.db.store import Store, get_row
from agentdesk.domain import limits
from agentdesk.domain.enums import (
    JobKind,
    JobStatusSets,
    RefundKind,
    RefundOutcome,
    TransactionStatus,
    TransactionStatusSets,
    TransactionType,
    TransactionTypeSets,
)
from agentdesk.domain.errors import Conflict, InvalidInput, NotFound
from agentdesk.domain.formatting import format_utc, instrument_label
from agentdesk.domain.money import format_amount, parse_amount
from agentdesk.domain.permissions import SYSTEM, Action, Actor, require
from agentdesk.domain.text import text_problem
from agentdesk.domain.validation import clean_block
from agentdesk.services.jobs import queue as jobs
from agentdesk.services.money import aggregates
from agentdesk.services.money.gateways import GatewayError, GatewayResult, GatewayTimeout, Outcome, gateway_for
from agentdesk.services.policy import service as policy
from agentdesk.services.timeline.catalog import EventType
from agentdesk.services.timeline.record import record_event

RETRY_DELAY = timedelta(days=1)
RETRY_ATTEMPTS = 3


@dataclass(frozen=True)
class RefundPlan:
    """What an agent may do with a transaction, and the numbers the dialog shows."""

    transaction_id: int
    kind: RefundKind | None
    currency: str
    captured: int
    refunded: int
    pending: int
    remaining: int
    settled: bool
    reason_not: str | None
    """Why nothing can be done, when `kind` is None."""
    order: str | None
    instrument: str | None


@dataclass(frozen=True)
class RefundResult:
    """What became of one transaction's refund or void; `message` says it in words for the agent."""

    transaction_id: int
    """The original transaction."""
    kind: RefundKind | None
    """None when the rules refused it before deciding between refund and void."""
    status: RefundOutcome
    amount: int
    currency: str
    message: str
    refund_id: int | None = None

    @property
    def ok(self) -> bool:
        return self.status is RefundOutcome.APPROVED

    @property
    def finished(self) -> bool:
        """The outcome is recorded; False while the gateway has not answered or a retry is queued."""
        return self.status not in (RefundOutcome.PENDING, RefundOutcome.RETRYING)

    @classmethod
    def refused(cls, transaction_id: int, reason: str) -> RefundResult:
        """A refusal in a bulk refund (reported, not raised); no money moved, so the amount is 0."""
        return cls(transaction_id, None, RefundOutcome.REFUSED, 0, "", f"transaction {transaction_id}: {reason}")


def _taken_back(session: Session, original_id: int) -> tuple[int, int]:
    """(approved, pending) amounts refunded or voided against a transaction."""
    rows = session.exec(
        select(Transaction.status, func.coalesce(func.sum(Transaction.amount), 0))
        .where(Transaction.parent_id == original_id, col(Transaction.type).in_(TransactionTypeSets.TAKEN_BACK))
        .group_by(Transaction.status)
    ).all()
    amounts: dict[str, int] = dict(rows)
    return amounts.get(TransactionStatus.APPROVED, 0), amounts.get(TransactionStatus.PENDING, 0)


def _instrument_label(session: Session, instrument_id: int | None) -> str | None:
    if instrument_id is None:
        return None
    instrument = session.get(PaymentInstrument, instrument_id)
    if instrument is None:
        return None
    return instrument_label(instrument.method, instrument.brand, instrument.last4)


def _order_number(session: Session, order_id: int | None) -> str | None:
    return get_row(session, Order, order_id).number if order_id is not None else None


def _plan(session: Session, txn: Transaction) -> RefundPlan:
    refunded, pending = _taken_back(session, txn.id)
    remaining = max(0, txn.amount - refunded - pending)
    order = _order_number(session, txn.order_id)
    kind, reason = None, None
    if txn.type not in TransactionTypeSets.MONEY_IN:
        reason = f"a {txn.type} transaction cannot be refunded or voided"
    elif txn.status == TransactionStatus.VOIDED:
        reason = "already voided"
    elif txn.status == TransactionStatus.REFUNDED:
        reason = "already fully refunded"
    elif txn.status not in TransactionStatusSets.REFUNDABLE:
        reason = f"a {txn.status} transaction moved no money"
    elif pending and not remaining:
        reason = "a refund for the rest is already in progress"
    elif not txn.settled and (pending or refunded):
        reason = "a void is already in progress"
    elif remaining <= 0:
        reason = "nothing left to refund"
    elif (disputed := _dispute_refusal(session, txn.id)) is not None:
        reason = disputed
    else:
        kind = RefundKind.REFUND if txn.settled else RefundKind.VOID
    return RefundPlan(txn.id, kind, txn.currency, txn.amount, refunded, pending, remaining, txn.settled, reason,
                      order, _instrument_label(session, txn.instrument_id))


OPEN_DISPUTE = ("warning_needs_response", "warning_under_review", "needs_response", "under_review")


def _dispute_refusal(session: Session, txn_id: int) -> str | None:
    """Why a disputed payment cannot be refunded: the chargeback already takes (or took) the money back,
    so a refund would pay the customer twice."""
    dispute = session.exec(select(Dispute).where(Dispute.transaction_id == txn_id,
                                                 col(Dispute.status).in_((*OPEN_DISPUTE, "lost")))
                           .order_by(col(Dispute.id).desc())).first()
    if dispute is None:
        return None
    amount = format_amount(dispute.amount, dispute.currency)
    if dispute.status == "lost":
        return (f"the customer's bank took {amount} back in a chargeback ({dispute.reason}) that was lost: "
                "a refund would pay them twice")
    due = f", evidence due {format_utc(dispute.due_by)}" if dispute.due_by else ""
    return (f"the customer disputed this payment with their bank ({dispute.reason}, {amount}, "
            f"{dispute.status.replace('_', ' ')}{due}): a refund now would pay them twice; "
            "answer the dispute in Stripe instead")


def _get(session: Session, txn_id: int, lock: bool = False) -> Transaction:
    if not limits.in_id_range(txn_id):
        raise NotFound(f"no transaction {txn_id}")
    query = select(Transaction).where(Transaction.id == txn_id)
    if lock and session.get_bind().dialect.name != "sqlite":
        query = query.with_for_update()
    txn = session.exec(query).one_or_none()
    if txn is None:
        raise NotFound(f"no transaction {txn_id}")
    return txn


def refund_plan(store: Store, actor: Actor, txn_id: int) -> RefundPlan:
    require(actor, Action.VIEW_CUSTOMERS)
    with store.read() as session:
        return _plan(session, _get(session, txn_id))


def parse_refund_amount(text: str | None, plan: RefundPlan) -> int:
    """The amount an agent typed; empty means everything that remains."""
    if text is None or not str(text).strip():
        return plan.remaining
    return parse_amount(str(text), plan.currency)


@dataclass(frozen=True)
class _Pending:
    refund_id: int
    original_id: int
    kind: RefundKind
    amount: int
    currency: str
    gateway: str
    reference: str | None
    key: str


def _start(store: Store, actor: Actor, settings: Settings, txn_id: int, amount: int | None, reason: str | None,
           want: RefundKind | None) -> _Pending:
    """Step 1: check everything under the lock and record the pending refund or void."""
    reason = clean_block(reason, "reason", limits.REASON) or None
    with store.write(unrecorded="a pending refund; its outcome is recorded on the timeline") as session:
        txn = _get(session, txn_id, lock=True)
        plan = _plan(session, txn)
        if plan.kind is None:
            raise Conflict(f"transaction {txn_id}: {plan.reason_not}")
        if want is not None and want is not plan.kind:
            if want is RefundKind.VOID:
                raise Conflict(f"transaction {txn_id} has settled: it can be refunded, not voided")
            raise Conflict(f"transaction {txn_id} has not settled: it can only be voided, in full")
        amount = plan.remaining if amount is None else amount
        if amount <= 0:
            raise InvalidInput(fields={"amount": "must be more than zero"})
        if plan.kind is RefundKind.VOID and amount != plan.remaining:
            remaining = format_amount(plan.remaining, plan.currency)
            raise InvalidInput(fields={"amount": f"a void is always for the full {remaining}"})
        if amount > plan.remaining:
            remaining = format_amount(plan.remaining, plan.currency)
            raise InvalidInput(fields={"amount": f"only {remaining} remains to refund"})
        policy.check_refund(session, actor, amount, plan.currency)
        key = f"{plan.kind.value}-{txn.id}-{uuid.uuid4().hex}"
        child = Transaction(
            customer_id=txn.customer_id, order_id=txn.order_id, instrument_id=txn.instrument_id, parent_id=txn.id,
            type=TransactionType.REFUND if plan.kind is RefundKind.REFUND else TransactionType.VOID,
            status=TransactionStatus.PENDING, amount=amount, currency=txn.currency, gateway=txn.gateway,
            idempotency_key=key, reason=reason, agent_id=actor.agent_id,
        )
        session.add(child)
        session.flush()
        return _Pending(child.id, txn.id, plan.kind, amount, txn.currency, txn.gateway, txn.gateway_ref, key)


OUTSIDE_GATEWAY = "outside"
"""What `payments.collect_payment(outside=True)` and `invoice_actions.mark_paid_outside` record as the gateway."""


def _call(store: Store, settings: Settings, pending: _Pending, key: str | None = None) -> GatewayResult:
    """Step 2: the gateway call, outside any transaction of ours. Money that came in outside any gateway (a bank
    transfer recorded by an agent) goes back the same way: the refund is recorded as paid back outside."""
    if pending.gateway == OUTSIDE_GATEWAY:
        return GatewayResult(Outcome.APPROVED, f"outside-{key or pending.key}", "paid back outside", settled=True)
    gateway = gateway_for(store, pending.gateway, settings)
    if not pending.reference:
        raise GatewayError(f"transaction {pending.original_id} has no gateway reference")
    if pending.kind is RefundKind.VOID:
        return gateway.void(reference=pending.reference, idempotency_key=key or pending.key)
    return gateway.refund(reference=pending.reference, amount=pending.amount, currency=pending.currency,
                          idempotency_key=key or pending.key)


def _customer_email(session: Session, customer_id: int) -> str | None:
    return session.exec(
        select(CustomerEmail.address).where(CustomerEmail.customer_id == customer_id, CustomerEmail.is_primary)
    ).one_or_none()


def enqueue_confirmation(session: Session, refund: Transaction, original: Transaction, key_suffix: str = "") -> bool:
    """Queue the refund or void confirmation email to the customer; False if they have no email."""
    to = _customer_email(session, refund.customer_id)
    if not to:
        return False
    word = "refund" if refund.type == TransactionType.REFUND else "cancellation (void)"
    order = _order_number(session, original.order_id)
    amount = format_amount(refund.amount, refund.currency)
    body = (
        f"Hello,\n\nWe have processed a {word} of {amount}"
        + (f" for order {order}" if order else "")
        + f".\nReference: transaction {refund.id} (original payment {original.id}).\n"
        + ("\nRefunds usually reach your account within 5 to 10 business days.\n" if word == "refund" else
           "\nThe pending charge will disappear from your statement; no money was taken.\n")
    )
    subject = f"Your {word} of {amount}"
    jobs.enqueue(session, JobKind.EMAIL, f"email-{refund.id}{key_suffix}",
                 {"to": to, "subject": subject, "body": body, "customer_id": refund.customer_id,
                  "transaction": refund.id},
                 customer_id=refund.customer_id, max_attempts=5)
    return True


def _apply_outcome(store: Store, actor: Actor, pending: _Pending, result: GatewayResult | None, error: str | None,
                   transient: bool) -> RefundResult:
    """Step 3: record what the gateway said, with the timeline event, in one transaction."""
    with store.write() as session:
        return record_outcome(session, actor, pending, result, error, transient)


def record_outcome(session: Session, actor: Actor, pending: _Pending, result: GatewayResult | None,
                   error: str | None, transient: bool) -> RefundResult:
    """`_apply_outcome` in the caller's transaction (also what a gateway's event about a refund left pending
    records, as the repair would). Locks the original, then the refund, then the customer."""
    original = _get(session, pending.original_id, lock=True)
    refund = _get(session, pending.refund_id, lock=True)
    customer_id = original.customer_id
    aggregates.lock_customers(session, [customer_id])
    order = _order_number(session, original.order_id)
    if refund.status != TransactionStatus.PENDING:
        return RefundResult(original.id, pending.kind, RefundOutcome(refund.status.value), refund.amount,
                            refund.currency, "already recorded", refund.id)
    common: dict[str, Any] = dict(amount=refund.amount, currency=refund.currency, transaction=original.id,
                                  order=order, reason=refund.reason)
    refund.processed_at = utcnow()
    if result is not None and result.approved:
        approved_before, _ = _taken_back(session, original.id)
        approved = approved_before + refund.amount
        refund.status = TransactionStatus.APPROVED
        refund.gateway_ref = result.reference
        refund.settled = pending.kind is RefundKind.REFUND
        refund.settled_at = refund.processed_at if refund.settled else None
        if pending.kind is RefundKind.VOID:
            original.status = TransactionStatus.VOIDED
            aggregates.record_void(session, customer_id, original.amount, original.currency, original.settled)
            record_event(session, actor, customer_id, EventType.TRANSACTION_VOIDED, **common)
        else:
            original.status = (TransactionStatus.REFUNDED if approved >= original.amount
                               else TransactionStatus.PARTIALLY_REFUNDED)
            aggregates.record_refund(session, customer_id, refund.amount, refund.currency)
            record_event(session, actor, customer_id, EventType.MANUAL_REFUND,
                         instrument=_instrument_label(session, original.instrument_id), **common)
        session.flush()
        enqueue_confirmation(session, refund, original)
        word = "Voided" if pending.kind is RefundKind.VOID else "Refunded"
        return RefundResult(original.id, pending.kind, RefundOutcome.APPROVED, refund.amount, refund.currency,
                            f"{word} {format_amount(refund.amount, refund.currency)} of transaction {original.id}",
                            refund.id)
    message = error or (result.message if result else None) or "the gateway did not say why"
    if transient and pending.kind is RefundKind.REFUND:
        next_at = utcnow() + RETRY_DELAY
        refund.error = message[:500]
        jobs.enqueue(session, JobKind.REFUND_RETRY, retry_job_key(refund.id),
                     {"refund_id": refund.id, "actor_agent_id": actor.agent_id, "actor_login": actor.login},
                     customer_id=customer_id, run_after=next_at, max_attempts=RETRY_ATTEMPTS - 1)
        record_event(session, actor, customer_id, EventType.REFUND_RETRYING, attempt=1,
                     next_at=next_at.isoformat(timespec="minutes"), message=message, **common)
        session.add(refund)
        return RefundResult(original.id, pending.kind, RefundOutcome.RETRYING, refund.amount, refund.currency,
                            f"The gateway could not refund now ({message}); it will retry daily, "
                            f"{RETRY_ATTEMPTS - 1} more attempts, next at {format_utc(next_at)}", refund.id)
    refund.status = (TransactionStatus.DECLINED if result is not None and result.outcome is Outcome.DECLINED
                     else TransactionStatus.FAILED)
    refund.error = message[:500]
    event = EventType.VOID_FAILED if pending.kind is RefundKind.VOID else EventType.REFUND_FAILED
    record_event(session, actor, customer_id, event, message=message, **common)
    session.add(refund)
    return RefundResult(original.id, pending.kind, RefundOutcome(refund.status.value), refund.amount,
                        refund.currency,
                        f"{'Void' if pending.kind is RefundKind.VOID else 'Refund'} {refund.status}: {message}",
                        refund.id)


def _finish(store: Store, actor: Actor, settings: Settings, pending: _Pending) -> RefundResult:
    try:
        result = _call(store, settings, pending)
    except GatewayTimeout as exc:
        return RefundResult(pending.original_id, pending.kind, RefundOutcome.PENDING, pending.amount, pending.currency,
                            f"No answer from the gateway yet ({exc}); the same request will be re-sent "
                            "automatically, so it can never be paid twice", pending.refund_id)
    except GatewayError as exc:
        return _apply_outcome(store, actor, pending, None, str(exc), transient=False)
    return _apply_outcome(store, actor, pending, result, None, transient=result.outcome is Outcome.FAILED)


def refund_transaction(store: Store, actor: Actor, settings: Settings, txn_id: int, amount: int | None = None,
                       reason: str | None = None, kind: RefundKind | None = None) -> RefundResult:
    """Refund (settled) or void (unsettled) a transaction; `amount` None means all that remains."""
    require(actor, Action.REFUND)
    pending = _start(store, actor, settings, txn_id, amount, reason, kind)
    return _finish(store, actor, settings, pending)


def void_transaction(store: Store, actor: Actor, settings: Settings, txn_id: int,
                     reason: str | None = None) -> RefundResult:
    return refund_transaction(store, actor, settings, txn_id, None, reason, RefundKind.VOID)


def refund_many(store: Store, actor: Actor, settings: Settings, txn_ids: list[int],
                reason: str | None = None) -> list[RefundResult]:
    """Each transaction for its remainder, one after another: one result per transaction, a refusal
    reported (`RefundOutcome.REFUSED`), not raised."""
    require(actor, Action.REFUND)
    results: list[RefundResult] = []
    for txn_id in txn_ids:
        try:
            results.append(refund_transaction(store, actor, settings, txn_id, None, reason))
        except (Conflict, InvalidInput, NotFound) as exc:
            results.append(RefundResult.refused(txn_id, str(exc)))
    return results


def refund_order(store: Store, actor: Actor, settings: Settings, order_number: str,
                 reason: str | None = None) -> list[RefundResult]:
    """Take back every payment of an order: void what has not settled, refund what has —
    and refund a payment whose void the gateway refused because it settled meanwhile."""
    require(actor, Action.REFUND)
    with store.read() as session:
        order = (None if text_problem(order_number, limit=limits.ORDER_NUMBER) else
                 session.exec(select(Order).where(Order.number == order_number)).one_or_none())
        if order is None:
            raise NotFound(f"no order {order_number!r}")
        txn_ids = list(session.exec(
            select(Transaction.id).where(Transaction.order_id == order.id,
                                         col(Transaction.type).in_(TransactionTypeSets.MONEY_IN),
                                         col(Transaction.status).in_(TransactionStatusSets.REFUNDABLE))
            .order_by(col(Transaction.id))
        ))
    if not txn_ids:
        raise Conflict(f"order {order_number} has no payment left to refund")
    results: list[RefundResult] = []
    for txn_id in txn_ids:
        try:
            result = refund_transaction(store, actor, settings, txn_id, None, reason)
            if result.kind is RefundKind.VOID and result.status is RefundOutcome.DECLINED:
                _mark_settled_if_gateway_says(store, settings, txn_id)
                result = refund_transaction(store, actor, settings, txn_id, None, reason, RefundKind.REFUND)
            results.append(result)
        except (Conflict, InvalidInput, NotFound) as exc:
            results.append(RefundResult.refused(txn_id, str(exc)))
    return results


def _mark_settled_if_gateway_says(store: Store, settings: Settings, txn_id: int) -> None:
    from agentdesk.services.money.settlement import mark_settled

    mark_settled(store, [txn_id])


# --- the queue and repairs --------------------------------------------------------------------


def retry_job_key(refund_id: int) -> str:
    """The idempotency key of a refund's retry job: one retry job per refund, however often it is asked for."""
    return f"refund-retry-{refund_id}"


def refund_retry_status(session: Session, refund_id: int) -> tuple[int, int, datetime] | None:
    """(next attempt, of how many, when) while a refund waits in the retry queue, else None."""
    job = session.exec(
        select(Job).where(Job.kind == JobKind.REFUND_RETRY, Job.idempotency_key == retry_job_key(refund_id),
                          col(Job.status).in_(JobStatusSets.OPEN))
    ).one_or_none()
    if job is None:
        return None
    return job.attempts + 2, RETRY_ATTEMPTS, job.run_after


def retry_refund(store: Store, settings: Settings, job: jobs.JobInfo) -> dict[str, Any]:
    """A queued refund's next attempt (job kind "refund_retry"), with a fresh key per attempt."""
    refund_id = job.payload["refund_id"]
    actor = Actor(agent_id=job.payload.get("actor_agent_id"), login=job.payload.get("actor_login", "System"),
                  name="", role=SYSTEM.role) if job.payload.get("actor_agent_id") else SYSTEM
    with store.read() as session:
        refund = get_row(session, Transaction, refund_id)
        original = get_row(session, Transaction, refund.parent_id)
    if refund.status != TransactionStatus.PENDING or refund.idempotency_key is None:
        return {"status": refund.status.value}
    attempt = job.attempts + 1
    pending = _Pending(refund.id, original.id, RefundKind.REFUND, refund.amount, refund.currency, refund.gateway,
                       original.gateway_ref, refund.idempotency_key)
    result: GatewayResult | None
    error: str | None
    try:
        result = _call(store, settings, pending, key=f"{refund.idempotency_key}-a{attempt}")
    except GatewayTimeout as exc:
        result, error = None, f"no answer: {exc}"
    except GatewayError as exc:
        _apply_outcome(store, actor, pending, None, str(exc), transient=False)
        return {"status": TransactionStatus.FAILED.value, "message": str(exc)}
    else:
        error = result.message
    if result is not None and result.outcome is not Outcome.FAILED:
        done = _apply_outcome(store, actor, pending, result, None, transient=False)
        return {"status": done.status.value, "message": done.message}
    raise jobs.RetryLater(error or "the gateway could not refund now", RETRY_DELAY)


def drop_refund(session: Session, job: Job) -> None:
    """The last attempt failed: the refund leaves the queue, the notify addresses (policy) hear of it."""
    refund = session.get(Transaction, job.payload["refund_id"])
    if refund is None or refund.status != TransactionStatus.PENDING:
        return
    original = get_row(session, Transaction, refund.parent_id)
    order = _order_number(session, original.order_id)
    refund.status = TransactionStatus.FAILED
    refund.processed_at = utcnow()
    session.add(refund)
    record_event(session, SYSTEM, refund.customer_id, EventType.REFUND_DROPPED, amount=refund.amount,
                 currency=refund.currency, transaction=original.id, order=order, reason=refund.reason,
                 message=job.last_error or "")
    notify = policy.notify_emails(session)
    if notify:
        customer = get_row(session, Customer, refund.customer_id)
        body = (
            f"A refund could not be completed after {RETRY_ATTEMPTS} attempts and was dropped from the queue.\n\n"
            f"Customer: {customer.external_id} ({customer.first_name} {customer.last_name})\n"
            f"Original transaction: {original.id}" + (f", order {order}" if order else "") + "\n"
            f"Refund transaction: {refund.id}, {format_amount(refund.amount, refund.currency)}\n"
            f"Last error: {job.last_error}\n\nPlease refund this customer by other means.\n"
        )
        jobs.enqueue(session, JobKind.EMAIL, f"refund-dropped-{refund.id}",
                     {"to": list(notify), "subject": f"Refund dropped: {format_amount(refund.amount, refund.currency)} "
                      f"for {customer.external_id}", "body": body},
                     customer_id=None, max_attempts=5)


def repair_pending(store: Store, settings: Settings,
                   older_than: timedelta = timedelta(seconds=30)) -> list[RefundResult]:
    """Finish refunds and voids left pending by a crash or a timeout, re-sending the same key."""
    cutoff = utcnow() - older_than
    with store.read() as session:
        queued = select(Job.payload).where(Job.kind == JobKind.REFUND_RETRY, col(Job.status).in_(JobStatusSets.OPEN))
        waiting = {p["refund_id"] for p in session.exec(queued)}
        rows = session.exec(
            select(Transaction).where(Transaction.status == TransactionStatus.PENDING,
                                      col(Transaction.type).in_(TransactionTypeSets.TAKEN_BACK),
                                      Transaction.created_at <= cutoff)
        ).all()
        todo = [pending_of(session, refund) for refund in rows
                if refund.id not in waiting and refund.idempotency_key is not None]
    return [_finish(store, SYSTEM, settings, pending) for pending in todo]


def pending_of(session: Session, refund: Transaction) -> _Pending:
    """What finishing a pending refund or void needs, as the repair reads it."""
    original = get_row(session, Transaction, refund.parent_id)
    return _Pending(refund.id, original.id, RefundKind(refund.type), refund.amount, refund.currency, refund.gateway,
                    original.gateway_ref, refund.idempotency_key or "")


def reverse_refund(session: Session, actor: Actor, refund_id: int, message: str) -> str:
    """A refund the gateway accepted and later reports failed (the customer's bank returned it): the refund is
    recorded failed, the original payment holds that money again (it may be refunded again), the customer's
    lifetime value gets it back, the timeline says so and the notify addresses are told. Returns what it did."""
    parent_id = session.exec(select(Transaction.parent_id).where(Transaction.id == refund_id)).one_or_none()
    original = _get(session, parent_id or 0, lock=True)
    refund = _get(session, refund_id, lock=True)
    if refund.type != TransactionType.REFUND or refund.status != TransactionStatus.APPROVED:
        return f"refund {refund.id} is {refund.status}: nothing to reverse"
    aggregates.lock_customers(session, [refund.customer_id])
    refund.status = TransactionStatus.FAILED
    refund.error = message[: limits.GATEWAY_MESSAGE]
    refund.settled, refund.settled_at = False, None
    session.add(refund)
    session.flush()
    approved, _ = _taken_back(session, original.id)
    original.status = TransactionStatus.PARTIALLY_REFUNDED if approved else TransactionStatus.APPROVED
    session.add(original)
    aggregates.record_refund_reversed(session, refund.customer_id, refund.amount, refund.currency)
    order = _order_number(session, original.order_id)
    record_event(session, actor, refund.customer_id, EventType.REFUND_REVERSED, amount=refund.amount,
                 currency=refund.currency, transaction=original.id, order=order, reason=refund.reason,
                 refund=refund.id, message=message)
    notify = policy.notify_emails(session)
    if notify:
        customer = get_row(session, Customer, refund.customer_id)
        amount = format_amount(refund.amount, refund.currency)
        jobs.enqueue(session, JobKind.EMAIL, f"refund-reversed-{refund.id}",
                     {"to": list(notify), "subject": f"Refund failed after it was accepted: {amount} for "
                                                     f"{customer.external_id}",
                      "body": f"{message}\n\nCustomer: {customer.external_id}\nOriginal transaction: {original.id}"
                              + (f", order {order}" if order else "") + f"\nRefund transaction: {refund.id}, "
                              f"{amount}\n\nThe payment can be refunded again, or the customer paid another way.\n"},
                     customer_id=None, max_attempts=5)
    return f"refund {refund.id} reversed: transaction {original.id} is {original.status.value} again"


def resend_confirmation(store: Store, actor: Actor, refund_id: int) -> str:
    """Queue the refund or void confirmation again (the customer lost it); returns where it goes."""
    require(actor, Action.REFUND)
    with store.write() as session:
        refund = session.get(Transaction, refund_id) if limits.in_id_range(refund_id) else None
        if refund is None or refund.type not in TransactionTypeSets.TAKEN_BACK:
            raise NotFound(f"no refund or void transaction {refund_id}")
        if refund.status != TransactionStatus.APPROVED:
            raise Conflict(f"transaction {refund_id} is {refund.status}: there is no confirmation to resend")
        original = get_row(session, Transaction, refund.parent_id)
        sent_before = session.exec(
            select(func.count()).select_from(Job).where(col(Job.idempotency_key).like(f"email-{refund.id}%"))
        ).one()
        to = _customer_email(session, refund.customer_id)
        if to is None or not enqueue_confirmation(session, refund, original, key_suffix=f"-resend-{sent_before}"):
            raise Conflict("the customer has no email address")
        return to
