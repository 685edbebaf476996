import re
import tomllib
from pathlib import Path

import pytest
from pydantic import BaseModel, SecretStr
from sqlalchemy import func, select, text

from agentdesk.config import ConfigError, Settings, load_settings

ROOT = Path(__file__).resolve().parents[1]
POLICY_KEYS = {"agent_refund_limit", "attachment_limit", "notify_emails", "website_gateways"}


@pytest.fixture
def config(tmp_path) -> Path:
    return tmp_path / "config.toml"


def from_file(config: Path, content: str, **env: str) -> Settings:
    config.write_text(content)
    return load_settings(env={"AGENTDESK_CONFIG": str(config), **env})


def test_defaults_put_sqlite_in_the_data_dir(tmp_path):
    settings = load_settings(env={"AGENTDESK_DATA_DIR": str(tmp_path)})
    assert settings.database_url == f"sqlite:///{tmp_path / 'agentdesk.db'}"
    assert not POLICY_KEYS & set(Settings.model_fields), "policy is kept in the store, not in local settings"
    assert settings.smtp is None and settings.gateways.stripe is None and settings.log_file is None
    assert settings.gateways.sandbox.settle_after_seconds == 86_400
    assert not settings.debug and settings.keys == {} and settings.theme is None and settings.config_file is None


def test_file_then_environment_then_flag(config):
    config.write_text(
        'database_url = "sqlite:///from-file.db"\ntheme = "nord"\nmail_from = "Ops <ops@example.com>"\n'
    )
    env = {"AGENTDESK_CONFIG": str(config)}
    settings = load_settings(env=env)
    assert settings.database_url == "sqlite:///from-file.db"
    assert settings.theme == "nord"
    assert settings.mail_from == "Ops <ops@example.com>"
    assert settings.config_file == config
    env.update(AGENTDESK_DATABASE_URL="postgresql+psycopg://u@h/db", AGENTDESK_THEME="dracula",
               AGENTDESK_MAIL_FROM="Desk <desk@example.com>")
    settings = load_settings(env=env)
    assert settings.database_url == "postgresql+psycopg://u@h/db"
    assert settings.theme == "dracula"
    assert settings.mail_from == "Desk <desk@example.com>"
    assert load_settings("sqlite:///flag.db", env=env).database_url == "sqlite:///flag.db"


def test_the_default_config_file_is_read(tmp_path):
    """The autouse fixture points XDG_CONFIG_HOME at tmp_path/config, as platformdirs reads it."""
    default = tmp_path / "config" / "agentdesk" / "config.toml"
    default.parent.mkdir(parents=True)
    default.write_text('mail_from = "Ops <ops@example.com>"\n')
    settings = load_settings(env={})
    assert settings.mail_from == "Ops <ops@example.com>" and settings.config_file == default
    default.write_text('mail_fro = "Ops <ops@example.com>"\n')
    says = f"{re.escape(str(default))}: mail_fro: unknown key; did you mean mail_from"
    with pytest.raises(ConfigError, match=says):
        load_settings(env={})


def test_env_none_reads_the_process_environment(config, monkeypatch, tmp_path):
    config.write_text('theme = "nord"\n')
    monkeypatch.setenv("AGENTDESK_CONFIG", str(config))
    monkeypatch.setenv("AGENTDESK_DATA_DIR", str(tmp_path / "elsewhere"))
    settings = load_settings()
    assert settings.theme == "nord" and settings.data_dir == tmp_path / "elsewhere"


def test_environment_overrides_the_file_key_by_key(config, tmp_path):
    settings = from_file(
        config,
        'debug = false\nlog_file = "from-file.log"\n[smtp]\nhost = "mail.example"\nport = 25\ntls = "none"\n'
        '[gateways.stripe]\napi_key = "sk_file"\n',
        AGENTDESK_SMTP_PORT="2525", AGENTDESK_SMTP_PASSWORD="pw-from-env", AGENTDESK_SMTP_USERNAME="desk",
        AGENTDESK_DEBUG="true", AGENTDESK_LOG_FILE=str(tmp_path / "env.log"),
        AGENTDESK_GATEWAYS__STRIPE__API_KEY="sk_env", AGENTDESK_THEME="nord",
        AGENTDESK_KEYS='{"profile.refund": "ctrl+r"}', AGENTDESK_MAIL_FROM="Desk <desk@example.com>",
    )
    assert settings.smtp is not None and settings.gateways.stripe is not None
    assert (settings.smtp.host, settings.smtp.port, settings.smtp.tls) == ("mail.example", 2525, "none")
    assert settings.smtp.username == "desk" and settings.smtp.password == SecretStr("pw-from-env")
    assert settings.gateways.stripe.api_key.get_secret_value() == "sk_env"
    assert settings.debug and settings.log_file == tmp_path / "env.log"
    assert settings.theme == "nord" and settings.keys == {"profile.refund": "ctrl+r"}
    assert settings.mail_from == "Desk <desk@example.com>"
    blank = from_file(config, 'theme = "nord"\n', AGENTDESK_THEME="")
    assert blank.theme == "nord", "an empty variable is as good as unset"


