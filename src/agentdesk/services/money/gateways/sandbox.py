"""The sandbox gateway: deterministic, in-process, with its own ledger table.

Behaviour comes from the card the money is on, as with a real test mode:

| card number        | token             | what happens                                            |
|--------------------|-------------------|---------------------------------------------------------|
| 4242 4242 4242 4242| `tok_approve`     | approved                                                |
| 4000 0000 0000 0002| `tok_decline`     | declined                                                |
| 4000 0000 0000 0119| `tok_timeout`     | done, but the answer is lost (GatewayTimeout)           |
| 4000 0000 0000 0259| `tok_transient`   | sales approved; refunds and payouts fail, try again     |
| 4000 0027 6000 3184| `tok_authenticate`| sales need the customer's authentication (3-D Secure)   |

Any other token approves. Refunds and voids act as the original sale's card
says. Sales and captures settle after `settle_after_seconds`, or when
`settle_due` is called (`agentdesk gateway settle`). The ledger is written in
its own short transaction, as a processor's records would be: never inside the
caller's. A repeated idempotency key returns the first answer and moves no money.
"""

from __future__ import annotations

import hashlib
import logging
import secrets
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import func, insert, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import IntegrityError
from sqlmodel import col

from agentdesk.db.models import SandboxOperation, table_of, utcnow
from agentdesk.services.money.gateways.base import GatewayError, GatewayResult, GatewayTimeout, Outcome

if TYPE_CHECKING:
    from agentdesk.db.store import Store

log = logging.getLogger(__name__)
_LEDGER = table_of(SandboxOperation)

TEST_CARDS = {
    "4242424242424242": "tok_approve",
    "4000000000000002": "tok_decline",
    "4000000000000119": "tok_timeout",
    "4000000000000259": "tok_transient",
    "4000002760003184": "tok_authenticate",
}
NEEDS_CUSTOMER = ("the customer's bank asks the customer to confirm this payment themselves (authentication "
                  "required): send them a pay-invoice link")
_LEDGER_OUTCOMES = {Outcome.AUTHENTICATION_REQUIRED: "auth_required"}
"""Outcomes whose name is longer than the ledger's column, and what it keeps instead."""


def legacy_digest(digits: str) -> str:
    """The unkeyed digest older stores kept as the fingerprint; only ever stored keyed now (see `ServiceKey`)."""
    return hashlib.sha256(f"sandbox-card:{digits}".encode()).hexdigest()[:32]


def behaviour(token: str | None) -> str:
    if token and token.startswith("tok_"):
        return token[4:].split("_")[0]
    return "approve"


