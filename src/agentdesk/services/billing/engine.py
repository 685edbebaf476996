"""The billing engine the worker runs: abandonment, trials ending, renewals, dunning and delinquency.

Every step pages through its rows in batches (keyset by id, or by date and id), never holding more than
one batch of ids, and changes each order in its own transaction under its customer's and its own row
lock. A period is billed exactly once: its invoice's `billing_key` is "order-<id>-cycle-<n>", which
`invoices.issue_invoice` refuses to issue twice, and the order's period moves on in the same
transaction. Payments follow the gateway pattern of `invoices.collect_invoice` (pending → gateway →
outcome), so a crash between leaves a pending payment that the start-up repair re-sends with its key.

How an order's dates are read (subscriptions):
- `period_start`/`period_end`: the current service period. For items billed in advance it is the last
  period billed; for items billed in arrears it is the period running (billed when it ends).
- `next_bill_date`: the day the engine next looks at the order (the period boundary, shifted earlier
  by the items' `invoice_issue_days` for advance billing, later for arrears).
- `trial_ends_on`: while `period_start` is before it (or unset) the trial has not ended yet.
- `cycles_billed`: invoices issued for periods; with a limited recurrence (`cycles`), an order billed in
  advance completes when its last paid-for period ends; one billed in arrears when its last period is billed.
Periods keep the day of the month they started on (the anchor): Jan 31 → Feb 28 → Mar 31.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import and_, func, or_, update
from sqlmodel import Session, col, select

from agentdesk.config import Settings
from agentdesk.db.models import Address, Invoice, Order, OrderItem, Plan, Product, Transaction, UsageRecord, utcnow
from agentdesk.db.store import Store
from agentdesk.domain import limits, pricing
from agentdesk.domain.enums import (
    BillingTiming,
    InvoiceLineKind,
    InvoiceStatus,
    InvoiceStatusSets,
    OrderKind,
    OrderStatus,
    PlanInterval,
    PlanKind,
    TransactionStatus,
)
from agentdesk.domain.errors import Conflict, ServiceError
from agentdesk.domain.periods import add_interval
from agentdesk.domain.permissions import SYSTEM, Action, Actor, require
from agentdesk.domain.validation import clean_line
from agentdesk.services.money import aggregates
from agentdesk.services.timeline.catalog import EventType
from agentdesk.services.timeline.record import record_event

if TYPE_CHECKING:
    from agentdesk.services.billing.invoices import CollectResult

log = logging.getLogger(__name__)

CLAIM_LEASE = timedelta(minutes=30)
"""A dunning retry claimed by a worker that died is tried again after this long."""
MAX_PROBLEMS = 20


@dataclass(frozen=True)
class BillingReport:
    invoiced: int = 0
    """Invoices issued for order periods (trial ends and renewals)."""
    collected: int = 0
    """Payments approved (first charges and retries)."""
    declined: int = 0
    """Collections that failed (declined, failed, no instrument)."""
    needs_authentication: int = 0
    """Collections the card's bank wants the customer to authenticate: sent a pay-invoice link, not retried."""
    completed: int = 0
    abandoned: int = 0
    dunning_retries: int = 0
    cancelled_delinquent: int = 0
    trials_ended: int = 0
    scheduled_changes: int = 0
    """Scheduled subscription changes carried out (cancellations, pauses, plan changes, trial stops)."""
    errors: int = 0
    problems: tuple[str, ...] = ()
    """The first few errors, one line each ("ORD-00000042: …")."""

    def summary(self) -> str:
        line = (f"billing: {self.invoiced} invoiced, {self.collected} collected, {self.declined} declined, "
                f"{self.dunning_retries} retries, {self.trials_ended} trials ended, {self.completed} completed, "
                f"{self.abandoned} abandoned, {self.cancelled_delinquent} cancelled unpaid, "
                f"{self.scheduled_changes} scheduled changes, {self.errors} errors")
        if self.needs_authentication:
            line = line.replace(" declined,", f" declined, {self.needs_authentication} needing the customer's "
                                               "authentication,", 1)
        return line

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["problems"] = list(self.problems)
        return data


