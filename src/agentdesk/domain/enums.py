"""The states and kinds the store holds, and the named sets of them the rules use.

Each is a `StrEnum`: its value is what the database column holds, and a member
compares equal to that text. A set of states that a rule names ("a sale that
took money") is a constant next to its enum, written once.
"""

from __future__ import annotations

from enum import StrEnum
from typing import ClassVar


class Role(StrEnum):
    ADMIN = "admin"
    AGENT = "agent"
    SALES = "sales"
    FINANCE = "finance"


class InstrumentMethod(StrEnum):
    CARD = "card"
    BANK_ACCOUNT = "bank_account"
    PAYPAL = "paypal"
    OTHER = "other"


class InstrumentStatus(StrEnum):
    ACTIVE = "active"
    INACTIVE = "inactive"
    EXPIRED = "expired"


class PlanInterval(StrEnum):
    """The length unit of a billing period; `ONE_TIME` for a price paid once."""

    ONE_TIME = "one_time"
    DAY = "day"
    WEEK = "week"
    MONTH = "month"
    YEAR = "year"


class PlanKind(StrEnum):
    ONE_TIME = "one_time"
    SUBSCRIPTION = "subscription"
    TRIAL_ONLY = "trial_only"
    """A trial and nothing after it: the order completes when the trial ends."""


class BillingTiming(StrEnum):
    ADVANCE = "advance"
    """Invoiced at the start of each period."""
    ARREARS = "arrears"
    """Invoiced at the end of each period, with the usage recorded during it."""


class OrderKind(StrEnum):
    ONE_TIME = "one_time"
    SUBSCRIPTION = "subscription"


class OrderStatus(StrEnum):
    PENDING = "pending"
    ACTIVE = "active"
    PAUSED = "paused"
    COMPLETED = "completed"
    CANCELLED = "cancelled"
    ABANDONED = "abandoned"
    """Pending, never paid, and past its abandon time."""


class OrderStatusSets:
    BILLABLE: ClassVar[tuple[OrderStatus, ...]] = (OrderStatus.ACTIVE,)
    """Orders the billing engine renews."""
    OPEN: ClassVar[tuple[OrderStatus, ...]] = (OrderStatus.PENDING, OrderStatus.ACTIVE, OrderStatus.PAUSED)
    """Orders still running or waiting to start."""


class QuoteStatus(StrEnum):
    DRAFT = "draft"
    ISSUED = "issued"
    """Sent to the customer; can be accepted or rejected until it expires."""
    ACCEPTED = "accepted"
    REJECTED = "rejected"
    EXPIRED = "expired"
    RECALLED = "recalled"
    """Withdrawn by the merchant."""


class QuoteAcceptance(StrEnum):
    """What makes a quote accepted."""

    PAYMENT = "payment"
    """The customer pays the full amount due today."""
    CUSTOMER = "customer"
    """The customer says yes; payment follows the order's own terms."""


class CouponKind(StrEnum):
    PERCENT = "percent"
    FIXED = "fixed"


class CouponDuration(StrEnum):
    ONCE = "once"
    REPEATING = "repeating"
    """For a number of billing cycles."""
    FOREVER = "forever"


class InvoiceStatus(StrEnum):
    ISSUED = "issued"
    PAID = "paid"
    PAST_DUE = "past_due"
    VOID = "void"
    UNCOLLECTIBLE = "uncollectible"


class InvoiceStatusSets:
    OPEN: ClassVar[tuple[InvoiceStatus, ...]] = (InvoiceStatus.ISSUED, InvoiceStatus.PAST_DUE)
    """Invoices that still want paying."""


class InvoiceLineKind(StrEnum):
    ITEM = "item"
    TRIAL = "trial"
    SETUP_FEE = "setup_fee"
    SHIPPING = "shipping"
    USAGE = "usage"
    CHARGE = "charge"
    """A manual charge added to the customer's account."""


class TransactionType(StrEnum):
    SALE = "sale"
    AUTHORIZE = "authorize"
    CAPTURE = "capture"
    REFUND = "refund"
    VOID = "void"
    CREDIT = "credit"


class TransactionTypeSets:
    MONEY_IN: ClassVar[tuple[TransactionType, ...]] = (TransactionType.SALE, TransactionType.CAPTURE)
    """Transactions that take the customer's money: they settle, and can be refunded or voided."""
    TAKEN_BACK: ClassVar[tuple[TransactionType, ...]] = (TransactionType.REFUND, TransactionType.VOID)
    """Transactions that give money in (a `MONEY_IN` parent) back."""


class TransactionStatus(StrEnum):
    PENDING = "pending"
    APPROVED = "approved"
    DECLINED = "declined"
    FAILED = "failed"
    PARTIALLY_REFUNDED = "partially_refunded"
    REFUNDED = "refunded"
    VOIDED = "voided"


