"""Live refresh through two consoles on one store (issue 16), on SQLite and PostgreSQL.

Console A watches; console B (or a service call as another agent) changes something. A shows it without
a key press, its cursors stay where they were, a form being filled keeps its text, and a mention of A's
agent pops up as a notification. Waits are bounded loops (no timing is asserted).
"""

from __future__ import annotations

import time

import pytest
from sqlalchemy import func, select
from textual.widgets import DataTable, Input, TextArea

from agentdesk.config import load_settings
from agentdesk.db.models import Customer, Fulfillment, Order, Transaction
from agentdesk.demo import builder as demo
from agentdesk.domain.enums import FulfillmentStatus, OrderKind, OrderStatus
from agentdesk.services.agents import identity
from agentdesk.services.customers import tags
from agentdesk.services.money import refunds
from agentdesk.services.orders import actions as order_actions
from agentdesk.services.timeline import notes
from agentdesk.ui.dialogs.block import BlockDialog
from agentdesk.ui.screens.customer_profile import CustomerProfileScreen
from agentdesk.ui.screens.customer_table import CustomerTableScreen
from agentdesk.ui.screens.order import OrderScreen
from agentdesk.ui.screens.timeline import NoteDialog, TimelinePanel
from agentdesk.ui.widgets.profile.header import ProfileHeader
from agentdesk.ui.widgets.window_table import WindowTable

from .helpers import SIZE, console, notifications, settle

DEADLINE = 20.0
"""Longest wait for something that must show (it takes about a second: the SQLite poll)."""


@pytest.fixture
def floor(store):
    """A small demo store on SQLite and on PostgreSQL; `operator` is console A's admin."""
    demo.build_demo(store, 40, seed=3, login="operator")
    return store


async def until(pilot, condition, what: str) -> None:
    """Let the console run until `condition()` holds; fail naming `what` after `DEADLINE` seconds."""
    deadline = time.monotonic() + DEADLINE
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"not seen within {DEADLINE:.0f} s: {what}")
        await pilot.pause(0.05)


async def listening(pilot, app) -> None:
    """Console A's change feed is open: whatever commits from now on reaches it."""
    await settle(pilot, app)
    await until(pilot, lambda: app.feed is not None and app.feed.ready.is_set(), "the change feed listening")


def row_cells(table: WindowTable, customer_id: int) -> str:
    row = next(r for r in table.rows if r.id == customer_id)
    return " ".join(cell.plain for cell in table.render_cells(row))


def actor(store, login: str):
    return identity.resolve_actor(store, "operator", login)


def unblocked_customer(store, *, exclude: set[int] = frozenset()) -> int:  # type: ignore[assignment]
    with store.read() as s:
        ids = s.execute(select(Customer.id).where(Customer.blocked.is_(False)).order_by(Customer.id)).scalars()
        return next(i for i in ids if i not in exclude)


async def test_a_block_in_console_b_shows_in_console_a_table_with_its_cursor_kept(floor):
    app_a, app_b = console(floor), console(floor, as_login="alice")
    async with app_a.run_test(size=SIZE) as pilot_a, app_b.run_test(size=SIZE) as pilot_b:
        await listening(pilot_a, app_a)
        await settle(pilot_b, app_b)
        table = app_a.screen.query_one(WindowTable)
        await pilot_a.press("down", "down", "down")
        await settle(pilot_a, app_a)
        held = [row.id for row in table.rows]
        cursor, current = table.cursor, table.current.id
        target = next(row for row in table.rows[:table.cursor] if not row.blocked)
        assert "⛔" not in row_cells(table, target.id)

        app_b.push_screen(CustomerProfileScreen(target.id))
        await settle(pilot_b, app_b)
        await pilot_b.press("B")
        await settle(pilot_b, app_b)
        assert isinstance(app_b.screen, BlockDialog)
        await pilot_b.press(*"chargeback fraud", "enter")
        await settle(pilot_b, app_b)
        with floor.read() as s:
            assert s.get(Customer, target.id).blocked

        await until(pilot_a, lambda: "⛔" in row_cells(table, target.id), "the block in A's table")
        assert isinstance(app_a.screen, CustomerTableScreen)
        assert [row.id for row in table.rows] == held, "only the changed row was read again"
        assert (table.cursor, table.current.id) == (cursor, current)


