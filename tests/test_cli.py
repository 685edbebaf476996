"""The headless CLI, driven through `main()` as a shell would call it, plus one real subprocess."""

import csv
import json
import os
import re
import subprocess
import sys

import pytest

from agentdesk import cli
from agentdesk.domain.money import parse_amount
from agentdesk.services.agents import identity


@pytest.fixture
def login(monkeypatch):
    """The operating-system login the CLI sees (tests cannot switch Unix accounts)."""
    current = {"name": "operator"}
    monkeypatch.setattr(identity, "os_login", lambda: current["name"])
    return current


def run(capsys, *argv) -> tuple[int, str, str]:
    code = cli.main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def empty_db(sqlite_url, capsys):
    """A new store with its schema and no data, made the one way a real store is made."""
    code, _, err = run(capsys, "--db", sqlite_url, "db", "upgrade")
    assert code == 0, err
    return sqlite_url


@pytest.fixture
def demo_db(sqlite_url, capsys, login):
    code, out, err = run(capsys, "--db", sqlite_url, "demo", "--customers", "200", "--seed", "5")
    assert code == 0, err
    assert "demo store ready" in out
    return sqlite_url


def test_search_and_show_json(demo_db, capsys):
    code, out, _ = run(capsys, "--db", demo_db, "customers", "search", "CUS-0000017", "--json")
    assert code == 0
    rows = json.loads(out)["customers"]
    assert rows[0]["id"] == "CUS-0000017"
    code, out, _ = run(capsys, "--db", demo_db, "customers", "show", "CUS-0000017", "--json")
    assert code == 0
    shown = json.loads(out)
    assert shown["id"] == "CUS-0000017"
    assert shown["emails"] and any(e["primary"] for e in shown["emails"])
    for key in ("phones", "addresses", "instruments", "transactions", "timeline"):
        assert isinstance(shown[key], list)
    code, out, _ = run(capsys, "--db", demo_db, "customers", "search", "--segment", "customers", "--limit", "5",
                       "--json")
    rows = json.loads(out)["customers"]
    assert len(rows) == 5 and all(r["payment_count"] >= 1 for r in rows)
    one = json.loads(run(capsys, "--db", demo_db, "customers", "show", rows[0]["id"], "--json")[1])
    txn = one["transactions"][0]
    assert {"id", "type", "status", "settled", "amount", "currency"} <= set(txn)
    assert isinstance(txn["amount"], int)


def test_plain_output_and_errors(demo_db, capsys):
    code, out, _ = run(capsys, "--db", demo_db, "customers", "show", "CUS-0000001")
    assert code == 0 and "CUS-0000001" in out
    shown = json.loads(run(capsys, "--db", demo_db, "customers", "show", "CUS-0000001", "--json")[1])
    for card in shown["instruments"]:
        assert f"•••• {card['last4']}" in out, "the text lists the cards an agent can name by their last four"
    code, out, err = run(capsys, "--db", demo_db, "customers", "show", "nope")
    assert code == 1 and out == "" and err.strip() == "agentdesk: no customer with the id 'nope'"
    code, _, err = run(capsys, "--db", demo_db, "customers", "search", "x", "--limit", "0")
    assert code == 1 and "limit" in err and len(err.strip().splitlines()) == 1


def test_as_works_on_a_demo_store(demo_db, capsys):
    code, _, err = run(capsys, "--db", demo_db, "--as", "sara", "agents", "add", "newbie", "--role", "agent")
    assert code == 1 and "sara (sales) may not manage agents" in err
    code, out, _ = run(capsys, "--db", demo_db, "--as", "alice", "agents", "add", "newbie", "--role", "agent")
    assert code == 0 and "added newbie as agent" in out


def test_unknown_login_and_as_on_a_real_store(empty_db, capsys, login):
    login["name"] = "boss"
    assert run(capsys, "--db", empty_db, "agents", "add", "boss", "--role", "admin")[0] == 0
    assert run(capsys, "--db", empty_db, "agents", "add", "carol", "--role", "agent")[0] == 0
    login["name"] = "mallory"
    code, out, err = run(capsys, "--db", empty_db, "customers", "search", "x")
    assert code == 1 and out == ""
    assert "'mallory' is not an AgentDesk agent" in err and "agentdesk agents add mallory" in err
    login["name"] = "carol"
    code, _, err = run(capsys, "--db", empty_db, "--as", "boss", "customers", "search", "x")
    assert code == 1 and "--as is only allowed on a demo database" in err
    code, _, err = run(capsys, "--db", empty_db, "agents", "add", "dave", "--role", "agent")
    assert code == 1 and "may not manage agents" in err
    code, out, _ = run(capsys, "--db", empty_db, "agents", "list", "--json")
    assert [a["login"] for a in json.loads(out)] == ["boss", "carol"]


def test_demo_if_empty_leaves_data_alone(demo_db, capsys):
    code, _, err = run(capsys, "--db", demo_db, "demo", "--if-empty")
    assert code == 0 and "already has data" in err
    code, _, err = run(capsys, "--db", demo_db, "demo")
    assert code == 1 and "empty store" in err


def test_bad_database_url(capsys):
    code, _, err = run(capsys, "--db", "mysql://nope", "customers", "search")
    assert code == 1 and "unsupported database URL" in err


def test_db_upgrade(sqlite_url, capsys):
    code, out, _ = run(capsys, "--db", sqlite_url, "db", "upgrade")
    assert code == 0 and "was empty" in out
    code, out, _ = run(capsys, "--db", sqlite_url, "db", "upgrade")
    assert code == 0 and "already current" in out


