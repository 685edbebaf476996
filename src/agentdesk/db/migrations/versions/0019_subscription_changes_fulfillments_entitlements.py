"""scheduled subscription changes, pauses, fulfillments, entitlements and membership logins (issue 13)

Revision ID: 0019
Revises: 0018
Create Date: 2026-11-22 06:40:00

Columns are added in place (no table copy); the new tables start empty.
"""
import sqlalchemy as sa
from alembic import op
from sqlmodel.sql.sqltypes import AutoString, UTCDateTime

revision = '0019'
down_revision = '0018'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('scheduled_change',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('order_id', sa.Integer(), nullable=False),
    sa.Column('customer_id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('run_on', sa.Date(), nullable=False),
    sa.Column('payload', sa.JSON(), server_default='{}', nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('agent_id', sa.Integer(), nullable=True),
    sa.Column('created_at', UTCDateTime(), nullable=False),
    sa.Column('decided_at', UTCDateTime(), nullable=True),
    sa.Column('error', AutoString(length=500), nullable=True),
    sa.ForeignKeyConstraint(['agent_id'], ['agent.id'], ),
    sa.ForeignKeyConstraint(['customer_id'], ['customer.id'], ),
    sa.ForeignKeyConstraint(['order_id'], ['orders.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('scheduled_change', schema=None) as batch_op:
        batch_op.create_index('ix_scheduled_change_due', ['status', 'run_on', 'id'], unique=False)
        batch_op.create_index(batch_op.f('ix_scheduled_change_order_id'), ['order_id'], unique=False)

    op.create_table('fulfillment',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('order_id', sa.Integer(), nullable=False),
    sa.Column('customer_id', sa.Integer(), nullable=False),
    sa.Column('invoice_id', sa.Integer(), nullable=True),
    sa.Column('reship_of_id', sa.Integer(), nullable=True),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('address_id', sa.Integer(), nullable=True),
    sa.Column('carrier', AutoString(length=64), nullable=True),
    sa.Column('tracking_number', AutoString(length=100), nullable=True),
    sa.Column('reason', AutoString(length=500), nullable=True),
    sa.Column('items', sa.JSON(), server_default='[]', nullable=False),
    sa.Column('agent_id', sa.Integer(), nullable=True),
    sa.Column('created_at', UTCDateTime(), nullable=False),
    sa.Column('shipped_at', UTCDateTime(), nullable=True),
    sa.Column('delivered_at', UTCDateTime(), nullable=True),
    sa.Column('cancelled_at', UTCDateTime(), nullable=True),
    sa.ForeignKeyConstraint(['address_id'], ['address.id'], ),
    sa.ForeignKeyConstraint(['agent_id'], ['agent.id'], ),
    sa.ForeignKeyConstraint(['customer_id'], ['customer.id'], ),
    sa.ForeignKeyConstraint(['invoice_id'], ['invoice.id'], ),
    sa.ForeignKeyConstraint(['order_id'], ['orders.id'], ),
    sa.ForeignKeyConstraint(['reship_of_id'], ['fulfillment.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('invoice_id')
    )
    with op.batch_alter_table('fulfillment', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_fulfillment_customer_id'), ['customer_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_fulfillment_order_id'), ['order_id'], unique=False)

    op.add_column('customer', sa.Column('membership_login', AutoString(length=64), nullable=True))
    op.add_column('orders', sa.Column('paused_from', sa.Date(), nullable=True))
    op.add_column('orders', sa.Column('paused_until', sa.Date(), nullable=True))
    op.add_column('orders', sa.Column('cancel_at_period_end', sa.Boolean(), server_default=sa.text('false'),
                                      nullable=False))
    op.add_column('product', sa.Column('entitlements', sa.JSON(), server_default='[]', nullable=False))

def downgrade() -> None:
    with op.batch_alter_table('product', schema=None) as batch_op:
        batch_op.drop_column('entitlements')

    with op.batch_alter_table('orders', schema=None) as batch_op:
        batch_op.drop_column('cancel_at_period_end')
        batch_op.drop_column('paused_until')
        batch_op.drop_column('paused_from')

    with op.batch_alter_table('customer', schema=None) as batch_op:
        batch_op.drop_column('membership_login')

    with op.batch_alter_table('fulfillment', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_fulfillment_order_id'))
        batch_op.drop_index(batch_op.f('ix_fulfillment_customer_id'))

    op.drop_table('fulfillment')
    with op.batch_alter_table('scheduled_change', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_scheduled_change_order_id'))
        batch_op.drop_index('ix_scheduled_change_due')

    op.drop_table('scheduled_change')
