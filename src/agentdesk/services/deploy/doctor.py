"""`agentdesk doctor`: is this deployment what the jump-host security model says it should be?

It checks, without changing anything:
- the owner and mode of every file AgentDesk keeps: the data dir, the SQLite
  store with its WAL and SHM, the key file and its checkpoints, the attachments
  and the outbox (each file in them), and the config file when it holds
  secrets (database password, SMTP password, Stripe key);
- that the agent who ran it through sudo could not open the store (or read
  the database credentials) without sudo;
- that the store has its key file, its policy, and a database that refuses
  changes to timeline events (the triggers of migration 0016);
- for PostgreSQL: that the URL's credentials come from the service account's
  own private config file, not from the environment or the command line.

Each problem comes with what to run to fix it. The service account is the
owner of the store (SQLite) or of the data dir: every other file must belong
to it too.
"""

from __future__ import annotations

import os
import pwd
import shlex
import stat
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, text
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.exc import ArgumentError, SQLAlchemyError

from agentdesk.config import Settings, env_path
from agentdesk.db import keys
from agentdesk.services.agents import identity
from agentdesk.services.deploy import files

TIMELINE_TRIGGERS_SQLITE = ("timeline_event_no_update", "timeline_event_no_delete")
TIMELINE_TRIGGER_PG = "timeline_event_append_only"
SERVICE_ACCOUNT_HINT = "sudo -u agentdesk agentdesk doctor"


@dataclass(frozen=True)
class Check:
    """One thing looked at: what, whether it is right, what was found, and the fix when it is not."""

    what: str
    ok: bool
    found: str
    fix: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"check": self.what, "ok": self.ok, "found": self.found, "fix": self.fix}


@dataclass
class Report:
    running_as: str
    service_account: str
    invoker: str | None
    """The agent who ran this through sudo (believed as `identity.sudo_login` believes it)."""
    checks: list[Check] = field(default_factory=list)

    @property
    def problems(self) -> list[Check]:
        return [c for c in self.checks if not c.ok]

    @property
    def ok(self) -> bool:
        return not self.problems

    def to_dict(self) -> dict[str, Any]:
        return {"ok": self.ok, "running_as": self.running_as, "service_account": self.service_account,
                "invoker": self.invoker, "checks": [c.to_dict() for c in self.checks]}


def _quote(path: Path) -> str:
    return shlex.quote(str(path))


@dataclass(frozen=True)
class Account:
    """Who might open a file: a uid and its groups."""

    name: str
    uid: int
    gids: frozenset[int]

    @classmethod
    def of(cls, login: str) -> Account:
        entry = pwd.getpwnam(login)
        return cls(login, entry.pw_uid, frozenset(os.getgrouplist(login, entry.pw_gid)))

    def may(self, info: os.stat_result, bits: int) -> bool:
        """Whether the mode bits grant this account `bits` (a mask of r=4, w=2, x=1)."""
        if self.uid == 0:
            return True
        if info.st_uid == self.uid:
            return bool((info.st_mode >> 6) & bits)
        if info.st_gid in self.gids:
            return bool((info.st_mode >> 3) & bits)
        return bool(info.st_mode & bits)

    def can_open(self, path: Path) -> str | None:
        """'read'/'write' when this account could read or write `path` by itself (every directory above it
        searchable); None when it cannot."""
        for directory in reversed(path.parents):
            try:
                if not self.may(directory.stat(), 1):
                    return None
            except OSError:
                return None
        info = path.stat()
        if self.may(info, 2):
            return "write"
        if self.may(info, 4):
            return "read"
        return None


