"""The adversarial corpus of issue 10 against every command-line parameter that takes text, numbers or dates.

Each command runs in-process (`cli.main`) with each input of `tests/support/corpus.py`. It either succeeds —
and then what was stored reads back equal (up to the service's documented trimming of spaces) and every
output line shows it escaped — or fails with exit status 1 or 2 and ONE stderr line starting `agentdesk:`.
Never a traceback, never a raw control character on the terminal. The write commands run on PostgreSQL too
(marker pg). The counts are printed at the end of the module and recorded as properties.
"""

from __future__ import annotations

import json
import re
import traceback
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from sqlalchemy import MetaData, create_engine, select

from agentdesk import cli
from agentdesk.domain.text import visible
from agentdesk.services.agents import identity

from .support.corpus import DATES, NUMBERS, RAW_OUTPUT, SAMPLE, TEXT, Hostile

RAW = re.compile(RAW_OUTPUT)

TALLY: dict[str, Counter[str]] = {}
"""Per database: inputs tried, accepted, refused cleanly, unclean (a refusal not on one line), crashed."""


@dataclass
class Desk:
    """The store the corpus runs against and what the commands need from it."""

    url: str
    capsys: pytest.CaptureFixture[str]
    tmp: Path
    customer: str
    sale: int
    sale_customer: str
    unsettled: int
    currency: str
    tally: Counter[str]
    problems: list[str] = field(default_factory=list)

    def run(self, argv: list[str]) -> tuple[int | None, str, str, str | None]:
        """Exit status, stdout, stderr, and the traceback when the command raised instead of exiting."""
        try:
            code: int | None = cli.main(["--db", self.url, *argv])
            crash = None
        except BaseException as exc:  # a traceback, whatever its class, is what this test counts
            frame = traceback.extract_tb(exc.__traceback__)[-1]
            code, crash = None, f"{type(exc).__name__}: {str(exc)[:150]} at {frame.filename}:{frame.lineno}"
        out, err = self.capsys.readouterr()
        return code, out, err, crash

    def json(self, argv: list[str]) -> object:
        code, out, err, crash = self.run([*argv, "--json"])
        assert code == 0 and crash is None, (argv, err, crash)
        return json.loads(out)


@dataclass(frozen=True)
class Slot:
    """One parameter of one command: how to build the command line around an input, and how to read it back."""

    name: str
    argv: Callable[[Desk, str, int], list[str]]
    inputs: list[Hostile]
    write: bool = False
    reports_on_stdout: bool = False
    """refund, void, refund-order and payout print a refused result on stdout (exit 1) instead of stderr."""
    read_back: Callable[[Desk, str, int, str], object] | None = None
    """What the store holds after an accepted write (given the input, its index and the command's stdout)."""
    default: Callable[[int], str] | None = None
    """What the service keeps when the input holds nothing but spaces."""
    shown: Callable[[Desk, str, int], list[str]] | None = None
    """A text-mode command whose output shows the stored value."""


def stored_forms(text: str, default: str | None = None) -> set[str | None]:
    """What a service may keep of `text`: as typed, trimmed, or with its runs of spaces collapsed; nothing
    (or the field's `default`) when only spaces were typed."""
    forms: set[str | None] = {text, text.strip(), " ".join(text.split()), text.replace("\r\n", "\n").strip()}
    if not text.strip():
        forms |= {None, default}
    return forms


def last_event_attribute(desk: Desk, customer: str, event_type: str, name: str) -> object:
    data = desk.json(["timeline", customer, "--type", event_type, "--limit", "1"])
    assert isinstance(data, list) and data
    return data[0]["attributes"].get(name)


def entry_field(name: str) -> Callable[[Desk, str, int, str], object]:
    return lambda desk, text, i, out: json.loads(out)[name]


def agent_name(desk: Desk, text: str, i: int, out: str) -> object:
    data = desk.json(["agents", "list"])
    assert isinstance(data, list)
    return next(a["name"] for a in data if a["login"] == f"adv{i}")


