"""What an agent does to one invoice besides collecting or resending it: void it, mark it paid outside,
apply the customer's available credit to it, write it off.

Each action is one write transaction with its timeline event; each has a preview (`preview_action`) that
runs the same checks and says exactly what would happen, writing nothing. Void, write-off and "paid
outside" are refund-like (they settle what the customer owes without the gateway): finance and admins,
agents within their refund limit for the invoice's total (`policy.check_refund`). Applying credit is
ordinary billing (`Action.BILLING`).

Credit returned by a void is recorded as a negative `CreditApplication` on the same memo (its
`remaining` goes back up in SQL): the memo keeps its place in the oldest-first order and its reason,
the invoice's applications net to what it still holds (zero), and nothing is deleted.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import func, update
from sqlmodel import Session, col, select

from agentdesk.db.models import (
    AccountCharge,
    Coupon,
    CouponRedemption,
    CreditApplication,
    CreditMemo,
    Invoice,
    InvoiceDiscount,
    InvoiceLine,
    Order,
    Transaction,
    UsageRecord,
    utcnow,
)
from agentdesk.db.store import Store
from agentdesk.domain import limits, pricing
from agentdesk.domain.enums import (
    InvoiceStatus,
    InvoiceStatusSets,
    JobKind,
    TransactionStatus,
    TransactionType,
)
from agentdesk.domain.errors import Conflict, InvalidInput, PermissionDenied
from agentdesk.domain.money import format_amount
from agentdesk.domain.permissions import Action, Actor, require
from agentdesk.domain.validation import clean_line
from agentdesk.services.billing import coupons, invoices, paid
from agentdesk.services.jobs import queue as jobs
from agentdesk.services.money import aggregates
from agentdesk.services.policy import service as policy
from agentdesk.services.timeline.catalog import EventType
from agentdesk.services.timeline.record import record_event

OUTSIDE = "outside"
"""The gateway name of a payment made outside the console (as `payments.collect_payment` records one)."""
REFERENCE_LIMIT = 100
"""A payment reference is kept as the transaction's gateway reference (100 characters)."""


class InvoiceAction(StrEnum):
    VOID = "void"
    MARK_PAID = "mark_paid"
    WRITE_OFF = "write_off"
    APPLY_CREDIT = "apply_credit"


NEEDS = {InvoiceAction.VOID: Action.REFUND, InvoiceAction.MARK_PAID: Action.REFUND,
         InvoiceAction.WRITE_OFF: Action.REFUND, InvoiceAction.APPLY_CREDIT: Action.BILLING}
"""The permission each action needs (refund-like ones also the refund limit)."""

_VERB = {InvoiceAction.VOID: "void", InvoiceAction.MARK_PAID: "mark paid", InvoiceAction.WRITE_OFF: "write off",
         InvoiceAction.APPLY_CREDIT: "apply credit to"}


def clean_reference(text: str | None) -> str:
    """The payment reference of a payment made outside (bank transfer id, cheque number…); required."""
    reference = clean_line(text, "reference", REFERENCE_LIMIT)
    if not reference:
        raise InvalidInput(fields={"reference": "give the payment's reference (transfer id, cheque number…)"})
    return reference


def clean_reason(text: str | None) -> str | None:
    return clean_line(text, "reason", limits.REASON)


@dataclass(frozen=True)
class InvoiceActionPreview:
    action: str
    invoice_number: str
    status: str
    """The invoice's status now."""
    new_status: str
    amount: int
    """Voided, paid outside, written off, or credit applied."""
    currency: str
    owed: int
    """What the invoice still wants paid now."""
    credit_returned: int
    """Void: credit drawn onto the invoice that goes back to the customer's credit memos."""
    charges_released: int
    """Void: account charges the invoice billed that will bill with a later invoice."""
    credit_available: int
    """The customer's credit in the invoice's currency."""
    sentence: str
    """Exactly what the action does, for the agent to confirm."""

    def to_dict(self) -> dict[str, Any]:
        return {"action": self.action, "invoice": self.invoice_number, "status": self.status,
                "new_status": self.new_status, "amount": self.amount, "currency": self.currency, "owed": self.owed,
                "credit_returned": self.credit_returned, "charges_released": self.charges_released,
                "credit_available": self.credit_available, "message": self.sentence}


