from datetime import timedelta

import pytest

from agentdesk.config import load_settings
from agentdesk.domain.enums import Role
from agentdesk.domain.errors import InvalidInput, PermissionDenied
from agentdesk.services.customers import records as customers
from agentdesk.services.risk import compliance
from agentdesk.services.timeline import attachments

from ..conftest import customer_input


def test_kyc_documents_aml_and_edd(store, actors, tmp_path):
    agent = actors[Role.AGENT]
    settings = load_settings(store.url, env={"AGENTDESK_DATA_DIR": str(tmp_path)})
    customers.create_customer(store, agent, customer_input())
    scan = tmp_path / "passport.jpg"
    scan.write_bytes(b"\xff\xd8\xff" + b"x" * 200)
    doc = compliance.upload_document(store, agent, settings, "C-1", "passport", scan)
    compliance.review_document(store, agent, doc, "accepted")
    view = compliance.compliance(store, actors[Role.FINANCE], "C-1")
    assert [(d.kind, d.status, d.name, d.uploaded_by) for d in view.documents] == [
        ("passport", "accepted", "passport.jpg", "cara")
    ]
    out = attachments.save_attachment(store, agent, settings, view.documents[0].attachment_id, tmp_path / "copy.jpg")
    assert out.read_bytes() == scan.read_bytes()
    compliance.record_aml_check(store, agent, "C-1", "review", 2, "worldcheck")
    assert view.next_search is None
    view = compliance.set_edd(store, agent, "C-1", required=True, scores={"fraud": "high", "occupation": "low"})
    assert view.edd_required and view.scores == {"fraud": "high", "occupation": "low"}
    assert view.next_search == view.checks[0].checked_at.date() + timedelta(days=30)
    view = compliance.set_edd(store, agent, "C-1", scores={"fraud": "medium", "occupation": "none"})
    assert view.scores == {"fraud": "medium"}
    types = [e.type for e in customers.get_customer(store, agent, "C-1").timeline]
    assert types[:5] == ["edd_changed", "edd_changed", "aml_check", "kyc_document_reviewed", "kyc_document_uploaded"]
    with pytest.raises(InvalidInput):
        compliance.set_edd(store, agent, "C-1", scores={"astrology": "high"})
    with pytest.raises(InvalidInput):
        compliance.upload_document(store, agent, settings, "C-1", "selfie stick", scan)
    with pytest.raises(PermissionDenied):
        compliance.set_edd(store, actors[Role.FINANCE], "C-1", required=False)
