"""The service key (issue 10, finding 3): created with the store, never replaced, required to open it; card
fingerprints nobody can reverse from the database alone; a store from before keys keyed once."""

from __future__ import annotations

import hashlib
import hmac
import json
import sqlite3
import stat
import threading
from pathlib import Path

import pytest
from sqlalchemy import text

from agentdesk.config import load_settings
from agentdesk.db import keys
from agentdesk.db.store import Store, StoreError
from agentdesk.domain.enums import Role
from agentdesk.domain.validation import CardInput
from agentdesk.services.agents import identity
from agentdesk.services.customers import records as customers
from agentdesk.services.money import instruments, payments, refunds, settlement
from agentdesk.services.money.gateways.sandbox import legacy_digest
from agentdesk.services.risk import blocklist
from agentdesk.services.timeline import audit, checkpoints, notes
from agentdesk.services.timeline import chain as timeline_chain

from ..conftest import add_roles, add_website, customer_input
from ..support.tamper import disable_timeline_guard

NUMBER = "4000056655665556"


def settings_for(store, tmp_path):
    return load_settings(store.url, env={"AGENTDESK_DATA_DIR": str(tmp_path / "data")})


def test_a_new_store_gets_a_private_key_beside_it(sqlite_store, tmp_path):
    path = tmp_path / "agentdesk.db.key"
    assert sqlite_store.key_path == path
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert len(bytes.fromhex(path.read_text().strip())) == 32
    with sqlite_store.read() as s:
        record = s.execute(text("SELECT value FROM setting WHERE key = 'service_key'")).scalar_one()
    assert record.startswith("v1:") and path.read_text().strip() not in record
    assert sqlite_store.checkpoint_path == tmp_path / "agentdesk.db.checkpoints.log"
    assert "agentdesk.db.key" in repr(sqlite_store.key) and path.read_text().strip() not in repr(sqlite_store.key)


def test_key_file_location(tmp_path):
    assert keys.key_path("sqlite:////srv/desk/store.db") == Path("/srv/desk/store.db.key")
    assert keys.key_path("sqlite:////srv/desk/store.db", Path("/etc/agentdesk/desk.key")) == \
        Path("/etc/agentdesk/desk.key")
    assert keys.key_path("postgresql+psycopg://desk@db/desk", data_dir=Path("/var/lib/agentdesk")) == \
        Path("/var/lib/agentdesk/agentdesk.key")
    assert keys.key_path("sqlite://") is None
    assert keys.checkpoint_path_for(Path("/etc/agentdesk/desk.key")) == Path("/etc/agentdesk/desk.checkpoints.log")
    settings = load_settings(None, env={"AGENTDESK_KEY_FILE": "~/keys/desk.key"})
    assert settings.key_file == Path("~/keys/desk.key").expanduser()


def test_a_key_file_is_never_overwritten(tmp_path):
    path = tmp_path / "private" / "desk.key"
    results: list[keys.ServiceKey] = []
    threads = [threading.Thread(target=lambda: results.append(keys.create_key_file(path))) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len({k.check_value() for k in results}) == 1
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700 and [p.name for p in path.parent.iterdir()] == ["desk.key"]
    path.write_text("not a key\n")
    with pytest.raises(keys.KeyProblem, match="does not hold a service key"):
        keys.read_key_file(path)


def test_a_store_refuses_to_open_without_its_key(store, tmp_path):
    path = store.key_path
    assert path is not None and path.exists()
    saved = path.read_bytes()
    path.unlink()
    again = Store(store.url, key_file=path)
    with pytest.raises(StoreError, match="is missing; restore it from backup: without it card fingerprints and the "
                                         "timeline chain cannot be checked"):
        again.ensure_schema() if store.is_sqlite else again.upgrade()
    with pytest.raises(StoreError, match="is missing"):
        _ = again.key
    assert not path.exists(), "a new key must never be made silently for a store that has one"
    path.write_text(keys.generate().hex() + "\n")
    other = Store(store.url, key_file=path)
    with pytest.raises(StoreError, match="is not this store's key"):
        other.open_key()
    path.write_bytes(saved)
    Store(store.url, key_file=path).open_key()
    for s in (again, other):
        s.dispose()


def test_an_altered_key_record_is_refused(sqlite_store):
    with sqlite_store.engine.begin() as conn:
        value = conn.execute(text("SELECT value FROM setting WHERE key = 'service_key'")).scalar_one()
        check, _, mac = value.split(":")[1:]
        conn.execute(text("UPDATE setting SET value = :v WHERE key = 'service_key'"),
                     {"v": f"v1:{check}:999999:{mac}"})
    with pytest.raises(StoreError, match=r"key record .* was altered"):
        Store(sqlite_store.url).open_key()


def test_the_command_line_refuses_a_store_whose_key_is_missing(tmp_path, capsys):
    from agentdesk import cli

    url = f"sqlite:///{tmp_path / 'desk.db'}"
    assert cli.main(["--db", url, "demo", "--customers", "3"]) == 0
    assert f"service key: {tmp_path / 'desk.db.key'}" in capsys.readouterr().out
    (tmp_path / "desk.db.key").rename(tmp_path / "elsewhere.key")
    assert cli.main(["--db", url, "audit", "verify"]) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"agentdesk: the key file {tmp_path / 'desk.db.key'} is missing; restore it from backup")
    assert not (tmp_path / "desk.db.key").exists()