class Doctor:
    def __init__(self, settings: Settings):
        self.settings = settings
        self.database = files.sqlite_path(settings.database_url)
        self.key = files.key_file(settings)
        self.uid = os.getuid()
        self.invoker = identity.sudo_login(files.service_paths(settings))
        anchor = next((p for p in (self.database, settings.data_dir) if p is not None and _exists(p)), None)
        self.service_uid = anchor.stat().st_uid if anchor is not None else self.uid
        self.service_name = files.owner_name(self.service_uid)
        self.report = Report(files.owner_name(self.uid), self.service_name, self.invoker)

    def add(self, what: str, ok: bool, found: str, fix: str | None = None) -> None:
        self.report.checks.append(Check(what, ok, found, None if ok else fix))

    def run(self) -> Report:
        self.check_account()
        self.check_directory("data dir", self.settings.data_dir)
        if self.database is not None:
            if self.database.parent != self.settings.data_dir:
                self.check_directory("store dir", self.database.parent)
            self.check_store_files()
        self.check_key()
        for name, folder in (("attachments", self.settings.data_dir / "attachments"),
                             ("outbox", self.settings.data_dir / "outbox")):
            self.check_directory(name, folder, required=False)
            self.check_contents(name, folder)
        self.check_config()
        self.check_invoker()
        self.check_database()
        return self.report

    # --- who runs it ------------------------------------------------------------------------

    def check_account(self) -> None:
        if self.uid in (0, self.service_uid):
            via = f", run through sudo by {self.invoker}" if self.invoker else ""
            self.add("account", True, f"running as {self.report.running_as}{via}; the store belongs to "
                     f"{self.service_name}")
            return
        self.add("account", False, f"running as {self.report.running_as}, but the store belongs to "
                 f"{self.service_name}", f"run it as the service account: sudo -u {self.service_name} agentdesk doctor")

    # --- files ------------------------------------------------------------------------------

    def _owned(self, what: str, path: Path, wanted: int, *, exact: bool = True, root_too: bool = False) -> None:
        """`path` must belong to the service account (or root, with `root_too`) with mode `wanted` (or
        stricter, when `exact` is False)."""
        try:
            info = path.stat()
        except PermissionError:
            self.add(what, False, f"{path}: cannot be examined by {self.report.running_as}",
                     f"run it as the service account: {SERVICE_ACCOUNT_HINT}")
            return
        mode = stat.S_IMODE(info.st_mode)
        fixes = []
        if info.st_uid != self.service_uid and not (root_too and info.st_uid == 0):
            fixes.append(f"chown {shlex.quote(self.service_name)} {_quote(path)}")
        loose = mode & ~wanted & 0o777 if not exact else mode & files.EXPOSED_BITS
        if loose or (exact and mode != wanted):
            fixes.append(f"chmod {wanted:o} {_quote(path)}")
        found = f"{path}: {files.owner_name(info.st_uid)}, mode {mode:04o}"
        self.add(what, not fixes, found, " && ".join(fixes) or None)

    def check_directory(self, what: str, path: Path, *, required: bool = True) -> None:
        if not _exists(path):
            if required:
                self.add(what, True, f"{path}: not created yet (AgentDesk creates it 0700)")
            return
        self._owned(what, path, files.PRIVATE_DIR)

    def check_store_files(self) -> None:
        assert self.database is not None
        if not _exists(self.database):
            self.add("store", False, f"{self.database}: no store there",
                     f"create it as the service account: sudo -u {self.service_name} agentdesk db upgrade")
            return
        for what, path in zip(("store", "store WAL", "store SHM"), files.sqlite_files(self.database), strict=True):
            if _exists(path):
                self._owned(what, path, files.PRIVATE_FILE)

    def check_key(self) -> None:
        if self.key is None:
            self.add("key file", True, "an in-memory store keeps its key in memory")
            return
        if not _exists(self.key):
            self.add("key file", False, f"{self.key}: missing",
                     "restore it from backup (a store that never had one gets it at its first start as the "
                     f"service account: sudo -u {self.service_name} agentdesk db upgrade)")
            return
        self._owned("key file", self.key, files.PRIVATE_FILE)
        checkpoints = keys.checkpoint_path_for(self.key)
        if checkpoints is not None and _exists(checkpoints):
            self._owned("timeline checkpoints", checkpoints, files.PRIVATE_FILE, exact=False)

    def check_contents(self, what: str, folder: Path) -> None:
        if not _exists(folder):
            return
        try:
            entries = list(_files_in(folder))
        except PermissionError:
            self.add(f"{what} files", False, f"{folder}: cannot be listed by {self.report.running_as}",
                     f"run it as the service account: {SERVICE_ACCOUNT_HINT}")
            return
        bad = [(p, i) for p, i in entries
               if i.st_uid != self.service_uid or stat.S_IMODE(i.st_mode) & files.EXPOSED_BITS]
        if not bad:
            self.add(f"{what} files", True, f"{len(entries)} file(s) in {folder}, each private to {self.service_name}")
            return
        fix = f"chmod -R go= {_quote(folder)}"
        if any(i.st_uid != self.service_uid for _, i in bad):
            fix = f"chown -R {shlex.quote(self.service_name)} {_quote(folder)} && {fix}"
        self.add(f"{what} files", False, f"{len(bad)} of {len(entries)} file(s) in {folder} are open to other "
                 f"accounts or belong to another (first: {bad[0][0].name}, mode "
                 f"{stat.S_IMODE(bad[0][1].st_mode):04o})", fix)

    def _secrets_in_config(self) -> list[str]:
        settings = self.settings
        found = []
        if make_url(settings.database_url).password:
            found.append("the database password")
        if settings.smtp is not None and settings.smtp.password is not None:
            found.append("the SMTP password")
        if settings.gateways.stripe is not None:
            found.append("the Stripe API key")
        return found

    def check_config(self) -> None:
        config = self.settings.config_file
        secrets = self._secrets_in_config()
        in_environment = sorted(name for name, value in os.environ.items() if _secret_variable(name, value))
        if in_environment:
            self.add("secrets in the environment", False, f"{', '.join(in_environment)} set for this run",
                     "keep secrets only in the service account's config file (mode 0600), never in an agent's "
                     "environment; sudo's env_reset drops them")
        if config is None:
            if secrets:
                self.add("config file", False, f"{' and '.join(secrets)} given without a config file",
                         f"put them in {self.service_name}'s config file, mode 0600")
            return
        if secrets:
            self._owned(f"config file ({', '.join(secrets)})", config, files.PRIVATE_FILE)
            return
        self._owned("config file", config, 0o644, exact=False, root_too=True)

    def check_invoker(self) -> None:
        """The agent who ran doctor through sudo must not reach the store or the secrets without sudo."""
        if self.invoker is None:
            return
        try:
            account = Account.of(self.invoker)
        except KeyError:
            return
        targets = [p for p in (*(files.sqlite_files(self.database) if self.database else []), self.key)
                   if p is not None and _exists(p)]
        if self.settings.config_file is not None and self._secrets_in_config():
            targets.append(self.settings.config_file)
        opened = [(p, how) for p in targets if (how := account.can_open(p))]
        if not opened:
            self.add("agent without sudo", True, f"{self.invoker} cannot open the store, its key or the "
                     "credentials without sudo")
            return
        paths = " ".join(_quote(p) for p, _ in opened)
        self.add("agent without sudo", False,
                 ", ".join(f"{self.invoker} could {how} {p} directly" for p, how in opened),
                 f"chown {shlex.quote(self.service_name)} {paths} && chmod 600 {paths}")

    # --- the database -----------------------------------------------------------------------

    def check_database(self) -> None:
        if self.database is not None and not _exists(self.database):
            return
        url = self.settings.database_url
        if self.database is not None:
            url = f"sqlite:///file:{self.database}?mode=rw&uri=true"
        engine = create_engine(url)
        try:
            with engine.connect() as connection:
                self.check_policy(connection)
                self.check_timeline_guard(connection)
                if connection.dialect.name == "postgresql":
                    self.check_schema_owner(connection)
        except SQLAlchemyError as exc:
            reason = str(getattr(exc, "orig", exc)).strip().splitlines()[0]
            self.add("database", False, f"cannot be opened: {reason}",
                     f"run it as the service account: {SERVICE_ACCOUNT_HINT}")
        finally:
            engine.dispose()

    def check_policy(self, connection: Connection) -> None:
        if not _has_table(connection, "policy"):
            self.add("policy", False, "the store has no policy table", "upgrade the schema: agentdesk db upgrade")
            return
        count = connection.execute(text("SELECT COUNT(*) FROM policy")).scalar_one()
        self.add("policy", count > 0, f"{count} policy value(s) in the store",
                 "set the policy as an admin: agentdesk policy set KEY VALUE")

    def check_timeline_guard(self, connection: Connection) -> None:
        if connection.dialect.name == "postgresql":
            rows = connection.execute(text(
                "SELECT tgname, tgenabled FROM pg_trigger WHERE tgrelid = to_regclass('timeline_event')"
                " AND NOT tgisinternal")).all()
            guarded = any(name == TIMELINE_TRIGGER_PG and enabled != "D" for name, enabled in rows)
        else:
            names = set(connection.execute(text(
                "SELECT name FROM sqlite_master WHERE type = 'trigger' AND tbl_name = 'timeline_event'")).scalars())
            guarded = set(TIMELINE_TRIGGERS_SQLITE) <= names
        self.add("timeline append-only", guarded,
                 "the database refuses UPDATE and DELETE on timeline events" if guarded
                 else "the database would let a writer change or delete timeline events",
                 "upgrade the schema (agentdesk db upgrade); if it is current, the triggers were removed: "
                 "check the timeline with agentdesk audit verify and restore them from migration 0016")

    def check_schema_owner(self, connection: Connection) -> None:
        role = connection.execute(text("SELECT current_user")).scalar_one()
        owner = connection.execute(text(
            "SELECT tableowner FROM pg_tables WHERE tablename = 'timeline_event'")).scalar_one_or_none()
        self.add("database role", owner == role, f"connected as {role}; the schema belongs to {owner}",
                 "connect as the application's role, which owns the schema (ALTER TABLE … OWNER TO it)")


