"""How a process reaches the Kafka brokers and who it is there: one value every Kafka client is built from.

The broker authenticates with SASL/SCRAM and authorises with ACLs (DESIGN §8, deploy/README.md): a client
without the right principal cannot publish to a service's topic. Settings come from the environment contract
(``KAFKA_BOOTSTRAP_SERVERS``, ``KAFKA_SECURITY_PROTOCOL``, ``KAFKA_SASL_*``; see ``shared.settings.KafkaSettings``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    from faststream.security import BaseSecurity

SecurityProtocol = Literal["PLAINTEXT", "SASL_PLAINTEXT"]
SaslMechanism = Literal["SCRAM-SHA-512", "SCRAM-SHA-256", "PLAIN"]


@dataclass(frozen=True, slots=True)
class KafkaConnection:
    """Bootstrap servers plus the SASL principal; ``PLAINTEXT`` means no authentication at all."""

    bootstrap_servers: str
    security_protocol: SecurityProtocol = "PLAINTEXT"
    sasl_mechanism: SaslMechanism = "SCRAM-SHA-512"
    username: str | None = None
    password: str | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        if self.security_protocol != "PLAINTEXT" and not (self.username and self.password):
            raise ValueError(f"KAFKA_SASL_USERNAME and KAFKA_SASL_PASSWORD: required with security protocol "
                             f"{self.security_protocol}")

    def client_options(self) -> dict[str, Any]:
        """Keyword arguments for aiokafka's producer, consumer and admin client."""
        options: dict[str, Any] = {"bootstrap_servers": self.bootstrap_servers,
                                   "security_protocol": self.security_protocol}
        if self.security_protocol != "PLAINTEXT":
            options.update(sasl_mechanism=self.sasl_mechanism, sasl_plain_username=self.username,
                           sasl_plain_password=self.password)
        return options

    def faststream_security(self) -> BaseSecurity | None:
        """The same principal for a FastStream ``KafkaBroker(security=...)``."""
        from faststream.security import SASLPlaintext, SASLScram256, SASLScram512

        if self.security_protocol == "PLAINTEXT":
            return None
        if self.username is None or self.password is None:  # refused in __post_init__ already
            raise ValueError("SASL without username and password")
        kinds = {"SCRAM-SHA-512": SASLScram512, "SCRAM-SHA-256": SASLScram256, "PLAIN": SASLPlaintext}
        return kinds[self.sasl_mechanism](username=self.username, password=self.password, use_ssl=False)

    def as_principal(self, username: str, password: str) -> KafkaConnection:
        """The same brokers, signed in as someone else (e.g. a service's own principal)."""
        return KafkaConnection(self.bootstrap_servers, self.security_protocol, self.sasl_mechanism,
                               username, password)
