"""Who is at the keyboard: SUDO_USER only when sudo really ran the service account for that agent."""

import json
import os
import pwd

import pytest

from agentdesk import cli
from agentdesk.services.agents import identity


def me() -> str:
    return pwd.getpwuid(os.getuid()).pw_name


def someone_else() -> pwd.struct_passwd:
    """A real account of this machine other than the one running the tests (root has daemon, nobody…)."""
    return next(p for p in pwd.getpwall() if p.pw_uid != os.getuid() and p.pw_name.isidentifier())


@pytest.fixture
def owned(tmp_path):
    path = tmp_path / "agentdesk.db"
    path.touch()
    return [path]


@pytest.fixture
def sudo_env(monkeypatch):
    other = someone_else()
    monkeypatch.setenv("SUDO_USER", other.pw_name)
    monkeypatch.setenv("SUDO_UID", str(other.pw_uid))
    return other


def test_without_sudo_the_login_is_the_real_uid_not_user(monkeypatch, owned):
    monkeypatch.setenv("USER", "mallory")
    monkeypatch.setenv("LOGNAME", "mallory")
    assert identity.acting_login(owned) == me()


def test_sudo_user_set_by_the_agent_running_as_themselves_is_ignored(sudo_env, owned):
    assert identity.started_by_sudo(sudo_env.pw_uid) is False  # pytest's parent is not sudo
    assert identity.acting_login(owned) == me()


def test_sudo_user_is_believed_only_when_every_condition_holds(sudo_env, owned, monkeypatch):
    monkeypatch.setattr(identity, "started_by_sudo", lambda invoker: invoker == sudo_env.pw_uid)
    assert identity.acting_login(owned) == sudo_env.pw_name
    assert identity.acting_login([]) == me(), "not the service account: it owns none of the store's paths"
    monkeypatch.setenv("SUDO_UID", str(sudo_env.pw_uid + 1))
    assert identity.acting_login(owned) == me(), "SUDO_UID is not SUDO_USER's uid"
    monkeypatch.setenv("SUDO_UID", str(os.getuid()))
    assert identity.acting_login(owned) == me(), "sudo did not switch accounts"
    monkeypatch.setenv("SUDO_UID", "x")
    assert identity.acting_login(owned) == me()
    monkeypatch.setenv("SUDO_UID", str(sudo_env.pw_uid))
    monkeypatch.setenv("SUDO_USER", "no-such-login-here")
    assert identity.acting_login(owned) == me()


def test_started_by_sudo_reads_the_parent_process(monkeypatch, tmp_path):
    status = tmp_path / "status"
    real_path = identity.Path

    def fake_path(name):
        return status if str(name).startswith("/proc/") else real_path(name)

    monkeypatch.setattr(identity, "Path", fake_path)
    status.write_text("Name:\tsudo\nUid:\t1002\t0\t0\t0\n")
    assert identity.started_by_sudo(1002)
    assert not identity.started_by_sudo(1003)
    status.write_text("Name:\tsudo\nUid:\t1002\t1002\t1002\t1002\n")
    assert not identity.started_by_sudo(1002), "a process named sudo without root is the agent's own"
    status.write_text("Name:\tbash\nUid:\t1002\t0\t0\t0\n")
    assert not identity.started_by_sudo(1002)


def note_author(capsys, url: str) -> str:
    assert cli.main(["--db", url, "note", "CUS-0000001", "who wrote this?"]) == 0
    capsys.readouterr()
    assert cli.main(["--db", url, "timeline", "CUS-0000001", "--type", "note", "--json"]) == 0
    events = json.loads(capsys.readouterr().out)
    return events[0]["actor"]


def test_the_command_line_attributes_work_to_the_sudo_user_only_through_sudo(tmp_path, capsys, monkeypatch):
    other = someone_else()
    url = f"sqlite:///{tmp_path / 'agentdesk.db'}"
    assert cli.main(["--db", url, "demo", "--customers", "5"]) == 0
    assert cli.main(["--db", url, "agents", "add", other.pw_name, "--role", "agent"]) == 0
    capsys.readouterr()
    monkeypatch.setenv("SUDO_USER", other.pw_name)
    monkeypatch.setenv("SUDO_UID", str(other.pw_uid))
    assert note_author(capsys, url) == me()
    monkeypatch.setattr(identity, "started_by_sudo", lambda invoker: invoker == other.pw_uid)
    assert note_author(capsys, url) == other.pw_name
