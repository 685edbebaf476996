"""money

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-21 16:18:20.559507
"""
import sqlalchemy as sa
from alembic import op
from sqlmodel.sql.sqltypes import AutoString, UTCDateTime

revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('sandbox_operation',
    sa.Column('idempotency_key', AutoString(length=120), nullable=False),
    sa.Column('operation', AutoString(length=16), nullable=False),
    sa.Column('reference', AutoString(length=64), nullable=False),
    sa.Column('parent_reference', AutoString(length=64), nullable=True),
    sa.Column('token', AutoString(length=100), nullable=True),
    sa.Column('amount', sa.Integer(), nullable=False),
    sa.Column('currency', AutoString(length=3), nullable=False),
    sa.Column('outcome', AutoString(length=16), nullable=False),
    sa.Column('message', AutoString(length=200), nullable=True),
    sa.Column('settled', sa.Boolean(), nullable=False),
    sa.Column('created_at', UTCDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('idempotency_key')
    )
    with op.batch_alter_table('sandbox_operation', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_sandbox_operation_reference'), ['reference'], unique=False)

    op.create_table('credit_memo',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('customer_id', sa.Integer(), nullable=False),
    sa.Column('amount', sa.Integer(), nullable=False),
    sa.Column('remaining', sa.Integer(), nullable=False),
    sa.Column('currency', AutoString(length=3), nullable=False),
    sa.Column('reason', AutoString(length=500), nullable=False),
    sa.Column('agent_id', sa.Integer(), nullable=True),
    sa.Column('created_at', UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['agent_id'], ['agent.id'], ),
    sa.ForeignKeyConstraint(['customer_id'], ['customer.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('credit_memo', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_credit_memo_customer_id'), ['customer_id'], unique=False)

    # Plain ADD COLUMN (a REFERENCES clause is allowed there in SQLite): no copy of the table.
    op.add_column('transaction', sa.Column('description', AutoString(length=500), nullable=True))
    op.add_column('transaction', sa.Column('error', AutoString(length=500), nullable=True))
    if op.get_bind().dialect.name == 'sqlite':
        op.execute('ALTER TABLE "transaction" ADD COLUMN agent_id INTEGER REFERENCES agent (id)')
    else:
        op.add_column('transaction', sa.Column('agent_id', sa.Integer(), nullable=True))
        op.create_foreign_key('fk_transaction_agent', 'transaction', 'agent', ['agent_id'], ['id'])
    op.add_column('transaction', sa.Column('processed_at', UTCDateTime(), nullable=True))



def downgrade() -> None:
    with op.batch_alter_table('transaction', schema=None) as batch_op:
        batch_op.drop_constraint('fk_transaction_agent', type_='foreignkey')
        batch_op.drop_column('processed_at')
        batch_op.drop_column('agent_id')
        batch_op.drop_column('error')
        batch_op.drop_column('description')

    with op.batch_alter_table('credit_memo', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_credit_memo_customer_id'))

    op.drop_table('credit_memo')
    with op.batch_alter_table('sandbox_operation', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_sandbox_operation_reference'))

    op.drop_table('sandbox_operation')

