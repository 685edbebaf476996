"""Issue 11, fewer keys: each daily action counted from "customer found" to "done", and checked in the store.

The counts (keys, not counting the text typed):
    refund the highlighted transaction in full   3   r, Enter (review), Enter (confirm; the dialog closes)
    partial refund                               3 + the amount   r, amount, Enter, Enter
    note                                         2 + the text     n, text, Ctrl+S (from any tab)
    block                                        2 + the reason   B, reason, Enter
    export                                       2   e, Enter
    filter the timeline to one type              3 + a few letters   3, f, letters, Enter
"""

from pathlib import Path

from sqlalchemy import select
from textual.widgets import DataTable

from agentdesk.config import load_settings
from agentdesk.db.models import TimelineEvent, Transaction
from agentdesk.services.agents import identity
from agentdesk.services.customers import records as customers
from agentdesk.services.risk import blocklist
from agentdesk.ui.screens.customer_profile import CustomerProfileScreen
from agentdesk.ui.screens.customer_table import CustomerTableScreen

from .helpers import SIZE, console, notifications, settle, visible_text

DEMO = (200, 5)


class Keys:
    """Presses keys and counts them; typed text is pressed too but counted apart."""

    def __init__(self, pilot, app):
        self.pilot, self.app, self.count, self.typed = pilot, app, 0, 0

    async def press(self, *keys: str) -> None:
        for key in keys:
            await self.pilot.press(key)
            await settle(self.pilot, self.app)
            self.count += 1

    async def type(self, text: str) -> None:
        await self.pilot.press(*text)
        await settle(self.pilot, self.app)
        self.typed += len(text)


def settled_sale(store) -> Transaction:
    with store.read() as s:
        return s.execute(select(Transaction).where(Transaction.type == "sale", Transaction.settled,
                                                   Transaction.status == "approved", Transaction.amount >= 1000)
                         .order_by(Transaction.id.desc())).scalars().first()


async def found(pilot, app, customer_id: int, tab: str | None = None, txn_id: int | None = None) -> None:
    """The customer's profile is open (and the transaction highlighted): where the count starts."""
    app.push_screen(CustomerProfileScreen(customer_id))
    await settle(pilot, app)
    if tab:
        await pilot.press(tab)
        await settle(pilot, app)
    if txn_id is not None:
        ids = [t.id for t in customers.get_customer(app.store, app.actor, customer_id).transactions]
        app.screen.query_one("#transactions-table", DataTable).move_cursor(row=ids.index(txn_id))
        await settle(pilot, app)


def refunds_of(store, txn_id: int) -> list[Transaction]:
    with store.read() as s:
        return list(s.execute(select(Transaction).where(Transaction.parent_id == txn_id)).scalars())


async def test_refund_in_full_takes_3_keys(demo_store, tmp_path):
    sale = settled_sale(demo_store)
    app = console(demo_store, "bob", settings=load_settings(demo_store.url, env={"AGENTDESK_DATA_DIR": str(tmp_path)}))
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await settle(pilot, app)
        await found(pilot, app, sale.customer_id, "2", sale.id)
        keys = Keys(pilot, app)
        await keys.press("r", "enter", "enter")
        assert isinstance(app.screen, CustomerProfileScreen)
        assert any("Refunded" in n for n in notifications(app)), notifications(app)
        assert keys.count == 3 and keys.typed == 0
    [refund] = refunds_of(demo_store, sale.id)
    assert refund.amount == sale.amount and refund.status == "approved"


async def test_partial_refund_takes_3_keys_and_the_amount(demo_store, tmp_path):
    sale = settled_sale(demo_store)
    app = console(demo_store, "bob", settings=load_settings(demo_store.url, env={"AGENTDESK_DATA_DIR": str(tmp_path)}))
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot, app)
        await found(pilot, app, sale.customer_id, "2", sale.id)
        keys = Keys(pilot, app)
        await keys.press("r")
        await keys.type("5.00")
        await keys.press("enter", "enter")
        assert isinstance(app.screen, CustomerProfileScreen)
        assert keys.count == 3 <= 4
    [refund] = refunds_of(demo_store, sale.id)
    assert refund.amount == 500 and refund.status == "approved"


async def test_a_note_takes_2_keys_and_the_text(demo_store):
    detail = customers.get_customer(demo_store, identity.resolve_actor(demo_store, "operator"), "CUS-0000042")
    app = console(demo_store, "bob")
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot, app)
        await found(pilot, app, detail.id)
        keys = Keys(pilot, app)
        await keys.press("n")
        await keys.type("Asked for a callback")
        await keys.press("ctrl+s")
        assert isinstance(app.screen, CustomerProfileScreen) and keys.count == 2
        await pilot.press("3")
        await settle(pilot, app)
        assert "Asked for a callback" in visible_text(app, app.screen.query_one("#tl-table"))
    with demo_store.read() as s:
        note = s.execute(select(TimelineEvent).where(TimelineEvent.customer_id == detail.id)
                         .order_by(TimelineEvent.id.desc())).scalars().first()
    assert note.type == "note" and note.attributes["text"] == "Asked for a callback" and note.actor_label == "bob"


async def test_a_block_takes_2_keys_and_the_reason(demo_store):
    operator = identity.resolve_actor(demo_store, "operator")
    detail = customers.get_customer(demo_store, operator, "CUS-0000042")
    app = console(demo_store)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot, app)
        await found(pilot, app, detail.id)
        keys = Keys(pilot, app)
        await keys.press("B")
        await keys.type("chargeback fraud")
        await keys.press("enter")
        assert isinstance(app.screen, CustomerProfileScreen) and keys.count == 2 <= 3
        assert "BLOCKED" in visible_text(app, app.screen.query_one("#profile-header"))
    [entry] = blocklist.list_entries(demo_store, operator)
    assert (entry.kind, entry.value, entry.reason) == ("customer", "CUS-0000042", "chargeback fraud")


async def test_an_export_takes_2_keys(demo_store, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    app = console(demo_store)
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await settle(pilot, app)
        keys = Keys(pilot, app)
        await keys.press("e", "enter")
        assert isinstance(app.screen, CustomerTableScreen) and keys.count == 2
        assert any("Exported" in n for n in notifications(app)), notifications(app)
    [written] = list(Path(tmp_path).glob("customers-*.csv"))
    assert written.read_text().splitlines()[0].startswith("Name")


async def test_filtering_the_timeline_to_one_type_takes_3_keys_and_a_few_letters(demo_store):
    with demo_store.read() as s:
        customer_id = s.execute(select(TimelineEvent.customer_id).where(TimelineEvent.type == "new_purchase")
                                .order_by(TimelineEvent.id)).scalars().first()
    app = console(demo_store)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot, app)
        await found(pilot, app, customer_id)
        keys = Keys(pilot, app)
        await keys.press("3", "f")
        await keys.type("new")
        await keys.press("enter")
        assert isinstance(app.screen, CustomerProfileScreen) and keys.count == 3 and keys.typed == 3
        rows = visible_text(app, app.screen.query_one("#tl-table")).splitlines()[1:]
        shown = [row for row in rows if row.strip()]
        assert shown and all("New purchase" in row for row in shown)
        assert "types: New purchase" in visible_text(app, app.screen.query_one("#tl-filter"))
    assert len(shown) == sum(1 for e in customers.get_customer(demo_store, app.actor, customer_id).timeline
                             if e.type == "new_purchase")
