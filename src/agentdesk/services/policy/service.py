"""Policy in the store: read at each decision, changed only by admins, every change on the audit log.

The accessors take the caller's session, so a limit is read in the same
transaction as the decision it governs (the refund under its row lock, the
payout with its pending record) and a change applies to the very next
decision of every running console and worker: nothing is cached. Nothing the
person at the keyboard controls (environment, own config file) is read here.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from agentdesk.db.models import Policy, PolicyChange, Website, utcnow
from agentdesk.db.store import Store
from agentdesk.domain.enums import Role
from agentdesk.domain.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from agentdesk.domain.money import currency_code, format_amount
from agentdesk.domain.permissions import Action, Actor, require
from agentdesk.services.policy.keys import FAMILIES, LIMITED_WITHOUT_POLICY, LINK_KINDS, Key, key, resolve_key


@dataclass(frozen=True)
class PolicyEntry:
    """One key as `policy show` lists it."""

    key: str
    value: object | None
    """The stored JSON value (amounts in minor units); None when not set."""
    shown: str
    is_set: bool
    """False when the value shown is the key's default (or nothing) because no admin set it."""
    description: str
    updated_at: datetime | None
    updated_by: str | None

    def to_dict(self) -> dict[str, object]:
        return {"key": self.key, "value": self.value, "shown": self.shown, "set": self.is_set,
                "description": self.description,
                "updated_at": self.updated_at.isoformat() if self.updated_at else None, "updated_by": self.updated_by}


@dataclass(frozen=True)
class PolicyChangeInfo:
    """One entry of the policy audit log: who changed which key, when, from what to what."""

    id: int | None
    key: str
    old: object | None
    new: object | None
    old_shown: str
    new_shown: str
    by: str
    at: datetime
    changed: bool = True
    """False when `set` was asked for the value the key already had (nothing was written)."""

    def to_dict(self) -> dict[str, object]:
        return {"id": self.id, "key": self.key, "old": self.old, "new": self.new, "old_shown": self.old_shown,
                "new_shown": self.new_shown, "by": self.by, "at": self.at.isoformat(), "changed": self.changed}


# --- reading, at each decision -------------------------------------------------------------


def _key(which: Key | str) -> Key:
    return which if isinstance(which, Key) else resolve_key(which)


def policy_value(session: Session, which: Key | str) -> object | None:
    """The value in force now: the stored one, else the key's default (None for "not set")."""
    k = _key(which)
    row = session.get(Policy, k.name, populate_existing=True)
    if row is None:
        return None if k.default is None else k.check(k.default)
    try:
        return k.check(row.value)
    except InvalidInput as exc:
        raise Conflict(f"the stored policy {k.name} is not valid ({exc.fields.get('value', exc)}); "
                       f"an admin sets it again with `agentdesk policy set {k.name} VALUE`") from None


def _int_or_none(value: object | None) -> int | None:
    return value if isinstance(value, int) else None


def refund_limit(session: Session, role: Role, currency: str) -> int | None:
    """Largest refund or void `role` may make on one transaction in `currency`; None when no limit is set."""
    return _int_or_none(policy_value(session, key("refund_limit", Role(role).value, currency_code(currency))))


def payout_ceiling(session: Session, currency: str) -> int | None:
    """Largest single payout in `currency`; None when none is set (and so payouts in it are refused)."""
    return _int_or_none(policy_value(session, key("payout_ceiling", currency_code(currency))))


def notify_emails(session: Session) -> tuple[str, ...]:
    value = policy_value(session, key("notify_emails"))
    return tuple(value) if isinstance(value, list) else ()


def website_gateway(session: Session, website_code: str) -> str | None:
    """The gateway policy names for a website, None to use the website's own."""
    value = policy_value(session, key("website_gateway", website_code))
    return value if isinstance(value, str) else None


def attachment_limit(session: Session) -> int:
    value = policy_value(session, key("attachment_limit"))
    assert isinstance(value, int)
    return value


