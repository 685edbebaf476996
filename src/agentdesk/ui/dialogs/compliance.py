"""KYC, AML and EDD on the profile: the tab's text, and the documents and EDD dialogs."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Grid
from textual.widgets import Checkbox, Input, Label, OptionList, Static
from textual.widgets.option_list import Option

from agentdesk.domain.permissions import Action
from agentdesk.domain.text import visible
from agentdesk.services.risk import compliance
from agentdesk.ui.base import ServiceDialog, field_row
from agentdesk.ui.widgets.plain_text import plain


def compliance_text(c: compliance.Compliance) -> Text:
    out = Text()
    out.append("KYC documents", style="bold underline")
    out.append("   K: upload, accept or reject\n", style="dim")
    if not c.documents:
        out.append("none yet\n", style="dim")
    for d in c.documents:
        style = {"accepted": "green", "rejected": "red"}.get(d.status, "yellow")
        out.append(f"{d.uploaded_at:%Y-%m-%d} {d.kind:<17} ")
        out.append(f"{d.status:<9}", style=style)
        out.append(plain(f" {d.name} ({d.size:,} bytes) by {d.uploaded_by or 'System'}"))
        out.append("\n")
    out.append("\nAML checks\n", style="bold underline")
    if not c.checks:
        out.append("none yet\n", style="dim")
    for a in c.checks:
        out.append(f"{a.checked_at:%Y-%m-%d %H:%M}  ")
        out.append(f"{a.result:<7}", style={"clear": "green", "match": "red"}.get(a.result, "yellow"))
        out.append(plain(f" {a.matches} match(es) · {a.source}"))
        out.append("\n")
    out.append("\nEnhanced due diligence", style="bold underline")
    out.append("   D: change\n", style="dim")
    out.append("required\n" if c.edd_required else "not required\n", style="bold red" if c.edd_required else "")
    for factor, likelihood in c.scores.items():
        out.append(f"  {factor:<14} {likelihood}\n")
    if c.next_search:
        out.append(f"next automated search {c.next_search:%Y-%m-%d}\n")
    return out


class KycDialog(ServiceDialog[bool]):
    """The customer's KYC documents: review the highlighted one, upload another, or save a copy."""

    DEFAULT_CSS = """
    #kyc-list { height: auto; max-height: 6; }
    #kyc-upload { grid-size: 2; grid-columns: 6 1fr; height: 2; }
    """
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("a", "review('accepted')", "Accept", id="kyc.accept"),
        Binding("r", "review('rejected')", "Reject", id="kyc.reject"),
        Binding("u", "upload", "Upload", id="kyc.upload"),
        Binding("s", "save_copy", "Save a copy", id="kyc.save_copy"),
    ]
    heading = "KYC documents"
    needs = Action.EDIT_CUSTOMERS
    gated_actions = frozenset({"review", "upload"})
    submit_hint = "a accept · r reject · u upload · s save a copy · Esc close"

    def __init__(self, customer_id: int, documents: list[compliance.DocumentView]) -> None:
        super().__init__()
        self.customer_id = customer_id
        self.documents = documents

    def fields(self) -> ComposeResult:
        yield OptionList(id="kyc-list")
        with Grid(id="kyc-upload"):
            yield Label("Kind")
            yield Input(placeholder=", ".join(compliance.DOCUMENT_KINDS), id="kyc-kind", compact=True)
            yield Label("File")
            yield Input(placeholder="path of the scan", id="kyc-path", compact=True)
        yield Static(id="error-kind", classes="field-error")

    def on_mount(self) -> None:
        self.query_one("#kyc-upload").display = False
        self._show()

    def _show(self) -> None:
        options = self.query_one(OptionList)
        options.clear_options()
        for d in self.documents:
            options.add_option(Option(Text(f"{visible(d.kind):<17} {visible(d.status):<9} {visible(d.name)}")))
        if self.documents:
            options.highlighted = 0
        options.focus()

    def change(self, service: Callable[..., Any], *args: Any) -> None:
        """Call `service(store, actor, *args)`, then read the documents again."""

        async def run() -> compliance.Compliance:
            await self.call(service, *args)
            return await self.call(compliance.compliance, self.customer_id)

        def done(view: compliance.Compliance) -> None:
            self.documents = view.documents
            self.result = True
            self.query_one("#kyc-upload").display = False
            self.note("Saved")
            self._show()

        self.attempt(run, done)

    def _highlighted(self) -> compliance.DocumentView | None:
        index = self.query_one(OptionList).highlighted
        if self.query_one("#kyc-upload").display or index is None or not self.documents:
            return None
        return self.documents[index]

    def action_review(self, status: str) -> None:
        if (document := self._highlighted()) is not None:
            self.change(compliance.review_document, document.id, status)

    def action_save_copy(self) -> None:
        from agentdesk.ui.screens.timeline import SaveAttachmentDialog

        if (document := self._highlighted()) is not None:
            self.app.push_screen(SaveAttachmentDialog(document.attachment_id, document.name))

    def action_upload(self) -> None:
        if not self.refuse(Action.EDIT_CUSTOMERS):
            return
        self.query_one("#kyc-upload").display = True
        self.query_one("#kyc-kind", Input).focus()

    @on(Input.Submitted)
    def _submitted(self, event: Input.Submitted) -> None:
        if event.input.id == "kyc-kind":
            self.query_one("#kyc-path", Input).focus()
            return
        self.change(compliance.upload_document, self.app.settings, self.customer_id,
                    self.query_one("#kyc-kind", Input).value, self.query_one("#kyc-path", Input).value.strip())

    def action_cancel(self) -> None:
        if self.query_one("#kyc-upload").display:
            self.query_one("#kyc-upload").display = False
            self.query_one(OptionList).focus()
            return
        super().action_cancel()


class EddDialog(ServiceDialog[compliance.Compliance]):
    """EDD required or not, and a likelihood per risk factor; dismisses with the saved view."""

    heading = "Enhanced due diligence · likelihood: none, low, medium, high"
    needs = Action.EDIT_CUSTOMERS

    def __init__(self, customer_id: int, view: compliance.Compliance) -> None:
        super().__init__()
        self.customer_id = customer_id
        self.view = view

    def fields(self) -> ComposeResult:
        yield Checkbox("EDD required", self.view.edd_required, id="edd-required", compact=True)
        for factor in compliance.FACTORS:
            yield from field_row(factor.replace("_", " "), Input(self.view.scores.get(factor, ""), placeholder="none",
                                                                 id=f"edd-{factor}", compact=True, max_length=10),
                                 factor)

    async def perform(self) -> compliance.Compliance:
        scores = {f: self.query_one(f"#edd-{f}", Input).value.strip() or "none" for f in compliance.FACTORS}
        return await self.call(compliance.set_edd, self.customer_id, self.query_one("#edd-required", Checkbox).value,
                               scores)
