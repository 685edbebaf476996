"""The customer table's filters, columns, segments and export, driven through the pilot."""

import csv

from textual.widgets import Input, Static

from agentdesk.services.agents import identity
from agentdesk.services.customers import preferences, segments
from agentdesk.services.customers import records as customers
from agentdesk.services.customers.filters import CustomerQuery, Segment
from agentdesk.services.customers.search import count_matching
from agentdesk.ui.dialogs.table import ColumnsDialog, ExportDialog, FilterDialog, SegmentsDialog
from agentdesk.ui.screens.customer_profile import CustomerProfileScreen
from agentdesk.ui.widgets.window_table import WindowTable

from .helpers import SIZE, console, settle

DEMO = (600, 21)





async def test_typing_a_search_updates_the_table_and_the_newest_query_wins(demo_store):
    app = console(demo_store)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot, app)
        await pilot.press("slash")
        for ch in "CUS-0000017":
            await pilot.press(ch)
            await pilot.pause(0.01)
        await settle(pilot, app)
        table = app.screen.query_one(WindowTable)
        assert [r.external_id for r in table.rows] == ["CUS-0000017"]
        assert "row 1 of 1" in app.screen.query_one("#status", Static).render().plain
        await pilot.press("enter", "enter")
        await settle(pilot, app)
        assert isinstance(app.screen, CustomerProfileScreen)
        assert app.screen.detail.external_id == "CUS-0000017"


async def test_filter_dialog_applies_and_clears(demo_store):
    app = console(demo_store)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot, app)
        await pilot.press("f")
        await pilot.pause()
        assert isinstance(app.screen, FilterDialog)
        app.screen.query_one("#f-country", Input).value = "Atlantis"
        await pilot.press("ctrl+s")
        await pilot.pause()
        assert isinstance(app.screen, FilterDialog)
        assert "country" in app.screen.query_one("#filter-errors", Static).render().plain.lower()
        app.screen.query_one("#f-country", Input).value = "gb"
        app.screen.query_one("#f-payments_min", Input).value = "2"
        await pilot.press("ctrl+s")
        await settle(pilot, app)
        screen = app.screen
        assert screen.query_state.filters.country == "GB" and screen.query_state.filters.payments_min == 2
        chips = screen.query_one("#chips", Static).render().plain
        assert "country GB" in chips and "payments ≥ 2" in chips
        rows = screen.query_one(WindowTable).rows
        expected, _ = count_matching(demo_store, app.actor, screen.query_state)
        assert rows and len(rows) == min(expected, 100)
        for row in rows[:10]:
            detail = customers.get_customer(demo_store, app.actor, row.external_id)
            assert "GB" in {a.country for a in detail.addresses} and detail.payment_count >= 2
        await pilot.press("x")
        await pilot.pause()
        await pilot.press("enter")                       # the first chip: country
        await settle(pilot, app)
        assert screen.query_state.filters.country is None and screen.query_state.filters.payments_min == 2
        await pilot.press("x", "down", "enter")          # "all filters"
        await settle(pilot, app)
        assert screen.query_state.filters.is_empty()


async def test_sort_cycles_and_order_flips(demo_store):
    app = console(demo_store)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot, app)
        await pilot.press("s", "s", "s")
        await settle(pilot, app)
        rows = app.screen.query_one(WindowTable).rows
        assert [r.lifetime_value for r in rows] == sorted((r.lifetime_value for r in rows), reverse=True)
        assert "lifetime value ↓" in app.screen.query_one("#chips", Static).render().plain
        await pilot.press("o")
        await settle(pilot, app)
        rows = app.screen.query_one(WindowTable).rows
        assert [r.lifetime_value for r in rows] == sorted(r.lifetime_value for r in rows)


async def test_edit_columns_is_remembered(demo_store):
    app = console(demo_store)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot, app)
        await pilot.press("c")
        await pilot.pause()
        assert isinstance(app.screen, ColumnsDialog)
        await pilot.press("space")                       # hide ID
        await pilot.press("down", "down")                # primary email
        await pilot.press("left_square_bracket")         # move it above Name
        await pilot.press("enter")
        await settle(pilot, app)
        expected = ["email", "name", "phone", "payments", "ltv", "country", "organization", "created"]
        assert app.screen.columns == expected
        assert [c.key for c in app.screen.query_one(WindowTable).columns] == expected
    assert preferences.table_columns(demo_store, identity.resolve_actor(demo_store, "operator")) == expected
    again = console(demo_store)
    async with again.run_test(size=SIZE) as pilot:
        await settle(pilot, again)
        assert again.screen.columns == expected


async def test_save_and_open_a_segment(demo_store):
    app = console(demo_store)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot, app)
        await pilot.press("2")
        await settle(pilot, app)
        await pilot.press("g")
        await settle(pilot, app)
        assert isinstance(app.screen, SegmentsDialog)
        await pilot.press("n", *"my leads", "enter")
        await settle(pilot, app)
        saved = segments.list_segments(demo_store, app.actor)
        assert [s.name for s in saved] == ["my leads"] and saved[0].query.segment is Segment.LEADS
        await pilot.press("escape")
        await pilot.press("1")
        await settle(pilot, app)
        await pilot.press("g")
        await settle(pilot, app)
        await pilot.press("enter")
        await settle(pilot, app)
        assert app.screen.query_state.segment is Segment.LEADS
        assert all(r.payment_count == 0 for r in app.screen.query_one(WindowTable).rows)


async def test_export_from_the_table(demo_store, tmp_path):
    app = console(demo_store)
    out = tmp_path / "leads.csv"
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot, app)
        await pilot.press("2", "e")
        await settle(pilot, app)
        assert isinstance(app.screen, ExportDialog)
        app.screen.query_one("#export-path", Input).value = str(out)
        await pilot.press("enter")
        await settle(pilot, app)
        assert str(out) in app.screen.query_one("#export-status", Static).render().plain
    with open(out, newline="") as fh:
        rows = list(csv.reader(fh))
    leads, _ = count_matching(demo_store, app.actor, CustomerQuery(Segment.LEADS))
    assert rows[0][0] == "Name" and len(rows) - 1 == leads


async def test_export_is_not_offered_to_an_agent(demo_store, tmp_path):
    app = console(demo_store, as_login="bob")
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot, app)
        assert app.screen.check_action("export", ()) is False
        await pilot.press("e")
        await settle(pilot, app)
        assert not isinstance(app.screen, ExportDialog)
