"""customer.lead_source

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-21 17:30:00
"""
import sqlalchemy as sa
from alembic import op

revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column('customer', sa.Column('lead_source', sa.JSON(), server_default='{}', nullable=False))


def downgrade() -> None:
    with op.batch_alter_table('customer', schema=None) as batch_op:
        batch_op.drop_column('lead_source')
