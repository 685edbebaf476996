"""Timeline checkpoints are written by the worker, never by the console (whose memory stays flat)."""

from agentdesk import cli
from agentdesk.demo import builder as demo
from agentdesk.services.agents import identity

from .screens.helpers import SIZE, console, settle


def size_of(path) -> int:
    return path.stat().st_size if path.exists() else 0


async def test_the_console_leaves_checkpoints_to_the_worker(sqlite_store, monkeypatch):
    monkeypatch.setattr(identity, "os_login", lambda: "operator")
    demo.build_demo(sqlite_store, 40, seed=3, login="operator")
    log = sqlite_store.checkpoint_path
    before = size_of(log)
    app = console(sqlite_store)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot, app)
    assert size_of(log) == before
    assert cli.main(["--db", sqlite_store.url, "worker", "--once"]) == 0
    assert size_of(log) > before
