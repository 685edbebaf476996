"""Money aggregates: kept in SQL by one module, recomputed from their rows by `audit money`; and the
start-up repair saying what finished and what is still pending (issue 10, findings 1 and 7)."""

from datetime import timedelta

import pytest
from sqlalchemy import select, text

from agentdesk.config import load_settings
from agentdesk.db.models import Customer, Order, OrderItem, Plan, Product, Transaction
from agentdesk.domain.enums import Role
from agentdesk.domain.errors import NotFound, PermissionDenied
from agentdesk.services.agents import identity
from agentdesk.services.customers import records as customers
from agentdesk.services.jobs import runner
from agentdesk.services.money import aggregates, audit, payments, refunds, settlement
from agentdesk.services.money.audit import Mismatch
from agentdesk.services.money.gateways import gateway_for
from agentdesk.services.risk import privacy

from ..conftest import customer_input
from .test_refunds import add_card, sale


@pytest.fixture
def settings(store, tmp_path):
    return load_settings(store.url, env={"AGENTDESK_DATA_DIR": str(tmp_path / "data")})


@pytest.fixture
def customer(store, admin):
    customers.create_customer(store, admin, customer_input())
    return "C-1"


def stored(store, external_id="C-1") -> tuple[int, int, object]:
    with store.read() as s:
        c = s.execute(select(Customer).where(Customer.external_id == external_id)).scalar_one()
        return c.payment_count, c.lifetime_value, c.last_payment_at


def processed_at(store, txn_id):
    with store.read() as s:
        return s.get(Transaction, txn_id).processed_at


def clean(store, actor) -> bool:
    report = audit.audit_money(store, actor)
    assert report.mismatches == []
    return True


def test_every_money_path_keeps_the_aggregates_equal_to_the_rows(store, admin, settings, customer):
    first = sale(store, admin, settings, amount=10_000)
    assert stored(store) == (1, 10_000, processed_at(store, first)) and clean(store, admin)
    unsettled = sale(store, admin, settings, amount=4_000, settle=False)
    assert stored(store) == (2, 10_000, processed_at(store, unsettled)) and clean(store, admin)
    assert refunds.refund_transaction(store, admin, settings, first, 2_500).ok
    assert stored(store)[:2] == (2, 7_500) and clean(store, admin)
    assert refunds.void_transaction(store, admin, settings, unsettled).ok
    assert stored(store) == (1, 7_500, processed_at(store, first)), "the voided sale was the last payment"
    assert clean(store, admin)
    outside = payments.collect_payment(store, admin, settings, "C-1", 1_200, "USD", outside=True)
    assert stored(store) == (2, 8_700, processed_at(store, outside.transaction_id)) and clean(store, admin)
    third = sale(store, admin, settings, amount=3_000, settle=False)
    assert stored(store)[:2] == (3, 8_700)
    assert settlement.mark_settled(store, [third]) == 1 and settlement.mark_settled(store, [third]) == 0
    assert stored(store)[:2] == (3, 11_700) and clean(store, admin)


def test_a_void_of_a_sale_settled_meanwhile_takes_its_value_back(store, admin, settings, customer):
    first = sale(store, admin, settings, amount=5_000)
    late = sale(store, admin, settings, amount=2_000, settle=False)
    pending = refunds._start(store, admin, settings, late, None, None, refunds.RefundKind.VOID)
    assert settlement.mark_settled(store, [late]) == 1, "our side hears of the settlement before the void's answer"
    assert stored(store)[:2] == (2, 7_000)
    assert refunds._finish(store, admin, settings, pending).ok
    assert stored(store) == (1, 5_000, processed_at(store, first)) and clean(store, admin)


def test_the_sessions_copy_of_the_customer_never_overwrites_the_sql_change(store, admin, settings, customer):
    sale(store, admin, settings, amount=10_000)
    with store.write(unrecorded="test: an aggregate change beside an edit in one session") as s:
        row = s.execute(select(Customer).where(Customer.external_id == "C-1")).scalar_one()
        assert row.lifetime_value == 10_000
        aggregates.record_refund(s, row.id, 600, "USD")
        row.first_name = "Amazing"
        s.add(row)
        s.flush()
        assert row.lifetime_value == 9_400, "the copy is expired and reads the new value"
    assert stored(store)[1] == 9_400


