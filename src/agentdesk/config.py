"""Settings: defaults, then `config.toml`, then `AGENTDESK_*` environment variables.

The config file lives in `platformdirs.user_config_dir("agentdesk")` unless
`AGENTDESK_CONFIG` names another file. A bad value is reported as a
`ConfigError` naming where it came from, never silently ignored.
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, field, replace
from pathlib import Path

import platformdirs

APP_NAME = "agentdesk"


class ConfigError(Exception):
    """A setting could not be read; the message says which one and where."""


@dataclass(frozen=True)
class Settings:
    database_url: str
    data_dir: Path
    agent_refund_limit: int = 50_000
    """Largest refund an agent may make on one transaction, in minor units."""
    notify_emails: tuple[str, ...] = ()
    attachment_limit: int = 10 * 2**20
    """Largest attachment accepted, in bytes."""
    config_file: Path | None = None
    gateways: dict = field(default_factory=dict)
    website_gateways: dict = field(default_factory=dict)
    """Website code → gateway name, overriding the website's own setting."""
    smtp: dict = field(default_factory=dict)
    """host, port, tls ("starttls", "ssl" or "none"), username, password; empty: write to the outbox folder."""
    mail_from: str = "AgentDesk <no-reply@agentdesk.invalid>"

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")


def default_data_dir() -> Path:
    return Path(platformdirs.user_data_dir(APP_NAME))


def default_config_file() -> Path:
    return Path(platformdirs.user_config_dir(APP_NAME)) / "config.toml"


def sqlite_url(path: Path) -> str:
    return f"sqlite:///{path}"


def _read_toml(path: Path) -> dict:
    try:
        with path.open("rb") as fh:
            return tomllib.load(fh)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML ({exc})") from exc
    except OSError as exc:
        raise ConfigError(f"{path}: cannot be read ({exc.strerror})") from exc


def _as_int(value: object, where: str) -> int:
    if isinstance(value, bool):
        raise ConfigError(f"{where}: expected a whole number of minor units, got {value!r}")
    if isinstance(value, int):
        number = value
    elif isinstance(value, str) and value.strip().isdigit():
        number = int(value.strip())
    else:
        raise ConfigError(f"{where}: expected a whole number of minor units, got {value!r}")
    if number < 0:
        raise ConfigError(f"{where}: must not be negative")
    return number


def _as_emails(value: object, where: str) -> tuple[str, ...]:
    if isinstance(value, str):
        items = [part.strip() for part in value.split(",")]
    elif isinstance(value, list) and all(isinstance(v, str) for v in value):
        items = [v.strip() for v in value]
    else:
        raise ConfigError(f"{where}: expected a list of email addresses")
    items = [i for i in items if i]
    for item in items:
        if "@" not in item:
            raise ConfigError(f"{where}: {item!r} is not an email address")
    return tuple(items)


SMTP_KEYS = {"host", "port", "tls", "username", "password", "timeout"}


def _smtp(values: dict, where: str) -> dict:
    unknown = set(values) - SMTP_KEYS
    if unknown:
        raise ConfigError(f"{where}: unknown setting(s) {', '.join(sorted(unknown))}")
    smtp = dict(values)
    if "host" not in smtp or not str(smtp["host"]).strip():
        raise ConfigError(f"{where}: host is required")
    try:
        smtp["port"] = int(smtp.get("port", 587))
    except (TypeError, ValueError):
        raise ConfigError(f"{where}: port must be a number") from None
    smtp["tls"] = str(smtp.get("tls", "starttls")).lower()
    if smtp["tls"] not in ("starttls", "ssl", "none"):
        raise ConfigError(f"{where}: tls must be starttls, ssl or none")
    return smtp