@dataclass
class _Tally:
    counts: dict[str, int] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)

    def add(self, name: str, n: int = 1) -> None:
        self.counts[name] = self.counts.get(name, 0) + n

    def error(self, what: str, exc: BaseException) -> None:
        self.add("errors")
        log.warning("billing %s failed: %s", what, exc, exc_info=not isinstance(exc, ServiceError))
        if len(self.problems) < MAX_PROBLEMS:
            self.problems.append(f"{what}: {exc}")

    def merge(self, other: _Tally) -> None:
        for name, n in other.counts.items():
            self.add(name, n)
        self.problems += other.problems[:MAX_PROBLEMS - len(self.problems)]

    def collected(self, result: CollectResult) -> None:
        if result.status == TransactionStatus.APPROVED.value:
            self.add("collected")
        elif result.needs_customer:
            self.add("needs_authentication")
        elif result.status in (TransactionStatus.DECLINED.value, TransactionStatus.FAILED.value):
            self.add("declined")

    def report(self) -> BillingReport:
        return BillingReport(**self.counts, problems=tuple(self.problems))


def run_billing(store: Store, settings: Settings, now: datetime | None = None, batch: int = 500) -> BillingReport:
    """Bill what is due at `now` (default: the current time): abandon, trials, renewals, dunning,
    delinquency, in that order. Safe to run from several workers at once and to run again."""
    now = now or utcnow()
    tally = _Tally()
    _abandon(store, now, batch, tally)
    _safely(tally, "scheduled changes", _scheduled, store, settings, now, tally)
    _trials(store, settings, now, batch, tally)
    _renewals(store, settings, now, batch, tally)
    _dunning(store, settings, now, batch, tally)
    _delinquency(store, now, batch, tally)
    return tally.report()


def _scheduled(store: Store, settings: Settings, now: datetime, tally: _Tally) -> None:
    """Changes due today (cancel or pause at period end, a downgrade at renewal, a trial stop) come first,
    so the trials and renewals below bill what the order has become, never a period it no longer has."""
    from agentdesk.services.orders import schedule

    tally.add("scheduled_changes", schedule.run_scheduled(store, settings, now))


@dataclass(frozen=True)
class BillNow:
    """What billing an order's next cycle now did, or (preview) would do."""

    order: str
    preview: bool
    message: str
    cycle: int
    period_start: date | None
    period_end: date | None
    amount: int
    currency: str
    invoice: str | None = None
    payment: str | None = None

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        for key in ("period_start", "period_end"):
            data[key] = data[key].isoformat() if data[key] else None
        return data

    @property
    def ok(self) -> bool:
        return self.payment not in (TransactionStatus.DECLINED.value, TransactionStatus.FAILED.value)


class _Previewed(Exception):
    """Ends a preview's transaction without writing anything (it rolls back), carrying what it found."""

    def __init__(self, result: BillNow):
        super().__init__(result.message)
        self.result = result


def bill_now(store: Store, actor: Actor, settings: Settings, order_number: str, *, preview: bool = False,
             reason: str | None = None, now: datetime | None = None) -> BillNow:
    """Force bill: invoice the order's next cycle today instead of on its bill date, then collect it.

    The cycle's billing key is the one the renewal would use, so the renewal never bills it again; the
    periods move on as a renewal moves them. A subscription still in its trial is billed by skipping
    the trial (`subscriptions trial ORDER skip`)."""
    from agentdesk.domain.money import format_amount
    from agentdesk.services.billing import invoices
    from agentdesk.services.orders.read import order_by_number

    require(actor, Action.BILLING)
    now = now or utcnow()
    text = clean_line(reason, "reason", limits.REASON)
    try:
        with store.write() as session:
            found = order_by_number(session, order_number)
            order = _lock_order(session, found.id, found.customer_id)
            if order is None:
                raise Conflict(f"order {found.number} is being billed right now; try again in a moment")
            if order.kind is not OrderKind.SUBSCRIPTION or order.status is not OrderStatus.ACTIVE:
                raise Conflict(f"order {order.number} is {order.status.value}: only an active subscription can "
                               "be billed now")
            if _trial_pending(order):
                raise Conflict(f"order {order.number} is in its trial: skip the trial to bill it now")
            if _payment_in_flight(session, order.id):
                raise Conflict(f"order {order.number} has a payment waiting for the gateway's answer")
            open_count = session.exec(select(func.count()).select_from(Invoice).where(
                Invoice.order_id == order.id, col(Invoice.status).in_(InvoiceStatusSets.OPEN))).one()
            if open_count:
                raise Conflict(f"order {order.number} has an unpaid invoice: collect it before billing the next "
                               "cycle")
            order.next_bill_date = now.date()
            billed = _bill_locked(session, order, _items(session, order.id), now, _Tally())
            invoice = billed.invoice if billed is not None else None
            if invoice is None:
                raise Conflict(f"order {order.number} has nothing to bill now (its last cycle is billed)")
            result = BillNow(order.number, preview, "", invoice.cycle or 0, invoice.period_start,
                             invoice.period_end, invoice.total, invoice.currency, None if preview else invoice.number)
            if preview:
                period = f"{result.period_start} to {result.period_end}"
                way = ", charged to the order's payment method" if order.autopay else ", invoice sent (no autopay)"
                raise _Previewed(BillNow(**{**asdict(result), "message": (
                    f"Would bill cycle {result.cycle} ({period}) now: "
                    f"{format_amount(result.amount, result.currency)}{way}")}))
            record_event(session, actor, order.customer_id, EventType.SUBSCRIPTION_BILLED_NOW,
                         product=_product(session, order.id), order=order.number, invoice=invoice.number,
                         reason=text)
            collect = order.autopay and invoice.status is InvoiceStatus.ISSUED
            invoice_id = invoice.id
    except _Previewed as previewed:
        return previewed.result
    payment = None
    message = f"Billed cycle {result.cycle} of {result.order} now: invoice {result.invoice}, " \
              f"{format_amount(result.amount, result.currency)}"
    if collect:
        collected = invoices.collect_invoice(store, actor, settings, invoice_id, now=now)
        payment = collected.status
        message += f"; {collected.message}"
    return BillNow(**{**asdict(result), "message": message, "payment": payment})


