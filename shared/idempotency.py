"""Idempotency keys for commands that create an aggregate (``Idempotency-Key`` over HTTP): a client that did not
get an answer sends the same request again with the same key, and gets what the first attempt created — nothing
is created twice.

The key *names* the new aggregate: its id is derived from (operation, caller, key), so a repeat finds the
aggregate's stream itself (no lookup table to keep in step), and a first attempt racing its own retry meets the
stream's expected version 0 — the loser's retry then finds the winner's aggregate. The request's fingerprint is
stored in the metadata of the events the first attempt records; a repeat whose request differs is refused
(``idempotency_key_reused``, 409) and changes nothing.

Commands with a natural key of their own (a capture's ``source_system`` + ``external_id``, a checkout's
``shop_order_id``, a referral's ``referral_id``, a payment's reference) keep it; this is for the creates that had
none (a quote, a complaint).
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

from shared.commands import CommandContext
from shared.domain import DomainError

# Fixed: ids derived from keys must stay the same across releases (a retry may cross a deployment).
_NAMESPACE = uuid.UUID("5f0c2d4e-8a41-4c59-9d0e-3b7a6c1f2e90")
KEY_METADATA = "idempotency_key"
FINGERPRINT_METADATA = "request_fingerprint"


class IdempotencyKeyReusedError(DomainError):
    """The key was used before for a different request (a client bug: keys must not be reused)."""

    code = "idempotency_key_reused"
    http_status = 409


@dataclass(frozen=True, slots=True)
class IdempotentRequest:
    """One create command's key: ``aggregate_id`` is the id the command gives what it creates."""

    key: str
    aggregate_id: str
    fingerprint: str

    @classmethod
    def of(cls, key: str, *, operation: str, caller: str | None, request: Mapping[str, Any]) -> IdempotentRequest:
        """``operation`` and ``caller`` scope the key (two clients, or two kinds of create, may use the same
        key); ``request`` is what the client sent (as JSON data), whose fingerprint a repeat must match."""
        aggregate_id = str(uuid.uuid5(_NAMESPACE, f"{operation}\n{caller or ''}\n{key}"))
        # The standard library, not orjson: a request may hold an integer beyond 64 bits (refused later, field
        # named), which orjson cannot encode — found by schemathesis as a 500.
        canonical = json.dumps(dict(request), sort_keys=True, separators=(",", ":"), default=str)
        return cls(key, aggregate_id, hashlib.sha256(canonical.encode()).hexdigest())

    def context(self, context: CommandContext) -> CommandContext:
        """The command's context with the key and the fingerprint in its metadata (stored with every event)."""
        return replace(context, extra={**context.extra, KEY_METADATA: self.key, FINGERPRINT_METADATA: self.fingerprint})

    def check_repeat(self, created_with: Mapping[str, Any]) -> None:
        """``created_with``: the metadata of the first event of the aggregate found under this key's id."""
        if created_with.get(FINGERPRINT_METADATA) != self.fingerprint:
            raise IdempotencyKeyReusedError(
                f"Idempotency-Key {self.key!r} was used for a different request; send a new key for a new request",
                idempotency_key=self.key)
