"""Collecting payments, payouts, credit memos, and email through a real SMTP server on 127.0.0.1."""

import socket
from email import message_from_bytes
from pathlib import Path

import pytest
from sqlalchemy import select

from agentdesk.config import load_settings
from agentdesk.db.models import TimelineEvent, Transaction
from agentdesk.domain.enums import Role
from agentdesk.domain.errors import Conflict, InvalidInput, PermissionDenied
from agentdesk.services.customers import records as customers
from agentdesk.services.jobs import mailer
from agentdesk.services.jobs import runner as worker
from agentdesk.services.money import payments

from ..conftest import customer_input
from .test_refunds import add_card, customer_row


@pytest.fixture
def settings(store, tmp_path):
    return load_settings(store.url, env={"AGENTDESK_DATA_DIR": str(tmp_path / "data")})


@pytest.fixture
def customer(store, admin):
    customers.create_customer(store, admin, customer_input())
    add_card(store, "C-1", "tok_approve")
    return "C-1"


def events(store) -> list[TimelineEvent]:
    with store.read() as s:
        return list(s.execute(select(TimelineEvent).order_by(TimelineEvent.id)).scalars())


def test_collect_payment_with_the_card_or_paid_outside(store, admin, settings, customer):
    charged = payments.collect_payment(store, admin, settings, "C-1", 1_250, "usd", "phone order")
    assert charged.ok and "Visa •••• 4242" in charged.message
    outside = payments.collect_payment(store, admin, settings, "C-1", 5_000, "USD", "bank transfer", outside=True)
    assert outside.ok
    row = customer_row(store)
    assert row.payment_count == 2 and row.lifetime_value == 5_000, "the card payment counts once it settles"
    assert [e.type for e in events(store)][-2:] == ["additional_payment", "additional_payment"]
    with pytest.raises(InvalidInput, match="pays in USD"):
        payments.collect_payment(store, admin, settings, "C-1", 100, "EUR")
    with pytest.raises(InvalidInput):
        payments.collect_payment(store, admin, settings, "C-1", -5, "USD")


def test_declined_payment_is_recorded(store, admin, settings, customer):
    with store.write(unrecorded="test fixture") as s:
        from sqlalchemy import text

        s.execute(text("UPDATE payment_instrument SET gateway_token = 'tok_decline'"))
    result = payments.collect_payment(store, admin, settings, "C-1", 1_000, "USD")
    assert result.status == "declined" and customer_row(store).payment_count == 0
    assert events(store)[-1].type == "payment_failed"


def test_payout_happens_once_per_request_id(store, actors, settings, customer):
    finance = actors[Role.FINANCE]
    with pytest.raises(PermissionDenied):
        payments.send_payout(store, actors[Role.AGENT], settings, "C-1", 1_000, "USD", "req-1")
    first = payments.send_payout(store, finance, settings, "C-1", 1_000, "USD", "req-1")
    again = payments.send_payout(store, finance, settings, "C-1", 1_000, "USD", "req-1")
    assert first.ok and again.status == "approved" and "nothing was sent again" in again.message
    with pytest.raises(Conflict, match="different payout"):
        payments.send_payout(store, finance, settings, "C-1", 2_000, "USD", "req-1")
    with pytest.raises(InvalidInput, match="request_id"):
        payments.send_payout(store, finance, settings, "C-1", 2_000, "USD", "x")
    with store.read() as s:
        payouts = s.execute(select(Transaction).where(Transaction.type == "credit")).scalars().all()
    assert len(payouts) == 1 and payouts[0].status == "approved"
    assert events(store)[-1].type == "payout_sent"


def test_credit_memo_shows_as_available_credit(store, actors, settings, customer):
    memo = payments.create_credit_memo(store, actors[Role.AGENT], "C-1", 2_000, "USD", "late delivery")
    assert memo.remaining == 2_000
    with store.read() as s:
        assert payments.available_credit(s, customer_row(store).id) == {"USD": 2_000}
    with pytest.raises(InvalidInput, match="reason"):
        payments.create_credit_memo(store, actors[Role.ADMIN], "C-1", 100, "USD", " ")
    with pytest.raises(PermissionDenied):
        payments.create_credit_memo(store, actors[Role.SALES], "C-1", 100, "USD", "nice")
    assert events(store)[-1].type == "manual_credit"


