"""A membership password set on a password_reset link: the rules (length, both entries, not the login),
only a scrypt hash kept (never the password), PASSWORD_CHANGED by "customer", the link single use; and the
agent's "reset password" queueing that link with its email — on SQLite and PostgreSQL."""

from __future__ import annotations

import hashlib
import logging

import pytest
from sqlalchemy import select

from agentdesk.config import load_settings
from agentdesk.db.models import Customer, Job, Link, TimelineEvent
from agentdesk.domain.enums import JobKind, LinkKind, Role
from agentdesk.domain.errors import Conflict, InvalidInput
from agentdesk.services.customers import records as customers
from agentdesk.services.links.access import LinkUnavailable, LinkUsed
from agentdesk.services.links.customer_password import reset_password, verify_password
from agentdesk.services.orders import entitlements

from ..conftest import customer_input, policy
from ..support.links import link_row, ready_link

PASSWORD = "correct horse battery"


@pytest.fixture
def settings(store, tmp_path):
    return load_settings(store.url, env={"AGENTDESK_DATA_DIR": str(tmp_path / "data")})


@pytest.fixture
def member(store, admin) -> int:
    """Customer C-1 with the membership login "grace.h"."""
    customer = customers.create_customer(store, admin, customer_input())
    entitlements.set_membership_login(store, admin, "C-1", "grace.h")
    return customer.id


def reset_link(store, customer_id: int, hours: float = 24) -> str:
    return ready_link(store, customer_id, LinkKind.PASSWORD_RESET, {"login": "grace.h", "redirect_url": None}, hours)


def stored_hash(store) -> str | None:
    with store.read() as s:
        return s.execute(select(Customer.membership_password_hash)).scalar_one()


def test_a_new_password_is_kept_as_a_scrypt_hash_and_the_link_is_single_use(store, member, caplog):
    token = reset_link(store, member)
    caplog.set_level(logging.DEBUG)
    assert reset_password(store, token, PASSWORD, PASSWORD) is None
    kept = stored_hash(store)
    assert kept is not None and PASSWORD not in kept and PASSWORD.encode().hex() not in kept
    scheme, n, r, p, salt, digest = kept.split("$")
    assert (scheme, n, r, p, len(bytes.fromhex(salt))) == ("scrypt", "16384", "8", "1", 16)
    made = hashlib.scrypt(PASSWORD.encode(), salt=bytes.fromhex(salt), n=2**14, r=8, p=1)
    assert made.hex() == digest and verify_password(PASSWORD, kept) and not verify_password("wrong password!", kept)

    with store.read() as s:
        changed = s.execute(select(TimelineEvent).where(TimelineEvent.type == "password_changed")).scalar_one()
        everything = " ".join(str(e.attributes) for e in s.execute(select(TimelineEvent)).scalars())
        jobs = " ".join(str(j.payload) for j in s.execute(select(Job)).scalars())
    assert changed.actor_label == "customer" and changed.attributes == {"login": "grace.h",
                                                                        "link": link_row(store, token).id}
    assert PASSWORD not in everything and PASSWORD not in jobs and PASSWORD not in caplog.text
    link = link_row(store, token)
    assert (link.status, link.uses, link.result) == ("completed", 1, {"login": "grace.h"})

    with pytest.raises(LinkUsed):
        reset_password(store, token, "another long password", "another long password")
    assert stored_hash(store) == kept

    second = reset_link(store, member)
    reset_password(store, second, "another long password", "another long password")
    again = stored_hash(store)
    assert again != kept and verify_password("another long password", again or "")


@pytest.mark.parametrize(("password", "repeat", "field", "words"), [
    ("short one", "short one", "password", "at least 10 characters"),
    ("x" * 129, "x" * 129, "password", "at most 128 characters"),
    ("long enough pass", "long enough pasS", "repeat", "the two entries differ"),
    ("Grace.H", "Grace.H", "password", "at least 10 characters"),
    ("grace.h.member", "grace.h.member", None, None),
])
def test_the_rules_are_refused_in_words_and_change_nothing(store, member, password, repeat, field, words):
    token = reset_link(store, member)
    if field is None:
        reset_password(store, token, password, repeat)
        assert verify_password(password, stored_hash(store) or "")
        return
    with pytest.raises(InvalidInput) as caught:
        reset_password(store, token, password, repeat)
    assert words in caught.value.fields[field] and password not in str(caught.value)
    assert stored_hash(store) is None and link_row(store, token).uses == 0


def test_the_login_itself_is_refused(store, admin, member):
    entitlements.set_membership_login(store, admin, "C-1", "grace.hopper.1906")
    token = reset_link(store, member)
    with pytest.raises(InvalidInput) as caught:
        reset_password(store, token, "Grace.Hopper.1906", "Grace.Hopper.1906")
    assert caught.value.fields == {"password": "must not be your login name"}
    assert stored_hash(store) is None


def test_only_password_reset_links_and_live_ones(store, admin, member):
    portal = ready_link(store, member, LinkKind.PORTAL, {"redirect_url": None})
    with pytest.raises(LinkUnavailable):
        reset_password(store, portal, PASSWORD, PASSWORD)
    expired = reset_link(store, member, hours=-1)
    with pytest.raises(LinkUnavailable):
        reset_password(store, expired, PASSWORD, PASSWORD)
    token = reset_link(store, member)
    entitlements.set_membership_login(store, admin, "C-1", "")
    with pytest.raises(Conflict, match="no login"):
        reset_password(store, token, PASSWORD, PASSWORD)
    assert stored_hash(store) is None


def test_the_agent_queues_the_reset_link_with_its_email(store, actors, settings, member):
    agent = actors[Role.AGENT]
    policy(store, {"portal_base_url": "https://portal.example"})
    reset = entitlements.request_password_reset(store, agent, settings, "C-1")
    assert reset.message == "reset link queued for grace@example.com"
    with store.read() as s:
        (link,) = s.execute(select(Link)).scalars()
        types = [e.type for e in s.execute(select(TimelineEvent).order_by(TimelineEvent.id)).scalars()]
        job = s.execute(select(Job).where(Job.kind == JobKind.LINK_GENERATE)).scalar_one()
    assert (link.kind, link.email_to, link.options["login"], link.agent_label) == (
        "password_reset", "grace@example.com", "grace.h", agent.login)
    assert job.payload == {"link_id": link.id}
    assert types[-2:] == ["link_requested", "password_reset_requested"]
