"""Property-based fuzz of the write services (issue 10, "Also"), on SQLite and PostgreSQL.

Arbitrary text (every code point: controls, lone surrogates, bidi overrides, very long strings),
integers up to and beyond 2**64 and arbitrary dates go into every write service. Each call either
succeeds, and what the store then gives back equals what the service said it accepted, with no
control character stored, or it raises a `ServiceError`. Any other exception fails the test.

Bounded for CI: a few dozen examples per service group, one store per test (its state grows
across examples, which the property does not mind). `-s` prints how many calls were accepted
and refused.
"""

from __future__ import annotations

import itertools
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import date
from typing import Any, TypeVar

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from agentdesk.config import load_settings
from agentdesk.domain import limits
from agentdesk.domain.errors import ServiceError
from agentdesk.domain.text import text_problem
from agentdesk.domain.validation import AddressInput, ContactInput, CustomerInput
from agentdesk.services.agents import identity
from agentdesk.services.customers import extras, segments, tags
from agentdesk.services.customers import records as customers
from agentdesk.services.customers.filters import CustomerQuery, Segment, parse_filters
from agentdesk.services.customers.search import fetch_page
from agentdesk.services.money import payments, refunds
from agentdesk.services.policy import service as policy
from agentdesk.services.risk import blocklist, compliance
from agentdesk.services.timeline import attachments, notes

from ..conftest import customer_input
from .test_refunds import sale

T = TypeVar("T")

HOSTILE = [
    "\x00", "\x1b[2J\x1b[H", "\x1b]52;c;ZXZpbA==\x07", "\u202eevil\u202c", "\u2066", "\ud800", "\udcff", "\x85",
    "\x9b31m", "\x7f", "\t", "\n", "\r\n", "\u2028", "\ufeff", "=HYPERLINK(\"x\")", "\uff1d1+1", "+1", "@SUM(1)",
    "'; DROP TABLE customer; --", "%_\\", "[bold red]x[/]", "\u0130", "\U0001d518", "e\u0301", "\u0661\u0662",
    "\uff11\uff12",
]
EVERY_CHARACTER = st.characters(exclude_categories=())
"""Every code point, surrogates and control characters included."""
BOUNDARY_LENGTHS = [0, 1, 19, 20, 21, 63, 64, 65, 99, 100, 101, 199, 200, 201, 255, 256, 299, 300, 301, 319, 320,
                    321, 499, 500, 501, 3999, 4000, 4001, 10_000]

PLAUSIBLE = st.characters(categories=["L", "N", "P", "Zs"])
"""What people type: letters, digits, punctuation and spaces of any script."""

plausible = st.text(PLAUSIBLE, min_size=1, max_size=30)
texts = st.one_of(
    plausible, plausible, plausible,
    st.text(EVERY_CHARACTER, max_size=30),
    st.text(max_size=30),
    st.builds(lambda a, h, b: a + h + b, st.text(max_size=8), st.sampled_from(HOSTILE), st.text(max_size=8)),
    st.builds(lambda n, ch: ch * n, st.sampled_from(BOUNDARY_LENGTHS), st.sampled_from(["a", "é", "\U0001f600"])),
)
optional_texts = st.one_of(st.none(), texts)
integers = st.one_of(
    st.integers(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.sampled_from([0, -1, 1, 2**31 - 1, 2**31, 2**53 + 1, 2**63 - 1, 2**63, 2**64, -(2**63) - 1,
                     limits.AMOUNT_MAX, limits.AMOUNT_MAX + 1]),
)
small = st.integers(min_value=1, max_value=10**7)
amounts = st.one_of(small, small, integers)
dates = st.one_of(st.dates(), st.dates().map(date.isoformat), texts)


def shaped(pattern: str) -> st.SearchStrategy[str]:
    """Mostly well-formed values of a field with a syntax, sometimes anything."""
    wellformed = st.from_regex(pattern, fullmatch=True)
    return st.one_of(wellformed, wellformed, texts)


FUZZ = settings(max_examples=90, deadline=None, database=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture])

