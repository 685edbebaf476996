"""`db upgrade` leaves PostgreSQL's planner statistics fresh (issue 16: a migrated store is planned as if empty)."""

import pytest
from sqlalchemy import create_engine, text

from .conftest import run_cli


@pytest.mark.pg
def test_db_upgrade_analyses_a_postgresql_store(pg_url, capsys):
    code, out, _ = run_cli(capsys, "--db", pg_url, "db", "upgrade")
    assert code == 0 and "statistics refreshed (ANALYZE)" in out
    engine = create_engine(pg_url)
    with engine.connect() as connection:
        analysed = connection.execute(text("SELECT relname FROM pg_stat_user_tables WHERE last_analyze IS NOT NULL"))
        assert {"customer", "timeline_event", "customer_search"} <= {row[0] for row in analysed}
    engine.dispose()
    code, out, _ = run_cli(capsys, "--db", pg_url, "db", "upgrade")
    assert code == 0 and "already current" in out and "ANALYZE" not in out


def test_db_upgrade_of_sqlite_has_no_statistics_to_refresh(sqlite_url, capsys):
    code, out, _ = run_cli(capsys, "--db", sqlite_url, "db", "upgrade")
    assert code == 0 and "was empty" in out and "ANALYZE" not in out
