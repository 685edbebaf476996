"""The columns an agent can show in the customer table and export, in one registry."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from agentdesk.domain.errors import InvalidInput
from agentdesk.domain.formatting import format_date
from agentdesk.domain.money import format_amount
from agentdesk.services.customers.search import CustomerRow


@dataclass(frozen=True)
class ColumnSpec:
    key: str
    title: str
    width: int
    value: Callable[[CustomerRow], str]
    justify: str = "left"


COLUMNS: dict[str, ColumnSpec] = {
    spec.key: spec
    for spec in [
        ColumnSpec("id", "ID", 12, lambda r: r.external_id),
        ColumnSpec("name", "Name", 22, lambda r: r.name),
        ColumnSpec("email", "Primary email", 28, lambda r: r.email or ""),
        ColumnSpec("phone", "Phone", 17, lambda r: r.phone or ""),
        ColumnSpec("organization", "Organization", 20, lambda r: r.organization or ""),
        ColumnSpec("country", "Ctry", 4, lambda r: r.country or ""),
        ColumnSpec("payments", "Pay", 4, lambda r: str(r.payment_count), "right"),
        ColumnSpec("ltv", "Lifetime value", 15, lambda r: format_amount(r.lifetime_value, r.currency), "right"),
        ColumnSpec("created", "Created", 10, lambda r: format_date(r.created_at)),
        ColumnSpec("last_payment", "Last paid", 10, lambda r: format_date(r.last_payment_at)),
    ]
}

DEFAULT_COLUMNS = ["name", "email", "phone", "ltv", "last_payment", "id", "payments", "country", "organization",
                   "created"]
"""Name, email, phone, lifetime value and last payment first: what fits at 80 columns (issue 11)."""


def validate_columns(keys: list[str]) -> list[str]:
    cleaned = [k.strip().lower() for k in keys if k.strip()]
    unknown = [k for k in cleaned if k not in COLUMNS]
    if unknown:
        raise InvalidInput(
            fields={"columns": f"unknown column(s) {', '.join(unknown)}; choose from {', '.join(COLUMNS)}"}
        )
    if not cleaned:
        raise InvalidInput(fields={"columns": "choose at least one column"})
    if len(set(cleaned)) != len(cleaned):
        raise InvalidInput(fields={"columns": "a column is listed twice"})
    return cleaned
