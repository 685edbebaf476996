"""Writers that point rows at a customer before recording its event never deadlock on its chain (PostgreSQL).

Inserting a row with a foreign key to the customer takes a KEY SHARE lock on the customer row. If the
chain then asked for FOR UPDATE, two such writers would each wait for the other's KEY SHARE: PostgreSQL
would abort one with a deadlock. The chain and the aggregates take FOR NO KEY UPDATE instead.
"""

import threading

import pytest

from agentdesk.domain.enums import JobKind
from agentdesk.services.customers import records as customers
from agentdesk.services.jobs.queue import enqueue
from agentdesk.services.timeline import audit
from agentdesk.services.timeline.catalog import EventType
from agentdesk.services.timeline.record import record_event

from ..conftest import customer_input


@pytest.mark.pg
@pytest.mark.parametrize("store", [pytest.param("pg", marks=pytest.mark.pg)], indirect=True)
def test_two_writers_that_first_insert_rows_pointing_at_the_customer_both_commit(store, admin):
    cid = customers.create_customer(store, admin, customer_input()).id
    barrier = threading.Barrier(2)
    errors: list[BaseException] = []

    def writer(n: int) -> None:
        try:
            with store.write() as session:
                enqueue(session, JobKind.EMAIL, f"lock-test-{n}", {"to": "a@example.com"}, customer_id=cid)
                session.flush()
                barrier.wait(timeout=10)
                record_event(session, admin, cid, EventType.NOTE, text=f"writer {n}")
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(n,)) for n in (1, 2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert errors == []
    checked, findings = audit.verify_chains(store, admin, "C-1")
    assert findings == [] and checked >= 3
