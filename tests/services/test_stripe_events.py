"""Stripe's events applied exactly once, polled from the contract server's `/v1/events` or delivered as
signed webhooks: the same event twice, by both paths, out of order, has one effect."""

import hashlib
import hmac
import json
import time

import pytest
from sqlalchemy import func, select

from agentdesk.db.models import Dispute, GatewayEvent, Setting, TimelineEvent, Transaction
from agentdesk.domain.enums import TransactionStatus
from agentdesk.domain.errors import Conflict
from agentdesk.services.jobs import runner
from agentdesk.services.money import payments, refunds, stripe_events
from agentdesk.services.money.gateways import GatewayError

from .test_stripe_contract import contract, stripe_customer, stripe_settings  # noqa: F401

T0 = 1_790_000_000


def dispute_object(pi: str, status: str, due_by: int | None = T0 + 7 * 86_400) -> dict:
    return {"id": "dp_1", "object": "dispute", "amount": 3_000, "currency": "usd", "charge": "ch_1",
            "payment_intent": pi, "reason": "fraudulent", "status": status, "created": T0,
            "evidence_details": {"due_by": due_by, "has_evidence": False, "past_due": False,
                                 "submission_count": 0}}


def events_of(store, kind: str) -> list[TimelineEvent]:
    with store.read() as s:
        return list(s.execute(select(TimelineEvent).where(TimelineEvent.type == kind)
                              .order_by(TimelineEvent.id)).scalars())


def count(store, model) -> int:
    with store.read() as s:
        return s.execute(select(func.count()).select_from(model)).scalar_one()


def test_a_dispute_by_poll_and_webhook_twice_out_of_order_is_applied_once(store, tmp_path, contract):  # noqa: F811
    admin, settings = stripe_customer(store, tmp_path, contract)
    paid = payments.collect_payment(store, admin, settings, "C-1", 3_000, "USD")
    with store.read() as s:
        pi = s.get(Transaction, paid.transaction_id).gateway_ref
    opened = contract.add_event("charge.dispute.created", dispute_object(pi, "needs_response"), created=T0)
    reviewed = contract.add_event("charge.dispute.updated", dispute_object(pi, "under_review"), created=T0 + 60)

    assert stripe_events.handle_event(store, settings, reviewed, "webhook").endswith("opened (under_review)")
    assert stripe_events.poll_events(store, settings) == 1  # the older "created" changes nothing
    assert stripe_events.handle_event(store, settings, opened, "webhook") == "duplicate"
    assert stripe_events.handle_event(store, settings, reviewed, "poll") == "duplicate"

    with store.read() as s:
        dispute = s.execute(select(Dispute)).scalar_one()
        rows = {e.id: (e.received_via, e.outcome) for e in s.execute(select(GatewayEvent)).scalars()}
        cursor = s.get(Setting, stripe_events.CURSOR).value
    assert (dispute.status, dispute.reason, dispute.amount, dispute.transaction_id) == (
        "under_review", "fraudulent", 3_000, paid.transaction_id)
    assert rows[reviewed["id"]][0] == "webhook" and rows[opened["id"]] == ("poll", f"dispute {dispute.id}: an "
                                                                                  "older event, nothing changed")
    assert cursor == reviewed["id"]
    [event] = events_of(store, "dispute_opened")
    assert event.attributes == {"amount": 3_000, "currency": "USD", "transaction": paid.transaction_id,
                                "reason": "fraudulent", "status": "under_review", "due_by": "2026-09-28 14:13 UTC"}
    assert events_of(store, "dispute_updated") == []

    before = count(store, Transaction)
    with pytest.raises(Conflict, match=r"disputed this payment with their bank \(fraudulent, 30\.00 USD, under review"):
        refunds.refund_transaction(store, admin, settings, paid.transaction_id)
    assert count(store, Transaction) == before
    assert not contract.posts("/v1/refunds")

    contract.add_event("charge.dispute.updated", dispute_object(pi, "won", None), created=T0 + 120)
    report = runner.run_due(store, settings)
    assert report.messages == []
    with store.read() as s:
        assert s.execute(select(Dispute.status)).scalar_one() == "won"
    [updated] = events_of(store, "dispute_updated")
    assert updated.attributes["status"] == "won" and "due_by" not in updated.attributes
    assert stripe_events.poll_events(store, settings) == 0
    assert refunds.refund_transaction(store, admin, settings, paid.transaction_id).ok


