"""The registry of policy keys: each key's name pattern, type, validation, default and description.

A key is a family name followed by its parameters, dot-separated:
`refund_limit.agent.USD`, `payout_ceiling.JPY`, `website_gateway.shop-us`,
`attachment_limit`. `resolve_key` turns what an admin typed into a `Key` (the
canonical spelling plus its family) or refuses it naming the valid keys; a
value is parsed from text by `Key.parse` or checked as stored JSON by
`Key.check`, each raising `InvalidInput` that names the key and the reason.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from agentdesk.config import GATEWAY_NAMES
from agentdesk.domain.enums import Role
from agentdesk.domain.errors import InvalidInput
from agentdesk.domain.money import CURRENCY_EXPONENTS, format_amount, parse_amount
from agentdesk.domain.permissions import POLICY, Action
from agentdesk.domain.validation import normalized_email

GATEWAYS = GATEWAY_NAMES
LINK_KINDS = ("kyc", "deposit", "portal", "payout", "pay_invoice", "add_card", "quote", "password_reset")
"""The kinds of link sent to customers; each has its own expiry."""
MAX_NOTIFY_EMAILS = 20
MAX_ATTACHMENT = 2**30
MAX_LINK_HOURS = 24 * 366
MAX_DUNNING_DAY = 365
MAX_DUNNING_STEPS = 12
MAX_URL = 400
_UNITS = {"": 1, "b": 1, "kib": 2**10, "kb": 2**10, "k": 2**10, "mib": 2**20, "mb": 2**20, "m": 2**20,
          "gib": 2**30, "gb": 2**30, "g": 2**30}
_SIZE = re.compile(r"([0-9]+)\s*([a-z]*)")
_URL = re.compile(r"https://[A-Za-z0-9.-]+(:[0-9]{1,5})?(/[A-Za-z0-9._~!$&'()*+,;=:@%/-]*)?")
_LOCAL_URL = re.compile(r"http://(localhost|127\.0\.0\.1|\[::1\])(:[0-9]{1,5})?(/[A-Za-z0-9._~!$&'()*+,;=:@%/-]*)?")


def refund_roles() -> tuple[str, ...]:
    """Roles that may refund at all, so the roles a refund limit can be set for."""
    return tuple(role.value for role in Role if role in POLICY[Action.REFUND])


LIMITED_WITHOUT_POLICY = frozenset({Role.AGENT})
"""Roles refused a refund in a currency with no `refund_limit.<role>.<CUR>`; other roles are then unlimited."""


@dataclass(frozen=True)
class Param:
    """One dotted part of a key after the family name."""

    name: str
    choices: Callable[[], Sequence[str]] | None
    """The allowed values; None for a website code (checked against the store when set)."""
    upper: bool = False

    def normalize(self, text: str) -> str:
        text = text.strip()
        return text.upper() if self.upper else text.lower() if self.choices else text


ROLE = Param("role", refund_roles)
CURRENCY = Param("CUR", lambda: sorted(CURRENCY_EXPONENTS), upper=True)
WEBSITE = Param("website", None)
LINK_KIND = Param("kind", lambda: LINK_KINDS)


def _refuse(key: str, reason: str) -> InvalidInput:
    return InvalidInput(f"policy {key}: {reason}", fields={"value": reason})


def _whole(key: str, text: str, what: str) -> int:
    text = text.strip()
    if not re.fullmatch(r"[0-9]+", text):
        raise _refuse(key, f"expected {what} (ASCII digits), got {text!r}")
    return int(text)


def _int_value(key: str, value: object, low: int, high: int, what: str) -> int:
    if not isinstance(value, int) or isinstance(value, bool):
        raise _refuse(key, f"expected {what}, got {value!r}")
    if not low <= value <= high:
        raise _refuse(key, f"{what} must be between {low:,} and {high:,}, got {value:,}")
    return value


class Kind:
    """How one family's values are typed: text → value, stored JSON → value, value → words."""

    unit = ""
    """What VALUE is typed as, for the help and the unknown-key message."""

    def parse(self, key: str, params: tuple[str, ...], text: str) -> object:
        raise NotImplementedError

    def check(self, key: str, params: tuple[str, ...], value: object) -> object:
        raise NotImplementedError

    def show(self, params: tuple[str, ...], value: object) -> str:
        return str(value)


class Money(Kind):
    """An amount in the currency named by the key's last part; typed like `--amount` (500.00), kept in minor units."""

    unit = "an amount such as 500.00"
    MAX = 999_999_999_999_999

    def parse(self, key: str, params: tuple[str, ...], text: str) -> object:
        try:
            minor = parse_amount(text, params[-1], field="value", allow_zero=True)
        except InvalidInput as exc:
            raise _refuse(key, exc.fields.get("value") or str(exc)) from None
        return self.check(key, params, minor)

    def check(self, key: str, params: tuple[str, ...], value: object) -> object:
        return _int_value(key, value, 0, self.MAX, f"a whole number of minor units of {params[-1]}")

    def show(self, params: tuple[str, ...], value: object) -> str:
        return format_amount(int(value), params[-1]) if isinstance(value, int) else repr(value)


