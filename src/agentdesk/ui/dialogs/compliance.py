"""KYC, AML and EDD on the profile: the tab's text, and the documents and EDD dialogs."""

from __future__ import annotations

import asyncio

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Grid, Vertical
from textual.screen import ModalScreen
from textual.widgets import Checkbox, Input, Label, OptionList, Static
from textual.widgets.option_list import Option

from agentdesk.domain.errors import ServiceError
from agentdesk.domain.text import visible
from agentdesk.services.risk import compliance
from agentdesk.ui.base import desk_work
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


class KycDialog(ModalScreen[bool]):
    BINDINGS = [Binding("escape", "close", "Close"), Binding("a", "review('accepted')", "Accept"),
                Binding("r", "review('rejected')", "Reject"), Binding("u", "upload", "Upload"),
                Binding("s", "save_copy", "Save a copy")]

    def __init__(self, customer_id: int, documents: list) -> None:
        super().__init__()
        self.customer_id = customer_id
        self.documents = documents
        self.changed = False

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Static(Text("KYC documents · a accept · r reject · u upload · s save a copy · Esc close", style="bold"))
            yield OptionList(id="kyc-list")
            with Grid(id="kyc-upload"):
                yield Label("Kind")
                yield Input(placeholder=", ".join(compliance.DOCUMENT_KINDS), id="kyc-kind", compact=True)
                yield Label("File")
                yield Input(placeholder="path of the scan", id="kyc-path", compact=True)
            yield Static(id="kyc-status")

    def on_mount(self) -> None:
        self.query_one("#kyc-upload").display = False
        self._show()

    def _show(self) -> None:
        options = self.query_one(OptionList)
        options.clear_options()
        for d in self.documents:
            options.add_option(Option(Text(f"{d.kind:<17} {d.status:<9} {visible(d.name)}")))
        if self.documents:
            options.highlighted = 0
        options.focus()

    @desk_work(group="kyc")
    async def run(self, call, *args) -> None:
        app = self.app
        try:
            await asyncio.to_thread(call, *args)
            view = await asyncio.to_thread(compliance.compliance, app.store, app.actor, self.customer_id)
        except ServiceError as exc:
            self.query_one("#kyc-status", Static).update(Text(visible(str(exc)), style="red"))
            return
        self.documents = view.documents
        self.changed = True
        self.query_one("#kyc-upload").display = False
        self.query_one("#kyc-status", Static).update(Text("Saved", style="green"))
        self._show()

    def action_review(self, status: str) -> None:
        index = self.query_one(OptionList).highlighted
        if self.query_one("#kyc-upload").display or index is None or not self.documents:
            return
        self.run(compliance.review_document, self.app.store, self.app.actor, self.documents[index].id, status)

    def action_save_copy(self) -> None:
        from agentdesk.ui.screens.timeline import SaveAttachmentDialog

        index = self.query_one(OptionList).highlighted
        if self.query_one("#kyc-upload").display or index is None or not self.documents:
            return
        document = self.documents[index]
        self.app.push_screen(SaveAttachmentDialog(document.attachment_id, document.name))

    def action_upload(self) -> None:
        self.query_one("#kyc-upload").display = True
        self.query_one("#kyc-kind", Input).focus()

    @on(Input.Submitted)
    def _submitted(self, event: Input.Submitted) -> None:
        if event.input.id == "kyc-kind":
            self.query_one("#kyc-path", Input).focus()
            return
        app = self.app
        self.run(compliance.upload_document, app.store, app.actor, app.settings, self.customer_id,
                 self.query_one("#kyc-kind", Input).value, self.query_one("#kyc-path", Input).value.strip())

    def action_close(self) -> None:
        if self.query_one("#kyc-upload").display:
            self.query_one("#kyc-upload").display = False
            self.query_one(OptionList).focus()
            return
        self.dismiss(self.changed)


class EddDialog(ModalScreen[bool]):
    BINDINGS = [Binding("escape", "cancel", "Cancel"), Binding("ctrl+s", "save", "Save")]

    def __init__(self, customer_id: int, view: compliance.Compliance) -> None:
        super().__init__()
        self.customer_id = customer_id
        self.view = view

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Static(Text("Enhanced due diligence · likelihood: none, low, medium, high · Ctrl+S save", style="bold"))
            yield Checkbox("EDD required", self.view.edd_required, id="edd-required", compact=True)
            with Grid(id="edd-grid"):
                for factor in compliance.FACTORS:
                    yield Label(factor.replace("_", " "))
                    yield Input(self.view.scores.get(factor, ""), placeholder="none", id=f"edd-{factor}", compact=True)
            yield Static(id="edd-status")

    @desk_work(group="edd")
    async def action_save(self) -> None:
        app = self.app
        scores = {f: self.query_one(f"#edd-{f}", Input).value.strip() or "none" for f in compliance.FACTORS}
        try:
            await asyncio.to_thread(compliance.set_edd, app.store, app.actor, self.customer_id,
                                    self.query_one("#edd-required", Checkbox).value, scores)
        except ServiceError as exc:
            self.query_one("#edd-status", Static).update(Text(visible(str(exc)), style="red"))
            return
        self.dismiss(True)

    def action_cancel(self) -> None:
        self.dismiss(False)
