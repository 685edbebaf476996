"""Issue 10, finding 8: a database writer without the service key cannot rewrite the timeline unseen.

Every attack here goes straight at the database with SQL, as someone holding the database file or
credentials (and the right to drop the append-only triggers of migration 0016) but not the key file
would: they can recompute unkeyed hashes, not keyed ones. `audit verify` must name each case, per
customer, and a clean store must verify ok. Runs on SQLite and PostgreSQL.
"""

from __future__ import annotations

import json

import pytest
from sqlalchemy import text

from agentdesk.config import load_settings
from agentdesk.domain.validation import ContactInput
from agentdesk.services.agents import identity
from agentdesk.services.customers import records as customers
from agentdesk.services.money import instruments, payments, refunds, settlement
from agentdesk.services.timeline import audit, checkpoints, notes
from agentdesk.services.timeline import chain as timeline_chain

from ..conftest import customer_input
from ..support.tamper import disable_timeline_guard


@pytest.fixture
def world(store, admin, tmp_path):
    """Two customers with notes; C-1 also with a card, a sale, a partial refund and a credit memo; then a
    checkpoint (what the worker writes every few minutes)."""
    settings = load_settings(store.url, env={"AGENTDESK_DATA_DIR": str(tmp_path / "data")})
    customers.create_customer(store, admin, customer_input())
    customers.create_customer(store, admin, customer_input(external_id="C-2", first_name="Ada", last_name="Lovelace",
                                                           emails=[ContactInput("ada@example.com")], phones=[]))
    instruments.add_card(store, admin, settings, "C-1", "4242 4242 4242 4242", "12/30")
    sale = payments.collect_payment(store, admin, settings, "C-1", 10_000, "USD", "annual plan")
    assert sale.ok, sale.message
    settlement.settle_from_gateway(store, settings, everything=True)
    refund = refunds.refund_transaction(store, admin, settings, sale.transaction_id, 2_500, "goodwill")
    assert refund.ok, refund.message
    payments.create_credit_memo(store, admin, "C-1", 500, "USD", "late delivery")
    for n in range(4):
        notes.add_note(store, admin, "C-1", f"called the customer, round {n}")
        notes.add_note(store, admin, "C-2", f"sent the welcome pack, round {n}")
    checkpoints.write_checkpoint(store)
    report = audit.verify(store, admin)
    assert report.ok, report.findings
    assert report.pinned == 2 and report.money_rows >= 3
    return store, admin, refund.refund_id


def sql(store, statement: str, **params):
    with store.engine.begin() as conn:
        disable_timeline_guard(conn)
        return conn.execute(text(statement), params).all() if statement.lstrip().upper().startswith("SELECT") \
            else conn.execute(text(statement), params).rowcount


def customer_id(store, external: str) -> int:
    return sql(store, "SELECT id FROM customer WHERE external_id = :e", e=external)[0][0]


def event_ids(store, external: str) -> list[int]:
    return [r[0] for r in sql(store, "SELECT id FROM timeline_event WHERE customer_id = :c ORDER BY id",
                              c=customer_id(store, external))]


def rehash_unkeyed(store, external: str, version: int = 1) -> None:
    """What an attacker can do without the key: recompute the whole chain with the unkeyed formula."""
    rows = sql(store, "SELECT id, customer_id, type, title, actor_agent_id, actor_label, occurred_at, attributes "
                      "FROM timeline_event WHERE customer_id = :c ORDER BY id", c=customer_id(store, external))
    prev = timeline_chain.GENESIS
    for row in rows:
        digest = timeline_chain.event_hash(prev, row.customer_id, row.type, row.title, row.actor_agent_id,
                                           row.actor_label, row.occurred_at, row.attributes)
        sql(store, "UPDATE timeline_event SET prev_hash = :p, hash = :h, hash_version = :v WHERE id = :i",
            p=prev, h=digest, v=version, i=row.id)
        prev = digest


def found(store, admin, customer=None) -> list[tuple[str, str, int | None]]:
    return [(f.customer, f.kind, f.event_id) for f in audit.verify(store, admin, customer).findings]


def test_a_clean_store_verifies(world):
    store, admin, _ = world
    report = audit.verify(store, admin)
    assert report.ok and report.events >= 14 and report.unkeyed_events == 0
    assert audit.verify(store, admin, "C-1").ok


def test_deleting_the_last_event_is_truncation(world):
    store, admin, _ = world
    ids = event_ids(store, "C-2")
    sql(store, "DELETE FROM timeline_event WHERE id = :i", i=ids[-1])
    report = audit.verify(store, admin)
    assert [(f.customer, f.kind, f.event_id) for f in report.findings] == [("C-2", "truncated", ids[-2])]
    assert "its last 1 event(s) are gone since the checkpoint" in report.findings[0].problem


