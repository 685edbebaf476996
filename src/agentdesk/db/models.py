"""Tables of the store (SQLModel).

Money columns are integers in minor units next to an ISO 4217 currency code.
Datetimes are timezone-aware UTC. State and kind columns are typed with their
enums (`agentdesk.domain.enums`) and stored as their values in short strings
(`EnumText`), so that both SQLite and PostgreSQL hold the same schema without
database enum types. Primary keys are typed `int`: a row read from the store
has one, and a new row has one once flushed, which is when services read it.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from enum import StrEnum
from typing import TypeVar

from sqlalchemy import (
    JSON,
    BigInteger,
    Column,
    Dialect,
    Index,
    String,
    Table,
    TypeDecorator,
    UniqueConstraint,
    func,
    inspect,
    text,
)
from sqlmodel import Field, SQLModel

from agentdesk.domain import limits
from agentdesk.domain.enums import (
    AmlResult,
    BillingTiming,
    BlocklistKind,
    CouponDuration,
    CouponKind,
    FulfillmentStatus,
    InstrumentMethod,
    InstrumentStatus,
    InvoiceLineKind,
    InvoiceStatus,
    JobKind,
    JobStatus,
    KycStatus,
    LinkKind,
    LinkStatus,
    OrderKind,
    OrderStatus,
    PayoutRequestStatus,
    PlanInterval,
    PlanKind,
    QuoteAcceptance,
    QuoteStatus,
    Role,
    ScheduledChangeKind,
    ScheduledChangeStatus,
    TransactionStatus,
    TransactionType,
)


def utcnow() -> datetime:
    return datetime.now(UTC)


def table_of(model: type[SQLModel]) -> Table:
    """The Core table behind a table model, for bulk inserts and plain-column reads."""
    table = inspect(model).local_table
    assert isinstance(table, Table)
    return table


E = TypeVar("E", bound=StrEnum)


class EnumText(TypeDecorator[E]):
    """A `StrEnum` column kept as its value in a VARCHAR: the same schema on SQLite and PostgreSQL,
    no database enum type, and the member (not bare text) when a row is read back."""

    impl = String
    cache_ok = True

    def __init__(self, enum: type[E], length: int = 24):
        super().__init__(length)
        self.enum = enum

    def process_bind_param(self, value: E | str | None, dialect: Dialect) -> str | None:
        return None if value is None else self.enum(value).value

    def process_result_value(self, value: str | None, dialect: Dialect) -> E | None:
        return None if value is None else self.enum(value)


class Setting(SQLModel, table=True):
    """Facts about the store itself, such as whether it holds demo data."""

    __tablename__ = "setting"
    key: str = Field(primary_key=True, max_length=64)
    value: str = Field(max_length=400)


class Agent(SQLModel, table=True):
    __tablename__ = "agent"
    id: int = Field(default=None, primary_key=True)
    login: str = Field(max_length=limits.LOGIN, unique=True)
    name: str = Field(max_length=limits.NAME)
    role: Role = Field(sa_type=EnumText(Role))
    active: bool = Field(default=True)
    created_at: datetime = Field(default_factory=utcnow)


class Website(SQLModel, table=True):
    __tablename__ = "website"
    id: int = Field(default=None, primary_key=True)
    code: str = Field(max_length=limits.WEBSITE_CODE, unique=True)
    name: str = Field(max_length=limits.NAME)
    url: str = Field(max_length=400)
    default_currency: str = Field(max_length=3)
    gateway: str = Field(default="sandbox", max_length=32)


class Customer(SQLModel, table=True):
    __tablename__ = "customer"
    __table_args__ = (
        Index("ix_customer_segment", "payment_count", "id"),
        Index("ix_customer_ltv", "lifetime_value", "id"),
        Index("ix_customer_name", "last_name", "first_name", "id"),
        Index("ix_customer_created", "created_at", "id"),
        Index("ix_customer_last_payment", "last_payment_at", "id"),
        # Segment-first twins of the sort indexes: Leads (payment_count = 0) read in sort order.
        Index("ix_customer_segment_name", "payment_count", "last_name", "first_name", "id"),
        Index("ix_customer_segment_created", "payment_count", "created_at", "id"),
        Index("ix_customer_segment_ltv", "payment_count", "lifetime_value", "id"),
        Index("ix_customer_segment_last_payment", "payment_count", "last_payment_at", "id"),
    )
    id: int = Field(default=None, primary_key=True)
    external_id: str = Field(max_length=limits.EXTERNAL_ID, unique=True)
    """The merchant's own customer id, shown to agents as "Customer ID"."""
    website_id: int = Field(foreign_key="website.id", index=True)
    first_name: str = Field(max_length=limits.NAME)
    last_name: str = Field(max_length=limits.NAME)
    organization: str | None = Field(default=None, max_length=limits.NAME)
    company_id: str | None = Field(default=None, max_length=100)
    """The organization's registration number, when the customer buys as a company."""
    company_email: str | None = Field(default=None, max_length=limits.EMAIL)
    job_title: str | None = Field(default=None, max_length=limits.NAME)
    date_of_birth: date | None = None
    currency: str = Field(max_length=3)
    payment_count: int = Field(default=0)
    lifetime_value: int = Field(default=0, sa_type=BigInteger)
    """Settled sales minus refunds in `currency`, minor units."""
    last_payment_at: datetime | None = None
    blocked: bool = Field(default=False)
    """Kept current by the blocklist: true while an entry names this customer, one of its
    emails, phones or card fingerprints."""
    signup_ip: str | None = Field(default=None, max_length=45)
    merged_into_id: int | None = Field(default=None, foreign_key="customer.id", index=True)
    """Set on a duplicate merged into another customer: it only points there now."""
    custom_fields: dict = Field(default_factory=dict, sa_column=Column(JSON, nullable=False, server_default="{}"))
    lead_source: dict = Field(default_factory=dict, sa_column=Column(JSON, nullable=False, server_default="{}"))
    """Where the customer came from: source, medium, campaign, term, content, affiliate, … (see LEAD_FIELDS)."""
    edd_required: bool = Field(default=False)
    """Enhanced due diligence: set by an agent; automated searches then run monthly."""
    membership_login: str | None = Field(default=None, max_length=limits.LOGIN)
    """The customer's login name on the merchant's membership site (never a password)."""
    membership_password_hash: str | None = Field(default=None, max_length=limits.PASSWORD_HASH)
    """Set by the customer on a password-reset link: scrypt with its own salt, never the password itself."""
    version: int = Field(default=1, sa_column_kwargs={"server_default": text("1")})
    """Bumped by every edit made through a form; a save against an older version is refused."""
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)


