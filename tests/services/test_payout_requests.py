"""Payout requests: approval pays the customer's chosen card once (however many approve it, or retry it),
rejection, refusals that leave a request pending, and who may (SQLite and PostgreSQL)."""

from __future__ import annotations

import threading

import pytest

from agentdesk.config import load_settings
from agentdesk.db.models import PaymentInstrument, PayoutRequest, SandboxOperation, Transaction
from agentdesk.domain.enums import InstrumentStatus, LinkKind, Role, TransactionType
from agentdesk.domain.errors import Conflict, InvalidInput, PermissionDenied
from agentdesk.services.links import customer_money as cm
from agentdesk.services.money import payout_requests as pr

from ..conftest import policy
from ..support.links import ready_link
from .billing_helpers import APPROVE, TIMEOUT, add_customer, count, events_of, rows

PAYOUT = {"currency": "USD", "minimum": 1_000, "maximum": 20_000, "redirect_url": None}
DECLINE_PAYOUT = "4000000000000002"


@pytest.fixture
def settings(store, tmp_path):
    return load_settings(store.url, env={"AGENTDESK_DATA_DIR": str(tmp_path / "data")})


@pytest.fixture
def customer(store, actors, settings) -> int:
    policy(store, {"payout_ceiling.USD": "1000.00"})
    return add_customer(store, actors[Role.ADMIN], settings, cards=(APPROVE, "5555555555554444", TIMEOUT,
                                                                    DECLINE_PAYOUT))


def card(store, customer: int, last4: str) -> int:
    return next(i.id for i in rows(store, PaymentInstrument, PaymentInstrument.customer_id == customer)
                if i.last4 == last4)


def requested(store, customer: int, amount: int = 5_000, last4: str = "4444") -> int:
    token = ready_link(store, customer, LinkKind.PAYOUT, PAYOUT)
    return cm.request_payout(store, token, amount, card(store, customer, last4)).id


def payouts(store) -> list[Transaction]:
    return rows(store, Transaction, Transaction.type == TransactionType.CREDIT)


def test_approval_pays_the_chosen_card_once(store, actors, settings, customer):
    request_id = requested(store, customer)
    info = pr.approve_payout_request(store, actors[Role.FINANCE], settings, request_id)
    [txn] = payouts(store)
    assert (info.status, info.transaction_id, info.decided_by) == ("paid", txn.id, "finn")
    assert txn.instrument_id == card(store, customer, "4444") and txn.status == "approved" and txn.amount == 5_000
    assert txn.idempotency_key == f"payout-payout-request-{request_id}"
    assert events_of(store, customer, "payout_request_approved") == [
        {"request": request_id, "amount": 5_000, "currency": "USD", "transaction": txn.id, "status": "paid"}]
    assert len(events_of(store, customer, "payout_sent")) == 1
    with pytest.raises(Conflict, match="already paid"):
        pr.approve_payout_request(store, actors[Role.ADMIN], settings, request_id)
    with pytest.raises(Conflict, match="already paid"):
        pr.reject_payout_request(store, actors[Role.ADMIN], request_id, "changed my mind")
    assert len(payouts(store)) == 1
    assert [r.id for r in pr.list_payout_requests(store, actors[Role.AGENT], status="paid", customer_ref="C-1")] \
        == [request_id]
    assert pr.list_payout_requests(store, actors[Role.AGENT], status="pending") == []


