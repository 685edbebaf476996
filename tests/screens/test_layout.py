"""Issue 11, layout: what the agent sees at 80x24, 60x20 and 200x50 — read from the screen."""

import pytest
from textual.widgets import Input

from agentdesk.domain.errors import InvalidInput
from agentdesk.domain.validation import CardInput, CustomerInput, validated
from agentdesk.services.agents import identity
from agentdesk.services.customers import records as customers
from agentdesk.services.customers import search
from agentdesk.services.customers.filters import parse_filters
from agentdesk.ui.base import ConfirmDiscard
from agentdesk.ui.dialogs.customer_form import CustomerFormScreen
from agentdesk.ui.dialogs.table import FilterDialog
from agentdesk.ui.screens.customer_profile import CustomerProfileScreen
from agentdesk.ui.screens.customer_table import CustomerTableScreen

from .helpers import console, screen_lines, screen_text, settle, table_column, visible_text

DEMO = (300, 2)
SIZES = [(80, 24), (60, 20), (200, 50)]


def words(text: str) -> str:
    return " ".join(text.split())


def problems(call) -> dict[str, str]:
    try:
        call()
    except InvalidInput as exc:
        return exc.fields
    raise AssertionError("no problem found")


def box(app) -> tuple[list[str], int]:
    """The dialog's lines as drawn (border included) and its width."""
    region = app.screen.query_one(".dialog").region
    lines = screen_lines(app)[region.y: region.y + region.height]
    return [line[region.x: region.x + region.width] for line in lines], region.width


@pytest.mark.parametrize("size", SIZES)
async def test_field_errors_are_shown_whole_at_every_size(demo_store, size):
    expected = problems(lambda: parse_filters({"country": "ZZ", "created_from": "2099-13-01"}))
    app = console(demo_store)
    async with app.run_test(size=size) as pilot:
        await settle(pilot, app)
        await pilot.press("f")
        await settle(pilot, app)
        assert isinstance(app.screen, FilterDialog)
        app.screen.query_one("#f-country", Input).value = "ZZ"
        app.screen.query_one("#f-created_from", Input).value = "2099-13-01"
        await pilot.press("ctrl+s")
        await settle(pilot, app)
        for field, problem in expected.items():
            assert len(problem) > 28
            assert problem in words(visible_text(app, app.screen.query_one(f"#error-{field}"))), (size, field)
        assert "nothing was saved" in words(screen_text(app))

        await pilot.press("escape", "enter", "n")
        await settle(pilot, app)
        form = app.screen
        assert isinstance(form, CustomerFormScreen)
        card_problem = problems(lambda: validated(CustomerInput("A", "B", card=CardInput("4242", "12/40"))))
        form.query_one("#c-first_name", Input).value = "Ada"
        form.query_one("#c-last_name", Input).value = "Lovelace"
        form.query_one("#c-card_number", Input).value = "4242"
        form.query_one("#c-card_expiry", Input).value = "12/40"
        await pilot.press("ctrl+s")
        await settle(pilot, app)
        shown = words(visible_text(app, form.query_one("#error-card_number")))
        assert card_problem["card.number"] in shown and len(card_problem["card.number"]) > 28, (size, shown)


@pytest.mark.parametrize("size", SIZES)
async def test_dialogs_fit_the_terminal_and_say_how_to_submit_in_their_footer(demo_store, size):
    width, height = size
    app = console(demo_store)
    async with app.run_test(size=size) as pilot:
        await settle(pilot, app)
        await pilot.press("n")
        await settle(pilot, app)
        lines, drawn = box(app)
        assert lines[0].startswith("╭") and lines[-1].startswith("╰") and len(lines) <= height
        assert "Ctrl+S save" in lines[-2], lines
        assert "First name" in words("\n".join(lines))
        if width >= 200:
            assert drawn >= 100
            assert "Card expiry" in words("\n".join(lines))           # all of the form at once
        else:
            assert drawn >= width - 5
        await pilot.press("escape", "f")
        await settle(pilot, app)
        lines, _ = box(app)
        assert "Enter/Ctrl+S apply" in lines[-2] and len(lines) <= height


async def test_esc_on_a_filled_form_asks_before_discarding(demo_store):
    app = console(demo_store, "bob")
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot, app)
        await pilot.press("n")
        await settle(pilot, app)
        await pilot.press("escape")                       # nothing typed: closes at once
        await settle(pilot, app)
        assert isinstance(app.screen, CustomerTableScreen)

        await pilot.press("n")
        await settle(pilot, app)
        await pilot.press(*"KEEP-1", "tab", "tab", *"Ada")
        await pilot.press("escape")
        await settle(pilot, app)
        assert isinstance(app.screen, ConfirmDiscard)
        assert "Discard what you typed" in screen_text(app) and "Esc keep editing" in screen_text(app)
        await pilot.press("escape")
        await settle(pilot, app)
        assert isinstance(app.screen, CustomerFormScreen) and "Ada" in screen_text(app)
        await pilot.press("escape", "enter")
        await settle(pilot, app)
        assert isinstance(app.screen, CustomerTableScreen)
    assert search.search_customers(demo_store, app.actor, "KEEP-1").rows == []


