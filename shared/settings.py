"""Environment-driven settings shared by every service.

Each service subclasses :class:`ServiceSettings` with its own ``env_prefix`` (``LEADS_``, ``REPORTING_`` …) for
its database URL and port, while Kafka settings are read without a prefix so one ``KAFKA_BOOTSTRAP_SERVERS``
serves every process. Missing required values fail at start-up with the variable's name, not at first use.
"""

from __future__ import annotations

from typing import TypeVar

from pydantic import Field, ValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict


class KafkaSettings(BaseSettings):
    """Where the broker is and how salesflow's topics are named."""

    model_config = SettingsConfigDict(env_prefix="", extra="ignore", frozen=True)

    kafka_bootstrap_servers: str = Field(description="host:port[,host:port] of the Kafka brokers")
    salesflow_topic_prefix: str = Field(
        default="salesflow",
        description="prefix of every topic name; tests use a unique one per run",
    )

    def topic(self, service: str) -> str:
        """The public event topic a service publishes to, e.g. ``salesflow.leads``."""
        return f"{self.salesflow_topic_prefix}.{service}"


class ServiceSettings(BaseSettings):
    """Settings every service has. Subclasses set ``env_prefix`` and ``service_name``."""

    model_config = SettingsConfigDict(extra="ignore", frozen=True)

    service_name: str = ""
    database_url: str = Field(description="postgresql:// URL of the service's own database")
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
