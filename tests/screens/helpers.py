"""What the console tests share: a standard screen size, waiting for workers, reading what is on screen."""

import io

from rich.console import Console

from agentdesk.app import AgentDeskApp
from agentdesk.config import load_settings
from agentdesk.services.agents import identity
from agentdesk.ui.widgets.window_table import WindowTable

SIZE = (80, 24)


async def settle(pilot, app):
    """Let every worker finish and every message be handled."""
    for _ in range(5):
        await pilot.pause()
        await app.workers.wait_for_complete()
    await pilot.pause()


def table_rows(screen, selector="#customers") -> list[list[str]]:
    """The cells as the agent sees them (plain text), for either table kind."""
    table = screen.query_one(selector)
    if isinstance(table, WindowTable):
        return [[cell.plain for cell in table.render_cells(row)] for row in table.rows]
    return [[cell.plain for cell in table.get_row_at(i)] for i in range(table.row_count)]


def table_column(screen, key: str, selector="#customers") -> list[str]:
    """One column of a `WindowTable`'s rows (plain text), by the column's key, shown or scrolled away."""
    table = screen.query_one(selector)
    index = [c.key for c in table.columns].index(key)
    return [row[index] for row in table_rows(screen, selector)]


def console(store, as_login=None, settings=None, login="operator") -> AgentDeskApp:
    """The console on `store` as `login` (or, on a demo store, as `as_login`)."""
    return AgentDeskApp(store, settings or load_settings(store.url), identity.resolve_actor(store, login, as_login))


def screen_lines(app) -> list[str]:
    """The terminal as the agent sees it: one string per row, every layer composed (dialogs over screens)."""
    width, height = app.size
    console = Console(width=width, height=height, file=io.StringIO(), record=True, force_terminal=True,
                      color_system=None, legacy_windows=False, safe_box=False)
    console.print(app.screen._compositor.render_update(full=True, screen_stack=app._background_screens))
    return console.export_text(styles=False).split("\n")[:height]


def screen_text(app) -> str:
    return "\n".join(screen_lines(app))


def visible_text(app, widget, inside=False) -> str:
    """What is on screen inside `widget`'s region (empty if it is not shown); `inside`: within its border."""
    region = widget.content_region if inside else widget.region
    rows = screen_lines(app)[region.y: region.y + region.height]
    return "\n".join(row[region.x: region.x + region.width].rstrip() for row in rows)


def notifications(app) -> list[str]:
    """The notifications on screen as the agent reads them, one string each (line wrapping undone).

    Needs `app.run_test(..., notifications=True)`: Textual's tests show none otherwise."""
    return [" ".join(visible_text(app, toast, inside=True).split()) for toast in app.screen.query("Toast")]


def is_running(app) -> bool:
    """The console is still up: no error closed it."""
    return app.is_running and app.return_code is None


def dialog_text(app) -> str:
    """What the open dialog shows, its lines joined and spaces collapsed (wrapping undone)."""
    return " ".join(visible_text(app, app.screen.query_one(".dialog"), inside=True).split())


async def palette_commands(app) -> dict:
    """What the command palette offers on the current screen with nothing typed: title → command."""
    from textual.system_commands import SystemCommandsProvider

    from agentdesk.ui.commands import ActionsProvider

    found = {}
    for provider_type in (ActionsProvider, SystemCommandsProvider):
        async for hit in provider_type(app.screen).discover():
            found[str(hit.text)] = hit.command
    return found
