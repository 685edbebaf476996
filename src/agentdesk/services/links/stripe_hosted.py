"""A Stripe website's links open Stripe's own pages: Checkout (deposit and pay invoice in payment mode, add card
in setup mode), Stripe Identity (KYC) and the billing portal. No card number reaches us.

Generation creates the Stripe object (Idempotency-Key `link-<id>-<kind>`, so a retried job gets the same one:
every parameter, the expiry too, derives from the link as requested, since Stripe refuses a key re-used with other
parameters) outside any transaction of ours, then the generate job records its id and URL on the link. Expiry,
counted from the request: a Checkout Session lives 30 minutes to 24 hours at Stripe (`expires_at`), so a longer
link expiry is clamped to 23 h 55 min (the margin covers a clock apart from Stripe's) and a link generated too
late for 31 minutes fails; an Identity session's URL works 48 hours, so KYC is clamped to that.
A billing portal session is short-lived at Stripe and expires if not visited at once, so a portal link keeps our
own URL and each open makes a fresh session and redirects the customer to it (`portal_redirect`).
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlmodel import col, select

from agentdesk.config import Settings
from agentdesk.db.models import Customer as CustomerRow
from agentdesk.db.models import Invoice, Link, Website, utcnow
from agentdesk.db.store import Store
from agentdesk.domain.enums import InvoiceStatusSets, LinkKind, LinkStatus
from agentdesk.services.money.gateways import GatewayError, GatewayTimeout
from agentdesk.services.money.gateways.stripe import StripeGateway
from agentdesk.services.policy import service as policy

log = logging.getLogger(__name__)

HOSTED_BY = "hosted_by"
"""The option a Stripe website's link carries (`"stripe"`), set when it was requested."""
MADE_AT_GENERATION = frozenset({LinkKind.DEPOSIT, LinkKind.PAY_INVOICE, LinkKind.ADD_CARD, LinkKind.KYC})
CHECKOUT_LONGEST = timedelta(hours=24) - timedelta(minutes=5)
CHECKOUT_SHORTEST = timedelta(minutes=31)
IDENTITY_LONGEST = timedelta(hours=48)
NO_STRIPE = ("this host has no [gateways.stripe] with its api_key in the service account's config, so Stripe's "
             "page for the link cannot be made")
DOCUMENT_TYPES = {"passport": "passport", "id_card": "id_card", "driving_licence": "driving_license"}


@dataclass(frozen=True)
class HostedPage:
    gateway_ref: str
    url: str
    expires_at: datetime


def hosted(link: Link) -> bool:
    return (link.options or {}).get(HOSTED_BY) == "stripe"


def _gateway(settings: Settings) -> StripeGateway:
    if settings.gateways.stripe is None:
        raise GatewayError(NO_STRIPE)
    return StripeGateway.from_settings(settings.gateways.stripe)


def _metadata(link: Link, **more: str) -> dict[str, str]:
    return {"link_id": str(link.id), "kind": link.kind.value, "agentdesk_customer": str(link.customer_id), **more}


