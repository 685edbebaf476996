"""Who is at the keyboard: the operating-system login, looked up in the agent table."""

from __future__ import annotations

import logging
import os
import pwd
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import func
from sqlmodel import select

from agentdesk.db.models import Agent, Setting
from agentdesk.db.store import Store
from agentdesk.domain import limits
from agentdesk.domain.enums import Role
from agentdesk.domain.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from agentdesk.domain.permissions import Action, Actor, require
from agentdesk.domain.validation import line_problem

log = logging.getLogger(__name__)

DEMO_SETTING = "demo"
_LOGIN = re.compile(rf"[A-Za-z0-9_][A-Za-z0-9_.@-]{{0,{limits.LOGIN - 1}}}")


def os_login() -> str:
    """The account the process runs as. Not $USER or $LOGNAME: an agent could set those."""
    return pwd.getpwuid(os.getuid()).pw_name


def acting_login(service_paths: Iterable[Path] = ()) -> str:
    """The agent at the keyboard: the one sudo ran this service-account process for, else `os_login()`."""
    return sudo_login(service_paths) or os_login()


def sudo_login(service_paths: Iterable[Path]) -> str | None:
    """`SUDO_USER`, when this process is a jump host's `sudo -u agentdesk agentdesk`; otherwise None.

    An agent can put any SUDO_* variable in their own environment, so each is
    believed only when all of these hold:
    - the process runs as the service account: its real uid owns one of
      `service_paths` (the store, the data dir, the config file);
    - sudo switched accounts: `SUDO_UID` is another uid, and `SUDO_USER` is
      that uid's login in the password database;
    - sudo itself started the process: the parent is a process named sudo,
      running with effective uid 0 for the real uid `SUDO_UID` (Linux /proc).
    """
    name, uid_text = os.environ.get("SUDO_USER", ""), os.environ.get("SUDO_UID", "")
    if not name or not (uid_text.isascii() and uid_text.isdigit()):
        return None
    invoker, real = int(uid_text), os.getuid()
    if invoker == real:
        return None
    try:
        if pwd.getpwnam(name).pw_uid != invoker:
            return None
    except (KeyError, ValueError):
        return None
    if not any(_owner(path) == real for path in service_paths):
        return None
    if not started_by_sudo(invoker):
        log.warning("SUDO_USER=%s ignored: this process was not started by sudo", name)
        return None
    return name


def _owner(path: Path) -> int | None:
    try:
        return path.stat().st_uid
    except OSError:
        return None


def started_by_sudo(invoker: int) -> bool:
    """True when the parent process is sudo run by `invoker` (its real uid) as root (its effective uid)."""
    try:
        status = Path(f"/proc/{os.getppid()}/status").read_text(errors="replace")
    except OSError:
        return False
    fields = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
    uids = fields.get("Uid", "").split()
    return fields.get("Name", "").strip() == "sudo" and uids[:2] == [str(invoker), "0"]


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
    if not isinstance(login, str) or not _LOGIN.fullmatch(login):
        fields["login"] = f"use letters, digits, '.', '_', '-' or '@' (at most {limits.LOGIN})"
    name_problem = None if name is None else line_problem(name, limit=limits.NAME)
    if name_problem is not None:
        fields["name"] = name_problem
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
        agent = Agent(login=login, name=" ".join((name or "").split()) or login, role=role_value)
        session.add(agent)
        session.flush()
        return _info(agent)


def list_agents(store: Store, actor: Actor) -> list[AgentInfo]:
    require(actor, Action.VIEW_CUSTOMERS)
    with store.read() as session:
        return [_info(a) for a in session.exec(select(Agent).order_by(Agent.login)).all()]