class BlocklistEntry(SQLModel, table=True):
    """A value that may not buy: a customer id, email, phone, card fingerprint, BIN, IP or country."""

    __tablename__ = "blocklist_entry"
    __table_args__ = (Index("ix_blocklist_kind_value", "kind", "value"),)
    id: int = Field(default=None, primary_key=True)
    kind: BlocklistKind = Field(sa_type=EnumText(BlocklistKind, 16))
    value: str = Field(max_length=limits.BLOCK_VALUE)
    """Normalised: emails lower-cased, phones as digits, countries upper-cased."""
    reason: str | None = Field(default=None, max_length=limits.REASON)
    expires_at: datetime | None = None
    created_by: int | None = Field(default=None, foreign_key="agent.id")
    created_at: datetime = Field(default_factory=utcnow)
    removed_at: datetime | None = None
    removed_by: int | None = Field(default=None, foreign_key="agent.id")


class KycDocument(SQLModel, table=True):
    __tablename__ = "kyc_document"
    id: int = Field(default=None, primary_key=True)
    customer_id: int = Field(foreign_key="customer.id", index=True)
    kind: str = Field(max_length=32)
    status: KycStatus = Field(default=KycStatus.PENDING, sa_type=EnumText(KycStatus, 16))
    attachment_id: int = Field(foreign_key="attachment.id")
    uploaded_by: int | None = Field(default=None, foreign_key="agent.id")
    uploaded_at: datetime = Field(default_factory=utcnow)
    reviewed_by: int | None = Field(default=None, foreign_key="agent.id")
    reviewed_at: datetime | None = None


class AmlCheck(SQLModel, table=True):
    """One screening of the customer against sanctions and watch lists."""

    __tablename__ = "aml_check"
    id: int = Field(default=None, primary_key=True)
    customer_id: int = Field(foreign_key="customer.id", index=True)
    checked_at: datetime = Field(default_factory=utcnow)
    result: AmlResult = Field(sa_type=EnumText(AmlResult, 16))
    """clear, review or match."""
    matches: int = Field(default=0)
    source: str = Field(default="manual", max_length=limits.AML_SOURCE)


class EddScore(SQLModel, table=True):
    """A manual score for one risk factor of enhanced due diligence."""

    __tablename__ = "edd_score"
    __table_args__ = (UniqueConstraint("customer_id", "factor", name="uq_edd_score_factor"),)
    id: int = Field(default=None, primary_key=True)
    customer_id: int = Field(foreign_key="customer.id", index=True)
    factor: str = Field(max_length=32)
    likelihood: str = Field(max_length=16)
    score: int
    set_by: int | None = Field(default=None, foreign_key="agent.id")
    set_at: datetime = Field(default_factory=utcnow)


class CustomerTag(SQLModel, table=True):
    __tablename__ = "customer_tag"
    __table_args__ = (Index("ix_customer_tag_tag", "tag", "customer_id"),)
    customer_id: int = Field(foreign_key="customer.id", primary_key=True)
    tag: str = Field(max_length=limits.TAG, primary_key=True)


class TaxId(SQLModel, table=True):
    __tablename__ = "tax_id"
    id: int = Field(default=None, primary_key=True)
    customer_id: int = Field(foreign_key="customer.id", index=True)
    type: str = Field(max_length=32)
    """e.g. "vat", "ein", "abn"."""
    value: str = Field(max_length=limits.TAX_ID)
    is_default: bool = Field(default=False)


class SavedSegment(SQLModel, table=True):
    """A named set of filters and a sort; private to its owner unless shared."""

    __tablename__ = "saved_segment"
    __table_args__ = (UniqueConstraint("owner_agent_id", "name", name="uq_saved_segment_owner_name"),)
    id: int = Field(default=None, primary_key=True)
    name: str = Field(max_length=limits.SEGMENT_NAME)
    owner_agent_id: int = Field(foreign_key="agent.id", index=True)
    shared: bool = Field(default=False)
    definition: dict = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)


class AgentPreference(SQLModel, table=True):
    __tablename__ = "agent_preference"
    agent_id: int = Field(foreign_key="agent.id", primary_key=True)
    key: str = Field(max_length=64, primary_key=True)
    value: dict = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))


class CustomerEmail(SQLModel, table=True):
    __tablename__ = "customer_email"
    __table_args__ = (
        Index("ix_customer_email_lower", func.lower(text("address"))),
        Index(
            "uq_customer_email_primary",
            "customer_id",
            unique=True,
            sqlite_where=text("is_primary"),
            postgresql_where=text("is_primary"),
        ),
    )
    id: int = Field(default=None, primary_key=True)
    customer_id: int = Field(foreign_key="customer.id", index=True)
    address: str = Field(max_length=limits.EMAIL, index=True)
    is_primary: bool = Field(default=False)


class CustomerPhone(SQLModel, table=True):
    __tablename__ = "customer_phone"
    __table_args__ = (
        Index(
            "uq_customer_phone_primary",
            "customer_id",
            unique=True,
            sqlite_where=text("is_primary"),
            postgresql_where=text("is_primary"),
        ),
    )
    id: int = Field(default=None, primary_key=True)
    customer_id: int = Field(foreign_key="customer.id", index=True)
    number: str = Field(max_length=limits.PHONE)
    """As the agent or merchant wrote it, cleaned of surrounding space."""
    digits: str = Field(max_length=limits.PHONE_DIGITS, index=True)
    """Only the digits of `number`, for matching however a caller types it."""
    label: str = Field(default="mobile", max_length=limits.CONTACT_LABEL)
    is_primary: bool = Field(default=False)


class Address(SQLModel, table=True):
    __tablename__ = "address"
    __table_args__ = (Index("ix_address_country", "country", "customer_id"),)
    id: int = Field(default=None, primary_key=True)
    customer_id: int = Field(foreign_key="customer.id", index=True)
    line1: str = Field(max_length=limits.ADDRESS_LINE)
    line2: str | None = Field(default=None, max_length=limits.ADDRESS_LINE)
    city: str = Field(max_length=limits.CITY)
    region: str | None = Field(default=None, max_length=limits.REGION)
    postal_code: str | None = Field(default=None, max_length=limits.POSTAL_CODE)
    country: str = Field(max_length=2)
    is_primary: bool = Field(default=False)


