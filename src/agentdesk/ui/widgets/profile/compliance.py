"""The KYC tab: documents, AML checks and EDD (K documents, D EDD); loads its own data."""

from __future__ import annotations

from typing import ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.widgets import Static

from agentdesk.domain.errors import ServiceError
from agentdesk.domain.permissions import Action
from agentdesk.services.risk import compliance
from agentdesk.ui.base import DeskWidget, desk_work
from agentdesk.ui.widgets.plain_text import plain
from agentdesk.ui.widgets.profile import ProfileChanged, changed


class CompliancePane(DeskWidget):
    DEFAULT_CSS = """
    CompliancePane { height: 1fr; }
    CompliancePane #kyc-scroll { height: 1fr; }
    """
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("K", "kyc", "KYC documents", id="profile.kyc"),
        Binding("D", "edd", "EDD", id="profile.edd"),
    ]

    def __init__(self, customer_id: int, **kwargs) -> None:
        super().__init__(**kwargs)
        self.customer_id = customer_id
        self.view: compliance.Compliance | None = None
        self.drawn: compliance.Compliance | None = None
        """What the body shows (None: a message instead), so reading the same again redraws nothing."""

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="kyc-scroll"):
            yield Static(Text("loading…", style="dim"), id="kyc-body")

    def on_mount(self) -> None:
        self.reload()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action in ("kyc", "edd"):
            return self.gate(Action.EDIT_CUSTOMERS)
        return True

    def focus_body(self) -> None:
        self.query_one("#kyc-scroll").focus()

    @desk_work(group="compliance")
    async def reload(self) -> None:
        from agentdesk.ui.dialogs.compliance import compliance_text

        body = self.query_one("#kyc-body", Static)
        try:
            view = await self.call(compliance.compliance, self.customer_id)
        except ServiceError as exc:
            self.drawn = None
            body.update(plain(str(exc), "red"))
            return
        if view != self.drawn:
            body.update(compliance_text(view))
        self.view = self.drawn = view

    def _after_dialog(self, result: object) -> None:
        if changed(result):
            self.reload()
            self.post_message(ProfileChanged(detail=False))

    def action_kyc(self) -> None:
        from agentdesk.ui.dialogs.compliance import KycDialog

        if not self.refuse(Action.EDIT_CUSTOMERS):
            return
        if self.view is not None:
            self.app.push_screen(KycDialog(self.customer_id, self.view.documents), self._after_dialog)

    def action_edd(self) -> None:
        from agentdesk.ui.dialogs.compliance import EddDialog

        if not self.refuse(Action.EDIT_CUSTOMERS):
            return
        if self.view is not None:
            self.app.push_screen(EddDialog(self.customer_id, self.view), self._after_dialog)
