"""An error never closes the console: the agent is told what happened, the log gets the traceback."""

import logging

import pytest

from agentdesk.services.customers import search
from agentdesk.ui.dialogs.table import ExportDialog
from agentdesk.ui.screens.customer_table import CustomerTableScreen
from agentdesk.ui.widgets.window_table import WindowTable

from .helpers import SIZE, console, dialog_text, is_running, notifications, screen_text, settle

DEMO = (120, 4)


@pytest.fixture
def ui_log(caplog):
    caplog.set_level(logging.INFO, logger="agentdesk.ui")
    return caplog


def logged_tracebacks(caplog, error_type: str) -> list[str]:
    """The tracebacks the console's log got for errors of that type."""
    return [logging.Formatter().formatException(r.exc_info) for r in caplog.records
            if r.name == "agentdesk.ui" and r.exc_info and r.exc_info[0].__name__ == error_type]


async def test_an_unexpected_error_in_a_service_is_shown_logged_and_survived(demo_store, monkeypatch, ui_log):
    app = console(demo_store)
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await settle(pilot, app)

        def broken(store, actor):
            raise RuntimeError("the counter fell over")

        monkeypatch.setattr(search, "segment_counts", broken)
        await pilot.press("r")
        await settle(pilot, app)
        assert is_running(app) and isinstance(app.screen, CustomerTableScreen)
        shown = notifications(app)
        assert any("Something went wrong" in n and "the counter fell over" in n and "logged" in n for n in shown), shown
        [traceback] = logged_tracebacks(ui_log, "RuntimeError")
        assert traceback.startswith("Traceback") and "load_counts" in traceback
        assert "RuntimeError: the counter fell over" in traceback
        monkeypatch.undo()
        await pilot.press("2")
        await settle(pilot, app)
        assert is_running(app)
        assert all(row.payment_count == 0 for row in app.screen.query_one(WindowTable).rows)


async def test_a_role_without_export_is_told_which_role_it_needs(demo_store, ui_log):
    app = console(demo_store, as_login="bob")
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await settle(pilot, app)
        assert "Export" not in screen_text(app)
        await pilot.press("e")
        await settle(pilot, app)
        assert not isinstance(app.screen, ExportDialog)
        app.screen.action_export()
        await settle(pilot, app)
        assert is_running(app) and isinstance(app.screen, CustomerTableScreen)
        assert any("admin or finance" in n for n in notifications(app)), notifications(app)
