"""The permission matrix of ARCHITECTURE.md, written out again here by hand so a
change to the policy has to be a change to this table too."""

import pytest

from agentdesk.domain.enums import Role
from agentdesk.domain.errors import NotFound, PermissionDenied
from agentdesk.domain.permissions import POLICY, Action, Actor, require
from agentdesk.services.agents import identity
from agentdesk.services.customers import records as customers

from ..conftest import customer_input

A, G, S, F = Role.ADMIN, Role.AGENT, Role.SALES, Role.FINANCE

EXPECTED = {
    Action.VIEW_CUSTOMERS: {A, G, S, F},
    Action.EDIT_CUSTOMERS: {A, G, S},
    Action.CREATE_ORDERS: {A, G, S},
    Action.CHANGE_SUBSCRIPTIONS: {A, G},
    Action.REFUND: {A, G, F},
    Action.BILLING: {A, G, F},
    Action.PAYOUT: {A, F},
    Action.REQUEST_LINKS: {A, G, S, F},
    Action.BLOCKLIST: {A},
    Action.MERGE_ANONYMIZE: {A},
    Action.EXPORT: {A, F},
    Action.MANAGE_AGENTS: {A},
    Action.MANAGE_POLICY: {A},
    Action.AUDIT_MONEY: {A, F},
    Action.MANAGE_CATALOG: {A},
    Action.ADJUST_COMMISSIONS: {A, F},
}


def actor(role: Role) -> Actor:
    return Actor(agent_id=1, login=f"{role.value}-login", name=role.value, role=role)


def test_every_action_is_in_the_table():
    assert set(POLICY) == set(Action) == set(EXPECTED)


@pytest.mark.parametrize("action", list(Action))
@pytest.mark.parametrize("role", list(Role))
def test_matrix(action, role):
    if role in EXPECTED[action]:
        require(actor(role), action)
    else:
        with pytest.raises(PermissionDenied) as refused:
            require(actor(role), action)
        assert "may not" in str(refused.value) and "this needs" in str(refused.value)


# The guarded service entry points that exist today, each against every role.

@pytest.mark.parametrize("role", list(Role))
def test_create_customer_service_enforces_the_matrix(actors, store, role):
    draft = customer_input(external_id=f"perm-{role.value}")
    if role in EXPECTED[Action.EDIT_CUSTOMERS]:
        assert customers.create_customer(store, actors[role], draft).external_id == f"perm-{role.value}"
    else:
        with pytest.raises(PermissionDenied):
            customers.create_customer(store, actors[role], draft)
        with pytest.raises(NotFound):
            customers.get_customer(store, actors[role], f"perm-{role.value}")


@pytest.mark.parametrize("role", list(Role))
def test_edit_customer_service_enforces_the_matrix(actors, store, role):
    customers.create_customer(store, actors[Role.ADMIN], customer_input())
    if role in EXPECTED[Action.EDIT_CUSTOMERS]:
        customers.edit_customer(store, actors[role], "C-1", {"job_title": f"by {role.value}"})
    else:
        with pytest.raises(PermissionDenied):
            customers.edit_customer(store, actors[role], "C-1", {"job_title": "nope"})
        assert customers.get_customer(store, actors[role], "C-1").job_title is None


@pytest.mark.parametrize("role", list(Role))
def test_add_agent_service_enforces_the_matrix(actors, store, role):
    if role in EXPECTED[Action.MANAGE_AGENTS]:
        identity.add_agent(store, actors[role], "newbie", "agent")
    else:
        with pytest.raises(PermissionDenied):
            identity.add_agent(store, actors[role], "newbie", "agent")
        assert "newbie" not in [a.login for a in identity.list_agents(store, actors[role])]


@pytest.mark.parametrize("role", list(Role))
def test_every_role_can_view(actors, store, role):
    customers.create_customer(store, actors[Role.ADMIN], customer_input())
    assert customers.get_customer(store, actors[role], "C-1").first_name == "Grace"
