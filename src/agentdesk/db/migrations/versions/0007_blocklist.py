"""blocklist

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-21 16:50:58.554855
"""
import sqlalchemy as sa
from alembic import op
from sqlmodel.sql.sqltypes import AutoString, UTCDateTime

revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('blocklist_entry',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('kind', AutoString(length=16), nullable=False),
    sa.Column('value', AutoString(length=320), nullable=False),
    sa.Column('reason', AutoString(length=500), nullable=True),
    sa.Column('expires_at', UTCDateTime(), nullable=True),
    sa.Column('created_by', sa.Integer(), nullable=True),
    sa.Column('created_at', UTCDateTime(), nullable=False),
    sa.Column('removed_at', UTCDateTime(), nullable=True),
    sa.Column('removed_by', sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(['created_by'], ['agent.id'], ),
    sa.ForeignKeyConstraint(['removed_by'], ['agent.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('blocklist_entry', schema=None) as batch_op:
        batch_op.create_index('ix_blocklist_kind_value', ['kind', 'value'], unique=False)

    op.add_column('customer', sa.Column('signup_ip', AutoString(length=45), nullable=True))

    op.add_column('payment_instrument', sa.Column('bin', AutoString(length=8), nullable=True))



def downgrade() -> None:
    with op.batch_alter_table('payment_instrument', schema=None) as batch_op:
        batch_op.drop_column('bin')

    with op.batch_alter_table('customer', schema=None) as batch_op:
        batch_op.drop_column('signup_ip')

    with op.batch_alter_table('blocklist_entry', schema=None) as batch_op:
        batch_op.drop_index('ix_blocklist_kind_value')

    op.drop_table('blocklist_entry')
