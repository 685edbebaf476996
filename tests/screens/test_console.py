"""The console driven through the pilot, checking what the store holds, not only the widgets."""

from sqlalchemy import text
from textual.widgets import Static

from agentdesk.app import AgentDeskApp, FirstRun
from agentdesk.config import load_settings
from agentdesk.demo import builder as demo
from agentdesk.services.agents import identity
from agentdesk.services.customers import records as customers
from agentdesk.services.customers.search import segment_counts
from agentdesk.ui.screens.customer_profile import CustomerProfileScreen
from agentdesk.ui.screens.customer_table import CustomerTableScreen
from agentdesk.ui.screens.first_run import FirstRunScreen
from agentdesk.ui.screens.help import HelpScreen
from agentdesk.ui.widgets.window_table import WindowTable

from .helpers import (
    SIZE,
    console,
    palette_commands,
    screen_lines,
    screen_text,
    settle,
    table_column,
    table_rows,
    visible_text,
)

DEMO = (300, 2)





async def test_search_open_profile_see_transactions_go_back_quit(demo_store):
    app = console(demo_store)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot, app)
        assert isinstance(app.screen, CustomerTableScreen)
        assert len(table_rows(app.screen)) == 100
        assert len(app.screen.query_one(WindowTable).rows) <= 400
        counts = segment_counts(demo_store, app.actor)
        assert f"Customers ({counts['customers']:,})" in visible_text(app, app.screen.query_one("#segments"))

        target = customers.get_customer(demo_store, app.actor, "CUS-0000017")
        await pilot.press("slash", *"CUS-0000017", "enter")
        await settle(pilot, app)
        assert table_column(app.screen, "id")[0] == "CUS-0000017"

        await pilot.press("enter")
        await settle(pilot, app)
        assert isinstance(app.screen, CustomerProfileScreen)
        header = visible_text(app, app.screen.query_one("#profile-header"))
        assert target.name in header and "CUS-0000017" in header

        await pilot.press("2")
        await settle(pilot, app)
        txns = table_rows(app.screen, "#transactions-table")
        assert [int(r[0]) for r in txns] == [t.id for t in target.transactions]
        shown = visible_text(app, app.screen.query_one("#transactions-table")).splitlines()
        assert shown[0].split()[:3] == ["Txn", "Date", "Type"]
        rows_shown = min(len(txns), 15)
        ids_shown = [int(line.split()[0]) for line in shown[1:rows_shown + 1]]
        assert ids_shown == [t.id for t in target.transactions][:rows_shown]
        with demo_store.read() as s:
            stored = s.execute(
                text('SELECT COUNT(*) FROM "transaction" WHERE customer_id = :c'), {"c": target.id}
            ).scalar_one()
        assert len(txns) == stored

        await pilot.press("3")
        await settle(pilot, app)
        assert len(table_rows(app.screen, "#tl-table")) == len(target.timeline) > 0

        await pilot.press("escape")
        await settle(pilot, app)
        assert isinstance(app.screen, CustomerTableScreen)
        await pilot.press("q")
        await pilot.pause()
    assert app.return_code == 0


async def test_the_profile_fits_80_by_24(demo_store):
    target = customers.get_customer(demo_store, identity.resolve_actor(demo_store, "operator"), "CUS-0000017")
    app = console(demo_store)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot, app)
        app.push_screen(CustomerProfileScreen(target.id))
        await settle(pilot, app)
        lines = screen_lines(app)
        assert len(lines) == 24 and all(len(line) <= 80 for line in lines)
        assert target.name in lines[0] and "CUS-0000017" in lines[0] and "Lifetime value" in lines[1]
        tabs = ["Overview", "Transactions", "Timeline", "KYC", "Invoices", "Orders", "Links"]
        assert lines[2].split() == tabs
        assert "Details" in lines[4]
        assert "esc Back" in lines[-1] and "2 Transactions" in lines[-1]
        for tab, keys in (("2", ["r Refund/void", "space Mark", "esc Back"]), ("3", ["n Note", "f Filter", "esc Back"]),
                          ("4", ["K KYC documents", "D EDD", "esc Back"]), ("5", ["$ Pay invoice", "esc Back"])):
            await pilot.press(tab)
            await settle(pilot, app)
            lines = screen_lines(app)
            assert target.name in lines[0] and lines[2].split() == tabs
            assert all(key in lines[-1] for key in keys), (tab, lines[-1])


async def test_segments_and_paging(demo_store):
    app = console(demo_store)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot, app)
        table = app.screen.query_one(WindowTable)
        first = table.current.external_id
        await pilot.press("pagedown")
        await settle(pilot, app)
        assert table.position == table.size.height - 1
        await pilot.press("end")
        await settle(pilot, app)
        counts = segment_counts(demo_store, app.actor)
        assert table.at_end and table.position == counts["customers"] - 1
        await pilot.press("home")
        await settle(pilot, app)
        assert table.current.external_id == first and table.position == 0
        await pilot.press("2")
        await settle(pilot, app)
        leads = table_column(app.screen, "id")
        for external_id in leads[:5]:
            assert customers.get_customer(demo_store, app.actor, external_id).payment_count == 0


async def test_names_show_literally_never_as_markup_or_escapes(demo_store):
    with demo_store.write() as s:
        s.execute(text("UPDATE customer SET first_name = '[red]x[/red]', last_name = :evil "
                       "WHERE external_id = 'CUS-0000300'"), {"evil": "\x1b[31mEvil\x07"})
    app = console(demo_store)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot, app)
        assert table_column(app.screen, "id")[0] == "CUS-0000300"
        assert table_column(app.screen, "name")[0] == "[red]x[/red] \\x1b[31mEvil\\x07"
        assert "[red]x[/red]" in app.export_screenshot()
        await pilot.press("enter")
        await settle(pilot, app)
        header = visible_text(app, app.screen.query_one("#profile-header"))
        assert header.lstrip().startswith("[red]x[/red] \\x1b[31mEvil\\x07")
        assert "[red]x[/red]" in app.export_screenshot()


async def test_help_lists_the_keys_and_the_palette_lists_the_actions(demo_store):
    app = console(demo_store)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot, app)
        await pilot.press("question_mark")
        await pilot.pause()
        assert isinstance(app.screen, HelpScreen)
        shown = app.screen.query_one(Static).render().plain
        for words in ("Search", "Customers", "Leads", "Filter", "Quit", "command palette"):
            assert words in shown
        await pilot.press("escape")
        await pilot.pause()
        assert isinstance(app.screen, CustomerTableScreen)
        commands = await palette_commands(app)
        assert {"Search", "Customers", "Leads", "Filter", "Sort", "Segments", "Help", "Quit"} <= set(commands)
        await commands["Leads"]()
        await settle(pilot, app)
        assert all(row.payment_count == 0 for row in app.screen.query_one(WindowTable).rows)


async def test_first_run_offers_demo_data(sqlite_store):
    app = AgentDeskApp(sqlite_store, load_settings(sqlite_store.url), actor=None, first_run=FirstRun("newcomer"))
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        assert isinstance(app.screen, FirstRunScreen)
        assert "agentdesk agents add newcomer --role admin" in screen_text(app)
        await pilot.press("d")
        await settle(pilot, app)
        assert isinstance(app.screen, CustomerTableScreen)
        assert app.actor.login == "newcomer" and app.actor.role.value == "admin"
    assert not demo.store_is_empty(sqlite_store)
    assert identity.is_demo(sqlite_store)
    assert sum(segment_counts(sqlite_store, app.actor)[k] for k in ("customers", "leads")) == 1000