class PaymentInstrument(SQLModel, table=True):
    """A stored way to pay. Never holds a full card number: brand, last four,
    expiry and the gateway's fingerprint are all we keep."""

    __tablename__ = "payment_instrument"
    id: int = Field(default=None, primary_key=True)
    customer_id: int = Field(foreign_key="customer.id", index=True)
    method: InstrumentMethod = Field(sa_type=EnumText(InstrumentMethod))
    brand: str | None = Field(default=None, max_length=40)
    last4: str | None = Field(default=None, max_length=4, index=True)
    exp_month: int | None = None
    exp_year: int | None = None
    fingerprint: str | None = Field(default=None, max_length=64, index=True)
    bin: str | None = Field(default=None, max_length=8)
    """The card's first six to eight digits (issuer), for BIN blocklists."""
    status: InstrumentStatus = Field(default=InstrumentStatus.ACTIVE, sa_type=EnumText(InstrumentStatus))
    is_primary: bool = Field(default=False)
    allow_backup: bool = Field(default=False)
    gateway_token: str | None = Field(default=None, max_length=100)
    sticky_gateway: str | None = Field(default=None, max_length=32)
    """Charge this instrument through this gateway whatever the website's default."""
    billing_address: dict = Field(default_factory=dict, sa_column=Column(JSON, nullable=False, server_default="{}"))
    created_at: datetime = Field(default_factory=utcnow)


class Product(SQLModel, table=True):
    __tablename__ = "product"
    id: int = Field(default=None, primary_key=True)
    sku: str = Field(max_length=limits.SKU, unique=True)
    name: str = Field(max_length=limits.NAME)
    description: str | None = Field(default=None, max_length=limits.PRODUCT_DESCRIPTION)
    requires_shipping: bool = Field(default=False, sa_column_kwargs={"server_default": text("false")})
    options: dict = Field(default_factory=dict, sa_column=Column(JSON, nullable=False, server_default="{}"))
    """Choices a buyer makes, such as {"size": ["S", "M", "L"]}."""
    active: bool = Field(default=True, sa_column_kwargs={"server_default": text("true")})
    entitlements: list = Field(default_factory=list, sa_column=Column(JSON, nullable=False, server_default="[]"))
    """What an active order of this product grants, such as ["hd-streaming", "4-screens"]."""


class Plan(SQLModel, table=True):
    """A price point of a product: what it costs, how often, with which trial and fees.

    Amounts are minor units of `currency`. An order copies these terms onto its items
    when it is created, so a later catalog change never reprices an order."""

    __tablename__ = "plan"
    id: int = Field(default=None, primary_key=True)
    product_id: int = Field(foreign_key="product.id", index=True)
    code: str = Field(max_length=limits.PLAN_CODE, unique=True)
    name: str = Field(max_length=limits.NAME)
    kind: PlanKind = Field(default=PlanKind.SUBSCRIPTION, sa_type=EnumText(PlanKind),
                           sa_column_kwargs={"server_default": "subscription"})
    price: int = Field(sa_type=BigInteger)
    currency: str = Field(max_length=3)
    interval: PlanInterval = Field(sa_type=EnumText(PlanInterval))
    interval_count: int = Field(default=1)
    cycles: int | None = None
    """Billing cycles before the order completes; None: until cancelled."""
    trial_days: int = Field(default=0)
    trial_price: int = Field(default=0, sa_type=BigInteger, sa_column_kwargs={"server_default": text("0")})
    setup_fee: int = Field(default=0, sa_type=BigInteger, sa_column_kwargs={"server_default": text("0")})
    billing_timing: BillingTiming = Field(default=BillingTiming.ADVANCE, sa_type=EnumText(BillingTiming),
                                          sa_column_kwargs={"server_default": "advance"})
    metered_unit_price: int | None = Field(default=None, sa_type=BigInteger)
    """For in-arrears plans: the price of one unit of recorded usage."""
    invoice_issue_days: int = Field(default=0, sa_column_kwargs={"server_default": text("0")})
    """Days before a period starts (in advance) or after it ends (in arrears) that its invoice is issued."""
    invoice_due_days: int = Field(default=0, sa_column_kwargs={"server_default": text("0")})
    """Days after issue that an invoice is due."""
    commission_rate_bp: int | None = None
    """Affiliate commission on this plan's sales, in basis points; None: the policy's default rate."""
    active: bool = Field(default=True, sa_column_kwargs={"server_default": text("true")})


class ShippingRate(SQLModel, table=True):
    """What shipping costs to a country ("*" for anywhere not listed), per currency."""

    __tablename__ = "shipping_rate"
    __table_args__ = (UniqueConstraint("country", "currency", name="uq_shipping_rate_country_currency"),)
    id: int = Field(default=None, primary_key=True)
    country: str = Field(max_length=2)
    currency: str = Field(max_length=3)
    amount: int = Field(sa_type=BigInteger)


class Order(SQLModel, table=True):
    """What a customer bought: one-time, or a subscription billed per period.

    `period_start`/`period_end` are the current (last billed) period; `next_bill_date` is the
    day the next invoice is due to be issued; `cycles_billed` counts billed periods, and an
    invoice's `billing_key` (order and cycle) makes each period billed exactly once."""

    __tablename__ = "orders"
    __table_args__ = (Index("ix_orders_due", "status", "next_bill_date", "id"),)
    id: int = Field(default=None, primary_key=True)
    number: str = Field(max_length=limits.ORDER_NUMBER, unique=True)
    customer_id: int = Field(foreign_key="customer.id", index=True)
    website_id: int = Field(foreign_key="website.id")
    kind: OrderKind = Field(sa_type=EnumText(OrderKind))
    status: OrderStatus = Field(sa_type=EnumText(OrderStatus))
    currency: str = Field(max_length=3)
    total: int = Field(sa_type=BigInteger)
    """The recurring amount of one period before discounts (one-time orders: the items' sum)."""
    instrument_id: int | None = Field(default=None, foreign_key="payment_instrument.id")
    autopay: bool = Field(default=True, sa_column_kwargs={"server_default": text("true")})
    next_bill_date: date | None = None
    starts_on: date | None = None
    trial_ends_on: date | None = None
    period_start: date | None = None
    period_end: date | None = None
    cycles_billed: int = Field(default=0, sa_column_kwargs={"server_default": text("0")})
    abandon_at: datetime | None = None
    """A pending order still unpaid at this time is abandoned by the billing engine."""
    delinquency_days: int | None = None
    """Cancel the subscription when an invoice stays unpaid this many days past due."""
    in_credit_control: bool = Field(default=False, sa_column_kwargs={"server_default": text("false")})
    paused_from: date | None = None
    paused_until: date | None = None
    """The last day of a pause; None with `paused_from` set: paused until resumed."""
    cancel_at_period_end: bool = Field(default=False, sa_column_kwargs={"server_default": text("false")})
    shipping_amount: int = Field(default=0, sa_type=BigInteger, sa_column_kwargs={"server_default": text("0")})
    shipping_address_id: int | None = Field(default=None, foreign_key="address.id")
    invoice_notes: str | None = Field(default=None, max_length=limits.INVOICE_NOTES)
    agent_id: int | None = Field(default=None, foreign_key="agent.id")
    """Who created it; None for the system or the demo."""
    cancelled_at: datetime | None = None
    completed_at: datetime | None = None
    version: int = Field(default=1, sa_column_kwargs={"server_default": text("1")})
    """Bumped by every edit made through a form; a save against an older version is refused."""
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime | None = None


