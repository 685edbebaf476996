"""What an agent does to a running subscription: cancel, pause, trials, plan and option changes, the
billing date, quantities, coupons, billing the current cycle now.

Every action takes `preview`: with it nothing is written and the result says exactly what would happen
and what it would cost or refund (the console's dialogs and `--preview` show it); without it the same
rules run in one write transaction under the order's row lock, with the timeline event and the
customer's email. Money moves after that transaction, through the services that own it: a charge is an
invoice (`invoices.issue_invoice`, billing key "change-<order id>-<n>") collected by
`invoices.collect_invoice`; a refund goes through `refunds.refund_transaction`, so its rules and limits
hold; a credit is a credit memo the next invoices draw down. Proration is by day count
(`domain/proration.py`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import func
from sqlmodel import Session, col, select

from agentdesk.config import Settings
from agentdesk.db.models import (
    Address,
    Coupon,
    CouponRedemption,
    CreditMemo,
    Invoice,
    Order,
    OrderItem,
    Plan,
    Product,
    ScheduledChange,
    Transaction,
    utcnow,
)
from agentdesk.db.store import Store
from agentdesk.domain import pricing, proration
from agentdesk.domain.enums import (
    BillingTiming,
    InvoiceLineKind,
    InvoiceStatus,
    OrderKind,
    OrderStatus,
    PlanInterval,
    PlanKind,
    ScheduledChangeKind,
    ScheduledChangeStatus,
    TransactionStatus,
    TransactionStatusSets,
    TransactionTypeSets,
)
from agentdesk.domain.errors import Conflict, InvalidInput, NotFound, ServiceError
from agentdesk.domain.money import format_amount
from agentdesk.domain.periods import add_interval
from agentdesk.domain.permissions import SYSTEM, Action, Actor, allowed, require
from agentdesk.services.billing import coupons as coupon_rules
from agentdesk.services.billing import invoices, paid
from agentdesk.services.catalog.service import plan_by_code
from agentdesk.services.money import refunds
from agentdesk.services.orders import schedule
from agentdesk.services.orders.read import order_by_number
from agentdesk.services.policy import service as policy
from agentdesk.services.timeline.catalog import EventType
from agentdesk.services.timeline.record import record_event

REFUND_NONE, REFUND_PRORATED, REFUND_LAST = "none", "prorated", "last-invoice"
REFUND_CHOICES = (REFUND_NONE, REFUND_PRORATED, REFUND_LAST)
TRIAL_ACTIONS = ("restart", "skip", "stop")


@dataclass(frozen=True)
class SubscriptionResult:
    """What an action did, or (preview) would do. Amounts in minor units of `currency`: `charge` billed now,
    `credit` added as a credit memo, `refund` given back to the card."""

    order: str
    action: str
    preview: bool
    message: str
    details: tuple[str, ...] = ()
    """The arithmetic and the consequences, one line each."""
    currency: str = ""
    charge: int = 0
    credit: int = 0
    refund: int = 0
    status: str = ""
    next_bill_date: date | None = None
    scheduled_on: date | None = None
    invoice: str | None = None
    transaction: int | None = None
    payment: str | None = None
    """The collection's or the refund's outcome (approved, declined, pending…), when money moved."""
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.payment not in (TransactionStatus.DECLINED.value, TransactionStatus.FAILED.value)

    def lines(self) -> list[str]:
        return [self.message, *self.details]

    def to_dict(self) -> dict[str, Any]:
        return {"order": self.order, "action": self.action, "preview": self.preview, "message": self.message,
                "details": list(self.details), "currency": self.currency, "charge": self.charge,
                "credit": self.credit, "refund": self.refund, "status": self.status,
                "next_bill_date": self.next_bill_date.isoformat() if self.next_bill_date else None,
                "scheduled_on": self.scheduled_on.isoformat() if self.scheduled_on else None,
                "invoice": self.invoice, "transaction": self.transaction, "payment": self.payment, **self.extra}


# --- shared ------------------------------------------------------------------------------------


def _money(amount: int, currency: str) -> str:
    return format_amount(amount, currency)


def _open(store: Store, preview: bool) -> Any:
    return store.read() if preview else store.write()


def _order(session: Session, number: str, preview: bool) -> Order:
    order = order_by_number(session, number)
    if preview:
        return order
    locked = schedule.lock_order(session, order.id, order.customer_id)
    assert locked is not None
    return locked


def _subscription(order: Order, *statuses: OrderStatus) -> None:
    if order.kind is not OrderKind.SUBSCRIPTION:
        raise Conflict(f"{order.number} is a one-time order, not a subscription")
    if order.status not in statuses:
        raise Conflict(f"{order.number} is {order.status.value}; this needs a "
                       + " or ".join(s.value for s in statuses) + " subscription")


@dataclass(frozen=True)
class _Item:
    row: OrderItem
    plan: Plan
    product: Product

    @property
    def name(self) -> str:
        return self.row.plan_name or f"{self.product.name} — {self.plan.name}"

    @property
    def amount(self) -> int:
        return self.row.quantity * self.row.unit_price

    @property
    def recurring(self) -> bool:
        return self.row.kind is PlanKind.SUBSCRIPTION and self.row.interval is not PlanInterval.ONE_TIME


def _items(session: Session, order: Order) -> list[_Item]:
    rows = session.exec(select(OrderItem, Plan, Product).join(Plan, col(Plan.id) == col(OrderItem.plan_id))
                        .join(Product, col(Product.id) == col(Plan.product_id))
                        .where(OrderItem.order_id == order.id).order_by(col(OrderItem.id))).all()
    return [_Item(i, p, pr) for i, p, pr in rows]


def _pick_item(items: list[_Item], item_code: str | None, product_id: int | None = None) -> _Item:
    """The item a change is for: the one named by its plan code, else the only recurring one, else the only
    one of the new plan's product."""
    recurring = [i for i in items if i.recurring]
    if item_code:
        found = [i for i in items if i.plan.code.upper() == item_code.strip().upper()]
        if not found:
            raise InvalidInput(fields={"item": f"the order has no item on plan {item_code}"})
        return found[0]
    if len(recurring) == 1:
        return recurring[0]
    same = [i for i in recurring if product_id is not None and i.plan.product_id == product_id]
    if len(same) == 1:
        return same[0]
    if not recurring:
        raise Conflict("the order has no recurring item")
    raise InvalidInput(fields={"item": "the order has several items: name the one to change by its plan code"})


def _in_trial(order: Order) -> bool:
    return (order.trial_ends_on is not None and order.cycles_billed == 0
            and (order.period_start is None or order.period_start < order.trial_ends_on))


def _billed_period(order: Order, items: list[_Item], today: date) -> tuple[date, date] | None:
    """The paid-for period running today (items billed in advance, past any trial), else None."""
    if (_in_trial(order) or order.cycles_billed == 0 or order.period_start is None or order.period_end is None
            or order.period_end <= order.period_start):
        return None
    if not any(i.recurring and i.row.billing_timing is BillingTiming.ADVANCE for i in items):
        return None
    if not order.period_start <= today < order.period_end:
        return None
    return order.period_start, order.period_end


