"""A deterministic, realistic demo data set, fast enough for a million customers.

The same seed and size always give the same rows (dates are laid out from a
fixed anchor, not from today). Rows are generated in batches with their ids
chosen here and handed to a writer (`bulk`: on a big build a second process),
so memory stays flat whatever the size. Demo data only goes into an
empty store; the store is marked as a demo store when the build completes.
Card fingerprints, event hashes and money seals are made with the store's
service key, as the services make them, by the writer (`sealing`).
"""

from __future__ import annotations

import bisect
import itertools
import random
import re
import tomllib
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from functools import cache
from importlib import resources
from typing import Any

import phonenumbers
from phonenumbers.phonemetadata import PhoneMetadata
from sqlalchemy import func, select
from sqlmodel import Session, SQLModel, col

from agentdesk.db.keys import sqlite_file
from agentdesk.db.models import (
    Address,
    Agent,
    Customer,
    CustomerEmail,
    CustomerPhone,
    Order,
    OrderItem,
    PaymentInstrument,
    Plan,
    Product,
    SandboxOperation,
    Setting,
    ShippingRate,
    TimelineEvent,
    Transaction,
    UsageRecord,
    Website,
    table_of,
)
from agentdesk.db.store import Store
from agentdesk.demo import bulk
from agentdesk.domain.enums import (
    BillingTiming,
    InstrumentMethod,
    InstrumentStatus,
    OrderKind,
    OrderStatus,
    PlanInterval,
    PlanKind,
    Role,
    TransactionStatus,
    TransactionType,
)
from agentdesk.domain.errors import Conflict, InvalidInput
from agentdesk.domain.formatting import instrument_label
from agentdesk.domain.periods import add_interval
from agentdesk.services.agents.identity import DEMO_SETTING
from agentdesk.services.catalog.service import write_catalog
from agentdesk.services.catalog.spec import demo_catalog
from agentdesk.services.timeline import chain as timeline_chain
from agentdesk.services.timeline.catalog import CATALOG, EventType, validate_attributes

ANCHOR = datetime(2026, 11, 1, 9, 0, tzinfo=UTC)
"""The demo's "now": every date is laid out relative to it, for reproducibility."""
HISTORY_DAYS = 3 * 365
MAX_CUSTOMERS = 5_000_000
BATCH = 2_000

DEMO_AGENTS = [
    ("alice", "Alice Admin", Role.ADMIN),
    ("bob", "Bob Agent", Role.AGENT),
    ("sara", "Sara Sales", Role.SALES),
    ("fred", "Fred Finance", Role.FINANCE),
]

ProgressFn = Callable[[int, int], None]
Row = dict[str, Any]
"""One row to insert, column name → value."""
Rows = dict[str, list[Row]]
"""The rows of a batch, by table name."""


@dataclass
class DemoSummary:
    customers: int = 0
    leads: int = 0
    rows: dict[str, int] = field(default_factory=dict)


class _Random(random.Random):
    """`random.Random` with the same draws in fewer steps: `randint` and `choice` as CPython makes them (one
    `getrandbits` of the bound's bit length, redrawn while out of range), and `weighted` for `choices(population,
    weights)[0]` with the cumulative weights worked out once. A million customers make some 30 million draws."""

    def _below(self, n: int) -> int:
        getrandbits = self.getrandbits
        k = n.bit_length()
        r = getrandbits(k)
        while r >= n:
            r = getrandbits(k)
        return r

    def randint(self, a: int, b: int) -> int:
        return a + self._below(b - a + 1)

    def choice(self, seq: Any) -> Any:
        return seq[self._below(len(seq))]

    def weighted(self, population: list[Any], cumulative: list[float]) -> Any:
        return population[bisect.bisect(cumulative, self.random() * (cumulative[-1] + 0.0), 0, len(population) - 1)]


def _cumulative(weights: list[int]) -> list[float]:
    return list(itertools.accumulate(weights))


def _load(name: str) -> dict[str, Any]:
    with resources.files("agentdesk.demo.data").joinpath(name).open("rb") as fh:
        return tomllib.load(fh)


def _ascii(text: str) -> str:
    folded = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return "".join(ch for ch in folded.lower() if ch.isalnum())


