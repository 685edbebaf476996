"""Entitlements: the access a customer's orders grant, and their membership login.

A product lists the access names it grants (`entitlements` in the catalog). An active order grants
those of its items' products; so does a one-time order that was paid (completed) — it was bought
outright. "Refresh" re-issues an order's entitlements to the merchant's membership site: recorded as
"entitlements refreshed" per product. The membership login is the customer's login name there; a
password is never shown or stored in clear: "reset password" emails the customer a password_reset
link, and the portal keeps only a scrypt hash of what they choose (`links/customer_password.py`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlmodel import Session, col, select

from agentdesk.config import Settings
from agentdesk.db.models import Order, OrderItem, Plan, Product, utcnow
from agentdesk.db.store import Store
from agentdesk.domain import limits
from agentdesk.domain.enums import LinkKind, OrderKind, OrderStatus
from agentdesk.domain.errors import Conflict, InvalidInput
from agentdesk.domain.permissions import Action, Actor, require
from agentdesk.services.billing.invoices import customer_email
from agentdesk.services.customers.lookup import customer_by_ref
from agentdesk.services.links.requests import LinkRequest, request_link
from agentdesk.services.orders.read import order_by_number
from agentdesk.services.timeline.catalog import EventType
from agentdesk.services.timeline.record import record_event

_LOGIN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._@+-]*")


@dataclass(frozen=True)
class Entitlement:
    order: str
    sku: str
    product: str
    access: list[str]
    order_status: str

    def to_dict(self) -> dict[str, Any]:
        return {"order": self.order, "sku": self.sku, "product": self.product, "access": list(self.access),
                "order_status": self.order_status}


def grants(order: Order) -> bool:
    """Whether the order grants its products' access now."""
    return order.status is OrderStatus.ACTIVE or (order.kind is OrderKind.ONE_TIME
                                                  and order.status is OrderStatus.COMPLETED)


def _products(session: Session, orders: list[Order]) -> list[Entitlement]:
    if not orders:
        return []
    by_id = {o.id: o for o in orders}
    rows = session.exec(
        select(OrderItem.order_id, Product)
        .join(Plan, col(Plan.id) == col(OrderItem.plan_id))
        .join(Product, col(Product.id) == col(Plan.product_id))
        .where(col(OrderItem.order_id).in_(list(by_id)))
        .order_by(col(OrderItem.order_id), col(OrderItem.id))
    ).all()
    found: list[Entitlement] = []
    seen: set[tuple[int, int]] = set()
    for order_id, product in rows:
        if (order_id, product.id) in seen or not product.entitlements:
            continue
        seen.add((order_id, product.id))
        order = by_id[order_id]
        found.append(Entitlement(order.number, product.sku, product.name, [str(a) for a in product.entitlements],
                                 OrderStatus(order.status).value))
    return found


def entitlements_for(store: Store, actor: Actor, customer_ref: str | int) -> list[Entitlement]:
    """What the customer's orders grant now, per order and product (oldest order first)."""
    require(actor, Action.VIEW_CUSTOMERS)
    with store.read() as session:
        customer = customer_by_ref(session, customer_ref)
        orders = session.exec(select(Order).where(Order.customer_id == customer.id).order_by(col(Order.id))).all()
        return _products(session, [o for o in orders if grants(o)])


def order_entitlements(store: Store, actor: Actor, order_number: str) -> list[Entitlement]:
    """What one order grants now (nothing unless it is active, or a paid one-time order)."""
    require(actor, Action.VIEW_CUSTOMERS)
    with store.read() as session:
        order = order_by_number(session, order_number)
        return _products(session, [order]) if grants(order) else []


def refresh_entitlements(store: Store, actor: Actor, order_number: str) -> list[Entitlement]:
    """Re-issue the order's entitlements: one "entitlements refreshed" event per product that grants access."""
    require(actor, Action.CHANGE_SUBSCRIPTIONS)
    with store.write() as session:
        order = order_by_number(session, order_number)
        if not grants(order):
            raise Conflict(f"{order.number} is {OrderStatus(order.status).value}; only an active order (or a paid "
                           "one-time order) grants access")
        found = _products(session, [order])
        if not found:
            raise Conflict(f"the products of {order.number} grant no access (no entitlements in the catalog)")
        for entitlement in found:
            record_event(session, actor, order.customer_id, EventType.ENTITLEMENTS_REFRESHED,
                         product=entitlement.product, order=order.number, access=entitlement.access)
        return found


def check_login(login: str | None) -> str | None:
    """A membership login as kept (None clears it), or InvalidInput naming "login"."""
    text = (login or "").strip()
    if not text:
        return None
    if len(text) > limits.LOGIN:
        raise InvalidInput(fields={"login": f"is longer than {limits.LOGIN} characters"})
    if not _LOGIN.fullmatch(text):
        raise InvalidInput(fields={"login": "must start with a letter or digit and hold only letters, digits and "
                                            ". _ @ + -"})
    return text


def set_membership_login(store: Store, actor: Actor, customer_ref: str | int, login: str | None) -> str | None:
    """Set (or with an empty value clear) the customer's membership login name; CUSTOMER_EDITED."""
    require(actor, Action.EDIT_CUSTOMERS)
    value = check_login(login)
    with store.write() as session:
        customer = customer_by_ref(session, customer_ref)
        if customer.membership_login == value:
            raise Conflict("the membership login is that already; nothing changed")
        record_event(session, actor, customer.id, EventType.CUSTOMER_EDITED,
                     changes={"membership_login": {"from": customer.membership_login, "to": value}})
        customer.membership_login = value
        customer.updated_at = utcnow()
        session.add(customer)
        return value


def request_password_reset(store: Store, actor: Actor, settings: Settings, customer_ref: str | int,
                           now: datetime | None = None) -> PasswordReset:
    """Email the customer a link to set a new membership password (a password_reset link through the links
    queue: generated by the worker, then emailed), and record PASSWORD_RESET_REQUESTED.

    The event is written right after the link's own transaction (which records LINK_REQUESTED): the
    link request is one call of the links service. No password is ever shown or stored here."""
    require(actor, Action.REQUEST_LINKS)
    with store.read() as session:
        customer = customer_by_ref(session, customer_ref)
        if not customer.membership_login:
            raise Conflict("the customer has no membership login; set one first")
    link = request_link(store, actor, settings, customer_ref, LinkRequest(kind=LinkKind.PASSWORD_RESET, email=True),
                        now=now)
    login = str(link.options.get("login") or customer.membership_login)
    with store.write() as session:
        record_event(session, actor, link.customer_id, EventType.PASSWORD_RESET_REQUESTED, login=login)
    return PasswordReset(link.id, login, link.email_to or "", f"reset link queued for {link.email_to}")


@dataclass(frozen=True)
class PasswordReset:
    link: int
    login: str
    email: str
    message: str

    def to_dict(self) -> dict[str, Any]:
        return {"link": self.link, "login": self.login, "email": self.email, "message": self.message}


@dataclass(frozen=True)
class Membership:
    login: str | None
    email: str | None
    """The primary email a password-reset link would go to."""


def membership(store: Store, actor: Actor, customer_ref: str | int) -> Membership:
    """The customer's membership login and the email a reset link would be sent to."""
    require(actor, Action.VIEW_CUSTOMERS)
    with store.read() as session:
        customer = customer_by_ref(session, customer_ref)
        assert customer.id is not None
        return Membership(customer.membership_login, customer_email(session, customer.id))
