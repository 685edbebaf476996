"""Coupon definitions (admins only, validated), expiry, redemptions counted in SQL (the last one raced for is
won once), and account redemptions that discount the next invoices, on SQLite and PostgreSQL."""

from __future__ import annotations

import threading
import time
from datetime import timedelta

import pytest

from agentdesk.config import load_settings
from agentdesk.db.models import Coupon, CouponRedemption, Invoice, utcnow
from agentdesk.domain.enums import Role
from agentdesk.domain.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from agentdesk.services.billing import coupons

from .billing_helpers import (
    NOW,
    add_coupon,
    add_customer,
    add_order,
    add_plan,
    email_jobs,
    events_of,
    issue,
    lines_of,
    rows,
)


@pytest.fixture
def settings(store, tmp_path):
    return load_settings(store.url, env={"AGENTDESK_DATA_DIR": str(tmp_path / "data")})


@pytest.fixture
def plans(store):
    add_plan(store, "BASIC", 1_250)
    add_plan(store, "PRO", 3_000)


def test_define_percent_and_fixed_coupons(store, actors, plans):
    admin = actors[Role.ADMIN]
    later = utcnow() + timedelta(days=30)
    spring = coupons.create_coupon(store, admin, " spring25 ", "percent", percent="12.5", duration="repeating",
                                   cycles=3, plans=["PRO"], minimum={"usd": 2_000}, expires_at=later,
                                   max_redemptions=100, description="Spring sale")
    assert (spring.code, spring.percent_bp, spring.value, spring.cycles, spring.plans, spring.minimum) == (
        "SPRING25", 1_250, "12.5%", 3, ["PRO"], {"USD": 2_000})
    fixed = coupons.create_coupon(store, admin, "FIVE", "fixed", amounts={"USD": 500, "eur": 450}, duration="forever")
    assert fixed.amounts == {"USD": 500, "EUR": 450} and fixed.value == "4.50 EUR, 5.00 USD"
    assert fixed.to_dict()["amounts"] == {"USD": 500, "EUR": 450} and spring.to_dict()["expires_at"]
    with pytest.raises(PermissionDenied):
        coupons.create_coupon(store, actors[Role.AGENT], "NOPE", "percent", percent="5")
    with pytest.raises(Conflict, match="already exists"):
        coupons.create_coupon(store, admin, "five", "percent", percent="5")
    bad = [
        (dict(code="X", kind="percent", percent="5"), "code"),
        (dict(code="OK1", kind="percent", percent="0"), "percent"),
        (dict(code="OK1", kind="percent", percent="100.5"), "percent"),
        (dict(code="OK1", kind="percent", percent="1,5"), "percent"),
        (dict(code="OK1", kind="fixed"), "amount"),
        (dict(code="OK1", kind="fixed", amounts={"USD": -1}), "amount"),
        (dict(code="OK1", kind="fixed", amounts={"XXX": 100}), "currency"),
        (dict(code="OK1", kind="percent", percent="5", duration="repeating"), "cycles"),
        (dict(code="OK1", kind="percent", percent="5", duration="once", cycles=2), "cycles"),
        (dict(code="OK1", kind="percent", percent="5", plans=["NOSUCH"]), "plans"),
        (dict(code="OK1", kind="percent", percent="5", expires_at=utcnow() - timedelta(days=1)), "expires"),
        (dict(code="OK1", kind="percent", percent="5", max_redemptions=0), "max_redemptions"),
        (dict(code="OK1", kind="bogus"), "kind"),
    ]
    for arguments, field in bad:
        with pytest.raises(InvalidInput) as refused:
            coupons.create_coupon(store, admin, **arguments)
        assert field in refused.value.fields, (arguments, refused.value.fields)
    assert [c.code for c in rows(store, Coupon)] == ["SPRING25", "FIVE"], "nothing half-written"


def test_expired_coupons_are_refused_and_hidden(store, actors, plans):
    admin = actors[Role.ADMIN]
    ended = utcnow() - timedelta(hours=1)
    add_coupon(store, "OLD", percent_bp=1_000, expires_at=ended)
    coupons.create_coupon(store, admin, "LIVE", "percent", percent="10", duration="forever")
    with store.read() as s, pytest.raises(InvalidInput, match="has expired"):
        coupons.check_coupon(s, "old", currency="USD", plan_codes=["BASIC"], now=ended)
    with store.read() as s:
        assert coupons.check_coupon(s, "old", currency="USD", plan_codes=["BASIC"], now=ended - timedelta(days=1))
    assert [c.code for c in coupons.list_coupons(store, actors[Role.SALES])] == ["LIVE"]
    assert [c.code for c in coupons.list_coupons(store, admin, include_expired=True)] == ["LIVE", "OLD"]
    with pytest.raises(PermissionDenied):
        coupons.expire_coupon(store, actors[Role.AGENT], "LIVE")
    assert coupons.expire_coupon(store, admin, "live").expired
    with pytest.raises(Conflict, match="already expired"):
        coupons.expire_coupon(store, admin, "LIVE")
    with pytest.raises(NotFound):
        coupons.expire_coupon(store, admin, "NOSUCH")
    with store.read() as s, pytest.raises(InvalidInput, match="has expired"):
        coupons.check_coupon(s, "LIVE", currency="USD", plan_codes=["BASIC"], now=utcnow())
    with store.read() as s, pytest.raises(InvalidInput, match="no coupon"):
        coupons.check_coupon(s, "NOSUCH", currency="USD", plan_codes=["BASIC"], now=NOW)
    add_coupon(store, "EUROS", amounts={"EUR": 500})
    with store.read() as s, pytest.raises(InvalidInput, match="no amount in USD"):
        coupons.check_coupon(s, "EUROS", currency="USD", plan_codes=["BASIC"], now=NOW)


