"""Who is at the keyboard: the operating-system login, looked up in the agent table."""

from __future__ import annotations

import os
import pwd
import re
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func
from sqlmodel import select

from agentdesk.db.models import Agent, Setting
from agentdesk.db.store import Store
from agentdesk.domain.enums import Role
from agentdesk.domain.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from agentdesk.domain.permissions import Action, Actor, require

DEMO_SETTING = "demo"
_LOGIN = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.@-]{0,63}$")


def os_login() -> str:
    """The account the process runs as. Not $USER or $LOGNAME: an agent could set those."""
    return pwd.getpwuid(os.getuid()).pw_name


def actor_of(agent: Agent) -> Actor:
    return Actor(agent_id=agent.id, login=agent.login, name=agent.name, role=Role(agent.role))


def is_demo(store: Store) -> bool:
    with store.read() as session:
        setting = session.get(Setting, DEMO_SETTING)
        return setting is not None and setting.value == "1"


def has_agents(store: Store) -> bool:
    with store.read() as session:
        return session.exec(select(func.count()).select_from(Agent)).one() > 0


def resolve_actor(store: Store, login: str | None = None, as_login: str | None = None) -> Actor:
    """The acting agent for this session.

    On a demo store the current login is an admin even if it was never added,
    and `as_login` may act as another agent; anywhere else `as_login` is refused.
    """
    login = login or os_login()
    demo = is_demo(store)
    if as_login and not demo:
        raise PermissionDenied("--as is only allowed on a demo database; here you act as your own login")
    wanted = as_login or login
    with store.read() as session:
        agent = session.exec(select(Agent).where(Agent.login == wanted)).first()
    if agent is None:
        if as_login:
            raise NotFound(f"no agent with the login {as_login!r} in this demo database")
        if demo:
            return _add_demo_admin(store, login)
        raise PermissionDenied(
            f"the login {login!r} is not an AgentDesk agent; an admin can add it with "
            f"`agentdesk agents add {login} --role agent`"
        )
    if not agent.active:
        raise PermissionDenied(f"the agent {agent.login!r} is deactivated; ask an admin to reactivate it")
    return actor_of(agent)


def _add_demo_admin(store: Store, login: str) -> Actor:
    with store.write() as session:
        agent = session.exec(select(Agent).where(Agent.login == login)).first()
        if agent is None:
            agent = Agent(login=login, name=login, role=Role.ADMIN)
            session.add(agent)
            session.flush()
        return actor_of(agent)


@dataclass(frozen=True)
class AgentInfo:
    id: int
    login: str
    name: str
    role: Role
    active: bool

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "login": self.login, "name": self.name, "role": self.role.value, "active": self.active}


def _info(agent: Agent) -> AgentInfo:
    return AgentInfo(agent.id, agent.login, agent.name, agent.role, agent.active)


def add_agent(store: Store, actor: Actor | None, login: str, role: str, name: str | None = None) -> AgentInfo:
    """Add an agent. With no actor this is the bootstrap of an empty store: only an admin may be added."""
    fields: dict[str, str] = {}
    if not _LOGIN.match(login or ""):
        fields["login"] = "use letters, digits, '.', '_', '-' or '@' (at most 64)"
    try:
        role_value = Role((role or "").strip().lower())
    except ValueError:
        fields["role"] = f"{role!r} is not a role; choose one of: {', '.join(r.value for r in Role)}"
    if fields:
        raise InvalidInput(fields=fields)
    if actor is not None:
        require(actor, Action.MANAGE_AGENTS)
    with store.write() as session:
        if actor is None:
            if session.exec(select(func.count()).select_from(Agent)).one() > 0:
                raise PermissionDenied("this store already has agents; an admin must add new ones")
            if role_value is not Role.ADMIN:
                raise InvalidInput(fields={"role": "the first agent of a store must be an admin"})
        if session.exec(select(Agent).where(Agent.login == login)).first() is not None:
            raise Conflict(f"an agent with the login {login!r} already exists")
        agent = Agent(login=login, name=(name or login).strip() or login, role=role_value)
        session.add(agent)
        session.flush()
        return _info(agent)


def list_agents(store: Store, actor: Actor) -> list[AgentInfo]:
    require(actor, Action.VIEW_CUSTOMERS)
    with store.read() as session:
        return [_info(a) for a in session.exec(select(Agent).order_by(Agent.login)).all()]