@dataclass(frozen=True)
class InvoiceActionResult:
    action: str
    invoice_number: str
    status: str
    amount: int
    currency: str
    credit_returned: int = 0
    charges_released: int = 0
    transaction_id: int | None = None
    message: str = ""
    ok: bool = True

    def to_dict(self) -> dict[str, Any]:
        return {"action": self.action, "invoice": self.invoice_number, "status": self.status, "amount": self.amount,
                "currency": self.currency, "credit_returned": self.credit_returned,
                "charges_released": self.charges_released, "transaction": self.transaction_id,
                "message": self.message}


@dataclass
class _Plan:
    action: InvoiceAction
    invoice: Invoice
    amount: int
    returns: list[tuple[int, int]] = field(default_factory=list)
    """(credit memo id, amount) a void gives back."""
    charges: list[int] = field(default_factory=list)
    coupons: list[int] = field(default_factory=list)
    """Coupon redemptions that discounted the invoice: a void gives each its cycle back."""
    usage: list[int] = field(default_factory=list)
    """Usage records it billed: a void leaves them to bill with a later invoice."""
    draws: list[tuple[int, int]] = field(default_factory=list)
    """(credit memo id, amount) applying credit takes."""
    available: int = 0


def _lock(session: Session, number: str) -> Invoice:
    found = invoices.invoice_by_number(session, number)
    return session.exec(select(Invoice).where(Invoice.id == found.id).with_for_update()
                        .execution_options(populate_existing=True)).one()


def _pending_payment(session: Session, invoice: Invoice) -> Transaction | None:
    return session.exec(select(Transaction).where(Transaction.invoice_id == invoice.id,
                                                  Transaction.status == TransactionStatus.PENDING)).first()


def _money(invoice: Invoice, minor: int) -> str:
    return format_amount(minor, invoice.currency)


def _check_limit(session: Session, actor: Actor, action: InvoiceAction, invoice: Invoice) -> None:
    try:
        policy.check_refund(session, actor, invoice.total, invoice.currency)
    except PermissionDenied as exc:
        raise PermissionDenied(f"to {_VERB[action]} {invoice.number} ({_money(invoice, invoice.total)}) counts as a "
                               f"refund: {exc}") from None


_DONE = {InvoiceAction.VOID: "voided", InvoiceAction.MARK_PAID: "marked paid",
         InvoiceAction.WRITE_OFF: "written off", InvoiceAction.APPLY_CREDIT: "given credit"}


def _refuse_unless_open(action: InvoiceAction, invoice: Invoice) -> None:
    if invoice.status in InvoiceStatusSets.OPEN:
        return
    if action is InvoiceAction.VOID and invoice.status is InvoiceStatus.PAID:
        raise Conflict(f"invoice {invoice.number} is paid; only an unpaid invoice can be voided — refund its "
                       "payment instead")
    if action is InvoiceAction.MARK_PAID and invoice.status is InvoiceStatus.PAID:
        raise Conflict(f"invoice {invoice.number} is already paid; it cannot be marked paid twice")
    raise Conflict(f"invoice {invoice.number} is {invoice.status.value.replace('_', ' ')}; only an issued or "
                   f"past-due invoice can be {_DONE[action]}")


def _available(session: Session, invoice: Invoice) -> list[CreditMemo]:
    return list(session.exec(
        select(CreditMemo).where(CreditMemo.customer_id == invoice.customer_id, CreditMemo.currency == invoice.currency,
                                 CreditMemo.remaining > 0)
        .order_by(col(CreditMemo.created_at), col(CreditMemo.id))).all())