def test_a_payment_left_pending_is_finished_by_its_event_once(store, tmp_path, contract):  # noqa: F811
    admin, _ = stripe_customer(store, tmp_path, contract)
    settings = stripe_settings(store, tmp_path, contract, timeout=0.5)
    contract.slow_next = 2.0
    pending = payments.collect_payment(store, admin, settings, "C-1", 1_200, "USD")
    assert pending.status is TransactionStatus.PENDING
    contract.slow_next = 2.0
    other = payments.collect_payment(store, admin, settings, "C-1", 800, "USD")
    assert other.status is TransactionStatus.PENDING
    first, second = list(contract.intents.values())[-2:]
    succeeded = contract.add_event("payment_intent.succeeded", first)
    failed_intent = {**second, "status": "requires_payment_method",
                     "last_payment_error": {"type": "card_error", "code": "card_declined",
                                            "message": "Your card was declined."}}
    failed = contract.add_event("payment_intent.payment_failed", failed_intent)

    assert stripe_events.handle_event(store, settings, failed, "webhook") == f"transaction {other.transaction_id} " \
                                                                              "declined"
    assert stripe_events.poll_events(store, settings) == 1
    assert stripe_events.handle_event(store, settings, succeeded, "webhook") == "duplicate"
    with store.read() as s:
        done = s.get(Transaction, pending.transaction_id)
        declined = s.get(Transaction, other.transaction_id)
    assert (done.status, done.gateway_ref, done.settled) == (TransactionStatus.APPROVED, first["id"], True)
    assert (declined.status, declined.error) == (TransactionStatus.DECLINED, "Your card was declined.")
    assert [e.attributes["transaction"] for e in events_of(store, "additional_payment")] == [pending.transaction_id]
    assert [e.attributes["transaction"] for e in events_of(store, "payment_failed")] == [other.transaction_id]
    assert contract.violations == []


def test_a_webhook_is_taken_only_with_stripes_signature():
    secret = "whsec_test"
    payload = json.dumps({"id": "evt_w1", "type": "charge.dispute.created", "data": {"object": {}}}).encode()
    stamp = int(time.time())
    signature = hmac.new(secret.encode(), f"{stamp}.".encode() + payload, hashlib.sha256).hexdigest()
    event = stripe_events.event_from_webhook(payload, f"t={stamp},v1={signature}", secret)
    assert event["id"] == "evt_w1"
    with pytest.raises(GatewayError, match="not a webhook signed by Stripe"):
        stripe_events.event_from_webhook(payload.replace(b"w1", b"w2"), f"t={stamp},v1={signature}", secret)
    with pytest.raises(GatewayError, match="not a webhook signed by Stripe"):
        stripe_events.event_from_webhook(payload, f"t={stamp - 3600},v1={signature}", secret)


def test_a_cursor_stripe_no_longer_keeps_reads_every_kept_event_once(store, tmp_path, contract):  # noqa: F811
    admin, settings = stripe_customer(store, tmp_path, contract)
    paid = payments.collect_payment(store, admin, settings, "C-1", 3_000, "USD")
    with store.read() as s:
        pi = s.get(Transaction, paid.transaction_id).gateway_ref
    opened = contract.add_event("charge.dispute.created", dispute_object(pi, "needs_response"), created=T0)
    assert stripe_events.handle_event(store, settings, opened, "webhook").endswith("opened (needs_response)")
    contract.add_event("customer.created", {"id": "cus_x", "object": "customer"}, created=T0 + 1)
    lost = contract.add_event("charge.dispute.updated", dispute_object(pi, "lost", None), created=T0 + 90)
    with store.write() as s:
        s.merge(Setting(key=stripe_events.CURSOR, value="evt_older_than_30_days"))
    assert stripe_events.poll_events(store, settings) == 1
    with store.read() as s:
        assert s.get(Setting, stripe_events.CURSOR).value == lost["id"]
        assert s.execute(select(Dispute.status)).scalar_one() == "lost"
        assert count(store, GatewayEvent) == 2
    assert [e.attributes["status"] for e in events_of(store, "dispute_updated")] == ["lost"]
    with pytest.raises(Conflict, match=r"chargeback \(fraudulent\) that was lost: a refund would pay them twice"):
        refunds.refund_transaction(store, admin, settings, paid.transaction_id)
    requested = [r["params"] for r in contract.requests if r["path"] == "/v1/events"]
    assert requested[0]["ending_before"] == "evt_older_than_30_days" and "ending_before" not in requested[1]
    assert contract.violations == []
