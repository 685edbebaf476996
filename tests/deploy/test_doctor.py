"""`agentdesk doctor`: each problem of a deployment is found and comes with the command that fixes it."""

import json
import os
import pwd
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from agentdesk import cli
from agentdesk.config import Settings, load_settings
from agentdesk.db.store import Store
from agentdesk.services.agents import identity
from agentdesk.services.deploy import doctor, files

from ..support.tamper import disable_timeline_guard


@pytest.fixture
def deployed(tmp_path, capsys, login):
    """A store made by agentdesk itself in the data dir, the way `make run` or a service account makes one."""
    return make_deployment(tmp_path / "data", capsys)


def make_deployment(data, capsys):
    url = f"sqlite:///{data / 'agentdesk.db'}"
    assert cli.main(["--db", url, "demo", "--customers", "10"]) == 0
    capsys.readouterr()
    return data, url


def doctor_json(capsys, url: str) -> tuple[int, dict]:
    code = cli.main(["--db", url, "doctor", "--json"])
    return code, json.loads(capsys.readouterr().out)


def problems(report: dict) -> dict[str, dict]:
    return {c["check"]: c for c in report["checks"] if not c["ok"]}


def test_a_store_agentdesk_made_itself_is_clean(deployed, capsys):
    _, url = deployed
    code, report = doctor_json(capsys, url)
    assert code == 0 and report["ok"] and problems(report) == {}
    checked = {c["check"] for c in report["checks"]}
    assert {"data dir", "store", "key file", "policy", "timeline append-only"} <= checked
    code = cli.main(["--db", url, "doctor"])
    out, _ = capsys.readouterr()
    assert code == 0 and out.splitlines()[-1] == "deployment ok"


def test_loose_modes_are_named_with_their_fix_and_the_fix_works(deployed, capsys):
    data, url = deployed
    store = data / "agentdesk.db"
    key = files.key_file(Settings(database_url=url, data_dir=data))
    outbox = data / "outbox"
    outbox.mkdir(mode=0o755)
    (outbox / "mail.eml").write_text("x")
    (outbox / "mail.eml").chmod(0o644)
    data.chmod(0o755)
    store.chmod(0o644)
    key.chmod(0o640)
    code, report = doctor_json(capsys, url)
    found = problems(report)
    assert code == 1
    assert found["data dir"]["fix"] == f"chmod 700 {data}"
    assert found["store"]["fix"] == f"chmod 600 {store}"
    assert found["key file"]["fix"] == f"chmod 600 {key}"
    assert found["outbox"]["fix"] == f"chmod 700 {outbox}"
    assert found["outbox files"]["fix"] == f"chmod -R go= {outbox}"
    code = cli.main(["--db", url, "doctor"])
    out, err = capsys.readouterr()
    assert code == 1 and err.strip() == "5 problem(s) to fix"
    assert f"FIX   store: {store}: {pwd.getpwuid(os.getuid()).pw_name}, mode 0644; fix: chmod 600 {store}" in out
    for check in found.values():
        subprocess.run(check["fix"], shell=True, check=True)
    code, report = doctor_json(capsys, url)
    assert code == 0, problems(report)


def test_a_missing_key_and_an_unguarded_timeline_are_problems(deployed, capsys):
    data, url = deployed
    key = files.key_file(Settings(database_url=url, data_dir=data))
    engine = create_engine(url)
    with engine.begin() as conn:
        disable_timeline_guard(conn)
        conn.execute(text("DELETE FROM policy"))
    engine.dispose()
    key.rename(key.with_name("elsewhere"))
    code, report = doctor_json(capsys, url)
    found = problems(report)
    assert code == 1 and set(found) == {"key file", "timeline append-only", "policy"}
    assert "missing" in found["key file"]["found"]
    assert "change or delete timeline events" in found["timeline append-only"]["found"]
    assert "agentdesk policy set" in found["policy"]["fix"]


