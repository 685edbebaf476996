"""An agent asks for a customer link: checked per kind, written queued with its generate job, in one
transaction. The worker generates it (`generate.generate_link`)."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date, datetime
from typing import Any
from urllib.parse import urlsplit

from sqlmodel import Session, col, select

from agentdesk.config import Settings
from agentdesk.db.models import Customer, Invoice, Link, Website, utcnow
from agentdesk.db.models import Quote as QuoteRow
from agentdesk.db.store import Store
from agentdesk.domain import limits
from agentdesk.domain.enums import (
    InvoiceStatusSets,
    JobKind,
    LinkKind,
    LinkStatus,
    QuoteAcceptance,
    QuoteStatus,
)
from agentdesk.domain.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from agentdesk.domain.money import currency_code, format_amount, parse_amount
from agentdesk.domain.permissions import Action, Actor, require
from agentdesk.domain.validation import clean_line
from agentdesk.services.billing.invoices import customer_email, invoice_by_number
from agentdesk.services.customers.lookup import customer_by_ref
from agentdesk.services.jobs import queue as jobs
from agentdesk.services.links.generate import NO_PORTAL
from agentdesk.services.links.read import LinkInfo, info
from agentdesk.services.links.strategies import strategy_terms
from agentdesk.services.money.gateways import gateway_name
from agentdesk.services.policy import service as policy
from agentdesk.services.risk.compliance import DOCUMENT_KINDS
from agentdesk.services.timeline.catalog import EventType
from agentdesk.services.timeline.record import record_event, service_key

DEFAULT_DOCUMENTS = ("passport", "proof_of_address")
CUSTOM_CHOICES = ("allowed", "denied", "strategy")
STRIPE_HOSTED = frozenset({LinkKind.PORTAL, LinkKind.DEPOSIT, LinkKind.PAY_INVOICE, LinkKind.ADD_CARD, LinkKind.KYC})
"""Kinds a Stripe website's link opens on Stripe's own page (billing portal, Checkout, Identity)."""
STRIPE_NO_PAYOUT = ("a Stripe website cannot send payout links: Stripe has no page for a customer to ask for a "
                    "payout and cannot pay out to a card; pay the customer another way")
STRIPE_NO_PAID_QUOTE = ("quote {quote} is accepted by paying, and a Stripe website takes cards only on Stripe's "
                        "pages: change the quote to acceptance by the customer, or send a pay-invoice link for it")
STRIPE_ONE_AMOUNT = ("a Stripe website's deposit opens Stripe Checkout, which charges one fixed amount: give "
                     "exactly one amount and no custom amount")
STRIPE_DOCUMENTS = {"passport": "passport", "id_card": "id_card", "driving_licence": "driving_license"}
"""Our document kinds → Stripe Identity's `allowed_types`; "selfie" asks for a matching selfie."""
STRIPE_KYC_DEFAULT = ("passport", "id_card", "driving_licence")
LOCAL_HOSTS = ("127.0.0.1", "localhost")
PAYING_LINKS = frozenset({LinkKind.DEPOSIT, LinkKind.PAY_INVOICE})
"""Kinds that take the customer's money: never for a blocked customer (nor a quote accepted by payment)."""


@dataclass(frozen=True)
class LinkRequest:
    kind: LinkKind
    email: bool = False
    """Send to the customer's primary email once generated."""
    redirect_url: str | None = None
    """Where the portal sends the customer when done: https (http only to 127.0.0.1 or localhost)."""
    document_types: tuple[str, ...] = ()
    """kyc: from compliance.DOCUMENT_KINDS; empty: passport and proof of address."""
    strategy: str | None = None
    """deposit: a DepositStrategy name, whose terms are copied into the link."""
    amounts: tuple[int, ...] = ()
    """deposit: fixed amounts (minor units) instead of a strategy."""
    custom_amount: str = "strategy"
    """deposit: "allowed" | "denied" | "strategy" (without a strategy: allowed when no amounts are given)."""
    minimum: int | None = None
    maximum: int | None = None
    currency: str | None = None
    """deposit / payout: default the customer's currency."""
    invoice: str | None = None
    quote: str | None = None


