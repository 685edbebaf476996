"""Stripe's events, applied exactly once whichever way they arrive: polled from `/v1/events` by the worker
(a jump host accepts no inbound HTTP) or received as signed webhooks by the portal.

An event is applied in one transaction with the insert of its `gateway_event` row (primary key: Stripe's
event id), so a second delivery — by the other path, or the same one again — is a duplicate and changes
nothing. Events can arrive out of order: a dispute keeps the time of the event that last changed it, and an
older event leaves it as it is.
"""

from __future__ import annotations

import json
import logging
import re
from datetime import UTC, datetime
from typing import Any

import stripe
from sqlalchemy import or_
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from agentdesk.config import Settings
from agentdesk.db.models import Dispute, GatewayEvent, Setting, Transaction, utcnow
from agentdesk.db.store import Store
from agentdesk.domain.enums import TransactionStatus, TransactionType, TransactionTypeSets
from agentdesk.domain.errors import InvalidInput
from agentdesk.domain.formatting import format_utc
from agentdesk.domain.money import format_amount
from agentdesk.domain.permissions import SYSTEM
from agentdesk.services.billing import invoices
from agentdesk.services.links import stripe_events as links_events
from agentdesk.services.money import payments, refunds
from agentdesk.services.money.gateways import GatewayError, GatewayResult, Outcome
from agentdesk.services.money.gateways.stripe import KEY_METADATA, NEEDS_CUSTOMER, StripeGateway
from agentdesk.services.timeline.catalog import EventType
from agentdesk.services.timeline.record import record_event

log = logging.getLogger(__name__)

CURSOR = "stripe_events_cursor"
"""The `setting` row holding the id of the last Stripe event the poller handed over."""
HANDLED = ["payment_intent.succeeded", "payment_intent.payment_failed", "charge.refund.updated", "refund.updated",
           "charge.dispute.created", "charge.dispute.updated", "checkout.session.completed",
           "checkout.session.async_payment_succeeded", "checkout.session.async_payment_failed",
           "identity.verification_session.verified", "identity.verification_session.requires_input"]
VIA = ("poll", "webhook")
RETRY_KEY = re.compile(r"(.+)-a\d+")


def handle_event(store: Store, settings: Settings, event: dict[str, Any], via: str) -> str:
    """Apply one Stripe event once; returns what it did, or "duplicate" when it was applied before."""
    event_id, kind = event.get("id"), event.get("type")
    if not isinstance(event_id, str) or not event_id.startswith("evt_") or len(event_id) > 100:
        raise InvalidInput(fields={"event.id": "expected a Stripe event id (evt_…)"})
    if not isinstance(kind, str) or len(kind) > 100:
        raise InvalidInput(fields={"event.type": "expected a Stripe event type"})
    if via not in VIA:
        raise InvalidInput(fields={"via": f"one of {', '.join(VIA)}"})
    obj = (event.get("data") or {}).get("object") or {}
    created = event.get("created")
    when = datetime.fromtimestamp(created, UTC) if isinstance(created, int) else utcnow()
    with store.read() as session:
        if session.get(GatewayEvent, event_id) is not None:
            return "duplicate"
    card = _saved_card(store, settings, obj) if kind == "checkout.session.completed" else None
    try:
        with store.write() as session:
            row = GatewayEvent(id=event_id, gateway="stripe", type=kind, received_via=via)
            session.add(row)
            session.flush()
            outcome = _apply(session, settings, kind, obj, when, card)
            row.processed_at = utcnow()
            row.outcome = outcome[:200]
            session.add(row)
    except IntegrityError:
        with store.read() as session:
            if session.get(GatewayEvent, event_id) is not None:
                return "duplicate"
        raise
    log.info("stripe event %s (%s, via %s): %s", event_id, kind, via, outcome)
    return outcome


def poll_events(store: Store, settings: Settings) -> int:
    """Hand the Stripe events newer than the stored cursor to `handle_event`, oldest first; returns how many
    were new. The cursor moves after each event, so an interruption resumes where it stopped."""
    if settings.gateways.stripe is None:
        return 0
    gateway = StripeGateway.from_settings(settings.gateways.stripe)
    with store.read() as session:
        stored = session.get(Setting, CURSOR)
        cursor = stored.value if stored is not None else None
    applied = 0
    for event in gateway.events_after(cursor, HANDLED):
        if handle_event(store, settings, event, "poll") != "duplicate":
            applied += 1
        with store.write() as session:
            session.merge(Setting(key=CURSOR, value=event["id"]))
    return applied