def test_max_redemptions_are_counted_in_sql(store, actors, settings, plans):
    admin, sales = actors[Role.ADMIN], actors[Role.SALES]
    add_coupon(store, "TWO", percent_bp=1_000, max_redemptions=2)
    for n in (1, 2, 3):
        add_customer(store, admin, settings, external_id=f"C-{n}")
    coupons.redeem_on_account(store, sales, "C-1", "TWO")
    with pytest.raises(InvalidInput, match="already applied to this customer's account"):
        coupons.redeem_on_account(store, sales, "C-1", "TWO")
    coupons.redeem_on_account(store, sales, "C-2", "TWO")
    with pytest.raises(InvalidInput, match="used up"):
        coupons.redeem_on_account(store, sales, "C-3", "TWO")
    assert rows(store, Coupon)[0].redemptions == 2 and len(rows(store, CouponRedemption)) == 2
    with pytest.raises(PermissionDenied):
        coupons.redeem_on_account(store, actors[Role.FINANCE], "C-3", "TWO")


def test_two_redemptions_racing_for_the_last_one_only_one_wins(store, actors, settings, plans):
    """The first redemption holds its transaction open while the second one runs: the second waits for
    the coupon row (PostgreSQL) or the write lock (SQLite) and then finds the coupon used up."""
    admin = actors[Role.ADMIN]
    add_coupon(store, "LAST", percent_bp=1_000, max_redemptions=1)
    first_id = add_customer(store, admin, settings, external_id="C-1")
    add_customer(store, admin, settings, external_id="C-2")
    outcome: dict[str, object] = {}

    def second() -> None:
        try:
            coupons.redeem_on_account(store, actors[Role.SALES], "C-2", "LAST")
            outcome["second"] = "redeemed"
        except InvalidInput as exc:
            outcome["second"] = exc.fields["coupon"]

    with store.write() as s:
        coupon = coupons.check_coupon(s, "LAST", currency="USD", plan_codes=[], now=NOW, check_plans=False)
        coupons.redeem(s, admin, coupon, first_id, None, NOW)
        racer = threading.Thread(target=second)
        racer.start()
        time.sleep(0.3)
    racer.join(timeout=60)
    assert outcome == {"second": "coupon LAST is used up"}
    assert rows(store, Coupon)[0].redemptions == 1
    assert [r.customer_id for r in rows(store, CouponRedemption)] == [first_id]


def test_account_coupon_discounts_the_next_invoices_of_any_order(store, actors, settings, plans):
    admin, sales = actors[Role.ADMIN], actors[Role.SALES]
    cid = add_customer(store, admin, settings)
    coupons.create_coupon(store, admin, "WELCOME", "fixed", amounts={"USD": 1_000}, duration="repeating", cycles=2,
                          plans=["PRO"])
    info = coupons.redeem_on_account(store, sales, "C-1", "welcome", email=True)
    assert info.redemptions == 1
    assert events_of(store, cid, "coupon_redeemed") == [{"coupon": "WELCOME", "discount": "10.00 USD",
                                                         "scope": "account"}]
    mails = [j for j in email_jobs(store, cid) if j["subject"] == "Coupon WELCOME added to your account"]
    assert len(mails) == 1 and "10.00 USD" in mails[0]["body"] and "PRO only" in mails[0]["body"]
    basic = add_order(store, cid, [("BASIC", 1, 1_250)])
    assert lines_of(store, issue(store, admin, basic).id)[0].discount == 0, "BASIC is not eligible"
    pro = add_order(store, cid, [("PRO", 1, 3_000)])
    other = add_order(store, cid, [("PRO", 2, 3_000)])
    assert [inv.discount for inv in (issue(store, admin, pro), issue(store, admin, other))] == [1_000, 1_000]
    third = issue(store, admin, pro, cycle=2)
    assert third.discount == 0, "two cycles used up"
    redemption = rows(store, CouponRedemption)[0]
    assert redemption.order_id is None and redemption.cycles_applied == 2 and redemption.ended_at is not None
    assert sorted(i.discount for i in rows(store, Invoice)) == [0, 0, 1_000, 1_000]
