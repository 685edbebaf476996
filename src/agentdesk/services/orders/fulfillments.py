"""Fulfillments: shipments of the items of orders that ship.

A fulfillment is created, pending, in the transaction that records an invoice as paid when that
invoice bills products that ship (one per invoice). An agent — or a carrier's CSV file — then marks
it shipped (carrier and tracking number required; the customer is emailed the tracking) and
delivered. A pending one can be cancelled, and a sent one reshipped as a new fulfillment, with a
charge only when the agent adds one. Reasons are required for both (kept on the timeline, not put
in the email the customer gets for each).
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from datetime import UTC, datetime, time
from pathlib import Path
from typing import Any

from sqlmodel import Session, col, select

from agentdesk.config import Settings
from agentdesk.db.models import (
    Address,
    Customer,
    Fulfillment,
    Invoice,
    InvoiceLine,
    Order,
    OrderItem,
    PaymentInstrument,
    Plan,
    Product,
    utcnow,
)
from agentdesk.db.store import Store
from agentdesk.domain import limits
from agentdesk.domain.dates import parse_date
from agentdesk.domain.enums import FulfillmentStatus, InstrumentStatus, JobKind
from agentdesk.domain.errors import Conflict, InvalidInput, NotFound
from agentdesk.domain.money import format_amount
from agentdesk.domain.permissions import Action, Actor, require
from agentdesk.domain.validation import clean_block, clean_line
from agentdesk.services.billing import charges, invoices
from agentdesk.services.customers.lookup import customer_by_ref
from agentdesk.services.jobs import queue as jobs
from agentdesk.services.orders.read import order_by_number
from agentdesk.services.timeline.catalog import EventType
from agentdesk.services.timeline.record import record_event

MAX_IMPORT_BYTES = 5 * 2**20
MAX_IMPORT_ROWS = 20_000
MAX_PROBLEMS = 20
"""Problems named in one refused import; more are counted, not listed."""

IMPORT_STATUSES = (FulfillmentStatus.SHIPPED, FulfillmentStatus.DELIVERED)


# --- reading ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class FulfillmentInfo:
    id: int
    order: str
    customer: str
    status: str
    items: list[dict[str, Any]]
    address: str | None
    carrier: str | None
    tracking_number: str | None
    reason: str | None
    invoice: str | None
    reship_of: int | None
    created_at: datetime
    shipped_at: datetime | None
    delivered_at: datetime | None
    cancelled_at: datetime | None

    @property
    def summary(self) -> str:
        """The items in one line: "2 × Lumen Band (size M, colour Coral)"."""
        return ", ".join(item_label(item) for item in self.items)

    def to_dict(self) -> dict[str, Any]:
        def iso(value: datetime | None) -> str | None:
            return value.isoformat() if value is not None else None

        return {"id": self.id, "order": self.order, "customer": self.customer, "status": self.status,
                "items": [dict(i) for i in self.items], "address": self.address, "carrier": self.carrier,
                "tracking_number": self.tracking_number, "reason": self.reason, "invoice": self.invoice,
                "reship_of": self.reship_of, "created_at": self.created_at.isoformat(),
                "shipped_at": iso(self.shipped_at), "delivered_at": iso(self.delivered_at),
                "cancelled_at": iso(self.cancelled_at)}


def item_label(item: dict[str, Any]) -> str:
    options = item.get("options") or {}
    extra = f" ({', '.join(f'{k} {v}' for k, v in options.items())})" if options else ""
    return f"{item.get('quantity', 1)} × {item.get('name', item.get('sku', '?'))}{extra}"


def _address_text(address: Address | None) -> str | None:
    if address is None:
        return None
    parts = [address.line1, address.line2, address.city, address.region, address.postal_code, address.country]
    return ", ".join(p for p in parts if p)


def _info(session: Session, row: Fulfillment, order: Order | None = None) -> FulfillmentInfo:
    order = order or session.get(Order, row.order_id)
    customer = session.get(Customer, row.customer_id)
    invoice = session.get(Invoice, row.invoice_id) if row.invoice_id else None
    address = session.get(Address, row.address_id) if row.address_id else None
    return FulfillmentInfo(
        row.id, order.number if order else str(row.order_id), customer.external_id if customer else "",
        FulfillmentStatus(row.status).value, [dict(i) for i in row.items or []], _address_text(address), row.carrier,
        row.tracking_number, row.reason, invoice.number if invoice else None, row.reship_of_id, row.created_at,
        row.shipped_at, row.delivered_at, row.cancelled_at,
    )


def list_fulfillments(store: Store, actor: Actor, customer_ref: str | int | None = None,
                      order_number: str | None = None) -> list[FulfillmentInfo]:
    """A customer's fulfillments, or one order's, newest first."""
    require(actor, Action.VIEW_CUSTOMERS)
    if (customer_ref is None) == (order_number is None):
        raise InvalidInput(fields={"customer": "name a customer or an order (one of them)"})
    with store.read() as session:
        query = select(Fulfillment)
        if order_number is not None:
            query = query.where(Fulfillment.order_id == order_by_number(session, order_number).id)
        else:
            assert customer_ref is not None
            query = query.where(Fulfillment.customer_id == customer_by_ref(session, customer_ref).id)
        rows = session.exec(query.order_by(col(Fulfillment.id).desc())).all()
        return [_info(session, row) for row in rows]


def fulfillment_detail(store: Store, actor: Actor, fulfillment_id: int) -> FulfillmentInfo:
    require(actor, Action.VIEW_CUSTOMERS)
    with store.read() as session:
        return _info(session, _get(session, fulfillment_id))


def _get(session: Session, fulfillment_id: int, lock: bool = False) -> Fulfillment:
    if not limits.in_id_range(fulfillment_id):
        raise NotFound(f"no fulfillment {fulfillment_id}")
    query = select(Fulfillment).where(Fulfillment.id == fulfillment_id)
    row = session.exec(query.with_for_update() if lock else query).one_or_none()
    if row is None:
        raise NotFound(f"no fulfillment {fulfillment_id}")
    return row


# --- created when an invoice is paid ---------------------------------------------------------------------


def shipped_items(session: Session, invoice: Invoice) -> list[dict[str, Any]]:
    """The invoice's item lines whose products ship, as a fulfillment lists them."""
    rows = session.exec(
        select(InvoiceLine, OrderItem, Product)
        .join(OrderItem, col(OrderItem.id) == col(InvoiceLine.order_item_id))
        .join(Plan, col(Plan.id) == col(OrderItem.plan_id))
        .join(Product, col(Product.id) == col(Plan.product_id))
        .where(InvoiceLine.invoice_id == invoice.id, col(Product.requires_shipping).is_(True))
        .order_by(col(InvoiceLine.id))
    ).all()
    items: dict[int, dict[str, Any]] = {}
    for line, item, product in rows:
        items.setdefault(item.id, {"sku": product.sku, "name": product.name, "quantity": line.quantity,
                                   "options": dict(item.options or {})})
    return list(items.values())


