"""The customer portal: one page per link kind, plain HTML forms, the customer services behind them.

`create_app(store, settings)` builds the Starlette application that `agentdesk portal` serves with
uvicorn. Every page is rendered by Jinja2 with autoescaping; every POST is checked for size, origin
and CSRF before any service runs; every response carries the security headers (`security.HEADERS`).
"""

from __future__ import annotations

import logging
import traceback
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from importlib import resources
from typing import Any, TypeVar

from jinja2 import Environment, PackageLoader, StrictUndefined
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData, UploadFile
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, PlainTextResponse, RedirectResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from agentdesk.config import Settings
from agentdesk.db.store import Store
from agentdesk.domain.enums import LinkKind
from agentdesk.domain.errors import InvalidInput, ServiceError
from agentdesk.domain.money import format_amount, parse_amount
from agentdesk.domain.validation import AddressInput
from agentdesk.portal import security
from agentdesk.services.links import (
    access,
    customer_documents,
    customer_money,
    customer_password,
    customer_quotes,
    customer_site,
    stripe_hosted,
)
from agentdesk.services.links.access import LinkUnavailable, LinkUsed, OpenLink
from agentdesk.services.money import stripe_events
from agentdesk.services.money.gateways import GatewayError, GatewayTimeout

log = logging.getLogger("agentdesk.portal")
T = TypeVar("T")

TITLES = {
    LinkKind.KYC: "Upload your documents",
    LinkKind.DEPOSIT: "Make a deposit",
    LinkKind.PAY_INVOICE: "Pay your invoice",
    LinkKind.ADD_CARD: "Add a card",
    LinkKind.PORTAL: "Your account",
    LinkKind.PAYOUT: "Request a payout",
    LinkKind.QUOTE: "Your quote",
    LinkKind.PASSWORD_RESET: "Choose a new password",
}
NOT_VALID = ("Link not valid", access.UNAVAILABLE)
USED = ("Link already used", access.USED)
FORBIDDEN = ("Form not accepted", "This form has expired or was sent from another site. Go back, reload the page "
             "and try again.")
TOO_LARGE = ("Too large", "What you sent is too large. Each file may be at most the size the page states; "
             "go back and choose smaller files.")
TOO_MANY = ("Too many attempts", "Too many links that are not valid were tried from your address. Try again "
            "in ten minutes.")
BROKEN = ("Something went wrong", "Something went wrong on our side and nothing was changed. Try again later, "
          "or contact us.")
STRIPE_DOWN = ("Try again in a minute", "Your account page at our payment provider could not be opened just now. "
               "Nothing was changed; try the link again in a minute.")
WEBHOOK_MAX = 1_000_000
"""Bytes of a Stripe webhook body we read; Stripe's events are far smaller."""
BAD_FORM = ("Form not readable", "The form could not be read. Go back, reload the page and try again.")

CARD_FIELDS = ("number", "expiry", "name")
SECRET_FIELDS = frozenset({"number", "password", "repeat", security.CSRF_FIELD})
"""Never echoed back into a page."""
ALIASES = {"card": "number", "card.number": "number", "card.expiry": "expiry", "card.name": "name",
           "card_number": "number", "cardholder": "name", "instrument_id": "instrument", "method": "instrument",
           "address": "line1", "postcode": "postal_code", "custom": "custom_amount"}
"""Service field names → the form field that shows the problem."""


def _size(count: int) -> str:
    """Bytes as a person reads them: 10 MB, 2 KB, 512 bytes (binary units, rounded down)."""
    for unit, factor in (("MB", 2**20), ("KB", 2**10)):
        if count >= factor:
            whole, rest = divmod(count, factor)
            return f"{whole:,} {unit}" if not rest else f"{count / factor:,.1f} {unit}".replace(".0 ", " ")
    return f"{count:,} byte{'' if count == 1 else 's'}"


def _safe_url(url: object) -> str | None:
    return url if isinstance(url, str) and url.lower().startswith(("https://", "http://")) else None


@dataclass
class Problem(Exception):
    """A refusal shown as its own page."""

    status: int
    words: tuple[str, str]