def saved_segment(desk: Desk, text: str, i: int, out: str) -> object:
    """The saved name; then the segment is deleted by that name, which must work too."""
    data = desk.json(["segments", "list"])
    assert isinstance(data, list)
    names = [s["name"] for s in data if s["name"] in stored_forms(text)]
    if names:
        code, _, err, crash = desk.run(["segments", "delete", names[0]])
        if code != 0 or crash:
            desk.problems.append(f"segments delete after save [{text[:30]!r}]: {err[:120] or crash}")
    return names[0] if names else None


def ip_for(i: int, base: int) -> str:
    return f"10.{base}.{i // 250}.{i % 250 + 1}"


SLOTS: list[Slot] = [
    # free text
    Slot("note TEXT", lambda d, x, i: ["note", d.customer, x], TEXT, write=True,
         read_back=lambda d, x, i, out: last_event_attribute(d, d.customer, "note", "text"),
         shown=lambda d, x, i: ["timeline", d.customer, "--type", "note", "--limit", "1"]),
    Slot("segments save NAME", lambda d, x, i: ["segments", "save", x], TEXT, write=True, read_back=saved_segment),
    Slot("segments delete NAME", lambda d, x, i: ["segments", "delete", x], SAMPLE, write=True),
    Slot("blocklist add --reason", lambda d, x, i: ["blocklist", "add", "--type", "ip", "--value", ip_for(i, 1),
                                                    "--reason", x, "--json"], TEXT, write=True,
         read_back=entry_field("reason")),
    Slot("blocklist add --value", lambda d, x, i: ["blocklist", "add", "--type", "fingerprint", "--value", x,
                                                   "--json"], TEXT, write=True, read_back=entry_field("value")),
    Slot("refund --reason", lambda d, x, i: ["refund", str(d.sale), "--amount", "0.01", "--reason", x], TEXT,
         write=True, reports_on_stdout=True,
         read_back=lambda d, x, i, out: last_event_attribute(d, d.sale_customer, "manual_refund", "reason")),
    Slot("void --reason", lambda d, x, i: ["void", str(d.unsettled), "--reason", x], TEXT, write=True,
         reports_on_stdout=True),
    Slot("refund-order ORDER", lambda d, x, i: ["refund-order", x], SAMPLE, write=True, reports_on_stdout=True),
    Slot("payout --request-id", lambda d, x, i: ["payout", d.customer, "--amount", "0.01", "--currency", d.currency,
                                                 "--request-id", x], TEXT, write=True, reports_on_stdout=True),
    Slot("agents add LOGIN", lambda d, x, i: ["agents", "add", x, "--role", "agent"], TEXT, write=True),
    Slot("agents add --name", lambda d, x, i: ["agents", "add", f"adv{i}", "--role", "agent", "--name", x], TEXT,
         write=True, read_back=agent_name, default=lambda i: f"adv{i}"),
    Slot("export customers --search", lambda d, x, i: ["export", "customers", "--search", x, "--columns", "id",
                                                       "--out", str(d.tmp / "search.csv"), "--force"], SAMPLE,
         write=True),
    Slot("export customers --out", lambda d, x, i: ["export", "customers", "--columns", "id",
                                                    "--out", str(d.tmp / "out" / x)], TEXT, write=True),
    Slot("customers search TEXT", lambda d, x, i: ["customers", "search", x], SAMPLE),
    Slot("customers search --tag", lambda d, x, i: ["customers", "search", "--tag", x], SAMPLE),
    Slot("customers search --country", lambda d, x, i: ["customers", "search", "--country", x], SAMPLE),
    Slot("customers search --segment", lambda d, x, i: ["customers", "search", "--segment", x], SAMPLE),
    Slot("customers show ID", lambda d, x, i: ["customers", "show", x], SAMPLE),
    Slot("timeline CUSTOMER", lambda d, x, i: ["timeline", x], SAMPLE),
    Slot("timeline --search", lambda d, x, i: ["timeline", d.customer, "--search", x], SAMPLE),
    Slot("timeline --type", lambda d, x, i: ["timeline", d.customer, "--type", x], SAMPLE),
    Slot("audit verify CUSTOMER", lambda d, x, i: ["audit", "verify", x], SAMPLE),
    Slot("audit verify --checkpoints", lambda d, x, i: ["audit", "verify", "--checkpoints", str(d.tmp / "cp" / x)],
         SAMPLE),
    Slot("audit checkpoint --out", lambda d, x, i: ["audit", "checkpoint", "--out", str(d.tmp / "cp" / x)], SAMPLE,
         write=True),
    # numbers
    Slot("refund --amount", lambda d, x, i: ["refund", str(d.sale), "--amount", x], NUMBERS, write=True,
         reports_on_stdout=True),
    Slot("refund TXN", lambda d, x, i: ["refund", x, "--amount", "0.01"], NUMBERS, write=True,
         reports_on_stdout=True),
    Slot("payout --amount", lambda d, x, i: ["payout", d.customer, "--amount", x, "--currency", d.currency,
                                             "--request-id", f"adv-amount-{i}"], NUMBERS, write=True,
         reports_on_stdout=True),
    Slot("note --corrects", lambda d, x, i: ["note", d.customer, "correction", "--corrects", x], NUMBERS, write=True),
    Slot("blocklist remove ENTRY", lambda d, x, i: ["blocklist", "remove", x], NUMBERS, write=True),
    Slot("customers search --ltv-min", lambda d, x, i: ["customers", "search", "--currency", "USD", "--ltv-min", x],
         NUMBERS),
    Slot("customers search --payments-min", lambda d, x, i: ["customers", "search", "--payments-min", x], NUMBERS),
    Slot("customers search --limit", lambda d, x, i: ["customers", "search", "--limit", x], NUMBERS),
    # dates
    Slot("timeline --since", lambda d, x, i: ["timeline", d.customer, "--since", x], DATES),
    Slot("timeline --until", lambda d, x, i: ["timeline", d.customer, "--until", x], DATES),
    Slot("customers search --created-from", lambda d, x, i: ["customers", "search", "--created-from", x], DATES),
    Slot("blocklist add --expires", lambda d, x, i: ["blocklist", "add", "--type", "ip", "--value", ip_for(i, 2),
                                                     "--expires", x], DATES, write=True),
]
SLOTS += [
    Slot("policy set KEY", lambda d, x, i: ["policy", "set", x, "1"], SAMPLE, write=True),
    Slot("policy set notify_emails VALUE", lambda d, x, i: ["policy", "set", "notify_emails", x], TEXT, write=True),
    Slot("policy set portal_base_url VALUE", lambda d, x, i: ["policy", "set", "portal_base_url", x], SAMPLE,
         write=True),
    Slot("policy history KEY", lambda d, x, i: ["policy", "history", x], SAMPLE),
    Slot("audit money CUSTOMER", lambda d, x, i: ["audit", "money", x], SAMPLE),
]


