import pytest
from sqlalchemy import select

from agentdesk.config import load_settings
from agentdesk.db.models import PaymentInstrument
from agentdesk.domain.enums import Role
from agentdesk.domain.errors import Conflict, InvalidInput, PermissionDenied
from agentdesk.services.customers import records as customers
from agentdesk.services.customers.filters import CustomerQuery, Segment
from agentdesk.services.customers.search import fetch_page
from agentdesk.services.money import instruments

from ..conftest import customer_input


@pytest.fixture
def settings(store, tmp_path):
    return load_settings(store.url, env={"AGENTDESK_DATA_DIR": str(tmp_path)})


def rows(store):
    with store.read() as s:
        return {i.last4: i for i in s.execute(select(PaymentInstrument)).scalars()}


def test_primary_backup_expiry_and_deactivate(store, actors, settings):
    agent = actors[Role.AGENT]
    customers.create_customer(store, agent, customer_input())
    first = instruments.add_card(store, agent, settings, "C-1", "4242 4242 4242 4242", "12/30")
    second = instruments.add_card(store, agent, settings, "C-1", "5555 5555 5555 4444", "01/31", allow_backup=True)
    r = rows(store)
    assert r["4242"].is_primary and not r["4444"].is_primary and r["4444"].brand == "Mastercard"
    assert [x.external_id for x in fetch_page(store, agent, CustomerQuery(Segment.ALL, "4444")).rows] == ["C-1"]
    instruments.set_primary(store, agent, second)
    r = rows(store)
    assert r["4444"].is_primary and not r["4242"].is_primary
    instruments.set_backup(store, agent, first, True)
    instruments.update_expiry(store, agent, first, "03/33")
    assert (rows(store)["4242"].exp_month, rows(store)["4242"].exp_year, rows(store)["4242"].allow_backup) == (
        3,
        2033,
        True,
    )
    with pytest.raises(InvalidInput):
        instruments.update_expiry(store, agent, first, "3-33")
    instruments.deactivate(store, agent, second)
    r = rows(store)
    assert r["4444"].status == "inactive" and not r["4444"].is_primary and r["4242"].is_primary
    with pytest.raises(Conflict):
        instruments.set_primary(store, agent, second)
    with pytest.raises(InvalidInput, match="typo"):
        instruments.add_card(store, agent, settings, "C-1", "4242 4242 4242 4241", "12/30")
    with pytest.raises(PermissionDenied):
        instruments.set_primary(store, actors[Role.FINANCE], first)
    types = [e.type for e in customers.get_customer(store, agent, "C-1").timeline]
    assert types.count("new_payment_method") == 2 and "payment_method_changed" in types and "customer_edited" in types


def test_other_methods_sticky_gateway_and_billing_address(store, actors, settings):
    agent = actors[Role.AGENT]
    customers.create_customer(store, agent, customer_input())
    bank = instruments.add_other_method(store, agent, "C-1", "bank_account", "6789")
    with pytest.raises(InvalidInput, match="last four"):
        instruments.add_other_method(store, agent, "C-1", "bank_account", "DE89370400440532013000")
    with pytest.raises(InvalidInput):
        instruments.add_other_method(store, agent, "C-1", "cheque")
    card = instruments.add_card(store, agent, settings, "C-1", "4242 4242 4242 4242", "12/30")
    instruments.set_sticky_gateway(store, agent, card, "stripe")
    with pytest.raises(InvalidInput):
        instruments.set_sticky_gateway(store, agent, card, "paypal")
    instruments.set_billing_address(store, agent, card, "1 Card St", "Leeds", "gb", "LS1 4AP")
    with pytest.raises(InvalidInput) as refused:
        instruments.set_billing_address(store, agent, card, "1 Card St", "Leeds", "Narnia")
    assert "country" in refused.value.fields
    detail = customers.get_customer(store, agent, "C-1")
    by_id = {i.id: i for i in detail.instruments}
    assert (
        by_id[bank].method == "bank_account" and by_id[bank].primary and by_id[bank].label == "bank account •••• 6789"
    )
    assert by_id[card].sticky_gateway == "stripe" and by_id[card].billing_address["country"] == "GB"
