"""The portal's defences: response headers, CSRF (double submit), same-origin forms, the guessing limit,
bounded request bodies, and log lines without tokens."""

from __future__ import annotations

import hmac
import logging
import re
import secrets
import threading
import time
from collections import OrderedDict, deque
from collections.abc import AsyncGenerator, Callable
from urllib.parse import urlsplit

from starlette.datastructures import FormData
from starlette.formparsers import FormParser, MultiPartException, MultiPartParser
from starlette.requests import Request

CSRF_COOKIE = "agentdesk_csrf"
CSRF_FIELD = "csrf"
FORM_LIMIT = 64 * 1024
"""Largest body of a form without files (bytes)."""
UPLOAD_MARGIN = 64 * 1024
"""What a multipart body may carry beyond its files (boundaries, part headers, the other fields)."""

HEADERS = {
    "content-security-policy": "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; "
                               "base-uri 'none'; frame-ancestors 'none'",
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
    "cache-control": "no-store",
}

TOKEN_IN_PATH = re.compile(r"/l/[^/\s?\"'#]+")


class TooLarge(Exception):
    """The request body is bigger than this form accepts."""


class BadForm(Exception):
    """The body is not a form this portal can read."""


def new_csrf() -> str:
    return secrets.token_urlsafe(32)


def csrf_cookie(request: Request) -> str | None:
    value = request.cookies.get(CSRF_COOKIE)
    return value if value and 20 <= len(value) <= 100 else None


def csrf_matches(request: Request, form: FormData) -> bool:
    cookie = csrf_cookie(request)
    field = form.get(CSRF_FIELD)
    if cookie is None or not isinstance(field, str) or not field:
        return False
    return hmac.compare_digest(cookie.encode(), field.encode())


def _origin(url: str) -> str | None:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return None
    port = parts.port
    default = {"http": 80, "https": 443}[parts.scheme]
    host = parts.hostname + (f":{port}" if port and port != default else "")
    return f"{parts.scheme}://{host}"


def cross_origin(request: Request, base_url: str | None) -> bool:
    """True when the browser says the form came from another site: an `Origin` that is neither this
    request's own origin nor the portal's public one, or `Sec-Fetch-Site: cross-site`."""
    if request.headers.get("sec-fetch-site", "").lower() == "cross-site":
        return True
    origin = request.headers.get("origin")
    if origin is None:
        return False
    if origin == "null":
        # Under Referrer-Policy no-referrer browsers send "Origin: null" for the page's own forms too;
        # then Sec-Fetch-Site decides (absent in old browsers: the CSRF token still does).
        return request.headers.get("sec-fetch-site", "same-origin").lower() not in ("same-origin", "none")
    allowed = {_origin(str(request.base_url))}
    if base_url:
        allowed.add(_origin(base_url))
    allowed.discard(None)
    return origin.rstrip("/") not in allowed


def secure_cookie(request: Request, base_url: str | None) -> bool:
    return request.url.scheme == "https" or (base_url or "").lower().startswith("https://")


async def read_form(request: Request, limit: int, max_files: int = 0) -> FormData:
    """The request's form, refusing (TooLarge) a body above `limit` bytes before or while it arrives."""
    declared = request.headers.get("content-length")
    if declared is not None:
        try:
            if int(declared) > limit:
                raise TooLarge()
        except ValueError:
            raise BadForm() from None

    async def bounded() -> AsyncGenerator[bytes, None]:
        seen = 0
        async for chunk in request.stream():
            seen += len(chunk)
            if seen > limit:
                raise TooLarge()
            yield chunk

    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    try:
        if kind == "multipart/form-data":
            if not max_files:
                raise BadForm()
            return await MultiPartParser(request.headers, bounded(), max_files=max_files, max_fields=50,
                                         max_part_size=FORM_LIMIT).parse()
        if kind == "application/x-www-form-urlencoded":
            return await FormParser(request.headers, bounded(), max_fields=50, max_part_size=FORM_LIMIT).parse()
    except MultiPartException:
        raise BadForm() from None
    raise BadForm()


class GuessLimit:
    """Refuses an address that presented more than `limit` unknown or invalid tokens in `window` seconds,
    for the rest of that window.

    Counts are kept in memory, per process: several portal processes (or machines) each count on their
    own, and a restart forgets. Behind a reverse proxy the address is the client's only when uvicorn trusts
    the proxy's forwarded headers (its default trusts 127.0.0.1)."""

    def __init__(self, limit: int = 20, window: float = 600.0, clock: Callable[[], float] = time.monotonic,
                 addresses: int = 10_000):
        self.limit, self.window, self.clock, self.addresses = limit, window, clock, addresses
        self._failures: OrderedDict[str, deque[float]] = OrderedDict()
        self._lock = threading.Lock()

    def _recent(self, address: str, now: float) -> deque[float] | None:
        times = self._failures.get(address)
        if times is None:
            return None
        while times and times[0] <= now - self.window:
            times.popleft()
        if not times:
            del self._failures[address]
            return None
        return times

    def blocked(self, address: str) -> bool:
        with self._lock:
            times = self._recent(address, self.clock())
            return times is not None and len(times) >= self.limit

    def failed(self, address: str) -> None:
        with self._lock:
            now = self.clock()
            times = self._recent(address, now)
            if times is None:
                times = self._failures[address] = deque()
                while len(self._failures) > self.addresses:
                    self._failures.popitem(last=False)
            self._failures.move_to_end(address)
            if len(times) < self.limit:
                times.append(now)


class HideTokens(logging.Filter):
    """Rewrites `/l/<token>` in a log line to `/l/…` (for uvicorn's access and error loggers)."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if "/l/" in message:
            record.msg = TOKEN_IN_PATH.sub("/l/…", message)
            record.args = None
        return True


def hide_tokens_in_logs() -> None:
    for name in ("uvicorn.access", "uvicorn.error", "agentdesk.portal"):
        logger = logging.getLogger(name)
        if not any(isinstance(f, HideTokens) for f in logger.filters):
            logger.addFilter(HideTokens())
