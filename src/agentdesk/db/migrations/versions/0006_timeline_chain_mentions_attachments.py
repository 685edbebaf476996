"""timeline chain, mentions, attachments

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-21 16:35:35.691904
"""
import sqlalchemy as sa
from alembic import op
from sqlmodel.sql.sqltypes import AutoString, UTCDateTime

from agentdesk.services.timeline import chain as timeline_chain

revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('attachment',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('customer_id', sa.Integer(), nullable=False),
    sa.Column('sha256', AutoString(length=64), nullable=False),
    sa.Column('name', AutoString(length=255), nullable=False),
    sa.Column('content_type', AutoString(length=100), nullable=False),
    sa.Column('size', sa.Integer(), nullable=False),
    sa.Column('agent_id', sa.Integer(), nullable=True),
    sa.Column('created_at', UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['agent_id'], ['agent.id'], ),
    sa.ForeignKeyConstraint(['customer_id'], ['customer.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('attachment', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_attachment_customer_id'), ['customer_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_attachment_sha256'), ['sha256'], unique=False)

    op.create_table('mention',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('event_id', sa.Integer(), nullable=False),
    sa.Column('agent_id', sa.Integer(), nullable=False),
    sa.Column('customer_id', sa.Integer(), nullable=False),
    sa.Column('seen_at', UTCDateTime(), nullable=True),
    sa.Column('created_at', UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['agent_id'], ['agent.id'], ),
    sa.ForeignKeyConstraint(['customer_id'], ['customer.id'], ),
    sa.ForeignKeyConstraint(['event_id'], ['timeline_event.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('mention', schema=None) as batch_op:
        batch_op.create_index('ix_mention_agent_seen', ['agent_id', 'seen_at'], unique=False)

    op.add_column('timeline_event', sa.Column('search_text', AutoString(length=4000), nullable=True))
    op.add_column('timeline_event', sa.Column('prev_hash', AutoString(length=64), nullable=True))
    op.add_column('timeline_event', sa.Column('hash', AutoString(length=64), nullable=True))
    op.create_index('ix_timeline_customer_type_time', 'timeline_event', ['customer_id', 'type', 'occurred_at', 'id'],
                    unique=False)
    timeline_chain.backfill(op.get_bind())



def downgrade() -> None:
    with op.batch_alter_table('timeline_event', schema=None) as batch_op:
        batch_op.drop_index('ix_timeline_customer_type_time')
        batch_op.drop_column('hash')
        batch_op.drop_column('prev_hash')
        batch_op.drop_column('search_text')

    with op.batch_alter_table('mention', schema=None) as batch_op:
        batch_op.drop_index('ix_mention_agent_seen')

    op.drop_table('mention')
    with op.batch_alter_table('attachment', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_attachment_sha256'))
        batch_op.drop_index(batch_op.f('ix_attachment_customer_id'))

    op.drop_table('attachment')
