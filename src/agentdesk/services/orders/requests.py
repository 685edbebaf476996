"""What an agent asks for when building an order: items with their overrides, shipping, start and terms.

Amounts are minor units already (the console and the command line parse typed text with
`parse_amount` in the customer's currency). Nothing here reads the store; preview and create
check the request against the catalog and the customer.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from datetime import date
from typing import Literal

from agentdesk.domain.enums import BillingTiming, PlanInterval, PlanKind

ShippingMode = Literal["none", "catalog", "manual"]


@dataclass(frozen=True)
class ItemOverrides:
    """Terms changed for this customer only: saved on the order item, never on the catalog's plan.

    None leaves the plan's term; `cycles` 0 means until cancelled."""

    unit_price: int | None = None
    cycles: int | None = None
    interval: PlanInterval | None = None
    interval_count: int | None = None
    plan_name: str | None = None
    currency: str | None = None
    kind: PlanKind | None = None
    trial_days: int | None = None
    trial_price: int | None = None
    setup_fee: int | None = None
    billing_timing: BillingTiming | None = None
    invoice_issue_days: int | None = None
    invoice_due_days: int | None = None
    metered_unit_price: int | None = None

    def given(self) -> dict[str, object]:
        """The overridden terms by name."""
        return {f.name: getattr(self, f.name) for f in fields(self) if getattr(self, f.name) is not None}


@dataclass(frozen=True)
class ItemRequest:
    plan_code: str
    quantity: int = 1
    options: dict[str, str] = field(default_factory=dict)
    overrides: ItemOverrides = field(default_factory=ItemOverrides)


@dataclass(frozen=True)
class ShippingChoice:
    """No shipping, the catalog's rate to the address's country, or an amount the agent typed."""

    mode: ShippingMode = "none"
    amount: int | None = None
    address_id: int | None = None
    """The customer's address to ship to; None: their primary address."""


@dataclass(frozen=True)
class OrderRequest:
    customer_ref: str | int
    items: list[ItemRequest]
    website_code: str | None = None
    coupons: list[str] = field(default_factory=list)
    instrument_id: int | None = None
    autopay: bool = True
    shipping: ShippingChoice = field(default_factory=ShippingChoice)
    start_on: date | None = None
    """The first day of the subscription; None or today: now. A later day: nothing is charged today."""
    renew_on: date | None = None
    """The first renewal instead of one period after the start; later renewals keep its day."""
    abandon_after_days: int | None = None
    delinquency_days: int | None = None
    notes: str | None = None
