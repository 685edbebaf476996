"""The layer rules of ARCHITECTURE.md, checked on the source itself."""

import ast
from pathlib import Path

import agentdesk

ROOT = Path(agentdesk.__file__).parent


def imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def offenders(paths, forbidden: set[str]) -> list[str]:
    """`forbidden` holds module names; a name forbids the module and everything below it."""
    found = []
    for path in paths:
        for name in imported_modules(path):
            if any(name == f or name.startswith(f + ".") for f in forbidden):
                found.append(f"{path.name} imports {name}")
    return found


def test_core_never_imports_textual():
    core = [p for d in ("services", "domain", "db", "demo") for p in (ROOT / d).rglob("*.py")] + [ROOT / "config.py"]
    assert offenders(core, {"textual"}) == []


def test_ui_never_imports_the_database_layer():
    ui = list((ROOT / "ui").rglob("*.py"))
    assert len(ui) >= 5
    database = {"sqlmodel", "sqlalchemy", "psycopg", "sqlite3"}
    assert offenders(ui, {*database, "agentdesk.db"}) == []
    assert offenders([ROOT / "app.py"], {*database, "agentdesk.db.models"}) == []


def test_the_rule_catches_an_offender(tmp_path):
    bad = tmp_path / "bad.py"
    bad.write_text("from textual.widgets import Static\nimport sqlalchemy.orm as orm\nimport textualize\n")
    assert offenders([bad], {"textual"}) == ["bad.py imports textual.widgets"]
    assert offenders([bad], {"sqlalchemy"}) == ["bad.py imports sqlalchemy.orm"]


def test_the_portal_calls_services_only():
    """The portal is an entry point beside the CLI and the console: no database sessions, no Textual."""
    portal = list((ROOT / "portal").rglob("*.py"))
    assert len(portal) >= 2
    forbidden = {"sqlmodel", "sqlalchemy", "psycopg", "sqlite3", "agentdesk.db.models", "textual", "agentdesk.ui"}
    assert offenders(portal, forbidden) == []


def test_services_never_import_the_web_layer():
    core = [p for d in ("services", "domain", "db") for p in (ROOT / d).rglob("*.py")]
    assert offenders(core, {"starlette", "uvicorn", "agentdesk.portal", "agentdesk.cli"}) == []
