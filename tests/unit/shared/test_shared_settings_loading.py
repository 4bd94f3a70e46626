"""Missing configuration fails at start-up with the environment variable's name."""

from __future__ import annotations

import pytest
from pydantic_settings import SettingsConfigDict

from shared.settings import KafkaSettings, ServiceSettings, SettingsError, load_settings


class XSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="X_", extra="ignore", frozen=True)


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    for name in ["X_DATABASE_URL", "X_HTTP_PORT", "DATABASE_URL", "KAFKA_BOOTSTRAP_SERVERS", "SALESFLOW_TOPIC_PREFIX",
                 "KAFKA_SECURITY_PROTOCOL", "KAFKA_SASL_MECHANISM", "KAFKA_SASL_USERNAME", "KAFKA_SASL_PASSWORD",
                 "X_KAFKA_SASL_USERNAME", "X_KAFKA_SASL_PASSWORD"]:
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


def test_sasl_without_credentials_is_refused_naming_them(clean_env: pytest.MonkeyPatch) -> None:
    clean_env.setenv("KAFKA_BOOTSTRAP_SERVERS", "localhost:9092")
    clean_env.setenv("KAFKA_SECURITY_PROTOCOL", "SASL_PLAINTEXT")

    with pytest.raises(SettingsError, match="kafka_sasl_username and kafka_sasl_password"):
        load_settings(KafkaSettings)


def test_a_service_signs_in_as_its_own_principal_when_it_has_one(clean_env: pytest.MonkeyPatch) -> None:
    clean_env.setenv("KAFKA_BOOTSTRAP_SERVERS", "localhost:9092")
    clean_env.setenv("KAFKA_SECURITY_PROTOCOL", "SASL_PLAINTEXT")
    clean_env.setenv("KAFKA_SASL_USERNAME", "admin")
    clean_env.setenv("KAFKA_SASL_PASSWORD", "admin-secret")
    clean_env.setenv("X_DATABASE_URL", "postgresql://localhost/x")
    kafka = load_settings(KafkaSettings)
    assert kafka.for_service(load_settings(XSettings)).connection.username == "admin"

    clean_env.setenv("X_KAFKA_SASL_USERNAME", "x")
    clean_env.setenv("X_KAFKA_SASL_PASSWORD", "x-secret")
    options = kafka.for_service(load_settings(XSettings)).connection.client_options()

    assert options == {"bootstrap_servers": "localhost:9092", "security_protocol": "SASL_PLAINTEXT",
                       "sasl_mechanism": "SCRAM-SHA-512", "sasl_plain_username": "x", "sasl_plain_password": "x-secret"}
    assert "x-secret" not in repr(kafka.for_service(load_settings(XSettings)))


def test_plaintext_passes_no_sasl_options(clean_env: pytest.MonkeyPatch) -> None:
    clean_env.setenv("KAFKA_BOOTSTRAP_SERVERS", "localhost:9092")

    connection = load_settings(KafkaSettings).connection

    assert connection.client_options() == {"bootstrap_servers": "localhost:9092", "security_protocol": "PLAINTEXT"}
    assert connection.faststream_security() is None