def test_explicit_options_win(config, tmp_path):
    env = {"AGENTDESK_DATABASE_URL": "sqlite:///env.db", "AGENTDESK_DEBUG": "false",
           "AGENTDESK_LOG_FILE": str(tmp_path / "env.log")}
    config.write_text('database_url = "sqlite:///file.db"\ndebug = false\nlog_file = "file.log"\n')
    env["AGENTDESK_CONFIG"] = str(config)
    settings = load_settings("sqlite:///flag.db", env, log_file=tmp_path / "flag.log", debug=True)
    assert settings.database_url == "sqlite:///flag.db"
    assert settings.log_file == tmp_path / "flag.log" and settings.debug
    assert load_settings(None, env, log_file=str(tmp_path / "s.log")).log_file == tmp_path / "s.log"
    assert load_settings(None, env).database_url == "sqlite:///env.db"
    with pytest.raises(ConfigError, match=r"^--db: database_url: unsupported database URL 'mysql://u:\*\*\*@h/db'"):
        load_settings("mysql://u:secret@h/db", env)


@pytest.mark.parametrize(
    "content, says",
    [("[gateways.sandbox]\nsettle_after_seconds = 12.5", "whole number"),
     ("[gateways.sandbox]\nsettle_after_seconds = -1", "negative"),
     ("mail_from = 'nobody'", "expected an address"), ("database_url = 'mysql://x'", "unsupported"),
     ("this is not toml", "not valid TOML")],
)
def test_bad_config_is_reported(config, content, says):
    with pytest.raises(ConfigError, match=says):
        from_file(config, content)


def test_unknown_top_level_key_is_named_with_its_file(config):
    with pytest.raises(ConfigError) as refused:
        from_file(config, 'databse_url = "postgresql+psycopg://u@h/db"\n')
    assert str(refused.value) == f"{config}: databse_url: unknown key; did you mean database_url? (known: " \
        "data_dir, database_url, debug, gateways, key_file, keys, log_file, mail_from, smtp, theme)"


@pytest.mark.parametrize(
    "content, key",
    [('[smtp]\nhost = "m.example"\nhots = "x"\n', "smtp.hots"),
     ("[gateways.sandbox]\nsettle_after = 5\n", "gateways.sandbox.settle_after"),
     ('[gateways.stripe]\napi_key = "sk"\nbase_uri = "https://x"\n', "gateways.stripe.base_uri"),
     ('[gateways.paypal]\napi_key = "x"\n', "gateways.paypal")],
)
def test_unknown_nested_key_is_named(config, content, key):
    with pytest.raises(ConfigError, match=f"^{re.escape(str(config))}: {key}: unknown key"):
        from_file(config, content)