def _plan(session: Session, actor: Actor, action: InvoiceAction, invoice: Invoice) -> _Plan:
    """The checks every action makes, and what it would move; writes nothing."""
    require(actor, NEEDS[action])
    _refuse_unless_open(action, invoice)
    if _pending_payment(session, invoice) is not None:
        raise Conflict(f"a payment of invoice {invoice.number} is pending at the gateway; wait for its outcome "
                       "(it is confirmed or cancelled, never charged twice), then try again")
    owed = invoice.total - invoice.amount_paid
    memos = _available(session, invoice)
    available = sum(m.remaining for m in memos)
    if action is not InvoiceAction.APPLY_CREDIT:
        _check_limit(session, actor, action, invoice)
    if action is InvoiceAction.VOID:
        if invoice.amount_paid:
            raise Conflict(f"{_money(invoice, invoice.amount_paid)} was paid on invoice {invoice.number}; only an "
                           "unpaid invoice can be voided — refund the payment instead")
        returns = [(memo_id, int(held)) for memo_id, held in session.exec(
            select(CreditApplication.credit_memo_id, func.sum(CreditApplication.amount))
            .where(CreditApplication.invoice_id == invoice.id)
            .group_by(col(CreditApplication.credit_memo_id)).order_by(col(CreditApplication.credit_memo_id))).all()
            if held > 0]
        charges = list(session.exec(select(AccountCharge.id).where(AccountCharge.invoice_id == invoice.id)
                                    .order_by(col(AccountCharge.id))).all())
        discounted = list(session.exec(
            select(InvoiceDiscount.redemption_id)
            .join(InvoiceLine, col(InvoiceLine.id) == InvoiceDiscount.invoice_line_id)
            .where(InvoiceLine.invoice_id == invoice.id, InvoiceDiscount.amount > 0).distinct()
            .order_by(col(InvoiceDiscount.redemption_id))).all())
        usage = list(session.exec(select(UsageRecord.id).where(UsageRecord.invoice_id == invoice.id)
                                  .order_by(col(UsageRecord.id))).all())
        return _Plan(action, invoice, owed, returns=returns, charges=charges, coupons=discounted, usage=usage,
                     available=available)
    if action is InvoiceAction.APPLY_CREDIT:
        if available <= 0:
            raise Conflict(f"the customer has no credit in {invoice.currency} to apply to invoice {invoice.number}")
        draws = pricing.draw_credit([(m.id, m.remaining) for m in memos], owed)
        return _Plan(action, invoice, sum(amount for _, amount in draws), draws=list(draws), available=available)
    return _Plan(action, invoice, owed, available=available)


def _sentence(plan: _Plan, reference: str | None = None) -> str:
    inv = plan.invoice
    money = _money(inv, plan.amount)
    if plan.action is InvoiceAction.VOID:
        parts = [f"Void invoice {inv.number} ({money} unpaid): the customer will owe nothing on it and it is "
                 "never collected again"]
        returned = sum(a for _, a in plan.returns)
        if returned:
            parts.append(f"{_money(inv, returned)} of credit drawn onto it goes back to the customer's credit")
        if plan.charges:
            parts.append(f"{len(plan.charges)} account charge{'s' if len(plan.charges) > 1 else ''} on it will bill "
                         "with a later invoice")
        if plan.coupons:
            parts.append(f"the coupon discount{'s' if len(plan.coupons) > 1 else ''} on it apply to a later invoice "
                         "instead (the cycle is given back)")
        if plan.usage:
            parts.append(f"{len(plan.usage)} usage record{'s' if len(plan.usage) > 1 else ''} on it will bill with "
                         "a later invoice")
        return "; ".join(parts) + ". The customer is emailed that it was cancelled."
    if plan.action is InvoiceAction.MARK_PAID:
        ref = f" with reference {reference}" if reference else ""
        return (f"Record {money} paid outside the console{ref} for invoice {inv.number}: it becomes paid, "
                "nothing is charged, the order goes on as paid and the customer gets a receipt.")
    if plan.action is InvoiceAction.WRITE_OFF:
        return (f"Write off invoice {inv.number}: {money} still owed becomes uncollectible; no more payment "
                "attempts, nothing is charged or refunded.")
    rest = inv.total - inv.amount_paid - plan.amount
    tail = ("it is then paid in full" if rest == 0
            else f"{_money(inv, rest)} is still owed")
    return (f"Apply {money} of the customer's credit ({_money(inv, plan.available)} available) to invoice "
            f"{inv.number}: {tail}.")


def _new_status(plan: _Plan) -> InvoiceStatus:
    inv = plan.invoice
    if plan.action is InvoiceAction.VOID:
        return InvoiceStatus.VOID
    if plan.action is InvoiceAction.WRITE_OFF:
        return InvoiceStatus.UNCOLLECTIBLE
    if plan.action is InvoiceAction.APPLY_CREDIT and inv.total - inv.amount_paid - plan.amount > 0:
        return inv.status
    return InvoiceStatus.PAID


