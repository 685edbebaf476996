"""Real-browser fixtures: Debian's Chromium through Playwright, the portal served by uvicorn on 127.0.0.1,
and an aiosmtpd server that receives the emails the worker sends.

Without /usr/bin/chromium the browser tests are skipped, unless AGENTDESK_REQUIRE_BROWSER=1 (CI), which
makes them fail instead.
"""

from __future__ import annotations

import os
import re
import socket
import threading
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from email.message import Message
from pathlib import Path
from typing import Any

import pytest

from agentdesk.config import Settings, load_settings
from agentdesk.db.store import Store

from ..conftest import make_store, policy

CHROMIUM = Path("/usr/bin/chromium")
REQUIRE_BROWSER = os.environ.get("AGENTDESK_REQUIRE_BROWSER") == "1"
"""Read at import: the suite's autouse fixture clears AGENTDESK_* variables before each test."""
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-proxy-server",
]
PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1280, "height": 800}
LINK_IN_MAIL = re.compile(r"https?://127\.0\.0\.1:[0-9]+/l/[0-9a-f]{64}")


def free_socket() -> socket.socket:
    """A listening-ready socket bound to a free port on 127.0.0.1 (handed to uvicorn, so no port race)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    return sock


class ServedApp:
    """An ASGI app served by uvicorn in a background thread until `stop`."""

    def __init__(self, app: Any):
        import uvicorn

        self.sock = free_socket()
        self.port = self.sock.getsockname()[1]
        self.base_url = f"http://127.0.0.1:{self.port}"
        config = uvicorn.Config(app, log_level="warning", lifespan="off", access_log=False)
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, kwargs={"sockets": [self.sock]},
                                       name=f"portal-{self.port}", daemon=True)

    def start(self) -> ServedApp:
        self.thread.start()
        deadline = time.monotonic() + 30
        while not self.server.started:
            if not self.thread.is_alive():
                raise RuntimeError("the portal's uvicorn thread ended before it started serving")
            if time.monotonic() > deadline:
                raise RuntimeError("the portal did not start serving within 30 s")
            time.sleep(0.02)
        return self

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=30)
        self.sock.close()


def serve_portal(store: Store, settings: Settings) -> ServedApp:
    """The portal app on a free port, its address set as policy `portal_base_url` before it serves."""
    from agentdesk.portal.app import create_app

    served = ServedApp(create_app(store, settings))
    policy(store, {"portal_base_url": served.base_url})
    return served.start()


@dataclass
class Mailbox:
    """What the aiosmtpd server on 127.0.0.1 received."""

    port: int
    messages: list[Message] = field(default_factory=list)

    def links(self) -> list[str]:
        """Every portal URL in the received emails, in order."""
        found: list[str] = []
        for message in self.messages:
            found += LINK_IN_MAIL.findall(body_text(message))
        return found


def body_text(message: Message) -> str:
    if message.is_multipart():
        return "\n".join(body_text(part) for part in message.get_payload())  # type: ignore[union-attr]
    payload = message.get_payload(decode=True)
    if isinstance(payload, bytes):
        return payload.decode(message.get_content_charset() or "utf-8", "replace")
    return str(message.get_payload())


@pytest.fixture
def mailbox() -> Iterator[Mailbox]:
    from aiosmtpd.controller import Controller
    from aiosmtpd.handlers import Message as MessageHandler

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    box = Mailbox(port)

    class Collect(MessageHandler):
        def handle_message(self, message: Message) -> None:
            box.messages.append(message)

    controller = Controller(Collect(), hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield box
    finally:
        controller.stop()


def desk_settings(store: Store, tmp_path: Path, mailbox: Mailbox) -> Settings:
    """Local settings sending mail to the test SMTP server; the data dir is the one the store's key is in."""
    return load_settings(store.url, env={
        "AGENTDESK_DATA_DIR": str(tmp_path / "data"),
        "AGENTDESK_SMTP_HOST": "127.0.0.1",
        "AGENTDESK_SMTP_PORT": str(mailbox.port),
        "AGENTDESK_SMTP_TLS": "none",
    })


