"""The customer search index: one lower-cased, accent-folded document per customer.

The document holds the customer's id, full name, organization, every email,
every phone as bare digits and every card's last four, one per line. SQLite
keeps it in an FTS5 table with the trigram tokenizer (substring search through
the index); PostgreSQL in a plain table with a pg_trgm GIN index. Services
that change any of those fields call `refresh` in the same transaction, so the
index never disagrees with what is stored.
"""

from __future__ import annotations

import re
import unicodedata
from collections import defaultdict
from collections.abc import Iterable
from typing import Any

from sqlalchemy import and_, bindparam, column, func, select, table, text
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session
from sqlalchemy.sql import ColumnElement, TableClause
from sqlalchemy.sql.elements import BindParameter, ColumnClause
from sqlmodel import col

from agentdesk.db.models import Customer, CustomerEmail, CustomerPhone, PaymentInstrument

SQLITE_TABLE = table("customer_search", column("rowid"), column("document"))
PG_TABLE = table("customer_search", column("customer_id"), column("document"))
MIN_INDEXED = 3
"""Trigram indexes serve substrings of three characters or more; shorter ones scan."""


def fold(value: str) -> str:
    """Lower-case and strip accents, so "Léa" and "lea" find each other."""
    decomposed = unicodedata.normalize("NFKD", value.lower())
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch))


def document(external_id: str, first_name: str, last_name: str, organization: str | None,
             emails: Iterable[str], phone_digits: Iterable[str], last4s: Iterable[str]) -> str:
    parts = [external_id, f"{first_name} {last_name}", organization or "", *emails, *phone_digits, *last4s]
    return fold("\n".join(p for p in parts if p))


def key_column(dialect: str) -> ColumnClause[Any]:
    return SQLITE_TABLE.c.rowid if dialect == "sqlite" else PG_TABLE.c.customer_id


def index_table(dialect: str) -> TableClause:
    return SQLITE_TABLE if dialect == "sqlite" else PG_TABLE


def documents_for(connection: Connection, customer_ids: list[int]) -> dict[int, str]:
    if not customer_ids:
        return {}
    emails: dict[int, list[str]] = defaultdict(list)
    phones: dict[int, list[str]] = defaultdict(list)
    cards: dict[int, list[str]] = defaultdict(list)
    ids: BindParameter[int] = bindparam("ids", expanding=True)
    params = {"ids": customer_ids}
    for cid, address in connection.execute(
        select(col(CustomerEmail.customer_id), col(CustomerEmail.address))
        .where(col(CustomerEmail.customer_id).in_(ids)), params
    ):
        emails[cid].append(address)
    for cid, digits in connection.execute(
        select(col(CustomerPhone.customer_id), col(CustomerPhone.digits))
        .where(col(CustomerPhone.customer_id).in_(ids)),
        params,
    ):
        phones[cid].append(digits)
    for cid, last4 in connection.execute(
        select(col(PaymentInstrument.customer_id), col(PaymentInstrument.last4)).where(
            col(PaymentInstrument.customer_id).in_(ids), col(PaymentInstrument.last4).is_not(None)
        ),
        params,
    ):
        if last4:
            cards[cid].append(last4)
    rows = connection.execute(
        select(col(Customer.id), col(Customer.external_id), col(Customer.first_name), col(Customer.last_name),
               col(Customer.organization)).where(col(Customer.id).in_(ids)),
        params,
    )
    return {
        cid: document(external_id, first, last, org, emails[cid], phones[cid], cards[cid])
        for cid, external_id, first, last, org in rows
    }


def write_documents(connection: Connection, docs: dict[int, str], replace: bool = True) -> None:
    dialect = connection.dialect.name
    tbl, key = index_table(dialect), key_column(dialect)
    if replace and docs:
        connection.execute(tbl.delete().where(key.in_(bindparam("ids", expanding=True))), {"ids": list(docs)})
    if docs:
        key_name = "rowid" if dialect == "sqlite" else "customer_id"
        connection.execute(
            text(f"INSERT INTO customer_search ({key_name}, document) VALUES (:k, :d)"),
            [{"k": k, "d": d} for k, d in docs.items()],
        )


def refresh(session: Session, customer_ids: Iterable[int]) -> None:
    """Re-index these customers inside the caller's transaction; a deleted one leaves the index."""
    ids = sorted(set(customer_ids))
    if not ids:
        return
    session.flush()
    connection = session.connection()
    docs = documents_for(connection, ids)
    dialect = connection.dialect.name
    tbl, key = index_table(dialect), key_column(dialect)
    connection.execute(tbl.delete().where(key.in_(bindparam("ids", expanding=True))), {"ids": ids})
    write_documents(connection, docs, replace=False)


def rebuild(connection: Connection, batch: int = 5_000) -> int:
    """Index every customer from scratch (migrations, repairs). Returns how many."""
    dialect = connection.dialect.name
    connection.execute(index_table(dialect).delete())
    last, total = 0, 0
    while True:
        ids = list(
            connection.execute(
                select(col(Customer.id)).where(col(Customer.id) > last).order_by(col(Customer.id)).limit(batch)
            ).scalars()
        )
        if not ids:
            return total
        write_documents(connection, documents_for(connection, ids), replace=False)
        total += len(ids)
        last = ids[-1]


def like_pattern(needle: str) -> str:
    escaped = needle.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


PROBE_LIMIT = 12


def index_probe(needle: str) -> str:
    """The part of a long needle worth looking up in the trigram index.

    Every trigram of the pattern is looked up and intersected, and the common ones
    ("com", "ail", "exa") have a posting for most customers: a 30-character email
    costs several times what its distinctive part does. So a long needle is probed
    by its most distinctive word (one with digits, else the longest) and the whole
    needle is then checked exactly.
    """
    if len(needle) <= PROBE_LIMIT:
        return needle
    words = [w for w in re.split(r"[^0-9a-z]+", needle) if len(w) >= MIN_INDEXED]
    if not words:
        return needle
    best = max(words, key=lambda w: (any(ch.isdigit() for ch in w), len(w)))
    return best[:PROBE_LIMIT]


def match_condition(dialect: str, needle: str) -> ColumnElement:
    """Rows of the index whose document contains `needle` (already folded).

    On SQLite, LIKE with an ESCAPE clause bypasses the trigram index, so the
    pattern is the raw probe (its `%` and `_` may over-match) and `instr`
    then keeps only exact substrings.
    """
    probe = index_probe(needle)
    if dialect == "sqlite":
        doc = SQLITE_TABLE.c.document
        return and_(doc.like(f"%{probe}%"), func.instr(doc, needle) > 0)
    doc = PG_TABLE.c.document
    return and_(doc.like(like_pattern(probe), escape="\\"), func.strpos(doc, needle) > 0)


def create_index_table(connection: Connection) -> None:
    if connection.dialect.name == "sqlite":
        connection.exec_driver_sql(
            "CREATE VIRTUAL TABLE customer_search USING fts5(document, tokenize='trigram', detail='none')"
        )
    else:
        connection.exec_driver_sql("CREATE EXTENSION IF NOT EXISTS pg_trgm")
        connection.exec_driver_sql(
            "CREATE TABLE customer_search (customer_id INTEGER PRIMARY KEY REFERENCES customer(id) ON DELETE CASCADE,"
            " document TEXT NOT NULL)"
        )
        connection.exec_driver_sql(
            "CREATE INDEX ix_customer_search_trgm ON customer_search USING gin (document gin_trgm_ops)"
        )
