"""The activity timeline: a lazily loaded window of events with filters, details and composing.

`TimelinePanel` is used in the profile's timeline tab and, full size, by
`TimelineScreen`. Only the rows around the cursor are held; pages come from
the service in a worker, keyed on (time, id), as the cursor moves.
"""

from __future__ import annotations

import asyncio

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Grid, Vertical
from textual.message import Message
from textual.screen import ModalScreen, Screen
from textual.widget import Widget
from textual.widgets import Footer, Input, Label, OptionList, SelectionList, Static, TextArea
from textual.widgets.option_list import Option

from agentdesk.domain.errors import InvalidInput, ServiceError
from agentdesk.domain.money import format_amount
from agentdesk.domain.text import visible
from agentdesk.services.timeline import attachments
from agentdesk.services.timeline import notes as timeline_notes
from agentdesk.services.timeline import read as timeline_read
from agentdesk.services.timeline.read import TimelineFilter, cursor_of
from agentdesk.services.timeline.record import TimelineEntry
from agentdesk.ui.widgets.plain_text import plain
from agentdesk.ui.widgets.window_table import Column, WindowTable

PAGE = 100


def summary(entry: TimelineEntry) -> str:
    a = entry.attributes
    if "amount" in a and "currency" in a:
        money = format_amount(a["amount"], a["currency"])
        rest = ", ".join(f"{k} {v}" for k, v in a.items() if k not in ("amount", "currency") and v is not None)
        return f"{money}" + (f" · {rest}" if rest else "")
    if "text" in a:
        return str(a["text"]).replace("\n", " ⏎ ")
    if "changes" in a:
        return ", ".join(f"{k}: {v.get('from')} → {v.get('to')}" for k, v in a["changes"].items() if isinstance(v, dict))
    return ", ".join(f"{k} {v}" for k, v in a.items() if v is not None)


def details(entry: TimelineEntry) -> Text:
    out = Text()
    out.append(f"{entry.title}", style="bold")
    out.append(f"  #{entry.id} · {entry.occurred_at:%Y-%m-%d %H:%M:%S} UTC · by ")
    out.append(plain(entry.actor))
    for key, value in entry.attributes.items():
        out.append(f"\n  {key}: ", style="dim")
        if isinstance(value, dict):
            out.append(plain(", ".join(f"{k}={v}" for k, v in value.items())))
        else:
            out.append(plain(value))
    target = link_target(entry)
    if target:
        out.append(f"\n  Enter: open the linked {target[0]}", style="cyan")
    return out


def link_target(entry: TimelineEntry) -> tuple[str, object] | None:
    """What Enter on this event opens: ("transaction", id), ("customer", id) or None."""
    a = entry.attributes
    if entry.type == "link":
        return (a.get("kind"), a.get("target_id"))
    if isinstance(a.get("transaction"), int):
        return ("transaction", a["transaction"])
    return None


