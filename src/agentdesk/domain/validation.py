"""What an agent types to add or edit a customer, and its field-by-field validation.

Validation collects every problem before anything is written, so the agent
sees all of them at once and the store never holds a half-valid customer.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass, field
from datetime import date

import phonenumbers
from email_validator import EmailNotValidError, validate_email

from agentdesk.domain import limits
from agentdesk.domain.countries import COUNTRY_CODES
from agentdesk.domain.dates import parse_date
from agentdesk.domain.errors import InvalidInput
from agentdesk.domain.text import check_text, has_surrogates, text_problem

EMAIL_LIMIT = limits.EMAIL
LOCAL_PART_LIMIT = 64
TLD = re.compile(r"[a-z]{2,63}")
EXTERNAL_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,99}$")
PHONE_CHARS = re.compile(r"^\+?[0-9 ()./-]+$")


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
class CardInput:
    """A card as typed into the form; only its brand, last four, expiry and the gateway's
    token and fingerprint are ever kept."""

    number: str
    expiry: str
    """MM/YY or MM/YYYY."""
    allow_backup: bool = False


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
    custom_fields: dict[str, str] = field(default_factory=dict)
    card: CardInput | None = None


@dataclass(frozen=True)
class ValidCustomer:
    """A `CustomerInput` that passed validation: cleaned, with an id, a date of birth as a date."""

    external_id: str
    website: str | None
    first_name: str
    last_name: str
    organization: str | None
    job_title: str | None
    date_of_birth: date | None
    emails: list[ContactInput]
    phones: list[ContactInput]
    addresses: list[AddressInput]
    custom_fields: dict[str, str]
    card_details: tuple[str, int, int] | None
    """The card's digits, expiry month and year: handed to the gateway, never stored."""
    card_allow_backup: bool = False


CUSTOM_KEY = re.compile(r"^[a-z][a-z0-9_]{0,39}$")


def luhn_ok(digits: str) -> bool:
    total = 0
    for index, ch in enumerate(reversed(digits)):
        n = int(ch)
        if index % 2:
            n *= 2
            if n > 9:
                n -= 9
        total += n
    return total % 10 == 0


def card_brand(digits: str) -> str:
    if digits.startswith("4"):
        return "Visa"
    if digits[:2] in {"51", "52", "53", "54", "55"} or 2221 <= int(digits[:4]) <= 2720:
        return "Mastercard"
    if digits[:2] in {"34", "37"}:
        return "Amex"
    if digits.startswith("6011") or digits.startswith("65"):
        return "Discover"
    return "Card"


def check_card(card: CardInput | None, problems: dict[str, str],
               today: date | None = None) -> tuple[str, int, int] | None:
    """(digits, month, year) of a valid card, or None with the problems noted."""
    if card is None or not (card.number or "").strip():
        return None
    digits = "".join(ch for ch in card.number if ch.isdigit())
    if any(ch not in "0123456789 -" for ch in card.number.strip()) or not 12 <= len(digits) <= 19:
        problems["card.number"] = "a card number has 12 to 19 digits"
        return None
    if not luhn_ok(digits):
        problems["card.number"] = "this card number has a typo (its check digit is wrong)"
        return None
    match = re.match(r"^\s*(\d{1,2})\s*/\s*(\d{2}|\d{4})\s*$", card.expiry or "")
    if not match or not 1 <= int(match.group(1)) <= 12:
        problems["card.expiry"] = "write the expiry as MM/YY"
        return None
    month, year = int(match.group(1)), int(match.group(2))
    year = year + 2000 if year < 100 else year
    today = today or date.today()
    if (year, month) < (today.year, today.month):
        problems["card.expiry"] = "this card has expired"
        return None
    return digits, month, year


def check_custom_fields(values: dict[str, str], problems: dict[str, str]) -> dict[str, str]:
    cleaned: dict[str, str] = {}
    if len(values) > 20:
        problems["custom_fields"] = "at most 20 custom fields"
        return cleaned
    for key, value in values.items():
        name = (key or "").strip().lower()
        if not CUSTOM_KEY.match(name):
            problems[f"custom_fields.{key}"] = "names are lower-case letters, digits and _ (at most 40)"
            continue
        text = " ".join(str(value or "").split())
        problem = line_problem(str(value or ""), limit=limits.CUSTOM_FIELD_VALUE)
        if problem:
            problems[f"custom_fields.{key}"] = problem
            continue
        cleaned[name] = text
    return cleaned