def _priced(session: Session, order: Order, lines: list[pricing.Line]) -> pricing.Totals:
    """What `invoices.issue_invoice` (without account charges) will make of these lines now: the order's
    open coupons, then the customer's credit."""
    lines = [pricing.Line(line.kind, line.description, line.quantity, line.unit_price, line.plan_code, line.ref)
             for line in lines]
    redemptions = coupon_rules.applicable_redemptions(session, order.customer_id, order.id)
    available = session.exec(select(func.coalesce(func.sum(CreditMemo.remaining), 0)).where(
        CreditMemo.customer_id == order.customer_id, CreditMemo.currency == order.currency,
        CreditMemo.remaining > 0)).one()
    pricing.apply_coupons(lines, [coupon_rules.terms_for(c, order.currency) for _, c in redemptions])
    return pricing.totals(lines, int(available or 0))


def _price_lines(session: Session, order: Order, lines: list[pricing.Line]) -> tuple[int, list[str]]:
    """(owed now, explanation) for a charge's lines."""
    sums = _priced(session, order, lines)
    cur = order.currency
    notes = []
    if sums.discount:
        notes.append(f"coupons take off {_money(sums.discount, cur)}")
    if sums.credit:
        notes.append(f"available credit pays {_money(sums.credit, cur)}")
    if notes:
        notes = [f"Owed now: {_money(sums.total, cur)} ({'; '.join(notes)})"]
    return sums.total, notes


def _issue_charge(session: Session, actor: Actor, order: Order, lines: list[pricing.Line], now: datetime,
                  key: str | None = None, cycle: int | None = None, period: tuple[date, date] | None = None
                  ) -> Invoice:
    """An invoice for a mid-period charge, billing key "change-<order id>-<n>" (or `key`); an autopay order's
    invoice gets its collection attempt set, as the billing run does, so dunning retries it."""
    if key is None:
        n = session.exec(select(func.count()).select_from(Invoice).where(
            col(Invoice.billing_key).like(f"change-{order.id}-%"))).one() + 1
        key = f"change-{order.id}-{n}"
    due_days = max([i.invoice_due_days for i in session.exec(
        select(OrderItem).where(OrderItem.order_id == order.id)).all()] or [0])
    invoice = invoices.issue_invoice(
        session, actor, customer_id=order.customer_id, order=order, cycle=cycle, lines=lines, currency=order.currency,
        billing_key=key, period_start=period[0] if period else None, period_end=period[1] if period else None,
        issued_at=now, due_at=now + timedelta(days=due_days), notes=order.invoice_notes,
        include_account_charges=False, now=now)
    if invoice is None:
        raise Conflict(f"{key} is already billed; look at the order again")
    if invoice.status is InvoiceStatus.PAID:
        paid.on_invoice_paid(session, actor, invoice, None, now)
    elif order.autopay:
        invoice.next_attempt_at = max(now, _aware(invoice.due_at))
        session.add(invoice)
    return invoice


def _aware(moment: datetime) -> datetime:
    from datetime import UTC

    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def _collect(store: Store, actor: Actor, settings: Settings, invoice_id: int | None, due_now: bool,
             now: datetime) -> tuple[int | None, str | None, str]:
    """Collect a charge's invoice now (autopay, due today): (transaction, outcome, words)."""
    if invoice_id is None or not due_now:
        return None, None, ""
    payer = actor if allowed(actor, Action.BILLING) else SYSTEM
    result = invoices.collect_invoice(store, payer, settings, invoice_id, now=now)
    return result.transaction_id, str(result.status), result.message


def _add_credit(session: Session, actor: Actor, order: Order, amount: int, reason: str) -> CreditMemo:
    """Credit the customer is owed by a change, drawn down by their next invoices (as a credit memo made
    by `payments.create_credit_memo`, in this transaction)."""
    memo = CreditMemo(customer_id=order.customer_id, amount=amount, remaining=amount, currency=order.currency,
                      reason=reason[:200], agent_id=actor.agent_id)
    session.add(memo)
    session.flush()
    record_event(session, actor, order.customer_id, EventType.MANUAL_CREDIT, amount=amount, currency=order.currency,
                 reason=memo.reason, credit_memo=memo.id)
    return memo


def _due_now(session: Session, order: Order, invoice_id: int | None, now: datetime) -> bool:
    if invoice_id is None or not order.autopay:
        return False
    invoice = session.get(Invoice, invoice_id)
    return invoice is not None and invoice.status is InvoiceStatus.ISSUED and _aware(invoice.due_at) <= now


def _result(order: Order, action: str, preview: bool, message: str, details: list[str] | tuple[str, ...] = (),
            **values: Any) -> SubscriptionResult:
    return SubscriptionResult(order.number, action, preview, message, tuple(details), currency=order.currency,
                              status=order.status.value, next_bill_date=order.next_bill_date, **values)


def _with_payment(result: SubscriptionResult, store: Store, actor: Actor, settings: Settings,
                  invoice_id: int | None, due_now: bool, now: datetime) -> SubscriptionResult:
    txn, outcome, words = _collect(store, actor, settings, invoice_id, due_now, now)
    if outcome is None:
        return result
    from dataclasses import replace

    return replace(result, transaction=txn, payment=outcome, details=(*result.details, words))


# --- cancel ------------------------------------------------------------------------------------


def _cancel_run_on(order: Order) -> date:
    if _in_trial(order):
        assert order.trial_ends_on is not None
        return order.trial_ends_on
    days = [d for d in (order.period_end, order.next_bill_date) if d is not None]
    if not days:
        raise Conflict(f"{order.number} has no period to end; cancel it now instead")
    return min(days)


def _last_payment(session: Session, order: Order) -> tuple[Invoice, Transaction] | None:
    """The order's last paid invoice and the sale that paid it (still holding money)."""
    rows = session.exec(
        select(Invoice, Transaction).join(Transaction, col(Transaction.invoice_id) == col(Invoice.id))
        .where(Invoice.order_id == order.id, Invoice.status == InvoiceStatus.PAID, Invoice.amount_paid > 0,
               col(Transaction.type).in_(TransactionTypeSets.MONEY_IN),
               col(Transaction.status).in_(TransactionStatusSets.SUCCESSFUL_SALE))
        .order_by(col(Invoice.id).desc(), col(Transaction.id).desc())).first()
    return None if rows is None else (rows[0], rows[1])


def _taken_back(session: Session, txn_id: int) -> int:
    """Refunded or voided of a sale so far, pending included."""
    return int(session.exec(select(func.coalesce(func.sum(Transaction.amount), 0)).where(
        Transaction.parent_id == txn_id, col(Transaction.type).in_(TransactionTypeSets.TAKEN_BACK),
        col(Transaction.status).in_((TransactionStatus.APPROVED, TransactionStatus.PENDING)))).one())


