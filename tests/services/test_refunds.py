"""Refunds and voids: the rules, safety under concurrency and crashes, the retry queue."""

import multiprocessing
import threading
from datetime import timedelta
from email import message_from_bytes

import pytest
from sqlalchemy import func, select, text

from agentdesk.config import load_settings
from agentdesk.db.models import Customer, Job, PaymentInstrument, SandboxOperation, TimelineEvent, Transaction, utcnow
from agentdesk.domain.enums import RefundOutcome, Role
from agentdesk.domain.errors import Conflict, InvalidInput, PermissionDenied
from agentdesk.services.customers import records as customers
from agentdesk.services.jobs import runner as worker
from agentdesk.services.money import payments, refunds, settlement
from agentdesk.services.money.gateways import GatewayError, GatewayTimeout
from agentdesk.services.money.refunds import RefundKind, parse_refund_amount, refund_plan, refund_transaction

from ..conftest import customer_input, policy


@pytest.fixture
def settings(store, tmp_path):
    policy(store, {"refund_limit.agent.USD": "50.00", "notify_emails": "finance@merchant.example"})
    return load_settings(store.url, env={"AGENTDESK_DATA_DIR": str(tmp_path / "data")})


def add_card(store, external_id: str, token: str) -> None:
    with store.write(unrecorded="test fixture") as s:
        cid = s.execute(select(Customer.id).where(Customer.external_id == external_id)).scalar_one()
        s.add(
            PaymentInstrument(
                customer_id=cid,
                method="card",
                brand="Visa",
                last4="4242",
                is_primary=True,
                gateway_token=token,
                fingerprint="fp",
            )
        )


@pytest.fixture
def customer(store, admin):
    customers.create_customer(store, admin, customer_input())
    return "C-1"


def sale(store, admin, settings, token="tok_approve", amount=10_000, settle=True, external_id="C-1") -> int:
    with store.read() as s:
        has = s.execute(
            select(func.count())
            .select_from(PaymentInstrument)
            .join(Customer, Customer.id == PaymentInstrument.customer_id)
            .where(Customer.external_id == external_id, PaymentInstrument.gateway_token == token)
        ).scalar_one()
    if not has:
        with store.write(unrecorded="test fixture") as s:
            s.execute(text("UPDATE payment_instrument SET is_primary = false"))
        add_card(store, external_id, token)
    result = payments.collect_payment(store, admin, settings, external_id, amount, "USD", "test sale")
    assert result.ok, result.message
    if settle:
        settlement.settle_from_gateway(store, settings, everything=True)
    return result.transaction_id


def txn(store, txn_id) -> Transaction:
    with store.read() as s:
        return s.get(Transaction, txn_id)


def customer_row(store) -> Customer:
    with store.read() as s:
        return s.execute(select(Customer).where(Customer.external_id == "C-1")).scalar_one()


def count(store, model, *where) -> int:
    with store.read() as s:
        return s.execute(select(func.count()).select_from(model).where(*where)).scalar_one()


def test_partial_refunds_sum_to_the_total(store, admin, settings, customer):
    sid = sale(store, admin, settings)
    assert customer_row(store).lifetime_value == 10_000 and customer_row(store).payment_count == 1
    plan = refund_plan(store, admin, sid)
    assert plan.kind is RefundKind.REFUND and plan.remaining == 10_000
    first = refund_transaction(store, admin, settings, sid, 2_500, "partly unhappy")
    assert first.ok and txn(store, sid).status == "partially_refunded"
    assert refund_plan(store, admin, sid).remaining == 7_500
    assert refund_transaction(store, admin, settings, sid, 2_500).ok
    assert txn(store, sid).status == "partially_refunded", "5,000 of 10,000 refunded is still partial"
    assert refund_plan(store, admin, sid).remaining == 5_000
    second = refund_transaction(store, admin, settings, sid, None)
    assert second.ok and second.amount == 5_000
    assert txn(store, sid).status == "refunded"
    assert refund_plan(store, admin, sid).kind is None
    assert customer_row(store).lifetime_value == 0
    with store.read() as s:
        refunds_rows = s.execute(select(Transaction).where(Transaction.parent_id == sid)).scalars().all()
        events = s.execute(select(TimelineEvent).where(TimelineEvent.type == "manual_refund")).scalars().all()
    assert sorted(r.amount for r in refunds_rows) == [2_500, 2_500, 5_000]
    assert all(r.type == "refund" and r.status == "approved" and r.agent_id == admin.agent_id for r in refunds_rows)
    assert sorted(e.attributes["amount"] for e in events) == [2_500, 2_500, 5_000]
    assert all(e.actor_label == "ada" and e.attributes["transaction"] == sid for e in events)
    assert count(store, Job, Job.kind == "email") == 3


