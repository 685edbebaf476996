"""Finding customers: segments, filters, search through the trigram index, keyset pages.

Pages are keyed on the sort value plus the customer id, never OFFSET, so a
page 900,000 rows deep costs what the first one does, and rows inserted while
an agent scrolls never make another row appear twice or go missing. With a
search, exact matches on id, email or phone open the first page; every other
match follows in the chosen order.
"""

from __future__ import annotations

import base64
import binascii
import json
import threading
import time as clock
import weakref
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy import and_, exists, false, func, not_, select, true, union
from sqlalchemy.orm import Mapped
from sqlalchemy.sql import ColumnElement, CompoundSelect, Select
from sqlalchemy.sql.elements import UnaryExpression
from sqlmodel import Session, col

from agentdesk.db import search_index
from agentdesk.db.models import Address, Customer, CustomerEmail, CustomerPhone, CustomerTag, Order, Website
from agentdesk.db.store import Store
from agentdesk.domain import limits
from agentdesk.domain.enums import OrderKind, OrderStatus
from agentdesk.domain.errors import InvalidInput
from agentdesk.domain.permissions import Action, Actor, require
from agentdesk.domain.validation import clean_line, phone_digits
from agentdesk.services.customers.filters import (
    SEGMENT_TITLES,  # noqa: F401  (re-exported for the screens)
    CustomerFilters,
    CustomerQuery,
    Segment,
    SortKey,
    segment_of,
    sort_of,
)

MAX_PAGE = 500
EXACT_COUNT_LIMIT = 10_000
"""Past this many matches a search's row count is shown as "10,000+"."""


@dataclass(frozen=True)
class CustomerRow:
    id: int
    external_id: str
    first_name: str
    last_name: str
    email: str | None
    phone: str | None
    organization: str | None
    country: str | None
    payment_count: int
    lifetime_value: int
    currency: str
    created_at: datetime
    last_payment_at: datetime | None
    blocked: bool
    exact: bool = False
    """An exact id/email/phone match, listed ahead of the ordered matches."""

    @property
    def name(self) -> str:
        return f"{self.first_name} {self.last_name}".strip()

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.external_id,
            "name": self.name,
            "first_name": self.first_name,
            "last_name": self.last_name,
            "email": self.email,
            "phone": self.phone,
            "organization": self.organization,
            "country": self.country,
            "payment_count": self.payment_count,
            "lifetime_value": self.lifetime_value,
            "currency": self.currency,
            "created_at": self.created_at.isoformat(),
            "last_payment_at": self.last_payment_at.isoformat() if self.last_payment_at else None,
            "blocked": self.blocked,
        }


Cursor = tuple[Any, ...]
"""The sort values of one row, ending with its id: where the next page starts."""


@dataclass(frozen=True)
class CustomerPage:
    rows: list[CustomerRow]
    more: bool
    """Whether rows remain beyond this page in the direction it was read."""



# --- the query ----------------------------------------------------------------------------


def _sort_columns(sort: SortKey) -> list[Mapped[Any]]:
    columns: dict[SortKey, list[Mapped[Any]]] = {
        SortKey.NEWEST: [col(Customer.id)],
        SortKey.NAME: [col(Customer.last_name), col(Customer.first_name), col(Customer.id)],
        SortKey.CREATED: [col(Customer.created_at), col(Customer.id)],
        SortKey.LIFETIME_VALUE: [col(Customer.lifetime_value), col(Customer.id)],
        SortKey.LAST_PAYMENT: [col(Customer.last_payment_at), col(Customer.id)],
    }
    return columns[sort]


_CURSOR_FIELDS = {
    SortKey.NEWEST: ("id",),
    SortKey.NAME: ("last_name", "first_name", "id"),
    SortKey.CREATED: ("created_at", "id"),
    SortKey.LIFETIME_VALUE: ("lifetime_value", "id"),
    SortKey.LAST_PAYMENT: ("last_payment_at", "id"),
}


def cursor_for(row: CustomerRow, sort: SortKey) -> Cursor:
    return tuple(getattr(row, name) for name in _CURSOR_FIELDS[sort])


CURSOR_LIMIT = 2_000
"""The longest cursor text taken: two names at their stored limits, a time and an id fit with room to spare."""

_DATETIME_FIELDS = {"created_at", "last_payment_at"}


