"""The links tab: the customer's links newest first, then their payout requests; Enter opens one.

While a link is queued the tab reads the list again every second, so the agent sees the worker turn
"generating…" into "ready" (or "sent") without pressing anything.
"""

from __future__ import annotations

from typing import ClassVar

from rich.text import Text
from textual import on
from textual.binding import Binding, BindingType
from textual.timer import Timer
from textual.widgets import DataTable

from agentdesk.domain.enums import LinkStatus, PayoutRequestStatus
from agentdesk.domain.errors import ServiceError
from agentdesk.domain.money import format_amount
from agentdesk.services.links import read as links
from agentdesk.services.links.read import LinkInfo
from agentdesk.services.money import payout_requests
from agentdesk.services.money.payout_requests import PayoutRequestInfo
from agentdesk.ui.base import desk_work
from agentdesk.ui.widgets.plain_text import plain
from agentdesk.ui.widgets.profile import ProfileChanged, changed
from agentdesk.ui.widgets.profile.list_pane import ListPane, refill

STATUS_STYLE = {
    LinkStatus.QUEUED: "yellow", LinkStatus.READY: "cyan", LinkStatus.SENT: "cyan", LinkStatus.OPENED: "blue",
    LinkStatus.COMPLETED: "green", LinkStatus.EXPIRED: "dim", LinkStatus.REVOKED: "dim", LinkStatus.FAILED: "red",
}


class LinksPane(ListPane):
    prefix = "links"
    DEFAULT_CSS = """
    LinksPane { height: 1fr; }
    LinksPane DataTable { height: 1fr; }
    LinksPane #links-status { height: auto; color: $text-muted; }
    """
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("enter", "open", "Open", show=False, id="profile.link.open"),
    ]

    def __init__(self, customer_id: int, **kwargs) -> None:
        super().__init__(customer_id, **kwargs)
        self.links: list[LinkInfo] = []
        self.requests: list[PayoutRequestInfo] = []
        self.rows: list[LinkInfo | PayoutRequestInfo] = []
        self.poll: Timer | None = None

    def on_mount(self) -> None:
        for key, label in [("id", "Link"), ("kind", "Kind"), ("status", "Status"), ("detail", "Expires / amount"),
                           ("by", "Requested by")]:
            self.table.add_column(label, key=key)

    @desk_work(group="links")
    async def _load(self) -> None:
        try:
            found = await self.call(links.list_links, self.customer_id)
            asked = await self.call(payout_requests.list_payout_requests, customer_ref=self.customer_id)
        except ServiceError as exc:
            self.status.update(plain(str(exc), "red"))
            return
        self.show(found, asked)

    def show(self, found: list[LinkInfo], asked: list[PayoutRequestInfo]) -> None:
        if (found, asked) != (self.links, self.requests):
            self.links, self.requests = found, asked
            self.rows = [*found, *asked]
            refill(self.table, self._lines())
        queued = sum(info.status is LinkStatus.QUEUED for info in found)
        pending = sum(r.status is PayoutRequestStatus.PENDING for r in asked)
        summary = f"{len(found)} link{'s' if len(found) != 1 else ''}" if found else "no links"
        if queued:
            summary += f" · {queued} generating…"
        if asked:
            summary += f" · {len(asked)} payout request{'s' if len(asked) != 1 else ''} ({pending} pending)"
        self.status.update(Text(f"{summary} · Enter open · l send a link", style="dim"))
        self._poll_while(queued > 0)

    def _lines(self) -> list[tuple[str, list[Text]]]:
        lines = []
        for info in self.links:
            detail = ("generating…" if info.status is LinkStatus.QUEUED
                      else f"{info.expires_at:%Y-%m-%d %H:%M}" if info.expires_at else "")
            lines.append((f"link-{info.id}", [Text(str(info.id)), Text(info.kind.value),
                                              Text(info.status.value, style=STATUS_STYLE.get(info.status, "")),
                                              Text(detail), plain(info.requested_by)]))
        for r in self.requests:
            lines.append((f"payout-{r.id}", [
                Text(f"P{r.id}"), Text("payout request"),
                Text(r.status.value, style="yellow" if r.status is PayoutRequestStatus.PENDING else ""),
                Text(format_amount(r.amount, r.currency)), plain(r.decided_by or "customer")]))
        return lines

    def _poll_while(self, queued: bool) -> None:
        if queued and self.poll is None:
            self.poll = self.set_interval(1.0, self._tick)
        elif not queued and self.poll is not None:
            self.poll.stop()
            self.poll = None

    def _tick(self) -> None:
        if self.shown:
            self._load()

    def current(self) -> LinkInfo | PayoutRequestInfo | None:
        if not self.rows:
            self.app.notify("This customer has no links yet: l sends one.", timeout=3)
            return None
        return self.rows[min(self.table.cursor_row, len(self.rows) - 1)]

    @on(DataTable.RowSelected, "#links-table")
    def _selected(self, event: DataTable.RowSelected) -> None:
        event.stop()
        self.action_open()

    def action_open(self) -> None:
        from agentdesk.ui.dialogs.link_dialogs import LinkDialog, PayoutRequestDialog

        row = self.current()
        if isinstance(row, LinkInfo):
            self.app.push_screen(LinkDialog(row), self._after)
        elif row is not None:
            self.app.push_screen(PayoutRequestDialog(row), self._after)

    def _after(self, result: object) -> None:
        self.reload()
        if changed(result):
            self.post_message(ProfileChanged(detail=isinstance(result, PayoutRequestInfo)))
