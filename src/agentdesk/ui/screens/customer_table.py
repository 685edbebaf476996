"""The customer table: segments, search as you type, filters, sort, columns, export.

Only a window of rows is ever held (see `WindowTable`). Every query runs in a
worker; a newer query cancels the older one, and a generation number drops
any answer that still arrives for a query the agent has moved on from.
Rows changed elsewhere (live refresh) are read again one by one, in place.
"""

from __future__ import annotations

from dataclasses import replace
from typing import ClassVar

from rich.text import Text
from textual import events, on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal
from textual.screen import ModalScreen
from textual.widgets import Footer, Input, Static

from agentdesk.domain.permissions import Action
from agentdesk.domain.text import visible
from agentdesk.services.changes import Changes
from agentdesk.services.customers import preferences, search
from agentdesk.services.customers.columns import COLUMNS
from agentdesk.services.customers.filters import (
    SEGMENT_TITLES,
    SORT_TITLES,
    CustomerFilters,
    CustomerQuery,
    Segment,
    SortKey,
)
from agentdesk.services.customers.search import CustomerRow, cursor_for
from agentdesk.services.timeline import notes as timeline_notes
from agentdesk.ui.base import DeskScreen, desk_work
from agentdesk.ui.widgets.plain_text import plain
from agentdesk.ui.widgets.window_table import Column, WindowTable

PAGE_SIZE = 100
SORT_CYCLE = [SortKey.NEWEST, SortKey.NAME, SortKey.CREATED, SortKey.LIFETIME_VALUE, SortKey.LAST_PAYMENT]
NARROWEST = {"name": 12, "email": 16, "phone": 16, "ltv": 14, "organization": 12}
"""How narrow a column may get so the first five fit at 80 columns (a phone is at most 16 characters)."""
GROWING = {"name", "email"}
"""The columns that take the width of a wider terminal."""
GATES = {"export": Action.EXPORT, "merge": Action.MERGE_ANONYMIZE, "new_customer": Action.EDIT_CUSTOMERS}
"""Actions of the table that only some roles may take: hidden from the others."""


class CustomerRows(WindowTable):
    """The table's rows; Enter opens the highlighted customer's profile."""

    BINDINGS: ClassVar[list[BindingType]] = [Binding("enter", "select", "Open profile", show=False, id="table.open")]