def redirect_problem(url: str) -> str | None:
    parts = urlsplit(url)
    if " " in url or not parts.hostname:
        return "give a web address starting with https://"
    if parts.scheme == "https" or (parts.scheme == "http" and parts.hostname in LOCAL_HOSTS):
        return None
    return "give a web address starting with https:// (http:// only for 127.0.0.1 or localhost)"


def _redirect(url: str | None) -> str | None:
    text = clean_line(url, "redirect_url", limits.REDIRECT_URL)
    if text is None:
        return None
    problem = redirect_problem(text)
    if problem:
        raise InvalidInput(fields={"redirect_url": problem})
    return text


def _amount_problem(amount: object, currency: str) -> str | None:
    if not isinstance(amount, int) or isinstance(amount, bool) or amount <= 0:
        return "must be more than zero"
    if amount > limits.AMOUNT_MAX:
        return f"must be at most {format_amount(limits.AMOUNT_MAX, currency)}"
    return None


def _currency(request: LinkRequest, customer: Customer) -> str:
    return currency_code(request.currency) if request.currency else customer.currency


def _limits(request: LinkRequest, currency: str, problems: dict[str, str]) -> None:
    for name, value in (("minimum", request.minimum), ("maximum", request.maximum)):
        if value is not None and (bad := _amount_problem(value, currency)):
            problems[name] = bad
    if ("minimum" not in problems and "maximum" not in problems and request.minimum is not None
            and request.maximum is not None and request.minimum > request.maximum):
        problems["minimum"] = (f"{format_amount(request.minimum, currency)} is above the maximum "
                               f"{format_amount(request.maximum, currency)}")


def _kyc(request: LinkRequest) -> dict[str, Any]:
    chosen: list[str] = []
    for kind in request.document_types or DEFAULT_DOCUMENTS:
        if kind not in DOCUMENT_KINDS:
            raise InvalidInput(fields={"document_types": f"{kind!r} is not a document type; choose from "
                                                         f"{', '.join(DOCUMENT_KINDS)}"})
        if kind not in chosen:
            chosen.append(kind)
    return {"document_types": chosen}


def _deposit(session: Session, request: LinkRequest, customer: Customer, website: Website) -> dict[str, Any]:
    if request.custom_amount not in CUSTOM_CHOICES:
        raise InvalidInput(fields={"custom_amount": f"choose one of: {', '.join(CUSTOM_CHOICES)}"})
    currency = _currency(request, customer)
    problems: dict[str, str] = {}
    if request.strategy is not None:
        if request.amounts:
            problems["amounts"] = "give either a strategy or fixed amounts, not both"
        if request.minimum is not None or request.maximum is not None:
            problems["minimum"] = "the strategy sets the limits of a custom amount"
        if problems:
            raise InvalidInput(fields=problems)
        terms = strategy_terms(session, request.strategy, website.code, currency)
        if request.custom_amount == "denied":
            terms.update(custom_amount=False, minimum=None, maximum=None)
            if not terms["amounts"]:
                raise InvalidInput(fields={"custom_amount": f"strategy {terms['strategy']!r} has no fixed amounts "
                                                            f"in {currency}: the customer must type an amount"})
        elif request.custom_amount == "allowed":
            terms["custom_amount"] = True
        return {"currency": currency, "amounts": terms["amounts"], "custom_amount": terms["custom_amount"],
                "minimum": terms["minimum"], "maximum": terms["maximum"], "strategy": terms["strategy"]}
    amounts: list[int] = []
    for amount in request.amounts:
        if bad := _amount_problem(amount, currency):
            problems["amounts"] = f"every amount {bad}"
        elif amount not in amounts:
            amounts.append(amount)
    _limits(request, currency, problems)
    custom = request.custom_amount == "allowed" or (request.custom_amount == "strategy" and not request.amounts)
    if not amounts and not custom and "amounts" not in problems:
        problems["amounts"] = "give at least one amount, a strategy, or allow a custom amount"
    if not custom and (request.minimum is not None or request.maximum is not None):
        problems.setdefault("minimum", "limits apply to a custom amount; allow one or leave the limits out")
    if problems:
        raise InvalidInput(fields=problems)
    return {"currency": currency, "amounts": sorted(amounts), "custom_amount": custom,
            "minimum": request.minimum if custom else None, "maximum": request.maximum if custom else None,
            "strategy": None}


