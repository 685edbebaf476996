"""What every screen, pane and dialog shares.

- `DeskScreen`, `DeskWidget`, `DeskModal`: `self.app` typed as `AgentDeskApp`, so `self.app.store`,
  `self.app.actor` and `self.app.settings` are checked by mypy everywhere.
- `call()` runs a service off the event loop with the store and the acting agent first.
- `desk_work`: Textual's `@work` with `exit_on_error=False`. A failed worker is reported by the
  app's one handler (a notification for the agent, a log line with the traceback); the console
  never closes because of it. Screens only handle success.
- Live refresh: the app runs a `ChangeFeed` (services/changes.py) on a thread of its own, which posts
  `CustomersChanged`; the app hands the changes to every `DeskScreen` in the stack
  (`customers_changed`), and each reads again only what it shows of those customers. Dialogs are left
  alone: what an agent is typing is never replaced.
- `ServiceDialog[T]`: fill in → call the service → on a `ServiceError` show it next to its field
  (or under the form) and stay open → on success dismiss with the typed result. Closing returns
  `None` when nothing changed.
- `ConfirmingDialog[T]`: the same with a second step: Enter shows the exact sentence of what will
  happen, Enter again does it and closes; the outcome is announced where the agent lands.
- Every dialog fits the terminal: its title and its footer (the error line, the confirmation and how
  to submit) stay in place while the fields scroll between them. Esc on a form with something typed
  asks before throwing it away.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Coroutine
from typing import TYPE_CHECKING, Any, ClassVar, Concatenate, ParamSpec, TypeVar, cast

from rich.text import Text
from textual import events, getters, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.css.query import NoMatches
from textual.dom import DOMNode
from textual.message import Message
from textual.message_pump import MessagePump
from textual.screen import ModalScreen, Screen
from textual.widget import Widget
from textual.widgets import Checkbox, Input, Label, RadioButton, SelectionList, Static, TextArea
from textual.worker import Worker, WorkerState

from agentdesk.domain.errors import InvalidInput, PermissionDenied, ServiceError, StoreBusy
from agentdesk.domain.permissions import Action, allowed, needed_roles
from agentdesk.domain.text import visible

if TYPE_CHECKING:
    from agentdesk.app import AgentDeskApp
    from agentdesk.services.changes import Changes

P = ParamSpec("P")
T = TypeVar("T")
R = TypeVar("R")

log = logging.getLogger("agentdesk.ui")


class _desk_app(getters.app["AgentDeskApp"]):
    """`getters.app(AgentDeskApp)`, resolved at first use: `agentdesk.app` itself imports this module."""

    def __init__(self) -> None:
        pass

    def __get__(self, obj: MessagePump, obj_type: type[MessagePump]) -> AgentDeskApp:
        if not hasattr(self, "_app_type"):
            from agentdesk.app import AgentDeskApp

            self._app_type = AgentDeskApp
        return super().__get__(obj, obj_type)


def desk_work(
    *, group: str = "default", exclusive: bool = True
) -> Callable[[Callable[P, Coroutine[Any, Any, T]]], Callable[P, Worker[T]]]:
    """`@work` for the console: never exits the app; failures go to `AgentDeskApp.worker_failed`."""
    return cast(
        "Callable[[Callable[P, Coroutine[Any, Any, T]]], Callable[P, Worker[T]]]",
        work(group=group, exclusive=exclusive, exit_on_error=False),
    )


class DeskNode(MessagePump):
    """Mixed into every screen, widget and dialog of the console (before the Textual base)."""

    app = _desk_app()
    ROLE_GATES: ClassVar[dict[str, Action]] = {}
    """Action name → the permission it needs: hidden for roles without it (`check_action`), and its key, if
    pressed anyway, says which role it needs instead of doing nothing."""

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        gate = self.ROLE_GATES.get(action)
        return True if gate is None else self.gate(gate)

    def on_key(self, event: events.Key) -> None:
        if not isinstance(self, DOMNode):
            return
        for binding in self._bindings.key_to_bindings.get(event.key, []):
            gate = self.ROLE_GATES.get(binding.action.split("(")[0])
            if gate is not None and not self.may(gate):
                event.stop()
                self.refuse(gate)
                return

    async def call(self, service: Callable[Concatenate[Any, Any, P], T], *args: P.args, **kwargs: P.kwargs) -> T:
        """Run `service(store, actor, *args, **kwargs)` in a thread; the event loop keeps drawing."""
        import asyncio

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


class CustomersChanged(Message):
    """Posted to the app from the change feed's thread: these customers changed in the store."""

    def __init__(self, changes: Changes) -> None:
        super().__init__()
        self.changes = changes


