"""The customer table: segments, search as you type, keyset pages, Enter opens a profile."""

from __future__ import annotations

import asyncio

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal
from textual.screen import Screen
from textual.timer import Timer
from textual.widgets import DataTable, Footer, Input, Static

from agentdesk.services.customer_search import SEGMENT_TITLES, CustomerPage, Segment, search_customers, segment_counts
from agentdesk.services.errors import ServiceError
from agentdesk.services.money import format_amount
from agentdesk.widgets.plain_text import plain

PAGE_SIZE = 100
SEARCH_DEBOUNCE = 0.15

COLUMNS = [
    ("id", "ID", 12),
    ("name", "Name", 22),
    ("email", "Primary email", 28),
    ("phone", "Phone", 17),
    ("payments", "Pay", 4),
    ("ltv", "Lifetime value", 15),
    ("country", "Ctry", 4),
    ("organization", "Organization", 20),
    ("created", "Created", 10),
]


class CustomerTableScreen(Screen):
    BINDINGS = [
        Binding("slash", "focus_search", "Search"),
        Binding("1", "segment('customers')", "Customers"),
        Binding("2", "segment('leads')", "Leads"),
        Binding("3", "segment('all')", "All", show=False),
        Binding("n", "next_page", "Next"),
        Binding("p", "previous_page", "Prev"),
        Binding("r", "reload", "Reload", show=False),
        Binding("escape", "clear_search", "Clear search", show=False),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.segment = Segment.CUSTOMERS
        self.search_text = ""
        self.page_starts: list[int | None] = [None]
        self.next_before: int | None = None
        self.counts: dict[Segment, int] = {}
        self._debounce: Timer | None = None

    def compose(self) -> ComposeResult:
        with Horizontal(id="table-top"):
            yield Static(id="who")
            yield Static(id="segments")
        yield Input(placeholder="/ search: id, name, email, phone, organization, card last 4", id="search")
        yield DataTable(id="customers", cursor_type="row", zebra_stripes=True)
        yield Static(id="status")
        yield Footer()

    def on_mount(self) -> None:
        actor = self.app.actor
        self.query_one("#who", Static).update(plain(f"AgentDesk · {actor.name} ({actor.role.value})", "bold"))
        table = self.query_one("#customers", DataTable)
        for key, label, width in COLUMNS:
            table.add_column(label, key=key, width=width)
        table.focus()
        self.load_counts()
        self.reload_from_top()

    # --- loading ----------------------------------------------------------------------

    def reload_from_top(self) -> None:
        self.page_starts = [None]
        self.load_page(None)

    @work(exclusive=True, group="counts")
    async def load_counts(self) -> None:
        try:
            self.counts = await asyncio.to_thread(segment_counts, self.app.store, self.app.actor)
        except ServiceError as exc:
            self.notify(str(exc), severity="error")
            return
        self._show_segments()

    @work(exclusive=True, group="page")
    async def load_page(self, before_id: int | None) -> None:
        """Newest query wins: starting another load cancels this one before it draws."""
        status = self.query_one("#status", Static)
        status.update(Text("loading…", style="dim"))
        try:
            page = await asyncio.to_thread(
                search_customers, self.app.store, self.app.actor, self.search_text, self.segment, PAGE_SIZE, before_id
            )
        except ServiceError as exc:
            status.update(plain(str(exc), "red"))
            return
        self._show_page(page)

    def _show_segments(self) -> None:
        parts = Text()
        for index, segment in enumerate(Segment, start=1):
            label = f" {index} {SEGMENT_TITLES[segment]} ({self.counts.get(segment, 0):,}) "
            parts.append(label, style="reverse bold" if segment is self.segment else "")
        self.query_one("#segments", Static).update(parts)

    def _show_page(self, page: CustomerPage) -> None:
        table = self.query_one("#customers", DataTable)
        table.clear()
        for row in page.rows:
            table.add_row(
                plain(row.external_id),
                plain(row.name),
                plain(row.email or ""),
                plain(row.phone or ""),
                Text(str(row.payment_count), justify="right"),
                Text(format_amount(row.lifetime_value, row.currency), justify="right"),
                plain(row.country or ""),
                plain(row.organization or ""),
                Text(f"{row.created_at:%Y-%m-%d}"),
                key=str(row.id),
            )
        self.next_before = page.next_before_id
        number = len(self.page_starts)
        searching = f" matching “{self.search_text}”" if self.search_text else ""
        if not page.rows:
            message = f"No {SEGMENT_TITLES[self.segment].lower()}{searching}."
            if self.search_text:
                message += " Esc clears the search."
        else:
            more = "n: next page" if page.next_before_id else "last page"
            back = ", p: previous" if number > 1 else ""
            message = f"Page {number} · {len(page.rows)} {SEGMENT_TITLES[self.segment].lower()}{searching} · {more}{back}"
        self.query_one("#status", Static).update(plain(message, "dim"))

    # --- input ------------------------------------------------------------------------

    @on(Input.Changed, "#search")
    def _search_changed(self, event: Input.Changed) -> None:
        if self._debounce is not None:
            self._debounce.stop()
        self._debounce = self.set_timer(SEARCH_DEBOUNCE, lambda: self._apply_search(event.value))

    def _apply_search(self, text: str) -> None:
        text = " ".join(text.split())
        if text != self.search_text:
            self.search_text = text
            self.reload_from_top()

    @on(Input.Submitted, "#search")
    def _search_submitted(self, event: Input.Submitted) -> None:
        if self._debounce is not None:
            self._debounce.stop()
        self._apply_search(event.value)
        self.query_one("#customers", DataTable).focus()

    @on(DataTable.RowSelected, "#customers")
    def _open_row(self, event: DataTable.RowSelected) -> None:
        from agentdesk.screens.customer_profile import CustomerProfileScreen

        self.app.push_screen(CustomerProfileScreen(int(event.row_key.value)))

    # --- actions ----------------------------------------------------------------------

    def action_focus_search(self) -> None:
        self.query_one("#search", Input).focus()

    def action_clear_search(self) -> None:
        search = self.query_one("#search", Input)
        if search.value:
            search.value = ""
            self._apply_search("")
        self.query_one("#customers", DataTable).focus()

    def action_segment(self, name: str) -> None:
        self.segment = Segment(name)
        self._show_segments()
        self.reload_from_top()

    def action_next_page(self) -> None:
        if self.next_before is None:
            self.notify("This is the last page.", timeout=2)
            return
        self.page_starts.append(self.next_before)
        self.load_page(self.next_before)

    def action_previous_page(self) -> None:
        if len(self.page_starts) <= 1:
            self.notify("This is the first page.", timeout=2)
            return
        self.page_starts.pop()
        self.load_page(self.page_starts[-1])

    def action_reload(self) -> None:
        self.load_counts()
        self.load_page(self.page_starts[-1])