def _payout(session: Session, request: LinkRequest, customer: Customer) -> dict[str, Any]:
    currency = _currency(request, customer)
    problems: dict[str, str] = {}
    if request.maximum is None:
        problems["maximum"] = "give the largest payout the customer may ask for"
    _limits(request, currency, problems)
    if problems:
        raise InvalidInput(fields=problems)
    assert request.maximum is not None
    ceiling = policy.payout_ceiling(session, currency)
    if ceiling is None:
        raise PermissionDenied(f"there is no payout ceiling for {currency}, so payouts in it are refused; an admin "
                               f"sets one with `agentdesk policy set payout_ceiling.{currency} AMOUNT`")
    if request.maximum > ceiling:
        raise InvalidInput(fields={"maximum": f"{format_amount(request.maximum, currency)} is above the payout "
                                              f"ceiling of {format_amount(ceiling, currency)}"})
    minimum = request.minimum if request.minimum is not None else 1
    return {"currency": currency, "minimum": minimum, "maximum": request.maximum}


def _pay_invoice(session: Session, request: LinkRequest, customer: Customer) -> dict[str, Any]:
    if not request.invoice:
        raise InvalidInput(fields={"invoice": "give the number of the invoice to pay"})
    try:
        invoice = invoice_by_number(session, request.invoice)
    except NotFound:
        raise InvalidInput(fields={"invoice": f"no invoice {request.invoice!r}"}) from None
    if invoice.customer_id != customer.id:
        raise InvalidInput(fields={"invoice": f"invoice {invoice.number} is not this customer's"})
    if invoice.status not in InvoiceStatusSets.OPEN:
        raise InvalidInput(fields={"invoice": f"invoice {invoice.number} is {invoice.status.value}: only an open "
                                              "invoice can be paid"})
    return {"invoice": invoice.number, "invoice_id": invoice.id}


def _quote(session: Session, request: LinkRequest, customer: Customer, today: date) -> tuple[dict[str, Any], QuoteRow]:
    text = (request.quote or "").strip().upper()
    if not text:
        raise InvalidInput(fields={"quote": "give the number of the quote to accept"})
    row = (session.exec(select(QuoteRow).where(QuoteRow.number == text)).one_or_none()
           if len(text) <= limits.ORDER_NUMBER and text.isprintable() else None)
    if row is None:
        raise InvalidInput(fields={"quote": f"no quote {request.quote!r}"})
    if row.customer_id != customer.id:
        raise InvalidInput(fields={"quote": f"quote {row.number} is not this customer's"})
    if row.status is not QuoteStatus.ISSUED:
        raise InvalidInput(fields={"quote": f"quote {row.number} is {row.status.value}: only an issued quote can "
                                            "be sent"})
    if row.expires_on < today:
        raise InvalidInput(fields={"quote": f"quote {row.number} expired on {row.expires_on.isoformat()}"})
    return {"quote": row.number, "quote_id": row.id}, row


OPTION_KINDS: dict[str, frozenset[LinkKind]] = {
    "document_types": frozenset({LinkKind.KYC}),
    "strategy": frozenset({LinkKind.DEPOSIT}),
    "amounts": frozenset({LinkKind.DEPOSIT}),
    "minimum": frozenset({LinkKind.DEPOSIT, LinkKind.PAYOUT}),
    "maximum": frozenset({LinkKind.DEPOSIT, LinkKind.PAYOUT}),
    "currency": frozenset({LinkKind.DEPOSIT, LinkKind.PAYOUT}),
    "invoice": frozenset({LinkKind.PAY_INVOICE}),
    "quote": frozenset({LinkKind.QUOTE}),
}


def _stray(request: LinkRequest) -> None:
    """An option given for a kind that does not use it is refused, not silently dropped."""
    problems = {name: f"only for {' and '.join(k.value for k in sorted(kinds))} links"
                for name, kinds in OPTION_KINDS.items()
                if request.kind not in kinds and getattr(request, name) not in (None, ())}
    if request.kind != LinkKind.DEPOSIT and request.custom_amount != "strategy":
        problems["custom_amount"] = "only for deposit links"
    if problems:
        raise InvalidInput(fields=problems)


