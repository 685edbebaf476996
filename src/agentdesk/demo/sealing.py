"""The keyed values of a demo batch: money seals, card fingerprints and the timeline chains.

The generator lays out the rows and leaves these empty; the writer fills them in just before loading,
so on a big build the hashing (a million customers make some seven million MACs) runs in the writer
process, beside the generator. Each value is the one the services make (`ServiceKey.seal_money`,
`ServiceKey.card_fingerprint`, `timeline.chain.keyed_event_hash`), written out directly: the canonical
JSON of a few known fields costs a fraction of the generic encoders' calls.
"""

from __future__ import annotations

import functools
import hashlib
import json
from datetime import UTC, datetime
from typing import Any

from agentdesk.db.keys import ServiceKey, utc_text
from agentdesk.services.timeline.chain import GENESIS, KEYED

Row = dict[str, Any]
Rows = dict[str, list[Row]]

_EVENT_JSON = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str).encode
_string = json.encoder.encode_basestring
"""A JSON string as `_EVENT_JSON` writes one (ensure_ascii=False)."""


@functools.lru_cache(maxsize=1 << 16)
def _utc_text(when: datetime) -> str:
    """`keys.utc_text` without strftime, for the demo's datetimes (all in UTC)."""
    if when.tzinfo is not UTC:
        return utc_text(when)
    return when.isoformat(timespec="microseconds")[:26] + "Z"


def _attributes_json(attributes: dict[str, Any]) -> str:
    """`_EVENT_JSON(attributes)` for the usual text and integer values, without the encoder's set-up."""
    parts = []
    for name in sorted(attributes):
        value = attributes[name]
        if value.__class__ is str:
            parts.append(f"{_string(name)}:{_string(value)}")
        elif value.__class__ is int:
            parts.append(f"{_string(name)}:{value}")
        else:
            return _EVENT_JSON(attributes)
    return "{" + ",".join(parts) + "}"


def card_fingerprint(key: ServiceKey, customer_id: int, instrument_id: int, last4: str) -> str:
    """A demo card's fingerprint: of a stand-in for its number, unique per card."""
    return key.card_fingerprint(
        hashlib.blake2b(f"{customer_id}:{instrument_id}:{last4}".encode(), digest_size=8).hexdigest())


def seal(rows: Rows, key: ServiceKey) -> None:
    """Fill in the batch's seals, fingerprints, bound rows and event hashes (customers never span batches)."""
    mac = key.mac
    seals: dict[int, str] = {}
    for t in rows["transaction"]:
        parent = t["parent_id"]
        t["seal"] = seals[t["id"]] = mac(
            f'money-row:["transaction",{t["id"]},{t["customer_id"]},"{t["type"]}",{t["amount"]},"{t["currency"]}",'
            f'{"null" if parent is None else parent},"{_utc_text(t["created_at"])}"]')
    for card in rows["payment_instrument"]:
        card["fingerprint"] = card_fingerprint(key, card["customer_id"], card["id"], card["last4"])
    chain_customer, head = None, GENESIS
    for event in rows["timeline_event"]:
        customer_id = event["customer_id"]
        prev = head if customer_id == chain_customer else GENESIS
        bound = event["bound_rows"]
        if bound:
            recorded = bound[0][1]
            bound[0][2] = seals[recorded]
            bound_text = f'[["transaction",{recorded},"{seals[recorded]}"]]'
        else:
            bound_text = "[]"
        agent_id = event["actor_agent_id"]
        head = mac(
            f"timeline-event:{prev}[{KEYED},{customer_id},{_string(event['type'])},{_string(event['title'])},"
            f"{'null' if agent_id is None else agent_id},{_string(event['actor_label'])},"
            f"\"{_utc_text(event['occurred_at'])}\",{_attributes_json(event['attributes'])},{bound_text}]")
        event["prev_hash"], event["hash"] = prev, head
        chain_customer = customer_id
