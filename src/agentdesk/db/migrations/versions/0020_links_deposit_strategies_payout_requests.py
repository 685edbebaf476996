"""customer links, deposit strategies, payout requests and membership password hashes (issue 14)

Revision ID: 0020
Revises: 0019
Create Date: 2026-11-22 09:20:00

Columns are added in place (no table copy); the new tables start empty. The link kinds added since
0014 get their expiry policy here.
"""
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op
from sqlmodel.sql.sqltypes import AutoString, UTCDateTime

revision = '0020'
down_revision = '0019'
branch_labels = None
depends_on = None

SEEDED_BY = "migration 0020"
NEW_LINK_EXPIRY = {
    "link_expiry.payout": 72,
    "link_expiry.pay_invoice": 168,
    "link_expiry.quote": 336,
    "link_expiry.password_reset": 2,
}


def upgrade() -> None:
    op.create_table('link',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('customer_id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('options', sa.JSON(), server_default='{}', nullable=False),
    sa.Column('email_to', AutoString(length=320), nullable=True),
    sa.Column('token_hash', AutoString(length=64), nullable=True),
    sa.Column('token_nonce', AutoString(length=64), nullable=True),
    sa.Column('expires_at', UTCDateTime(), nullable=True),
    sa.Column('uses', sa.Integer(), nullable=False),
    sa.Column('result', sa.JSON(), server_default='{}', nullable=False),
    sa.Column('error', AutoString(length=500), nullable=True),
    sa.Column('agent_id', sa.Integer(), nullable=True),
    sa.Column('agent_label', AutoString(length=64), nullable=False),
    sa.Column('job_id', sa.Integer(), nullable=True),
    sa.Column('created_at', UTCDateTime(), nullable=False),
    sa.Column('ready_at', UTCDateTime(), nullable=True),
    sa.Column('sent_at', UTCDateTime(), nullable=True),
    sa.Column('opened_at', UTCDateTime(), nullable=True),
    sa.Column('completed_at', UTCDateTime(), nullable=True),
    sa.Column('ended_at', UTCDateTime(), nullable=True),
    sa.Column('updated_at', UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['agent_id'], ['agent.id'], ),
    sa.ForeignKeyConstraint(['customer_id'], ['customer.id'], ),
    sa.ForeignKeyConstraint(['job_id'], ['job.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('token_hash')
    )
    with op.batch_alter_table('link', schema=None) as batch_op:
        batch_op.create_index('ix_link_status_expiry', ['status', 'expires_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_link_customer_id'), ['customer_id'], unique=False)

    op.create_table('deposit_strategy',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', AutoString(length=100), nullable=False),
    sa.Column('websites', sa.JSON(), server_default='[]', nullable=False),
    sa.Column('amounts', sa.JSON(), server_default='{}', nullable=False),
    sa.Column('custom_amount', sa.Boolean(), nullable=False),
    sa.Column('limits', sa.JSON(), server_default='{}', nullable=False),
    sa.Column('agent_id', sa.Integer(), nullable=True),
    sa.Column('created_at', UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['agent_id'], ['agent.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('name')
    )

    op.create_table('payout_request',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('customer_id', sa.Integer(), nullable=False),
    sa.Column('link_id', sa.Integer(), nullable=True),
    sa.Column('amount', sa.BigInteger(), nullable=False),
    sa.Column('currency', AutoString(length=3), nullable=False),
    sa.Column('instrument_id', sa.Integer(), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('transaction_id', sa.Integer(), nullable=True),
    sa.Column('reason', AutoString(length=500), nullable=True),
    sa.Column('decided_by', sa.Integer(), nullable=True),
    sa.Column('decided_at', UTCDateTime(), nullable=True),
    sa.Column('created_at', UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['customer_id'], ['customer.id'], ),
    sa.ForeignKeyConstraint(['decided_by'], ['agent.id'], ),
    sa.ForeignKeyConstraint(['instrument_id'], ['payment_instrument.id'], ),
    sa.ForeignKeyConstraint(['link_id'], ['link.id'], ),
    sa.ForeignKeyConstraint(['transaction_id'], ['transaction.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('payout_request', schema=None) as batch_op:
        batch_op.create_index('ix_payout_request_status', ['status', 'id'], unique=False)
        batch_op.create_index(batch_op.f('ix_payout_request_customer_id'), ['customer_id'], unique=False)

    op.add_column('customer', sa.Column('membership_password_hash', AutoString(length=200), nullable=True))

    policy = sa.table('policy', sa.column('key', sa.String), sa.column('value', sa.JSON),
                      sa.column('updated_at', UTCDateTime), sa.column('updated_by', sa.Integer))
    change = sa.table('policy_change', sa.column('key', sa.String), sa.column('old_value', sa.JSON),
                      sa.column('new_value', sa.JSON), sa.column('agent_id', sa.Integer),
                      sa.column('agent_label', sa.String), sa.column('changed_at', UTCDateTime))
    present = {row[0] for row in op.get_bind().execute(sa.text("SELECT key FROM policy"))}
    now = datetime.now(UTC)
    seeds = {k: v for k, v in NEW_LINK_EXPIRY.items() if k not in present}
    if seeds:
        op.bulk_insert(policy, [{"key": k, "value": v, "updated_at": now, "updated_by": None}
                                for k, v in seeds.items()])
        op.bulk_insert(change, [{"key": k, "old_value": None, "new_value": v, "agent_id": None,
                                 "agent_label": SEEDED_BY, "changed_at": now} for k, v in seeds.items()])


def downgrade() -> None:
    op.execute(sa.text("DELETE FROM policy WHERE key IN ('link_expiry.payout', 'link_expiry.pay_invoice', "
                       "'link_expiry.quote', 'link_expiry.password_reset')"))
    with op.batch_alter_table('customer', schema=None) as batch_op:
        batch_op.drop_column('membership_password_hash')
    op.drop_table('payout_request')
    op.drop_table('deposit_strategy')
    op.drop_table('link')