def preview_action(store: Store, actor: Actor, number: str, action: InvoiceAction | str,
                   reference: str | None = None, reason: str | None = None) -> InvoiceActionPreview:
    """What `action` would do to invoice `number`, refused as the action itself would be; writes nothing."""
    try:
        wanted = InvoiceAction(str(action).strip().lower().replace("-", "_"))
    except ValueError:
        raise InvalidInput(fields={"action": f"{action!r} is not an invoice action; use one of "
                                             + ", ".join(a.value for a in InvoiceAction)}) from None
    if wanted is InvoiceAction.MARK_PAID and reference is not None:
        reference = clean_reference(reference)
    clean_reason(reason)
    with store.read() as session:
        invoice = invoices.invoice_by_number(session, number)
        plan = _plan(session, actor, wanted, invoice)
        return InvoiceActionPreview(
            wanted.value, invoice.number, invoice.status.value, _new_status(plan).value, plan.amount,
            invoice.currency, invoice.total - invoice.amount_paid, sum(a for _, a in plan.returns),
            len(plan.charges), plan.available, _sentence(plan, reference))


# --- the actions -----------------------------------------------------------------------------


def _order(session: Session, invoice: Invoice) -> Order | None:
    if invoice.order_id is None:
        return None
    return session.exec(select(Order).where(Order.id == invoice.order_id).with_for_update()).one_or_none()


def _leave_credit_control(session: Session, actor: Actor, invoice: Invoice, order: Order | None,
                          now: datetime) -> None:
    """An invoice closed without payment stops the dunning: its order leaves credit control when no
    other invoice of it is still open."""
    if order is None or not order.in_credit_control:
        return
    others = session.exec(select(func.count()).select_from(Invoice).where(
        Invoice.order_id == order.id, Invoice.id != invoice.id,
        col(Invoice.status).in_(InvoiceStatusSets.OPEN))).one()
    if others:
        return
    order.in_credit_control = False
    order.updated_at = now
    session.add(order)
    record_event(session, actor, order.customer_id, EventType.CREDIT_CONTROL_EXITED, order=order.number,
                 invoice=invoice.number)


def _email(session: Session, invoice: Invoice, key: str, subject: str, body: str,
           transaction_id: int | None = None) -> None:
    to = invoices.customer_email(session, invoice.customer_id)
    if not to:
        return
    payload: dict[str, Any] = {"to": to, "subject": subject, "body": body, "customer_id": invoice.customer_id}
    if transaction_id is not None:
        payload["transaction"] = transaction_id
    jobs.enqueue(session, JobKind.EMAIL, key, payload, customer_id=invoice.customer_id, max_attempts=5)


def void_invoice(store: Store, actor: Actor, number: str, reason: str | None = None,
                 now: datetime | None = None) -> InvoiceActionResult:
    """Void an unpaid invoice: nothing is owed on it any more, its credit goes back to the customer's
    memos, its account charges and usage records bill later, and each coupon that discounted it gets
    that cycle back (INVOICE_VOIDED; an email to the customer)."""
    require(actor, NEEDS[InvoiceAction.VOID])
    reason = clean_reason(reason)
    now = now or utcnow()
    with store.write() as session:
        invoice = _lock(session, number)
        plan = _plan(session, actor, InvoiceAction.VOID, invoice)
        for memo_id, amount in plan.returns:
            session.execute(update(CreditMemo).where(col(CreditMemo.id) == memo_id)
                            .values(remaining=col(CreditMemo.remaining) + amount)
                            .execution_options(synchronize_session=False))
            session.add(CreditApplication(credit_memo_id=memo_id, invoice_id=invoice.id, amount=-amount,
                                          created_at=now))
        if plan.charges:
            session.execute(update(AccountCharge).where(col(AccountCharge.id).in_(plan.charges))
                            .values(invoice_id=None).execution_options(synchronize_session=False))
        if plan.usage:
            session.execute(update(UsageRecord).where(col(UsageRecord.id).in_(plan.usage))
                            .values(invoice_id=None).execution_options(synchronize_session=False))
        for redemption_id in plan.coupons:
            _give_cycle_back(session, redemption_id)
        invoice.status = InvoiceStatus.VOID
        invoice.closed_at = now
        invoice.next_attempt_at = None
        session.add(invoice)
        order = _order(session, invoice)
        returned = sum(a for _, a in plan.returns)
        record_event(session, actor, invoice.customer_id, EventType.INVOICE_VOIDED, invoice=invoice.number,
                     amount=plan.amount, currency=invoice.currency, order=order.number if order else None,
                     reason=reason, credit_returned=returned or None, charges_released=len(plan.charges) or None,
                     coupon_cycles_returned=len(plan.coupons) or None, usage_released=len(plan.usage) or None)
        _leave_credit_control(session, actor, invoice, order, now)
        _email(session, invoice, f"email-invoice-void-{invoice.id}", f"Invoice {invoice.number} cancelled",
               f"Hello,\n\nInvoice {invoice.number} ({_money(invoice, invoice.total)}) has been cancelled; "
               "you owe nothing on it."
               + (f"\n{_money(invoice, returned)} of account credit it used is available to you again." if returned
                  else "") + "\n")
        return InvoiceActionResult(
            InvoiceAction.VOID.value, invoice.number, invoice.status.value, plan.amount, invoice.currency,
            credit_returned=returned, charges_released=len(plan.charges),
            message=f"Invoice {invoice.number} voided ({_money(invoice, plan.amount)} no longer owed"
                    + (f"; {_money(invoice, returned)} credit returned" if returned else "")
                    + (f"; {len(plan.charges)} account charge(s) will bill later" if plan.charges else "") + ")")


