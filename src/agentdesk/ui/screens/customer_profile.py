"""A customer's profile: header, and tabs for the overview, transactions, timeline, KYC, invoices and orders.

The screen loads the customer once per profile load and hands the detail to the panes that show
it; each pane owns its keys (the footer, `?` and the palette show the focused pane's). The screen
keeps only what works everywhere on the profile: back, tabs, the customer's own records and the
admin actions. A pane that changed something posts `ProfileChanged`; the screen reloads only what
it names, and the timeline (every change is an event on it). When the customer changes elsewhere (live
refresh) every pane reads again; what did not change is not redrawn, cursors stay on their rows, and an
open dialog keeps what the agent typed (it holds its own copy of what it edits).
"""

from __future__ import annotations

from typing import ClassVar

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.widgets import Footer, TabbedContent, TabPane

from agentdesk.domain.errors import ServiceError
from agentdesk.domain.permissions import Action
from agentdesk.services.changes import Changes
from agentdesk.services.customers import records
from agentdesk.services.customers.records import CustomerDetail
from agentdesk.ui.base import DeskScreen, desk_work
from agentdesk.ui.dialogs.transaction import TransactionDialog
from agentdesk.ui.widgets.profile import ProfileChanged, changed
from agentdesk.ui.widgets.profile.compliance import CompliancePane
from agentdesk.ui.widgets.profile.header import ProfileHeader
from agentdesk.ui.widgets.profile.invoices import InvoicesPane
from agentdesk.ui.widgets.profile.links_pane import LinksPane
from agentdesk.ui.widgets.profile.orders import OrdersPane
from agentdesk.ui.widgets.profile.overview import OverviewPane
from agentdesk.ui.widgets.profile.timeline import OpenLinked, TimelinePanel
from agentdesk.ui.widgets.profile.transactions import TransactionsPane

__all__ = ["CustomerProfileScreen", "TransactionDialog"]

GATES = {
    "edit": Action.EDIT_CUSTOMERS,
    "note": Action.EDIT_CUSTOMERS,
    "tags": Action.EDIT_CUSTOMERS,
    "instruments": Action.EDIT_CUSTOMERS,
    "tax_ids": Action.EDIT_CUSTOMERS,
    "lead_source": Action.EDIT_CUSTOMERS,
    "block": Action.BLOCKLIST,
    "unblock": Action.BLOCKLIST,
    "anonymise": Action.MERGE_ANONYMIZE,
    "new_order": Action.CREATE_ORDERS,
    "send_link": Action.REQUEST_LINKS,
}


