"""policy settings in the store and their audit log (issue 10)

Revision ID: 0014
Revises: 0013
Create Date: 2026-11-22 03:30:00
"""

revision = '0014'
down_revision = '0013'
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