class DeskScreen(DeskNode, Screen[None]):
    """A full screen of the console. `TITLE` is its name for people (help, palette)."""

    def customers_changed(self, changes: Changes) -> None:
        """Customers changed in the store (another agent, the worker, the portal, or this console): read
        again what this screen shows of them, keeping the cursor. Called while the screen is in the stack,
        under a dialog too."""


class DeskWidget(DeskNode, Widget):
    """A pane or widget that loads its own data and owns its keys."""


class DeskModal(DeskNode, ModalScreen[T]):
    """A modal that returns a `T` to its caller; centred, its body in a `.dialog` box.

    The box takes most of a small terminal's width (and no more than 120 columns of a large one) and
    never more than its height: what does not fit scrolls inside, between a title docked at the top
    and a footer docked at the bottom."""

    DEFAULT_CSS = """
    DeskModal { align: center middle; }
    DeskModal > .dialog {
        width: 95%; max-width: 120; height: auto; max-height: 100%;
        border: round $accent; background: $surface; padding: 0 1;
    }
    DeskModal .dialog-title { text-style: bold; dock: top; height: auto; }
    DeskModal .dialog-footer { dock: bottom; height: auto; }
    DeskModal .dialog-hint { color: $text-muted; height: auto; }
    DeskModal .field-error { height: auto; color: $error; display: none; }
    DeskModal .dialog-error { height: auto; display: none; }
    DeskModal #dialog-confirm { height: auto; display: none; }
    DeskModal Input.-invalid { background: $error 30%; }
    DeskModal .field-row { height: auto; }
    DeskModal .field-row > .field-label { width: 16; }
    DeskModal .field-row > .field-input { width: 1fr; height: auto; }
    """


class ConfirmDiscard(DeskModal[bool]):
    """"Throw away what you typed?" — True when the agent says yes (Enter or d), False to keep editing."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("enter,d,y", "answer(True)", "Discard", id="discard.yes", priority=True),
        Binding("escape,n", "answer(False)", "Keep editing", id="discard.no", priority=True),
    ]
    DEFAULT_CSS = """
    ConfirmDiscard > .dialog { width: 64; max-width: 95%; border: round $warning; }
    """

    def __init__(self, question: str, yes: str = "discard") -> None:
        super().__init__()
        self.question = question
        self.yes = yes

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Static(Text(visible(self.question), style="bold"))
            yield Static(Text(f"Enter {self.yes} · Esc keep editing", style="dim"), classes="dialog-hint")

    def action_answer(self, discard: bool) -> None:
        self.dismiss(discard)


FormValue = str | bool | tuple[object, ...]


def form_values(root: Widget) -> dict[int, FormValue]:
    """What the agent can change in `root`'s fields, by widget: to tell whether anything was typed."""
    values: dict[int, FormValue] = {}
    for widget in root.query("*"):
        if isinstance(widget, Input | TextArea):
            values[id(widget)] = widget.text if isinstance(widget, TextArea) else widget.value
        elif isinstance(widget, Checkbox | RadioButton):
            values[id(widget)] = widget.value
        elif isinstance(widget, SelectionList):
            values[id(widget)] = tuple(widget.selected)
    return values


