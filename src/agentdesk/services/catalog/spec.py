"""The catalog file format (TOML): one definition, used by `catalog import` and by the demo builder.

A file is refused whole: every problem is collected and named by where it is
(`products[2].plans[0].interval: must be day, week, month or year`), so an
admin fixes them all before anything is written. Amounts are integers in
minor units of the plan's (or rate's) currency.

    [[products]]
    sku = "FIT-BAND"
    name = "Lumen Band"
    requires_shipping = true
    options = { size = ["S", "M", "L"] }
    plans = [{ code = "fit-band-gbp", name = "Lumen Band", kind = "one_time", price = 5900, currency = "GBP" }]

    [[shipping]]
    country = "GB"        # or "*" for every country not listed
    currency = "GBP"
    amount = 495
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Iterable
from importlib import resources
from pathlib import Path
from typing import Annotated, Any, TypeVar

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictInt, StrictStr, ValidationError

from agentdesk.domain import limits
from agentdesk.domain.enums import BillingTiming, PlanInterval, PlanKind
from agentdesk.domain.errors import InvalidInput
from agentdesk.domain.money import CURRENCY_EXPONENTS
from agentdesk.domain.periods import MAX_INTERVAL_COUNT
from agentdesk.domain.validation import line_problem

MAX_FILE_BYTES = 5 * 2**20
MAX_DAYS = 3650
"""The longest trial, and the largest invoice shift, in days."""
MAX_OPTIONS = 20
MAX_OPTION_VALUES = 100
MAX_PROBLEMS = 20
"""Problems named in one refusal; more are counted, not listed."""

_CODE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")
_COUNTRY = re.compile(r"[A-Z]{2}|\*")
PERIOD_UNITS = [i.value for i in PlanInterval if i is not PlanInterval.ONE_TIME]

Amount = Annotated[StrictInt, Field(ge=0, le=limits.AMOUNT_MAX)]
Days = Annotated[StrictInt, Field(ge=0, le=MAX_DAYS)]


class _Spec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class PlanSpec(_Spec):
    code: StrictStr
    name: StrictStr
    kind: PlanKind = PlanKind.SUBSCRIPTION
    price: Amount
    currency: StrictStr
    interval: StrictStr | None = None
    """day, week, month or year; one_time (the default) for a one-time plan."""
    interval_count: Annotated[StrictInt, Field(ge=1)] = 1
    cycles: Annotated[StrictInt, Field(ge=1, le=limits.INT32_MAX)] | None = None
    """Billing cycles before the order completes; absent: until cancelled."""
    trial_days: Days = 0
    trial_price: Amount = 0
    setup_fee: Amount = 0
    billing_timing: BillingTiming = BillingTiming.ADVANCE
    metered_unit_price: Amount | None = None
    invoice_issue_days: Days = 0
    invoice_due_days: Days = 0
    commission_rate_bp: Annotated[StrictInt, Field(ge=0, le=10_000)] | None = None
    active: StrictBool = True

    @property
    def period(self) -> PlanInterval:
        """The interval as its enum (valid once the document is checked)."""
        return PlanInterval(self.interval or PlanInterval.ONE_TIME.value)


class ProductSpec(_Spec):
    sku: StrictStr
    name: StrictStr
    description: StrictStr | None = None
    requires_shipping: StrictBool = False
    options: dict[StrictStr, list[StrictStr]] = {}
    entitlements: list[StrictStr] = []
    """Access names an active order of this product grants, such as "hd-streaming"."""
    active: StrictBool = True
    plans: list[PlanSpec] = []


class ShippingSpec(_Spec):
    country: StrictStr
    currency: StrictStr
    amount: Amount


class WebsiteSpec(_Spec):
    """A website the demo builder creates (`catalog import` leaves websites as they are)."""

    code: StrictStr
    name: StrictStr
    url: StrictStr
    currency: StrictStr


class CatalogSpec(_Spec):
    websites: list[WebsiteSpec] = []
    products: list[ProductSpec] = []
    shipping: list[ShippingSpec] = []


M = TypeVar("M", bound=_Spec)


# --- reading and checking -------------------------------------------------------------------------------


def _where(loc: Iterable[int | str]) -> str:
    """('products', 2, 'plans', 0, 'interval') → products[2].plans[0].interval"""
    text = ""
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text or "file"


def _choices(values: Iterable[str]) -> str:
    items = list(values)
    return ", ".join(items[:-1]) + f" or {items[-1]}" if len(items) > 1 else items[0]


def _message(error: Any) -> str:
    kind, ctx = error["type"], error.get("ctx") or {}
    if kind == "missing":
        return "is required"
    if kind == "extra_forbidden":
        return "is not a field of the catalog format"
    if kind == "enum":
        return "must be " + _choices(part.strip().strip("'") for part in re.split(r",| or ", ctx["expected"]))
    if kind in ("int_type", "int_from_float", "int_parsing"):
        return "must be a whole number" + (" (minor units)" if error["loc"][-1] in _AMOUNT_FIELDS else "")
    if kind in ("greater_than_equal", "less_than_equal"):
        low, high = _BOUNDS.get(error["loc"][-1], (None, None))
        if low is not None and high is not None:
            return f"must be from {low} to {high}"
        if "ge" in ctx:
            return "must not be negative" if ctx["ge"] == 0 else f"must be at least {ctx['ge']}"
        return f"must be at most {ctx['le']}"
    if kind == "string_type":
        return "must be text"
    if kind == "bool_type":
        return "must be true or false"
    if kind in ("list_type", "dict_type", "model_type"):
        return {"list_type": "must be a list", "dict_type": "must be a table",
                "model_type": "must be a table"}[kind]
    return str(error.get("msg", "is not valid"))


_AMOUNT_FIELDS = {"price", "trial_price", "setup_fee", "metered_unit_price", "amount"}
_BOUNDS: dict[object, tuple[int, int]] = {
    "trial_days": (0, MAX_DAYS), "invoice_issue_days": (0, MAX_DAYS), "invoice_due_days": (0, MAX_DAYS),
    "commission_rate_bp": (0, 10_000),
}


def _line(problems: dict[str, str], where: str, value: str | None, limit: int, required: bool = True) -> None:
    if value is None or not value.strip():
        if required:
            problems[where] = "must not be empty"
        return
    problem = line_problem(value, limit=limit)
    if problem:
        problems[where] = problem


def _code(problems: dict[str, str], where: str, value: str, limit: int) -> None:
    if not _CODE.fullmatch(value):
        problems[where] = "must start with a letter or digit and hold only letters, digits, '.', '_' and '-'"
    elif len(value) > limit:
        problems[where] = f"is longer than {limit} characters"


def _currency(problems: dict[str, str], where: str, value: str) -> None:
    if value not in CURRENCY_EXPONENTS:
        problems[where] = f"{value[:10]!r} is not a supported ISO 4217 currency code (upper case, like USD)"


def _check_plan(problems: dict[str, str], at: str, plan: PlanSpec) -> None:
    _code(problems, f"{at}.code", plan.code, limits.PLAN_CODE)
    _line(problems, f"{at}.name", plan.name, limits.NAME)
    _currency(problems, f"{at}.currency", plan.currency)
    one_time = plan.kind is PlanKind.ONE_TIME
    if one_time:
        if plan.interval not in (None, PlanInterval.ONE_TIME.value):
            problems[f"{at}.interval"] = "must be one_time (or left out) for a one-time plan"
        refused = {"cycles": plan.cycles is not None, "trial_days": plan.trial_days > 0,
                   "trial_price": plan.trial_price > 0, "setup_fee": plan.setup_fee > 0,
                   "billing_timing": plan.billing_timing is BillingTiming.ARREARS,
                   "metered_unit_price": plan.metered_unit_price is not None,
                   "interval_count": plan.interval_count != 1}
        for name, bad in refused.items():
            if bad:
                problems[f"{at}.{name}"] = "a one-time plan has no billing period; leave it out"
        return
    if plan.interval not in PERIOD_UNITS:
        hint = ' (a one-time plan says kind = "one_time")' if plan.interval == PlanInterval.ONE_TIME.value else ""
        problems[f"{at}.interval"] = "must be " + _choices(PERIOD_UNITS) + hint
    else:
        high = MAX_INTERVAL_COUNT[plan.period]
        if plan.interval_count > high:
            problems[f"{at}.interval_count"] = f"must be from 1 to {high} for a {plan.interval} period"
    if plan.trial_price and not plan.trial_days:
        problems[f"{at}.trial_price"] = "needs trial_days (a trial price is charged for the trial)"
    if plan.kind is PlanKind.TRIAL_ONLY:
        if not plan.trial_days:
            problems[f"{at}.trial_days"] = "a trial-only plan needs a trial of at least one day"
        if plan.cycles is not None:
            problems[f"{at}.cycles"] = "a trial-only plan ends with its trial; leave it out"
    if plan.billing_timing is BillingTiming.ADVANCE and plan.metered_unit_price is not None:
        problems[f"{at}.metered_unit_price"] = "only a plan billed in arrears bills metered usage"


def _check_product(problems: dict[str, str], at: str, product: ProductSpec) -> None:
    _code(problems, f"{at}.sku", product.sku, limits.SKU)
    _line(problems, f"{at}.name", product.name, limits.NAME)
    _line(problems, f"{at}.description", product.description, limits.PRODUCT_DESCRIPTION, required=False)
    if len(product.options) > MAX_OPTIONS:
        problems[f"{at}.options"] = f"at most {MAX_OPTIONS} options"
    for option, values in product.options.items():
        where = f"{at}.options.{option}"
        _line(problems, where, option, limits.NAME)
        if not values:
            problems[where] = "needs at least one value"
        elif len(values) > MAX_OPTION_VALUES:
            problems[where] = f"at most {MAX_OPTION_VALUES} values"
        elif len(set(values)) != len(values):
            problems[where] = "lists a value twice"
        for n, value in enumerate(values):
            _line(problems, f"{where}[{n}]", value, limits.NAME)
    if len(product.entitlements) > MAX_OPTION_VALUES:
        problems[f"{at}.entitlements"] = f"at most {MAX_OPTION_VALUES} entitlements"
    elif len(set(product.entitlements)) != len(product.entitlements):
        problems[f"{at}.entitlements"] = "lists an entitlement twice"
    for n, name in enumerate(product.entitlements):
        _code(problems, f"{at}.entitlements[{n}]", name, limits.NAME)


def _validate(model: type[M], data: object, at: tuple[int | str, ...], problems: dict[str, str]) -> M | None:
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        for error in exc.errors():
            problems.setdefault(_where(at + tuple(error["loc"])), _message(error))
        return None


def _entries(document: dict[str, Any], name: str, problems: dict[str, str]) -> list[Any]:
    value = document.get(name, [])
    if not isinstance(value, list):
        problems[name] = f"must be a list of tables ([[{name}]])"
        return []
    return value


def check_catalog(document: dict[str, Any]) -> CatalogSpec:
    """The parsed TOML `document` as a `CatalogSpec`, or `InvalidInput` naming every bad entry and field.

    Each product, plan, shipping rate and website is checked on its own, so one refusal names them all."""
    problems: dict[str, str] = {}
    for name in document:
        if name not in CatalogSpec.model_fields:
            problems[name] = "is not a field of the catalog format (websites, products, shipping)"
    products: list[ProductSpec] = []
    skus: dict[str, str] = {}
    codes: dict[str, str] = {}
    for p, entry in enumerate(_entries(document, "products", problems)):
        at = f"products[{p}]"
        raw_plans = entry.get("plans", []) if isinstance(entry, dict) else []
        if not isinstance(raw_plans, list):
            problems[f"{at}.plans"] = "must be a list of plans"
            raw_plans = []
        plans: list[PlanSpec] = []
        for n, raw in enumerate(raw_plans):
            where = f"{at}.plans[{n}]"
            plan = _validate(PlanSpec, raw, ("products", p, "plans", n), problems)
            if plan is None:
                continue
            _check_plan(problems, where, plan)
            if plan.code in codes:
                problems[f"{where}.code"] = f"{plan.code} is also {codes[plan.code]}"
            codes.setdefault(plan.code, where)
            plans.append(plan)
        base = {k: v for k, v in entry.items() if k != "plans"} if isinstance(entry, dict) else entry
        product = _validate(ProductSpec, base, ("products", p), problems)
        if product is None:
            continue
        _check_product(problems, at, product)
        if product.sku in skus:
            problems[f"{at}.sku"] = f"{product.sku} is also {skus[product.sku]}"
        skus.setdefault(product.sku, at)
        products.append(product.model_copy(update={"plans": plans}))
    rates: dict[tuple[str, str], str] = {}
    shipping: list[ShippingSpec] = []
    for n, entry in enumerate(_entries(document, "shipping", problems)):
        at = f"shipping[{n}]"
        rate = _validate(ShippingSpec, entry, ("shipping", n), problems)
        if rate is None:
            continue
        if not _COUNTRY.fullmatch(rate.country):
            problems[f"{at}.country"] = 'must be a two-letter country code in capitals (like US) or "*"'
        _currency(problems, f"{at}.currency", rate.currency)
        key = (rate.country, rate.currency)
        if key in rates:
            problems[f"{at}.country"] = f"{rate.country} in {rate.currency} is also {rates[key]}"
        rates.setdefault(key, at)
        shipping.append(rate)
    websites: list[WebsiteSpec] = []
    for n, entry in enumerate(_entries(document, "websites", problems)):
        at = f"websites[{n}]"
        site = _validate(WebsiteSpec, entry, ("websites", n), problems)
        if site is None:
            continue
        _code(problems, f"{at}.code", site.code, limits.WEBSITE_CODE)
        _line(problems, f"{at}.name", site.name, limits.NAME)
        _line(problems, f"{at}.url", site.url, 400)
        _currency(problems, f"{at}.currency", site.currency)
        websites.append(site)
    if problems:
        _refuse(problems)
    return CatalogSpec(websites=websites, products=products, shipping=shipping)


def _refuse(problems: dict[str, str]) -> Any:
    shown = dict(list(problems.items())[:MAX_PROBLEMS])
    more = len(problems) - len(shown)
    message = "; ".join(f"{where}: {why}" for where, why in shown.items())
    if more:
        message += f"; and {more} more"
    raise InvalidInput(f"catalog refused, nothing imported: {message}", fields=problems)


def parse_catalog(data: bytes) -> CatalogSpec:
    """A catalog from the bytes of a TOML file (UTF-8)."""
    if len(data) > MAX_FILE_BYTES:
        raise InvalidInput(fields={"file": f"is larger than {MAX_FILE_BYTES // 2**20} MiB"})
    try:
        document = tomllib.loads(data.decode("utf-8"))
    except UnicodeDecodeError:
        raise InvalidInput(fields={"file": "is not UTF-8 text"}) from None
    except tomllib.TOMLDecodeError as exc:
        raise InvalidInput(fields={"file": f"is not valid TOML ({exc})"}) from None
    return check_catalog(document)


def load_catalog(path: str | Path) -> CatalogSpec:
    """The catalog in the TOML file at `path`."""
    try:
        with open(path, "rb") as fh:
            data = fh.read(MAX_FILE_BYTES + 1)
    except FileNotFoundError:
        raise InvalidInput(fields={"file": f"{str(path)[:200]} does not exist"}) from None
    except IsADirectoryError:
        raise InvalidInput(fields={"file": f"{str(path)[:200]} is a directory"}) from None
    except OSError as exc:
        raise InvalidInput(fields={"file": f"cannot be read ({exc.strerror})"}) from None
    return parse_catalog(data)


DEMO_CATALOG = "catalog.toml"


def demo_catalog() -> CatalogSpec:
    """The packaged demo catalog (agentdesk/demo/data/catalog.toml)."""
    return parse_catalog(resources.files("agentdesk.demo.data").joinpath(DEMO_CATALOG).read_bytes())