@pytest.mark.pg
def test_db_upgrade_and_demo_on_postgresql(pg_url, capsys, login):
    assert run(capsys, "--db", pg_url, "customers", "search")[0] == 1
    assert run(capsys, "--db", pg_url, "db", "upgrade")[0] == 0
    assert run(capsys, "--db", pg_url, "demo", "--customers", "50")[0] == 0
    code, out, _ = run(capsys, "--db", pg_url, "customers", "search", "CUS-0000050", "--json")
    assert code == 0 and json.loads(out)["customers"][0]["id"] == "CUS-0000050"


def test_console_script_runs_as_a_process(tmp_path):
    db = f"sqlite:///{tmp_path / 'p.db'}"
    env = dict(os.environ, AGENTDESK_DATA_DIR=str(tmp_path))
    build = subprocess.run([sys.executable, "-m", "agentdesk.cli", "--db", db, "demo", "--customers", "30"],
                           capture_output=True, text=True, env=env, timeout=120)
    assert build.returncode == 0, build.stderr
    found = subprocess.run([sys.executable, "-m", "agentdesk.cli", "--db", db, "customers", "search", "CUS-0000003",
                            "--json"], capture_output=True, text=True, env=env, timeout=120)
    assert found.returncode == 0 and json.loads(found.stdout)["customers"][0]["id"] == "CUS-0000003"


def test_search_with_segment_sort_and_filters(demo_db, capsys):
    code, out, err = run(capsys, "--db", demo_db, "customers", "search", "--segment", "customers", "--sort", "ltv",
                         "--country", "us", "--payments-min", "1", "--limit", "50", "--json")
    assert code == 0, err
    rows = json.loads(out)["customers"]
    assert rows and all(r["payment_count"] >= 1 for r in rows)
    values = [r["lifetime_value"] for r in rows]
    assert values == sorted(values, reverse=True)
    code, out, _ = run(capsys, "--db", demo_db, "customers", "search", "--sort", "name", "--asc", "--limit", "30",
                       "--json")
    names = [(r["last_name"], r["first_name"]) for r in json.loads(out)["customers"]]
    assert names == sorted(names)
    code, _, err = run(capsys, "--db", demo_db, "customers", "search", "--country", "Atlantis")
    assert code == 1 and "country" in err
    code, _, err = run(capsys, "--db", demo_db, "customers", "search", "--segment", "nope")
    assert code == 1 and "no segment named 'nope'" in err


def test_saved_segment_by_name_and_export(demo_db, capsys, tmp_path):
    code, out, err = run(capsys, "--db", demo_db, "segments", "save", "Rich US", "--country", "US", "--ltv-min", "50",
                         "--sort", "ltv", "--shared")
    assert code == 0, err
    listed = json.loads(run(capsys, "--db", demo_db, "segments", "list", "--json")[1])
    assert listed[0]["name"] == "Rich US" and listed[0]["shared"]
    assert listed[0]["query"]["filters"] == {"country": "US", "ltv_min": 5000}
    rows = json.loads(run(capsys, "--db", demo_db, "customers", "search", "--segment", "rich us", "--limit", "100",
                          "--json")[1])["customers"]
    assert rows and all(r["lifetime_value"] >= 5000 for r in rows)

    out_file = tmp_path / "rich.csv"
    code, out, err = run(capsys, "--db", demo_db, "export", "customers", "--segment", "Rich US", "--columns", "id,ltv",
                         "--out", str(out_file))
    assert code == 0, err
    lines = out_file.read_text().splitlines()
    assert lines[0] == "ID,Lifetime value,Currency" and len(lines) - 1 == len(rows)
    assert f"exported {len(rows):,} customers to {out_file}" in out
    by_id = {r["id"]: r for r in rows}
    for line in lines[1:]:
        public, major, currency = line.split(",")
        assert currency == by_id[public]["currency"] and re.fullmatch(r"[0-9]+(\.[0-9]{2})?", major)
        assert parse_amount(major, currency) == by_id[public]["lifetime_value"]

    code, _, err = run(capsys, "--db", demo_db, "--as", "bob", "export", "customers", "--out", str(tmp_path / "b.csv"))
    assert code == 1 and "may not export CSV" in err and not (tmp_path / "b.csv").exists()
    code, _, err = run(capsys, "--db", demo_db, "--as", "fred", "export", "customers", "--out", str(tmp_path / "f.csv"))
    assert code == 0 and (tmp_path / "f.csv").read_text().startswith("Name,Email,Company,Company ID")
    assert run(capsys, "--db", demo_db, "segments", "delete", "rich us")[0] == 0
    assert json.loads(run(capsys, "--db", demo_db, "segments", "list", "--json")[1]) == []


def _settled_sale(db_url) -> tuple[int, int]:
    from sqlalchemy import select

    from agentdesk.db.models import Transaction
    from agentdesk.db.store import Store

    store = Store(db_url)
    with store.read() as s:
        sale = s.execute(select(Transaction).where(Transaction.type == "sale", Transaction.settled,
                                                   Transaction.status == "approved", Transaction.amount >= 1000)
                         .order_by(Transaction.id)).scalars().first()
        unsettled = s.execute(select(Transaction).where(Transaction.type == "sale", Transaction.settled.is_(False),
                                                        Transaction.status == "approved")).scalars().first()
    store.dispose()
    return sale.id, unsettled.id


