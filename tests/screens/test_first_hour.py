"""Issue 11: what a new agent hit in the first hour at 80x24, each checked on screen and in the store."""

from sqlalchemy import select, text
from textual import events
from textual.widgets import Input

from agentdesk.config import load_settings
from agentdesk.db.models import CustomerPhone
from agentdesk.domain.money import format_amount
from agentdesk.services.agents import identity
from agentdesk.services.customers import records as customers
from agentdesk.services.money import payments
from agentdesk.services.risk import blocklist
from agentdesk.services.timeline import notes as timeline_notes
from agentdesk.ui.dialogs.customer_form import CustomerFormScreen
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
    table_column,
    visible_text,
)

DEMO = (300, 2)


def operator(store):
    return identity.resolve_actor(store, "operator")


def phones_of(store, customer_id: int) -> list[str]:
    with store.read() as s:
        return list(s.execute(select(CustomerPhone.number).where(CustomerPhone.customer_id == customer_id)
                              .order_by(CustomerPhone.id)).scalars())


async def open_profile(pilot, app, ref: str | int) -> int:
    detail = customers.get_customer(app.store, app.actor, ref)
    app.push_screen(CustomerProfileScreen(detail.id))
    await settle(pilot, app)
    return detail.id


async def test_a_demo_customer_opens_edits_and_saves_without_retyping(demo_store):
    with demo_store.read() as s:
        customer_id = s.execute(text("SELECT customer_id FROM customer_phone ORDER BY id LIMIT 1")).scalar_one()
    before = phones_of(demo_store, customer_id)
    app = console(demo_store, "bob")
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot, app)
        await open_profile(pilot, app, customer_id)
        await pilot.press("e")
        await settle(pilot, app)
        assert isinstance(app.screen, CustomerFormScreen)
        await pilot.press("ctrl+s")
        await settle(pilot, app)
        assert isinstance(app.screen, CustomerProfileScreen), dialog_text(app)
    assert phones_of(demo_store, customer_id) == before


async def test_a_stored_phone_that_fails_the_check_is_kept_unless_the_agent_touches_it(demo_store):
    """The issue's case: '+1 258 450 6970' was stored by an older demo; e, Ctrl+S must save."""
    detail = customers.get_customer(demo_store, operator(demo_store), "CUS-0000017")
    with demo_store.write() as s:
        s.execute(text("DELETE FROM customer_phone WHERE customer_id = :c"), {"c": detail.id})
        s.execute(text("INSERT INTO customer_phone (customer_id, number, digits, label, is_primary) "
                       "VALUES (:c, '+1 258 450 6970', '12584506970', 'mobile', true)"), {"c": detail.id})
    app = console(demo_store, "bob")
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot, app)
        await open_profile(pilot, app, detail.id)
        await pilot.press("e")
        await settle(pilot, app)
        form = app.screen
        assert isinstance(form, CustomerFormScreen) and "+1 258 450 6970" in dialog_text(app)
        form.query_one("#c-job_title").value = "Night auditor"
        await pilot.press("ctrl+s")
        await settle(pilot, app)
        assert isinstance(app.screen, CustomerProfileScreen), dialog_text(app)
        assert "Night auditor" in screen_text(app)

        await pilot.press("e")
        await settle(pilot, app)
        form = app.screen
        form.query_one("#c-phones").value = "+1 258 450 6970, +1 258 450 6971"
        await pilot.press("ctrl+s")
        await settle(pilot, app)
        assert isinstance(app.screen, CustomerFormScreen)
        error = " ".join(visible_text(app, form.query_one("#error-phones")).split())
        assert "'+1 258 450 6971' is not a valid number" in error
        form.query_one("#c-phones").value = "+1 258 450 6970, +44 20 7946 0958"
        await pilot.press("ctrl+s")
        await settle(pilot, app)
        assert isinstance(app.screen, CustomerProfileScreen), dialog_text(app)
    assert phones_of(demo_store, detail.id) == ["+1 258 450 6970", "+442079460958"]
    saved = customers.get_customer(demo_store, operator(demo_store), detail.id)
    assert saved.job_title == "Night auditor" and [p.primary for p in saved.phones] == [True, False]


