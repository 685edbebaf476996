"""policy settings in the store and their audit log (issue 10)

Revision ID: 0014
Revises: 0013
Create Date: 2026-11-22 03:30:00

Policy (refund limits per role and currency, payout ceilings, gateways per
website, notify addresses, attachment and link limits, dunning schedule,
portal address) moves out of the config file, which the person at the
keyboard controls, into the `policy` table, changed only by admins. Every
change is a row of `policy_change`, which the database keeps append-only
(triggers on both databases). The defaults below are seeded, each with its
`policy_change` row, so `agentdesk policy history` says where a value came
from. They are written out here rather than imported: a migration keeps the
values it shipped with.
"""

from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op
from sqlmodel.sql.sqltypes import AutoString, UTCDateTime

revision = '0014'
down_revision = '0013'
branch_labels = None
depends_on = None

SEEDED_BY = "migration 0014"
SEEDS: dict[str, object] = {
    **{f"refund_limit.agent.{cur}": 50_000 for cur in ("USD", "EUR", "GBP", "CAD", "AUD", "JPY")},
    **{f"payout_ceiling.{cur}": 500_000 for cur in ("USD", "EUR", "GBP", "CAD", "AUD", "JPY")},
    "notify_emails": [],
    "attachment_limit": 10 * 2**20,
    "link_expiry.kyc": 168,
    "link_expiry.deposit": 72,
    "link_expiry.portal": 72,
    "link_expiry.add_card": 72,
    "dunning_schedule": [1, 3, 7],
}
"""Minor units for amounts: 500.00 (JPY 50,000) per refund for agents, 5,000.00 (JPY 500,000) per payout."""

MESSAGE = "policy changes are append-only: a new change is a new row"
SQLITE_TRIGGERS = {"policy_change_no_update": "UPDATE", "policy_change_no_delete": "DELETE"}
PG_FUNCTION = "policy_change_append_only"


def upgrade() -> None:
    policy = op.create_table('policy',
    sa.Column('key', AutoString(length=100), nullable=False),
    sa.Column('value', sa.JSON(), nullable=False),
    sa.Column('updated_at', UTCDateTime(), nullable=False),
    sa.Column('updated_by', sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(['updated_by'], ['agent.id'], ),
    sa.PrimaryKeyConstraint('key')
    )
    change = op.create_table('policy_change',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('key', AutoString(length=100), nullable=False),
    sa.Column('old_value', sa.JSON(), nullable=True),
    sa.Column('new_value', sa.JSON(), nullable=True),
    sa.Column('agent_id', sa.Integer(), nullable=True),
    sa.Column('agent_label', AutoString(length=64), nullable=False),
    sa.Column('changed_at', UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['agent_id'], ['agent.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('policy_change', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_policy_change_key'), ['key'], unique=False)

    now = datetime.now(UTC)
    op.bulk_insert(policy, [{"key": key, "value": value, "updated_at": now, "updated_by": None}
                            for key, value in SEEDS.items()])
    op.bulk_insert(change, [{"key": key, "old_value": None, "new_value": value, "agent_id": None,
                             "agent_label": SEEDED_BY, "changed_at": now} for key, value in SEEDS.items()])

    if op.get_bind().dialect.name == "postgresql":
        op.execute(f"""
            CREATE FUNCTION {PG_FUNCTION}() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN
                RAISE EXCEPTION '{MESSAGE} (% refused)', TG_OP USING ERRCODE = 'insufficient_privilege';
            END
            $$
        """)
        op.execute(f"""
            CREATE TRIGGER {PG_FUNCTION} BEFORE UPDATE OR DELETE ON policy_change
            FOR EACH ROW EXECUTE FUNCTION {PG_FUNCTION}()
        """)
        op.execute(f"""
            CREATE TRIGGER {PG_FUNCTION}_truncate BEFORE TRUNCATE ON policy_change
            FOR EACH STATEMENT EXECUTE FUNCTION {PG_FUNCTION}()
        """)
    else:
        for name, operation in SQLITE_TRIGGERS.items():
            op.execute(f"""
                CREATE TRIGGER {name} BEFORE {operation} ON policy_change
                BEGIN SELECT RAISE(ABORT, '{MESSAGE} ({operation} refused)'); END
            """)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(f"DROP TRIGGER IF EXISTS {PG_FUNCTION}_truncate ON policy_change")
        op.execute(f"DROP TRIGGER IF EXISTS {PG_FUNCTION} ON policy_change")
        op.execute(f"DROP FUNCTION IF EXISTS {PG_FUNCTION}()")
    else:
        for name in SQLITE_TRIGGERS:
            op.execute(f"DROP TRIGGER IF EXISTS {name}")
    with op.batch_alter_table('policy_change', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_policy_change_key'))

    op.drop_table('policy_change')
    op.drop_table('policy')
