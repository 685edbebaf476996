"""What an agent types to add or edit a customer, and its field-by-field validation.

Validation collects every problem before anything is written, so the agent
sees all of them at once and the store never holds a half-valid customer.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass, field
from datetime import date

from agentdesk.services.countries import COUNTRY_CODES
from agentdesk.services.errors import InvalidInput

EMAIL = re.compile(r"^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)+$")
EXTERNAL_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,99}$")
PHONE_CHARS = re.compile(r"^\+?[0-9 ()./-]+$")
NAME_LIMIT = 100


@dataclass
class ContactInput:
    value: str
    primary: bool = False
    label: str = "mobile"


@dataclass
class AddressInput:
    line1: str
    city: str
    country: str
    line2: str | None = None
    region: str | None = None
    postal_code: str | None = None


@dataclass
class CustomerInput:
    first_name: str
    last_name: str
    external_id: str | None = None
    website: str | None = None
    organization: str | None = None
    job_title: str | None = None
    date_of_birth: date | str | None = None
    emails: list[ContactInput] = field(default_factory=list)
    phones: list[ContactInput] = field(default_factory=list)
    addresses: list[AddressInput] = field(default_factory=list)


def generate_external_id() -> str:
    return "cus_" + secrets.token_hex(8)


def phone_digits(text: str) -> str:
    return "".join(ch for ch in text if ch.isdigit())


def _clean(text: str | None) -> str | None:
    if text is None:
        return None
    text = " ".join(str(text).split())
    return text or None


def _has_control_chars(text: str) -> bool:
    return any(ord(ch) < 32 or 127 <= ord(ch) < 160 for ch in text)


def check_name(value: str | None, label: str, problems: dict[str, str], key: str, required: bool) -> str | None:
    cleaned = _clean(value)
    if cleaned is None:
        if required:
            problems[key] = f"{label} is required"
        return None
    if len(cleaned) > NAME_LIMIT * 2:
        problems[key] = f"{label} is longer than {NAME_LIMIT * 2} characters"
    elif _has_control_chars(cleaned):
        problems[key] = f"{label} contains control characters"
    return cleaned


def check_date_of_birth(value: date | str | None, problems: dict[str, str], today: date | None = None) -> date | None:
    if value is None or value == "":
        return None
    if isinstance(value, str):
        try:
            value = date.fromisoformat(value.strip())
        except ValueError:
            problems["date_of_birth"] = f"{value!r} is not a date; write it as YYYY-MM-DD"
            return None
    today = today or date.today()
    if value > today:
        problems["date_of_birth"] = "date of birth is in the future"
    elif value.year < 1900:
        problems["date_of_birth"] = "date of birth is before 1900"
    return value


def check_emails(emails: list[ContactInput], problems: dict[str, str]) -> list[ContactInput]:
    cleaned: list[ContactInput] = []
    seen: set[str] = set()
    for index, email in enumerate(emails):
        address = (email.value or "").strip()
        key = f"emails[{index}]"
        if not EMAIL.match(address) or len(address) > 320:
            problems[key] = f"{address!r} is not a valid email address"
            continue
        if address.lower() in seen:
            problems[key] = f"{address} is listed twice"
            continue
        seen.add(address.lower())
        cleaned.append(ContactInput(address, email.primary, email.label))
    return _one_primary(cleaned, "emails", problems)


def check_phones(phones: list[ContactInput], problems: dict[str, str]) -> list[ContactInput]:
    cleaned: list[ContactInput] = []
    seen: set[str] = set()
    for index, phone in enumerate(phones):
        number = _clean(phone.value) or ""
        key = f"phones[{index}]"
        digits = phone_digits(number)
        if not PHONE_CHARS.match(number) or not 7 <= len(digits) <= 15:
            problems[key] = f"{number!r} is not a phone number (7 to 15 digits, optionally starting with +)"
            continue
        if digits in seen:
            problems[key] = f"{number} is listed twice"
            continue
        seen.add(digits)
        cleaned.append(ContactInput(number, phone.primary, phone.label or "mobile"))
    return _one_primary(cleaned, "phones", problems)


def _one_primary(items: list[ContactInput], key: str, problems: dict[str, str]) -> list[ContactInput]:
    """Exactly one primary: none marked makes the first one primary; several marked is an error."""
    marked = [i for i in items if i.primary]
    if len(marked) > 1:
        problems[key] = "only one can be primary"
    elif items and not marked:
        items[0].primary = True
    return items


def check_addresses(addresses: list[AddressInput], problems: dict[str, str]) -> list[AddressInput]:
    cleaned = []
    for index, address in enumerate(addresses):
        key = f"addresses[{index}]"
        line1, city = _clean(address.line1), _clean(address.city)
        country = (address.country or "").strip().upper()
        if not line1:
            problems[f"{key}.line1"] = "address line 1 is required"
        if not city:
            problems[f"{key}.city"] = "city is required"
        if country not in COUNTRY_CODES:
            problems[f"{key}.country"] = f"{address.country!r} is not an ISO 3166 country code (e.g. US, GB, DE)"
        cleaned.append(
            AddressInput(
                line1=line1 or "",
                city=city or "",
                country=country,
                line2=_clean(address.line2),
                region=_clean(address.region),
                postal_code=_clean(address.postal_code),
            )
        )
    return cleaned


def check_external_id(value: str | None, problems: dict[str, str]) -> str:
    cleaned = (value or "").strip()
    if not cleaned:
        return generate_external_id()
    if not EXTERNAL_ID.match(cleaned):
        problems["external_id"] = "use letters, digits, '_', '.', ':' or '-' (at most 100), starting with a letter or digit"
    return cleaned


def validated(draft: CustomerInput) -> CustomerInput:
    """A cleaned copy of the input, or `InvalidInput` listing every bad field."""
    problems: dict[str, str] = {}
    result = CustomerInput(
        external_id=check_external_id(draft.external_id, problems),
        website=_clean(draft.website),
        first_name=check_name(draft.first_name, "first name", problems, "first_name", True),
        last_name=check_name(draft.last_name, "last name", problems, "last_name", True),
        organization=check_name(draft.organization, "organization", problems, "organization", False),
        job_title=check_name(draft.job_title, "job title", problems, "job_title", False),
        date_of_birth=check_date_of_birth(draft.date_of_birth, problems),
        emails=check_emails(draft.emails, problems),
        phones=check_phones(draft.phones, problems),
        addresses=check_addresses(draft.addresses, problems),
    )
    if problems:
        raise InvalidInput(fields=problems)
    return result