async def test_the_profile_follows_changes_made_elsewhere_and_keeps_the_timeline_cursor(floor):
    customer_id = unblocked_customer(floor)
    bob = actor(floor, "bob")
    app = console(floor)
    async with app.run_test(size=SIZE) as pilot:
        await listening(pilot, app)
        app.push_screen(CustomerProfileScreen(customer_id))
        await settle(pilot, app)
        header = app.screen.query_one(ProfileHeader)
        await pilot.press("3", "down", "down")
        await settle(pilot, app)
        timeline = app.screen.query_one(TimelinePanel).table
        assert timeline.cursor == 2
        highlighted = timeline.current.id

        tags.add_tag(floor, bob, customer_id, "callback-friday")
        notes.add_note(floor, bob, customer_id, "Customer called about [bold]the invoice[/bold]")

        await until(pilot, lambda: "callback-friday" in str(header.render()), "the new tag in the header")
        await until(pilot, lambda: "the invoice" in " ".join(c.plain for c in timeline.render_cells(timeline.rows[0])),
                    "the note on top of the timeline")
        assert timeline.current.id == highlighted, "the highlighted event stays highlighted"
        assert "[bold]" in " ".join(c.plain for c in timeline.render_cells(timeline.rows[0])), "shown as plain text"


def refundable_sale(store) -> Transaction:
    """A settled sandbox sale, never refunded, of a customer with at least three transactions."""
    with store.read() as s:
        busy = select(Transaction.customer_id).group_by(Transaction.customer_id).having(func.count() >= 3)
        refunded = select(Transaction.parent_id).where(Transaction.parent_id.is_not(None))
        return s.execute(select(Transaction).where(
            Transaction.type == "sale", Transaction.settled, Transaction.status == "approved",
            Transaction.gateway == "sandbox", Transaction.customer_id.in_(busy), Transaction.id.not_in(refunded))
            .order_by(Transaction.id)).scalars().first()


async def test_a_refund_elsewhere_shows_in_the_transactions_with_the_cursor_on_its_row(floor):
    sale = refundable_sale(floor)
    app = console(floor)
    async with app.run_test(size=SIZE) as pilot:
        await listening(pilot, app)
        app.push_screen(CustomerProfileScreen(sale.customer_id))
        await settle(pilot, app)
        await pilot.press("2")
        await settle(pilot, app)
        table = app.screen.query_one("#transactions-table", DataTable)
        keys = [row.value for row in table.rows]
        await pilot.press(*["down"] * keys.index(str(sale.id)))
        await settle(pilot, app)
        assert table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value == str(sale.id)
        before = table.row_count

        refunds.refund_transaction(floor, actor(floor, "alice"), load_settings(floor.url), sale.id, None, "goodwill")

        await until(pilot, lambda: table.row_count == before + 1, "the refund in the transactions tab")
        assert table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value == str(sale.id)


async def test_a_note_being_typed_keeps_its_text_while_the_profile_below_reads_again(floor):
    customer_id = unblocked_customer(floor)
    app = console(floor)
    async with app.run_test(size=SIZE) as pilot:
        await listening(pilot, app)
        app.push_screen(CustomerProfileScreen(customer_id))
        await settle(pilot, app)
        profile = app.screen
        await pilot.press("n")
        await settle(pilot, app)
        dialog = app.screen
        assert isinstance(dialog, NoteDialog)
        await pilot.press(*"half a sentence")
        typed = dialog.query_one(TextArea).text
        assert typed == "half a sentence"

        notes.add_note(floor, actor(floor, "bob"), customer_id, "meanwhile, from Bob")
        panel = profile.query_one(TimelinePanel)
        await until(pilot, lambda: bool(panel.table.rows) and "meanwhile" in str(panel.table.rows[0].attributes),
                    "Bob's note on the profile under the dialog")
        await settle(pilot, app)
        assert app.screen is dialog
        assert dialog.query_one(TextArea).text == typed