def judge(desk: Desk, slot: Slot, hostile: Hostile, index: int) -> None:
    """Run one input through one slot and count what happened."""
    where = f"{slot.name} [{hostile.category}: {hostile.label}]"
    desk.tally["tried"] += 1
    code, out, err, crash = desk.run(slot.argv(desk, hostile.text, index))
    if crash is not None:
        desk.tally["crashed"] += 1
        desk.problems.append(f"{where}: traceback: {crash}")
        return
    if RAW.search(out) or RAW.search(err):
        desk.tally["unclean"] += 1
        desk.problems.append(f"{where}: a raw control character reached the terminal: {(out + err)[:200]!r}")
        return
    if code == 0:
        desk.tally["accepted"] += 1
        check_stored(desk, slot, hostile, index, out, where)
        return
    one_stderr_line = out == "" and err.startswith("agentdesk: ") and err.count("\n") == 1
    result_on_stdout = slot.reports_on_stdout and err == "" and bool(out.strip())
    if code in (1, 2) and (one_stderr_line or result_on_stdout):
        desk.tally["refused"] += 1
        return
    desk.tally["unclean"] += 1
    desk.problems.append(f"{where}: exit {code}, stdout {out[:120]!r}, stderr {err[:200]!r}")


def check_stored(desk: Desk, slot: Slot, hostile: Hostile, index: int, out: str, where: str) -> None:
    if slot.read_back is None:
        return
    stored = slot.read_back(desk, hostile.text, index, out)
    if stored not in stored_forms(hostile.text, slot.default(index) if slot.default else None):
        desk.problems.append(f"{where}: accepted, but reads back as {str(stored)[:80]!r}")
        return
    if not isinstance(stored, str):
        return
    if slot.shown is not None:
        code, shown, err, crash = desk.run(slot.shown(desk, hostile.text, index))
        if code != 0 or crash or RAW.search(shown) or visible(stored)[:60] not in shown:
            desk.problems.append(f"{where}: stored text not shown escaped: {shown[:120]!r} {err[:120] or crash}")


