"""Environment-driven settings shared by every service.

Each service subclasses :class:`ServiceSettings` with its own ``env_prefix`` (``LEADS_``, ``REPORTING_`` …) for
its database URL and port, while Kafka settings are read without a prefix so one ``KAFKA_BOOTSTRAP_SERVERS``
serves every process. Missing required values fail at start-up with the variable's name, not at first use.
"""

from __future__ import annotations

from typing import TypeVar

from pydantic import Field, SecretStr, ValidationError, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from shared.messaging.connection import KafkaConnection, SaslMechanism, SecurityProtocol


class KafkaSettings(BaseSettings):
    """Where the broker is, who this process is there, and how salesflow's topics are named.

    The unprefixed ``KAFKA_SASL_USERNAME``/``KAFKA_SASL_PASSWORD`` are a default principal (``stack.sh env`` sets
    the admin's, for tests and tools); a service signs in as its own principal, ``<NAME>_KAFKA_SASL_USERNAME`` /
    ``<NAME>_KAFKA_SASL_PASSWORD`` (see :meth:`for_service`)."""

    model_config = SettingsConfigDict(env_prefix="", extra="ignore", frozen=True)

    kafka_bootstrap_servers: str = Field(description="host:port[,host:port] of the Kafka brokers")
    kafka_security_protocol: SecurityProtocol = Field(
        default="PLAINTEXT", description="SASL_PLAINTEXT where the broker wants SASL (the native stack does)")
    kafka_sasl_mechanism: SaslMechanism = "SCRAM-SHA-512"
    kafka_sasl_username: str | None = None
    kafka_sasl_password: SecretStr | None = None
    salesflow_topic_prefix: str = Field(
        default="salesflow",
        description="prefix of every topic name; tests use a unique one per run",
    )

    @model_validator(mode="after")
    def _credentials_with_sasl(self) -> KafkaSettings:
        if self.kafka_security_protocol != "PLAINTEXT" and not (self.kafka_sasl_username and self.kafka_sasl_password):
            raise ValueError(f"kafka_sasl_username and kafka_sasl_password are required with "
                             f"KAFKA_SECURITY_PROTOCOL={self.kafka_security_protocol}")
        return self

    @property
    def connection(self) -> KafkaConnection:
        """What every Kafka client of this process is built from."""
        password = self.kafka_sasl_password.get_secret_value() if self.kafka_sasl_password else None
        return KafkaConnection(self.kafka_bootstrap_servers, self.kafka_security_protocol,
                               self.kafka_sasl_mechanism, self.kafka_sasl_username, password)

    def for_service(self, service: ServiceSettings) -> KafkaSettings:
        """These settings signed in as the service's own principal when its prefixed credentials are set."""
        if service.kafka_sasl_username is None or service.kafka_sasl_password is None:
            return self
        return self.model_copy(update={"kafka_sasl_username": service.kafka_sasl_username,
                                       "kafka_sasl_password": service.kafka_sasl_password})

    def topic(self, service: str) -> str:
        """The public event topic a service publishes to, e.g. ``salesflow.leads``."""
        return f"{self.salesflow_topic_prefix}.{service}"


class ServiceSettings(BaseSettings):
    """Settings every service has. Subclasses set ``env_prefix`` and ``service_name``."""

    model_config = SettingsConfigDict(extra="ignore", frozen=True)

    service_name: str = ""
    database_url: str = Field(description="postgresql:// URL of the service's own database (its own role)")
    kafka_sasl_username: str | None = Field(
        default=None, description="the service's own Kafka principal; without it, KAFKA_SASL_USERNAME's")
    kafka_sasl_password: SecretStr | None = None
    http_host: str = "127.0.0.1"
    http_port: int = 8000
    workers: int = Field(
        default=1, ge=1, le=64,
        description="HTTP worker processes sharing the port; each runs the whole service (one relay leads, "
                    "timers and consumer partitions are shared), so more workers use more cores",
    )
    max_body_bytes: int = Field(
        default=1024 * 1024, ge=1024,
        description="largest request body accepted; a larger one answers 413 before it is read",
    )
    max_in_flight: int = Field(
        default=64, ge=1,
        description="commands (POST/PUT/PATCH/DELETE) a worker works on at once; the next answers 503 with "
                    "Retry-After at once, and /health/ready fails while the worker is full",
    )
    db_pool_min: int = 2
    db_pool_max: int = 20
    log_level: str = "INFO"
    log_json: bool | None = Field(default=None, description="force JSON logs on/off; default: JSON unless a TTY")


class SettingsError(RuntimeError):
    """A required setting is missing or invalid; the message names the environment variables."""


SettingsT = TypeVar("SettingsT", bound=BaseSettings)


def load_settings(cls: type[SettingsT]) -> SettingsT:
    """Instantiate a settings class from the environment, turning validation errors into one clear message."""
    try:
        return cls()
    except ValidationError as exc:
        prefix = cls.model_config.get("env_prefix", "") or ""
        problems = [
            f"{(prefix + '_'.join(str(p) for p in err['loc'])).upper()}: {err['msg']}" for err in exc.errors()
        ]
        raise SettingsError("invalid configuration: " + "; ".join(problems)) from None
