"""Dialogs of the customer table: filters, columns, saved segments and export."""

from __future__ import annotations

import asyncio
import threading
from datetime import datetime
from pathlib import Path

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Grid, Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Checkbox, Input, Label, OptionList, ProgressBar, RadioButton, RadioSet, Static
from textual.widgets.option_list import Option

from agentdesk.domain.errors import InvalidInput, ServiceError
from agentdesk.domain.text import visible
from agentdesk.services.customers import export, segments
from agentdesk.services.customers.columns import COLUMNS
from agentdesk.services.customers.filters import CustomerFilters, CustomerQuery, parse_filters
from agentdesk.ui.base import desk_work

FILTER_FIELDS = [
    ("website", "Website code", "e.g. northwind-us"),
    ("country", "Country", "ISO code, e.g. US"),
    ("currency", "Currency", "e.g. USD (also the unit of LTV)"),
    ("tag", "Tag", ""),
    ("created_from", "Created from", "YYYY-MM-DD"),
    ("created_to", "Created to", "YYYY-MM-DD"),
    ("payments_min", "Payments ≥", "whole number"),
    ("payments_max", "Payments ≤", "whole number"),
    ("ltv_min", "Lifetime value ≥", "e.g. 100.00"),
    ("ltv_max", "Lifetime value ≤", "e.g. 2500"),
    ("blocked", "Blocked", "yes / no / empty"),
    ("active_subscription", "Subscribed", "active subscription: yes / no"),
]


def _shown(filters: CustomerFilters, name: str) -> str:
    value = getattr(filters, name)
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if name in ("ltv_min", "ltv_max"):
        whole, frac = divmod(value, 100)
        return f"{whole}.{frac:02d}"
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return str(value)


class FilterDialog(ModalScreen[CustomerFilters | None]):
    """Every filter in one form; an empty field is no filter. Enter applies, Esc cancels."""

    BINDINGS = [
        Binding("escape", "cancel", "Cancel"),
        Binding("ctrl+s", "apply", "Apply"),
        Binding("ctrl+x", "clear_all", "Clear all"),
    ]

    def __init__(self, filters: CustomerFilters) -> None:
        super().__init__()
        self.filters = filters

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog", classes="dialog"):
            yield Static(Text("Filters  ·  Enter/Ctrl+S apply · Ctrl+X clear all · Esc cancel", style="bold"))
            with Grid(id="filter-grid"):
                for name, label, hint in FILTER_FIELDS:
                    yield Label(label)
                    yield Input(_shown(self.filters, name), placeholder=hint, id=f"f-{name}", compact=True)
            yield Static(id="filter-errors")

    def on_mount(self) -> None:
        self.query_one(Input).focus()

    def _values(self) -> dict[str, str]:
        return {name: self.query_one(f"#f-{name}", Input).value for name, _, _ in FILTER_FIELDS}

    @on(Input.Submitted)
    def _submitted(self) -> None:
        self.action_apply()

    def action_apply(self) -> None:
        for name, _, _ in FILTER_FIELDS:
            self.query_one(f"#f-{name}", Input).remove_class("invalid")
        try:
            filters = parse_filters(self._values())
        except InvalidInput as exc:
            lines = Text()
            for name, problem in exc.fields.items():
                field = self.query(f"#f-{name}")
                if field:
                    field.first().add_class("invalid")
                label = dict((n, l) for n, l, _ in FILTER_FIELDS).get(name, name)
                lines.append(f"{label}: {visible(problem)}\n", style="red")
            self.query_one("#filter-errors", Static).update(lines)
            return
        self.dismiss(filters)

    def action_clear_all(self) -> None:
        for name, _, _ in FILTER_FIELDS:
            self.query_one(f"#f-{name}", Input).value = ""

    def action_cancel(self) -> None:
        self.dismiss(None)