class OrderItem(SQLModel, table=True):
    """One line of an order with its own copy of the plan's terms, overrides included.

    `customised` names the terms the agent changed for this customer (never the catalog)."""

    __tablename__ = "order_item"
    id: int = Field(default=None, primary_key=True)
    order_id: int = Field(foreign_key="orders.id", index=True)
    plan_id: int = Field(foreign_key="plan.id")
    quantity: int = Field(default=1)
    unit_price: int = Field(sa_type=BigInteger)
    currency: str = Field(max_length=3)
    plan_name: str | None = Field(default=None, max_length=limits.NAME)
    """The name printed on invoices; None: the plan's name."""
    kind: PlanKind = Field(default=PlanKind.SUBSCRIPTION, sa_type=EnumText(PlanKind),
                           sa_column_kwargs={"server_default": "subscription"})
    interval: PlanInterval = Field(default=PlanInterval.MONTH, sa_type=EnumText(PlanInterval),
                                   sa_column_kwargs={"server_default": "month"})
    interval_count: int = Field(default=1, sa_column_kwargs={"server_default": text("1")})
    cycles: int | None = None
    trial_days: int = Field(default=0, sa_column_kwargs={"server_default": text("0")})
    trial_price: int = Field(default=0, sa_type=BigInteger, sa_column_kwargs={"server_default": text("0")})
    setup_fee: int = Field(default=0, sa_type=BigInteger, sa_column_kwargs={"server_default": text("0")})
    billing_timing: BillingTiming = Field(default=BillingTiming.ADVANCE, sa_type=EnumText(BillingTiming),
                                          sa_column_kwargs={"server_default": "advance"})
    metered_unit_price: int | None = Field(default=None, sa_type=BigInteger)
    invoice_issue_days: int = Field(default=0, sa_column_kwargs={"server_default": text("0")})
    invoice_due_days: int = Field(default=0, sa_column_kwargs={"server_default": text("0")})
    options: dict = Field(default_factory=dict, sa_column=Column(JSON, nullable=False, server_default="{}"))
    customised: list = Field(default_factory=list, sa_column=Column(JSON, nullable=False, server_default="[]"))


class Coupon(SQLModel, table=True):
    """A discount definition (admins). Percent in basis points, or fixed amounts per currency."""

    __tablename__ = "coupon"
    id: int = Field(default=None, primary_key=True)
    code: str = Field(max_length=limits.COUPON_CODE, unique=True)
    """Upper-cased; matched case-insensitively."""
    description: str | None = Field(default=None, max_length=limits.DESCRIPTION)
    kind: CouponKind = Field(sa_type=EnumText(CouponKind, 16))
    percent_bp: int | None = None
    """1 to 10000 (0.01 % to 100 %) for a percent coupon."""
    amounts: dict = Field(default_factory=dict, sa_column=Column(JSON, nullable=False, server_default="{}"))
    """For a fixed coupon: {currency: minor units off}."""
    duration: CouponDuration = Field(sa_type=EnumText(CouponDuration, 16))
    duration_cycles: int | None = None
    plan_codes: list = Field(default_factory=list, sa_column=Column(JSON, nullable=False, server_default="[]"))
    """Plans it applies to; empty: every plan."""
    minimum: dict = Field(default_factory=dict, sa_column=Column(JSON, nullable=False, server_default="{}"))
    """{currency: minor units} an invoice's lines must reach before the coupon applies."""
    expires_at: datetime | None = None
    max_redemptions: int | None = None
    redemptions: int = Field(default=0)
    """Counted in SQL under the coupon's row lock, never read-modify-write."""
    expired_at: datetime | None = None
    """Set when an admin expires the coupon early."""
    created_by: int | None = Field(default=None, foreign_key="agent.id")
    created_at: datetime = Field(default_factory=utcnow)


class CouponRedemption(SQLModel, table=True):
    """A coupon applied to an order, or to a customer's account (`order_id` None: their next invoices)."""

    __tablename__ = "coupon_redemption"
    id: int = Field(default=None, primary_key=True)
    coupon_id: int = Field(foreign_key="coupon.id", index=True)
    customer_id: int = Field(foreign_key="customer.id", index=True)
    order_id: int | None = Field(default=None, foreign_key="orders.id", index=True)
    cycles_applied: int = Field(default=0)
    """Invoices it has discounted so far (for once and N-cycle coupons)."""
    ended_at: datetime | None = None
    """When it stopped applying: used up, or removed."""
    agent_id: int | None = Field(default=None, foreign_key="agent.id")
    redeemed_at: datetime = Field(default_factory=utcnow)


