"""Scheduled subscription changes, and carrying them out on their day exactly once.

A change (cancel at period end, a pause from or until a date, a plan change at renewal, the end of a
trial) is a pending `ScheduledChange` row until `run_scheduled` carries it out or an agent withdraws it.
Each is carried out in its own transaction under its customer's and its order's row locks, and claimed
there with a conditional update (pending → done): of several workers only the one whose update changed
the row goes on, and a withdrawn change is never claimed. The billing run calls `run_scheduled` before
it bills trials and renewals, so a subscription cancelled at its period's end is not billed again.

The changes an agent makes now and the executor's share the helpers below (`end_subscription`,
`start_pause`, `end_pause`, `apply_plan_change`), so both write the same thing.
"""

from __future__ import annotations

import logging
import uuid
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import update
from sqlmodel import Session, col, select

from agentdesk.config import Settings
from agentdesk.db.models import Order, OrderItem, Plan, ScheduledChange, utcnow
from agentdesk.db.store import Store
from agentdesk.domain.enums import (
    JobKind,
    OrderKind,
    OrderStatus,
    ScheduledChangeKind,
    ScheduledChangeStatus,
)
from agentdesk.domain.errors import Conflict, ServiceError
from agentdesk.domain.permissions import SYSTEM, Actor
from agentdesk.services.billing import invoices, paid
from agentdesk.services.jobs import queue as jobs
from agentdesk.services.money import aggregates
from agentdesk.services.timeline.catalog import EventType
from agentdesk.services.timeline.record import record_event

log = logging.getLogger(__name__)

CANCELLING = (ScheduledChangeKind.CANCEL, ScheduledChangeKind.TRIAL_STOP)


def lock_order(session: Session, order_id: int, customer_id: int) -> Order | None:
    """The customer's row lock, then the order's (the order every billing write takes them in), the order
    read afresh under its lock."""
    aggregates.lock_customers(session, [customer_id])
    return session.exec(select(Order).where(Order.id == order_id).with_for_update()
                        .execution_options(populate_existing=True)).one_or_none()


def pending_changes(session: Session, order_id: int, kinds: tuple[ScheduledChangeKind, ...] | None = None
                    ) -> list[ScheduledChange]:
    query = select(ScheduledChange).where(ScheduledChange.order_id == order_id,
                                          ScheduledChange.status == ScheduledChangeStatus.PENDING)
    if kinds is not None:
        query = query.where(col(ScheduledChange.kind).in_(kinds))
    return list(session.exec(query.order_by(col(ScheduledChange.run_on), col(ScheduledChange.id))).all())


def decide(session: Session, change_id: int, status: ScheduledChangeStatus, now: datetime,
           error: str | None = None) -> bool:
    """Move a pending change to `status`; False when it was not pending any more (carried out or withdrawn
    by someone else): the conditional update is what makes a change happen once."""
    values: dict[str, Any] = {"status": status, "decided_at": now}
    if error is not None:
        values["error"] = error[:500]
    moved = session.execute(update(ScheduledChange)
                            .where(col(ScheduledChange.id) == change_id,
                                   col(ScheduledChange.status) == ScheduledChangeStatus.PENDING)
                            .values(**values).execution_options(synchronize_session=False))
    session.expire_all()
    return bool(moved.rowcount == 1)  # type: ignore[attr-defined]


def email(session: Session, order: Order, key: str, subject: str, body: str) -> bool:
    """Queue an email about the order to the customer; False when they have no email address."""
    to = invoices.customer_email(session, order.customer_id)
    if not to:
        return False
    jobs.enqueue(session, JobKind.EMAIL, key,
                 {"to": to, "subject": subject, "body": f"Hello,\n\n{body}\n", "customer_id": order.customer_id,
                  "order": order.number},
                 customer_id=order.customer_id, max_attempts=5)
    return True


def fresh_key(what: str, order: Order) -> str:
    return f"email-{what}-{order.id}-{uuid.uuid4().hex[:12]}"


# --- what a change does (shared by the actions taken now and the executor) --------------------


def end_subscription(session: Session, actor: Actor, order: Order, now: datetime, reason: str, key: str) -> None:
    """Cancel the subscription: no more bills, its other pending changes withdrawn, the event and an email."""
    order.status = OrderStatus.CANCELLED
    order.cancelled_at = now
    order.next_bill_date = None
    order.cancel_at_period_end = False
    order.paused_from = order.paused_until = None
    order.updated_at = now
    session.add(order)
    session.flush()
    for other in pending_changes(session, order.id):
        decide(session, other.id, ScheduledChangeStatus.WITHDRAWN, now, error="the subscription was cancelled")
    product = paid.order_product(session, order)
    record_event(session, actor, order.customer_id, EventType.SUBSCRIPTION_CANCELLED, product=product,
                 order=order.number, reason=reason)
    email(session, order, key, f"Your subscription {order.number} is cancelled",
          f"Your subscription to {product} ({order.number}) is cancelled as of {now.date().isoformat()}. "
          "You will not be billed for it again.")


