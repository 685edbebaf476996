"""The job queue: work enqueued in the same transaction as the action that asks for it.

Claiming a job marks it running in its own short transaction (`FOR UPDATE SKIP
LOCKED` on PostgreSQL, `BEGIN IMMEDIATE` on SQLite), so two workers never run
the same job. A handler returns a result dict or raises `RetryLater`; a job
that fails for good keeps its last error for the agent to read.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import or_
from sqlmodel import Session, col, select

from agentdesk.db.models import Job, utcnow
from agentdesk.db.store import Store, get_row
from agentdesk.domain.enums import JobKind, JobStatus

STALE_RUNNING = timedelta(minutes=10)
"""A job left running this long (its worker died) is claimed again."""


class RetryLater(Exception):
    """The handler could not finish now; `delay` says when to try again."""

    def __init__(self, message: str, delay: timedelta):
        super().__init__(message)
        self.delay = delay


class GiveUp(Exception):
    """The handler will never succeed; the job ends as failed with this message."""


@dataclass(frozen=True)
class JobInfo:
    id: int
    kind: JobKind
    status: JobStatus
    attempts: int
    max_attempts: int
    run_after: datetime
    last_error: str | None
    result: dict[str, Any] | None
    payload: dict[str, Any]


def enqueue(session: Session, kind: JobKind, key: str, payload: dict[str, Any], customer_id: int | None = None,
            run_after: datetime | None = None, max_attempts: int = 3) -> Job:
    """Add a job to the caller's transaction; a key already queued is not queued twice."""
    absent: set[str] = session.info.get(_ABSENT, set())
    if key in absent:
        absent.discard(key)
    else:
        existing = session.exec(select(Job).where(Job.idempotency_key == key)).one_or_none()
        if existing is not None:
            return existing
    job = Job(kind=kind, idempotency_key=key, payload=payload, customer_id=customer_id,
              run_after=run_after or utcnow(), max_attempts=max_attempts)
    session.add(job)
    return job


_ABSENT = "absent_job_keys"
"""session.info: job keys known not queued yet (`prefetch_keys`); each spares `enqueue` one lookup, once."""


def prefetch_keys(session: Session, keys: list[str]) -> None:
    """Before enqueueing many jobs in one transaction: one query finds which of their keys are queued."""
    if not keys:
        return
    queued = set(session.exec(select(Job.idempotency_key).where(col(Job.idempotency_key).in_(keys))).all())
    session.info.setdefault(_ABSENT, set()).update(k for k in keys if k not in queued)


def claim(store: Store, now: datetime | None = None) -> JobInfo | None:
    """Take the next due job, if any, and mark it running."""
    now = now or utcnow()
    status = col(Job.status)
    due = or_(
        (status == JobStatus.QUEUED) & (col(Job.run_after) <= now),
        (status == JobStatus.RUNNING) & (col(Job.updated_at) <= now - STALE_RUNNING),
    )
    query = select(Job).where(due).order_by(col(Job.run_after), col(Job.id)).limit(1)
    if not store.is_sqlite:
        query = query.with_for_update(skip_locked=True)
    with store.write() as session:
        job = session.exec(query).one_or_none()
        if job is None:
            return None
        job.status = JobStatus.RUNNING
        job.attempts += 1
        job.updated_at = utcnow()
        session.add(job)
        session.flush()
        return _info(job)


def _info(job: Job) -> JobInfo:
    return JobInfo(job.id, job.kind, job.status, job.attempts, job.max_attempts, job.run_after, job.last_error,
                   job.result, dict(job.payload))


def finish(store: Store, job_id: int, result: dict[str, Any], on_done: Callable[[Session], None] | None = None) -> None:
    with store.write() as session:
        job = get_row(session, Job, job_id)
        job.status = JobStatus.DONE
        job.result = result
        job.last_error = None
        job.updated_at = utcnow()
        session.add(job)
        if on_done:
            on_done(session)


def retry_or_fail(store: Store, job_id: int, error: str, delay: timedelta, now: datetime | None = None,
                  on_give_up: Callable[[Session, Job], None] | None = None) -> bool:
    """Schedule another attempt, or, out of attempts, fail the job. Returns True if it will run again."""
    now = now or utcnow()
    with store.write() as session:
        job = get_row(session, Job, job_id)
        job.last_error = error[:2000]
        job.updated_at = utcnow()
        again = job.attempts < job.max_attempts
        if again:
            job.status = JobStatus.QUEUED
            job.run_after = now + delay
        else:
            job.status = JobStatus.FAILED
            if on_give_up:
                on_give_up(session, job)
        session.add(job)
        return again


def fail(store: Store, job_id: int, error: str) -> None:
    with store.write() as session:
        job = get_row(session, Job, job_id)
        job.status = JobStatus.FAILED
        job.last_error = error[:2000]
        job.updated_at = utcnow()
        session.add(job)


def jobs_for_customer(session: Session, customer_id: int) -> list[JobInfo]:
    rows = session.exec(
        select(Job).where(Job.customer_id == customer_id)
        .order_by(col(Job.created_at).desc(), col(Job.id).desc()).limit(50)
    )
    return [_info(j) for j in rows]
