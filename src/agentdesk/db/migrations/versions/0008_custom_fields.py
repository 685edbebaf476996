"""custom fields

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-21 16:58:48.244082
"""
import sqlalchemy as sa
from alembic import op

revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column('customer', sa.Column('custom_fields', sa.JSON(), server_default='{}', nullable=False))



def downgrade() -> None:
    with op.batch_alter_table('customer', schema=None) as batch_op:
        batch_op.drop_column('custom_fields')

