"""The filters and sort of the customer table, parsed from what an agent types.

A `CustomerQuery` is plain data: it is what a saved segment stores, what the
CLI builds from its options and what the table screen edits.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields, replace
from datetime import date
from enum import StrEnum
from typing import Any

from agentdesk.domain import limits
from agentdesk.domain.countries import COUNTRY_CODES
from agentdesk.domain.dates import parse_date
from agentdesk.domain.errors import InvalidInput
from agentdesk.domain.formatting import format_date
from agentdesk.domain.money import CURRENCY_EXPONENTS, format_amount, parse_amount
from agentdesk.domain.numbers import parse_count
from agentdesk.domain.validation import line_problem


class Segment(StrEnum):
    CUSTOMERS = "customers"
    LEADS = "leads"
    ALL = "all"


SEGMENT_TITLES = {Segment.CUSTOMERS: "Customers", Segment.LEADS: "Leads", Segment.ALL: "All"}


class SortKey(StrEnum):
    NEWEST = "newest"
    NAME = "name"
    CREATED = "created"
    LIFETIME_VALUE = "ltv"
    LAST_PAYMENT = "last_payment"


SORT_TITLES = {
    SortKey.NEWEST: "newest first",
    SortKey.NAME: "name",
    SortKey.CREATED: "created",
    SortKey.LIFETIME_VALUE: "lifetime value",
    SortKey.LAST_PAYMENT: "last payment",
}


def segment_of(value: str | Segment) -> Segment:
    try:
        return Segment(str(value).lower())
    except ValueError:
        raise InvalidInput(
            fields={"segment": f"{value!r} is not a segment; choose one of: {', '.join(s.value for s in Segment)}"}
        ) from None


def sort_of(value: str | SortKey) -> SortKey:
    try:
        return SortKey(str(value).lower())
    except ValueError:
        raise InvalidInput(
            fields={"sort": f"{value!r} is not a sort; choose one of: {', '.join(s.value for s in SortKey)}"}
        ) from None


@dataclass(frozen=True)
class CustomerFilters:
    website: str | None = None
    country: str | None = None
    currency: str | None = None
    tag: str | None = None
    created_from: date | None = None
    created_to: date | None = None
    payments_min: int | None = None
    payments_max: int | None = None
    ltv_min: int | None = None
    """Minor units; compared with each customer's lifetime value in its own currency."""
    ltv_max: int | None = None
    blocked: bool | None = None
    active_subscription: bool | None = None

    def to_dict(self) -> dict[str, Any]:
        data = {k: v for k, v in asdict(self).items() if v is not None}
        for key in ("created_from", "created_to"):
            if key in data:
                data[key] = data[key].isoformat()
        return data

    @classmethod
    def from_dict(cls, data: dict) -> CustomerFilters:
        known = {f.name for f in fields(cls)}
        unknown = set(data) - known
        if unknown:
            raise InvalidInput(fields={name: "is not a filter" for name in sorted(unknown)})
        return parse_filters({k: v for k, v in data.items()})

    def is_empty(self) -> bool:
        return not self.to_dict()

    def without(self, name: str) -> CustomerFilters:
        return replace(self, **{name: None})

    def chips(self) -> list[tuple[str, str]]:
        """(filter name, short label) for each active filter, for the summary above the table."""
        currency = self.currency

        def money(minor: int) -> str:
            return format_amount(minor, currency) if currency else _minor_as_text(minor)

        labels = {
            "website": lambda v: f"website {v}",
            "country": lambda v: f"country {v}",
            "currency": lambda v: f"currency {v}",
            "tag": lambda v: f"tag {v}",
            "created_from": lambda v: f"created ≥ {format_date(v)}",
            "created_to": lambda v: f"created ≤ {format_date(v)}",
            "payments_min": lambda v: f"payments ≥ {v}",
            "payments_max": lambda v: f"payments ≤ {v}",
            "ltv_min": lambda v: f"LTV ≥ {money(v)}",
            "ltv_max": lambda v: f"LTV ≤ {money(v)}",
            "blocked": lambda v: "blocked" if v else "not blocked",
            "active_subscription": lambda v: "active subscription" if v else "no active subscription",
        }
        return [(name, labels[name](getattr(self, name))) for name in labels if getattr(self, name) is not None]


def _minor_as_text(value: int) -> str:
    whole, frac = divmod(value, 100)
    return f"{whole:,}.{frac:02d}"


def _parse_bool(value: object, name: str, problems: dict[str, str]) -> bool | None:
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("yes", "y", "true", "1"):
        return True
    if text in ("no", "n", "false", "0"):
        return False
    problems[name] = f"{value!r} is not yes or no"
    return None