def link_expiry_hours(session: Session, kind: str) -> int:
    value = policy_value(session, key("link_expiry", kind))
    assert isinstance(value, int)
    return value


def dunning_schedule(session: Session) -> tuple[int, ...]:
    value = policy_value(session, key("dunning_schedule"))
    return tuple(value) if isinstance(value, list) else ()


def portal_base_url(session: Session) -> str | None:
    value = policy_value(session, key("portal_base_url"))
    return value if isinstance(value, str) else None


def affiliate_rate(session: Session) -> int:
    """Default affiliate commission in basis points for a plan without its own rate; 0 means none."""
    value = policy_value(session, key("affiliate_rate"))
    return value if isinstance(value, int) else 0


def check_refund(session: Session, actor: Actor, amount: int, currency: str) -> None:
    """Refuse a refund or void above the actor's role limit in `currency` (PermissionDenied naming the key)."""
    require(actor, Action.REFUND)
    k = key("refund_limit", actor.role.value, currency_code(currency))
    limit = _int_or_none(policy_value(session, k))
    if limit is None:
        if actor.role in LIMITED_WITHOUT_POLICY:
            raise PermissionDenied(
                f"there is no {actor.role.value} refund limit for {k.params[-1]}, so {actor.role.value}s may not "
                f"refund in it; ask finance or an admin, or an admin sets one with "
                f"`agentdesk policy set {k.name} AMOUNT`"
            )
        return
    if amount > limit:
        who = ("ask finance or an admin to make this refund" if actor.role is Role.AGENT
               else f"an admin can raise it with `agentdesk policy set {k.name} AMOUNT`")
        raise PermissionDenied(
            f"refunds above {format_amount(limit, k.params[-1])} on one transaction are beyond the "
            f"{actor.role.value} limit (policy {k.name}); {who}"
        )


def check_payout(session: Session, amount: int, currency: str) -> None:
    """Refuse a payout above the ceiling of its currency, or in a currency without one."""
    k = key("payout_ceiling", currency_code(currency))
    ceiling = _int_or_none(policy_value(session, k))
    if ceiling is None:
        raise PermissionDenied(f"there is no payout ceiling for {k.params[0]}, so payouts in it are refused; "
                               f"an admin sets one with `agentdesk policy set {k.name} AMOUNT`")
    if amount > ceiling:
        raise InvalidInput(fields={"amount": (
            f"{format_amount(amount, k.params[0])} is above the payout ceiling of "
            f"{format_amount(ceiling, k.params[0])} (policy {k.name})"
        )})


# --- showing and changing ------------------------------------------------------------------


def _labels(session: Session) -> dict[str, str]:
    """Who last changed each key, from the audit log."""
    rows = session.exec(select(PolicyChange.key, PolicyChange.agent_label).order_by(col(PolicyChange.id))).all()
    return dict(rows)


def show_policy(store: Store, actor: Actor) -> list[PolicyEntry]:
    """Every key that is set, plus every key with a default that is not; in registry order."""
    require(actor, Action.VIEW_CUSTOMERS)
    with store.read() as session:
        rows = {row.key: row for row in session.exec(select(Policy)).all()}
        labels = _labels(session)
    entries: list[PolicyEntry] = []
    shown: set[str] = set()
    for family in FAMILIES:
        names = sorted(name for name in rows if name.split(".", 1)[0] == family.name)
        if family.name == "link_expiry":
            names = sorted({*names, *(f"link_expiry.{kind}" for kind in LINK_KINDS)})
        elif not family.params and family.name not in rows:
            names = [family.name]
        for name in names:
            k = resolve_key(name)
            row = rows.get(name)
            value = row.value if row is not None else (k.check(k.default) if k.default is not None else None)
            try:
                words = k.show(k.check(value) if value is not None else None)
            except InvalidInput as exc:
                words = f"not valid ({exc.fields.get('value', exc)}); set it again"
            if row is None and k.default is not None:
                words += " (default)"
            entries.append(PolicyEntry(name, value, words, row is not None, family.description,
                                       row.updated_at if row is not None else None,
                                       labels.get(name) if row is not None else None))
            shown.add(name)
    for name in sorted(set(rows) - shown):
        entries.append(PolicyEntry(name, rows[name].value, "not a policy key; ignored", True, "", rows[name].updated_at,
                                   labels.get(name)))
    return entries