def _options(session: Session, settings: Settings, customer: Customer, website: Website,
             request: LinkRequest, today: date) -> dict[str, Any]:
    kind = request.kind
    stripe_site = _gateway(session, settings, website) == "stripe"
    if stripe_site and kind == LinkKind.PAYOUT:
        raise Conflict(STRIPE_NO_PAYOUT)
    blocked = f"{customer.external_id} is blocked: a blocked customer cannot be sent a link to pay"
    if kind in PAYING_LINKS and customer.blocked:
        raise Conflict(blocked)
    redirect = _redirect(request.redirect_url)
    if kind == LinkKind.KYC:
        options = _stripe_kyc(request) if stripe_site else _kyc(request)
    elif kind == LinkKind.DEPOSIT:
        options = _deposit(session, request, customer, website)
        if stripe_site and (len(options["amounts"]) != 1 or options["custom_amount"]):
            raise InvalidInput(fields={"amounts": STRIPE_ONE_AMOUNT})
    elif kind == LinkKind.PAYOUT:
        options = _payout(session, request, customer)
    elif kind == LinkKind.PAY_INVOICE:
        options = _pay_invoice(session, request, customer)
    elif kind == LinkKind.QUOTE:
        options, quote = _quote(session, request, customer, today)
        if quote.accept_by == QuoteAcceptance.PAYMENT and customer.blocked:
            raise Conflict(blocked)
        if quote.accept_by == QuoteAcceptance.PAYMENT and stripe_site:
            raise Conflict(STRIPE_NO_PAID_QUOTE.format(quote=quote.number))
    elif kind == LinkKind.PASSWORD_RESET:
        if not customer.membership_login:
            raise Conflict("the customer has no membership login; set one first")
        options = {"login": customer.membership_login}
    else:
        options = {}
    options["redirect_url"] = redirect
    if stripe_site and kind in STRIPE_HOSTED:
        options["hosted_by"] = "stripe"
    return options


def _stripe_kyc(request: LinkRequest) -> dict[str, Any]:
    """A Stripe Identity check verifies one identity document (and a selfie when asked); it collects no proof
    of address or bank statement."""
    chosen = list(_kyc(request)["document_types"]) if request.document_types else list(STRIPE_KYC_DEFAULT)
    other = [kind for kind in chosen if kind not in STRIPE_DOCUMENTS and kind != "selfie"]
    if other:
        raise InvalidInput(fields={"document_types": f"a Stripe website's identity check (Stripe Identity) verifies "
                                                     f"a passport, ID card or driving licence, and a selfie; it does "
                                                     f"not collect {', '.join(k.replace('_', ' ') for k in other)}"})
    if not any(kind in STRIPE_DOCUMENTS for kind in chosen):
        raise InvalidInput(fields={"document_types": "choose at least one of passport, id_card, driving_licence"})
    return {"document_types": chosen}


def _gateway(session: Session, settings: Settings, website: Website) -> str:
    try:
        return gateway_name(session, website, settings)
    except Conflict:
        return "stripe"  # a Stripe website on a host without its key is still a Stripe website


def request_link(store: Store, actor: Actor, settings: Settings, customer_ref: str | int,
                 request: LinkRequest, now: datetime | None = None) -> LinkInfo:
    """Write a queued link and its LINK_GENERATE job (LINK_REQUESTED). Every role may ask."""
    require(actor, Action.REQUEST_LINKS)
    request = _checked_kind(request)
    with store.write() as session:
        customer = customer_by_ref(session, customer_ref)
        link = _queue(session, actor, settings, customer, request, now or utcnow())
        return info(session, service_key(session), link, customer)


def _checked_kind(request: LinkRequest) -> LinkRequest:
    try:
        kind = LinkKind(request.kind)
    except ValueError:
        raise InvalidInput(fields={"kind": f"choose one of: {', '.join(k.value for k in LinkKind)}"}) from None
    request = replace(request, kind=kind)
    _stray(request)
    return request