def _primary_address(session: Session, customer_id: int) -> int | None:
    return session.exec(
        select(Address.id).where(Address.customer_id == customer_id)
        .order_by(col(Address.is_primary).desc(), col(Address.id))
    ).first()


def create_for_paid_invoice(session: Session, actor: Actor, invoice: Invoice,
                            now: datetime | None = None) -> Fulfillment | None:
    """Inside the transaction that records `invoice` as paid: a pending fulfillment of its items that ship,
    to the order's shipping address (else the customer's primary one), with FULFILLMENT_CREATED.

    None when the invoice belongs to no order, bills nothing that ships, or has its fulfillment already."""
    if invoice.order_id is None:
        return None
    if session.exec(select(Fulfillment.id).where(Fulfillment.invoice_id == invoice.id)).first() is not None:
        return None
    items = shipped_items(session, invoice)
    if not items:
        return None
    order = session.get(Order, invoice.order_id)
    assert order is not None
    row = Fulfillment(order_id=order.id, customer_id=order.customer_id, invoice_id=invoice.id,
                      status=FulfillmentStatus.PENDING,
                      address_id=order.shipping_address_id or _primary_address(session, order.customer_id),
                      items=items, agent_id=actor.agent_id, created_at=now or utcnow())
    session.add(row)
    session.flush()
    record_event(session, actor, order.customer_id, EventType.FULFILLMENT_CREATED, order=order.number,
                 fulfillment=row.id, items=[item_label(i) for i in items])
    return row


# --- shipped, delivered ----------------------------------------------------------------------------------


