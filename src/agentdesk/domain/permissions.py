"""Who may do what: the role table of ARCHITECTURE.md as data, checked by every service."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from agentdesk.domain.enums import Role
from agentdesk.domain.errors import PermissionDenied


class Action(StrEnum):
    VIEW_CUSTOMERS = "view customers, profiles and timelines"
    EDIT_CUSTOMERS = "add or edit customers, notes and tags"
    CREATE_ORDERS = "create orders and quotes, redeem coupons"
    CHANGE_SUBSCRIPTIONS = "change subscriptions"
    REFUND = "refund or void transactions"
    BILLING = "force bill, collect payments and create credit memos"
    PAYOUT = "send payouts"
    REQUEST_LINKS = "request KYC, deposit and portal links"
    BLOCKLIST = "add to or remove from blocklists"
    MERGE_ANONYMIZE = "merge duplicates and anonymise customers"
    EXPORT = "export CSV"
    MANAGE_AGENTS = "manage agents and roles"
    MANAGE_POLICY = "change policy (refund limits, payout ceilings, gateways, notify addresses)"
    AUDIT_MONEY = "audit money aggregates"
    MANAGE_CATALOG = "import the catalog and define coupons"
    ADJUST_COMMISSIONS = "edit a sale's affiliate and adjust its commission"


_EVERYONE = frozenset(Role)

POLICY: dict[Action, frozenset[Role]] = {
    Action.VIEW_CUSTOMERS: _EVERYONE,
    Action.EDIT_CUSTOMERS: frozenset({Role.ADMIN, Role.AGENT, Role.SALES}),
    Action.CREATE_ORDERS: frozenset({Role.ADMIN, Role.AGENT, Role.SALES}),
    Action.CHANGE_SUBSCRIPTIONS: frozenset({Role.ADMIN, Role.AGENT}),
    Action.REFUND: frozenset({Role.ADMIN, Role.AGENT, Role.FINANCE}),
    Action.BILLING: frozenset({Role.ADMIN, Role.AGENT, Role.FINANCE}),
    Action.PAYOUT: frozenset({Role.ADMIN, Role.FINANCE}),
    Action.REQUEST_LINKS: _EVERYONE,
    Action.BLOCKLIST: frozenset({Role.ADMIN}),
    Action.MERGE_ANONYMIZE: frozenset({Role.ADMIN}),
    Action.EXPORT: frozenset({Role.ADMIN, Role.FINANCE}),
    Action.MANAGE_AGENTS: frozenset({Role.ADMIN}),
    Action.MANAGE_POLICY: frozenset({Role.ADMIN}),
    Action.AUDIT_MONEY: frozenset({Role.ADMIN, Role.FINANCE}),
    Action.MANAGE_CATALOG: frozenset({Role.ADMIN}),
    Action.ADJUST_COMMISSIONS: frozenset({Role.ADMIN, Role.FINANCE}),
}

ROLE_TITLES = {
    Role.ADMIN: "admin",
    Role.AGENT: "customer service agent",
    Role.SALES: "sales",
    Role.FINANCE: "finance",
}


@dataclass(frozen=True)
class Actor:
    """The agent on whose behalf a service call runs."""

    agent_id: int | None
    login: str
    name: str
    role: Role
    customer: bool = False
    """The customer acting on a link in the portal: the link is their only authority, so no agent
    permission is ever granted to them."""

    @property
    def label(self) -> str:
        return self.login


SYSTEM = Actor(agent_id=None, login="System", name="System", role=Role.ADMIN)
"""The scheduler, worker and API: recorded on the timeline as "System"."""


CUSTOMER = Actor(agent_id=None, login="customer", name="Customer", role=Role.AGENT, customer=True)
"""The customer on the portal: recorded on the timeline as "customer"; refused every agent action."""


def allowed(actor: Actor, action: Action) -> bool:
    return not actor.customer and actor.role in POLICY[action]


def needed_roles(action: Action) -> str:
    """The roles that may do `action`, as words: "admin or finance"."""
    titles = [ROLE_TITLES[r] for r in Role if r in POLICY[action]]
    return titles[0] if len(titles) == 1 else ", ".join(titles[:-1]) + " or " + titles[-1]


def require(actor: Actor, action: Action) -> None:
    if not allowed(actor, action):
        if actor.customer:
            raise PermissionDenied(f"a customer link does not allow this: {action.value}")
        raise PermissionDenied(
            f"{actor.login} ({ROLE_TITLES[actor.role]}) may not {action.value}; this needs {needed_roles(action)}"
        )

