"""What Stripe's events do to a Stripe website's links, inside the event's transaction
(`services.money.stripe_events.handle_event`, which applies each event id once).

- `checkout.session.completed` (paid) or `checkout.session.async_payment_succeeded` (a payment method that
  settles later, now paid), payment mode: the sale is recorded as an approved, settled transaction of the
  customer (keyed `stripe-checkout-<session>`, so it is written once even if Stripe sent the session twice),
  a pay-invoice link's invoice is paid through the invoice path, and the link completes;
- `checkout.session.async_payment_failed`: that later payment failed; the timeline says so (PAYMENT_FAILED);
- the same, setup mode: the card Stripe saved becomes a payment instrument (brand, last four, expiry, its
  PaymentMethod as the token) and the add-card link completes;
- `identity.verification_session.verified` / `requires_input`: the outcome goes on the timeline
  (KYC_IDENTITY_CHECKED); a verified session completes the KYC link, one that needs input leaves it open.
"""

from __future__ import annotations

from typing import Any

from sqlmodel import Session, col, select

from agentdesk.db import search_index
from agentdesk.db.models import Invoice, Link, Order, PaymentInstrument, Transaction, utcnow
from agentdesk.db.store import Store
from agentdesk.domain import limits
from agentdesk.domain.enums import (
    SINGLE_USE_LINKS,
    InstrumentMethod,
    InvoiceStatusSets,
    LinkKind,
    LinkStatus,
    TransactionStatus,
    TransactionType,
)
from agentdesk.domain.money import format_amount
from agentdesk.domain.permissions import CUSTOMER, SYSTEM
from agentdesk.services.billing import invoice_actions
from agentdesk.services.links.access import complete
from agentdesk.services.money import aggregates
from agentdesk.services.money.instruments import label_of
from agentdesk.services.timeline.catalog import EventType
from agentdesk.services.timeline.record import record_event

BRANDS = {"visa": "Visa", "mastercard": "Mastercard", "amex": "Amex", "discover": "Discover"}
ON_STRIPE = "card on Stripe's page"


def _find(session: Session, ref: Any, metadata: Any, lock: bool) -> Link | None:
    """The link whose Stripe object is `ref`; else the one its metadata names, if no other object was recorded."""
    if not isinstance(ref, str) or not ref:
        return None
    query = select(Link).where(col(Link.gateway_ref) == ref)
    if lock and session.get_bind().dialect.name != "sqlite":
        query = query.with_for_update()
    link = session.exec(query).first()
    if link is not None:
        return link
    named = (metadata or {}).get("link_id") if isinstance(metadata, dict) else None
    if not isinstance(named, str) or not named.isdigit() or not limits.in_id_range(int(named)):
        return None
    query = select(Link).where(col(Link.id) == int(named))
    if lock and session.get_bind().dialect.name != "sqlite":
        query = query.with_for_update()
    link = session.exec(query).first()
    if link is None or (link.options or {}).get("hosted_by") != "stripe" or link.gateway_ref not in (None, ref):
        return None
    return link


def link_of(store: Store, obj: dict[str, Any]) -> Link | None:
    with store.read() as session:
        link = _find(session, obj.get("id"), obj.get("metadata"), lock=False)
        if link is not None:
            session.expunge(link)
        return link


def _finish(session: Session, link: Link, outcome: str, result: dict[str, Any]) -> str:
    """Complete the link unless it ended another way or was already used; returns what happened to it."""
    if link.status in (LinkStatus.REVOKED, LinkStatus.FAILED):
        return f"link {link.id} was {link.status.value}, left so"
    if link.kind in SINGLE_USE_LINKS and link.uses > 0:
        return f"link {link.id} was already completed"
    complete(session, link, outcome, result)
    return f"link {link.id} completed"


