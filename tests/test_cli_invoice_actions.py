"""`agentdesk invoices void|mark-paid|write-off|apply-credit` through `main()`, with `--preview` and `--json`,
on SQLite and PostgreSQL."""

from __future__ import annotations

import json

import pytest

from agentdesk.config import load_settings
from agentdesk.db.models import CreditMemo, Invoice, Transaction
from agentdesk.domain.enums import InvoiceStatus, Role
from agentdesk.services.money import payments

from .conftest import policy, run_cli
from .services.billing_helpers import add_customer, add_order, add_plan, events_of, invoice_row, issue, rows


@pytest.fixture
def settings(store, tmp_path):
    return load_settings(store.url, env={"AGENTDESK_DATA_DIR": str(tmp_path / "data")})


@pytest.fixture
def cli(store, actors, capsys, login):
    def run(*args: str, who: str = "ada") -> tuple[int, str, str]:
        login["name"] = who
        return run_cli(capsys, "--db", store.url, *args)
    return run


@pytest.fixture
def customer(store, actors, settings) -> int:
    add_plan(store, "BASIC", 2_500)
    return add_customer(store, actors[Role.ADMIN], settings)


def open_invoice(store, admin, customer_id: int) -> Invoice:
    invoice = issue(store, admin, add_order(store, customer_id, [("BASIC", 1, 2_500)], autopay=False))
    assert invoice is not None
    return invoice


def test_void_with_preview_then_for_real(store, actors, customer, cli):
    admin = actors[Role.ADMIN]
    memo = payments.create_credit_memo(store, admin, "C-1", 500, "USD", "goodwill").id
    invoice = open_invoice(store, admin, customer)
    code, out, err = cli("invoices", "void", invoice.number.lower(), "--preview")
    assert code == 0, err
    assert f"Void invoice {invoice.number} (20.00 USD unpaid)" in out and "5.00 USD of credit" in out
    assert "nothing was changed" in out and invoice_row(store, invoice.id).status is InvoiceStatus.ISSUED
    code, out, err = cli("invoices", "void", invoice.number, "--reason", "duplicate", "--json")
    assert code == 0, err
    done = json.loads(out)
    assert (done["status"], done["amount"], done["credit_returned"]) == ("void", 2_000, 500)
    assert rows(store, CreditMemo, CreditMemo.id == memo)[0].remaining == 500
    assert events_of(store, customer, "invoice_voided")[0]["reason"] == "duplicate"
    code, out, err = cli("invoices", "show", invoice.number)
    assert code == 0 and "void" in out.splitlines()[0] and "credit returned 5.00 USD" in out, err
    code, _, err = cli("invoices", "void", invoice.number)
    assert code != 0 and "is void" in err and len(err.strip().splitlines()) == 1


def test_mark_paid_needs_a_reference_and_happens_once(store, actors, customer, cli):
    invoice = open_invoice(store, actors[Role.ADMIN], customer)
    code, _, err = cli("invoices", "mark-paid", invoice.number)
    assert code != 0 and "--reference" in err
    code, out, err = cli("invoices", "mark-paid", invoice.number, "--reference", "WIRE-9", "--preview", "--json")
    assert code == 0, err
    assert json.loads(out)["new_status"] == "paid" and rows(store, Transaction) == []
    code, out, err = cli("invoices", "mark-paid", invoice.number, "--reference", "WIRE-9", who="finn")
    assert code == 0, err
    [txn] = rows(store, Transaction)
    assert out == (f"Invoice {invoice.number} marked paid: 25.00 USD paid outside (reference WIRE-9, "
                   f"transaction {txn.id})\n")
    assert (txn.gateway, txn.gateway_ref, txn.status) == ("outside", "WIRE-9", "approved")
    code, _, err = cli("invoices", "mark-paid", invoice.number, "--reference", "WIRE-9")
    assert code != 0 and "cannot be marked paid twice" in err
    assert len(rows(store, Transaction)) == 1


def test_write_off_and_the_agents_limit(store, actors, customer, cli):
    policy(store, {"refund_limit.agent.USD": "10.00"})
    invoice = open_invoice(store, actors[Role.ADMIN], customer)
    code, _, err = cli("invoices", "write-off", invoice.number, who="cara")
    assert code != 0 and "beyond the agent limit" in err
    code, _, err = cli("invoices", "write-off", invoice.number, who="sam")
    assert code != 0 and "may not" in err
    assert invoice_row(store, invoice.id).status is InvoiceStatus.ISSUED
    code, out, err = cli("invoices", "write-off", invoice.number, "--reason", "bankrupt", who="finn")
    assert code == 0 and out == f"Invoice {invoice.number} written off: 25.00 USD uncollectible\n", err
    assert invoice_row(store, invoice.id).status is InvoiceStatus.UNCOLLECTIBLE
    code, _, err = cli("invoices", "write-off", invoice.number)
    assert code != 0 and "is uncollectible" in err


def test_apply_credit(store, actors, customer, cli):
    invoice = open_invoice(store, actors[Role.ADMIN], customer)
    code, _, err = cli("invoices", "apply-credit", invoice.number)
    assert code != 0 and "no credit in USD" in err
    payments.create_credit_memo(store, actors[Role.ADMIN], "C-1", 4_000, "USD", "goodwill")
    code, out, err = cli("invoices", "apply-credit", invoice.number, "--preview")
    assert code == 0 and "Apply 25.00 USD of the customer's credit (40.00 USD available)" in out, err
    code, out, err = cli("invoices", "apply-credit", invoice.number, "--json", who="cara")
    assert code == 0, err
    assert json.loads(out)["status"] == "paid" and invoice_row(store, invoice.id).total == 0
    assert sum(m.remaining for m in rows(store, CreditMemo)) == 1_500