@dataclass
class Desk:
    """A store, its settings (mail to the test server) and the portal serving it."""

    store: Store
    settings: Settings
    portal: ServedApp
    mailbox: Mailbox

    @property
    def base_url(self) -> str:
        return self.portal.base_url


def open_desk(store: Store, tmp_path: Path, mailbox: Mailbox) -> Desk:
    settings = desk_settings(store, tmp_path, mailbox)
    return Desk(store, settings, serve_portal(store, settings), mailbox)


@pytest.fixture
def desk(sqlite_store: Store, tmp_path: Path, mailbox: Mailbox) -> Iterator[Desk]:
    """The portal on a fresh SQLite store (website shop-us, agents ada/cara/sam/finn added by the tests)."""
    opened = open_desk(sqlite_store, tmp_path, mailbox)
    try:
        yield opened
    finally:
        opened.portal.stop()


@pytest.fixture
def pg_desk(pg_url: str, tmp_path: Path, mailbox: Mailbox) -> Iterator[Desk]:
    """The same on a fresh PostgreSQL database."""
    store = make_store(pg_url)
    opened = open_desk(store, tmp_path, mailbox)
    try:
        yield opened
    finally:
        opened.portal.stop()
        store.dispose()


@pytest.fixture(params=["sqlite", pytest.param("pg", marks=pytest.mark.pg)])
def any_desk(request: pytest.FixtureRequest) -> Desk:
    """`desk` and then `pg_desk`: the test runs on both databases."""
    return request.getfixturevalue("desk" if request.param == "sqlite" else "pg_desk")


def _browser_or_skip() -> None:
    if CHROMIUM.exists():
        return
    if REQUIRE_BROWSER:
        pytest.fail(f"AGENTDESK_REQUIRE_BROWSER=1 but {CHROMIUM} is missing (apt-get install chromium)")
    pytest.skip(f"{CHROMIUM} is missing (apt-get install chromium)")


@pytest.fixture
async def browser(tmp_path: Path) -> AsyncIterator[Any]:
    """A fresh Chromium profile (its own user data dir under tmp_path), headless; yields the BrowserContext."""
    _browser_or_skip()
    from playwright.async_api import async_playwright

    async with async_playwright() as playwright:
        context = await playwright.chromium.launch_persistent_context(
            str(tmp_path / "chromium-profile"), executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS,
            viewport=DESKTOP, accept_downloads=False)
        try:
            yield context
        finally:
            await context.close()


@dataclass
class Watched:
    """A page with what it did behind the test's back: JavaScript dialogs and console errors."""

    page: Any
    dialogs: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


@pytest.fixture
async def page(browser: Any) -> AsyncIterator[Watched]:
    """A tab that records (and dismisses) any dialog a script opens: the escaping tests expect none."""
    tab = browser.pages[0] if browser.pages else await browser.new_page()
    watched = Watched(tab)

    async def on_dialog(dialog: Any) -> None:
        watched.dialogs.append(f"{dialog.type}: {dialog.message}")
        await dialog.dismiss()

    tab.on("dialog", on_dialog)
    tab.on("pageerror", lambda error: watched.errors.append(str(error)))
    yield watched


async def screenshots(page: Any, tmp_path: Path, name: str) -> list[Path]:
    """Full-page PNGs of what `page` shows at a phone width (390×844) and a desktop width (1280×800), saved
    as tmp_path/screens/<name>-phone.png and -desktop.png; the paths are printed (pytest -s shows them)."""
    folder = tmp_path / "screens"
    folder.mkdir(exist_ok=True)
    before = page.viewport_size
    paths = []
    for label, size in (("phone", PHONE), ("desktop", DESKTOP)):
        await page.set_viewport_size(size)
        path = folder / f"{name}-{label}.png"
        await page.screenshot(path=str(path), full_page=True)
        print(f"screenshot: {path}")
        paths.append(path)
    if before:
        await page.set_viewport_size(before)
    return paths
