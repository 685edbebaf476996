import pytest

from agentdesk.domain.enums import Role
from agentdesk.domain.errors import InvalidInput, PermissionDenied
from agentdesk.services.customers import extras as profile_extras
from agentdesk.services.customers import records as customers

from ..conftest import customer_input


def test_tax_ids_default_and_delete(store, actors):
    agent = actors[Role.AGENT]
    customers.create_customer(store, agent, customer_input())
    vat = profile_extras.add_tax_id(store, agent, "C-1", "VAT", "GB 123 4567 89")
    ein = profile_extras.add_tax_id(store, agent, "C-1", "ein", "12-3456789")
    taxes = customers.get_customer(store, agent, "C-1").tax_ids
    assert [(t.type, t.default) for t in taxes] == [("vat", True), ("ein", False)]
    profile_extras.set_default_tax_id(store, agent, ein)
    assert [t.default for t in customers.get_customer(store, agent, "C-1").tax_ids] == [False, True]
    profile_extras.delete_tax_id(store, agent, ein)
    assert [(t.id, t.default) for t in customers.get_customer(store, agent, "C-1").tax_ids] == [(vat, True)]
    with pytest.raises(InvalidInput) as refused:
        profile_extras.add_tax_id(store, agent, "C-1", "shoe", "!")
    assert set(refused.value.fields) == {"type", "value"}
    with pytest.raises(PermissionDenied):
        profile_extras.add_tax_id(store, actors[Role.FINANCE], "C-1", "vat", "GB1")


def test_lead_source(store, actors):
    agent = actors[Role.SALES]
    customers.create_customer(store, agent, customer_input())
    saved = profile_extras.set_lead_source(
        store, agent, "C-1", {"source": "newsletter", "medium": "email", "campaign": " spring  sale ", "affiliate": ""}
    )
    assert saved == {"source": "newsletter", "medium": "email", "campaign": "spring sale"}
    detail = customers.get_customer(store, agent, "C-1")
    assert (
        detail.lead_source == saved and detail.timeline[0].attributes["changes"]["lead campaign"]["to"] == "spring sale"
    )
    with pytest.raises(InvalidInput):
        profile_extras.set_lead_source(store, agent, "C-1", {"planet": "mars"})
