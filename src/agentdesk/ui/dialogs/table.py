"""Dialogs of the customer table: filters, columns, saved segments and export."""

from __future__ import annotations

import threading
from datetime import datetime
from pathlib import Path
from typing import ClassVar

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal
from textual.widgets import Checkbox, Input, OptionList, ProgressBar, RadioButton, RadioSet, Static
from textual.widgets.option_list import Option

from agentdesk.domain import limits
from agentdesk.domain.errors import InvalidInput
from agentdesk.domain.money import format_major
from agentdesk.domain.permissions import Action
from agentdesk.domain.text import visible
from agentdesk.services.customers import export, preferences, segments
from agentdesk.services.customers.columns import COLUMNS
from agentdesk.services.customers.filters import CustomerFilters, CustomerQuery, parse_filters
from agentdesk.ui.base import ServiceDialog, field_row, form_field

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


DEFAULT_LTV_CURRENCY = "USD"
"""The unit of a lifetime-value filter when no currency is chosen (as `parse_filters` reads it)."""


def _shown(filters: CustomerFilters, name: str) -> str:
    """A filter's value as the agent typed it, so the form reads back to the same filter."""
    value = getattr(filters, name)
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if name in ("ltv_min", "ltv_max"):
        return format_major(value, filters.currency or DEFAULT_LTV_CURRENCY)
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return str(value)


class FilterDialog(ServiceDialog[CustomerFilters]):
    """Every filter in one form; an empty field is no filter. Dismisses with the new filters, or None
    when they did not change."""

    DEFAULT_CSS = """
    FilterDialog .field-row > .field-label { width: 18; }
    """
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("ctrl+x", "clear_all", "Clear all", id="filters.clear_all"),
    ]
    heading = "Filters"
    submit_hint = "Enter/Ctrl+S apply · Ctrl+X clear all · Esc cancel"
    input_prefix = "f-"

    def __init__(self, filters: CustomerFilters) -> None:
        super().__init__()
        self.filters = filters

    def fields(self) -> ComposeResult:
        for name, label, hint in FILTER_FIELDS:
            yield from field_row(label, Input(_shown(self.filters, name), placeholder=hint, id=f"f-{name}",
                                              compact=True, max_length=limits.SEARCH), name)

    def on_mount(self) -> None:
        self.query_one(Input).focus()

    @on(Input.Submitted)
    def _submitted(self) -> None:
        self.action_submit()

    async def perform(self) -> CustomerFilters:
        return parse_filters({name: self.query_one(f"#f-{name}", Input).value for name, _, _ in FILTER_FIELDS})

    def submitted(self, result: CustomerFilters) -> None:
        self.dismiss(None if result == self.filters else result)

    def action_clear_all(self) -> None:
        for name, _, _ in FILTER_FIELDS:
            self.query_one(f"#f-{name}", Input).value = ""


class ColumnsDialog(ServiceDialog[list[str]]):
    """Choose and order the table's columns: Space shows or hides, [ and ] move, Enter saves them for
    this agent. Dismisses with the saved columns, or None when they did not change."""

    DEFAULT_CSS = """
    #columns-list { height: auto; max-height: 14; }
    """
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("space", "show_hide", "Show/hide", id="columns.show_hide"),
        Binding("left_square_bracket", "move(-1)", "Move up", id="columns.move_up"),
        Binding("right_square_bracket", "move(1)", "Move down", id="columns.move_down"),
        Binding("enter", "submit", "Apply", id="columns.apply", priority=True),
    ]
    heading = "Edit columns"
    submit_hint = "Space show/hide · [ ] move · Enter apply · Esc cancel"

    def __init__(self, chosen: list[str]) -> None:
        super().__init__()
        self.chosen = list(chosen)
        self.order = list(chosen) + [k for k in COLUMNS if k not in chosen]
        self.shown = set(chosen)

    def fields(self) -> ComposeResult:
        yield OptionList(id="columns-list")

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

    def action_show_hide(self) -> None:
        index = self.query_one(OptionList).highlighted or 0
        self.shown.symmetric_difference_update({self.order[index]})
        self._redraw(index)

    def action_move(self, delta: int) -> None:
        index = self.query_one(OptionList).highlighted or 0
        target = index + delta
        if 0 <= target < len(self.order):
            self.order[index], self.order[target] = self.order[target], self.order[index]
            self._redraw(target)

    async def perform(self) -> list[str]:
        chosen = [k for k in self.order if k in self.shown]
        if not chosen:
            raise InvalidInput("Show at least one column.")
        if chosen == self.chosen:
            return chosen
        return await self.call(preferences.set_table_columns, chosen)

    def submitted(self, result: list[str]) -> None:
        self.dismiss(None if result == self.chosen else result)


