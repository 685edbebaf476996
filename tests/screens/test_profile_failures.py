"""The profile when something is refused or not allowed: the agent is told why, the console stays up,
and the store is unchanged. Also what a key press costs: marking a row is not a store round trip."""

from sqlalchemy import select
from textual.widgets import DataTable, Footer

from agentdesk.config import load_settings
from agentdesk.db.models import Transaction
from agentdesk.services.agents import identity
from agentdesk.services.customers import records as customers
from agentdesk.services.money import payments
from agentdesk.services.risk import blocklist
from agentdesk.services.risk import compliance as compliance_service
from agentdesk.services.timeline import read as timeline_read
from agentdesk.ui.base import DeskNode
from agentdesk.ui.dialogs.block import BlockDialog
from agentdesk.ui.screens.customer_profile import CustomerProfileScreen

from .helpers import SIZE, console, is_running, notifications, settle, visible_text

DEMO = (60, 12)


def outside_payment(store, external_id: str, amount: int) -> tuple[int, int]:
    """(customer id, transaction id) of a settled payment made outside: the customer's newest transaction."""
    operator = identity.resolve_actor(store, "operator")
    detail = customers.get_customer(store, operator, external_id)
    paid = payments.collect_payment(store, operator, load_settings(store.url), detail.id, amount, detail.currency,
                                    outside=True)
    assert paid.ok and paid.transaction_id is not None
    return detail.id, paid.transaction_id


def refunds_of(store, txn_id: int) -> list[Transaction]:
    with store.read() as s:
        return list(s.execute(select(Transaction).where(Transaction.parent_id == txn_id)).scalars())


def toasts(app) -> list[str]:
    """The notifications on screen, each as one line of words (toast borders and wrapping removed)."""
    return [" ".join(n.replace("▌", " ").split()) for n in notifications(app)]


def binding_ids(app) -> set[str]:
    """The ids of the keys that work where the focus is (what the footer, `?` and the palette offer)."""
    return {active.binding.id for active in app.screen.active_bindings.values() if active.binding.id}


async def open_profile(pilot, app, customer_id: int, tab: str | None = None) -> None:
    app.push_screen(CustomerProfileScreen(customer_id))
    await settle(pilot, app)
    if tab:
        await pilot.press(tab)
        await settle(pilot, app)


async def test_marked_refund_above_the_agent_limit_is_refused_and_the_console_keeps_running(demo_store):
    customer_id, txn_id = outside_payment(demo_store, "CUS-0000042", 60_000)
    app = console(demo_store, as_login="bob")
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await settle(pilot, app)
        await open_profile(pilot, app, customer_id, "2")
        table = app.screen.query_one("#transactions-table", DataTable)
        first_row = visible_text(app, table).splitlines()[1]
        assert first_row.split()[0] == str(txn_id) and "600.00" in first_row

        await pilot.press("space")
        await settle(pilot, app)
        assert visible_text(app, table).splitlines()[1].split()[0] == f"✓{txn_id}"
        await pilot.press("R")
        await settle(pilot, app)

        assert is_running(app) and isinstance(app.screen, CustomerProfileScreen)
        shown = toasts(app)
        assert any("agent limit" in n and "500.00" in n for n in shown), shown
    assert refunds_of(demo_store, txn_id) == []


async def test_block_is_hidden_from_an_agent_and_refused_naming_the_role_when_reached_anyway(demo_store):
    detail = customers.get_customer(demo_store, identity.resolve_actor(demo_store, "operator"), "CUS-0000042")
    app = console(demo_store, as_login="bob")
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await settle(pilot, app)
        await open_profile(pilot, app, detail.id)
        ids = binding_ids(app)
        assert {"profile.back", "profile.tab.transactions", "profile.edit", "profile.tags"} <= ids
        assert not ids & {"profile.block", "profile.unblock", "profile.anonymise"}
        await pilot.press("B")
        await settle(pilot, app)
        assert not isinstance(app.screen, BlockDialog)
        assert any("may not add to or remove from blocklists" in n and "this needs admin" in n for n in toasts(app))
        app.clear_notifications()

        app.screen.action_block()
        await settle(pilot, app)
        assert isinstance(app.screen, CustomerProfileScreen)
        assert any("this needs admin" in n for n in toasts(app)), toasts(app)
    assert blocklist.list_entries(demo_store, identity.resolve_actor(demo_store, "operator")) == []