def _refund_plan(session: Session, order: Order, choice: str, today: date
                 ) -> tuple[int, Transaction | None, list[str]]:
    """(amount, the sale it comes from, explanation) for a cancellation's refund choice."""
    if choice == REFUND_NONE:
        return 0, None, ["No refund."]
    found = _last_payment(session, order)
    cur = order.currency
    if found is None:
        return 0, None, ["No refund: the order has no paid invoice."]
    invoice, txn = found
    if txn.status not in TransactionStatusSets.REFUNDABLE:
        return 0, txn, [f"No refund: the payment of {invoice.number} (transaction {txn.id}) is already refunded."]
    paid_amount = min(invoice.amount_paid, txn.amount)
    left = max(0, txn.amount - _taken_back(session, txn.id))
    if choice == REFUND_LAST:
        amount = min(left, paid_amount)
        lines = [f"Full refund of {invoice.number}: {_money(amount, cur)} of transaction {txn.id}"
                 + (f" (already refunded: {_money(txn.amount - left, cur)})" if left < txn.amount else "")]
    else:
        start = invoice.period_start or order.period_start
        end = invoice.period_end or order.period_end
        if start is None or end is None or end <= start:
            return 0, txn, [f"No prorated refund: {invoice.number} covers no period."]
        total = proration.period_days(start, end)
        days = proration.unused_days(start, end, today)
        amount = proration.capped_refund(paid_amount, days, total, paid_amount, txn.amount - left)
        lines = [f"Prorated refund: {days} unused of {total} days of {invoice.number} "
                 f"({start.isoformat()} to {end.isoformat()}) paid {_money(paid_amount, cur)} → "
                 f"{_money(amount, cur)} from transaction {txn.id}"
                 + (f" (at most what is left of it: {_money(left, cur)})" if left < paid_amount else "")]
    if amount > 0 and not txn.settled:
        if amount != left:
            raise Conflict(f"the last payment (transaction {txn.id}) has not settled yet, so it can only be voided "
                           f"in full ({_money(left, cur)}): choose the last-invoice refund, or cancel without a "
                           "refund and refund it once it has settled")
        lines.append("It has not settled yet: it is voided (in full), so the customer is never charged.")
    return amount, txn, lines


def cancel(store: Store, actor: Actor, settings: Settings, number: str, *, at_period_end: bool = False,
           refund: str = REFUND_NONE, reason: str | None = None, preview: bool = False,
           now: datetime | None = None) -> SubscriptionResult:
    """Cancel now (with no refund, a prorated refund of the unused part of the period, or the last invoice
    in full) or at the end of the period (a scheduled change the billing run carries out)."""
    require(actor, Action.CHANGE_SUBSCRIPTIONS)
    if refund not in REFUND_CHOICES:
        raise InvalidInput(fields={"refund": f"one of {', '.join(REFUND_CHOICES)}"})
    if at_period_end and refund != REFUND_NONE:
        raise InvalidInput(fields={"refund": "a cancellation at the end of the period refunds nothing: the "
                                             "customer keeps what they paid for"})
    if refund != REFUND_NONE:
        require(actor, Action.REFUND)
    now = now or utcnow()
    today = now.date()
    with _open(store, preview) as session:
        order = _order(session, number, preview)
        _subscription(order, OrderStatus.ACTIVE, OrderStatus.PAUSED)
        product = paid.order_product(session, order)
        if schedule.pending_changes(session, order.id, schedule.CANCELLING):
            raise Conflict(f"{order.number} is already set to end; withdraw that first or wait for it")
        if at_period_end:
            run_on = _cancel_run_on(order)
            message = f"{order.number} ({product}) will be cancelled on {run_on.isoformat()}, the end of its period"
            details = ["Nothing is refunded; nothing more is billed after that day. It can be withdrawn until then."]
            if preview:
                return _result(order, "cancel", True, message, details, scheduled_on=run_on)
            session.add(ScheduledChange(order_id=order.id, customer_id=order.customer_id,
                                        kind=ScheduledChangeKind.CANCEL, run_on=run_on,
                                        payload={"reason": reason} if reason else {}, agent_id=actor.agent_id,
                                        created_at=now))
            order.cancel_at_period_end = True
            order.updated_at = now
            session.add(order)
            session.flush()
            record_event(session, actor, order.customer_id, EventType.CANCELLATION_SCHEDULED, product=product,
                         order=order.number, on=run_on.isoformat())
            schedule.email(session, order, schedule.fresh_key("cancel-scheduled", order),
                           f"Your subscription {order.number} ends on {run_on.isoformat()}",
                           f"As you asked, your subscription to {product} ({order.number}) ends on "
                           f"{run_on.isoformat()}. You will not be billed again. Tell us before then if you "
                           "change your mind.")
            return _result(order, "cancel", False, message.replace("will be", "is set to be"), details,
                           scheduled_on=run_on)
        if session.exec(select(Transaction.id).where(Transaction.order_id == order.id,
                                                     Transaction.status == TransactionStatus.PENDING)).first():
            raise Conflict(f"a payment of {order.number} is in progress; try again when it is recorded")
        amount, txn, details = _refund_plan(session, order, refund, today)
        if amount > 0:
            policy.check_refund(session, actor, amount, order.currency)
        message = (f"{order.number} ({product}) will be cancelled now"
                   + (f" and {_money(amount, order.currency)} refunded" if amount else ", nothing refunded"))
        if preview:
            return _result(order, "cancel", True, message, details, refund=amount,
                           transaction=txn.id if txn and amount else None)
        schedule.end_subscription(session, actor, order, now, reason or "cancelled by the customer",
                                  schedule.fresh_key("cancelled", order))
        done = _result(order, "cancel", False, message.replace("will be cancelled", "is cancelled"), details)
    if amount <= 0 or txn is None:
        return done
    from dataclasses import replace

    try:
        outcome = refunds.refund_transaction(store, actor, settings, txn.id, amount,
                                             reason=reason or f"{order.number} cancelled")
    except ServiceError as exc:
        return replace(done, payment="refused", details=(*done.details, f"The refund was refused: {exc}"))
    return replace(done, refund=outcome.amount if outcome.ok else 0, transaction=outcome.refund_id,
                   payment=outcome.status.value, details=(*done.details, outcome.message))


