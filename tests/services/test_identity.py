import pytest

from agentdesk.demo import builder as demo
from agentdesk.domain.enums import Role
from agentdesk.domain.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from agentdesk.services.agents import identity


def test_unknown_login_is_refused_with_how_to_fix(store, actors):
    with pytest.raises(PermissionDenied) as refused:
        identity.resolve_actor(store, "mallory")
    assert "agentdesk agents add mallory" in str(refused.value)


def test_known_login_gets_its_role(store, actors):
    assert identity.resolve_actor(store, "finn").role is Role.FINANCE


def test_as_is_refused_outside_a_demo_store(store, actors):
    with pytest.raises(PermissionDenied, match="demo"):
        identity.resolve_actor(store, "ada", as_login="cara")


def test_bootstrap_adds_only_a_first_admin(store):
    with pytest.raises(InvalidInput, match="first agent"):
        identity.add_agent(store, None, "someone", "agent")
    identity.add_agent(store, None, "boss", "admin")
    with pytest.raises(PermissionDenied, match="already has agents"):
        identity.add_agent(store, None, "sneaky", "admin")


def test_add_agent_validates(store, actors):
    admin = actors[Role.ADMIN]
    with pytest.raises(InvalidInput, match="not a role"):
        identity.add_agent(store, admin, "x", "superuser")
    with pytest.raises(InvalidInput, match="login"):
        identity.add_agent(store, admin, "bad login", "agent")
    with pytest.raises(Conflict):
        identity.add_agent(store, admin, "cara", "agent")


def test_demo_store_maps_the_login_to_admin_and_allows_as(sqlite_store):
    demo.build_demo(sqlite_store, 20, seed=3, login="operator")
    assert identity.resolve_actor(sqlite_store, "operator").role is Role.ADMIN
    assert identity.resolve_actor(sqlite_store, "somebody-else").role is Role.ADMIN
    assert identity.resolve_actor(sqlite_store, "operator", as_login="bob").role is Role.AGENT
    with pytest.raises(NotFound):
        identity.resolve_actor(sqlite_store, "operator", as_login="ghost")