class SegmentsDialog(ServiceDialog[CustomerQuery]):
    """Saved segments: Enter switches to one (dismisses with its query); n saves the current view;
    r renames; d deletes."""

    DEFAULT_CSS = """
    #segments-list { height: auto; max-height: 12; }
    #segment-name-row { height: 1; }
    #segment-name { width: 1fr; }
    """
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("n", "new", "Save current", id="segments.new"),
        Binding("r", "rename", "Rename", id="segments.rename"),
        Binding("d", "delete", "Delete", id="segments.delete"),
    ]
    heading = "Saved segments"
    submit_hint = "Enter open · n save current view · r rename · d delete · Esc close"

    def __init__(self, current: CustomerQuery) -> None:
        super().__init__()
        self.current = current
        self.found: list[segments.SegmentInfo] = []
        self.mode: str | None = None

    def fields(self) -> ComposeResult:
        yield OptionList(id="segments-list")
        with Horizontal(id="segment-name-row"):
            yield Input(placeholder="segment name", id="segment-name", compact=True)
            yield Checkbox("shared", id="segment-shared", compact=True)
        yield Static(id="error-name", classes="field-error")

    def on_mount(self) -> None:
        self.query_one("#segment-name-row").display = False
        self.query_one(OptionList).focus()
        self.reload()

    def reload(self) -> None:
        self.load(lambda: self.call(segments.list_segments), self.show_segments)

    def show_segments(self, found: list[segments.SegmentInfo]) -> None:
        self.found = found
        options = self.query_one(OptionList)
        options.clear_options()
        for seg in found:
            who = "" if seg.mine else f"  by {visible(seg.owner)}"
            shared = "  (shared)" if seg.shared else ""
            options.add_option(Option(Text(f"{visible(seg.name)}{shared}{who}"), id=str(seg.id)))
        if found:
            options.highlighted = 0
        elif not self.busy:
            self.note("No saved segments yet: press n to save the current view.", style="dim")

    def _selected(self) -> segments.SegmentInfo | None:
        index = self.query_one(OptionList).highlighted
        return self.found[index] if index is not None and index < len(self.found) else None

    @on(OptionList.OptionSelected, "#segments-list")
    def _chosen(self, event: OptionList.OptionSelected) -> None:
        self.dismiss(self.found[event.option_index].query)

    def _naming(self) -> bool:
        return bool(self.query_one("#segment-name-row").display)

    def _ask_name(self, mode: str, initial: str = "") -> None:
        self.mode = mode
        self.query_one("#segment-name-row").display = True
        self.query_one("#segment-shared").display = mode == "new"
        name = self.query_one("#segment-name", Input)
        name.value = initial
        name.focus()

    def _stop_naming(self) -> None:
        self.query_one("#segment-name-row").display = False
        self.query_one(OptionList).focus()

    def action_new(self) -> None:
        self._ask_name("new")

    def action_rename(self) -> None:
        chosen = self._selected()
        if chosen is None:
            self.show_error("Choose a segment first.")
            return
        self._ask_name("rename", chosen.name)

    @on(Input.Submitted, "#segment-name")
    def _name_given(self) -> None:
        self.action_submit()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "submit":
            return self._naming()
        return super().check_action(action, parameters)

    async def perform(self) -> CustomerQuery:
        name = self.query_one("#segment-name", Input).value
        chosen = self._selected()
        if self.mode == "new":
            shared = self.query_one("#segment-shared", Checkbox).value
            saved = await self.call(segments.create_segment, name, self.current, shared)
        elif self.mode == "rename" and chosen is not None:
            saved = await self.call(segments.rename_segment, chosen.id, name)
        else:
            raise InvalidInput("Choose a segment first.")
        self.note(f"Saved {saved.name!r}.")
        return saved.query

    def submitted(self, result: CustomerQuery) -> None:
        self._stop_naming()
        self.reload()

    def action_delete(self) -> None:
        chosen = self._selected()
        if chosen is None:
            self.show_error("Choose a segment first.")
            return

        async def delete() -> None:
            await self.call(segments.delete_segment, chosen.id)
            self.note(f"Deleted {chosen.name!r}.")

        self.attempt(delete, lambda _: self.reload())

    def action_cancel(self) -> None:
        if self._naming():
            self._stop_naming()
            return
        super().action_cancel()