def _give_cycle_back(session: Session, redemption_id: int) -> None:
    """One discounted invoice fewer; a redemption that ended by using its last cycle applies again (one
    that an agent removed stays removed)."""
    redemption = session.exec(select(CouponRedemption).where(CouponRedemption.id == redemption_id)
                              .with_for_update()).one()
    coupon = session.get(Coupon, redemption.coupon_id)
    limit = coupons.cycle_limit(coupon) if coupon is not None else None
    used_up = redemption.ended_at is not None and limit is not None and redemption.cycles_applied >= limit
    redemption.cycles_applied = max(redemption.cycles_applied - 1, 0)
    if used_up:
        redemption.ended_at = None
    session.add(redemption)


def _paid(session: Session, actor: Actor, invoice: Invoice, order: Order | None, amount: int,
          txn: Transaction | None, now: datetime, how: str) -> None:
    """The invoice is paid in full: what `collect_invoice` records on an approval, for the other ways of
    paying (INVOICE_PAID, a receipt, then `paid.on_invoice_paid`)."""
    invoice.status = InvoiceStatus.PAID
    invoice.paid_at = now
    invoice.next_attempt_at = None
    session.add(invoice)
    record_event(session, actor, invoice.customer_id, EventType.INVOICE_PAID, invoice=invoice.number, amount=amount,
                 currency=invoice.currency, order=order.number if order else None,
                 transaction=txn.id if txn else None)
    _email(session, invoice, f"email-receipt-{invoice.id}", f"Receipt for {invoice.number}",
           f"Hello,\n\nThank you: invoice {invoice.number}" + (f" (order {order.number})" if order else "")
           + f" is paid ({_money(invoice, amount)} {how}).\n"
           + (f"Reference: transaction {txn.id}.\n" if txn else ""), txn.id if txn else None)
    paid.on_invoice_paid(session, actor, invoice, txn, now)


def mark_paid_outside(store: Store, actor: Actor, number: str, reference: str,
                      now: datetime | None = None) -> InvoiceActionResult:
    """Record that the customer paid what the invoice owes outside the console (bank transfer, cheque…):
    an approved, settled sale of gateway "outside" with the reference, and the invoice paid as a collected
    one would be (INVOICE_MARKED_PAID, then INVOICE_PAID and what paying it does to the order)."""
    require(actor, NEEDS[InvoiceAction.MARK_PAID])
    reference = clean_reference(reference)
    now = now or utcnow()
    with store.write() as session:
        invoice = _lock(session, number)
        plan = _plan(session, actor, InvoiceAction.MARK_PAID, invoice)
        aggregates.lock_customers(session, [invoice.customer_id])
        order = _order(session, invoice)
        txn = Transaction(customer_id=invoice.customer_id, order_id=invoice.order_id, invoice_id=invoice.id,
                          type=TransactionType.SALE, status=TransactionStatus.APPROVED, amount=plan.amount,
                          currency=invoice.currency, settled=True, settled_at=now, gateway=OUTSIDE,
                          gateway_ref=reference, idempotency_key=f"invoice-{invoice.id}-outside",
                          description=f"Invoice {invoice.number} paid outside"[:limits.DESCRIPTION],
                          agent_id=actor.agent_id, processed_at=now, created_at=now)
        session.add(txn)
        session.flush()
        aggregates.record_sale(session, invoice.customer_id, plan.amount, invoice.currency, now, settled=True)
        invoice.amount_paid += plan.amount
        record_event(session, actor, invoice.customer_id, EventType.INVOICE_MARKED_PAID, invoice=invoice.number,
                     amount=plan.amount, currency=invoice.currency, order=order.number if order else None,
                     reference=reference, transaction=txn.id)
        _paid(session, actor, invoice, order, plan.amount, txn, now, f"paid outside, reference {reference}")
        return InvoiceActionResult(
            InvoiceAction.MARK_PAID.value, invoice.number, invoice.status.value, plan.amount, invoice.currency,
            transaction_id=txn.id,
            message=f"Invoice {invoice.number} marked paid: {_money(invoice, plan.amount)} paid outside "
                    f"(reference {reference}, transaction {txn.id})")