@pytest.fixture
def smtp_server():
    from aiosmtpd.controller import Controller
    from aiosmtpd.handlers import Message

    received = []

    class Collect(Message):
        def handle_message(self, message):
            received.append(message)

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    controller = Controller(Collect(), hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield port, received
    finally:
        controller.stop()


def test_refund_confirmation_goes_out_through_smtp(sqlite_store, tmp_path, smtp_server):
    from agentdesk.services.money import refunds, settlement

    from ..conftest import add_roles, add_website

    port, received = smtp_server
    store = sqlite_store
    add_website(store)
    admin = add_roles(store)[Role.ADMIN]
    settings = load_settings(
        store.url,
        env={
            "AGENTDESK_DATA_DIR": str(tmp_path / "d"),
            "AGENTDESK_SMTP_HOST": "127.0.0.1",
            "AGENTDESK_SMTP_PORT": str(port),
            "AGENTDESK_SMTP_TLS": "none",
        },
    )
    customers.create_customer(store, admin, customer_input())
    add_card(store, "C-1", "tok_approve")
    sid = payments.collect_payment(store, admin, settings, "C-1", 4_200, "USD").transaction_id
    settlement.settle_from_gateway(store, settings, everything=True)
    assert refunds.refund_transaction(store, admin, settings, sid, 1_200).ok
    report = worker.run_due(store, settings)
    assert report.done == 1
    assert len(received) == 1
    mail = received[0]
    assert mail["To"] == "grace@example.com" and mail["Subject"] == "Your refund of 12.00 USD"
    assert "12.00 USD" in mail.get_payload()
    sent = [e for e in events(store) if e.type == "email_sent"]
    assert sent and sent[0].attributes["to"] == "grace@example.com" and sent[0].actor_label == "System"


def test_unreachable_smtp_is_retried_not_lost(sqlite_store, tmp_path):
    from agentdesk.db.models import Job
    from agentdesk.services.jobs import queue as jobs

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    settings = load_settings(
        sqlite_store.url,
        env={
            "AGENTDESK_DATA_DIR": str(tmp_path / "d"),
            "AGENTDESK_SMTP_HOST": "127.0.0.1",
            "AGENTDESK_SMTP_PORT": str(port),
            "AGENTDESK_SMTP_TLS": "none",
            "AGENTDESK_SMTP_TIMEOUT": "2",
        },
    )
    with sqlite_store.write(unrecorded="test fixture") as s:
        jobs.enqueue(s, "email", "mail-1", {"to": "a@example.com", "subject": "hi", "body": "x"})
    report = worker.run_due(sqlite_store, settings)
    assert report.retrying == 1
    with sqlite_store.read() as s:
        job = s.execute(select(Job)).scalar_one()
    assert job.status == "queued" and "127.0.0.1" in job.last_error


def test_outbox_when_no_smtp(tmp_path):
    settings = load_settings("sqlite:///x.db", env={"AGENTDESK_DATA_DIR": str(tmp_path)})
    where = mailer.deliver(settings, mailer.compose(settings, "a@example.com", "Subject", "Body"))
    mail = message_from_bytes(Path(where).read_bytes())
    assert mail["Subject"] == "Subject" and mail.get_payload().strip() == "Body"


def test_a_payment_left_pending_by_a_timeout_is_finished_at_start_up_once(store, admin, settings, customer):
    from sqlalchemy import func, text

    from agentdesk.db.models import SandboxOperation

    with store.write(unrecorded="test fixture") as s:
        s.execute(text("UPDATE payment_instrument SET gateway_token = 'tok_timeout'"))
    pending = payments.collect_payment(store, admin, settings, "C-1", 1_250, "USD", "phone order")
    assert pending.status == "pending"
    report = worker.start_up(store, settings)
    assert report.payments_repaired == 1
    with store.read() as s:
        txn = s.get(Transaction, pending.transaction_id)
        sandbox_sales = s.execute(select(func.count()).select_from(SandboxOperation)
                                  .where(SandboxOperation.operation == "sale")).scalar_one()
    assert txn.status == "approved" and sandbox_sales == 1, "the same key was sent again: charged once"
    last = events(store)[-1]
    assert last.type == "additional_payment" and last.actor_label == "System"
    assert last.attributes["transaction"] == pending.transaction_id
    assert worker.start_up(store, settings).payments_repaired == 0


def test_a_payment_made_outside_is_refunded_outside(store, admin, settings, customer):
    from agentdesk.services.money import refunds

    outside = payments.collect_payment(store, admin, settings, "C-1", 5_000, "USD", "bank transfer", outside=True)
    result = refunds.refund_transaction(store, admin, settings, outside.transaction_id, 2_000, "goodwill")
    assert result.ok, result.message
    with store.read() as s:
        refund = s.get(Transaction, result.refund_id)
        original = s.get(Transaction, outside.transaction_id)
    assert (refund.status, refund.gateway, refund.settled, original.status) == (
        "approved", "outside", True, "partially_refunded")
    assert customer_row(store).lifetime_value == 3_000
    assert events(store)[-1].type == "manual_refund"
