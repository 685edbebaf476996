"""The timeline in the profile: add a note, filter to refunds, open a linked transaction; mentions."""

from sqlalchemy import select
from textual.widgets import Footer, SelectionList, TextArea

from agentdesk.config import load_settings
from agentdesk.db.models import Attachment, TimelineEvent, Transaction
from agentdesk.services.agents import identity
from agentdesk.services.timeline import notes as timeline_notes
from agentdesk.ui.screens.customer_profile import CustomerProfileScreen, TransactionDialog
from agentdesk.ui.screens.timeline import MentionsScreen, NoteDialog, TimelineFilterDialog, TimelinePanel

from .helpers import console, screen_text, settle, visible_text

DEMO = (300, 8)


def refunded_customer(store) -> int:
    with store.read() as s:
        return s.execute(select(TimelineEvent.customer_id).where(TimelineEvent.type == "manual_refund")
                         .order_by(TimelineEvent.id)).scalars().first()


def newest_event(store, customer_id: int, type_: str | None = None) -> TimelineEvent:
    with store.read() as s:
        query = select(TimelineEvent).where(TimelineEvent.customer_id == customer_id)
        if type_:
            query = query.where(TimelineEvent.type == type_)
        return s.execute(query.order_by(TimelineEvent.occurred_at.desc(), TimelineEvent.id.desc())).scalars().first()


def enabled(app, binding_id: str) -> bool:
    """The key with that id works here now (listed but greyed out when its action has nothing to do)."""
    return any(a.binding.id == binding_id and a.enabled for a in app.screen.active_bindings.values())


def event_rows(app) -> list[str]:
    """The timeline's rows as shown (the header line dropped)."""
    return [line for line in visible_text(app, app.screen.query_one("#tl-table")).splitlines()[1:] if line.strip()]


async def test_note_filter_and_linked_transaction(demo_store):
    customer_id = refunded_customer(demo_store)
    app = console(demo_store)
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(pilot, app)
        app.push_screen(CustomerProfileScreen(customer_id))
        await settle(pilot, app)
        await pilot.press("3")
        await settle(pilot, app)
        before = event_rows(app)
        assert before

        await pilot.press("n")
        await settle(pilot, app)
        assert isinstance(app.screen, NoteDialog)
        app.screen.query_one(TextArea).text = "Customer asked about\nthe refund [bold]twice[/bold]"
        await pilot.press("ctrl+s")
        await settle(pilot, app)
        assert isinstance(app.screen, CustomerProfileScreen)
        after = event_rows(app)
        assert "Note" in after[0] and "Customer asked about ⏎ the refund [bold]twice" in after[0]
        assert after[1:] == before[:len(after) - 1]
        stored = newest_event(demo_store, customer_id)
        assert stored.type == "note" and stored.actor_label == "operator"
        assert stored.attributes["text"].endswith("[bold]twice[/bold]")

        await pilot.press("f")
        await settle(pilot, app)
        assert isinstance(app.screen, TimelineFilterDialog)
        app.screen.query_one(SelectionList).select("manual_refund")
        await pilot.press("ctrl+s")
        await settle(pilot, app)
        refund = newest_event(demo_store, customer_id, "manual_refund")
        rows = event_rows(app)
        assert rows and all("Refund issued" in row for row in rows)
        assert f"transaction {refund.attributes['transaction']}" in rows[0]
        assert "types: Refund issued" in visible_text(app, app.screen.query_one("#tl-filter"))

        await pilot.press("enter")
        await settle(pilot, app)
        assert isinstance(app.screen, TransactionDialog)
        assert f"Transaction {refund.attributes['transaction']}" in screen_text(app)
        with demo_store.read() as s:
            assert s.get(Transaction, refund.attributes["transaction"]).customer_id == customer_id


async def test_the_transaction_dialog_and_the_full_timeline_lead_on(demo_store):
    """r in the transaction dialog opens the refund of that transaction; Enter on a refund in the
    full-screen timeline (T) opens its transaction on the profile below."""
    from agentdesk.ui.dialogs.money import RefundDialog
    from agentdesk.ui.screens.timeline import TimelineScreen

    customer_id = refunded_customer(demo_store)
    refund = newest_event(demo_store, customer_id, "manual_refund")
    app = console(demo_store)
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(pilot, app)
        app.push_screen(CustomerProfileScreen(customer_id))
        await settle(pilot, app)
        await pilot.press("T")
        await settle(pilot, app)
        assert isinstance(app.screen, TimelineScreen) and screen_text(app).startswith("Timeline · ")
        await pilot.press("f")
        await settle(pilot, app)
        app.screen.query_one(SelectionList).select("manual_refund")
        await pilot.press("ctrl+s")
        await settle(pilot, app)
        assert all("Refund issued" in row for row in event_rows(app))
        await pilot.press("enter")
        await settle(pilot, app)
        assert isinstance(app.screen, TransactionDialog)
        assert [type(s) for s in app.screen_stack[-2:]] == [CustomerProfileScreen, TransactionDialog]
        assert f"Transaction {refund.attributes['transaction']}" in screen_text(app)

        await pilot.press("r")
        await settle(pilot, app)
        assert isinstance(app.screen, RefundDialog)
        assert isinstance(app.screen_stack[-2], CustomerProfileScreen)


