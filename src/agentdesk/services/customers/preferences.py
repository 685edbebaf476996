"""Per-agent settings the console remembers, such as the customer table's columns."""

from __future__ import annotations

from sqlmodel import select

from agentdesk.db.models import AgentPreference
from agentdesk.db.store import Store
from agentdesk.domain.errors import InvalidInput
from agentdesk.domain.permissions import Action, Actor, require
from agentdesk.services.customers.columns import DEFAULT_COLUMNS, validate_columns

COLUMNS_KEY = "customer_table.columns"


def _own(actor: Actor) -> int:
    if actor.agent_id is None:
        raise InvalidInput("System has no preferences")
    return actor.agent_id


def table_columns(store: Store, actor: Actor) -> list[str]:
    require(actor, Action.VIEW_CUSTOMERS)
    with store.read() as session:
        pref = session.exec(
            select(AgentPreference).where(AgentPreference.agent_id == _own(actor), AgentPreference.key == COLUMNS_KEY)
        ).first()
    if pref is None:
        return list(DEFAULT_COLUMNS)
    try:
        return validate_columns(list(pref.value.get("columns", [])))
    except InvalidInput:
        return list(DEFAULT_COLUMNS)


def set_table_columns(store: Store, actor: Actor, columns: list[str]) -> list[str]:
    require(actor, Action.VIEW_CUSTOMERS)
    cleaned = validate_columns(columns)
    with store.write() as session:
        pref = session.get(AgentPreference, (_own(actor), COLUMNS_KEY))
        if pref is None:
            pref = AgentPreference(agent_id=_own(actor), key=COLUMNS_KEY, value={"columns": cleaned})
        else:
            pref.value = {"columns": cleaned}
        session.add(pref)
    return cleaned
