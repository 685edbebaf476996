"""64-bit money columns and text limits from one definition (issue 10)

Every amount in minor units becomes BIGINT (PostgreSQL's INTEGER stops at
21,474,836.47 in a two-decimal currency), and customers' first and last names
widen from 100 to 200 characters, the length validation has always allowed.

On PostgreSQL these are plain ALTER COLUMN … TYPE. SQLite already stores any
integer in 64 bits and never enforced a VARCHAR length, so only the declared
types change there: rewriting the stored CREATE TABLE text (SQLite's documented
procedure for changes that leave the data as it is; both types keep their
column affinity) instead of rebuilding `customer`, `transaction` and the other
tables, which would copy every row and trip the foreign keys pointing at them.

Revision ID: 0013
Revises: 0012
Create Date: 2026-11-22 03:30:00
"""

import re

import sqlalchemy as sa
from alembic import op
from sqlalchemy.engine import Connection
from sqlmodel.sql.sqltypes import AutoString

revision = '0013'
down_revision = '0012'
branch_labels = None
depends_on = None

MONEY = {
    'customer': ('lifetime_value',),
    'plan': ('price',),
    'orders': ('total',),
    'order_item': ('unit_price',),
    'transaction': ('amount',),
    'credit_memo': ('amount', 'remaining'),
    'sandbox_operation': ('amount',),
    'attachment': ('size',),
}
WIDENED = {'customer': {'first_name': (100, 200), 'last_name': (100, 200)}}


def _sqlite_declared_types(connection: Connection, changes: dict[str, dict[str, tuple[str, str]]]) -> None:
    """Change declared column types in SQLite's stored schema: {table: {column: (old, new)}}."""
    version = connection.exec_driver_sql('PRAGMA schema_version').scalar_one()
    connection.exec_driver_sql('PRAGMA writable_schema = ON')
    try:
        for table, columns in changes.items():
            sql = connection.exec_driver_sql(
                "SELECT sql FROM sqlite_master WHERE type = 'table' AND name = ?", (table,)).scalar_one()
            for column, (old, new) in columns.items():
                pattern = re.compile(rf'(?<![\w"])("?{column}"?\s+){re.escape(old)}(?=[\s,)])')
                sql, count = pattern.subn(r'\g<1>' + new, sql)
                if count != 1:
                    raise RuntimeError(f'{table}.{column}: expected one {old} column in the stored schema')
            connection.exec_driver_sql(
                "UPDATE sqlite_master SET sql = ? WHERE type = 'table' AND name = ?", (sql, table))
        connection.exec_driver_sql(f'PRAGMA schema_version = {int(version) + 1}')
    finally:
        connection.exec_driver_sql('PRAGMA writable_schema = OFF')
    for table, columns in changes.items():
        declared = {row[1]: row[2] for row in connection.exec_driver_sql(f'PRAGMA table_info("{table}")')}
        for column, (_, new) in columns.items():
            if declared.get(column) != new:
                raise RuntimeError(f'{table}.{column} is declared {declared.get(column)!r}, not {new!r}')


def _sqlite_changes(upgrade: bool) -> dict[str, dict[str, tuple[str, str]]]:
    changes: dict[str, dict[str, tuple[str, str]]] = {}
    for table, columns in MONEY.items():
        for column in columns:
            old, new = ('INTEGER', 'BIGINT') if upgrade else ('BIGINT', 'INTEGER')
            changes.setdefault(table, {})[column] = (old, new)
    for table, widened in WIDENED.items():
        for column, (narrow, wide) in widened.items():
            before, after = (narrow, wide) if upgrade else (wide, narrow)
            changes.setdefault(table, {})[column] = (f'VARCHAR({before})', f'VARCHAR({after})')
    return changes


def upgrade() -> None:
    connection = op.get_bind()
    if connection.dialect.name == 'sqlite':
        _sqlite_declared_types(connection, _sqlite_changes(upgrade=True))
        return
    for table, columns in MONEY.items():
        for column in columns:
            op.alter_column(table, column, type_=sa.BigInteger(), existing_type=sa.Integer(),
                            existing_nullable=False)
    for table, widened in WIDENED.items():
        for column, (narrow, wide) in widened.items():
            op.alter_column(table, column, type_=AutoString(length=wide), existing_type=AutoString(length=narrow),
                            existing_nullable=False)


def downgrade() -> None:
    connection = op.get_bind()
    if connection.dialect.name == 'sqlite':
        _sqlite_declared_types(connection, _sqlite_changes(upgrade=False))
        return
    for table, widened in WIDENED.items():
        for column, (narrow, wide) in widened.items():
            op.alter_column(table, column, type_=AutoString(length=narrow), existing_type=AutoString(length=wide),
                            existing_nullable=False)
    for table, columns in MONEY.items():
        for column in columns:
            op.alter_column(table, column, type_=sa.Integer(), existing_type=sa.BigInteger(),
                            existing_nullable=False)