class Bytes(Kind):
    unit = "a size in bytes (10485760, or 10 MiB)"

    def parse(self, key: str, params: tuple[str, ...], text: str) -> object:
        match = _SIZE.fullmatch(text.strip().lower())
        if match is None or match.group(2) not in _UNITS:
            raise _refuse(key, f"expected a size such as 10485760 or 10 MiB, got {text.strip()!r}")
        return self.check(key, params, int(match.group(1)) * _UNITS[match.group(2)])

    def check(self, key: str, params: tuple[str, ...], value: object) -> object:
        return _int_value(key, value, 1, MAX_ATTACHMENT, "a size in bytes")

    def show(self, params: tuple[str, ...], value: object) -> str:
        if isinstance(value, int) and value % 2**20 == 0:
            return f"{value:,} bytes ({value // 2**20} MiB)"
        return f"{value:,} bytes" if isinstance(value, int) else repr(value)


class Hours(Kind):
    unit = "a whole number of hours"

    def parse(self, key: str, params: tuple[str, ...], text: str) -> object:
        return self.check(key, params, _whole(key, text, "a whole number of hours"))

    def check(self, key: str, params: tuple[str, ...], value: object) -> object:
        return _int_value(key, value, 1, MAX_LINK_HOURS, "hours")

    def show(self, params: tuple[str, ...], value: object) -> str:
        return f"{value} hours"


class Days(Kind):
    unit = 'days after the first failure, increasing: "1,3,7"'

    def parse(self, key: str, params: tuple[str, ...], text: str) -> object:
        parts = [p.strip() for p in text.split(",")]
        return self.check(key, params, [_whole(key, p, "whole numbers of days") for p in parts])

    def check(self, key: str, params: tuple[str, ...], value: object) -> object:
        if not isinstance(value, list) or not value:
            raise _refuse(key, f"expected a list of days such as 1,3,7, got {value!r}")
        if len(value) > MAX_DUNNING_STEPS:
            raise _refuse(key, f"at most {MAX_DUNNING_STEPS} retries, got {len(value)}")
        days = [_int_value(key, day, 1, MAX_DUNNING_DAY, "a day") for day in value]
        if any(later <= earlier for earlier, later in itertools.pairwise(days)):
            raise _refuse(key, f"days must increase, got {','.join(map(str, days))}")
        return days

    def show(self, params: tuple[str, ...], value: object) -> str:
        return ",".join(map(str, value)) if isinstance(value, list) else repr(value)


class Emails(Kind):
    unit = 'addresses separated by commas ("" for nobody)'

    def parse(self, key: str, params: tuple[str, ...], text: str) -> object:
        return self.check(key, params, [part.strip() for part in text.split(",") if part.strip()])

    def check(self, key: str, params: tuple[str, ...], value: object) -> object:
        if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
            raise _refuse(key, f"expected a list of email addresses, got {value!r}")
        if len(value) > MAX_NOTIFY_EMAILS:
            raise _refuse(key, f"at most {MAX_NOTIFY_EMAILS} addresses, got {len(value)}")
        checked: list[str] = []
        for item in value:
            try:
                address = normalized_email(item)
            except ValueError as exc:
                raise _refuse(key, f"{item!r} is not an email address: {exc}") from None
            if address not in checked:
                checked.append(address)
        return checked

    def show(self, params: tuple[str, ...], value: object) -> str:
        return ", ".join(value) if isinstance(value, list) and value else "nobody"


class Gateway(Kind):
    unit = " or ".join(GATEWAYS)

    def parse(self, key: str, params: tuple[str, ...], text: str) -> object:
        return self.check(key, params, text.strip().lower())

    def check(self, key: str, params: tuple[str, ...], value: object) -> object:
        if value not in GATEWAYS:
            raise _refuse(key, f"unknown gateway {value!r}; use {' or '.join(GATEWAYS)}")
        return value


class Url(Kind):
    unit = "an https:// URL"

    def parse(self, key: str, params: tuple[str, ...], text: str) -> object:
        return self.check(key, params, text.strip())

    def check(self, key: str, params: tuple[str, ...], value: object) -> object:
        if not isinstance(value, str) or len(value) > MAX_URL or not (
                _URL.fullmatch(value) or _LOCAL_URL.fullmatch(value)):
            raise _refuse(key, f"expected an https:// URL (http:// only for localhost) of at most {MAX_URL} "
                               f"characters, got {value!r}")
        return value.rstrip("/")