def _email(session: Session, row: Fulfillment, order: Order, key: str, subject: str, opening: str,
           closing: list[str]) -> None:
    """Tell the customer about a fulfillment (its items listed), when they have an email address."""
    to = invoices.customer_email(session, row.customer_id)
    if not to:
        return
    customer = session.get(Customer, row.customer_id)
    assert customer is not None
    body = "\n".join([
        f"Hello {invoices.customer_name(customer)},", "", opening,
        *[f"  {item_label(i)}" for i in row.items or []], "", *closing,
    ])
    jobs.enqueue(session, JobKind.EMAIL, key, {"to": to, "subject": subject, "body": body,
                                               "customer_id": row.customer_id, "order": order.number},
                 customer_id=row.customer_id, max_attempts=5)


def _shipped_email(session: Session, row: Fulfillment, order: Order) -> None:
    _email(session, row, order, f"email-fulfillment-{row.id}-shipped-{row.tracking_number}",
           f"Your order {order.number} has shipped", f"Your order {order.number} is on its way:",
           [f"Carrier: {row.carrier}", f"Tracking number: {row.tracking_number}", ""])


def _clean_carrier(value: str | None, field: str = "carrier") -> str | None:
    return clean_line(value, field, limits.CARRIER)


def _clean_tracking(value: str | None, field: str = "tracking") -> str | None:
    return clean_line(value, field, limits.TRACKING_NUMBER)


def _plan_update(row: Fulfillment, status: FulfillmentStatus | None, carrier: str | None, tracking: str | None,
                 fields: tuple[str, str, str] = ("status", "carrier", "tracking")) -> dict[str, Any]:
    """The changes `status`, `carrier` and `tracking` make to `row` ({} when none), or InvalidInput / Conflict
    naming the field. Pending → shipped (carrier and tracking needed) → delivered; pending → delivered ships
    it too when carrier and tracking are given."""
    f_status, f_carrier, f_tracking = fields
    current = FulfillmentStatus(row.status)
    if current in (FulfillmentStatus.CANCELLED, FulfillmentStatus.DELIVERED):
        raise Conflict(f"fulfillment {row.id} is {current.value}; it cannot change any more")
    if status is FulfillmentStatus.CANCELLED:
        raise InvalidInput(fields={f_status: "cancel a pending fulfillment with its reason (fulfillments cancel)"})
    if status is FulfillmentStatus.PENDING and current is not FulfillmentStatus.PENDING:
        raise InvalidInput(fields={f_status: f"fulfillment {row.id} has shipped; it cannot be pending again"})
    wanted: dict[str, Any] = {}
    new_carrier = carrier if carrier is not None else row.carrier
    new_tracking = tracking if tracking is not None else row.tracking_number
    if carrier is not None and carrier != row.carrier:
        wanted["carrier"] = carrier
    if tracking is not None and tracking != row.tracking_number:
        wanted["tracking_number"] = tracking
    ships = current is FulfillmentStatus.PENDING and status in IMPORT_STATUSES
    if ships:
        if not new_carrier:
            raise InvalidInput(fields={f_carrier: "a shipped fulfillment needs its carrier"})
        if not new_tracking:
            raise InvalidInput(fields={f_tracking: "a shipped fulfillment needs its tracking number"})
    if status is not None and status is not current:
        wanted["status"] = status
    return wanted


def _apply_update(session: Session, actor: Actor, row: Fulfillment, wanted: dict[str, Any], now: datetime,
                  shipped_at: datetime | None = None) -> None:
    order = session.get(Order, row.order_id)
    assert order is not None
    changes: dict[str, dict[str, Any]] = {}
    for name in ("carrier", "tracking_number"):
        if name in wanted:
            changes[name] = {"from": getattr(row, name), "to": wanted[name]}
            setattr(row, name, wanted[name])
    status = wanted.get("status")
    before = FulfillmentStatus(row.status)
    if status is not None:
        changes["status"] = {"from": before.value, "to": status.value}
        row.status = status
        if before is FulfillmentStatus.PENDING:
            row.shipped_at = shipped_at or now
            changes["shipped_at"] = {"from": None, "to": row.shipped_at.isoformat()}
        if status is FulfillmentStatus.DELIVERED:
            row.delivered_at = now
    session.add(row)
    record_event(session, actor, row.customer_id, EventType.FULFILLMENT_UPDATED, order=order.number,
                 fulfillment=row.id, changes=changes)
    sent = status is not None and before is FulfillmentStatus.PENDING
    if sent or (row.status is FulfillmentStatus.SHIPPED and "tracking_number" in changes):
        _shipped_email(session, row, order)