@pytest.mark.parametrize(
    "content, says",
    [('debug = "sometimes"', "debug: expected true or false, got 'sometimes'"),
     ("[gateways.sandbox]\nsettle_after_seconds = true",
      "gateways.sandbox.settle_after_seconds: expected a whole number, got true"),
     ('[smtp]\nhost = "m.example"\nport = "abc"', "smtp.port: expected a whole number, got 'abc'"),
     ('[smtp]\nhost = "m.example"\nport = 70000', "smtp.port: input should be less than or equal to 65535"),
     ('[smtp]\nhost = "m.example"\ntls = "tsl"', "smtp.tls: input should be 'starttls', 'ssl' or 'none'"),
     ("[smtp]\nport = 25", "smtp.host: required, but not set"),
     ('[smtp]\nhost = "  "', "smtp.host: must not be empty"),
     ('smtp = "mail.example"', "smtp: expected a table"),
     ('keys = ["ctrl+r"]', "keys: expected a table"),
     ('[keys.profile]\nrefund = "ctrl+r"', 'keys: quote binding ids, which contain dots: "profile.refund"'),
     ("theme = 1", "theme: expected text in quotes, got 1"),
     ("log_file = 3", "log_file: "),
     ('data_dir = ""', "data_dir: must not be empty"),
     ("[gateways.sandbox]\nsettle_after_seconds = -5", "gateways.sandbox.settle_after_seconds: must not be negative"),
     ('[gateways.stripe]\napi_key = "sk"\ntimeout = "slow"', "gateways.stripe.timeout: expected a number"),
     ('[gateways.stripe]\napi_key = "sk"\nbase_url = "ftp://x"', "gateways.stripe.base_url: expected an http"),
     ('mail_from = "nobody"', "mail_from: expected an address"),
     ],
)
def test_wrong_types_and_values_name_the_key(config, content, says):
    with pytest.raises(ConfigError, match=f"^{re.escape(str(config))}: {says}"):
        from_file(config, content + "\n")


def test_environment_errors_name_the_variable(config):
    with pytest.raises(ConfigError, match=r"^AGENTDESK_GATEWAYS__SANDBOX__SETTLE_AFTER_SECONDS: expected a whole "
                                          r"number, got 'lots'$"):
        load_settings(env={"AGENTDESK_GATEWAYS__SANDBOX__SETTLE_AFTER_SECONDS": "lots"})
    with pytest.raises(ConfigError, match=r"^AGENTDESK_SMTP_HSOT: smtp.hsot: unknown key; did you mean host"):
        load_settings(env={"AGENTDESK_SMTP_HOST": "m.example", "AGENTDESK_SMTP_HSOT": "x"})
    with pytest.raises(ConfigError, match=r"^AGENTDESK_KEYS: expected JSON"):
        load_settings(env={"AGENTDESK_KEYS": "profile.refund=ctrl+r"})
    config.write_text("[smtp]\nport = 25\n")
    with pytest.raises(ConfigError, match=f"^AGENTDESK_SMTP_TLS and {re.escape(str(config))}: smtp.host: required"):
        load_settings(env={"AGENTDESK_CONFIG": str(config), "AGENTDESK_SMTP_TLS": "none"})


def test_every_problem_is_listed_once(config):
    with pytest.raises(ConfigError) as refused:
        from_file(config, 'debug = 3\ntheme = 4\ndata_dir = ""\n')
    assert len(str(refused.value).splitlines()) == 3