def withdraw_cancel(store: Store, actor: Actor, number: str, *, preview: bool = False,
                    now: datetime | None = None) -> SubscriptionResult:
    """Take back a cancellation set for the end of the period (or for the end of the trial)."""
    require(actor, Action.CHANGE_SUBSCRIPTIONS)
    now = now or utcnow()
    with _open(store, preview) as session:
        order = _order(session, number, preview)
        changes = schedule.pending_changes(session, order.id, schedule.CANCELLING)
        if not changes:
            raise Conflict(f"{order.number} has no scheduled cancellation")
        product = paid.order_product(session, order)
        message = f"The cancellation of {order.number} on {changes[0].run_on.isoformat()} is withdrawn"
        if preview:
            return _result(order, "withdraw-cancel", True, message.replace("is withdrawn", "will be withdrawn"),
                           ["The subscription goes on and renews as before."], scheduled_on=changes[0].run_on)
        for change in changes:
            if not schedule.decide(session, change.id, ScheduledChangeStatus.WITHDRAWN, now):
                raise Conflict("the cancellation was carried out meanwhile")
        order = session.get(Order, order.id)
        order.cancel_at_period_end = False
        order.updated_at = now
        session.add(order)
        record_event(session, actor, order.customer_id, EventType.CANCELLATION_WITHDRAWN, product=product,
                     order=order.number)
        schedule.email(session, order, schedule.fresh_key("cancel-withdrawn", order),
                       f"Your subscription {order.number} continues",
                       f"The cancellation of your subscription to {product} ({order.number}) is withdrawn; it "
                       "continues and renews as before.")
        return _result(order, "withdraw-cancel", False, message, ["The subscription goes on and renews as before."])


# --- pause -------------------------------------------------------------------------------------


def pause(store: Store, actor: Actor, number: str, *, start: date | None = None, until: date | None = None,
          preview: bool = False, now: datetime | None = None) -> SubscriptionResult:
    """Pause from `start` (default today) to `until` inclusive (None: until resumed). No bills while paused;
    the next bill date moves on by the days paused when it ends."""
    require(actor, Action.CHANGE_SUBSCRIPTIONS)
    now = now or utcnow()
    today = now.date()
    start = start or today
    if start < today:
        raise InvalidInput(fields={"from": "a pause starts today or later"})
    if until is not None and until < start:
        raise InvalidInput(fields={"until": "the last day of the pause is on or after its first"})
    with _open(store, preview) as session:
        order = _order(session, number, preview)
        _subscription(order, OrderStatus.ACTIVE)
        if schedule.pending_changes(session, order.id, (ScheduledChangeKind.PAUSE,)):
            raise Conflict(f"{order.number} already has a pause scheduled; cancel it first")
        product = paid.order_product(session, order)
        span = f"to {until.isoformat()} inclusive" if until else "until resumed"
        details = ["No bills while paused; when it ends, the next bill date (and the end of the current period) "
                   "move on by the days paused."]
        if until is not None:
            days = (until + timedelta(days=1) - start).days
            if order.next_bill_date is not None and order.next_bill_date >= start:
                details.append(f"Next bill date {order.next_bill_date.isoformat()} becomes "
                               f"{(order.next_bill_date + timedelta(days=days)).isoformat()} ({days} days paused).")
        when = "now" if start == today else f"from {start.isoformat()}"
        message = f"{order.number} ({product}) will be paused {when} {span}"
        if preview:
            return _result(order, "pause", True, message, details, scheduled_on=start if start > today else None)
        if start == today:
            schedule.start_pause(session, actor, order, start, until, now, schedule.fresh_key("paused", order))
        else:
            session.add(ScheduledChange(order_id=order.id, customer_id=order.customer_id,
                                        kind=ScheduledChangeKind.PAUSE, run_on=start,
                                        payload={"until": until.isoformat() if until else None},
                                        agent_id=actor.agent_id, created_at=now))
            session.flush()
            record_event(session, actor, order.customer_id, EventType.PAUSE_SCHEDULED, product=product,
                         order=order.number, on=start.isoformat(), months=schedule.pause_months(start, until),
                         until=until.isoformat() if until else None)
            schedule.email(session, order, schedule.fresh_key("pause-scheduled", order),
                           f"Your subscription {order.number} will be paused",
                           f"Your subscription to {product} ({order.number}) will be paused from "
                           f"{start.isoformat()} {span}. You will not be billed while it is paused.")
        return _result(order, "pause", False, message.replace("will be", "is"), details,
                       scheduled_on=start if start > today else None)


def resume(store: Store, actor: Actor, number: str, *, preview: bool = False,
           now: datetime | None = None) -> SubscriptionResult:
    """End a pause now (its dates move on by the days paused), or cancel a pause not begun yet."""
    require(actor, Action.CHANGE_SUBSCRIPTIONS)
    now = now or utcnow()
    today = now.date()
    with _open(store, preview) as session:
        order = _order(session, number, preview)
        product = paid.order_product(session, order)
        if order.status is OrderStatus.PAUSED and order.paused_from is not None:
            days = max(0, (today - order.paused_from).days)
            moved = order.next_bill_date + timedelta(days=days) if order.next_bill_date else None
            details = [f"{days} days paused; the next bill date becomes {moved.isoformat()}." if moved else
                       f"{days} days paused."]
            message = f"The pause of {order.number} ({product}) will end now"
            if preview:
                return _result(order, "resume", True, message, details, extra={"days_paused": days})
            schedule.end_pause(session, actor, order, today, True, now, schedule.fresh_key("resumed", order))
            return _result(order, "resume", False, message.replace("will end", "ended"), details,
                           extra={"days_paused": days})
        scheduled = schedule.pending_changes(session, order.id, (ScheduledChangeKind.PAUSE,))
        if not scheduled:
            raise Conflict(f"{order.number} is not paused and has no pause scheduled")
        change = scheduled[0]
        message = f"The pause of {order.number} scheduled for {change.run_on.isoformat()} will be cancelled"
        if preview:
            return _result(order, "resume", True, message, scheduled_on=change.run_on)
        if not schedule.decide(session, change.id, ScheduledChangeStatus.WITHDRAWN, now):
            raise Conflict("the pause began meanwhile; resume it instead")
        order = session.get(Order, order.id)
        record_event(session, actor, order.customer_id, EventType.PAUSE_CANCELLED, product=product,
                     order=order.number)
        schedule.email(session, order, schedule.fresh_key("pause-cancelled", order),
                       f"Your subscription {order.number} will not be paused",
                       f"The pause of your subscription to {product} ({order.number}) planned from "
                       f"{change.run_on.isoformat()} is cancelled; it continues as before.")
        return _result(order, "resume", False, message.replace("will be cancelled", "is cancelled"),
                       scheduled_on=change.run_on)


# --- trials ------------------------------------------------------------------------------------


def _first_lines(session: Session, order: Order, items: list[_Item]) -> list[pricing.Line]:
    """The first bill's setup fees and shipping, unless an initial invoice (a paid trial) carried them."""
    if session.exec(select(Invoice.id).where(Invoice.billing_key == f"order-{order.id}-initial")).first():
        return []
    lines = [pricing.Line(InvoiceLineKind.SETUP_FEE, f"{i.name} — setup fee", 1, i.row.setup_fee, i.plan.code,
                          i.row.id) for i in items if i.recurring and i.row.setup_fee > 0]
    if order.shipping_amount > 0:
        country = (session.exec(select(Address.country).where(Address.id == order.shipping_address_id)).first()
                   if order.shipping_address_id is not None else None)
        lines.append(pricing.Line(InvoiceLineKind.SHIPPING, f"Shipping to {country}" if country else "Shipping", 1,
                                  order.shipping_amount))
    return lines