def test_the_key_file_setting_names_where_the_key_lives(tmp_path, capsys, monkeypatch):
    from agentdesk import cli

    url = f"sqlite:///{tmp_path / 'desk.db'}"
    monkeypatch.setenv("AGENTDESK_KEY_FILE", str(tmp_path / "keys" / "desk.key"))
    assert cli.main(["--db", url, "demo", "--customers", "3"]) == 0
    assert (tmp_path / "keys" / "desk.key").exists() and not (tmp_path / "desk.db.key").exists()
    assert cli.main(["--db", url, "audit", "verify"]) == 0
    monkeypatch.delenv("AGENTDESK_KEY_FILE")
    capsys.readouterr()
    assert cli.main(["--db", url, "audit", "verify"]) == 1
    assert "desk.db.key is missing" in capsys.readouterr().err


# --- finding 3: the number cannot be recovered from the database ---------------------------------------------------


def luhn_ok(number: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(number)):
        d = int(ch) * (2 if i % 2 else 1)
        total += d - 9 if d > 9 else d
    return total % 10 == 0


def recover(bin_: str, last4: str, fingerprint: str, formulas) -> list[str]:
    """The attack of the issue: try every middle of a 16-digit card (Luhn-valid ones) under each formula."""
    middle = 16 - len(bin_) - len(last4)
    hits = []
    for n in range(10 ** middle):
        number = f"{bin_}{n:0{middle}d}{last4}"
        if luhn_ok(number) and any(f(number) == fingerprint for f in formulas):
            hits.append(number)
    return hits


UNKEYED_GUESSES = [
    lambda n: legacy_digest(n),
    lambda n: hmac.new(b"", f"fingerprint:card:{legacy_digest(n)}".encode(), hashlib.sha256).hexdigest()[:32],
    lambda n: hmac.new(b"", f"card:{legacy_digest(n)}".encode(), hashlib.sha256).hexdigest()[:32],
    lambda n: hashlib.sha256(f"card:{legacy_digest(n)}".encode()).hexdigest()[:32],
    lambda n: hashlib.sha256(f"card:{n}".encode()).hexdigest()[:32],
]


def test_a_card_number_cannot_be_recovered_from_the_database_file(sqlite_store, tmp_path):
    store = sqlite_store
    add_website(store)
    admin = add_roles(store)[Role.ADMIN]
    settings = settings_for(store, tmp_path)
    customers.create_customer(store, admin, customer_input(card=CardInput("4000 0566 5566 5556", "08/31")), settings)
    database = tmp_path / "agentdesk.db"
    with sqlite3.connect(database) as conn:  # the attacker's view: the file alone
        bin_, last4, fingerprint = conn.execute("SELECT bin, last4, fingerprint FROM payment_instrument").fetchone()
    assert (bin_, last4) == ("400005", "5556") and len(fingerprint) == 32
    assert recover(bin_, last4, fingerprint, UNKEYED_GUESSES) == []
    # The same attack on what the store kept before keys finds the number at once.
    assert recover(bin_, last4, legacy_digest(NUMBER), UNKEYED_GUESSES[:1]) == [NUMBER]
    assert fingerprint == store.key.card_fingerprint(legacy_digest(NUMBER))
    assert (tmp_path / "agentdesk.db-wal").exists()
    forms = [NUMBER.encode(), b"4000 0566 5566 5556", legacy_digest(NUMBER).encode()]
    for phase in ("open", "closed"):
        for path in tmp_path.rglob("*"):
            if path.is_file():
                data = path.read_bytes()
                assert not any(form in data for form in forms), (phase, path)
        store.dispose()


