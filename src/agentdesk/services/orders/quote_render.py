"""The printable quote: HTML from `templates/quote.html` (Jinja2, autoescaped), and PDF through WeasyPrint.

Everything shown comes from the quote as it was priced (its kept preview), so the printed quote
never changes when the catalog does. Text typed by agents or customers (names, terms,
descriptions) is escaped by the template engine. WeasyPrint fetches nothing: the template holds
no external resources, and any URL it would follow is refused.
"""

from __future__ import annotations

from functools import cache
from typing import Any, Literal

from jinja2 import Environment, PackageLoader, StrictUndefined

from agentdesk.db.store import Store
from agentdesk.domain.errors import InvalidInput, ServiceError
from agentdesk.domain.money import format_amount
from agentdesk.domain.permissions import Actor
from agentdesk.services.orders.quotes import QuoteDetail, quote_detail

Format = Literal["html", "pdf"]


class PdfUnavailable(ServiceError):
    pass


@cache
def _environment() -> Environment:
    return Environment(loader=PackageLoader("agentdesk", "templates"), autoescape=True, undefined=StrictUndefined,
                       trim_blocks=True, lstrip_blocks=True)


def render_html(detail: QuoteDetail) -> str:
    q, priced = detail.summary, detail.priced
    env = _environment().overlay()
    env.filters["money"] = lambda minor: format_amount(int(minor), q.currency)
    issued = (q.issued_at or q.created_at).date().isoformat()
    context: dict[str, Any] = {
        "q": q, "d": detail, "priced": priced, "issued": issued, "lines": priced.get("lines", []),
        "coupons": priced.get("coupons", []), "upcoming": priced.get("upcoming", []),
    }
    return env.get_template("quote.html").render(**context)


def _no_fetch(url: str, *args: object, **kwargs: object) -> dict[str, Any]:
    raise ValueError(f"the printed quote loads nothing ({url[:80]})")


def render_pdf(detail: QuoteDetail) -> bytes:
    """PDF of the HTML; `PdfUnavailable` says why when WeasyPrint or its system libraries are missing."""
    try:
        from weasyprint import HTML  # type: ignore[import-untyped]
    except (ImportError, OSError) as exc:
        raise PdfUnavailable(f"PDF is not available here ({type(exc).__name__}: {str(exc)[:200]}); WeasyPrint "
                             "needs the Pango library (Debian: apt-get install libpango-1.0-0 libpangoft2-1.0-0). "
                             "Use --format html") from exc
    pdf = HTML(string=render_html(detail), url_fetcher=_no_fetch).write_pdf()
    assert pdf is not None
    return bytes(pdf)


def render_quote(store: Store, actor: Actor, number: str, fmt: str) -> bytes:
    """The quote as HTML (UTF-8) or PDF bytes."""
    if fmt not in ("html", "pdf"):
        raise InvalidInput(fields={"format": "choose html or pdf"})
    detail = quote_detail(store, actor, number)
    if fmt == "pdf":
        return render_pdf(detail)
    return render_html(detail).encode("utf-8")