STATS: Counter[tuple[str, str]] = Counter()


@pytest.fixture(scope="module", autouse=True)
def _report() -> Iterator[None]:
    yield
    if not STATS:
        return
    services = sorted({service for service, _ in STATS})
    accepted = sum(STATS[s, "accepted"] for s in services)
    refused = sum(STATS[s, "refused"] for s in services)
    print(f"\nfuzz: {accepted + refused} service calls, {accepted} accepted and read back, {refused} refused with "
          "a ServiceError, 0 other exceptions")
    for service in services:
        print(f"  {service:<22} {STATS[service, 'accepted']:>5} accepted {STATS[service, 'refused']:>5} refused")


def attempt(service: str, call: Callable[[], T]) -> T | None:
    """The call's result, or None when it was refused with a `ServiceError`; anything else propagates."""
    try:
        result = call()
    except ServiceError:
        STATS[service, "refused"] += 1
        return None
    STATS[service, "accepted"] += 1
    return result


def assert_clean(value: Any, multiline: bool = False) -> None:
    """No stored text holds a character `check_text` refuses."""
    if isinstance(value, str):
        assert text_problem(value, multiline=multiline) is None, repr(value)
    elif isinstance(value, dict):
        for item in value.values():
            assert_clean(item, multiline)
    elif isinstance(value, (list, tuple)):
        for item in value:
            assert_clean(item, multiline)


ids = itertools.count(1)


@pytest.fixture
def world(store, admin, tmp_path):
    """A customer with a settled 10,000,000.00 sale to refund against, and local settings."""
    try:
        from ..conftest import policy
    except ImportError:  # before limits were store policy
        pass
    else:
        policy(store, {"refund_limit.agent.USD": "50.00", "payout_ceiling.USD": "99999999.00"})
    local = load_settings(store.url, env={"AGENTDESK_DATA_DIR": str(tmp_path / "data")})
    customers.create_customer(store, admin, customer_input())
    sale_id = sale(store, admin, local, amount=1_000_000_000)
    customers.create_customer(store, admin, customer_input(external_id="C-2", emails=[], phones=[]))
    document = tmp_path / "document.txt"
    document.write_text("a document")
    return {"settings": local, "sale": sale_id, "file": document}


CUSTOMER_FIELDS = ["first_name", "last_name", "organization", "job_title", "date_of_birth", "external_id", "email",
                   "phone", "label", "line1", "line2", "city", "region", "postal_code", "country", "custom_field",
                   "website"]


def fuzzed_draft(field: str, value: Any) -> CustomerInput:
    """A valid customer except for one field."""
    address = {"line1": "1 Main St", "city": "Springfield", "country": "US", "line2": None, "region": None,
               "postal_code": None}
    phone = {"value": "+1 415 555 0100", "label": "mobile"}
    values: dict[str, Any] = {"first_name": "Grace", "last_name": "Hopper", "external_id": f"F-{next(ids)}",
                              "emails": [ContactInput(f"grace{next(ids)}@example.com")], "custom_fields": {}}
    if field in address:
        address[field] = value
    elif field in ("phone", "label"):
        phone["value" if field == "phone" else "label"] = value
    elif field == "email":
        values["emails"] = [ContactInput(value)]
    elif field == "custom_field":
        values["custom_fields"] = {"note": value}
    else:
        values[field] = value
    return CustomerInput(**values, phones=[ContactInput(phone["value"], label=phone["label"])],
                         addresses=[AddressInput(**address)])


@FUZZ
@given(field=st.sampled_from(CUSTOMER_FIELDS), text=texts, day=dates, edited=st.sampled_from(
    ["first_name", "last_name", "organization", "job_title", "date_of_birth", "website"]), new=texts, new_day=dates)
