"""`agentdesk portal`: opens the store like every command and hands the app to uvicorn with no access log."""

from __future__ import annotations

import uvicorn
from starlette.testclient import TestClient

from tests.conftest import policy, run_cli


def test_portal_command_serves_the_app_without_an_access_log(capsys, sqlite_url, sqlite_store, monkeypatch):
    policy(sqlite_store, {"portal_base_url": "https://portal.shop.example"})
    served = {}

    def fake_run(app, **options):
        served.update(options, app=app)

    monkeypatch.setattr(uvicorn, "run", fake_run)
    code, out, err = run_cli(capsys, "--db", sqlite_url, "portal", "--host", "127.0.0.2", "--port", "8099")
    assert code == 0, err
    assert "https://portal.shop.example" in out
    assert (served["host"], served["port"], served["access_log"]) == ("127.0.0.2", 8099, False)
    with TestClient(served["app"]) as client:
        assert client.get("/healthz").text == "ok"


def test_portal_command_refuses_a_bad_port(capsys, sqlite_url, sqlite_store):
    code, _, err = run_cli(capsys, "--db", sqlite_url, "portal", "--port", "70000")
    assert code != 0 and "70000" in err