def test_audit_names_each_mismatch_and_recompute_repairs_it(store, actors, settings, customer):
    admin = actors[Role.ADMIN]
    sid = sale(store, admin, settings, amount=10_000)
    customers.create_customer(store, admin, customer_input(external_id="C-2", emails=[], phones=[]))
    paid_at = processed_at(store, sid)
    with store.write(unrecorded="test fixture") as s:
        cid = s.execute(select(Customer.id).where(Customer.external_id == "C-1")).scalar_one()
        product = Product(sku="PLAN", name="Plan")
        s.add(product)
        s.flush()
        plan = Plan(product_id=product.id, code="PLAN-M", name="Monthly", price=1_500, currency="USD", interval="month")
        s.add(plan)
        s.flush()
        order = Order(number="ORD-1", customer_id=cid, website_id=1, kind="one_time", status="completed",
                      currency="USD", total=3_000)
        s.add(order)
        s.flush()
        s.add(OrderItem(order_id=order.id, plan_id=plan.id, quantity=2, unit_price=1_500, currency="USD"))
    assert clean(store, admin)
    with store.write(unrecorded="test: a writer behind the services' back") as s:
        s.execute(text("UPDATE customer SET payment_count = 7, lifetime_value = lifetime_value + 1, "
                       "last_payment_at = NULL WHERE external_id = 'C-1'"))
        s.execute(text("UPDATE orders SET total = 2999"))
    expected = [Mismatch("C-1", "payment_count", 7, 1), Mismatch("C-1", "lifetime_value", 10_001, 10_000),
                Mismatch("C-1", "last_payment_at", None, paid_at), Mismatch("C-1", "order ORD-1 total", 2_999, 3_000)]
    report = audit.audit_money(store, admin)
    assert report.customers == 2 and report.mismatches == expected
    assert audit.audit_money(store, actors[Role.FINANCE], "C-1").mismatches == expected
    assert audit.audit_money(store, admin, "C-2").mismatches == []
    assert report.mismatches[2].to_dict() == {"customer": "C-1", "field": "last_payment_at", "stored": None,
                                              "computed": paid_at.isoformat()}
    for role in (Role.AGENT, Role.SALES):
        with pytest.raises(PermissionDenied, match="audit money"):
            audit.audit_money(store, actors[role])
    with pytest.raises(NotFound):
        audit.audit_money(store, admin, "C-404")
    with store.write(unrecorded="test: repair") as s:
        assert aggregates.recompute(s, cid) == aggregates.Aggregates(1, 10_000, paid_at)
    assert audit.audit_money(store, admin).mismatches == expected[3:]


def test_audit_reads_customers_in_batches(store, admin, settings):
    for n in range(7):
        customers.create_customer(store, admin, customer_input(external_id=f"B-{n}", emails=[], phones=[]))
    with store.write(unrecorded="test: a writer behind the services' back") as s:
        s.execute(text("UPDATE customer SET lifetime_value = 5 WHERE external_id IN ('B-2', 'B-6')"))
    seen: list[int] = []
    report = audit.audit_money(store, admin, batch_size=3, progress=seen.append)
    assert seen == [3, 6, 7] and report.customers == 7
    assert report.mismatches == [Mismatch("B-2", "lifetime_value", 5, 0), Mismatch("B-6", "lifetime_value", 5, 0)]


def test_merge_recomputes_the_kept_customer_from_the_rows(store, admin, settings, customer):
    customers.create_customer(store, admin, customer_input(external_id="DUP", emails=[], phones=[]))
    add_card(store, "DUP", "tok_approve_dup")
    kept_sale = sale(store, admin, settings, amount=1_000)
    dup_sale = sale(store, admin, settings, token="tok_approve_dup", amount=4_000, external_id="DUP")
    assert refunds.refund_transaction(store, admin, settings, dup_sale, 500).ok
    with store.write(unrecorded="test: the duplicate's copy was already wrong") as s:
        s.execute(text("UPDATE customer SET lifetime_value = 99 WHERE external_id = 'DUP'"))
    privacy.merge_customers(store, admin, "C-1", ["DUP"])
    newest = max(processed_at(store, kept_sale), processed_at(store, dup_sale))
    assert stored(store, "C-1") == (2, 4_500, newest), "from the rows, not from the duplicate's stored copy"
    assert stored(store, "DUP") == (0, 0, None)
    assert clean(store, admin)


def test_the_demo_store_agrees_with_the_audit(store):
    from agentdesk.demo.builder import build_demo

    build_demo(store, 150, seed=3, login="auditor")
    report = audit.audit_money(store, identity.resolve_actor(store, "auditor"), batch_size=40)
    assert report.customers == 150 and report.mismatches == []


def test_start_up_says_what_finished_and_what_is_still_pending(store, admin, settings, customer):
    sid = sale(store, admin, settings)
    timeout_card = gateway_for(store, "sandbox", settings).tokenize("4000 0000 0000 0119")
    with store.write(unrecorded="test fixture") as s:  # the processor now answers as for the 0119 card: no answer
        s.execute(text("UPDATE sandbox_operation SET token = :t"), {"t": timeout_card})
    # Two refunds cut off before the gateway heard of them (a crash right after step 1).
    cut = [refunds._start(store, admin, settings, sid, amount, None, None) for amount in (1_000, 2_000)]
    report = runner.start_up(store, settings)
    assert (report.repaired, report.still_pending) == (0, 2), "the re-sends timed out again: nothing finished"
    assert report.repairs() == ("0 interrupted refund(s) finished, 2 still pending (the gateway has not confirmed "
                                "them yet; they are sent again with the same key, never paid twice)")
    with store.read() as s:
        assert {s.get(Transaction, p.refund_id).status for p in cut} == {"pending"}
    report = runner.start_up(store, settings)
    assert (report.repaired, report.still_pending) == (2, 0)
    assert report.repairs() == "2 interrupted refund(s) finished"
    assert stored(store)[1] == 7_000 and clean(store, admin)
    assert refunds.repair_pending(store, settings, older_than=timedelta(0)) == []
