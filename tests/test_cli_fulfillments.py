"""`agentdesk fulfillments list|ship|deliver|reship|cancel|import` and `agentdesk orders cancel|resend-welcome|
entitlements`, driven through `main()` as an agent's shell would, on both databases."""

import json

import pytest
from sqlalchemy import select

from agentdesk.config import load_settings
from agentdesk.db.models import Fulfillment, Invoice, Job, Order, Product, TimelineEvent
from agentdesk.domain.enums import Role

from .conftest import run_cli
from .services.test_fulfillments import buy, fulfil, open_shop


@pytest.fixture
def shop(store, actors, tmp_path):
    settings = load_settings(store.url, env={"AGENTDESK_DATA_DIR": str(tmp_path / "data")})
    open_shop(store, actors[Role.ADMIN], settings)
    with store.write() as s:
        for product in s.execute(select(Product)).scalars():
            product.entitlements = ["hd-streaming"] if product.sku == "STREAM" else []
    return store, settings


def types(store) -> list[str]:
    with store.read() as s:
        return list(s.execute(select(TimelineEvent.type).order_by(TimelineEvent.id)).scalars())


def a_fulfillment(store, actors, settings) -> tuple[str, int]:
    number, invoice_id = buy(store, actors[Role.ADMIN], settings)
    return number, fulfil(store, invoice_id).id


def test_ship_deliver_reship_cancel(shop, actors, capsys, login, tmp_path):
    store, settings = shop
    number, fid = a_fulfillment(store, actors, settings)
    login["name"] = "cara"
    code, out, err = run_cli(capsys, "--db", store.url, "fulfillments", "list", "C-1")
    assert code == 0 and number in out and "pending" in out and "2 × Band (size M)" in out, err
    code, out, err = run_cli(capsys, "--db", store.url, "fulfillments", "ship", str(fid), "--carrier", "UPS")
    assert code != 0 and "--tracking" in err
    code, out, err = run_cli(capsys, "--db", store.url, "fulfillments", "ship", str(fid), "--carrier", "UPS",
                             "--tracking", "1Z999", "--json")
    assert code == 0, err
    data = json.loads(out)
    assert (data["status"], data["carrier"], data["tracking_number"]) == ("shipped", "UPS", "1Z999")
    code, out, err = run_cli(capsys, "--db", store.url, "fulfillments", "deliver", str(fid))
    assert code == 0 and "delivered" in out, err
    code, out, err = run_cli(capsys, "--db", store.url, "fulfillments", "reship", str(fid), "--reason",
                             "box arrived empty", "--charge", "4.50")
    assert code == 0, err
    assert "Reason: box arrived empty" in out and "4.50 USD" in out
    with store.read() as s:
        new = s.execute(select(Fulfillment).order_by(Fulfillment.id.desc())).scalars().first()
        assert (new.reship_of_id, new.status) == (fid, "pending")
        assert s.execute(select(Invoice.total).where(Invoice.billing_key.like("charge-%"))).scalar_one() == 450
    code, out, err = run_cli(capsys, "--db", store.url, "fulfillments", "cancel", str(new.id), "--reason",
                             "sent by courier instead")
    assert code == 0 and "cancelled" in out, err
    code, out, err = run_cli(capsys, "--db", store.url, "fulfillments", "cancel", str(fid), "--reason", "x")
    assert code != 0 and "only a pending one" in err
    code, out, err = run_cli(capsys, "--db", store.url, "fulfillments", "list", "--order", number, "--json")
    assert [f["status"] for f in json.loads(out)] == ["cancelled", "delivered"]
    assert {"fulfillment_updated", "fulfillment_reshipped", "fulfillment_cancelled", "manual_charge"} <= set(
        types(store))
    login["name"] = "sam"
    code, out, err = run_cli(capsys, "--db", store.url, "fulfillments", "reship", str(fid), "--reason", "x")
    assert code != 0 and "may not change subscriptions" in err


def test_import_refuses_a_bad_file_whole(shop, actors, capsys, login, tmp_path):
    store, settings = shop
    number, fid = a_fulfillment(store, actors, settings)
    login["name"] = "cara"
    bad = tmp_path / "bad.csv"
    bad.write_text(f"order,carrier,tracking_number,status\n{number},UPS,,shipped\n")
    code, out, err = run_cli(capsys, "--db", store.url, "fulfillments", "import", str(bad))
    assert code != 0 and "line 2: tracking_number" in err and "nothing changed" in err
    good = tmp_path / "good.csv"
    good.write_text(f"fulfillment,carrier,tracking_number,status\n{fid},DHL,JD01,shipped\n")
    code, out, err = run_cli(capsys, "--db", store.url, "fulfillments", "import", str(good))
    assert code == 0 and "1 rows: 1 updated, 0 unchanged" in out, err
    code, out, err = run_cli(capsys, "--db", store.url, "fulfillments", "import", str(good), "--json")
    assert json.loads(out) == {"rows": 1, "updated": 0, "unchanged": 1}
    with store.read() as s:
        assert s.execute(select(Fulfillment.tracking_number)).scalar_one() == "JD01"


def test_orders_cancel_resend_welcome_entitlements(shop, capsys, login):
    store, _ = shop
    login["name"] = "sam"
    code, out, err = run_cli(capsys, "--db", store.url, "orders", "create", "C-1", "--plan", "basic-m",
                             "--no-autopay", "--json")
    assert code == 0, err
    pending = json.loads(out)["order"]
    code, out, err = run_cli(capsys, "--db", store.url, "orders", "create", "C-1", "--plan", "basic-m", "--json")
    active = json.loads(out)["order"]
    code, out, err = run_cli(capsys, "--db", store.url, "orders", "cancel", pending, "--reason", "duplicate")
    assert code == 0 and "cancelled" in out and "voided" in out, err
    code, out, err = run_cli(capsys, "--db", store.url, "orders", "cancel", active)
    assert code != 0 and "subscription" in err
    code, out, err = run_cli(capsys, "--db", store.url, "orders", "resend-welcome", active)
    assert code == 0 and "grace@example.com" in out, err
    with store.read() as s:
        order_id = s.execute(select(Order.id).where(Order.number == active)).scalar_one()
        keys = list(s.execute(select(Job.idempotency_key).where(Job.idempotency_key.like(f"email-welcome-{order_id}%")
                                                                )).scalars())
        assert s.execute(select(Order.status).where(Order.number == pending)).scalar_one() == "cancelled"
    assert len(keys) == 2
    code, out, err = run_cli(capsys, "--db", store.url, "orders", "entitlements", active, "--json")
    assert code == 0 and json.loads(out)["entitlements"][0]["access"] == ["hd-streaming"], err
    code, out, err = run_cli(capsys, "--db", store.url, "orders", "entitlements", active, "--refresh")
    assert code != 0 and "may not change subscriptions" in err
    login["name"] = "cara"
    code, out, err = run_cli(capsys, "--db", store.url, "orders", "entitlements", active, "--refresh")
    assert code == 0 and "refreshed" in out and "hd-streaming" in out, err
    assert "entitlements_refreshed" in types(store) and "order_cancelled" in types(store)
