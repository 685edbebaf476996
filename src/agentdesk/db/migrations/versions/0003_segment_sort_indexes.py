"""segment-first sort indexes, so Leads read in any sort order without sorting them all

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-21 16:30:00
"""
from alembic import op

revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None

INDEXES = {
    'ix_customer_segment_name': ['payment_count', 'last_name', 'first_name', 'id'],
    'ix_customer_segment_created': ['payment_count', 'created_at', 'id'],
    'ix_customer_segment_ltv': ['payment_count', 'lifetime_value', 'id'],
    'ix_customer_segment_last_payment': ['payment_count', 'last_payment_at', 'id'],
}


def upgrade() -> None:
    for name, columns in INDEXES.items():
        op.create_index(name, 'customer', columns, unique=False)


def downgrade() -> None:
    for name in INDEXES:
        op.drop_index(name, table_name='customer')