def test_secrets_in_a_config_file_others_can_read(deployed, capsys, tmp_path):
    _, url = deployed
    config = tmp_path / "config" / "agentdesk" / "config.toml"
    config.parent.mkdir(parents=True)
    config.write_text('[gateways.stripe]\napi_key = "sk_test_secret"\n')
    config.chmod(0o644)
    code, report = doctor_json(capsys, url)
    found = problems(report)
    assert code == 1 and list(found) == ["config file (the Stripe API key)"]
    assert found["config file (the Stripe API key)"]["fix"] == f"chmod 600 {config}"
    config.chmod(0o600)
    assert doctor_json(capsys, url)[0] == 0


def test_a_database_password_in_the_environment_is_a_problem(deployed, capsys, monkeypatch):
    _, url = deployed
    monkeypatch.setenv("AGENTDESK_DATABASE_URL", "postgresql+psycopg://app:hunter2@127.0.0.1/agentdesk")
    report = doctor.diagnose(load_settings(url))
    assert [c.what for c in report.problems] == ["secrets in the environment"]
    assert "AGENTDESK_DATABASE_URL" in report.problems[0].found and "hunter2" not in report.problems[0].found


@pytest.fixture
def traversable(monkeypatch):
    """A directory every account can reach (pytest's own tmp dirs are 0700)."""
    base = Path(tempfile.mkdtemp(prefix="agentdesk-doctor-"))
    base.chmod(0o755)
    monkeypatch.setenv("AGENTDESK_DATA_DIR", str(base / "data"))
    yield base
    shutil.rmtree(base)


def test_the_agent_who_ran_it_through_sudo_must_not_reach_the_store(traversable, capsys, login, monkeypatch):
    data, url = make_deployment(traversable / "data", capsys)
    other = next(p for p in pwd.getpwall() if p.pw_uid not in (0, os.getuid()) and p.pw_name.isidentifier())
    monkeypatch.setenv("SUDO_USER", other.pw_name)
    monkeypatch.setenv("SUDO_UID", str(other.pw_uid))
    monkeypatch.setattr(identity, "started_by_sudo", lambda invoker: invoker == other.pw_uid)
    code, report = doctor_json(capsys, url)
    assert code == 0 and report["invoker"] == other.pw_name
    assert any(c["check"] == "agent without sudo" and c["ok"] for c in report["checks"])
    data.chmod(0o755)
    (data / "agentdesk.db").chmod(0o644)
    code, report = doctor_json(capsys, url)
    found = problems(report)
    assert code == 1
    assert found["agent without sudo"]["found"] == f"{other.pw_name} could read {data / 'agentdesk.db'} directly"


@pytest.mark.pg
def test_postgresql_deployment(pg_url, capsys, login, tmp_path, monkeypatch):
    server = Store(pg_url, data_dir=tmp_path / "data")  # its key file: <data dir>/agentdesk.key
    server.upgrade()
    server.open_key()
    server.dispose()
    password_url = make_url(pg_url).set(password="not-shown").render_as_string(hide_password=False)
    config = tmp_path / "config" / "agentdesk" / "config.toml"
    config.parent.mkdir(parents=True)
    config.write_text(f'database_url = "{password_url}"\n')
    config.chmod(0o644)
    settings = load_settings()
    assert settings.database_url == password_url
    report = doctor.diagnose(settings)
    by_name = {c.what: c for c in report.checks}
    assert by_name["timeline append-only"].ok and by_name["policy"].ok and by_name["database role"].ok
    assert [c.what for c in report.problems] == ["config file (the database password)"]
    assert report.problems[0].fix == f"chmod 600 {config}"
    config.chmod(0o600)
    engine = create_engine(pg_url)
    with engine.begin() as conn:
        disable_timeline_guard(conn)
    engine.dispose()
    report = doctor.diagnose(load_settings())
    assert [c.what for c in report.problems] == ["timeline append-only"]