def trial(store: Store, actor: Actor, settings: Settings, number: str, action: str, *, preview: bool = False,
          now: datetime | None = None) -> SubscriptionResult:
    """restart: a new trial of the plan's length from today; skip: end the trial now and bill the first
    period; stop: end the subscription when the trial ends."""
    require(actor, Action.CHANGE_SUBSCRIPTIONS)
    if action not in TRIAL_ACTIONS:
        raise InvalidInput(fields={"action": f"one of {', '.join(TRIAL_ACTIONS)}"})
    now = now or utcnow()
    today = now.date()
    invoice_id: int | None = None
    with _open(store, preview) as session:
        order = _order(session, number, preview)
        _subscription(order, OrderStatus.ACTIVE)
        if not _in_trial(order):
            raise Conflict(f"{order.number} is not in a trial")
        assert order.trial_ends_on is not None
        items = _items(session, order)
        recurring = [i for i in items if i.recurring]
        product = paid.order_product(session, order)
        if action == "restart":
            days = max([i.row.trial_days for i in items] + [0]) or max([i.plan.trial_days for i in items] + [0])
            if days <= 0:
                raise Conflict(f"{order.number}'s plan has no trial length to restart")
            until = today + timedelta(days=days)
            message = f"{order.number}'s trial will restart: {days} days from today, ending {until.isoformat()}"
            details = [f"The first bill moves from {order.trial_ends_on.isoformat()} to {until.isoformat()}."]
            if preview:
                return _result(order, "trial-restart", True, message, details, scheduled_on=until)
            order.trial_ends_on = order.period_end = order.next_bill_date = until
            order.period_start = today
            order.updated_at = now
            session.add(order)
            for stop in schedule.pending_changes(session, order.id, (ScheduledChangeKind.TRIAL_STOP,)):
                stop.run_on = until
                session.add(stop)
            session.flush()
            record_event(session, actor, order.customer_id, EventType.TRIAL_RESTARTED, product=product,
                         order=order.number, until=until.isoformat())
            schedule.email(session, order, schedule.fresh_key("trial-restarted", order),
                           f"Your trial of {product} starts again",
                           f"Your trial of {product} ({order.number}) starts again today and runs until "
                           f"{until.isoformat()}. Your first bill is on that day.")
            return _result(order, "trial-restart", False, message.replace("will restart", "restarted"), details,
                           scheduled_on=until)
        if action == "stop":
            if schedule.pending_changes(session, order.id, schedule.CANCELLING):
                raise Conflict(f"{order.number} is already set to end")
            on = order.trial_ends_on
            message = f"{order.number} ({product}) will end with its trial on {on.isoformat()}"
            details = ["Nothing is billed; it can be withdrawn (withdraw-cancel) until then."]
            if preview:
                return _result(order, "trial-stop", True, message, details, scheduled_on=on)
            session.add(ScheduledChange(order_id=order.id, customer_id=order.customer_id,
                                        kind=ScheduledChangeKind.TRIAL_STOP, run_on=on, agent_id=actor.agent_id,
                                        created_at=now))
            order.cancel_at_period_end = True
            order.updated_at = now
            session.add(order)
            session.flush()
            record_event(session, actor, order.customer_id, EventType.TRIAL_STOP_SCHEDULED, product=product,
                         order=order.number, on=on.isoformat())
            schedule.email(session, order, schedule.fresh_key("trial-stop", order),
                           f"Your subscription {order.number} ends with its trial",
                           f"As you asked, your subscription to {product} ({order.number}) ends when its trial "
                           f"ends on {on.isoformat()}. You will not be billed.")
            return _result(order, "trial-stop", False, message.replace("will end", "ends"), details,
                           scheduled_on=on)
        # skip
        if not recurring:
            raise Conflict(f"{order.number} has nothing billed after its trial")
        first = recurring[0].row
        end = add_interval(today, first.interval, first.interval_count, today.day)
        advance = [i for i in recurring if i.row.billing_timing is BillingTiming.ADVANCE]
        lines = [pricing.Line(InvoiceLineKind.ITEM, i.name, i.row.quantity, i.row.unit_price, i.plan.code, i.row.id)
                 for i in advance]
        if lines:
            lines += _first_lines(session, order, recurring)
        owed, notes = _price_lines(session, order, lines) if lines else (0, [])
        shift = max(i.row.invoice_issue_days for i in recurring)
        next_bill = max(end - timedelta(days=shift), today + timedelta(days=1)) if advance else end + timedelta(
            days=shift)
        details = [f"{line.description}: {line.quantity} × {_money(line.unit_price, order.currency)}" for line in lines]
        details += [*notes, f"Period {today.isoformat()} to {end.isoformat()}; next bill {next_bill.isoformat()}."]
        message = (f"{order.number}'s trial will end now and the first period be billed: "
                   f"{_money(owed, order.currency)}")
        if preview:
            return _result(order, "trial-skip", True, message, details, charge=owed)
        invoice = None
        if lines:
            invoice = _issue_charge(session, actor, order, lines, now, key=f"order-{order.id}-cycle-1", cycle=1,
                                    period=(today, end))
            order.cycles_billed = 1
        order.trial_ends_on = order.period_start = today
        order.period_end, order.next_bill_date = end, next_bill
        order.updated_at = now
        session.add(order)
        session.flush()
        record_event(session, actor, order.customer_id, EventType.TRIAL_SKIPPED, product=product, order=order.number,
                     invoice=invoice.number if invoice else None)
        schedule.email(session, order, schedule.fresh_key("trial-skipped", order),
                       f"Your trial of {product} has ended",
                       f"As you asked, the trial of {product} ({order.number}) ended today and your subscription "
                       f"started: {_money(owed, order.currency)} for {today.isoformat()} to {end.isoformat()}.")
        invoice_id = invoice.id if invoice else None
        due = _due_now(session, order, invoice_id, now)
        done = _result(order, "trial-skip", False, message.replace("will end", "ended").replace("be billed",
                                                                                              "is billed"),
                       details, charge=owed, invoice=invoice.number if invoice else None)
    return _with_payment(done, store, actor, settings, invoice_id, due, now)


# --- plan / option / quantity changes ----------------------------------------------------------


def _check_options(product: Product, options: dict[str, str]) -> dict[str, str]:
    known: dict[str, list[str]] = {str(k): [str(v) for v in values] for k, values in (product.options or {}).items()}
    clean: dict[str, str] = {}
    for key, value in options.items():
        name = next((k for k in known if k.lower() == key.strip().lower()), None)
        if name is None:
            raise InvalidInput(fields={"option": f"{product.name} has no option {key!r}"
                                                 + (f" (it has {', '.join(known)})" if known else "")})
        match = next((v for v in known[name] if v.lower() == value.strip().lower()), None)
        if match is None:
            raise InvalidInput(fields={"option": f"{name} is one of {', '.join(known[name])}"})
        clean[name] = match
    return clean