def test_refund_void_and_worker(demo_db, capsys, monkeypatch, tmp_path):
    monkeypatch.setenv("AGENTDESK_DATA_DIR", str(tmp_path / "data"))
    sale, unsettled = _settled_sale(demo_db)
    for bad in ("-5", "abc", "12.345", "1e9", ""):
        code, out, err = run(capsys, "--db", demo_db, "refund", str(sale), "--amount", bad)
        assert code == 1 and out == "" and err.startswith("agentdesk: amount:"), (bad, err)
    code, out, err = run(capsys, "--db", demo_db, "refund", str(sale), "--amount", "1.00", "--reason", "sorry",
                         "--json")
    assert code == 0, err
    result = json.loads(out)
    assert result["status"] == "approved" and result["amount"] == 100 and result["kind"] == "refund"
    code, _, err = run(capsys, "--db", demo_db, "void", str(sale))
    assert code == 1 and "refunded, not voided" in err
    code, out, _ = run(capsys, "--db", demo_db, "--as", "bob", "void", str(unsettled), "--json")
    assert code == 0 and json.loads(out)["status"] == "approved"
    code, _, err = run(capsys, "--db", demo_db, "--as", "sara", "refund", str(sale))
    assert code == 1 and "may not refund" in err
    code, out, _ = run(capsys, "--db", demo_db, "worker", "--once")
    # The refund's and the void's emails, plus what the billing run sends (receipts of the demo's due renewals).
    sent = re.search(r"^jobs: (\d+) done, 0 to retry, 0 failed$", out, re.MULTILINE)
    assert code == 0 and sent and int(sent.group(1)) >= 2, out
    assert re.search(r"^billing: \d+ invoiced, .* 0 errors$", out, re.MULTILINE), out
    assert len(list((tmp_path / "data" / "outbox").glob("*.eml"))) == int(sent.group(1))
    code, out, _ = run(capsys, "--db", demo_db, "gateway", "settle", "--all")
    assert code == 0 and out.startswith("settled ")


def test_payout_cli(demo_db, capsys, monkeypatch, tmp_path):
    monkeypatch.setenv("AGENTDESK_DATA_DIR", str(tmp_path / "data"))
    args = ["payout", "CUS-0000003", "--amount", "15.00", "--currency", "USD", "--request-id", "req-77", "--json"]
    code, out, err = run(capsys, "--db", demo_db, "--as", "bob", *args)
    assert code == 1 and "may not send payouts" in err
    customer = json.loads(run(capsys, "--db", demo_db, "customers", "show", "CUS-0000003", "--json")[1])
    args[5] = customer["currency"]
    if not customer["instruments"]:
        code, _, err = run(capsys, "--db", demo_db, *args)
        assert code == 1 and "no active payment instrument" in err
        return
    code, out, err = run(capsys, "--db", demo_db, "--as", "fred", *args)
    assert code == 0 and json.loads(out)["status"] == "approved", err
    code, out, _ = run(capsys, "--db", demo_db, "--as", "fred", *args)
    assert code == 0 and "nothing was sent again" in json.loads(out)["message"]


def test_blocklist_cli(demo_db, capsys):
    for login in ("bob", "sara", "fred"):
        code, _, err = run(capsys, "--db", demo_db, "--as", login, "blocklist", "add", "--type", "customer",
                           "--value", "CUS-0000005")
        assert code == 1 and "may not add to or remove from blocklists" in err
    code, out, err = run(capsys, "--db", demo_db, "blocklist", "add", "--type", "customer", "--value", "CUS-0000005",
                         "--reason", "fraud", "--json")
    assert code == 0, err
    entry = json.loads(out)
    shown = json.loads(run(capsys, "--db", demo_db, "customers", "show", "CUS-0000005", "--json")[1])
    assert shown["blocked"] is True and shown["block_reasons"] == ["customer CUS-0000005: fraud"]
    listed = json.loads(run(capsys, "--db", demo_db, "--as", "sara", "blocklist", "list", "--json")[1])
    assert [e["id"] for e in listed] == [entry["id"]]
    code, _, err = run(capsys, "--db", demo_db, "--as", "fred", "blocklist", "remove", str(entry["id"]))
    assert code == 1 and "may not" in err
    code, out, _ = run(capsys, "--db", demo_db, "blocklist", "remove", str(entry["id"]))
    assert code == 0 and "removed entry" in out
    code, _, err = run(capsys, "--db", demo_db, "blocklist", "add", "--type", "ip", "--value", "nope")
    assert code == 1 and "not an IP address" in err


def test_log_file_and_debug_reach_the_settings_and_the_logs(sqlite_url, capsys, monkeypatch, tmp_path):
    from agentdesk import config, logs

    seen, configured = [], []
    real = config.load_settings

    def recording(database_url=None, env=None, **options):
        seen.append((database_url, options))
        return real(database_url, env, **options)

    monkeypatch.setattr(config, "load_settings", recording)
    monkeypatch.setattr(logs, "configure", lambda settings, **options: configured.append((settings, options)))
    log = tmp_path / "logs" / "agentdesk.log"
    code, out, err = run(capsys, "--db", sqlite_url, "--log-file", str(log), "--debug", "db", "upgrade")
    assert code == 0 and "schema at" in out, err
    assert seen == [(sqlite_url, {"log_file": log, "debug": True})]
    assert len(configured) == 1 and configured[0][0].database_url == sqlite_url
    assert configured[0][0].log_file == log and configured[0][0].debug is True
    assert configured[0][1] == {"headless": True}
    code, _, err = run(capsys, "--db", sqlite_url, "db", "upgrade")
    assert code == 0, err
    assert seen[1] == (sqlite_url, {"log_file": None, "debug": None}), "absent options leave config and env in charge"
    assert len(configured) == 2


