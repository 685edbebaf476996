"""The activity timeline pane: a lazily loaded window of events with filters, details and composing.

Used in the profile's timeline tab and, full size, by `TimelineScreen`. Only the rows around the
cursor are held; pages come from the service in a worker, keyed on (time, id), as the cursor moves.
A stale page (the filter changed meanwhile) is dropped by a generation counter.
"""

from __future__ import annotations

from typing import Any, ClassVar

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.message import Message
from textual.widgets import Static

from agentdesk.domain.errors import ServiceError
from agentdesk.domain.money import format_amount
from agentdesk.domain.permissions import Action
from agentdesk.services.timeline import read as timeline_read
from agentdesk.services.timeline.read import TimelineFilter, cursor_of
from agentdesk.services.timeline.record import TimelineEntry
from agentdesk.ui.base import DeskWidget, desk_work
from agentdesk.ui.widgets.plain_text import plain
from agentdesk.ui.widgets.profile import changed
from agentdesk.ui.widgets.window_table import Column, WindowTable

PAGE = 100
TYPE_TITLES = dict(timeline_read.event_types())
"""Event type code → its title, as the agent reads it."""


def as_text(value: object) -> str:
    """An attribute's value in words: lists and changes as text, never Python's repr."""
    if isinstance(value, list | tuple | set):
        return ", ".join(as_text(v) for v in value)
    if isinstance(value, dict):
        return ", ".join(f"{k}={as_text(v)}" for k, v in value.items())
    return "" if value is None else str(value)


def summary(entry: TimelineEntry) -> str:
    a = entry.attributes
    if "amount" in a and "currency" in a:
        money = format_amount(a["amount"], a["currency"])
        rest = ", ".join(f"{k} {as_text(v)}" for k, v in a.items() if k not in ("amount", "currency") and v is not None)
        return f"{money}" + (f" · {rest}" if rest else "")
    if "text" in a:
        return str(a["text"]).replace("\n", " ⏎ ")
    if "changes" in a:
        changes = a["changes"].items()
        return ", ".join(f"{k}: {as_text(v.get('from'))} → {as_text(v.get('to'))}" for k, v in changes
                         if isinstance(v, dict))
    return ", ".join(f"{k} {as_text(v)}" for k, v in a.items() if v is not None)


def _multiline(value: str) -> Text:
    """Text whose line breaks are shown as line breaks (indented under their label); any other
    control character stays escaped."""
    out = Text()
    for index, line in enumerate(value.split("\n")):
        if index:
            out.append("\n    ")
        out.append(plain(line))
    return out


def details(entry: TimelineEntry) -> Text:
    out = Text()
    out.append(f"{entry.title}", style="bold")
    out.append(f"  #{entry.id} · {entry.occurred_at:%Y-%m-%d %H:%M:%S} UTC · by ")
    out.append(plain(entry.actor))
    attributes = dict(entry.attributes)
    if isinstance(attributes.get("amount"), int) and isinstance(attributes.get("currency"), str):
        attributes["amount"] = format_amount(attributes["amount"], attributes.pop("currency"))
    for key, value in attributes.items():
        out.append(f"\n  {key.replace('_', ' ')}: ", style="dim")
        if isinstance(value, dict) and key == "changes":
            for field, change in value.items():
                out.append("\n    ")
                if isinstance(change, dict):
                    out.append(plain(f"{field}: {as_text(change.get('from'))} → {as_text(change.get('to'))}"))
                else:
                    out.append(plain(f"{field}: {as_text(change)}"))
        elif isinstance(value, str):
            out.append(_multiline(value))
        else:
            out.append(plain(as_text(value)))
    target = link_target(entry)
    if target:
        out.append(f"\n  Enter: open the linked {target[0]}", style="cyan")
    return out


def link_target(entry: TimelineEntry) -> tuple[str, Any] | None:
    """What Enter on this event opens: ("transaction", id), ("customer", id), ("order", number) or None."""
    a = entry.attributes
    if entry.type == "link":
        return (str(a.get("kind")), a.get("target_id"))
    if isinstance(a.get("transaction"), int):
        return ("transaction", a["transaction"])
    if isinstance(a.get("order"), str) and a["order"]:
        return ("order", a["order"])
    return None


class OpenLinked(Message):
    """Enter on an event that links elsewhere: the screen opens the transaction, customer or order."""

    def __init__(self, kind: str, ident: Any) -> None:
        super().__init__()
        self.kind = kind
        self.ident = ident