def apply_credit(store: Store, actor: Actor, number: str, now: datetime | None = None) -> InvoiceActionResult:
    """Draw the customer's credit in the invoice's currency, oldest memo first, onto what it still owes
    (CREDIT_APPLIED per memo); covered in full, the invoice is paid (INVOICE_PAID, the order goes on)."""
    require(actor, NEEDS[InvoiceAction.APPLY_CREDIT])
    now = now or utcnow()
    with store.write() as session:
        invoice = _lock(session, number)
        plan = _plan(session, actor, InvoiceAction.APPLY_CREDIT, invoice)
        order = _order(session, invoice)
        for memo_id, amount in plan.draws:
            taken = session.execute(
                update(CreditMemo).where(col(CreditMemo.id) == memo_id, col(CreditMemo.remaining) >= amount)
                .values(remaining=col(CreditMemo.remaining) - amount).execution_options(synchronize_session=False))
            if taken.rowcount != 1:  # type: ignore[attr-defined]
                raise Conflict("the customer's credit changed meanwhile; nothing was applied — try again")
            session.add(CreditApplication(credit_memo_id=memo_id, invoice_id=invoice.id, amount=amount,
                                          created_at=now))
            record_event(session, actor, invoice.customer_id, EventType.CREDIT_APPLIED, invoice=invoice.number,
                         amount=amount, currency=invoice.currency, order=order.number if order else None,
                         credit_memo=memo_id)
        invoice.credit_applied += plan.amount
        invoice.total -= plan.amount
        session.add(invoice)
        owed = invoice.total - invoice.amount_paid
        if owed == 0:
            _paid(session, actor, invoice, order, plan.amount, None, now, "from your account credit")
        return InvoiceActionResult(
            InvoiceAction.APPLY_CREDIT.value, invoice.number, invoice.status.value, plan.amount, invoice.currency,
            message=f"Applied {_money(invoice, plan.amount)} of credit to {invoice.number}: "
                    + ("paid in full" if owed == 0 else f"{_money(invoice, owed)} still owed"))


def write_off_invoice(store: Store, actor: Actor, number: str, reason: str | None = None,
                      now: datetime | None = None) -> InvoiceActionResult:
    """Give up collecting an open invoice: UNCOLLECTIBLE, no more attempts (INVOICE_WRITTEN_OFF)."""
    require(actor, NEEDS[InvoiceAction.WRITE_OFF])
    reason = clean_reason(reason)
    now = now or utcnow()
    with store.write() as session:
        invoice = _lock(session, number)
        plan = _plan(session, actor, InvoiceAction.WRITE_OFF, invoice)
        invoice.status = InvoiceStatus.UNCOLLECTIBLE
        invoice.closed_at = now
        invoice.next_attempt_at = None
        session.add(invoice)
        order = _order(session, invoice)
        record_event(session, actor, invoice.customer_id, EventType.INVOICE_WRITTEN_OFF, invoice=invoice.number,
                     amount=plan.amount, currency=invoice.currency, order=order.number if order else None,
                     reason=reason)
        _leave_credit_control(session, actor, invoice, order, now)
        return InvoiceActionResult(
            InvoiceAction.WRITE_OFF.value, invoice.number, invoice.status.value, plan.amount, invoice.currency,
            message=f"Invoice {invoice.number} written off: {_money(invoice, plan.amount)} uncollectible")