class Invoice(SQLModel, table=True):
    """A bill for one order period (or for account charges): lines, credit applied, payments.

    `billing_key` is unique: "order-<id>-cycle-<n>" for a subscription period, so a period is
    billed exactly once however many workers run or crash."""

    __tablename__ = "invoice"
    __table_args__ = (
        Index("ix_invoice_customer_issued", "customer_id", "issued_at", "id"),
        Index("ix_invoice_dunning", "status", "next_attempt_at"),
    )
    id: int = Field(default=None, primary_key=True)
    number: str = Field(max_length=limits.INVOICE_NUMBER, unique=True)
    billing_key: str = Field(max_length=100, unique=True)
    customer_id: int = Field(foreign_key="customer.id")
    order_id: int | None = Field(default=None, foreign_key="orders.id", index=True)
    cycle: int | None = None
    period_start: date | None = None
    period_end: date | None = None
    currency: str = Field(max_length=3)
    subtotal: int = Field(sa_type=BigInteger)
    """Lines before discounts."""
    discount: int = Field(default=0, sa_type=BigInteger)
    credit_applied: int = Field(default=0, sa_type=BigInteger)
    total: int = Field(sa_type=BigInteger)
    """What the customer owes: subtotal - discount - credit_applied, never below zero."""
    amount_paid: int = Field(default=0, sa_type=BigInteger)
    status: InvoiceStatus = Field(sa_type=EnumText(InvoiceStatus, 16))
    issued_at: datetime = Field(default_factory=utcnow)
    due_at: datetime = Field(default_factory=utcnow)
    paid_at: datetime | None = None
    closed_at: datetime | None = None
    """When it was voided or written off."""
    attempts: int = Field(default=0)
    """Collection attempts so far (the first charge and each dunning retry)."""
    next_attempt_at: datetime | None = None
    """When the dunning schedule tries again; None: no retry planned."""
    notes: str | None = Field(default=None, max_length=limits.INVOICE_NOTES)
    created_at: datetime = Field(default_factory=utcnow)


class InvoiceLine(SQLModel, table=True):
    __tablename__ = "invoice_line"
    id: int = Field(default=None, primary_key=True)
    invoice_id: int = Field(foreign_key="invoice.id", index=True)
    order_item_id: int | None = Field(default=None, foreign_key="order_item.id")
    kind: InvoiceLineKind = Field(sa_type=EnumText(InvoiceLineKind, 16))
    description: str = Field(max_length=limits.LINE_DESCRIPTION)
    period_start: date | None = None
    period_end: date | None = None
    quantity: int = Field(default=1)
    unit_price: int = Field(sa_type=BigInteger)
    amount: int = Field(sa_type=BigInteger)
    """quantity times unit_price."""
    discount: int = Field(default=0, sa_type=BigInteger)
    total: int = Field(sa_type=BigInteger)
    """amount - discount."""


class InvoiceDiscount(SQLModel, table=True):
    """One coupon redemption's discount on one invoice line; unique, so a coupon never applies twice to a line."""

    __tablename__ = "invoice_discount"
    __table_args__ = (UniqueConstraint("invoice_line_id", "redemption_id", name="uq_invoice_discount_line"),)
    id: int = Field(default=None, primary_key=True)
    invoice_line_id: int = Field(foreign_key="invoice_line.id", index=True)
    redemption_id: int = Field(foreign_key="coupon_redemption.id", index=True)
    amount: int = Field(sa_type=BigInteger)


class CreditApplication(SQLModel, table=True):
    """Credit drawn from a credit memo onto an invoice (the memo's `remaining` drops by `amount` in SQL)."""

    __tablename__ = "credit_application"
    id: int = Field(default=None, primary_key=True)
    credit_memo_id: int = Field(foreign_key="credit_memo.id", index=True)
    invoice_id: int = Field(foreign_key="invoice.id", index=True)
    amount: int = Field(sa_type=BigInteger)
    created_at: datetime = Field(default_factory=utcnow)


class UsageRecord(SQLModel, table=True):
    """Units used on an in-arrears order item, billed with the period they fall in."""

    __tablename__ = "usage_record"
    __table_args__ = (Index("ix_usage_item_unbilled", "order_item_id", "invoice_id"),)
    id: int = Field(default=None, primary_key=True)
    order_item_id: int = Field(foreign_key="order_item.id")
    quantity: int
    used_on: date
    invoice_id: int | None = Field(default=None, foreign_key="invoice.id")
    idempotency_key: str | None = Field(default=None, max_length=100, unique=True)
    agent_id: int | None = Field(default=None, foreign_key="agent.id")
    created_at: datetime = Field(default_factory=utcnow)


class AccountCharge(SQLModel, table=True):
    """A manual charge on a customer's account, billed with their next invoice (or at once)."""

    __tablename__ = "account_charge"
    id: int = Field(default=None, primary_key=True)
    customer_id: int = Field(foreign_key="customer.id", index=True)
    order_id: int | None = Field(default=None, foreign_key="orders.id")
    amount: int = Field(sa_type=BigInteger)
    currency: str = Field(max_length=3)
    description: str = Field(max_length=limits.LINE_DESCRIPTION)
    invoice_id: int | None = Field(default=None, foreign_key="invoice.id")
    """The invoice that bills it; None until then."""
    agent_id: int | None = Field(default=None, foreign_key="agent.id")
    created_at: datetime = Field(default_factory=utcnow)


class AffiliateCommission(SQLModel, table=True):
    """An affiliate's commission on one paid invoice (one per invoice), adjustable by finance and admins."""

    __tablename__ = "affiliate_commission"
    __table_args__ = (Index("ix_affiliate_commission_affiliate", "affiliate", "created_at"),)
    id: int = Field(default=None, primary_key=True)
    invoice_id: int = Field(foreign_key="invoice.id", unique=True)
    customer_id: int = Field(foreign_key="customer.id", index=True)
    order_id: int | None = Field(default=None, foreign_key="orders.id")
    transaction_id: int | None = Field(default=None, foreign_key="transaction.id", index=True)
    affiliate: str = Field(max_length=limits.AFFILIATE)
    rate_bp: int
    base_amount: int = Field(sa_type=BigInteger)
    amount: int = Field(sa_type=BigInteger)
    currency: str = Field(max_length=3)
    adjusted_by: int | None = Field(default=None, foreign_key="agent.id")
    adjustment_reason: str | None = Field(default=None, max_length=limits.REASON)
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime | None = None