def next_cursor(page: CustomerPage, query: CustomerQuery) -> str | None:
    """Where the page after `page` starts, as text a script hands back (`--after`); None on the last page.

    A page of exact matches only points at the start of the other matches (exact rows lead the first page
    and are never repeated, whatever their place in the sort)."""
    if not page.more:
        return None
    rest = [row for row in page.rows if not row.exact]
    values = None if not rest else [_plain(v) for v in cursor_for(rest[-1], sort_of(query.sort))]
    data = {"sort": sort_of(query.sort).value, "desc": query.descending, "after": values}
    return base64.urlsafe_b64encode(json.dumps(data, separators=(",", ":")).encode()).decode().rstrip("=")


def _plain(value: object) -> object:
    return value.isoformat() if isinstance(value, datetime) else value


def read_cursor(text: str, query: CustomerQuery) -> tuple[Cursor | None, bool]:
    """`(after, include_exact)` for `fetch_page` from a `next_cursor` of the same query; InvalidInput otherwise."""
    sort = sort_of(query.sort)

    def refuse(why: str) -> InvalidInput:
        return InvalidInput(fields={"after": f"not a cursor of this search ({why}); pass the 'next' it printed"})

    if not text or len(text) > CURSOR_LIMIT or not text.isascii():
        raise refuse("unreadable")
    try:
        data = json.loads(base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)))
    except (ValueError, binascii.Error) as exc:
        raise refuse("unreadable") from exc
    if not isinstance(data, dict) or set(data) != {"sort", "desc", "after"}:
        raise refuse("unreadable")
    if data["sort"] != sort.value or data["desc"] is not query.descending:
        raise refuse("it belongs to another sort or order")
    if data["after"] is None:
        return None, False
    values = data["after"]
    fields = _CURSOR_FIELDS[sort]
    if not isinstance(values, list) or len(values) != len(fields):
        raise refuse("unreadable")
    return tuple(_cursor_value(name, value, refuse) for name, value in zip(fields, values, strict=True)), True


def _cursor_value(name: str, value: object, refuse: Any) -> object:
    if name in _DATETIME_FIELDS:
        if value is None and name == "last_payment_at":
            return None
        try:
            if isinstance(value, str):
                return datetime.fromisoformat(value)
        except ValueError:
            pass
    elif name in ("id", "lifetime_value"):
        if type(value) is int and (limits.in_id_range(value) if name == "id" else abs(value) <= limits.AMOUNT_MAX):
            return value
    elif isinstance(value, str) and len(value) <= limits.NAME and value.isprintable():
        return value
    raise refuse(f"bad {name}")


def _order_by(sort: SortKey, descending: bool, nulls_last: bool = True) -> list[UnaryExpression[Any]]:
    """ORDER BY for the sort. Never-paid customers come after the paid ones in either
    direction (`nulls_last`); reading a page backward flips that along with the direction."""
    columns = _sort_columns(sort)
    ordered = [c.desc() if descending else c.asc() for c in columns]
    if sort is SortKey.LAST_PAYMENT:
        ordered[0] = ordered[0].nulls_last() if nulls_last else ordered[0].nulls_first()
    return ordered


def _after_levels(sort: SortKey, descending: bool, cursor: Cursor, nulls_last: bool = True) -> list[ColumnElement]:
    """The rows after `cursor`, as conditions to read one after another.

    `(a, b) < (x, y)` would say it in one, but SQLite seeks only on `a` and then
    skips every row tied with `x`, which deep in a sort by lifetime value means
    hundreds of thousands of leads at 0. So the rest of the row's tie group comes
    first (`a = x AND b < y`, a seek on both), then everything beyond (`a < x`),
    and, for the last-payment sort, the never-paid block where it belongs.
    """
    columns = _sort_columns(sort)

    def beyond(column: Mapped[Any], value: object) -> ColumnElement[bool]:
        return column < value if descending else column > value

    if sort is SortKey.LAST_PAYMENT:
        value, last_id = cursor
        paid_at, customer_id = col(Customer.last_payment_at), col(Customer.id)
        if value is None:
            levels = [and_(paid_at.is_(None), beyond(customer_id, last_id))]
            return levels if nulls_last else [*levels, paid_at.is_not(None)]
        levels = [and_(paid_at == value, beyond(customer_id, last_id)), beyond(paid_at, value)]
        return [*levels, paid_at.is_(None)] if nulls_last else levels
    levels = []
    for depth in range(len(columns) - 1, -1, -1):
        tied = [columns[i] == cursor[i] for i in range(depth)]
        levels.append(and_(*tied, beyond(columns[depth], cursor[depth])))
    return levels