def parse_custom_fields(text: str) -> dict[str, str]:
    """"plan=gold; source=fair" → {"plan": "gold", "source": "fair"}; refuses a part without "="."""
    result: dict[str, str] = {}
    for part in (text or "").split(";"):
        if not part.strip():
            continue
        if "=" not in part:
            raise InvalidInput(fields={"custom_fields": f"{part.strip()!r} needs the form name=value"})
        key, value = part.split("=", 1)
        result[key.strip()] = value.strip()
    return result


def generate_external_id() -> str:
    return "cus_" + secrets.token_hex(8)


def phone_digits(text: str) -> str:
    return "".join(ch for ch in text if ch.isdigit())


def _clean(text: str | None) -> str | None:
    if text is None:
        return None
    text = " ".join(str(text).split())
    return text or None


_PASTED_WHITESPACE = {ord("\t"): " ", ord("\n"): " ", ord("\r"): " "}


def line_problem(value: str, *, limit: int) -> str | None:
    """Why `value` cannot be kept as one line of text, or None.

    Newlines, tabs and carriage returns are spaces to be collapsed (pasted text), every other
    control character is refused (`text_problem`), and the collapsed text may have `limit` characters.
    """
    problem = text_problem(value.translate(_PASTED_WHITESPACE))
    if problem is None and len(" ".join(value.split())) > limit:
        problem = f"is longer than {limit} characters"
    return problem


def clean_line(value: str | None, field: str, limit: int) -> str | None:
    """`value` with its spaces collapsed (None when empty), or `InvalidInput` naming `field` (`line_problem`)."""
    if value is None:
        return None
    problem = line_problem(str(value), limit=limit)
    if problem is not None:
        raise InvalidInput(fields={field: problem})
    return _clean(value)


def clean_block(value: str | None, field: str, limit: int) -> str:
    """Multi-line text (a note, a refund's reason): Windows line ends become newlines, the ends are
    stripped, newline and tab are kept and every other control character is refused; at most `limit`
    characters once stripped. `InvalidInput` names `field`."""
    text = check_text(str(value or "").replace("\r\n", "\n"), field, multiline=True).strip()
    return check_text(text, field, multiline=True, limit=limit)


def check_name(value: str | None, label: str, problems: dict[str, str], key: str, required: bool,
               limit: int = limits.NAME) -> str | None:
    problem = None if value is None else line_problem(str(value), limit=limit)
    if problem is not None:
        problems[key] = f"{label} {problem}"
        return None
    cleaned = _clean(value)
    if cleaned is None and required:
        problems[key] = f"{label} is required"
    return cleaned


def check_date_of_birth(value: date | str | None, problems: dict[str, str], today: date | None = None) -> date | None:
    if value is None or value == "":
        return None
    if isinstance(value, str):
        try:
            value = parse_date(value, "date_of_birth")
        except InvalidInput as exc:
            problems.update(exc.fields)
            return None
    today = today or date.today()
    if value > today:
        problems["date_of_birth"] = "date of birth is in the future"
    elif value.year < 1900:
        problems["date_of_birth"] = "date of birth is before 1900"
    return value


def normalized_email(text: str) -> str:
    """The address in the form email-validator normalises it to (domain lower-cased and in Unicode,
    NFC); `ValueError` says why it is not an address. Deliverability is not checked (no DNS).

    Stricter than the library where it lets typos through: the part before the @ has at most
    64 bytes (RFC 5321), and the top-level domain is two or more letters or an IDN `xn--` label
    (`a@b.c`, `a@b.c0m` are refused)."""
    address = (text or "").strip()
    if len(address) > EMAIL_LIMIT:
        raise ValueError(f"longer than {EMAIL_LIMIT} characters")
    if has_surrogates(address):
        raise ValueError("not valid UTF-8")
    try:
        checked = validate_email(address, check_deliverability=False)
    except EmailNotValidError as exc:
        raise ValueError(str(exc)) from None
    local_bytes = len(checked.local_part.encode())
    if local_bytes > LOCAL_PART_LIMIT:
        raise ValueError(f"the part before the @-sign is longer than {LOCAL_PART_LIMIT} bytes ({local_bytes})")
    tld = checked.ascii_domain.rsplit(".", 1)[-1].lower()
    if not (TLD.fullmatch(tld) or tld.startswith("xn--")):
        raise ValueError(f"{tld!r} is not a top-level domain (two or more letters)")
    return checked.normalized


