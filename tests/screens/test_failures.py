"""An error never closes the console: the agent is told what happened, the log gets the traceback."""

import logging
import sqlite3
from contextlib import contextmanager

import pytest

from agentdesk.db import store as store_module
from agentdesk.services.agents import identity
from agentdesk.services.customers import preferences, search
from agentdesk.services.customers import records as customers
from agentdesk.services.customers.filters import CustomerQuery, Segment
from agentdesk.ui.dialogs.customer_form import CustomerFormScreen
from agentdesk.ui.dialogs.table import ColumnsDialog, ExportDialog
from agentdesk.ui.screens.customer_profile import CustomerProfileScreen
from agentdesk.ui.screens.customer_table import CustomerTableScreen

from .helpers import (
    SIZE,
    console,
    dialog_text,
    is_running,
    notifications,
    palette_commands,
    screen_text,
    settle,
    visible_text,
)

DEMO = (120, 4)


@pytest.fixture
def ui_log(caplog):
    caplog.set_level(logging.INFO, logger="agentdesk.ui")
    return caplog


@pytest.fixture
def impatient_store(demo_store, monkeypatch):
    """The demo store opened again with a busy timeout short enough for a test."""
    monkeypatch.setattr(store_module, "SQLITE_BUSY_TIMEOUT_MS", 150)
    impatient = store_module.Store(demo_store.url)
    yield impatient
    impatient.dispose()


@contextmanager
def another_writer(store):
    """Another process holding the write lock of the SQLite file."""
    other = sqlite3.connect(store.engine.url.database, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    try:
        yield
    finally:
        other.execute("ROLLBACK")
        other.close()


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
        leads = search.count_matching(demo_store, app.actor, CustomerQuery(Segment.LEADS))[0]
        assert f"row 1 of {leads:,} leads" in visible_text(app, app.screen.query_one("#status"))


async def test_a_role_without_export_is_told_which_role_it_needs(demo_store, ui_log):
    app = console(demo_store, as_login="bob")
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await settle(pilot, app)
        assert "Export" not in screen_text(app)
        assert "Export" not in await palette_commands(app) and "Filter" in await palette_commands(app)
        await pilot.press("question_mark")
        await settle(pilot, app)
        assert "Filter" in dialog_text(app) and "Export" not in dialog_text(app)
        await pilot.press("escape", "ctrl+p", *"Export")
        await settle(pilot, app)
        assert screen_text(app).count("Export") == 1          # what was typed, and no command
        await pilot.press("escape")
        await settle(pilot, app)
        await pilot.press("e")
        await settle(pilot, app)
        assert not isinstance(app.screen, ExportDialog)
        app.screen.action_export()
        await settle(pilot, app)
        assert is_running(app) and isinstance(app.screen, CustomerTableScreen)
        assert any("admin or finance" in n for n in notifications(app)), notifications(app)
async def test_a_service_refusal_reached_past_the_hidden_key_is_shown_and_logged(demo_store, monkeypatch, tmp_path,
                                                                                   ui_log):
    """The console hiding a key is a convenience; the service refusing is the rule."""
    from agentdesk.ui.base import DeskNode

    monkeypatch.setattr(DeskNode, "may", lambda self, action: True)
    out = tmp_path / "all.csv"
    app = console(demo_store, as_login="bob")
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await settle(pilot, app)
        await pilot.press("e")
        await settle(pilot, app)
        assert isinstance(app.screen, ExportDialog)
        app.screen.query_one("#export-path").value = str(out)
        await pilot.press("enter")
        await settle(pilot, app)
        assert is_running(app) and isinstance(app.screen, ExportDialog)
        assert "may not export CSV; this needs admin or finance" in dialog_text(app)
    assert not out.exists()
    [traceback] = logged_tracebacks(ui_log, "PermissionDenied")
    assert "Traceback" in traceback and "export_customers" in traceback


async def test_a_busy_store_is_explained_and_the_column_choice_can_be_saved_again(impatient_store, ui_log):
    app = console(impatient_store)
    operator = identity.resolve_actor(impatient_store, "operator")
    before = preferences.table_columns(impatient_store, operator)
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await settle(pilot, app)
        with another_writer(impatient_store):
            await pilot.press("c", "space", "enter")        # hide the first column (Name)
            await settle(pilot, app)
            assert is_running(app) and isinstance(app.screen, ColumnsDialog)
            assert "the store is busy, try again" in dialog_text(app)
            assert preferences.table_columns(impatient_store, operator) == before
        await pilot.press("enter")
        await settle(pilot, app)
        assert isinstance(app.screen, CustomerTableScreen)
        assert "Name" not in screen_text(app).split("\n")[3].split() and before[0] == "name"
    assert preferences.table_columns(impatient_store, operator) == before[1:]
    [traceback] = logged_tracebacks(ui_log, "StoreBusy")
    assert "database is locked" in traceback and "set_table_columns" in traceback


async def test_a_busy_store_keeps_the_new_customer_form_filled_in(impatient_store, ui_log):
    app = console(impatient_store)
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await settle(pilot, app)
        await pilot.press("n")
        await settle(pilot, app)
        assert isinstance(app.screen, CustomerFormScreen)
        await pilot.press(*"BUSY-1", "tab", "tab", *"Ada", "tab", *"Lovelace")
        with another_writer(impatient_store):
            await pilot.press("ctrl+s")
            await settle(pilot, app)
            assert is_running(app) and isinstance(app.screen, CustomerFormScreen)
            assert "the store is busy, try again" in dialog_text(app)
            assert "Ada" in dialog_text(app) and "Lovelace" in dialog_text(app)
        await pilot.press("ctrl+s")
        await settle(pilot, app)
        assert isinstance(app.screen, CustomerProfileScreen)
    assert customers.get_customer(impatient_store, app.actor, "BUSY-1").name == "Ada Lovelace"
    [traceback] = logged_tracebacks(ui_log, "StoreBusy")
    assert "database is locked" in traceback and "create_customer" in traceback