class ServiceDialog(DeskModal[T]):
    """A form whose submit calls one service.

    Subclasses compose their fields with `fields()` and implement `perform()` (the service call,
    usually `await self.call(...)`); `submitted(result)` decides what happens on success (dismiss
    by default). Field problems of an `InvalidInput` are shown in a `Static` with id
    `error-<field>` when the dialog has one (`field_of` maps a service's field name to the
    dialog's), else all together under the form.

    Dialogs that change several things before closing (tags, instruments…) call `attempt()` for
    each change and set `self.result`; Esc returns `self.result` (None while nothing changed).
    `load()` reads something for the form; a newer load replaces an older one.
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "cancel", "Close", id="dialog.cancel"),
        Binding("ctrl+s", "submit", "Save", id="dialog.submit", priority=True),
    ]
    heading = ""
    submit_hint = "Ctrl+S save · Esc close"
    """How to submit and close, shown in the dialog's own footer."""
    input_prefix = ""
    """Inputs with id `<input_prefix><field>` are marked invalid with their field's problem."""
    needs: ClassVar[Action | None] = None
    """The permission the dialog's changes need: its keys are hidden from other roles, and a change
    reached anyway says which role it needs (the service refuses it regardless)."""
    gated_actions: ClassVar[frozenset[str]] = frozenset({"submit"})
    """The actions that make a change (and so need `needs`)."""

    def __init__(self) -> None:
        super().__init__()
        self.busy = False
        self.result: T | None = None
        self.pristine: dict[int, FormValue] = {}

    def compose(self) -> ComposeResult:
        with VerticalScroll(classes="dialog"):
            if self.heading:
                yield Static(Text(visible(self.heading), style="bold"), classes="dialog-title")
            yield from self.body()
            with Vertical(classes="dialog-footer"):
                yield from self.footer()

    def body(self) -> ComposeResult:
        """Everything between the heading and the footer (`fields()` for a plain form)."""
        yield from self.fields()

    def footer(self) -> ComposeResult:
        """Docked under the fields, always in view: the error line and how to submit."""
        yield Static(classes="dialog-error", id="dialog-error")
        if self.submit_hint:
            yield Static(Text(self.submit_hint, style="dim"), classes="dialog-hint")

    def on_mount(self) -> None:
        self.call_after_refresh(self.mark_pristine)

    def mark_pristine(self) -> None:
        """What the fields hold now is what Esc may throw away without asking."""
        self.pristine = form_values(self)

    @property
    def dirty(self) -> bool:
        """Something was typed (or ticked) since the form opened or last saved."""
        return form_values(self) != self.pristine

    def fields(self) -> ComposeResult:
        yield from ()

    async def perform(self) -> T:
        raise NotImplementedError

    def submitted(self, result: T) -> None:
        self.dismiss(result)

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "submit" and type(self).perform is ServiceDialog.perform:
            return False
        if self.needs is not None and action in self.gated_actions:
            return self.gate(self.needs)
        return True

    def action_submit(self) -> None:
        self.attempt(self.perform, self.submitted)

    def action_cancel(self) -> None:
        if not self.busy:
            self.close_asking()

    def close_asking(self) -> None:
        """Close; when something was typed, first ask whether to throw it away."""
        if not self.dirty:
            self.dismiss(self.result)
            return

        def answered(discard: bool | None) -> None:
            if discard:
                self.dismiss(self.result)

        what = f" in “{self.heading}”" if self.heading else ""
        self.app.push_screen(ConfirmDiscard(f"Discard what you typed{what}?"), answered)

    # --- running services ---------------------------------------------------------------------

    def attempt(self, job: Callable[[], Awaitable[R]], then: Callable[[R], object]) -> bool:
        """Run `job` (a service call) unless one is already running: a `ServiceError` goes to
        `failed()` and the dialog stays open; the result goes to `then`. False when busy."""
        if self.busy or (self.needs is not None and not self.refuse(self.needs)):
            return False
        self.clear_errors()
        self.busy = True
        self._attempt(job, then)
        return True

    @desk_work(group="dialog-attempt")
    async def _attempt(self, job: Callable[[], Awaitable[Any]], then: Callable[[Any], object]) -> None:
        try:
            result = await job()
        except ServiceError as exc:
            self.busy = False
            self.failed(exc)
            return
        except BaseException:
            self.busy = False
            raise
        self.busy = False
        then(result)
        if self.is_attached:
            self.mark_pristine()

    def load(self, job: Callable[[], Awaitable[R]], then: Callable[[R], object]) -> None:
        """Read something the form shows; a `ServiceError` is shown under the form."""
        self._load(job, then)

    @desk_work(group="dialog-load")
    async def _load(self, job: Callable[[], Awaitable[Any]], then: Callable[[Any], object]) -> None:
        try:
            result = await job()
        except ServiceError as exc:
            self.failed(exc)
            return
        then(result)
        self.call_after_refresh(self.mark_pristine)

    def failed(self, error: ServiceError) -> None:
        """A service refused or the store was busy: say so in the form. A busy store and a refused
        permission are also logged (someone may need to look); bad input is only shown."""
        if isinstance(error, StoreBusy | PermissionDenied):
            log.warning("%s: %s", type(self).__name__, error, exc_info=error)
        self.show_error(error)

    # --- messages -----------------------------------------------------------------------------

    def clear_errors(self) -> None:
        for widget in self.query(".field-error"):
            if isinstance(widget, Static):
                put(widget, "")
        for field in self.query(".-invalid"):
            field.remove_class("-invalid")
        put(self.query_one("#dialog-error", Static), "")

    def field_of(self, name: str) -> str:
        """The dialog's field for a service's field name (`emails[1]` → `emails`, say)."""
        return name

    def show_error(self, error: ServiceError | str) -> None:
        """Each field's problem beside its field when there is a place for it; the rest below the form."""
        leftover: list[str] = []
        placed: list[Static] = []
        marked: dict[str, None] = {}
        if isinstance(error, InvalidInput) and error.fields:
            for name, problem in error.fields.items():
                field = self.field_of(name)
                try:
                    slot = self.query_one(f"#error-{field}", Static)
                except NoMatches:
                    leftover.append(f"{name}: {problem}")
                    continue
                marked[field.replace("_", " ")] = None
                put(slot, Text(visible(problem), style="red"))
                if self.input_prefix:
                    for widget in self.query(f"#{self.input_prefix}{field}"):
                        widget.add_class("-invalid")
                placed.append(slot)
        else:
            leftover.append(str(error))
        if placed and not leftover:
            leftover.append(f"Fix the fields marked in red ({', '.join(marked)}); nothing was saved.")
        below = self.query_one("#dialog-error", Static)
        put(below, Text("\n".join(visible(line) for line in leftover), style="red"))
        first = placed[0] if placed else below
        self.call_after_refresh(self.query_one(".dialog").scroll_to_center, first, animate=False)

    def note(self, *lines: str, style: str = "green") -> None:
        """Lines under the form that are not an error (what was just done, progress)."""
        put(self.query_one("#dialog-error", Static), Text("\n".join(visible(line) for line in lines), style=style))