@pytest.mark.parametrize("argv", [
    ["nope"],
    ["customers", "search", "--bogus"],
    ["refund", "abc"],
    ["worker", "--interval", "soon"],
    ["blocklist", "add", "--type", "planet", "--value", "x"],
    ["agents", "add", "newbie"],
    ["customers", "search", "--sort", "shoe-size"],
    ["customers", "search", "--json", "--db", "sqlite:///x.db"],
    ["--log-file"],
])
def test_usage_errors_exit_with_status_2(capsys, argv):
    code, out, err = run(capsys, *argv)
    assert code == 2 and out == "" and len(err.splitlines()) == 1
    assert err.startswith("agentdesk: "), "one line saying what is wrong"


def test_a_group_without_its_action_is_a_usage_error(capsys):
    code, out, err = run(capsys, "db")
    assert code == 2 and out == "" and "upgrade" in err


def test_version(capsys):
    from agentdesk import __version__

    code, out, _ = run(capsys, "--version")
    assert code == 0 and out == f"agentdesk {__version__}\n"


def test_version_loads_neither_services_nor_textual():
    heavy = "('sqlalchemy', 'sqlmodel', 'textual', 'rich', 'pydantic_settings')"
    ours = "('agentdesk.services', 'agentdesk.db', 'agentdesk.config', 'agentdesk.app')"
    probe = ("import sys; from agentdesk import cli; code = cli.main(['--version']); "
             f"print(code, sorted(m for m in sys.modules if m.split('.')[0] in {heavy} or m.startswith({ours})))")
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[-1] == "0 []"


def test_shell_completion_script_is_produced():
    env = dict(os.environ, _AGENTDESK_COMPLETE="bash_source")
    done = subprocess.run([sys.executable, "-m", "agentdesk.cli"], capture_output=True, text=True, env=env, timeout=60)
    assert done.returncode == 0, done.stderr
    assert "_agentdesk_completion()" in done.stdout
    assert "complete -o nosort -F _agentdesk_completion agentdesk" in done.stdout


def test_completion_offers_subcommands_and_choices(capsys, monkeypatch):
    monkeypatch.setenv("_AGENTDESK_COMPLETE", "bash_complete")
    monkeypatch.setenv("COMP_WORDS", "agentdesk refund")
    monkeypatch.setenv("COMP_CWORD", "1")
    code, out, _ = run(capsys)
    assert code == 0 and out.split() == ["plain,refund", "plain,refund-order"]
    monkeypatch.setenv("COMP_WORDS", "agentdesk blocklist add --type ")
    monkeypatch.setenv("COMP_CWORD", "4")
    code, out, _ = run(capsys)
    assert code == 0 and "plain,fingerprint" in out.split() and "plain,ip" in out.split()


def test_no_subcommand_starts_the_console(sqlite_url, capsys, login, monkeypatch):
    from agentdesk import app, logs

    started, configured = [], []
    monkeypatch.setattr(logs, "configure", lambda settings, **options: configured.append(options))

    class Console:
        def __init__(self, store, settings, actor, first_run=None):
            self.store, self.settings, self.actor, self.first_run = store, settings, actor, first_run

        def run(self):
            started.append(self)

    monkeypatch.setattr(app, "AgentDeskApp", Console)
    assert run(capsys, "--db", sqlite_url)[0] == 0
    assert started[-1].actor is None and started[-1].first_run == app.FirstRun("operator")
    assert run(capsys, "--db", sqlite_url, "agents", "add", "operator", "--role", "admin")[0] == 0
    assert run(capsys, "--db", sqlite_url)[0] == 0
    assert started[-1].actor.login == "operator" and started[-1].first_run is None
    assert started[-1].settings.database_url == sqlite_url
    assert configured == [{"headless": False}, {"headless": True}, {"headless": False}], "console: stderr stays quiet"
    code, _, err = run(capsys, "--db", sqlite_url, "--as", "someone")
    assert code == 1 and len(started) == 2 and "--as is only allowed on a demo database" in err


def test_json_and_tables_show_control_characters_escaped(capsys):
    from agentdesk.cli import output

    value = "ok \x1b[2J\x9b31m\x7f\x85 end"
    text = output.json_text({"name": value})
    assert json.loads(text) == {"name": value}
    assert not any((ord(c) < 0x20 and c != "\n") or 0x7f <= ord(c) <= 0x9f for c in text)
    output.table([value, "x"], [output.Column(lambda v: v, 12, clip=True), output.Column(len, 3, right=True)],
                 as_json=False, to_json=str)
    assert capsys.readouterr().out.splitlines() == [r"ok \x1b[2J\x  17", "x" + " " * 14 + "1"]


def test_an_unreachable_database_is_one_line(capsys):
    code, out, err = run(capsys, "--db", "postgresql+psycopg://postgres@127.0.0.1:1/nothing", "customers", "search")
    assert code == 1 and out == ""
    assert err.startswith("agentdesk: the database could not be used: ") and len(err.splitlines()) == 1


def test_interrupted_command_exits_130(empty_db, capsys, login, monkeypatch):
    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(identity, "resolve_actor", interrupted)
    code, out, err = run(capsys, "--db", empty_db, "customers", "search")
    assert code == 130 and out == "" and err == "agentdesk: interrupted\n"


def test_the_console_script_entry_returns_the_exit_status(capsys):
    from importlib.metadata import entry_points

    (script,) = entry_points(group="console_scripts", name="agentdesk")
    assert script.load()(["--version"]) == 0
    assert script.load()(["no-such-command"]) == 2


def test_a_bug_keeps_its_traceback(empty_db, capsys, login, monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("a bug, not a user error")

    monkeypatch.setattr(identity, "resolve_actor", broken)
    with pytest.raises(RuntimeError, match="a bug"):
        cli.main(["--db", empty_db, "customers", "search"])


def test_every_subcommand_loads_under_its_own_name(capsys):
    from agentdesk.cli import root

    for name in root.SUBCOMMANDS:
        command = root.root.get_command(None, name)
        assert command is not None and command.name == name
        assert run(capsys, name, "--help")[0] == 0


# --- hostile input at the command line (issue 10, findings 5-6) -------------------------------------------------------

RAW_IN_OUTPUT = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069\ud800-\udfff]")
"""What no output line may hold raw: controls (but newline and tab), DEL, C1, bidi overrides, lone surrogates."""


