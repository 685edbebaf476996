"""The timeline in the profile: add a note, filter to refunds, open a linked transaction; mentions."""

from sqlalchemy import select
from textual.widgets import SelectionList, Static, TextArea

from agentdesk.config import load_settings
from agentdesk.db.models import TimelineEvent, Transaction
from agentdesk.services.agents import identity
from agentdesk.services.timeline import notes as timeline_notes
from agentdesk.ui.screens.customer_profile import CustomerProfileScreen, TransactionDialog
from agentdesk.ui.screens.timeline import MentionsScreen, NoteDialog, TimelineFilterDialog, TimelinePanel
from agentdesk.ui.widgets.window_table import WindowTable

from .helpers import console, settle

DEMO = (300, 8)




def refunded_customer(store) -> int:
    with store.read() as s:
        return s.execute(select(TimelineEvent.customer_id).where(TimelineEvent.type == "manual_refund")
                         .order_by(TimelineEvent.id)).scalars().first()


async def test_note_filter_and_linked_transaction(demo_store):
    customer_id = refunded_customer(demo_store)
    app = console(demo_store)
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(pilot, app)
        app.push_screen(CustomerProfileScreen(customer_id))
        await settle(pilot, app)
        await pilot.press("3")
        await settle(pilot, app)
        panel = app.screen.query_one(TimelinePanel)
        table = panel.query_one(WindowTable)
        before = len(table.rows)

        await pilot.press("n")
        await settle(pilot, app)
        assert isinstance(app.screen, NoteDialog)
        app.screen.query_one(TextArea).text = "Customer asked about\nthe refund [bold]twice[/bold]"
        await pilot.press("ctrl+s")
        await settle(pilot, app)
        assert isinstance(app.screen, CustomerProfileScreen)
        assert len(table.rows) == before + 1
        top = table.rows[0]
        assert top.type == "note" and top.attributes["text"].endswith("[bold]twice[/bold]")
        assert "[bold]twice[/bold]" in "".join(c.plain for c in table.render_cells(top))
        with demo_store.read() as s:
            stored = s.execute(select(TimelineEvent).where(TimelineEvent.customer_id == customer_id)
                               .order_by(TimelineEvent.id.desc())).scalars().first()
        assert stored.type == "note" and stored.actor_label == "operator"

        await pilot.press("f")
        await settle(pilot, app)
        assert isinstance(app.screen, TimelineFilterDialog)
        app.screen.query_one(SelectionList).select("manual_refund")
        await pilot.press("ctrl+s")
        await settle(pilot, app)
        assert table.rows and {e.type for e in table.rows} == {"manual_refund"}
        assert "manual_refund" in panel.query_one("#tl-filter", Static).render().plain

        refund = table.rows[0]
        await pilot.press("enter")
        await settle(pilot, app)
        assert isinstance(app.screen, TransactionDialog)
        assert app.screen.txn.id == refund.attributes["transaction"]
        with demo_store.read() as s:
            assert s.get(Transaction, refund.attributes["transaction"]).customer_id == customer_id


async def test_mentions_reach_the_agent_at_the_next_start(demo_store):
    operator = identity.resolve_actor(demo_store, "operator")
    timeline_notes.add_note(demo_store, operator, "CUS-0000010", "@bob please call them back")
    app = console(demo_store, "bob")
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(pilot, app)
        await pilot.press("m")
        await settle(pilot, app)
        assert isinstance(app.screen, MentionsScreen)
        assert len(app.screen.mentions) == 1
        await pilot.press("enter")
        await settle(pilot, app)
        assert isinstance(app.screen, CustomerProfileScreen)
        assert app.screen.detail.external_id == "CUS-0000010"
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
        table = app.screen.query_one(TimelinePanel).query_one(WindowTable)
        assert table.rows[0].type == "attachment" and table.rows[0].attributes["name"] == "passport.pdf"
        await pilot.press("s")
        await settle(pilot, app)
        assert isinstance(app.screen, SaveAttachmentDialog)
        app.screen.query_one("#save-path", Input).value = str(tmp_path / "copy.pdf")
        await pilot.press("enter")
        await settle(pilot, app)
    assert (tmp_path / "copy.pdf").read_bytes() == source.read_bytes()
