"""A table that holds only a window of rows around what is visible.

The stock DataTable keeps every row it is given; a segment of a million
customers must never be loaded. This widget keeps a small buffer (a few
pages), draws the visible part with the line API, and asks its screen for
more rows (`NeedRows`) as the cursor nears either end of the buffer. The
screen answers from a worker with `add_rows`, or replaces the buffer with
`load` (Home, End, a new query). It never touches the database itself.

Columns fit the width: a column with a `min_width` gives up width before any column is hidden, a
`grow` column takes what is left over, and the columns that still do not fit are scrolled in with
→ (← back); the header shows ← and → where columns are hidden. A marked row shows ✓ in its first
cell, not only a colour.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

from rich.segment import Segment
from rich.style import Style
from rich.text import Text
from textual import events
from textual.binding import Binding, BindingType
from textual.message import Message
from textual.strip import Strip
from textual.widget import Widget


@dataclass(frozen=True)
class Column:
    key: str
    title: str
    width: int
    justify: str = "left"
    min_width: int | None = None
    """Narrowest this column may be drawn before columns after it are hidden (None: `width`)."""
    grow: bool = False
    """Takes a share of the width left over once the shown columns have their own."""

    @property
    def least(self) -> int:
        return min(self.width, self.min_width or self.width)


MARK = "✓"


def fit_columns(columns: Sequence[Column], width: int, keep: int = 5) -> list[int]:
    """How wide to draw the leading columns that fit in `width` (each also takes one space).

    The first `keep` columns are shown if they fit at their least width; a later one only if every
    column shown can keep its full width. Shrunk columns get width back in proportion to what they
    gave up, and whatever is left is shared by the `grow` columns."""
    chosen: list[Column] = []
    used = natural = 0
    for index, column in enumerate(columns):
        if index < keep:
            if chosen and used + column.least + 1 > width:
                break
        elif natural + column.width + 1 > width:
            break
        chosen.append(column)
        used += column.least + 1
        natural += column.width + 1
    widths = [c.least for c in chosen]
    spare = max(0, width - used)
    short = [c.width - w for c, w in zip(chosen, widths, strict=True)]
    owed = sum(short)
    if owed:
        given = min(spare, owed)
        for index, gap in enumerate(short):
            widths[index] += given * gap // owed
        spare -= sum(widths) - sum(c.least for c in chosen)
        for index in range(len(chosen)):
            while spare and widths[index] < chosen[index].width:
                widths[index] += 1
                spare -= 1
    growers = [i for i, c in enumerate(chosen) if c.grow]
    for turn, index in enumerate(growers):
        widths[index] += spare // len(growers) + (1 if turn < spare % len(growers) else 0)
    return widths


class WindowTable(Widget, can_focus=True):
    DEFAULT_CSS = """
    WindowTable { height: 1fr; }
    WindowTable > .window-table--header { text-style: bold; background: $boost; }
    WindowTable > .window-table--cursor {
        background: $block-cursor-background; color: $block-cursor-foreground; text-style: bold;
    }
    WindowTable > .window-table--cursor-blurred { background: $block-cursor-blurred-background; }
    WindowTable > .window-table--marked { color: $warning; }
    WindowTable > .window-table--dim { color: $text-muted; }
    """
    COMPONENT_CLASSES: ClassVar[set[str]] = {
        "window-table--header", "window-table--cursor", "window-table--cursor-blurred",
        "window-table--marked", "window-table--dim",
    }
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("up", "move(-1)", "Up", show=False, system=True, id="rows.up"),
        Binding("down", "move(1)", "Down", show=False, system=True, id="rows.down"),
        Binding("pageup", "page(-1)", "Page up", show=False, system=True, id="rows.page_up"),
        Binding("pagedown", "page(1)", "Page down", show=False, system=True, id="rows.page_down"),
        Binding("home", "first", "First", show=False, system=True, id="rows.first"),
        Binding("end", "last", "Last", show=False, system=True, id="rows.last"),
        Binding("enter", "select", "Open", show=False, id="rows.open"),
        Binding("right", "scroll_columns(1)", "More columns", show=False, id="rows.columns_right"),
        Binding("left", "scroll_columns(-1)", "Columns back", show=False, id="rows.columns_left"),
    ]

    BUFFER_PAGES = 4

    class _TableMessage(Message):
        def __init__(self, table: WindowTable) -> None:
            super().__init__()
            self.table = table

        @property
        def control(self) -> WindowTable:
            return self.table

    class NeedRows(_TableMessage):
        """More rows are wanted after the buffer (forward) or before it; `edge` is the row at that end."""

        def __init__(self, table: WindowTable, forward: bool, edge: Any) -> None:
            super().__init__(table)
            self.forward = forward
            self.edge = edge

    class Jump(_TableMessage):
        """Home (`to_end` False) or End was pressed beyond the buffer: the screen reloads from that end."""

        def __init__(self, table: WindowTable, to_end: bool) -> None:
            super().__init__(table)
            self.to_end = to_end

    class Selected(_TableMessage):
        def __init__(self, table: WindowTable, row: Any) -> None:
            super().__init__(table)
            self.row = row

    class CursorMoved(_TableMessage):
        pass

    def __init__(self, render_cells: Callable[[Any], Sequence[Text]], page_size: int = 100, **kwargs) -> None:
        super().__init__(**kwargs)
        self.render_cells = render_cells
        self.page_size = page_size
        self.columns: list[Column] = []
        self.first_column = 0
        """Index of the leftmost column drawn (→ and ← move it)."""
        self.rows: list[Any] = []
        self._cells: list[Sequence[Text]] = []
        self.cursor = 0
        self.top = 0
        self.at_start = True
        self.at_end = True
        self.offset_known: int | None = 0
        """Absolute position of rows[0] in the whole result, when known."""
        self.marked: dict = {}
        """Marked rows by their key; kept even when they scroll out of the buffer."""
        self.mark_key: Callable[[Any], Any] = lambda row: row
        self._pending: set[bool] = set()
        self._owed = 0
        """Rows a move could not go yet because the buffer ended; paid when rows arrive."""
        self.empty_message = "no rows"

    # --- data from the screen -----------------------------------------------------------------

    def set_columns(self, columns: list[Column]) -> None:
        self.columns = list(columns)
        self.first_column = min(self.first_column, max(0, len(self.columns) - 1))
        self._cells = [self.render_cells(row) for row in self.rows]
        self.refresh()

    def shown_columns(self) -> tuple[list[Column], list[int]]:
        """The columns drawn at the current width, and their widths."""
        columns = self.columns[self.first_column:]
        widths = fit_columns(columns, self.size.width)
        return columns[: len(widths)], widths

    @property
    def hidden_right(self) -> int:
        """How many columns → would bring in."""
        shown, _ = self.shown_columns()
        return len(self.columns) - self.first_column - len(shown)

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "scroll_columns":
            return self.hidden_right > 0 if parameters == (1,) else self.first_column > 0
        return True

    def action_scroll_columns(self, step: int) -> None:
        if (step > 0 and self.hidden_right) or (step < 0 and self.first_column):
            self.first_column += step
            self.refresh()
            self.refresh_bindings()
            self.post_message(self.CursorMoved(self))

    def load(self, rows: Sequence[Any], at_start: bool, at_end: bool, offset: int | None,
             cursor_at_end: bool = False) -> None:
        """Replace the buffer (a new query, Home or End)."""
        self.rows = list(rows)
        self._cells = [self.render_cells(r) for r in self.rows]
        self.at_start, self.at_end = at_start, at_end
        self.offset_known = offset
        self._pending.clear()
        self._owed = 0
        self.cursor = max(0, len(self.rows) - 1) if cursor_at_end else 0
        self.top = max(0, self.cursor - self._visible_rows() + 1) if cursor_at_end else 0
        self.refresh()
        self.post_message(self.CursorMoved(self))
        self._prefetch()

    def add_rows(self, rows: Sequence[Any], forward: bool, more: bool) -> None:
        """Rows that the screen fetched for a `NeedRows` request."""
        self._pending.discard(forward)
        cells = [self.render_cells(r) for r in rows]
        if forward:
            self.rows.extend(rows)
            self._cells.extend(cells)
            self.at_end = not more
        else:
            self.rows[:0] = rows
            self._cells[:0] = cells
            self.cursor += len(rows)
            self.top += len(rows)
            if self.offset_known is not None:
                self.offset_known = max(0, self.offset_known - len(rows))
            self.at_start = not more
            if self.at_start:
                self.offset_known = 0
        self._trim(keep_end=not forward)
        self.refresh()
        owed, self._owed = self._owed, 0
        if owed and (owed > 0) == forward:
            self._move_by(owed)
            return
        self.post_message(self.CursorMoved(self))

    def replace_rows(self, rows: Sequence[Any]) -> int:
        """Rows read again (after an edit elsewhere): each one held in the buffer (same `mark_key`)
        takes its new values in place; the cursor and the rest stay. Returns how many changed."""
        fresh = {self.mark_key(row): row for row in rows}
        changed = 0
        for index, row in enumerate(self.rows):
            new = fresh.get(self.mark_key(row))
            if new is not None and new != row:
                self.rows[index] = new
                self._cells[index] = self.render_cells(new)
                changed += 1
        if changed:
            self.refresh()
        return changed

    def prepend_rows(self, rows: Sequence[Any]) -> None:
        """Rows that now come before the first one held (new events on a timeline read newest first).
        The cursor stays on its row; a view at the top stays there, so the new rows show above the
        cursor, and a view scrolled down stays where it was."""
        if not rows:
            return
        if not self.rows:
            self.load(rows, at_start=True, at_end=self.at_end, offset=0)
            return
        count = len(rows)
        self.rows[:0] = rows
        self._cells[:0] = [self.render_cells(r) for r in rows]
        self.cursor += count
        if self.top:
            self.top += count
        elif self.cursor >= self._visible_rows():
            self.top = self.cursor - self._visible_rows() + 1
        self._trim(keep_end=True)
        self.refresh()
        self.post_message(self.CursorMoved(self))

    def _trim(self, keep_end: bool) -> None:
        limit = self.page_size * self.BUFFER_PAGES
        excess = len(self.rows) - limit
        if excess <= 0:
            return
        if keep_end:
            del self.rows[-excess:]
            del self._cells[-excess:]
            self.at_end = False
        else:
            excess = min(excess, max(0, self.top - self.page_size))
            if excess <= 0:
                return
            del self.rows[:excess]
            del self._cells[:excess]
            self.cursor -= excess
            self.top -= excess
            self.at_start = False
            if self.offset_known is not None:
                self.offset_known += excess

    # --- reading --------------------------------------------------------------------------------

    @property
    def current(self) -> Any | None:
        return self.rows[self.cursor] if 0 <= self.cursor < len(self.rows) else None

    @property
    def position(self) -> int | None:
        """Absolute, 0-based index of the cursor row in the whole result, when known."""
        return None if self.offset_known is None else self.offset_known + self.cursor

    def _visible_rows(self) -> int:
        return max(1, self.size.height - 1)

    # --- moving ---------------------------------------------------------------------------------

    def _set_cursor(self, index: int) -> None:
        if not self.rows:
            return
        index = max(0, min(index, len(self.rows) - 1))
        self.cursor = index
        visible = self._visible_rows()
        if self.cursor < self.top:
            self.top = self.cursor
        elif self.cursor >= self.top + visible:
            self.top = self.cursor - visible + 1
        self.refresh()
        self.post_message(self.CursorMoved(self))
        self._prefetch()

    def _prefetch(self) -> None:
        margin = max(self._visible_rows() * 2, self.page_size // 2)
        if self.rows and not self.at_end and len(self.rows) - 1 - self.cursor < margin and True not in self._pending:
            self._pending.add(True)
            self.post_message(self.NeedRows(self, True, self.rows[-1]))
        if self.rows and not self.at_start and self.cursor < margin and False not in self._pending:
            self._pending.add(False)
            self.post_message(self.NeedRows(self, False, self.rows[0]))

    def _move_by(self, delta: int) -> None:
        """Move the cursor; what runs past an end of the buffer that is not the end of
        the data is owed and made good when the next rows arrive."""
        target = self.cursor + delta
        if target >= len(self.rows) and not self.at_end:
            self._owed = target - (len(self.rows) - 1)
        elif target < 0 and not self.at_start:
            self._owed = target
        else:
            self._owed = 0
        if abs(delta) > 1:
            step = self._visible_rows()
            self.top = max(0, min(self.top + delta, max(0, len(self.rows) - step)))
        self._set_cursor(target)

    def action_move(self, delta: int) -> None:
        self._move_by(delta)

    def action_page(self, direction: int) -> None:
        self._move_by(direction * self._visible_rows())

    def action_first(self) -> None:
        if self.at_start:
            self.top = 0
            self._set_cursor(0)
        else:
            self.post_message(self.Jump(self, to_end=False))

    def action_last(self) -> None:
        if self.at_end:
            self._set_cursor(len(self.rows) - 1)
        else:
            self.post_message(self.Jump(self, to_end=True))

    def action_select(self) -> None:
        if self.current is not None:
            self.post_message(self.Selected(self, self.current))

    def toggle_mark(self) -> None:
        if self.current is None:
            return
        key = self.mark_key(self.current)
        if self.marked.pop(key, None) is None:
            self.marked[key] = self.current
        self.refresh()

    def on_mouse_scroll_down(self, event: events.MouseScrollDown) -> None:
        event.stop()
        self.action_move(3)

    def on_mouse_scroll_up(self, event: events.MouseScrollUp) -> None:
        event.stop()
        self.action_move(-3)

    def on_click(self, event: events.Click) -> None:
        if event.y >= 1:
            self._set_cursor(self.top + event.y - 1)
            if event.chain == 2:
                self.action_select()

    def on_resize(self) -> None:
        self._set_cursor(self.cursor)
        self.refresh_bindings()

    def on_focus(self) -> None:
        self.refresh()

    def on_blur(self) -> None:
        self.refresh()

    # --- drawing --------------------------------------------------------------------------------

    def _line(self, cells: Sequence[Text], style: Style, lead: str = " ", last: str = "") -> Strip:
        """One row: `lead` before the first cell (the mark, or ← in the header), `last` in the final
        column of the width (→ in the header when columns are hidden)."""
        line = Text(no_wrap=True, end="")
        shown, widths = self.shown_columns()
        for index, (column, width, cell) in enumerate(zip(shown, widths, cells[self.first_column:], strict=False)):
            piece = cell.copy()
            piece.truncate(width, overflow="ellipsis", pad=False)
            pad = width - piece.cell_len
            gap = lead if index == 0 else " "
            if column.justify == "right":
                line.append(gap + " " * pad)
                line.append_text(piece)
            else:
                line.append(gap)
                line.append_text(piece)
                line.append(" " * pad)
        if last:
            line.truncate(max(0, self.size.width - len(last)), pad=True)
            line.append(last)
        segments = list(line.render(self.app.console))
        strip = Strip(segments).crop(0, self.size.width)
        strip = strip.extend_cell_length(self.size.width)
        return strip.apply_style(style) if style else strip

    def render_line(self, y: int) -> Strip:
        width = self.size.width
        base = self.rich_style
        if y == 0:
            header = [Text(c.title) for c in self.columns]
            return self._line(header, base + self.get_component_rich_style("window-table--header"),
                              lead="←" if self.first_column else " ", last="→" if self.hidden_right else "")
        index = self.top + y - 1
        if not self.rows:
            if y == 1:
                message = Text(f" {self.empty_message}", no_wrap=True)
                strip = Strip(list(message.render(self.app.console))).crop(0, width).extend_cell_length(width)
                return strip.apply_style(base + self.get_component_rich_style("window-table--dim"))
            return Strip([Segment(" " * width, base)])
        if index >= len(self.rows):
            return Strip([Segment(" " * width, base)])
        style = base
        marked = self.mark_key(self.rows[index]) in self.marked
        if marked:
            style = style + self.get_component_rich_style("window-table--marked")
        if index == self.cursor:
            cls = "window-table--cursor" if self.has_focus else "window-table--cursor-blurred"
            style = style + self.get_component_rich_style(cls)
        return self._line(self._cells[index], style, lead=MARK if marked else " ")