def test_deleting_the_last_three_events_is_truncation(world):
    store, admin, _ = world
    ids = event_ids(store, "C-1")
    sql(store, "DELETE FROM timeline_event WHERE id >= :i AND customer_id = :c", i=ids[-3],
        c=customer_id(store, "C-1"))
    report = audit.verify(store, admin)
    assert [(f.customer, f.kind) for f in report.findings] == [("C-1", "truncated")]
    assert "its last 3 event(s) are gone" in report.findings[0].problem


def test_deleting_every_event_of_a_customer_is_noticed(world):
    store, admin, _ = world
    count = len(event_ids(store, "C-2"))
    sql(store, "DELETE FROM timeline_event WHERE customer_id = :c", c=customer_id(store, "C-2"))
    assert found(store, admin) == [("C-2", "truncated", None)]
    assert f"all {count} of its events are gone" in audit.verify(store, admin, "C-2").findings[0].problem


def test_a_truncated_chain_is_not_repinned_by_later_checkpoints(world):
    store, admin, _ = world
    ids = event_ids(store, "C-2")
    sql(store, "DELETE FROM timeline_event WHERE id IN (:a, :b)", a=ids[-1], b=ids[-2])
    notes.add_note(store, admin, "C-2", "a new note after the deletion")
    result = checkpoints.write_checkpoint(store)
    assert result is not None and result.not_repinned == [customer_id(store, "C-2")]
    findings = found(store, admin)
    assert findings and {c for c, _, _ in findings} == {"C-2"}
    assert {kind for _, kind, _ in findings} <= {"deleted", "truncated", "forged"}  # SQLite may reuse the ids
    notes.add_note(store, admin, "C-2", "and another one")
    assert checkpoints.write_checkpoint(store).not_repinned == [customer_id(store, "C-2")]
    assert {(c, k) for c, k, _ in found(store, admin)} == {(c, k) for c, k, _ in findings}


def test_editing_a_middle_event_and_recomputing_the_hashes_is_forgery(world):
    store, admin, _ = world
    ids = event_ids(store, "C-2")
    sql(store, "UPDATE timeline_event SET attributes = :a WHERE id = :i",
        a=json.dumps({"text": "customer agreed to waive everything"}), i=ids[2])
    rehash_unkeyed(store, "C-2")
    findings = audit.verify(store, admin).findings
    assert {f.customer for f in findings} == {"C-2"}
    assert {f.event_id for f in findings if f.kind == "forged"} == set(ids)
    # The same edit with the keyed version left in place: the hashes are not the key's MAC.
    rehash_unkeyed(store, "C-2", version=2)
    findings = audit.verify(store, admin).findings
    assert {(f.customer, f.kind) for f in findings} == {("C-2", "forged")}
    assert {f.event_id for f in findings} == set(ids)


def test_editing_a_middle_event_in_place_is_a_change(world):
    store, admin, _ = world
    ids = event_ids(store, "C-1")
    sql(store, "UPDATE timeline_event SET actor_label = 'nobody' WHERE id = :i", i=ids[3])
    assert found(store, admin) == [("C-1", "changed", ids[3])]


def test_deleting_a_middle_event_and_relinking_is_noticed(world):
    store, admin, _ = world
    ids = event_ids(store, "C-2")
    sql(store, "DELETE FROM timeline_event WHERE id = :i", i=ids[2])
    rehash_unkeyed(store, "C-2", version=2)
    findings = audit.verify(store, admin).findings
    kinds = {f.kind for f in findings}
    assert {f.customer for f in findings} == {"C-2"} and {"forged", "deleted"} <= kinds
    deleted = [f for f in findings if f.kind == "deleted"]
    assert "1 event(s) up to event" in deleted[0].problem


@pytest.mark.parametrize("version", [1, 2])
def test_a_forged_note_with_a_correct_unkeyed_hash_is_forgery(world, version):
    store, admin, _ = world
    cid = customer_id(store, "C-1")
    head = sql(store, "SELECT hash FROM timeline_event WHERE customer_id = :c ORDER BY id DESC LIMIT 1", c=cid)[0][0]
    cara = identity.resolve_actor(store, "cara")
    attributes = {"text": "customer asked for a full refund to another card"}
    when = "2026-11-22 10:00:00.000000"
    digest = timeline_chain.event_hash(head, cid, "note", "Note", cara.agent_id, cara.label, when, attributes)
    sql(store, "INSERT INTO timeline_event (customer_id, type, title, actor_agent_id, actor_label, occurred_at, "
               "attributes, prev_hash, hash, hash_version) VALUES (:c, 'note', 'Note', :a, :l, :w, :j, :p, :h, :v)",
        c=cid, a=cara.agent_id, l=cara.label, w=when, j=json.dumps(attributes), p=head, h=digest, v=version)
    forged = max(event_ids(store, "C-1"))
    assert found(store, admin) == [("C-1", "forged", forged)]


