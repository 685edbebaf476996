"""The customer's KYC upload on the portal: one file per document type the agent asked for.

Authority is the link token; the files are checked (size by policy `attachment_limit`, type by their
first bytes, never by the name or the type the browser declared), kept like attachments, added to the
customer's KYC documents as pending review, and the link completed, all in one transaction.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

from agentdesk.config import Settings
from agentdesk.db.models import Attachment, KycDocument
from agentdesk.db.store import Store
from agentdesk.domain import limits
from agentdesk.domain.enums import LinkKind
from agentdesk.domain.errors import InvalidInput
from agentdesk.domain.permissions import CUSTOMER
from agentdesk.services.links import access
from agentdesk.services.policy import service as policy
from agentdesk.services.timeline.attachments import keep_bytes
from agentdesk.services.timeline.catalog import EventType
from agentdesk.services.timeline.record import record_event

KYC = frozenset({LinkKind.KYC})
DEFAULT_TYPES = ("passport", "proof_of_address")
LABELS = {
    "passport": "Passport",
    "id_card": "Identity card",
    "driving_licence": "Driving licence",
    "proof_of_address": "Proof of address (a utility bill or bank letter)",
    "bank_statement": "Bank statement",
    "selfie": "A photo of yourself holding your document",
    "other": "Other document",
}
SIGNATURES = (
    (b"%PDF-", "application/pdf", ".pdf"),
    (b"\x89PNG\r\n\x1a\n", "image/png", ".png"),
    (b"\xff\xd8\xff", "image/jpeg", ".jpg"),
)
REFUSED_TYPE = "only PDF, PNG or JPEG files are accepted"
_UNSAFE = re.compile(r"[^\w.\- ]+")


@dataclass(frozen=True)
class KycPage:
    first_name: str
    website_name: str
    document_types: list[str]
    redirect_url: str | None
    size_limit: int
    """Largest file accepted, in bytes (policy `attachment_limit`)."""

    def label(self, document_type: str) -> str:
        return LABELS.get(document_type, document_type.replace("_", " ").capitalize())


@dataclass(frozen=True)
class UploadedFile:
    document_type: str
    filename: str
    content_type: str
    """What the browser declared; ignored (the content decides)."""
    data: bytes


def _types(options: dict[str, object]) -> list[str]:
    types = options.get("document_types")
    if isinstance(types, list) and types and all(isinstance(t, str) for t in types):
        return list(types)
    return list(DEFAULT_TYPES)


def _redirect(options: dict[str, object]) -> str | None:
    url = options.get("redirect_url")
    return url if isinstance(url, str) and url else None


def kyc_page(store: Store, token: str) -> KycPage:
    link = access.peek_link(store, token, KYC)
    with store.read() as session:
        limit = policy.attachment_limit(session)
    return KycPage(link.first_name, link.website_name, _types(link.options), _redirect(link.options), limit)


def sniff(data: bytes) -> tuple[str, str] | None:
    """(content type, extension) from the file's first bytes, or None when it is none of PDF, PNG, JPEG."""
    for magic, content_type, extension in SIGNATURES:
        if data.startswith(magic):
            return content_type, extension
    return None


def safe_filename(name: str, document_type: str, extension: str) -> str:
    """The last path component, letters, digits, dot, dash, underscore and space only, ending in the
    extension of what the content is; a name left empty becomes `<document type><extension>`."""
    base = re.split(r"[/\\]", name or "")[-1]
    base = unicodedata.normalize("NFC", base)
    base = _UNSAFE.sub("_", base).strip(" ._")
    stem = base.rsplit(".", 1)[0] if "." in base else base
    stem = stem.strip(" ._")[: limits.ATTACHMENT_NAME - len(extension)] or document_type
    return stem + extension


def upload_kyc(store: Store, settings: Settings, token: str, files: list[UploadedFile]) -> list[int]:
    """Keep one file per requested document type; the new KYC document ids (pending review), in the
    order of the link's document types. Nothing is kept unless every file is acceptable."""
    with access.link_for_update(store, token, KYC) as (session, link):
        wanted = _types(dict(link.options))
        limit = policy.attachment_limit(session)
        given: dict[str, UploadedFile] = {}
        problems: dict[str, str] = {}
        for upload in files:
            if upload.document_type not in wanted:
                raise InvalidInput(f"{upload.document_type[:40]!r} was not asked for on this page")
            if upload.document_type in given:
                problems[upload.document_type] = "choose one file"
            given[upload.document_type] = upload
        checked: list[tuple[str, bytes, str, str]] = []
        for document_type in wanted:
            chosen = given.get(document_type)
            if document_type in problems:
                continue
            if chosen is None or not chosen.data:
                problems[document_type] = "choose a file"
                continue
            if len(chosen.data) > limit:
                problems[document_type] = f"the file is {len(chosen.data):,} bytes; the limit is {limit:,}"
                continue
            found = sniff(chosen.data)
            if found is None:
                problems[document_type] = REFUSED_TYPE
                continue
            content_type, extension = found
            checked.append((document_type, chosen.data, content_type,
                            safe_filename(chosen.filename, document_type, extension)))
        if problems:
            raise InvalidInput(fields=problems)
        ids: list[int] = []
        for document_type, data, content_type, name in checked:
            sha, size, content_type, name = keep_bytes(settings, data, name, content_type, limit)
            attachment = Attachment(customer_id=link.customer_id, sha256=sha, name=name, content_type=content_type,
                                    size=size, agent_id=None)
            session.add(attachment)
            session.flush()
            document = KycDocument(customer_id=link.customer_id, kind=document_type, attachment_id=attachment.id,
                                   uploaded_by=None)
            session.add(document)
            session.flush()
            record_event(session, CUSTOMER, link.customer_id, EventType.KYC_DOCUMENT_UPLOADED, document=document.id,
                         kind=document_type, name=name)
            ids.append(document.id)
        access.complete(session, link, f"uploaded {len(ids)} documents", {"documents": ids})
        return ids
