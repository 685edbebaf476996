"""The KYC page over HTTP: what the customer sees, the upload, and what the store holds afterwards."""

from __future__ import annotations

import pytest
from sqlmodel import col, select

from agentdesk.db.models import Attachment, KycDocument, TimelineEvent
from agentdesk.domain.enums import KycStatus, LinkKind, LinkStatus
from tests.conftest import policy
from tests.portal.http_support import ESCAPED, PDF, PNG, assert_headers, make_portal
from tests.support.links import link_row


@pytest.fixture
def portal(sqlite_store, tmp_path):
    return make_portal(sqlite_store, tmp_path)


def test_the_page_asks_for_each_document_with_a_label(portal):
    policy(portal.store, {"attachment_limit": 3 * 2**20})
    token = portal.link(LinkKind.KYC, {"document_types": ["id_card", "selfie"]})
    page = portal.client.get(f"/l/{token}")
    assert page.status_code == 200
    assert_headers(page)
    html = page.text
    assert "<h1>Upload your documents</h1>" in html
    assert f"Hello {ESCAPED}," in html
    assert '<label for="document_id_card">Identity card</label>' in html
    assert 'id="document_selfie" name="document_selfie"' in html
    assert 'enctype="multipart/form-data"' in html and f'action="/l/{token}/kyc"' in html
    assert '<button type="submit" id="submit">Upload documents</button>' in html
    assert "a PDF, PNG or JPEG of at most 3 MB." in html
    assert "<script" not in html and "style=" not in html
    assert link_row(portal.store, token).status == LinkStatus.OPENED


def test_upload_stores_pending_documents_and_offers_the_way_back(portal):
    token = portal.link(LinkKind.KYC, {"redirect_url": "https://shop.example/thanks?a=1&b=2"})
    page = portal.client.get(f"/l/{token}")
    csrf = page.text.split('name="csrf" value="')[1].split('"')[0]
    done = portal.client.post(f"/l/{token}/kyc", data={"csrf": csrf}, files={
        "document_passport": ("passport.pdf", PDF, "application/pdf"),
        "document_proof_of_address": ("bill.png", PNG, "application/octet-stream"),
    })
    assert done.status_code == 200
    assert "We received 2 documents and will review them" in done.text
    assert 'href="https://shop.example/thanks?a=1&amp;b=2"' in done.text
    assert "set-cookie" in done.headers
    with portal.store.read() as session:
        docs = session.exec(select(KycDocument).order_by(col(KycDocument.id))).all()
        assert [(d.kind, d.status) for d in docs] == [("passport", KycStatus.PENDING),
                                                       ("proof_of_address", KycStatus.PENDING)]
        names = [session.get(Attachment, d.attachment_id).name for d in docs]
        assert names == ["passport.pdf", "bill.png"]
        events = session.exec(select(TimelineEvent).where(TimelineEvent.customer_id == portal.customer_id)
                              .order_by(col(TimelineEvent.id))).all()
        told = [(e.type, e.actor_label) for e in events]
    assert told[-4:] == [("link_opened", "customer"), ("kyc_document_uploaded", "customer"),
                         ("kyc_document_uploaded", "customer"), ("link_completed", "customer")]
    link = link_row(portal.store, token)
    assert link.status == LinkStatus.COMPLETED and link.result == {"documents": [d.id for d in docs]}


def test_a_redirect_that_is_not_http_is_never_a_link(portal):
    token = portal.link(LinkKind.KYC, {"document_types": ["passport"], "redirect_url": "javascript:alert(1)"})
    csrf = portal.csrf(token)
    done = portal.client.post(f"/l/{token}/kyc", data={"csrf": csrf},
                              files={"document_passport": ("p.pdf", PDF, "application/pdf")})
    assert done.status_code == 200 and "We received 1 document " in done.text
    assert "javascript:" not in done.text


def test_the_csrf_value_changes_after_an_action_so_a_resent_form_is_refused(portal):
    token = portal.link(LinkKind.KYC, {"document_types": ["passport"]})
    other = portal.link(LinkKind.KYC, {"document_types": ["passport"]})
    csrf = portal.csrf(token)
    files = {"document_passport": ("p.pdf", PDF, "application/pdf")}
    assert portal.client.post(f"/l/{token}/kyc", data={"csrf": csrf}, files=files).status_code == 200
    assert portal.client.post(f"/l/{other}/kyc", data={"csrf": csrf}, files=files).status_code == 403


def test_a_form_address_opened_directly_leads_to_the_links_page(portal):
    token = portal.link(LinkKind.KYC)
    moved = portal.client.get(f"/l/{token}/kyc", follow_redirects=False)
    assert moved.status_code == 303 and moved.headers["location"] == f"/l/{token}"
    assert_headers(moved)
    assert portal.client.get(f"/l/{token}/kyc").status_code == 200
