"""Tampering with a store the way an attacker with schema rights would, for tests of tamper evidence.

The database refuses UPDATE and DELETE on timeline events (migration 0016), so
a test that forges, edits or removes events must first do what such an
attacker does: drop the SQLite triggers or disable the PostgreSQL ones.

    with store.engine.begin() as conn:
        disable_timeline_guard(conn)
        conn.exec_driver_sql("DELETE FROM timeline_event WHERE id = ?", (event_id,))
"""

from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.engine import Connection


def disable_timeline_guard(connection: Connection) -> list[str]:
    """Remove every trigger guarding `timeline_event`; returns their names (what the attacker removed)."""
    if connection.dialect.name == "postgresql":
        names = list(connection.execute(text(
            "SELECT tgname FROM pg_trigger WHERE tgrelid = 'timeline_event'::regclass AND NOT tgisinternal"
            " ORDER BY tgname")).scalars())
        connection.execute(text("ALTER TABLE timeline_event DISABLE TRIGGER USER"))
        return names
    names = list(connection.execute(text(
        "SELECT name FROM sqlite_master WHERE type = 'trigger' AND tbl_name = 'timeline_event' ORDER BY name"
    )).scalars())
    for name in names:
        connection.execute(text(f'DROP TRIGGER "{name}"'))
    return names
