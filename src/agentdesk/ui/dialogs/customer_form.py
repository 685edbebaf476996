"""Add (`n` on the table) or edit (`e` on the profile) a customer in one keyboard form.

Several emails or phones go in one field, comma-separated; the first is the
primary. Every field's problem is shown next to it at once, and nothing is
saved until all of them are valid (the service checks again).
"""

from __future__ import annotations

import asyncio

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Grid, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Checkbox, Input, Label, Static

from agentdesk.domain.errors import InvalidInput, ServiceError
from agentdesk.domain.text import visible
from agentdesk.domain.validation import (
    AddressInput,
    CardInput,
    ContactInput,
    CustomerInput,
    parse_custom_fields,
)
from agentdesk.services.customers import records as customers
from agentdesk.services.customers.records import CustomerDetail
from agentdesk.ui.base import desk_work

FIELDS = [
    ("external_id", "ID", "empty: generated"),
    ("website", "Website", "e.g. northwind-us"),
    ("first_name", "First name", ""),
    ("last_name", "Last name", ""),
    ("organization", "Organization", ""),
    ("job_title", "Job title", ""),
    ("date_of_birth", "Date of birth", "YYYY-MM-DD"),
    ("emails", "Emails", "first is primary, comma-separated"),
    ("phones", "Phones", "+44 20 …, first is primary"),
    ("line1", "Address line 1", ""),
    ("line2", "Address line 2", ""),
    ("city", "City", ""),
    ("region", "Region", ""),
    ("postal_code", "Postal code", ""),
    ("country", "Country", "ISO code, e.g. GB"),
    ("custom_fields", "Custom fields", "name=value; name=value"),
]
CARD_FIELDS = [("card_number", "Card number", "default payment instrument"), ("card_expiry", "Card expiry", "MM/YY")]


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


class CustomerFormScreen(ModalScreen[int | None]):
    """Dismisses with the saved customer's internal id, or None when cancelled."""

    BINDINGS = [Binding("escape", "cancel", "Cancel"), Binding("ctrl+s", "save", "Save")]

    def __init__(self, detail: CustomerDetail | None = None) -> None:
        super().__init__()
        self.detail = detail

    def compose(self) -> ComposeResult:
        title = "New customer" if self.detail is None else f"Edit {self.detail.name} ({self.detail.external_id})"
        values = _initial(self.detail)
        with VerticalScroll(classes="dialog", id="customer-form"):
            yield Static(Text.assemble((visible(title), "bold"), "  ·  Ctrl+S save · Esc cancel · Tab next field"))
            with Grid(id="form-grid"):
                fields = FIELDS + (CARD_FIELDS if self.detail is None else [])
                for name, label, hint in fields:
                    yield Label(label)
                    field = Input(values.get(name, ""), placeholder=hint, id=f"c-{name}", compact=True)
                    if name == "external_id" and self.detail is not None:
                        field.disabled = True
                    yield field
                    yield Static(id=f"e-{name}", classes="field-error")
            if self.detail is None:
                yield Checkbox("allow the card as a backup method", id="c-card_backup", compact=True)
            yield Static(id="form-status")

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

    def show_problems(self, fields: dict[str, str], message: str) -> None:
        for error in self.query(".field-error"):
            error.update("")
        for key, problem in fields.items():
            target = key.split("[")[0].split(".")[0]
            target = {"addresses": key.rsplit(".", 1)[-1] if key.startswith("addresses") else "line1",
                      "card": "card_number" if key.endswith("number") else "card_expiry"}.get(target, target)
            found = self.query(f"#e-{target}")
            if found:
                found.first().update(Text(visible(problem), style="red"))
        self.query_one("#form-status", Static).update(Text(visible(message), style="red"))

    @desk_work(group="customer-form")
    async def action_save(self) -> None:
        app = self.app
        try:
            draft = self.draft()
            if self.detail is None:
                saved = await asyncio.to_thread(customers.create_customer, app.store, app.actor, draft, app.settings)
            else:
                saved = await asyncio.to_thread(customers.update_customer, app.store, app.actor, self.detail.id, draft)
        except InvalidInput as exc:
            self.show_problems(exc.fields, "Fix the fields marked in red; nothing was saved.")
            return
        except ServiceError as exc:
            self.show_problems({}, str(exc))
            return
        self.dismiss(saved.id)

    def action_cancel(self) -> None:
        self.dismiss(None)
