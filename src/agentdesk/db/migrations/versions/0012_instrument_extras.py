"""payment_instrument.sticky_gateway and billing_address

Revision ID: 0012
Revises: 0011
Create Date: 2026-11-21 17:40:00
"""
import sqlalchemy as sa
from alembic import op
from sqlmodel.sql.sqltypes import AutoString

revision = '0012'
down_revision = '0011'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column('payment_instrument', sa.Column('sticky_gateway', AutoString(length=32), nullable=True))
    op.add_column('payment_instrument', sa.Column('billing_address', sa.JSON(), server_default='{}', nullable=False))


def downgrade() -> None:
    with op.batch_alter_table('payment_instrument', schema=None) as batch_op:
        batch_op.drop_column('billing_address')
        batch_op.drop_column('sticky_gateway')
