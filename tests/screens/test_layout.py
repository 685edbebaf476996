"""Issue 11, layout: what the agent sees at 80x24, 60x20 and 200x50 — read from the screen."""

import pytest
from textual.widgets import Input

from agentdesk.domain.errors import InvalidInput
from agentdesk.domain.validation import CardInput, CustomerInput, validated
from agentdesk.services.customers import search
from agentdesk.services.customers.filters import parse_filters
from agentdesk.ui.base import ConfirmDiscard
from agentdesk.ui.dialogs.customer_form import CustomerFormScreen
from agentdesk.ui.dialogs.table import FilterDialog
from agentdesk.ui.screens.customer_table import CustomerTableScreen

from .helpers import console, screen_lines, screen_text, settle, visible_text

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
        await pilot.press("ctrl+c", "enter")
        await pilot.pause()
    assert app.return_code == 0