def _row_select() -> Select[Any]:
    """The columns of a `CustomerRow`, each labelled with its field's name."""
    primary_email = (
        select(col(CustomerEmail.address))
        .where(col(CustomerEmail.customer_id) == col(Customer.id), col(CustomerEmail.is_primary))
        .limit(1)
        .scalar_subquery()
    )
    primary_phone = (
        select(col(CustomerPhone.number))
        .where(col(CustomerPhone.customer_id) == col(Customer.id), col(CustomerPhone.is_primary))
        .limit(1)
        .scalar_subquery()
    )
    country = (
        select(col(Address.country))
        .where(col(Address.customer_id) == col(Customer.id))
        .order_by(col(Address.is_primary).desc(), col(Address.id))
        .limit(1)
        .scalar_subquery()
    )
    return select(
        col(Customer.id), col(Customer.external_id), col(Customer.first_name), col(Customer.last_name),
        primary_email.label("email"), primary_phone.label("phone"), col(Customer.organization),
        country.label("country"), col(Customer.payment_count), col(Customer.lifetime_value), col(Customer.currency),
        col(Customer.created_at), col(Customer.last_payment_at), col(Customer.blocked),
    )


def _segment_condition(segment: Segment) -> ColumnElement[bool]:
    if segment is Segment.CUSTOMERS:
        return col(Customer.payment_count) >= 1
    if segment is Segment.LEADS:
        return col(Customer.payment_count) == 0
    return true()


def _day_start(day: date) -> datetime:
    return datetime.combine(day, time.min, tzinfo=UTC)


def filter_conditions(f: CustomerFilters) -> list[ColumnElement[bool]]:
    customer_id = col(Customer.id)
    conditions: list[ColumnElement[bool]] = []
    if f.website:
        website = select(col(Website.id)).where(col(Website.code) == f.website).scalar_subquery()
        conditions.append(col(Customer.website_id) == website)
    if f.country:
        conditions.append(exists().where(col(Address.customer_id) == customer_id, col(Address.country) == f.country))
    if f.currency:
        conditions.append(col(Customer.currency) == f.currency)
    if f.tag:
        conditions.append(exists().where(col(CustomerTag.customer_id) == customer_id, col(CustomerTag.tag) == f.tag))
    if f.created_from:
        conditions.append(col(Customer.created_at) >= _day_start(f.created_from))
    if f.created_to:
        conditions.append(col(Customer.created_at) < _day_start(f.created_to + timedelta(days=1)))
    if f.payments_min is not None:
        conditions.append(col(Customer.payment_count) >= f.payments_min)
    if f.payments_max is not None:
        conditions.append(col(Customer.payment_count) <= f.payments_max)
    if f.ltv_min is not None:
        conditions.append(col(Customer.lifetime_value) >= f.ltv_min)
    if f.ltv_max is not None:
        conditions.append(col(Customer.lifetime_value) <= f.ltv_max)
    if f.blocked is not None:
        conditions.append(col(Customer.blocked) == (true() if f.blocked else false()))
    if f.active_subscription is not None:
        active = exists().where(col(Order.customer_id) == customer_id, col(Order.kind) == OrderKind.SUBSCRIPTION,
                                col(Order.status) == OrderStatus.ACTIVE)
        conditions.append(active if f.active_subscription else not_(active))
    return conditions


def _looks_like_phone(text: str) -> bool:
    digits = phone_digits(text)
    compact = text.replace(" ", "")
    return len(digits) >= 3 and len(digits) * 2 >= len(compact) and not any(ch.isalpha() for ch in compact)


def _needle(text: str) -> str:
    """What to look for in the index: a phone-like query's digits as they are stored, else the folded text."""
    return local_digits(text) if _looks_like_phone(text) else search_index.fold(text)


INTERNATIONAL_PREFIXES = ("00", "011")
"""What callers dial before a country code instead of '+' (most of the world; North America)."""


def local_digits(text: str) -> str:
    """The digits of a phone-like query without what a stored number never holds.

    Stored numbers are international digits (`443788280574`). A caller may say `+44 (0)378…` (the bracketed
    national prefix), `0044 378…` or `011 44 378…` (an international prefix) or `0378 828 0574` (the national
    prefix): those are dropped so the rest is a run of digits a stored number can contain. Short queries (under
    seven digits) are left as typed."""
    digits = phone_digits(text.replace("(0)", ""))
    if len(digits) < 7 or text.lstrip().startswith("+"):
        return digits
    for prefix in INTERNATIONAL_PREFIXES:
        if digits.startswith(prefix):
            return digits[len(prefix):]
    return digits[1:] if digits.startswith("0") else digits


