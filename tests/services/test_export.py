import csv
import threading

import pytest
from sqlalchemy import text

from agentdesk.db.models import TaxId
from agentdesk.demo import builder as demo
from agentdesk.domain.enums import Role
from agentdesk.domain.errors import InvalidInput, PermissionDenied
from agentdesk.services.agents import identity
from agentdesk.services.customers import records as customers
from agentdesk.services.customers.export import CONTACTS_HEADER, export_customers, neutralise
from agentdesk.services.customers.filters import CustomerQuery, Segment, parse_filters

from ..conftest import customer_input


def read_csv(path):
    with open(path, newline="", encoding="utf-8") as fh:
        return list(csv.reader(fh))


@pytest.mark.parametrize(
    "value, safe",
    [
        ("=1+1", "'=1+1"),
        ("+44 20", "'+44 20"),
        ("-5", "'-5"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("\tx", "'\tx"),
        ("\rx", "'\rx"),
        ("Ada", "Ada"),
        ("", ""),
    ],
)
def test_neutralise(value, safe):
    assert neutralise(value) == safe


def test_export_with_preset_columns_neutralises_formulas(store, admin, tmp_path):
    customers.create_customer(
        store, admin, customer_input(first_name='=HYPERLINK("x")', last_name="Evil", organization="@corp")
    )
    with store.write(unrecorded="test fixture") as s:
        cid = s.execute(text("SELECT id FROM customer WHERE external_id = 'C-1'")).scalar_one()
        s.add(TaxId(customer_id=cid, type="vat", value="GB123456789", is_default=True))
        s.add(TaxId(customer_id=cid, type="ein", value="12-3456789"))
    out = tmp_path / "all.csv"
    result = export_customers(store, admin, CustomerQuery(Segment.ALL), out)
    rows = read_csv(out)
    assert result.rows == 1 and result.path == out and not result.cancelled
    assert rows[0] == CONTACTS_HEADER
    record = dict(zip(rows[0], rows[1], strict=True))
    assert record["Name"] == '\'=HYPERLINK("x") Evil'
    assert record["Company"] == "'@corp"
    assert record["Email"] == "grace@example.com"
    assert record["Phone"] == "+44 20 7946 0958"
    assert record["VAT Number"] == "GB123456789" and record["Tax ID"] == "12-3456789"
    assert record["Lifetime Value"] == "0.00" and record["Currency"] == "USD"


def test_export_follows_segment_filters_search_and_columns(tmp_path, sqlite_store):
    demo.build_demo(sqlite_store, 1200, seed=9, login="op")
    op = identity.resolve_actor(sqlite_store, "op")
    query = CustomerQuery(Segment.CUSTOMERS, "", parse_filters({"country": "GB"}))
    out = tmp_path / "gb.csv"
    result = export_customers(sqlite_store, op, query, out, columns=["id", "country", "payments"])
    rows = read_csv(out)
    assert rows[0] == ["ID", "Ctry", "Pay"]
    assert result.rows == len(rows) - 1 > 50
    assert {r[1] for r in rows[1:]} == {"GB"}
    with sqlite_store.read() as s:
        expected = set(
            s.execute(
                text(
                    "SELECT external_id FROM customer c WHERE payment_count >= 1 AND EXISTS "
                    "(SELECT 1 FROM address a WHERE a.customer_id = c.id AND a.country = 'GB')"
                )
            ).scalars()
        )
    assert {r[0] for r in rows[1:]} == expected
    searched = export_customers(sqlite_store, op, CustomerQuery(Segment.ALL, "CUS-000001"), tmp_path / "s.csv", ["id"])
    assert sorted(r[0] for r in read_csv(tmp_path / "s.csv")[1:]) == [f"CUS-000001{n}" for n in range(10)]
    assert searched.rows == 10
    everyone = export_customers(sqlite_store, op, CustomerQuery(Segment.CUSTOMERS), tmp_path / "c.csv", ["id"])
    ids = [r[0] for r in read_csv(tmp_path / "c.csv")[1:]]
    assert everyone.rows == len(ids) == len(set(ids)) > 500


def test_export_is_for_admin_and_finance_only(store, actors, tmp_path):
    for role in (Role.AGENT, Role.SALES):
        with pytest.raises(PermissionDenied):
            export_customers(store, actors[role], CustomerQuery(), tmp_path / f"{role.value}.csv")
        assert not (tmp_path / f"{role.value}.csv").exists()
    export_customers(store, actors[Role.FINANCE], CustomerQuery(), tmp_path / "finance.csv")
    assert read_csv(tmp_path / "finance.csv") == [CONTACTS_HEADER]


def test_cancelled_export_leaves_no_file(sqlite_store, tmp_path):
    demo.build_demo(sqlite_store, 1500, seed=3, login="op")
    op = identity.resolve_actor(sqlite_store, "op")
    cancel = threading.Event()
    seen = []

    def progress(done, total):
        seen.append((done, total))
        cancel.set()

    out_dir = tmp_path / "out"
    out_dir.mkdir()
    result = export_customers(
        sqlite_store, op, CustomerQuery(Segment.ALL), out_dir / "x.csv", progress=progress, cancel=cancel
    )
    assert result.cancelled and result.path is None and result.rows == 500
    assert list(out_dir.iterdir()) == []
    assert seen == [(500, 1500)]


def test_bad_destination(store, admin, tmp_path):
    with pytest.raises(InvalidInput, match="does not exist"):
        export_customers(store, admin, CustomerQuery(), tmp_path / "missing" / "x.csv")
    with pytest.raises(InvalidInput, match="folder"):
        export_customers(store, admin, CustomerQuery(), tmp_path)


def test_cells_written_for_a_spreadsheet():
    from agentdesk.services.customers.export import amount_cell, neutralise, phone_cell

    assert amount_cell(123456, "USD") == "1234.56" and amount_cell(2500, "JPY") == "2500"
    assert amount_cell(-1230, "EUR") == "-12.30"
    assert phone_cell("+442079460958") == "+44 20 7946 0958"
    assert phone_cell("+1 (555) =cmd") == "'+1 (555) =cmd"
    assert phone_cell("=1+2") == "'=1+2"
    assert neutralise("a=b") == "a=b" and neutralise("x-1") == "x-1" and neutralise("-1") == "'-1"
    assert neutralise("@x") == "'@x" and neutralise("\tx") == "'\tx"


def test_existing_file_is_kept_unless_overwrite(store, admin, tmp_path):
    (tmp_path / "out").mkdir()
    out = tmp_path / "out" / "x.csv"
    out.write_text("mine")
    with pytest.raises(InvalidInput, match="already exists"):
        export_customers(store, admin, CustomerQuery(), out)
    assert out.read_text() == "mine" and [p.name for p in out.parent.iterdir()] == ["x.csv"]
    export_customers(store, admin, CustomerQuery(), out, overwrite=True)
    assert out.read_text().startswith("Name,")
