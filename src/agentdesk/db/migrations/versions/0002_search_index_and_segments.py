"""search index, tags, tax ids, saved segments, agent preferences

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-21 15:55:51
"""
import sqlalchemy as sa
from alembic import op
from sqlmodel.sql.sqltypes import AutoString, UTCDateTime

from agentdesk.db import search_index

revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('agent_preference',
    sa.Column('agent_id', sa.Integer(), nullable=False),
    sa.Column('key', AutoString(length=64), nullable=False),
    sa.Column('value', sa.JSON(), nullable=False),
    sa.ForeignKeyConstraint(['agent_id'], ['agent.id'], ),
    sa.PrimaryKeyConstraint('agent_id', 'key')
    )
    op.create_table('saved_segment',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', AutoString(length=100), nullable=False),
    sa.Column('owner_agent_id', sa.Integer(), nullable=False),
    sa.Column('shared', sa.Boolean(), nullable=False),
    sa.Column('definition', sa.JSON(), nullable=False),
    sa.Column('created_at', UTCDateTime(), nullable=False),
    sa.Column('updated_at', UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['owner_agent_id'], ['agent.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('owner_agent_id', 'name', name='uq_saved_segment_owner_name')
    )
    op.create_index('ix_saved_segment_owner_agent_id', 'saved_segment', ['owner_agent_id'], unique=False)
    op.create_table('customer_tag',
    sa.Column('customer_id', sa.Integer(), nullable=False),
    sa.Column('tag', AutoString(length=64), nullable=False),
    sa.ForeignKeyConstraint(['customer_id'], ['customer.id'], ),
    sa.PrimaryKeyConstraint('customer_id', 'tag')
    )
    op.create_index('ix_customer_tag_tag', 'customer_tag', ['tag', 'customer_id'], unique=False)
    op.create_table('tax_id',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('customer_id', sa.Integer(), nullable=False),
    sa.Column('type', AutoString(length=32), nullable=False),
    sa.Column('value', AutoString(length=64), nullable=False),
    sa.Column('is_default', sa.Boolean(), nullable=False),
    sa.ForeignKeyConstraint(['customer_id'], ['customer.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index('ix_tax_id_customer_id', 'tax_id', ['customer_id'], unique=False)

    # Plain ALTER / CREATE INDEX: SQLite supports both, so no table is rebuilt (a batch
    # rebuild of `customer` would copy every row and trip the foreign keys).
    op.create_index('ix_address_country', 'address', ['country', 'customer_id'], unique=False)
    op.add_column('customer', sa.Column('company_id', AutoString(length=100), nullable=True))
    op.add_column('customer', sa.Column('company_email', AutoString(length=320), nullable=True))
    op.add_column('customer', sa.Column('blocked', sa.Boolean(), nullable=False, server_default=sa.false()))
    op.create_index('ix_customer_created', 'customer', ['created_at', 'id'], unique=False)
    op.create_index('ix_customer_last_payment', 'customer', ['last_payment_at', 'id'], unique=False)
    op.create_index('ix_customer_name', 'customer', ['last_name', 'first_name', 'id'], unique=False)
    op.create_index('ix_customer_email_lower', 'customer_email', [sa.text('lower(address)')], unique=False)

    connection = op.get_bind()
    search_index.create_index_table(connection)
    search_index.rebuild(connection)


def downgrade() -> None:
    op.execute('DROP TABLE customer_search')
    op.drop_index('ix_customer_email_lower', table_name='customer_email')
    op.drop_index('ix_customer_name', table_name='customer')
    op.drop_index('ix_customer_last_payment', table_name='customer')
    op.drop_index('ix_customer_created', table_name='customer')
    with op.batch_alter_table('customer', schema=None) as batch_op:
        batch_op.drop_column('blocked')
        batch_op.drop_column('company_email')
        batch_op.drop_column('company_id')
    op.drop_index('ix_address_country', table_name='address')
    op.drop_index('ix_tax_id_customer_id', table_name='tax_id')
    op.drop_table('tax_id')
    op.drop_index('ix_customer_tag_tag', table_name='customer_tag')
    op.drop_table('customer_tag')
    op.drop_index('ix_saved_segment_owner_agent_id', table_name='saved_segment')
    op.drop_table('saved_segment')
    op.drop_table('agent_preference')