def event_from_webhook(payload: bytes, signature_header: str, secret: str, tolerance: int = 300) -> dict[str, Any]:
    """The event of a webhook delivery whose `Stripe-Signature` the SDK verified with the endpoint's secret."""
    try:
        stripe.WebhookSignature.verify_header(payload.decode("utf-8"), signature_header, secret, tolerance)
    except (stripe.SignatureVerificationError, UnicodeDecodeError) as exc:
        raise GatewayError(f"not a webhook signed by Stripe: {exc}") from exc
    event = json.loads(payload)
    if not isinstance(event, dict):
        raise GatewayError("the webhook's body is not a Stripe event")
    return event


def _apply(session: Session, settings: Settings, kind: str, obj: dict[str, Any], when: datetime,
           card: dict[str, Any] | None = None) -> str:
    if kind in ("checkout.session.completed", "checkout.session.async_payment_succeeded"):
        return links_events.checkout_completed(session, obj, card)
    if kind == "checkout.session.async_payment_failed":
        return links_events.checkout_payment_failed(session, obj)
    if kind.startswith("identity.verification_session."):
        return links_events.identity_checked(session, obj, kind.rsplit(".", 1)[1])
    if kind in ("payment_intent.succeeded", "payment_intent.payment_failed"):
        return _payment(session, settings, obj, kind.endswith("succeeded"))
    if kind in ("charge.refund.updated", "refund.updated"):
        return _refund(session, obj)
    if kind in ("charge.dispute.created", "charge.dispute.updated"):
        return _dispute(session, obj, when, opened_event=kind.endswith("created"))
    return f"not an event we act on ({kind})"


def _saved_card(store: Store, settings: Settings, checkout: dict[str, Any]) -> dict[str, Any] | None:
    """The card a setup-mode Checkout Session saved, read from Stripe before the event's transaction (and
    attached to the customer's Stripe Customer if Stripe left it unattached); None for other sessions."""
    intent = checkout.get("setup_intent")
    if checkout.get("mode") != "setup" or not isinstance(intent, str) or not intent:
        return None
    link = links_events.link_of(store, checkout)
    if link is None:
        return None
    if settings.gateways.stripe is None:
        raise GatewayError("this host has no [gateways.stripe]: the card saved on Stripe's page cannot be read")
    gateway = StripeGateway.from_settings(settings.gateways.stripe)
    card = gateway.setup_card(intent)
    if card["customer"] is None:
        card["customer"] = gateway.customer_for(store, link.customer_id)
        gateway.save_payment_method(store, link.customer_id, card["payment_method"])
    return card


def _ours(session: Session, ref: Any, key: Any, types: tuple[TransactionType, ...],
          lock: bool = True) -> Transaction | None:
    """Our transaction of `types` that Stripe's object `ref` is, or that our idempotency key `key` (in the
    object's metadata) names; a refund retry's key (`<key>-a<n>`) names the refund it retries."""
    conditions = []
    if isinstance(ref, str) and ref:
        conditions.append(col(Transaction.gateway_ref) == ref)
    if isinstance(key, str) and key:
        conditions.append(col(Transaction.idempotency_key) == key)
        if retried := RETRY_KEY.fullmatch(key):
            conditions.append(col(Transaction.idempotency_key) == retried[1])
    if not conditions:
        return None
    query = (select(Transaction).where(Transaction.gateway == "stripe", col(Transaction.type).in_(types),
                                       or_(*conditions)).order_by(col(Transaction.id)))
    if lock and session.get_bind().dialect.name != "sqlite":
        query = query.with_for_update()
    return session.exec(query).first()


def intent_result(intent: dict[str, Any], succeeded: bool) -> GatewayResult:
    """What the gateway's answer would have been, from a PaymentIntent's event (as `StripeGateway.sale` tells
    a card error, an authentication requirement and anything else apart)."""
    if succeeded:
        return GatewayResult(Outcome.APPROVED, intent.get("id"), None, settled=True)
    error = intent.get("last_payment_error") or {}
    message = str(error.get("message") or "Stripe reports the payment failed")
    if error.get("type") == "card_error":
        if "authentication_required" in (error.get("code"), error.get("decline_code")):
            return GatewayResult(Outcome.AUTHENTICATION_REQUIRED, intent.get("id"), NEEDS_CUSTOMER)
        return GatewayResult(Outcome.DECLINED, intent.get("id"), message)
    return GatewayResult(Outcome.FAILED, intent.get("id"), message)