async def test_ctrl_c_quits_and_asks_first_when_a_form_has_something_typed(demo_store):
    app = console(demo_store)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot, app)
        await pilot.press("ctrl+c")
        await pilot.pause()
    assert app.return_code == 0

    app = console(demo_store)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot, app)
        await pilot.press("n")
        await settle(pilot, app)
        await pilot.press(*"Grace", "ctrl+c")
        await settle(pilot, app)
        assert "Quit and lose what you typed" in screen_text(app) and "Enter quit" in screen_text(app)
        await pilot.press("escape")
        await settle(pilot, app)
        assert app.is_running and isinstance(app.screen, CustomerFormScreen)
        app.screen.query_one("#c-card_backup").focus()
        await pilot.press("q")                                # q never quits from a dialog
        await settle(pilot, app)
        assert app.is_running and isinstance(app.screen, CustomerFormScreen)
        await pilot.press("ctrl+c", "enter")
        await pilot.pause()
    assert app.return_code == 0


def header_of(app, selector="#customers") -> str:
    return visible_text(app, app.screen.query_one(selector)).splitlines()[0]


async def test_the_customer_table_fits_80_columns_and_scrolls_the_rest_in(demo_store):
    app = console(demo_store)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot, app)
        header = header_of(app)
        for title in ("Name", "Primary email", "Phone", "Lifetime value", "Last paid"):
            assert title in header, header
        assert header.rstrip().endswith("→") and "ID" not in header.split()
        rows = visible_text(app, app.screen.query_one("#customers")).splitlines()[1:]
        phones = table_column(app.screen, "phone")
        values = table_column(app.screen, "ltv")
        assert any(phones)
        for line, phone, value in zip(rows, phones, values, strict=False):
            assert phone in line and value in line, line                 # never clipped
        assert "→ 5 more columns" in visible_text(app, app.screen.query_one("#status"))

        await pilot.press("right")
        header = header_of(app)
        assert header.startswith("←") and "Name" not in header and "ID" in header.split()
        assert table_column(app.screen, "id")[0] in visible_text(app, app.screen.query_one("#customers"))
        await pilot.press("left")
        assert header_of(app).lstrip().startswith("Name")


@pytest.mark.parametrize("size", [(60, 20), (200, 50)])
async def test_the_customer_table_at_60_and_200_columns(demo_store, size):
    app = console(demo_store)
    async with app.run_test(size=size) as pilot:
        await settle(pilot, app)
        header = header_of(app)
        assert header.split()[:4] == ["Name", "Primary", "email", "Phone"]
        if size[0] == 60:
            assert header.rstrip().endswith("→")
            await pilot.press("right", "right")
            assert "Lifetime value" in header_of(app)
        else:
            assert "Created" in header and "→" not in header          # every column
            assert header.index("Primary email") >= 40                # Name takes the spare width
            assert header.index("Phone") - header.index("Primary email") >= 40


async def test_marked_rows_show_a_mark_not_only_a_colour(demo_store):
    app = console(demo_store)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot, app)
        await pilot.press("space", "down", "down", "space")
        rows = visible_text(app, app.screen.query_one("#customers")).splitlines()[1:4]
        assert [row[0] for row in rows] == ["✓", " ", "✓"]
        assert "2 marked" in visible_text(app, app.screen.query_one("#status"))


async def test_transactions_headers_whole_and_the_order_column_in_view(demo_store):
    detail = customers.get_customer(demo_store, identity.resolve_actor(demo_store, "operator"), "CUS-0000017")
    for size in ((80, 24), (60, 20)):
        app = console(demo_store)
        async with app.run_test(size=size) as pilot:
            await settle(pilot, app)
            app.push_screen(CustomerProfileScreen(detail.id))
            await settle(pilot, app)
            await pilot.press("2")
            await settle(pilot, app)
            table = app.screen.query_one("#transactions-table")
            presses = 0
            number = detail.transactions[0].order_number
            while number not in visible_text(app, table).splitlines()[1] and presses < 2:
                await pilot.press("right")
                await settle(pilot, app)
                presses += 1
            lines = visible_text(app, table).splitlines()
            assert "Order" in lines[0] and number in lines[1], (size, presses)
            words_shown = lines[0].split()
            for title in words_shown[:-1]:
                assert title in {"Txn", "Date", "Type", "Status", "Amount", "Order", "Settled", "Of", "Note",
                                 "Gateway", "Instrument"}, (size, title)
            if size == (80, 24):
                assert presses == 0 and "Settled" in words_shown


async def test_the_overview_scrolls_without_tab_and_shows_the_orders_first(demo_store):
    detail = customers.get_customer(demo_store, identity.resolve_actor(demo_store, "operator"), "CUS-0000017")
    app = console(demo_store)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot, app)
        app.push_screen(CustomerProfileScreen(detail.id))
        await settle(pilot, app)
        first = screen_text(app)
        assert "Orders and subscriptions" in first and detail.orders[0].number in first
        assert "Tax IDs" not in first
        await pilot.press("end")
        await settle(pilot, app)
        assert "Tax IDs" in screen_text(app) and "Details" not in screen_text(app)
        await pilot.press("home", "pagedown")
        await settle(pilot, app)
        assert "Details" not in screen_text(app)
        await pilot.press("home")
        await settle(pilot, app)
        for _ in range(3):
            await pilot.press("down")
        await settle(pilot, app)
        assert "Details" not in screen_text(app).splitlines()[4]
