"""`agentdesk audit money` and the worker's start-up report, driven through `main()` (issue 10, findings 1 and 7)."""

import json

from sqlalchemy import create_engine, select, text

from agentdesk.config import load_settings
from agentdesk.db.models import Customer
from agentdesk.domain.enums import Role
from agentdesk.services.customers import records as customers
from agentdesk.services.money import refunds
from agentdesk.services.money.gateways import gateway_for

from .conftest import add_roles, add_website, customer_input, make_store, run_cli
from .services.test_refunds import sale


def test_audit_money_on_a_demo_store_names_each_mismatch(sqlite_url, capsys, login):
    code, _, err = run_cli(capsys, "--db", sqlite_url, "demo", "--customers", "120", "--seed", "4")
    assert code == 0, err
    code, out, err = run_cli(capsys, "--db", sqlite_url, "audit", "money")
    assert code == 0, err
    assert out == "ok: 120 customers checked, every money aggregate equals its rows\n"
    code, out, _ = run_cli(capsys, "--db", sqlite_url, "audit", "money", "CUS-0000017", "--json")
    assert code == 0 and json.loads(out) == {"customers": 1, "ok": True, "mismatches": []}

    engine = create_engine(sqlite_url)
    with engine.begin() as connection:
        ltv = connection.execute(select(Customer.lifetime_value).where(Customer.external_id == "CUS-0000017")).scalar()
        connection.execute(text("UPDATE customer SET lifetime_value = lifetime_value + 1, payment_count = 99 "
                                "WHERE external_id = 'CUS-0000017'"))
    engine.dispose()
    code, out, err = run_cli(capsys, "--db", sqlite_url, "audit", "money")
    assert code == 1
    lines = out.splitlines()
    assert len(lines) == 2 and lines[0].startswith("MISMATCH customer CUS-0000017: payment_count: stored 99, its ")
    assert lines[1] == f"MISMATCH customer CUS-0000017: lifetime_value: stored {ltv + 1}, its rows say {ltv}"
    assert err == "2 mismatch(es) among 120 customers\n"
    code, out, _ = run_cli(capsys, "--db", sqlite_url, "audit", "money", "CUS-0000017", "--json")
    found = json.loads(out)
    assert code == 1 and found["customers"] == 1 and not found["ok"]
    assert found["mismatches"][1] == {"customer": "CUS-0000017", "field": "lifetime_value", "stored": ltv + 1,
                                      "computed": ltv}
    assert run_cli(capsys, "--db", sqlite_url, "audit", "money", "CUS-0000018")[0] == 0
    code, out, err = run_cli(capsys, "--db", sqlite_url, "--as", "sara", "audit", "money")
    assert code == 1 and out == "" and "may not audit money aggregates; this needs admin or finance" in err


def test_worker_says_a_refund_whose_resend_timed_out_is_still_pending(sqlite_url, capsys, login, tmp_path):
    store = make_store(sqlite_url)
    add_website(store)
    admin = add_roles(store)[Role.ADMIN]
    settings = load_settings(sqlite_url, env={"AGENTDESK_DATA_DIR": str(tmp_path / "data")})
    customers.create_customer(store, admin, customer_input())
    sid = sale(store, admin, settings)
    timeout_card = gateway_for(store, "sandbox", settings).tokenize("4000 0000 0000 0119")
    with store.write(unrecorded="test fixture") as s:  # the processor answers as for the 0119 card from now on
        s.execute(text("UPDATE sandbox_operation SET token = :t"), {"t": timeout_card})
    refunds._start(store, admin, settings, sid, 1_500, None, None)  # cut off before the gateway heard of it
    store.dispose()

    code, out, err = run_cli(capsys, "--db", sqlite_url, "worker", "--once")
    assert code == 0, err
    assert out.splitlines()[0] == ("start-up: 0 interrupted refund(s) finished, 1 still pending (the gateway has not "
                                   "confirmed them yet; they are sent again with the same key, never paid twice); "
                                   "0 transactions settled")
    code, out, _ = run_cli(capsys, "--db", sqlite_url, "worker", "--once")
    assert code == 0 and out.splitlines()[0] == "start-up: 1 interrupted refund(s) finished; 0 transactions settled"
    store = make_store(sqlite_url)
    with store.read() as s:
        assert s.execute(select(Customer.lifetime_value)).scalar_one() == 10_000 - 1_500
    store.dispose()
