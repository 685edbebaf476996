"""Issue 12's roles, one service call per role per action: admins, agents and sales create orders and redeem
coupons; only admins define or expire coupons; finance sees orders, invoices, coupons, the catalog and
commissions and collects payments. And the README's role table says what the permission policy does."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from agentdesk.config import load_settings
from agentdesk.db.models import Coupon, Invoice, Order
from agentdesk.domain.enums import Role
from agentdesk.domain.errors import PermissionDenied
from agentdesk.domain.permissions import POLICY, Action
from agentdesk.services.billing import affiliates, coupons, invoices
from agentdesk.services.catalog import service as catalog
from agentdesk.services.orders.create import create_order
from agentdesk.services.orders.preview import preview_order
from agentdesk.services.orders.read import list_orders, order_detail

from .billing_helpers import add_coupon, add_customer, add_order, add_plan, issue, rows

MAY_ORDER = {Role.ADMIN, Role.AGENT, Role.SALES}
MAY_COLLECT = {Role.ADMIN, Role.AGENT, Role.FINANCE}


@pytest.fixture
def settings(store, tmp_path):
    return load_settings(store.url, env={"AGENTDESK_DATA_DIR": str(tmp_path / "data")})


@pytest.fixture
def shop(store, actors, settings) -> int:
    add_plan(store, "BASIC", 1_250)
    add_coupon(store, "TEN", percent_bp=1_000)
    return add_customer(store, actors[Role.ADMIN], settings)


def refused_or_done(role: Role, allowed: set[Role], call) -> object:
    if role in allowed:
        return call()
    with pytest.raises(PermissionDenied, match="may not"):
        call()
    return None


@pytest.mark.parametrize("role", list(Role))
def test_who_creates_orders_and_redeems_coupons(store, actors, settings, shop, role):
    from agentdesk.services.orders.requests import ItemRequest, OrderRequest

    actor = actors[role]
    request = OrderRequest("C-1", [ItemRequest("BASIC")], coupons=["TEN"])
    preview = refused_or_done(role, MAY_ORDER, lambda: preview_order(store, actor, request))
    result = refused_or_done(role, MAY_ORDER, lambda: create_order(store, actor, settings, request,
                                                                    expected_total=1_125))
    account = refused_or_done(role, MAY_ORDER, lambda: coupons.redeem_on_account(store, actor, "C-1", "TEN"))
    if role in MAY_ORDER:
        assert preview.total_today == 1_125 and result.payment == "approved" and account.redemptions == 2
        assert [o.agent_id for o in rows(store, Order)] == [actor.agent_id]
    else:
        assert rows(store, Order) == [] and rows(store, Coupon)[0].redemptions == 0


@pytest.mark.parametrize("role", list(Role))
def test_only_admins_define_and_expire_coupons(store, actors, shop, role):
    actor = actors[role]
    made = refused_or_done(role, {Role.ADMIN}, lambda: coupons.create_coupon(store, actor, "NEW5", "percent",
                                                                             percent="5"))
    ended = refused_or_done(role, {Role.ADMIN}, lambda: coupons.expire_coupon(store, actor, "TEN"))
    codes = sorted(c.code for c in rows(store, Coupon))
    if role is Role.ADMIN:
        assert made.code == "NEW5" and ended.expired and codes == ["NEW5", "TEN"]
    else:
        assert codes == ["TEN"] and rows(store, Coupon)[0].expired_at is None


@pytest.mark.parametrize("role", list(Role))
def test_who_collects_an_invoice(store, actors, settings, shop, role):
    invoice = issue(store, actors[Role.ADMIN], add_order(store, shop, [("BASIC", 1, 1_250)]))
    paid = refused_or_done(role, MAY_COLLECT,
                           lambda: invoices.collect_invoice(store, actors[role], settings, invoice.id))
    status = rows(store, Invoice)[0].status
    assert (paid is not None and paid.ok and status == "paid") or (paid is None and status == "issued")


def test_finance_sees_orders_invoices_coupons_catalog_and_commissions(store, actors, settings, shop):
    from agentdesk.services.orders.requests import ItemRequest, OrderRequest

    request = OrderRequest("C-1", [ItemRequest("BASIC")])
    placed = create_order(store, actors[Role.SALES], settings, request, expected_total=1_250)
    finance = actors[Role.FINANCE]
    [summary] = list_orders(store, finance, "C-1")
    detail = order_detail(store, finance, placed.order_number)
    [invoice] = invoices.list_invoices(store, finance, "C-1")
    shown = invoices.invoice_detail(store, finance, invoice.number)
    assert summary.number == detail.summary.number == placed.order_number
    assert shown.number == placed.invoice_number and shown.payments[0].status == "approved"
    assert [c.code for c in coupons.list_coupons(store, finance)] == ["TEN"]
    assert "BASIC" in [p.code for product in catalog.list_catalog(store, finance) for p in product.plans]
    assert affiliates.list_commissions(store, finance) == []


BILLING_ROWS = {
    "create orders, redeem coupons": Action.CREATE_ORDERS,
    "define coupons, import the catalog": Action.MANAGE_CATALOG,
    "force bill, collect payment, credit memo, manual charge, usage, additional payment": Action.BILLING,
    "list and adjust affiliate commissions": Action.ADJUST_COMMISSIONS,
    "view customers, profile, timeline": Action.VIEW_CUSTOMERS,
}


def test_the_readme_role_table_is_the_permission_policy():
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    table = {}
    for line in readme.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == 5 and cells[0] in BILLING_ROWS:
            table[cells[0]] = {role for role, cell in zip((Role.ADMIN, Role.AGENT, Role.SALES, Role.FINANCE),
                                                          cells[1:], strict=True) if re.match("✓", cell)}
    assert set(table) == set(BILLING_ROWS), "each billing row is in the README's table"
    for row, action in BILLING_ROWS.items():
        assert table[row] == set(POLICY[action]), row
