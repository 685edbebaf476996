"""One transaction: every field, its dispute (chargeback) if the customer's bank opened one, and the refunds
and voids made against it."""

from __future__ import annotations

from typing import ClassVar, Literal

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.widgets import Static

from agentdesk.domain.formatting import format_utc
from agentdesk.domain.money import format_amount
from agentdesk.domain.permissions import Action
from agentdesk.services.customers.records import TransactionView
from agentdesk.services.money.disputes import DisputeView
from agentdesk.ui.base import DeskModal
from agentdesk.ui.widgets.plain_text import plain

TransactionChoice = Literal["refund", "resend"]


def dispute_text(d: DisputeView) -> Text:
    """One line: how the dispute stands, its amount, the bank's reason and when evidence is due."""
    out = Text()
    out.append("Disputed by the customer's bank: " if d.open else "Dispute ", style="bold red" if d.open else "bold")
    out.append(f"{d.words} · {format_amount(d.amount, d.currency)} · ")
    out.append(plain(d.reason.replace("_", " ")))
    if d.due_by is not None:
        out.append(f" · evidence due {format_utc(d.due_by)}", style="bold" if d.open else "")
    out.append("\n")
    return out


def transaction_text(t: TransactionView, related: list[TransactionView],
                     dispute: DisputeView | None = None) -> Text:
    out = Text()
    out.append(f"Transaction {t.id}\n", style="bold")
    out.append(f"{t.type} · {t.status.replace('_', ' ')} · {format_amount(t.amount, t.currency)} · "
               f"{'settled' if t.settled else 'not settled'}\n")
    out.append(f"created {t.created_at:%Y-%m-%d %H:%M} UTC · gateway {t.gateway}")
    if t.instrument:
        out.append(" · ")
        out.append(plain(t.instrument))
    out.append(plain(f" ({t.gateway_ref})" if t.gateway_ref else ""))
    out.append("\n")
    if t.order_number:
        out.append("order ")
        out.append(plain(t.order_number))
        out.append("\n")
    if t.error:
        out.append("gateway said: ")
        out.append(plain(t.error, "red"))
        out.append("\n")
    if t.note:
        out.append(plain(t.note, "yellow"))
        out.append("\n")
    if dispute is not None:
        out.append(dispute_text(dispute))
    if related:
        out.append("\nHistory\n", style="bold underline")
        for r in sorted(related, key=lambda r: r.created_at):
            role = "original" if r.id == t.parent_id else r.type
            out.append(f"{r.created_at:%Y-%m-%d %H:%M}  {role:<8} #{r.id}  {r.status.replace('_', ' '):<18} "
                       f"{format_amount(r.amount, r.currency)}")
            if r.note or r.error:
                out.append("  ")
                out.append(plain(r.note or r.error or "", "yellow"))
            out.append("\n")
    return out


class TransactionDialog(DeskModal[TransactionChoice | None]):
    """Read-only; r and E close it and ask the transactions pane to refund or resend."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,enter", "dismiss(None)", "Close", id="transaction.close"),
        Binding("r", "choose('refund')", "Refund/void", id="transaction.refund"),
        Binding("E", "choose('resend')", "Resend email", id="transaction.resend"),
    ]

    def __init__(self, txn: TransactionView, related: list[TransactionView],
                 dispute: DisputeView | None = None) -> None:
        super().__init__()
        self.txn = txn
        self.related = related
        self.dispute = dispute

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "choose" and parameters == ("refund",):
            return self.gate(Action.REFUND)
        return True

    def compose(self) -> ComposeResult:
        hint = "r refund/void · " if self.may(Action.REFUND) else ""
        with VerticalScroll(classes="dialog"):
            yield Static(transaction_text(self.txn, self.related, self.dispute))
            yield Static(Text(f"{hint}E resend the confirmation email · Esc close", style="dim"),
                         classes="dialog-footer dialog-hint")

    def action_choose(self, choice: TransactionChoice) -> None:
        self.dismiss(choice)
