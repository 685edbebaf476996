"""CSV export of a customer query, streamed page by page.

Memory stays flat whatever the segment size: rows are read a keyset page at
a time and written straight out. The file appears under its final name only
when complete (never over an existing file unless asked to); a cancelled or
failed export leaves nothing behind. Cells that start like a formula are
neutralised with a leading quote, except what is written for a spreadsheet to
read as it is: an amount is a plain number in major units beside a Currency
column, a phone is the international form (`+44 20 7946 0958`: a plus, digits
and spaces, nothing a spreadsheet could run).
"""

from __future__ import annotations

import contextlib
import csv
import os
import re
import threading
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import bindparam
from sqlalchemy.sql.elements import BindParameter
from sqlmodel import col, select

from agentdesk.db.models import Address, Customer, TaxId
from agentdesk.db.store import Store
from agentdesk.domain.errors import InvalidInput
from agentdesk.domain.money import format_major
from agentdesk.domain.permissions import Action, Actor, require
from agentdesk.domain.text import has_surrogates
from agentdesk.services.customers.columns import COLUMNS, validate_columns
from agentdesk.services.customers.filters import CustomerQuery
from agentdesk.services.customers.search import MAX_PAGE, CustomerRow, count_matching, cursor_for, fetch_page

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r", "\uff1d", "\uff0b", "\uff0d", "\uff20")
"""What a spreadsheet may run as a formula at the start of a cell; their full-width forms too
(some spreadsheets fold them to their ASCII forms)."""
CONTACTS_PRESET = "contacts"
CONTACTS_HEADER = [
    "Name", "Email", "Company", "Company ID", "Company Email", "Tax ID", "Phone", "Address", "City", "State",
    "Zip/Postal Code", "Country", "VAT Number", "Lifetime Value", "Currency",
]
PHONE_COLUMN = CONTACTS_HEADER.index("Phone")
MONEY_KEYS = {"ltv"}
"""Column keys holding an amount: written as a number, with a Currency column after."""
PHONE_KEYS = {"phone"}
_PLAIN_NUMBER = re.compile(r"-?[0-9]+(\.[0-9]+)?")
_PLAIN_PHONE = re.compile(r"\+[0-9][0-9 ]*")


def neutralise(value: str) -> str:
    """Make a cell inert in spreadsheets: one that starts like a formula gets a leading apostrophe."""
    return "'" + value if value.startswith(FORMULA_STARTS) else value


def amount_cell(minor: int, currency: str) -> str:
    """The amount as a spreadsheet reads a number: major units, no separators or code (`-12.30`, `2500`)."""
    return format_major(minor, currency)


def phone_cell(value: str) -> str:
    """A stored phone in the international form a spreadsheet keeps as text; anything else neutralised."""
    import phonenumbers

    try:
        number = phonenumbers.parse(value, None)
    except phonenumbers.NumberParseException:
        return neutralise(value)
    spelled = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.INTERNATIONAL).replace("-", " ")
    return spelled if _PLAIN_PHONE.fullmatch(spelled) else neutralise(value)


def _cell(value: str, kind: str) -> str:
    if kind == "amount" and _PLAIN_NUMBER.fullmatch(value):
        return value
    if kind == "phone":
        return phone_cell(value) if value else ""
    return neutralise(value)


@dataclass(frozen=True)
class ExportResult:
    path: Path | None
    rows: int
    cancelled: bool


ProgressFn = Callable[[int, int], None]


def _target(path: str | Path, overwrite: bool) -> Path:
    name = str(path)
    if "\x00" in name or has_surrogates(name):
        raise InvalidInput(fields={"out": "a file name cannot hold a NUL character or bytes that are not UTF-8"})
    target = Path(name).expanduser()
    try:
        if target.is_dir():
            raise InvalidInput(fields={"out": f"{target} is a folder; name a file"})
        if not target.parent.is_dir():
            raise InvalidInput(fields={"out": f"the folder {target.parent} does not exist"})
        if not overwrite and (target.exists() or target.is_symlink()):
            raise InvalidInput(fields={"out": f"{target} already exists; choose another name or overwrite it "
                                              "(--force)"})
    except OSError as exc:
        raise InvalidInput(fields={"out": f"cannot write there: {exc.strerror or exc}"}) from None
    if not os.access(target.parent, os.W_OK):
        raise InvalidInput(fields={"out": f"the folder {target.parent} is not writable"})
    return target