def update_fulfillment(store: Store, actor: Actor, fulfillment_id: int, *, status: FulfillmentStatus | str | None
                       = None, carrier: str | None = None, tracking: str | None = None,
                       now: datetime | None = None) -> FulfillmentInfo:
    """Mark a fulfillment shipped (carrier and tracking number), delivered, or correct its carrier or tracking;
    FULFILLMENT_UPDATED with each change from and to, and the tracking emailed once it has shipped."""
    require(actor, Action.CHANGE_SUBSCRIPTIONS)
    wanted_status = _status(status, "status") if status is not None else None
    carrier, tracking = _clean_carrier(carrier), _clean_tracking(tracking)
    now = now or utcnow()
    with store.write() as session:
        row = _get(session, fulfillment_id, lock=True)
        wanted = _plan_update(row, wanted_status, carrier, tracking)
        if not wanted:
            raise Conflict(f"fulfillment {row.id} already says that; nothing changed")
        _apply_update(session, actor, row, wanted, now)
        return _info(session, row)


def _status(value: FulfillmentStatus | str, field: str) -> FulfillmentStatus:
    try:
        return FulfillmentStatus(str(value).strip().lower())
    except ValueError:
        raise InvalidInput(fields={field: "must be " + ", ".join(s.value for s in FulfillmentStatus)}) from None


# --- cancel and reship ---------------------------------------------------------------------------------------


def _reason(reason: str | None) -> str:
    text = clean_block(reason, "reason", limits.REASON)
    if not text:
        raise InvalidInput(fields={"reason": "say why; it is kept on the customer's timeline"})
    return text


def cancel_pending(session: Session, actor: Actor, row: Fulfillment, order: Order, reason: str,
                   now: datetime) -> None:
    """Cancel a pending fulfillment inside the caller's transaction (also used by order cancellation)."""
    row.status = FulfillmentStatus.CANCELLED
    row.cancelled_at = now
    row.reason = reason
    session.add(row)
    record_event(session, actor, row.customer_id, EventType.FULFILLMENT_CANCELLED, order=order.number,
                 fulfillment=row.id, reason=reason)


def cancel_fulfillment(store: Store, actor: Actor, fulfillment_id: int, reason: str,
                       now: datetime | None = None) -> FulfillmentInfo:
    """Cancel a pending fulfillment (nothing is sent); a shipped one cannot be called back."""
    require(actor, Action.CHANGE_SUBSCRIPTIONS)
    text = _reason(reason)
    with store.write() as session:
        row = _get(session, fulfillment_id, lock=True)
        if row.status is not FulfillmentStatus.PENDING:
            raise Conflict(f"fulfillment {row.id} is {FulfillmentStatus(row.status).value}; only a pending one "
                           "can be cancelled")
        order = session.get(Order, row.order_id)
        assert order is not None
        cancel_pending(session, actor, row, order, text, now or utcnow())
        _email(session, row, order, f"email-fulfillment-{row.id}-cancelled",
               f"A shipment of your order {order.number} is cancelled",
               f"We will not send this shipment of your order {order.number}:",
               ["Nothing more is sent for it. Reply to this email if you did not expect this.", ""])
        return _info(session, row, order)


@dataclass(frozen=True)
class ReshipResult:
    fulfillment: FulfillmentInfo
    """The new, pending fulfillment."""
    charge: charges.ChargeResult | None
    """The agent's charge for it, billed now; None: no charge."""

    @property
    def message(self) -> str:
        text = f"Fulfillment {self.fulfillment.id} will send {self.fulfillment.summary} again"
        if self.charge is not None:
            text += f"; charge {format_amount(self.charge.amount, self.charge.currency)}: {self.charge.message}"
        return text

    def to_dict(self) -> dict[str, Any]:
        return {"fulfillment": self.fulfillment.to_dict(),
                "charge": self.charge.to_dict() if self.charge else None, "message": self.message}


def _can_charge(session: Session, customer_id: int) -> bool:
    return session.exec(
        select(PaymentInstrument.id).where(PaymentInstrument.customer_id == customer_id,
                                           PaymentInstrument.status == InstrumentStatus.ACTIVE,
                                           col(PaymentInstrument.gateway_token).is_not(None)).limit(1)
    ).first() is not None


