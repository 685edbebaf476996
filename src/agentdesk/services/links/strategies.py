"""Deposit strategies (admins): the amounts a deposit link offers per currency, whether the customer may type
their own amount, its limits, and the websites they apply to.

A deposit link copies a strategy's terms when it is requested (`strategy_terms`), so changing or deleting a
strategy never changes a link already sent. Strategies are not about one customer: no timeline event; each
row keeps the admin who made it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from agentdesk.db.models import Agent, DepositStrategy, Website
from agentdesk.db.store import Store
from agentdesk.domain import limits as sizes
from agentdesk.domain.errors import Conflict, InvalidInput, NotFound
from agentdesk.domain.money import currency_code, format_major
from agentdesk.domain.permissions import Action, Actor, require
from agentdesk.domain.validation import line_problem

MAX_AMOUNTS = 12
"""Buttons a deposit page shows per currency."""


@dataclass(frozen=True)
class StrategyInfo:
    id: int
    name: str
    amounts: dict[str, list[int]]
    custom_amount: bool
    limits: dict[str, tuple[int, int]]
    websites: list[str]
    """Empty: every website."""
    created_by: str | None
    created_at: datetime

    @property
    def summary(self) -> str:
        """One line: "standard · USD 10.00, 25.00 · custom 5.00 to 500.00 USD · all websites"."""
        parts = [self.name]
        for currency, amounts in sorted(self.amounts.items()):
            parts.append(f"{currency} " + ", ".join(format_major(a, currency) for a in amounts))
        if self.custom_amount:
            for currency, (low, high) in sorted(self.limits.items()):
                parts.append(f"custom {format_major(low, currency)} to {format_major(high, currency)} {currency}")
            if not self.limits:
                parts.append("custom amounts")
        parts.append(", ".join(self.websites) if self.websites else "all websites")
        return " · ".join(parts)

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "name": self.name, "amounts": {k: list(v) for k, v in self.amounts.items()},
                "custom_amount": self.custom_amount, "limits": {k: list(v) for k, v in self.limits.items()},
                "websites": list(self.websites), "created_by": self.created_by,
                "created_at": self.created_at.isoformat()}


def _info(session: Session, row: DepositStrategy) -> StrategyInfo:
    agent = session.get(Agent, row.agent_id) if row.agent_id is not None else None
    return StrategyInfo(row.id, row.name, {k: [int(a) for a in v] for k, v in row.amounts.items()},
                        row.custom_amount, {k: (int(v[0]), int(v[1])) for k, v in row.limits.items()},
                        list(row.websites), agent.login if agent else None, row.created_at)


def _amount_problem(amount: object) -> str | None:
    if not isinstance(amount, int) or isinstance(amount, bool) or amount <= 0:
        return "amounts must be positive whole numbers of minor units"
    if amount > sizes.AMOUNT_MAX:
        return f"amounts must be at most {sizes.AMOUNT_MAX} minor units"
    return None


def _clean_name(name: str) -> str:
    problem = line_problem(str(name or ""), limit=sizes.SEGMENT_NAME)
    text = " ".join(str(name or "").split())
    if problem is None and not text:
        problem = "give the strategy a name"
    if problem is not None:
        raise InvalidInput(fields={"name": problem})
    return text


def _checked(session: Session, name: str, amounts: dict[str, list[int]], custom_amount: bool,
             limits: dict[str, tuple[int, int]], websites: list[str]) -> tuple[str, dict, dict, list[str]]:
    problems: dict[str, str] = {}
    try:
        name = _clean_name(name)
    except InvalidInput as exc:
        problems.update(exc.fields)
    clean_amounts: dict[str, list[int]] = {}
    for raw, values in amounts.items():
        try:
            currency = currency_code(raw)
        except InvalidInput:
            problems["amounts"] = f"{raw!r} is not a supported currency code"
            continue
        bad = next((p for p in map(_amount_problem, values) if p), None)
        if bad:
            problems["amounts"] = f"{currency}: {bad}"
            continue
        unique = sorted(set(values))
        if len(unique) > MAX_AMOUNTS:
            problems["amounts"] = f"{currency}: at most {MAX_AMOUNTS} amounts"
            continue
        clean_amounts.setdefault(currency, [])
        clean_amounts[currency] = sorted(set(clean_amounts[currency]) | set(unique))
    clean_limits: dict[str, list[int]] = {}
    for raw, pair in limits.items():
        try:
            currency = currency_code(raw)
        except InvalidInput:
            problems["limits"] = f"{raw!r} is not a supported currency code"
            continue
        low, high = pair
        bad = _amount_problem(low) or _amount_problem(high)
        if bad:
            problems["limits"] = f"{currency}: {bad.replace('amounts', 'limits')}"
        elif low > high:
            problems["limits"] = f"{currency}: the minimum is above the maximum"
        else:
            clean_limits[currency] = [low, high]
    if limits and not custom_amount:
        problems.setdefault("limits", "limits apply to custom amounts; allow them with --custom-amount")
    if not clean_amounts and not custom_amount and "amounts" not in problems:
        problems["amounts"] = "give at least one amount, or allow custom amounts"
    if custom_amount and not clean_limits and "limits" not in problems:
        problems["limits"] = "custom amounts need a minimum and maximum per currency (CUR:MIN:MAX)"
    codes: list[str] = []
    for code in websites:
        code = (code or "").strip()
        if session.exec(select(Website.id).where(Website.code == code)).first() is None:
            problems["websites"] = f"no website {code!r}"
        elif code not in codes:
            codes.append(code)
    if "name" not in problems and session.exec(
            select(DepositStrategy.id).where(DepositStrategy.name == name)).first() is not None:
        problems["name"] = f"a strategy named {name!r} already exists"
    if problems:
        raise InvalidInput(fields=problems)
    return name, clean_amounts, clean_limits, codes


def create_strategy(store: Store, actor: Actor, name: str, amounts: dict[str, list[int]], custom_amount: bool,
                    limits: dict[str, tuple[int, int]], websites: list[str]) -> StrategyInfo:
    require(actor, Action.MANAGE_POLICY)
    try:
        with store.write() as session:
            name, clean_amounts, clean_limits, codes = _checked(session, name, amounts, custom_amount, limits,
                                                                websites)
            row = DepositStrategy(name=name, amounts=clean_amounts, custom_amount=custom_amount,
                                  limits=clean_limits, websites=codes, agent_id=actor.agent_id)
            session.add(row)
            session.flush()
            return _info(session, row)
    except IntegrityError:
        raise Conflict(f"a strategy named {name!r} was just created by someone else") from None


def list_strategies(store: Store, actor: Actor) -> list[StrategyInfo]:
    """Every agent who may request links may see the strategies a deposit link can use."""
    require(actor, Action.REQUEST_LINKS)
    with store.read() as session:
        rows = session.exec(select(DepositStrategy).order_by(col(DepositStrategy.name))).all()
        return [_info(session, row) for row in rows]


def delete_strategy(store: Store, actor: Actor, name: str) -> None:
    """Links already requested keep the terms they copied."""
    require(actor, Action.MANAGE_POLICY)
    with store.write() as session:
        row = session.exec(select(DepositStrategy).where(DepositStrategy.name == " ".join(str(name).split()))).first()
        if row is None:
            raise NotFound(f"no deposit strategy {name!r}")
        session.delete(row)


def strategy_terms(session: Session, name: str, website_code: str, currency: str) -> dict[str, Any]:
    """The terms a deposit link copies: {"amounts", "custom_amount", "minimum", "maximum", "strategy"}."""
    row = session.exec(select(DepositStrategy).where(DepositStrategy.name == " ".join(str(name).split()))).first()
    if row is None:
        raise InvalidInput(fields={"strategy": f"no deposit strategy {name!r}"})
    if row.websites and website_code not in row.websites:
        raise InvalidInput(fields={"strategy": f"strategy {row.name!r} is not for website {website_code!r} "
                                               f"(it applies to {', '.join(row.websites)})"})
    currency = currency_code(currency)
    amounts = [int(a) for a in row.amounts.get(currency, [])]
    pair = row.limits.get(currency)
    custom = bool(row.custom_amount and pair)
    if not amounts and not custom:
        offered = sorted(set(row.amounts) | (set(row.limits) if row.custom_amount else set()))
        raise InvalidInput(fields={"strategy": f"strategy {row.name!r} offers no amounts in {currency}"
                                               + (f" (only {', '.join(offered)})" if offered else "")})
    return {"amounts": amounts, "custom_amount": custom, "minimum": int(pair[0]) if custom and pair else None,
            "maximum": int(pair[1]) if custom and pair else None, "strategy": row.name}


def get_strategy(store: Store, actor: Actor, name: str) -> StrategyInfo:
    require(actor, Action.REQUEST_LINKS)
    with store.read() as session:
        row = session.exec(select(DepositStrategy).where(DepositStrategy.name == " ".join(str(name).split()))).first()
        if row is None:
            raise NotFound(f"no deposit strategy {name!r}")
        return _info(session, row)

