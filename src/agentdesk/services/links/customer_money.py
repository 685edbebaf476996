"""The customer's money actions on the portal: deposit, pay an invoice, cards, billing address, payout request.

Authority is the link token; every write runs inside `access.link_for_update` and acts as `CUSTOMER`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Any

from agentdesk.config import Settings
from agentdesk.db.store import Store
from agentdesk.services.money.payout_requests import PayoutRequestInfo


@dataclass(frozen=True)
class CardEntry:
    """A card as the customer typed it on the hosted page; never stored, only tokenized."""

    number: str
    expiry: str
    """MM/YY"""
    name: str | None = None


@dataclass(frozen=True)
class CardView:
    id: int
    label: str
    """"Visa •••• 4242"."""
    expiry: str | None
    is_default: bool


@dataclass(frozen=True)
class AddressForm:
    line1: str
    city: str
    country: str
    line2: str | None = None
    region: str | None = None
    postal_code: str | None = None


@dataclass(frozen=True)
class DepositPage:
    first_name: str
    website_name: str
    currency: str
    amounts: list[int]
    custom_amount: bool
    minimum: int | None
    maximum: int | None
    cards: list[CardView]
    redirect_url: str | None


@dataclass(frozen=True)
class InvoicePage:
    number: str
    currency: str
    lines: list[tuple[str, int]]
    total: int
    amount_due: int
    due_on: date | None
    status: str
    cards: list[CardView]
    redirect_url: str | None


@dataclass(frozen=True)
class PayoutPage:
    currency: str
    minimum: int
    maximum: int
    methods: list[CardView]
    redirect_url: str | None


@dataclass(frozen=True)
class PortalOverview:
    first_name: str
    website_name: str
    subscriptions: list[tuple[str, str, str, date | None, int, str]]
    """(order number, product, status, next bill date, amount, currency)"""
    invoices: list[tuple[str, str, int, int, str, date]]
    """(number, status, total, amount due, currency, issued date)"""
    cards: list[CardView]
    billing_address: dict[str, Any] = field(default_factory=dict)
    redirect_url: str | None = None


@dataclass(frozen=True)
class PaymentOutcome:
    approved: bool
    message: str
    amount: int
    currency: str
    transaction_id: int | None


def deposit_page(store: Store, token: str) -> DepositPage:
    raise NotImplementedError("customer_money.deposit_page is being built (issue 14, H2)")


def make_deposit(store: Store, settings: Settings, token: str, amount: int, card: CardEntry | None,
                 instrument_id: int | None) -> PaymentOutcome:
    raise NotImplementedError("customer_money.make_deposit is being built (issue 14, H2)")


def pay_invoice_page(store: Store, token: str) -> InvoicePage:
    raise NotImplementedError("customer_money.pay_invoice_page is being built (issue 14, H2)")


def pay_invoice(store: Store, settings: Settings, token: str, card: CardEntry | None,
                instrument_id: int | None) -> PaymentOutcome:
    raise NotImplementedError("customer_money.pay_invoice is being built (issue 14, H2)")


def add_card(store: Store, settings: Settings, token: str, card: CardEntry, make_default: bool) -> CardView:
    raise NotImplementedError("customer_money.add_card is being built (issue 14, H2)")


def set_default_card(store: Store, token: str, instrument_id: int) -> None:
    raise NotImplementedError("customer_money.set_default_card is being built (issue 14, H2)")


def update_billing_address(store: Store, token: str, address: AddressForm) -> None:
    raise NotImplementedError("customer_money.update_billing_address is being built (issue 14, H2)")


def portal_overview(store: Store, token: str) -> PortalOverview:
    raise NotImplementedError("customer_money.portal_overview is being built (issue 14, H2)")


def payout_page(store: Store, token: str) -> PayoutPage:
    raise NotImplementedError("customer_money.payout_page is being built (issue 14, H2)")


def request_payout(store: Store, token: str, amount: int, instrument_id: int) -> PayoutRequestInfo:
    raise NotImplementedError("customer_money.request_payout is being built (issue 14, H2)")
