"""A customer's profile: overview (details, contacts, addresses, instruments, orders),
transactions newest first, and the timeline."""

from __future__ import annotations

import asyncio

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen, Screen
from textual.widgets import DataTable, Footer, Static, TabbedContent, TabPane

from agentdesk.domain.errors import ServiceError
from agentdesk.domain.money import format_amount
from agentdesk.domain.permissions import Action, allowed
from agentdesk.domain.text import visible
from agentdesk.services.customers.records import CustomerDetail, TransactionView, get_customer
from agentdesk.services.money import refunds
from agentdesk.ui.screens.timeline import OpenLinked, TimelinePanel, TimelineScreen
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


def _heading(title: str) -> Text:
    return Text(title, style="bold underline")


def overview_text(d: CustomerDetail) -> Text:
    """Everything on the overview tab as one Text; every customer value goes through `plain`."""
    out = Text(end="")

    def line(*parts: Text | str) -> None:
        for part in parts:
            out.append(part if isinstance(part, Text) else Text(part))
        out.append("\n")

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
    line(_heading("Tax IDs"))
    if not d.tax_ids:
        line(Text("no tax ids", style="dim"))
    for t in d.tax_ids:
        line(f"{t.type.upper():<6}", plain(t.value), Text("  ★ default", style="green") if t.default else "")
    if d.lead_source:
        line("")
        line(_heading("Lead source"))
        for key, value in d.lead_source.items():
            line(f"{key.replace('_', ' '):<14}", plain(value))
    if d.custom_fields:
        line("")
        line(_heading("Custom fields"))
        for key, value in d.custom_fields.items():
            line(plain(f"{key:<14}"), plain(value))
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
        Binding("1", "tab('overview')", "Overview", show=False),
        Binding("2", "tab('transactions')", "Transactions"),
        Binding("3", "tab('timeline')", "Timeline", show=False),
        Binding("4", "tab('kyc')", "KYC", show=False),
        Binding("K", "kyc", "KYC documents", show=False),
        Binding("D", "edd", "EDD", show=False),
        Binding("r", "refund", "Refund/void"),
        Binding("space", "mark", "Mark", show=False),
        Binding("R", "refund_marked", "Refund marked", show=False),
        Binding("O", "refund_order", "Refund order", show=False),
        Binding("E", "resend_email", "Resend email", show=False),
        Binding("dollar_sign", "collect", "Collect payment", show=False),
        Binding("P", "payout", "Payout", show=False),
        Binding("M", "credit_memo", "Credit memo", show=False),
        Binding("ctrl+r", "reload", "Reload", show=False),
        Binding("T", "full_timeline", "Full timeline", show=False),
        Binding("t", "tags", "Tags", show=False),
        Binding("e", "edit", "Edit", show=False),
        Binding("B", "block", "Block", show=False),
        Binding("U", "unblock", "Unblock", show=False),
        Binding("A", "anonymise", "Anonymise", show=False),
        Binding("I", "instruments", "Instruments", show=False),
        Binding("X", "tax_ids", "Tax IDs", show=False),
        Binding("L", "lead_source", "Lead source", show=False),
    ]

    def check_action(self, action: str, parameters: tuple) -> bool | None:
        if action in ("block", "unblock"):
            return allowed(self.app.actor, Action.BLOCKLIST)
        if action == "anonymise":
            return allowed(self.app.actor, Action.MERGE_ANONYMIZE)
        return True

    def __init__(self, customer_id: int) -> None:
        super().__init__()
        self.customer_id = customer_id
        self.detail: CustomerDetail | None = None
        self.marked: set[int] = set()

    def compose(self) -> ComposeResult:
        yield Static(Text("loading…", style="dim"), id="profile-header")
        with TabbedContent(id="profile-tabs", initial="overview"):
            with TabPane("Overview", id="overview"), VerticalScroll(id="overview-scroll"):
                yield Static(id="overview-body")
            with TabPane("Transactions", id="transactions"):
                yield DataTable(id="transactions-table", cursor_type="row", zebra_stripes=True)
            with TabPane("Timeline", id="timeline"):
                yield TimelinePanel(self.customer_id, id="timeline-panel")
            with TabPane("KYC", id="kyc"), VerticalScroll(id="kyc-scroll"):
                yield Static(id="kyc-body")
        yield Footer(compact=True)

    def on_mount(self) -> None:
        txns = self.query_one("#transactions-table", DataTable)
        for key, label, width in [
            ("id", "Txn", 8), ("date", "Date", 16), ("type", "Type", 7), ("status", "Status", 18),
            ("amount", "Amount", 14), ("settled", "Settled", 9), ("order", "Order", 12), ("parent", "Of", 8),
            ("note", "Note", 40), ("gateway", "Gateway", 8), ("instrument", "Instrument", 24),
        ]:
            txns.add_column(label, key=key, width=width)
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
        if d.blocked or d.block_reasons:
            header.append(Text("  BLOCKED ", style="bold white on red"))
        for tag in d.tags:
            header.append(" ")
            header.append(plain(f" {tag} ", "reverse"))
        header.append(Text("  "))
        header.append(sparkline(d.monthly_value))
        header.append(Text("\n"))
        header.append(
            Text(
                f"Lifetime value {format_amount(d.lifetime_value, d.currency)}  ·  "
                f"{d.payment_count} payment{'s' if d.payment_count != 1 else ''}  ·  "
                f"customer since {d.created_at:%Y-%m-%d}"
            )
        )
        for currency, credit in d.available_credit.items():
            header.append(Text(f"  ·  credit {format_amount(credit, currency)}", style="green"))
        self.query_one("#profile-header", Static).update(header)
        self.query_one("#overview-body", Static).update(overview_text(d))

        txns = self.query_one("#transactions-table", DataTable)
        cursor = txns.cursor_row
        txns.clear()
        for t in d.transactions:
            txns.add_row(
                Text(("✓" if t.id in self.marked else " ") + str(t.id)),
                Text(f"{t.created_at:%Y-%m-%d %H:%M}"),
                Text(t.type),
                Text(t.status.replace("_", " ")),
                Text(format_amount(t.amount, t.currency), justify="right"),
                Text("settled" if t.settled else "unsettled", style="" if t.settled else "yellow"),
                plain(t.order_number or ""),
                Text(str(t.parent_id) if t.parent_id else ""),
                plain(t.note or t.error or "", "yellow" if t.note else "red"),
                plain(t.gateway),
                plain(t.instrument or ""),
                key=str(t.id),
            )
        if d.transactions:
            txns.move_cursor(row=min(cursor, len(d.transactions) - 1))
        self.query_one(TimelinePanel).reload()
        self.load_compliance()

    @work(exclusive=True, group="compliance")
    async def load_compliance(self) -> None:
        from agentdesk.services.risk import compliance
        from agentdesk.ui.dialogs.compliance import compliance_text

        try:
            self.compliance = await asyncio.to_thread(compliance.compliance, self.app.store, self.app.actor,
                                                      self.customer_id)
        except ServiceError as exc:
            self.query_one("#kyc-body", Static).update(plain(str(exc), "red"))
            return
        self.query_one("#kyc-body", Static).update(compliance_text(self.compliance))

    def action_kyc(self) -> None:
        from agentdesk.ui.dialogs.compliance import KycDialog

        if getattr(self, "compliance", None) is not None and self._allowed(Action.EDIT_CUSTOMERS, "manage KYC"):
            self.app.push_screen(KycDialog(self.customer_id, self.compliance.documents), self._reload_if_changed)

    def action_edd(self) -> None:
        from agentdesk.ui.dialogs.compliance import EddDialog

        if getattr(self, "compliance", None) is not None and self._allowed(Action.EDIT_CUSTOMERS, "change EDD"):
            self.app.push_screen(EddDialog(self.customer_id, self.compliance), self._reload_if_changed)

    def action_back(self) -> None:
        self.app.pop_screen()

    def action_edit(self) -> None:
        from agentdesk.ui.dialogs.customer_form import CustomerFormScreen

        if self.detail is not None and self._allowed(Action.EDIT_CUSTOMERS, "edit customers"):
            self.app.push_screen(CustomerFormScreen(self.detail), self._reload_if_changed)

    def action_instruments(self) -> None:
        from agentdesk.ui.dialogs.profile import InstrumentsDialog

        if self.detail is not None and self._allowed(Action.EDIT_CUSTOMERS, "change payment instruments"):
            self.app.push_screen(InstrumentsDialog(self.detail), self._reload_if_changed)

    def action_tax_ids(self) -> None:
        from agentdesk.ui.dialogs.profile import TaxIdsDialog

        if self.detail is not None and self._allowed(Action.EDIT_CUSTOMERS, "change tax ids"):
            self.app.push_screen(TaxIdsDialog(self.detail), self._reload_if_changed)

    def action_lead_source(self) -> None:
        from agentdesk.ui.dialogs.profile import LeadSourceDialog

        if self.detail is not None and self._allowed(Action.EDIT_CUSTOMERS, "edit the lead source"):
            self.app.push_screen(LeadSourceDialog(self.detail), self._reload_if_changed)

    def action_anonymise(self) -> None:
        from agentdesk.ui.dialogs.privacy import AnonymiseDialog

        if self.detail is not None and self._allowed(Action.MERGE_ANONYMIZE, "anonymise customers"):
            self.app.push_screen(AnonymiseDialog(self.detail.id, self.detail.external_id), self._reload_if_changed)

    def action_tags(self) -> None:
        from agentdesk.ui.dialogs.profile import TagsDialog

        if self.detail is not None and self._allowed(Action.EDIT_CUSTOMERS, "change tags"):
            self.app.push_screen(TagsDialog(self.detail.id, self.detail.tags), self._reload_if_changed)

    def action_block(self) -> None:
        from agentdesk.ui.dialogs.block import BlockDialog

        if self.detail is not None and self._allowed(Action.BLOCKLIST, "change blocklists"):
            self.app.push_screen(BlockDialog(self.detail), self._reload_if_changed)

    def action_unblock(self) -> None:
        from agentdesk.ui.dialogs.block import UnblockDialog

        if self.detail is not None and self._allowed(Action.BLOCKLIST, "change blocklists"):
            self.app.push_screen(UnblockDialog(self.detail.id), self._reload_if_changed)

    def action_full_timeline(self) -> None:
        if self.detail is not None:
            self.app.push_screen(TimelineScreen(self.customer_id, f"{self.detail.name} ({self.detail.external_id})"))

    @on(OpenLinked)
    def _open_linked(self, event: OpenLinked) -> None:
        if event.kind == "customer" and isinstance(event.ident, int):
            self.app.push_screen(CustomerProfileScreen(event.ident))
        elif event.kind == "transaction" and self.detail is not None:
            matches = [t for t in self.detail.transactions if t.id == event.ident]
            if matches:
                txn = matches[0]
                related = [t for t in self.detail.transactions if t.parent_id == txn.id or t.id == txn.parent_id]
                self.app.push_screen(TransactionDialog(txn, related))
            else:
                self.notify(f"Transaction {event.ident} belongs to another customer.", timeout=4)

    # --- money --------------------------------------------------------------------------------

    def _current_transaction(self):
        if self.detail is None or not self.detail.transactions:
            return None
        table = self.query_one("#transactions-table", DataTable)
        if self.query_one("#profile-tabs", TabbedContent).active != "transactions":
            self.notify("Open the transactions (2) and choose one first.", timeout=3)
            return None
        return self.detail.transactions[table.cursor_row]

    def _reload_if_changed(self, changed: bool | None) -> None:
        if changed:
            self.load()

    def _allowed(self, action: Action, what: str) -> bool:
        if not allowed(self.app.actor, action):
            self.notify(f"Your role may not {what}.", severity="warning", timeout=4)
            return False
        return True

    def action_refund(self) -> None:
        from agentdesk.ui.dialogs.money import RefundDialog

        txn = self._current_transaction()
        if txn is not None and self._allowed(Action.REFUND, "refund or void"):
            self.app.push_screen(RefundDialog(txn.id), self._reload_if_changed)

    def action_mark(self) -> None:
        txn = self._current_transaction()
        if txn is None:
            return
        self.marked.symmetric_difference_update({txn.id})
        self.show(self.detail)

    def action_refund_marked(self) -> None:
        if not self.marked:
            self.notify("Mark transactions with Space first.", timeout=3)
            return
        if self._allowed(Action.REFUND, "refund or void"):
            self.refund_marked(sorted(self.marked))

    @work(exclusive=True, group="bulk-refund")
    async def refund_marked(self, ids: list[int]) -> None:
        results = await asyncio.to_thread(refunds.refund_many, self.app.store, self.app.actor, self.app.settings, ids)
        self.marked.clear()
        lines = [r if isinstance(r, str) else r.message for r in results]
        self.notify("\n".join(visible(line) for line in lines), title="Refund marked", timeout=10, markup=False)
        self.load()

    def action_refund_order(self) -> None:
        txn = self._current_transaction()
        if txn is None:
            return
        if not txn.order_number:
            self.notify("This transaction belongs to no order.", timeout=3)
            return
        if self._allowed(Action.REFUND, "refund or void"):
            self.refund_whole_order(txn.order_number)

    @work(exclusive=True, group="order-refund")
    async def refund_whole_order(self, number: str) -> None:
        try:
            results = await asyncio.to_thread(refunds.refund_order, self.app.store, self.app.actor, self.app.settings, number)
        except ServiceError as exc:
            self.notify(visible(str(exc)), severity="error", markup=False)
            return
        lines = [r if isinstance(r, str) else r.message for r in results]
        self.notify("\n".join(visible(line) for line in lines), title=f"Order {visible(number)}", timeout=10, markup=False)
        self.load()

    def action_resend_email(self) -> None:
        txn = self._current_transaction()
        if txn is not None:
            self.resend(txn.id)

    @work(exclusive=True, group="resend")
    async def resend(self, txn_id: int) -> None:
        try:
            to = await asyncio.to_thread(refunds.resend_confirmation, self.app.store, self.app.actor, txn_id)
        except ServiceError as exc:
            self.notify(visible(str(exc)), severity="warning", markup=False)
            return
        self.notify(f"Confirmation queued to {visible(to)}", markup=False)

    def action_collect(self) -> None:
        from agentdesk.ui.dialogs.money import CollectPaymentDialog

        if self.detail and self._allowed(Action.BILLING, "collect payments"):
            self.app.push_screen(CollectPaymentDialog(self.detail.id, self.detail.currency), self._reload_if_changed)

    def action_payout(self) -> None:
        from agentdesk.ui.dialogs.money import PayoutDialog

        if self.detail and self._allowed(Action.PAYOUT, "send payouts"):
            self.app.push_screen(PayoutDialog(self.detail.id, self.detail.currency), self._reload_if_changed)

    def action_credit_memo(self) -> None:
        from agentdesk.ui.dialogs.money import CreditMemoDialog

        if self.detail and self._allowed(Action.BILLING, "create credit memos"):
            self.app.push_screen(CreditMemoDialog(self.detail.id, self.detail.currency), self._reload_if_changed)

    @on(DataTable.RowSelected, "#transactions-table")
    def _open_transaction(self, event: DataTable.RowSelected) -> None:
        if self.detail is None:
            return
        txn = self.detail.transactions[event.cursor_row]
        related = [t for t in self.detail.transactions if t.parent_id == txn.id or t.id == txn.parent_id]
        self.app.push_screen(TransactionDialog(txn, related))

    def action_tab(self, tab: str) -> None:
        self.query_one("#profile-tabs", TabbedContent).active = tab
        if tab == "timeline":
            self.query_one(TimelinePanel).focus_table()
            return
        focus = {"transactions": "#transactions-table", "overview": "#overview-scroll", "kyc": "#kyc-scroll"}[tab]
        self.query_one(focus).focus()

    def action_reload(self) -> None:
        self.load()


class TransactionDialog(ModalScreen[None]):
    """One transaction: every field, and the refunds and voids made against it."""

    BINDINGS = [Binding("escape,enter", "dismiss", "Close")]

    def __init__(self, txn: TransactionView, related: list[TransactionView]) -> None:
        super().__init__()
        self.txn = txn
        self.related = related

    def compose(self) -> ComposeResult:
        t = self.txn
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
        if self.related:
            out.append("\nHistory\n", style="bold underline")
            for r in sorted(self.related, key=lambda r: r.created_at):
                role = "original" if r.id == t.parent_id else r.type
                out.append(f"{r.created_at:%Y-%m-%d %H:%M}  {role:<8} #{r.id}  {r.status.replace('_', ' '):<18} "
                           f"{format_amount(r.amount, r.currency)}")
                if r.note or r.error:
                    out.append("  ")
                    out.append(plain(r.note or r.error, "yellow"))
                out.append("\n")
        out.append("\nr refund/void · E resend the confirmation email · Esc close", style="dim")
        with VerticalScroll(classes="dialog"):
            yield Static(out)
