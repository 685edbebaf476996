"""The customer table's filters, columns, segments and export, driven through the pilot."""

import csv

from textual.widgets import Input

from agentdesk.config import load_settings
from agentdesk.services.agents import identity
from agentdesk.services.customers import preferences, segments
from agentdesk.services.customers import records as customers
from agentdesk.services.customers.columns import COLUMNS, DEFAULT_COLUMNS
from agentdesk.services.customers.filters import CustomerFilters, CustomerQuery, Segment
from agentdesk.services.customers.search import count_matching
from agentdesk.ui.dialogs.table import ColumnsDialog, ExportDialog, FilterDialog, SegmentsDialog
from agentdesk.ui.screens.customer_profile import CustomerProfileScreen
from agentdesk.ui.screens.customer_table import CustomerTableScreen

from .helpers import (
    SIZE,
    console,
    dialog_text,
    notifications,
    palette_commands,
    screen_text,
    settle,
    table_rows,
    visible_text,
)

DEMO = (600, 21)


def shown(app, selector: str) -> str:
    return visible_text(app, app.screen.query_one(selector))


def column(app, key: str) -> list[str]:
    """One column of the table's rows, as shown."""
    index = DEFAULT_COLUMNS.index(key)
    return [row[index] for row in table_rows(app.screen)]


def minor_units(shown_amount: str) -> int:
    """"1,234.50 USD" → 123450: the digits of an amount shown with its currency's exponent."""
    return int("".join(ch for ch in shown_amount if ch.isdigit()))


async def test_typing_a_search_updates_the_table_and_the_newest_query_wins(demo_store):
    app = console(demo_store)
    target = customers.get_customer(demo_store, app.actor, "CUS-0000017")
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot, app)
        await pilot.press("slash")
        for ch in "CUS-0000017":
            await pilot.press(ch)
            await pilot.pause(0.01)
        await settle(pilot, app)
        assert column(app, "id") == ["CUS-0000017"]
        assert "row 1 of 1" in shown(app, "#status")
        await pilot.press("enter", "enter")
        await settle(pilot, app)
        assert isinstance(app.screen, CustomerProfileScreen)
        text = screen_text(app)
        assert "CUS-0000017" in text and target.name in text


async def test_filter_dialog_applies_and_clears(demo_store):
    app = console(demo_store)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot, app)
        await pilot.press("f")
        await pilot.pause()
        assert isinstance(app.screen, FilterDialog)
        app.screen.query_one("#f-country", Input).value = "Atlantis"
        await pilot.press("ctrl+s")
        await settle(pilot, app)
        assert isinstance(app.screen, FilterDialog)
        assert "not an ISO 3166 country code" in " ".join(shown(app, "#error-country").split())
        app.screen.query_one("#f-country", Input).value = "gb"
        app.screen.query_one("#f-payments_min", Input).value = "2"
        await pilot.press("ctrl+s")
        await settle(pilot, app)
        assert isinstance(app.screen, CustomerTableScreen)
        chips = shown(app, "#chips")
        assert "country GB" in chips and "payments ≥ 2" in chips
        expected, _ = count_matching(demo_store, app.actor, CustomerQuery(filters=CustomerFilters(country="GB",
                                                                                                   payments_min=2)))
        ids = column(app, "id")
        assert ids and len(ids) == min(expected, 100)
        assert f"row 1 of {expected:,} customers" in shown(app, "#status")
        for external_id in ids[:10]:
            detail = customers.get_customer(demo_store, app.actor, external_id)
            assert "GB" in {a.country for a in detail.addresses} and detail.payment_count >= 2
        await pilot.press("x")
        await pilot.pause()
        await pilot.press("enter")                       # the first chip: country
        await settle(pilot, app)
        chips = shown(app, "#chips")
        assert "country" not in chips and "payments ≥ 2" in chips
        await pilot.press("x", "down", "enter")          # "all filters"
        await settle(pilot, app)
        assert "✕" not in shown(app, "#chips")
        everyone, _ = count_matching(demo_store, app.actor, CustomerQuery())
        assert f"row 1 of {everyone:,} customers" in shown(app, "#status")


