"""Stripe through its official SDK: PaymentIntents on a Stripe Customer, manual capture, cancel as void, refunds.

Rules from Stripe's API reference that this adapter keeps:
- one API version, `STRIPE_API_VERSION`, sent as `Stripe-Version` on every request;
- our idempotency key as `Idempotency-Key` on every POST (the SDK re-sends it on its own retries);
- every PaymentIntent names its `customer`, and the saved PaymentMethod must be attached to that customer;
- a charge we start with a saved method is merchant-initiated: `confirm=true, off_session=true`;
- no card number is ever sent: a card is saved by the customer on Stripe's page (an add-card link);
- Stripe cannot pay out to a card.

Errors: a card error is declined (with Stripe's decline code); a card that needs the customer's
authentication (`authentication_required`, or a PaymentIntent left `requires_action`) is its own outcome,
`AUTHENTICATION_REQUIRED`, with a message that sends the customer a pay-invoice link; an invalid request
is a failure of ours, never "declined"; rate limits, 5xx and an unreachable Stripe are failures worth
retrying; no answer in time raises `GatewayTimeout` (the caller re-sends the same key).
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

import httpx
import stripe
from pydantic import SecretStr
from sqlalchemy.exc import IntegrityError
from sqlmodel import select

from agentdesk.services.money.gateways.base import GatewayError, GatewayResult, GatewayTimeout, Outcome

if TYPE_CHECKING:
    from agentdesk.config import StripeSettings
    from agentdesk.db.store import Store

log = logging.getLogger(__name__)

STRIPE_API_VERSION = "2026-10-28.endive"
"""The one Stripe API version we speak; changing it means reading Stripe's upgrade notes first."""

NO_CARD_NUMBERS = "card numbers are not taken for Stripe websites: send the customer an add-card link"
NO_PAYOUTS = ("Stripe cannot pay out to a customer's card: pay the customer another way "
              "(a bank transfer recorded as a credit) or from a website whose gateway supports payouts")
NEEDS_CUSTOMER = ("the customer's bank asks the customer to confirm this payment themselves "
                  "(authentication required): send them a pay-invoice link to pay it on Stripe's page")
NOT_SAVED = ("this card is not saved to the customer in Stripe, so Stripe will not charge it again: "
             "send the customer an add-card link")
KEY_METADATA = "agentdesk_key"
"""Metadata on our PaymentIntents and refunds: our idempotency key, so an event finds its pending transaction."""

T = TypeVar("T")