def test_creating_and_editing_customers(store, admin, world, field, text, day, edited, new, new_day):
    value = day if field == "date_of_birth" else text
    new = new_day if edited == "date_of_birth" else new
    created = attempt("create customer", lambda: customers.create_customer(store, admin, fuzzed_draft(field, value)))
    if created is not None:
        stored = customers.get_customer(store, admin, created.external_id)
        for name in ("external_id", "first_name", "last_name", "organization", "job_title", "date_of_birth",
                     "emails", "phones", "addresses", "custom_fields", "website"):
            assert getattr(stored, name) == getattr(created, name), name
        assert_clean([stored.external_id, stored.first_name, stored.last_name, stored.organization,
                      stored.job_title, stored.custom_fields, [a.__dict__ for a in stored.addresses],
                      [(p.value, p.label) for p in stored.phones], [e.value for e in stored.emails]])
        assert len(stored.first_name) <= limits.NAME
        assert len(stored.addresses[0].postal_code or "") <= limits.POSTAL_CODE
    draft = fuzzed_draft(field, value)
    draft.external_id = draft.external_id if field == "external_id" else "C-1"
    updated = attempt("update customer", lambda: customers.update_customer(store, admin, "C-1", draft))
    if updated is not None:
        stored = customers.get_customer(store, admin, "C-1")
        for name in ("first_name", "last_name", "organization", "job_title", "date_of_birth", "emails", "phones",
                     "addresses", "custom_fields", "website"):
            assert getattr(stored, name) == getattr(updated, name), name
        assert_clean([stored.first_name, stored.organization, stored.custom_fields,
                      [a.__dict__ for a in stored.addresses], [(p.value, p.label) for p in stored.phones]])
    changed = attempt("edit customer", lambda: customers.edit_customer(store, admin, "C-1", {edited: new}))
    if changed is not None:
        stored = customers.get_customer(store, admin, "C-1")
        assert getattr(stored, edited) == getattr(changed, edited)
        assert_clean(getattr(stored, edited))


@FUZZ
@given(text=texts, link_text=optional_texts, target=st.one_of(st.sampled_from(["C-2", "1"]), texts, integers.map(str)),
       corrects=st.one_of(st.none(), st.none(), integers), description=optional_texts, path=texts,
       ref=st.one_of(st.sampled_from(["C-1", 1]), texts, integers))
def test_notes_links_and_attachments(store, admin, world, tmp_path, text, link_text, target, corrects, description,
                                     path, ref):
    local = world["settings"]
    note = attempt("add note", lambda: notes.add_note(store, admin, "C-1", text, corrects=corrects))
    if note is not None:
        stored = {e.id: e for e in customers.get_customer(store, admin, "C-1").timeline}[note.id]
        assert stored.attributes == note.attributes
        assert_clean(stored.attributes["text"], multiline=True)
        assert len(stored.attributes["text"]) <= limits.NOTE
    kind = "transaction" if target.isdigit() else "customer"
    link = attempt("add link", lambda: notes.add_link(store, admin, "C-1", kind, target, link_text))
    if link is not None:
        stored = {e.id: e for e in customers.get_customer(store, admin, "C-1").timeline}[link.id]
        assert stored.attributes == link.attributes
        assert_clean(stored.attributes, multiline=True)
    attempt("add attachment", lambda: attachments.add_attachment(store, admin, local, "C-1", path, description))
    try:
        named = tmp_path / path
        named.write_bytes(b"fuzz")
    except (OSError, ValueError):  # not a name this file system takes
        named = world["file"]
    attached = attempt("add attachment", lambda: attachments.add_attachment(store, admin, local, "C-1", named,
                                                                             description))
    if attached is not None:
        stored = {e.id: e for e in customers.get_customer(store, admin, "C-1").timeline}[attached.id]
        assert stored.attributes == attached.attributes and stored.attributes["name"] == named.name
        assert_clean([stored.attributes["name"], stored.attributes.get("description")])
    attempt("get customer", lambda: customers.get_customer(store, admin, ref))


