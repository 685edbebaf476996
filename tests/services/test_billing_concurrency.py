"""Each period is billed exactly once when two worker processes run the billing engine on the same due orders
at the same moment, and when a worker dies between a pending payment and its outcome (SQLite and PostgreSQL)."""

from __future__ import annotations

import multiprocessing
import traceback
from collections import Counter
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import select

from agentdesk.config import load_settings
from agentdesk.db.models import Invoice, Order, SandboxOperation, TimelineEvent, Transaction
from agentdesk.services.billing.engine import BillingReport, run_billing
from agentdesk.services.jobs import runner
from agentdesk.services.orders.create import create_order
from agentdesk.services.orders.preview import preview_order
from agentdesk.services.orders.requests import ItemRequest, OrderRequest

from .billing_helpers import add_customer, add_plan, count, rows

ORDERS = 6
PLACED = datetime(2027, 3, 1, 9, tzinfo=UTC)
RENEWAL = datetime(2027, 4, 1, 9, tzinfo=UTC)
LATER = datetime(2027, 6, 1, 9, tzinfo=UTC)


@pytest.fixture
def settings(store, tmp_path):
    return load_settings(store.url, env={"AGENTDESK_DATA_DIR": str(tmp_path / "data")})


def place_orders(store, admin, settings, n: int) -> list[int]:
    add_plan(store, "BASIC", 1_250)
    ids = []
    for k in range(n):
        add_customer(store, admin, settings, external_id=f"C-{k + 1}")
        request = OrderRequest(f"C-{k + 1}", [ItemRequest("BASIC")])
        total = preview_order(store, admin, request, now=PLACED).total_today
        number = create_order(store, admin, settings, request, expected_total=total, now=PLACED).order_number
        with store.read() as s:
            ids.append(s.execute(select(Order.id).where(Order.number == number)).scalar_one())
    return ids


def _worker(url: str, data_dir: str, clocks: list[datetime], barrier: Any, queue: Any, crash: bool = False) -> None:
    """One worker process: a billing run per clock, each started with the other worker's (barrier).
    With `crash`, the process dies right after the gateway took its first payment, before the outcome."""
    from agentdesk.db.store import Store
    from agentdesk.services.billing.engine import run_billing

    try:
        settings = load_settings(url, env={"AGENTDESK_DATA_DIR": data_dir})
        store = Store(url, key_file=settings.key_file, data_dir=settings.data_dir)
        if crash:
            import os

            from agentdesk.services.money.gateways.sandbox import SandboxGateway

            sale = SandboxGateway.sale

            def sale_then_die(self: SandboxGateway, **kwargs: Any) -> Any:
                sale(self, **kwargs)
                os._exit(9)  # killed: the gateway charged the card, the store never heard the answer

            SandboxGateway.sale = sale_then_die  # type: ignore[method-assign]
        reports = []
        for clock in clocks:
            if barrier is not None:
                barrier.wait(timeout=120)
            reports.append(run_billing(store, settings, now=clock, batch=2).to_dict())
        store.dispose()
    except BaseException:
        queue.put(("error", traceback.format_exc()))
        if barrier is not None:
            barrier.abort()
        raise
    queue.put(("ok", reports))


def test_two_worker_processes_bill_each_period_exactly_once(store, admin, settings):
    order_ids = place_orders(store, admin, settings, ORDERS)
    ctx = multiprocessing.get_context("spawn")
    barrier, queue = ctx.Barrier(2), ctx.Queue()
    procs = [ctx.Process(target=_worker, args=(store.url, str(settings.data_dir), [RENEWAL, LATER], barrier, queue))
             for _ in range(2)]
    for p in procs:
        p.start()
    results = [queue.get(timeout=300) for _ in procs]
    for p in procs:
        p.join(60)
    assert all(status == "ok" for status, _ in results), results
    reports = [report for _, worker_reports in results for report in worker_reports]
    assert sum(r["errors"] for r in reports) == 0, reports
    # Mar 1 (placed), then Apr 1, May 1 and Jun 1 for every order: three renewals each, whoever billed them.
    assert sum(r["invoiced"] for r in reports) == 3 * ORDERS
    assert sum(r["collected"] for r in reports) == 3 * ORDERS

    invoices = rows(store, Invoice)
    per_order = Counter((i.order_id, i.cycle) for i in invoices)
    assert set(per_order) == {(o, c) for o in order_ids for c in (1, 2, 3, 4)}
    assert set(per_order.values()) == {1}
    assert all(i.status == "paid" for i in invoices)
    sales = rows(store, Transaction, Transaction.type == "sale")
    assert len(sales) == len(invoices) == 4 * ORDERS and all(s.status == "approved" for s in sales)
    assert Counter(s.invoice_id for s in sales) == Counter({i.id: 1 for i in invoices})
    assert count(store, SandboxOperation, SandboxOperation.operation == "sale") == 4 * ORDERS
    assert count(store, TimelineEvent, TimelineEvent.type == "subscription_renewed") == 3 * ORDERS
    assert count(store, TimelineEvent, TimelineEvent.type == "subscription_billed") == 3 * ORDERS
    with store.read() as s:
        assert set(s.execute(select(Order.cycles_billed)).scalars()) == {4}
    assert run_billing(store, settings, now=LATER) == BillingReport()


def test_a_worker_killed_between_the_payment_and_its_outcome_is_repaired_without_a_second_charge(
        store, admin, settings):
    [order_id] = place_orders(store, admin, settings, 1)
    ctx = multiprocessing.get_context("spawn")
    queue = ctx.Queue()
    process = ctx.Process(target=_worker, args=(store.url, str(settings.data_dir), [RENEWAL], None, queue, True))
    process.start()
    process.join(120)
    assert process.exitcode == 9, "the worker died inside the gateway call"

    [renewal] = rows(store, Invoice, Invoice.cycle == 2)
    [pending] = rows(store, Transaction, Transaction.invoice_id == renewal.id)
    assert (renewal.status, pending.status) == ("issued", "pending")
    assert count(store, SandboxOperation, SandboxOperation.operation == "sale") == 2, "the card was charged"

    # Another run before the repair leaves the payment alone: never a second charge for the same invoice.
    again = run_billing(store, settings, now=RENEWAL)
    assert (again.invoiced, again.collected, again.declined, again.errors) == (0, 0, 0, 0)
    assert count(store, Transaction, Transaction.invoice_id == renewal.id) == 1

    report = runner.start_up(store, settings)
    assert report.payments_repaired == 1
    [paid] = rows(store, Transaction, Transaction.invoice_id == renewal.id)
    assert (paid.id, paid.status) == (pending.id, "approved")
    renewal = rows(store, Invoice, Invoice.cycle == 2)[0]
    assert (renewal.status, renewal.amount_paid, renewal.next_attempt_at) == ("paid", 1_250, None)
    assert count(store, SandboxOperation, SandboxOperation.operation == "sale") == 2
    assert run_billing(store, settings, now=RENEWAL) == BillingReport()
    with store.read() as s:
        assert s.get(Order, order_id).cycles_billed == 2
