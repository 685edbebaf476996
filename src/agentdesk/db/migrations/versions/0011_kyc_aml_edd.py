"""kyc aml edd

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-21 17:29:07.407900
"""
import sqlalchemy as sa
from alembic import op
from sqlmodel.sql.sqltypes import AutoString, UTCDateTime

revision = '0011'
down_revision = '0010'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('aml_check',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('customer_id', sa.Integer(), nullable=False),
    sa.Column('checked_at', UTCDateTime(), nullable=False),
    sa.Column('result', AutoString(length=16), nullable=False),
    sa.Column('matches', sa.Integer(), nullable=False),
    sa.Column('source', AutoString(length=64), nullable=False),
    sa.ForeignKeyConstraint(['customer_id'], ['customer.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('aml_check', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_aml_check_customer_id'), ['customer_id'], unique=False)

    op.create_table('edd_score',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('customer_id', sa.Integer(), nullable=False),
    sa.Column('factor', AutoString(length=32), nullable=False),
    sa.Column('likelihood', AutoString(length=16), nullable=False),
    sa.Column('score', sa.Integer(), nullable=False),
    sa.Column('set_by', sa.Integer(), nullable=True),
    sa.Column('set_at', UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['customer_id'], ['customer.id'], ),
    sa.ForeignKeyConstraint(['set_by'], ['agent.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('customer_id', 'factor', name='uq_edd_score_factor')
    )
    with op.batch_alter_table('edd_score', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_edd_score_customer_id'), ['customer_id'], unique=False)

    op.create_table('kyc_document',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('customer_id', sa.Integer(), nullable=False),
    sa.Column('kind', AutoString(length=32), nullable=False),
    sa.Column('status', AutoString(length=16), nullable=False),
    sa.Column('attachment_id', sa.Integer(), nullable=False),
    sa.Column('uploaded_by', sa.Integer(), nullable=True),
    sa.Column('uploaded_at', UTCDateTime(), nullable=False),
    sa.Column('reviewed_by', sa.Integer(), nullable=True),
    sa.Column('reviewed_at', UTCDateTime(), nullable=True),
    sa.ForeignKeyConstraint(['attachment_id'], ['attachment.id'], ),
    sa.ForeignKeyConstraint(['customer_id'], ['customer.id'], ),
    sa.ForeignKeyConstraint(['reviewed_by'], ['agent.id'], ),
    sa.ForeignKeyConstraint(['uploaded_by'], ['agent.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('kyc_document', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_kyc_document_customer_id'), ['customer_id'], unique=False)

    op.add_column('customer', sa.Column('edd_required', sa.Boolean(), nullable=False, server_default=sa.false()))



def downgrade() -> None:
    with op.batch_alter_table('customer', schema=None) as batch_op:
        batch_op.drop_column('edd_required')

    with op.batch_alter_table('kyc_document', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_kyc_document_customer_id'))

    op.drop_table('kyc_document')
    with op.batch_alter_table('edd_score', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_edd_score_customer_id'))

    op.drop_table('edd_score')
    with op.batch_alter_table('aml_check', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_aml_check_customer_id'))

    op.drop_table('aml_check')
