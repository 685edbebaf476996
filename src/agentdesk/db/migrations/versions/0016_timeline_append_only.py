"""the database refuses UPDATE and DELETE on timeline events (issue 10)

Revision ID: 0016
Revises: 0015
Create Date: 2026-11-22 03:30:00

The services never change an event (the store's TimelineGuard refuses it in
the session); these triggers make the database refuse it too, for any client:
`sqlite3 agentdesk.db "update timeline_event …"` or psql with the
application's credentials. Someone who may change the schema can drop them;
the keyed hash chain is what catches that writer.
"""

from alembic import op

revision = '0016'
down_revision = '0015'
branch_labels = None
depends_on = None

MESSAGE = "timeline events are append-only: a correction is a new event"

SQLITE_TRIGGERS = {
    "timeline_event_no_update": "UPDATE",
    "timeline_event_no_delete": "DELETE",
}
PG_FUNCTION = "timeline_event_append_only"


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(f"""
            CREATE FUNCTION {PG_FUNCTION}() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN
                RAISE EXCEPTION '{MESSAGE} (% refused)', TG_OP USING ERRCODE = 'insufficient_privilege';
            END
            $$
        """)
        op.execute(f"""
            CREATE TRIGGER {PG_FUNCTION} BEFORE UPDATE OR DELETE ON timeline_event
            FOR EACH ROW EXECUTE FUNCTION {PG_FUNCTION}()
        """)
        op.execute(f"""
            CREATE TRIGGER {PG_FUNCTION}_truncate BEFORE TRUNCATE ON timeline_event
            FOR EACH STATEMENT EXECUTE FUNCTION {PG_FUNCTION}()
        """)
        return
    for name, operation in SQLITE_TRIGGERS.items():
        op.execute(f"""
            CREATE TRIGGER {name} BEFORE {operation} ON timeline_event
            BEGIN SELECT RAISE(ABORT, '{MESSAGE} ({operation} refused)'); END
        """)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(f"DROP TRIGGER IF EXISTS {PG_FUNCTION}_truncate ON timeline_event")
        op.execute(f"DROP TRIGGER IF EXISTS {PG_FUNCTION} ON timeline_event")
        op.execute(f"DROP FUNCTION IF EXISTS {PG_FUNCTION}()")
        return
    for name in SQLITE_TRIGGERS:
        op.execute(f"DROP TRIGGER IF EXISTS {name}")
