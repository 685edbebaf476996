"""Merging duplicates and anonymising (admins only)."""

import pytest
from sqlalchemy import func, select, text

from agentdesk.db.models import Customer, CustomerEmail, PaymentInstrument, TimelineEvent, Transaction
from agentdesk.domain.enums import Role
from agentdesk.domain.errors import Conflict, InvalidInput, PermissionDenied
from agentdesk.domain.validation import AddressInput, ContactInput
from agentdesk.services.customers import records as customers
from agentdesk.services.customers import tags
from agentdesk.services.customers.filters import CustomerQuery, Segment
from agentdesk.services.customers.search import fetch_page
from agentdesk.services.risk import privacy
from agentdesk.services.timeline import audit
from agentdesk.services.timeline import notes as timeline_notes

from ..conftest import customer_input
from .test_refunds import add_card


@pytest.fixture
def twins(store, admin):
    customers.create_customer(store, admin, customer_input(
        external_id="KEEP", addresses=[AddressInput("1 Navy Way", "Arlington", "US")]))
    customers.create_customer(store, admin, customer_input(
        external_id="DUP", first_name="Gracie", job_title="Admiral", emails=[ContactInput("gracie@example.com")],
        phones=[ContactInput("+1 415 555 0199")], addresses=[AddressInput("2 Navy Way", "Arlington", "US")]))
    add_card(store, "DUP", "tok_approve")
    tags.add_tag(store, admin, "DUP", "vip")
    tags.add_tag(store, admin, "KEEP", "vip")
    tags.add_tag(store, admin, "DUP", "navy")
    timeline_notes.add_note(store, admin, "DUP", "old note on the duplicate")
    return store


def counts_by_owner(store) -> dict:
    with store.read() as s:
        out = {}
        for model in (CustomerEmail, PaymentInstrument, TimelineEvent):
            out[model.__name__] = dict(s.execute(
                select(Customer.external_id, func.count()).join(model, model.customer_id == Customer.id)
                .group_by(Customer.external_id)).all())
        return out


def test_merge_moves_everything_and_leaves_a_pointer(twins, admin):
    preview = privacy.merge_preview(twins, admin, "KEEP", ["DUP"])
    assert preview.moves["emails"] == 1 and preview.moves["instruments"] == 1 and preview.moves["tags"] == 2
    assert preview.conflicts["first_name"] == ("Grace", ["Gracie"])
    privacy.merge_customers(twins, admin, "KEEP", ["DUP"])
    kept = customers.get_customer(twins, admin, "KEEP")
    assert {e.value for e in kept.emails} == {"grace@example.com", "g.hopper@navy.example", "gracie@example.com"}
    assert sum(e.primary for e in kept.emails) == 1 and sum(p.primary for p in kept.phones) == 1
    assert len(kept.addresses) == 2 and sum(a.primary for a in kept.addresses) == 1
    assert len(kept.instruments) == 1 and kept.tags == ["navy", "vip"]
    assert kept.first_name == "Grace", "the kept customer's fields win"
    assert "old note on the duplicate" in [e.attributes.get("text") for e in kept.timeline]
    assert kept.timeline[0].type == "merged"
    assert customers.get_customer(twins, admin, "DUP").external_id == "KEEP", "opening the duplicate redirects"
    found = [r.external_id for r in fetch_page(twins, admin, CustomerQuery(Segment.ALL, "gracie")).rows]
    assert found == ["KEEP"]
    assert [r.external_id for r in fetch_page(twins, admin, CustomerQuery(Segment.ALL)).rows] == ["KEEP"]
    assert audit.verify_chains(twins, admin)[1] == [], "every chain still verifies"
    with pytest.raises(Conflict, match="already merged"):
        privacy.merge_customers(twins, admin, "KEEP", ["DUP"])


def test_merge_is_all_or_nothing(twins, admin, monkeypatch):
    before = counts_by_owner(twins)
    calls = {"n": 0}
    real = privacy.record_event

    def failing(session, actor, customer_id, event_type, **kw):
        calls["n"] += 1
        if event_type.value == "merged" and kw.get("merged") and len(kw["merged"]) == 1 and calls["n"] > 1:
            raise RuntimeError("disk full")
        return real(session, actor, customer_id, event_type, **kw)

    monkeypatch.setattr(privacy, "record_event", failing)
    with pytest.raises(RuntimeError):
        privacy.merge_customers(twins, admin, "KEEP", ["DUP"])
    assert counts_by_owner(twins) == before
    with twins.read() as s:
        assert s.execute(select(Customer.merged_into_id).where(Customer.external_id == "DUP")).scalar_one() is None


def test_merge_and_anonymise_are_for_admins(twins, actors):
    for role in (Role.AGENT, Role.SALES, Role.FINANCE):
        with pytest.raises(PermissionDenied):
            privacy.merge_customers(twins, actors[role], "KEEP", ["DUP"])
        with pytest.raises(PermissionDenied):
            privacy.anonymise_customer(twins, actors[role], "DUP", "DUP")
    with pytest.raises(InvalidInput):
        privacy.merge_customers(twins, actors[Role.ADMIN], "KEEP", ["KEEP"])


def test_anonymise_removes_personal_data_and_keeps_money(twins, admin, tmp_path):
    from agentdesk.config import load_settings
    from agentdesk.services.money import payments

    settings = load_settings(twins.url, env={"AGENTDESK_DATA_DIR": str(tmp_path)})
    payments.collect_payment(twins, admin, settings, "DUP", 1_500, "USD", outside=True)
    with pytest.raises(InvalidInput, match="type the customer's id"):
        privacy.anonymise_customer(twins, admin, "DUP", "yes")
    privacy.anonymise_customer(twins, admin, "DUP", "DUP")
    detail = customers.get_customer(twins, admin, "DUP")
    assert (detail.first_name, detail.last_name, detail.job_title) == ("anonymised", "anonymised", None)
    assert detail.emails == [] and detail.phones == [] and detail.addresses == [] and detail.tags == []
    assert detail.timeline[0].type == "customer_anonymised"
    assert detail.payment_count == 1 and detail.lifetime_value == 1_500
    with twins.read() as s:
        assert s.execute(select(func.count()).select_from(Transaction)).scalar_one() == 1
        row = s.execute(select(Customer).where(Customer.external_id == "DUP")).scalar_one()
        card = s.execute(select(PaymentInstrument).where(PaymentInstrument.customer_id == row.id)).scalar_one()
        doc = s.execute(text("SELECT * FROM customer_search")).all()
    assert card.gateway_token is None and card.fingerprint is None
    assert not any("gracie" in str(r) or ("415" in str(r) and "0199" in str(r)) for r in doc)
    assert fetch_page(twins, admin, CustomerQuery(Segment.ALL, "gracie")).rows == []
    with pytest.raises(Conflict, match="already anonymised"):
        privacy.anonymise_customer(twins, admin, "DUP", "DUP")