def _parse_int(value: object, name: str, problems: dict[str, str]) -> int | None:
    if value is None or value == "":
        return None
    if isinstance(value, int) and not isinstance(value, bool):
        number = value
        if number > limits.INT32_MAX:
            problems[name] = f"must be at most {limits.INT32_MAX:,}"
            return None
    elif isinstance(value, str):
        try:
            return parse_count(value, name, maximum=limits.INT32_MAX)
        except InvalidInput as exc:
            problems.update(exc.fields)
            return None
    else:
        problems[name] = f"{value!r} is not a whole number"
        return None
    if number < 0:
        problems[name] = "must not be negative"
        return None
    return number


def _parse_date(value: object, name: str, problems: dict[str, str]) -> date | None:
    if value is None or value == "":
        return None
    if isinstance(value, date):
        return value
    try:
        return parse_date(str(value), name)
    except InvalidInput as exc:
        problems.update(exc.fields)
        return None


def _parse_money(value: object, name: str, currency: str | None, problems: dict[str, str]) -> int | None:
    if value is None or value == "":
        return None
    if isinstance(value, int) and not isinstance(value, bool):
        if not 0 <= value <= limits.AMOUNT_MAX:
            problems[name] = f"must be from 0 to {limits.AMOUNT_MAX:,} minor units"
            return None
        return value
    try:
        return parse_amount(str(value), currency or "USD", field=name, allow_zero=True)
    except InvalidInput as exc:
        problems.update(exc.fields)
        return None


def _clean_text(value: object, name: str, problems: dict[str, str], limit: int) -> str | None:
    if value is None:
        return None
    problem = line_problem(str(value), limit=limit)
    if problem is not None:
        problems[name] = problem
        return None
    text = " ".join(str(value).split())
    return text or None


def parse_filters(values: dict[str, Any]) -> CustomerFilters:
    """Filters from text (screen, CLI) or stored JSON; every bad value is reported at once."""
    problems: dict[str, str] = {}
    country = _clean_text(values.get("country"), "country", problems, limits.NAME)
    if country is not None:
        country = country.upper()
        if country not in COUNTRY_CODES:
            problems["country"] = f"{values['country']!r} is not an ISO 3166 country code"
    currency = _clean_text(values.get("currency"), "currency", problems, limits.NAME)
    if currency is not None:
        currency = currency.upper()
        if currency not in CURRENCY_EXPONENTS:
            problems["currency"] = f"{values['currency']!r} is not a supported currency code"
            currency = None
    result = CustomerFilters(
        website=_clean_text(values.get("website"), "website", problems, limits.WEBSITE_CODE),
        country=country,
        currency=currency,
        tag=(_clean_text(values.get("tag"), "tag", problems, limits.TAG) or "").lower() or None,
        created_from=_parse_date(values.get("created_from"), "created_from", problems),
        created_to=_parse_date(values.get("created_to"), "created_to", problems),
        payments_min=_parse_int(values.get("payments_min"), "payments_min", problems),
        payments_max=_parse_int(values.get("payments_max"), "payments_max", problems),
        ltv_min=_parse_money(values.get("ltv_min"), "ltv_min", currency, problems),
        ltv_max=_parse_money(values.get("ltv_max"), "ltv_max", currency, problems),
        blocked=_parse_bool(values.get("blocked"), "blocked", problems),
        active_subscription=_parse_bool(values.get("active_subscription"), "active_subscription", problems),
    )
    for low, high, label in (("created_from", "created_to", "created"), ("payments_min", "payments_max", "payments"),
                             ("ltv_min", "ltv_max", "lifetime value")):
        a, b = getattr(result, low), getattr(result, high)
        if a is not None and b is not None and a > b:
            problems[high] = f"the {label} range ends before it starts"
    if problems:
        raise InvalidInput(fields=problems)
    return result


@dataclass(frozen=True)
class CustomerQuery:
    segment: Segment = Segment.CUSTOMERS
    search: str = ""
    filters: CustomerFilters = field(default_factory=CustomerFilters)
    sort: SortKey = SortKey.NEWEST
    descending: bool = True

    def to_dict(self) -> dict[str, Any]:
        return {
            "segment": self.segment.value,
            "search": self.search,
            "filters": self.filters.to_dict(),
            "sort": self.sort.value,
            "descending": self.descending,
        }

    @classmethod
    def from_dict(cls, data: dict) -> CustomerQuery:
        return cls(
            segment=segment_of(data.get("segment", Segment.CUSTOMERS)),
            search=str(data.get("search", "")),
            filters=CustomerFilters.from_dict(data.get("filters") or {}),
            sort=sort_of(data.get("sort", SortKey.NEWEST)),
            descending=bool(data.get("descending", True)),
        )