def row_counts(url: str) -> dict[str, int]:
    """Rows per table: nothing refused at the command line may change one."""
    from sqlalchemy import create_engine, func, inspect, select, table

    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            names = inspect(conn).get_table_names()
            return {name: conn.execute(select(func.count()).select_from(table(name))).scalar_one() for name in names}
    finally:
        engine.dispose()


BAD = "bad\udcff"
"""What Python makes of the bytes `bad\\xff` in argv (surrogateescape)."""


@pytest.mark.parametrize("argv, label", [
    (["note", "CUS-0000001", BAD], "TEXT"),
    (["segments", "save", BAD], "NAME"),
    (["segments", "save", "ok", "--search", BAD], "--search"),
    (["blocklist", "add", "--type", "email", "--value", BAD], "--value"),
    (["blocklist", "add", "--type", "ip", "--value", "10.1.2.3", "--reason", BAD], "--reason"),
    (["blocklist", "add", "--type", "ip", "--value", "10.1.2.3", "--expires", BAD], "--expires"),
    (["refund", "1", "--reason", BAD], "--reason"),
    (["refund", "1", "--amount", BAD], "--amount"),
    (["void", "1", "--reason", BAD], "--reason"),
    (["refund-order", BAD], "ORDER"),
    (["payout", "CUS-0000001", "--amount", "1", "--currency", "USD", "--request-id", BAD], "--request-id"),
    (["customers", "search", BAD], "TEXT"),
    (["customers", "search", "--tag", BAD], "--tag"),
    (["customers", "show", BAD], "ID"),
    (["timeline", "CUS-0000001", "--search", BAD], "--search"),
    (["timeline", "CUS-0000001", "--type", "note", "--type", BAD], "--type"),
    (["agents", "add", BAD, "--role", "agent"], "LOGIN"),
    (["agents", "add", "newbie", "--role", "agent", "--name", BAD], "--name"),
    (["export", "customers", "--out", BAD], "--out"),
    (["audit", "verify", BAD], "CUSTOMER"),
    (["--as", BAD, "customers", "search"], "--as"),
])
def test_invalid_utf8_in_any_argument_is_refused_naming_it(demo_db, capsys, argv, label):
    before = row_counts(demo_db)
    code, out, err = run(capsys, "--db", demo_db, *argv)
    assert code == 2 and out == ""
    assert err.startswith(f"agentdesk: {label} is not valid UTF-8.") and len(err.splitlines()) == 1, err
    assert row_counts(demo_db) == before


def test_invalid_utf8_in_the_database_option(capsys, login):
    code, out, err = run(capsys, "--db", "sqlite:///" + BAD, "customers", "search")
    assert (code, out) == (2, "") and err.startswith("agentdesk: --db is not valid UTF-8.")


def test_invalid_utf8_bytes_from_a_real_shell(demo_db):
    """The bytes as a shell passes them (`"$(printf 'bad\\xff')"`): one line, exit 2, no note written."""
    before = row_counts(demo_db)
    done = subprocess.run([sys.executable, "-m", "agentdesk.cli", "--db", demo_db, "note", "CUS-0000001", b"bad\xff"],
                          capture_output=True, timeout=60, env=dict(os.environ, LC_ALL="C.UTF-8"))
    assert done.returncode == 2 and done.stdout == b""
    assert done.stderr.decode().startswith("agentdesk: TEXT is not valid UTF-8.") and done.stderr.count(b"\n") == 1
    assert row_counts(demo_db) == before


def test_invalid_utf8_in_the_config_file_is_one_line(sqlite_url, capsys, login, monkeypatch, tmp_path):
    config = tmp_path / "bad.toml"
    config.write_bytes(b'theme = "bad\xff"\n')
    monkeypatch.setenv("AGENTDESK_CONFIG", str(config))
    code, out, err = run(capsys, "--db", sqlite_url, "customers", "search")
    assert (code, out) == (1, "") and len(err.splitlines()) == 1
    assert err.startswith("agentdesk: ") and "not valid UTF-8" in err and str(config) in err


@pytest.mark.parametrize("argv, says", [
    (["timeline", "CUS-0000001", "--since", "20240101"], "YYYY-MM-DD"),
    (["timeline", "CUS-0000001", "--until", "2024-W01-1"], "YYYY-MM-DD"),
    (["timeline", "CUS-0000001", "--since", "2023-02-29"], "not a day of the calendar"),
    (["timeline", "CUS-0000001", "--since", "0000-00-00"], "not a day of the calendar"),
    (["customers", "search", "--created-from", "20240101"], "YYYY-MM-DD"),
    (["blocklist", "add", "--type", "ip", "--value", "10.9.9.9", "--expires", "2099-W01-1"], "YYYY-MM-DD"),
    (["customers", "search", "--payments-min", "١٢"], "digits other than 0-9"),
    (["customers", "search", "--ltv-min", "１２", "--currency", "USD"], "digits other than 0-9"),  # noqa: RUF001
    (["blocklist", "add", "--type", "email", "--value", "a@b.c"], "top-level domain"),
    (["blocklist", "add", "--type", "email", "--value", "a@b.c0m"], "top-level domain"),
    (["blocklist", "add", "--type", "email", "--value", "x" * 65 + "@example.com"], "64 bytes"),
    (["blocklist", "add", "--type", "email", "--value", "a..b@c.com"], "two periods"),
])
def test_strict_dates_counts_and_emails_at_the_command_line(demo_db, capsys, argv, says):
    before = row_counts(demo_db)
    code, out, err = run(capsys, "--db", demo_db, *argv)
    assert (code, out) == (1, "") and err.startswith("agentdesk: ") and says in err and len(err.splitlines()) == 1
    assert row_counts(demo_db) == before