class TimelinePanel(Widget):
    """Filter line, the event window, and the highlighted event's details."""

    DEFAULT_CSS = """
    TimelinePanel { height: 1fr; }
    TimelinePanel #tl-filter { height: 1; color: $text-muted; }
    TimelinePanel #tl-details { height: auto; max-height: 7; border-top: solid $primary-darken-2; }
    """
    BINDINGS = [
        Binding("n", "compose_note", "Note"),
        Binding("f", "filter", "Filter"),
        Binding("a", "attach", "Attach", show=False),
        Binding("l", "link", "Link", show=False),
        Binding("x", "clear_filter", "Clear filter", show=False),
        Binding("s", "save_attachment", "Save attachment", show=False),
    ]

    def __init__(self, customer_id: int, **kwargs) -> None:
        super().__init__(**kwargs)
        self.customer_id = customer_id
        self.filter = TimelineFilter()
        self.generation = 0

    def compose(self) -> ComposeResult:
        yield Static(id="tl-filter")
        yield WindowTable(self._cells, page_size=PAGE, id="tl-table")
        yield Static(id="tl-details")

    def on_mount(self) -> None:
        table = self.query_one(WindowTable)
        table.set_columns([Column("when", "When", 16), Column("title", "Event", 24), Column("actor", "By", 8),
                           Column("what", "Details", 60)])
        table.mark_key = lambda entry: entry.id
        self.reload()

    def _cells(self, entry: TimelineEntry) -> list[Text]:
        return [Text(f"{entry.occurred_at:%Y-%m-%d %H:%M}"), plain(entry.title), plain(entry.actor), plain(summary(entry))]

    def focus_table(self) -> None:
        self.query_one(WindowTable).focus()

    def _show_filter(self) -> None:
        f = self.filter
        parts = []
        if f.types:
            parts.append("types: " + ", ".join(sorted(f.types)))
        if f.since or f.until:
            parts.append(f"dates: {f.since or '…'} to {f.until or '…'}")
        if f.text:
            parts.append(f"text: “{f.text}”")
        label = "all events" if not parts else " · ".join(parts) + "  (x clears)"
        self.query_one("#tl-filter", Static).update(
            plain(f" {label} · n note · a attach · s save attachment · l link · f filter", "dim"))

    def reload(self) -> None:
        self.generation += 1
        self._show_filter()
        self.load_first(self.generation)

    @work(exclusive=True, group="tl-first")
    async def load_first(self, generation: int, oldest: bool = False) -> None:
        """The newest page (Home, a new filter) or, with `oldest`, the oldest one (End)."""
        app = self.app
        try:
            page = await asyncio.to_thread(timeline_read.timeline_page, app.store, app.actor, self.customer_id,
                                           self.filter, PAGE, None, oldest)
        except ServiceError as exc:
            self.query_one("#tl-details", Static).update(plain(str(exc), "red"))
            return
        if generation != self.generation:
            return
        table = self.query_one(WindowTable)
        if oldest:
            table.load(page.entries, at_start=not page.more, at_end=True, offset=None, cursor_at_end=True)
        else:
            table.load(page.entries, at_start=True, at_end=not page.more, offset=0)
        filtered = bool(self.filter.types or self.filter.text or self.filter.since or self.filter.until)
        table.empty_message = "no events match the filter" if filtered else "no events yet"
        self._show_current()

    @work(group="tl-more")
    async def load_more(self, generation: int, forward: bool, edge: TimelineEntry) -> None:
        app = self.app
        try:
            page = await asyncio.to_thread(timeline_read.timeline_page, app.store, app.actor, self.customer_id,
                                           self.filter, PAGE, cursor_of(edge), not forward)
        except ServiceError:
            return
        if generation == self.generation:
            self.query_one(WindowTable).add_rows(page.entries, forward=forward, more=page.more)

    @on(WindowTable.NeedRows, "#tl-table")
    def _need(self, event: WindowTable.NeedRows) -> None:
        event.stop()
        self.load_more(self.generation, event.forward, event.edge)

    @on(WindowTable.Jump, "#tl-table")
    def _jump(self, event: WindowTable.Jump) -> None:
        event.stop()
        self.generation += 1
        self.load_first(self.generation, oldest=event.to_end)

    @on(WindowTable.CursorMoved, "#tl-table")
    def _moved(self, event: WindowTable.CursorMoved) -> None:
        event.stop()
        self._show_current()

    def _show_current(self) -> None:
        current = self.query_one(WindowTable).current
        self.query_one("#tl-details", Static).update(details(current) if current else Text(""))

    @on(WindowTable.Selected, "#tl-table")
    def _selected(self, event: WindowTable.Selected) -> None:
        event.stop()
        target = link_target(event.row)
        if target is None:
            return
        kind, ident = target
        self.post_message(OpenLinked(kind, ident))

    # --- actions --------------------------------------------------------------------------------

    def action_filter(self) -> None:
        def apply(f) -> None:
            if f is not None:
                self.filter = f
                self.reload()

        self.app.push_screen(TimelineFilterDialog(self.filter), apply)

    def action_clear_filter(self) -> None:
        self.filter = TimelineFilter()
        self.reload()

    def _after_compose(self, changed) -> None:
        if changed:
            self.reload()

    def action_compose_note(self) -> None:
        self.app.push_screen(NoteDialog(self.customer_id), self._after_compose)

    def action_attach(self) -> None:
        self.app.push_screen(AttachDialog(self.customer_id), self._after_compose)

    def action_link(self) -> None:
        self.app.push_screen(LinkDialog(self.customer_id), self._after_compose)

    def action_save_attachment(self) -> None:
        current = self.query_one(WindowTable).current
        if current is None or current.type != "attachment":
            self.app.notify("Highlight an attachment first.", timeout=3)
            return
        self.app.push_screen(SaveAttachmentDialog(current.attributes["attachment"], current.attributes["name"]))