def phone_candidates(text: str, regions: frozenset[str]) -> set[str]:
    """Every whole number `text` can be, as stored digits: read as international, then as dialled inside each of
    `regions` (national prefix, international prefix, `(0)` all handled by phonenumbers)."""
    import phonenumbers

    spelled = text.replace("(0)", " ")
    found: set[str] = set()
    for region in (None, *sorted(regions)):
        try:
            number = phonenumbers.parse(spelled, region)
        except phonenumbers.NumberParseException:
            continue
        if phonenumbers.is_possible_number(number):
            found.add(phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164).lstrip("+"))
    return found


REGIONS_TTL = 300.0
"""Seconds the stored country mix is reused before it is read again."""
_regions_cache: weakref.WeakKeyDictionary[Store, tuple[float, frozenset[str]]] = weakref.WeakKeyDictionary()
_regions_lock = threading.Lock()


def stored_regions(store: Store, session: Session) -> frozenset[str]:
    """The countries customers' addresses are in: the regions a nationally dialled number may belong to.

    Read by walking the (country, customer) index one country at a time (a seek per country, never a scan),
    and kept for a few minutes."""
    now = clock.monotonic()
    with _regions_lock:
        cached = _regions_cache.get(store)
    if cached is not None and now - cached[0] < REGIONS_TTL:
        return cached[1]
    countries: set[str] = set()
    last = ""
    while True:
        country = session.execute(select(func.min(col(Address.country))).where(col(Address.country) > last)
                                  ).scalar_one()
        if country is None or len(countries) > 300:
            break
        countries.add(country)
        last = country
    regions = frozenset(countries or {"US"})
    with _regions_lock:
        _regions_cache[store] = (now, regions)
    return regions


def _exact_ids(text: str, regions: frozenset[str] = frozenset()) -> CompoundSelect[Any]:
    """Ids of customers whose id, an email or a phone equals the text: index look-ups only.

    A phone-like text matches a stored number spelled any way it can be dialled in one of `regions`."""
    lookups = [
        select(col(Customer.id)).where(col(Customer.external_id) == text),
        select(col(CustomerEmail.customer_id)).where(func.lower(col(CustomerEmail.address)) == text.lower()),
    ]
    digits = phone_digits(text)
    if len(digits) >= 7 and _looks_like_phone(text):
        wanted = sorted({digits, *phone_candidates(text, regions)})
        lookups.append(select(col(CustomerPhone.customer_id)).where(col(CustomerPhone.digits).in_(wanted)))
    return union(*lookups)


def _normalized(query: CustomerQuery) -> CustomerQuery:
    search = clean_line(query.search or "", "search", limits.SEARCH) or ""
    return CustomerQuery(segment_of(query.segment), search, query.filters, sort_of(query.sort), query.descending)


def _filtered(statement: Select[Any], query: CustomerQuery) -> Select[Any]:
    # coalesce(): a row check, never an index choice (an index on merged_into_id would win and
    # turn every page into a scan of the million unmerged customers).
    return statement.where(_segment_condition(query.segment), func.coalesce(col(Customer.merged_into_id), 0) == 0,
                           *filter_conditions(query.filters))


def _base(query: CustomerQuery, dialect: str) -> Select[Any]:
    base = _row_select()
    if query.search:
        table, key = search_index.index_table(dialect), search_index.key_column(dialect)
        base = base.join(table, key == col(Customer.id))
        base = base.where(search_index.match_condition(dialect, _needle(query.search)))
    return _filtered(base, query)


def _order_for_search(query: CustomerQuery, dialect: str, descending: bool,
                      nulls_last: bool) -> list[UnaryExpression[Any]]:
    """Newest-first with a search reads the index in its own key order, so the first rows come at once."""
    if query.sort is SortKey.NEWEST and query.search:
        key = search_index.key_column(dialect)
        return [key.desc() if descending else key.asc()]
    return _order_by(query.sort, descending, nulls_last)


def _rows(session: Session, statement: Select[Any], exact: bool = False) -> list[CustomerRow]:
    """Rows by position: `_row_select` lists CustomerRow's fields in order (no per-row dict on the hot path)."""
    rows = session.execute(statement).all()
    return [CustomerRow(*row, exact=exact) for row in rows]  # type: ignore[misc]  # row holds every field but exact