def test_the_same_card_keeps_one_fingerprint_and_blocklist_entries_match_it(store, admin, tmp_path):
    settings = settings_for(store, tmp_path)
    customers.create_customer(store, admin, customer_input())
    customers.create_customer(store, admin, customer_input(external_id="C-2", emails=[], phones=[]))
    instruments.add_card(store, admin, settings, "C-1", NUMBER, "08/31")
    instruments.add_card(store, admin, settings, "C-2", "4000 0566 5566 5556", "09/32")
    with store.read() as s:
        prints = s.execute(text("SELECT DISTINCT fingerprint FROM payment_instrument")).scalars().all()
    assert prints == [store.key.card_fingerprint(legacy_digest(NUMBER))]
    blocklist.add_entry(store, admin, "fingerprint", prints[0], "stolen card")
    with store.read() as s:
        assert s.execute(text("SELECT COUNT(*) FROM customer WHERE blocked")).scalar_one() == 2


# --- a store from before keys ----------------------------------------------------------------------------------------


def make_legacy(store) -> None:
    """Turn a store into what stores were before keys: unkeyed fingerprints, no seals, sha256 events, no key."""
    with store.engine.begin() as conn:
        disable_timeline_guard(conn)
        conn.execute(text("DELETE FROM setting WHERE key = 'service_key'"))
        conn.execute(text("UPDATE payment_instrument SET fingerprint = :f"), {"f": legacy_digest(NUMBER)})
        conn.execute(text("UPDATE blocklist_entry SET value = :f WHERE kind = 'fingerprint'"),
                     {"f": legacy_digest(NUMBER)})
        conn.execute(text('UPDATE "transaction" SET seal = NULL'))
        conn.execute(text("UPDATE credit_memo SET seal = NULL"))
        conn.execute(text("UPDATE timeline_event SET bound_rows = NULL, hash_version = 1"))
        for event_id, attributes in conn.execute(text(
                "SELECT id, attributes FROM timeline_event WHERE type = 'blocklisted'")).all():
            attributes = attributes if isinstance(attributes, dict) else json.loads(attributes)
            conn.execute(text("UPDATE timeline_event SET attributes = :a WHERE id = :i"),
                         {"a": json.dumps({**attributes, "value": legacy_digest(NUMBER)}), "i": event_id})
        timeline_chain.backfill(conn)
    store.key_path.unlink()
    store.checkpoint_path.unlink(missing_ok=True)


