"""Coupons: definitions (admins), redemptions on an order or a customer's account, and what invoices take of them.

A redemption is counted in SQL (`redemptions = redemptions + 1` guarded by the maximum in the same
statement), so two agents racing for a coupon's last redemption never both get it. A redemption stays
open until its coupon's duration is used up (`mark_used` after each invoice it discounted).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import case, update
from sqlmodel import Session, col, select

from agentdesk.db.models import Coupon, CouponRedemption, Order, utcnow
from agentdesk.domain.enums import CouponDuration, CouponKind
from agentdesk.domain.errors import InvalidInput
from agentdesk.domain.money import format_amount
from agentdesk.domain.permissions import Actor
from agentdesk.domain.pricing import CouponTerms
from agentdesk.services.timeline.catalog import EventType
from agentdesk.services.timeline.record import record_event


def normal_code(code: str) -> str:
    return (code or "").strip().upper()


def _coupon_by_code(session: Session, code: str, lock: bool = False) -> Coupon | None:
    query = select(Coupon).where(Coupon.code == normal_code(code))
    if lock:
        query = query.with_for_update()
    return session.exec(query).one_or_none()


def usable_problem(coupon: Coupon, now: datetime) -> str | None:
    """Why the coupon cannot be redeemed now (expired or used up), or None."""
    if coupon.expired_at is not None or (coupon.expires_at is not None and coupon.expires_at <= now):
        return f"coupon {coupon.code} has expired"
    if coupon.max_redemptions is not None and coupon.redemptions >= coupon.max_redemptions:
        return f"coupon {coupon.code} is used up ({coupon.max_redemptions} redemptions)"
    return None


def check_coupon(session: Session, code: str, *, currency: str, plan_codes: list[str], now: datetime) -> Coupon:
    """The coupon named `code` if it can be redeemed on a purchase in `currency` of `plan_codes`."""
    coupon = _coupon_by_code(session, code)
    if coupon is None:
        raise InvalidInput(fields={"coupon": f"no coupon {normal_code(code)!r}"})
    problem = usable_problem(coupon, now)
    if problem:
        raise InvalidInput(fields={"coupon": problem})
    if coupon.kind is CouponKind.FIXED and currency not in (coupon.amounts or {}):
        raise InvalidInput(fields={"coupon": f"coupon {coupon.code} has no amount in {currency}"})
    restricted = list(coupon.plan_codes or [])
    if restricted and not set(restricted) & set(plan_codes):
        raise InvalidInput(fields={"coupon": f"coupon {coupon.code} applies only to {', '.join(restricted)}"})
    return coupon


def describe_value(coupon: Coupon, currency: str | None = None) -> str:
    """"15%" or "5.00 USD" (every currency's amount when none is given)."""
    if coupon.kind is CouponKind.PERCENT:
        bp = coupon.percent_bp or 0
        whole, rest = divmod(bp, 100)
        return f"{whole}%" if not rest else f"{whole}.{rest:02d}".rstrip("0") + "%"
    amounts = coupon.amounts or {}
    if currency is not None and currency in amounts:
        return format_amount(amounts[currency], currency)
    return ", ".join(format_amount(v, k) for k, v in sorted(amounts.items()))


def _open_redemption(session: Session, coupon: Coupon, customer_id: int, order_id: int | None) -> bool:
    query = select(CouponRedemption.id).where(CouponRedemption.coupon_id == coupon.id)
    if order_id is not None:
        query = query.where(CouponRedemption.order_id == order_id)
    else:
        query = query.where(CouponRedemption.customer_id == customer_id, col(CouponRedemption.order_id).is_(None),
                            col(CouponRedemption.ended_at).is_(None))
    return session.exec(query).first() is not None


def redeem(session: Session, actor: Actor, coupon: Coupon, customer_id: int, order_id: int | None,
           now: datetime | None = None) -> CouponRedemption:
    """Redeem `coupon` for an order (or, `order_id` None, the customer's next invoices), in the caller's
    transaction, with its COUPON_REDEEMED event."""
    now = now or utcnow()
    if _open_redemption(session, coupon, customer_id, order_id):
        where = "this order" if order_id is not None else "this customer's account"
        raise InvalidInput(fields={"coupon": f"coupon {coupon.code} is already applied to {where}"})
    counted = session.execute(
        update(Coupon)
        .where(col(Coupon.id) == coupon.id,
               (col(Coupon.max_redemptions).is_(None)) | (col(Coupon.redemptions) < col(Coupon.max_redemptions)))
        .values(redemptions=col(Coupon.redemptions) + 1)
        .execution_options(synchronize_session=False)
    )
    if counted.rowcount != 1:  # type: ignore[attr-defined]
        raise InvalidInput(fields={"coupon": f"coupon {coupon.code} is used up"})
    session.expire(coupon, ["redemptions"])
    redemption = CouponRedemption(coupon_id=coupon.id, customer_id=customer_id, order_id=order_id,
                                  agent_id=actor.agent_id, redeemed_at=now)
    session.add(redemption)
    session.flush()
    order_number = session.get(Order, order_id).number if order_id is not None else None  # type: ignore[union-attr]
    record_event(session, actor, customer_id, EventType.COUPON_REDEEMED, coupon=coupon.code, order=order_number,
                 discount=describe_value(coupon), scope="order" if order_id is not None else "account")
    return redemption


def terms_for(coupon: Coupon, currency: str) -> CouponTerms:
    """What pricing needs of the coupon on an invoice in `currency` (a fixed coupon without an amount in
    it gives nothing)."""
    amounts = coupon.amounts or {}
    return CouponTerms(
        code=coupon.code,
        kind=coupon.kind,
        percent_bp=coupon.percent_bp if coupon.kind is CouponKind.PERCENT else None,
        amount=int(amounts.get(currency, 0)) if coupon.kind is CouponKind.FIXED else None,
        plan_codes=tuple(coupon.plan_codes or ()),
        minimum=int((coupon.minimum or {}).get(currency, 0)),
    )


def applicable_redemptions(session: Session, customer_id: int,
                           order_id: int | None) -> list[tuple[CouponRedemption, Coupon]]:
    """Open redemptions an invoice takes: the order's, then the account's, each oldest first."""
    query = (
        select(CouponRedemption, Coupon)
        .join(Coupon, col(Coupon.id) == col(CouponRedemption.coupon_id))
        .where(CouponRedemption.customer_id == customer_id, col(CouponRedemption.ended_at).is_(None))
        .order_by(col(CouponRedemption.redeemed_at), col(CouponRedemption.id))
    )
    if order_id is None:
        query = query.where(col(CouponRedemption.order_id).is_(None))
    else:
        query = query.where((col(CouponRedemption.order_id) == order_id) | col(CouponRedemption.order_id).is_(None))
    rows = [(r, c) for r, c in session.exec(query).all()]
    return [row for row in rows if row[0].order_id is not None] + [row for row in rows if row[0].order_id is None]


def cycle_limit(coupon: Coupon) -> int | None:
    if coupon.duration is CouponDuration.ONCE:
        return 1
    if coupon.duration is CouponDuration.REPEATING:
        return coupon.duration_cycles or 1
    return None


def mark_used(session: Session, redemption: CouponRedemption, coupon: Coupon, now: datetime | None = None) -> None:
    """One more invoice discounted; the redemption ends when its coupon's cycles are used up."""
    now = now or utcnow()
    limit = cycle_limit(coupon)
    applied = col(CouponRedemption.cycles_applied)
    values: dict[str, Any] = {"cycles_applied": applied + 1}
    if limit is not None:
        values["ended_at"] = case((applied + 1 >= limit, now), else_=col(CouponRedemption.ended_at))
    session.flush()
    session.execute(update(CouponRedemption).where(col(CouponRedemption.id) == redemption.id).values(**values)
                    .execution_options(synchronize_session=False))
    session.expire(redemption, ["cycles_applied", "ended_at"])


@dataclass(frozen=True)
class CouponInfo:
    code: str
    description: str | None
    kind: str
    percent_bp: int | None
    amounts: dict[str, int]
    duration: str
    cycles: int | None
    plans: list[str]
    minimum: dict[str, int]
    expires_at: datetime | None
    max_redemptions: int | None
    redemptions: int
    expired: bool
    value: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "code": self.code, "description": self.description, "kind": self.kind, "percent_bp": self.percent_bp,
            "amounts": dict(self.amounts), "duration": self.duration, "cycles": self.cycles,
            "plans": list(self.plans), "minimum": dict(self.minimum),
            "expires_at": self.expires_at.isoformat() if self.expires_at else None,
            "max_redemptions": self.max_redemptions, "redemptions": self.redemptions, "expired": self.expired,
            "value": self.value,
        }


def coupon_info(coupon: Coupon, now: datetime | None = None) -> CouponInfo:
    now = now or utcnow()
    expired = coupon.expired_at is not None or (coupon.expires_at is not None and coupon.expires_at <= now)
    return CouponInfo(
        code=coupon.code, description=coupon.description, kind=coupon.kind.value, percent_bp=coupon.percent_bp,
        amounts={k: int(v) for k, v in (coupon.amounts or {}).items()}, duration=coupon.duration.value,
        cycles=coupon.duration_cycles, plans=list(coupon.plan_codes or []),
        minimum={k: int(v) for k, v in (coupon.minimum or {}).items()}, expires_at=coupon.expires_at,
        max_redemptions=coupon.max_redemptions, redemptions=coupon.redemptions, expired=expired,
        value=describe_value(coupon),
    )