def fetch_page(
    store: Store,
    actor: Actor,
    query: CustomerQuery,
    limit: int = 50,
    after: Cursor | None = None,
    backward: bool = False,
    include_exact: bool = True,
) -> CustomerPage:
    """One page of the query's rows.

    Forward from `after` (None: the top, with a search's exact matches first
    unless `include_exact` is off), or with `backward` the rows just before
    `after` (None: the last page), returned in display order either way.
    """
    require(actor, Action.VIEW_CUSTOMERS)
    if not 1 <= limit <= MAX_PAGE:
        raise InvalidInput(fields={"limit": f"must be between 1 and {MAX_PAGE}"})
    query = _normalized(query)
    dialect = store.engine.dialect.name
    descending = query.descending != backward
    statement = _base(query, dialect)
    exact_rows: list[CustomerRow] = []
    with store.read() as session:
        if query.search:
            phone_like = _looks_like_phone(query.search)
            exact = _exact_ids(query.search, stored_regions(store, session) if phone_like else frozenset())
            statement = statement.where(col(Customer.id).not_in(exact))
            if after is None and not backward and include_exact:
                exact_rows = _rows(
                    session,
                    _filtered(_row_select(), query).where(col(Customer.id).in_(exact))
                    .order_by(col(Customer.id).desc()).limit(limit),
                    exact=True,
                )
        wanted = limit - len(exact_rows)
        rest: list[CustomerRow] = []
        order = _order_for_search(query, dialect, descending, nulls_last=not backward)
        levels = [None] if after is None else _after_levels(query.sort, descending, after, nulls_last=not backward)
        for level in levels:
            if len(rest) > wanted or not wanted:
                break
            step = statement if level is None else statement.where(level)
            rest += _rows(session, step.order_by(*order).limit(wanted + 1 - len(rest)))
    more = len(rest) > wanted or (not wanted and bool(exact_rows))
    rest = rest[:wanted]
    if backward:
        rest.reverse()
    return CustomerPage(exact_rows + rest, more)


def rows_by_id(store: Store, actor: Actor, ids: list[int]) -> list[CustomerRow]:
    """The table rows of these customers, read again because they changed (live refresh); at most a page."""
    require(actor, Action.VIEW_CUSTOMERS)
    wanted = sorted({i for i in ids if isinstance(i, int) and limits.in_id_range(i)})[:MAX_PAGE]
    if not wanted:
        return []
    with store.read() as session:
        return _rows(session, _row_select().where(col(Customer.id).in_(wanted)).order_by(col(Customer.id)))


def count_matching(store: Store, actor: Actor, query: CustomerQuery, cap: int = EXACT_COUNT_LIMIT) -> tuple[int, bool]:
    """How many rows the query has: (count, exact). Past `cap` a search or filter count stops there."""
    require(actor, Action.VIEW_CUSTOMERS)
    query = _normalized(query)
    dialect = store.engine.dialect.name
    with store.read() as session:
        if not query.search and query.filters.is_empty():
            return segment_counts_in(session)[query.segment], True
        inner = _base(query, dialect).with_only_columns(col(Customer.id)).limit(cap + 1).subquery()
        count = session.execute(select(func.count()).select_from(inner)).scalar_one()
    return (cap, False) if count > cap else (count, True)


def segment_counts_in(session: Session) -> dict[Segment, int]:
    customers = session.execute(
        select(func.count()).select_from(Customer).where(col(Customer.payment_count) >= 1)
    ).scalar_one()
    everyone = session.execute(select(func.count()).select_from(Customer)).scalar_one()
    return {Segment.CUSTOMERS: customers, Segment.LEADS: everyone - customers, Segment.ALL: everyone}


def segment_counts(store: Store, actor: Actor) -> dict[Segment, int]:
    require(actor, Action.VIEW_CUSTOMERS)
    with store.read() as session:
        return segment_counts_in(session)


def search_customers(
    store: Store, actor: Actor, text: str = "", segment: str | Segment = Segment.ALL, limit: int = 50,
    filters: CustomerFilters | None = None, sort: str | SortKey = SortKey.NEWEST, descending: bool = True,
) -> CustomerPage:
    """The first page of a search: what the CLI and quick look-ups need."""
    query = CustomerQuery(segment_of(segment), text or "", filters or CustomerFilters(), sort_of(sort), descending)
    return fetch_page(store, actor, query, limit)