def change(store: Store, actor: Actor, settings: Settings, number: str, *, plan_code: str,
           options: dict[str, str] | None = None, at_renewal: bool = False, item: str | None = None,
           preview: bool = False, now: datetime | None = None) -> SubscriptionResult:
    """Move an item to another price point (plan) and/or product option. An upgrade now is prorated (credit
    for the unused days at the old price, charge for them at the new one) and billed now; an upgrade
    `at_renewal` and every downgrade (a lower price) wait for the next renewal, and can be withdrawn."""
    require(actor, Action.CHANGE_SUBSCRIPTIONS)
    now = now or utcnow()
    today = now.date()
    invoice_id: int | None = None
    with _open(store, preview) as session:
        order = _order(session, number, preview)
        _subscription(order, OrderStatus.ACTIVE, OrderStatus.PAUSED)
        plan = plan_by_code(session, plan_code)
        new_product = session.get(Product, plan.product_id)
        assert new_product is not None
        items = _items(session, order)
        target = _pick_item(items, item, plan.product_id)
        if plan.currency != order.currency:
            raise InvalidInput(fields={"plan": f"{plan.code} is priced in {plan.currency}, the order in "
                                               f"{order.currency}"})
        if plan.kind is not PlanKind.SUBSCRIPTION or (plan.interval, plan.interval_count) != (
                target.row.interval, target.row.interval_count):
            raise InvalidInput(fields={"plan": f"{plan.code} does not bill every {target.row.interval_count} "
                                               f"{target.row.interval.value}(s) like this order; a different "
                                               "billing interval needs a new order"})
        base = dict(target.row.options or {}) if plan.product_id == target.plan.product_id else {}
        new_options = {**base, **_check_options(new_product, options or {})}
        if plan.id == target.plan.id and new_options == dict(target.row.options or {}) \
                and target.row.unit_price == plan.price:
            raise InvalidInput(fields={"plan": "that is what the order has now: nothing changes"})
        cur = order.currency
        old_amount, new_amount = target.amount, target.row.quantity * plan.price
        to_name = plan.name + (" (" + ", ".join(f"{k} {v}" for k, v in sorted(new_options.items())) + ")"
                               if new_options else "")
        downgrade = new_amount < old_amount
        if schedule.pending_changes(session, order.id, (ScheduledChangeKind.CHANGE_PLAN,)):
            raise Conflict(f"{order.number} already has a change scheduled; withdraw it first")
        if downgrade or at_renewal:
            run_on = order.next_bill_date
            if run_on is None:
                raise Conflict(f"{order.number} has no next renewal to change at")
            word = "downgrade" if downgrade else "change"
            message = (f"{order.number}: {word} from {target.name} to {to_name} at the renewal on "
                       f"{run_on.isoformat()}")
            details = [f"Price per period: {_money(old_amount, cur)} → {_money(new_amount, cur)}; nothing is "
                       "charged or refunded now."]
            if downgrade and not at_renewal:
                details.append("A lower price always waits for the next renewal; it can be withdrawn until then.")
            if preview:
                return _result(order, "change", True, message, details, scheduled_on=run_on,
                               extra={"downgrade": downgrade})
            payload = {"item": target.row.id, "plan_id": plan.id, "plan": plan.code, "options": new_options,
                       "from": target.name, "to": to_name, "downgrade": downgrade, "old_amount": old_amount,
                       "new_amount": new_amount}
            session.add(ScheduledChange(order_id=order.id, customer_id=order.customer_id,
                                        kind=ScheduledChangeKind.CHANGE_PLAN, run_on=run_on, payload=payload,
                                        agent_id=actor.agent_id, created_at=now))
            session.flush()
            if downgrade:
                record_event(session, actor, order.customer_id, EventType.DOWNGRADE_SCHEDULED, order=order.number,
                             on=run_on.isoformat(), **schedule.from_to(target.name, to_name))
            else:
                record_event(session, actor, order.customer_id, EventType.CHANGE_SCHEDULED, order=order.number,
                             change="change_plan", on=run_on.isoformat(),
                             details={"from": target.name, "to": to_name, "amount": new_amount, "currency": cur})
            schedule.email(session, order, schedule.fresh_key("change-scheduled", order),
                           f"Your subscription {order.number} changes on {run_on.isoformat()}",
                           f"Your subscription {order.number} changes from {target.name} to {to_name} on "
                           f"{run_on.isoformat()}: {_money(new_amount, cur)} per period from then on.")
            return _result(order, "change", False, message.replace(": ", " scheduled: ", 1), details,
                           scheduled_on=run_on, extra={"downgrade": downgrade})
        period = _billed_period(order, items, today)
        details = [f"Price per period: {_money(old_amount, cur)} → {_money(new_amount, cur)}."]
        lines: list[pricing.Line] = []
        if period is not None and new_amount != old_amount:
            p = proration.change(old_amount, new_amount, period[0], period[1], today)
            details.append(f"Credit for the unused {p.days} of {p.total_days} days at the old price: "
                           f"{_money(p.credit, cur)}; charge for them at the new price: {_money(p.charge, cur)}; "
                           f"net {_money(p.net, cur)}.")
            if p.net > 0:
                lines = [pricing.Line(InvoiceLineKind.ITEM, f"Upgrade to {to_name}: {p.days}/{p.total_days} days "
                                      f"({_money(p.charge, cur)} less {_money(p.credit, cur)} unused)", 1, p.net,
                                      plan.code, target.row.id)]
        else:
            details.append("Nothing is prorated: no paid-for period is running (a trial, billing in arrears, or "
                           "not billed yet).")
        owed, notes = _price_lines(session, order, lines) if lines else (0, [])
        details += notes
        message = f"{order.number}: {target.name} → {to_name} now" + (
            f", {_money(owed, cur)} charged" if lines else ", nothing charged now")
        if preview:
            return _result(order, "change", True, message, details, charge=owed)
        invoice = _issue_charge(session, actor, order, lines, now, period=period) if lines else None
        row = session.get(OrderItem, target.row.id)
        assert row is not None
        schedule.apply_plan_change(session, actor, order, row, plan, new_options, now,
                                   schedule.fresh_key("changed", order))
        invoice_id = invoice.id if invoice else None
        due = _due_now(session, order, invoice_id, now)
        done = _result(order, "change", False, message, details, charge=owed,
                       invoice=invoice.number if invoice else None)
    return _with_payment(done, store, actor, settings, invoice_id, due, now)