class Transaction(SQLModel, table=True):
    __tablename__ = "transaction"
    __table_args__ = (Index("ix_transaction_customer_created", "customer_id", "created_at", "id"),)
    id: int = Field(default=None, primary_key=True)
    customer_id: int = Field(foreign_key="customer.id")
    order_id: int | None = Field(default=None, foreign_key="orders.id", index=True)
    invoice_id: int | None = Field(default=None, foreign_key="invoice.id", index=True)
    instrument_id: int | None = Field(default=None, foreign_key="payment_instrument.id")
    parent_id: int | None = Field(default=None, foreign_key="transaction.id", index=True)
    type: TransactionType = Field(sa_type=EnumText(TransactionType))
    status: TransactionStatus = Field(sa_type=EnumText(TransactionStatus))
    amount: int = Field(sa_type=BigInteger)
    currency: str = Field(max_length=3)
    settled: bool = Field(default=False)
    settled_at: datetime | None = None
    gateway: str = Field(default="sandbox", max_length=32)
    gateway_ref: str | None = Field(default=None, max_length=100)
    idempotency_key: str | None = Field(default=None, max_length=100, unique=True)
    reason: str | None = Field(default=None, max_length=limits.REASON)
    description: str | None = Field(default=None, max_length=limits.DESCRIPTION)
    error: str | None = Field(default=None, max_length=limits.GATEWAY_MESSAGE)
    """Why the gateway declined or failed, in its words."""
    agent_id: int | None = Field(default=None, foreign_key="agent.id")
    """Who asked for it; None for the system."""
    processed_at: datetime | None = None
    created_at: datetime = Field(default_factory=utcnow)
    seal: str | None = Field(default=None, max_length=64)
    """The service key's MAC of the immutable fields, set by the event that records the row (see
    `services.timeline.record`); None while pending."""


class CreditMemo(SQLModel, table=True):
    """Credit the merchant owes the customer, drawn down by later charges."""

    __tablename__ = "credit_memo"
    id: int = Field(default=None, primary_key=True)
    customer_id: int = Field(foreign_key="customer.id", index=True)
    amount: int = Field(sa_type=BigInteger)
    remaining: int = Field(sa_type=BigInteger)
    currency: str = Field(max_length=3)
    reason: str = Field(max_length=limits.REASON)
    agent_id: int | None = Field(default=None, foreign_key="agent.id")
    created_at: datetime = Field(default_factory=utcnow)
    seal: str | None = Field(default=None, max_length=64)
    """The service key's MAC of the immutable fields, set by the event that records the memo."""


class SandboxOperation(SQLModel, table=True):
    """The sandbox gateway's own ledger: what it did for each idempotency key.

    It stands for the payment processor's side, so it is written in its own
    short transaction, never inside one of ours."""

    __tablename__ = "sandbox_operation"
    idempotency_key: str = Field(primary_key=True, max_length=120)
    operation: str = Field(max_length=16)
    reference: str = Field(max_length=64, index=True)
    parent_reference: str | None = Field(default=None, max_length=64)
    token: str | None = Field(default=None, max_length=100)
    amount: int = Field(sa_type=BigInteger)
    currency: str = Field(max_length=3)
    outcome: str = Field(max_length=16)
    message: str | None = Field(default=None, max_length=200)
    settled: bool = Field(default=False)
    created_at: datetime = Field(default_factory=utcnow)


class TimelineEvent(SQLModel, table=True):
    """One entry of a customer's activity timeline. Rows are only ever added."""

    __tablename__ = "timeline_event"
    __table_args__ = (
        Index("ix_timeline_customer_time", "customer_id", "occurred_at", "id"),
        Index("ix_timeline_customer_type_time", "customer_id", "type", "occurred_at", "id"),
    )
    id: int = Field(default=None, primary_key=True)
    customer_id: int = Field(foreign_key="customer.id")
    type: str = Field(max_length=48, index=True)
    title: str = Field(max_length=200)
    actor_agent_id: int | None = Field(default=None, foreign_key="agent.id")
    actor_label: str = Field(max_length=64)
    """The agent's login, or "System" for the scheduler, worker and API."""
    occurred_at: datetime = Field(default_factory=utcnow)
    attributes: dict = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    search_text: str | None = Field(default=None, max_length=limits.NOTE)
    """Lower-cased words of a note or attachment, for searching within the timeline."""
    prev_hash: str | None = Field(default=None, max_length=64)
    hash: str | None = Field(default=None, max_length=64)
    """Over the previous event's hash and this event's content: the customer's chain (see `hash_version`)."""
    hash_version: int = Field(default=1, sa_column_kwargs={"server_default": text("1")})
    """1: sha256, from before the store was keyed; 2: HMAC-SHA256 with the service key."""
    bound_rows: list | None = Field(default=None, sa_column=Column(JSON, nullable=True))
    """The money rows this event recorded, as [table, id, seal]: covered by the event's keyed hash."""


class CustomerChange(SQLModel, table=True):
    """SQLite's change signal: the newest timeline event of each customer, written by a trigger
    on `timeline_event` in the event's own transaction (PostgreSQL uses NOTIFY instead)."""

    __tablename__ = "customer_change"
    customer_id: int = Field(primary_key=True, sa_column_kwargs={"autoincrement": False})
    seq: int = Field(sa_type=BigInteger, index=True)


class Mention(SQLModel, table=True):
    """An agent named with @login in a timeline note; listed for them until seen."""

    __tablename__ = "mention"
    __table_args__ = (Index("ix_mention_agent_seen", "agent_id", "seen_at"),)
    id: int = Field(default=None, primary_key=True)
    event_id: int = Field(foreign_key="timeline_event.id")
    agent_id: int = Field(foreign_key="agent.id")
    customer_id: int = Field(foreign_key="customer.id")
    seen_at: datetime | None = None
    created_at: datetime = Field(default_factory=utcnow)


class Attachment(SQLModel, table=True):
    """A file kept content-addressed in the data dir (`attachments/<sha256>`)."""

    __tablename__ = "attachment"
    id: int = Field(default=None, primary_key=True)
    customer_id: int = Field(foreign_key="customer.id", index=True)
    sha256: str = Field(max_length=64, index=True)
    name: str = Field(max_length=limits.ATTACHMENT_NAME)
    content_type: str = Field(max_length=100)
    size: int = Field(sa_type=BigInteger)
    agent_id: int | None = Field(default=None, foreign_key="agent.id")
    created_at: datetime = Field(default_factory=utcnow)


class Job(SQLModel, table=True):
    __tablename__ = "job"
    __table_args__ = (
        UniqueConstraint("idempotency_key", name="uq_job_idempotency_key"),
        Index("ix_job_due", "status", "run_after"),
    )
    id: int = Field(default=None, primary_key=True)
    kind: JobKind = Field(sa_type=EnumText(JobKind, 48))
    idempotency_key: str = Field(max_length=100)
    customer_id: int | None = Field(default=None, foreign_key="customer.id", index=True)
    status: JobStatus = Field(default=JobStatus.QUEUED, sa_type=EnumText(JobStatus))
    attempts: int = Field(default=0)
    max_attempts: int = Field(default=3)
    run_after: datetime = Field(default_factory=utcnow)
    last_error: str | None = Field(default=None, max_length=2000)
    payload: dict = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    result: dict | None = Field(default=None, sa_column=Column(JSON, nullable=True))
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)


