"""quotes: priced offers to a customer, accepted once into an order (issue 13)

Revision ID: 0018
Revises: 0017
Create Date: 2026-11-29 10:00:00

A quote keeps the order request as JSON (items with their overrides, coupons, shipping,
start), the preview it was priced at and its total today, its expiry day, what accepts
it (payment or the customer's word), terms, a redirect URL, an optional signatory, and
the order placed when it was accepted.
"""

import sqlalchemy as sa
from alembic import op
from sqlmodel.sql.sqltypes import AutoString, UTCDateTime

revision = '0018'
down_revision = '0017'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('quote',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('number', AutoString(length=40), nullable=False),
    sa.Column('customer_id', sa.Integer(), nullable=False),
    sa.Column('website_id', sa.Integer(), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('request', sa.JSON(), nullable=False),
    sa.Column('priced', sa.JSON(), nullable=False),
    sa.Column('currency', AutoString(length=3), nullable=False),
    sa.Column('total', sa.BigInteger(), nullable=False),
    sa.Column('expires_on', sa.Date(), nullable=False),
    sa.Column('accept_by', sa.String(length=16), nullable=False),
    sa.Column('terms', AutoString(length=4000), nullable=True),
    sa.Column('redirect_url', AutoString(length=2000), nullable=True),
    sa.Column('signature_name', AutoString(length=200), nullable=True),
    sa.Column('order_id', sa.Integer(), nullable=True),
    sa.Column('accepting_at', UTCDateTime(), nullable=True),
    sa.Column('agent_id', sa.Integer(), nullable=True),
    sa.Column('created_at', UTCDateTime(), nullable=False),
    sa.Column('issued_at', UTCDateTime(), nullable=True),
    sa.Column('decided_at', UTCDateTime(), nullable=True),
    sa.Column('updated_at', UTCDateTime(), nullable=True),
    sa.ForeignKeyConstraint(['agent_id'], ['agent.id'], ),
    sa.ForeignKeyConstraint(['customer_id'], ['customer.id'], ),
    sa.ForeignKeyConstraint(['order_id'], ['orders.id'], ),
    sa.ForeignKeyConstraint(['website_id'], ['website.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('number')
    )
    with op.batch_alter_table('quote', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_quote_customer_id'), ['customer_id'], unique=False)
        batch_op.create_index('ix_quote_expiry', ['status', 'expires_on'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('quote', schema=None) as batch_op:
        batch_op.drop_index('ix_quote_expiry')
        batch_op.drop_index(batch_op.f('ix_quote_customer_id'))
    op.drop_table('quote')