# --- paging ----------------------------------------------------------------------------------


def _by_id(store: Store, query: Callable[[int], Any], batch: int) -> Iterator[Any]:
    """Rows of `query(after_id)` (ordered by id, first element the id), a batch at a time."""
    last = 0
    while True:
        with store.read() as session:
            rows = list(session.exec(query(last).limit(batch)).all())
        yield from rows
        if len(rows) < batch:
            return
        last = rows[-1][0]


def _safely(tally: _Tally, what: str, step: Callable[..., object], *args: Any) -> None:
    try:
        step(*args)
    except Exception as exc:
        tally.error(what, exc)


def _lock_order(session: Session, order_id: int, customer_id: int) -> Order | None:
    """The order's customer row, then the order row (the lock order every billing write uses)."""
    aggregates.lock_customers(session, [customer_id])
    return session.exec(select(Order).where(Order.id == order_id).with_for_update(skip_locked=True)).one_or_none()


def _product(session: Session, order_id: int) -> str:
    row = session.exec(
        select(OrderItem.plan_name, Product.name)
        .join(Plan, col(Plan.id) == col(OrderItem.plan_id))
        .join(Product, col(Product.id) == col(Plan.product_id))
        .where(OrderItem.order_id == order_id).order_by(col(OrderItem.id))
    ).first()
    return "" if row is None else (row[0] or row[1])


def _payment_in_flight(session: Session, order_id: int) -> bool:
    pending = select(Transaction.id).where(Transaction.order_id == order_id,
                                           Transaction.status == TransactionStatus.PENDING)
    return session.exec(pending).first() is not None


def _close_open_invoices(session: Session, order_id: int, status: InvoiceStatus, now: datetime) -> list[Invoice]:
    invoices = list(session.exec(select(Invoice).where(Invoice.order_id == order_id,
                                                       col(Invoice.status).in_(InvoiceStatusSets.OPEN))
                                 .order_by(col(Invoice.id)).with_for_update()).all())
    for invoice in invoices:
        invoice.status = status
        invoice.closed_at = now
        invoice.next_attempt_at = None
        session.add(invoice)
    return invoices


# --- 1. abandon ------------------------------------------------------------------------------


def _abandon(store: Store, now: datetime, batch: int, tally: _Tally) -> None:
    def query(after: int) -> Any:
        return (select(Order.id, Order.customer_id)
                .where(Order.status == OrderStatus.PENDING, col(Order.abandon_at).is_not(None),
                       col(Order.abandon_at) <= now, Order.id > after)
                .order_by(col(Order.id)))

    for order_id, customer_id in _by_id(store, query, batch):
        _safely(tally, f"abandoning order {order_id}", _abandon_one, store, order_id, customer_id, now, tally)


def _abandon_one(store: Store, order_id: int, customer_id: int, now: datetime, tally: _Tally) -> None:
    with store.write() as session:
        order = _lock_order(session, order_id, customer_id)
        if (order is None or order.status is not OrderStatus.PENDING or order.abandon_at is None
                or _aware(order.abandon_at) > now or _payment_in_flight(session, order_id)):
            return
        voided = _close_open_invoices(session, order_id, InvoiceStatus.VOID, now)
        order.status = OrderStatus.ABANDONED
        order.next_bill_date = None
        order.updated_at = now
        session.add(order)
        reason = f"not paid by {_aware(order.abandon_at).strftime('%Y-%m-%d %H:%M')} UTC"
        if voided:
            reason += f"; {', '.join(i.number for i in voided)} void"
        record_event(session, SYSTEM, customer_id, EventType.ORDER_ABANDONED, order=order.number, reason=reason)
    tally.add("abandoned")


