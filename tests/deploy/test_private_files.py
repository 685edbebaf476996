"""Everything AgentDesk writes is private (0700 directories, 0600 files), and it refuses a store others could read."""

import os
import stat
from pathlib import Path

import pytest

from agentdesk.config import Settings
from agentdesk.db.store import Store
from agentdesk.domain.enums import Role
from agentdesk.services.customers import records as customers
from agentdesk.services.deploy import files
from agentdesk.services.jobs import mailer
from agentdesk.services.timeline import attachments

from ..conftest import add_roles, add_website, customer_input, run_cli


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture
def loose_umask():
    """The umask most shells have (022): what AgentDesk must not rely on."""
    previous = os.umask(0o022)
    yield
    os.umask(previous)


@pytest.fixture
def admin_of_sqlite(sqlite_store):
    add_website(sqlite_store)
    return add_roles(sqlite_store)[Role.ADMIN]






def test_a_new_store_is_private_even_under_a_loose_umask(tmp_path, loose_umask):
    database = tmp_path / "new" / "agentdesk.db"
    store = Store(f"sqlite:///{database}")
    store.upgrade()
    with store.engine.connect() as conn:  # WAL and SHM exist while a connection is open
        conn.exec_driver_sql("SELECT 1")
        assert mode(database.parent) == 0o700
        for path in files.sqlite_files(database):
            assert path.exists() and mode(path) == 0o600, path
    store.dispose()


def test_the_command_line_writes_everything_private(tmp_path, capsys, login, loose_umask):
    data = tmp_path / "data"
    url = f"sqlite:///{data / 'agentdesk.db'}"
    code, _, err = run_cli(capsys, "--db", url, "demo", "--customers", "20")
    assert code == 0, err
    assert os.umask(0o022) == 0o022, "main() puts the caller's umask back"
    out = tmp_path / "customers.csv"
    code, _, err = run_cli(capsys, "--db", url, "export", "customers", "--out", str(out))
    assert code == 0, err
    assert mode(data) == 0o700
    written = [*files.sqlite_files(data / "agentdesk.db"), out]
    key = files.key_file(Settings(database_url=url, data_dir=data))
    if key is not None:
        written.append(key)
    for path in written:
        if path.exists():
            assert mode(path) == 0o600, path
    assert (data / "agentdesk.db").exists() and out.exists()


def test_mail_in_the_outbox_is_private(tmp_path, loose_umask):
    settings = Settings(data_dir=tmp_path / "data")
    where = Path(mailer.deliver(settings, mailer.compose(settings, "a@example.com", "Refund", "done")))
    assert where.parent == mailer.outbox_dir(settings)
    assert mode(where.parent) == 0o700 and mode(where) == 0o600
    assert mode(settings.data_dir) == 0o700


def test_attachments_are_kept_and_copied_out_private(tmp_path, sqlite_store, admin_of_sqlite, loose_umask):
    settings = Settings(data_dir=tmp_path / "data")
    customers.create_customer(sqlite_store, admin_of_sqlite, customer_input())
    source = tmp_path / "passport.pdf"
    source.write_bytes(b"%PDF-1.4 passport scan")
    source.chmod(0o644)
    entry = attachments.add_attachment(sqlite_store, admin_of_sqlite, settings, "C-1", source)
    kept = attachments.attachments_dir(settings) / entry.attributes["sha256"]
    assert mode(kept.parent) == 0o700 and mode(kept) == 0o600
    copy = attachments.save_attachment(sqlite_store, admin_of_sqlite, settings, entry.attributes["attachment"],
                                       tmp_path / "copy.pdf")
    assert mode(copy) == 0o600 and copy.read_bytes() == source.read_bytes()


@pytest.mark.parametrize("which, loose", [(0, 0o644), (0, 0o660), (1, 0o604), (2, 0o640)])
def test_a_store_file_open_to_others_is_refused_with_the_fix(tmp_path, capsys, login, which, loose):
    url = f"sqlite:///{tmp_path / 'data' / 'agentdesk.db'}"
    assert run_cli(capsys, "--db", url, "demo", "--customers", "10")[0] == 0
    target = files.sqlite_files(tmp_path / "data" / "agentdesk.db")[which]
    target.touch()
    target.chmod(loose)
    code, out, err = run_cli(capsys, "--db", url, "customers", "search", "a")
    assert code == 1 and out == ""
    assert "refusing to open the store" in err and f"{target} (mode 0{loose:o}" in err
    fix = err.split("fix it with: ", 1)[1].strip()
    assert fix == f"chmod 600 {target}"
    os.system(fix)  # the command it names is the whole fix
    assert run_cli(capsys, "--db", url, "customers", "search", "a")[0] == 0


def test_the_console_and_the_worker_refuse_too(tmp_path, capsys, login):
    url = f"sqlite:///{tmp_path / 'agentdesk.db'}"
    assert run_cli(capsys, "--db", url, "demo", "--customers", "10")[0] == 0
    (tmp_path / "agentdesk.db").chmod(0o640)
    for argv in ([], ["worker", "--once"], ["db", "upgrade"]):
        code, _, err = run_cli(capsys, "--db", url, *argv)
        assert code == 1 and "refusing to open the store" in err, argv


def test_a_key_file_open_to_others_is_refused(tmp_path, capsys, login):
    url = f"sqlite:///{tmp_path / 'agentdesk.db'}"
    key = files.key_file(Settings(database_url=url, data_dir=tmp_path))
    assert key is not None
    assert run_cli(capsys, "--db", url, "demo", "--customers", "10")[0] == 0
    key.touch()
    key.chmod(0o644)
    code, _, err = run_cli(capsys, "--db", url, "customers", "search", "a")
    assert code == 1 and f"{key} (mode 0644, open to its group and every user)" in err
    assert err.strip().endswith(f"chmod 600 {key}")


def test_a_file_of_another_owner_is_fixed_with_chown(tmp_path):
    target = tmp_path / "agentdesk.db"
    target.touch()
    found = [files.Exposure(target, 0o100660, os.getuid() + 1)]
    me = files.owner_name(os.getuid())
    assert files.fix_command(found) == f"chown {me} {target} && chmod 600 {target}"