class TimelinePanel(DeskWidget):
    """Filter line, the event window, and the highlighted event's details."""

    DEFAULT_CSS = """
    TimelinePanel { height: 1fr; }
    TimelinePanel #tl-filter { height: 1; color: $text-muted; }
    TimelinePanel #tl-details { height: auto; max-height: 7; border-top: solid $primary-darken-2; }
    """
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("n", "compose_note", "Note", id="timeline.note"),
        Binding("f", "filter", "Filter", id="timeline.filter"),
        Binding("a", "attach", "Attach", show=False, id="timeline.attach"),
        Binding("l", "link", "Link", show=False, id="timeline.link"),
        Binding("x", "clear_filter", "Clear filter", id="timeline.clear_filter"),
        Binding("s", "save_attachment", "Save attachment", show=False, id="timeline.save_attachment"),
        Binding("enter", "open_linked", "Open linked", id="timeline.open", priority=True),
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
        table = self.table
        table.set_columns([Column("when", "When", 16), Column("title", "Event", 24, min_width=16),
                           Column("actor", "By", 8), Column("what", "Details", 60, min_width=20, grow=True)])
        table.mark_key = lambda entry: entry.id
        self.reload()

    @property
    def table(self) -> WindowTable:
        return self.query_one("#tl-table", WindowTable)

    @property
    def filtered(self) -> bool:
        f = self.filter
        return bool(f.types or f.text or f.since or f.until)

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action in ("compose_note", "attach", "link"):
            return self.gate(Action.EDIT_CUSTOMERS)
        if action == "clear_filter":
            return True if self.filtered else None
        if action == "open_linked":
            tables = self.query(WindowTable)
            current = tables.first().current if tables else None
            return None if current is None or link_target(current) is None else True
        return True

    def _cells(self, entry: TimelineEntry) -> list[Text]:
        return [Text(f"{entry.occurred_at:%Y-%m-%d %H:%M}"), plain(entry.title), plain(entry.actor),
                plain(summary(entry))]

    def focus_table(self) -> None:
        self.table.focus()

    def _show_filter(self) -> None:
        f = self.filter
        parts = []
        if f.types:
            parts.append("types: " + ", ".join(sorted(TYPE_TITLES.get(t, t) for t in f.types)))
        if f.since or f.until:
            parts.append(f"dates: {f.since or '…'} to {f.until or '…'}")
        if f.text:
            parts.append(f"text: “{f.text}”")
        label = " · ".join(parts) + "  (x clears)" if parts else "all events"
        self.query_one("#tl-filter", Static).update(
            plain(f" {label} · n note · a attach · s save attachment · l link · f filter", "dim"))

    def reload(self) -> None:
        """From the newest event again (after a change or a new filter); pages in flight are dropped."""
        self.generation += 1
        self._show_filter()
        self.refresh_bindings()
        self.load_first(self.generation)

    @desk_work(group="tl-first")
    async def load_first(self, generation: int, oldest: bool = False) -> None:
        """The newest page (Home, a new filter) or, with `oldest`, the oldest one (End)."""
        try:
            page = await self.call(timeline_read.timeline_page, self.customer_id, self.filter, PAGE, None, oldest)
        except ServiceError as exc:
            self.query_one("#tl-details", Static).update(plain(str(exc), "red"))
            return
        if generation != self.generation:
            return
        table = self.table
        if oldest:
            table.load(page.entries, at_start=not page.more, at_end=True, offset=None, cursor_at_end=True)
        else:
            table.load(page.entries, at_start=True, at_end=not page.more, offset=0)
        table.empty_message = "no events match the filter" if self.filtered else "no events yet"
        self._show_current()

    def refresh_newest(self) -> None:
        """Live refresh: events newer than the newest one held go on top, the highlighted event stays
        highlighted. While the agent has paged away from the newest events nothing moves (Home brings them)."""
        table = self.table
        if not table.rows:
            self.reload()
        elif table.at_start:
            self.load_newer(self.generation, table.rows[0])

    @desk_work(group="tl-newer")
    async def load_newer(self, generation: int, newest: TimelineEntry) -> None:
        page = await self.call(timeline_read.timeline_page, self.customer_id, self.filter, PAGE, cursor_of(newest),
                               True)
        table = self.table
        if generation != self.generation or not table.rows or table.rows[0] != newest:
            return
        if page.more:
            self.reload()
            return
        if page.entries:
            table.prepend_rows(page.entries)

    @desk_work(group="tl-more", exclusive=False)
    async def load_more(self, generation: int, forward: bool, edge: TimelineEntry) -> None:
        page = await self.call(timeline_read.timeline_page, self.customer_id, self.filter, PAGE, cursor_of(edge),
                               not forward)
        if generation == self.generation:
            self.table.add_rows(page.entries, forward=forward, more=page.more)

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
        current = self.table.current
        self.query_one("#tl-details", Static).update(details(current) if current else Text(""))
        self.refresh_bindings()

    @on(WindowTable.Selected, "#tl-table")
    def _selected(self, event: WindowTable.Selected) -> None:
        event.stop()
        self._open(event.row)

    def _open(self, entry: TimelineEntry | None) -> None:
        target = link_target(entry) if entry is not None else None
        if target is not None:
            self.post_message(OpenLinked(*target))

    # --- actions --------------------------------------------------------------------------------

    def action_open_linked(self) -> None:
        self._open(self.table.current)

    def action_filter(self) -> None:
        from agentdesk.ui.dialogs.timeline import TimelineFilterDialog

        def apply(f: TimelineFilter | None) -> None:
            if f is not None:
                self.filter = f
                self.reload()

        self.app.push_screen(TimelineFilterDialog(self.filter), apply)

    def action_clear_filter(self) -> None:
        self.filter = TimelineFilter()
        self.reload()

    def _after_compose(self, result: object) -> None:
        if changed(result):
            self.reload()

    def action_compose_note(self) -> None:
        from agentdesk.ui.dialogs.timeline import NoteDialog

        if not self.refuse(Action.EDIT_CUSTOMERS):
            return
        self.app.push_screen(NoteDialog(self.customer_id), self._after_compose)

    def action_attach(self) -> None:
        from agentdesk.ui.dialogs.timeline import AttachDialog

        if not self.refuse(Action.EDIT_CUSTOMERS):
            return
        self.app.push_screen(AttachDialog(self.customer_id), self._after_compose)

    def action_link(self) -> None:
        from agentdesk.ui.dialogs.timeline import LinkDialog

        if not self.refuse(Action.EDIT_CUSTOMERS):
            return
        self.app.push_screen(LinkDialog(self.customer_id), self._after_compose)

    def action_save_attachment(self) -> None:
        from agentdesk.ui.dialogs.timeline import SaveAttachmentDialog

        current = self.table.current
        if current is None or current.type != "attachment":
            self.app.notify("Highlight an attachment first.", timeout=3)
            return
        self.app.push_screen(SaveAttachmentDialog(current.attributes["attachment"], current.attributes["name"]))
