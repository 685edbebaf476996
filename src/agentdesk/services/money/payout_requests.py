"""Payout requests customers make on payout links; an admin or finance approves (pays once) or rejects them."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

from agentdesk.domain.enums import PayoutRequestStatus


@dataclass(frozen=True)
class PayoutRequestInfo:
    id: int
    customer_id: int
    customer: str
    """The customer's external id."""
    amount: int
    currency: str
    instrument_id: int
    method: str
    """The instrument's label, e.g. "Visa •••• 4242"."""
    status: PayoutRequestStatus
    transaction_id: int | None
    reason: str | None
    link_id: int | None
    decided_by: str | None
    decided_at: datetime | None
    created_at: datetime

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["status"] = self.status.value
        for key in ("decided_at", "created_at"):
            value = data[key]
            data[key] = value.isoformat() if value is not None else None
        return data