def pause_months(start: date, until: date | None) -> int:
    """Whole months (rounded up) from `start` to the day after `until`; 0 for a pause until resumed."""
    if until is None:
        return 0
    end = until + timedelta(days=1)
    months = (end.year - start.year) * 12 + end.month - start.month
    if end.day > start.day:
        months += 1
    return max(1, months)


def start_pause(session: Session, actor: Actor, order: Order, start: date, until: date | None, now: datetime,
                key: str) -> None:
    """The order stops billing from `start`; a pause with an end gets a pending resume the day after it."""
    order.status = OrderStatus.PAUSED
    order.paused_from, order.paused_until = start, until
    order.updated_at = now
    session.add(order)
    if until is not None:
        session.add(ScheduledChange(order_id=order.id, customer_id=order.customer_id, kind=ScheduledChangeKind.RESUME,
                                    run_on=until + timedelta(days=1), payload={"pause_from": start.isoformat()},
                                    agent_id=actor.agent_id, created_at=now))
    session.flush()
    product = paid.order_product(session, order)
    record_event(session, actor, order.customer_id, EventType.PAUSE_ACTIVATED, product=product, order=order.number,
                 months=pause_months(start, until), until=until.isoformat() if until else None)
    email(session, order, key, f"Your subscription {order.number} is paused",
          f"Your subscription to {product} ({order.number}) is paused from {start.isoformat()} "
          + (f"to {until.isoformat()} inclusive" if until else "until you ask us to resume it")
          + ". You will not be billed while it is paused; your next bill date moves on by the days it was paused.")


def shift_for_pause(order: Order, days: int) -> None:
    """The rule of the README: the days paused are added to the next bill date, to the current period's end
    and to a trial's end, each when it had not passed by the day the pause began."""
    began = order.paused_from
    assert began is not None
    delta = timedelta(days=days)
    if order.next_bill_date is not None and order.next_bill_date >= began:
        order.next_bill_date += delta
    if order.period_end is not None and order.period_end >= began:
        order.period_end += delta
    if order.trial_ends_on is not None and order.trial_ends_on >= began and order.cycles_billed == 0:
        order.trial_ends_on += delta


def end_pause(session: Session, actor: Actor, order: Order, on: date, early: bool, now: datetime, key: str) -> int:
    """Billing resumes on `on`: the dates move on by the days paused; returns those days."""
    assert order.paused_from is not None
    days = max(0, (on - order.paused_from).days)
    shift_for_pause(order, days)
    order.status = OrderStatus.ACTIVE
    order.paused_from = order.paused_until = None
    order.updated_at = now
    session.add(order)
    session.flush()
    if early:
        for other in pending_changes(session, order.id, (ScheduledChangeKind.RESUME,)):
            decide(session, other.id, ScheduledChangeStatus.WITHDRAWN, now, error="the pause was ended early")
    product = paid.order_product(session, order)
    next_bill = order.next_bill_date.isoformat() if order.next_bill_date else None
    record_event(session, actor, order.customer_id, EventType.PAUSE_ENDED_EARLY if early else EventType.PAUSE_ENDED,
                 product=product, order=order.number, days=days, next_bill=next_bill)
    email(session, order, key, f"Your subscription {order.number} is running again",
          f"Your subscription to {product} ({order.number}) runs again from {on.isoformat()} after {days} days "
          f"paused." + (f" Your next bill date is {next_bill}." if next_bill else ""))
    return days


def from_to(before: Any, after: Any) -> dict[str, Any]:
    """The "from" and "to" attributes of an event (names Python keeps for itself)."""
    return {"from": before, "to": after}


def item_label(session: Session, item: OrderItem) -> str:
    plan = session.get(Plan, item.plan_id)
    return item.plan_name or (plan.name if plan else str(item.plan_id))


def apply_plan_change(session: Session, actor: Actor, order: Order, item: OrderItem, plan: Plan,
                      options: dict[str, str], now: datetime, key: str) -> None:
    """Replace the item's terms with the plan's (price, name, metering, invoice days) and its options."""
    before = item_label(session, item)
    if item.options:
        before += " (" + ", ".join(f"{k} {v}" for k, v in sorted(item.options.items())) + ")"
    item.plan_id = plan.id
    item.unit_price = plan.price
    item.plan_name = None
    item.metered_unit_price = plan.metered_unit_price
    item.invoice_issue_days = plan.invoice_issue_days
    item.invoice_due_days = plan.invoice_due_days
    item.options = dict(options)
    item.customised = [f for f in (item.customised or []) if f not in ("unit_price", "plan_name")]
    session.add(item)
    session.flush()
    after = plan.name + (" (" + ", ".join(f"{k} {v}" for k, v in sorted(options.items())) + ")" if options else "")
    recount_total(session, order, now)
    record_event(session, actor, order.customer_id, EventType.SUBSCRIPTION_CHANGED, order=order.number,
                 **from_to(before, after))
    email(session, order, key, f"Your subscription {order.number} has changed",
          f"Your subscription {order.number} changed from {before} to {after}. "
          "Your next bills are at the new price.")