@cache
def _mobile_plan(region: str) -> tuple[int, str, str, re.Pattern[str], re.Pattern[str]]:
    """(country code, example national number, its fixed leading digits, general and mobile patterns)
    of a region's example mobile number, from the phonenumbers metadata."""
    example = phonenumbers.example_number_for_type(region, phonenumbers.PhoneNumberType.MOBILE)
    metadata = PhoneMetadata.metadata_for_region(region)
    if (example is None or example.country_code is None or metadata is None or metadata.mobile is None
            or metadata.general_desc is None):
        raise ValueError(f"no example mobile number for {region}")
    national = str(example.national_number)
    varied = min(6, len(national) - 3)
    general = re.compile(metadata.general_desc.national_number_pattern or ".*")
    mobile = re.compile(metadata.mobile.national_number_pattern or ".*")
    return example.country_code, national, national[:-varied], general, mobile


def demo_phone(region: str, digits: str) -> str:
    """A valid mobile number of `region` in E.164: its example number with the last digits taken from
    `digits` (stepped until the region's mobile pattern accepts them, which is what `is_valid_number`
    checks), so numbers differ per customer and the same seed gives the same numbers."""
    country_code, example, lead, general, mobile = _mobile_plan(region)
    varied = len(example) - len(lead)
    seed = int(digits)
    for attempt in range(50):
        national = lead + f"{(seed + attempt * 7919) % 10**varied:0{varied}d}"
        if general.fullmatch(national) and mobile.fullmatch(national):
            return f"+{country_code}{national}"
    return f"+{country_code}{example}"


class _Ids:
    """Sequential primary keys per table, handed out as rows are generated."""

    def __init__(self) -> None:
        self.next: dict[str, int] = {}

    def __call__(self, table: str) -> int:
        value = self.next.get(table, 1)
        self.next[table] = value + 1
        return value


@dataclass
class _Catalog:
    websites: list[dict]
    plans_by_currency: dict[str, dict[str, list[dict]]]
    """Per currency: "one_time" and "subscription" (plain monthly or yearly plans, billed in advance), whose
    orders the main random stream lays out, and "variant" (trials, weekly, limited, in arrears, trial-only,
    setup fees, shifted invoices), whose orders a second stream adds."""
    people: dict
    agents: dict[str, int]
    shipping: dict[tuple[str, str], int] = field(default_factory=dict)
    """(country or "*", currency) → amount."""

    def shipping_for(self, country: str, currency: str) -> int:
        return self.shipping.get((country, currency), self.shipping.get(("*", currency), 0))


TERMS = ("kind", "interval", "interval_count", "cycles", "trial_days", "trial_price", "setup_fee", "billing_timing",
         "metered_unit_price", "invoice_issue_days", "invoice_due_days")
"""The plan terms an order item keeps its own copy of."""
VARIANT_ORDER_SHARE = 0.06
"""Paying customers who also have an order of a variant plan."""
LEGACY_PERIOD_DAYS = {PlanInterval.MONTH: 30, PlanInterval.YEAR: 365}
APPROX_DAYS = {PlanInterval.DAY: 1, PlanInterval.WEEK: 7, PlanInterval.MONTH: 30, PlanInterval.YEAR: 365}


def _plain(plan: Plan) -> bool:
    """One-time, or monthly/yearly in advance with no trial, fee, limit or shift: what the first demo
    catalog held. Their orders keep the main random stream as it was, so demo customers stay the same."""
    if plan.kind is PlanKind.ONE_TIME:
        return True
    return (plan.kind is PlanKind.SUBSCRIPTION and plan.interval in LEGACY_PERIOD_DAYS and plan.interval_count == 1
            and plan.cycles is None and not plan.trial_days and not plan.setup_fee
            and plan.billing_timing is BillingTiming.ADVANCE and not plan.invoice_issue_days)


WEBSITE_COUNTRIES = {"USD": ["US", "US", "US", "CA"], "EUR": ["DE", "FR", "IT", "ES", "NL"], "GBP": ["GB"]}
CARD_BRANDS = [("Visa", 5), ("Mastercard", 4), ("Amex", 1)]
BRANDS = [brand for brand, _ in CARD_BRANDS]
BRAND_WEIGHTS = _cumulative([weight for _, weight in CARD_BRANDS])
WEBSITE_WEIGHTS = _cumulative([6, 3, 2])
RENEWAL_STATUSES = [OrderStatus.ACTIVE, OrderStatus.CANCELLED, OrderStatus.PAUSED]
RENEWAL_WEIGHTS = _cumulative([7, 2, 1])