def _change_info(row: PolicyChange) -> PolicyChangeInfo:
    try:
        k: Key | None = resolve_key(row.key)
    except InvalidInput:
        k = None

    def words(value: object | None) -> str:
        if value is None:
            return "not set"
        if k is None:
            return repr(value)
        try:
            return k.show(k.check(value))
        except InvalidInput:
            return repr(value)

    return PolicyChangeInfo(row.id, row.key, row.old_value, row.new_value, words(row.old_value),
                            words(row.new_value), row.agent_label, row.changed_at)


def _check_website(session: Session, k: Key) -> None:
    if k.website is None:
        return
    if session.exec(select(Website.id).where(Website.code == k.website)).first() is None:
        codes = sorted(session.exec(select(Website.code)).all())
        raise NotFound(f"policy {k.name}: no website {k.website!r}"
                       + (f"; websites: {', '.join(codes)}" if codes else "; the store has no websites yet"))


def _change(store: Store, actor: Actor, k: Key, new: object | None) -> PolicyChangeInfo:
    try:
        with store.write() as session:
            _check_website(session, k)
            query = select(Policy).where(Policy.key == k.name)
            if session.get_bind().dialect.name != "sqlite":
                query = query.with_for_update()
            row = session.exec(query).one_or_none()
            old = row.value if row is not None else None
            now = utcnow()
            if old == new:
                return PolicyChangeInfo(None, k.name, old, new, k.show(old), k.show(new), actor.login, now,
                                        changed=False)
            if new is None:
                assert row is not None
                session.delete(row)
            elif row is None:
                session.add(Policy(key=k.name, value=new, updated_at=now, updated_by=actor.agent_id))
            else:
                row.value, row.updated_at, row.updated_by = new, now, actor.agent_id
                session.add(row)
            change = PolicyChange(key=k.name, old_value=old, new_value=new, agent_id=actor.agent_id,
                                  agent_label=actor.login, changed_at=now)
            session.add(change)
            session.flush()
            return _change_info(change)
    except IntegrityError:
        raise Conflict(f"policy {k.name} was changed by someone else at the same moment; look at "
                       "`agentdesk policy show` and try again") from None


def set_policy(store: Store, actor: Actor, key_name: str, value: object) -> PolicyChangeInfo:
    """Set a key (admins). `value` is text as typed (`"500.00"`, `"a@x.com,b@y.com"`) or an already typed
    JSON value (amounts in minor units); a bad value is refused naming the key and the reason."""
    require(actor, Action.MANAGE_POLICY)
    k = resolve_key(key_name)
    new = k.parse(value) if isinstance(value, str) else k.check(value)
    return _change(store, actor, k, new)


def unset_policy(store: Store, actor: Actor, key_name: str) -> PolicyChangeInfo:
    """Remove a key's value (admins): its default, or what "not set" means for it, applies again."""
    require(actor, Action.MANAGE_POLICY)
    return _change(store, actor, resolve_key(key_name), None)


def policy_history(store: Store, actor: Actor, key_name: str | None = None) -> list[PolicyChangeInfo]:
    """The audit log, newest first; of one key when given."""
    require(actor, Action.VIEW_CUSTOMERS)
    query = select(PolicyChange).order_by(col(PolicyChange.id).desc())
    if key_name is not None:
        query = query.where(PolicyChange.key == resolve_key(key_name).name)
    with store.read() as session:
        return [_change_info(row) for row in session.exec(query).all()]

