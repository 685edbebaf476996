"""The Textual application: holds the store and the signed-in agent, and routes between screens."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar

from textual import events
from textual.app import App, SystemCommand
from textual.binding import Binding, BindingType
from textual.screen import Screen
from textual.worker import Worker, WorkerState

from agentdesk.domain.errors import ServiceError
from agentdesk.domain.permissions import Actor
from agentdesk.domain.text import visible
from agentdesk.ui.base import ConfirmDiscard, CustomersChanged, DeskScreen, ServiceDialog, describe_failure, desk_work
from agentdesk.ui.commands import ActionsProvider, CustomerProvider
from agentdesk.ui.paste import clean_paste

if TYPE_CHECKING:
    from agentdesk.config import Settings
    from agentdesk.db.store import Store
    from agentdesk.services.changes import ChangeFeed, MentionNotice

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
        Binding("ctrl+c", "interrupt", "Quit", show=False, priority=True, id="app.interrupt"),
        Binding("question_mark", "help", "Help", id="app.help"),
        Binding("ctrl+p", "command_palette", "Commands", show=False, id="app.command_palette"),
    ]

    def __init__(self, store: Store, settings: Settings, actor: Actor | None, first_run: FirstRun | None = None):
        super().__init__()
        self.store = store
        self.settings = settings
        self.actor = actor
        self.first_run = first_run
        self.feed: ChangeFeed | None = None

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
        """Finish interrupted refunds, then keep draining the job queue (emails, retries); follow what
        others change."""
        self.drain_jobs(first=True)
        self.set_interval(JOB_INTERVAL, self.drain_jobs)
        self.start_live_refresh()

    def start_live_refresh(self) -> None:
        """The change feed on a thread of its own (it opens its connection there): the event loop never
        waits on it, and what it finds arrives as `CustomersChanged`."""
        from agentdesk.services.changes import ChangeFeed

        if self.feed is None and self.actor is not None:
            self.feed = ChangeFeed(self.store, self.actor)
            self.feed.start(lambda changes: self.post_message(CustomersChanged(changes)))

    def on_customers_changed(self, message: CustomersChanged) -> None:
        for notice in message.changes.mentions:
            self.notify(self.mention_line(notice), title="Mentioned", timeout=10, markup=False)
        for screen in self.screen_stack:
            if isinstance(screen, DeskScreen):
                screen.customers_changed(message.changes)

    @staticmethod
    def mention_line(notice: MentionNotice) -> str:
        """"@you mentioned by cara on Ada Lovelace (C-1): …", every stored text made visible."""
        said = f": {visible(' '.join(notice.text.split()))}" if notice.text else ""
        return (f"@you mentioned by {visible(notice.by)} on {visible(notice.customer_name)} "
                f"({visible(notice.customer)}){said}")

    async def on_unmount(self) -> None:
        if self.feed is not None:
            await asyncio.to_thread(self.feed.stop)

    @desk_work(group="jobs")
    async def drain_jobs(self, first: bool = False) -> None:
        """A refusal or a busy store only postpones the queue (logged); anything else is a failure."""
        from agentdesk.services.jobs import runner as worker

        try:
            if first:
                report = await asyncio.to_thread(worker.start_up, self.store, self.settings, checkpoint=False)
                if report.repaired or report.still_pending:
                    self.notify(f"Start-up: {report.repairs()}.", timeout=6)
            await asyncio.to_thread(worker.run_due, self.store, self.settings, checkpoint=False)
        except ServiceError as exc:
            log.warning("job queue postponed: %s", exc)

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        if event.state == WorkerState.ERROR and event.worker.error is not None:
            self.worker_failed(event.worker.error, event.worker.name)

    async def on_event(self, event: events.Event) -> None:
        if isinstance(event, events.Paste) and not event.is_forwarded:
            cleaned = self.pasted(event.text)
            if cleaned is None:
                return
            event = events.Paste(cleaned)
        await super().on_event(event)

    def pasted(self, text: str) -> str | None:
        """What a paste puts into the focused field: without escape sequences or control characters
        (so the rest keeps its order), or None when it would not fit the field's limit (the agent is
        told, and what the field held stays)."""
        from textual.widgets import Input, TextArea

        field = self.focused
        cleaned = clean_paste(text, multiline=isinstance(field, TextArea))
        if isinstance(field, Input) and field.max_length:
            start, end = sorted(field.selection)
            kept = len(field.value) - (end - start)
            if kept + len(cleaned) > field.max_length:
                self.notify(f"The pasted text is too long for this field: {len(cleaned):,} characters, and it "
                            f"holds at most {field.max_length:,}. Nothing was pasted; the field is as it was.",
                            severity="warning", timeout=8, markup=False)
                return None
        return cleaned

    def action_interrupt(self) -> None:
        """Ctrl+C: copy a selection in a field, else quit — after asking when a form has something typed."""
        from textual.widgets import Input

        field = self.focused
        if isinstance(field, Input) and not field.selection.is_empty:
            field.action_copy()
            return
        self.quit_asking()

    async def action_quit(self) -> None:
        self.quit_asking()

    def quit_asking(self) -> None:
        """Quit; when a form has something typed, first ask whether to throw it away."""
        if isinstance(self.screen, ConfirmDiscard):
            return
        dirty = [s for s in self.screen_stack if isinstance(s, ServiceDialog) and s.dirty]
        if not dirty:
            self.exit()
            return

        def answered(discard: bool | None) -> None:
            if discard:
                self.exit()

        what = f" in “{dirty[-1].heading}”" if dirty[-1].heading else ""
        self.push_screen(ConfirmDiscard(f"Quit and lose what you typed{what}?", yes="quit"), answered)

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
