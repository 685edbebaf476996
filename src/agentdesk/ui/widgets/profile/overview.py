"""The overview tab: details, orders, contacts, addresses, instruments, tax ids, lead source, custom fields.

Orders come right after the details so they are on the first screen at 80x24; the rest scrolls with
↓, PgDn and End (the pane has the focus when the profile opens). Enter opens the order (with several,
the Orders tab to choose one)."""

from __future__ import annotations

from typing import ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.widgets import Static

from agentdesk.domain.enums import OrderStatus, OrderStatusSets
from agentdesk.domain.money import format_amount
from agentdesk.services.customers.records import CustomerDetail
from agentdesk.ui.widgets.plain_text import plain

_ORDER_STYLE = {OrderStatus.PENDING: "yellow", OrderStatus.ACTIVE: "green", OrderStatus.ABANDONED: "dim",
                OrderStatus.CANCELLED: "dim", OrderStatus.COMPLETED: "cyan"}


def _heading(title: str) -> Text:
    return Text(title, style="bold underline")


def _primary(flag: bool, word: str = "primary") -> Text | str:
    return Text(f"  ★ {word}", style="green") if flag else ""


def overview_text(d: CustomerDetail) -> Text:
    """Everything on the overview tab as one Text; every customer value goes through `plain`."""
    out = Text(end="")

    def line(*parts: Text | str) -> None:
        for part in parts:
            out.append(part if isinstance(part, Text) else Text(part))
        out.append("\n")

    def section(title: str, empty: str | None, present: bool) -> None:
        line("")
        line(_heading(title))
        if empty and not present:
            line(Text(empty, style="dim"))

    if d.block_reasons:
        line(Text("Blocked", style="bold red"))
        for reason in d.block_reasons:
            line("  ", plain(reason, "red"))
        line("")
    line(_heading("Details"))
    line("ID            ", plain(d.external_id), "   website ", plain(d.website))
    if d.organization:
        line("Organization  ", plain(d.organization))
    if d.job_title:
        line("Job title     ", plain(d.job_title))
    if d.date_of_birth:
        line(f"Date of birth {d.date_of_birth:%Y-%m-%d}")
    line(f"Customer since {d.created_at:%Y-%m-%d}   updated {d.updated_at:%Y-%m-%d %H:%M}")

    section("Orders and subscriptions", "no orders", bool(d.orders))
    if d.orders:
        line(Text("Enter open the order" if len(d.orders) == 1 else "Enter choose an order (Orders tab, 6)",
                  style="dim"))
    for o in d.orders:
        kind = "subscription" if o.kind == "subscription" else "one-time"
        billing = o.next_bill_date is not None and o.status in OrderStatusSets.OPEN
        when = f"next bill {o.next_bill_date:%Y-%m-%d}" if billing else f"since {o.created_at:%Y-%m-%d}"
        line(plain(o.number, "bold"), f"  {kind}  ", Text(o.status, style=_ORDER_STYLE.get(o.status, "")),
             f"  {format_amount(o.total, o.currency)}  {when}")
        if o.in_credit_control:
            line(Text("  in credit control: a payment failed and is being retried", style="bold red"))

    section("Contacts", "no emails or phones", bool(d.emails or d.phones))
    for e in d.emails:
        line("Email  ", plain(e.value), _primary(e.primary))
    for p in d.phones:
        line("Phone  ", plain(p.value), "  ", plain(p.label or "", "dim"), _primary(p.primary))

    section("Addresses", "no addresses", bool(d.addresses))
    for a in d.addresses:
        parts = [a.line1, a.line2, a.city, a.region, a.postal_code, a.country]
        line(plain(", ".join(p for p in parts if p)), _primary(a.primary))

    section("Payment instruments", "no payment instruments", bool(d.instruments))
    for i in d.instruments:
        flags: list[str] = [i.status]
        if i.primary:
            flags.append("primary")
        if i.allow_backup:
            flags.append("backup allowed")
        line(plain(i.label), Text(f"  {', '.join(flags)}", style="dim"))

    section("Tax IDs", "no tax ids", bool(d.tax_ids))
    for t in d.tax_ids:
        line(f"{t.type.upper():<6}", plain(t.value), _primary(t.default, "default"))
    if d.lead_source:
        section("Lead source", None, True)
        for key, value in d.lead_source.items():
            line(f"{key.replace('_', ' '):<14}", plain(value))
    if d.custom_fields:
        section("Custom fields", None, True)
        for key, value in d.custom_fields.items():
            line(plain(f"{key:<14}"), plain(value))
    return out


class OverviewPane(VerticalScroll):
    """The overview text; focusable so the arrows and Page keys scroll it."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("enter", "open_order", "Open order", show=False, id="profile.overview.open_order"),
    ]
    detail: CustomerDetail | None = None

    def compose(self) -> ComposeResult:
        yield Static(Text("loading…", style="dim"), id="overview-body")

    def show(self, detail: CustomerDetail) -> None:
        self.detail = detail
        self.query_one("#overview-body", Static).update(overview_text(detail))

    async def action_open_order(self) -> None:
        """The customer's only order opens; with several, the Orders tab lists them to choose from."""
        from agentdesk.ui.screens.order import OrderScreen

        d = self.detail
        if d is None or not d.orders:
            self.app.notify("This customer has no orders.", timeout=3)
        elif len(d.orders) == 1:
            self.app.push_screen(OrderScreen(d.orders[0].number, d.id))
        else:
            await self.screen.run_action("tab('orders')")
