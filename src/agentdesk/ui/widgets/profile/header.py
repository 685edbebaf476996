"""The profile's top lines: name, id, BLOCKED badge, tags, sparkline, lifetime value and credit."""

from __future__ import annotations

from rich.text import Text
from textual.widgets import Static

from agentdesk.domain.money import format_amount
from agentdesk.services.customers.records import CustomerDetail
from agentdesk.ui.widgets.plain_text import plain

BARS = "▁▂▃▄▅▆▇█"


def sparkline(values: list[int]) -> Text:
    """Monthly value as bars; a month with refunds beyond sales shows in red."""
    top = max((abs(v) for v in values), default=0)
    out = Text()
    for v in values:
        if top == 0 or v == 0:
            out.append("·", style="dim")
        else:
            out.append(BARS[min(len(BARS) - 1, abs(v) * (len(BARS) - 1) // top)], style="red" if v < 0 else "green")
    return out


def header_text(d: CustomerDetail) -> Text:
    out = Text(end="")
    out.append(plain(d.name or "(no name)", "bold"))
    out.append(Text("  ·  ", style="dim"))
    out.append(plain(d.external_id, "dim"))
    if d.blocked or d.block_reasons:
        out.append(Text("  BLOCKED ", style="bold white on red"))
    for tag in d.tags:
        out.append(" ")
        out.append(plain(f" {tag} ", "reverse"))
    out.append(Text("  "))
    out.append(sparkline(d.monthly_value))
    out.append(Text("\n"))
    out.append(
        Text(
            f"Lifetime value {format_amount(d.lifetime_value, d.currency)}  ·  "
            f"{d.payment_count} payment{'s' if d.payment_count != 1 else ''}  ·  "
            f"customer since {d.created_at:%Y-%m-%d}"
        )
    )
    for currency, credit in d.available_credit.items():
        out.append(Text(f"  ·  credit {format_amount(credit, currency)}", style="green"))
    return out


class ProfileHeader(Static):
    """Two lines above the tabs; shows the loading problem in their place when there is one."""

    DEFAULT_CSS = "ProfileHeader { height: 2; padding: 0 1; background: $boost; }"

    def __init__(self, **kwargs) -> None:
        super().__init__(Text("loading…", style="dim"), **kwargs)

    def show(self, detail: CustomerDetail) -> None:
        self.update(header_text(detail))

    def show_error(self, message: str) -> None:
        self.update(plain(message, "red"))
