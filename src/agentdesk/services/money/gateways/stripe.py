"""Stripe through its REST API with httpx: PaymentIntents, manual capture, cancel as void, refunds.

Every POST carries our idempotency key as `Idempotency-Key`. A request that
times out raises `GatewayTimeout` (the caller re-sends the same key); a card
error is a declined outcome; Stripe being unavailable (429, 5xx, connection
refused) is a failed outcome worth retrying. In Stripe a captured payment can
be refunded at once, so a sale or capture is reported as settled; an
authorization is not, and can be voided.
"""

from __future__ import annotations

import hashlib
import logging
import uuid
from typing import TYPE_CHECKING, Any

import httpx
from pydantic import SecretStr

from agentdesk.services.money.gateways.base import GatewayError, GatewayResult, GatewayTimeout, Outcome

if TYPE_CHECKING:
    from agentdesk.config import StripeSettings

log = logging.getLogger(__name__)


class StripeGateway:
    name = "stripe"

    def __init__(self, api_key: str | SecretStr = "", base_url: str = "https://api.stripe.com", timeout: float = 20.0,
                 transport: httpx.BaseTransport | None = None):
        key = api_key.get_secret_value() if isinstance(api_key, SecretStr) else api_key
        if not key:
            raise GatewayError("the stripe gateway needs an api_key in [gateways.stripe]")
        self.client = httpx.Client(base_url=base_url.rstrip("/"), auth=(key, ""), timeout=timeout,
                                   transport=transport)

    @classmethod
    def from_settings(cls, settings: StripeSettings) -> StripeGateway:
        return cls(api_key=settings.api_key, base_url=settings.base_url, timeout=settings.timeout)

    def _post(self, path: str, data: dict[str, Any], idempotency_key: str) -> tuple[int, dict[str, Any]]:
        try:
            response = self.client.post(path, data=data, headers={"Idempotency-Key": idempotency_key})
        except httpx.TimeoutException as exc:
            log.warning("stripe: no answer to POST %s (key %s)", path, idempotency_key)
            raise GatewayTimeout(f"stripe: no answer to {path}") from exc
        except httpx.TransportError as exc:
            log.warning("stripe unreachable for POST %s: %s", path, exc)
            return 0, {"error": {"message": f"stripe unreachable: {exc}"}}
        try:
            body = response.json()
        except ValueError:
            body = {"error": {"message": response.text[:200]}}
        log.debug("stripe: POST %s (key %s) -> HTTP %d", path, idempotency_key, response.status_code)
        return response.status_code, body

    @staticmethod
    def _failure(status: int, body: dict[str, Any]) -> GatewayResult:
        error = body.get("error") or {}
        message = error.get("message") or error.get("code") or f"HTTP {status}"
        if status == 0 or status == 429 or status >= 500:
            return GatewayResult(Outcome.FAILED, None, message)
        return GatewayResult(Outcome.DECLINED, None, message)

    def _intent(self, data: dict[str, Any], key: str, settled: bool) -> GatewayResult:
        status, body = self._post("/v1/payment_intents", data, key)
        if status != 200:
            return self._failure(status, body)
        wanted = "succeeded" if settled else "requires_capture"
        if body.get("status") != wanted:
            return GatewayResult(Outcome.DECLINED, body.get("id"), f"payment intent is {body.get('status')}")
        return GatewayResult(Outcome.APPROVED, body["id"], None, settled)

    def sale(self, *, amount: int, currency: str, token: str, idempotency_key: str) -> GatewayResult:
        return self._intent({"amount": amount, "currency": currency.lower(), "payment_method": token,
                             "confirm": "true", "capture_method": "automatic"}, idempotency_key, settled=True)

    def authorize(self, *, amount: int, currency: str, token: str, idempotency_key: str) -> GatewayResult:
        return self._intent({"amount": amount, "currency": currency.lower(), "payment_method": token,
                             "confirm": "true", "capture_method": "manual"}, idempotency_key, settled=False)

    def capture(self, *, reference: str, amount: int, idempotency_key: str) -> GatewayResult:
        status, body = self._post(f"/v1/payment_intents/{reference}/capture", {"amount_to_capture": amount},
                                  idempotency_key)
        if status != 200:
            return self._failure(status, body)
        return GatewayResult(Outcome.APPROVED, body["id"], None, True)

    def void(self, *, reference: str, idempotency_key: str) -> GatewayResult:
        status, body = self._post(f"/v1/payment_intents/{reference}/cancel", {}, idempotency_key)
        if status != 200:
            return self._failure(status, body)
        return GatewayResult(Outcome.APPROVED, body["id"])

    def refund(self, *, reference: str, amount: int, currency: str, idempotency_key: str) -> GatewayResult:
        status, body = self._post("/v1/refunds", {"payment_intent": reference, "amount": amount}, idempotency_key)
        if status != 200:
            return self._failure(status, body)
        if body.get("status") not in ("succeeded", "pending"):
            return GatewayResult(Outcome.DECLINED, body.get("id"), f"refund is {body.get('status')}")
        return GatewayResult(Outcome.APPROVED, body["id"], None, True)

    def tokenize_card(self, number: str, exp_month: int, exp_year: int) -> tuple[str, str]:
        """A PaymentMethod for the card: (its id, Stripe's card fingerprint)."""
        status, body = self._post("/v1/payment_methods", {
            "type": "card", "card[number]": number, "card[exp_month]": exp_month, "card[exp_year]": exp_year,
        }, f"pm-{uuid.uuid4().hex}")
        if status != 200:
            raise GatewayError(self._failure(status, body).message or "stripe refused the card")
        fingerprint = (body.get("card") or {}).get("fingerprint")
        return body["id"], fingerprint or hashlib.sha256(f"stripe-card:{number}".encode()).hexdigest()[:32]

    def payout(self, *, amount: int, currency: str, token: str, idempotency_key: str) -> GatewayResult:
        raise GatewayError("stripe cannot pay out to a customer's card; use a gateway that supports payouts")