class ColumnsDialog(ModalScreen[list[str] | None]):
    """Choose and order the table's columns: Space shows or hides, [ and ] move, Enter applies."""

    BINDINGS = [
        Binding("escape", "cancel", "Cancel"),
        Binding("space", "toggle", "Show/hide"),
        Binding("left_square_bracket", "move(-1)", "Move up"),
        Binding("right_square_bracket", "move(1)", "Move down"),
        Binding("enter", "apply", "Apply", priority=True),
    ]

    def __init__(self, chosen: list[str]) -> None:
        super().__init__()
        self.order = list(chosen) + [k for k in COLUMNS if k not in chosen]
        self.shown = set(chosen)

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Static(Text("Edit columns  ·  Space show/hide · [ ] move · Enter apply · Esc cancel", style="bold"))
            yield OptionList(id="columns-list")
            yield Static(id="columns-error")

    def on_mount(self) -> None:
        self._redraw(0)
        self.query_one(OptionList).focus()

    def _redraw(self, highlighted: int) -> None:
        options = self.query_one(OptionList)
        options.clear_options()
        for key in self.order:
            mark = "[x]" if key in self.shown else "[ ]"
            options.add_option(Option(Text(f"{mark} {COLUMNS[key].title}"), id=key))
        options.highlighted = highlighted

    def action_toggle(self) -> None:
        index = self.query_one(OptionList).highlighted or 0
        self.shown.symmetric_difference_update({self.order[index]})
        self._redraw(index)

    def action_move(self, delta: int) -> None:
        index = self.query_one(OptionList).highlighted or 0
        target = index + delta
        if 0 <= target < len(self.order):
            self.order[index], self.order[target] = self.order[target], self.order[index]
            self._redraw(target)

    def action_apply(self) -> None:
        chosen = [k for k in self.order if k in self.shown]
        if not chosen:
            self.query_one("#columns-error", Static).update(Text("Show at least one column.", style="red"))
            return
        self.dismiss(chosen)

    def action_cancel(self) -> None:
        self.dismiss(None)


class SegmentsDialog(ModalScreen[CustomerQuery | None]):
    """Saved segments: Enter switches to one; n saves the current view; r renames; d deletes."""

    BINDINGS = [
        Binding("escape", "cancel", "Close"),
        Binding("n", "new", "Save current"),
        Binding("r", "rename", "Rename"),
        Binding("d", "delete", "Delete"),
    ]

    def __init__(self, current: CustomerQuery) -> None:
        super().__init__()
        self.current = current
        self.found: list[segments.SegmentInfo] = []
        self.mode: str | None = None

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Static(Text("Saved segments  ·  Enter open · n save current view · r rename · d delete · Esc close",
                              style="bold"))
            yield OptionList(id="segments-list")
            with Horizontal(id="segment-name-row"):
                yield Input(placeholder="segment name", id="segment-name", compact=True)
                yield Checkbox("shared", id="segment-shared", compact=True)
            yield Static(id="segments-status")

    def on_mount(self) -> None:
        self.query_one("#segment-name-row").display = False
        self.query_one(OptionList).focus()
        self.reload()

    @desk_work(group="segments")
    async def reload(self) -> None:
        app = self.app
        try:
            self.found = await asyncio.to_thread(segments.list_segments, app.store, app.actor)
        except ServiceError as exc:
            self._status(str(exc), error=True)
            return
        options = self.query_one(OptionList)
        options.clear_options()
        for seg in self.found:
            who = "" if seg.mine else f"  by {visible(seg.owner)}"
            options.add_option(Option(Text(f"{visible(seg.name)}{'  (shared)' if seg.shared else ''}{who}"), id=str(seg.id)))
        if self.found:
            options.highlighted = 0
        else:
            self._status("No saved segments yet: press n to save the current view.")

    def _status(self, message: str, error: bool = False) -> None:
        self.query_one("#segments-status", Static).update(Text(visible(message), style="red" if error else "dim"))

    def _selected(self) -> segments.SegmentInfo | None:
        index = self.query_one(OptionList).highlighted
        return self.found[index] if index is not None and index < len(self.found) else None

    @on(OptionList.OptionSelected, "#segments-list")
    def _chosen(self, event: OptionList.OptionSelected) -> None:
        self.dismiss(self.found[event.option_index].query)

    def _ask_name(self, mode: str, initial: str = "") -> None:
        self.mode = mode
        self.query_one("#segment-name-row").display = True
        self.query_one("#segment-shared").display = mode == "new"
        name = self.query_one("#segment-name", Input)
        name.value = initial
        name.focus()

    def action_new(self) -> None:
        self._ask_name("new")

    def action_rename(self) -> None:
        chosen = self._selected()
        if chosen is None:
            self._status("Choose a segment first.", error=True)
            return
        self._ask_name("rename", chosen.name)

    @on(Input.Submitted, "#segment-name")
    def _name_given(self, event: Input.Submitted) -> None:
        self.save(self.mode, event.value, self.query_one("#segment-shared", Checkbox).value, self._selected())

    @desk_work(group="segment-write")
    async def save(self, mode: str | None, name: str, shared: bool, chosen) -> None:
        app = self.app
        try:
            if mode == "new":
                await asyncio.to_thread(segments.create_segment, app.store, app.actor, name, self.current, shared)
            elif mode == "rename" and chosen is not None:
                await asyncio.to_thread(segments.rename_segment, app.store, app.actor, chosen.id, name)
        except ServiceError as exc:
            self._status(str(exc), error=True)
            return
        self.query_one("#segment-name-row").display = False
        self.query_one(OptionList).focus()
        self._status(f"Saved {name!r}.")
        self.reload()

    def action_delete(self) -> None:
        chosen = self._selected()
        if chosen is None:
            self._status("Choose a segment first.", error=True)
            return
        self.remove_segment(chosen)

    @desk_work(group="segment-write")
    async def remove_segment(self, chosen) -> None:
        app = self.app
        try:
            await asyncio.to_thread(segments.delete_segment, app.store, app.actor, chosen.id)
        except ServiceError as exc:
            self._status(str(exc), error=True)
            return
        self._status(f"Deleted {chosen.name!r}.")
        self.reload()

    def action_cancel(self) -> None:
        if self.query_one("#segment-name-row").display:
            self.query_one("#segment-name-row").display = False
            self.query_one(OptionList).focus()
            return
        self.dismiss(None)