class SandboxGateway:
    name = "sandbox"

    def __init__(self, store: Store, settle_after_seconds: int = 86_400):
        self.store = store
        self.settle_after = timedelta(seconds=settle_after_seconds)

    def _answer(self, op: SandboxOperation | Any) -> GatewayResult:
        outcome = next((o for o, kept in _LEDGER_OUTCOMES.items() if kept == op.outcome), None)
        return GatewayResult(outcome or Outcome(op.outcome), op.reference, op.message, op.settled)

    def _earlier(self, key: str) -> Any:
        """The ledger's row for `key` (operation, amount, outcome, reference, message, settled), or None: one
        Core query, no ORM session (this runs once per payment)."""
        with self.store.engine.connect() as connection:
            return connection.execute(
                select(_LEDGER.c.operation, _LEDGER.c.amount, _LEDGER.c.outcome, _LEDGER.c.reference,
                       _LEDGER.c.message, _LEDGER.c.settled).where(_LEDGER.c.idempotency_key == key)
            ).first()

    def _record(self, key: str, operation: str, amount: int, currency: str, outcome: Outcome, token: str | None,
                parent: str | None = None, message: str | None = None) -> GatewayResult | None:
        """Write the operation under `key` in its own short transaction (one INSERT, as a processor's own
        records would be); None, with nothing written, when `key` is in the ledger already."""
        reference = f"sbx_{secrets.token_hex(8)}"
        row = dict(idempotency_key=key, operation=operation, reference=reference, parent_reference=parent,
                   token=token, amount=amount, currency=currency,
                   outcome=_LEDGER_OUTCOMES.get(outcome, outcome.value), message=message,
                   settled=False, created_at=utcnow())
        dialect = self.store.engine.dialect.name
        if dialect in ("sqlite", "postgresql"):
            statement: Any = (sqlite_insert(_LEDGER) if dialect == "sqlite" else pg_insert(_LEDGER)).values(**row)
            with self.store.engine.begin() as connection:
                written = connection.execute(statement.on_conflict_do_nothing(
                    index_elements=[_LEDGER.c.idempotency_key]).returning(_LEDGER.c.idempotency_key)).first()
            return GatewayResult(outcome, reference, message, False) if written is not None else None
        try:
            with self.store.engine.begin() as connection:
                connection.execute(insert(_LEDGER).values(**row))
        except IntegrityError:
            return None
        return GatewayResult(outcome, reference, message, False)

    def _replay(self, key: str, operation: str, amount: int) -> GatewayResult | None:
        """The first answer given for `key` (a repeated request moves no money), or None when it is new."""
        earlier = self._earlier(key)
        if earlier is None:
            return None
        if earlier.operation != operation or earlier.amount != amount:
            raise GatewayError(f"idempotency key {key!r} was used for a different request")
        return self._answer(earlier)

    def _operate(self, key: str, operation: str, amount: int, currency: str, token: str | None,
                 parent: str | None = None) -> GatewayResult:
        """One connection for a new key: the INSERT is tried first and only a key already used is read back."""
        kind = behaviour(token)
        money_out = operation in ("refund", "payout", "void")
        if kind == "transient" and money_out:
            # Nothing is recorded: a later attempt with any key may succeed.
            return self._replay(key, operation, amount) or GatewayResult(
                Outcome.FAILED, None, "processor unavailable, try again later")
        declined = kind == "decline" and operation in ("sale", "authorize", "payout")
        outcome, message = (Outcome.DECLINED, "card declined") if declined else (Outcome.APPROVED, None)
        if kind == "authenticate" and operation in ("sale", "authorize"):
            outcome, message = Outcome.AUTHENTICATION_REQUIRED, NEEDS_CUSTOMER
        result = self._record(key, operation, amount, currency, outcome, token, parent, message)
        if result is None:
            replayed = self._replay(key, operation, amount)
            if replayed is None:
                raise GatewayError(f"sandbox: idempotency key {key!r} is neither new nor recorded")
            return replayed
        if kind == "timeout":
            raise GatewayTimeout(f"sandbox: no answer for {operation} {key}")
        return result

    def _parent(self, reference: str) -> SandboxOperation:
        with self.store.read() as session:
            op = session.execute(
                select(SandboxOperation).where(col(SandboxOperation.reference) == reference)
            ).scalar_one_or_none()
        if op is None:
            raise GatewayError(f"sandbox has no transaction {reference}")
        return op

    def _taken_back(self, reference: str) -> int:
        with self.store.read() as session:
            return session.execute(
                select(func.coalesce(func.sum(SandboxOperation.amount), 0)).where(
                    col(SandboxOperation.parent_reference) == reference,
                    col(SandboxOperation.operation).in_(("refund", "void")),
                    col(SandboxOperation.outcome) == Outcome.APPROVED.value,
                )
            ).scalar_one()

    def tokenize(self, card_number: str) -> str:
        """A token for a card number; the number itself is never kept. Test numbers keep their behaviour."""
        digits = "".join(ch for ch in card_number if ch.isdigit())
        kind = TEST_CARDS.get(digits, "tok_approve")
        return f"{kind}_{secrets.token_hex(6)}"

    def tokenize_card(self, number: str, exp_month: int, exp_year: int) -> tuple[str, str]:
        """(token, fingerprint): the same card always has the same fingerprint, across customers.

        The fingerprint is keyed with the store's service key: from the store alone (BIN, last four and
        fingerprint) nobody can recover the number by trying the middle digits."""
        digits = "".join(ch for ch in number if ch.isdigit())
        return self.tokenize(digits), self.store.key.card_fingerprint(legacy_digest(digits))

    # --- the protocol ---------------------------------------------------------------------

    def sale(self, *, amount: int, currency: str, token: str, idempotency_key: str) -> GatewayResult:
        return self._operate(idempotency_key, "sale", amount, currency, token)

    def authorize(self, *, amount: int, currency: str, token: str, idempotency_key: str) -> GatewayResult:
        return self._operate(idempotency_key, "authorize", amount, currency, token)

    def capture(self, *, reference: str, amount: int, idempotency_key: str) -> GatewayResult:
        parent = self._parent(reference)
        return self._operate(idempotency_key, "capture", amount, parent.currency, parent.token, reference)

    def void(self, *, reference: str, idempotency_key: str) -> GatewayResult:
        parent = self._parent(reference)
        earlier = self._earlier(idempotency_key)
        if earlier is None and parent.settled:
            return GatewayResult(Outcome.DECLINED, None, "already settled: refund it instead")
        return self._operate(idempotency_key, "void", parent.amount, parent.currency, parent.token, reference)

    def refund(self, *, reference: str, amount: int, currency: str, idempotency_key: str) -> GatewayResult:
        parent = self._parent(reference)
        earlier = self._earlier(idempotency_key)
        if earlier is None:
            if not parent.settled:
                return GatewayResult(Outcome.DECLINED, None, "not settled yet: void it instead")
            if self._taken_back(reference) + amount > parent.amount:
                return GatewayResult(Outcome.DECLINED, None, "refund exceeds what was captured")
        return self._operate(idempotency_key, "refund", amount, currency, parent.token, reference)

    def payout(self, *, amount: int, currency: str, token: str, idempotency_key: str) -> GatewayResult:
        return self._operate(idempotency_key, "payout", amount, currency, token)

    # --- settlement -----------------------------------------------------------------------

    def settle_due(self, everything: bool = False) -> list[str]:
        """Settle approved sales and captures old enough (or all of them); returns their references."""
        cutoff = utcnow() - self.settle_after
        condition = [col(SandboxOperation.operation).in_(("sale", "capture")),
                     col(SandboxOperation.outcome) == "approved", col(SandboxOperation.settled).is_(False)]
        if not everything:
            condition.append(col(SandboxOperation.created_at) <= cutoff)
        with self.store.write() as session:
            refs = list(session.execute(select(col(SandboxOperation.reference)).where(*condition)).scalars())
            if refs:
                session.execute(
                    update(SandboxOperation).where(col(SandboxOperation.reference).in_(refs)).values(settled=True)
                )
        if refs:
            log.info("sandbox settled %d operation(s)", len(refs))
        return refs
