"""Links in the console: send one from the profile, watch it generate live, copy and revoke it; payout requests."""

import pytest
from sqlalchemy import select
from textual.widgets import Checkbox, Input, OptionList

from agentdesk.config import load_settings
from agentdesk.db.models import Customer, Link, PaymentInstrument, PayoutRequest, Transaction
from agentdesk.domain.enums import LinkKind, LinkStatus, PayoutRequestStatus, Role
from agentdesk.services.customers import records as customers
from agentdesk.services.jobs import runner
from agentdesk.services.links.customer_money import request_payout
from agentdesk.ui.dialogs.link_dialogs import LinkDialog, PayoutRequestDialog, SendLinkDialog
from agentdesk.ui.screens.customer_profile import CustomerProfileScreen

from ..conftest import customer_input, policy
from ..services.test_refunds import add_card
from ..support.links import ready_link
from .helpers import SIZE, console, dialog_text, is_running, notifications, settle, table_rows


@pytest.fixture
def settings(store, tmp_path):
    policy(store, {"portal_base_url": "https://pay.example"})
    return load_settings(store.url, env={"AGENTDESK_DATA_DIR": str(tmp_path / "data")})


def customer_id(store) -> int:
    with store.read() as s:
        return s.execute(select(Customer.id).where(Customer.external_id == "C-1")).scalar_one()


def links_of(store) -> list[Link]:
    with store.read() as s:
        return list(s.execute(select(Link).order_by(Link.id)).scalars())


async def open_profile(pilot, app, cid: int) -> None:
    app.push_screen(CustomerProfileScreen(cid))
    await settle(pilot, app)


async def test_send_a_kyc_link_see_it_generate_live_copy_and_revoke(store, actors, settings):
    customers.create_customer(store, actors[Role.ADMIN], customer_input())
    cid = customer_id(store)
    app = console(store, settings=settings, login="sam")
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await settle(pilot, app)
        await open_profile(pilot, app, cid)
        await pilot.press("l")
        await settle(pilot, app)
        assert isinstance(app.screen, SendLinkDialog)
        assert app.screen.query_one("#link-kind", OptionList).highlighted == 0
        app.screen.query_one("#link-documents", Input).value = "passport, selfie"
        app.screen.query_one("#link-email", Checkbox).value = True
        await pilot.press("ctrl+s")
        await settle(pilot, app)
        assert isinstance(app.screen, LinkDialog)
        assert "generating…" in dialog_text(app)
        [link] = links_of(store)
        assert link.kind is LinkKind.KYC and link.status is LinkStatus.QUEUED
        assert link.options["document_types"] == ["passport", "selfie"] and link.email_to == "grace@example.com"

        runner.run_due(store, settings, checkpoint=False)
        for _ in range(15):
            await pilot.pause(0.2)
            if "https://pay.example/l/" in dialog_text(app):
                break
        text = dialog_text(app)
        assert "https://pay.example/l/" in text and "generating…" not in text, text
        assert "Status: sent" in text

        await pilot.press("c")
        await settle(pilot, app)
        assert "Link copied" in notifications(app)
        await pilot.press("R")
        await settle(pilot, app)
        assert links_of(store)[0].status is LinkStatus.SENT
        await pilot.press("R")
        await settle(pilot, app)
        assert links_of(store)[0].status is LinkStatus.REVOKED
        assert "Status: revoked" in dialog_text(app)
        await pilot.press("escape")
        await settle(pilot, app)
        await pilot.press("7")
        await settle(pilot, app)
        rows = table_rows(app.screen, "#links-table")
        assert rows[0][1:3] == ["kyc", "revoked"] and rows[0][4] == "sam"


async def test_a_bad_deposit_form_says_what_is_wrong_and_the_console_stays(store, actors, settings):
    customers.create_customer(store, actors[Role.ADMIN], customer_input())
    cid = customer_id(store)
    app = console(store, settings=settings, login="cara")
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot, app)
        await open_profile(pilot, app, cid)
        await pilot.press("l")
        await settle(pilot, app)
        await pilot.press("down")
        await settle(pilot, app)
        dialog = app.screen
        assert dialog.query_one("#row-amounts").display and not dialog.query_one("#row-documents").display
        dialog.query_one("#link-custom", Input).value = "allowed"
        dialog.query_one("#link-minimum", Input).value = "50.00"
        dialog.query_one("#link-maximum", Input).value = "10.00"
        await pilot.press("ctrl+s")
        await settle(pilot, app)
        assert isinstance(app.screen, SendLinkDialog) and is_running(app)
        assert "maximum" in dialog_text(app).lower()
        assert links_of(store) == []
        dialog.query_one("#link-maximum", Input).value = "abc"
        await pilot.press("ctrl+s")
        await settle(pilot, app)
        assert isinstance(app.screen, SendLinkDialog) and links_of(store) == []


async def test_finance_approves_a_payout_request_and_sales_cannot(store, actors, settings):
    customers.create_customer(store, actors[Role.ADMIN], customer_input())
    cid = customer_id(store)
    add_card(store, "C-1", "tok_approve")
    with store.read() as s:
        instrument = s.execute(select(PaymentInstrument.id).where(PaymentInstrument.customer_id == cid)).scalar_one()
    token = ready_link(store, cid, LinkKind.PAYOUT, {"currency": "USD", "minimum": 100, "maximum": 50_000})
    request = request_payout(store, token, 2_500, instrument)

    app = console(store, settings=settings, login="sam")
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await settle(pilot, app)
        await open_profile(pilot, app, cid)
        await pilot.press("7")
        await settle(pilot, app)
        rows = table_rows(app.screen, "#links-table")
        assert ["P" + str(request.id), "payout request", "pending", "25.00 USD"] == rows[-1][:4]
        app.screen.query_one("#links-table").move_cursor(row=len(rows) - 1)
        await pilot.press("enter")
        await settle(pilot, app)
        assert isinstance(app.screen, PayoutRequestDialog)
        await pilot.press("a")
        await settle(pilot, app)
        assert any("admin or finance" in n for n in notifications(app)), notifications(app)
    with store.read() as s:
        assert s.get(PayoutRequest, request.id).status is PayoutRequestStatus.PENDING

    app = console(store, settings=settings, login="finn")
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await settle(pilot, app)
        await open_profile(pilot, app, cid)
        await pilot.press("7")
        await settle(pilot, app)
        rows = table_rows(app.screen, "#links-table")
        app.screen.query_one("#links-table").move_cursor(row=len(rows) - 1)
        await pilot.press("enter")
        await settle(pilot, app)
        await pilot.press("a")
        await settle(pilot, app)
        assert not isinstance(app.screen, PayoutRequestDialog)
        assert table_rows(app.screen, "#links-table")[-1][2] == "paid"
    with store.read() as s:
        row = s.get(PayoutRequest, request.id)
        assert row.status is PayoutRequestStatus.PAID and row.transaction_id is not None
        assert s.get(Transaction, row.transaction_id).amount == 2_500