def test_over_refund_and_bad_amounts_write_nothing(store, admin, settings, customer):
    sid = sale(store, admin, settings)
    before = count(store, Transaction)
    with pytest.raises(InvalidInput, match=r"only 100\.00 USD remains"):
        refund_transaction(store, admin, settings, sid, 10_001)
    plan = refund_plan(store, admin, sid)
    for typed, says in [
        ("-5", "negative"),
        ("abc", "not an amount"),
        ("12.345", "decimal places"),
        ("1e9", "not an amount"),
        ("0", "more than zero"),
    ]:
        with pytest.raises(InvalidInput, match=says):
            parse_refund_amount(typed, plan)
    assert parse_refund_amount("", plan) == 10_000
    assert parse_refund_amount("12.30", plan) == 1_230
    assert count(store, Transaction) == before and txn(store, sid).status == "approved"


def test_void_only_unsettled_and_only_in_full(store, admin, settings, customer):
    settled_id = sale(store, admin, settings)
    with pytest.raises(Conflict, match="refunded, not voided"):
        refunds.void_transaction(store, admin, settings, settled_id)
    open_id = sale(store, admin, settings, settle=False)
    assert refund_plan(store, admin, open_id).kind is RefundKind.VOID
    with pytest.raises(InvalidInput, match="a void is always for the full"):
        refund_transaction(store, admin, settings, open_id, 500)
    with pytest.raises(Conflict, match="only be voided"):
        refund_transaction(store, admin, settings, open_id, None, kind=RefundKind.REFUND)
    result = refunds.void_transaction(store, admin, settings, open_id, "ordered twice")
    assert result.ok and result.kind is RefundKind.VOID
    assert txn(store, open_id).status == "voided"
    assert customer_row(store).payment_count == 1
    assert refund_plan(store, admin, open_id).reason_not == "already voided"
    with pytest.raises(Conflict, match="already voided"):
        refund_transaction(store, admin, settings, open_id)


def test_agent_limit_and_roles(store, actors, settings, customer):
    admin = actors[Role.ADMIN]
    sid = sale(store, admin, settings, amount=20_000)
    with pytest.raises(PermissionDenied, match="finance or an admin"):
        refund_transaction(store, actors[Role.AGENT], settings, sid, 5_001)
    assert refund_transaction(store, actors[Role.AGENT], settings, sid, 5_000).ok
    with pytest.raises(PermissionDenied):
        refund_transaction(store, actors[Role.SALES], settings, sid, 100)
    assert refund_transaction(store, actors[Role.FINANCE], settings, sid, 15_000).ok


def test_refund_order_voids_or_refunds_each_payment(store, admin, settings, customer):
    with store.write(unrecorded="test fixture") as s:
        cid = s.execute(select(Customer.id)).scalar_one()
        s.execute(
            text(
                "INSERT INTO orders (number, customer_id, website_id, kind, status, currency, total, created_at) "
                "VALUES ('ORD-1', :c, 1, 'one_time', 'completed', 'USD', 3000, :t)"
            ),
            {"c": cid, "t": utcnow()},
        )
        order_id = s.execute(text("SELECT id FROM orders")).scalar_one()
    settled_id = sale(store, admin, settings, amount=1_000)
    open_id = sale(store, admin, settings, amount=2_000, settle=False)
    with store.write(unrecorded="test fixture") as s:
        s.execute(
            text('UPDATE "transaction" SET order_id = :o WHERE id IN (:a, :b)'),
            {"o": order_id, "a": settled_id, "b": open_id},
        )
    results = refunds.refund_order(store, admin, settings, "ORD-1", "cancelled order")
    assert [(r.transaction_id, r.kind, r.status) for r in results] == [
        (settled_id, RefundKind.REFUND, "approved"),
        (open_id, RefundKind.VOID, "approved"),
    ]
    with pytest.raises(Conflict, match="no payment left"):
        refunds.refund_order(store, admin, settings, "ORD-1")


