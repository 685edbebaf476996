"""Save the order builder's order as a quote (F6 on the builder) instead of creating it.

The builder's request (items with their overrides, coupons, shipping, start) is priced and kept by
`quotes.create_quote` as a draft; this dialog asks what only a quote has: the last day it can be
accepted (required, YYYY-MM-DD), what accepts it (the customer paying the amount due, or the
customer's word), terms, a redirect URL and the signatory printed under a signature line. "Issue
now" sends the draft to the customer at once (`quotes.issue_quote`). Closing returns `QuoteSaved`
(None when the agent went back to the builder).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.widgets import Checkbox, Input, Select, TextArea

from agentdesk.domain import limits
from agentdesk.domain.dates import parse_date
from agentdesk.domain.enums import QuoteAcceptance
from agentdesk.domain.errors import InvalidInput, ServiceError
from agentdesk.domain.money import format_amount
from agentdesk.domain.permissions import Action
from agentdesk.domain.text import visible
from agentdesk.services.orders import quotes
from agentdesk.services.orders.quotes import QuoteDetail
from agentdesk.services.orders.requests import OrderRequest
from agentdesk.ui.base import ServiceDialog, field_row

ACCEPT_BY = [("the customer pays the amount due", QuoteAcceptance.PAYMENT),
             ("the customer says yes (no payment needed)", QuoteAcceptance.CUSTOMER)]


@dataclass(frozen=True)
class QuoteSaved:
    """The quote as saved, and the sentence announcing it."""

    quote: QuoteDetail
    message: str

    @property
    def number(self) -> str:
        return self.quote.summary.number


def saved_sentence(detail: QuoteDetail) -> str:
    s = detail.summary
    return (f"Quote {s.number} saved as a draft: {format_amount(s.total, s.currency)} due on acceptance, "
            f"valid until {s.expires_on.isoformat()}. Issue it to send it to the customer.")


class OrderQuoteDialog(ServiceDialog[QuoteSaved]):
    """Ctrl+S saves the quote (and issues it when ticked); Esc goes back to the builder."""

    DEFAULT_CSS = """
    OrderQuoteDialog #q-terms { height: 5; }
    """
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "cancel", "Back to the builder", id="order_quote.back"),
        Binding("ctrl+s", "submit", "Save the quote", id="order_quote.save", priority=True),
    ]
    needs = Action.CREATE_ORDERS
    input_prefix = "q-"
    submit_hint = "Ctrl+S save the quote · Esc back to the builder"

    def __init__(self, customer_name: str, request: OrderRequest) -> None:
        super().__init__()
        self.request = request
        self.heading = f"Save as quote for {customer_name}"

    def fields(self) -> ComposeResult:
        yield from field_row("Valid until", Input(placeholder="last day it can be accepted, YYYY-MM-DD",
                                                  id="q-expires", compact=True, max_length=10), "expires")
        yield from field_row("Accepted when", Select([(Text(label), v) for label, v in ACCEPT_BY], allow_blank=False,
                                                     value=QuoteAcceptance.PAYMENT, compact=True, id="q-accept_by"),
                             "accept_by")
        yield from field_row("Terms", TextArea(id="q-terms", soft_wrap=True, show_line_numbers=False, compact=True),
                             "terms")
        yield from field_row("Redirect URL", Input(placeholder="optional: https://… after acceptance",
                                                   id="q-redirect_url", compact=True, max_length=limits.REDIRECT_URL),
                             "redirect_url")
        yield from field_row("Signatory", Input(placeholder="optional: name under a signature line",
                                                id="q-signature", compact=True, max_length=limits.NAME), "signature")
        yield Checkbox("Issue now (email the customer)", False, id="q-issue", compact=True)

    def on_mount(self) -> None:
        super().on_mount()
        self.query_one("#q-expires", Input).focus()

    def value(self, name: str) -> str:
        return self.query_one(f"#q-{name}", Input).value.strip()

    def expires_on(self) -> date:
        if not self.value("expires"):
            raise InvalidInput(fields={"expires": "give the last day the quote can be accepted (YYYY-MM-DD)"})
        return parse_date(self.value("expires"), "expires")

    async def perform(self) -> QuoteSaved:
        """Create the draft; when issuing fails the draft stays and the sentence says why (saving
        again would make a second quote)."""
        accept_by = self.query_one("#q-accept_by", Select).value
        detail = await self.call(quotes.create_quote, self.request, expires_on=self.expires_on(),
                                 accept_by=str(accept_by), terms=self.query_one("#q-terms", TextArea).text,
                                 redirect_url=self.value("redirect_url") or None,
                                 signature_name=self.value("signature") or None)
        if not self.query_one("#q-issue", Checkbox).value:
            return QuoteSaved(detail, saved_sentence(detail))
        try:
            issued = await self.call(quotes.issue_quote, detail.summary.number, settings=self.app.settings)
        except ServiceError as exc:
            return QuoteSaved(detail, f"{saved_sentence(detail)} It was not issued: {visible(str(exc))}")
        return QuoteSaved(detail, issued.message)
