"""`agentdesk quotes …` driven through `main()` as an agent's shell would, on both databases."""

import json
from datetime import date, timedelta

import pytest
from sqlalchemy import func, select

from agentdesk.config import load_settings
from agentdesk.db.models import Job, Order, OrderItem, Quote, TimelineEvent
from agentdesk.domain.enums import Role
from agentdesk.services.customers import records as customers
from agentdesk.services.money import instruments

from .conftest import customer_input, run_cli
from .services.test_orders import seed_catalog

EXPIRES = (date.today() + timedelta(days=30)).isoformat()
HOSTILE = '<script>alert("x")</script> & <b>bold</b>'


@pytest.fixture
def shop(store, actors, tmp_path):
    admin = actors[Role.ADMIN]
    seed_catalog(store)
    customers.create_customer(store, admin, customer_input())
    settings = load_settings(store.url, env={"AGENTDESK_DATA_DIR": str(tmp_path / "data")})
    instruments.add_card(store, admin, settings, "C-1", "4242424242424242", "12/30")
    return store


def count(store, model) -> int:
    with store.read() as s:
        return s.execute(select(func.count()).select_from(model)).scalar_one()


def cli(store, capsys, *argv: str) -> tuple[int, str, str]:
    return run_cli(capsys, "--db", store.url, "quotes", *argv)


def test_create_issue_accept_and_show(shop, capsys, login):
    login["name"] = "sam"
    code, out, err = cli(shop, capsys, "create", "C-1", "--plan", "basic-m", "--quantity", "2", "--unit-price",
                         "7.00", "--coupon", "save10", "--expires", EXPIRES, "--accept-by", "payment",
                         "--terms", "Net 30", "--signature", "Grace Hopper", "--json")
    assert code == 0, err
    created = json.loads(out)
    assert (created["number"], created["status"], created["total"], created["accept_by"]) == (
        "QUO-00000001", "draft", 1260, "payment")
    assert created["request"]["items"][0] == {"plan_code": "basic-m", "quantity": 2, "options": {},
                                              "overrides": {"unit_price": 700}}
    assert created["request"]["coupons"] == ["save10"]

    code, out, err = cli(shop, capsys, "issue", "QUO-00000001")
    assert code == 0 and "issued and emailed to grace@example.com" in out, err
    with shop.read() as s:
        assert s.execute(select(Job).where(Job.idempotency_key == "email-quote-1-issued")).scalar_one()

    code, out, err = cli(shop, capsys, "accept", "QUO-00000001", "--json")
    assert code == 0, err
    accepted = json.loads(out)
    assert accepted["status"] == "accepted" and accepted["payment"] == "approved" and accepted["order"]
    code, out, err = cli(shop, capsys, "accept", "QUO-00000001")
    assert code == 0 and "already accepted" in out
    assert count(shop, Order) == 1
    with shop.read() as s:
        item = s.execute(select(OrderItem)).scalar_one()
    assert (item.quantity, item.unit_price) == (2, 700)

    code, out, err = cli(shop, capsys, "list", "C-1")
    assert code == 0 and "QUO-00000001" in out and "accepted" in out and accepted["order"] in out
    code, out, err = cli(shop, capsys, "show", "QUO-00000001")
    assert code == 0 and "Terms: Net 30" in out and "Signature line: Grace Hopper" in out
    assert "2 × 7.00 USD = 14.00 USD, discount 1.40 USD" in out


def test_reject_recall_and_refusals_are_one_line(shop, capsys, login):
    login["name"] = "cara"
    for _ in range(2):
        assert cli(shop, capsys, "create", "C-1", "--plan", "basic-m", "--expires", EXPIRES,
                   "--accept-by", "customer")[0] == 0
    cli(shop, capsys, "issue", "QUO-00000001")
    code, out, err = cli(shop, capsys, "reject", "QUO-00000001", "--reason", "too dear")
    assert code == 0 and "rejected" in out
    code, out, err = cli(shop, capsys, "recall", "QUO-00000002")
    assert code == 0 and "recalled" in out
    code, out, err = cli(shop, capsys, "accept", "QUO-00000002")
    assert code != 0 and "only an issued quote can be accepted" in err and len(err.strip().splitlines()) == 1
    code, out, err = cli(shop, capsys, "create", "C-1", "--plan", "basic-m", "--expires", "2020-01-01",
                         "--accept-by", "customer")
    assert code != 0 and "has passed" in err
    code, out, err = cli(shop, capsys, "create", "C-1", "--plan", "basic-m", "--expires", EXPIRES,
                         "--accept-by", "maybe")
    assert code != 0
    login["name"] = "finn"
    code, out, err = cli(shop, capsys, "create", "C-1", "--plan", "basic-m", "--expires", EXPIRES,
                         "--accept-by", "customer")
    assert code != 0 and count(shop, Quote) == 2
    assert count(shop, Order) == 0
    with shop.read() as s:
        types = [t for t in s.execute(select(TimelineEvent.type).order_by(TimelineEvent.id)).scalars()
                 if t.startswith("quote_")]
    assert types == ["quote_created", "quote_created", "quote_issued", "quote_rejected", "quote_recalled"]


def test_render_html_escapes_what_people_typed(shop, capsys, login, tmp_path):
    login["name"] = "cara"
    code, _, err = cli(shop, capsys, "create", "C-1", "--plan", "basic-m", "--coupon", "FIVE", "--expires", EXPIRES,
                       "--accept-by", "customer", "--terms", HOSTILE, "--signature", "<img src=x onerror=alert(1)>")
    assert code == 0, err
    out_file = tmp_path / "quote.html"
    code, out, err = cli(shop, capsys, "render", "QUO-00000001", "--format", "html", "--out", str(out_file))
    assert code == 0 and "wrote" in out, err
    html = out_file.read_text(encoding="utf-8")
    assert "<script>" not in html and "<img" not in html and "<b>bold" not in html
    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt; &amp; &lt;b&gt;bold&lt;/b&gt;" in html
    assert "&lt;img src=x onerror=alert(1)&gt;" in html
    assert "Quote QUO-00000001" in html and "1 × 8.99 USD" in html and "\N{MINUS SIGN}5.00 USD" in html
    assert "3.99 USD" in html and f"valid until {EXPIRES}" in html


def test_render_pdf(shop, capsys, login, tmp_path):
    pytest.importorskip("weasyprint")
    login["name"] = "cara"
    cli(shop, capsys, "create", "C-1", "--plan", "basic-m", "--expires", EXPIRES, "--accept-by", "customer",
        "--signature", "Grace Hopper")
    out_file = tmp_path / "quote.pdf"
    code, _, err = cli(shop, capsys, "render", "QUO-00000001", "--format", "pdf", "--out", str(out_file))
    assert code == 0, err
    assert out_file.read_bytes().startswith(b"%PDF-")
    code, _, err = cli(shop, capsys, "render", "QUO-00000009", "--format", "html", "--out", str(out_file))
    assert code != 0 and "no quote QUO-00000009" in err
