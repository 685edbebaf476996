"""The timeline's dialogs: filter, note, attach, link, save an attachment, and the mentions list.

Each form is a `ServiceDialog`: it dismisses with None when nothing changed and with what it made
(the new event, the filter, the saved path) when something did.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any, ClassVar, TypeVar

from rich.text import Text
from textual import events, on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Grid, Vertical
from textual.message import Message
from textual.widgets import Input, Label, OptionList, SelectionList, Static, TextArea
from textual.widgets.option_list import Option

from agentdesk.domain.errors import InvalidInput, ServiceError
from agentdesk.domain.text import visible
from agentdesk.services.timeline import attachments
from agentdesk.services.timeline import notes as timeline_notes
from agentdesk.services.timeline import read as timeline_read
from agentdesk.services.timeline.notes import MentionInfo
from agentdesk.services.timeline.read import TimelineFilter
from agentdesk.services.timeline.record import TimelineEntry
from agentdesk.ui.base import DeskModal, ServiceDialog, desk_work
from agentdesk.ui.widgets.plain_text import plain

T = TypeVar("T")


class _SubmitOnEnter(ServiceDialog[T]):
    """Enter in a one-line field submits, like Ctrl+S."""

    @on(Input.Submitted)
    def _submitted(self) -> None:
        self.action_submit()


class TypeList(SelectionList[str]):
    """The event types; typing letters jumps to the first type whose title starts with them (or,
    failing that, contains them). A pause of a second and a half starts a new search."""

    PAUSE = 1.5

    class Typed(Message):
        def __init__(self, text: str, found: str | None) -> None:
            super().__init__()
            self.text = text
            self.found = found

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.typed = ""
        self.typed_at = 0.0

    def on_key(self, event: events.Key) -> None:
        character = event.character
        if not character or not event.is_printable or character == " ":
            return
        event.stop()
        event.prevent_default()
        now = time.monotonic()
        self.typed = (self.typed if now - self.typed_at < self.PAUSE else "") + character
        self.typed_at = now
        wanted = self.typed.casefold()
        titles = [str(self.get_option_at_index(i).prompt).casefold() for i in range(self.option_count)]
        match = next((i for i, t in enumerate(titles) if t.startswith(wanted)), None)
        if match is None:
            match = next((i for i, t in enumerate(titles) if wanted in t), None)
        found = None
        if match is not None:
            self.highlighted = match
            found = str(self.get_option_at_index(match).prompt)
        self.post_message(self.Typed(self.typed, found))


class TimelineFilterDialog(_SubmitOnEnter[TimelineFilter]):
    heading = "Filter the timeline"
    submit_hint = "letters find a type · Space picks · Enter apply · Esc cancel"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("enter", "apply", "Apply", id="tl_filter.apply", priority=True),
    ]

    def __init__(self, current: TimelineFilter) -> None:
        super().__init__()
        self.current = current

    def fields(self) -> ComposeResult:
        yield TypeList(*[(title, value, value in self.current.types)
                         for value, title in timeline_read.event_types()], id="tl-types")
        yield Static(Text("Types: none picked shows every event", style="dim"), id="tl-typed")
        with Grid(id="tl-filter-grid"):
            yield Label("From")
            yield Input(str(self.current.since or ""), placeholder="YYYY-MM-DD", id="tl-since", compact=True)
            yield Label("To")
            yield Input(str(self.current.until or ""), placeholder="YYYY-MM-DD", id="tl-until", compact=True)
            yield Label("Text")
            yield Input(self.current.text, placeholder="words in notes", id="tl-text", compact=True)

    def on_mount(self) -> None:
        self.query_one(SelectionList).focus()

    @on(TypeList.Typed)
    def _typed(self, event: TypeList.Typed) -> None:
        found = f" → {event.found} (Enter applies it)" if event.found else " → no type matches"
        self.query_one("#tl-typed", Static).update(plain(f"find “{event.text}”{found}", "cyan"))

    def action_apply(self) -> None:
        """Enter: apply; with no type picked yet in the list, the highlighted one is the filter."""
        types = self.query_one(TypeList)
        if self.focused is types and not types.selected and types.highlighted is not None:
            types.select(types.get_option_at_index(types.highlighted))
        self.action_submit()

    async def perform(self) -> TimelineFilter:
        since, until = timeline_read.parse_since_until(self.query_one("#tl-since", Input).value,
                                                       self.query_one("#tl-until", Input).value)
        types: SelectionList[str] = self.query_one(SelectionList)
        return TimelineFilter(frozenset(types.selected), since, until, self.query_one("#tl-text", Input).value.strip())


class NoteDialog(ServiceDialog[TimelineEntry]):
    heading = "Add a note (several lines; @login mentions an agent)"

    def __init__(self, customer_id: int) -> None:
        super().__init__()
        self.customer_id = customer_id

    def fields(self) -> ComposeResult:
        yield TextArea(id="note-text", soft_wrap=True, show_line_numbers=False)

    def on_mount(self) -> None:
        self.query_one(TextArea).focus()

    async def perform(self) -> TimelineEntry:
        return await self.call(timeline_notes.add_note, self.customer_id, self.query_one(TextArea).text)


class AttachDialog(_SubmitOnEnter[TimelineEntry]):
    heading = "Attach a file"

    def __init__(self, customer_id: int) -> None:
        super().__init__()
        self.customer_id = customer_id

    def fields(self) -> ComposeResult:
        yield Label("Path of the file")
        yield Input(id="attach-path", compact=True)
        yield Static(classes="field-error", id="error-path")
        yield Label("Description")
        yield Input(id="attach-description", compact=True)

    def on_mount(self) -> None:
        self.query_one("#attach-path", Input).focus()

    async def perform(self) -> TimelineEntry:
        return await self.call(attachments.add_attachment, self.app.settings, self.customer_id,
                               self.query_one("#attach-path", Input).value.strip(),
                               self.query_one("#attach-description", Input).value)


class SaveAttachmentDialog(_SubmitOnEnter[Path]):
    heading = "Save the attachment to a file"

    def __init__(self, attachment_id: int, name: str) -> None:
        super().__init__()
        self.attachment_id = attachment_id
        self.file_name = name

    def fields(self) -> ComposeResult:
        yield Label("Save as")
        yield Input(str(Path.cwd() / self.file_name), id="save-path", compact=True)

    def on_mount(self) -> None:
        self.query_one("#save-path", Input).focus()

    async def perform(self) -> Path:
        return await self.call(attachments.save_attachment, self.app.settings, self.attachment_id,
                               self.query_one("#save-path", Input).value.strip())

    def submitted(self, result: Path) -> None:
        self.app.notify(f"Saved to {visible(result)}", markup=False)
        self.dismiss(result)


class LinkDialog(_SubmitOnEnter[TimelineEntry]):
    heading = "Link to a customer or a transaction"

    def __init__(self, customer_id: int) -> None:
        super().__init__()
        self.customer_id = customer_id

    def fields(self) -> ComposeResult:
        yield Label("Customer id, or a transaction number as txn:123")
        yield Input(id="link-target", compact=True)
        yield Static(classes="field-error", id="error-target")
        yield Label("Why (optional)")
        yield Input(id="link-text", compact=True)

    def on_mount(self) -> None:
        self.query_one("#link-target", Input).focus()

    async def perform(self) -> TimelineEntry:
        target = self.query_one("#link-target", Input).value.strip()
        kind = "transaction" if target.lower().startswith("txn:") else "customer"
        target = target[4:].strip() if kind == "transaction" else target
        if not target:
            raise InvalidInput(fields={"target": "say what to link to"})
        return await self.call(timeline_notes.add_link, self.customer_id, kind, target,
                               self.query_one("#link-text", Input).value)


class MentionsScreen(DeskModal[int | None]):
    """Where other agents mentioned you: Enter opens the customer (and marks it read)."""

    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "close", "Close", id="mentions.close")]

    def __init__(self) -> None:
        super().__init__()
        self.mentions: list[MentionInfo] = []

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Static(Text("Your mentions · Enter open the customer · Esc close", style="bold"))
            yield OptionList(id="mentions-list")
            yield Static(id="mentions-status")

    def on_mount(self) -> None:
        self.load()

    @desk_work(group="mentions")
    async def load(self) -> None:
        try:
            self.mentions = await self.call(timeline_notes.my_mentions)
        except ServiceError as exc:
            self.query_one("#mentions-status", Static).update(plain(str(exc), "red"))
            return
        options = self.query_one(OptionList)
        for m in self.mentions:
            line = Text()
            line.append(f"{m.at:%m-%d %H:%M} ", style="dim")
            line.append(plain(m.by, "bold"))
            line.append(" on ")
            line.append(plain(f"{m.customer_name} ({m.customer})"))
            line.append(": ")
            line.append(plain(m.text.replace("\n", " ")[:60]))
            options.add_option(Option(line, id=str(m.id)))
        if self.mentions:
            options.highlighted = 0
            options.focus()
        else:
            self.query_one("#mentions-status", Static).update(Text("Nobody has mentioned you.", style="dim"))

    @on(OptionList.OptionSelected, "#mentions-list")
    def _open(self, event: OptionList.OptionSelected) -> None:
        self.open_customer(self.mentions[event.option_index])

    @desk_work(group="mention-open")
    async def open_customer(self, mention: MentionInfo) -> None:
        await self.call(timeline_notes.mark_mentions_seen, [mention.id])
        self.dismiss(mention.customer_id)

    def action_close(self) -> None:
        self.dismiss(None)