def test_named_config_must_exist(tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        load_settings(env={"AGENTDESK_CONFIG": str(tmp_path / "missing.toml")})
    with pytest.raises(ConfigError, match="is not a file"):
        load_settings(env={"AGENTDESK_CONFIG": str(tmp_path)})


def test_invalid_utf8_is_a_config_error(config):
    config.write_bytes(b'theme = "caf\xe9"\n')
    with pytest.raises(ConfigError, match=f"^{re.escape(str(config))}: not valid UTF-8"):
        load_settings(env={"AGENTDESK_CONFIG": str(config)})


POLICY_SAYS = "not a local setting any more: it is store policy, which no config file or environment variable can " \
    "change; an admin changes it with `agentdesk policy set "


@pytest.mark.parametrize(
    "content, key, command",
    [("agent_refund_limit = 99999999", "agent_refund_limit", "refund_limit.agent.<CUR> AMOUNT"),
     ('notify_emails = ["me@example.com"]', "notify_emails", "notify_emails "),
     ('[website_gateways]\n"shop-us" = "stripe"', "website_gateways", "website_gateway.<website> sandbox|stripe"),
     ("attachment_limit = 99999999999", "attachment_limit", "attachment_limit BYTES"),
     ('payout_ceiling = 1', "payout_ceiling", "payout_ceiling.<CUR> AMOUNT")],
)
def test_policy_in_a_named_config_file_is_refused_naming_the_policy_command(config, content, key, command):
    """Issue 10: `AGENTDESK_CONFIG` pointing at the agent's own file must not lift a limit, nor be ignored silently."""
    with pytest.raises(ConfigError) as refused:
        from_file(config, content + "\n")
    assert str(refused.value).startswith(f"{config}: {key}: {POLICY_SAYS}{command}")


def test_policy_in_the_own_default_config_file_is_refused(tmp_path):
    default = tmp_path / "config" / "agentdesk" / "config.toml"
    default.parent.mkdir(parents=True)
    default.write_text("agent_refund_limit = 99999999\n")
    with pytest.raises(ConfigError, match=f"^{re.escape(str(default))}: agent_refund_limit: {re.escape(POLICY_SAYS)}"
                                          r"refund_limit\.agent\.<CUR> AMOUNT`"):
        load_settings(env={})


@pytest.mark.parametrize(
    "name, value, command",
    [("AGENTDESK_AGENT_REFUND_LIMIT", "99999999", "refund_limit.agent.<CUR> AMOUNT"),
     ("AGENTDESK_NOTIFY_EMAILS", "me@example.com", "notify_emails "),
     ("AGENTDESK_ATTACHMENT_LIMIT", "99999999999", "attachment_limit BYTES"),
     ("AGENTDESK_WEBSITE_GATEWAYS__SHOP_US", "stripe", "website_gateway.<website> sandbox|stripe"),
     ("AGENTDESK_WEBSITE_GATEWAYS", '{"shop-us": "stripe"}', "website_gateway.<website> sandbox|stripe"),
     ("AGENTDESK_REFUND_LIMIT__AGENT__USD", "99999999", "refund_limit.<role>.<CUR> AMOUNT")],
)
def test_policy_in_the_environment_is_refused_naming_the_variable_and_the_policy_command(name, value, command):
    """Issue 10: `AGENTDESK_AGENT_REFUND_LIMIT=99999999` used to lift the agent limit."""
    with pytest.raises(ConfigError) as refused:
        load_settings(env={name: value})
    message = str(refused.value)
    assert message.startswith(name + ": ") and POLICY_SAYS + command in message
    assert len(message.splitlines()) == 1


def test_policy_passed_to_settings_directly_is_refused():
    with pytest.raises(ConfigError, match=r"^Settings\(agent_refund_limit=...\): agent_refund_limit: not a local"):
        Settings(agent_refund_limit=99_999_999)


def test_smtp_table(config):
    settings = from_file(config, '[gateways.stripe]\napi_key = "sk_test"\n\n'
                                 '[smtp]\nhost = "mail.example"\nport = 465\ntls = "SSL"\n')
    assert settings.gateways.stripe is not None
    assert settings.smtp is not None
    assert settings.smtp.model_dump() == {"host": "mail.example", "port": 465, "tls": "ssl", "username": None,
                                          "password": None, "timeout": 20.0}


def test_secrets_are_never_shown(config):
    settings = from_file(config, '[smtp]\nhost = "m.example"\nusername = "u"\npassword = "hunter2-secret"\n'
                                 '[gateways.stripe]\napi_key = "sk_live_very_secret"\n')
    for shown in (repr(settings), str(settings), repr(settings.smtp), repr(settings.gateways)):
        assert "hunter2-secret" not in shown and "sk_live_very_secret" not in shown
    assert settings.smtp is not None and settings.smtp.password is not None
    assert settings.smtp.password.get_secret_value() == "hunter2-secret"
    with pytest.raises(ConfigError) as refused:
        from_file(config, '[smtp]\nhost = "m.example"\npassword = 12345678\n[gateways.stripe]\napi_key = 87654321\n')
    assert "smtp.password: expected text in quotes" in str(refused.value)
    assert "12345678" not in str(refused.value) and "87654321" not in str(refused.value)


def test_settings_are_frozen_and_accept_plain_tables(tmp_path):
    """Tests build settings directly, with tables as dicts; those are validated like the file's."""
    from agentdesk.services.money.gateways import gateway_for
    from agentdesk.services.money.gateways.stripe import StripeGateway

    settings = load_settings(env={"AGENTDESK_DATA_DIR": str(tmp_path)})
    stripe = type(settings)(**{**settings.__dict__, "gateways": {"stripe": {"api_key": "sk", "base_url": "http://s"}}})
    gateway = gateway_for(None, "stripe", stripe)  # type: ignore[arg-type]
    assert isinstance(gateway, StripeGateway) and gateway.client._requestor.base_addresses["api"] == "http://s"
    assert stripe.data_dir == tmp_path
    with pytest.raises(ConfigError, match=r"^Settings\(gateways=...\): gateways.stripe.api_kye: unknown key"):
        Settings(gateways={"stripe": {"api_key": "sk", "api_kye": "sk"}})
    with pytest.raises(Exception, match="frozen"):
        settings.debug = True  # type: ignore[misc]


def test_settings_alone_read_no_environment(monkeypatch):
    monkeypatch.setenv("AGENTDESK_DATABASE_URL", "postgresql+psycopg://u@h/db")
    assert Settings().database_url.startswith("sqlite:///")
    assert load_settings().database_url == "postgresql+psycopg://u@h/db"


def test_a_stripe_typo_stops_before_any_sale_is_recorded(sqlite_store, tmp_path, config):
    """Issue 9: `[gateways.stripe]` with a misspelled key used to raise a TypeError after the pending sale
    was committed. Now the settings refuse to load, so nothing reaches the store; spelled right, the same
    sale ends with an outcome, not a pending row."""
    from agentdesk.db.models import PaymentInstrument, Role, Transaction
    from agentdesk.services.customers import records as customers
    from agentdesk.services.money import payments

    from .conftest import add_roles, add_website, customer_input

    store = sqlite_store
    add_website(store)
    admin = add_roles(store)[Role.ADMIN]
    customers.create_customer(store, admin, customer_input())
    with store.write(unrecorded="test fixture") as s:
        s.execute(text("UPDATE website SET gateway = 'stripe'"))
        s.execute(text("UPDATE payment_instrument SET is_primary = false"))
        cid = s.execute(text("SELECT id FROM customer")).scalar_one()
        s.add(PaymentInstrument(customer_id=cid, method="card", brand="Visa", last4="4242", is_primary=True,
                                gateway_token="pm_card_visa"))

    def charge():
        settings = load_settings(store.url, env={"AGENTDESK_CONFIG": str(config),
                                                 "AGENTDESK_DATA_DIR": str(tmp_path / "data")})
        return payments.collect_payment(store, admin, settings, "C-1", 3_000, "USD")

    def transactions() -> list[tuple[str, str]]:
        with store.read() as s:
            return [(t.gateway, t.status) for t in s.execute(select(Transaction)).scalars()]

    config.write_text('[gateways.stripe]\napi_kye = "sk_test_x"\nbase_url = "http://127.0.0.1:9"\n')
    where = re.escape(str(config))
    with pytest.raises(ConfigError, match=rf"^{where}: gateways\.stripe\.api_key: required.*\n"
                                          rf"{where}: gateways\.stripe\.api_kye: unknown key; did you mean api_key"):
        charge()
    assert transactions() == []
    with store.read() as s:
        assert s.execute(select(func.count()).select_from(Transaction)).scalar_one() == 0

    config.write_text('[gateways.stripe]\napi_key = "sk_test_x"\nbase_url = "http://127.0.0.1:9"\ntimeout = 2\n')
    result = charge()
    assert result.status == "failed" and "Stripe could not be reached" in result.message
    assert transactions() == [("stripe", "failed")]


def _leaves(model: type[BaseModel], prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    found = []
    for name, info in model.model_fields.items():
        nested = [a for a in (info.annotation, *getattr(info.annotation, "__args__", ()))
                  if isinstance(a, type) and issubclass(a, BaseModel)]
        found += _leaves(nested[0], (*prefix, name)) if nested else [(*prefix, name)]
    return found


def _value(values, path):
    for key in path:
        values = getattr(values, key) if not isinstance(values, dict) else values[key]
    return values


def test_config_example_lists_every_key_and_loads(tmp_path):
    example = ROOT / "config.example.toml"
    shown = tomllib.loads(example.read_text())
    settings = load_settings(env={"AGENTDESK_CONFIG": str(example)})
    leaves = _leaves(Settings)
    assert len(leaves) > 15
    for path in leaves:
        in_file = _value(shown, path)
        loaded = _value(settings, path)
        if isinstance(loaded, SecretStr):
            loaded = loaded.get_secret_value()
        elif isinstance(loaded, Path):
            in_file = Path(in_file).expanduser()
        elif isinstance(loaded, tuple):
            loaded = list(loaded)
        assert loaded == in_file, ".".join(path)
    assert settings.keys
    text_of_readme = (ROOT / "README.md").read_text()
    for name in Settings.model_fields:
        assert any(f in text_of_readme for f in (f"`{name}`", f"`[{name}]`", f"`[{name}.")), f"README lacks {name}"