class _ContactDetails:
    """Address, company and tax fields for a page of rows, fetched in three queries, not per row."""

    def __init__(self, store: Store, rows: list[CustomerRow]):
        ids = [r.id for r in rows]
        self.address: dict[int, Address] = {}
        self.company: dict[int, tuple[str, str]] = {}
        self.tax: dict[int, list[TaxId]] = defaultdict(list)
        param: BindParameter[int] = bindparam("ids", expanding=True)
        params = {"ids": ids}
        with store.read() as session:
            for address in session.exec(
                select(Address).where(col(Address.customer_id).in_(param))
                .order_by(col(Address.is_primary).desc(), col(Address.id)),
                params=params,
            ):
                self.address.setdefault(address.customer_id, address)
            for cid, company_id, company_email in session.exec(
                select(Customer.id, Customer.company_id, Customer.company_email).where(col(Customer.id).in_(param)),
                params=params,
            ):
                self.company[cid] = (company_id or "", company_email or "")
            for tax in session.exec(
                select(TaxId).where(col(TaxId.customer_id).in_(param)).order_by(col(TaxId.is_default).desc(),
                                                                                col(TaxId.id)),
                params=params,
            ):
                self.tax[tax.customer_id].append(tax)

    def cells(self, row: CustomerRow) -> list[str]:
        """The preset's cells, each written as the spreadsheet should read it."""
        raw = self._raw(row)
        kinds = ["text"] * len(raw)
        kinds[PHONE_COLUMN], kinds[-2] = "phone", "amount"
        return [_cell(value, kind) for value, kind in zip(raw, kinds, strict=True)]

    def _raw(self, row: CustomerRow) -> list[str]:
        address = self.address.get(row.id)
        company_id, company_email = self.company.get(row.id, ("", ""))
        taxes = self.tax.get(row.id, [])
        vat = next((t.value for t in taxes if t.type.lower() == "vat"), "")
        other = next((t.value for t in taxes if t.type.lower() != "vat"), "")
        street = ", ".join(p for p in (address.line1, address.line2) if p) if address else ""
        return [
            row.name, row.email or "", row.organization or "", company_id, company_email, other, row.phone or "",
            street, address.city if address else "", (address.region or "") if address else "",
            (address.postal_code or "") if address else "", address.country if address else "", vat,
            amount_cell(row.lifetime_value, row.currency), row.currency,
        ]


def _key_cells(keys: list[str], row: CustomerRow) -> list[str]:
    cells: list[str] = []
    for key in keys:
        if key in MONEY_KEYS:
            cells += [_cell(amount_cell(row.lifetime_value, row.currency), "amount"), neutralise(row.currency)]
        elif key in PHONE_KEYS:
            cells.append(_cell(row.phone or "", "phone"))
        else:
            cells.append(neutralise(str(COLUMNS[key].value(row))))
    return cells


def _key_header(keys: list[str]) -> list[str]:
    header: list[str] = []
    for key in keys:
        header += [COLUMNS[key].title, "Currency"] if key in MONEY_KEYS else [COLUMNS[key].title]
    return header


def export_customers(
    store: Store,
    actor: Actor,
    query: CustomerQuery,
    out: str | Path,
    columns: list[str] | str = CONTACTS_PRESET,
    progress: ProgressFn | None = None,
    cancel: threading.Event | None = None,
    overwrite: bool = False,
) -> ExportResult:
    """Write the query's rows as CSV to `out`; `columns` is a list of column keys or "contacts".

    An existing `out` is refused unless `overwrite`; the check is made again when the file is put in
    place (a hard link, which fails if the name was taken meanwhile), so an export never replaces a file
    it was not asked to."""
    require(actor, Action.EXPORT)
    preset = columns == CONTACTS_PRESET
    keys = [] if preset else validate_columns(list(columns))
    target = _target(out, overwrite).absolute()
    total, _ = count_matching(store, actor, query, cap=10**12)
    partial = target.with_name(f".{target.name}.partial")
    written = 0
    try:
        with partial.open("w", newline="", encoding="utf-8") as fh:
            writer = csv.writer(fh)
            writer.writerow(CONTACTS_HEADER if preset else _key_header(keys))
            page = fetch_page(store, actor, query, MAX_PAGE)
            while True:
                if cancel is not None and cancel.is_set():
                    raise _Cancelled
                details = _ContactDetails(store, page.rows) if preset and page.rows else None
                for row in page.rows:
                    writer.writerow(details.cells(row) if details else _key_cells(keys, row))
                written += len(page.rows)
                if progress:
                    progress(written, max(total, written))
                ordered = [r for r in page.rows if not r.exact]
                if not page.more:
                    break
                if ordered:
                    page = fetch_page(store, actor, query, MAX_PAGE, after=cursor_for(ordered[-1], query.sort))
                else:
                    page = fetch_page(store, actor, query, MAX_PAGE, include_exact=False)
        if overwrite:
            os.replace(partial, target)
        else:
            os.link(partial, target)
            _discard(partial)
    except _Cancelled:
        _discard(partial)
        return ExportResult(None, written, True)
    except FileExistsError:
        _discard(partial)
        raise InvalidInput(fields={"out": f"{target} already exists; choose another name or overwrite it "
                                          "(--force)"}) from None
    except OSError as exc:
        _discard(partial)
        raise InvalidInput(fields={"out": f"cannot write {target.name[:60]!r}: {exc.strerror or exc}"}) from None
    except BaseException:
        _discard(partial)
        raise
    return ExportResult(target, written, False)


class _Cancelled(Exception):
    pass


def _discard(partial: Path) -> None:
    with contextlib.suppress(OSError):
        partial.unlink(missing_ok=True)