def default_export_path() -> Path:
    return Path.cwd() / f"customers-{datetime.now():%Y%m%d-%H%M%S}.csv"


class ExportDialog(ModalScreen[None]):
    """Export the current view as CSV: choose file and columns, watch progress, Esc cancels."""

    BINDINGS = [Binding("escape", "cancel", "Cancel / close")]

    def __init__(self, query: CustomerQuery, columns: list[str]) -> None:
        super().__init__()
        self.export_query = query
        self.columns = columns
        self.cancel_event = threading.Event()
        self.running = False

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Static(Text("Export CSV  ·  Enter start · Esc cancel", style="bold"))
            yield Label("File")
            yield Input(str(default_export_path()), id="export-path", compact=True)
            with RadioSet(id="export-columns", compact=True):
                yield RadioButton("Contact preset (Name, Email, Company, … Lifetime Value)", value=True, id="preset")
                yield RadioButton("The table's columns: " + ", ".join(COLUMNS[c].title for c in self.columns), id="visible")
            yield ProgressBar(id="export-progress", total=None, show_eta=False)
            yield Static(id="export-status")

    def on_mount(self) -> None:
        self.query_one("#export-progress").display = False
        self.query_one("#export-path", Input).focus()

    @on(Input.Submitted, "#export-path")
    def _start(self, event: Input.Submitted) -> None:
        if self.running:
            return
        preset = self.query_one("#preset", RadioButton).value
        self.running = True
        self.query_one("#export-progress").display = True
        self.query_one("#export-status", Static).update(Text("exporting…", style="dim"))
        self.run_export(event.value, export.CONTACTS_PRESET if preset else list(self.columns))

    @desk_work(group="export")
    async def run_export(self, path: str, columns) -> None:
        app = self.app
        bar = self.query_one("#export-progress", ProgressBar)

        def progress(done: int, total: int) -> None:
            app.call_from_thread(bar.update, total=total, progress=done)

        try:
            result = await asyncio.to_thread(
                export.export_customers, app.store, app.actor, self.export_query, path, columns, progress, self.cancel_event
            )
        except ServiceError as exc:
            self.running = False
            self.query_one("#export-status", Static).update(Text(visible(str(exc)), style="red"))
            return
        self.running = False
        if result.cancelled:
            self.query_one("#export-status", Static).update(
                Text(f"Cancelled after {result.rows:,} rows; no file was written.", style="yellow")
            )
        else:
            self.query_one("#export-status", Static).update(
                Text(f"Exported {result.rows:,} customers to {visible(result.path)}", style="green")
            )
            self.app.notify(f"Exported {result.rows:,} customers to {visible(result.path)}", markup=False)

    def action_cancel(self) -> None:
        if self.running:
            self.cancel_event.set()
            self.query_one("#export-status", Static).update(Text("cancelling…", style="yellow"))
            return
        self.dismiss(None)


class RemoveFilterDialog(ModalScreen[str | None]):
    """Pick one active filter to remove (or all of them): Enter removes, Esc keeps them."""

    ALL = "__all__"
    BINDINGS = [Binding("escape", "cancel", "Cancel")]

    def __init__(self, filters: CustomerFilters) -> None:
        super().__init__()
        self.filters = filters

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Static(Text("Remove a filter  ·  Enter remove · Esc cancel", style="bold"))
            options = [Option(Text(f"✕ {visible(label)}"), id=name) for name, label in self.filters.chips()]
            options.append(Option(Text("✕ all filters"), id=self.ALL))
            yield OptionList(*options, id="chips-list")

    def on_mount(self) -> None:
        chips = self.query_one(OptionList)
        chips.highlighted = 0
        chips.focus()

    @on(OptionList.OptionSelected, "#chips-list")
    def _chosen(self, event: OptionList.OptionSelected) -> None:
        self.dismiss(event.option.id)

    def action_cancel(self) -> None:
        self.dismiss(None)