# --- 2. trials and 3. renewals -----------------------------------------------------------------


@dataclass(frozen=True)
class _Item:
    row: OrderItem
    plan_code: str
    name: str
    """On invoice lines: the plan name chosen for the order, else "<product> — <plan>"."""
    product: str
    """On the timeline: the plan name chosen for the order, else the product's name (as payments name it)."""


def _items(session: Session, order_id: int) -> list[_Item]:
    return _items_of(session, [order_id]).get(order_id, [])


def _items_of(session: Session, order_ids: list[int]) -> dict[int, list[_Item]]:
    rows = session.exec(
        select(OrderItem, Plan.code, Plan.name, Product.name).join(Plan, col(Plan.id) == col(OrderItem.plan_id))
        .join(Product, col(Product.id) == col(Plan.product_id))
        .where(col(OrderItem.order_id).in_(order_ids)).order_by(col(OrderItem.order_id), col(OrderItem.id))
    ).all()
    found: dict[int, list[_Item]] = {}
    for item, code, plan, product in rows:
        found.setdefault(item.order_id, []).append(
            _Item(item, code, item.plan_name or f"{product} — {plan}", item.plan_name or product))
    return found


def _recurring(items: list[_Item]) -> list[_Item]:
    return [i for i in items if i.row.kind is PlanKind.SUBSCRIPTION and i.row.interval is not PlanInterval.ONE_TIME]


def _trial_pending(order: Order) -> bool:
    return order.trial_ends_on is not None and (order.period_start is None or order.period_start < order.trial_ends_on)


def anchor_day(order: Order, start: date) -> int:
    """The day of the month the order's periods keep: the day its billing started (trial end or start date)
    when `start` is that day or that day clamped to a short month, else `start`'s own day."""
    import calendar

    last = calendar.monthrange(start.year, start.month)[1]
    for candidate in (order.trial_ends_on, order.starts_on):
        if candidate is not None and (candidate.day == start.day or (start.day == last and candidate.day > last)):
            return candidate.day
    return start.day


def _trials(store: Store, settings: Settings, now: datetime, batch: int, tally: _Tally) -> None:
    today = now.date()

    def query(after: int) -> Any:
        return (select(Order.id, Order.customer_id)
                .where(Order.status == OrderStatus.ACTIVE, col(Order.trial_ends_on).is_not(None),
                       col(Order.trial_ends_on) <= today,
                       col(Order.period_start).is_(None) | (col(Order.period_start) < col(Order.trial_ends_on)),
                       Order.id > after)
                .order_by(col(Order.id)))

    for order_id, customer_id in _by_id(store, query, batch):
        _safely(tally, f"ending the trial of order {order_id}",
                _bill_and_collect, store, settings, order_id, customer_id, now, tally)


def _renewals(store: Store, settings: Settings, now: datetime, batch: int, tally: _Tally) -> None:
    """Keyset on (next_bill_date, id) over ix_orders_due: an order still due after a renewal (a clock moved
    months ahead) comes round again later in the same pass, one period at a time."""
    today = now.date()
    last: tuple[date, int] | None = None
    while True:
        query = (select(col(Order.next_bill_date), col(Order.id), col(Order.customer_id))
                 .where(Order.status == OrderStatus.ACTIVE, col(Order.next_bill_date).is_not(None),
                        col(Order.next_bill_date) <= today, Order.kind == OrderKind.SUBSCRIPTION))
        if last is not None:
            query = query.where(or_(col(Order.next_bill_date) > last[0],
                                    and_(col(Order.next_bill_date) == last[0], col(Order.id) > last[1])))
        with store.read() as session:
            rows = list(session.exec(query.order_by(col(Order.next_bill_date), col(Order.id)).limit(batch)).all())
        if not rows:
            return
        _renew_batch(store, settings, [(order_id, customer_id) for _, order_id, customer_id in rows], now, tally)
        last = (rows[-1][0], rows[-1][1])  # type: ignore[assignment]