async def paste(pilot, app, text: str) -> None:
    """What the terminal driver does with a bracketed paste: one `Paste` event to the app."""
    app.post_message(events.Paste(text))
    await settle(pilot, app)


async def test_pasted_control_characters_are_dropped_never_reordered(demo_store):
    app = console(demo_store, "bob")
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot, app)
        customer_id = await open_profile(pilot, app, "CUS-0000017")
        await pilot.press("e")
        await settle(pilot, app)
        form = app.screen
        last = form.query_one("#c-last_name", Input)
        last.focus()
        last.value = ""
        await paste(pilot, app, "Ander\x1b[31mson\x1b]0;PWNED\x07")
        assert visible_text(app, last).strip() == "Anderson"
        await paste(pilot, app, "\u202e-Smith\r\n")
        assert visible_text(app, last).strip() == "Anderson-Smith"
        await pilot.press("ctrl+s")
        await settle(pilot, app)
        assert isinstance(app.screen, CustomerProfileScreen), dialog_text(app)
        assert "Anderson-Smith" in screen_text(app)
    assert customers.get_customer(demo_store, operator(demo_store), customer_id).last_name == "Anderson-Smith"


async def test_a_paste_longer_than_the_field_is_refused_and_the_field_kept(demo_store):
    app = console(demo_store)
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await settle(pilot, app)
        await open_profile(pilot, app, "CUS-0000042")
        await pilot.press("B")
        await settle(pilot, app)
        reason = app.screen.query_one("#block-reason", Input)
        reason.focus()
        await pilot.press(*"stolen card")
        await paste(pilot, app, "x" * 1000)
        assert any("too long" in n and "1,000 characters" in n and "at most 500" in n for n in notifications(app))
        assert visible_text(app, reason).strip() == "stolen card"
        await paste(pilot, app, " (reported)")
        await pilot.press("ctrl+s")
        await settle(pilot, app)
        assert isinstance(app.screen, CustomerProfileScreen)
    [entry] = blocklist.list_entries(demo_store, operator(demo_store))
    assert entry.reason == "stolen card (reported)"


async def test_returning_to_the_table_shows_the_edit_made_in_the_profile(demo_store):
    app = console(demo_store, "bob")
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot, app)
        await pilot.press("down", "down")
        external_id = table_column(app.screen, "id")[2]
        await pilot.press("enter")
        await settle(pilot, app)
        assert isinstance(app.screen, CustomerProfileScreen)
        await pilot.press("e")
        await settle(pilot, app)
        app.screen.query_one("#c-first_name", Input).value = "Zebulon"
        await pilot.press("ctrl+s")
        await settle(pilot, app)
        await pilot.press("escape")
        await settle(pilot, app)
        assert isinstance(app.screen, CustomerTableScreen)
        rows = visible_text(app, app.screen.query_one("#customers")).splitlines()
        assert rows[3].lstrip().startswith("Zebulon ")                   # the third row, where it was
        assert f"{external_id} · row 3 of" in visible_text(app, app.screen.query_one("#status"))
    assert customers.get_customer(demo_store, operator(demo_store), external_id).first_name == "Zebulon"


async def test_a_note_shows_its_line_breaks_and_mentions_as_text(demo_store):
    detail = customers.get_customer(demo_store, operator(demo_store), "CUS-0000017")
    timeline_notes.add_note(demo_store, operator(demo_store), detail.id, "Called back.\nPromised a refund @bob @sara")
    app = console(demo_store)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot, app)
        await open_profile(pilot, app, detail.id)
        await pilot.press("3")
        await settle(pilot, app)
        shown = visible_text(app, app.screen.query_one("#tl-details"))
        lines = [line.strip() for line in shown.splitlines()]
        assert "text: Called back." in lines and "Promised a refund @bob @sara" in lines, shown
        assert "mentions: bob, sara" in lines, shown
        assert "\\x0a" not in shown and "[" not in shown