def withdraw_change(store: Store, actor: Actor, number: str, *, preview: bool = False,
                    now: datetime | None = None) -> SubscriptionResult:
    """Take back a plan change (a downgrade or an upgrade at renewal) not carried out yet."""
    require(actor, Action.CHANGE_SUBSCRIPTIONS)
    now = now or utcnow()
    with _open(store, preview) as session:
        order = _order(session, number, preview)
        changes = schedule.pending_changes(session, order.id, (ScheduledChangeKind.CHANGE_PLAN,))
        if not changes:
            raise Conflict(f"{order.number} has no plan change scheduled")
        change_row = changes[0]
        payload = dict(change_row.payload or {})
        message = (f"The change of {order.number} to {payload.get('to')} on {change_row.run_on.isoformat()} "
                   "is withdrawn")
        if preview:
            return _result(order, "withdraw-change", True, message.replace("is withdrawn", "will be withdrawn"),
                           scheduled_on=change_row.run_on)
        if not schedule.decide(session, change_row.id, ScheduledChangeStatus.WITHDRAWN, now):
            raise Conflict("the change was carried out meanwhile")
        order = session.get(Order, order.id)
        product = paid.order_product(session, order)
        if payload.get("downgrade"):
            record_event(session, actor, order.customer_id, EventType.DOWNGRADE_WITHDRAWN, product=product,
                         order=order.number)
        else:
            record_event(session, actor, order.customer_id, EventType.CHANGE_WITHDRAWN, order=order.number,
                         change="change_plan", on=change_row.run_on.isoformat())
        schedule.email(session, order, schedule.fresh_key("change-withdrawn", order),
                       f"Your subscription {order.number} stays as it is",
                       f"The change of your subscription {order.number} to {payload.get('to')} planned for "
                       f"{change_row.run_on.isoformat()} is withdrawn; it stays {payload.get('from')}.")
        return _result(order, "withdraw-change", False, message, scheduled_on=change_row.run_on)


def quantity(store: Store, actor: Actor, settings: Settings, number: str, new_quantity: int, *,
             item: str | None = None, preview: bool = False, now: datetime | None = None) -> SubscriptionResult:
    """Change an item's quantity (price = quantity × unit price) now: more is charged for the rest of the
    period, less is credited for it."""
    require(actor, Action.CHANGE_SUBSCRIPTIONS)
    if not isinstance(new_quantity, int) or isinstance(new_quantity, bool) or not 1 <= new_quantity <= 10_000:
        raise InvalidInput(fields={"quantity": "a whole number from 1 to 10000"})
    now = now or utcnow()
    today = now.date()
    invoice_id: int | None = None
    with _open(store, preview) as session:
        order = _order(session, number, preview)
        _subscription(order, OrderStatus.ACTIVE, OrderStatus.PAUSED)
        items = _items(session, order)
        target = _pick_item(items, item)
        old = target.row.quantity
        if new_quantity == old:
            raise InvalidInput(fields={"quantity": f"the quantity is {old} already"})
        cur, unit = order.currency, target.row.unit_price
        old_amount, new_amount = old * unit, new_quantity * unit
        details = [f"{target.name}: {old} × {_money(unit, cur)} = {_money(old_amount, cur)} → {new_quantity} × "
                   f"{_money(unit, cur)} = {_money(new_amount, cur)} per period."]
        period = _billed_period(order, items, today) if order.status is OrderStatus.ACTIVE else None
        net = 0
        if period is not None:
            p = proration.change(old_amount, new_amount, period[0], period[1], today)
            net = p.net
            details.append(f"For the {p.days} of {p.total_days} days left: {_money(p.charge, cur)} less "
                           f"{_money(p.credit, cur)} = " + (f"{_money(net, cur)} charged now" if net >= 0 else
                                                            f"{_money(-net, cur)} credited to the account"))
        else:
            details.append("Nothing is prorated: no paid-for period is running; the next bill has the new quantity.")
        lines = ([pricing.Line(InvoiceLineKind.ITEM, f"{target.name}: quantity {old} → {new_quantity}, "
                               f"rest of the period", 1, net, target.plan.code, target.row.id)] if net > 0 else [])
        owed, notes = _price_lines(session, order, lines) if lines else (0, [])
        details += notes
        credit = -net if net < 0 else 0
        message = f"{order.number}: quantity of {target.name} {old} → {new_quantity}"
        if preview:
            return _result(order, "quantity", True, message, details, charge=owed, credit=credit)
        row = session.get(OrderItem, target.row.id)
        assert row is not None
        row.quantity = new_quantity
        session.add(row)
        session.flush()
        schedule.recount_total(session, order, now)
        invoice = _issue_charge(session, actor, order, lines, now, period=period) if lines else None
        if credit:
            _add_credit(session, actor, order, credit, f"{order.number}: quantity {old} → {new_quantity}")
        product = paid.order_product(session, order)
        record_event(session, actor, order.customer_id, EventType.QUANTITY_CHANGED, product=product,
                     order=order.number, amount=net, currency=cur, **schedule.from_to(old, new_quantity))
        schedule.email(session, order, schedule.fresh_key("quantity", order),
                       f"Your subscription {order.number} has changed",
                       f"The quantity of {target.name} on {order.number} is now {new_quantity} "
                       f"({_money(new_amount, cur)} per period)."
                       + (f" Charged for the rest of this period: {_money(owed, cur)}." if lines else "")
                       + (f" Credit for the rest of this period: {_money(credit, cur)}." if credit else ""))
        invoice_id = invoice.id if invoice else None
        due = _due_now(session, order, invoice_id, now)
        done = _result(order, "quantity", False, message, details, charge=owed, credit=credit,
                       invoice=invoice.number if invoice else None)
    return _with_payment(done, store, actor, settings, invoice_id, due, now)


# --- billing date ------------------------------------------------------------------------------


