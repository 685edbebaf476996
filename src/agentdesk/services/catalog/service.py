"""The catalog: products, their plans (price points) and shipping rates; read by everyone, imported by admins.

An import is an upsert by SKU, plan code and (country, currency) in one
transaction, and never deletes: a plan left out of the file stays as it was
(set `active = false` to retire it). Orders hold their own copy of a plan's
terms, so changing a plan here never reprices an existing order.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import case, func, or_
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from agentdesk.db.models import Plan, Product, ShippingRate
from agentdesk.db.store import Store
from agentdesk.domain import limits
from agentdesk.domain.enums import BillingTiming, PlanInterval, PlanKind
from agentdesk.domain.errors import Conflict, InvalidInput, NotFound
from agentdesk.domain.money import currency_code
from agentdesk.domain.permissions import Action, Actor, require
from agentdesk.services.catalog.spec import CatalogSpec, PlanSpec, ProductSpec, load_catalog

SEARCH_LIMIT = 100


@dataclass(frozen=True)
class PlanInfo:
    id: int
    code: str
    name: str
    kind: PlanKind
    price: int
    currency: str
    interval: PlanInterval
    interval_count: int
    cycles: int | None
    trial_days: int
    trial_price: int
    setup_fee: int
    billing_timing: BillingTiming
    metered_unit_price: int | None
    invoice_issue_days: int
    invoice_due_days: int
    commission_rate_bp: int | None
    active: bool
    product_sku: str
    product_name: str
    requires_shipping: bool

    def to_dict(self) -> dict[str, Any]:
        return {k: (v.value if isinstance(v, (PlanKind, PlanInterval, BillingTiming)) else v)
                for k, v in asdict(self).items()}


@dataclass(frozen=True)
class ProductInfo:
    id: int
    sku: str
    name: str
    description: str | None
    requires_shipping: bool
    options: dict[str, list[str]]
    active: bool
    plans: list[PlanInfo] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "sku": self.sku, "name": self.name, "description": self.description,
                "requires_shipping": self.requires_shipping, "options": self.options, "active": self.active,
                "plans": [p.to_dict() for p in self.plans]}


@dataclass(frozen=True)
class ImportReport:
    products_added: int = 0
    products_updated: int = 0
    """Existing products whose details changed (unchanged ones are not counted)."""
    plans_added: int = 0
    plans_updated: int = 0
    """Existing plans whose terms changed."""
    shipping_rates: int = 0
    """Shipping rates added or changed."""

    def to_dict(self) -> dict[str, int]:
        return asdict(self)


def plan_info(plan: Plan, product: Product) -> PlanInfo:
    return PlanInfo(
        id=plan.id, code=plan.code, name=plan.name, kind=plan.kind, price=plan.price, currency=plan.currency,
        interval=plan.interval, interval_count=plan.interval_count, cycles=plan.cycles, trial_days=plan.trial_days,
        trial_price=plan.trial_price, setup_fee=plan.setup_fee, billing_timing=plan.billing_timing,
        metered_unit_price=plan.metered_unit_price, invoice_issue_days=plan.invoice_issue_days,
        invoice_due_days=plan.invoice_due_days, commission_rate_bp=plan.commission_rate_bp, active=plan.active,
        product_sku=product.sku, product_name=product.name, requires_shipping=product.requires_shipping,
    )


# --- reading ---------------------------------------------------------------------------------------------


def list_catalog(store: Store, actor: Actor, include_inactive: bool = False) -> list[ProductInfo]:
    """Every product with its plans, in the order they were added (active ones only unless asked)."""
    require(actor, Action.VIEW_CUSTOMERS)
    with store.read() as session:
        products = session.exec(select(Product).order_by(col(Product.id))).all()
        plans = session.exec(select(Plan).order_by(col(Plan.id))).all()
    by_product: dict[int, list[Plan]] = {}
    for plan in plans:
        by_product.setdefault(plan.product_id, []).append(plan)
    result = []
    for product in products:
        if not (product.active or include_inactive):
            continue
        shown = [plan_info(p, product) for p in by_product.get(product.id, []) if p.active or include_inactive]
        result.append(ProductInfo(
            id=product.id, sku=product.sku, name=product.name, description=product.description,
            requires_shipping=product.requires_shipping, options=dict(product.options or {}), active=product.active,
            plans=shown,
        ))
    return result


def search_plans(store: Store, actor: Actor, text: str, currency: str | None = None,
                 limit: int = 20) -> list[PlanInfo]:
    """Active plans of active products whose code, name, product name or SKU holds `text` (any case):
    those starting with it first, then by product and plan name. Empty text: every active plan."""
    require(actor, Action.VIEW_CUSTOMERS)
    wanted = " ".join(str(text or "").split()).lower()[: limits.SEARCH]
    limit = max(1, min(int(limit), SEARCH_LIMIT))
    fields = [func.lower(col(Plan.code)), func.lower(col(Plan.name)), func.lower(col(Product.name)),
              func.lower(col(Product.sku))]
    query = (
        select(Plan, Product).join(Product, col(Product.id) == col(Plan.product_id))
        .where(col(Plan.active), col(Product.active))
    )
    if currency:
        query = query.where(col(Plan.currency) == currency_code(currency))
    if wanted:
        query = query.where(or_(*(f.contains(wanted, autoescape=True) for f in fields)))
        prefix = or_(*(f.startswith(wanted, autoescape=True) for f in fields))
        query = query.order_by(case((prefix, 0), else_=1))
    query = query.order_by(col(Product.name), col(Plan.name), col(Plan.code)).limit(limit)
    with store.read() as session:
        return [plan_info(plan, product) for plan, product in session.exec(query).all()]


def plan_by_code(session: Session, code: str) -> Plan:
    """The active plan `code` (of an active product), or NotFound."""
    row = session.exec(
        select(Plan).join(Product, col(Product.id) == col(Plan.product_id))
        .where(col(Plan.code) == str(code or "").strip(), col(Plan.active), col(Product.active))
    ).first()
    if row is None:
        raise NotFound(f"no plan {str(code)[: limits.PLAN_CODE]}")
    return row


def shipping_rate(session: Session, country: str, currency: str) -> int | None:
    """What shipping costs to `country` in `currency`: its own rate, else the "*" rate, else None."""
    rows = session.exec(
        select(ShippingRate).where(col(ShippingRate.currency) == currency.upper(),
                                   col(ShippingRate.country).in_([(country or "").upper(), "*"]))
    ).all()
    rates = {r.country: r.amount for r in rows}
    return rates.get((country or "").upper(), rates.get("*"))


# --- importing -------------------------------------------------------------------------------------------


def import_catalog(store: Store, actor: Actor, path: str | Path) -> ImportReport:
    """Upsert the catalog file at `path` (admins): all of it, or nothing when any entry is bad."""
    require(actor, Action.MANAGE_CATALOG)
    spec = load_catalog(path)
    try:
        with store.write() as session:
            return write_catalog(session, spec)
    except IntegrityError:
        raise Conflict("the catalog was changed by someone else meanwhile; import the file again") from None


def _collapsed(text: str) -> str:
    return " ".join(text.split())


def _product_values(spec: ProductSpec) -> dict[str, Any]:
    return {"name": _collapsed(spec.name), "description": _collapsed(spec.description or "") or None,
            "requires_shipping": spec.requires_shipping,
            "entitlements": list(spec.entitlements),
            "options": {_collapsed(k): [_collapsed(v) for v in vs] for k, vs in spec.options.items()},
            "active": spec.active}


def _plan_values(spec: PlanSpec) -> dict[str, Any]:
    return {
        "name": _collapsed(spec.name), "kind": spec.kind, "price": spec.price, "currency": spec.currency,
        "interval": spec.period, "interval_count": spec.interval_count, "cycles": spec.cycles,
        "trial_days": spec.trial_days, "trial_price": spec.trial_price, "setup_fee": spec.setup_fee,
        "billing_timing": spec.billing_timing, "metered_unit_price": spec.metered_unit_price,
        "invoice_issue_days": spec.invoice_issue_days, "invoice_due_days": spec.invoice_due_days,
        "commission_rate_bp": spec.commission_rate_bp, "active": spec.active,
    }


def _apply(row: Any, values: dict[str, Any]) -> bool:
    """Set `values` on `row`; whether anything changed."""
    changed = False
    for name, value in values.items():
        if getattr(row, name) != value:
            setattr(row, name, value)
            changed = True
    return changed


def write_catalog(session: Session, spec: CatalogSpec) -> ImportReport:
    """Upsert a checked catalog inside the caller's transaction (the import, and the demo builder).

    Refuses (InvalidInput, nothing kept once the caller's transaction rolls back) a plan code that
    already belongs to another product."""
    skus = [p.sku for p in spec.products]
    codes = [plan.code for p in spec.products for plan in p.plans]
    products = {p.sku: p for p in session.exec(select(Product).where(col(Product.sku).in_(skus)))} if skus else {}
    plans = {p.code: p for p in session.exec(select(Plan).where(col(Plan.code).in_(codes)))} if codes else {}
    owners = {p.id: p.sku for p in products.values()}
    problems = {}
    for n, product_spec in enumerate(spec.products):
        for m, plan_spec in enumerate(product_spec.plans):
            existing = plans.get(plan_spec.code)
            if existing is not None and owners.get(existing.product_id) != product_spec.sku:
                other = session.get(Product, existing.product_id)
                problems[f"products[{n}].plans[{m}].code"] = (
                    f"{plan_spec.code} is a plan of product {other.sku if other else existing.product_id}; "
                    "a plan cannot move to another product")
    if problems:
        raise InvalidInput("catalog refused, nothing imported: " + "; ".join(f"{k}: {v}" for k, v in
                                                                            problems.items()), fields=problems)
    counts = {"products_added": 0, "products_updated": 0, "plans_added": 0, "plans_updated": 0, "shipping_rates": 0}
    for product_spec in spec.products:
        values = _product_values(product_spec)
        product = products.get(product_spec.sku)
        if product is None:
            product = Product(sku=product_spec.sku, **values)
            session.add(product)
            session.flush()
            counts["products_added"] += 1
        elif _apply(product, values):
            counts["products_updated"] += 1
        for plan_spec in product_spec.plans:
            plan_values = _plan_values(plan_spec)
            plan = plans.get(plan_spec.code)
            if plan is None:
                session.add(Plan(product_id=product.id, code=plan_spec.code, **plan_values))
                counts["plans_added"] += 1
            elif _apply(plan, plan_values):
                counts["plans_updated"] += 1
    existing_rates = {(r.country, r.currency): r for r in session.exec(select(ShippingRate))}
    for rate_spec in spec.shipping:
        rate = existing_rates.get((rate_spec.country, rate_spec.currency))
        if rate is None:
            session.add(ShippingRate(country=rate_spec.country, currency=rate_spec.currency, amount=rate_spec.amount))
            counts["shipping_rates"] += 1
        elif rate.amount != rate_spec.amount:
            rate.amount = rate_spec.amount
            counts["shipping_rates"] += 1
    session.flush()
    return ImportReport(**counts)