def _renew_batch(store: Store, settings: Settings, rows: list[tuple[int, int]], now: datetime,
                 tally: _Tally) -> None:
    """A page of due renewals in three steps: one transaction issues every invoice, moves every period on
    and commits each payment pending with its key; the gateway is called for each outside any transaction;
    one transaction records every outcome (`invoices.collect_started`). Should the first transaction fail,
    the page is billed again one order at a time, each in its own transactions (as `_bill_and_collect`)."""
    from agentdesk.services.billing import invoices

    batch = _Tally()
    try:
        with store.write() as session:
            started, results = _bill_batch(session, settings, rows, now, batch)
    except Exception:
        log.warning("billing %d renewals together failed; billing each alone", len(rows), exc_info=True)
        for order_id, customer_id in rows:
            _safely(tally, f"renewing order {order_id}",
                    _bill_and_collect, store, settings, order_id, customer_id, now, tally)
        return
    tally.merge(batch)
    for result in results:
        tally.collected(result)
    for invoice_id, outcome in invoices.collect_started(store, SYSTEM, settings, started, now):
        if isinstance(outcome, Exception):
            tally.error(f"collecting invoice {invoice_id}", outcome)
        else:
            tally.collected(outcome)


def _bill_batch(session: Session, settings: Settings, rows: list[tuple[int, int]], now: datetime, tally: _Tally
                ) -> tuple[list[Any], list[Any]]:
    from agentdesk.services.billing import invoices
    from agentdesk.services.timeline import chain
    from agentdesk.services.timeline.record import prefetch_unbound

    customers = sorted({customer_id for _, customer_id in rows})
    aggregates.lock_customers(session, customers)
    orders = {o.id: o for o in session.exec(select(Order).where(col(Order.id).in_([o for o, _ in rows]))
                                             .order_by(col(Order.id)).with_for_update(skip_locked=True)).all()}
    items = _items_of(session, list(orders))
    chain.prefetch_heads(session, customers)
    prefetch_unbound(session, customers)
    invoices.prefetch_customers(session, customers)
    facts = invoices.batch_facts(session, customers,
                                 [f"order-{o.id}-cycle-{o.cycles_billed + 1}" for o in orders.values()])
    active = invoices.active_instruments(session, customers)
    invoices.reserve_ids(session, Invoice, len(orders))
    invoices.reserve_ids(session, Transaction, len(orders))
    started: list[Any] = []
    results: list[Any] = []
    for order_id, _ in rows:
        order = orders.get(order_id)
        if order is None:
            continue
        billed = _bill_locked(session, order, items.get(order_id, []), now, tally, facts)
        if billed is not None and billed.invoice is not None and billed.collect:
            begun = invoices.start_collection(session, SYSTEM, settings, billed.invoice, now, fresh=True,
                                              active=active)
            (results if isinstance(begun, invoices.CollectResult) else started).append(begun)
    return started, results


@dataclass(frozen=True)
class _Billed:
    invoice_id: int | None
    collect: bool
    invoice: Invoice | None = None


def _bill_and_collect(store: Store, settings: Settings, order_id: int, customer_id: int, now: datetime,
                      tally: _Tally) -> None:
    billed = _bill_order(store, order_id, customer_id, now, tally)
    if billed is not None and billed.invoice_id is not None and billed.collect:
        from agentdesk.services.billing import invoices

        result = invoices.collect_invoice(store, SYSTEM, settings, billed.invoice_id, now=now)
        tally.collected(result)


def _complete(session: Session, order: Order, product: str, now: datetime, tally: _Tally) -> None:
    order.status = OrderStatus.COMPLETED
    order.completed_at = now
    order.next_bill_date = None
    order.updated_at = now
    session.add(order)
    record_event(session, SYSTEM, order.customer_id, EventType.ORDER_COMPLETED, order=order.number, product=product)
    tally.add("completed")


def _bill_order(store: Store, order_id: int, customer_id: int, now: datetime, tally: _Tally) -> _Billed | None:
    """One period boundary of one order, in one transaction: the trial's end or a renewal, its invoice,
    the period moved on, or the order completed. None when there was nothing (left) to do."""
    with store.write() as session:
        order = _lock_order(session, order_id, customer_id)
        if order is None:
            return None
        return _bill_locked(session, order, _items(session, order_id), now, tally)