def load_settings(
    database_url: str | None = None,
    env: dict[str, str] | None = None,
) -> Settings:
    """Build the settings; `database_url` (the `--db` option) wins over everything."""
    env = dict(os.environ if env is None else env)
    config_file = Path(env["AGENTDESK_CONFIG"]) if env.get("AGENTDESK_CONFIG") else default_config_file()
    file_values: dict = {}
    if config_file.exists():
        file_values = _read_toml(config_file)
    elif env.get("AGENTDESK_CONFIG"):
        raise ConfigError(f"AGENTDESK_CONFIG names {config_file}, which does not exist")

    data_dir = Path(env.get("AGENTDESK_DATA_DIR") or file_values.get("data_dir") or default_data_dir())
    settings = Settings(
        database_url=sqlite_url(data_dir / "agentdesk.db"),
        data_dir=data_dir,
        config_file=config_file if config_file.exists() else None,
    )

    if "database_url" in file_values:
        if not isinstance(file_values["database_url"], str):
            raise ConfigError(f"{config_file}: database_url must be a string")
        settings = replace(settings, database_url=file_values["database_url"])
    if "agent_refund_limit" in file_values:
        settings = replace(
            settings,
            agent_refund_limit=_as_int(file_values["agent_refund_limit"], f"{config_file}: agent_refund_limit"),
        )
    if "attachment_limit" in file_values:
        settings = replace(
            settings, attachment_limit=_as_int(file_values["attachment_limit"], f"{config_file}: attachment_limit")
        )
    if "notify_emails" in file_values:
        settings = replace(
            settings, notify_emails=_as_emails(file_values["notify_emails"], f"{config_file}: notify_emails")
        )
    if "gateways" in file_values:
        if not isinstance(file_values["gateways"], dict):
            raise ConfigError(f"{config_file}: [gateways] must be a table")
        settings = replace(settings, gateways=file_values["gateways"])

    if "website_gateways" in file_values:
        chosen = file_values["website_gateways"]
        if not isinstance(chosen, dict) or not all(isinstance(v, str) for v in chosen.values()):
            raise ConfigError(f"{config_file}: [website_gateways] maps website codes to gateway names")
        unknown = {v for v in chosen.values()} - {"sandbox", "stripe"}
        if unknown:
            raise ConfigError(f"{config_file}: unknown gateway(s) {', '.join(sorted(unknown))}; use sandbox or stripe")
        settings = replace(settings, website_gateways=dict(chosen))
    if "smtp" in file_values:
        if not isinstance(file_values["smtp"], dict):
            raise ConfigError(f"{config_file}: [smtp] must be a table")
        settings = replace(settings, smtp=_smtp(file_values["smtp"], f"{config_file}: [smtp]"))
    if "mail_from" in file_values:
        settings = replace(settings, mail_from=str(file_values["mail_from"]))

    if env.get("AGENTDESK_DATABASE_URL"):
        settings = replace(settings, database_url=env["AGENTDESK_DATABASE_URL"])
    if env.get("AGENTDESK_AGENT_REFUND_LIMIT"):
        settings = replace(
            settings,
            agent_refund_limit=_as_int(env["AGENTDESK_AGENT_REFUND_LIMIT"], "AGENTDESK_AGENT_REFUND_LIMIT"),
        )
    if env.get("AGENTDESK_ATTACHMENT_LIMIT"):
        settings = replace(
            settings, attachment_limit=_as_int(env["AGENTDESK_ATTACHMENT_LIMIT"], "AGENTDESK_ATTACHMENT_LIMIT")
        )
    if env.get("AGENTDESK_NOTIFY_EMAILS"):
        settings = replace(
            settings, notify_emails=_as_emails(env["AGENTDESK_NOTIFY_EMAILS"], "AGENTDESK_NOTIFY_EMAILS")
        )
    smtp_env = {k[len("AGENTDESK_SMTP_"):].lower(): v for k, v in env.items() if k.startswith("AGENTDESK_SMTP_") and v}
    if smtp_env:
        settings = replace(settings, smtp=_smtp({**settings.smtp, **smtp_env}, "AGENTDESK_SMTP_*"))
    if env.get("AGENTDESK_MAIL_FROM"):
        settings = replace(settings, mail_from=env["AGENTDESK_MAIL_FROM"])
    if database_url:
        settings = replace(settings, database_url=database_url)

    if not settings.database_url.startswith(("sqlite", "postgresql")):
        raise ConfigError(
            f"unsupported database URL {settings.database_url!r}: use sqlite:///PATH or postgresql+psycopg://..."
        )
    return settings