class TransactionStatusSets:
    SUCCESSFUL_SALE: ClassVar[tuple[TransactionStatus, ...]] = (
        TransactionStatus.APPROVED, TransactionStatus.PARTIALLY_REFUNDED, TransactionStatus.REFUNDED,
    )
    """A sale that took money, whatever was refunded of it since."""
    REFUNDABLE: ClassVar[tuple[TransactionStatus, ...]] = (
        TransactionStatus.APPROVED, TransactionStatus.PARTIALLY_REFUNDED,
    )
    """A sale that still holds money: it can be refunded (or voided), and it counts when it settles."""


class JobStatus(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"


class JobStatusSets:
    OPEN: ClassVar[tuple[JobStatus, ...]] = (JobStatus.QUEUED, JobStatus.RUNNING)
    """A job that will still run (again)."""


class JobKind(StrEnum):
    EMAIL = "email"
    REFUND_RETRY = "refund_retry"
    BILLING_RUN = "billing_run"
    LINK_GENERATE = "link_generate"


class KycStatus(StrEnum):
    PENDING = "pending"
    ACCEPTED = "accepted"
    REJECTED = "rejected"


class AmlResult(StrEnum):
    CLEAR = "clear"
    REVIEW = "review"
    MATCH = "match"


class BlocklistKind(StrEnum):
    CUSTOMER = "customer"
    EMAIL = "email"
    PHONE = "phone"
    FINGERPRINT = "fingerprint"
    BIN = "bin"
    IP = "ip"
    COUNTRY = "country"


class BlocklistKindSets:
    DIRECT: ClassVar[tuple[BlocklistKind, ...]] = (
        BlocklistKind.CUSTOMER, BlocklistKind.EMAIL, BlocklistKind.PHONE, BlocklistKind.FINGERPRINT,
    )
    """Kinds that name particular customers, and so set their `blocked` flag."""


class RefundKind(StrEnum):
    REFUND = "refund"
    VOID = "void"


class RefundOutcome(StrEnum):
    """What became of one refund or void an agent asked for."""

    APPROVED = "approved"
    DECLINED = "declined"
    FAILED = "failed"
    PENDING = "pending"
    """No answer from the gateway yet; the same request is re-sent, never paid twice."""
    RETRYING = "retrying"
    """The gateway could not do it now; the queue tries again daily."""
    REFUSED = "refused"
    """Not attempted: the rules refused it (already refunded, nothing left, not found…)."""


class ScheduledChangeKind(StrEnum):
    """A change to a subscription that the billing engine carries out on its day."""

    CANCEL = "cancel"
    PAUSE = "pause"
    RESUME = "resume"
    CHANGE_PLAN = "change_plan"
    """An upgrade at renewal or a downgrade: the items' plan, price point or option change."""
    TRIAL_STOP = "trial_stop"
    """End the subscription when its trial ends."""


class ScheduledChangeStatus(StrEnum):
    PENDING = "pending"
    DONE = "done"
    WITHDRAWN = "withdrawn"
    FAILED = "failed"


class FulfillmentStatus(StrEnum):
    PENDING = "pending"
    SHIPPED = "shipped"
    DELIVERED = "delivered"
    CANCELLED = "cancelled"


class LinkKind(StrEnum):
    """What a customer link lets the customer do on the portal."""

    KYC = "kyc"
    DEPOSIT = "deposit"
    PORTAL = "portal"
    PAYOUT = "payout"
    PAY_INVOICE = "pay_invoice"
    ADD_CARD = "add_card"
    QUOTE = "quote"
    PASSWORD_RESET = "password_reset"


SINGLE_USE_LINKS = frozenset({LinkKind.KYC, LinkKind.PAYOUT, LinkKind.PAY_INVOICE, LinkKind.ADD_CARD, LinkKind.QUOTE,
                              LinkKind.PASSWORD_RESET})
"""Kinds that complete once: after that the link is used up. Deposit and billing-portal links serve until they
expire."""

CARD_ENTRY_LINKS = frozenset({LinkKind.DEPOSIT, LinkKind.PAY_INVOICE, LinkKind.ADD_CARD, LinkKind.PORTAL})
"""Kinds whose page may take a card number (the hosted form of the website's gateway)."""


class LinkStatus(StrEnum):
    QUEUED = "queued"
    READY = "ready"
    SENT = "sent"
    OPENED = "opened"
    COMPLETED = "completed"
    EXPIRED = "expired"
    REVOKED = "revoked"
    FAILED = "failed"


LIVE_LINKS = frozenset({LinkStatus.QUEUED, LinkStatus.READY, LinkStatus.SENT, LinkStatus.OPENED,
                        LinkStatus.COMPLETED})
"""Statuses in which a link may still be (or become) usable; the rest have ended."""
SERVABLE_LINKS = frozenset({LinkStatus.READY, LinkStatus.SENT, LinkStatus.OPENED, LinkStatus.COMPLETED})
"""Statuses in which the portal serves a link (a completed single-use link is refused as used)."""


class PayoutRequestStatus(StrEnum):
    PENDING = "pending"
    """Waiting for an admin or finance to decide."""
    APPROVED = "approved"
    """Approved and sent; the gateway has not confirmed yet."""
    PAID = "paid"
    REJECTED = "rejected"
    FAILED = "failed"
    """Approved, but the gateway declined the payout."""
