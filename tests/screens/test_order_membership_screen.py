"""The order screen's membership keys: m sets or clears the customer's membership login, L emails a
password-reset link (through the links queue) after saying to which address."""

from __future__ import annotations

from sqlalchemy import select
from textual.widgets import Input

from agentdesk.db.models import Customer, Link
from agentdesk.ui.dialogs.order_actions import MembershipLoginDialog, PasswordResetDialog
from agentdesk.ui.screens.order import OrderScreen

from ..conftest import policy
from .helpers import SIZE, console, dialog_text, settle
from .test_order_screen import events, order_now, settings, shop
from .test_order_subscriptions_screen import open_order, preview_and_confirm

__all__ = ["settings", "shop"]


def login_of(store) -> str | None:
    with store.read() as s:
        return s.execute(select(Customer.membership_login)).scalar_one()


def links(store) -> list[Link]:
    with store.read() as s:
        return list(s.execute(select(Link).order_by(Link.id)).scalars())


async def test_set_a_login_then_request_a_password_reset(store, admin, settings, shop):
    policy(store, {"portal_base_url": "https://portal.example"})
    number = order_now(store, admin, settings, "basic-m")
    app = console(store, settings=settings, login="cara")
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await settle(pilot, app)
        await open_order(pilot, app, number, shop)
        hint = app.screen.keys_hint().plain
        assert "m membership login" in hint and "L reset password" in hint, hint
        await pilot.press("L")
        await settle(pilot, app)
        assert isinstance(app.screen, PasswordResetDialog)
        await pilot.press("enter")
        await settle(pilot, app)
        assert "no membership login: set one first" in dialog_text(app), dialog_text(app)
        assert links(store) == []
        await pilot.press("escape")
        await settle(pilot, app)
        assert isinstance(app.screen, OrderScreen)
        await pilot.press("m")
        await settle(pilot, app)
        assert isinstance(app.screen, MembershipLoginDialog)
        assert "Membership login: (none)" in dialog_text(app)
        app.screen.query_one("#order-login", Input).value = "grace.h@navy"
        await preview_and_confirm(pilot, app, "Set the membership login", "grace.h@navy")
        assert login_of(store) == "grace.h@navy"
        assert events(store, shop)[-1].type == "customer_edited"
        await pilot.press("L")
        await settle(pilot, app)
        await preview_and_confirm(pilot, app, "password-reset link for login grace.h@navy to grace@example.com")
        assert any("reset link queued for grace@example.com" in str(n.message) for n in app._notifications)
    (link,) = links(store)
    assert (link.kind, link.email_to, link.options["login"]) == ("password_reset", "grace@example.com",
                                                                 "grace.h@navy")
    assert events(store, shop)[-1].type == "password_reset_requested"


async def test_clearing_the_login_from_the_order_screen(store, admin, settings, shop):
    number = order_now(store, admin, settings, "basic-m")
    app = console(store, settings=settings, login="cara")
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await settle(pilot, app)
        await open_order(pilot, app, number, shop)
        for value, sentence in (("grace", "Set the membership login"), ("", "Clear the membership login")):
            await pilot.press("m")
            await settle(pilot, app)
            app.screen.query_one("#order-login", Input).value = value
            await preview_and_confirm(pilot, app, sentence)
    assert login_of(store) is None


async def test_trial_restart_skip_and_stop_through_the_t_key(store, admin, settings, shop):
    from datetime import UTC, datetime, timedelta

    from agentdesk.domain.enums import OrderStatus
    from agentdesk.ui.dialogs.order_subscription import TrialDialog

    from .test_order_screen import stored_order

    restarted, skipped, stopped = (order_now(store, admin, settings, "basic-trial") for _ in range(3))
    first_end = stored_order(store, restarted).trial_ends_on
    today = datetime.now(UTC).date()
    app = console(store, settings=settings, login="cara")
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await settle(pilot, app)
        for number, downs in ((restarted, 0), (skipped, 1), (stopped, 2)):
            await open_order(pilot, app, number, shop)
            assert "t trial" in app.screen.keys_hint().plain
            await pilot.press("t")
            await settle(pilot, app)
            assert isinstance(app.screen, TrialDialog)
            if downs:
                await pilot.press(*["down"] * downs, "space")
            await preview_and_confirm(pilot, app)
            await pilot.press("escape")
            await settle(pilot, app)
    order = stored_order(store, restarted)
    assert order.trial_ends_on == today + timedelta(days=7) and order.trial_ends_on >= first_end
    skip = stored_order(store, skipped)
    assert skip.cycles_billed == 1 and skip.period_start == today
    assert stored_order(store, stopped).status is OrderStatus.ACTIVE
    kinds = [e.type for e in events(store, shop)]
    assert {"trial_restarted", "trial_skipped", "trial_stop_scheduled"} <= set(kinds), kinds
