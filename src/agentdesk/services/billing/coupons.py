"""Coupons: definitions (admins), redemptions on an order or a customer's account, and what invoices take of them.

A redemption is counted in SQL (`redemptions = redemptions + 1` guarded by the maximum in the same
statement), so two agents racing for a coupon's last redemption never both get it. A redemption stays
open until its coupon's duration is used up (`mark_used` after each invoice it discounted).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import case, update
from sqlmodel import Session, col, select

from agentdesk.db.models import Coupon, CouponRedemption, CustomerEmail, Order, Plan, utcnow
from agentdesk.db.store import Store
from agentdesk.domain import limits
from agentdesk.domain.enums import CouponDuration, CouponKind, JobKind
from agentdesk.domain.errors import Conflict, InvalidInput, NotFound
from agentdesk.domain.money import currency_code, format_amount
from agentdesk.domain.permissions import Action, Actor, require
from agentdesk.domain.pricing import BASIS_POINTS, CouponTerms
from agentdesk.domain.validation import clean_line
from agentdesk.services.customers.lookup import customer_by_ref
from agentdesk.services.jobs import queue as jobs
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
        return f"coupon {coupon.code} is used up"
    return None


def check_coupon(session: Session, code: str, *, currency: str, plan_codes: list[str], now: datetime,
                 check_plans: bool = True) -> Coupon:
    """The coupon named `code` if it can be redeemed on a purchase in `currency` of `plan_codes` (an account
    redemption passes `check_plans=False`: its invoices' lines decide which plans it discounts)."""
    coupon = _coupon_by_code(session, code)
    if coupon is None:
        raise InvalidInput(fields={"coupon": f"no coupon {normal_code(code)!r}"})
    problem = usable_problem(coupon, now)
    if problem:
        raise InvalidInput(fields={"coupon": problem})
    if coupon.kind is CouponKind.FIXED and currency not in (coupon.amounts or {}):
        raise InvalidInput(fields={"coupon": f"coupon {coupon.code} has no amount in {currency}"})
    restricted = list(coupon.plan_codes or [])
    if check_plans and restricted and not set(restricted) & set(plan_codes):
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
    """Open redemptions an invoice takes: the order's, then the account's, each oldest first; one per coupon,
    so a coupon redeemed both on the order and on the account discounts a line once (the account's waits
    for a later invoice)."""
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
    ordered = [row for row in rows if row[0].order_id is not None] + [row for row in rows if row[0].order_id is None]
    seen: set[int | None] = set()
    taken = []
    for redemption, coupon in ordered:
        if coupon.id not in seen:
            seen.add(coupon.id)
            taken.append((redemption, coupon))
    return taken


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



# --- definitions (admins) and account redemptions ------------------------------------------------

CODE = re.compile(r"^[A-Z0-9][A-Z0-9_-]{1,39}$")
PERCENT = re.compile(r"^(?P<whole>\d{1,3})(?:\.(?P<frac>\d{1,2}))?$")
MAX_CYCLES = 1_000


def parse_percent(text: str | None) -> int:
    """"15" or "12.5" (a percent, up to two decimals) → basis points, 0.01 % to 100 %."""
    match = PERCENT.fullmatch((text or "").strip().rstrip("%").strip())
    if not match:
        raise InvalidInput(fields={"percent": f"{text!r} is not a percent; write it like 15 or 12.5"})
    bp = int(match.group("whole")) * 100 + int((match.group("frac") or "0").ljust(2, "0"))
    if not 1 <= bp <= BASIS_POINTS:
        raise InvalidInput(fields={"percent": "must be more than 0 and at most 100"})
    return bp


def _money_map(values: dict[str, int] | None, field: str, allow_zero: bool) -> dict[str, int]:
    clean: dict[str, int] = {}
    for currency, amount in (values or {}).items():
        code = currency_code(currency)
        if not isinstance(amount, int) or isinstance(amount, bool) or amount < 0 or (amount == 0 and not allow_zero):
            raise InvalidInput(fields={field: f"the {code} amount must be a positive whole number of minor units"})
        if amount > limits.AMOUNT_MAX:
            raise InvalidInput(fields={field: f"the {code} amount is too large"})
        if code in clean:
            raise InvalidInput(fields={field: f"{code} is given twice"})
        clean[code] = amount
    return clean


def _positive(value: int | None, field: str, upper: int | None = None) -> int | None:
    if value is None:
        return None
    if not isinstance(value, int) or isinstance(value, bool) or value < 1 or (upper is not None and value > upper):
        raise InvalidInput(fields={field: "must be a whole number from 1" + (f" to {upper}" if upper else "")})
    return value


def create_coupon(store: Store, actor: Actor, code: str, kind: CouponKind | str, *, percent: str | None = None,
                  amounts: dict[str, int] | None = None, duration: CouponDuration | str = CouponDuration.ONCE,
                  cycles: int | None = None, plans: list[str] | None = None, minimum: dict[str, int] | None = None,
                  expires_at: datetime | None = None, max_redemptions: int | None = None,
                  description: str | None = None, now: datetime | None = None) -> CouponInfo:
    """Define a coupon: a percent, or a fixed amount per currency, for once, N cycles or forever."""
    require(actor, Action.MANAGE_CATALOG)
    now = now or utcnow()
    problems: dict[str, str] = {}
    clean_code = normal_code(code)
    if not CODE.fullmatch(clean_code):
        problems["code"] = "2 to 40 letters, digits, '_' or '-', starting with a letter or digit"
    try:
        coupon_kind = CouponKind(str(kind).strip().lower())
    except ValueError:
        raise InvalidInput(fields={"kind": "percent or fixed"}) from None
    try:
        coupon_duration = CouponDuration(str(duration).strip().lower())
    except ValueError:
        raise InvalidInput(fields={"duration": "once, repeating or forever"}) from None
    percent_bp = None
    fixed: dict[str, int] = {}
    if coupon_kind is CouponKind.PERCENT:
        if amounts:
            problems["amount"] = "a percent coupon has no fixed amount"
        percent_bp = parse_percent(percent)
    else:
        if percent is not None:
            problems["percent"] = "a fixed coupon has no percent"
        fixed = _money_map(amounts, "amount", allow_zero=False)
        if not fixed:
            problems["amount"] = "a fixed coupon needs an amount in at least one currency"
    if coupon_duration is CouponDuration.REPEATING:
        if cycles is None:
            problems["cycles"] = "say for how many billing cycles a repeating coupon applies"
        else:
            _positive(cycles, "cycles", MAX_CYCLES)
    elif cycles is not None:
        problems["cycles"] = "only a repeating coupon has a number of cycles"
    floor = _money_map(minimum, "minimum", allow_zero=True)
    if expires_at is not None and expires_at <= now:
        problems["expires"] = "the expiry must be in the future"
    _positive(max_redemptions, "max_redemptions")
    text = clean_line(description, "description", limits.DESCRIPTION)
    plan_codes = sorted({(p or "").strip() for p in plans or [] if (p or "").strip()})
    if problems:
        raise InvalidInput(fields=problems)
    with store.write() as session:
        if plan_codes:
            known = set(session.exec(select(Plan.code).where(col(Plan.code).in_(plan_codes))).all())
            missing = [p for p in plan_codes if p not in known]
            if missing:
                raise InvalidInput(fields={"plans": "no plan " + ", ".join(missing)})
        if _coupon_by_code(session, clean_code) is not None:
            raise Conflict(f"coupon {clean_code} already exists")
        coupon = Coupon(code=clean_code, description=text, kind=coupon_kind, percent_bp=percent_bp, amounts=fixed,
                        duration=coupon_duration,
                        duration_cycles=cycles if coupon_duration is CouponDuration.REPEATING else None,
                        plan_codes=plan_codes, minimum=floor, expires_at=expires_at, max_redemptions=max_redemptions,
                        created_by=actor.agent_id, created_at=now)
        session.add(coupon)
        session.flush()
        return coupon_info(coupon, now)


def list_coupons(store: Store, actor: Actor, include_expired: bool = False) -> list[CouponInfo]:
    """Coupons by code; without `include_expired` only those that can still be redeemed (not expired,
    not used up)."""
    require(actor, Action.VIEW_CUSTOMERS)
    now = utcnow()
    with store.read() as session:
        found = session.exec(select(Coupon).order_by(col(Coupon.code))).all()
        return [coupon_info(c, now) for c in found if include_expired or usable_problem(c, now) is None]


def expire_coupon(store: Store, actor: Actor, code: str) -> CouponInfo:
    """End a coupon now: no new redemptions (those already made keep applying for their duration)."""
    require(actor, Action.MANAGE_CATALOG)
    now = utcnow()
    with store.write() as session:
        coupon = _coupon_by_code(session, code, lock=True)
        if coupon is None:
            raise NotFound(f"no coupon {normal_code(code)!r}")
        if coupon.expired_at is not None or (coupon.expires_at is not None and coupon.expires_at <= now):
            raise Conflict(f"coupon {coupon.code} has already expired")
        coupon.expired_at = now
        session.add(coupon)
        return coupon_info(coupon, now)


def redeem_on_account(store: Store, actor: Actor, customer_ref: str | int, code: str, email: bool = False,
                      now: datetime | None = None) -> CouponInfo:
    """Redeem a coupon on the customer's account: it discounts their next invoices (any order, or account
    charges) in their currency; `email` tells the customer."""
    require(actor, Action.CREATE_ORDERS)
    now = now or utcnow()
    with store.write() as session:
        customer = customer_by_ref(session, customer_ref)
        coupon = check_coupon(session, code, currency=customer.currency, plan_codes=[], now=now, check_plans=False)
        redemption = redeem(session, actor, coupon, customer.id, None, now)
        if email:
            to = session.exec(select(CustomerEmail.address).where(CustomerEmail.customer_id == customer.id,
                                                                  CustomerEmail.is_primary)).first()
            if not to:
                raise InvalidInput(fields={"email": "the customer has no email address"})
            value = describe_value(coupon, customer.currency)
            body = (f"Hello,\n\nCoupon {coupon.code} ({value} off) is now on your account and applies to your next "
                    + ("invoice" if coupon.duration is CouponDuration.ONCE else "invoices")
                    + (f" ({', '.join(coupon.plan_codes)} only)" if coupon.plan_codes else "") + ".\n")
            jobs.enqueue(session, JobKind.EMAIL, f"email-coupon-{redemption.id}",
                         {"to": to, "subject": f"Coupon {coupon.code} added to your account", "body": body,
                          "customer_id": customer.id}, customer_id=customer.id, max_attempts=5)
        return coupon_info(coupon, now)