async def test_sort_cycles_and_order_flips(demo_store):
    app = console(demo_store)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot, app)
        await pilot.press("s", "s", "s")
        await settle(pilot, app)
        values = [minor_units(v) for v in column(app, "ltv")]
        assert len(values) == 100 and values == sorted(values, reverse=True)
        assert "lifetime value ↓" in shown(app, "#chips")
        await pilot.press("o")
        await settle(pilot, app)
        values = [minor_units(v) for v in column(app, "ltv")]
        assert len(values) == 100 and values == sorted(values)
        assert "lifetime value ↑" in shown(app, "#chips")


async def test_edit_columns_is_remembered(demo_store):
    app = console(demo_store)
    expected = ["email", "name", "phone", "ltv", "last_payment", "payments", "country", "organization", "created"]
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot, app)
        await pilot.press("c")
        await pilot.pause()
        assert isinstance(app.screen, ColumnsDialog)
        await pilot.press("down")                        # primary email
        await pilot.press("left_square_bracket")         # move it above Name
        await pilot.press(*["down"] * 5, "space")        # hide ID
        await pilot.press("enter")
        await settle(pilot, app)
        assert isinstance(app.screen, CustomerTableScreen)
        header = shown(app, "#customers").split("\n")[0].split()
        assert " ".join(header).startswith(" ".join(COLUMNS[k].title for k in expected[:3]))
        assert "ID" not in header
    assert preferences.table_columns(demo_store, identity.resolve_actor(demo_store, "operator")) == expected
    again = console(demo_store)
    async with again.run_test(size=SIZE) as pilot:
        await settle(pilot, again)
        header = shown(again, "#customers").split("\n")[0]
        assert " ".join(header.split()).startswith(" ".join(COLUMNS[k].title for k in expected[:3]))


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
        assert "Saved 'my leads'." in dialog_text(app) and "my leads" in shown(app, "#segments-list")
        saved = segments.list_segments(demo_store, app.actor)
        assert [s.name for s in saved] == ["my leads"] and saved[0].query.segment is Segment.LEADS
        await pilot.press("escape")
        await pilot.press("1")
        await settle(pilot, app)
        assert "customers" in shown(app, "#status")
        await pilot.press("g")
        await settle(pilot, app)
        await pilot.press("enter")
        await settle(pilot, app)
        assert isinstance(app.screen, CustomerTableScreen)
        leads, _ = count_matching(demo_store, app.actor, CustomerQuery(Segment.LEADS))
        assert f"row 1 of {leads:,} leads" in shown(app, "#status")
        assert set(column(app, "payments")) == {"0"}


async def test_export_from_the_table(demo_store, tmp_path):
    app = console(demo_store)
    out = tmp_path / "leads.csv"
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await settle(pilot, app)
        await pilot.press("2", "e")
        await settle(pilot, app)
        assert isinstance(app.screen, ExportDialog)
        app.screen.query_one("#export-path", Input).value = str(out)
        await pilot.press("enter")
        await settle(pilot, app)
        leads, _ = count_matching(demo_store, app.actor, CustomerQuery(Segment.LEADS))
        assert isinstance(app.screen, CustomerTableScreen)
        said = f"Exported {leads:,} customers to {out}"
        assert any("".join(said.split()) in "".join(n.split()) for n in notifications(app)), notifications(app)
    with open(out, newline="") as fh:
        rows = list(csv.reader(fh))
    assert rows[0][0] == "Name" and len(rows) - 1 == leads


async def test_export_is_not_offered_to_an_agent(demo_store, tmp_path):
    app = console(demo_store, as_login="bob")
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot, app)
        assert app.screen.check_action("export", ()) is False
        await pilot.press("e")
        await settle(pilot, app)
        assert not isinstance(app.screen, ExportDialog)


