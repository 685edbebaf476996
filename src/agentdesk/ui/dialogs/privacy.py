"""Admins' merge (from marked rows of the table) and anonymise (from the profile) dialogs."""

from __future__ import annotations

from collections.abc import Sequence

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.widgets import Input, OptionList, Static
from textual.widgets.option_list import Option

from agentdesk.domain.permissions import Action
from agentdesk.domain.text import visible
from agentdesk.services.customers.search import CustomerRow
from agentdesk.services.risk import privacy
from agentdesk.ui.base import ConfirmingDialog, ServiceDialog, form_field


class MergeDialog(ConfirmingDialog[privacy.MergePreview]):
    """Choose the customer to keep (↑/↓), read what moves and which fields win, Enter twice to merge."""

    DEFAULT_CSS = """
    #merge-keep { height: auto; max-height: 8; }
    """
    heading = "Merge duplicates · choose the customer to keep"
    needs = Action.MERGE_ANONYMIZE
    submit_hint = "Enter merge · Esc cancel"

    def __init__(self, rows: Sequence[CustomerRow]) -> None:
        super().__init__()
        self.rows = list(rows)

    def body(self) -> ComposeResult:
        yield OptionList(*[Option(Text(f"{visible(r.external_id):<14} {visible(r.name)}  {visible(r.email or '')}"))
                           for r in self.rows], id="merge-keep")
        yield Static(id="error-merge", classes="field-error")
        yield from super().body()

    def on_mount(self) -> None:
        keep = self.query_one(OptionList)
        keep.highlighted = 0
        keep.focus()

    def _kept_and_others(self) -> tuple[str, list[str]]:
        kept = self.rows[self.query_one(OptionList).highlighted or 0].external_id
        return kept, [r.external_id for r in self.rows if r.external_id != kept]

    @on(OptionList.OptionHighlighted, "#merge-keep")
    def _highlighted(self) -> None:
        if self.stage == "confirm":
            self.action_back()
        kept, others = self._kept_and_others()
        self.load(lambda: self.call(privacy.merge_preview, kept, others), self.show_preview)

    def show_preview(self, preview: privacy.MergePreview) -> None:
        out = Text()
        out.append(f"Keep {visible(preview.kept)}; merge {visible(', '.join(preview.merged))} into it.\n")
        moving = ", ".join(f"{n} {kind}" for kind, n in preview.moves.items() if n)
        out.append(f"Moves: {moving or 'nothing'}\n")
        for name, (mine, theirs) in preview.conflicts.items():
            out.append(f"{name}: keeps {visible(mine)} (not {visible(', '.join(theirs))})\n", style="yellow")
        self.facts.update(out)

    def confirmation(self) -> str:
        kept, others = self._kept_and_others()
        return f"Merge {', '.join(others)} into {kept}? This cannot be undone."

    async def perform(self) -> privacy.MergePreview:
        kept, others = self._kept_and_others()
        return await self.call(privacy.merge_customers, kept, others)

    def submitted(self, result: privacy.MergePreview) -> None:
        self.app.notify(f"Merged {', '.join(result.merged)} into {result.kept}", markup=False)
        self.dismiss(result)


class AnonymiseDialog(ServiceDialog[bool]):
    """Type the customer's id and Enter: everything that names the person is removed."""

    heading = "Anonymise this customer"
    needs = Action.MERGE_ANONYMIZE
    submit_hint = "Enter anonymise · Esc cancel"

    def __init__(self, customer_id: int, external_id: str) -> None:
        super().__init__()
        self.customer_id = customer_id
        self.external_id = external_id

    def fields(self) -> ComposeResult:
        yield Static(Text("Names, emails, phones, addresses, tax ids, tags and card tokens are replaced or removed; "
                          "payments and refunds stay. This cannot be undone.", style="red"))
        yield from form_field(f"Type {visible(self.external_id)} to confirm",
                              Input(id="anonymise-confirm", compact=True), "confirmation")

    def on_mount(self) -> None:
        self.query_one(Input).focus()

    @on(Input.Submitted)
    def _submitted(self) -> None:
        self.action_submit()

    async def perform(self) -> bool:
        await self.call(privacy.anonymise_customer, self.customer_id, self.query_one(Input).value)
        return True