class CustomerTableScreen(DeskScreen):
    ROLE_GATES: ClassVar[dict[str, Action]] = GATES
    TITLE = "Customer table"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("slash", "focus_search", "Search", id="table.search"),
        Binding("1", "segment('customers')", "Customers", show=False, id="table.segment.customers"),
        Binding("2", "segment('leads')", "Leads", show=False, id="table.segment.leads"),
        Binding("3", "segment('all')", "All", show=False, id="table.segment.all"),
        Binding("g", "saved_segments", "Segments", id="table.saved_segments"),
        Binding("f", "filters", "Filter", id="table.filters"),
        Binding("x", "remove_filter", "Remove filter", show=False, id="table.remove_filter"),
        Binding("s", "next_sort", "Sort", id="table.sort"),
        Binding("o", "flip_order", "Order", show=False, id="table.order"),
        Binding("c", "edit_columns", "Columns", show=False, id="table.columns"),
        Binding("e", "export", "Export", id="table.export"),
        Binding("r", "reload", "Reload", show=False, id="table.reload"),
        Binding("m", "mentions", "Mentions", show=False, id="table.mentions"),
        Binding("n", "new_customer", "New customer", show=False, id="table.new_customer"),
        Binding("space", "mark", "Mark", show=False, id="table.mark"),
        Binding("M", "merge", "Merge marked", show=False, id="table.merge"),
        Binding("escape", "clear_search", "Clear search", show=False, id="table.clear_search"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.query_state = CustomerQuery()
        self.counts: dict[Segment, int] = {}
        self.total: tuple[int, bool] | None = None
        self.columns: list[str] = []
        self.generation = 0
        self.away = False
        """A full screen (a profile) went on top: its edits may have changed rows shown here."""
        self.stale_rows: set[int] = set()
        """Customers held in the table that changed elsewhere and are waiting to be read again."""
        self.rereading = False

    def compose(self) -> ComposeResult:
        with Horizontal(id="table-top"):
            yield Static(id="who")
            yield Static(id="segments")
        yield Input(placeholder="/ search: id, name, email, phone, organization, card last 4", id="search")
        yield Static(id="chips")
        yield CustomerRows(self._cells, page_size=PAGE_SIZE, id="customers")
        yield Static(id="status")
        yield Footer(compact=True)

    def on_mount(self) -> None:
        actor = self.app.actor
        if actor is not None:
            self.query_one("#who", Static).update(plain(f"{actor.name} ({actor.role.value})", "bold"))
        table = self.query_one(WindowTable)
        table.mark_key = lambda row: row.id
        table.focus()
        self.load_columns()
        self.load_counts()
        self.run_query()
        self.check_mentions()

    def on_screen_suspend(self, event: events.ScreenSuspend) -> None:
        self.away = not isinstance(self.app.screen, ModalScreen)

    def on_screen_resume(self, event: events.ScreenResume) -> None:
        if self.away:
            self.away = False
            self.refresh_rows(self.generation)
            self.load_counts()

    @desk_work(group="refresh")
    async def refresh_rows(self, generation: int) -> None:
        """Back from a profile: read the rows on screen again so an edit, a refund or a block made
        there shows at once; the cursor stays where it was."""
        table = self.query_one(WindowTable)
        query = self.query_state
        if not table.rows:
            return
        above = table.rows[table.top - 1] if table.top > 0 else None
        if above is None or above.exact:
            page = await self.call(search.fetch_page, query, PAGE_SIZE, None, False)
        else:
            page = await self.call(search.fetch_page, query, PAGE_SIZE, cursor_for(above, query.sort))
        if generation == self.generation:
            held = {row.id: row.exact for row in table.rows}
            table.replace_rows([replace(row, exact=held.get(row.id, row.exact)) for row in page.rows])
            self._show_status()

    def customers_changed(self, changes: Changes) -> None:
        table = self.query_one(WindowTable)
        if changes.resync:
            self.refresh_rows(self.generation)
            return
        held = {row.id for row in table.rows} & changes.customers
        if held:
            self.stale_rows |= held
            if not self.rereading:
                self.rereading = True
                self.reread_rows()

    @desk_work(group="live-rows")
    async def reread_rows(self) -> None:
        """The rows that changed, read again and put in place: the cursor, the scroll and the other rows stay.
        Changes that arrive meanwhile are read in the next round."""
        table = self.query_one(WindowTable)
        try:
            while self.stale_rows:
                ids = sorted(self.stale_rows)
                self.stale_rows.clear()
                fresh = await self.call(search.rows_by_id, ids)
                held = {row.id: row.exact for row in table.rows}
                table.replace_rows([replace(row, exact=held.get(row.id, row.exact)) for row in fresh])
                self._show_status()
        finally:
            self.rereading = False

    @desk_work(group="mentions")
    async def check_mentions(self) -> None:
        waiting = await self.call(timeline_notes.my_mentions)
        if waiting:
            self.notify(f"You were mentioned {len(waiting)} time(s): press m to read.", timeout=8)

    def action_new_customer(self) -> None:
        from agentdesk.ui.dialogs.customer_form import CustomerFormScreen
        from agentdesk.ui.screens.customer_profile import CustomerProfileScreen

        if not self.refuse(Action.EDIT_CUSTOMERS):
            return

        def opened(customer_id: int | None) -> None:
            if customer_id is not None:
                self.load_counts()
                self.run_query()
                self.app.push_screen(CustomerProfileScreen(customer_id))

        self.app.push_screen(CustomerFormScreen(), opened)

    def action_mentions(self) -> None:
        from agentdesk.ui.screens.timeline import MentionsScreen

        def open_customer(customer_id: int | None) -> None:
            if customer_id is not None:
                from agentdesk.ui.screens.customer_profile import CustomerProfileScreen

                self.app.push_screen(CustomerProfileScreen(customer_id))

        self.app.push_screen(MentionsScreen(), open_customer)

    def action_mark(self) -> None:
        self.query_one(WindowTable).toggle_mark()
        self._show_status()

    def action_merge(self) -> None:
        from agentdesk.ui.dialogs.privacy import MergeDialog

        if not self.refuse(Action.MERGE_ANONYMIZE):
            return
        table = self.query_one(WindowTable)
        marked = list(table.marked.values())
        if len(marked) < 2:
            self.notify("Mark two or more customers with Space first.", timeout=3)
            return

        def merged(done: object | None) -> None:
            if done is not None:
                table.marked.clear()
                self.load_counts()
                self.run_query()

        self.app.push_screen(MergeDialog(marked), merged)

    # --- rendering ------------------------------------------------------------------------------

    def _cells(self, row: CustomerRow) -> list[Text]:
        cells = []
        for key in self.columns:
            spec = COLUMNS[key]
            text = plain(spec.value(row))
            if key == "name" and row.blocked:
                text.append(" ⛔", style="red")
            cells.append(text)
        return cells

    def _show_segments(self) -> None:
        parts = Text()
        for index, segment in enumerate(Segment, start=1):
            count = self.counts.get(segment)
            label = f" {index} {SEGMENT_TITLES[segment]}" + (f" ({count:,})" if count is not None else "") + " "
            parts.append(label, style="reverse bold" if segment is self.query_state.segment else "")
        self.query_one("#segments", Static).update(parts)

    def _show_chips(self) -> None:
        q = self.query_state
        line = Text()
        arrow = "↓" if q.descending else "↑"
        line.append(f"sort: {SORT_TITLES[q.sort]} {arrow}", style="dim")
        for _, label in q.filters.chips():
            line.append("  ")
            line.append(f" {visible(label)} ✕ ", style="reverse")
        if not q.filters.is_empty():
            line.append("  f edit · x remove", style="dim")
        self.query_one("#chips", Static).update(line)

    def _show_status(self) -> None:
        table = self.query_one(WindowTable)
        q = self.query_state
        what = SEGMENT_TITLES[q.segment].lower()
        if not table.rows:
            message = f"No {what}" + (f" match “{q.search}”" if q.search else "")
            message += "" if q.filters.is_empty() else " with these filters"
            message += "." + (" Esc clears the search." if q.search else "")
            self.query_one("#status", Static).update(plain(message, "dim"))
            return
        position = table.position
        where = f"row {position + 1:,}" if position is not None else "row ?"
        if self.total is not None:
            count, exact = self.total
            where += f" of {count:,}{'' if exact else '+'}"
        hidden = table.hidden_right
        more = f" · → {hidden} more column{'s' if hidden != 1 else ''}" if hidden else ""
        more += f" · {len(table.marked)} marked" if table.marked else ""
        more += "" if table.at_end else " · PgDn/End for more"
        current = table.current
        who = f"{current.external_id} · " if current is not None else ""
        self.query_one("#status", Static).update(plain(f"{who}{where} {what}{more}", "dim"))

    # --- loading --------------------------------------------------------------------------------

    def run_query(self) -> None:
        self.generation += 1
        self.total = None
        self._show_segments()
        self._show_chips()
        self.load_first(self.generation, to_end=False)
        self.load_total(self.generation)

    @desk_work(group="columns")
    async def load_columns(self) -> None:
        self.columns = await self.call(preferences.table_columns)
        self._apply_columns()

    def _apply_columns(self) -> None:
        self.query_one(WindowTable).set_columns(
            [Column(k, COLUMNS[k].title, COLUMNS[k].width, COLUMNS[k].justify, NARROWEST.get(k), k in GROWING)
             for k in self.columns]
        )

    @desk_work(group="counts")
    async def load_counts(self) -> None:
        self.counts = await self.call(search.segment_counts)
        self._show_segments()

    @desk_work(group="total")
    async def load_total(self, generation: int) -> None:
        total = await self.call(search.count_matching, self.query_state)
        if generation == self.generation:
            self.total = total
            self._show_status()

    @desk_work(group="page")
    async def load_first(self, generation: int, to_end: bool) -> None:
        """The first page (Home, a new query) or the last one (End)."""
        page = await self.call(search.fetch_page, self.query_state, PAGE_SIZE, None, to_end)
        if generation != self.generation:
            return
        table = self.query_one(WindowTable)
        if to_end:
            offset = None
            if self.total is not None and self.total[1]:
                offset = max(0, self.total[0] - len(page.rows))
            table.load(page.rows, at_start=not page.more, at_end=True, offset=offset if page.more else 0,
                       cursor_at_end=True)
        else:
            table.load(page.rows, at_start=True, at_end=not page.more, offset=0)
        table.empty_message = "nothing here"
        self._show_status()

    @desk_work(group="more", exclusive=False)
    async def load_more(self, generation: int, forward: bool, edge: CustomerRow) -> None:
        query = self.query_state
        table = self.query_one(WindowTable)
        if forward and edge.exact:
            ordered = [r for r in table.rows if not r.exact]
            if ordered:
                page = await self.call(search.fetch_page, query, PAGE_SIZE, cursor_for(ordered[-1], query.sort))
            else:
                page = await self.call(search.fetch_page, query, PAGE_SIZE, None, False, False)
        else:
            page = await self.call(search.fetch_page, query, PAGE_SIZE, cursor_for(edge, query.sort), not forward)
        if generation != self.generation:
            return
        if not forward and not page.more and query.search:
            # Back at the top of a search: reload it so the exact matches lead again.
            self.load_first(self.generation, to_end=False)
            return
        table.add_rows(page.rows, forward=forward, more=page.more)
        self._show_status()

    @on(WindowTable.NeedRows, "#customers")
    def _need_rows(self, event: WindowTable.NeedRows) -> None:
        self.load_more(self.generation, event.forward, event.edge)

    @on(WindowTable.Jump, "#customers")
    def _jump(self, event: WindowTable.Jump) -> None:
        self.generation += 1
        self.load_first(self.generation, to_end=event.to_end)

    @on(WindowTable.CursorMoved, "#customers")
    def _moved(self) -> None:
        self._show_status()

    @on(WindowTable.Selected, "#customers")
    def _open_row(self, event: WindowTable.Selected) -> None:
        from agentdesk.ui.screens.customer_profile import CustomerProfileScreen

        self.app.push_screen(CustomerProfileScreen(event.row.id))

    # --- search ---------------------------------------------------------------------------------

    @on(Input.Changed, "#search")
    def _search_changed(self, event: Input.Changed) -> None:
        self._apply_search(event.value)

    def _apply_search(self, text: str) -> None:
        text = " ".join(text.split())
        if text != self.query_state.search:
            self.query_state = replace(self.query_state, search=text)
            self.run_query()

    @on(Input.Submitted, "#search")
    def _search_submitted(self, event: Input.Submitted) -> None:
        self._apply_search(event.value)
        self.query_one(WindowTable).focus()

    # --- actions --------------------------------------------------------------------------------

    def action_focus_search(self) -> None:
        self.query_one("#search", Input).focus()

    def action_clear_search(self) -> None:
        search = self.query_one("#search", Input)
        if search.value:
            search.value = ""
            self._apply_search("")
        self.query_one(WindowTable).focus()

    def action_segment(self, name: str) -> None:
        self.query_state = replace(self.query_state, segment=Segment(name))
        self.run_query()

    def action_next_sort(self) -> None:
        current = SORT_CYCLE.index(self.query_state.sort)
        self.query_state = replace(self.query_state, sort=SORT_CYCLE[(current + 1) % len(SORT_CYCLE)], descending=True)
        self.run_query()

    def action_flip_order(self) -> None:
        self.query_state = replace(self.query_state, descending=not self.query_state.descending)
        self.run_query()

    def action_filters(self) -> None:
        from agentdesk.ui.dialogs.table import FilterDialog

        def apply(filters: CustomerFilters | None) -> None:
            if filters is not None and filters != self.query_state.filters:
                self.query_state = replace(self.query_state, filters=filters)
                self.run_query()

        self.app.push_screen(FilterDialog(self.query_state.filters), apply)

    def action_remove_filter(self) -> None:
        from agentdesk.ui.dialogs.table import RemoveFilterDialog

        filters = self.query_state.filters
        if filters.is_empty():
            self.notify("No filters are set; f adds some.", timeout=3)
            return

        def apply(name: str | None) -> None:
            if name is None:
                return
            remaining = CustomerFilters() if name == RemoveFilterDialog.ALL else filters.without(name)
            self.query_state = replace(self.query_state, filters=remaining)
            self.run_query()

        self.app.push_screen(RemoveFilterDialog(filters), apply)

    def action_saved_segments(self) -> None:
        from agentdesk.ui.dialogs.table import SegmentsDialog

        def apply(query: CustomerQuery | None) -> None:
            if query is not None:
                self.query_state = query
                search = self.query_one("#search", Input)
                with search.prevent(Input.Changed):
                    search.value = query.search
                self.run_query()

        self.app.push_screen(SegmentsDialog(self.query_state), apply)

    def action_edit_columns(self) -> None:
        from agentdesk.ui.dialogs.table import ColumnsDialog

        def apply(columns: list[str] | None) -> None:
            if columns is not None:
                self.columns = columns
                self._apply_columns()

        self.app.push_screen(ColumnsDialog(self.columns), apply)

    def action_export(self) -> None:
        from agentdesk.ui.dialogs.table import ExportDialog

        if not self.refuse(Action.EXPORT):
            return
        self.app.push_screen(ExportDialog(self.query_state, self.columns))

    def action_reload(self) -> None:
        self.load_counts()
        self.run_query()