async def test_keys_remapped_in_the_config_drive_the_table(demo_store, tmp_path):
    config = tmp_path / "config.toml"
    config.write_text('[keys]\n"table.filters" = "F"\n"table.search" = "ctrl+f"\n')
    settings = load_settings(demo_store.url, env={"AGENTDESK_CONFIG": str(config),
                                                  "AGENTDESK_DATA_DIR": str(tmp_path / "data")})
    app = console(demo_store, settings=settings)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot, app)
        footer = screen_text(app).split("\n")[-1]
        assert "F Filter" in footer and "f Filter" not in footer
        await pilot.press("f")
        await settle(pilot, app)
        assert isinstance(app.screen, CustomerTableScreen)
        await pilot.press("F")
        await settle(pilot, app)
        assert isinstance(app.screen, FilterDialog)
        await pilot.press("escape", "ctrl+f", *"CUS-0000017", "enter")
        await settle(pilot, app)
        assert column(app, "id") == ["CUS-0000017"]


async def test_the_theme_comes_from_the_config_and_an_unknown_one_is_named(demo_store, tmp_path):
    for theme, expected in (("nord", "nord"), ("no-such-theme", None)):
        config = tmp_path / f"{theme}.toml"
        config.write_text(f'theme = "{theme}"\n')
        settings = load_settings(demo_store.url, env={"AGENTDESK_CONFIG": str(config),
                                                      "AGENTDESK_DATA_DIR": str(tmp_path / "data")})
        app = console(demo_store, settings=settings)
        async with app.run_test(size=SIZE, notifications=True) as pilot:
            await settle(pilot, app)
            if expected:
                assert app.theme == expected
            else:
                assert any("no theme named 'no-such-theme'" in n for n in notifications(app))
                assert isinstance(app.screen, CustomerTableScreen)


async def test_the_palette_opens_a_customer_as_you_type(demo_store):
    app = console(demo_store)
    target = customers.get_customer(demo_store, app.actor, "CUS-0000017")
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot, app)
        await pilot.press("ctrl+p", *"open customer CUS-0000017")
        await settle(pilot, app)
        assert f"Open customer CUS-0000017 {target.name}" in screen_text(app)
        await pilot.press("down", "enter")
        await settle(pilot, app)
        assert isinstance(app.screen, CustomerProfileScreen)
        assert "CUS-0000017" in shown(app, "#profile-header") and target.name in shown(app, "#profile-header")


async def test_the_palette_and_help_list_the_pane_and_screen_actions(demo_store):
    app = console(demo_store)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot, app)
        commands = await palette_commands(app)
        assert {"Open profile", "Search", "Customers", "Leads", "Filter", "Sort", "Segments", "Export",
                "Help", "Quit"} <= set(commands)
        assert "Up" not in commands and "Focus Next" not in commands
        await pilot.press("question_mark")
        await settle(pilot, app)
        help_text = dialog_text(app)
        assert help_text.startswith("Customer table keys") and "⏎ Open profile" in help_text
        await pilot.press("escape", "ctrl+p", *"Leads")
        await settle(pilot, app)
        await pilot.press("down", "enter")
        await settle(pilot, app)
        assert isinstance(app.screen, CustomerTableScreen)
        leads, _ = count_matching(demo_store, app.actor, CustomerQuery(Segment.LEADS))
        assert f"row 1 of {leads:,} leads" in shown(app, "#status")


async def test_a_lifetime_value_filter_in_yen_reopens_as_typed(demo_store):
    app = console(demo_store)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot, app)
        await pilot.press("f")
        await settle(pilot, app)
        app.screen.query_one("#f-currency", Input).value = "jpy"
        app.screen.query_one("#f-ltv_min", Input).value = "2500"
        await pilot.press("ctrl+s")
        await settle(pilot, app)
        assert "LTV ≥ 2,500 JPY" in shown(app, "#chips")
        await pilot.press("f")
        await settle(pilot, app)
        assert visible_text(app, app.screen.query_one("#f-ltv_min")).strip() == "2500"
        await pilot.press("ctrl+s")
        await settle(pilot, app)
        assert isinstance(app.screen, CustomerTableScreen) and "LTV ≥ 2,500 JPY" in shown(app, "#chips")
        await pilot.press("f")
        await settle(pilot, app)
        app.screen.query_one("#f-currency", Input).value = ""
        app.screen.query_one("#f-ltv_min", Input).value = "12.5"
        await pilot.press("ctrl+s", "f")
        await settle(pilot, app)
        assert visible_text(app, app.screen.query_one("#f-ltv_min")).strip() == "12.50"
