"""The gateway protocol: sale, authorize, capture, void, refund, payout.

Every call carries an idempotency key: the same key sent twice moves money
once and answers the same. A call that gives up without knowing what the
gateway did raises `GatewayTimeout`; the caller repairs it by sending the same
key again. A refusal the gateway means (declined, not allowed, the customer
must authenticate) is an outcome, not an exception.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol


class Outcome(StrEnum):
    APPROVED = "approved"
    DECLINED = "declined"
    FAILED = "failed"
    """Not done, and worth trying again later (the gateway or its bank was unavailable)."""
    AUTHENTICATION_REQUIRED = "authentication_required"
    """Not done: the card's bank wants the customer to confirm the payment themselves (3-D Secure). Trying
    again without the customer cannot succeed; they pay on a page of ours (a pay-invoice link)."""


CARD_REFUSED = (Outcome.DECLINED, Outcome.AUTHENTICATION_REQUIRED)
"""Outcomes where the card (or its bank) refused the payment: the transaction is recorded as declined."""


@dataclass(frozen=True)
class GatewayResult:
    outcome: Outcome
    reference: str | None = None
    message: str | None = None
    settled: bool = False

    @property
    def approved(self) -> bool:
        return self.outcome is Outcome.APPROVED

    @property
    def needs_customer(self) -> bool:
        return self.outcome is Outcome.AUTHENTICATION_REQUIRED


class GatewayError(Exception):
    """The gateway cannot be used at all (configuration, unknown reference)."""


class GatewayTimeout(Exception):
    """No answer in time: the operation may or may not have happened."""


class Gateway(Protocol):
    name: str

    def sale(self, *, amount: int, currency: str, token: str, idempotency_key: str) -> GatewayResult: ...

    def authorize(self, *, amount: int, currency: str, token: str, idempotency_key: str) -> GatewayResult: ...

    def capture(self, *, reference: str, amount: int, idempotency_key: str) -> GatewayResult: ...

    def void(self, *, reference: str, idempotency_key: str) -> GatewayResult: ...

    def refund(self, *, reference: str, amount: int, currency: str, idempotency_key: str) -> GatewayResult: ...

    def payout(self, *, amount: int, currency: str, token: str, idempotency_key: str) -> GatewayResult: ...

    def tokenize_card(self, number: str, exp_month: int, exp_year: int) -> tuple[str, str]:
        """(token, fingerprint) for a card number; the number itself is never kept."""
        ...
