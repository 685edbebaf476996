"""Every `agentdesk …` line of the README's ```sh blocks runs on a demo store and succeeds (issue 11, defect 15)."""

import json
import re
import shlex
from pathlib import Path

import pytest

from agentdesk import cli

README = Path(__file__).resolve().parent.parent / "README.md"
DEMO_CUSTOMERS = "200"


def readme_commands() -> list[str]:
    text = README.read_text(encoding="utf-8")
    lines = []
    for block in re.findall(r"^```sh\n(.*?)^```", text, re.S | re.M):
        lines += [line.strip() for line in block.splitlines() if line.strip().startswith("agentdesk ")]
    return lines


COMMANDS = readme_commands()


def test_the_readme_has_examples():
    assert len(COMMANDS) >= 8
    assert any("customers search" in line for line in COMMANDS)


@pytest.fixture(scope="module")
def demo_store(tmp_path_factory) -> str:
    from agentdesk.services.agents import identity

    folder = tmp_path_factory.mktemp("readme")
    url = f"sqlite:///{folder / 'demo.db'}"
    saved = identity.os_login
    identity.os_login = lambda: "operator"
    try:
        assert cli.main(["--db", url, "demo", "--customers", DEMO_CUSTOMERS]) == 0
    finally:
        identity.os_login = saved
    return url


def arguments(line: str, db: str, tmp_path: Path, login: str = "operator") -> list[str]:
    """The line's arguments with its store pointed at the test's and placeholders filled in."""
    argv = shlex.split(line, comments=True)[1:]
    out = []
    for i, arg in enumerate(argv):
        if i and argv[i - 1] == "--db":
            arg = db
        elif i and argv[i - 1] == "--customers":
            arg = DEMO_CUSTOMERS
        elif arg in ("FILE", "PATH"):
            arg = str(tmp_path / "readme-output")
        elif arg == "URL":
            arg = db
        elif arg == "LOGIN":
            arg = login
        out.append(arg)
    if "--db" not in argv:
        out = ["--db", db, *out]
    return out


LOCAL = [line for line in COMMANDS if "postgresql" not in line]
SERVER = [line for line in COMMANDS if "postgresql" in line]


@pytest.mark.parametrize("line", LOCAL)
def test_readme_example_runs(line, demo_store, tmp_path, capsys, login, monkeypatch):
    if line.split("#")[0].strip() == "agentdesk":
        pytest.skip("starts the console")
    monkeypatch.setenv("AGENTDESK_DATA_DIR", str(tmp_path))
    argv = arguments(line, demo_store, tmp_path)
    if argv[2:3] == ["demo"]:
        argv[1] = f"sqlite:///{tmp_path / 'fresh-demo.db'}"
    code = cli.main(argv)
    out, err = capsys.readouterr()
    assert code == 0, (line, err)
    if "customers" in argv and "search" in argv:
        found = json.loads(out)["customers"] if "--json" in argv else out.splitlines()
        assert found, f"{line}: no customer found in the demo store"


@pytest.mark.pg
def test_readme_server_examples_run_in_order(pg_url, tmp_path, capsys, login, monkeypatch):
    """The PostgreSQL lines, one after another as an operator types them, on a new database of the test server."""
    assert SERVER
    monkeypatch.setenv("AGENTDESK_DATA_DIR", str(tmp_path))
    for line in SERVER:
        code = cli.main(arguments(line, pg_url, tmp_path, login["name"]))
        _, err = capsys.readouterr()
        assert code == 0, (line, err)