def default_export_path() -> Path:
    return Path.cwd() / f"customers-{datetime.now():%Y%m%d-%H%M%S}.csv"


class ExportDialog(ServiceDialog[export.ExportResult]):
    """Export the current view as CSV: choose file and columns, watch progress, Esc cancels. Closes when
    the file is written (a notification says where)."""

    heading = "Export CSV"
    needs = Action.EXPORT
    submit_hint = "Enter export · Tab choose the columns · Esc cancel / close"

    def __init__(self, query: CustomerQuery, columns: list[str]) -> None:
        super().__init__()
        self.export_query = query
        self.columns = columns
        self.cancel_event = threading.Event()

    def fields(self) -> ComposeResult:
        yield from form_field("File", Input(str(default_export_path()), id="export-path", compact=True), "out")
        with RadioSet(id="export-columns", compact=True):
            yield RadioButton("Contact preset (Name, Email, Company, … Lifetime Value)", value=True, id="preset")
            yield RadioButton("The table's columns: " + ", ".join(COLUMNS[c].title for c in self.columns),
                              id="visible")
        yield ProgressBar(id="export-progress", total=None, show_eta=False)

    def on_mount(self) -> None:
        self.query_one("#export-progress").display = False
        self.query_one("#export-path", Input).focus()

    @on(Input.Submitted, "#export-path")
    def _start(self) -> None:
        self.action_submit()

    async def perform(self) -> export.ExportResult:
        path = self.query_one("#export-path", Input).value
        columns = export.CONTACTS_PRESET if self.query_one("#preset", RadioButton).value else list(self.columns)
        bar = self.query_one("#export-progress", ProgressBar)

        def progress(done: int, total: int) -> None:
            self.app.call_from_thread(bar.update, total=total, progress=done)

        self.cancel_event.clear()
        bar.display = True
        self.note("exporting…", style="dim")
        try:
            return await self.call(export.export_customers, self.export_query, path, columns, progress,
                                   self.cancel_event)
        finally:
            bar.display = False

    def submitted(self, result: export.ExportResult) -> None:
        self.result = result
        if result.cancelled:
            self.note(f"Cancelled after {result.rows:,} rows; no file was written.", style="yellow")
            return
        self.app.notify(visible(f"Exported {result.rows:,} customers to {result.path}"), title="Export CSV",
                        timeout=10, markup=False)
        self.dismiss(result)

    def action_cancel(self) -> None:
        if self.busy:
            self.cancel_event.set()
            self.note("cancelling…", style="yellow")
            return
        super().action_cancel()


class RemoveFilterDialog(ServiceDialog[str]):
    """Pick one active filter to remove (or all of them): Enter removes, Esc keeps them."""

    DEFAULT_CSS = """
    #chips-list { height: auto; max-height: 14; }
    """
    ALL = "__all__"
    heading = "Remove a filter"
    submit_hint = "Enter remove · Esc cancel"

    def __init__(self, filters: CustomerFilters) -> None:
        super().__init__()
        self.filters = filters

    def fields(self) -> ComposeResult:
        options = [Option(Text(f"✕ {visible(label)}"), id=name) for name, label in self.filters.chips()]
        options.append(Option(Text("✕ all filters"), id=self.ALL))
        yield OptionList(*options, id="chips-list")

    def on_mount(self) -> None:
        chips = self.query_one(OptionList)
        chips.highlighted = 0
        chips.focus()

    @on(OptionList.OptionSelected, "#chips-list")
    def _chosen(self) -> None:
        self.action_submit()

    async def perform(self) -> str:
        chips = self.query_one(OptionList)
        option = chips.get_option_at_index(chips.highlighted or 0)
        return option.id or self.ALL