@FUZZ
@given(amount=amounts, description=optional_texts, reason=texts, refund_amount=amounts,
       txn=st.one_of(st.none(), st.none(), integers), request_id=shaped(r"[a-z][a-z0-9-]{2,20}"),
       currency=st.sampled_from(["USD", "USD", "usd", "EUR", "XXX"]))
def test_money(store, admin, world, amount, description, reason, refund_amount, txn, request_id, currency):
    local = world["settings"]
    before = customers.get_customer(store, admin, "C-1")
    paid = attempt("collect payment", lambda: payments.collect_payment(store, admin, local, "C-1", amount, currency,
                                                                       description, outside=True))
    after = customers.get_customer(store, admin, "C-1")
    if paid is not None:
        row = next(t for t in after.transactions if t.id == paid.transaction_id)
        assert row.amount == paid.amount == amount
        assert after.lifetime_value == before.lifetime_value + amount
    else:
        assert after.lifetime_value == before.lifetime_value and len(after.transactions) == len(before.transactions)
    memo = attempt("credit memo", lambda: payments.create_credit_memo(store, admin, "C-1", amount, currency, reason))
    if memo is not None:
        assert memo.amount == amount and memo.reason == " ".join(reason.split())
        assert customers.get_customer(store, admin, "C-1").available_credit[memo.currency] >= amount
        assert_clean(memo.reason)
    target = world["sale"] if txn is None else txn
    refunded = attempt("refund", lambda: refunds.refund_transaction(store, admin, local, target, refund_amount, reason))
    if refunded is not None and refunded.refund_id is not None:
        row = next(t for t in customers.get_customer(store, admin, "C-1").transactions if t.id == refunded.refund_id)
        assert row.amount == refunded.amount
    attempt("payout", lambda: payments.send_payout(store, admin, local, "C-1", amount, currency, request_id))


BLOCKABLE = [("customer", "C-2"), ("ip", "10.0.0.1"), ("ip", "2001:db8::1"), ("country", "de"), ("bin", "411111"),
             ("email", "Fraud@Example.com"), ("phone", "+1 415 555 0199"), ("fingerprint", "fp_abc")]


@FUZZ
@given(entry_pair=st.one_of(st.sampled_from(BLOCKABLE), st.sampled_from(BLOCKABLE),
                           st.tuples(st.sampled_from(blocklist.KINDS), texts), st.tuples(texts, texts)),
       reason=optional_texts, expires=st.one_of(st.none(), st.none(), dates), source=texts,
       matches=st.one_of(st.integers(0, 100), integers), tag=shaped(r"[a-z][a-z0-9 _.-]{0,20}"),
       tax=shaped(r"[A-Z]{2}[0-9]{6,12}"), lead=st.dictionaries(st.sampled_from(extras.LEAD_FIELDS), texts, max_size=3),
       entry=integers)