def reship_fulfillment(store: Store, actor: Actor, settings: Settings, fulfillment_id: int, reason: str,
                       charge: int | None = None, now: datetime | None = None) -> ReshipResult:
    """Send a shipped (or delivered) fulfillment's items again as a new pending fulfillment: free, unless the
    agent adds `charge` (minor units of the order's currency), billed and collected at once as a manual charge."""
    require(actor, Action.CHANGE_SUBSCRIPTIONS)
    if charge is not None:
        require(actor, Action.BILLING)
        if isinstance(charge, bool) or not isinstance(charge, int) or charge <= 0:
            raise InvalidInput(fields={"charge": "must be more than zero (leave it out for a free reship)"})
        if charge > limits.AMOUNT_MAX:
            raise InvalidInput(fields={"charge": "is too large"})
    text = _reason(reason)
    now = now or utcnow()
    with store.write() as session:
        original = _get(session, fulfillment_id, lock=True)
        if original.status not in (FulfillmentStatus.SHIPPED, FulfillmentStatus.DELIVERED):
            raise Conflict(f"fulfillment {original.id} is {FulfillmentStatus(original.status).value}; only one that "
                           "was sent can be reshipped")
        order = session.get(Order, original.order_id)
        customer = session.get(Customer, original.customer_id)
        assert order is not None and customer is not None
        if charge is not None and not _can_charge(session, customer.id):
            raise Conflict("the customer has no active payment instrument to charge; reship without a charge, or "
                           "add a card first")
        row = Fulfillment(order_id=order.id, customer_id=order.customer_id, invoice_id=None,
                          reship_of_id=original.id, status=FulfillmentStatus.PENDING,
                          address_id=order.shipping_address_id or original.address_id,
                          items=[dict(i) for i in original.items or []], reason=text, agent_id=actor.agent_id,
                          created_at=now)
        session.add(row)
        session.flush()
        record_event(session, actor, order.customer_id, EventType.FULFILLMENT_RESHIPPED, order=order.number,
                     fulfillment=row.id, reship_of=original.id, reason=text)
        _email(session, row, order, f"email-fulfillment-{row.id}-reshipped",
               f"We are sending your order {order.number} again",
               f"We are sending these items of your order {order.number} again:",
               [(f"A charge of {format_amount(charge, order.currency)} is billed for it." if charge is not None
                 else "There is no charge for it.") + " You get the tracking number when it ships.", ""])
        info = _info(session, row, order)
        customer_ref, currency, number = customer.external_id, order.currency, order.number
    charged = None
    if charge is not None:
        charged = charges.add_charge(store, actor, settings, customer_ref, charge, currency,
                                     f"Reshipment of {number}", order_number=number, bill_now=True, now=now)
    return ReshipResult(info, charged)


# --- import ------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ImportReport:
    rows: int
    updated: int
    unchanged: int
    """Rows that said what the fulfillment already says (a file imported twice changes nothing)."""

    def to_dict(self) -> dict[str, Any]:
        return {"rows": self.rows, "updated": self.updated, "unchanged": self.unchanged}


def _read_rows(path: Path) -> list[dict[str, str]]:
    try:
        size = path.stat().st_size
        if size > MAX_IMPORT_BYTES:
            raise InvalidInput(fields={"file": f"is larger than {MAX_IMPORT_BYTES // 2**20} MiB"})
        text = path.read_bytes().decode("utf-8-sig")
    except OSError as exc:
        raise InvalidInput(fields={"file": f"cannot be read: {exc.strerror or exc}"}) from None
    except UnicodeDecodeError:
        raise InvalidInput(fields={"file": "is not UTF-8 text"}) from None
    reader = csv.DictReader(io.StringIO(text, newline=""))
    header = [h.strip().lower() for h in reader.fieldnames or []]
    if not header:
        raise InvalidInput(fields={"file": "is empty; the first line names the columns"})
    if "fulfillment" not in header and "order" not in header:
        raise InvalidInput(fields={"file": "needs a fulfillment or an order column"})
    known = {"fulfillment", "order", "carrier", "tracking_number", "status", "shipped_at"}
    unknown = [h for h in header if h not in known]
    if unknown:
        raise InvalidInput(fields={"file": f"unknown column {unknown[0]!r} (columns: fulfillment or order, "
                                           "carrier, tracking_number, status, shipped_at)"})
    if "status" not in header:
        raise InvalidInput(fields={"file": "needs a status column (shipped or delivered)"})
    reader.fieldnames = header
    rows: list[dict[str, str]] = []
    try:
        for raw in reader:
            if len(rows) >= MAX_IMPORT_ROWS:
                raise InvalidInput(fields={"file": f"has more than {MAX_IMPORT_ROWS} rows; split it"})
            if None in raw:
                raise InvalidInput(fields={f"line {reader.line_num}": "has more cells than the header"})
            rows.append({k: (v or "").strip() for k, v in raw.items()} | {"__line": str(reader.line_num)})
    except csv.Error as exc:
        raise InvalidInput(fields={"file": f"is not valid CSV: {exc}"}) from None
    return rows