def check_emails(emails: list[ContactInput], problems: dict[str, str]) -> list[ContactInput]:
    cleaned: list[ContactInput] = []
    seen: set[str] = set()
    for index, email in enumerate(emails):
        key = f"emails[{index}]"
        try:
            address = normalized_email(email.value)
        except ValueError as exc:
            problems[key] = f"{(email.value or '').strip()!r} is not a valid email address: {exc}"
            continue
        if address.lower() in seen:
            problems[key] = f"{address} is listed twice"
            continue
        seen.add(address.lower())
        cleaned.append(ContactInput(address, email.primary, email.label))
    return _one_primary(cleaned, "emails", problems)


def check_phones(phones: list[ContactInput], problems: dict[str, str], region: str | None = None) -> list[ContactInput]:
    """Each number to E.164 (with `region`, the customer's country, for numbers written without +)."""
    cleaned: list[ContactInput] = []
    seen: set[str] = set()
    for index, phone in enumerate(phones):
        raw = _clean(phone.value) or ""
        key = f"phones[{index}]"
        if not PHONE_CHARS.match(raw) or not 7 <= len(phone_digits(raw)) <= 15:
            problems[key] = f"{raw!r} is not a phone number"
            continue
        try:
            parsed = phonenumbers.parse(raw, None if raw.startswith("+") else region)
        except phonenumbers.NumberParseException:
            problems[key] = (f"{raw!r}: add the country code (e.g. +44 …)" if not region
                             else f"{raw!r} is not a phone number")
            continue
        if not phonenumbers.is_valid_number(parsed):
            where = f" for {region}" if region and not raw.startswith("+") else ""
            problems[key] = f"{raw!r} is not a valid number{where}"
            continue
        number = phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)
        if number in seen:
            problems[key] = f"{raw} is listed twice"
            continue
        label = check_name(phone.label, "label", problems, f"{key}.label", False, limits.CONTACT_LABEL)
        seen.add(number)
        cleaned.append(ContactInput(number, phone.primary, label or "mobile"))
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
        line1 = check_name(address.line1, "address line 1", problems, f"{key}.line1", True, limits.ADDRESS_LINE)
        city = check_name(address.city, "city", problems, f"{key}.city", True, limits.CITY)
        country = (address.country or "").strip().upper()
        if country not in COUNTRY_CODES:
            problems[f"{key}.country"] = f"{address.country!r} is not an ISO 3166 country code (e.g. US, GB, DE)"
        cleaned.append(
            AddressInput(
                line1=line1 or "",
                city=city or "",
                country=country,
                line2=check_name(address.line2, "address line 2", problems, f"{key}.line2", False,
                                 limits.ADDRESS_LINE),
                region=check_name(address.region, "region", problems, f"{key}.region", False, limits.REGION),
                postal_code=check_name(address.postal_code, "postal code", problems, f"{key}.postal_code", False,
                                       limits.POSTAL_CODE),
            )
        )
    return cleaned


def check_external_id(value: str | None, problems: dict[str, str]) -> str:
    cleaned = (value or "").strip()
    if not cleaned:
        return generate_external_id()
    if not EXTERNAL_ID.match(cleaned):
        problems["external_id"] = ("use letters, digits, '_', '.', ':' or '-' (at most 100), "
                                   "starting with a letter or digit")
    return cleaned


def validated(draft: CustomerInput) -> ValidCustomer:
    """A cleaned copy of the input, or `InvalidInput` listing every bad field."""
    problems: dict[str, str] = {}
    addresses = check_addresses(draft.addresses, problems)
    region = addresses[0].country if addresses and addresses[0].country in COUNTRY_CODES else None
    result = ValidCustomer(
        external_id=check_external_id(draft.external_id, problems),
        website=check_name(draft.website, "website", problems, "website", False, limits.WEBSITE_CODE),
        first_name=check_name(draft.first_name, "first name", problems, "first_name", True) or "",
        last_name=check_name(draft.last_name, "last name", problems, "last_name", True) or "",
        organization=check_name(draft.organization, "organization", problems, "organization", False),
        job_title=check_name(draft.job_title, "job title", problems, "job_title", False),
        date_of_birth=check_date_of_birth(draft.date_of_birth, problems),
        emails=check_emails(draft.emails, problems),
        phones=check_phones(draft.phones, problems, region),
        addresses=addresses,
        custom_fields=check_custom_fields(draft.custom_fields, problems),
        card_details=check_card(draft.card, problems),
        card_allow_backup=bool(draft.card and draft.card.allow_backup),
    )
    if problems:
        raise InvalidInput(fields=problems)
    return result