def _queue(session: Session, actor: Actor, settings: Settings, customer: Customer, request: LinkRequest,
           now: datetime) -> Link:
    """`request_link` in the caller's transaction."""
    if policy.portal_base_url(session) is None:
        raise Conflict(NO_PORTAL)
    website = session.get(Website, customer.website_id)
    assert website is not None
    options = _options(session, settings, customer, website, request, now.date())
    to = None
    if request.email:
        to = customer_email(session, customer.id)
        if to is None:
            raise InvalidInput(fields={"email": "the customer has no primary email address: add one, or leave "
                                                "out --email and pass the link on yourself"})
    link = Link(customer_id=customer.id, kind=request.kind, options=options, email_to=to, agent_id=actor.agent_id,
                agent_label=actor.login, created_at=now, updated_at=now)
    session.add(link)
    session.flush()
    job = jobs.enqueue(session, JobKind.LINK_GENERATE, f"link-generate-{link.id}", {"link_id": link.id},
                       customer_id=customer.id)
    session.flush()
    link.job_id = job.id
    session.add(link)
    record_event(session, actor, customer.id, EventType.LINK_REQUESTED, kind=request.kind.value, link=link.id,
                 requested_by=actor.login, job=job.id, to=to)
    return link


OPEN_LINKS = (LinkStatus.QUEUED, LinkStatus.READY, LinkStatus.SENT, LinkStatus.OPENED)


def pay_invoice_link(session: Session, actor: Actor, settings: Settings, invoice: Invoice,
                     now: datetime) -> tuple[int | None, str]:
    """In the caller's transaction: a pay-invoice link for `invoice`, emailed when the customer has an
    address, unless one for it is still open. Returns (link id or None, what happened in words); a link
    that cannot be sent (no portal address, a blocked customer) is said, not raised."""
    open_links = session.exec(select(Link).where(
        Link.customer_id == invoice.customer_id, Link.kind == LinkKind.PAY_INVOICE,
        col(Link.status).in_(OPEN_LINKS))).all()
    for link in open_links:
        expires = link.expires_at
        if expires is not None and expires.tzinfo is None:
            expires = expires.replace(tzinfo=now.tzinfo)
        if link.options.get("invoice_id") == invoice.id and (expires is None or expires > now):
            return link.id, f"pay-invoice link {link.id} is already open"
    customer = session.get(Customer, invoice.customer_id)
    assert customer is not None
    email = customer_email(session, customer.id) is not None
    try:
        link = _queue(session, actor, settings, customer,
                      LinkRequest(LinkKind.PAY_INVOICE, email=email, invoice=invoice.number), now)
    except (Conflict, InvalidInput) as exc:
        return None, f"no pay-invoice link was sent: {exc}"
    sent = "emailed to the customer" if email else "the customer has no email address: pass it on yourself"
    return link.id, f"pay-invoice link {link.id} queued ({sent})"


def link_currency(store: Store, actor: Actor, customer_ref: str | int, currency: str | None = None) -> str:
    """The currency a deposit or payout link's typed amounts are in: `currency`, else the customer's."""
    require(actor, Action.REQUEST_LINKS)
    if currency:
        return currency_code(currency)
    with store.read() as session:
        return customer_by_ref(session, customer_ref).currency


def typed_request(store: Store, actor: Actor, customer_ref: str | int, kind: LinkKind | str, *,
                  amounts: tuple[str, ...] = (), minimum: str | None = None, maximum: str | None = None,
                  currency: str | None = None, **options: Any) -> LinkRequest:
    """A `LinkRequest` from what an agent typed (the command line or a console form): amounts as decimal text
    in the link's currency (`link_currency`), each refused by name when it is not an amount."""
    try:
        link_kind = LinkKind(str(kind).replace("-", "_"))
    except ValueError:
        raise InvalidInput(fields={"kind": f"choose one of: {', '.join(k.value for k in LinkKind)}"}) from None
    minimum = (minimum or "").strip() or None
    maximum = (maximum or "").strip() or None
    amounts = tuple(a.strip() for a in amounts if a.strip())
    cur = None
    if amounts or minimum is not None or maximum is not None or currency:
        cur = link_currency(store, actor, customer_ref, currency)
    return LinkRequest(
        link_kind, amounts=tuple(parse_amount(a, cur or "", field="amount") for a in amounts),
        minimum=parse_amount(minimum, cur or "", field="minimum") if minimum is not None else None,
        maximum=parse_amount(maximum, cur or "", field="maximum") if maximum is not None else None,
        currency=cur, **options)
