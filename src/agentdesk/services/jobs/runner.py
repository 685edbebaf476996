"""Running queued jobs: emails, refund retries, link generation; plus the start-up repair of interrupted refunds,
and a timeline checkpoint every few minutes (`services.timeline.checkpoints.write_if_due`).

`agentdesk worker` loops over `run_due`; the console runs the same in a
background worker so a single agent needs nothing else running.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlmodel import Session

from agentdesk.config import Settings
from agentdesk.db.models import Job
from agentdesk.db.store import Store
from agentdesk.domain.enums import JobKind, TransactionStatus
from agentdesk.domain.permissions import SYSTEM
from agentdesk.services.billing import invoices
from agentdesk.services.jobs import mailer
from agentdesk.services.jobs import queue as jobs
from agentdesk.services.links import generate, stripe_hosted
from agentdesk.services.links import read as links
from agentdesk.services.money import payments, refunds, settlement, stripe_events
from agentdesk.services.money.gateways import GatewayError, GatewayTimeout
from agentdesk.services.orders import quotes
from agentdesk.services.risk import blocklist
from agentdesk.services.timeline import checkpoints
from agentdesk.services.timeline.catalog import EventType
from agentdesk.services.timeline.record import record_event

log = logging.getLogger(__name__)
MAIL_RETRY = timedelta(minutes=10)


@dataclass
class WorkReport:
    done: int = 0
    retrying: int = 0
    failed: int = 0
    repaired: int = 0
    """Interrupted refunds and voids whose outcome is now recorded (approved, declined or failed)."""
    still_pending: int = 0
    """Interrupted refunds and voids the gateway has still not confirmed (no answer again, or a retry queued)."""
    settled: int = 0
    payments_repaired: int = 0
    """Invoice payments left pending by a crash or a timeout whose outcome is now recorded."""
    messages: list[str] = field(default_factory=list)

    def repairs(self) -> str:
        """The start-up repair in words: what finished and what is still pending, each said separately."""
        finished = f"{self.repaired} interrupted refund(s) finished"
        if not self.still_pending:
            return finished
        return (f"{finished}, {self.still_pending} still pending (the gateway has not confirmed them yet; "
                "they are sent again with the same key, never paid twice)")


def _send_email(store: Store, settings: Settings, job: jobs.JobInfo) -> dict[str, Any] | None:
    """Deliver an email job; None for a link email whose link can no longer be used (nothing sent)."""
    payload = job.payload
    body = payload["body"]
    if payload.get("link_id") is not None:
        body = generate.email_body(store, payload)
        if body is None:
            return None
    message = mailer.compose(settings, payload["to"], payload["subject"], body)
    try:
        where = mailer.deliver(settings, message)
    except mailer.MailError as exc:
        raise jobs.RetryLater(str(exc), MAIL_RETRY) from exc
    return {"delivered_to": where, "message_id": message["Message-ID"]}


def _email_sent(job: jobs.JobInfo) -> Callable[[Session], None]:
    customer_id = job.payload.get("customer_id")

    def record(session: Session) -> None:
        if job.payload.get("link_id") is not None:
            generate.mark_sent(session, job.payload)
        elif customer_id:
            to = job.payload["to"]
            record_event(session, SYSTEM, customer_id, EventType.EMAIL_SENT, subject=job.payload["subject"],
                         to=", ".join(to) if isinstance(to, list) else to, transaction=job.payload.get("transaction"))
    return record


def run_job(store: Store, settings: Settings, job: jobs.JobInfo, now: datetime | None = None) -> str:
    try:
        if job.kind == JobKind.EMAIL:
            result = _send_email(store, settings, job)
            if result is None:
                jobs.finish(store, job.id, {"skipped": "the link can no longer be used; nothing was sent"})
            else:
                jobs.finish(store, job.id, result, on_done=_email_sent(job))
        elif job.kind == JobKind.LINK_GENERATE:
            jobs.finish(store, job.id, generate.generate_link(store, settings, job, now))
        elif job.kind == JobKind.REFUND_RETRY:
            result = refunds.retry_refund(store, settings, job)
            jobs.finish(store, job.id, result)
        else:
            jobs.fail(store, job.id, f"no handler for jobs of kind {job.kind!r}")
            return "failed"
    except jobs.RetryLater as exc:
        give_up = None
        if job.kind == JobKind.REFUND_RETRY:
            def give_up(session: Session, row: Job) -> None:
                refunds.drop_refund(session, row)
        again = jobs.retry_or_fail(store, job.id, str(exc), exc.delay, now=now, on_give_up=give_up)
        if not again:
            _link_given_up(store, job, str(exc), now)
        return "retrying" if again else "failed"
    except Exception as exc:
        log.exception("job %s failed", job.id)
        jobs.fail(store, job.id, f"{type(exc).__name__}: {exc}")
        _link_given_up(store, job, f"{type(exc).__name__}: {exc}", now)
        return "failed"
    return "done"


def _link_given_up(store: Store, job: jobs.JobInfo, error: str, now: datetime | None) -> None:
    """A generate job that failed for good leaves its link failed (LINK_FAILED), not queued forever."""
    if job.kind == JobKind.LINK_GENERATE and job.payload.get("link_id") is not None:
        generate.fail_link(store, int(job.payload["link_id"]), error, now)


def run_due(store: Store, settings: Settings, now: datetime | None = None, limit: int = 100,
            checkpoint: bool = True) -> WorkReport:
    """Run the jobs that are due; `checkpoint=False` (the console) leaves timeline checkpoints to the worker,
    whose process can afford reading the whole checkpoint log."""
    report = WorkReport()
    quotes.expire_quotes(store, now)
    links.expire_links(store, now)
    if settings.gateways.stripe is not None:
        try:
            stripe_events.poll_events(store, settings)
            stripe_hosted.close_revoked(store, settings)
        except (GatewayError, GatewayTimeout) as exc:
            report.messages.append(f"Stripe's events were not read this time: {exc}")
    for _ in range(limit):
        job = jobs.claim(store, now)
        if job is None:
            break
        outcome = run_job(store, settings, job, now)
        setattr(report, outcome, getattr(report, outcome) + 1)
    if checkpoint:
        checkpoints.write_if_due(store)
    return report


def start_up(store: Store, settings: Settings, checkpoint: bool = True) -> WorkReport:
    """What every console or worker start does first: finish interrupted refunds and invoice payments, settle
    what is due."""
    report = WorkReport()
    repaired = refunds.repair_pending(store, settings, older_than=timedelta(0))
    report.repaired = sum(result.finished for result in repaired)
    report.still_pending = len(repaired) - report.repaired
    report.payments_repaired = invoices.repair_pending_payments(store, settings)
    report.payments_repaired += sum(result.status != TransactionStatus.PENDING
                                    for result in payments.repair_pending_sales(store, settings, timedelta(0)))
    report.settled = settlement.settle_from_gateway(store, settings)
    blocklist.expire_flags(store)
    if checkpoint:
        checkpoints.write_if_due(store)
    return report