def recount_total(session: Session, order: Order, now: datetime) -> None:
    items = session.exec(select(OrderItem).where(OrderItem.order_id == order.id)).all()
    order.total = sum(i.quantity * i.unit_price for i in items)
    order.updated_at = now
    session.add(order)


# --- the executor ------------------------------------------------------------------------------


def run_scheduled(store: Store, settings: Settings, now: datetime | None = None, batch: int = 500) -> int:
    """Carry out every pending change due by `now` (run_on on or before its day), oldest first, each once;
    returns how many this call carried out. Safe to run from several workers at once."""
    del settings  # kept for the billing run's calling convention; no change here calls a gateway
    now = now or utcnow()
    today = now.date()
    done = 0
    last = 0
    while True:
        with store.read() as session:
            due = list(session.exec(
                select(ScheduledChange.id, ScheduledChange.order_id, ScheduledChange.customer_id)
                .where(ScheduledChange.status == ScheduledChangeStatus.PENDING, ScheduledChange.run_on <= today,
                       ScheduledChange.id > last)
                .order_by(col(ScheduledChange.id)).limit(batch)).all())
        for change_id, order_id, customer_id in due:
            try:
                done += _carry_out(store, change_id, order_id, customer_id, now)
            except ServiceError as exc:
                _fail(store, change_id, customer_id, now, str(exc))
            except Exception as exc:
                log.warning("scheduled change %s failed: %s", change_id, exc, exc_info=True)
                _fail(store, change_id, customer_id, now, f"{type(exc).__name__}: {exc}")
        if len(due) < batch:
            return done
        last = due[-1][0]


def _carry_out(store: Store, change_id: int, order_id: int, customer_id: int, now: datetime) -> int:
    with store.write() as session:
        order = lock_order(session, order_id, customer_id)
        change = session.get(ScheduledChange, change_id)
        if order is None or change is None or change.status is not ScheduledChangeStatus.PENDING:
            return 0
        kind, run_on, payload = change.kind, change.run_on, dict(change.payload or {})
        problem = _problem(order, kind)
        if problem is not None:
            raise Conflict(problem)
        if not decide(session, change_id, ScheduledChangeStatus.DONE, now):
            return 0
        order = session.get(Order, order_id)
        assert order is not None
        key = f"email-scheduled-{change_id}"
        if kind in CANCELLING:
            reason = "the trial ended" if kind is ScheduledChangeKind.TRIAL_STOP else "at the end of the period"
            end_subscription(session, SYSTEM, order, now, payload.get("reason") or reason, key)
        elif kind is ScheduledChangeKind.PAUSE:
            until = date.fromisoformat(payload["until"]) if payload.get("until") else None
            start_pause(session, SYSTEM, order, run_on, until, now, key)
        elif kind is ScheduledChangeKind.RESUME:
            end_pause(session, SYSTEM, order, run_on, False, now, key)
        elif kind is ScheduledChangeKind.CHANGE_PLAN:
            item = session.get(OrderItem, payload["item"])
            plan = session.get(Plan, payload["plan_id"])
            if item is None or item.order_id != order.id or plan is None:
                raise Conflict("the item or the plan of this change no longer exists")
            apply_plan_change(session, SYSTEM, order, item, plan, dict(payload.get("options") or {}), now, key)
        return 1


def _problem(order: Order, kind: ScheduledChangeKind) -> str | None:
    if order.kind is not OrderKind.SUBSCRIPTION:
        return f"{order.number} is not a subscription"
    wanted = {ScheduledChangeKind.PAUSE: (OrderStatus.ACTIVE,), ScheduledChangeKind.RESUME: (OrderStatus.PAUSED,),
              ScheduledChangeKind.CHANGE_PLAN: (OrderStatus.ACTIVE, OrderStatus.PAUSED)}.get(
                  kind, (OrderStatus.ACTIVE, OrderStatus.PAUSED))
    if order.status not in wanted:
        return f"{order.number} is {order.status.value}"
    return None


def _fail(store: Store, change_id: int, customer_id: int, now: datetime, message: str) -> None:
    """A change that cannot be carried out (the order moved on meanwhile) is marked failed with the reason,
    once, and recorded on the customer's timeline."""
    with store.write() as session:
        change = session.get(ScheduledChange, change_id)
        if change is None or not decide(session, change_id, ScheduledChangeStatus.FAILED, now, error=message):
            return
        order = session.get(Order, change.order_id)
        record_event(session, SYSTEM, customer_id, EventType.CHANGE_WITHDRAWN,
                     order=order.number if order else str(change.order_id), change=change.kind.value,
                     on=change.run_on.isoformat(), reason=message)
