"""Files attached to a customer's timeline, kept once per content under `<data dir>/attachments/<sha256>`."""

from __future__ import annotations

import hashlib
import mimetypes
import os
import shutil
import tempfile
from collections.abc import Iterable
from pathlib import Path

from agentdesk.config import Settings
from agentdesk.db.models import Attachment
from agentdesk.db.store import Store
from agentdesk.domain import limits
from agentdesk.domain.errors import InvalidInput, NotFound
from agentdesk.domain.permissions import Action, Actor, require
from agentdesk.domain.text import check_text
from agentdesk.domain.validation import clean_line
from agentdesk.services.customers.lookup import customer_by_ref
from agentdesk.services.deploy.files import create_private, private_dir
from agentdesk.services.policy import service as policy
from agentdesk.services.timeline.catalog import EventType
from agentdesk.services.timeline.record import TimelineEntry, entry_from_row, record_event

PATH_LIMIT = 4096
"""Linux's PATH_MAX: no longer path names a file."""


def attachments_dir(settings: Settings) -> Path:
    return Path(settings.data_dir) / "attachments"


def _unreadable(path: str | Path, exc: Exception) -> InvalidInput:
    return InvalidInput(fields={"path": f"{str(path)[:80]!r} cannot be read: {getattr(exc, 'strerror', None) or exc}"})


def keep_file(store: Store, settings: Settings, path: str | Path) -> tuple[str, int, str, str]:
    """Copy a file into the content-addressed store; (sha256, size, content type, name).

    The size limit is policy `attachment_limit`, read from the store for this file."""
    try:
        source = Path(check_text(str(path), "path", limit=PATH_LIMIT)).expanduser()
        check_text(source.name, "path", limit=limits.ATTACHMENT_NAME)
        regular = source.is_file()
        size = source.stat().st_size if regular else 0
    except (OSError, RuntimeError) as exc:  # RuntimeError: ~user with no such user
        raise _unreadable(path, exc) from None
    if not regular:
        raise InvalidInput(fields={"path": f"{source} is not a readable file"})
    with store.read() as session:
        limit = policy.attachment_limit(session)
    if size > limit:
        raise InvalidInput(
            fields={"path": f"{source.name} is {size:,} bytes; the limit is {limit:,} (policy attachment_limit)"}
        )
    try:
        reader = source.open("rb")
    except OSError as exc:
        raise _unreadable(path, exc) from None
    with reader as fh:
        sha = _keep(settings, iter(lambda: fh.read(1 << 16), b""))
    content_type = mimetypes.guess_type(source.name)[0] or "application/octet-stream"
    return sha, size, content_type, source.name


def keep_bytes(settings: Settings, data: bytes, name: str, content_type: str, limit: int) -> tuple[str, int, str, str]:
    """`keep_file` for content already in memory (a portal upload); the caller read `limit` (policy
    `attachment_limit`) in its own transaction and has checked `content_type` itself."""
    check_text(name, "name", limit=limits.ATTACHMENT_NAME)
    if len(data) > limit:
        raise InvalidInput(fields={"name": f"{name} is {len(data):,} bytes; the limit is {limit:,}"})
    return _keep(settings, [data]), len(data), content_type, name


def _keep(settings: Settings, chunks: Iterable[bytes]) -> str:
    """Write the chunks to `attachments/<sha256>` (once per content); the sha256."""
    folder = private_dir(attachments_dir(settings))
    digest = hashlib.sha256()
    with tempfile.NamedTemporaryFile(dir=folder, delete=False) as tmp:
        for chunk in chunks:
            digest.update(chunk)
            tmp.write(chunk)
    sha = digest.hexdigest()
    target = folder / sha
    if target.exists():
        os.unlink(tmp.name)
    else:
        os.replace(tmp.name, target)
    return sha


def add_attachment(store: Store, actor: Actor, settings: Settings, customer: str | int, path: str | Path,
                   description: str | None = None) -> TimelineEntry:
    """Keep a copy of the file by its sha256 (stored once however often attached) and note it on the timeline."""
    require(actor, Action.EDIT_CUSTOMERS)
    description = clean_line(description, "description", limits.DESCRIPTION)
    sha, size, content_type, name = keep_file(store, settings, path)
    with store.write() as session:
        cid = customer_by_ref(session, customer).id
        attachment = Attachment(customer_id=cid, sha256=sha, name=name, content_type=content_type,
                                size=size, agent_id=actor.agent_id)
        session.add(attachment)
        session.flush()
        event = record_event(session, actor, cid, EventType.ATTACHMENT, attachment=attachment.id, name=attachment.name,
                             sha256=sha, size=size, content_type=content_type, description=description)
        session.flush()
        return entry_from_row(event)


def save_attachment(store: Store, actor: Actor, settings: Settings, attachment_id: int, out: str | Path) -> Path:
    """Write an attachment back out, byte for byte (its sha256 is checked on the way)."""
    require(actor, Action.VIEW_CUSTOMERS)
    check_text(str(out), "out", limit=PATH_LIMIT)
    with store.read() as session:
        attachment = session.get(Attachment, attachment_id) if limits.in_id_range(attachment_id) else None
    if attachment is None:
        raise NotFound(f"no attachment {attachment_id}")
    stored = attachments_dir(settings) / attachment.sha256
    if not stored.exists():
        raise NotFound(f"the file of attachment {attachment_id} is missing from {stored.parent}")
    target = Path(out).expanduser()
    if target.is_dir():
        target = target / attachment.name
    digest = hashlib.sha256(stored.read_bytes()).hexdigest()
    if digest != attachment.sha256:
        raise InvalidInput(f"attachment {attachment_id} is damaged on disk (its sha256 does not match)")
    with stored.open("rb") as source, create_private(target, exclusive=False) as copy:
        shutil.copyfileobj(source, copy)
    return target