def test_refund_many_reports_each(store, admin, settings, customer):
    a = sale(store, admin, settings, amount=1_000)
    b = sale(store, admin, settings, amount=2_000)
    refund_transaction(store, admin, settings, b)
    results = refunds.refund_many(store, admin, settings, [a, b, 99_999])
    assert results[0].ok and results[0].amount == 1_000
    assert [r.transaction_id for r in results] == [a, b, 99_999]
    assert [r.status for r in results] == [RefundOutcome.APPROVED, RefundOutcome.REFUSED, RefundOutcome.REFUSED]
    assert "already fully refunded" in results[1].message and "no transaction 99999" in results[2].message
    assert not results[1].ok and results[1].kind is None and results[1].refund_id is None


def _race(store_url, settings, admin, sid, amount, barrier, outcomes):
    from agentdesk.db.store import Store

    store = Store(store_url, key_file=settings.key_file, data_dir=settings.data_dir)
    barrier.wait()
    try:
        outcomes.append(refund_transaction(store, admin, settings, sid, amount).status)
    except (InvalidInput, Conflict) as exc:
        outcomes.append(type(exc).__name__)
    finally:
        store.dispose()


def test_concurrent_refunds_in_threads_never_exceed_the_capture(store, admin, settings, customer):
    sid = sale(store, admin, settings)
    barrier, outcomes = threading.Barrier(6), []
    threads = [
        threading.Thread(target=_race, args=(store.url, settings, admin, sid, 4_000, barrier, outcomes))
        for _ in range(6)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert outcomes.count("approved") == 2 and len(outcomes) == 6
    with store.read() as s:
        total = s.execute(
            select(func.sum(Transaction.amount)).where(Transaction.parent_id == sid, Transaction.status == "approved")
        ).scalar_one()
        gateway_total = s.execute(
            select(func.sum(SandboxOperation.amount)).where(SandboxOperation.operation == "refund")
        ).scalar_one()
    assert total == gateway_total == 8_000


def _process_race(url, data_dir, sid, barrier, queue):
    from agentdesk.config import load_settings
    from agentdesk.db.store import Store
    from agentdesk.services.agents.identity import resolve_actor

    settings = load_settings(url, env={"AGENTDESK_DATA_DIR": data_dir})
    store = Store(url, key_file=settings.key_file, data_dir=settings.data_dir)
    actor = resolve_actor(store, "ada")
    barrier.wait()
    try:
        queue.put(refund_transaction(store, actor, settings, sid, 3_000).status)
    except (InvalidInput, Conflict) as exc:
        queue.put(type(exc).__name__)


def test_concurrent_refunds_in_processes_never_exceed_the_capture(store, admin, settings, customer):
    sid = sale(store, admin, settings)
    ctx = multiprocessing.get_context("spawn")
    barrier, queue = ctx.Barrier(4), ctx.Queue()
    procs = [
        ctx.Process(target=_process_race, args=(store.url, str(settings.data_dir), sid, barrier, queue))
        for _ in range(4)
    ]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
    outcomes = [queue.get(timeout=5) for _ in procs]
    assert outcomes.count("approved") == 3, outcomes
    assert refund_plan(store, admin, sid).remaining == 1_000


def test_crash_before_the_gateway_answer_is_repaired_without_paying_twice(store, admin, settings, customer):
    sid = sale(store, admin, settings)
    with store.write(unrecorded="test fixture") as s:  # from now on the processor does refunds but its answers get lost
        s.execute(text("UPDATE sandbox_operation SET token = 'tok_timeout'"))
    result = refund_transaction(store, admin, settings, sid, 4_000)
    assert result.status == "pending" and "never be paid twice" in result.message
    assert txn(store, result.refund_id).status == "pending"
    assert refund_plan(store, admin, sid).remaining == 6_000, "a pending refund holds its amount"
    # A crash right after step 1: the pending refund is committed, the gateway never called.
    crashed = refunds._start(store, admin, settings, sid, 1_000, None, None)
    assert count(store, SandboxOperation, SandboxOperation.operation == "refund") == 1

    repaired = {r.refund_id: r.status for r in refunds.repair_pending(store, settings, older_than=timedelta(0))}
    assert repaired == {result.refund_id: "approved", crashed.refund_id: "pending"}
    repaired = {r.refund_id: r.status for r in refunds.repair_pending(store, settings, older_than=timedelta(0))}
    assert repaired == {crashed.refund_id: "approved"}
    assert refunds.repair_pending(store, settings, older_than=timedelta(0)) == []

    assert count(store, SandboxOperation, SandboxOperation.operation == "refund") == 2
    assert refund_plan(store, admin, sid).remaining == 5_000 and txn(store, sid).status == "partially_refunded"
    assert customer_row(store).lifetime_value == 5_000


def test_transient_failure_retries_daily_three_times_then_emails(store, admin, settings, customer):
    sid = sale(store, admin, settings, token="tok_transient")
    result = refund_transaction(store, admin, settings, sid, 3_000, "damaged")
    assert result.status == "retrying" and "next at" in result.message
    assert txn(store, result.refund_id).status == "pending"
    with store.read() as s:
        refund = s.get(Transaction, result.refund_id)
        assert refunds.refund_retry_status(s, refund.id)[:2] == (2, 3)
    shown = {t.id: t for t in customers.get_customer(store, admin, "C-1").transactions}[result.refund_id]
    assert shown.note is not None and shown.note.startswith("refund retrying: attempt 2 of 3, next at ")
    assert shown.note.endswith(" UTC")
    now = utcnow()
    assert worker.run_due(store, settings, now=now).done == 0, "not due before a day has passed"
    report = worker.run_due(store, settings, now=now + timedelta(days=1, minutes=1))
    assert report.retrying == 1
    with store.read() as s:
        assert refunds.refund_retry_status(s, result.refund_id)[:2] == (3, 3)
    report = worker.run_due(store, settings, now=now + timedelta(days=2, minutes=2))
    assert report.failed == 1
    assert txn(store, result.refund_id).status == "failed"
    assert refund_plan(store, admin, sid).remaining == 10_000
    with store.read() as s:
        types = [e.type for e in s.execute(select(TimelineEvent).order_by(TimelineEvent.id)).scalars()]
        dropped_mail = s.execute(
            select(Job).where(Job.idempotency_key == f"refund-dropped-{result.refund_id}")
        ).scalar_one()
    assert "refund_retrying" in types and types[-1] == "refund_dropped"
    assert dropped_mail.payload["to"] == ["finance@merchant.example"]
    worker.run_due(store, settings, now=now + timedelta(days=2, minutes=3))
    outbox = list((settings.data_dir / "outbox").glob("*.eml"))
    mails = [message_from_bytes(p.read_bytes()) for p in outbox]
    dropped = [m for m in mails if m["To"] == "finance@merchant.example"]
    assert len(dropped) == 1 and "Refund dropped" in dropped[0]["Subject"]
    assert "C-1" in dropped[0].get_payload()


def test_sandbox_tokens_keep_the_test_cards_behaviour(store, settings):
    from agentdesk.services.money.gateways import gateway_for
    from agentdesk.services.money.gateways.sandbox import behaviour

    gateway = gateway_for(store, "sandbox", settings)
    tokens = {
        number: gateway.tokenize(number)
        for number in (
            "4242 4242 4242 4242",
            "4000000000000002",
            "4000-0000-0000-0119",
            "4000000000000259",
            "5555555555554444",
        )
    }
    assert [behaviour(t) for t in tokens.values()] == ["approve", "decline", "timeout", "transient", "approve"]
    assert not any(number.replace(" ", "").replace("-", "")[4:] in token for number, token in tokens.items())


def test_sandbox_honours_idempotency_keys(store, settings, customer, admin):
    from agentdesk.services.money.gateways import gateway_for

    gateway = gateway_for(store, "sandbox", settings)
    first = gateway.sale(amount=500, currency="USD", token="tok_approve", idempotency_key="k-1")
    again = gateway.sale(amount=500, currency="USD", token="tok_approve", idempotency_key="k-1")
    assert first == again
    assert count(store, SandboxOperation) == 1
    with pytest.raises(GatewayError, match="different request"):
        gateway.sale(amount=900, currency="USD", token="tok_approve", idempotency_key="k-1")
    declined = gateway.sale(amount=500, currency="USD", token="tok_decline", idempotency_key="k-2")
    assert declined.outcome.value == "declined"
    with pytest.raises(GatewayTimeout):
        gateway.sale(amount=500, currency="USD", token="tok_timeout", idempotency_key="k-3")
    assert gateway.sale(amount=500, currency="USD", token="tok_timeout", idempotency_key="k-3").approved
    assert (
        gateway.refund(reference=first.reference, amount=100, currency="USD", idempotency_key="r-1").outcome.value
        == "declined"
    )
    gateway.settle_due(everything=True)
    assert gateway.refund(reference=first.reference, amount=500, currency="USD", idempotency_key="r-2").approved
    assert (
        gateway.refund(reference=first.reference, amount=1, currency="USD", idempotency_key="r-3").outcome.value
        == "declined"
    )