class StripeGateway:
    name = "stripe"
    can_pay_out = False
    payout_refusal = NO_PAYOUTS

    def __init__(self, api_key: str | SecretStr = "", base_url: str = "https://api.stripe.com", timeout: float = 20.0,
                 max_network_retries: int = 2, account: str = ""):
        key = api_key.get_secret_value() if isinstance(api_key, SecretStr) else api_key
        if not key:
            raise GatewayError("the stripe gateway needs an api_key in [gateways.stripe]")
        self.account = account or f"key-{hashlib.sha256(key.encode()).hexdigest()[:16]}"
        self.client = stripe.StripeClient(
            key,
            base_addresses={"api": base_url.rstrip("/")},
            stripe_version=STRIPE_API_VERSION,
            max_network_retries=max_network_retries,
            http_client=stripe.HTTPXClient(timeout=timeout, allow_sync_methods=True),
        )

    @classmethod
    def from_settings(cls, settings: StripeSettings) -> StripeGateway:
        return cls(api_key=settings.api_key, base_url=settings.base_url, timeout=settings.timeout,
                   max_network_retries=settings.max_network_retries, account=settings.account)

    # --- errors -------------------------------------------------------------------------------------------

    def _call(self, what: str, call: Callable[[], T]) -> T | GatewayResult:
        """`call()`, or the outcome Stripe's error means; a timeout raises `GatewayTimeout`."""
        try:
            return call()
        except stripe.CardError as exc:
            return self._card_error(exc)
        except stripe.InvalidRequestError as exc:
            return GatewayResult(Outcome.FAILED, None,
                                 f"Stripe refused the request to {what} as invalid (a problem with the request, "
                                 f"not the card): {exc.user_message or exc.code or 'no reason given'}")
        except stripe.IdempotencyError as exc:
            return GatewayResult(Outcome.FAILED, None, f"Stripe refused to {what}: the idempotency key was already "
                                                       f"used for a different request ({exc.user_message})")
        except stripe.RateLimitError:
            return GatewayResult(Outcome.FAILED, None, f"Stripe is limiting our requests; {what} again later")
        except stripe.APIConnectionError as exc:
            if _timed_out(exc):
                log.warning("stripe: no answer to %s", what)
                raise GatewayTimeout(f"stripe: no answer to {what}") from exc
            log.warning("stripe unreachable to %s: %s", what, exc)
            return GatewayResult(Outcome.FAILED, None, f"Stripe could not be reached to {what}; try again later")
        except (stripe.AuthenticationError, stripe.PermissionError) as exc:
            raise GatewayError(f"Stripe refused our API key to {what}: {exc.user_message}") from exc
        except stripe.APIError as exc:
            return GatewayResult(Outcome.FAILED, None,
                                 f"Stripe had an error ({exc.http_status}) to {what}; try again later")
        except stripe.StripeError as exc:
            return GatewayResult(Outcome.FAILED, None, f"Stripe could not {what}: {exc.user_message or exc}")

    @staticmethod
    def _card_error(exc: stripe.CardError) -> GatewayResult:
        error = exc.error
        decline = (getattr(error, "decline_code", None) if error is not None else None) or exc.code
        intent = getattr(error, "payment_intent", None) if error is not None else None
        reference = intent.get("id") if isinstance(intent, dict) else getattr(intent, "id", None)
        if "authentication_required" in (exc.code, decline):
            return GatewayResult(Outcome.AUTHENTICATION_REQUIRED, reference, NEEDS_CUSTOMER)
        return GatewayResult(Outcome.DECLINED, reference, f"{exc.user_message or 'card declined'} ({decline})")

    # --- customers and saved cards ------------------------------------------------------------------------

    def customer_for(self, store: Store, customer_id: int) -> str:
        """Our customer's Stripe Customer id in this account, created the first time it is needed.

        The create carries a key derived from our customer id, so two agents (or a crash and a retry) asking
        at once get one Stripe Customer; the row's unique (customer, account) keeps one id here.
        """
        from agentdesk.db.models import StripeCustomer

        def known() -> str | None:
            with store.read() as session:
                return session.exec(select(StripeCustomer.stripe_id).where(
                    StripeCustomer.customer_id == customer_id, StripeCustomer.account == self.account)).first()

        existing = known()
        if existing:
            return existing
        created = self._call("create the Stripe customer", lambda: self.client.v1.customers.create(
            {"metadata": {"agentdesk_customer": str(customer_id)}},
            {"idempotency_key": f"stripe-customer-{customer_id}"}))
        if isinstance(created, GatewayResult):
            raise GatewayError(created.message or "Stripe did not create the customer")
        try:
            with store.write(unrecorded="a gateway reference, not customer data") as session:
                session.add(StripeCustomer(customer_id=customer_id, account=self.account, stripe_id=created.id))
        except IntegrityError:
            again = known()
            if again:
                return again
            raise
        return created.id

    def save_payment_method(self, store: Store, customer_id: int, payment_method: str) -> str:
        """Attach a PaymentMethod the customer entered on Stripe's page to their Stripe Customer."""
        stripe_customer = self.customer_for(store, customer_id)
        attached = self._call("save the card", lambda: self.client.v1.payment_methods.attach(
            payment_method, {"customer": stripe_customer},
            {"idempotency_key": f"attach-{payment_method}-{stripe_customer}"}))
        if isinstance(attached, GatewayResult):
            raise GatewayError(attached.message or "Stripe did not save the card")
        return attached.id

    # --- Stripe-hosted pages (customer links) -------------------------------------------------------------

    def _hosted(self, what: str, call: Callable[[], T]) -> T:
        """`call()`; a Stripe that cannot answer now raises `GatewayTimeout` (try again with the same key),
        a refusal raises `GatewayError` with Stripe's reason."""
        def now_or_later() -> T:
            try:
                return call()
            except (stripe.RateLimitError, stripe.APIConnectionError, stripe.APIError) as exc:
                raise GatewayTimeout(f"Stripe could not {what} now ({type(exc).__name__}); trying again") from exc

        made = self._call(what, now_or_later)
        if isinstance(made, GatewayResult):
            raise GatewayError(made.message or f"Stripe did not {what}")
        return made

    def portal_session(self, store: Store, customer_id: int, return_url: str, key: str) -> tuple[str, str]:
        """A billing portal session for the customer: (session id, its URL). Stripe's portal URLs are
        short-lived, so one is made each time the customer opens their link."""
        stripe_customer = self.customer_for(store, customer_id)
        made = self._hosted("open the billing portal", lambda: self.client.v1.billing_portal.sessions.create(
            {"customer": stripe_customer, "return_url": return_url}, {"idempotency_key": key}))
        return made.id, made.url

    def checkout_payment(self, store: Store, customer_id: int, *, amount: int, currency: str, name: str,
                         success_url: str, cancel_url: str, expires_at: int, metadata: dict[str, str],
                         key: str) -> tuple[str, str]:
        """A Checkout Session in payment mode for one line of `amount`: (session id, its URL)."""
        stripe_customer = self.customer_for(store, customer_id)
        params: Any = {
            "mode": "payment", "customer": stripe_customer, "success_url": success_url, "cancel_url": cancel_url,
            "expires_at": expires_at, "metadata": metadata,
            "line_items": [{"quantity": 1, "price_data": {"currency": currency.lower(), "unit_amount": amount,
                                                          "product_data": {"name": name}}}],
            "payment_intent_data": {"metadata": metadata},
        }
        made = self._hosted("open the payment page", lambda: self.client.v1.checkout.sessions.create(
            params, {"idempotency_key": key}))
        return made.id, str(made.url)

    def checkout_setup(self, store: Store, customer_id: int, *, currency: str, success_url: str, cancel_url: str,
                       expires_at: int, metadata: dict[str, str], key: str) -> tuple[str, str]:
        """A Checkout Session in setup mode (the customer saves a card to their Stripe Customer)."""
        stripe_customer = self.customer_for(store, customer_id)
        params: Any = {"mode": "setup", "customer": stripe_customer, "currency": currency.lower(),
                       "success_url": success_url, "cancel_url": cancel_url, "expires_at": expires_at,
                       "metadata": metadata, "setup_intent_data": {"metadata": metadata}}
        made = self._hosted("open the add-card page", lambda: self.client.v1.checkout.sessions.create(
            params, {"idempotency_key": key}))
        return made.id, str(made.url)

    def identity_session(self, *, return_url: str, metadata: dict[str, str], key: str,
                         allowed_types: list[str] | None = None, selfie: bool = False) -> tuple[str, str]:
        """A Stripe Identity document verification session: (session id, its URL)."""
        document: dict[str, Any] = {"require_matching_selfie": selfie}
        if allowed_types:
            document["allowed_types"] = allowed_types
        params: Any = {"type": "document", "return_url": return_url, "metadata": metadata,
                       "options": {"document": document}}
        made = self._hosted("open the identity check", lambda: self.client.v1.identity.verification_sessions.create(
            params, {"idempotency_key": key}))
        return made.id, str(made.url)

    def close_page(self, ref: str) -> None:
        """End a Checkout Session (expire) or an Identity session (cancel) so its URL takes nothing more.
        Stripe refuses to end one already completed or ended: `GatewayError`."""
        key = f"close-{ref}"
        if ref.startswith("cs_"):
            self._hosted("close the payment page", lambda: self.client.v1.checkout.sessions.expire(
                ref, {}, {"idempotency_key": key}))
        elif ref.startswith("vs_"):
            self._hosted("close the identity check", lambda: self.client.v1.identity.verification_sessions.cancel(
                ref, {}, {"idempotency_key": key}))

    def setup_card(self, setup_intent: str) -> dict[str, Any]:
        """The card a completed SetupIntent saved: its PaymentMethod id, customer, brand, last4, expiry."""
        intent = self._hosted("read the saved card", lambda: self.client.v1.setup_intents.retrieve(setup_intent))
        method_ref = intent.payment_method
        if method_ref is None:
            raise GatewayError(f"Stripe's setup {setup_intent} saved no payment method")
        method_id = method_ref if isinstance(method_ref, str) else method_ref.id
        method = self._hosted("read the saved card", lambda: self.client.v1.payment_methods.retrieve(method_id))
        card = method.card
        if card is None:
            raise GatewayError(f"Stripe's payment method {method_id} is not a card")
        customer = method.customer if isinstance(method.customer, str) or method.customer is None \
            else method.customer.id
        return {"payment_method": method.id, "customer": customer, "brand": card.brand, "last4": card.last4,
                "exp_month": card.exp_month, "exp_year": card.exp_year, "fingerprint": card.fingerprint}

    # --- the gateway protocol -----------------------------------------------------------------------------

    def _intent(self, amount: int, currency: str, token: str, key: str, capture: str) -> GatewayResult:
        method = self._call("look up the saved card", lambda: self.client.v1.payment_methods.retrieve(token))
        if isinstance(method, GatewayResult):
            return method
        if not method.customer:
            return GatewayResult(Outcome.FAILED, None, NOT_SAVED)
        customer = method.customer if isinstance(method.customer, str) else method.customer.id
        intent = self._call("charge the card", lambda: self.client.v1.payment_intents.create(
            {"amount": amount, "currency": currency.lower(), "customer": customer, "payment_method": token,
             "confirm": True, "off_session": True, "capture_method": capture,
             "metadata": {KEY_METADATA: key}},
            {"idempotency_key": key}))
        if isinstance(intent, GatewayResult):
            return intent
        wanted = "succeeded" if capture == "automatic" else "requires_capture"
        if intent.status == wanted:
            return GatewayResult(Outcome.APPROVED, intent.id, None, capture == "automatic")
        if intent.status == "processing":
            raise GatewayTimeout(f"stripe: payment {intent.id} is still processing; its event will tell")
        if intent.status == "requires_action":
            return GatewayResult(Outcome.AUTHENTICATION_REQUIRED, intent.id, NEEDS_CUSTOMER)
        error = intent.last_payment_error
        reason = (error.message if error is not None else None) or f"payment is {intent.status}"
        return GatewayResult(Outcome.DECLINED, intent.id, reason)

    def sale(self, *, amount: int, currency: str, token: str, idempotency_key: str) -> GatewayResult:
        return self._intent(amount, currency, token, idempotency_key, "automatic")

    def authorize(self, *, amount: int, currency: str, token: str, idempotency_key: str) -> GatewayResult:
        return self._intent(amount, currency, token, idempotency_key, "manual")

    def capture(self, *, reference: str, amount: int, idempotency_key: str) -> GatewayResult:
        intent = self._call("capture the payment", lambda: self.client.v1.payment_intents.capture(
            reference, {"amount_to_capture": amount}, {"idempotency_key": idempotency_key}))
        if isinstance(intent, GatewayResult):
            return intent
        return GatewayResult(Outcome.APPROVED, intent.id, None, True)

    def void(self, *, reference: str, idempotency_key: str) -> GatewayResult:
        intent = self._call("cancel the payment", lambda: self.client.v1.payment_intents.cancel(
            reference, {}, {"idempotency_key": idempotency_key}))
        if isinstance(intent, GatewayResult):
            return intent
        return GatewayResult(Outcome.APPROVED, intent.id)

    def refund(self, *, reference: str, amount: int, currency: str, idempotency_key: str) -> GatewayResult:
        refund = self._call("refund the payment", lambda: self.client.v1.refunds.create(
            {"payment_intent": reference, "amount": amount, "metadata": {KEY_METADATA: idempotency_key}},
            {"idempotency_key": idempotency_key}))
        if isinstance(refund, GatewayResult):
            return refund
        if refund.status not in ("succeeded", "pending"):
            return GatewayResult(Outcome.DECLINED, refund.id, f"Stripe reports the refund as {refund.status}")
        return GatewayResult(Outcome.APPROVED, refund.id, None, True)

    def tokenize_card(self, number: str, exp_month: int, exp_year: int) -> tuple[str, str]:
        """Refused: sending card numbers needs Stripe's raw card data access and puts this host in PCI SAQ D."""
        raise GatewayError(NO_CARD_NUMBERS)

    def payout(self, *, amount: int, currency: str, token: str, idempotency_key: str) -> GatewayResult:
        raise GatewayError(NO_PAYOUTS)

    # --- events -------------------------------------------------------------------------------------------

    def events_after(self, cursor: str | None, types: list[str]) -> list[dict[str, Any]]:
        """The events of `types` newer than the event `cursor`, oldest first: all Stripe still keeps (30 days) when
        there is no cursor yet or Stripe no longer knows it. Stripe lists newest first; `ending_before` pages
        towards newer events."""
        pages: list[list[dict[str, Any]]] = []
        params: dict[str, Any] = {"limit": 100, "types": types}
        if cursor:
            params["ending_before"] = cursor
        def list_page() -> Any:
            try:
                return self.client.v1.events.list(params)  # type: ignore[arg-type]
            except stripe.InvalidRequestError as exc:
                if cursor and exc.code == "resource_missing":
                    return None
                raise

        while True:
            page = self._call("list events", list_page)
            if page is None:
                log.warning("stripe: event %s is no longer kept; reading every event Stripe still keeps", cursor)
                return self.events_after(None, types)
            if isinstance(page, GatewayResult):
                raise GatewayError(page.message or "Stripe did not list its events")
            data = [event.to_dict() for event in page.data]
            pages.append(data)
            if not page.has_more or not data:
                break
            if cursor:
                params["ending_before"] = data[0]["id"]
            else:
                params["starting_after"] = data[-1]["id"]
        if cursor:
            return [event for page_ in pages for event in reversed(page_)]
        return [event for page_ in reversed(pages) for event in reversed(page_)]


def _timed_out(exc: BaseException) -> bool:
    cause: BaseException | None = exc
    while cause is not None:
        if isinstance(cause, httpx.TimeoutException | TimeoutError):
            return True
        cause = cause.__cause__ or cause.__context__
    return False