def _bill_locked(session: Session, order: Order, items: list[_Item], now: datetime, tally: _Tally,
                 facts: Any = None) -> _Billed | None:
    """`_bill_order` in the caller's transaction, the order locked by the caller (`facts`: the batch's
    `invoices.batch_facts`)."""
    today = now.date()
    customer_id = order.customer_id
    if order.status is not OrderStatus.ACTIVE or order.kind is not OrderKind.SUBSCRIPTION:
        return None
    product = items[0].product if items else order.number
    trial_end = _trial_pending(order)
    if trial_end:
        assert order.trial_ends_on is not None
        if order.trial_ends_on > today:
            return None
        record_event(session, SYSTEM, customer_id, EventType.TRIAL_ENDED, product=product, order=order.number)
        tally.add("trials_ended")
        if not _recurring(items):
            _complete(session, order, product, now, tally)
            return _Billed(None, False)
    elif order.next_bill_date is None or order.next_bill_date > today:
        return None
    elif order.cancel_at_period_end and order.period_end is not None and order.period_end <= today:
        return None  # cancelled at this period's end: the scheduled cancellation ends it, nothing is billed
    recurring = _recurring(items)
    if not recurring:
        _complete(session, order, product, now, tally)
        return _Billed(None, False)
    advance = [i for i in recurring if i.row.billing_timing is BillingTiming.ADVANCE]
    arrears = [i for i in recurring if i.row.billing_timing is BillingTiming.ARREARS]
    limits = [i.row.cycles for i in recurring]
    limit = None if any(n is None for n in limits) else max(n or 0 for n in limits)
    first = recurring[0].row

    old: tuple[date, date] | None = None
    if trial_end:
        assert order.trial_ends_on is not None
        boundary = order.trial_ends_on
    elif advance and order.cycles_billed == 0:
        boundary = order.period_start or order.starts_on or order.next_bill_date  # type: ignore[assignment]
    elif order.period_start is not None and order.period_end is not None:
        boundary, old = order.period_end, (order.period_start, order.period_end)
    else:
        boundary = order.starts_on or order.next_bill_date  # type: ignore[assignment]
    if limit is not None and order.cycles_billed >= limit:
        _complete(session, order, product, now, tally)
        return _Billed(None, False)

    if (not trial_end and order.cycles_billed == 0 and order.period_start == boundary
            and order.period_end is not None and order.period_end > boundary):
        end = order.period_end  # the first period as the order was made (a renewal date chosen)
    else:
        end = add_interval(boundary, first.interval, first.interval_count, anchor_day(order, boundary))
    cycle = order.cycles_billed + 1
    lines = _advance_lines(advance, cycle)
    usage: list[int] = []
    if old is not None:
        more, usage = _arrears_lines(session, arrears, old, cycle - 1 if advance else cycle)
        lines += more
    if lines and cycle == 1:
        lines += _first_lines(session, order, recurring)
    invoice = None
    if lines:
        from agentdesk.services.billing import invoices

        due_days = max(i.row.invoice_due_days for i in recurring)
        invoice = invoices.issue_invoice(
            session, SYSTEM, customer_id=customer_id, order=order, cycle=cycle, lines=lines,
            currency=order.currency, billing_key=f"order-{order.id}-cycle-{cycle}",
            period_start=boundary if advance else (old[0] if old else boundary),
            period_end=end if advance else (old[1] if old else end),
            issued_at=now, due_at=now + timedelta(days=due_days), notes=order.invoice_notes, now=now,
            facts=facts)
        if invoice is None:
            order.cycles_billed = cycle  # that period's invoice exists already: only move the order on
        else:
            if usage:
                session.execute(update(UsageRecord).where(col(UsageRecord.id).in_(usage))
                                .values(invoice_id=invoice.id).execution_options(synchronize_session=False))
            order.cycles_billed = cycle
            tally.add("invoiced")
            if invoice.status is InvoiceStatus.PAID:
                # Nothing owed (coupons or credit covered it): paid at issue, with a paid invoice's bookkeeping.
                from agentdesk.services.billing import paid

                paid.on_invoice_paid(session, SYSTEM, invoice, None, now)
    order.period_start, order.period_end = boundary, end
    shift = max(i.row.invoice_issue_days for i in recurring)
    finished = limit is not None and order.cycles_billed >= limit
    if finished and not advance:
        _complete(session, order, product, now, tally)
    else:
        if finished:
            order.next_bill_date = end
        elif advance:
            order.next_bill_date = max(end - timedelta(days=shift), boundary + timedelta(days=1))
        else:
            order.next_bill_date = end + timedelta(days=shift)
        order.updated_at = now
        session.add(order)
        if not trial_end:
            record_event(session, SYSTEM, customer_id, EventType.SUBSCRIPTION_RENEWED, product=product,
                         order=order.number)
    collect = False
    if invoice is not None and invoice.status is InvoiceStatus.ISSUED and order.autopay:
        # The dunning step collects it if this worker dies before it does (or when it falls due).
        invoice.next_attempt_at = max(now, _aware(invoice.due_at))
        session.add(invoice)
        collect = _aware(invoice.due_at) <= now
    return _Billed(invoice.id if invoice else None, collect, invoice)


