"""What every screen, pane and dialog shares.

- `DeskScreen`, `DeskWidget`, `DeskModal`: `self.app` typed as `AgentDeskApp`, so `self.app.store`,
  `self.app.actor` and `self.app.settings` are checked by mypy everywhere.
- `call()` runs a service off the event loop with the store and the acting agent first.
- `desk_work`: Textual's `@work` with `exit_on_error=False`. A failed worker is reported by the
  app's one handler (a notification for the agent, a log line with the traceback); the console
  never closes because of it. Screens only handle success.
- `ServiceDialog[T]`: fill in → call the service → on a `ServiceError` show it next to its field
  (or under the form) and stay open → on success dismiss with the typed result.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, ClassVar, Concatenate, ParamSpec, TypeVar

from rich.text import Text
from textual import getters, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.css.query import NoMatches
from textual.message_pump import MessagePump
from textual.screen import ModalScreen, Screen
from textual.widget import Widget
from textual.widgets import Static
from textual.worker import Worker, WorkerState

from agentdesk.domain.errors import InvalidInput, PermissionDenied, ServiceError
from agentdesk.domain.permissions import Action, allowed, needed_roles
from agentdesk.domain.text import visible

if TYPE_CHECKING:
    from agentdesk.app import AgentDeskApp

P = ParamSpec("P")
T = TypeVar("T")


def _app_type() -> type[AgentDeskApp]:
    from agentdesk.app import AgentDeskApp

    return AgentDeskApp


def desk_work(*, group: str = "default", exclusive: bool = True) -> Callable[[Callable[P, Awaitable[T]]], Any]:
    """`@work` for the console: never exits the app; failures go to `AgentDeskApp.worker_failed`."""
    return work(group=group, exclusive=exclusive, exit_on_error=False)


class DeskNode(MessagePump):
    """Mixed into every screen, widget and dialog of the console (before the Textual base)."""

    app = getters.app(_app_type)

    async def call(self, service: Callable[Concatenate[Any, Any, P], T], *args: P.args, **kwargs: P.kwargs) -> T:
        """Run `service(store, actor, *args, **kwargs)` in a thread; the event loop keeps drawing."""
        return await asyncio.to_thread(service, self.app.store, self.app.actor, *args, **kwargs)

    def may(self, action: Action) -> bool:
        """Whether the signed-in agent's role allows `action` (a convenience: the service decides)."""
        return self.app.actor is not None and allowed(self.app.actor, action)

    def gate(self, action: Action) -> bool | None:
        """For `check_action`: shown when allowed, hidden (False) when the role lacks it."""
        return self.may(action)

    def refuse(self, action: Action) -> bool:
        """Tell the agent which role a key needs when it was reached anyway; True when allowed."""
        if self.may(action):
            return True
        self.app.notify(
            f"Your role may not {action.value}; this needs {needed_roles(action)}.",
            severity="warning",
            timeout=5,
            markup=False,
        )
        return False

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        if event.state == WorkerState.ERROR and event.worker.error is not None:
            self.app.worker_failed(event.worker.error, event.worker.name)


class DeskScreen(DeskNode, Screen[None]):
    """A full screen of the console."""


class DeskWidget(DeskNode, Widget):
    """A pane or widget that loads its own data and owns its keys."""


class DeskModal(DeskNode, ModalScreen[T]):
    """A modal that returns a `T` to its caller."""


class ServiceDialog(DeskModal[T]):
    """A form whose submit calls one service.

    Subclasses compose their fields with `fields()` and implement `perform()` (the service call,
    usually `await self.call(...)`); `submitted(result)` decides what happens on success (dismiss
    by default). Field problems of an `InvalidInput` are shown in a `Static` with id
    `error-<field>` when the dialog has one, else all together under the form.
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "cancel", "Close", id="dialog.cancel"),
        Binding("ctrl+s", "submit", "Save", id="dialog.submit", priority=True),
    ]
    heading = ""
    submit_hint = "Ctrl+S save · Esc close"

    def __init__(self) -> None:
        super().__init__()
        self.busy = False

    def compose(self) -> ComposeResult:
        from textual.containers import VerticalScroll

        with VerticalScroll(classes="dialog"):
            if self.heading:
                yield Static(Text(self.heading, style="bold"), classes="dialog-title")
            yield from self.fields()
            yield Static(classes="dialog-error", id="dialog-error")
            yield Static(Text(self.submit_hint, style="dim"), classes="dialog-hint")

    def fields(self) -> ComposeResult:
        yield from ()

    async def perform(self) -> T:
        raise NotImplementedError

    def submitted(self, result: T) -> None:
        self.dismiss(result)

    def action_submit(self) -> None:
        if not self.busy:
            self.clear_errors()
            self.busy = True
            self._run()

    def action_cancel(self) -> None:
        if not self.busy:
            self.dismiss(None)

    @desk_work(group="service-dialog")
    async def _run(self) -> None:
        try:
            result = await self.perform()
        except ServiceError as exc:
            self.show_error(exc)
            return
        finally:
            self.busy = False
        self.submitted(result)

    def clear_errors(self) -> None:
        for widget in self.query(".field-error"):
            if isinstance(widget, Static):
                widget.update("")
        self.query_one("#dialog-error", Static).update("")

    def show_error(self, error: ServiceError | str) -> None:
        """Each field's problem beside its field when there is a place for it; the rest below the form."""
        leftover: list[str] = []
        if isinstance(error, InvalidInput) and error.fields:
            for name, problem in error.fields.items():
                try:
                    self.query_one(f"#error-{name}", Static).update(Text(visible(problem), style="red"))
                except NoMatches:
                    leftover.append(f"{name}: {problem}")
        else:
            leftover.append(str(error))
        if leftover:
            self.query_one("#dialog-error", Static).update(Text(visible("\n".join(leftover)), style="red"))


def describe_failure(error: BaseException) -> tuple[str, str]:
    """(message, severity) for an error that reached the app's handler."""
    if isinstance(error, PermissionDenied):
        return str(error), "warning"
    if isinstance(error, ServiceError):
        return str(error), "warning"
    return (
        f"Something went wrong ({type(error).__name__}: {error}); it was logged. The console is still usable.",
        "error",
    )
