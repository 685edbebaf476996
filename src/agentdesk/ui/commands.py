"""The command palette (Ctrl+P): open a customer by typing, and every action that works here.

- `CustomerProvider`: "open customer …" searches as the agent types, through the same search
  service as the table (in a thread); each hit opens the customer's profile.
- `ActionsProvider`: the keys of the focused pane and its screen, read from
  `Screen.active_bindings` — the bindings Textual would act on, after `check_action` — so a key a
  role may not use is not offered, and a pane's own keys are.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import cache, partial
from typing import TYPE_CHECKING, Any, cast

from rich.text import Text
from textual.binding import ActiveBinding, Binding
from textual.command import DiscoveryHit, Hit, Hits, Provider
from textual.dom import DOMNode

from agentdesk.domain.errors import ServiceError
from agentdesk.domain.text import visible

if TYPE_CHECKING:
    from agentdesk.app import AgentDeskApp

log = logging.getLogger("agentdesk.ui")

CUSTOMER_HITS = 8
PREFIXES = ("open customer ", "customer ", "open ")


def search_text(query: str) -> str:
    """What to search for: the query without a leading "open customer"."""
    text = " ".join(query.split())
    for prefix in PREFIXES:
        if text.lower().startswith(prefix):
            return text[len(prefix):].strip()
    return text


class CustomerProvider(Provider):
    """Open a customer from anywhere: type an id, a name, an email, a phone or a card's last 4."""

    @property
    def desk(self) -> AgentDeskApp:
        return cast("AgentDeskApp", self.app)

    async def search(self, query: str) -> Hits:
        from agentdesk.services.customers import search

        text = search_text(query)
        app = self.desk
        if len(text) < 2 or app.actor is None:
            return
        try:
            page = await asyncio.to_thread(search.search_customers, app.store, app.actor, text, limit=CUSTOMER_HITS)
        except ServiceError as exc:
            log.info("palette search %r: %s", text, exc)
            return
        except Exception as exc:
            app.worker_failed(exc, "palette search")
            return
        for rank, row in enumerate(page.rows):
            label = f"Open customer {row.external_id} {row.name}"
            yield Hit(
                0.9 - rank / 100,
                Text(visible(label)),
                partial(self.open, row.id),
                text=visible(label),
                help=visible(" · ".join(v for v in (row.email, row.phone, row.organization) if v)) or None,
            )

    def open(self, customer_id: int) -> None:
        from agentdesk.ui.screens.customer_profile import CustomerProfileScreen

        self.app.push_screen(CustomerProfileScreen(customer_id))


@cache
def _textual_bindings(node_type: type[DOMNode]) -> frozenset[tuple[str, str]]:
    """(action, description) of the bindings a node inherits from Textual's own classes."""
    found = set()
    for cls in node_type.__mro__:
        if cls.__module__.startswith("textual."):
            for binding in cls.__dict__.get("BINDINGS", []):
                if isinstance(binding, Binding):
                    found.add((binding.action, binding.description))
    return frozenset(found)


def is_desk_action(active: ActiveBinding, app: object, disabled_too: bool = False) -> bool:
    """A key of the console itself: described, not a moving key (`system`), not the app's own
    (help, quit: system commands) and not one Textual's widgets and screens bring along
    (an Input's cursor keys, Tab focus). One that does nothing right now (`check_action` said
    None) only with `disabled_too`."""
    binding, node = active.binding, active.node
    if not (active.enabled or disabled_too) or not binding.description or binding.system or node is app:
        return False
    return (binding.action, binding.description) not in _textual_bindings(type(node))


@dataclass(frozen=True)
class PaletteAction:
    title: str
    help: str
    run: Callable[[], Any]


def screen_actions(provider: Provider) -> Iterator[PaletteAction]:
    """The actions of the screen the palette was opened on and of its focused pane, once each."""
    app = provider.app
    seen: set[tuple[int, str]] = set()
    for active in provider.screen.active_bindings.values():
        node, binding = active.node, active.binding
        if not is_desk_action(active, app) or (id(node), binding.action) in seen:
            continue
        seen.add((id(node), binding.action))
        titled = getattr(node, "palette_title", None)
        yield PaletteAction(
            visible(titled(binding.action, binding.description)) if titled else binding.description,
            f"{binding.description} (key: {app.get_key_display(binding)})",
            partial(run_action, node, binding.action),
        )


async def run_action(node: DOMNode, action: str) -> None:
    await node.app.run_action(action, node)


class ActionsProvider(Provider):
    """Every key of the focused pane and its screen, by its description."""

    async def discover(self) -> Hits:
        for action in screen_actions(self):
            yield DiscoveryHit(action.title, action.run, help=action.help)

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for action in screen_actions(self):
            score = matcher.match(action.title)
            if score > 0:
                yield Hit(score, matcher.highlight(action.title), action.run, help=action.help)