@pytest.mark.parametrize("argv", [
    ["customers", "search", "--limit", "١٢"],
    ["customers", "search", "--limit", "１２"],  # noqa: RUF001
    ["timeline", "CUS-0000001", "--limit", "१२"],
    ["blocklist", "remove", "99999999999999999999999"],
    ["refund", "１２"],  # noqa: RUF001
    ["worker", "--once", "--interval", "nan"],
    ["worker", "--once", "--interval", "inf"],
    ["worker", "--once", "--interval", "٥"],  # noqa: RUF001
])
def test_counts_and_ids_take_ascii_digits(demo_db, capsys, argv):
    code, out, err = run(capsys, "--db", demo_db, *argv)
    assert (code, out) == (2, "") and err.startswith("agentdesk: Invalid value for ") and len(err.splitlines()) == 1


def test_non_ascii_digits_move_no_money(demo_db, capsys, monkeypatch, tmp_path):
    monkeypatch.setenv("AGENTDESK_DATA_DIR", str(tmp_path / "data"))
    sale, _ = _settled_sale(demo_db)
    before = row_counts(demo_db)
    for amount in ("١٢", "１２", "१२", "12\u00a0000", "1e3", "inf", "0x10", "9" * 40):  # noqa: RUF001
        code, out, err = run(capsys, "--db", demo_db, "refund", str(sale), "--amount", amount)
        assert (code, out) == (1, "") and err.startswith("agentdesk: amount: "), (amount, err)
        code, out, err = run(capsys, "--db", demo_db, "--as", "fred", "payout", "CUS-0000003", "--amount", amount,
                             "--currency", "USD", "--request-id", f"r-{len(amount)}")
        assert (code, out) == (1, "") and err.startswith("agentdesk: amount: "), (amount, err)
    assert row_counts(demo_db) == before


def test_timeline_to_the_end_of_time(demo_db, capsys):
    assert run(capsys, "--db", demo_db, "note", "CUS-0000001", "last words")[0] == 0
    code, out, err = run(capsys, "--db", demo_db, "timeline", "CUS-0000001", "--since", "0001-01-01",
                         "--until", "9999-12-31", "--json")
    assert code == 0, err
    assert any(e["attributes"].get("text") == "last words" for e in json.loads(out))
    code, out, err = run(capsys, "--db", demo_db, "timeline", "CUS-0000001", "--since", "9999-12-31", "--json")
    assert code == 0 and json.loads(out) == [], err


def _plant(url: str, hostile: str) -> None:
    """Hostile text already in the store (written before validation, or by hand): a customer's name, an agent's
    name and a note event's text."""
    from sqlalchemy import MetaData, create_engine, select, update

    engine = create_engine(url)
    meta = MetaData()
    meta.reflect(engine, only=["customer", "agent", "timeline_event"])
    customer, agent, event = meta.tables["customer"], meta.tables["agent"], meta.tables["timeline_event"]
    with engine.begin() as conn:
        conn.execute(update(customer).where(customer.c.external_id == "CUS-0000001").values(first_name=hostile))
        conn.execute(update(agent).where(agent.c.login == "bob").values(name=hostile))
        note = conn.execute(select(event).where(event.c.type == "note").order_by(event.c.id.desc())).mappings().first()
        row = {k: v for k, v in note.items() if k != "id"}
        row["attributes"] = {**note["attributes"], "text": hostile}
        conn.execute(event.insert().values(**row))
    engine.dispose()


def test_json_and_text_output_escape_stored_controls(demo_db, capsys):
    hostile = "Eve\x9b31m\x85\x7f\x1b]52;c;ZXZpbA==\x07\u202etxt"
    assert run(capsys, "--db", demo_db, "note", "CUS-0000001", "a note to copy")[0] == 0
    _plant(demo_db, hostile)
    cases = {
        ("customers", "show", "CUS-0000001"): lambda data: data["first_name"] if "first_name" in data else data["name"],
        ("customers", "search", "CUS-0000001"): lambda data: data["customers"][0]["name"],
        ("agents", "list"): lambda data: next(a["name"] for a in data if a["login"] == "bob"),
        ("timeline", "CUS-0000001", "--type", "note"): lambda data: data[0]["attributes"]["text"],
    }
    for argv, pick in cases.items():
        code, out, err = run(capsys, "--db", demo_db, *argv, "--json")
        assert code == 0, err
        assert not RAW_IN_OUTPUT.search(out), (argv, out)
        assert hostile.replace("\u202e", "") in pick(json.loads(out)).replace("\u202e", ""), argv
        assert "\u202e" in pick(json.loads(out)), "a parser gets the original text back"
        code, out, err = run(capsys, "--db", demo_db, *argv)
        assert code == 0 and not RAW_IN_OUTPUT.search(out), (argv, out)
        assert "Eve\\x9b31m\\x85\\x7f\\x1b]52;c;ZX" in out, (argv, out)


