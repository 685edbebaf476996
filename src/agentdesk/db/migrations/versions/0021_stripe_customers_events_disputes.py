"""Stripe customers, gateway events (applied once by id) and disputes (issue 15)

Revision ID: 0021
Revises: 0020
Create Date: 2026-11-22 10:30:00

New tables only; nothing existing is copied or changed.
"""
import sqlalchemy as sa
from alembic import op
from sqlmodel.sql.sqltypes import AutoString, UTCDateTime

revision = '0021'
down_revision = '0020'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('stripe_customer',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('customer_id', sa.Integer(), nullable=False),
    sa.Column('account', AutoString(length=64), nullable=False),
    sa.Column('stripe_id', AutoString(length=64), nullable=False),
    sa.Column('created_at', UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['customer_id'], ['customer.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('customer_id', 'account', name='uq_stripe_customer_account')
    )
    op.create_table('gateway_event',
    sa.Column('id', AutoString(length=100), nullable=False),
    sa.Column('gateway', AutoString(length=32), nullable=False),
    sa.Column('type', AutoString(length=100), nullable=False),
    sa.Column('received_via', AutoString(length=16), nullable=False),
    sa.Column('created_at', UTCDateTime(), nullable=False),
    sa.Column('processed_at', UTCDateTime(), nullable=True),
    sa.Column('outcome', AutoString(length=200), nullable=True),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_table('dispute',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('customer_id', sa.Integer(), nullable=False),
    sa.Column('transaction_id', sa.Integer(), nullable=False),
    sa.Column('gateway_ref', AutoString(length=100), nullable=False),
    sa.Column('amount', sa.BigInteger(), nullable=False),
    sa.Column('currency', AutoString(length=3), nullable=False),
    sa.Column('reason', AutoString(length=100), nullable=False),
    sa.Column('status', AutoString(length=32), nullable=False),
    sa.Column('due_by', UTCDateTime(), nullable=True),
    sa.Column('created_at', UTCDateTime(), nullable=False),
    sa.Column('updated_at', UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['customer_id'], ['customer.id'], ),
    sa.ForeignKeyConstraint(['transaction_id'], ['transaction.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('gateway_ref')
    )
    op.create_index(op.f('ix_dispute_customer_id'), 'dispute', ['customer_id'], unique=False)
    op.create_index(op.f('ix_dispute_transaction_id'), 'dispute', ['transaction_id'], unique=False)


def downgrade() -> None:
    op.drop_index(op.f('ix_dispute_transaction_id'), table_name='dispute')
    op.drop_index(op.f('ix_dispute_customer_id'), table_name='dispute')
    op.drop_table('dispute')
    op.drop_table('gateway_event')
    op.drop_table('stripe_customer')
