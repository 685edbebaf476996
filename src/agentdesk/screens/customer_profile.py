"""A customer's profile: overview (details, contacts, addresses, instruments, orders),
transactions newest first, and the timeline."""

from __future__ import annotations

import asyncio

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Static, TabbedContent, TabPane

from agentdesk.services.customers import CustomerDetail, get_customer
from agentdesk.services.errors import ServiceError
from agentdesk.services.money import format_amount
from agentdesk.widgets.plain_text import plain


def _heading(title: str) -> Text:
    return Text(title, style="bold underline")


def overview_text(d: CustomerDetail) -> Text:
    """Everything on the overview tab as one Text; every customer value goes through `plain`."""
    out = Text(end="")

    def line(*parts: Text | str) -> None:
        for part in parts:
            out.append(part if isinstance(part, Text) else Text(part))
        out.append("\n")

    line(_heading("Details"))
    line("ID            ", plain(d.external_id), "   website ", plain(d.website))
    if d.organization:
        line("Organization  ", plain(d.organization))
    if d.job_title:
        line("Job title     ", plain(d.job_title))
    if d.date_of_birth:
        line(f"Date of birth {d.date_of_birth:%Y-%m-%d}")
    line(f"Customer since {d.created_at:%Y-%m-%d}   updated {d.updated_at:%Y-%m-%d %H:%M}")
    line("")
    line(_heading("Contacts"))
    if not d.emails and not d.phones:
        line(Text("no emails or phones", style="dim"))
    for e in d.emails:
        line("Email  ", plain(e.value), Text("  ★ primary", style="green") if e.primary else "")
    for p in d.phones:
        line("Phone  ", plain(p.value), "  ", plain(p.label or "", "dim"), Text("  ★ primary", style="green") if p.primary else "")
    line("")
    line(_heading("Addresses"))
    if not d.addresses:
        line(Text("no addresses", style="dim"))
    for a in d.addresses:
        parts = [a.line1, a.line2, a.city, a.region, a.postal_code, a.country]
        line(plain(", ".join(p for p in parts if p)), Text("  ★ primary", style="green") if a.primary else "")
    line("")
    line(_heading("Payment instruments"))
    if not d.instruments:
        line(Text("no payment instruments", style="dim"))
    for i in d.instruments:
        flags = [i.status]
        if i.primary:
            flags.append("primary")
        if i.allow_backup:
            flags.append("backup allowed")
        line(plain(i.label), Text(f"  {', '.join(flags)}", style="dim"))
    line("")
    line(_heading("Orders and subscriptions"))
    if not d.orders:
        line(Text("no orders", style="dim"))
    for o in d.orders:
        next_bill = f"  next bill {o.next_bill_date:%Y-%m-%d}" if o.next_bill_date else ""
        kind = "subscription" if o.kind == "subscription" else "one-time"
        line(
            f"{o.number}  {kind:<12} {o.status:<10} {format_amount(o.total, o.currency):>14}"
            f"  {o.created_at:%Y-%m-%d}{next_bill}"
        )
    return out


class CustomerProfileScreen(Screen):
    BINDINGS = [
        Binding("escape", "back", "Back"),
        Binding("1", "tab('overview')", "Overview"),
        Binding("2", "tab('transactions')", "Transactions"),
        Binding("3", "tab('timeline')", "Timeline"),
        Binding("r", "reload", "Reload", show=False),
    ]

    def __init__(self, customer_id: int) -> None:
        super().__init__()
        self.customer_id = customer_id
        self.detail: CustomerDetail | None = None

    def compose(self) -> ComposeResult:
        yield Static(Text("loading…", style="dim"), id="profile-header")
        with TabbedContent(id="profile-tabs", initial="overview"):
            with TabPane("Overview", id="overview"):
                with VerticalScroll(id="overview-scroll"):
                    yield Static(id="overview-body")
            with TabPane("Transactions", id="transactions"):
                yield DataTable(id="transactions-table", cursor_type="row", zebra_stripes=True)
            with TabPane("Timeline", id="timeline"):
                yield DataTable(id="timeline-table", cursor_type="row", zebra_stripes=True)
        yield Footer(compact=True)

    def on_mount(self) -> None:
        txns = self.query_one("#transactions-table", DataTable)
        for key, label, width in [
            ("id", "Txn", 8), ("date", "Date", 16), ("type", "Type", 7), ("status", "Status", 18),
            ("amount", "Amount", 14), ("settled", "Settled", 9), ("order", "Order", 12), ("parent", "Of", 8),
        ]:
            txns.add_column(label, key=key, width=width)
        events = self.query_one("#timeline-table", DataTable)
        for key, label, width in [("when", "When", 16), ("title", "Event", 26), ("actor", "By", 10), ("what", "Details", 40)]:
            events.add_column(label, key=key, width=width)
        self.load()

    @work(exclusive=True, group="profile")
    async def load(self) -> None:
        try:
            detail = await asyncio.to_thread(get_customer, self.app.store, self.app.actor, self.customer_id)
        except ServiceError as exc:
            self.query_one("#profile-header", Static).update(plain(str(exc), "red"))
            return
        self.show(detail)

    def show(self, d: CustomerDetail) -> None:
        self.detail = d
        header = Text(end="")
        header.append(plain(d.name or "(no name)", "bold"))
        header.append(Text("  ·  ", style="dim"))
        header.append(plain(d.external_id, "dim"))
        header.append(Text("\n"))
        header.append(
            Text(
                f"Lifetime value {format_amount(d.lifetime_value, d.currency)}  ·  "
                f"{d.payment_count} payment{'s' if d.payment_count != 1 else ''}  ·  "
                f"customer since {d.created_at:%Y-%m-%d}"
            )
        )
        self.query_one("#profile-header", Static).update(header)
        self.query_one("#overview-body", Static).update(overview_text(d))

        txns = self.query_one("#transactions-table", DataTable)
        txns.clear()
        for t in d.transactions:
            txns.add_row(
                Text(str(t.id)),
                Text(f"{t.created_at:%Y-%m-%d %H:%M}"),
                Text(t.type),
                Text(t.status.replace("_", " ")),
                Text(format_amount(t.amount, t.currency), justify="right"),
                Text("settled" if t.settled else "unsettled", style="" if t.settled else "yellow"),
                plain(t.order_number or ""),
                Text(str(t.parent_id) if t.parent_id else ""),
                key=str(t.id),
            )
        events = self.query_one("#timeline-table", DataTable)
        events.clear()
        for e in d.timeline:
            details = ", ".join(f"{k}: {v}" for k, v in e.attributes.items())
            events.add_row(
                Text(f"{e.occurred_at:%Y-%m-%d %H:%M}"),
                plain(e.title),
                plain(e.actor),
                plain(details),
                key=str(e.id),
            )

    def action_back(self) -> None:
        self.app.pop_screen()

    def action_tab(self, tab: str) -> None:
        self.query_one("#profile-tabs", TabbedContent).active = tab
        focus = {"transactions": "#transactions-table", "timeline": "#timeline-table", "overview": "#overview-scroll"}[tab]
        self.query_one(focus).focus()

    def action_reload(self) -> None:
        self.load()