def checkout_completed(session: Session, checkout: dict[str, Any], card: dict[str, Any] | None) -> str:
    ref = checkout.get("id")
    link = _find(session, ref, checkout.get("metadata"), lock=True)
    if link is None:
        return f"no link of ours for checkout {ref}"
    if checkout.get("mode") == "setup":
        return _card_saved(session, link, card)
    if checkout.get("mode") != "payment":
        return f"checkout {ref} is in {checkout.get('mode')} mode: not one of ours"
    status = checkout.get("payment_status")
    if status != "paid":
        return f"checkout {ref} completed with payment {status}: nothing recorded until it is paid"
    key = f"stripe-checkout-{ref}"[:100]
    if session.exec(select(Transaction.id).where(Transaction.idempotency_key == key)).first() is not None:
        return f"checkout {ref} was already recorded"
    amount, currency = int(checkout.get("amount_total") or 0), str(checkout.get("currency") or "").upper()[:3]
    now = utcnow()
    aggregates.lock_customers(session, [link.customer_id])
    invoice: Invoice | None = None
    if link.kind == LinkKind.PAY_INVOICE:
        query = select(Invoice).where(col(Invoice.id) == link.options.get("invoice_id"))
        if session.get_bind().dialect.name != "sqlite":
            query = query.with_for_update()
        invoice = session.exec(query).one_or_none()
    order = session.get(Order, invoice.order_id) if invoice is not None and invoice.order_id else None
    what = f"Invoice {invoice.number}" if invoice is not None else "Deposit"
    txn = Transaction(customer_id=link.customer_id, order_id=order.id if order else None,
                      invoice_id=invoice.id if invoice is not None else None, type=TransactionType.SALE,
                      status=TransactionStatus.APPROVED, amount=amount, currency=currency, settled=True,
                      settled_at=now, gateway="stripe", gateway_ref=str(checkout.get("payment_intent") or ref)[:100],
                      idempotency_key=key, description=f"{what} paid on Stripe's page (link {link.id})"[
                          :limits.DESCRIPTION], processed_at=now, created_at=now)
    session.add(txn)
    session.flush()
    aggregates.record_sale(session, link.customer_id, amount, currency, now, settled=True)
    record_event(session, CUSTOMER, link.customer_id, EventType.ADDITIONAL_PAYMENT, method=ON_STRIPE, amount=amount,
                 currency=currency, transaction=txn.id, description=txn.description,
                 order=order.number if order else None)
    result: dict[str, Any] = {"transaction": txn.id}
    paid = f"{format_amount(amount, currency)} paid"
    if invoice is not None:
        result["invoice"] = invoice.number
        if invoice.status not in InvoiceStatusSets.OPEN or invoice.currency != currency:
            note = (f"invoice {invoice.number} is {invoice.status.value}" if invoice.status not in
                    InvoiceStatusSets.OPEN else f"invoice {invoice.number} is in {invoice.currency}")
            return f"transaction {txn.id} approved, but {note}: left for a person; " + _finish(
                session, link, f"{paid} on Stripe's page ({note})", result)
        invoice.amount_paid += amount
        session.add(invoice)
        if invoice.amount_paid >= invoice.total:
            invoice_actions._paid(session, CUSTOMER, invoice, order, amount, txn, now, "paid by card on Stripe's page")
        return f"transaction {txn.id} approved, invoice {invoice.number} {invoice.status.value}; " + _finish(
            session, link, f"invoice {invoice.number} paid", result)
    return f"transaction {txn.id} approved; " + _finish(session, link, f"{paid} (deposit)", result)


def checkout_payment_failed(session: Session, checkout: dict[str, Any]) -> str:
    """A payment-mode session the customer completed with a payment method that settles later (a bank debit),
    which then failed: nothing was recorded for it, so the timeline says so and the agent sends a new link."""
    ref = checkout.get("id")
    link = _find(session, ref, checkout.get("metadata"), lock=True)
    if link is None or checkout.get("mode") != "payment":
        return f"no payment link of ours for checkout {ref}"
    amount, currency = int(checkout.get("amount_total") or 0), str(checkout.get("currency") or "").upper()[:3]
    invoice = link.options.get("invoice") if link.kind == LinkKind.PAY_INVOICE else None
    message = (f"the payment the customer made on Stripe's page (link {link.id}) failed after it was completed; "
               "nothing was charged: send them a new link")
    record_event(session, SYSTEM, link.customer_id, EventType.PAYMENT_FAILED, amount=amount, currency=currency,
                 message=message, invoice=invoice)
    return f"checkout {ref} payment failed: on the timeline, link {link.id} left {link.status.value}"


def _card_saved(session: Session, link: Link, card: dict[str, Any] | None) -> str:
    if card is None:
        return f"link {link.id}: Stripe named no saved card"
    method = str(card["payment_method"])
    existing = session.exec(select(PaymentInstrument).where(PaymentInstrument.customer_id == link.customer_id,
                                                            PaymentInstrument.gateway_token == method)).first()
    if existing is not None:
        return f"card {method} was already saved as instrument {existing.id}"
    has_primary = session.exec(select(PaymentInstrument.id).where(
        PaymentInstrument.customer_id == link.customer_id, PaymentInstrument.is_primary)).first() is not None
    brand = str(card.get("brand") or "card")
    instrument = PaymentInstrument(
        customer_id=link.customer_id, method=InstrumentMethod.CARD, brand=BRANDS.get(brand, brand.title())[:40],
        last4=str(card.get("last4") or "")[:4] or None, exp_month=card.get("exp_month"),
        exp_year=card.get("exp_year"), fingerprint=(str(card["fingerprint"])[:64] if card.get("fingerprint") else None),
        is_primary=not has_primary, gateway_token=method)
    session.add(instrument)
    session.flush()
    record_event(session, CUSTOMER, link.customer_id, EventType.NEW_PAYMENT_METHOD, instrument=label_of(instrument))
    search_index.refresh(session, [link.customer_id])
    return f"instrument {instrument.id} saved; " + _finish(session, link, f"card {label_of(instrument)} added",
                                                            {"instrument": instrument.id})


def identity_checked(session: Session, verification: dict[str, Any], status: str) -> str:
    ref = verification.get("id")
    link = _find(session, ref, verification.get("metadata"), lock=True)
    if link is None or link.kind != LinkKind.KYC:
        return f"no KYC link of ours for verification {ref}"
    error = verification.get("last_error") or {}
    reason = (str(error.get("reason") or error.get("code") or "")[:200] or None) if status != "verified" else None
    record_event(session, SYSTEM, link.customer_id, EventType.KYC_IDENTITY_CHECKED, status=status,
                 verification=str(ref), reason=reason, link=link.id)
    if status != "verified":
        return f"verification {ref} {status}" + (f" ({reason})" if reason else "") + f"; link {link.id} left open"
    return f"verification {ref} verified; " + _finish(session, link, "identity verified by Stripe Identity",
                                                      {"verification_session": ref})
