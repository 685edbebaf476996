"""Link tokens: 256 bits, derived from a random nonce and the service key, stored only as a hash.

The database holds the nonce and the token's SHA-256. Without the key file (never in the database)
neither gives the token back, yet the console, which has the key, can show an agent the link again.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets

from agentdesk.db.keys import ServiceKey

TOKEN_LABEL = "agentdesk link token:"
TOKEN_SHAPE = re.compile(r"[0-9a-f]{64}")
"""What a token looks like; anything else is refused before the database is asked."""


def new_nonce() -> str:
    return secrets.token_hex(32)


def token_for(key: ServiceKey, nonce: str) -> str:
    return key.mac(TOKEN_LABEL + nonce)


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("ascii", "replace")).hexdigest()


def well_formed(token: str) -> bool:
    return bool(TOKEN_SHAPE.fullmatch(token))


def same(a: str, b: str) -> bool:
    return hmac.compare_digest(a.encode(), b.encode())