class Policy(SQLModel, table=True):
    """One policy value (limits, ceilings, gateways, notify addresses…), read at each decision.

    Keys and their types are in `agentdesk.services.policy.keys`; only admins change them."""

    __tablename__ = "policy"
    key: str = Field(primary_key=True, max_length=100)
    value: object = Field(sa_column=Column(JSON, nullable=False))
    updated_at: datetime = Field(default_factory=utcnow)
    updated_by: int | None = Field(default=None, foreign_key="agent.id")


class PolicyChange(SQLModel, table=True):
    """Append-only log of every policy change: who, when, from and to (None: not set)."""

    __tablename__ = "policy_change"
    id: int = Field(default=None, primary_key=True)
    key: str = Field(max_length=100, index=True)
    old_value: object | None = Field(default=None, sa_column=Column(JSON, nullable=True))
    new_value: object | None = Field(default=None, sa_column=Column(JSON, nullable=True))
    agent_id: int | None = Field(default=None, foreign_key="agent.id")
    agent_label: str = Field(max_length=limits.LOGIN)
    """The admin's login, "System", or the migration that seeded the value."""
    changed_at: datetime = Field(default_factory=utcnow)


class Quote(SQLModel, table=True):
    """A priced offer to a customer: the order request as data, accepted once into an order.

    `total` is what the preview charged today when the quote was made; accepting places the
    order only at that total. `accepting_at` marks an acceptance under way (set and cleared by
    conditional updates), so two agents accepting at once place one order."""

    __tablename__ = "quote"
    __table_args__ = (Index("ix_quote_expiry", "status", "expires_on"),)
    id: int = Field(default=None, primary_key=True)
    number: str = Field(max_length=limits.ORDER_NUMBER, unique=True)
    customer_id: int = Field(foreign_key="customer.id", index=True)
    website_id: int = Field(foreign_key="website.id")
    status: QuoteStatus = Field(sa_type=EnumText(QuoteStatus, 16))
    request: dict = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    """The order request as data: items with their overrides, coupons, shipping, start."""
    priced: dict = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    """The preview when it was quoted (lines, discounts, next bills): what the printed quote shows."""
    currency: str = Field(max_length=3)
    total: int = Field(sa_type=BigInteger)
    expires_on: date
    """The last day it can be accepted."""
    accept_by: QuoteAcceptance = Field(sa_type=EnumText(QuoteAcceptance, 16))
    terms: str | None = Field(default=None, max_length=limits.QUOTE_TERMS)
    redirect_url: str | None = Field(default=None, max_length=limits.REDIRECT_URL)
    signature_name: str | None = Field(default=None, max_length=limits.NAME)
    """The signatory printed under the signature line; None: no signature line."""
    order_id: int | None = Field(default=None, foreign_key="orders.id")
    """The order placed on acceptance (with payment acceptance, also a placed order still unpaid)."""
    accepting_at: datetime | None = None
    agent_id: int | None = Field(default=None, foreign_key="agent.id")
    created_at: datetime = Field(default_factory=utcnow)
    issued_at: datetime | None = None
    decided_at: datetime | None = None
    updated_at: datetime | None = None


class ScheduledChange(SQLModel, table=True):
    """A subscription change due on a day (cancel or pause at period end, a downgrade at renewal…).

    Carried out once: the executor moves it from pending to done with a conditional update; until
    then an agent can withdraw it."""

    __tablename__ = "scheduled_change"
    __table_args__ = (Index("ix_scheduled_change_due", "status", "run_on", "id"),)
    id: int = Field(default=None, primary_key=True)
    order_id: int = Field(foreign_key="orders.id", index=True)
    customer_id: int = Field(foreign_key="customer.id")
    kind: ScheduledChangeKind = Field(sa_type=EnumText(ScheduledChangeKind, 16))
    run_on: date
    payload: dict = Field(default_factory=dict, sa_column=Column(JSON, nullable=False, server_default="{}"))
    """What the change needs: the new plan code and price, the pause's end, …"""
    status: ScheduledChangeStatus = Field(default=ScheduledChangeStatus.PENDING,
                                          sa_type=EnumText(ScheduledChangeStatus, 16))
    agent_id: int | None = Field(default=None, foreign_key="agent.id")
    created_at: datetime = Field(default_factory=utcnow)
    decided_at: datetime | None = None
    """When it was carried out, withdrawn or failed."""
    error: str | None = Field(default=None, max_length=limits.GATEWAY_MESSAGE)


class Fulfillment(SQLModel, table=True):
    """A shipment of an order's physical items, created when the invoice for them is paid."""

    __tablename__ = "fulfillment"
    id: int = Field(default=None, primary_key=True)
    order_id: int = Field(foreign_key="orders.id", index=True)
    customer_id: int = Field(foreign_key="customer.id", index=True)
    invoice_id: int | None = Field(default=None, foreign_key="invoice.id", unique=True)
    """The paid invoice that asked for it (one shipment per invoice); None for a reship."""
    reship_of_id: int | None = Field(default=None, foreign_key="fulfillment.id")
    status: FulfillmentStatus = Field(default=FulfillmentStatus.PENDING, sa_type=EnumText(FulfillmentStatus, 16))
    address_id: int | None = Field(default=None, foreign_key="address.id")
    carrier: str | None = Field(default=None, max_length=limits.CARRIER)
    tracking_number: str | None = Field(default=None, max_length=limits.TRACKING_NUMBER)
    reason: str | None = Field(default=None, max_length=limits.REASON)
    """Why it was reshipped or cancelled."""
    items: list = Field(default_factory=list, sa_column=Column(JSON, nullable=False, server_default="[]"))
    """[{"sku", "name", "quantity", "options"}] as shipped."""
    agent_id: int | None = Field(default=None, foreign_key="agent.id")
    created_at: datetime = Field(default_factory=utcnow)
    shipped_at: datetime | None = None
    delivered_at: datetime | None = None
    cancelled_at: datetime | None = None


