import sqlite3

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect, select, text
from sqlmodel import SQLModel

from agentdesk.db import models  # noqa: F401
from agentdesk.db.store import Store, StoreError


def skip_search_index(obj, name, type_, reflected, compare_to):
    """What the migrations build by hand per dialect, outside the models."""
    if type_ == "table" and name.startswith("customer_search"):
        return False
    return not (type_ == "index" and name and name.startswith("ix_pg_"))


def test_migrations_bring_an_empty_database_to_the_models(store):
    assert store.current_revision() == store.head_revision()
    with store.engine.connect() as connection:
        context = MigrationContext.configure(
            connection, opts={"compare_type": True, "include_object": skip_search_index}
        )
        diff = compare_metadata(context, SQLModel.metadata)
    assert diff == []
    with store.engine.connect() as connection:
        tables = set(inspect(connection).get_table_names())
    assert {"customer", "customer_email", "transaction", "timeline_event", "job", "agent"} <= tables


def test_upgrade_twice_is_harmless(store):
    store.upgrade()
    assert store.is_current()


def test_embedded_store_upgrades_itself(sqlite_url):
    s = Store(sqlite_url)
    assert s.current_revision() is None
    s.ensure_schema()
    assert s.is_current()


@pytest.mark.pg
def test_server_store_is_not_migrated_behind_the_admins_back(pg_url):
    s = Store(pg_url)
    with pytest.raises(StoreError, match="db upgrade"):
        s.ensure_schema()
    s.dispose()


def test_a_database_with_foreign_tables_is_left_alone(tmp_path):
    path = tmp_path / "other.db"
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE invoices (id INTEGER)")
    conn.commit()
    conn.close()
    with pytest.raises(StoreError, match="did not create"):
        Store(f"sqlite:///{path}").upgrade()


def test_sqlite_pragmas(sqlite_store):
    with sqlite_store.engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
        assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() >= 1000


def test_write_transactions_take_the_write_lock_at_begin(sqlite_store, tmp_path):
    """BEGIN IMMEDIATE: while one write block is open, another writer cannot start."""
    path = tmp_path / "agentdesk.db"
    with sqlite_store.write() as session:
        session.execute(text("SELECT 1"))
        other = sqlite3.connect(path, timeout=0, isolation_level=None)
        with pytest.raises(sqlite3.OperationalError, match="locked"):
            other.execute("BEGIN IMMEDIATE")
        other.close()
    other = sqlite3.connect(path, timeout=0, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    other.execute("ROLLBACK")
    other.close()


def test_a_failing_write_block_rolls_everything_back(sqlite_store):
    from agentdesk.db.models import Website

    with pytest.raises(RuntimeError), sqlite_store.write() as session:
        session.add(Website(code="x", name="x", url="https://x.example", default_currency="USD"))
        session.flush()
        raise RuntimeError("boom")
    with sqlite_store.read() as session:
        assert session.execute(text("SELECT COUNT(*) FROM website")).scalar() == 0


def test_state_columns_hold_the_enum_value_and_read_back_as_the_enum(store):
    from sqlalchemy.exc import StatementError

    from agentdesk.db.models import Agent
    from agentdesk.domain.enums import Role

    with store.write() as session:
        session.add(Agent(login="finn", name="Finn", role=Role.FINANCE))
    with store.read() as session:
        assert session.execute(text("SELECT role FROM agent WHERE login = 'finn'")).scalar_one() == "finance"
        agent = session.execute(select(Agent).where(Agent.login == "finn")).scalar_one()
        assert agent.role is Role.FINANCE
        assert session.execute(select(Agent.id).where(Agent.role == "finance")).scalar_one() == agent.id
    with pytest.raises(StatementError, match="not a valid Role"), store.write() as session:
        session.add(Agent(login="eve", name="Eve", role="owner"))
