"""The Textual application: holds the store and the signed-in agent, and routes between screens."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar

from textual.app import App, SystemCommand
from textual.binding import Binding, BindingType
from textual.screen import Screen
from textual.worker import Worker, WorkerState

from agentdesk.domain.errors import ServiceError
from agentdesk.domain.permissions import Actor
from agentdesk.ui.base import describe_failure, desk_work
from agentdesk.ui.commands import ActionsProvider, CustomerProvider

if TYPE_CHECKING:
    from agentdesk.config import Settings
    from agentdesk.db.store import Store

JOB_INTERVAL = 30.0
log = logging.getLogger("agentdesk.ui")


@dataclass(frozen=True)
class FirstRun:
    """The store had no agents when the console started; `login` is who is at the keyboard."""

    login: str


class AgentDeskApp(App[None]):
    TITLE = "AgentDesk"
    CSS_PATH = "ui/app.tcss"
    ENABLE_COMMAND_PALETTE = True
    COMMANDS = App.COMMANDS | {CustomerProvider, ActionsProvider}
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("q", "quit", "Quit", id="app.quit"),
        Binding("question_mark", "help", "Help", id="app.help"),
        Binding("ctrl+p", "command_palette", "Commands", show=False, id="app.command_palette"),
    ]

    def __init__(self, store: Store, settings: Settings, actor: Actor | None, first_run: FirstRun | None = None):
        super().__init__()
        self.store = store
        self.settings = settings
        self.actor = actor
        self.first_run = first_run

    def on_mount(self) -> None:
        self.apply_local_settings()
        if self.actor is None:
            from agentdesk.ui.screens.first_run import FirstRunScreen

            login = self.first_run.login if self.first_run else "admin"
            self.push_screen(FirstRunScreen(login))
        else:
            self._open_table()

    def apply_local_settings(self) -> None:
        """The agent's own keymap (`[keys]`: binding id → keys) and theme from the config."""
        self.set_keymap(dict(self.settings.keys))
        theme = self.settings.theme
        if theme and theme in self.available_themes:
            self.theme = theme
        elif theme:
            self.notify(f"There is no theme named {theme!r}; the default is used.", severity="warning", markup=False)

    def _open_table(self) -> None:
        from agentdesk.ui.screens.customer_table import CustomerTableScreen

        self.push_screen(CustomerTableScreen())
        self.start_background_work()

    def start_background_work(self) -> None:
        """Finish interrupted refunds, then keep draining the job queue (emails, retries)."""
        self.drain_jobs(first=True)
        self.set_interval(JOB_INTERVAL, self.drain_jobs)

    @desk_work(group="jobs")
    async def drain_jobs(self, first: bool = False) -> None:
        """A refusal or a busy store only postpones the queue (logged); anything else is a failure."""
        from agentdesk.services.jobs import runner as worker

        try:
            if first:
                report = await asyncio.to_thread(worker.start_up, self.store, self.settings)
                if report.repaired:
                    self.notify(f"Finished {report.repaired} refund(s) interrupted earlier.", timeout=6)
            await asyncio.to_thread(worker.run_due, self.store, self.settings)
        except ServiceError as exc:
            log.warning("job queue postponed: %s", exc)

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        if event.state == WorkerState.ERROR and event.worker.error is not None:
            self.worker_failed(event.worker.error, event.worker.name)

    def worker_failed(self, error: BaseException, where: str = "") -> None:
        """The one place a failed worker ends up: the agent sees what happened, the log gets the traceback."""
        message, severity = describe_failure(error)
        log.error("worker %s failed: %s", where or "?", error, exc_info=error)
        self.notify(message, severity="error" if severity == "error" else "warning", timeout=8, markup=False)

    def signed_in(self, actor: Actor) -> None:
        """The first-run screen built a store and resolved who the agent is."""
        self.actor = actor
        self.switch_screen_to_table()
        self.start_background_work()

    def switch_screen_to_table(self) -> None:
        from agentdesk.ui.screens.customer_table import CustomerTableScreen

        self.switch_screen(CustomerTableScreen())

    def action_help(self) -> None:
        from agentdesk.ui.screens.help import HelpScreen

        if isinstance(self.screen, HelpScreen):
            return
        self.push_screen(HelpScreen(self.screen))

    def get_system_commands(self, screen: Screen) -> Iterable[SystemCommand]:
        """Help, Quit, Theme… (the screen's and pane's own keys come from `ActionsProvider`)."""
        yield SystemCommand("Help", "Show the keys that work here (key: ?)", self.action_help)
        yield from super().get_system_commands(screen)