def test_two_approvers_at_once_pay_once(store, actors, settings, customer):
    request_id = requested(store, customer)
    results: list[object] = []

    def approve(role: Role) -> None:
        try:
            results.append(pr.approve_payout_request(store, actors[role], settings, request_id))
        except Exception as exc:
            results.append(exc)

    threads = [threading.Thread(target=approve, args=(role,)) for role in (Role.ADMIN, Role.FINANCE)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert all(isinstance(r, (pr.PayoutRequestInfo, Conflict)) for r in results), results
    assert any(isinstance(r, pr.PayoutRequestInfo) for r in results)
    assert len(payouts(store)) == 1
    assert count(store, SandboxOperation, SandboxOperation.operation == "payout") == 1
    assert rows(store, PayoutRequest, PayoutRequest.id == request_id)[0].status == "paid"
    assert len(events_of(store, customer, "payout_request_approved")) == 1
    assert len(events_of(store, customer, "payout_sent")) == 1


def test_a_gateway_without_an_answer_is_re_sent_with_the_same_key(store, actors, settings, customer):
    request_id = requested(store, customer, last4="0119")
    first = pr.approve_payout_request(store, actors[Role.FINANCE], settings, request_id)
    assert first.status == "approved" and first.transaction_id is not None
    [txn] = payouts(store)
    assert txn.status == "pending"
    again = pr.approve_payout_request(store, actors[Role.ADMIN], settings, request_id)
    assert again.status == "paid" and again.transaction_id == txn.id
    assert len(payouts(store)) == 1 and count(store, SandboxOperation, SandboxOperation.operation == "payout") == 1
    assert [e["status"] for e in events_of(store, customer, "payout_request_approved")] == ["approved", "paid"]


def test_a_declined_payout_fails_the_request(store, actors, settings, customer):
    request_id = requested(store, customer, last4="0002")
    info = pr.approve_payout_request(store, actors[Role.FINANCE], settings, request_id)
    assert info.status == "failed" and info.reason and "declined" in info.reason
    assert events_of(store, customer, "payout_request_approved")[-1]["status"] == "failed"
    with pytest.raises(Conflict, match="already failed"):
        pr.approve_payout_request(store, actors[Role.FINANCE], settings, request_id)


def test_refusals_leave_the_request_pending(store, actors, settings, customer):
    finance = actors[Role.FINANCE]
    request_id = requested(store, customer, amount=15_000)
    policy(store, {"payout_ceiling.USD": "100.00"})
    with pytest.raises(InvalidInput, match="above the payout ceiling"):
        pr.approve_payout_request(store, finance, settings, request_id)
    assert rows(store, PayoutRequest, PayoutRequest.id == request_id)[0].status == "pending"
    policy(store, {"payout_ceiling.USD": "1000.00"})
    with store.write(unrecorded="test fixture") as s:
        row = s.get(PaymentInstrument, card(store, customer, "4444"))
        row.status = InstrumentStatus.INACTIVE
        s.add(row)
    with pytest.raises(Conflict, match="no longer active"):
        pr.approve_payout_request(store, finance, settings, request_id)
    assert rows(store, PayoutRequest, PayoutRequest.id == request_id)[0].status == "pending"
    assert payouts(store) == []


def test_reject_needs_a_reason_and_is_recorded(store, actors, settings, customer):
    request_id = requested(store, customer)
    with pytest.raises(InvalidInput, match="reason"):
        pr.reject_payout_request(store, actors[Role.FINANCE], request_id, "  ")
    info = pr.reject_payout_request(store, actors[Role.FINANCE], request_id, "account under review")
    assert (info.status, info.reason, info.decided_by) == ("rejected", "account under review", "finn")
    assert events_of(store, customer, "payout_request_rejected") == [
        {"request": request_id, "amount": 5_000, "currency": "USD", "reason": "account under review"}]
    with pytest.raises(Conflict, match="already rejected"):
        pr.approve_payout_request(store, actors[Role.ADMIN], settings, request_id)
    assert payouts(store) == []


def test_roles(store, actors, settings, customer):
    request_id = requested(store, customer)
    for role in (Role.AGENT, Role.SALES):
        with pytest.raises(PermissionDenied):
            pr.approve_payout_request(store, actors[role], settings, request_id)
        with pytest.raises(PermissionDenied):
            pr.reject_payout_request(store, actors[role], request_id, "no")
    assert [r.status for r in pr.list_payout_requests(store, actors[Role.SALES])] == ["pending"]
    with pytest.raises(InvalidInput, match="status"):
        pr.list_payout_requests(store, actors[Role.SALES], status="sent")
    assert payouts(store) == []
