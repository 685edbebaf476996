"""customer.merged_into_id: a merged duplicate points at the customer it was merged into

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-21 17:10:00
"""
import sqlalchemy as sa
from alembic import op

revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None


def upgrade() -> None:
    if op.get_bind().dialect.name == 'sqlite':
        op.execute('ALTER TABLE customer ADD COLUMN merged_into_id INTEGER REFERENCES customer (id)')
    else:
        op.add_column('customer', sa.Column('merged_into_id', sa.Integer(), nullable=True))
        op.create_foreign_key('fk_customer_merged_into', 'customer', 'customer', ['merged_into_id'], ['id'])
    op.create_index('ix_customer_merged_into_id', 'customer', ['merged_into_id'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_customer_merged_into_id', table_name='customer')
    with op.batch_alter_table('customer', schema=None) as batch_op:
        batch_op.drop_column('merged_into_id')
