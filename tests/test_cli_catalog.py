"""`agentdesk catalog list|import` as an operator types them."""

import json
from importlib import resources
from pathlib import Path

import pytest
from sqlalchemy import func, select

from agentdesk.db.models import Plan
from agentdesk.db.store import Store

from .conftest import run_cli

DEMO_FILE = str(resources.files("agentdesk.demo.data").joinpath("catalog.toml"))


@pytest.fixture(params=["sqlite", pytest.param("pg", marks=pytest.mark.pg)])
def db(request, capsys, login):
    url = request.getfixturevalue("sqlite_url") if request.param == "sqlite" else request.getfixturevalue("pg_url")
    assert run_cli(capsys, "--db", url, "db", "upgrade")[0] == 0
    code, _, err = run_cli(capsys, "--db", url, "agents", "add", "operator", "--role", "admin")
    assert code == 0, err
    return url


def plan_count(url: str) -> int:
    store = Store(url)
    try:
        with store.read() as s:
            return s.execute(select(func.count()).select_from(Plan)).scalar_one()
    finally:
        store.dispose()


def test_import_then_list_as_a_table_and_as_json(db, capsys):
    code, out, err = run_cli(capsys, "--db", db, "catalog", "import", DEMO_FILE)
    assert code == 0, err
    assert "products added" in out and "23 plans added" in out and "7 shipping rates" in out
    assert plan_count(db) == 23

    code, out, _ = run_cli(capsys, "--db", db, "catalog", "list")
    lines = out.splitlines()
    assert code == 0 and lines[0].split()[:4] == ["PRODUCT", "PLAN", "KIND", "PRICE"]
    row = next(line for line in lines if "fit-coach-12m-gbp" in line)
    assert "12.99 GBP" in row and "monthly, 12 times" in row and "25.00 GBP" in row and "in advance" in row
    assert "7 days free" in next(line for line in lines if "stream-basic-trial-usd" in line)
    assert "14 days at 1.00 GBP" in next(line for line in lines if "fit-coach-trial-gbp" in line)
    assert "in arrears, 3.99 USD per unit" in next(line for line in lines if "stream-ppv-m-usd" in line)
    assert "one-time" in next(line for line in lines if "gift-25-usd" in line)

    code, out, _ = run_cli(capsys, "--db", db, "catalog", "list", "--json")
    products = json.loads(out)
    band = next(p for p in products if p["sku"] == "FIT-BAND")
    assert band["requires_shipping"] is True and band["options"]["size"] == ["S", "M", "L"]
    team = next(p for p in products if p["sku"] == "STREAM-TEAM")["plans"][0]
    assert (team["price"], team["currency"], team["interval"], team["setup_fee"]) == (49900, "USD", "year", 5000)
    assert (team["invoice_issue_days"], team["invoice_due_days"], team["commission_rate_bp"]) == (14, 30, 2000)

    again = run_cli(capsys, "--db", db, "catalog", "import", DEMO_FILE, "--json")
    assert json.loads(again[1]) == {"products_added": 0, "products_updated": 0, "plans_added": 0,
                                    "plans_updated": 0, "shipping_rates": 0}


def test_list_all_shows_inactive_plans(db, capsys, tmp_path):
    path = tmp_path / "small.toml"
    path.write_text('[[products]]\nsku = "A"\nname = "A"\nplans = [\n'
                    '  { code = "a-m", name = "A monthly", price = 100, currency = "USD", interval = "month" },\n'
                    '  { code = "a-old", name = "A old", price = 90, currency = "USD", interval = "month", '
                    "active = false },\n]\n", encoding="utf-8")
    assert run_cli(capsys, "--db", db, "catalog", "import", str(path))[0] == 0
    shown = run_cli(capsys, "--db", db, "catalog", "list")[1]
    assert "a-m" in shown and "a-old" not in shown
    everything = run_cli(capsys, "--db", db, "catalog", "list", "--all")[1]
    assert "a-old" in everything and "(inactive)" in everything


def test_a_bad_file_is_refused_on_one_line_naming_the_entry(db, capsys, tmp_path):
    text = Path(DEMO_FILE).read_text(encoding="utf-8").replace('interval = "week" }', 'interval = "fortnight" }', 1)
    path = tmp_path / "bad.toml"
    path.write_text(text, encoding="utf-8")
    code, out, err = run_cli(capsys, "--db", db, "catalog", "import", str(path))
    assert code != 0 and out == ""
    assert len(err.strip().splitlines()) == 1
    assert "products[0].plans[4].interval: must be day, week, month or year" in err
    assert plan_count(db) == 0
    code, _, err = run_cli(capsys, "--db", db, "catalog", "import", str(tmp_path / "missing.toml"))
    assert code != 0 and "missing.toml" in err


def test_only_admins_import(db, capsys, login):
    assert run_cli(capsys, "--db", db, "agents", "add", "bob", "--role", "agent")[0] == 0
    login["name"] = "bob"
    code, _, err = run_cli(capsys, "--db", db, "catalog", "import", DEMO_FILE)
    assert code != 0 and "may not import the catalog" in err
    assert plan_count(db) == 0
    assert run_cli(capsys, "--db", db, "catalog", "list")[0] == 0