def make_page(store: Store, settings: Settings, link_id: int, now: datetime | None = None) -> HostedPage | str | None:
    """Stripe's page for a queued Stripe-hosted link: the page, why it cannot be made (the link fails), or None
    when the link is not one made at generation. Stripe not answering now raises `GatewayTimeout`."""
    now = now or utcnow()
    with store.read() as session:
        link = session.get(Link, link_id)
        if link is None or link.status != LinkStatus.QUEUED or not hosted(link) or link.kind not in MADE_AT_GENERATION:
            return None
        base = policy.portal_base_url(session)
        if base is None:
            return None
        hours = policy.link_expiry_hours(session, link.kind.value)
        asked = link.created_at if link.created_at.tzinfo else link.created_at.replace(tzinfo=UTC)
        customer = session.get(CustomerRow, link.customer_id)
        website = session.get(Website, customer.website_id) if customer else None
        invoice = (session.exec(select(Invoice).where(Invoice.id == link.options.get("invoice_id"))).one_or_none()
                   if link.kind == LinkKind.PAY_INVOICE else None)
        currency = customer.currency if customer else "USD"
        shop = website.name if website else "your account"
        session.expunge(link)
    if link.kind == LinkKind.PAY_INVOICE and (invoice is None or invoice.status not in InvoiceStatusSets.OPEN):
        return f"invoice {link.options.get('invoice')} is no longer open"
    back = link.options.get("redirect_url") or base
    key = f"link-{link.id}-{link.kind.value}"
    try:
        gateway = _gateway(settings)
        if link.kind == LinkKind.KYC:
            expires = asked + min(timedelta(hours=hours), IDENTITY_LONGEST)
            kinds = list(link.options.get("document_types", []))
            ref, url = gateway.identity_session(
                return_url=back, metadata=_metadata(link), key=key,
                allowed_types=[DOCUMENT_TYPES[k] for k in kinds if k in DOCUMENT_TYPES], selfie="selfie" in kinds)
            return HostedPage(ref, url, expires)
        expires = asked + min(timedelta(hours=hours), CHECKOUT_LONGEST)
        if expires < now + CHECKOUT_SHORTEST:
            return (f"the link was generated too late for Stripe's page: a Checkout page must live at least "
                    f"{CHECKOUT_SHORTEST.seconds // 60} minutes and this link ends at {expires:%Y-%m-%d %H:%M} UTC; "
                    "request a new link")
        stamp = int(expires.astimezone(UTC).timestamp())
        if link.kind == LinkKind.ADD_CARD:
            ref, url = gateway.checkout_setup(store, link.customer_id, currency=currency, success_url=back,
                                              cancel_url=back, expires_at=stamp, metadata=_metadata(link), key=key)
        elif link.kind == LinkKind.DEPOSIT:
            amount = int(link.options["amounts"][0])
            ref, url = gateway.checkout_payment(
                store, link.customer_id, amount=amount, currency=str(link.options["currency"]),
                name=f"Deposit to your account at {shop}", success_url=back, cancel_url=back, expires_at=stamp,
                metadata=_metadata(link), key=key)
        else:
            assert invoice is not None
            due = invoice.total - invoice.amount_paid
            ref, url = gateway.checkout_payment(
                store, link.customer_id, amount=due, currency=invoice.currency, name=f"Invoice {invoice.number}",
                success_url=back, cancel_url=back, expires_at=stamp,
                metadata=_metadata(link, invoice=invoice.number), key=key)
    except GatewayTimeout:
        raise
    except GatewayError as exc:
        return f"Stripe's page could not be made: {exc}"
    return HostedPage(ref, url, expires)


def portal_redirect(store: Store, settings: Settings, token: str) -> str | None:
    """For a Stripe website's billing-portal link: a fresh Stripe billing portal session's URL (recorded on the
    link), or None for any other link. The caller opened the link first (`access.open_link`)."""
    from agentdesk.services.links.access import peek_link

    opened = peek_link(store, token, frozenset({LinkKind.PORTAL}))
    if opened.options.get(HOSTED_BY) != "stripe":
        return None
    with store.read() as session:
        back = opened.options.get("redirect_url") or policy.portal_base_url(session) or ""
    ref, url = _gateway(settings).portal_session(store, opened.customer_id, back,
                                                 f"link-{opened.id}-portal-{uuid.uuid4().hex}")
    with store.write(unrecorded="the Stripe session behind a link the customer opened") as session:
        row = session.get(Link, opened.id)
        if row is not None:
            row.gateway_ref, row.hosted_url, row.updated_at = ref, url, utcnow()
            session.add(row)
    return url


def close_revoked(store: Store, settings: Settings, limit: int = 50) -> int:
    """Revoked Stripe-hosted links whose Stripe page is still open get it closed at Stripe (a Checkout Session
    expired, an Identity session cancelled); the link's `hosted_url` is cleared once done. Run by the worker;
    returns how many were closed. Stripe not answering leaves the rest for the next run."""
    if settings.gateways.stripe is None:
        return 0
    with store.read() as session:
        rows = session.exec(select(Link.id, Link.gateway_ref).where(
            Link.status == LinkStatus.REVOKED, col(Link.hosted_url).is_not(None), col(Link.gateway_ref).is_not(None),
            col(Link.kind).in_(list(MADE_AT_GENERATION))).order_by(col(Link.id)).limit(limit)).all()
    if not rows:
        return 0
    gateway = _gateway(settings)
    closed = 0
    for link_id, ref in rows:
        try:
            gateway.close_page(str(ref))
        except GatewayTimeout:
            break
        except GatewayError as exc:
            log.info("stripe page %s of revoked link %s already ended: %s", ref, link_id, exc)
        with store.write(unrecorded="the Stripe page of a revoked link closed") as session:
            row = session.get(Link, link_id)
            if row is not None:
                row.hosted_url = None
                session.add(row)
        closed += 1
    return closed
