"""keyed timeline hashes, money rows bound to their events (issue 10)

`timeline_event.hash_version`: 1 for every event written so far (sha256, from
before the store was keyed; they stay verifiable as they are), 2 for events
hashed with the service key. `timeline_event.bound_rows`: the money rows an
event recorded, with their seals. `transaction.seal` and `credit_memo.seal`:
the service key's MAC of a row's immutable fields.

The key itself is not a migration's business: the store opens it after
migrating, and a store from before keys is keyed then, re-keying its card
fingerprints and sealing its money rows (`agentdesk.db.keys.establish`).

Revision ID: 0015
Revises: 0014
Create Date: 2026-11-22 03:30:00
"""

import sqlalchemy as sa
from alembic import op
from sqlmodel.sql.sqltypes import AutoString

revision = '0015'
down_revision = '0014'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column('timeline_event', sa.Column('hash_version', sa.Integer(), server_default=sa.text('1'),
                                              nullable=False))
    op.add_column('timeline_event', sa.Column('bound_rows', sa.JSON(), nullable=True))
    op.add_column('transaction', sa.Column('seal', AutoString(length=64), nullable=True))
    op.add_column('credit_memo', sa.Column('seal', AutoString(length=64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('credit_memo', schema=None) as batch_op:
        batch_op.drop_column('seal')
    with op.batch_alter_table('transaction', schema=None) as batch_op:
        batch_op.drop_column('seal')
    with op.batch_alter_table('timeline_event', schema=None) as batch_op:
        batch_op.drop_column('bound_rows')
        batch_op.drop_column('hash_version')
