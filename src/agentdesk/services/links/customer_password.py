"""The customer sets a new membership password on a password_reset link.

Only a scrypt hash is kept ("scrypt$n$r$p$salt_hex$hash_hex", a random 16-byte salt), in
`Customer.membership_password_hash`; the password itself is never logged, stored or put in an event.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import datetime

from agentdesk.db.models import Customer, utcnow
from agentdesk.db.store import Store
from agentdesk.domain.enums import LinkKind
from agentdesk.domain.errors import Conflict, InvalidInput
from agentdesk.domain.permissions import CUSTOMER
from agentdesk.services.links.access import complete, link_for_update
from agentdesk.services.timeline.catalog import EventType
from agentdesk.services.timeline.record import record_event

MIN_LENGTH = 10
MAX_LENGTH = 128
SCRYPT_N, SCRYPT_R, SCRYPT_P = 2**14, 8, 1
RESET_LINKS = frozenset({LinkKind.PASSWORD_RESET})


def hash_password(password: str, salt: bytes | None = None) -> str:
    salt = salt if salt is not None else secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode("utf-8"), salt=salt, n=SCRYPT_N, r=SCRYPT_R, p=SCRYPT_P)
    return f"scrypt${SCRYPT_N}${SCRYPT_R}${SCRYPT_P}${salt.hex()}${digest.hex()}"


def verify_password(password: str, stored: str) -> bool:
    """Whether `password` is the one `stored` was made from (for the membership site and tests)."""
    try:
        scheme, n, r, p, salt, digest = stored.split("$")
        if scheme != "scrypt":
            return False
        made = hashlib.scrypt(password.encode("utf-8"), salt=bytes.fromhex(salt), n=int(n), r=int(r), p=int(p),
                              dklen=len(digest) // 2)
    except ValueError:
        return False
    return hmac.compare_digest(made.hex(), digest)


def password_problems(password: str, repeat: str, login: str) -> dict[str, str]:
    """What is wrong with the new password, by form field ("password", "repeat"); empty when it will do."""
    problems: dict[str, str] = {}
    if len(password) < MIN_LENGTH:
        problems["password"] = f"use at least {MIN_LENGTH} characters"
    elif len(password) > MAX_LENGTH:
        problems["password"] = f"use at most {MAX_LENGTH} characters"
    elif password.strip().casefold() == login.strip().casefold():
        problems["password"] = "must not be your login name"
    if password != repeat:
        problems["repeat"] = "the two entries differ; type the same password twice"
    return problems


def reset_password(store: Store, token: str, password: str, repeat: str, now: datetime | None = None) -> None:
    """Set the membership password the customer chose (PASSWORD_CHANGED by "customer"); completes the link."""
    now = now or utcnow()
    with link_for_update(store, token, RESET_LINKS, now) as (session, link):
        customer = session.get(Customer, link.customer_id)
        assert customer is not None
        login = customer.membership_login
        if not login:
            raise Conflict("Your account has no login to set a password for any more. Please contact us.")
        problems = password_problems(password, repeat, login)
        if problems:
            raise InvalidInput(fields=problems)
        customer.membership_password_hash = hash_password(password)
        customer.updated_at = now
        session.add(customer)
        record_event(session, CUSTOMER, customer.id, EventType.PASSWORD_CHANGED, login=login, link=link.id)
        complete(session, link, "password changed", {"login": login}, now=now)
