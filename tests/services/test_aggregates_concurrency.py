"""Customer aggregates stay equal to their rows when refunds, voids, payments and settlement hit one
customer from several processes at once (issue 10, finding 1).

Each worker process runs every round: a barrier starts the round so all of them contend for the same
customer row at the same moment. The expected totals are plain arithmetic over what the workers report;
`audit money` then recomputes every aggregate from the rows and must find nothing to name.
"""

from __future__ import annotations

import multiprocessing
import traceback
from datetime import datetime
from typing import Any

import pytest
from sqlalchemy import select, text

from agentdesk.config import load_settings
from agentdesk.db.models import Customer, PaymentInstrument, Transaction
from agentdesk.services.customers import records as customers
from agentdesk.services.money import payments, settlement

from ..conftest import customer_input

ROUNDS = 3
REFUNDERS = 3
PER_ROUND = 2
"""Targets per worker and round: sales each refunder refunds in part, sales the voider voids, sales the
settler settles, payments the payer makes."""
SALE = 10_000
PARTIAL = 100
PAYMENT = 1_000
OUTSIDE = 700


def _sale(store, actor, settings) -> tuple[int, str]:
    result = payments.collect_payment(store, actor, settings, "C-1", SALE, "USD", "hammer target")
    assert result.ok, result.message
    with store.read() as s:
        return result.transaction_id, s.get(Transaction, result.transaction_id).gateway_ref


def _worker(url: str, data_dir: str, role: str, targets: list[list[Any]], barrier: Any, queue: Any) -> None:
    """One process: `role` over its targets of each round; reports its outcomes (or its traceback)."""
    from agentdesk.db.store import Store
    from agentdesk.services.agents.identity import resolve_actor
    from agentdesk.services.money import payments, refunds, settlement

    outcomes: list[Any] = []
    try:
        settings = load_settings(url, env={"AGENTDESK_DATA_DIR": data_dir})
        store = Store(url, key_file=settings.key_file, data_dir=settings.data_dir)
        actor = resolve_actor(store, "ada")
        for round_targets in targets:
            barrier.wait(timeout=120)
            for target in round_targets:
                if role == "refund":
                    outcomes.append(refunds.refund_transaction(store, actor, settings, target, PARTIAL).status.value)
                elif role == "void":
                    outcomes.append(refunds.void_transaction(store, actor, settings, target).status.value)
                elif role == "pay":
                    outside = target == "outside"
                    result = payments.collect_payment(store, actor, settings, "C-1", OUTSIDE if outside else PAYMENT,
                                                      "USD", "hammer", outside=outside)
                    outcomes.append((result.status.value, target))
                else:
                    with store.engine.begin() as connection:  # the processor settles this one sale
                        connection.execute(text("UPDATE sandbox_operation SET settled = true WHERE reference = :r"),
                                           {"r": target})
                    outcomes.append(settlement.mark_settled(store, references=[target]))
            barrier.wait(timeout=120)
        store.dispose()
    except BaseException:
        queue.put((role, "error", traceback.format_exc()))
        barrier.abort()
        raise
    queue.put((role, "ok", outcomes))


def _aggregates(store) -> tuple[int, int, datetime | None]:
    with store.read() as s:
        c = s.execute(select(Customer).where(Customer.external_id == "C-1")).scalar_one()
        return c.payment_count, c.lifetime_value, c.last_payment_at


@pytest.fixture
def settings(store, tmp_path):
    return load_settings(store.url, env={"AGENTDESK_DATA_DIR": str(tmp_path / "data")})


def test_hammer_one_customer_from_several_processes(store, admin, settings):
    customers.create_customer(store, admin, customer_input())
    with store.write(unrecorded="test fixture") as s:
        cid = s.execute(select(Customer.id).where(Customer.external_id == "C-1")).scalar_one()
        s.add(PaymentInstrument(customer_id=cid, method="card", brand="Visa", last4="4242", is_primary=True,
                                gateway_token="tok_approve_hammer", fingerprint="fp"))
    # Refund targets settle now; void and settlement targets stay unsettled until the hammer.
    refund_targets = [_sale(store, admin, settings)[0] for _ in range(PER_ROUND * ROUNDS)]
    settlement.settle_from_gateway(store, settings, everything=True)
    void_targets = [_sale(store, admin, settings)[0] for _ in range(PER_ROUND * ROUNDS)]
    settle_targets = [_sale(store, admin, settings)[1] for _ in range(PER_ROUND * ROUNDS)]
    count_before, ltv_before, _ = _aggregates(store)
    assert (count_before, ltv_before) == (3 * PER_ROUND * ROUNDS, PER_ROUND * ROUNDS * SALE)

    def rounds(items: list[Any]) -> list[list[Any]]:
        return [items[r * PER_ROUND:(r + 1) * PER_ROUND] for r in range(ROUNDS)]

    plan: list[tuple[str, list[list[Any]]]] = [("refund", rounds(refund_targets)) for _ in range(REFUNDERS)]
    plan += [("void", rounds(void_targets)), ("settle", rounds(settle_targets)),
             ("pay", [["card", "outside"] for _ in range(ROUNDS)])]
    ctx = multiprocessing.get_context("spawn")
    barrier, queue = ctx.Barrier(len(plan)), ctx.Queue()
    procs = [ctx.Process(target=_worker, args=(store.url, str(settings.data_dir), role, targets, barrier, queue))
             for role, targets in plan]
    for p in procs:
        p.start()
    reports = [queue.get(timeout=180) for _ in procs]
    for p in procs:
        p.join(30)
    errors = [r[2] for r in reports if r[1] != "ok"]
    assert not errors, errors[0]
    outcomes: dict[str, list[Any]] = {}
    for role, _, result in reports:
        outcomes.setdefault(role, []).extend(result)

    refunds_done = outcomes["refund"].count("approved")
    assert refunds_done == REFUNDERS * PER_ROUND * ROUNDS, outcomes["refund"]
    assert outcomes["void"] == ["approved"] * PER_ROUND * ROUNDS
    assert outcomes["settle"] == [1] * PER_ROUND * ROUNDS
    assert outcomes["pay"] == [("approved", "card"), ("approved", "outside")] * ROUNDS

    count, ltv, last_payment_at = _aggregates(store)
    expected = (count_before + 2 * ROUNDS - PER_ROUND * ROUNDS,
                ltv_before + PER_ROUND * ROUNDS * SALE + ROUNDS * OUTSIDE - refunds_done * PARTIAL)
    assert (count, ltv) == expected
    with store.read() as s:
        newest = s.execute(
            select(Transaction.processed_at).where(Transaction.customer_id == cid, Transaction.type == "sale",
                                                   Transaction.status != "voided")
            .order_by(Transaction.processed_at.desc()).limit(1)
        ).scalar_one()
    assert last_payment_at == newest

    from agentdesk.services.money import audit

    report = audit.audit_money(store, admin)
    assert report.mismatches == [] and report.customers >= 1