def _facts(url: str) -> dict[str, object]:
    """A customer with a payment instrument, a settled sale with money left, an unsettled sale."""
    engine = create_engine(url)
    meta = MetaData()
    meta.reflect(engine, only=["customer", "transaction", "payment_instrument"])
    customer, txn, instrument = meta.tables["customer"], meta.tables["transaction"], meta.tables["payment_instrument"]
    try:
        with engine.connect() as conn:
            payee = conn.execute(select(customer.c.external_id, customer.c.currency)
                                 .join(instrument, instrument.c.customer_id == customer.c.id)
                                 .order_by(customer.c.id)).first()
            sale = conn.execute(select(txn.c.id, customer.c.external_id)
                                .join(customer, customer.c.id == txn.c.customer_id)
                                .where(txn.c.type == "sale", txn.c.settled.is_(True), txn.c.status == "approved",
                                       txn.c.amount >= 1000).order_by(txn.c.id)).first()
            unsettled = conn.execute(select(txn.c.id).where(txn.c.type == "sale", txn.c.settled.is_(False),
                                                            txn.c.status == "approved").order_by(txn.c.id)).first()
    finally:
        engine.dispose()
    assert payee and sale and unsettled, "the demo store has what the corpus needs"
    return {"customer": payee[0], "currency": payee[1], "sale": sale[0], "sale_customer": sale[1],
            "unsettled": unsettled[0]}


def drive(url: str, database: str, capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
          *, writes_only: bool) -> None:
    monkeypatch.setattr(identity, "os_login", lambda: "operator")
    monkeypatch.setenv("AGENTDESK_DATA_DIR", str(tmp_path / "data"))
    if not url.startswith("sqlite"):
        assert cli.main(["--db", url, "db", "upgrade"]) == 0, capsys.readouterr().err
    code = cli.main(["--db", url, "demo", "--customers", "200", "--seed", "5"])
    assert code == 0, capsys.readouterr().err
    capsys.readouterr()
    (tmp_path / "out").mkdir()
    (tmp_path / "cp").mkdir()
    desk = Desk(url, capsys, tmp_path, tally=TALLY.setdefault(database, Counter()), **_facts(url))  # type: ignore[arg-type]
    for slot in SLOTS:
        if writes_only and not slot.write:
            continue
        for index, hostile in enumerate(slot.inputs):
            judge(desk, slot, hostile, index)
    assert desk.tally["tried"] > 0
    assert not desk.problems, f"{len(desk.problems)} problem(s):\n" + "\n".join(desk.problems[:40])


def test_corpus_on_sqlite(tmp_path, capsys, monkeypatch):
    drive(f"sqlite:///{tmp_path / 'corpus.db'}", "sqlite", capsys, tmp_path, monkeypatch, writes_only=False)


@pytest.mark.pg
def test_corpus_on_postgresql(pg_url, tmp_path, capsys, monkeypatch):
    """Every command, the write commands above all: PostgreSQL refuses NUL and over-long text that SQLite keeps."""
    drive(pg_url, "postgresql", capsys, tmp_path, monkeypatch, writes_only=False)


def test_counts(capsys, record_property):
    """The figures for the issue's closing note: printed even without -s, and recorded as properties."""
    lines = []
    for database, tally in TALLY.items():
        lines.append(f"adversarial corpus on {database}: {tally['tried']} inputs tried, {tally['accepted']} accepted, "
                     f"{tally['refused']} refused cleanly, {tally['unclean']} unclean, {tally['crashed']} crashes")
        for key in ("tried", "accepted", "refused", "unclean", "crashed"):
            record_property(f"{database}_{key}", tally[key])
    with capsys.disabled():
        print("\n" + "\n".join(lines or ["adversarial corpus: nothing ran"]))
    assert all(t["crashed"] == 0 and t["unclean"] == 0 for t in TALLY.values())