class _Generator:
    def __init__(self, catalog: _Catalog, seed: int, total: int):
        self.c = catalog
        self.rng = _Random(seed)
        self.extra = _Random(f"demo-terms-{seed}")
        """The second stream: what the first demo did not generate (variant orders, item options)."""
        self.ids = _Ids()
        self.total = total
        self.span = (HISTORY_DAYS - 4) * 86_400
        self.start = ANCHOR - timedelta(days=HISTORY_DAYS)
        self.valid_shapes: set[tuple[str, ...]] = set()
        """(event type, attribute names) checked against the catalog once: the generator's events have few shapes."""

    def _event(self, rows: Rows, customer_id: int, event_type: EventType, when: datetime, actor: str,
               recorded: Row | None = None, **attrs: Any) -> None:
        """One event, keyed into its customer's chain; `recorded` is the transaction it records (bound to it)."""
        agent_id = self.c.agents.get(actor)
        type_value = event_type._value_
        shape = (type_value, *attrs)
        if shape in self.valid_shapes:
            attributes = {k: v for k, v in attrs.items() if v is not None}
        else:
            attributes = validate_attributes(event_type, attrs)
            self.valid_shapes.add(shape)
        title = CATALOG[event_type].title
        bound = [["transaction", recorded["id"], None]] if recorded else None  # sealed by the writer
        rows["timeline_event"].append(
            {
                "id": self.ids("timeline_event"),
                "customer_id": customer_id,
                "type": type_value,
                "title": title,
                "actor_agent_id": agent_id,
                "actor_label": actor,
                "occurred_at": when,
                "attributes": attributes,
                "search_text": None,
                "prev_hash": None,
                "hash": None,
                "hash_version": timeline_chain.KEYED,
                "bound_rows": bound,
            }
        )

    def customer(self, index: int, rows: Rows) -> None:
        rng = self.rng
        site = rng.weighted(self.c.websites, WEBSITE_WEIGHTS)
        currency = site["currency"]
        country = rng.choice(WEBSITE_COUNTRIES[currency])
        place = self.c.people["countries"][country]
        first = rng.choice(self.c.people["first_names"])
        last = rng.choice(self.c.people["last_names"])
        created = self.start + timedelta(seconds=int(self.span * (index - 1) / self.total) + rng.randint(0, 3600))
        cid = self.ids("customer")
        paying = rng.random() < 0.72
        rows["customer"].append(
            {
                "id": cid,
                "external_id": f"CUS-{index:07d}",
                "website_id": site["id"],
                "first_name": first,
                "last_name": last,
                "organization": rng.choice(self.c.people["companies"]) if rng.random() < 0.3 else None,
                "job_title": rng.choice(self.c.people["job_titles"]) if rng.random() < 0.5 else None,
                "date_of_birth": (date(1950, 1, 1) + timedelta(days=rng.randint(0, 20_000))
                                  if rng.random() < 0.7 else None),
                "currency": currency,
                "payment_count": 0,
                "lifetime_value": 0,
                "last_payment_at": None,
                "created_at": created,
                "updated_at": created,
            }
        )
        self._event(rows, cid, EventType.CUSTOMER_CREATED, created, "System")
        self._contacts(rows, cid, index, first, last, country, place)
        if not paying:
            if rng.random() < 0.2:
                self._declined_attempt(rows, cid, currency, created)
            return
        instruments = self._instruments(rows, cid, created)
        self._orders(rows, cid, site, currency, instruments, created, country)

    def _contacts(self, rows: Rows, cid: int, index: int, first: str, last: str, country: str,
                  place: dict[str, Any]) -> None:
        rng = self.rng
        local = f"{_ascii(first)}.{_ascii(last)}"
        domains = self.c.people["email_domains"]
        count = 1 + (rng.random() < 0.4) + (rng.random() < 0.1)
        for n in range(count):
            address = f"{local}{index if n == 0 else f'{index}.{n}'}@{domains[(index + n) % len(domains)]}"
            rows["customer_email"].append(
                {"id": self.ids("customer_email"), "customer_id": cid, "address": address, "is_primary": n == 0}
            )
        phones = (rng.random() < 0.8) + (rng.random() < 0.25)
        for n in range(phones):
            local_digits = f"{rng.randint(200, 989)}{rng.randint(200, 999)}{rng.randint(0, 9999):04d}"
            number = demo_phone(country, local_digits)
            rows["customer_phone"].append(
                {
                    "id": self.ids("customer_phone"),
                    "customer_id": cid,
                    "number": number,
                    "digits": number.lstrip("+"),
                    "label": "mobile" if n == 0 else rng.choice(["home", "work"]),
                    "is_primary": n == 0,
                }
            )
        addresses = (rng.random() < 0.85) + (rng.random() < 0.1)
        for n in range(addresses):
            city, region, postal = rng.choice(place["cities"])
            rows["address"].append(
                {
                    "id": self.ids("address"),
                    "customer_id": cid,
                    "line1": f"{rng.randint(1, 250)} {rng.choice(self.c.people['streets'])}",
                    "line2": f"Apt {rng.randint(1, 40)}" if rng.random() < 0.2 else None,
                    "city": city,
                    "region": region or None,
                    "postal_code": postal,
                    "country": country,
                    "is_primary": n == 0,
                }
            )

    def _card(self, rows: Rows, cid: int, created: datetime, primary: bool, backup: bool) -> tuple[int, str]:
        rng = self.rng
        brand = rng.weighted(BRANDS, BRAND_WEIGHTS)
        last4 = f"{rng.randint(0, 9999):04d}"
        iid = self.ids("payment_instrument")
        rows["payment_instrument"].append(
            {
                "id": iid,
                "customer_id": cid,
                "method": InstrumentMethod.CARD,
                "brand": brand,
                "last4": last4,
                "exp_month": rng.randint(1, 12),
                "exp_year": ANCHOR.year + rng.randint(-1, 5),
                "fingerprint": None,  # made by the writer (sealing.card_fingerprint)
                "status": InstrumentStatus.ACTIVE,
                "is_primary": primary,
                "allow_backup": backup,
                "gateway_token": f"tok_demo_{iid}",
                "created_at": created,
            }
        )
        return iid, instrument_label(InstrumentMethod.CARD, brand, last4)

    def _instruments(self, rows: Rows, cid: int, created: datetime) -> list[tuple[int, str]]:
        instruments = [self._card(rows, cid, created, True, False)]
        if self.rng.random() < 0.2:
            instruments.append(self._card(rows, cid, created + timedelta(days=30), False, True))
        for _, label in instruments:
            self._event(rows, cid, EventType.NEW_PAYMENT_METHOD, created, "System", instrument=label)
        return instruments

    def _declined_attempt(self, rows: Rows, cid: int, currency: str, created: datetime) -> None:
        plans = self.c.plans_by_currency[currency]["one_time"]
        plan = self.rng.choice(plans)
        rows["transaction"].append(
            self._txn(cid, None, None, None, TransactionType.SALE, TransactionStatus.DECLINED, plan["price"], currency,
                      False, created)
        )

    def _txn(self, cid: int, order_id: int | None, instrument_id: int | None, parent_id: int | None,
             kind: TransactionType, status: TransactionStatus, amount: int, currency: str, settled: bool,
             when: datetime, reason: str | None = None) -> Row:
        """A transaction row; its sandbox operation is derived from it when written (`bulk.sandbox_operations`)."""
        tid = self.ids("transaction")
        row = {
            "id": tid,
            "customer_id": cid,
            "order_id": order_id,
            "instrument_id": instrument_id,
            "parent_id": parent_id,
            "type": kind.value,
            "status": status.value,
            "amount": amount,
            "currency": currency,
            "settled": settled,
            "settled_at": when + timedelta(days=2) if settled else None,
            "gateway": "sandbox",
            "gateway_ref": f"sbx_{tid:010d}",
            "idempotency_key": f"demo-{tid}",
            "reason": reason,
            "created_at": when,
            "seal": None,  # made by the writer (sealing.seal)
        }
        return row

    def _item(self, rows: Rows, oid: int, plan: dict[str, Any], quantity: int, currency: str,
              rng: random.Random) -> Row:
        options = {name: rng.choice(values) for name, values in plan["options"].items()} if plan["options"] else {}
        item = {**plan["item"], "id": self.ids("order_item"), "order_id": oid, "quantity": quantity,
                "currency": currency, "options": options}
        rows["order_item"].append(item)
        return item

    def _order_row(self, rows: Rows, oid: int, cid: int, site: dict[str, Any], plan: dict[str, Any], currency: str,
                   total: int, instrument_id: int, placed: datetime, shipping: int, address_id: int | None) -> Row:
        row = {
            "id": oid, "number": f"ORD-{oid:08d}", "customer_id": cid, "website_id": site["id"],
            "kind": (OrderKind.ONE_TIME if plan["kind"] is PlanKind.ONE_TIME else OrderKind.SUBSCRIPTION).value,
            "status": OrderStatus.COMPLETED.value, "currency": currency, "total": total,
            "instrument_id": instrument_id, "next_bill_date": None, "starts_on": placed.date(),
            "trial_ends_on": None, "period_start": None, "period_end": None, "cycles_billed": 0,
            "shipping_amount": shipping, "shipping_address_id": address_id if shipping else None,
            "cancelled_at": None, "completed_at": None, "created_at": placed,
        }
        rows["orders"].append(row)
        return row

    @staticmethod
    def _primary_address(rows: Rows, cid: int) -> int | None:
        for address in reversed(rows["address"]):
            if address["customer_id"] != cid:
                return None
            if address["is_primary"]:
                return address["id"]
        return None

    def _orders(self, rows: Rows, cid: int, site: dict[str, Any], currency: str, instruments: list[tuple[int, str]],
                created: datetime, country: str) -> None:
        """Orders of plain plans, laid out by the main random stream exactly as the first demo did (so the
        same seed still gives the same customers); terms, periods and shipping come from the catalog."""
        rng = self.rng
        customer = rows["customer"][-1]
        address_id = self._primary_address(rows, cid)
        for n in range(1 + (rng.random() < 0.45) + (rng.random() < 0.15)):
            subscription = rng.random() < 0.6
            plans = self.c.plans_by_currency[currency]["subscription" if subscription else "one_time"]
            plan = rng.choice(plans)
            quantity = 1 if subscription else rng.choice([1, 1, 1, 2])
            room = int((ANCHOR - created).total_seconds())
            placed = created + timedelta(seconds=rng.randint(room // 100, room // (3 if n == 0 else 1)))
            oid = self.ids("orders")
            instrument_id, instrument_label = instruments[0]
            total = plan["price"] * quantity
            if subscription:
                period = LEGACY_PERIOD_DAYS[plan["interval"]]
                cycles = max(1, min(4, (ANCHOR - placed).days // period + 1))
                cycles = rng.randint(1, cycles)
                status = rng.weighted(RENEWAL_STATUSES, RENEWAL_WEIGHTS)
            else:
                cycles, period = 1, 0
                status = OrderStatus.COMPLETED
            shipping = self.c.shipping_for(country, currency) if plan["requires_shipping"] else 0
            order = self._order_row(rows, oid, cid, site, plan, currency, total, instrument_id, placed, shipping,
                                    address_id)
            self._item(rows, oid, plan, quantity, currency, self.extra)
            billed = 0
            for cycle in range(cycles):
                when = placed + timedelta(days=period * cycle)
                if when >= ANCHOR:
                    break
                settled = (ANCHOR - when).days >= 2
                amount = total + (shipping if cycle == 0 else 0)
                sale = self._txn(cid, oid, instrument_id, None, TransactionType.SALE, TransactionStatus.APPROVED,
                                 amount, currency, settled, when)
                rows["transaction"].append(sale)
                self._event(
                    rows, cid, EventType.SUBSCRIPTION_BILLED if cycle else EventType.NEW_PURCHASE, when, "System",
                    recorded=sale, product=plan["product"], order=order["number"], amount=amount, currency=currency,
                )
                self._after_sale(rows, customer, sale, order["number"], instrument_label)
                billed += 1
            order["cycles_billed"] = billed
            if not subscription:
                order["completed_at"] = placed
                continue
            last = placed + timedelta(days=period * max(0, billed - 1))
            order["period_start"] = last.date()
            order["period_end"] = add_interval(last.date(), plan["interval"], 1)
            period_end = datetime.combine(order["period_end"], placed.timetz())
            if status is OrderStatus.ACTIVE and period_end <= ANCHOR:
                status = OrderStatus.CANCELLED  # not renewed: it lapsed at the end of its last paid period
            order["status"] = status.value
            if status is OrderStatus.ACTIVE:
                order["next_bill_date"] = order["period_end"]
            elif status is OrderStatus.CANCELLED:
                order["cancelled_at"] = min(period_end, last + (ANCHOR - last) / 2)
        if self.extra.random() < VARIANT_ORDER_SHARE:
            self._variant_order(rows, customer, site, currency, instruments[0], created, country, address_id)

    def _variant_order(self, rows: Rows, customer: Row, site: dict[str, Any], currency: str,
                       instrument: tuple[int, str], created: datetime, country: str, address_id: int | None) -> None:
        """An order of a trial, weekly, limited, in-arrears, trial-only or fee-and-shift plan, billed period by
        period as the billing engine would, from the second random stream."""
        x = self.extra
        cid = customer["id"]
        plan = x.choice(self.c.plans_by_currency[currency]["variant"])
        interval, count = plan["interval"], plan["interval_count"]
        periods = x.randint(max(1, plan["cycles"] - 3), plan["cycles"] + 3) if plan["cycles"] else x.randint(1, 8)
        days = APPROX_DAYS[interval] * count * periods + plan["trial_days"]
        earliest = max(created, ANCHOR - timedelta(days=days))
        placed = earliest + timedelta(seconds=x.randint(0, max(0, int((ANCHOR - earliest).total_seconds()) - 3600)))
        oid = self.ids("orders")
        instrument_id, instrument_label = instrument
        total = plan["price"]
        order = self._order_row(rows, oid, cid, site, plan, currency, total, instrument_id, placed, 0, address_id)
        number = order["number"]
        item = self._item(rows, oid, plan, 1, currency, x)
        start = placed.date()

        def at(day: date) -> datetime:
            return datetime.combine(day, placed.timetz())

        def charge(when: datetime, amount: int, first: bool) -> None:
            sale = self._txn(cid, oid, instrument_id, None, TransactionType.SALE, TransactionStatus.APPROVED, amount,
                             currency, (ANCHOR - when).days >= 2, when)
            rows["transaction"].append(sale)
            self._event(rows, cid, EventType.NEW_PURCHASE if first else EventType.SUBSCRIPTION_BILLED, when, "System",
                        recorded=sale, product=plan["product"], order=number, amount=amount, currency=currency)
            self._after_sale(rows, customer, sale, number, instrument_label, rng=x)

        first = start
        if plan["trial_days"]:
            first = start + timedelta(days=plan["trial_days"])
            order["trial_ends_on"] = first
            if plan["trial_price"]:
                charge(placed, plan["trial_price"], True)
            else:
                self._event(rows, cid, EventType.NEW_PURCHASE, placed, "System", product=plan["product"],
                            order=number, amount=0, currency=currency)
            if at(first) < ANCHOR:
                self._event(rows, cid, EventType.TRIAL_ENDED, at(first), "System", product=plan["product"],
                            order=number)
        if plan["kind"] is PlanKind.TRIAL_ONLY:
            if at(first) < ANCHOR:
                order["completed_at"] = at(first)
                self._event(rows, cid, EventType.ORDER_COMPLETED, at(first), "System", order=number,
                            product=plan["product"])
            else:
                order["status"] = OrderStatus.ACTIVE.value
            return
        arrears = plan["billing_timing"] is BillingTiming.ARREARS
        shift = timedelta(days=plan["invoice_issue_days"])
        cancel_after = x.randint(1, periods) if x.random() < 0.15 else None
        billed = 0
        status = OrderStatus.ACTIVE
        while plan["cycles"] is None or billed < plan["cycles"]:
            begins = add_interval(first, interval, count * billed, first.day) if billed else first
            ends = add_interval(first, interval, count * (billed + 1), first.day)
            when = at(ends) + shift if arrears else max(placed, at(begins) - shift)
            if when >= ANCHOR:
                break
            amount = total + (plan["setup_fee"] if not billed else 0)
            if arrears and plan["metered_unit_price"]:
                amount += plan["metered_unit_price"] * x.randint(0, 6)
            if amount:
                charge(when, amount, first=not billed and not plan["trial_days"])
            billed += 1
            order["period_start"], order["period_end"] = begins, ends
            if billed == cancel_after:
                status = OrderStatus.CANCELLED
                order["cancelled_at"] = min(when + timedelta(days=x.randint(1, 20)), ANCHOR)
                self._event(rows, cid, EventType.SUBSCRIPTION_CANCELLED, order["cancelled_at"], "System",
                            product=plan["product"], order=number, reason="customer asked")
                break
        order["cycles_billed"] = billed
        if status is OrderStatus.ACTIVE and plan["cycles"] is not None and billed >= plan["cycles"]:
            status = OrderStatus.COMPLETED
            order["completed_at"] = rows["transaction"][-1]["created_at"] if billed else placed
            self._event(rows, cid, EventType.ORDER_COMPLETED, order["completed_at"], "System", order=number,
                        product=plan["product"])
        order["status"] = status.value
        if status is not OrderStatus.ACTIVE:
            return
        following = add_interval(first, interval, count * (billed + 1), first.day)
        order["next_bill_date"] = following if arrears else (order["period_end"] or first)
        if arrears and plan["metered_unit_price"]:
            current = order["period_end"] or first
            for _ in range(x.randint(0, 3)):
                used_on = current + timedelta(days=x.randint(0, max(0, (ANCHOR.date() - current).days - 1)))
                quantity = x.randint(1, 3)
                rows["usage_record"].append({
                    "id": self.ids("usage_record"), "order_item_id": item["id"], "quantity": quantity,
                    "used_on": used_on, "invoice_id": None, "idempotency_key": None, "agent_id": None,
                    "created_at": at(used_on),
                })
                self._event(rows, cid, EventType.USAGE_RECORDED, at(used_on), "System", product=plan["product"],
                            order=number, quantity=quantity, on=used_on.isoformat())

    def _after_sale(self, rows: Rows, customer: Row, sale: Row, number: str, instrument_label: str,
                    rng: random.Random | None = None) -> None:
        rng = rng or self.rng
        cid, amount, currency, when = sale["customer_id"], sale["amount"], sale["currency"], sale["created_at"]
        if not sale["settled"]:
            if rng.random() < 0.05:
                agent = rng.choice(["bob", "alice"])
                void = self._txn(cid, sale["order_id"], sale["instrument_id"], sale["id"], TransactionType.VOID,
                                 TransactionStatus.APPROVED, amount, currency, False, when + timedelta(hours=3),
                                 reason="customer changed their mind")
                rows["transaction"].append(void)
                sale["status"] = TransactionStatus.VOIDED.value
                self._event(rows, cid, EventType.TRANSACTION_VOIDED, void["created_at"], agent, recorded=void,
                            amount=amount, currency=currency, transaction=sale["id"], order=number,
                            reason=void["reason"])
                return
            self._count_payment(customer, sale, settled_value=0)
            return
        refunded = 0
        if rng.random() < 0.07:
            refunded = amount if rng.random() < 0.6 else max(1, amount // rng.choice([2, 4, 5]))
            agent = rng.choice(["bob", "alice", "fred"])
            refund_at = when + timedelta(days=rng.randint(3, 20))
            refund = self._txn(cid, sale["order_id"], sale["instrument_id"], sale["id"], TransactionType.REFUND,
                               TransactionStatus.APPROVED, refunded, currency, refund_at < ANCHOR,
                               min(refund_at, ANCHOR),
                               reason=rng.choice(["duplicate charge", "did not use the service", "goodwill"]))
            rows["transaction"].append(refund)
            sale["status"] = (
                TransactionStatus.REFUNDED if refunded == amount else TransactionStatus.PARTIALLY_REFUNDED
            ).value
            self._event(rows, cid, EventType.MANUAL_REFUND, refund["created_at"], agent, recorded=refund,
                        amount=refunded, currency=currency, transaction=sale["id"], order=number,
                        instrument=instrument_label, reason=refund["reason"])
        self._count_payment(customer, sale, settled_value=amount - refunded)

    @staticmethod
    def _count_payment(customer: Row, sale: Row, settled_value: int) -> None:
        customer["payment_count"] += 1
        customer["lifetime_value"] += settled_value
        if customer["last_payment_at"] is None or sale["created_at"] > customer["last_payment_at"]:
            customer["last_payment_at"] = sale["created_at"]


TABLES: list[tuple[str, type[SQLModel]]] = [
    ("customer", Customer),
    ("customer_email", CustomerEmail),
    ("customer_phone", CustomerPhone),
    ("address", Address),
    ("payment_instrument", PaymentInstrument),
    ("orders", Order),
    ("order_item", OrderItem),
    ("usage_record", UsageRecord),
    ("transaction", Transaction),
    ("timeline_event", TimelineEvent),
    ("sandbox_operation", SandboxOperation),
]


def _seed_reference_data(session: Session, login: str) -> _Catalog:
    catalog = demo_catalog()
    people = _load("people.toml")
    agents: dict[str, int] = {}
    for agent_login, name, role in [(login, login, Role.ADMIN)] + [a for a in DEMO_AGENTS if a[0] != login]:
        agent = Agent(login=agent_login, name=name, role=role)
        session.add(agent)
        session.flush()
        agents[agent_login] = agent.id
    websites = []
    for spec in catalog.websites:
        site = Website(code=spec.code, name=spec.name, url=spec.url, default_currency=spec.currency)
        session.add(site)
        session.flush()
        websites.append({"id": site.id, "currency": site.default_currency})
    write_catalog(session, catalog)
    products = {p.id: p for p in session.execute(select(Product)).scalars()}
    plans: dict[str, dict[str, list[dict]]] = {}
    for plan in session.execute(select(Plan).where(col(Plan.active)).order_by(col(Plan.id))).scalars():
        product = products[plan.product_id]
        kind = "variant" if not _plain(plan) else "one_time" if plan.kind is PlanKind.ONE_TIME else "subscription"
        plans.setdefault(plan.currency, {"one_time": [], "subscription": [], "variant": []})[kind].append(
            {"id": plan.id, "price": plan.price, "product": product.name, "options": product.options,
             "requires_shipping": product.requires_shipping, **{term: getattr(plan, term) for term in TERMS},
             "item": {"plan_id": plan.id, "unit_price": plan.price, **{term: getattr(plan, term) for term in TERMS}}}
        )
    shipping = {(rate.country, rate.currency): rate.amount for rate in session.execute(select(ShippingRate)).scalars()}
    session.merge(Setting(key=DEMO_SETTING, value="building"))
    return _Catalog(websites=websites, plans_by_currency=plans, people=people, agents=agents, shipping=shipping)


def store_is_empty(store: Store) -> bool:
    """No customers and no agents: a store nobody has started using."""
    with store.read() as session:
        customers = session.execute(select(func.count()).select_from(Customer)).scalar_one()
        agents = session.execute(select(func.count()).select_from(Agent)).scalar_one()
    return customers == 0 and agents == 0


def build_demo(
    store: Store,
    customers: int,
    seed: int = 1,
    login: str = "admin",
    progress: ProgressFn | None = None,
) -> DemoSummary:
    """Fill an empty store with `customers` demo customers and leads; `login` becomes an admin."""
    if not 1 <= customers <= MAX_CUSTOMERS:
        raise InvalidInput(fields={"customers": f"must be between 1 and {MAX_CUSTOMERS:,}"})
    with store.write() as session:
        existing = session.execute(select(func.count()).select_from(Customer)).scalar_one()
        agents = session.execute(select(func.count()).select_from(Agent)).scalar_one()
        if existing or agents:
            raise Conflict(
                f"this store already holds {existing:,} customers and {agents:,} agents; demo data goes only "
                "into an empty store (point --db at a new file)"
            )
        catalog = _seed_reference_data(session, login)
    generator = _Generator(catalog, seed, customers)
    summary = DemoSummary()
    names = [name for name, _ in TABLES]
    if store.is_sqlite and sqlite_file(store.url) is None:
        # An in-memory store lives in its one connection: written here, on that connection.
        connection = store.engine.raw_connection()
        writer = bulk.Writer(store.url, names, store.key, separate=False, borrowed=connection.driver_connection)
    else:
        store.dispose()  # the writer takes the store to itself while it loads
        connection = None
        writer = bulk.Writer(store.url, names, store.key, separate=customers >= bulk.SEPARATE_WRITER_FROM)
    try:
        done = 0
        while done < customers:
            size = min(BATCH, customers - done)
            rows: Rows = {name: [] for name, _ in TABLES}
            for index in range(done + 1, done + size + 1):
                generator.customer(index, rows)
                if rows["customer"][-1]["payment_count"]:
                    summary.customers += 1
                else:
                    summary.leads += 1
            writer.put(rows)
            for name, table_rows in rows.items():
                if table_rows:
                    summary.rows[name] = summary.rows.get(name, 0) + len(table_rows)
            summary.rows["sandbox_operation"] = summary.rows.get("transaction", 0)  # one each, made by the writer
            done += size
            if progress:
                progress(done, customers)
        writer.finish()
    except BaseException:
        writer.abort()
        raise
    finally:
        if connection is not None:
            connection.close()
    with store.write() as session:
        session.merge(Setting(key=DEMO_SETTING, value="1"))
    if not store.is_sqlite:
        _advance_sequences(store)
    return summary


def _advance_sequences(store: Store) -> None:
    """Ids were chosen here, so PostgreSQL's sequences must be moved past them."""
    with store.write() as session:
        connection = session.connection()
        for _, model in TABLES:
            table = table_of(model)
            if "id" not in table.c:
                continue
            connection.exec_driver_sql(
                f"SELECT setval(pg_get_serial_sequence('\"{table.name}\"', 'id'), "
                f"COALESCE((SELECT MAX(id) FROM \"{table.name}\"), 0) + 1, false)"
            )
