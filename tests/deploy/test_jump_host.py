"""The jump-host deployment of the README, with real OS accounts (CI runs as root).

A service account owns the store; an agent account may run only the agentdesk
command as that account, through sudo. The agent cannot read or write the
store, is identified as itself through sudo, and cannot raise its own limits.
Everything the test creates (accounts, group, sudoers drop-in, directories) is
removed afterwards.

Skipped, with the reason, when not root or when a tool is missing; with
AGENTDESK_REQUIRE_DEPLOY=1 (CI) that is a failure instead.
"""

from __future__ import annotations

import json
import os
import pwd
import secrets
import shutil
import sqlite3
import stat
import subprocess
import sys
import sysconfig
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

import agentdesk
from agentdesk.config import Settings
from agentdesk.db.store import Store
from agentdesk.services.agents import identity
from agentdesk.services.customers import records as customers
from agentdesk.services.money import instruments, payments, settlement

from ..conftest import add_website, customer_input

SYSTEM_PYTHON = Path(f"/usr/bin/python{sys.version_info.major}.{sys.version_info.minor}")
"""Other accounts cannot run the venv's interpreter (it lives under root's 0700 home): Debian's, same version."""
SOURCE = Path(agentdesk.__file__).resolve().parent.parent
SITE_PACKAGES = Path(sysconfig.get_paths()["purelib"])
NOT_NEEDED_TO_RUN = shutil.ignore_patterns(
    "__pycache__", "mypy", "mypyc", "*__mypyc*", "pip", "pip-*", "_pytest", "pytest", "pytest-*", "hypothesis",
    "hypothesis-*", "localstripe", "localstripe-*", "ruff", "ruff-*", "playwright",
)
TIMEOUT = 120
REFUND_LIMIT = 50_000
"""What migration 0014 seeds as policy refund_limit.agent.USD: 500.00."""


REQUIRE_DEPLOY = bool(os.environ.get("AGENTDESK_REQUIRE_DEPLOY"))
"""Read at import: conftest clears AGENTDESK_* variables for each test."""


def _unavailable(reason: str) -> None:
    if REQUIRE_DEPLOY:
        pytest.fail(f"AGENTDESK_REQUIRE_DEPLOY is set, but {reason}")
    pytest.skip(reason)


