"""What a paid invoice does to its order: activation, renewal billed, leaving credit control, commission."""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Session, col, select

from agentdesk.db.models import Invoice, Order, OrderItem, Plan, Product, Transaction
from agentdesk.domain.enums import OrderKind, OrderStatus
from agentdesk.domain.permissions import Actor
from agentdesk.services.billing import affiliates
from agentdesk.services.timeline.catalog import EventType
from agentdesk.services.timeline.record import record_event

_LOCKED = "locked_orders"
"""session.info: orders this transaction holds loaded under their row lock (`lock_orders`)."""
_PRODUCTS = "order_products"
"""session.info: order id → the name its first item goes by, read for a batch at once (`lock_orders`)."""


_SHIPPING = "orders_shipping"
"""session.info: order id → whether any of its items' products ships, read with `lock_orders`."""


def _first_items(session: Session, order_ids: list[int]) -> dict[int, str]:
    names: dict[int, str] = {}
    ships: dict[int, bool] = session.info.setdefault(_SHIPPING, {})
    rows = session.exec(
        select(OrderItem.order_id, OrderItem.plan_name, Product.name, Product.requires_shipping)
        .join(Plan, Plan.id == OrderItem.plan_id)  # type: ignore[arg-type]
        .join(Product, Product.id == Plan.product_id)  # type: ignore[arg-type]
        .where(col(OrderItem.order_id).in_(order_ids))
        .order_by(OrderItem.order_id, OrderItem.id)  # type: ignore[arg-type]
    ).all()
    for order_id, plan_name, product, shipping in rows:
        names.setdefault(order_id, plan_name or product)
        ships[order_id] = ships.get(order_id, False) or bool(shipping)
    return names


def lock_orders(session: Session, order_ids: list[int]) -> list[Order]:
    """Many orders under their row locks (in id order) and their products' names, for a batch of paid
    invoices in one transaction: `on_invoice_paid` then reads neither again."""
    ids = sorted(set(order_ids))
    if not ids:
        return []
    orders = list(session.exec(select(Order).where(col(Order.id).in_(ids)).order_by(col(Order.id))
                               .with_for_update()).all())
    session.info.setdefault(_LOCKED, set()).update(o.id for o in orders)
    session.info.setdefault("batch_rows", []).extend(orders)  # the identity map holds rows weakly
    products: dict[int, str] = session.info.setdefault(_PRODUCTS, {})
    products.update(_first_items(session, ids))
    return orders


def order_product(session: Session, order: Order) -> str:
    """The name the order's first item goes by (its plan name on invoices, else the product's)."""
    known = session.info.get(_PRODUCTS)
    if known is not None and order.id in known:
        return str(known[order.id])
    row = session.exec(
        select(OrderItem.plan_name, Product.name)
        .join(Plan, Plan.id == OrderItem.plan_id)  # type: ignore[arg-type]
        .join(Product, Product.id == Plan.product_id)  # type: ignore[arg-type]
        .where(OrderItem.order_id == order.id)
        .order_by(OrderItem.id)  # type: ignore[arg-type]
    ).first()
    return order.number if row is None else (row[0] or row[1])


def on_invoice_paid(session: Session, actor: Actor, invoice: Invoice, transaction: Transaction | None,
                    now: datetime) -> None:
    """In the transaction that records the payment: a pending order starts (a one-time order completes),
    a renewal is recorded as billed, credit control ends, the affiliate's commission is recorded, and
    what the invoice bills that ships gets its fulfillment (`orders.fulfillments.create_for_paid_invoice`;
    skipped without a query for a batch's orders known to ship nothing)."""
    order: Order | None = None
    if invoice.order_id is not None and invoice.order_id in session.info.get(_LOCKED, ()):
        order = session.get(Order, invoice.order_id)
    elif invoice.order_id is not None:
        order = session.exec(select(Order).where(Order.id == invoice.order_id).with_for_update()).one_or_none()
    if order is not None:
        product = order_product(session, order)
        if order.status is OrderStatus.PENDING:
            from agentdesk.services.orders import quotes

            order.abandon_at = None
            quotes.on_order_paid(session, actor, order, now)
            if order.kind is OrderKind.ONE_TIME:
                order.status = OrderStatus.COMPLETED
                order.completed_at = now
                record_event(session, actor, order.customer_id, EventType.ORDER_COMPLETED, order=order.number,
                             product=product)
            else:
                order.status = OrderStatus.ACTIVE
        elif order.status is OrderStatus.ACTIVE and order.kind is OrderKind.SUBSCRIPTION:
            record_event(session, actor, order.customer_id, EventType.SUBSCRIPTION_BILLED, product=product,
                         order=order.number, amount=transaction.amount if transaction else invoice.total,
                         currency=invoice.currency, invoice=invoice.number,
                         transaction=transaction.id if transaction else None)
        if order.in_credit_control:
            order.in_credit_control = False
            record_event(session, actor, order.customer_id, EventType.CREDIT_CONTROL_EXITED, order=order.number,
                         invoice=invoice.number)
        order.updated_at = now
        session.add(order)
    affiliates.record_commission(session, invoice, transaction)
    if invoice.order_id is not None and session.info.get(_SHIPPING, {}).get(invoice.order_id, True):
        from agentdesk.services.orders import fulfillments

        fulfillments.create_for_paid_invoice(session, actor, invoice, now)