async def test_a_block_form_keeps_its_reason_while_another_agent_changes_the_customer(floor):
    customer_id = unblocked_customer(floor)
    app = console(floor)
    async with app.run_test(size=SIZE) as pilot:
        await listening(pilot, app)
        app.push_screen(CustomerProfileScreen(customer_id))
        await settle(pilot, app)
        header = app.screen.query_one(ProfileHeader)
        await pilot.press("B")
        await settle(pilot, app)
        dialog = app.screen
        assert isinstance(dialog, BlockDialog)
        await pilot.press(*"suspected")

        tags.add_tag(floor, actor(floor, "bob"), customer_id, "watch")
        await until(pilot, lambda: "watch" in str(header.render()), "the tag in the header under the dialog")
        await settle(pilot, app)
        assert app.screen is dialog
        assert dialog.query_one("#block-reason", Input).value == "suspected"


async def test_a_mention_shows_in_the_mentioned_agents_console_only(floor):
    customer_id = unblocked_customer(floor)
    with floor.read() as s:
        customer = s.get(Customer, customer_id)
        name, external = f"{customer.first_name} {customer.last_name}", customer.external_id
    app_a, app_b = console(floor), console(floor, as_login="alice")
    async with (app_a.run_test(size=SIZE, notifications=True) as pilot_a,
                app_b.run_test(size=SIZE, notifications=True) as pilot_b):
        await listening(pilot_a, app_a)
        await listening(pilot_b, app_b)
        app_b.push_screen(CustomerProfileScreen(customer_id))
        await settle(pilot_b, app_b)
        panel_b = app_b.screen.query_one(TimelinePanel)

        notes.add_note(floor, actor(floor, "bob"), customer_id, "@operator can you call [red]them[/red] back?")

        expected = f"@you mentioned by bob on {name} ({external}): @operator can you call [red]them[/red] back?"
        await until(pilot_a, lambda: any(expected in n for n in notifications(app_a)), "the mention in A")
        await until(pilot_b, lambda: "@operator" in str(panel_b.table.rows[0].attributes), "the note in B")
        await settle(pilot_b, app_b)
        assert not any("mentioned" in n for n in notifications(app_b))


def cancellable_order(store) -> Order:
    """A completed one-time order that was not shipped: `cancel_order` cancels it (and returns its money)."""
    shipped = select(Fulfillment.order_id).where(Fulfillment.status.in_((FulfillmentStatus.SHIPPED,
                                                                         FulfillmentStatus.DELIVERED)))
    with store.read() as s:
        order = s.execute(select(Order).where(Order.status == OrderStatus.COMPLETED, Order.kind == OrderKind.ONE_TIME,
                                              Order.id.not_in(shipped)).order_by(Order.id)).scalars().first()
    assert order is not None
    return order


async def test_the_order_screen_reads_again_when_its_customer_changes(floor):
    order = cancellable_order(floor)
    app = console(floor)
    async with app.run_test(size=SIZE) as pilot:
        await listening(pilot, app)
        app.push_screen(OrderScreen(order.number, order.customer_id))
        await settle(pilot, app)
        header = app.screen.query_one("#order-header")
        assert "completed" in str(header.render())

        order_actions.cancel_order(floor, actor(floor, "alice"), load_settings(floor.url), order.number, "duplicate")

        await until(pilot, lambda: "cancelled" in str(header.render()), "the cancelled order in the header")
