"""Add (`n` on the table) or edit (`e` on the profile) a customer in one keyboard form.

Several emails or phones go in one field, comma-separated; the first is the
primary. Every field's problem is shown next to it at once, and nothing is
saved until all of them are valid (the service checks again).
"""

from __future__ import annotations

from textual.app import ComposeResult
from textual.widgets import Checkbox, Input

from agentdesk.domain import limits
from agentdesk.domain.permissions import Action
from agentdesk.domain.validation import (
    AddressInput,
    CardInput,
    ContactInput,
    CustomerInput,
    parse_custom_fields,
)
from agentdesk.services.customers import records as customers
from agentdesk.services.customers.records import CustomerDetail
from agentdesk.ui.base import ServiceDialog, field_row

LIST = 2_000
"""Several emails or phones, or custom fields, in one field."""
FIELDS = [
    ("external_id", "ID", "empty: generated", limits.EXTERNAL_ID),
    ("website", "Website", "e.g. northwind-us", limits.WEBSITE_CODE),
    ("first_name", "First name", "", limits.NAME),
    ("last_name", "Last name", "", limits.NAME),
    ("organization", "Organization", "", limits.NAME),
    ("job_title", "Job title", "", limits.NAME),
    ("date_of_birth", "Date of birth", "YYYY-MM-DD", 10),
    ("emails", "Emails", "first is primary, comma-separated", LIST),
    ("phones", "Phones", "+44 20 …, first is primary", LIST),
    ("line1", "Address line 1", "", limits.ADDRESS_LINE),
    ("line2", "Address line 2", "", limits.ADDRESS_LINE),
    ("city", "City", "", limits.CITY),
    ("region", "Region", "", limits.REGION),
    ("postal_code", "Postal code", "", limits.POSTAL_CODE),
    ("country", "Country", "ISO code, e.g. GB", 2),
    ("custom_fields", "Custom fields", "name=value; name=value", LIST),
]
CARD_FIELDS = [("card_number", "Card number", "default payment instrument", 23),
               ("card_expiry", "Card expiry", "MM/YY", 7)]


def _split(text: str) -> list[str]:
    return [part.strip() for part in (text or "").split(",") if part.strip()]


def _initial(detail: CustomerDetail | None) -> dict[str, str]:
    if detail is None:
        return {}
    address = detail.addresses[0] if detail.addresses else None
    emails = sorted(detail.emails, key=lambda e: not e.primary)
    phones = sorted(detail.phones, key=lambda p: not p.primary)
    values = {
        "external_id": detail.external_id, "website": detail.website, "first_name": detail.first_name,
        "last_name": detail.last_name, "organization": detail.organization or "", "job_title": detail.job_title or "",
        "date_of_birth": detail.date_of_birth.isoformat() if detail.date_of_birth else "",
        "emails": ", ".join(e.value for e in emails), "phones": ", ".join(p.value for p in phones),
        "custom_fields": "; ".join(f"{k}={v}" for k, v in detail.custom_fields.items()),
    }
    if address:
        values.update(line1=address.line1, line2=address.line2 or "", city=address.city, region=address.region or "",
                      postal_code=address.postal_code or "", country=address.country)
    return values


class CustomerFormScreen(ServiceDialog[int]):
    """Dismisses with the saved customer's internal id, or None when cancelled."""

    submit_hint = "Ctrl+S save · Esc cancel · Tab next field"
    input_prefix = "c-"
    needs = Action.EDIT_CUSTOMERS

    def __init__(self, detail: CustomerDetail | None = None) -> None:
        super().__init__()
        self.detail = detail
        self.heading = "New customer" if detail is None else f"Edit {detail.name} ({detail.external_id})"

    def fields(self) -> ComposeResult:
        values = _initial(self.detail)
        for name, label, hint, longest in FIELDS + (CARD_FIELDS if self.detail is None else []):
            field = Input(values.get(name, ""), placeholder=hint, id=f"c-{name}", compact=True,
                          max_length=max(longest, len(values.get(name, ""))))
            field.disabled = name == "external_id" and self.detail is not None
            yield from field_row(label, field, name)
        if self.detail is None:
            yield Checkbox("allow the card as a backup method", id="c-card_backup", compact=True)

    def on_mount(self) -> None:
        self.query_one("#c-first_name" if self.detail else "#c-external_id", Input).focus()

    def value(self, name: str) -> str:
        return self.query_one(f"#c-{name}", Input).value.strip()

    def draft(self) -> CustomerInput:
        address = []
        if any(self.value(n) for n in ("line1", "city", "country")):
            address = [AddressInput(self.value("line1"), self.value("city"), self.value("country"),
                                    self.value("line2") or None, self.value("region") or None,
                                    self.value("postal_code") or None)]
        card = None
        if self.detail is None and self.value("card_number"):
            card = CardInput(self.value("card_number"), self.value("card_expiry"),
                             self.query_one("#c-card_backup", Checkbox).value)
        return CustomerInput(
            first_name=self.value("first_name"), last_name=self.value("last_name"),
            external_id=self.value("external_id") or None, website=self.value("website") or None,
            organization=self.value("organization") or None, job_title=self.value("job_title") or None,
            date_of_birth=self.value("date_of_birth") or None,
            emails=[ContactInput(e, primary=i == 0) for i, e in enumerate(_split(self.value("emails")))],
            phones=[ContactInput(p, primary=i == 0) for i, p in enumerate(_split(self.value("phones")))],
            addresses=address, custom_fields=parse_custom_fields(self.value("custom_fields")), card=card,
        )

    def field_of(self, name: str) -> str:
        """`emails[1]` → emails, `addresses[0].city` → city, `card.number` → card_number."""
        head = name.split("[")[0].split(".")[0]
        if head == "addresses":
            return name.rsplit(".", 1)[-1] if "." in name else "line1"
        if head == "card":
            return "card_number" if name.endswith("number") else "card_expiry"
        return head

    async def perform(self) -> int:
        draft = self.draft()
        if self.detail is None:
            saved = await self.call(customers.create_customer, draft, self.app.settings)
        else:
            saved = await self.call(customers.update_customer, self.detail.id, draft)
        return saved.id