async def test_timeline_keys_titles_and_amounts_read_as_words(demo_store):
    from agentdesk.ui.screens.help import HelpScreen

    detail = customers.get_customer(demo_store, operator(demo_store), "CUS-0000017")
    purchase = next(e for e in detail.timeline if e.type == "new_purchase")
    shown_amount = format_amount(purchase.attributes["amount"], purchase.attributes["currency"])
    app = console(demo_store, "bob")
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot, app)
        await open_profile(pilot, app, detail.id)
        await pilot.press("3", "question_mark")
        await settle(pilot, app)
        assert isinstance(app.screen, HelpScreen)
        help_text = dialog_text(app)
        assert help_text.startswith("Customer profile keys")
        for key, words in (("n", "Note"), ("f", "Filter"), ("a", "Attach"), ("l", "Link"),
                           ("x", "Clear filter (not now)")):
            assert f"{key} {words}" in help_text, (key, help_text)
        await pilot.press("escape")
        await settle(pilot, app)
        assert {"Note", "Filter", "Attach", "Link"} <= set(await palette_commands(app))

        await pilot.press("f", *"new pur", "enter")
        await settle(pilot, app)
        header = visible_text(app, app.screen.query_one("#tl-filter"))
        assert "types: New purchase" in header and "new_purchase" not in header
        assert "x Clear filter" in screen_text(app).splitlines()[-1]
        details = visible_text(app, app.screen.query_one("#tl-details"))
        assert f"amount: {shown_amount}" in details and f"amount: {purchase.attributes['amount']}\n" not in details


async def test_role_gated_keys_are_hidden_and_name_the_role_when_reached(demo_store):
    detail = customers.get_customer(demo_store, operator(demo_store), "CUS-0000017")
    app = console(demo_store, "bob")
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await settle(pilot, app)
        assert "Export" not in screen_text(app).splitlines()[-1]
        await pilot.press("e")
        await settle(pilot, app)
        assert isinstance(app.screen, CustomerTableScreen)
        await open_profile(pilot, app, detail.id)
        await pilot.press("2", "question_mark")
        await settle(pilot, app)
        assert "Refund/void" in dialog_text(app) and "Payout" not in dialog_text(app)
        await pilot.press("escape")
        await settle(pilot, app)
        assert "Payout" not in await palette_commands(app)
        await pilot.press("P")
        await settle(pilot, app)
        assert isinstance(app.screen, CustomerProfileScreen)
        assert any("may not send payouts" in n and "this needs admin or finance" in n for n in notifications(app))
        app.clear_notifications()
        app.screen.query_one("#transactions-pane").action_payout()
        await settle(pilot, app)
        assert any("may not" in n and "this needs admin or finance" in n for n in notifications(app))

    app = console(demo_store, "fred")
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await settle(pilot, app)
        await open_profile(pilot, app, detail.id)
        assert "Edit" not in await palette_commands(app)
        await pilot.press("question_mark")
        await settle(pilot, app)
        assert "Edit" not in dialog_text(app).split("keys", 1)[1].split("Tab /")[0].split()
        await pilot.press("escape", "e")
        await settle(pilot, app)
        assert isinstance(app.screen, CustomerProfileScreen)
        app.screen.action_edit()
        await settle(pilot, app)
        assert isinstance(app.screen, CustomerProfileScreen)
        assert any("needs admin, customer service agent or sales" in n for n in notifications(app)), notifications(app)


async def test_huge_amounts_keep_their_currency_in_the_transaction_list(demo_store):
    detail = customers.get_customer(demo_store, operator(demo_store), "CUS-0000017")
    paid = payments.collect_payment(demo_store, operator(demo_store), load_settings(demo_store.url), detail.id,
                                    9_999_999_999_900, detail.currency, outside=True)
    assert paid.ok
    app = console(demo_store)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot, app)
        await open_profile(pilot, app, detail.id)
        await pilot.press("2")
        await settle(pilot, app)
        lines = visible_text(app, app.screen.query_one("#transactions-table")).splitlines()
        assert lines[0].split()[:6] == ["Txn", "Date", "Type", "Status", "Amount", "Order"]
        assert lines[1].split()[0] == str(paid.transaction_id)
        assert f"99,999,999,999.00 {detail.currency}" in lines[1]
        assert f"8.99 {detail.currency}" in lines[2]