def billing_date(store: Store, actor: Actor, settings: Settings, number: str, new_date: date, *,
                 preview: bool = False, now: datetime | None = None) -> SubscriptionResult:
    """Move the renewal anchor: the next bill date (and the current period's end) to `new_date`. Days added
    to the paid-for period are charged now, days removed credited, prorated by day count."""
    require(actor, Action.CHANGE_SUBSCRIPTIONS)
    now = now or utcnow()
    today = now.date()
    invoice_id: int | None = None
    with _open(store, preview) as session:
        order = _order(session, number, preview)
        _subscription(order, OrderStatus.ACTIVE)
        if _in_trial(order):
            raise Conflict(f"{order.number} is in its trial: restart or skip the trial to move its first bill")
        old = order.next_bill_date
        if old is None or order.period_start is None or order.period_end is None:
            raise Conflict(f"{order.number} has no next bill date to move")
        if new_date <= today:
            raise InvalidInput(fields={"date": "the new bill date is after today"})
        if new_date == old:
            raise InvalidInput(fields={"date": f"the next bill date is {old.isoformat()} already"})
        items = _items(session, order)
        advance = [i for i in items if i.recurring and i.row.billing_timing is BillingTiming.ADVANCE]
        recurring = [i for i in items if i.recurring]
        if not recurring:
            raise Conflict(f"{order.number} has no recurring item")
        # The price is for one plan period: its length from the period's start, whatever earlier moves did.
        first = recurring[0].row
        total = proration.period_days(order.period_start, add_interval(
            order.period_start, first.interval, first.interval_count, order.period_start.day))
        if new_date > old + timedelta(days=total):
            raise InvalidInput(fields={"date": f"at most one period ({total} days) after {old.isoformat()}"})
        amount = sum(i.amount for i in advance)
        cur = order.currency
        value = proration.shift(amount, old, new_date, total) if order.cycles_billed > 0 else 0
        delta = (new_date - old).days
        details = [f"Next bill {old.isoformat()} → {new_date.isoformat()} ({delta:+d} days of a {total}-day period "
                   f"at {_money(amount, cur)})."]
        if value > 0:
            details.append(f"The {delta} days added are charged now: {_money(value, cur)}.")
        elif value < 0:
            details.append(f"The {-delta} days removed are credited to the account: {_money(-value, cur)}.")
        else:
            details.append("Nothing is charged or credited.")
        lines = ([pricing.Line(InvoiceLineKind.ITEM, f"Billing date moved to {new_date.isoformat()}: {delta} days "
                               "added", 1, value, None, advance[0].row.id)] if value > 0 else [])
        owed, notes = _price_lines(session, order, lines) if lines else (0, [])
        details += notes
        credit = -value if value < 0 else 0
        message = f"{order.number}: next bill date {old.isoformat()} → {new_date.isoformat()}"
        if preview:
            return _result(order, "billing-date", True, message, details, charge=owed, credit=credit)
        order.next_bill_date = new_date
        order.period_end = order.period_end + timedelta(days=delta)
        order.updated_at = now
        session.add(order)
        for moved in schedule.pending_changes(session, order.id):
            if moved.run_on == old and moved.kind in (ScheduledChangeKind.CHANGE_PLAN, ScheduledChangeKind.CANCEL):
                moved.run_on = new_date
                session.add(moved)
        session.flush()
        invoice = _issue_charge(session, actor, order, lines, now) if lines else None
        if credit:
            _add_credit(session, actor, order, credit, f"{order.number}: billing date moved to {new_date.isoformat()}")
        product = paid.order_product(session, order)
        record_event(session, actor, order.customer_id, EventType.BILLING_DATE_CHANGED, product=product,
                     order=order.number, amount=value, currency=cur,
                     **schedule.from_to(old.isoformat(), new_date.isoformat()))
        schedule.email(session, order, schedule.fresh_key("billing-date", order),
                       f"Your billing date for {order.number} has changed",
                       f"Your subscription to {product} ({order.number}) is next billed on {new_date.isoformat()} "
                       f"instead of {old.isoformat()}."
                       + (f" Charged for the days added: {_money(owed, cur)}." if lines else "")
                       + (f" Credit for the days removed: {_money(credit, cur)}." if credit else ""))
        invoice_id = invoice.id if invoice else None
        due = _due_now(session, order, invoice_id, now)
        done = _result(order, "billing-date", False, message, details, charge=owed, credit=credit,
                       invoice=invoice.number if invoice else None)
    return _with_payment(done, store, actor, settings, invoice_id, due, now)


# --- coupons -----------------------------------------------------------------------------------


def coupon(store: Store, actor: Actor, number: str, action: str, code: str, *, preview: bool = False,
           now: datetime | None = None) -> SubscriptionResult:
    """Add a coupon to an order (its next invoices), or remove one it has (it stops applying)."""
    if action not in ("add", "remove"):
        raise InvalidInput(fields={"action": "add or remove"})
    require(actor, Action.CREATE_ORDERS if action == "add" else Action.CHANGE_SUBSCRIPTIONS)
    now = now or utcnow()
    with _open(store, preview) as session:
        order = _order(session, number, preview)
        if order.status not in (OrderStatus.PENDING, OrderStatus.ACTIVE, OrderStatus.PAUSED):
            raise Conflict(f"{order.number} is {order.status.value}")
        normal = coupon_rules.normal_code(code)
        if action == "add":
            plans = [i.plan.code for i in _items(session, order)]
            found = coupon_rules.check_coupon(session, normal, currency=order.currency, plan_codes=plans, now=now)
            value = coupon_rules.describe_value(found, order.currency)
            message = f"Coupon {found.code} ({value}) will apply to {order.number}'s next invoices"
            if preview:
                return _result(order, "coupon-add", True, message)
            coupon_rules.redeem(session, actor, found, order.customer_id, order.id, now)
            schedule.email(session, order, schedule.fresh_key("coupon-added", order),
                           f"A coupon was added to {order.number}",
                           f"Coupon {found.code} ({value}) now applies to the next invoices of {order.number}.")
            return _result(order, "coupon-add", False, message.replace("will apply", "applies"))
        row = session.exec(select(CouponRedemption, Coupon)
                           .join(Coupon, col(Coupon.id) == col(CouponRedemption.coupon_id))
                           .where(CouponRedemption.order_id == order.id, Coupon.code == normal,
                                  col(CouponRedemption.ended_at).is_(None))).first()
        if row is None:
            raise NotFound(f"{order.number} has no coupon {normal} in use")
        redemption, found = row
        message = f"Coupon {found.code} will stop applying to {order.number}"
        if preview:
            return _result(order, "coupon-remove", True, message,
                           [f"It took part in {redemption.cycles_applied} invoice(s) so far; those stay as they are."])
        redemption.ended_at = now
        session.add(redemption)
        session.flush()
        record_event(session, actor, order.customer_id, EventType.COUPON_REMOVED, coupon=found.code,
                     order=order.number)
        schedule.email(session, order, schedule.fresh_key("coupon-removed", order),
                       f"A coupon was removed from {order.number}",
                       f"Coupon {found.code} no longer applies to the next invoices of {order.number}.")
        return _result(order, "coupon-remove", False, message.replace("will stop", "stopped"))


# --- reading ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class ScheduledInfo:
    id: int
    kind: str
    run_on: date
    status: str
    summary: str
    agent_id: int | None

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "kind": self.kind, "run_on": self.run_on.isoformat(), "status": self.status,
                "summary": self.summary}


def scheduled_changes(store: Store, actor: Actor, number: str, include_decided: bool = False
                      ) -> list[ScheduledInfo]:
    """An order's scheduled changes (pending ones, or all), soonest first — what the order screen lists."""
    require(actor, Action.VIEW_CUSTOMERS)
    with store.read() as session:
        order = order_by_number(session, number)
        query = select(ScheduledChange).where(ScheduledChange.order_id == order.id)
        if not include_decided:
            query = query.where(ScheduledChange.status == ScheduledChangeStatus.PENDING)
        rows = session.exec(query.order_by(col(ScheduledChange.run_on), col(ScheduledChange.id))).all()
        return [ScheduledInfo(c.id, c.kind.value, c.run_on, c.status.value, _describe(c), c.agent_id) for c in rows]


def _describe(change: ScheduledChange) -> str:
    payload = change.payload or {}
    if change.kind is ScheduledChangeKind.CANCEL:
        return "cancel at the end of the period"
    if change.kind is ScheduledChangeKind.TRIAL_STOP:
        return "end with the trial"
    if change.kind is ScheduledChangeKind.PAUSE:
        return "pause " + (f"until {payload['until']}" if payload.get("until") else "until resumed")
    if change.kind is ScheduledChangeKind.RESUME:
        return "pause ends"
    word = "downgrade" if payload.get("downgrade") else "change"
    return f"{word} to {payload.get('to')}"