class BasisPoints(Kind):
    """A rate in basis points (1000 = 10%), typed as basis points (1000) or a percent (10%, 12.5%)."""

    unit = "basis points (1000) or a percent (10%)"

    def parse(self, key: str, params: tuple[str, ...], text: str) -> object:
        text = text.strip()
        if text.endswith("%"):
            match = re.fullmatch(r"([0-9]{1,3})(?:\.([0-9]{1,2}))?", text[:-1].strip())
            if match is None:
                raise _refuse(key, f"expected a percent such as 10% or 12.5%, got {text!r}")
            return self.check(key, params, int(match.group(1)) * 100 + int((match.group(2) or "0").ljust(2, "0")))
        return self.check(key, params, _whole(key, text, "basis points"))

    def check(self, key: str, params: tuple[str, ...], value: object) -> object:
        return _int_value(key, value, 0, 10_000, "basis points")

    def show(self, params: tuple[str, ...], value: object) -> str:
        if not isinstance(value, int):
            return repr(value)
        return f"{value} basis points ({value // 100}.{value % 100:02d}%)"


@dataclass(frozen=True)
class Family:
    name: str
    params: tuple[Param, ...]
    kind: Kind
    description: str
    default: object | None = None
    """The value when the key is not set (None: not set means what `unset` says)."""
    unset: str = ""
    """What an unset key means, when that is not simply the default."""

    @property
    def pattern(self) -> str:
        return ".".join([self.name, *(f"<{p.name}>" for p in self.params)])


FAMILIES: tuple[Family, ...] = (
    Family("refund_limit", (ROLE, CURRENCY), Money(),
           "largest refund or void one role may make on one transaction in that currency",
           unset="admin and finance unlimited; agents refused in that currency"),
    Family("payout_ceiling", (CURRENCY,), Money(), "largest single payout in that currency",
           unset="payouts in that currency refused"),
    Family("notify_emails", (), Emails(), "who is emailed when a failed refund is dropped after its last retry",
           default=[]),
    Family("website_gateway", (WEBSITE,), Gateway(), "the gateway new payments of that website go through",
           unset="the website's own gateway"),
    Family("attachment_limit", (), Bytes(), "largest file attached to a timeline or KYC document",
           default=10 * 2**20),
    Family("link_expiry", (LINK_KIND,), Hours(), "how long a link of that kind stays valid",
           default=72),
    Family("dunning_schedule", (), Days(), "days after a failed renewal on which it is retried",
           default=[1, 3, 7]),
    Family("portal_base_url", (), Url(), "the customer portal's address, used in every link sent",
           unset="no links can be sent"),
    Family("affiliate_rate", (), BasisPoints(),
           "affiliate commission on a paid invoice when its plan names no rate (0: none)", default=0),
)
FAMILY = {family.name: family for family in FAMILIES}


def key_patterns() -> str:
    return ", ".join(family.pattern for family in FAMILIES)


@dataclass(frozen=True)
class Key:
    """A valid key in its canonical spelling (`refund_limit.agent.USD`), with its family and parameters."""

    name: str
    family: Family
    params: tuple[str, ...]

    @property
    def default(self) -> object | None:
        return self.family.default

    @property
    def website(self) -> str | None:
        return self.params[0] if self.family.params == (WEBSITE,) else None

    def parse(self, text: str) -> object:
        return self.family.kind.parse(self.name, self.params, text)

    def check(self, value: object) -> object:
        return self.family.kind.check(self.name, self.params, value)

    def show(self, value: object | None) -> str:
        if value is None:
            return f"not set ({self.family.unset})" if self.family.unset else "not set"
        return self.family.kind.show(self.params, value)


def resolve_key(text: str) -> Key:
    """The key an admin typed, case-normalised (`refund_limit.Agent.usd` → `refund_limit.agent.USD`)."""
    text = (text or "").strip()
    name, _, rest = text.partition(".")
    family = FAMILY.get(name.lower())
    if family is None:
        raise InvalidInput(f"unknown policy key {text!r}; valid keys: {key_patterns()}", fields={"key": "unknown"})
    parts = rest.split(".") if rest else []
    if family.params == (WEBSITE,):
        parts = [rest] if rest else []
    if len(parts) != len(family.params):
        raise InvalidInput(f"policy key {text!r} has the form {family.pattern}", fields={"key": family.pattern})
    params = []
    for param, part in zip(family.params, parts, strict=True):
        value = param.normalize(part)
        if param.choices is not None and value not in param.choices():
            raise InvalidInput(f"policy key {text!r}: {param.name} must be one of {', '.join(param.choices())}",
                               fields={"key": param.name})
        if not value or len(value) > 64 or any(not ch.isprintable() or ch.isspace() for ch in value):
            raise InvalidInput(f"policy key {text!r}: {param.name} {part!r} is not valid", fields={"key": param.name})
        params.append(value)
    return Key(".".join([family.name, *params]), family, tuple(params))


def key(family: str, *params: str) -> Key:
    """The key of a family and parameters known to be valid (callers in the services)."""
    return resolve_key(".".join([family, *params]))