def test_changing_a_refund_amount_is_noticed(world):
    store, admin, refund_id = world
    sql(store, 'UPDATE "transaction" SET amount = 9000 WHERE id = :i', i=refund_id)
    findings = audit.verify(store, admin).findings
    assert [(f.customer, f.kind) for f in findings] == [("C-1", "money row changed")]
    assert f"transaction {refund_id} (refund)" in findings[0].problem


def test_deleting_a_refund_row_is_noticed(world):
    store, admin, refund_id = world
    sql(store, 'DELETE FROM "transaction" WHERE id = :i', i=refund_id)
    findings = audit.verify(store, admin).findings
    assert [(f.customer, f.kind) for f in findings] == [("C-1", "money row deleted")]
    assert f"transaction {refund_id}" in findings[0].problem and "is gone" in findings[0].problem


def test_a_money_row_added_outside_the_services_is_noticed(world):
    store, admin, refund_id = world
    sql(store, 'INSERT INTO "transaction" (customer_id, parent_id, type, status, amount, currency, settled, gateway, '
               'created_at) SELECT customer_id, parent_id, type, status, 100, currency, settled, gateway, created_at '
               'FROM "transaction" WHERE id = :i', i=refund_id)
    assert [(c, k) for c, k, _ in found(store, admin)] == [("C-1", "money row unsealed")]


def test_an_altered_checkpoint_file_is_noticed(world):
    store, admin, _ = world
    path = store.checkpoint_path
    lines = path.read_text().splitlines()
    body = json.loads(lines[0])
    body["heads"] = {k: [v[0] - 1, v[1], v[2] - 1] for k, v in body["heads"].items()}
    path.write_text(json.dumps(body) + "\n")
    assert [(c, k) for c, k, _ in found(store, admin)] == [("-", "checkpoint damaged")]
    with pytest.raises(checkpoints.CheckpointDamaged):
        checkpoints.write_checkpoint(store)


def test_audit_cli_names_each_customer_and_exits_non_zero(world, capsys, monkeypatch, tmp_path):
    from agentdesk import cli

    store, _, refund_id = world
    if not store.is_sqlite:
        pytest.skip("the command line is exercised on the SQLite store")
    monkeypatch.setattr(identity, "os_login", lambda: "ada")
    assert cli.main(["--db", store.url, "audit", "verify"]) == 0
    assert "every chain intact and matching the checkpoint of" in capsys.readouterr().out
    shipped = tmp_path / "shipped.log"
    assert cli.main(["--db", store.url, "audit", "checkpoint", "--out", str(shipped)]) == 0
    assert "2 customers' chain heads appended" in capsys.readouterr().out
    ids = event_ids(store, "C-2")
    sql(store, "DELETE FROM timeline_event WHERE id = :i", i=ids[-1])
    sql(store, 'UPDATE "transaction" SET amount = 1 WHERE id = :i', i=refund_id)
    assert cli.main(["--db", store.url, "audit", "verify", "--checkpoints", str(shipped)]) == 1
    captured = capsys.readouterr()
    assert f"C-1: money row changed: transaction {refund_id} (refund)" in captured.out
    assert f"C-2: truncated: event {ids[-2]}: its last 1 event(s) are gone" in captured.out
    assert "TAMPERED: 2 finding(s) (truncated, money row changed) in 2 customer(s)" in captured.err
    assert cli.main(["--db", store.url, "audit", "verify", "C-2", "--json"]) == 1
    data = json.loads(capsys.readouterr().out)
    assert not data["ok"] and [f["kind"] for f in data["findings"]] == ["truncated"]


def test_money_rows_moved_by_a_merge_still_verify(world):
    from agentdesk.services.risk import privacy

    store, admin, refund_id = world
    privacy.merge_customers(store, admin, "C-2", ["C-1"])
    assert sql(store, 'SELECT customer_id FROM "transaction" WHERE id = :i', i=refund_id)[0][0] == \
        customer_id(store, "C-2")
    assert audit.verify(store, admin).ok
    sql(store, 'UPDATE "transaction" SET amount = 1 WHERE id = :i', i=refund_id)
    assert [(c, k) for c, k, _ in found(store, admin)] == [("C-2", "money row changed")]
