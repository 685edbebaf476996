"""Rules of the console checked on its source: one failure path for workers, one base for screens."""

import ast
from pathlib import Path

import agentdesk

ROOT = Path(agentdesk.__file__).parent
CONSOLE = [*sorted((ROOT / "ui").rglob("*.py")), ROOT / "app.py"]


def _name(node: ast.expr) -> str:
    """`work`, `textual.work`, `self.run_worker` → the last name."""
    if isinstance(node, ast.Attribute):
        return node.attr
    if isinstance(node, ast.Name):
        return node.id
    return ""


def _exits_on_error(call: ast.Call) -> bool:
    for keyword in call.keywords:
        if keyword.arg == "exit_on_error":
            return not (isinstance(keyword.value, ast.Constant) and keyword.value.value is False)
    return True


def workers_that_exit_on_error(path: Path) -> list[str]:
    """Every `@work`, `@work(...)`, `work(...)` and `run_worker(...)` that would close the app on an error."""
    tree = ast.parse(path.read_text(), filename=str(path))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            found += [f"{path.name}:{d.lineno} bare @work" for d in node.decorator_list if _name(d) == "work"]
        if isinstance(node, ast.Call) and _name(node.func) in ("work", "run_worker") and _exits_on_error(node):
            found.append(f"{path.name}:{node.lineno} {_name(node.func)}(...) without exit_on_error=False")
    return found


def test_the_rule_sees_every_kind_of_worker(tmp_path):
    sample = tmp_path / "sample.py"
    sample.write_text(
        "from textual import work\n"
        "class S:\n"
        "    @work\n"
        "    async def a(self): ...\n"
        "    @work(exclusive=True)\n"
        "    async def b(self): ...\n"
        "    @work(exit_on_error=False)\n"
        "    async def c(self): ...\n"
        "    def d(self):\n"
        "        self.run_worker(self.a())\n"
        "        self.run_worker(self.a(), exit_on_error=False)\n"
    )
    assert [line.split()[0] for line in workers_that_exit_on_error(sample)] == [
        "sample.py:3", "sample.py:5", "sample.py:10",
    ]


def test_every_console_worker_reports_failures_instead_of_closing_the_app():
    assert len(CONSOLE) >= 10
    assert [f for path in CONSOLE for f in workers_that_exit_on_error(path)] == []


def direct_textual_screens(path: Path) -> list[str]:
    """Classes deriving straight from Textual's Screen/ModalScreen (they miss the typed app and the handler)."""
    tree = ast.parse(path.read_text(), filename=str(path))
    return [
        f"{path.name}:{node.lineno} {node.name}"
        for node in ast.walk(tree)
        if isinstance(node, ast.ClassDef)
        for base in node.bases
        if _name(base.value if isinstance(base, ast.Subscript) else base) in ("Screen", "ModalScreen")
    ]


def test_every_screen_and_dialog_derives_from_the_desk_bases():
    outside_base = [path for path in CONSOLE if path.name != "base.py"]
    assert [f for path in outside_base for f in direct_textual_screens(path)] == []