SECRET_SETTINGS = {("smtp", "password"), ("gateways", "stripe", "api_key")}


def _secret_variable(name: str, value: str) -> bool:
    """An `AGENTDESK_*` variable that hands this run a secret (a password in the database URL counts)."""
    path = env_path(name)
    if path == ("database_url",):
        try:
            return bool(make_url(value).password)
        except ArgumentError:
            return False
    return path in SECRET_SETTINGS


def _exists(path: Path) -> bool:
    try:
        path.stat()
    except FileNotFoundError:
        return False
    except PermissionError:
        return True
    return True


def _files_in(folder: Path) -> Iterator[tuple[Path, os.stat_result]]:
    for root, directories, names in os.walk(folder, onerror=_raise):
        for name in [*directories, *names]:
            path = Path(root) / name
            yield path, path.lstat()


def _raise(error: OSError) -> None:
    raise error


def _has_table(connection: Connection, name: str) -> bool:
    if connection.dialect.name == "postgresql":
        return connection.execute(text("SELECT to_regclass(:n) IS NOT NULL"), {"n": name}).scalar_one()
    return connection.execute(text("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = :n"),
                              {"n": name}).first() is not None


def diagnose(settings: Settings) -> Report:
    """Examine this deployment; nothing is changed."""
    return Doctor(settings).run()