async def test_money_keys_follow_the_role(demo_store):
    customer_id, _ = outside_payment(demo_store, "CUS-0000042", 1_000)
    for login, shown, hidden in (
        ("bob", {"profile.refund", "profile.mark", "profile.collect"}, {"profile.payout"}),
        ("sara", set(), {"profile.refund", "profile.mark", "profile.refund_marked", "profile.collect",
                         "profile.payout", "profile.credit_memo"}),
        ("fred", {"profile.refund", "profile.payout", "profile.credit_memo"}, set()),
    ):
        app = console(demo_store, as_login=login)
        async with app.run_test(size=SIZE) as pilot:
            await settle(pilot, app)
            await open_profile(pilot, app, customer_id, "2")
            ids = binding_ids(app)
            assert shown <= ids and not hidden & ids, (login, ids)
            footer = visible_text(app, app.screen.query_one(Footer))
            assert ("Refund/void" in footer) == ("profile.refund" in shown), (login, footer)


async def test_space_is_no_store_round_trip_and_a_refund_reloads_the_customer_not_compliance(demo_store, monkeypatch):
    operator = identity.resolve_actor(demo_store, "operator")
    with demo_store.read() as s:
        sale = s.execute(select(Transaction).where(Transaction.type == "sale", Transaction.settled,
                                                   Transaction.status == "approved", Transaction.gateway == "sandbox",
                                                   Transaction.amount >= 1000)
                         .order_by(Transaction.id.desc())).scalars().first()
    row = [t.id for t in customers.get_customer(demo_store, operator, sale.customer_id).transactions].index(sale.id)

    calls: dict[str, int] = {}

    def counting(name, function):
        def counted(*args, **kwargs):
            calls[name] = calls.get(name, 0) + 1
            return function(*args, **kwargs)
        return counted

    monkeypatch.setattr(customers, "get_customer", counting("get_customer", customers.get_customer))
    monkeypatch.setattr(compliance_service, "compliance", counting("compliance", compliance_service.compliance))
    monkeypatch.setattr(timeline_read, "timeline_page", counting("timeline_page", timeline_read.timeline_page))
    call = DeskNode.call

    async def counted_call(self, service, *args, **kwargs):
        calls["any service"] = calls.get("any service", 0) + 1
        return await call(self, service, *args, **kwargs)

    monkeypatch.setattr(DeskNode, "call", counted_call)

    settings = load_settings(demo_store.url)
    app = console(demo_store, settings=settings)
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await settle(pilot, app)
        app.feed.stop()  # these are the screen's own reads; live refresh's echo of the refund is not counted here
        calls.clear()
        await open_profile(pilot, app, sale.customer_id, "2")
        assert calls == {"get_customer": 1, "compliance": 1, "timeline_page": 1, "any service": 3}
        await pilot.press(*["down"] * row)
        await pilot.press("space")
        await settle(pilot, app)
        table = app.screen.query_one("#transactions-table", DataTable)
        assert f"✓{sale.id}" in visible_text(app, table)
        assert calls == {"get_customer": 1, "compliance": 1, "timeline_page": 1, "any service": 3}

        await pilot.press("R")
        await settle(pilot, app)
        assert calls["get_customer"] == 2 and calls["timeline_page"] == 2 and calls["compliance"] == 1
        assert f"✓{sale.id}" not in visible_text(app, table)
        assert any("Refund" in n for n in toasts(app)), toasts(app)
    [refund] = refunds_of(demo_store, sale.id)
    assert refund.amount == sale.amount and refund.status == "approved"
