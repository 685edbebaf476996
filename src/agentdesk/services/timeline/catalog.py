"""The fixed catalog of timeline event types: a title and the typed attributes of each.

An attribute spec is `name: (kind, required)`. Kinds: "str", "int" (counts,
ids, and money in minor units), "date" (ISO date text), "list" (of strings),
"dict" (e.g. {field: {"from":..., "to":...}}).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from agentdesk.domain.dates import parse_date
from agentdesk.domain.errors import InvalidInput


class EventType(StrEnum):
    BILLING_DATE_CHANGED = "billing_date_changed"
    PAYMENT_METHOD_CHANGED = "payment_method_changed"
    ADDITIONAL_PAYMENT = "additional_payment"
    ADDRESS_MODIFIED = "address_modified"
    CREDIT_CONTROL_ENTERED = "credit_control_entered"
    CREDIT_CONTROL_EXITED = "credit_control_exited"
    SUBSCRIPTION_CANCELLED = "subscription_cancelled"
    CANCELLATION_SCHEDULED = "cancellation_scheduled"
    CANCELLATION_WITHDRAWN = "cancellation_withdrawn"
    DOWNGRADE_SCHEDULED = "downgrade_scheduled"
    DOWNGRADE_WITHDRAWN = "downgrade_withdrawn"
    SUBSCRIPTION_CHANGED = "subscription_changed"
    SUBSCRIPTION_RENEWED = "subscription_renewed"
    SUBSCRIPTION_BILLED = "subscription_billed"
    SUBSCRIPTION_BILLING_FAILED = "subscription_billing_failed"
    BILLING_RESUBMISSION_FAILED = "billing_resubmission_failed"
    NEW_PURCHASE = "new_purchase"
    CUSTOMER_CREATED = "customer_created"
    NEW_PAYMENT_METHOD = "new_payment_method"
    MANUAL_REFUND = "manual_refund"
    MANUAL_CREDIT = "manual_credit"
    MANUAL_CHARGE = "manual_charge"
    ENTITLEMENTS_REFRESHED = "entitlements_refreshed"
    CUSTOMER_ANONYMISED = "customer_anonymised"
    EMAIL_SENT = "email_sent"
    PAUSE_SCHEDULED = "pause_scheduled"
    PAUSE_ACTIVATED = "pause_activated"
    PAUSE_CANCELLED = "pause_cancelled"
    PAUSE_ENDED_EARLY = "pause_ended_early"
    PAUSE_ENDED = "pause_ended"
    CUSTOMER_EDITED = "customer_edited"
    ORDER_CREATED = "order_created"
    TRANSACTION_VOIDED = "transaction_voided"
    NOTE = "note"
    REFUND_FAILED = "refund_failed"
    REFUND_RETRYING = "refund_retrying"
    REFUND_DROPPED = "refund_dropped"
    VOID_FAILED = "void_failed"
    PAYOUT_SENT = "payout_sent"
    PAYOUT_FAILED = "payout_failed"
    PAYMENT_FAILED = "payment_failed"
    ATTACHMENT = "attachment"
    LINK = "link"
    MENTION = "mention"
    BLOCKLISTED = "blocklisted"
    UNBLOCKED = "unblocked"
    MERGED = "merged"
    LINK_REQUESTED = "link_requested"
    LINK_READY = "link_ready"
    LINK_OPENED = "link_opened"
    KYC_DOCUMENT_UPLOADED = "kyc_document_uploaded"
    BLOCKED_ATTEMPT = "blocked_attempt"
    KYC_DOCUMENT_REVIEWED = "kyc_document_reviewed"
    KYC_IDENTITY_CHECKED = "kyc_identity_checked"
    AML_CHECK = "aml_check"
    EDD_CHANGED = "edd_changed"
    TAG_ADDED = "tag_added"
    TAG_REMOVED = "tag_removed"
    COUPON_REDEEMED = "coupon_redeemed"
    INVOICE_ISSUED = "invoice_issued"
    INVOICE_PAID = "invoice_paid"
    INVOICE_RESENT = "invoice_resent"
    CREDIT_APPLIED = "credit_applied"
    TRIAL_ENDED = "trial_ended"
    ORDER_COMPLETED = "order_completed"
    ORDER_ABANDONED = "order_abandoned"
    USAGE_RECORDED = "usage_recorded"
    COMMISSION_RECORDED = "commission_recorded"
    COMMISSION_ADJUSTED = "commission_adjusted"
    QUOTE_CREATED = "quote_created"
    QUOTE_ISSUED = "quote_issued"
    QUOTE_ACCEPTED = "quote_accepted"
    QUOTE_REJECTED = "quote_rejected"
    QUOTE_EXPIRED = "quote_expired"
    QUOTE_RECALLED = "quote_recalled"
    ORDER_CANCELLED = "order_cancelled"
    TRIAL_RESTARTED = "trial_restarted"
    TRIAL_SKIPPED = "trial_skipped"
    TRIAL_STOP_SCHEDULED = "trial_stop_scheduled"
    QUANTITY_CHANGED = "quantity_changed"
    SUBSCRIPTION_BILLED_NOW = "subscription_billed_now"
    COUPON_REMOVED = "coupon_removed"
    CHANGE_SCHEDULED = "change_scheduled"
    CHANGE_WITHDRAWN = "change_withdrawn"
    FULFILLMENT_CREATED = "fulfillment_created"
    FULFILLMENT_UPDATED = "fulfillment_updated"
    FULFILLMENT_RESHIPPED = "fulfillment_reshipped"
    FULFILLMENT_CANCELLED = "fulfillment_cancelled"
    PASSWORD_RESET_REQUESTED = "password_reset_requested"
    INVOICE_VOIDED = "invoice_voided"
    INVOICE_MARKED_PAID = "invoice_marked_paid"
    INVOICE_WRITTEN_OFF = "invoice_written_off"
    LINK_SENT = "link_sent"
    LINK_COMPLETED = "link_completed"
    LINK_EXPIRED = "link_expired"
    LINK_REVOKED = "link_revoked"
    LINK_FAILED = "link_failed"
    PAYOUT_REQUESTED = "payout_requested"
    PAYOUT_REQUEST_APPROVED = "payout_request_approved"
    PAYOUT_REQUEST_REJECTED = "payout_request_rejected"
    PASSWORD_CHANGED = "password_changed"
    DISPUTE_OPENED = "dispute_opened"
    DISPUTE_UPDATED = "dispute_updated"
    PAYMENT_NEEDS_AUTHENTICATION = "payment_needs_authentication"
    REFUND_REVERSED = "refund_reversed"


@dataclass(frozen=True)
class EventSpec:
    title: str
    attributes: dict[str, tuple[str, bool]]


_SUB = {"product": ("str", True), "order": ("str", True)}
_MONEY_TXN = {
    "amount": ("int", True),
    "currency": ("str", True),
    "transaction": ("int", True),
    "order": ("str", False),
    "reason": ("str", False),
}
_QUOTE = {"quote": ("str", True), "amount": ("int", True), "currency": ("str", True)}
_CODES = {"acquirer_code": ("str", False), "provider_code": ("str", False)}
_BILLING = {
    "invoice": ("str", False),
    "amount": ("int", False),
    "currency": ("str", False),
    "transaction": ("int", False),
    "message": ("str", False),
}
_LINK = {"kind": ("str", True), "link": ("int", False), "requested_by": ("str", False)}
"""Every link event names the link and the agent who asked for it (the worker and the customer act later)."""
_INVOICE = {"invoice": ("str", True), "amount": ("int", True), "currency": ("str", True), "order": ("str", False)}

_DISPUTE = {"amount": ("int", True), "currency": ("str", True), "transaction": ("int", True),
            "reason": ("str", True), "status": ("str", True), "due_by": ("str", False)}
"""A chargeback as the gateway reported it; `due_by` is when evidence must reach the gateway (UTC)."""

CATALOG: dict[EventType, EventSpec] = {
    EventType.BILLING_DATE_CHANGED: EventSpec(
        "Billing date changed", {"from": ("date", True), "to": ("date", True), **_SUB, "amount": ("int", False),
                                 "currency": ("str", False)}
    ),
    EventType.PAYMENT_METHOD_CHANGED: EventSpec(
        "Payment method changed", {"from": ("str", True), "to": ("str", True), "product": ("str", False)}
    ),
    EventType.ADDITIONAL_PAYMENT: EventSpec(
        "Additional payment made",
        {
            "method": ("str", True),
            "amount": ("int", False),
            "currency": ("str", False),
            "transaction": ("int", False),
            "description": ("str", False),
            "order": ("str", False),
            "invoice": ("str", False),
        },
    ),
    EventType.ADDRESS_MODIFIED: EventSpec("Address modified", {"fields": ("list", True)}),
    EventType.CREDIT_CONTROL_ENTERED: EventSpec(
        "Entered credit control", {**_CODES, "order": ("str", False), "invoice": ("str", False)}
    ),
    EventType.CREDIT_CONTROL_EXITED: EventSpec(
        "Left credit control", {"order": ("str", False), "invoice": ("str", False)}
    ),
    EventType.SUBSCRIPTION_CANCELLED: EventSpec("Subscription cancelled", {**_SUB, "reason": ("str", False)}),
    EventType.CANCELLATION_SCHEDULED: EventSpec("Cancellation scheduled", {**_SUB, "on": ("date", True)}),
    EventType.CANCELLATION_WITHDRAWN: EventSpec("Scheduled cancellation withdrawn", dict(_SUB)),
    EventType.DOWNGRADE_SCHEDULED: EventSpec(
        "Downgrade scheduled",
        {"from": ("str", True), "to": ("str", True), "on": ("date", True), "order": ("str", True)},
    ),
    EventType.DOWNGRADE_WITHDRAWN: EventSpec("Scheduled downgrade withdrawn", dict(_SUB)),
    EventType.SUBSCRIPTION_CHANGED: EventSpec(
        "Subscription changed", {"from": ("str", True), "to": ("str", True), "order": ("str", True)}
    ),
    EventType.SUBSCRIPTION_RENEWED: EventSpec(
        "Subscription renewed", {**_SUB, "discount": ("str", False), "discount_occurrence": ("int", False)}
    ),
    EventType.SUBSCRIPTION_BILLED: EventSpec(
        "Subscription billed",
        {**_SUB, "amount": ("int", True), "currency": ("str", True), "discount": ("str", False),
         "invoice": ("str", False), "transaction": ("int", False)},
    ),
    EventType.SUBSCRIPTION_BILLING_FAILED: EventSpec("Subscription billing failed", {**_SUB, **_CODES, **_BILLING}),
    EventType.BILLING_RESUBMISSION_FAILED: EventSpec(
        "Billing resubmission failed", {**_SUB, **_CODES, **_BILLING, "attempt": ("int", False)}
    ),
    EventType.NEW_PURCHASE: EventSpec(
        "New purchase",
        {**_SUB, "amount": ("int", True), "currency": ("str", True), "discount": ("str", False),
         "invoice": ("str", False), "transaction": ("int", False)},
    ),
    EventType.CUSTOMER_CREATED: EventSpec("Customer created", {}),
    EventType.NEW_PAYMENT_METHOD: EventSpec(
        "Payment method added", {"instrument": ("str", True), "product": ("str", False)}
    ),
    EventType.MANUAL_REFUND: EventSpec(
        "Refund issued",
        {
            "amount": ("int", True),
            "currency": ("str", True),
            "transaction": ("int", True),
            "order": ("str", False),
            "instrument": ("str", False),
            "reason": ("str", False),
        },
    ),
    EventType.MANUAL_CREDIT: EventSpec(
        "Credit added",
        {"amount": ("int", True), "currency": ("str", True), "reason": ("str", False), "credit_memo": ("int", False)},
    ),
    EventType.MANUAL_CHARGE: EventSpec(
        "Charge added",
        {"amount": ("int", True), "currency": ("str", True), "description": ("str", False),
         "order": ("str", False), "invoice": ("str", False), "charge": ("int", False)},
    ),
    EventType.ENTITLEMENTS_REFRESHED: EventSpec("Entitlements refreshed", {**_SUB, "access": ("list", False)}),
    EventType.CUSTOMER_ANONYMISED: EventSpec("Customer anonymised", {}),
    EventType.EMAIL_SENT: EventSpec(
        "Email sent", {"subject": ("str", True), "to": ("str", True), "transaction": ("int", False)}
    ),
    EventType.PAUSE_SCHEDULED: EventSpec("Pause scheduled", {**_SUB, "on": ("date", True), "months": ("int", True),
                                                                "until": ("date", False)}),
    EventType.PAUSE_ACTIVATED: EventSpec("Pause started", {**_SUB, "months": ("int", True), "until": ("date", False)}),
    EventType.PAUSE_CANCELLED: EventSpec("Scheduled pause cancelled", dict(_SUB)),
    EventType.PAUSE_ENDED_EARLY: EventSpec("Pause ended early", {**_SUB, "days": ("int", False),
                                                                  "next_bill": ("date", False)}),
    EventType.PAUSE_ENDED: EventSpec("Pause ended", {**_SUB, "days": ("int", False), "next_bill": ("date", False)}),
    EventType.CUSTOMER_EDITED: EventSpec("Customer edited", {"changes": ("dict", True)}),
    EventType.ORDER_CREATED: EventSpec(
        "Order created",
        {"order": ("str", True), "kind": ("str", True), "amount": ("int", True), "currency": ("str", True),
         "invoice": ("str", False), "status": ("str", False)},
    ),
    EventType.TRANSACTION_VOIDED: EventSpec(
        "Transaction voided",
        {
            "amount": ("int", True),
            "currency": ("str", True),
            "transaction": ("int", True),
            "order": ("str", False),
            "reason": ("str", False),
        },
    ),
    EventType.NOTE: EventSpec("Note", {"text": ("str", True), "mentions": ("list", False), "corrects": ("int", False)}),
    EventType.ATTACHMENT: EventSpec(
        "Attachment added",
        {
            "attachment": ("int", True),
            "name": ("str", True),
            "sha256": ("str", True),
            "size": ("int", True),
            "content_type": ("str", True),
            "description": ("str", False),
        },
    ),
    EventType.LINK: EventSpec(
        "Linked", {"kind": ("str", True), "target": ("str", True), "target_id": ("int", True), "text": ("str", False)}
    ),
    EventType.MENTION: EventSpec("Agent mentioned", {"mentions": ("list", True), "text": ("str", False)}),
    EventType.BLOCKLISTED: EventSpec(
        "Blocklisted",
        {
            "entry": ("int", True),
            "kind": ("str", True),
            "value": ("str", True),
            "reason": ("str", False),
            "expires": ("str", False),
        },
    ),
    EventType.UNBLOCKED: EventSpec(
        "Removed from blocklist", {"entry": ("int", True), "kind": ("str", True), "value": ("str", True)}
    ),
    EventType.MERGED: EventSpec("Customers merged", {"kept": ("str", True), "merged": ("list", True)}),
    EventType.LINK_REQUESTED: EventSpec(
        "Link requested", {**_LINK, "job": ("int", False), "to": ("str", False), "expires": ("str", False)}
    ),
    EventType.LINK_READY: EventSpec("Link ready", {**_LINK, "url": ("str", False), "expires": ("str", True)}),
    EventType.LINK_OPENED: EventSpec("Link opened", _LINK),
    EventType.LINK_SENT: EventSpec("Link sent", {**_LINK, "to": ("str", True)}),
    EventType.LINK_COMPLETED: EventSpec("Link completed", {**_LINK, "outcome": ("str", True)}),
    EventType.LINK_EXPIRED: EventSpec("Link expired", _LINK),
    EventType.LINK_REVOKED: EventSpec("Link revoked", {**_LINK, "reason": ("str", False)}),
    EventType.LINK_FAILED: EventSpec("Link not generated", {**_LINK, "message": ("str", True)}),
    EventType.PAYOUT_REQUESTED: EventSpec(
        "Payout requested", {"request": ("int", True), "amount": ("int", True), "currency": ("str", True),
                             "method": ("str", True), "link": ("int", False)}
    ),
    EventType.PAYOUT_REQUEST_APPROVED: EventSpec(
        "Payout request approved", {"request": ("int", True), "amount": ("int", True), "currency": ("str", True),
                                    "transaction": ("int", False), "status": ("str", True)}
    ),
    EventType.PAYOUT_REQUEST_REJECTED: EventSpec(
        "Payout request rejected", {"request": ("int", True), "amount": ("int", True), "currency": ("str", True),
                                    "reason": ("str", True)}
    ),
    EventType.PASSWORD_CHANGED: EventSpec("Membership password changed", {"login": ("str", True),
                                                                         "link": ("int", False)}),
    EventType.KYC_DOCUMENT_UPLOADED: EventSpec(
        "KYC document uploaded", {"document": ("int", True), "kind": ("str", True), "name": ("str", True)}
    ),
    EventType.KYC_DOCUMENT_REVIEWED: EventSpec(
        "KYC document reviewed", {"document": ("int", True), "kind": ("str", True), "status": ("str", True)}
    ),
    EventType.KYC_IDENTITY_CHECKED: EventSpec(
        "Identity check (Stripe Identity)", {"status": ("str", True), "verification": ("str", True),
                                             "reason": ("str", False), "link": ("int", False)}
    ),
    EventType.AML_CHECK: EventSpec(
        "AML check",
        {"check": ("int", True), "result": ("str", True), "matches": ("int", True), "source": ("str", True)},
    ),
    EventType.EDD_CHANGED: EventSpec("Enhanced due diligence changed", {"changes": ("dict", True)}),
    EventType.BLOCKED_ATTEMPT: EventSpec(
        "Blocked attempt refused", {"action": ("str", True), "entry": ("int", True), "kind": ("str", True)}
    ),
    EventType.REFUND_FAILED: EventSpec("Refund failed", {**_MONEY_TXN, "message": ("str", False)}),
    EventType.REFUND_RETRYING: EventSpec(
        "Refund queued for retry",
        {**_MONEY_TXN, "attempt": ("int", True), "next_at": ("str", True), "message": ("str", False)},
    ),
    EventType.REFUND_DROPPED: EventSpec("Refund dropped after retries", {**_MONEY_TXN, "message": ("str", False)}),
    EventType.VOID_FAILED: EventSpec("Void failed", {**_MONEY_TXN, "message": ("str", False)}),
    EventType.PAYOUT_SENT: EventSpec(
        "Payout sent",
        {"amount": ("int", True), "currency": ("str", True), "transaction": ("int", True), "request_id": ("str", True)},
    ),
    EventType.PAYOUT_FAILED: EventSpec(
        "Payout failed",
        {"amount": ("int", True), "currency": ("str", True), "request_id": ("str", True), "message": ("str", False)},
    ),
    EventType.PAYMENT_FAILED: EventSpec(
        "Payment failed",
        {"amount": ("int", True), "currency": ("str", True), "message": ("str", False), "order": ("str", False),
         "invoice": ("str", False), "transaction": ("int", False)},
    ),
    EventType.TAG_ADDED: EventSpec("Tag added", {"tag": ("str", True)}),
    EventType.TAG_REMOVED: EventSpec("Tag removed", {"tag": ("str", True)}),
    EventType.COUPON_REDEEMED: EventSpec(
        "Coupon redeemed",
        {"coupon": ("str", True), "order": ("str", False), "discount": ("str", False), "scope": ("str", False)},
    ),
    EventType.INVOICE_ISSUED: EventSpec("Invoice issued", {**_INVOICE, "due": ("date", False)}),
    EventType.INVOICE_PAID: EventSpec("Invoice paid", {**_INVOICE, "transaction": ("int", False)}),
    EventType.INVOICE_RESENT: EventSpec("Invoice resent", {"invoice": ("str", True), "to": ("str", True)}),
    EventType.CREDIT_APPLIED: EventSpec(
        "Credit applied", {**_INVOICE, "credit_memo": ("int", False)}
    ),
    EventType.TRIAL_ENDED: EventSpec("Trial ended", dict(_SUB)),
    EventType.ORDER_COMPLETED: EventSpec("Order completed", {"order": ("str", True), "product": ("str", False)}),
    EventType.ORDER_ABANDONED: EventSpec("Order abandoned", {"order": ("str", True), "reason": ("str", False)}),
    EventType.USAGE_RECORDED: EventSpec(
        "Usage recorded", {**_SUB, "quantity": ("int", True), "on": ("date", True)}
    ),
    EventType.COMMISSION_RECORDED: EventSpec(
        "Affiliate commission recorded",
        {"affiliate": ("str", True), "amount": ("int", True), "currency": ("str", True), "invoice": ("str", True),
         "rate_bp": ("int", True), "order": ("str", False)},
    ),
    EventType.COMMISSION_ADJUSTED: EventSpec(
        "Affiliate commission adjusted",
        {"invoice": ("str", True), "changes": ("dict", True), "reason": ("str", True)},
    ),
    EventType.QUOTE_CREATED: EventSpec("Quote created", {**_QUOTE, "expires_on": ("date", True),
                                                         "accept_by": ("str", True)}),
    EventType.QUOTE_ISSUED: EventSpec("Quote issued", {**_QUOTE, "expires_on": ("date", True), "to": ("str", False)}),
    EventType.QUOTE_ACCEPTED: EventSpec("Quote accepted", {**_QUOTE, "order": ("str", True),
                                                           "accept_by": ("str", True)}),
    EventType.QUOTE_REJECTED: EventSpec("Quote rejected", {**_QUOTE, "reason": ("str", False)}),
    EventType.QUOTE_EXPIRED: EventSpec("Quote expired", {**_QUOTE, "expires_on": ("date", True)}),
    EventType.QUOTE_RECALLED: EventSpec("Quote recalled", {**_QUOTE, "reason": ("str", False)}),
    EventType.ORDER_CANCELLED: EventSpec("Order cancelled", {"order": ("str", True), "reason": ("str", False)}),
    EventType.TRIAL_RESTARTED: EventSpec("Trial restarted", {**_SUB, "until": ("date", True)}),
    EventType.TRIAL_SKIPPED: EventSpec("Trial skipped", {**_SUB, "invoice": ("str", False)}),
    EventType.TRIAL_STOP_SCHEDULED: EventSpec("Subscription ends with its trial", {**_SUB, "on": ("date", True)}),
    EventType.QUANTITY_CHANGED: EventSpec(
        "Quantity changed",
        {**_SUB, "from": ("int", True), "to": ("int", True), "amount": ("int", False), "currency": ("str", False)},
    ),
    EventType.SUBSCRIPTION_BILLED_NOW: EventSpec(
        "Subscription billed now", {**_SUB, "invoice": ("str", False), "reason": ("str", False)}
    ),
    EventType.COUPON_REMOVED: EventSpec("Coupon removed", {"coupon": ("str", True), "order": ("str", False)}),
    EventType.CHANGE_SCHEDULED: EventSpec(
        "Subscription change scheduled",
        {"order": ("str", True), "change": ("str", True), "on": ("date", True), "details": ("dict", False)},
    ),
    EventType.CHANGE_WITHDRAWN: EventSpec(
        "Scheduled change withdrawn",
        {"order": ("str", True), "change": ("str", True), "on": ("date", False), "reason": ("str", False)}
    ),
    EventType.FULFILLMENT_CREATED: EventSpec(
        "Fulfillment created", {"order": ("str", True), "fulfillment": ("int", True), "items": ("list", False)}
    ),
    EventType.FULFILLMENT_UPDATED: EventSpec(
        "Fulfillment updated", {"order": ("str", True), "fulfillment": ("int", True), "changes": ("dict", True)}
    ),
    EventType.FULFILLMENT_RESHIPPED: EventSpec(
        "Fulfillment reshipped",
        {"order": ("str", True), "fulfillment": ("int", True), "reship_of": ("int", True), "reason": ("str", True)},
    ),
    EventType.FULFILLMENT_CANCELLED: EventSpec(
        "Fulfillment cancelled", {"order": ("str", True), "fulfillment": ("int", True), "reason": ("str", True)}
    ),
    EventType.PASSWORD_RESET_REQUESTED: EventSpec("Password reset requested", {"login": ("str", True)}),
    EventType.INVOICE_VOIDED: EventSpec(
        "Invoice voided",
        {**_INVOICE, "reason": ("str", False), "credit_returned": ("int", False), "charges_released": ("int", False),
         "coupon_cycles_returned": ("int", False), "usage_released": ("int", False)},
    ),
    EventType.INVOICE_MARKED_PAID: EventSpec(
        "Invoice marked paid outside", {**_INVOICE, "reference": ("str", True), "transaction": ("int", False)}
    ),
    EventType.INVOICE_WRITTEN_OFF: EventSpec("Invoice written off", {**_INVOICE, "reason": ("str", False)}),
    EventType.DISPUTE_OPENED: EventSpec("Dispute opened", _DISPUTE),
    EventType.DISPUTE_UPDATED: EventSpec("Dispute updated", _DISPUTE),
    EventType.PAYMENT_NEEDS_AUTHENTICATION: EventSpec(
        "Payment needs the customer's authentication",
        {"amount": ("int", True), "currency": ("str", True), "invoice": ("str", False), "order": ("str", False),
         "transaction": ("int", False), "message": ("str", False), "link": ("int", False),
         "next_step": ("str", True)},
    ),
    EventType.REFUND_REVERSED: EventSpec(
        "Refund failed after the gateway accepted it", {**_MONEY_TXN, "refund": ("int", True), "message": ("str", True)}
    ),
}


def _valid(kind: str, value: object) -> bool:
    if kind == "str":
        return isinstance(value, str)
    if kind == "int":
        return isinstance(value, int) and not isinstance(value, bool)
    if kind == "list":
        return isinstance(value, list) and all(isinstance(v, str) for v in value)
    if kind == "dict":
        return isinstance(value, dict)
    if kind == "date":
        if not isinstance(value, str):
            return False
        try:
            parse_date(value, "date")
        except InvalidInput:
            return False
        return True
    raise AssertionError(f"unknown attribute kind {kind}")


def validate_attributes(event_type: EventType, attributes: dict) -> dict[str, Any]:
    """Return the attributes if they fit the type's spec; refuse missing, unknown or mistyped ones."""
    spec = CATALOG[event_type]
    problems: dict[str, str] = {}
    for name, (kind, required) in spec.attributes.items():
        if name not in attributes or attributes[name] is None:
            if required:
                problems[name] = "missing"
            continue
        if not _valid(kind, attributes[name]):
            problems[name] = f"expected {kind}, got {type(attributes[name]).__name__}"
    for name in attributes:
        if name not in spec.attributes:
            problems[name] = f"not an attribute of {event_type.value}"
    if problems:
        raise InvalidInput(
            f"timeline event {event_type.value}: " + "; ".join(f"{k} {v}" for k, v in problems.items()), problems
        )
    return {k: v for k, v in attributes.items() if v is not None}
