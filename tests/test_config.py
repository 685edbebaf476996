import pytest

from agentdesk.config import ConfigError, load_settings


def test_defaults_put_sqlite_in_the_data_dir(tmp_path):
    settings = load_settings(env={"AGENTDESK_DATA_DIR": str(tmp_path)})
    assert settings.database_url == f"sqlite:///{tmp_path / 'agentdesk.db'}"
    assert settings.agent_refund_limit == 50_000


def test_file_then_environment_then_flag(tmp_path):
    config = tmp_path / "config.toml"
    config.write_text(
        'database_url = "sqlite:///from-file.db"\nagent_refund_limit = 12000\nnotify_emails = ["ops@example.com"]\n'
    )
    env = {"AGENTDESK_CONFIG": str(config)}
    settings = load_settings(env=env)
    assert settings.database_url == "sqlite:///from-file.db"
    assert settings.agent_refund_limit == 12000
    assert settings.notify_emails == ("ops@example.com",)
    env.update(AGENTDESK_DATABASE_URL="postgresql+psycopg://u@h/db", AGENTDESK_AGENT_REFUND_LIMIT="300",
               AGENTDESK_NOTIFY_EMAILS="a@example.com, b@example.com")
    settings = load_settings(env=env)
    assert settings.database_url == "postgresql+psycopg://u@h/db"
    assert settings.agent_refund_limit == 300
    assert settings.notify_emails == ("a@example.com", "b@example.com")
    assert load_settings("sqlite:///flag.db", env=env).database_url == "sqlite:///flag.db"


@pytest.mark.parametrize(
    "content, says",
    [("agent_refund_limit = 12.5", "whole number"), ("agent_refund_limit = -1", "negative"),
     ("notify_emails = ['nobody']", "not an email"), ("database_url = 'mysql://x'", "unsupported"),
     ("this is not toml", "not valid TOML")],
)
def test_bad_config_is_reported(tmp_path, content, says):
    config = tmp_path / "config.toml"
    config.write_text(content)
    with pytest.raises(ConfigError, match=says):
        load_settings(env={"AGENTDESK_CONFIG": str(config)})


def test_named_config_must_exist(tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        load_settings(env={"AGENTDESK_CONFIG": str(tmp_path / "missing.toml")})


def test_website_gateways_and_smtp(tmp_path):
    config = tmp_path / "config.toml"
    config.write_text('[website_gateways]\n"shop-us" = "stripe"\n\n[smtp]\nhost = "mail.example"\nport = 465\ntls = "ssl"\n')
    settings = load_settings(env={"AGENTDESK_CONFIG": str(config)})
    assert settings.website_gateways == {"shop-us": "stripe"}
    assert settings.smtp == {"host": "mail.example", "port": 465, "tls": "ssl"}
    config.write_text('[website_gateways]\n"shop-us" = "paypal"\n')
    with pytest.raises(ConfigError, match="unknown gateway"):
        load_settings(env={"AGENTDESK_CONFIG": str(config)})
    config.write_text('[smtp]\nport = 25\n')
    with pytest.raises(ConfigError, match="host is required"):
        load_settings(env={"AGENTDESK_CONFIG": str(config)})
