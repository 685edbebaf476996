"""PostgreSQL: indexes for "last payment, newest first, never-paid last"

PostgreSQL cannot serve DESC NULLS LAST from an ascending index (SQLite's
NULL-first ordering can), so without these the last-payment sort reads and
sorts every row. They exist only on PostgreSQL and are not in the models.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-21 16:40:00
"""
from alembic import op

revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None

PG_ONLY_PREFIX = 'ix_pg_'


def upgrade() -> None:
    if op.get_bind().dialect.name != 'postgresql':
        return
    op.execute('CREATE INDEX ix_pg_customer_last_payment_desc ON customer (last_payment_at DESC NULLS LAST, id DESC)')
    op.execute('CREATE INDEX ix_pg_customer_segment_last_payment_desc '
               'ON customer (payment_count, last_payment_at DESC NULLS LAST, id DESC)')


def downgrade() -> None:
    if op.get_bind().dialect.name != 'postgresql':
        return
    op.execute('DROP INDEX ix_pg_customer_segment_last_payment_desc')
    op.execute('DROP INDEX ix_pg_customer_last_payment_desc')
