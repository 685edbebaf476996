"""`agentdesk customers membership-login|reset-password` through `main()`, on both databases: the login is
set and cleared, and "reset password" queues an emailed password_reset link and says where it goes."""

import json

import pytest
from sqlalchemy import select

from agentdesk.db.models import Customer, Link, TimelineEvent
from agentdesk.domain.enums import Role
from agentdesk.services.customers import records as customers

from .conftest import customer_input, policy, run_cli


@pytest.fixture
def member(store, actors):
    customers.create_customer(store, actors[Role.ADMIN], customer_input())
    return store


def test_set_the_login_then_email_a_reset_link(member, capsys, login):
    store = member
    login["name"] = "cara"
    code, out, err = run_cli(capsys, "--db", store.url, "customers", "membership-login", "C-1")
    assert code != 0 and "LOGIN" in err
    code, out, err = run_cli(capsys, "--db", store.url, "customers", "membership-login", "C-1", "grace.h")
    assert code == 0 and "grace.h" in out, err
    code, out, err = run_cli(capsys, "--db", store.url, "customers", "reset-password", "C-1")
    assert code != 0 and "portal_base_url" in err
    policy(store, {"portal_base_url": "https://portal.example"})
    code, out, err = run_cli(capsys, "--db", store.url, "customers", "reset-password", "C-1", "--json")
    assert code == 0, err
    assert json.loads(out)["message"] == "reset link queued for grace@example.com"
    with store.read() as s:
        link = s.execute(select(Link)).scalar_one()
        types = list(s.execute(select(TimelineEvent.type).order_by(TimelineEvent.id)).scalars())
    assert (link.kind, link.email_to, link.options["login"]) == ("password_reset", "grace@example.com", "grace.h")
    assert types[-2:] == ["link_requested", "password_reset_requested"]
    code, out, err = run_cli(capsys, "--db", store.url, "customers", "membership-login", "C-1", "--clear")
    assert code == 0 and "none" in out, err
    with store.read() as s:
        assert s.execute(select(Customer.membership_login)).scalar_one() is None
    code, out, err = run_cli(capsys, "--db", store.url, "customers", "reset-password", "C-1")
    assert code != 0 and "no membership login" in err and len(err.strip().splitlines()) == 1