class OpenLinked(Message):
    def __init__(self, kind: str, ident) -> None:
        super().__init__()
        self.kind = kind
        self.ident = ident


class TimelineScreen(Screen):
    BINDINGS = [Binding("escape", "back", "Back")]

    def __init__(self, customer_id: int, title: str) -> None:
        super().__init__()
        self.customer_id = customer_id
        self.heading = title

    def compose(self) -> ComposeResult:
        yield Static(plain(f"Timeline · {self.heading}", "bold"))
        yield TimelinePanel(self.customer_id)
        yield Footer(compact=True)

    def on_mount(self) -> None:
        self.query_one(TimelinePanel).focus_table()

    def action_back(self) -> None:
        self.app.pop_screen()


class TimelineFilterDialog(ModalScreen[TimelineFilter | None]):
    BINDINGS = [Binding("escape", "cancel", "Cancel"), Binding("ctrl+s", "apply", "Apply")]

    def __init__(self, current: TimelineFilter) -> None:
        super().__init__()
        self.current = current

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Static(Text("Filter the timeline · Space picks types (none = all) · Ctrl+S apply · Esc cancel",
                              style="bold"))
            yield SelectionList(*[(title, value, value in self.current.types)
                                  for value, title in timeline_read.event_types()], id="tl-types")
            with Grid(id="tl-filter-grid"):
                yield Label("From")
                yield Input(str(self.current.since or ""), placeholder="YYYY-MM-DD", id="tl-since", compact=True)
                yield Label("To")
                yield Input(str(self.current.until or ""), placeholder="YYYY-MM-DD", id="tl-until", compact=True)
                yield Label("Text")
                yield Input(self.current.text, placeholder="words in notes", id="tl-text", compact=True)
            yield Static(id="tl-filter-errors")

    def on_mount(self) -> None:
        self.query_one(SelectionList).focus()

    @on(Input.Submitted)
    def _submitted(self) -> None:
        self.action_apply()

    def action_apply(self) -> None:
        try:
            since, until = timeline_read.parse_since_until(self.query_one("#tl-since", Input).value,
                                                           self.query_one("#tl-until", Input).value)
            f = TimelineFilter(frozenset(self.query_one(SelectionList).selected), since, until,
                               self.query_one("#tl-text", Input).value.strip())
        except InvalidInput as exc:
            self.query_one("#tl-filter-errors", Static).update(Text(visible(str(exc)), style="red"))
            return
        self.dismiss(f)

    def action_cancel(self) -> None:
        self.dismiss(None)


class _ComposeDialog(ModalScreen[bool]):
    BINDINGS = [Binding("escape", "cancel", "Cancel"), Binding("ctrl+s", "save", "Save")]
    heading = ""

    def __init__(self, customer_id: int) -> None:
        super().__init__()
        self.customer_id = customer_id

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Static(Text(f"{self.heading} · Ctrl+S save · Esc cancel", style="bold"))
            yield from self.fields()
            yield Static(id="compose-error")

    def fields(self) -> ComposeResult:
        yield from ()

    def error(self, message: str) -> None:
        self.query_one("#compose-error", Static).update(Text(visible(message), style="red"))

    def action_cancel(self) -> None:
        self.dismiss(False)

    async def save(self) -> None:
        raise NotImplementedError

    @work(exclusive=True, group="compose")
    async def action_save(self) -> None:
        try:
            await self.save()
        except ServiceError as exc:
            self.error(str(exc))
            return
        self.dismiss(True)