def test_csv_export_neutralises_full_width_formulas(demo_db, capsys, tmp_path):
    from sqlalchemy import MetaData, create_engine, update

    engine = create_engine(demo_db)
    meta = MetaData()
    meta.reflect(engine, only=["customer"])
    customer = meta.tables["customer"]
    with engine.begin() as conn:
        conn.execute(update(customer).where(customer.c.external_id == "CUS-0000001")
                     .values(first_name="＝HYPERLINK(\"http://evil.example\")", last_name="x"))  # noqa: RUF001
        conn.execute(update(customer).where(customer.c.external_id == "CUS-0000002")
                     .values(first_name="＠SUM(A1)", last_name="y"))  # noqa: RUF001
    engine.dispose()
    out_file = tmp_path / "names.csv"
    code, _, err = run(capsys, "--db", demo_db, "export", "customers", "--segment", "all", "--columns", "id,name",
                       "--out", str(out_file))
    assert code == 0, err
    with open(out_file, newline="", encoding="utf-8") as fh:
        cells = {row[0]: row[1] for row in csv.reader(fh)}
    assert cells["CUS-0000001"] == "'＝HYPERLINK(\"http://evil.example\") x"  # noqa: RUF001
    assert cells["CUS-0000002"] == "'＠SUM(A1) y"  # noqa: RUF001


def test_a_closed_pipe_ends_quietly(tmp_path):
    """`agentdesk customers search --limit 500 | head -1`: the reader going away is no traceback."""
    db = f"sqlite:///{tmp_path / 'p.db'}"
    env = dict(os.environ, AGENTDESK_DATA_DIR=str(tmp_path))
    build = subprocess.run([sys.executable, "-m", "agentdesk.cli", "--db", db, "demo", "--customers", "30"],
                           capture_output=True, text=True, env=env, timeout=120)
    assert build.returncode == 0, build.stderr
    read_end, write_end = os.pipe()
    os.close(read_end)
    try:
        closed = subprocess.run([sys.executable, "-m", "agentdesk.cli", "--db", db, "customers", "search", "--limit",
                                 "500"], stdout=write_end, stderr=subprocess.PIPE, text=True, env=env, timeout=120)
    finally:
        os.close(write_end)
    assert closed.stderr == ""
    assert closed.returncode == 141
    piped = subprocess.run(f"{sys.executable} -m agentdesk.cli --db {db} customers search --limit 500 | head -1",
                           shell=True, capture_output=True, text=True, env=env, timeout=120)
    assert piped.stderr == "" and piped.stdout.startswith("CUS-")


def test_a_mistyped_sqlite_path_creates_nothing(tmp_path, capsys, login):
    missing_dir = tmp_path / "typo" / "agentdesk.db"
    for argv in (["customers", "search"], ["agents", "add", "root", "--role", "admin"], ["demo", "--customers", "5"],
                 ["db", "upgrade"]):
        code, out, err = run(capsys, "--db", f"sqlite:///{missing_dir}", *argv)
        assert code == 1 and out == "" and err == f"agentdesk: no such directory: {missing_dir.parent}\n"
    assert not (tmp_path / "typo").exists()

    missing_file = tmp_path / "agentdsk.db"
    for argv in (["customers", "search"], ["agents", "list"], ["timeline", "CUS-0000001"], ["worker", "--once"]):
        code, out, err = run(capsys, "--db", f"sqlite:///{missing_file}", *argv)
        assert code == 1 and out == "" and err.startswith(f"agentdesk: no store at {missing_file}: create it with ")
        assert "db upgrade" in err and len(err.splitlines()) == 1
    assert list(tmp_path.iterdir()) == []

    assert run(capsys, "--db", f"sqlite:///{missing_file}", "db", "upgrade")[0] == 0
    assert missing_file.exists()
    other = tmp_path / "other.db"
    assert run(capsys, "--db", f"sqlite:///{other}", "demo", "--customers", "5")[0] == 0
    assert run(capsys, "--db", f"sqlite:///{other}", "customers", "search", "--json")[0] == 0


def test_timeline_types_by_code_or_title_in_any_case(demo_db, capsys):
    by_code = run(capsys, "--db", demo_db, "timeline", "CUS-0000001", "--type", "customer_created", "--json")
    assert by_code[0] == 0 and json.loads(by_code[1])
    for spelling in ("CUSTOMER_CREATED", "Customer created", "customer CREATED", "customer-created"):
        code, out, err = run(capsys, "--db", demo_db, "timeline", "CUS-0000001", "--type", spelling, "--json")
        assert code == 0, err
        assert out == by_code[1]
        assert {e["type"] for e in json.loads(out)} == {"customer_created"}
    code, out, err = run(capsys, "--db", demo_db, "timeline", "CUS-0000001", "--type", "refund")
    assert code == 1 and out == "" and len(err.splitlines()) == 1
    assert "unknown event type(s): refund; did you mean" in err
    assert "manual_refund (Refund issued)" in err and "refund_failed (Refund failed)" in err
    assert "note (Note)" in err and "customer_created (Customer created)" in err


def test_one_public_id_in_every_command(demo_db, capsys):
    """The id search prints is the id show prints and every command takes; no internal row number in the JSON."""
    rows = json.loads(run(capsys, "--db", demo_db, "customers", "search", "--segment", "customers", "--sort", "ltv",
                          "--limit", "3", "--json")[1])["customers"]
    public = rows[0]["id"]
    assert public.startswith("CUS-")
    shown = json.loads(run(capsys, "--db", demo_db, "customers", "show", public, "--json")[1])
    assert shown["id"] == public and "external_id" not in shown
    for key in ("emails", "phones", "addresses", "instruments", "orders", "tax_ids"):
        assert all("id" not in item for item in shown[key]), key
    assert shown["orders"] and all(order["number"] for order in shown["orders"])
    internal = str(int(public.removeprefix("CUS-")))
    code, _, err = run(capsys, "--db", demo_db, "customers", "show", internal)
    assert code == 1 and f"no customer with the id '{internal}'" in err
    for argv in (["timeline", public, "--limit", "1"], ["audit", "money", public], ["audit", "verify", public]):
        code, _, err = run(capsys, "--db", demo_db, *argv)
        assert code == 0, (argv, err)
    txn = shown["transactions"][0]
    assert isinstance(txn["id"], int) and all(t["order_number"] is None or isinstance(t["order_number"], str)
                                              for t in shown["transactions"])
    order = shown["orders"][0]["number"]
    code, out, err = run(capsys, "--db", demo_db, "refund-order", order, "--json")
    assert "no order" not in err
    taken = json.loads(out)
    taken = taken if isinstance(taken, list) else [taken]
    ids = {t["id"] for t in json.loads(run(capsys, "--db", demo_db, "customers", "show", public, "--json")[1])[
        "transactions"]}
    assert {t["transaction"] for t in taken if t.get("transaction")} <= ids


