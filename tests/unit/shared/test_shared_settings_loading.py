"""Missing configuration fails at start-up with the environment variable's name."""

from __future__ import annotations

import pytest
from pydantic_settings import SettingsConfigDict

from shared.settings import KafkaSettings, ServiceSettings, SettingsError, load_settings


class XSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="X_", extra="ignore", frozen=True)


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    for name in ["X_DATABASE_URL", "X_HTTP_PORT", "DATABASE_URL", "KAFKA_BOOTSTRAP_SERVERS", "SALESFLOW_TOPIC_PREFIX"]:
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


def test_a_missing_database_url_raises_settings_error_naming_the_prefixed_variable(
    clean_env: pytest.MonkeyPatch,
) -> None:
    with pytest.raises(SettingsError, match="X_DATABASE_URL") as caught:
        load_settings(XSettings)

    assert str(caught.value).startswith("invalid configuration: ")


def test_an_unprefixed_database_url_does_not_satisfy_a_prefixed_service(clean_env: pytest.MonkeyPatch) -> None:
    clean_env.setenv("DATABASE_URL", "postgresql://elsewhere/db")

    with pytest.raises(SettingsError, match="X_DATABASE_URL"):
        load_settings(XSettings)


def test_an_invalid_value_is_reported_with_its_variable_name(clean_env: pytest.MonkeyPatch) -> None:
    clean_env.setenv("X_DATABASE_URL", "postgresql://localhost/x")
    clean_env.setenv("X_HTTP_PORT", "eighty")

    with pytest.raises(SettingsError, match="X_HTTP_PORT"):
        load_settings(XSettings)


def test_settings_are_read_from_prefixed_variables(clean_env: pytest.MonkeyPatch) -> None:
    clean_env.setenv("X_DATABASE_URL", "postgresql://localhost/x")
    clean_env.setenv("X_HTTP_PORT", "8123")

    settings = load_settings(XSettings)

    assert settings.database_url == "postgresql://localhost/x"
    assert settings.http_port == 8123
    assert settings.log_json is None


def test_kafka_settings_are_unprefixed_and_name_topics_after_the_prefix(clean_env: pytest.MonkeyPatch) -> None:
    with pytest.raises(SettingsError, match="KAFKA_BOOTSTRAP_SERVERS"):
        load_settings(KafkaSettings)

    clean_env.setenv("KAFKA_BOOTSTRAP_SERVERS", "localhost:9092")
    clean_env.setenv("SALESFLOW_TOPIC_PREFIX", "run42")

    assert load_settings(KafkaSettings).topic("leads") == "run42.leads"
