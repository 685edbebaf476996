"""Many agents, one store: row versions and change signals (issue 16)

Revision ID: 0023
Revises: 0022
Create Date: 2026-11-22 14:20:00

- `customer.version` and `orders.version`: bumped by every edit an agent can
  make through a form, so a save made against an older version is refused
  instead of overwriting another agent's change.
- Change signals, written by the database in the same transaction as the
  timeline event that every customer change already records (the store's
  TimelineGuard makes that event mandatory):
  - PostgreSQL: `pg_notify('agentdesk_customer', customer_id)` per event;
    PostgreSQL folds repeats within one transaction and delivers at commit.
  - SQLite: `customer_change` keeps one row per customer with the id of its
    newest event as `seq`; a console polls `seq > last seen` after
    `PRAGMA data_version` says another connection committed.
"""
import sqlalchemy as sa
from alembic import op

revision = '0023'
down_revision = '0022'
branch_labels = None
depends_on = None

PG_FUNCTION = "timeline_event_notify_customer"
PG_CHANNEL = "agentdesk_customer"
SQLITE_TRIGGER = "timeline_event_customer_change"


def upgrade() -> None:
    op.add_column('customer', sa.Column('version', sa.Integer(), server_default=sa.text('1'), nullable=False))
    op.add_column('orders', sa.Column('version', sa.Integer(), server_default=sa.text('1'), nullable=False))
    op.create_table('customer_change',
    sa.Column('customer_id', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('seq', sa.BigInteger(), nullable=False),
    sa.PrimaryKeyConstraint('customer_id')
    )
    op.create_index('ix_customer_change_seq', 'customer_change', ['seq'], unique=False)
    if op.get_bind().dialect.name == "postgresql":
        op.execute(f"""
            CREATE FUNCTION {PG_FUNCTION}() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN
                PERFORM pg_notify('{PG_CHANNEL}', NEW.customer_id::text);
                RETURN NULL;
            END
            $$
        """)
        op.execute(f"""
            CREATE TRIGGER {PG_FUNCTION} AFTER INSERT ON timeline_event
            FOR EACH ROW EXECUTE FUNCTION {PG_FUNCTION}()
        """)
        return
    op.execute(f"""
        CREATE TRIGGER {SQLITE_TRIGGER} AFTER INSERT ON timeline_event
        BEGIN
            INSERT INTO customer_change (customer_id, seq) VALUES (NEW.customer_id, NEW.id)
            ON CONFLICT (customer_id) DO UPDATE SET seq = excluded.seq;
        END
    """)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(f"DROP TRIGGER IF EXISTS {PG_FUNCTION} ON timeline_event")
        op.execute(f"DROP FUNCTION IF EXISTS {PG_FUNCTION}()")
    else:
        op.execute(f"DROP TRIGGER IF EXISTS {SQLITE_TRIGGER}")
    op.drop_index('ix_customer_change_seq', table_name='customer_change')
    op.drop_table('customer_change')
    op.drop_column('orders', 'version')
    op.drop_column('customer', 'version')
