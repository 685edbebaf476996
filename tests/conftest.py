"""Shared fixtures: a fresh SQLite store per test, and a fresh PostgreSQL database for `pg` tests.

PostgreSQL tests run when AGENTDESK_TEST_DATABASE_URL names a server database
(any database the user may CREATE DATABASE from); each test gets its own
database, dropped afterwards. With AGENTDESK_REQUIRE_PG=1 (CI) a missing
server fails those tests instead of skipping them.

A migrated store is a copy of a template migrated once per test process (a file
copy on SQLite, `CREATE DATABASE … TEMPLATE` on PostgreSQL): running every
migration for each test took most of the suite's time. The template is never
keyed, so each store still gets its own service key when it is first opened.
"""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile
import uuid
from pathlib import Path

import pytest
from alembic import command
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from agentdesk.config import load_settings
from agentdesk.db.models import Website
from agentdesk.db.store import Store
from agentdesk.domain.enums import Role
from agentdesk.domain.permissions import Actor
from agentdesk.domain.validation import ContactInput, CustomerInput
from agentdesk.services.agents import identity

PG_URL = os.environ.get("AGENTDESK_TEST_DATABASE_URL")


@pytest.fixture(autouse=True)
def _isolated_environment(tmp_path, monkeypatch):
    """No test reads the developer's own config or data dir."""
    for name in list(os.environ):
        if name.startswith("AGENTDESK_") and name not in ("AGENTDESK_TEST_DATABASE_URL", "AGENTDESK_REQUIRE_PG"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("AGENTDESK_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg-data"))


@pytest.fixture
def sqlite_url(tmp_path) -> str:
    return f"sqlite:///{tmp_path / 'agentdesk.db'}"


def _migrate_unkeyed(url: str) -> None:
    """Every migration, without opening (and so recording) a service key."""
    store = Store(url)
    config = store._alembic_config()
    with store.engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "head")
    store.dispose()


_SQLITE_TEMPLATE: list[Path] = []


def _sqlite_template() -> Path:
    if not _SQLITE_TEMPLATE:
        folder = Path(tempfile.mkdtemp(prefix="agentdesk-template-"))
        atexit.register(shutil.rmtree, folder, True)
        path = folder / "migrated.db"
        _migrate_unkeyed(f"sqlite:///{path}")
        _SQLITE_TEMPLATE.append(path)
    return _SQLITE_TEMPLATE[0]


def migrated_sqlite_url(tmp_path: Path, name: str = "agentdesk.db") -> str:
    """A SQLite store file at every migration, copied from this process's template."""
    path = tmp_path / name
    shutil.copyfile(_sqlite_template(), path)
    path.chmod(0o600)
    return f"sqlite:///{path}"


def _pg_admin_engine():
    if not PG_URL:
        if os.environ.get("AGENTDESK_REQUIRE_PG"):
            pytest.fail("AGENTDESK_REQUIRE_PG is set but AGENTDESK_TEST_DATABASE_URL is not")
        pytest.skip("AGENTDESK_TEST_DATABASE_URL is not set")
    return create_engine(PG_URL, isolation_level="AUTOCOMMIT")


def _pg_database(template: str | None = None):
    """A new database (empty, or a copy of `template`), dropped when the generator closes."""
    engine = _pg_admin_engine()
    name = f"agentdesk_test_{uuid.uuid4().hex[:12]}"
    copy_of = f' TEMPLATE "{template}"' if template else ""
    try:
        with engine.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"{copy_of}'))
    except Exception as exc:
        engine.dispose()
        if os.environ.get("AGENTDESK_REQUIRE_PG"):
            pytest.fail(f"cannot create a PostgreSQL test database: {exc}")
        pytest.skip(f"PostgreSQL not reachable: {exc}")
    url = make_url(PG_URL).set(database=name).render_as_string(hide_password=False)
    try:
        yield url
    finally:
        with engine.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        engine.dispose()


@pytest.fixture
def pg_url():
    """An empty PostgreSQL database of this test's own."""
    yield from _pg_database()


@pytest.fixture(scope="session")
def pg_template():
    """This test process's migrated, unkeyed PostgreSQL database, copied by `pg_migrated_url`."""
    databases = _pg_database()
    url = next(databases)
    _migrate_unkeyed(url)
    yield make_url(url).database
    databases.close()


@pytest.fixture
def pg_migrated_url(pg_template):
    """A PostgreSQL database of this test's own, at every migration."""
    yield from _pg_database(pg_template)


def make_store(url: str) -> Store:
    """A migrated store with its key where the command line looks for it (the settings' data dir)."""
    settings = load_settings(url)
    store = Store(url, key_file=settings.key_file, data_dir=settings.data_dir)
    store.upgrade()
    return store


@pytest.fixture(params=["sqlite", pytest.param("pg", marks=pytest.mark.pg)])
def store(request, tmp_path):
    """An empty, migrated store; every test using it runs on SQLite and on PostgreSQL."""
    url = migrated_sqlite_url(tmp_path) if request.param == "sqlite" else request.getfixturevalue("pg_migrated_url")
    s = make_store(url)
    yield s
    s.dispose()


@pytest.fixture
def sqlite_store(tmp_path):
    s = make_store(migrated_sqlite_url(tmp_path))
    yield s
    s.dispose()


def add_website(store: Store, code: str = "shop-us", currency: str = "USD") -> None:
    with store.write() as session:
        session.add(Website(code=code, name=code, url=f"https://{code}.example", default_currency=currency))


def policy(store: Store, values: dict[str, object]) -> None:
    """Set policy keys in the store as the system (an admin), as `agentdesk policy set` would."""
    from agentdesk.domain.permissions import SYSTEM
    from agentdesk.services.policy.service import set_policy

    for key, value in values.items():
        set_policy(store, SYSTEM, key, value)


def add_roles(store: Store) -> dict[Role, Actor]:
    """One agent per role; the first (admin) bootstraps the empty store."""
    identity.add_agent(store, None, "ada", "admin", "Ada Admin")
    admin = identity.resolve_actor(store, "ada")
    for login, role in [("cara", "agent"), ("sam", "sales"), ("finn", "finance")]:
        identity.add_agent(store, admin, login, role)
    return {
        Role(r): identity.resolve_actor(store, login)
        for login, r in [("ada", "admin"), ("cara", "agent"), ("sam", "sales"), ("finn", "finance")]
    }


@pytest.fixture
def actors(store) -> dict[Role, Actor]:
    add_website(store)
    return add_roles(store)


@pytest.fixture
def admin(actors) -> Actor:
    return actors[Role.ADMIN]


def customer_input(**overrides) -> CustomerInput:
    values = dict(
        first_name="Grace",
        last_name="Hopper",
        external_id="C-1",
        emails=[ContactInput("grace@example.com"), ContactInput("g.hopper@navy.example")],
        phones=[ContactInput("+1 (415) 555-0100"), ContactInput("+44 20 7946 0958", primary=True)],
    )
    values.update(overrides)
    return CustomerInput(**values)


@pytest.fixture
def login(monkeypatch) -> dict[str, str]:
    """The operating-system login the CLI sees (tests cannot switch Unix accounts); set `login["name"]` to change it."""
    current = {"name": "operator"}
    monkeypatch.setattr(identity, "os_login", lambda: current["name"])
    return current


def run_cli(capsys, *argv: str) -> tuple[int, str, str]:
    """`agentdesk ARGV…` in-process: (exit status, stdout, stderr)."""
    from agentdesk import cli

    code = cli.main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err