def _running(item: _Item, period: int) -> bool:
    """Whether a limited item still bills its `period`-th period."""
    return item.row.cycles is None or period <= item.row.cycles


def _first_lines(session: Session, order: Order, recurring: list[_Item]) -> list[pricing.Line]:
    """Setup fees and shipping, carried by the order's first invoice unless the order was placed with an
    initial invoice (a paid trial, or fees charged on the day) that carried them."""
    if session.exec(select(Invoice.id).where(Invoice.billing_key == f"order-{order.id}-initial")).first() is not None:
        return []
    lines = [pricing.Line(InvoiceLineKind.SETUP_FEE, f"{i.name} — setup fee", 1, i.row.setup_fee, i.plan_code, i.row.id)
             for i in recurring if i.row.setup_fee > 0]
    if order.shipping_amount > 0:
        country = (session.exec(select(Address.country).where(Address.id == order.shipping_address_id)).first()
                   if order.shipping_address_id is not None else None)
        lines.append(pricing.Line(InvoiceLineKind.SHIPPING, f"Shipping to {country}" if country else "Shipping", 1,
                                  order.shipping_amount))
    return lines


def _advance_lines(advance: list[_Item], cycle: int) -> list[pricing.Line]:
    return [pricing.Line(InvoiceLineKind.ITEM, i.name, i.row.quantity, i.row.unit_price, i.plan_code, i.row.id)
            for i in advance if _running(i, cycle)]


def _arrears_lines(session: Session, arrears: list[_Item], period: tuple[date, date], number: int
                   ) -> tuple[list[pricing.Line], list[int]]:
    """The ended period's in-arrears items, and their unbilled usage recorded before the period's end at
    the metered unit price (with the usage record ids it bills)."""
    lines: list[pricing.Line] = []
    usage_ids: list[int] = []
    for item in arrears:
        if not _running(item, number):
            continue
        if item.row.unit_price > 0:
            lines.append(pricing.Line(InvoiceLineKind.ITEM, item.name, item.row.quantity, item.row.unit_price,
                                      item.plan_code, item.row.id))
        if item.row.metered_unit_price is None:
            continue
        records = session.exec(select(UsageRecord.id, UsageRecord.quantity).where(
            UsageRecord.order_item_id == item.row.id, col(UsageRecord.invoice_id).is_(None),
            UsageRecord.used_on < period[1])).all()
        quantity = sum(q for _, q in records)
        if quantity > 0:
            lines.append(pricing.Line(InvoiceLineKind.USAGE,
                                      f"Usage: {item.name} {period[0].isoformat()} to {period[1].isoformat()}",
                                      quantity, item.row.metered_unit_price, item.plan_code, item.row.id))
        usage_ids += [rid for rid, _ in records]
    return lines, usage_ids


# --- 4. dunning ------------------------------------------------------------------------------


def _dunning(store: Store, settings: Settings, now: datetime, batch: int, tally: _Tally) -> None:
    """Invoices whose next attempt is due: each claimed under its row lock (the next attempt moved a lease
    ahead, so a second worker leaves it), then collected; then ISSUED invoices past due become PAST_DUE."""
    from agentdesk.services.billing import invoices

    last: tuple[datetime, int] | None = None
    while True:
        query = select(Invoice.next_attempt_at, Invoice.id).where(
            col(Invoice.status).in_(InvoiceStatusSets.OPEN), col(Invoice.next_attempt_at).is_not(None),
            col(Invoice.next_attempt_at) <= now)
        if last is not None:
            query = query.where(or_(col(Invoice.next_attempt_at) > last[0],
                                    and_(col(Invoice.next_attempt_at) == last[0], col(Invoice.id) > last[1])))
        with store.read() as session:
            rows = list(session.exec(query.order_by(col(Invoice.next_attempt_at), col(Invoice.id))
                                     .limit(batch)).all())
        if not rows:
            break
        for _, invoice_id in rows:
            def attempt(invoice_id: int = invoice_id) -> None:
                retry = _claim(store, invoice_id, now)
                if retry is None:
                    return
                result = invoices.collect_invoice(store, SYSTEM, settings, invoice_id, now=now)
                tally.collected(result)
                if retry:
                    tally.add("dunning_retries")
            _safely(tally, f"collecting invoice {invoice_id}", attempt)
        last = (rows[-1][0], rows[-1][1])  # type: ignore[assignment]
    with store.write(unrecorded="an invoice past its due date (a status, no activity of its own)") as session:
        session.execute(update(Invoice).where(col(Invoice.status) == InvoiceStatus.ISSUED, col(Invoice.due_at) < now)
                        .values(status=InvoiceStatus.PAST_DUE).execution_options(synchronize_session=False))


