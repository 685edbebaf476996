"""What the order screen shows, as Rich text and table cells: every stored text goes through `plain`."""

from __future__ import annotations

from datetime import date

from rich.text import Text

from agentdesk.domain.enums import OrderStatus
from agentdesk.domain.money import format_amount
from agentdesk.services.orders.entitlements import Entitlement
from agentdesk.services.orders.fulfillments import FulfillmentInfo
from agentdesk.services.orders.read import OrderDetail
from agentdesk.services.orders.standing import OrderStanding
from agentdesk.services.orders.subscriptions import ScheduledInfo
from agentdesk.services.timeline.record import TimelineEntry
from agentdesk.ui.widgets.plain_text import plain
from agentdesk.ui.widgets.profile.invoices import period_text, status_text
from agentdesk.ui.widgets.profile.timeline import summary as event_summary

STATUS_STYLE = {OrderStatus.PENDING: "yellow", OrderStatus.ACTIVE: "green", OrderStatus.PAUSED: "magenta",
                OrderStatus.ABANDONED: "dim", OrderStatus.CANCELLED: "dim", OrderStatus.COMPLETED: "cyan"}


def order_status(status: str) -> Text:
    return Text(status, style=STATUS_STYLE.get(OrderStatus(status), ""))


def _day(value: date | None) -> str:
    return f"{value:%Y-%m-%d}" if value is not None else "—"


def change_text(change: ScheduledInfo) -> Text:
    """"2027-02-01 downgrade to Basic (size M)" as the service words it; stored names shown literally."""
    out = Text(f"{change.run_on:%Y-%m-%d} ", style="yellow")
    out.append(plain(change.summary, "bold yellow"))
    return out


def header_text(d: OrderDetail) -> Text:
    out = Text()
    out.append(plain(d.number, "bold"))
    out.append("  ")
    out.append(order_status(d.summary.status))
    out.append(f"  {'subscription' if d.summary.kind == 'subscription' else 'one-time'}  · ")
    out.append(plain(d.customer_name))
    out.append(" (")
    out.append(plain(d.customer))
    out.append(")")
    return out


def summary_text(d: OrderDetail, s: OrderStanding | None, access: list[Entitlement] | None = None,
                 changes: list[ScheduledInfo] | None = None) -> Text:
    """Items, periods, scheduled changes, access granted, payment set-up, coupons and commission."""
    cur = d.summary.currency
    out = Text(end="")

    def line(*parts: Text | str) -> None:
        for part in parts:
            out.append(part if isinstance(part, Text) else Text(part))
        out.append("\n")

    def heading(title: str) -> None:
        line(Text(title, style="bold underline"))

    heading("Items")
    for item in d.items:
        line(plain(item.name, "bold"), Text(f"  [{item.plan_code}]", style="dim"))
        price = f"  {item.quantity} × {format_amount(item.unit_price, cur)} = {format_amount(item.amount, cur)}"
        line(price, Text(f"  {item.recurrence}", style="dim"))
        extras = []
        if item.trial_days:
            extras.append(f"trial {item.trial_days} days at {format_amount(item.trial_price, cur)}")
        if item.setup_fee:
            extras.append(f"setup fee {format_amount(item.setup_fee, cur)}")
        if item.billing_timing == "arrears":
            extras.append("billed in arrears")
        if extras:
            line(Text("  " + " · ".join(extras), style="dim"))
        if item.options:
            line("  options: ", plain(", ".join(f"{k} {v}" for k, v in item.options.items())))
        if item.customised:
            line(Text("  customised: " + ", ".join(item.customised), style="dim"))
    if d.shipping_amount:
        line(f"Shipping {format_amount(d.shipping_amount, cur)}", f" to {d.shipping_country}" if d.shipping_country
             else "")

    line("")
    heading("Periods")
    if d.period_start or d.period_end:
        line(f"Current period {_day(d.period_start)} → {_day(d.period_end)}   cycles billed {d.cycles_billed}")
    if d.starts_on:
        line(f"Starts on      {_day(d.starts_on)}")
    if d.trial_ends_on:
        line(f"Trial ends     {_day(d.trial_ends_on)}")
    billing = d.summary.status in (OrderStatus.ACTIVE, OrderStatus.PENDING, OrderStatus.PAUSED)
    if d.summary.next_bill_date and billing:
        line(Text(f"Next bill date {_day(d.summary.next_bill_date)}", style="bold"))
    if s is not None:
        if s.paused_from:
            until = f"until {_day(s.paused_until)}" if s.paused_until else "until resumed"
            line(Text(f"Paused from    {_day(s.paused_from)} {until}", style="magenta"))
        if s.cancel_at_period_end:
            line(Text(f"Cancels at the end of the period ({_day(d.period_end)})", style="bold yellow"))
        if changes:
            line(Text("Scheduled changes", style="bold"))
            for change in changes:
                line("  ", change_text(change))
        elif billing:
            line(Text("No scheduled changes", style="dim"))

    if access:
        line("")
        heading("Access granted")
        for grant in access:
            line(plain(grant.product, "bold"), ": ", plain(", ".join(grant.access)))

    line("")
    heading("Payment")
    line("Autopay ", "on" if d.summary.autopay else Text("off: invoices are sent and wait", style="yellow"),
         "  · instrument ", plain(d.instrument or "none"))
    if d.summary.in_credit_control:
        line(Text("In credit control: a payment failed and is being retried", style="bold red"))
    line(f"Website {d.website}", "  · created by ", plain(d.agent or "System"),
         f" on {d.summary.created_at:%Y-%m-%d}")
    if d.coupons:
        line("")
        heading("Coupons")
        for c in d.coupons:
            state = "ended" if c.ended else "open"
            line(plain(c.code, "cyan"), f"  {c.scope}  applied {c.cycles_applied}×  {state}")
    if d.commissions:
        line("")
        heading("Affiliate commission")
        for commission in d.commissions:
            line(plain(commission.summary))
    if d.notes:
        line("")
        heading("Invoice notes")
        for note in d.notes.split("\n"):
            line(plain(note))
    return out


def invoice_cells(d: OrderDetail) -> list[list[Text]]:
    return [[plain(i.number, "bold"), status_text(i.status), Text(str(i.cycle or "")),
             Text(format_amount(i.total, i.currency), justify="right"),
             Text(format_amount(i.amount_paid, i.currency), justify="right"), Text(f"{i.due_at:%Y-%m-%d}"),
             Text(period_text(i.period_start, i.period_end))] for i in reversed(d.invoices)]


def payment_cells(d: OrderDetail) -> list[list[Text]]:
    return [[Text(str(t.id)), Text(f"{t.created_at:%Y-%m-%d %H:%M}"), Text(t.type), Text(t.status.replace("_", " ")),
             Text(format_amount(t.amount, t.currency), justify="right"), plain(t.invoice or ""),
             plain(t.message or "", "dim")] for t in reversed(d.transactions)]


def fulfillment_cells(found: list[FulfillmentInfo]) -> list[list[Text]]:
    rows = []
    for f in found:
        what = plain(f.summary)
        if f.reship_of:
            what.append(f" (reship of {f.reship_of})", style="dim")
        rows.append([Text(str(f.id)), Text(f.status), what, plain(f.carrier or ""), plain(f.tracking_number or ""),
                     plain(f.reason or "", "dim"), Text(f"{f.created_at:%Y-%m-%d}")])
    return rows


def event_cells(events: list[TimelineEntry]) -> list[list[Text]]:
    return [[Text(f"{e.occurred_at:%Y-%m-%d %H:%M}"), plain(e.title), plain(e.actor), plain(event_summary(e))]
            for e in events]