class Link(SQLModel, table=True):
    """A link sent to a customer: queued, generated by the worker, served by the portal.

    The token is never stored: `token_nonce` (random) and the service key (outside the database) derive
    it, so the console can show the URL again while the database alone cannot; `token_hash` finds the
    link from a token the portal receives."""

    __tablename__ = "link"
    __table_args__ = (Index("ix_link_status_expiry", "status", "expires_at"),)
    id: int = Field(default=None, primary_key=True)
    customer_id: int = Field(foreign_key="customer.id", index=True)
    kind: LinkKind = Field(sa_type=EnumText(LinkKind, 16))
    status: LinkStatus = Field(default=LinkStatus.QUEUED, sa_type=EnumText(LinkStatus, 16))
    options: dict = Field(default_factory=dict, sa_column=Column(JSON, nullable=False, server_default="{}"))
    """What the agent chose for this kind (document types, deposit terms copied from the strategy, the
    invoice or quote, payout limits, redirect URL)."""
    email_to: str | None = Field(default=None, max_length=limits.EMAIL)
    """Where the worker sends the link once generated; None: the agent passes it on themselves."""
    token_hash: str | None = Field(default=None, max_length=64, unique=True)
    token_nonce: str | None = Field(default=None, max_length=64)
    expires_at: datetime | None = None
    uses: int = Field(default=0)
    """Completions so far (a single-use kind completes once)."""
    result: dict = Field(default_factory=dict, sa_column=Column(JSON, nullable=False, server_default="{}"))
    """What the customer did, for the agent: the document, transaction, payout request or order it made."""
    error: str | None = Field(default=None, max_length=limits.GATEWAY_MESSAGE)
    agent_id: int | None = Field(default=None, foreign_key="agent.id")
    agent_label: str = Field(max_length=limits.LOGIN)
    """Who asked for it; named on every step's timeline event."""
    job_id: int | None = Field(default=None, foreign_key="job.id")
    gateway_ref: str | None = Field(default=None, max_length=100)
    """A Stripe website's link: the Stripe object behind it (checkout, billing portal or identity session)."""
    hosted_url: str | None = Field(default=None, max_length=2000)
    """A Stripe website's link: Stripe's page for it, the link's URL (no token of ours)."""
    created_at: datetime = Field(default_factory=utcnow)
    ready_at: datetime | None = None
    sent_at: datetime | None = None
    opened_at: datetime | None = None
    completed_at: datetime | None = None
    ended_at: datetime | None = None
    """When it expired, was revoked or failed to generate."""
    updated_at: datetime = Field(default_factory=utcnow)


class DepositStrategy(SQLModel, table=True):
    """Admin-defined amounts a deposit link offers: per currency, with the custom-amount rule and limits."""

    __tablename__ = "deposit_strategy"
    id: int = Field(default=None, primary_key=True)
    name: str = Field(max_length=limits.SEGMENT_NAME, unique=True)
    websites: list = Field(default_factory=list, sa_column=Column(JSON, nullable=False, server_default="[]"))
    """Website codes it applies to; empty: every website."""
    amounts: dict = Field(default_factory=dict, sa_column=Column(JSON, nullable=False, server_default="{}"))
    """{currency: [minor units, …]} offered as buttons."""
    custom_amount: bool = Field(default=False)
    limits: dict = Field(default_factory=dict, sa_column=Column(JSON, nullable=False, server_default="{}"))
    """{currency: [minimum, maximum]} in minor units, for custom amounts."""
    agent_id: int | None = Field(default=None, foreign_key="agent.id")
    created_at: datetime = Field(default_factory=utcnow)


class PayoutRequest(SQLModel, table=True):
    """A customer's request for a payout, made on a payout link; nothing is paid until an admin or
    finance approves it (then through the payout service, once, keyed by this request)."""

    __tablename__ = "payout_request"
    __table_args__ = (Index("ix_payout_request_status", "status", "id"),)
    id: int = Field(default=None, primary_key=True)
    customer_id: int = Field(foreign_key="customer.id", index=True)
    link_id: int | None = Field(default=None, foreign_key="link.id")
    amount: int = Field(sa_type=BigInteger)
    currency: str = Field(max_length=3)
    instrument_id: int = Field(foreign_key="payment_instrument.id")
    status: PayoutRequestStatus = Field(default=PayoutRequestStatus.PENDING,
                                        sa_type=EnumText(PayoutRequestStatus, 16))
    transaction_id: int | None = Field(default=None, foreign_key="transaction.id")
    reason: str | None = Field(default=None, max_length=limits.REASON)
    """Why it was rejected, or the gateway's message when the payout failed."""
    decided_by: int | None = Field(default=None, foreign_key="agent.id")
    decided_at: datetime | None = None
    created_at: datetime = Field(default_factory=utcnow)


class StripeCustomer(SQLModel, table=True):
    """The Stripe Customer of one of our customers in one Stripe account (created when first needed)."""

    __tablename__ = "stripe_customer"
    __table_args__ = (UniqueConstraint("customer_id", "account", name="uq_stripe_customer_account"),)
    id: int = Field(default=None, primary_key=True)
    customer_id: int = Field(foreign_key="customer.id")
    account: str = Field(max_length=64)
    stripe_id: str = Field(max_length=64)
    created_at: datetime = Field(default_factory=utcnow)


class GatewayEvent(SQLModel, table=True):
    """A gateway's event (Stripe's `evt_…` id), kept once it is applied: a second delivery is a duplicate."""

    __tablename__ = "gateway_event"
    id: str = Field(primary_key=True, max_length=100)
    gateway: str = Field(max_length=32)
    type: str = Field(max_length=100)
    received_via: str = Field(max_length=16)
    created_at: datetime = Field(default_factory=utcnow)
    processed_at: datetime | None = None
    outcome: str | None = Field(default=None, max_length=200)


class Dispute(SQLModel, table=True):
    """A chargeback on one of our transactions, as the gateway last reported it."""

    __tablename__ = "dispute"
    id: int = Field(default=None, primary_key=True)
    customer_id: int = Field(foreign_key="customer.id", index=True)
    transaction_id: int = Field(foreign_key="transaction.id", index=True)
    gateway_ref: str = Field(max_length=100, unique=True)
    amount: int = Field(sa_type=BigInteger)
    currency: str = Field(max_length=3)
    reason: str = Field(max_length=100)
    status: str = Field(max_length=32)
    due_by: datetime | None = None
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)
    """When the gateway last changed it (the time of the event that said so): an older event changes nothing."""
