"""Local settings: defaults < `config.toml` < `AGENTDESK_*` environment < command-line options.

Only what concerns this host lives here: the database URL, the data and log
files, mail transport, gateway credentials, the console's keys and theme.
Policy (refund limits, payout ceilings, gateways per website, notify
addresses, attachment and link limits) decides what someone may do or what
money moves, so it lives in the store, where only admins change it
(`agentdesk policy set`). A policy key here or in the environment is a
`ConfigError` naming that command: a person at the keyboard controls this
file and the environment, so neither may grant authority, and a setting that
would do nothing is never silently ignored.

The config file is `platformdirs.user_config_dir("agentdesk")/config.toml`, or
the file `AGENTDESK_CONFIG` names. Everything is typed and checked when the
settings are loaded, before anything else runs: an unknown key, a wrong type or
a bad address is a `ConfigError` that names the key and the file or variable it
came from. `config.example.toml` at the repository root lists every key.

Environment variables are `AGENTDESK_<KEY>`; a key inside a table is reached
with `__` (`AGENTDESK_GATEWAYS__STRIPE__API_KEY`), and `[smtp]` keys also with a
single `_` (`AGENTDESK_SMTP_HOST`).
"""

from __future__ import annotations

import difflib
import os
import re
import tomllib
from collections.abc import Mapping
from contextvars import ContextVar
from dataclasses import dataclass, field
from email.utils import parseaddr
from pathlib import Path
from typing import Annotated, Any, Literal, get_args