class NoteDialog(_ComposeDialog):
    heading = "Add a note (several lines; @login mentions an agent)"

    def fields(self) -> ComposeResult:
        yield TextArea(id="note-text", soft_wrap=True, show_line_numbers=False)

    def on_mount(self) -> None:
        self.query_one(TextArea).focus()

    async def save(self) -> None:
        app = self.app
        await asyncio.to_thread(timeline_notes.add_note, app.store, app.actor, self.customer_id,
                                self.query_one(TextArea).text)


class AttachDialog(_ComposeDialog):
    heading = "Attach a file"

    def fields(self) -> ComposeResult:
        yield Label("Path of the file")
        yield Input(id="attach-path", compact=True)
        yield Label("Description")
        yield Input(id="attach-description", compact=True)

    def on_mount(self) -> None:
        self.query_one("#attach-path", Input).focus()

    @on(Input.Submitted)
    def _submitted(self) -> None:
        self.action_save()

    async def save(self) -> None:
        app = self.app
        await asyncio.to_thread(attachments.add_attachment, app.store, app.actor, app.settings, self.customer_id,
                                self.query_one("#attach-path", Input).value.strip(),
                                self.query_one("#attach-description", Input).value)


class SaveAttachmentDialog(_ComposeDialog):
    heading = "Save the attachment to a file"

    def __init__(self, attachment_id: int, name: str) -> None:
        super().__init__(0)
        self.attachment_id = attachment_id
        self.file_name = name

    def fields(self) -> ComposeResult:
        from pathlib import Path

        yield Label("Save as")
        yield Input(str(Path.cwd() / self.file_name), id="save-path", compact=True)

    def on_mount(self) -> None:
        self.query_one("#save-path", Input).focus()

    @on(Input.Submitted)
    def _submitted(self) -> None:
        self.action_save()

    async def save(self) -> None:
        app = self.app
        path = await asyncio.to_thread(attachments.save_attachment, app.store, app.actor, app.settings,
                                       self.attachment_id, self.query_one("#save-path", Input).value.strip())
        app.notify(f"Saved to {visible(path)}", markup=False)


class LinkDialog(_ComposeDialog):
    heading = "Link to a customer or a transaction"

    def fields(self) -> ComposeResult:
        yield Label("Customer id, or a transaction number as txn:123")
        yield Input(id="link-target", compact=True)
        yield Label("Why (optional)")
        yield Input(id="link-text", compact=True)

    def on_mount(self) -> None:
        self.query_one("#link-target", Input).focus()

    @on(Input.Submitted)
    def _submitted(self) -> None:
        self.action_save()

    async def save(self) -> None:
        app = self.app
        target = self.query_one("#link-target", Input).value.strip()
        kind = "transaction" if target.lower().startswith("txn:") else "customer"
        target = target[4:].strip() if kind == "transaction" else target
        if not target:
            raise InvalidInput(fields={"target": "say what to link to"})
        await asyncio.to_thread(timeline_notes.add_link, app.store, app.actor, self.customer_id, kind, target,
                                self.query_one("#link-text", Input).value)


class MentionsScreen(ModalScreen[int | None]):
    """Where other agents mentioned you: Enter opens the customer (and marks it read)."""

    BINDINGS = [Binding("escape", "close", "Close")]

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Static(Text("Your mentions · Enter open the customer · Esc close", style="bold"))
            yield OptionList(id="mentions-list")
            yield Static(id="mentions-status")

    def on_mount(self) -> None:
        self.mentions = []
        self.load()

    @work(exclusive=True, group="mentions")
    async def load(self) -> None:
        app = self.app
        try:
            self.mentions = await asyncio.to_thread(timeline_notes.my_mentions, app.store, app.actor)
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
        mention = self.mentions[event.option_index]
        self.open_customer(mention)

    @work(exclusive=True, group="mention-open")
    async def open_customer(self, mention) -> None:
        app = self.app
        await asyncio.to_thread(timeline_notes.mark_mentions_seen, app.store, app.actor, [mention.id])
        self.dismiss(mention.customer)

    def action_close(self) -> None:
        self.dismiss(None)