def _payment(session: Session, settings: Settings, intent: dict[str, Any], succeeded: bool) -> str:
    """A sale we left pending (no answer in time, or Stripe still processing) is finished exactly as the
    start-up repair would finish it with this answer: an invoice's payment through the invoice path (paid, or
    dunned, or the customer sent a pay-invoice link), any other sale through the payment path."""
    txn = _ours(session, intent.get("id"), (intent.get("metadata") or {}).get(KEY_METADATA),
                (TransactionType.SALE,))
    if txn is None:
        return f"no payment of ours for {intent.get('id')}"
    if txn.status != TransactionStatus.PENDING:
        return f"transaction {txn.id} was already {txn.status}"
    if intent.get("amount") != txn.amount or str(intent.get("currency", "")).upper() != txn.currency:
        return f"transaction {txn.id}: Stripe's amount differs from ours; left pending for a person to check"
    result = intent_result(intent, succeeded)
    if not result.approved and isinstance(intent.get("id"), str):
        txn.gateway_ref = intent["id"]
    if txn.invoice_id is not None:
        if txn.instrument_id is None:
            return f"transaction {txn.id} pays an invoice without a card of ours; left pending for a person"
        collected = invoices.finish_pending(session, settings, txn, result, utcnow())
        return f"transaction {txn.id} {txn.status}: {collected.message}"
    label, order = payments.sale_label(session, txn)
    payments.sale_outcome(session, SYSTEM, txn, result, None, label, txn.description, order)
    return f"transaction {txn.id} {txn.status}"


def _refund(session: Session, refund: dict[str, Any]) -> str:
    """A refund we left pending is finished as the repair would (Stripe's `succeeded` or `pending` is accepted,
    `failed` or `canceled` refused); one we recorded as accepted that Stripe now reports failed is reversed."""
    txn = _ours(session, refund.get("id"), (refund.get("metadata") or {}).get(KEY_METADATA),
                (TransactionType.REFUND,), lock=False)
    if txn is None:
        return f"no refund of ours for {refund.get('id')}"
    status = refund.get("status")
    failed = status in ("failed", "canceled")
    reason = refund.get("failure_reason") or status
    if txn.status == TransactionStatus.PENDING:
        if status not in ("succeeded", "pending") and not failed:
            return f"refund {txn.id} is pending; Stripe says {status}"
        result = (GatewayResult(Outcome.DECLINED, refund.get("id"), f"Stripe reports the refund {status} ({reason})")
                  if failed else GatewayResult(Outcome.APPROVED, refund.get("id"), None, True))
        done = refunds.record_outcome(session, SYSTEM, refunds.pending_of(session, txn), result, None, False)
        return f"refund {txn.id} {done.status.value}"
    if txn.status == TransactionStatus.APPROVED and failed:
        message = (f"Stripe reports refund {refund.get('id')} {status} ({reason}) after accepting it: "
                   f"{format_amount(txn.amount, txn.currency)} did not reach the customer")
        return refunds.reverse_refund(session, SYSTEM, txn.id, message)
    return f"refund {txn.id} is {txn.status}; Stripe says {status}"


def _dispute(session: Session, dispute: dict[str, Any], when: datetime, opened_event: bool) -> str:
    ref = dispute.get("id")
    if not isinstance(ref, str) or not ref:
        return "a dispute without an id"
    txn = _ours(session, dispute.get("payment_intent"), None, tuple(TransactionTypeSets.MONEY_IN))
    if txn is None:
        return f"no payment of ours for dispute {ref}"
    due = (dispute.get("evidence_details") or {}).get("due_by")
    amount = int(dispute.get("amount") or 0)
    currency = str(dispute.get("currency") or txn.currency).upper()[:3]
    reason = str(dispute.get("reason") or "unspecified")[:100]
    status = str(dispute.get("status") or "unknown")[:32]
    due_by = datetime.fromtimestamp(due, UTC) if isinstance(due, int) else None
    fields: dict[str, object] = {"amount": amount, "currency": currency, "reason": reason, "status": status,
                                 "due_by": due_by}
    existing = session.exec(select(Dispute).where(Dispute.gateway_ref == ref)).first()
    if existing is not None:
        last = existing.updated_at if existing.updated_at.tzinfo else existing.updated_at.replace(tzinfo=UTC)
        if opened_event or when < last:
            return f"dispute {existing.id}: an older event, nothing changed"
        if all(getattr(existing, name) == value for name, value in fields.items()):
            return f"dispute {existing.id}: nothing changed"
        for name, value in fields.items():
            setattr(existing, name, value)
        existing.updated_at = when
        session.add(existing)
        row, event_type = existing, EventType.DISPUTE_UPDATED
    else:
        row = Dispute(customer_id=txn.customer_id, transaction_id=txn.id, gateway_ref=ref, amount=amount,
                      currency=currency, reason=reason, status=status, due_by=due_by, updated_at=when)
        session.add(row)
        session.flush()
        event_type = EventType.DISPUTE_OPENED
    record_event(session, SYSTEM, txn.customer_id, event_type, amount=row.amount, currency=row.currency,
                 transaction=txn.id, reason=row.reason, status=row.status,
                 due_by=format_utc(row.due_by) if row.due_by else None)
    return f"dispute {row.id} {'opened' if event_type is EventType.DISPUTE_OPENED else 'updated'} ({row.status})"