def test_a_store_from_before_keys_is_keyed_once(store, admin, tmp_path):
    settings = settings_for(store, tmp_path)
    customers.create_customer(store, admin, customer_input())
    instruments.add_card(store, admin, settings, "C-1", NUMBER, "08/31")
    sale = payments.collect_payment(store, admin, settings, "C-1", 10_000, "USD", "annual plan")
    settlement.settle_from_gateway(store, settings, everything=True)
    refund = refunds.refund_transaction(store, admin, settings, sale.transaction_id, 1_000, "goodwill")
    payments.create_credit_memo(store, admin, "C-1", 500, "USD", "late delivery")
    with store.read() as s:
        print_now = s.execute(text("SELECT fingerprint FROM payment_instrument")).scalar_one()
    blocklist.add_entry(store, admin, "fingerprint", print_now, "chargeback")
    make_legacy(store)

    upgraded = Store(store.url, key_file=store.key_path)
    keyed = upgraded.open_key()
    assert keyed.created and keyed.rekeyed == {"fingerprints": 1, "blocklist entries": 1, "money rows": 3}
    key = upgraded.key
    assert key.check_value() != store.key.check_value()
    with upgraded.read() as s:
        fingerprint = s.execute(text("SELECT fingerprint FROM payment_instrument")).scalar_one()
        entry = s.execute(text("SELECT value FROM blocklist_entry")).scalar_one()
        unsealed = s.execute(text('SELECT COUNT(*) FROM "transaction" WHERE seal IS NULL')).scalar_one()
        legacy_event = s.execute(text("SELECT attributes FROM timeline_event WHERE type = 'blocklisted'")).scalar_one()
    assert fingerprint == entry == key.card_fingerprint(legacy_digest(NUMBER)) and unsealed == 0
    # Events are append-only: the blocklist event written before keys still names the old, unkeyed digest.
    attributes = legacy_event if isinstance(legacy_event, dict) else json.loads(legacy_event)
    assert attributes["value"] == legacy_digest(NUMBER)
    upgraded.open_key()
    assert Store(store.url, key_file=store.key_path).open_key().rekeyed == {}

    report = audit.verify(upgraded, admin)
    assert report.ok, report.findings
    assert report.unkeyed_events == report.events >= 6
    customers.create_customer(upgraded, admin, customer_input(external_id="C-2", emails=[], phones=[]))
    instruments.add_card(upgraded, admin, settings, "C-2", NUMBER, "09/32")
    with upgraded.read() as s:
        assert s.execute(text("SELECT COUNT(DISTINCT fingerprint) FROM payment_instrument")).scalar_one() == 1
        second = s.execute(text("SELECT id FROM customer WHERE external_id = 'C-2'")).scalar_one()
    assert [e.kind for e in blocklist.blocks_on(upgraded, admin, second)] == ["fingerprint"]
    notes.add_note(upgraded, admin, "C-1", "first note after the store was keyed")
    checkpoints.write_checkpoint(upgraded)
    assert audit.verify(upgraded, admin).ok
    # A legacy event rewritten now is caught by the keyed event after it; a new unkeyed one is forged.
    with upgraded.engine.begin() as conn:
        disable_timeline_guard(conn)
        first = conn.execute(text("SELECT MIN(id) FROM timeline_event")).scalar_one()
        conn.execute(text("UPDATE timeline_event SET actor_label = 'nobody' WHERE id = :i"), {"i": first})
        timeline_chain.backfill(conn)
    findings = audit.verify(upgraded, admin).findings
    assert {(f.customer, f.kind) for f in findings} >= {("C-1", "forged")}
    assert refund.refund_id is not None
    for s in (upgraded,):
        s.dispose()


def test_db_upgrade_keys_an_old_store_and_pins_its_chains(sqlite_store, tmp_path, capsys, monkeypatch):
    from agentdesk import cli

    store = sqlite_store
    add_website(store)
    admin = add_roles(store)[Role.ADMIN]
    customers.create_customer(store, admin, customer_input())
    notes.add_note(store, admin, "C-1", "before keys")
    make_legacy(store)
    store.dispose()
    monkeypatch.setattr(identity, "os_login", lambda: "ada")
    assert cli.main(["--db", store.url, "db", "upgrade"]) == 0
    out = capsys.readouterr().out
    assert f"service key created: {store.key_path} (mode 0600)" in out
    assert "store keyed: 0 card fingerprints and 0 fingerprint blocklist entries re-keyed, 0 money rows sealed" in out
    assert "first checkpoint: 1 customers' timeline chains pinned in" in out
    assert cli.main(["--db", store.url, "audit", "verify"]) == 0
    assert "2 events are from before the store was keyed" in capsys.readouterr().out
    with sqlite3.connect(tmp_path / "agentdesk.db") as conn:
        conn.execute("DROP TRIGGER IF EXISTS timeline_event_no_delete")
        for (name,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'trigger'").fetchall():
            conn.execute(f'DROP TRIGGER "{name}"')
        conn.execute("DELETE FROM timeline_event WHERE id = (SELECT MAX(id) FROM timeline_event)")
    assert cli.main(["--db", store.url, "audit", "verify"]) == 1
    assert "C-1: truncated" in capsys.readouterr().out