def _root(*command: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(command, capture_output=True, text=True, timeout=TIMEOUT, check=True)


@dataclass
class JumpHost:
    base: Path
    service: str
    agent: str
    launcher: Path
    store: Path
    payment: int = 0
    """A settled 1,000.00 USD sandbox sale of customer C-1."""

    def as_agent(self, *command: str | Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
        """Run a command as the agent account, from a login-like environment (plus `env`)."""
        environ = {"PATH": "/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin", "LANG": "C.UTF-8", **(env or {})}
        return subprocess.run(["runuser", "-u", self.agent, "--", *map(str, command)], capture_output=True,
                              text=True, timeout=TIMEOUT, cwd=self.base, env=environ)

    def agentdesk(self, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
        """`sudo -n -u <service> agentdesk ARGS` as the agent: the way the README has agents run it."""
        return self.as_agent("sudo", "-n", "-u", self.service, self.launcher, *args, env=env)


def _traversable_by(account: str, *paths: Path) -> bool:
    probe = "import os, sys; sys.exit(0 if all(os.access(p, os.R_OK) for p in sys.argv[1:]) else 1)"
    result = subprocess.run(["runuser", "-u", account, "--", str(SYSTEM_PYTHON), "-IS", "-c", probe,
                             *map(str, paths)], capture_output=True, timeout=TIMEOUT)
    return result.returncode == 0


def _link_or_copy(source: str, target: str) -> None:
    try:
        os.link(source, target)
    except OSError:
        shutil.copy2(source, target)


def _install(base: Path, service: str) -> tuple[Path, Path]:
    """The code the service account runs: the checkout itself when that account can read it, else a copy
    (a fresh clone may sit under root's private home)."""
    if _traversable_by(service, SOURCE / "agentdesk" / "__init__.py", SITE_PACKAGES / "click" / "__init__.py"):
        return SOURCE, SITE_PACKAGES
    install = base / "install"
    shutil.copytree(SOURCE / "agentdesk", install / "src" / "agentdesk", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copytree(SITE_PACKAGES, install / "site-packages", ignore=NOT_NEEDED_TO_RUN, symlinks=True,
                    copy_function=_link_or_copy)
    _root("chmod", "-R", "a+rX", str(install))
    return install / "src", install / "site-packages"


def _write_launcher(path: Path, source: Path, site_packages: Path) -> None:
    """What /usr/local/bin/agentdesk is in the README, for a system interpreter: the project and its
    dependencies first on the path, nothing from the environment (-I) or the system site (-S)."""
    path.write_text(
        f"#!{SYSTEM_PYTHON} -IS\n"
        "import sys\n"
        f"sys.path[:0] = [{str(source)!r}, {str(site_packages)!r}]\n"
        "from agentdesk.cli import main\n"
        "sys.exit(main())\n"
    )
    path.chmod(0o755)


@pytest.fixture(scope="module")
def jump_host() -> Iterator[JumpHost]:
    if os.geteuid() != 0:
        _unavailable("creating OS accounts needs root (CI runs as root)")
    for tool in ("useradd", "userdel", "groupadd", "groupdel", "runuser", "sudo", "visudo"):
        if shutil.which(tool) is None:
            _unavailable(f"{tool} is not installed (.ci/run installs sudo)")
    if not SYSTEM_PYTHON.exists():
        _unavailable(f"{SYSTEM_PYTHON} is missing: other accounts need an interpreter they may run")

    suffix = secrets.token_hex(3)
    service, agent, group = f"adsvc{suffix}", f"adagt{suffix}", f"adagents{suffix}"
    sudoers = Path(f"/etc/sudoers.d/agentdesk-test-{suffix}")
    base = Path(tempfile.mkdtemp(prefix=f"agentdesk-jump-{suffix}-"))
    undo: list[list[str]] = [["rm", "-rf", str(base)]]
    try:
        base.chmod(0o755)
        service_home = base / "service-home"
        _root("useradd", "--system", "--user-group", "--create-home", "--home-dir", str(service_home),
              "--shell", "/usr/sbin/nologin", service)
        undo.append(["userdel", "--remove", service])
        _root("groupadd", group)
        undo.append(["groupdel", group])
        _root("useradd", "--create-home", "--home-dir", str(base / "agent-home"), "--shell", "/bin/bash",
              "--groups", group, agent)
        undo.append(["userdel", "--remove", agent])
        service_home.chmod(0o700)

        source, site_packages = _install(base, service)
        launcher = base / "bin" / "agentdesk"
        launcher.parent.mkdir(mode=0o755)
        _write_launcher(launcher, source, site_packages)

        rule = f"%{group} ALL=({service}) NOPASSWD: {launcher}\n"
        staged = base / "sudoers"
        staged.write_text(rule)
        _root("visudo", "-cf", str(staged))
        undo.append(["rm", "-f", str(sudoers)])
        shutil.move(staged, sudoers)
        sudoers.chmod(0o440)

        host = JumpHost(base, service, agent, launcher,
                        service_home / ".local" / "share" / "agentdesk" / "agentdesk.db")
        _bootstrap(host)
        yield host
    finally:
        for command in reversed(undo):
            subprocess.run(command, capture_output=True, timeout=TIMEOUT)


def _bootstrap(host: JumpHost) -> None:
    """The README's first steps, by root (the admin): create the store as the service account, add the first
    admin and the agent through sudo; then give the agent a customer with a settled 1,000.00 USD sale."""
    for args in (["db", "upgrade"], ["agents", "add", "root", "--role", "admin"],
                 ["agents", "add", host.agent, "--role", "agent"]):
        result = subprocess.run(["sudo", "-n", "-u", host.service, str(host.launcher), *args], capture_output=True,
                                text=True, timeout=TIMEOUT, cwd=host.base)
        assert result.returncode == 0, result.stderr
    assert host.store.exists()
    store = Store(f"sqlite:///{host.store}")
    try:
        add_website(store)
        admin = identity.resolve_actor(store, "root")
        settings = Settings(data_dir=host.store.parent)
        customers.create_customer(store, admin, customer_input())
        instruments.add_card(store, admin, settings, "C-1", "4242 4242 4242 4242", "12/30")
        paid = payments.collect_payment(store, admin, settings, "C-1", 100_000, "USD")
        assert paid.ok and paid.transaction_id is not None
        settlement.settle_from_gateway(store, settings, everything=True)
        host.payment = paid.transaction_id
    finally:
        store.dispose()
    _root("chown", "-R", f"{host.service}:{host.service}", str(host.store.parent))


def test_the_deployment_is_what_the_readme_says(jump_host):
    data = jump_host.store.parent
    owner = pwd.getpwnam(jump_host.service).pw_uid
    for path, mode in [(data, 0o700), (jump_host.store, 0o600)]:
        info = path.stat()
        assert (info.st_uid, stat.S_IMODE(info.st_mode)) == (owner, mode), path
    doctor = jump_host.agentdesk("doctor", "--json")
    report = json.loads(doctor.stdout)
    assert doctor.returncode == 0, [c for c in report["checks"] if not c["ok"]]
    assert report["running_as"] == jump_host.service and report["invoker"] == jump_host.agent
    assert any(c["check"] == "agent without sudo" and c["ok"] for c in report["checks"])


def test_the_agent_cannot_read_or_write_the_store_directly(jump_host):
    store = str(jump_host.store)
    python = str(SYSTEM_PYTHON)
    read = jump_host.as_agent(python, "-IS", "-c", "import sys; open(sys.argv[1], 'rb').read(16)", store)
    assert read.returncode != 0 and "PermissionError" in read.stderr
    write = jump_host.as_agent(python, "-IS", "-c", (
        "import sqlite3, sys; db = sqlite3.connect(sys.argv[1]); "
        "db.execute(\"UPDATE agent SET role = 'admin' WHERE login = sys.argv[2]\"); db.commit()"),
        store, jump_host.agent)
    assert write.returncode != 0 and "unable to open database file" in write.stderr
    own = jump_host.as_agent(jump_host.launcher, "--db", f"sqlite:///{store}", "customers", "search", "Hopper")
    assert own.returncode == 1 and own.stdout == ""
    assert f"cannot be reached by {jump_host.agent}" in own.stderr and "sudo -u agentdesk agentdesk" in own.stderr
    other = jump_host.as_agent("sudo", "-n", "-u", jump_host.service, "/bin/cat", store)
    assert other.returncode != 0 and other.stdout == "", "sudo lets the agent run only the agentdesk command"
    with sqlite3.connect(jump_host.store) as db:
        assert db.execute("SELECT role FROM agent WHERE login = ?", (jump_host.agent,)).fetchone() == ("agent",)


def test_through_sudo_the_agent_works_and_is_identified_as_itself(jump_host):
    found = jump_host.agentdesk("customers", "search", "Hopper", "--json")
    assert found.returncode == 0, found.stderr
    assert [row["id"] for row in json.loads(found.stdout)["customers"]] == ["C-1"]
    note = jump_host.agentdesk("note", "C-1", "called back about the invoice")
    assert note.returncode == 0, note.stderr
    timeline = jump_host.agentdesk("timeline", "C-1", "--type", "note", "--json")
    assert timeline.returncode == 0, timeline.stderr
    assert [e["actor"] for e in json.loads(timeline.stdout)] == [jump_host.agent]
    refund = jump_host.agentdesk("refund", str(jump_host.payment), "--amount", "1.00", "--json")
    assert refund.returncode == 0, refund.stderr
    with sqlite3.connect(jump_host.store) as db:
        actors = [r[0] for r in db.execute("SELECT actor_label FROM timeline_event WHERE type = 'manual_refund'")]
    assert actors == [jump_host.agent]


def test_the_agent_cannot_raise_its_own_limit(jump_host):
    over = f"{(REFUND_LIMIT + 10_000) // 100}.00"

    def refunds() -> int:
        with sqlite3.connect(jump_host.store) as db:
            return db.execute("SELECT COUNT(*) FROM \"transaction\" WHERE type = 'refund'").fetchone()[0]

    before = refunds()
    plain = jump_host.agentdesk("refund", str(jump_host.payment), "--amount", over)
    assert plain.returncode == 1 and "agent limit" in plain.stderr, plain.stderr
    own_config = Path(pwd.getpwnam(jump_host.agent).pw_dir) / "agentdesk.toml"
    own_config.write_text("agent_refund_limit = 99999999\n")
    own_config.chmod(0o644)
    for env in ({"AGENTDESK_AGENT_REFUND_LIMIT": "99999999"}, {"AGENTDESK_CONFIG": str(own_config)},
                {"AGENTDESK_DATABASE_URL": f"sqlite:///{jump_host.base}/agent-home/own.db"}):
        attempt = jump_host.agentdesk("refund", str(jump_host.payment), "--amount", over, env=env)
        assert attempt.returncode == 1 and "agent limit" in attempt.stderr, (env, attempt.stderr)
    on_the_line = jump_host.as_agent("sudo", "-n", "-u", jump_host.service, "AGENTDESK_AGENT_REFUND_LIMIT=99999999",
                                     jump_host.launcher, "refund", str(jump_host.payment), "--amount", over)
    assert on_the_line.returncode != 0 and "not allowed to set" in on_the_line.stderr
    policy = jump_host.agentdesk("policy", "set", "refund_limit.agent.USD", "99999999")
    assert policy.returncode == 1 and f"{jump_host.agent} (" in policy.stderr and "may not" in policy.stderr
    with sqlite3.connect(jump_host.store) as db:
        limit = db.execute("SELECT value FROM policy WHERE key = 'refund_limit.agent.USD'").fetchone()
    assert (json.loads(limit[0]) if isinstance(limit[0], str) else limit[0]) == REFUND_LIMIT
    assert refunds() == before


def test_sudo_user_set_by_the_agent_without_sudo_is_ignored(jump_host):
    own = f"sqlite:///{jump_host.base}/agent-home/own.db"
    made = jump_host.as_agent(jump_host.launcher, "--db", own, "demo", "--customers", "3")
    assert made.returncode == 0, made.stderr
    service_uid = str(pwd.getpwnam(jump_host.service).pw_uid)
    spoofed = {"SUDO_USER": jump_host.service, "SUDO_UID": service_uid}
    note = jump_host.as_agent(jump_host.launcher, "--db", own, "note", "CUS-0000001", "who am I?", env=spoofed)
    assert note.returncode == 0, note.stderr
    timeline = jump_host.as_agent(jump_host.launcher, "--db", own, "timeline", "CUS-0000001", "--type", "note",
                                  "--json", env=spoofed)
    assert [e["actor"] for e in json.loads(timeline.stdout)] == [jump_host.agent]
