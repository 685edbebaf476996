"""Stripe-hosted links: the Stripe object behind a link and its URL (issue 15)

Revision ID: 0022
Revises: 0021
Create Date: 2026-11-22 11:00:00

Two nullable columns added; nothing copied.
"""
import sqlalchemy as sa
from alembic import op
from sqlmodel.sql.sqltypes import AutoString

revision = '0022'
down_revision = '0021'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column('link', sa.Column('gateway_ref', AutoString(length=100), nullable=True))
    op.add_column('link', sa.Column('hosted_url', AutoString(length=2000), nullable=True))


def downgrade() -> None:
    op.drop_column('link', 'hosted_url')
    op.drop_column('link', 'gateway_ref')
