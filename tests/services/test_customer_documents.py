"""KYC upload through a link: files checked by content and size, kept like attachments, pending review, the
link completed once — or nothing at all (SQLite and PostgreSQL)."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlmodel import select

from agentdesk.config import load_settings
from agentdesk.db.models import Attachment, KycDocument, TimelineEvent
from agentdesk.domain.enums import KycStatus, LinkKind, LinkStatus
from agentdesk.domain.errors import InvalidInput
from agentdesk.services.customers import records
from agentdesk.services.links import access
from agentdesk.services.links.customer_documents import UploadedFile, kyc_page, safe_filename, upload_kyc
from agentdesk.services.risk import compliance
from agentdesk.services.timeline.attachments import attachments_dir
from tests.conftest import customer_input, policy
from tests.support.links import link_row, ready_link

PDF = b"%PDF-1.7\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 40
JPEG = b"\xff\xd8\xff\xe0" + b"\x00" * 40
EXE = b"MZ\x90\x00\x03" + b"\x00" * 60


@pytest.fixture
def customer_id(store, admin) -> int:
    return records.create_customer(store, admin, customer_input(first_name="Ann")).id


@pytest.fixture
def settings(store, tmp_path):
    return load_settings(store.url, env={"AGENTDESK_DATA_DIR": str(tmp_path / "data")})


def kinds(store, customer_id) -> list[str]:
    with store.read() as session:
        return [e.type for e in session.exec(
            select(TimelineEvent).where(TimelineEvent.customer_id == customer_id).order_by(TimelineEvent.id))]


def test_page_lists_the_requested_types_and_the_limit(store, customer_id):
    policy(store, {"attachment_limit": 2048})
    token = ready_link(store, customer_id, LinkKind.KYC,
                       {"document_types": ["id_card", "selfie"], "redirect_url": "https://shop.example/done"})
    page = kyc_page(store, token)
    assert (page.first_name, page.document_types, page.redirect_url, page.size_limit) == (
        "Ann", ["id_card", "selfie"], "https://shop.example/done", 2048)
    assert page.label("id_card") == "Identity card"


def test_upload_keeps_each_file_pending_and_completes_the_link(store, customer_id, settings):
    token = ready_link(store, customer_id, LinkKind.KYC, {"document_types": ["passport", "proof_of_address"]})
    ids = upload_kyc(store, settings, token, [
        UploadedFile("proof_of_address", "../../etc/bill<script>.png", "application/x-msdownload", PNG),
        UploadedFile("passport", "C:\\Users\\ann\\passport scan.PDF", "image/png", PDF),
    ])
    assert len(ids) == 2
    with store.read() as session:
        docs = {d.kind: d for d in session.exec(select(KycDocument).where(KycDocument.customer_id == customer_id))}
        assert set(docs) == {"passport", "proof_of_address"}
        assert all(d.status == KycStatus.PENDING and d.uploaded_by is None for d in docs.values())
        passport = session.get(Attachment, docs["passport"].attachment_id)
        bill = session.get(Attachment, docs["proof_of_address"].attachment_id)
        assert passport is not None and bill is not None
        assert (passport.name, passport.content_type, passport.size) == ("passport scan.pdf", "application/pdf",
                                                                         len(PDF))
        assert (bill.name, bill.content_type) == ("bill_script.png", "image/png")
        assert (attachments_dir(settings) / passport.sha256).read_bytes() == PDF
    link = link_row(store, token)
    assert link.status == LinkStatus.COMPLETED and link.uses == 1 and link.result == {"documents": ids}
    events = kinds(store, customer_id)
    assert events.count("kyc_document_uploaded") == 2 and events[-1] == "link_completed"
    shown = compliance.compliance_for
    with store.read() as session:
        assert {d.kind for d in shown(session, customer_id).documents} == {"passport", "proof_of_address"}
    with pytest.raises(access.LinkUsed):
        upload_kyc(store, settings, token, [UploadedFile("passport", "p.pdf", "application/pdf", PDF),
                                            UploadedFile("proof_of_address", "b.pdf", "application/pdf", PDF)])


def nothing_kept(store, customer_id, settings, token) -> None:
    with store.read() as session:
        assert session.exec(select(KycDocument)).all() == []
        assert session.exec(select(Attachment)).all() == []
    assert not attachments_dir(settings).exists() or list(Path(attachments_dir(settings)).iterdir()) == []
    link = link_row(store, token)
    assert link.uses == 0 and link.status == LinkStatus.READY
    assert "kyc_document_uploaded" not in kinds(store, customer_id)


def test_type_is_decided_by_content(store, customer_id, settings):
    token = ready_link(store, customer_id, LinkKind.KYC, {"document_types": ["passport", "selfie"]})
    with pytest.raises(InvalidInput) as refused:
        upload_kyc(store, settings, token, [UploadedFile("passport", "passport.pdf", "application/pdf", EXE),
                                            UploadedFile("selfie", "me.jpg", "image/jpeg", JPEG)])
    assert refused.value.fields == {"passport": "only PDF, PNG or JPEG files are accepted"}
    nothing_kept(store, customer_id, settings, token)


def test_every_requested_type_is_required_and_size_is_limited(store, customer_id, settings):
    policy(store, {"attachment_limit": 1024})
    token = ready_link(store, customer_id, LinkKind.KYC, {"document_types": ["passport", "proof_of_address"]})
    with pytest.raises(InvalidInput) as refused:
        upload_kyc(store, settings, token, [UploadedFile("passport", "p.pdf", "application/pdf", PDF + b"x" * 1024)])
    assert refused.value.fields["passport"] == f"the file is {len(PDF) + 1024:,} bytes; the limit is 1,024"
    assert refused.value.fields["proof_of_address"] == "choose a file"
    with pytest.raises(InvalidInput, match="was not asked for"):
        upload_kyc(store, settings, token, [UploadedFile("selfie", "s.png", "image/png", PNG)])
    nothing_kept(store, customer_id, settings, token)


def test_other_kinds_and_bad_tokens_are_unavailable(store, customer_id, settings):
    deposit = ready_link(store, customer_id, LinkKind.DEPOSIT, {"currency": "USD", "amounts": [1000]})
    expired = ready_link(store, customer_id, LinkKind.KYC, {}, hours=-1)
    for token in (deposit, expired, "0" * 64, "not a token"):
        with pytest.raises(access.LinkUnavailable):
            kyc_page(store, token)
        with pytest.raises(access.LinkUnavailable):
            upload_kyc(store, settings, token, [UploadedFile("passport", "p.pdf", "application/pdf", PDF)])


def test_default_types_and_safe_names(store, customer_id):
    token = ready_link(store, customer_id, LinkKind.KYC, {})
    assert kyc_page(store, token).document_types == ["passport", "proof_of_address"]
    assert safe_filename("", "passport", ".pdf") == "passport.pdf"
    assert safe_filename("...", "selfie", ".jpg") == "selfie.jpg"
    assert safe_filename("a/b/\u202eevil\x00.exe", "other", ".png") == "evil.png"
    assert len(safe_filename("x" * 400 + ".pdf", "other", ".pdf")) == 255


def test_two_uploads_at_once_keep_one_set(store, customer_id, settings):
    import threading

    token = ready_link(store, customer_id, LinkKind.KYC, {"document_types": ["passport"]})
    results: list[object] = []

    def upload(data: bytes) -> None:
        try:
            results.append(upload_kyc(store, settings, token, [UploadedFile("passport", "p.pdf", "", data)]))
        except Exception as exc:
            results.append(exc)

    threads = [threading.Thread(target=upload, args=(PDF + bytes([n]),)) for n in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sum(isinstance(r, access.LinkUsed) for r in results) == 1
    with store.read() as session:
        assert len(session.exec(select(KycDocument)).all()) == 1
    assert len(list(attachments_dir(settings).iterdir())) == 1
    assert link_row(store, token).uses == 1


def test_a_document_the_customer_uploaded_shows_as_by_the_customer(store, admin, customer_id, settings, tmp_path):
    token = ready_link(store, customer_id, LinkKind.KYC, {"document_types": ["passport"]})
    (uploaded,) = upload_kyc(store, settings, token, [UploadedFile("passport", "passport.pdf", "application/pdf",
                                                                   PDF)])
    selfie = tmp_path / "me.png"
    selfie.write_bytes(PNG)
    compliance.upload_document(store, admin, settings, customer_id, "selfie", str(selfie))
    shown = {d.id: d.uploaded_by for d in compliance.compliance(store, admin, customer_id).documents}
    assert shown[uploaded] == "customer"
    assert [by for doc, by in shown.items() if doc != uploaded] == ["ada"]