class CustomerProfileScreen(DeskScreen):
    ROLE_GATES: ClassVar[dict[str, Action]] = GATES
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "back", "Back", id="profile.back"),
        Binding("1", "tab('overview')", "Overview", show=False, id="profile.tab.overview"),
        Binding("2", "tab('transactions')", "Transactions", id="profile.tab.transactions"),
        Binding("3", "tab('timeline')", "Timeline", id="profile.tab.timeline"),
        Binding("4", "tab('kyc')", "KYC", show=False, id="profile.tab.kyc"),
        Binding("5", "tab('invoices')", "Invoices", show=False, id="profile.tab.invoices"),
        Binding("6", "tab('orders')", "Orders", show=False, id="profile.tab.orders"),
        Binding("7", "tab('links')", "Links", show=False, id="profile.tab.links"),
        Binding("n", "note", "Note", id="profile.note"),
        Binding("o", "new_order", "New order", id="profile.new_order"),
        Binding("l", "send_link", "Link", id="profile.send_link"),
        Binding("e", "edit", "Edit", show=False, id="profile.edit"),
        Binding("t", "tags", "Tags", show=False, id="profile.tags"),
        Binding("I", "instruments", "Instruments", show=False, id="profile.instruments"),
        Binding("X", "tax_ids", "Tax IDs", show=False, id="profile.tax_ids"),
        Binding("L", "lead_source", "Lead source", show=False, id="profile.lead_source"),
        Binding("B", "block", "Block", show=False, id="profile.block"),
        Binding("U", "unblock", "Unblock", show=False, id="profile.unblock"),
        Binding("A", "anonymise", "Anonymise", show=False, id="profile.anonymise"),
        Binding("T", "full_timeline", "Full timeline", show=False, id="profile.full_timeline"),
        Binding("ctrl+r", "reload", "Reload", show=False, id="profile.reload"),
    ]

    def __init__(self, customer_id: int) -> None:
        super().__init__()
        self.customer_id = customer_id
        self.detail: CustomerDetail | None = None

    def compose(self) -> ComposeResult:
        yield ProfileHeader(id="profile-header")
        with TabbedContent(id="profile-tabs", initial="overview"):
            with TabPane("Overview", id="overview"):
                yield OverviewPane(id="overview-scroll")
            with TabPane("Transactions", id="transactions"):
                yield TransactionsPane(id="transactions-pane")
            with TabPane("Timeline", id="timeline"):
                yield TimelinePanel(self.customer_id, id="timeline-panel")
            with TabPane("KYC", id="kyc"):
                yield CompliancePane(self.customer_id, id="kyc-pane")
            with TabPane("Invoices", id="invoices"):
                yield InvoicesPane(self.customer_id, id="invoices-pane")
            with TabPane("Orders", id="orders"):
                yield OrdersPane(self.customer_id, id="orders-pane")
            with TabPane("Links", id="links"):
                yield LinksPane(self.customer_id, id="links-pane")
        yield Footer(compact=True)

    def on_mount(self) -> None:
        self.query_one(OverviewPane).focus()
        self.load()

    # --- loading --------------------------------------------------------------------------------

    @desk_work(group="profile")
    async def load(self) -> None:
        """The customer (one `get_customer`) for the header, overview and transactions."""
        try:
            detail = await self.call(records.get_customer, self.customer_id, timeline_limit=0)
        except ServiceError as exc:
            self.query_one(ProfileHeader).show_error(str(exc))
            return
        self.show(detail)

    def show(self, detail: CustomerDetail) -> None:
        """The customer as read: panes whose part is as it was are not redrawn (their cursors stay)."""
        unchanged = detail == self.detail
        self.detail = detail
        self.query_one(ProfileHeader).show(detail)
        if not unchanged:
            self.query_one(OverviewPane).show(detail)
            self.query_one(TransactionsPane).show(detail)

    def reload_all(self) -> None:
        self.load()
        self.query_one(InvoicesPane).reload()
        self.query_one(OrdersPane).reload()
        self.query_one(LinksPane).reload()
        self.query_one(CompliancePane).reload()
        self.query_one(TimelinePanel).reload()

    def customers_changed(self, changes: Changes) -> None:
        if not changes.touches(self.customer_id):
            return
        self.load()
        self.query_one(InvoicesPane).reload()
        self.query_one(OrdersPane).reload()
        self.query_one(LinksPane).reload()
        self.query_one(CompliancePane).reload()
        self.query_one(TimelinePanel).refresh_newest()

    @on(ProfileChanged)
    def _changed(self, event: ProfileChanged) -> None:
        event.stop()
        if event.detail:
            self.load()
            self.query_one(InvoicesPane).reload()
            self.query_one(OrdersPane).reload()
        if event.compliance:
            self.query_one(CompliancePane).reload()
        self.query_one(TimelinePanel).reload()

    def _after_dialog(self, result: object) -> None:
        if changed(result):
            self.post_message(ProfileChanged())

    def _after_anonymise(self, result: object) -> None:
        if changed(result):
            self.reload_all()

    # --- navigation -----------------------------------------------------------------------------

    def action_back(self) -> None:
        self.app.pop_screen()

    def action_tab(self, tab: str) -> None:
        self.query_one("#profile-tabs", TabbedContent).active = tab
        if tab == "overview":
            self.query_one(OverviewPane).focus()
        elif tab == "transactions":
            self.query_one(TransactionsPane).focus_table()
        elif tab == "timeline":
            self.query_one(TimelinePanel).focus_table()
        elif tab == "invoices":
            self.query_one(InvoicesPane).focus_table()
        elif tab == "orders":
            self.query_one(OrdersPane).focus_table()
        elif tab == "links":
            self.query_one(LinksPane).focus_table()
        else:
            self.query_one(CompliancePane).focus_body()

    def action_reload(self) -> None:
        self.reload_all()

    def action_full_timeline(self) -> None:
        from agentdesk.ui.screens.timeline import TimelineScreen

        if self.detail is not None:
            self.app.push_screen(TimelineScreen(self.customer_id, f"{self.detail.name} ({self.detail.external_id})"))

    @on(OpenLinked)
    def _open_linked(self, event: OpenLinked) -> None:
        event.stop()
        if event.kind == "customer" and isinstance(event.ident, int):
            self.app.push_screen(CustomerProfileScreen(event.ident))
        elif event.kind == "order" and isinstance(event.ident, str):
            from agentdesk.ui.screens.order import OrderScreen

            self.app.push_screen(OrderScreen(event.ident, self.customer_id))
        elif event.kind == "transaction" and not self.query_one(TransactionsPane).open_transaction(event.ident):
            self.app.notify(f"Transaction {event.ident} belongs to another customer.", timeout=4, markup=False)

    # --- the customer's own records -----------------------------------------------------------------

    def action_edit(self) -> None:
        from agentdesk.ui.dialogs.customer_form import CustomerFormScreen

        if not self.refuse(Action.EDIT_CUSTOMERS) or self.detail is None:
            return
        self.app.push_screen(CustomerFormScreen(self.detail), self._after_dialog)

    def action_note(self) -> None:
        """A note from any tab (the timeline tab's own n does the same there)."""
        from agentdesk.ui.dialogs.timeline import NoteDialog

        if not self.refuse(Action.EDIT_CUSTOMERS):
            return

        def noted(result: object) -> None:
            if changed(result):
                self.query_one(TimelinePanel).reload()

        self.app.push_screen(NoteDialog(self.customer_id), noted)

    def action_tags(self) -> None:
        from agentdesk.ui.dialogs.profile import TagsDialog

        if not self.refuse(Action.EDIT_CUSTOMERS) or self.detail is None:
            return
        self.app.push_screen(TagsDialog(self.detail.id, self.detail.tags), self._after_dialog)

    def action_instruments(self) -> None:
        from agentdesk.ui.dialogs.profile import InstrumentsDialog

        if not self.refuse(Action.EDIT_CUSTOMERS) or self.detail is None:
            return
        self.app.push_screen(InstrumentsDialog(self.detail), self._after_dialog)

    def action_tax_ids(self) -> None:
        from agentdesk.ui.dialogs.profile import TaxIdsDialog

        if not self.refuse(Action.EDIT_CUSTOMERS) or self.detail is None:
            return
        self.app.push_screen(TaxIdsDialog(self.detail), self._after_dialog)

    def action_lead_source(self) -> None:
        from agentdesk.ui.dialogs.profile import LeadSourceDialog

        if not self.refuse(Action.EDIT_CUSTOMERS) or self.detail is None:
            return
        self.app.push_screen(LeadSourceDialog(self.detail), self._after_dialog)

    def action_new_order(self) -> None:
        """The order builder for this customer; the profile reloads when an order was created."""
        from agentdesk.ui.screens.order_builder import OrderBuilderScreen

        if not self.refuse(Action.CREATE_ORDERS) or self.detail is None:
            return
        self.app.push_screen(OrderBuilderScreen(self.detail), self._after_dialog)

    def action_send_link(self) -> None:
        """The "send a link" form; the queued link then opens in its own dialog, live while it generates."""
        from agentdesk.ui.dialogs.link_dialogs import LinkDialog, SendLinkDialog

        if not self.refuse(Action.REQUEST_LINKS):
            return

        def sent(info: object) -> None:
            if info is None:
                return
            self.query_one(LinksPane).reload()
            self.query_one(TimelinePanel).reload()
            self.app.push_screen(LinkDialog(info), lambda _: self.query_one(LinksPane).reload())  # type: ignore[arg-type]

        self.app.push_screen(SendLinkDialog(self.customer_id), sent)

    def palette_title(self, action: str, description: str) -> str:
        """The palette names the customer for a new order ("New order for Ada Lovelace")."""
        if action == "new_order" and self.detail is not None:
            return f"New order for {self.detail.name}"
        return description

    # --- admin ------------------------------------------------------------------------------------

    def action_block(self) -> None:
        from agentdesk.ui.dialogs.block import BlockDialog

        if not self.refuse(Action.BLOCKLIST) or self.detail is None:
            return
        self.app.push_screen(BlockDialog(self.detail), self._after_dialog)

    def action_unblock(self) -> None:
        from agentdesk.ui.dialogs.block import UnblockDialog

        if not self.refuse(Action.BLOCKLIST) or self.detail is None:
            return
        self.app.push_screen(UnblockDialog(self.detail.id), self._after_dialog)

    def action_anonymise(self) -> None:
        from agentdesk.ui.dialogs.privacy import AnonymiseDialog

        if not self.refuse(Action.MERGE_ANONYMIZE) or self.detail is None:
            return
        self.app.push_screen(AnonymiseDialog(self.detail.id, self.detail.external_id), self._after_anonymise)