async def test_timeline_keys_are_the_panes_own(demo_store):
    customer_id = refunded_customer(demo_store)
    app = console(demo_store, as_login="fred")
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot, app)
        app.push_screen(CustomerProfileScreen(customer_id))
        await settle(pilot, app)
        ids = {a.binding.id for a in app.screen.active_bindings.values()}
        assert "timeline.filter" not in ids and "profile.back" in ids

        await pilot.press("3")
        await settle(pilot, app)
        ids = {a.binding.id for a in app.screen.active_bindings.values()}
        assert {"timeline.filter", "timeline.open", "profile.back", "profile.tab.transactions"} <= ids
        assert not ids & {"timeline.note", "timeline.attach", "timeline.link"}
        assert not enabled(app, "timeline.clear_filter")
        footer = visible_text(app, app.screen.query_one(Footer))
        assert "f Filter" in footer and "Note" not in footer

    app = console(demo_store, as_login="bob")
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot, app)
        app.push_screen(CustomerProfileScreen(customer_id))
        await settle(pilot, app)
        await pilot.press("3")
        await settle(pilot, app)
        assert isinstance(app.screen.focused.parent, TimelinePanel)
        ids = {a.binding.id for a in app.screen.active_bindings.values()}
        assert {"timeline.note", "timeline.filter", "timeline.attach", "timeline.link", "timeline.open"} <= ids
        assert "profile.refund" not in ids
        footer = visible_text(app, app.screen.query_one(Footer))
        assert "n Note" in footer and "f Filter" in footer

        await pilot.press("f")
        await settle(pilot, app)
        app.screen.query_one(SelectionList).select("note")
        await pilot.press("ctrl+s")
        await settle(pilot, app)
        assert enabled(app, "timeline.clear_filter")
        await pilot.press("x")
        await settle(pilot, app)
        assert visible_text(app, app.screen.query_one("#tl-filter")).split()[:2] == ["all", "events"]

        await pilot.press("2")
        await settle(pilot, app)
        ids = {a.binding.id for a in app.screen.active_bindings.values()}
        assert "profile.refund" in ids and "timeline.note" not in ids


async def test_mentions_reach_the_agent_at_the_next_start(demo_store):
    operator = identity.resolve_actor(demo_store, "operator")
    timeline_notes.add_note(demo_store, operator, "CUS-0000010", "@bob please call them back")
    app = console(demo_store, "bob")
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(pilot, app)
        await pilot.press("m")
        await settle(pilot, app)
        assert isinstance(app.screen, MentionsScreen)
        shown = screen_text(app)
        assert shown.count(" operator on ") == 1 and "(CUS-0000010): @bob please" in shown
        await pilot.press("enter")
        await settle(pilot, app)
        assert isinstance(app.screen, CustomerProfileScreen)
        assert "CUS-0000010" in visible_text(app, app.screen.query_one("#profile-header"))
    assert timeline_notes.my_mentions(demo_store, app.actor) == []


async def test_attach_and_save_back_from_the_timeline(demo_store, tmp_path):
    from textual.widgets import Input

    from agentdesk.ui.screens.timeline import AttachDialog, SaveAttachmentDialog

    source = tmp_path / "passport.pdf"
    source.write_bytes(b"%PDF-1.4 not really" * 50)
    settings = load_settings(demo_store.url, env={"AGENTDESK_DATA_DIR": str(tmp_path / "data")})
    app = console(demo_store, settings=settings)
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(pilot, app)
        app.push_screen(CustomerProfileScreen(1))
        await settle(pilot, app)
        await pilot.press("3", "a")
        await settle(pilot, app)
        assert isinstance(app.screen, AttachDialog)
        app.screen.query_one("#attach-path", Input).value = str(source)
        app.screen.query_one("#attach-description", Input).value = "passport scan"
        await pilot.press("ctrl+s")
        await settle(pilot, app)
        assert isinstance(app.screen, CustomerProfileScreen)
        top = event_rows(app)[0]
        assert "Attachment" in top and "name passport.pdf" in top
        event = newest_event(demo_store, 1)
        assert event.type == "attachment" and event.attributes["name"] == "passport.pdf"
        with demo_store.read() as s:
            assert s.get(Attachment, event.attributes["attachment"]).size == source.stat().st_size
        await pilot.press("s")
        await settle(pilot, app)
        assert isinstance(app.screen, SaveAttachmentDialog)
        app.screen.query_one("#save-path", Input).value = str(tmp_path / "copy.pdf")
        await pilot.press("enter")
        await settle(pilot, app)
        assert isinstance(app.screen, CustomerProfileScreen)
    assert (tmp_path / "copy.pdf").read_bytes() == source.read_bytes()
