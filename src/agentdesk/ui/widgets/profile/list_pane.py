"""A profile tab that is one table: read the first time it is shown, and again after anything on the customer
changed (at once while it is shown, else when it is next shown), so opening a profile costs no query for the
tabs the agent never looks at."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from contextlib import suppress
from typing import ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.widgets import DataTable, Static
from textual.widgets.data_table import RowDoesNotExist

from agentdesk.ui.base import DeskWidget


class ListPane(DeskWidget):
    """Subclasses set `prefix` (ids `<prefix>-table` and `<prefix>-status`), add their columns on mount and
    implement `_load` (a `desk_work` reading the list and showing it)."""

    prefix: ClassVar[str] = ""

    def __init__(self, customer_id: int, **kwargs) -> None:
        super().__init__(**kwargs)
        self.customer_id = customer_id
        self.stale = True
        self.shown = False

    def compose(self) -> ComposeResult:
        yield DataTable(id=f"{self.prefix}-table", cursor_type="row", zebra_stripes=True)
        yield Static(Text("loading…", style="dim"), id=f"{self.prefix}-status")

    def on_show(self) -> None:
        self.shown = True
        if self.stale:
            self.reload()

    def on_hide(self) -> None:
        self.shown = False

    @property
    def table(self) -> DataTable[Text]:
        return self.query_one(f"#{self.prefix}-table", DataTable)

    @property
    def status(self) -> Static:
        return self.query_one(f"#{self.prefix}-status", Static)

    def focus_table(self) -> None:
        self.table.focus()

    def reload(self) -> None:
        """Read the list again now if the tab is shown, else when it is next shown."""
        self.stale = True
        if self.shown:
            self.stale = False
            self._load()

    def _load(self) -> object:
        raise NotImplementedError


def refill(table: DataTable[Text], rows: Iterable[tuple[str, Sequence[Text]]]) -> None:
    """Replace the table's rows (key, cells); the cursor stays on the row with the same key (a row gone: on
    the same line) and the view keeps its scroll, so a list read again under the agent's eyes does not jump."""
    key = table.coordinate_to_cell_key(table.cursor_coordinate).row_key if table.row_count else None
    line, scroll_x, scroll_y = table.cursor_row, table.scroll_x, table.scroll_y
    table.clear()
    for row_key, cells in rows:
        table.add_row(*cells, key=row_key)
    if not table.row_count:
        return
    if key is not None:
        with suppress(RowDoesNotExist):
            line = table.get_row_index(key)
    table.move_cursor(row=min(line, table.row_count - 1), scroll=False)

    def keep_view() -> None:
        table.scroll_to(scroll_x, scroll_y, animate=False, immediate=True)
        table.move_cursor(row=table.cursor_row)

    table.call_after_refresh(keep_view)