class Headers:
    """Adds the security headers to every response and turns an unexpected error into the plain 500 page,
    logged by type and place only (its message may carry what the customer typed)."""

    def __init__(self, app: ASGIApp, broken: Callable[[], bytes]):
        self.app, self.broken = app, broken

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def send_with_headers(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                names = {name.lower() for name, _ in message.get("headers", [])}
                extra = [(k.encode(), v.encode()) for k, v in security.HEADERS.items() if k.encode() not in names]
                message["headers"] = [*message.get("headers", []), *extra]
            await send(message)

        try:
            await self.app(scope, receive, send_with_headers)
        except Exception as exc:
            frames = "\n".join(f"  {frame.filename}:{frame.lineno} in {frame.name}"
                               for frame in traceback.extract_tb(exc.__traceback__))
            log.error("portal error %s on %s %s\n%s", type(exc).__name__, scope.get("method"),
                      security.TOKEN_IN_PATH.sub("/l/…", scope.get("path", "")), frames)
            if started:
                raise
            body = self.broken()
            await send_with_headers({"type": "http.response.start", "status": 500, "headers": [
                (b"content-type", b"text/html; charset=utf-8"), (b"content-length", str(len(body)).encode())]})
            await send({"type": "http.response.body", "body": body})


class Portal:
    """The routes' handlers, over one store; `limiter` counts guessed tokens per client address."""

    def __init__(self, store: Store, settings: Settings, limiter: security.GuessLimit | None = None):
        self.store, self.settings = store, settings
        self.limiter = limiter or security.GuessLimit()
        self.env = Environment(loader=PackageLoader("agentdesk", "templates/portal"), autoescape=True,
                               undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True)
        self.env.filters["money"] = lambda minor, currency: format_amount(int(minor), currency)
        self.env.filters["size"] = _size
        self.css = resources.files("agentdesk").joinpath("templates/portal/portal.css").read_bytes()

    async def run(self, fn: Callable[..., T], *args: Any) -> T:
        return await run_in_threadpool(fn, *args)

    # pages ---------------------------------------------------------------------------------------------

    def html(self, request: Request, template: str, status: int = 200, csrf: str | None = None,
             secure: bool = False, form: bool = True, **context: Any) -> HTMLResponse:
        """A page; with `form` it carries the CSRF value (the cookie's, or a new one set with it)."""
        token = (csrf or security.csrf_cookie(request) or security.new_csrf()) if form else ""
        context.setdefault("site", None)
        context.setdefault("summary", [])
        context.setdefault("errors", {})
        context.setdefault("values", {})
        body = self.env.get_template(template).render(root=request.scope.get("root_path", "").rstrip("/"),
                                                       csrf=token, **context)
        response = HTMLResponse(body, status_code=status)
        if form and token != request.cookies.get(security.CSRF_COOKIE):
            response.set_cookie(security.CSRF_COOKIE, token, httponly=True, samesite="strict", secure=secure,
                                path="/")
        return response

    def message(self, request: Request, problem: Problem) -> HTMLResponse:
        title, text = problem.words
        return self.html(request, "message.html", problem.status, form=False, title=title, text=text)

    def broken_page(self) -> bytes:
        title, text = BROKEN
        return self.env.get_template("message.html").render(root="", csrf="", site=None, summary=[], errors={},
                                                             values={}, title=title, text=text).encode()

    async def secure(self, request: Request) -> bool:
        if request.url.scheme == "https":
            return True
        return security.secure_cookie(request, await self.run(customer_site.portal_base_url, self.store))

    def address(self, request: Request) -> str:
        return request.client.host if request.client else "unknown"

    async def guarded(self, request: Request, work: Callable[[], Awaitable[Response]]) -> Response:
        """`work` with the answers every link route shares: 429 while guessing, 404 and 410 for links."""
        address = self.address(request)
        if self.limiter.blocked(address):
            return self.message(request, Problem(429, TOO_MANY))
        try:
            return await work()
        except LinkUnavailable:
            self.limiter.failed(address)
            return self.message(request, Problem(404, NOT_VALID))
        except LinkUsed:
            return self.message(request, Problem(410, USED))
        except Problem as problem:
            return self.message(request, problem)

    async def load(self, link: OpenLink, token: str) -> Any:
        """The page's data from the link kind's customer service."""
        kind = link.kind
        if kind is LinkKind.KYC:
            return await self.run(customer_documents.kyc_page, self.store, token)
        if kind is LinkKind.DEPOSIT:
            return await self.run(customer_money.deposit_page, self.store, token)
        if kind is LinkKind.PAY_INVOICE:
            return await self.run(customer_money.pay_invoice_page, self.store, token)
        if kind is LinkKind.PORTAL:
            return await self.run(customer_money.portal_overview, self.store, token)
        if kind is LinkKind.PAYOUT:
            return await self.run(customer_money.payout_page, self.store, token)
        if kind is LinkKind.QUOTE:
            return await self.run(customer_quotes.quote_page, self.store, token)
        if kind is LinkKind.PASSWORD_RESET:
            login = link.options.get("login")
            return {"min_length": customer_password.MIN_LENGTH,
                    "login": login if isinstance(login, str) else None}
        return None

    async def show(self, request: Request, token: str, link: OpenLink, status: int = 200,
                   errors: dict[str, str] | None = None, values: dict[str, str] | None = None,
                   notes: list[str] | None = None) -> Response:
        page = await self.load(link, token)
        errors = dict(errors or {})
        summary: list[tuple[str | None, str]] = [(None, note) for note in notes or []]
        summary += [(field if field != "_" else None, words) for field, words in errors.items()]
        return self.html(request, f"{link.kind.value}.html", status, secure=await self.secure(request),
                         title=TITLES[link.kind], site=link.website_name, first_name=link.first_name, link=link,
                         page=page, token=token, errors=errors, summary=summary, values=values or {},
                         redirect_url=_safe_url(link.options.get("redirect_url")))

    async def link_page(self, request: Request) -> Response:
        token = request.path_params["token"]

        async def work() -> Response:
            link = await self.run(access.open_link, self.store, token)
            if link.used:
                raise LinkUsed()
            if link.kind is LinkKind.PORTAL and link.options.get(stripe_hosted.HOSTED_BY) == "stripe":
                try:
                    url = await self.run(stripe_hosted.portal_redirect, self.store, self.settings, token)
                except (GatewayError, GatewayTimeout) as exc:
                    log.warning("stripe billing portal for link %s: %s", link.id, exc)
                    raise Problem(503, STRIPE_DOWN) from exc
                if url:
                    return RedirectResponse(url, status_code=303)
            return await self.show(request, token, link)

        return await self.guarded(request, work)

    # forms ---------------------------------------------------------------------------------------------

    async def form_post(self, request: Request) -> Response:
        token, name = request.path_params["token"], request.path_params["action"]
        action = ACTIONS.get(name)

        async def work() -> Response:
            if action is None:
                raise Problem(404, NOT_VALID)
            base_url = await self.run(customer_site.portal_base_url, self.store)
            if security.cross_origin(request, base_url):
                raise Problem(403, FORBIDDEN)
            link = await self.run(access.peek_link, self.store, token)
            if link.kind not in action.kinds:
                raise LinkUnavailable()
            limit, files = security.FORM_LIMIT, 0
            if link.kind is LinkKind.KYC:
                page = await self.run(customer_documents.kyc_page, self.store, token)
                files = len(page.document_types)
                limit = page.size_limit * files + security.UPLOAD_MARGIN
            try:
                form = await security.read_form(request, limit, files)
            except security.TooLarge:
                raise Problem(413, TOO_LARGE) from None
            except security.BadForm:
                raise Problem(400, BAD_FORM) from None
            try:
                return await self.submit(request, token, link, action, form, base_url)
            finally:
                await form.close()

        return await self.guarded(request, work)

    async def submit(self, request: Request, token: str, link: OpenLink, action: Action, form: FormData,
                     base_url: str | None) -> Response:
        """A form that arrived whole: its CSRF value checked, then the action; errors shown on the page."""
        if not security.csrf_matches(request, form):
            raise Problem(403, FORBIDDEN)
        values = {k: v for k, v in form.multi_items() if isinstance(v, str) and k not in SECRET_FIELDS}
        try:
            done = await action.run(self, token, link, form)
        except InvalidInput as exc:
            errors = {self.field(link, key): words for key, words in exc.fields.items()}
            notes = [] if exc.fields else [str(exc)]
            return await self.show(request, token, link, 400, errors, values, notes)
        except (LinkUnavailable, LinkUsed):
            raise
        except ServiceError as exc:
            return await self.show(request, token, link, 409, values=values, notes=[str(exc)])
        if isinstance(done, Declined):
            return await self.show(request, token, link, 402, values=values, notes=[done.words])
        secure = security.secure_cookie(request, base_url)
        return self.html(request, "done.html", csrf=security.new_csrf(), secure=secure, title=done.title,
                         text=done.text, site=link.website_name, redirect_url=done.redirect_url,
                         back=f"/l/{token}" if done.back else None)

    async def form_address(self, request: Request) -> Response:
        """A form's address opened directly (a bookmark, a reload after a refused resend): its link's page."""
        if request.path_params["action"] not in ACTIONS:
            return self.message(request, Problem(404, NOT_VALID))
        root = request.scope.get("root_path", "").rstrip("/")
        return RedirectResponse(f"{root}/l/{request.path_params['token']}", status_code=303)

    @staticmethod
    def field(link: OpenLink, key: str) -> str:
        if link.kind is LinkKind.KYC:
            return f"document_{key}"
        return ALIASES.get(key, key)

    async def stripe_webhook(self, request: Request) -> Response:
        """Stripe's signed events (`POST /webhooks/stripe`): no CSRF and no guessing limit apply, the signature
        is the authority; applied by the same handler as the worker's polling, once per event id."""
        stripe = self.settings.gateways.stripe
        if stripe is None or stripe.webhook_secret is None:
            return PlainTextResponse("Stripe webhooks are not taken here", status_code=404)
        if int(request.headers.get("content-length") or 0) > WEBHOOK_MAX:
            return PlainTextResponse("too large", status_code=413)
        body = await request.body()
        if len(body) > WEBHOOK_MAX:
            return PlainTextResponse("too large", status_code=413)
        try:
            event = stripe_events.event_from_webhook(body, request.headers.get("stripe-signature", ""),
                                                     stripe.webhook_secret.get_secret_value())
        except GatewayError:
            log.warning("a Stripe webhook with a bad signature from %s", self.address(request))
            return PlainTextResponse("bad signature", status_code=400)
        try:
            await self.run(stripe_events.handle_event, self.store, self.settings, event, "webhook")
        except InvalidInput:
            return PlainTextResponse("not a Stripe event", status_code=400)
        return JSONResponse({"received": True})

    async def stylesheet(self, request: Request) -> Response:
        return Response(self.css, media_type="text/css")

    async def health(self, request: Request) -> Response:
        return PlainTextResponse("ok")

    async def not_found(self, request: Request, exc: Exception) -> Response:
        status = getattr(exc, "status_code", 404)
        if status == 405 and not request.url.path.startswith("/l/"):
            return self.message(request, Problem(405, ("Not allowed", "This page cannot be used that way.")))
        return self.message(request, Problem(404, NOT_VALID))


@dataclass(frozen=True)
class Done:
    title: str
    text: str
    redirect_url: str | None = None
    back: bool = False
    """Offer a link back to the link's page (links that stay usable, like the billing portal)."""


@dataclass(frozen=True)
class Declined:
    words: str


Handler = Callable[[Portal, str, OpenLink, FormData], Awaitable["Done | Declined"]]


@dataclass(frozen=True)
class Action:
    kinds: frozenset[LinkKind]
    run: Handler


def _text(form: FormData, name: str) -> str:
    value = form.get(name)
    return value.strip() if isinstance(value, str) else ""


def _optional(form: FormData, name: str) -> str | None:
    return _text(form, name) or None


def _card(form: FormData) -> customer_money.CardEntry:
    raw = form.get("number")
    number = raw if isinstance(raw, str) else ""
    return customer_money.CardEntry(number=number.strip(), expiry=_text(form, "expiry"), name=_optional(form, "name"))


def _instrument(form: FormData, required: bool) -> int | None:
    """The saved card chosen (None: a new card typed in)."""
    choice = _text(form, "instrument")
    if choice in ("", "new"):
        if required:
            raise InvalidInput(fields={"instrument": "choose where the money goes"})
        return None
    if not choice.isascii() or not choice.isdigit() or len(choice) > 18:
        raise InvalidInput(fields={"instrument": "choose one of the cards listed"})
    return int(choice)


def _redirect(link: OpenLink) -> str | None:
    return _safe_url(link.options.get("redirect_url"))


def _paid(outcome: customer_money.PaymentOutcome, link: OpenLink, what: str) -> Done | Declined:
    """A done page when approved or still being confirmed (paying again would pay twice), the form again
    with the reason when declined; the service's words in each."""
    if outcome.approved:
        amount = format_amount(outcome.amount, outcome.currency)
        return Done("Payment received", f"Your {what} of {amount} was approved. {outcome.message}", _redirect(link),
                    back=not link.single_use)
    if outcome.message == customer_money.PENDING:
        return Done("Payment being confirmed", outcome.message, _redirect(link))
    return Declined(outcome.message)


async def _kyc(portal: Portal, token: str, link: OpenLink, form: FormData) -> Done | Declined:
    page = await portal.run(customer_documents.kyc_page, portal.store, token)
    files = []
    for document_type in page.document_types:
        upload = form.get(f"document_{document_type}")
        if isinstance(upload, UploadFile):
            data = await upload.read()
            files.append(customer_documents.UploadedFile(document_type, upload.filename or "",
                                                         upload.content_type or "", data))
        else:
            files.append(customer_documents.UploadedFile(document_type, "", "", b""))
    ids = await portal.run(customer_documents.upload_kyc, portal.store, portal.settings, token, files)
    noun = "document" if len(ids) == 1 else "documents"
    return Done("Documents received", f"Thank you. We received {len(ids)} {noun} and will review them.",
                page.redirect_url and _safe_url(page.redirect_url))


def _amount_choice(form: FormData, page: customer_money.DepositPage) -> int:
    choice = _text(form, "amount")
    if page.amounts and choice != "custom":
        if not choice:
            raise InvalidInput(fields={"amount": "choose an amount"})
        if not choice.isascii() or not choice.isdigit() or int(choice) not in page.amounts:
            raise InvalidInput(fields={"amount": "choose one of the amounts listed"})
        return int(choice)
    if not page.custom_amount:
        raise InvalidInput(fields={"amount": "choose one of the amounts listed"})
    return parse_amount(_text(form, "custom_amount"), page.currency, field="custom_amount")


async def _deposit(portal: Portal, token: str, link: OpenLink, form: FormData) -> Done | Declined:
    page = await portal.run(customer_money.deposit_page, portal.store, token)
    amount = _amount_choice(form, page)
    instrument = _instrument(form, required=False) if page.cards else None
    card = _card(form) if instrument is None else None
    try:
        outcome = await portal.run(customer_money.make_deposit, portal.store, portal.settings, token, amount, card,
                                   instrument)
    except InvalidInput as exc:
        typed = not page.amounts or _text(form, "amount") == "custom"
        if typed and "amount" in exc.fields:
            raise InvalidInput(fields={("custom_amount" if k == "amount" else k): v
                                       for k, v in exc.fields.items()}) from None
        raise
    return _paid(outcome, link, "deposit")


async def _pay_invoice(portal: Portal, token: str, link: OpenLink, form: FormData) -> Done | Declined:
    page = await portal.run(customer_money.pay_invoice_page, portal.store, token)
    instrument = _instrument(form, required=False) if page.cards else None
    card = _card(form) if instrument is None else None
    outcome = await portal.run(customer_money.pay_invoice, portal.store, portal.settings, token, card, instrument)
    return _paid(outcome, link, f"payment for invoice {page.number}")


async def _add_card(portal: Portal, token: str, link: OpenLink, form: FormData) -> Done | Declined:
    make_default = _text(form, "make_default") == "yes"
    view = await portal.run(customer_money.add_card, portal.store, portal.settings, token, _card(form),
                            make_default)
    suffix = " It is now your default card." if view.is_default else ""
    return Done("Card added", f"Thank you. {view.label} was added.{suffix}", _redirect(link),
                back=link.kind is LinkKind.PORTAL)


async def _default_card(portal: Portal, token: str, link: OpenLink, form: FormData) -> Done | Declined:
    instrument = _instrument(form, required=True)
    assert instrument is not None
    await portal.run(customer_money.set_default_card, portal.store, token, instrument)
    return Done("Default card changed", "Your default card was changed.", _redirect(link), back=True)


async def _address(portal: Portal, token: str, link: OpenLink, form: FormData) -> Done | Declined:
    address = AddressInput(line1=_text(form, "line1"), city=_text(form, "city"),
                                         country=_text(form, "country"), line2=_optional(form, "line2"),
                                         region=_optional(form, "region"), postal_code=_optional(form, "postal_code"))
    await portal.run(customer_money.update_billing_address, portal.store, token, address)
    return Done("Billing address saved", "Your billing address was saved.", _redirect(link), back=True)


async def _payout(portal: Portal, token: str, link: OpenLink, form: FormData) -> Done | Declined:
    page = await portal.run(customer_money.payout_page, portal.store, token)
    amount = parse_amount(_text(form, "amount"), page.currency)
    instrument = _instrument(form, required=True)
    assert instrument is not None
    request = await portal.run(customer_money.request_payout, portal.store, token, amount, instrument)
    shown = format_amount(request.amount, request.currency)
    return Done("Payout requested", f"Your payout request of {shown} was received. We will review it and let "
                "you know.", _redirect(link))


async def _quote_accept(portal: Portal, token: str, link: OpenLink, form: FormData) -> Done | Declined:
    page = await portal.run(customer_quotes.quote_page, portal.store, token)
    card, instrument = None, None
    if page.pay_here and _text(form, "instrument") != "later":
        instrument = _instrument(form, required=False) if page.cards else None
        card = _card(form) if instrument is None else None
    decision = await portal.run(customer_quotes.accept_quote_link, portal.store, portal.settings, token, card,
                                instrument)
    if decision.declined:
        return Declined(decision.message)
    title = "Quote accepted" if decision.accepted else "Order placed"
    return Done(title, decision.message, _safe_url(decision.redirect_url) or _redirect(link))


async def _quote_reject(portal: Portal, token: str, link: OpenLink, form: FormData) -> Done | Declined:
    decision = await portal.run(customer_quotes.reject_quote_link, portal.store, token,
                                _optional(form, "reason"))
    return Done("Quote declined", decision.message, _safe_url(decision.redirect_url) or _redirect(link))


async def _password(portal: Portal, token: str, link: OpenLink, form: FormData) -> Done | Declined:
    password, repeat = form.get("password"), form.get("repeat")
    await portal.run(customer_password.reset_password, portal.store, token,
                     password if isinstance(password, str) else "", repeat if isinstance(repeat, str) else "")
    return Done("Password changed", "Your password was changed. You can sign in with it now.", _redirect(link))


def _kinds(*kinds: LinkKind) -> frozenset[LinkKind]:
    return frozenset(kinds)


ACTIONS: dict[str, Action] = {
    "kyc": Action(_kinds(LinkKind.KYC), _kyc),
    "deposit": Action(_kinds(LinkKind.DEPOSIT), _deposit),
    "pay": Action(_kinds(LinkKind.PAY_INVOICE), _pay_invoice),
    "card": Action(_kinds(LinkKind.ADD_CARD, LinkKind.PORTAL), _add_card),
    "default-card": Action(_kinds(LinkKind.PORTAL), _default_card),
    "address": Action(_kinds(LinkKind.PORTAL), _address),
    "payout": Action(_kinds(LinkKind.PAYOUT), _payout),
    "accept": Action(_kinds(LinkKind.QUOTE), _quote_accept),
    "reject": Action(_kinds(LinkKind.QUOTE), _quote_reject),
    "password": Action(_kinds(LinkKind.PASSWORD_RESET), _password),
}
"""`POST /l/{token}/{action}` → the link kinds it serves and what it does."""


def create_app(store: Store, settings: Settings, limiter: security.GuessLimit | None = None) -> Starlette:
    """The portal application over `store`. `limiter` replaces the default guessing limit (tests).

    The guessing limit (more than 20 unknown or invalid tokens from one address in ten minutes: 429 for the
    rest of the window) is kept in this process's memory: each worker process counts on its own and a
    restart forgets. Run one process behind the proxy, or rate-limit at the proxy as well."""
    security.hide_tokens_in_logs()
    portal = Portal(store, settings, limiter)
    routes = [
        Route("/healthz", portal.health, methods=["GET"]),
        Route("/static/portal.css", portal.stylesheet, methods=["GET"]),
        Route("/l/{token}", portal.link_page, methods=["GET"]),
        Route("/webhooks/stripe", portal.stripe_webhook, methods=["POST"]),
        Route("/l/{token}/{action}", portal.form_post, methods=["POST"]),
        Route("/l/{token}/{action}", portal.form_address, methods=["GET"]),
    ]
    app = Starlette(routes=routes, exception_handlers={HTTPException: portal.not_found})
    app.add_middleware(Headers, broken=portal.broken_page)
    app.state.portal = portal
    return app

