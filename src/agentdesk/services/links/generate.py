"""The worker's side of a link: generating it (queued → ready) and emailing it (ready → sent).

The token never reaches the database, not even inside an email job: the job's body holds a placeholder
line, and the runner puts the URL in at the moment it sends (`email_body`), only if the link can still
be used then. A revoked or expired link's queued email is dropped, not sent.
"""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from typing import Any

from sqlmodel import Session, select

from agentdesk.config import Settings
from agentdesk.db.models import Customer, Job, Link, Website, utcnow
from agentdesk.db.models import Quote as QuoteRow
from agentdesk.db.store import Store
from agentdesk.domain.enums import SERVABLE_LINKS, SINGLE_USE_LINKS, JobKind, LinkKind, LinkStatus, QuoteStatus
from agentdesk.domain.permissions import SYSTEM
from agentdesk.services.jobs import queue as jobs
from agentdesk.services.links import stripe_hosted
from agentdesk.services.links.tokens import new_nonce, token_for, token_hash
from agentdesk.services.money.gateways import GatewayTimeout
from agentdesk.services.policy import service as policy
from agentdesk.services.timeline.catalog import EventType
from agentdesk.services.timeline.record import record_event, service_key

URL_LINE = "<the link>"
"""The line of a link email's stored body that the runner replaces with the URL when it sends."""
NO_PORTAL = "no portal address is set: an admin sets it with `agentdesk policy set portal_base_url URL`"
EMAIL_ATTEMPTS = 5
STRIPE_RETRY = timedelta(minutes=2)
"""When Stripe could not be reached to make a link's page, the generate job tries again (same Idempotency-Key)."""

PURPOSES: dict[LinkKind, str] = {
    LinkKind.KYC: "upload the identity documents we need",
    LinkKind.DEPOSIT: "make a deposit to your account",
    LinkKind.PORTAL: "see your subscriptions and invoices, and update your card and billing address",
    LinkKind.PAYOUT: "request a payout",
    LinkKind.PAY_INVOICE: "pay invoice {invoice}",
    LinkKind.ADD_CARD: "add a payment card to your account",
    LinkKind.QUOTE: "review quote {quote} and accept or decline it",
    LinkKind.PASSWORD_RESET: "set a new password for your account",
}


def link_url(base_url: str, token: str) -> str:
    return f"{base_url.rstrip('/')}/l/{token}"


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def purpose(link: Link) -> str:
    options = link.options or {}
    text = PURPOSES[link.kind].format(invoice=options.get("invoice", ""), quote=options.get("quote", ""))
    if link.kind == LinkKind.KYC and options.get("document_types"):
        text += " (" + ", ".join(str(d).replace("_", " ") for d in options["document_types"]) + ")"
    return text


def _email(session: Session, link: Link) -> tuple[str, str]:
    """Subject and body: the website, what the link is for, a placeholder for the URL, the expiry. Of the
    customer only the first name."""
    customer = session.get(Customer, link.customer_id)
    assert customer is not None and link.expires_at is not None
    website = session.get(Website, customer.website_id)
    shop = website.name if website else "We"
    what = purpose(link)
    until = _aware(link.expires_at).astimezone(UTC).strftime("%d %B %Y, %H:%M UTC")
    once = " It can be used once." if link.kind in SINGLE_USE_LINKS else ""
    greeting = f"Hello {customer.first_name}," if customer.first_name else "Hello,"
    body = (f"{greeting}\n\n{shop} sent you a link to {what}:\n\n{URL_LINE}\n\n"
            f"The link works until {until}.{once}\n"
            "If you did not expect this email, ignore it; nothing happens unless you open the link.\n")
    return f"{shop}: a link to {what}", body


def enqueue_email(session: Session, link: Link, to: str, key: str, requested_by: str | None = None) -> Job:
    """Queue the email carrying `link` to `to` (the URL is added when it is sent)."""
    subject, body = _email(session, link)
    return jobs.enqueue(session, JobKind.EMAIL, key,
                        {"to": to, "subject": subject, "body": body, "customer_id": link.customer_id,
                         "link_id": link.id, "requested_by": requested_by or link.agent_label},
                        customer_id=link.customer_id, max_attempts=EMAIL_ATTEMPTS)


def _fail(session: Session, link: Link, message: str, now: datetime) -> dict[str, Any]:
    link.status, link.error, link.ended_at, link.updated_at = LinkStatus.FAILED, message[:500], now, now
    session.add(link)
    record_event(session, SYSTEM, link.customer_id, EventType.LINK_FAILED, kind=link.kind.value, link=link.id,
                 requested_by=link.agent_label, message=message[:500])
    return {"link": link.id, "status": LinkStatus.FAILED.value, "message": message}


def _quote_end(session: Session, link: Link) -> tuple[datetime | None, str | None]:
    """The end (UTC) of the quote's last day, or why the quote can no longer be offered."""
    row = session.get(QuoteRow, link.options.get("quote_id"))
    if row is None:
        return None, "the quote no longer exists"
    if row.status is not QuoteStatus.ISSUED:
        return None, f"quote {row.number} is {row.status.value}"
    return datetime.combine(row.expires_on + timedelta(days=1), time.min, UTC), None