def test_search_json_pages_with_after(demo_db, capsys):
    """--json says whether more rows exist (`next`) and --after walks every row once, in order, like the table."""
    for sort in ("newest", "name", "ltv", "last_payment", "created"):
        everything = json.loads(run(capsys, "--db", demo_db, "customers", "search", "--sort", sort, "--limit", "500",
                                    "--json")[1])
        assert everything["next"] is None and len(everything["customers"]) == 200
        walked, after, pages = [], None, 0
        while True:
            argv = ["customers", "search", "--sort", sort, "--limit", "37", "--json"]
            code, out, err = run(capsys, "--db", demo_db, *argv, *(["--after", after] if after else []))
            assert code == 0, err
            page = json.loads(out)
            walked += [row["id"] for row in page["customers"]]
            pages += 1
            after = page["next"]
            if after is None:
                break
        assert pages == 6
        assert walked == [row["id"] for row in everything["customers"]], sort


def test_search_paging_with_exact_matches_first(demo_db, capsys):
    shown = json.loads(run(capsys, "--db", demo_db, "customers", "show", "CUS-0000017", "--json")[1])
    for text in (shown["last_name"], shown["emails"][0]["value"], "CUS-0000017"):
        walk_one_by_one(capsys, demo_db, text)


def walk_one_by_one(capsys, demo_db, text):
    everything = json.loads(run(capsys, "--db", demo_db, "customers", "search", text, "--limit", "500",
                                "--json")[1])["customers"]
    assert everything
    walked, after = [], None
    while True:
        out = run(capsys, "--db", demo_db, "customers", "search", text, "--limit", "1", "--json",
                  *(["--after", after] if after else []))[1]
        page = json.loads(out)
        walked += [row["id"] for row in page["customers"]]
        if not (after := page["next"]):
            break
    assert walked == [row["id"] for row in everything] and len(set(walked)) == len(walked)


def test_search_after_refuses_a_foreign_or_broken_cursor(demo_db, capsys):
    page = json.loads(run(capsys, "--db", demo_db, "customers", "search", "--limit", "5", "--json")[1])
    assert page["next"]
    code, _, err = run(capsys, "--db", demo_db, "customers", "search", "--sort", "name", "--after", page["next"])
    assert code == 1 and "not a cursor of this search (it belongs to another sort or order)" in err
    for bad in ("x", "e30", "!!!!", "A" * 5000, "eyJzb3J0IjoibmV3ZXN0IiwiZGVzYyI6dHJ1ZSwiYWZ0ZXIiOlsieCJdfQ"):
        code, out, err = run(capsys, "--db", demo_db, "customers", "search", "--after", bad)
        assert code == 1 and out == "" and "not a cursor of this search" in err and len(err.splitlines()) == 1
    code, out, err = run(capsys, "--db", demo_db, "customers", "search", "--limit", "5")
    assert code == 0 and f"more: add --after {page['next']}" in err


def test_export_refuses_an_existing_file_unless_forced(demo_db, capsys, tmp_path, monkeypatch):
    folder = tmp_path / "exports"
    folder.mkdir()
    monkeypatch.chdir(folder)
    kept = folder / "customers.csv"
    kept.write_text("precious\n")
    code, out, err = run(capsys, "--db", demo_db, "export", "customers", "--out", "customers.csv")
    assert code == 1 and out == "" and "already exists" in err and "--force" in err
    assert kept.read_text() == "precious\n" and sorted(p.name for p in folder.iterdir()) == ["customers.csv"]
    code, out, err = run(capsys, "--db", demo_db, "export", "customers", "--out", "customers.csv", "--force")
    assert code == 0, err
    assert f"to {kept}" in out, "the message names the whole path, not only the name typed"
    assert kept.read_text().startswith("Name,Email")
    code, out, err = run(capsys, "--db", demo_db, "export", "customers", "--out", "new.csv")
    assert code == 0 and (folder / "new.csv").exists() and not list(folder.glob(".*partial"))


def test_export_writes_phones_and_amounts_as_a_spreadsheet_reads_them(demo_db, capsys, tmp_path):
    out_file = tmp_path / "contacts.csv"
    assert run(capsys, "--db", demo_db, "export", "customers", "--segment", "all", "--out", str(out_file))[0] == 0
    with open(out_file, newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    assert rows and {"Lifetime Value", "Currency", "Phone"} <= set(rows[0])
    phones = [r["Phone"] for r in rows if r["Phone"]]
    assert phones and all(re.fullmatch(r"\+[0-9][0-9 ]+", p) for p in phones), phones[:5]
    assert all(re.fullmatch(r"-?[0-9]+(\.[0-9]+)?", r["Lifetime Value"]) for r in rows)
    assert {r["Currency"] for r in rows} <= {"USD", "EUR", "GBP", "JPY", "CAD", "AUD", "CHF", "SEK"}