def _claim(store: Store, invoice_id: int, now: datetime) -> bool | None:
    """Take the invoice's due attempt for this worker: None when it is not due any more (paid, or taken by
    another worker); else whether it is a retry (an earlier attempt failed: the invoice is now PAST_DUE)."""
    with store.write(unrecorded="a collection attempt claimed; its outcome is recorded on the timeline") as session:
        invoice = session.exec(select(Invoice).where(Invoice.id == invoice_id)
                               .with_for_update(skip_locked=True)).one_or_none()
        if (invoice is None or invoice.status not in InvoiceStatusSets.OPEN or invoice.next_attempt_at is None
                or _aware(invoice.next_attempt_at) > now):
            return None
        retry = invoice.attempts > 0
        session.execute(update(Invoice).where(col(Invoice.id) == invoice_id).values(
            next_attempt_at=now + CLAIM_LEASE,
            **({"status": InvoiceStatus.PAST_DUE} if retry else {})).execution_options(synchronize_session=False))
        return retry


# --- 5. delinquency --------------------------------------------------------------------------


def _delinquency(store: Store, now: datetime, batch: int, tally: _Tally) -> None:
    def query(after: int) -> Any:
        return (select(Order.id, Order.customer_id, Order.delinquency_days)
                .where(col(Order.status).in_((OrderStatus.ACTIVE, OrderStatus.PAUSED)),
                       Order.kind == OrderKind.SUBSCRIPTION, col(Order.delinquency_days).is_not(None),
                       Order.id > after)
                .order_by(col(Order.id)))

    page: list[tuple[int, int, int]] = []

    def flush() -> None:
        with store.read() as session:
            oldest = dict(session.exec(
                select(Invoice.order_id, func.min(Invoice.due_at))
                .where(col(Invoice.order_id).in_([o for o, _, _ in page]),
                       col(Invoice.status).in_(InvoiceStatusSets.OPEN))
                .group_by(col(Invoice.order_id))).all())
        for order_id, customer_id, days in page:
            due = oldest.get(order_id)
            if due is not None and _aware(due) + timedelta(days=days) <= now:
                _safely(tally, f"cancelling unpaid order {order_id}",
                        _cancel_delinquent, store, order_id, customer_id, now, tally)
        page.clear()

    for row in _by_id(store, query, batch):
        page.append((row[0], row[1], row[2]))
        if len(page) >= batch:
            flush()
    if page:
        flush()


def _cancel_delinquent(store: Store, order_id: int, customer_id: int, now: datetime, tally: _Tally) -> None:
    with store.write() as session:
        order = _lock_order(session, order_id, customer_id)
        if (order is None or order.status not in (OrderStatus.ACTIVE, OrderStatus.PAUSED)
                or order.delinquency_days is None or _payment_in_flight(session, order_id)):
            return
        days = timedelta(days=order.delinquency_days)
        overdue = session.exec(select(func.min(Invoice.due_at)).where(
            Invoice.order_id == order_id, col(Invoice.status).in_(InvoiceStatusSets.OPEN))).one()
        if overdue is None or _aware(overdue) + days > now:
            return
        _close_open_invoices(session, order_id, InvoiceStatus.UNCOLLECTIBLE, now)
        order.status = OrderStatus.CANCELLED
        order.cancelled_at = now
        order.next_bill_date = None
        order.updated_at = now
        session.add(order)
        record_event(session, SYSTEM, customer_id, EventType.SUBSCRIPTION_CANCELLED,
                     product=_product(session, order_id), order=order.number, reason="unpaid")
    tally.add("cancelled_delinquent")


def _aware(moment: datetime) -> datetime:
    """SQLite gives datetimes back without their zone; every stored time is UTC."""
    from datetime import UTC

    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


# --- the clock -------------------------------------------------------------------------------


def refuse_clock_unless_sandbox(store: Store) -> None:
    """A moved clock bills real money early: refused (Conflict naming the websites) unless every website's
    gateway (policy `website_gateway.<code>`, else the website's own) is the sandbox."""
    from agentdesk.db.models import Website
    from agentdesk.domain.errors import Conflict
    from agentdesk.services.policy import service as policy

    with store.read() as session:
        real = [f"{website.code} ({name})" for website in session.exec(select(Website).order_by(col(Website.code)))
                if (name := policy.website_gateway(session, website.code) or website.gateway) != "sandbox"]
    if real:
        raise Conflict(f"--now moves the clock only on a sandbox store; {', '.join(real)} "
                       f"{'uses' if len(real) == 1 else 'use'} a real gateway")