def generate_link(store: Store, settings: Settings, job: jobs.JobInfo, now: datetime | None = None) -> dict[str, Any]:
    """The LINK_GENERATE job: a queued link gets its token, expiry and status ready (LINK_READY), and its
    email is queued when one was asked for. A link revoked meanwhile is left alone."""
    now = now or utcnow()
    link_id = int(job.payload["link_id"])
    try:
        page = stripe_hosted.make_page(store, settings, link_id, now)
    except GatewayTimeout as exc:
        raise jobs.RetryLater(str(exc), STRIPE_RETRY) from exc
    with store.write() as session:
        link = session.exec(select(Link).where(Link.id == link_id).with_for_update()).one_or_none()
        if link is None:
            return {"link": link_id, "skipped": "no such link"}
        if link.status != LinkStatus.QUEUED:
            return {"link": link_id, "skipped": f"the link is {link.status.value}"}
        if policy.portal_base_url(session) is None:
            return _fail(session, link, NO_PORTAL, now)
        if isinstance(page, str):
            return _fail(session, link, page, now)
        if page is not None:
            return _ready(session, link, now, page.expires_at, page)
        expires = now + timedelta(hours=policy.link_expiry_hours(session, link.kind.value))
        if link.kind == LinkKind.QUOTE:
            end, problem = _quote_end(session, link)
            if problem is not None or end is None:
                return _fail(session, link, problem or "the quote cannot be offered", now)
            if end <= now:
                return _fail(session, link, "the quote expired before the link was generated", now)
            expires = min(expires, end)
        nonce = new_nonce()
        link.token_nonce = nonce
        link.token_hash = token_hash(token_for(service_key(session), nonce))
        return _ready(session, link, now, expires, None)


def _ready(session: Session, link: Link, now: datetime, expires: datetime,
           page: stripe_hosted.HostedPage | None) -> dict[str, Any]:
    """The link is ready (LINK_READY, never with its URL) and its email queued when one was asked for."""
    if page is not None:
        link.gateway_ref, link.hosted_url = page.gateway_ref, page.url
    link.expires_at, link.status, link.ready_at, link.updated_at = expires, LinkStatus.READY, now, now
    link.error = None
    session.add(link)
    record_event(session, SYSTEM, link.customer_id, EventType.LINK_READY, kind=link.kind.value, link=link.id,
                 requested_by=link.agent_label, expires=expires.isoformat())
    result: dict[str, Any] = {"link": link.id, "status": LinkStatus.READY.value, "expires": expires.isoformat()}
    if page is not None:
        result["gateway_ref"] = page.gateway_ref
    if link.email_to:
        email = enqueue_email(session, link, link.email_to, f"email-link-{link.id}")
        session.flush()
        result["email_job"] = email.id
    return result


def fail_link(store: Store, link_id: int, message: str, now: datetime | None = None) -> None:
    """The generate job gave up: a link still queued ends as failed (LINK_FAILED) with the job's error."""
    now = now or utcnow()
    with store.write() as session:
        link = session.exec(select(Link).where(Link.id == link_id).with_for_update()).one_or_none()
        if link is not None and link.status == LinkStatus.QUEUED:
            _fail(session, link, f"the link could not be generated: {message}", now)


def email_body(store: Store, payload: dict[str, Any], now: datetime | None = None) -> str | None:
    """A link email's body with its URL, or None when the link can no longer be used (then nothing is sent)."""
    now = now or utcnow()
    with store.read() as session:
        link = session.get(Link, int(payload["link_id"]))
        if (link is None or link.status not in SERVABLE_LINKS or link.expires_at is None
                or _aware(link.expires_at) <= now):
            return None
        if link.kind in SINGLE_USE_LINKS and link.uses > 0:
            return None
        base = policy.portal_base_url(session)
        if link.hosted_url and link.kind in stripe_hosted.MADE_AT_GENERATION:
            url = link.hosted_url
        elif base is None or link.token_nonce is None:
            return None
        else:
            url = link_url(base, token_for(store.key, link.token_nonce))
    lines = str(payload["body"]).split("\n")
    return "\n".join(url if line == URL_LINE else line for line in lines)


def mark_sent(session: Session, payload: dict[str, Any], now: datetime | None = None) -> None:
    """In the email job's finishing transaction: the link is sent (ready → sent; later states stay), LINK_SENT."""
    now = now or utcnow()
    link = session.exec(select(Link).where(Link.id == int(payload["link_id"])).with_for_update()).one_or_none()
    if link is None:
        return
    if link.status == LinkStatus.READY:
        link.status = LinkStatus.SENT
    link.sent_at = link.updated_at = now
    session.add(link)
    to = payload["to"]
    record_event(session, SYSTEM, link.customer_id, EventType.LINK_SENT, kind=link.kind.value, link=link.id,
                 requested_by=payload.get("requested_by") or link.agent_label,
                 to=", ".join(to) if isinstance(to, list) else to)