import platformdirs
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PrivateAttr,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_core import ErrorDetails
from pydantic_settings import (
    BaseSettings,
    EnvSettingsSource,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

APP_NAME = "agentdesk"
ENV_PREFIX = "AGENTDESK_"
GATEWAY_NAMES = ("sandbox", "stripe")
SECRET_KEYS = frozenset({"password", "api_key"})
"""Keys whose value never appears in an error message."""
POLICY_NOW: dict[str, str] = {
    "agent_refund_limit": "refund_limit.agent.<CUR> AMOUNT",
    "refund_limit": "refund_limit.<role>.<CUR> AMOUNT",
    "payout_ceiling": "payout_ceiling.<CUR> AMOUNT",
    "notify_emails": 'notify_emails "a@example.com,b@example.com"',
    "website_gateways": "website_gateway.<website> sandbox|stripe",
    "website_gateway": "website_gateway.<website> sandbox|stripe",
    "attachment_limit": "attachment_limit BYTES",
    "link_expiry": "link_expiry.<kind> HOURS",
    "dunning_schedule": 'dunning_schedule "1,3,7"',
    "portal_base_url": "portal_base_url URL",
}
"""Keys that were, or could be mistaken for, local settings but are store policy: key → the `policy set` arguments."""


class ConfigError(Exception):
    """A setting could not be read; the message says which one, where it came from and what is wrong."""


def default_data_dir() -> Path:
    return Path(platformdirs.user_data_dir(APP_NAME))


def default_config_file() -> Path:
    return Path(platformdirs.user_config_dir(APP_NAME)) / "config.toml"


def sqlite_url(path: Path) -> str:
    return f"sqlite:///{path}"


def _no_bool(what: str) -> Any:
    """Pydantic takes true as 1; a setting that wants a number refuses it."""

    def check(value: object) -> object:
        if isinstance(value, bool):
            raise ValueError(f"expected {what}, got {str(value).lower()}")
        return value

    return BeforeValidator(check)


WholeNumber = Annotated[int, _no_bool("a whole number"), Field(ge=0)]
Seconds = Annotated[float, _no_bool("a number of seconds"), Field(gt=0)]


def _home(value: object) -> object:
    if isinstance(value, str) and not value.strip():
        raise ValueError("must not be empty")
    return Path(value).expanduser() if isinstance(value, str | Path) else value


class _Table(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class SmtpSettings(_Table):
    """`[smtp]`: where mail goes. Without this table mail is written to `<data_dir>/outbox` as .eml files."""

    host: str
    port: int = Field(587, ge=1, le=65_535)
    tls: Literal["starttls", "ssl", "none"] = "starttls"
    username: str | None = None
    password: SecretStr | None = None
    timeout: Seconds = 20.0

    @field_validator("host")
    @classmethod
    def _host(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("must not be empty")
        return value.strip()

    @field_validator("tls", mode="before")
    @classmethod
    def _tls(cls, value: object) -> object:
        return value.lower() if isinstance(value, str) else value


class SandboxSettings(_Table):
    """`[gateways.sandbox]`: the in-process test gateway."""

    settle_after_seconds: WholeNumber = 86_400


class StripeSettings(_Table):
    """`[gateways.stripe]`: Stripe's REST API."""

    api_key: SecretStr
    base_url: str = "https://api.stripe.com"
    timeout: Seconds = 20.0
    max_network_retries: int = Field(default=2, ge=0, le=5)
    """The SDK's own retries (same idempotency key) on a connection error, a 409 or a 5xx."""
    account: str = Field(default="", max_length=64)
    """The Stripe account (`acct_…`) our Stripe Customer ids belong to; empty: named after the key."""
    webhook_secret: SecretStr | None = None
    """The signing secret (`whsec_…`) of the portal's Stripe webhook endpoint; without it the portal takes no
    webhooks (the worker still polls Stripe's events)."""

    @field_validator("api_key")
    @classmethod
    def _api_key(cls, value: SecretStr) -> SecretStr:
        if not value.get_secret_value().strip():
            raise ValueError("must not be empty")
        return value

    @field_validator("base_url")
    @classmethod
    def _base_url(cls, value: str) -> str:
        if not re.fullmatch(r"https?://[^/\s]+(/\S*)?", value):
            raise ValueError(f"expected an http(s) URL, got {value!r}")
        return value


class GatewaysSettings(_Table):
    """`[gateways.*]`: how each gateway is reached (secrets stay here). Which one a website uses is policy."""

    sandbox: SandboxSettings = SandboxSettings()
    stripe: StripeSettings | None = None


def _hide_password(url: str) -> str:
    return re.sub(r"(//[^:/@]*:)[^@/]*@", r"\1***@", url)


class Settings(BaseSettings):
    """Typed local settings.

    `Settings(...)` takes only the values it is given (plus defaults), so tests
    and tools get exactly what they pass; `load_settings()` adds the config file
    and the environment.
    """

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX,
        env_nested_delimiter="__",
        env_ignore_empty=True,
        extra="forbid",
        frozen=True,
    )

    data_dir: Annotated[Path, BeforeValidator(_home)] = Field(default_factory=default_data_dir)
    database_url: str = ""
    """Empty means the SQLite store `<data_dir>/agentdesk.db`."""
    mail_from: str = "AgentDesk <no-reply@agentdesk.invalid>"
    smtp: SmtpSettings | None = None
    gateways: GatewaysSettings = GatewaysSettings()
    log_file: Annotated[Path | None, BeforeValidator(_home)] = None
    key_file: Annotated[Path | None, BeforeValidator(_home)] = None
    """The service key (card fingerprints, the timeline chain). Unset: `<store file>.key` beside an SQLite
    store, `<data_dir>/agentdesk.key` for PostgreSQL."""
    debug: bool = False
    keys: dict[str, str] = {}
    """Binding id → key(s), applied with Textual's `App.set_keymap`."""
    theme: str | None = None
    """A Textual theme name."""

    _config_file: Path | None = PrivateAttr(default=None)

    def __init__(self, **values: Any) -> None:
        try:
            super().__init__(**values)
        except ValidationError as exc:
            raise ConfigError(_explain(exc, _LOADING.get(), values)) from None

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        loading = _LOADING.get()
        if loading is None:
            return (init_settings,)
        sources: list[PydanticBaseSettingsSource] = [init_settings, _EnvironmentSource(settings_cls, loading.environ)]
        if loading.config_file is not None:
            toml = _TomlSource(settings_cls, toml_file=loading.config_file)
            loading.file_values = toml.toml_data
            sources.append(toml)
        return tuple(sources)

    @model_validator(mode="before")
    @classmethod
    def _default_database(cls, data: Any) -> Any:
        if isinstance(data, dict) and not data.get("database_url"):
            data_dir = data.get("data_dir") or default_data_dir()
            if isinstance(data_dir, str | Path):
                return {**data, "database_url": sqlite_url(Path(data_dir).expanduser() / "agentdesk.db")}
        return data

    @field_validator("database_url")
    @classmethod
    def _database_url(cls, value: str) -> str:
        if not value.startswith(("sqlite", "postgresql")):
            raise ValueError(
                f"unsupported database URL {_hide_password(value)!r}: use sqlite:///PATH or postgresql+psycopg://..."
            )
        return value

    @field_validator("mail_from")
    @classmethod
    def _mail_from(cls, value: str) -> str:
        if "\r" in value or "\n" in value or "@" not in parseaddr(value)[1]:
            raise ValueError(f"expected an address such as 'Support <support@example.com>', got {value!r}")
        return value

    @field_validator("keys", mode="before")
    @classmethod
    def _keys(cls, value: object) -> object:
        if isinstance(value, dict) and any(isinstance(v, dict) for v in value.values()):
            raise ValueError('quote binding ids, which contain dots: "profile.refund" = "ctrl+r"')
        return value

    @field_validator("keys")
    @classmethod
    def _keys_not_empty(cls, value: dict[str, str]) -> dict[str, str]:
        for binding, keys in value.items():
            if not binding.strip() or not keys.strip():
                raise ValueError(f"{binding!r} = {keys!r}: both the binding id and its key(s) are needed")
        return value

    @field_validator("theme")
    @classmethod
    def _theme(cls, value: str | None) -> str | None:
        return (value or "").strip() or None

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")

    @property
    def config_file(self) -> Path | None:
        """The config file that was read, if any."""
        return self._config_file


# --- loading -------------------------------------------------------------------------------


@dataclass
class _Loading:
    """What `load_settings` hands to the sources, and what they read (to say where a bad value came from)."""

    config_file: Path | None
    environ: Mapping[str, str]
    options: dict[str, str]
    file_values: dict[str, Any] = field(default_factory=dict)


_LOADING: ContextVar[_Loading | None] = ContextVar("agentdesk_settings_loading", default=None)

OPTIONS = {"database_url": "--db", "log_file": "--log-file", "debug": "--debug"}


def env_path(name: str) -> tuple[str, ...] | None:
    """The key path an `AGENTDESK_*` variable sets: `AGENTDESK_SMTP_HOST` → ("smtp", "host")."""
    if not name.upper().startswith(ENV_PREFIX) or len(name) == len(ENV_PREFIX):
        return None
    rest = name[len(ENV_PREFIX):].lower()
    if "__" in rest:
        return tuple(rest.split("__"))
    if rest.startswith("smtp_"):
        return ("smtp", rest[len("smtp_"):])
    return (rest,)


class _EnvironmentSource(EnvSettingsSource):
    """The environment, read from the mapping `load_settings` was given rather than `os.environ`."""

    def __init__(self, settings_cls: type[BaseSettings], environ: Mapping[str, str]):
        self._environ = environ
        super().__init__(settings_cls)

    def _load_env_vars(self) -> Mapping[str, str | None]:
        found: dict[str, str | None] = {}
        for name, value in self._environ.items():
            path = env_path(name)
            if path and value:
                found[ENV_PREFIX.lower() + "__".join(path)] = value
        return found

    def __call__(self) -> dict[str, Any]:
        """The fields' values, plus any policy key set in the environment, so that it is refused by name."""
        data = super().__call__()
        for name, value in self._environ.items():
            path = env_path(name)
            if path and value and path[0] in POLICY_NOW:
                data.setdefault(path[0], value)
        return data

    def decode_complex_value(self, field_name: str, field: Any, value: Any) -> Any:
        try:
            return super().decode_complex_value(field_name, field, value)
        except ValueError:
            raise ConfigError(f"{ENV_PREFIX}{field_name.upper()}: expected JSON, got {value!r}") from None


class _TomlSource(TomlConfigSettingsSource):
    def _read_file(self, file_path: Any) -> dict[str, Any]:
        try:
            return super()._read_file(file_path)
        except UnicodeDecodeError as exc:
            raise ConfigError(f"{file_path}: not valid UTF-8 (byte {exc.start} cannot be read)") from None
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{file_path}: not valid TOML ({exc})") from None
        except OSError as exc:
            raise ConfigError(f"{file_path}: cannot be read ({exc.strerror})") from None


def load_settings(
    database_url: str | None = None,
    env: dict[str, str] | None = None,
    *,
    log_file: Path | str | None = None,
    debug: bool | None = None,
) -> Settings:
    """The settings for this run; the explicit arguments (the `--db`, `--log-file` and `--debug` options) win.

    `env=None` reads `os.environ`. Raises `ConfigError` for anything wrong.
    """
    environ: Mapping[str, str] = os.environ if env is None else env
    named = environ.get("AGENTDESK_CONFIG")
    config_file: Path | None
    if named:
        config_file = Path(named).expanduser()
        if not config_file.exists():
            raise ConfigError(f"AGENTDESK_CONFIG names {config_file}, which does not exist")
        if not config_file.is_file():
            raise ConfigError(f"AGENTDESK_CONFIG names {config_file}, which is not a file")
    else:
        config_file = default_config_file()
        if not config_file.exists():
            config_file = None
        elif not config_file.is_file():
            raise ConfigError(f"{config_file} is not a file")
    explicit: dict[str, Any] = {
        key: value
        for key, value in (("database_url", database_url), ("log_file", log_file), ("debug", debug))
        if value is not None and value != ""
    }
    token = _LOADING.set(_Loading(config_file, dict(environ), OPTIONS))
    try:
        settings = Settings(**explicit)
    finally:
        _LOADING.reset(token)
    settings._config_file = config_file
    return settings


# --- explaining a bad value --------------------------------------------------------------


def _dotted(path: tuple[str, ...]) -> str:
    return ".".join(path)


def _has(values: Any, path: tuple[str, ...]) -> bool:
    for key in path:
        if not isinstance(values, dict) or key not in values:
            return False
        values = values[key]
    return True


def _where(path: tuple[str, ...], loading: _Loading | None, given: Mapping[str, Any]) -> list[str]:
    """Where the value at `path` came from, highest precedence first; for a table, every source that set part of it."""
    for length in range(len(path), 0, -1):
        prefix = path[:length]
        found: list[str] = []
        if prefix[0] in given:
            found.append(loading.options.get(prefix[0], prefix[0]) if loading else f"Settings({prefix[0]}=...)")
        if loading is not None:
            found += sorted(
                name for name, value in loading.environ.items()
                if value and (p := env_path(name)) is not None and p[:length] == prefix
            )
            if _has(loading.file_values, prefix):
                found.append(str(loading.config_file))
        if found:
            return found if length < len(path) else found[:1]
    return []


def _known_keys(path: tuple[str, ...]) -> list[str]:
    model: Any = Settings
    for key in path:
        fields = getattr(model, "model_fields", {})
        if key not in fields:
            return []
        annotation = fields[key].annotation
        model = next((a for a in (annotation, *get_args(annotation)) if isinstance(a, type)
                      and issubclass(a, BaseModel)), None)
    return sorted(getattr(model, "model_fields", {}))


def _shown(value: object) -> str:
    text = str(value).lower() if isinstance(value, bool) else repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _problem(error: ErrorDetails, path: tuple[str, ...]) -> str:
    kind, context = error["type"], error.get("ctx") or {}
    got = "" if path and path[-1] in SECRET_KEYS else f", got {_shown(error.get('input'))}"
    if kind == "extra_forbidden" and len(path) == 1 and path[0] in POLICY_NOW:
        return ("not a local setting any more: it is store policy, which no config file or environment "
                f"variable can change; an admin changes it with `agentdesk policy set {POLICY_NOW[path[0]]}` "
                "(`agentdesk policy show` lists the values in force)")
    if kind == "extra_forbidden":
        known = _known_keys(path[:-1])
        close = difflib.get_close_matches(path[-1], known, n=1)
        hint = f"; did you mean {close[0]}?" if close else ""
        return f"unknown key{hint}" + (f" (known: {', '.join(known)})" if known else "")
    if kind == "missing":
        return "required, but not set"
    if kind == "value_error":
        return str(context.get("error") or error["msg"])
    if kind in ("int_parsing", "int_from_float", "int_type"):
        return f"expected a whole number{got}"
    if kind in ("float_parsing", "float_type"):
        return f"expected a number{got}"
    if kind in ("bool_parsing", "bool_type"):
        return f"expected true or false{got}"
    if kind == "string_type":
        return f"expected text in quotes{got}"
    if kind in ("model_type", "model_attributes_type", "dict_type"):
        return f"expected a table{got}"
    if kind in ("tuple_type", "list_type"):
        return f"expected a list{got}"
    if kind == "greater_than_equal" and context.get("ge") == 0:
        return f"must not be negative{got}"
    message = error["msg"]
    return message[:1].lower() + message[1:] + got


def _explain(exc: ValidationError, loading: _Loading | None, given: Mapping[str, Any]) -> str:
    lines = []
    for error in exc.errors(include_url=False):
        path = tuple(str(part) for part in error["loc"] if isinstance(part, str))
        sources = _where(path, loading, given)
        where = " and ".join(sources) or "default"
        key = _dotted(path)
        same_name = len(sources) == 1 and sources[0].lower() == ENV_PREFIX.lower() + "__".join(path)
        lines.append(f"{where}: {_problem(error, path)}" if same_name or not key
                     else f"{where}: {key}: {_problem(error, path)}")
    return "\n".join(dict.fromkeys(lines))