class ConfirmingDialog(ServiceDialog[T]):
    """Enter → the exact sentence of what will happen → Enter again does it and closes with the
    result; the outcome is announced (a notification where the agent lands). Esc while confirming
    goes back to the form.

    Subclasses implement `confirmation()` (raise `InvalidInput` for a field's problem) and
    `perform()`; `outcome(result)` is the sentence shown afterwards. `facts` (a `Static` above the
    fields) holds what the dialog loaded about its subject.
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "back", "Back / close", id="dialog.back"),
        Binding("enter", "submit", "Next / confirm", id="dialog.confirm", priority=True),
        Binding("ctrl+s", "submit", "Next / confirm", id="dialog.submit", priority=True, show=False),
    ]
    submit_hint = "Enter next · Esc close"

    def __init__(self) -> None:
        super().__init__()
        self.stage = "edit"

    def body(self) -> ComposeResult:
        yield Static(id="dialog-facts")
        yield from self.fields()

    def footer(self) -> ComposeResult:
        yield Static(id="dialog-confirm")
        yield from super().footer()

    @property
    def facts(self) -> Static:
        return self.query_one("#dialog-facts", Static)

    def confirmation(self) -> str:
        raise NotImplementedError

    def outcome(self, result: T) -> str:
        return "Done."

    def _say(self, text: Text | str) -> None:
        put(self.query_one("#dialog-confirm", Static), text)

    def action_submit(self) -> None:
        if self.busy or (self.needs is not None and not self.refuse(self.needs)):
            return
        if self.stage == "edit":
            self.clear_errors()
            try:
                sentence = self.confirmation()
            except ServiceError as exc:
                self.show_error(exc)
                return
            self.stage = "confirm"
            self._say(Text.assemble((visible(sentence), "bold yellow"), "\nEnter to confirm · Esc to change"))
        elif self.stage == "confirm":
            self.stage = "running"
            self._say(Text("working…", style="dim"))
            self.attempt(self.perform, self.submitted)
        elif self.stage == "done":
            self.dismiss(self.result)

    def submitted(self, result: T) -> None:
        """Done: close with the result and say what happened (a warning when the money did not move)."""
        self.result = result
        self.stage = "done"
        ok = bool(getattr(result, "ok", True))
        self.app.notify(visible(self.outcome(result)), title=visible(self.heading),
                        severity="information" if ok else "warning", timeout=8 if ok else 15, markup=False)
        self.dismiss(result)

    def failed(self, error: ServiceError) -> None:
        self.stage = "edit"
        self._say("")
        super().failed(error)

    def action_back(self) -> None:
        if self.stage == "confirm":
            self.stage = "edit"
            self._say("")
        elif not self.busy:
            self.close_asking()


def put(slot: Static, content: Text | str) -> None:
    """Show `content` in a message line of a form; an empty line takes no room."""
    slot.update(content)
    slot.display = bool(content.plain if isinstance(content, Text) else content)


def form_field(label: str, widget: Widget, name: str) -> ComposeResult:
    """A label, its input, and the line where a service's problem with field `name` is shown
    (the whole message, wrapped to the dialog's width)."""
    yield Label(Text(label))
    yield widget
    yield Static(id=f"error-{name}", classes="field-error")


def field_row(label: str, widget: Widget, name: str) -> ComposeResult:
    """One row of a long form: the label on the left, the input on the right and under it, wrapped
    to the input's width, the service's problem with field `name`."""
    with Horizontal(classes="field-row"):
        yield Label(Text(label), classes="field-label")
        with Vertical(classes="field-input"):
            yield widget
            yield Static(id=f"error-{name}", classes="field-error")


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
