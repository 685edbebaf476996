"""Shown when the store has no agents yet: offer demo data instead of an error."""

from __future__ import annotations

import asyncio
from typing import ClassVar

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.widgets import Button, Footer, ProgressBar, Static

from agentdesk.demo.builder import build_demo
from agentdesk.domain.text import visible
from agentdesk.services.agents.identity import resolve_actor
from agentdesk.ui.base import DeskScreen, desk_work

DEMO_SIZE = 1_000


class FirstRunScreen(DeskScreen):
    TITLE = "Welcome"

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("d", "build_demo", "Build demo data", id="first_run.build_demo"),
        Binding("q", "app.quit", "Quit", id="first_run.quit"),
    ]

    def __init__(self, login: str) -> None:
        super().__init__()
        self.login = login
        self.building = False

    def compose(self) -> ComposeResult:
        with Vertical(id="first-run"):
            yield Static(
                Text.assemble(
                    ("Welcome to AgentDesk\n\n", "bold"),
                    "This store is empty: it has no agents and no customers yet.\n\n",
                    f"Press d to build a demo data set ({DEMO_SIZE:,} customers and leads, "
                    f"with you, {visible(self.login)}, as an admin).\n\n",
                    "For a real store, quit and have an admin run:\n",
                    (f"  agentdesk agents add {visible(self.login)} --role admin\n", "bold"),
                )
            )
            with Horizontal(id="first-run-buttons"):
                yield Button("Build demo data", id="build", variant="primary")
                yield Button("Quit", id="quit")
            yield ProgressBar(id="demo-progress", total=DEMO_SIZE, show_eta=False)
            yield Static(id="first-run-status")
        yield Footer(compact=True)

    def on_mount(self) -> None:
        self.query_one("#demo-progress").display = False
        self.query_one("#build", Button).focus()

    @on(Button.Pressed, "#build")
    def _build_pressed(self) -> None:
        self.action_build_demo()

    @on(Button.Pressed, "#quit")
    def _quit_pressed(self) -> None:
        self.app.exit()

    def action_build_demo(self) -> None:
        if self.building:
            return
        self.building = True
        self.query_one("#first-run-buttons").display = False
        self.query_one("#demo-progress").display = True
        self.query_one("#first-run-status", Static).update(Text("building demo data…"))
        self.build()

    @desk_work(group="demo")
    async def build(self) -> None:
        """No agent exists yet, so these are not `call()`s; a failure offers the button again."""
        bar = self.query_one("#demo-progress", ProgressBar)

        def progress(done: int, total: int) -> None:
            self.app.call_from_thread(bar.update, progress=done)

        try:
            await asyncio.to_thread(build_demo, self.app.store, DEMO_SIZE, 1, self.login, progress)
            actor = await asyncio.to_thread(resolve_actor, self.app.store, self.login)
        except Exception:
            self.building = False
            self.query_one("#first-run-status", Static).update(Text("The demo data could not be built.", style="red"))
            self.query_one("#demo-progress").display = False
            self.query_one("#first-run-buttons").display = True
            raise
        self.app.signed_in(actor)