def _target(session: Session, raw: dict[str, str]) -> Fulfillment:
    if raw.get("fulfillment"):
        text = raw["fulfillment"]
        if not text.isascii() or not text.isdigit():
            raise InvalidInput(fields={"fulfillment": f"{text[:20]!r} is not a fulfillment number"})
        return _get(session, int(text), lock=True)
    if not raw.get("order"):
        raise InvalidInput(fields={"order": "name the fulfillment or its order"})
    order = order_by_number(session, raw["order"])
    open_rows = session.exec(
        select(Fulfillment).where(Fulfillment.order_id == order.id,
                                  col(Fulfillment.status).in_((FulfillmentStatus.PENDING, FulfillmentStatus.SHIPPED)))
        .order_by(col(Fulfillment.id)).with_for_update()
    ).all()
    if not open_rows:
        raise InvalidInput(fields={"order": f"{order.number} has no pending or shipped fulfillment"})
    if len(open_rows) > 1:
        raise InvalidInput(fields={"order": f"{order.number} has {len(open_rows)} open fulfillments "
                                            f"({', '.join(str(r.id) for r in open_rows)}); name one in a "
                                            "fulfillment column"})
    return open_rows[0]


def _shipped_at(text: str, now: datetime) -> datetime | None:
    if not text:
        return None
    day = parse_date(text, "shipped_at")
    when = datetime.combine(day, time(), tzinfo=UTC)
    if when > now:
        raise InvalidInput(fields={"shipped_at": "is in the future"})
    return when


def import_fulfillments(store: Store, actor: Actor, path: Path | str, now: datetime | None = None) -> ImportReport:
    """Apply a carrier's CSV file (columns: fulfillment or order, carrier, tracking_number, status, shipped_at
    optional): every row is checked first and a file with any bad row is refused whole, naming each line and
    field; then all rows are applied in one transaction."""
    require(actor, Action.CHANGE_SUBSCRIPTIONS)
    now = now or utcnow()
    rows = _read_rows(Path(path))
    problems: dict[str, str] = {}
    more = 0
    plans: list[tuple[Fulfillment, dict[str, Any], datetime | None]] = []
    with store.write() as session:
        seen: dict[int, str] = {}
        for raw in rows:
            line = raw["__line"]
            try:
                row = _target(session, raw)
                if row.id in seen:
                    raise InvalidInput(fields={"fulfillment": f"{row.id} is also on line {seen[row.id]}"})
                seen[row.id] = line
                status = _status(raw.get("status", ""), "status")
                if status not in IMPORT_STATUSES:
                    raise InvalidInput(fields={"status": "must be shipped or delivered"})
                carrier = _clean_carrier(raw.get("carrier") or None)
                tracking = _clean_tracking(raw.get("tracking_number") or None, "tracking_number")
                shipped_at = _shipped_at(raw.get("shipped_at", ""), now)
                wanted = _plan_update(row, status, carrier, tracking,
                                      fields=("status", "carrier", "tracking_number"))
                plans.append((row, wanted, shipped_at))
            except (InvalidInput, NotFound, Conflict) as exc:
                fields = getattr(exc, "fields", None) or {"row": str(exc)}
                for field, why in fields.items():
                    if len(problems) < MAX_PROBLEMS:
                        problems[f"line {line}: {field}"] = why
                    else:
                        more += 1
        if problems:
            listed = "; ".join(f"{k}: {v}" for k, v in problems.items()) + (f"; and {more} more" if more else "")
            raise InvalidInput(f"import refused, nothing changed: {listed}", fields=problems)
        updated = 0
        for row, wanted, shipped_at in plans:
            if wanted:
                _apply_update(session, actor, row, wanted, now, shipped_at)
                updated += 1
    return ImportReport(len(rows), updated, len(rows) - updated)