def test_risk_tags_and_extras(store, admin, world, entry_pair, reason, expires, source, matches, tag, tax, lead,
                              entry):
    kind, value = entry_pair
    added = attempt("block", lambda: blocklist.add_entry(store, admin, kind, value, reason, expires))
    if added is not None:
        stored = {e.id: e for e in blocklist.list_entries(store, admin, include_inactive=True)}[added.id]
        assert (stored.kind, stored.value, stored.reason, stored.expires_at) == (
            added.kind, added.value, added.reason, added.expires_at)
        assert_clean([stored.value, stored.reason])
        assert len(stored.value) <= limits.BLOCK_VALUE
        attempt("unblock", lambda: blocklist.remove_entry(store, admin, added.id))
    attempt("unblock", lambda: blocklist.remove_entry(store, admin, entry))
    check = attempt("AML check", lambda: compliance.record_aml_check(store, admin, "C-1", "clear", matches, source))
    if check is not None:
        stored = {c.id: c for c in compliance.compliance(store, admin, "C-1").checks}[check]
        assert stored.matches == matches and stored.source == (" ".join(source.split()) or "manual")
        assert_clean(stored.source)
    tagged = attempt("add tag", lambda: tags.add_tag(store, admin, "C-1", tag))
    if tagged is not None:
        assert tagged == customers.get_customer(store, admin, "C-1").tags
        assert_clean(tagged)
        attempt("remove tag", lambda: tags.remove_tag(store, admin, "C-1", tag))
    tax_id = attempt("add tax id", lambda: extras.add_tax_id(store, admin, "C-1", "vat", tax))
    if tax_id is not None:
        stored = {t.id: t for t in customers.get_customer(store, admin, "C-1").tax_ids}[tax_id]
        assert stored.value == " ".join(tax.split())
        attempt("delete tax id", lambda: extras.delete_tax_id(store, admin, tax_id))
    source_fields = attempt("lead source", lambda: extras.set_lead_source(store, admin, "C-1", lead))
    if source_fields is not None:
        assert customers.get_customer(store, admin, "C-1").lead_source == source_fields
        assert_clean(source_fields)


@FUZZ
@given(login=shaped(r"[a-z][a-z0-9_.-]{0,30}"), role=st.one_of(st.sampled_from(["agent", "sales", "finance"]), texts),
       name=optional_texts, segment_name=texts, search=texts, ltv=st.one_of(st.none(), amounts, texts),
       payments=st.one_of(st.none(), integers, integers.map(str)), website=st.one_of(st.none(), st.none(), texts),
       tag=st.one_of(st.none(), st.none(), texts), segment_id=integers)
def test_agents_and_segments(store, admin, login, role, name, segment_name, search, ltv, payments, website, tag,
                             segment_id):
    agent = attempt("add agent", lambda: identity.add_agent(store, admin, login, role, name))
    if agent is not None:
        stored = {a.login: a for a in identity.list_agents(store, admin)}[agent.login]
        assert stored == agent and stored.login == login
        assert_clean([stored.login, stored.name])
    query = attempt("parse filters", lambda: CustomerQuery(Segment.ALL, search, parse_filters(
        {"ltv_min": ltv, "payments_min": payments, "website": website, "tag": tag})))
    if query is not None:
        attempt("search customers", lambda: fetch_page(store, admin, query, 20))
        saved = attempt("save segment", lambda: segments.create_segment(store, admin, segment_name, query))
        if saved is not None:
            stored = {s.id: s for s in segments.list_segments(store, admin)}[saved.id]
            assert stored.name == saved.name and stored.query == saved.query
            assert_clean([stored.name, stored.query.to_dict()])
            attempt("rename segment", lambda: segments.rename_segment(store, admin, saved.id, search))
            attempt("delete segment", lambda: segments.delete_segment(store, admin, saved.id))
    attempt("delete segment", lambda: segments.delete_segment(store, admin, segment_id))


POLICY = [("refund_limit.agent.USD", "500.00"), ("payout_ceiling.EUR", "5000"),
          ("notify_emails", "a@example.com, b@x.org"), ("website_gateway.shop-us", "sandbox"),
          ("attachment_limit", "10 MiB"), ("link_expiry.kyc", "48"), ("dunning_schedule", "1,3,7"),
          ("portal_base_url", "https://portal.example")]


@FUZZ
@given(setting=st.sampled_from(POLICY), mode=st.sampled_from(["as typed", "value", "value", "parameter", "key"]),
       text=texts, number=integers)
def test_policy(store, admin, setting, mode, text, number):
    key, value = setting
    if mode == "value":
        value = text if number % 2 else number
    elif mode == "parameter":
        key = f"{key.split('.')[0]}.{text}"
    elif mode == "key":
        key = text
    change = attempt("set policy", lambda: policy.set_policy(store, admin, key, value))
    if change is not None:
        with store.read() as session:
            assert policy.policy_value(session, change.key) == change.new
        assert_clean(change.new)
