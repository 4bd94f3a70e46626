"""A client's webhook subscription: which public event types go to which URL, signed with which secret. Pure."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from urllib.parse import urlsplit

from shared.domain import InvalidFieldError

MIN_SECRET_LENGTH = 16
MAX_EVENT_TYPES = 100


@dataclass(frozen=True, slots=True)
class Subscription:
    subscription_id: str
    client_id: str
    url: str
    event_types: tuple[str, ...]
    secret: str

    @classmethod
    def create(cls, *, subscription_id: str, client_id: str, url: str, event_types: Sequence[str], secret: str,
               known_types: Collection[str]) -> Subscription:
        """Validated (InvalidFieldError naming the field): an http(s) URL with a host, known public event types,
        a secret long enough to sign with."""
        parts = urlsplit(url.strip())
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise InvalidFieldError("url", "an http or https URL with a host")
        types = tuple(dict.fromkeys(t.strip() for t in event_types))
        if not types or len(types) > MAX_EVENT_TYPES:
            raise InvalidFieldError("event_types", f"between 1 and {MAX_EVENT_TYPES} event types")
        unknown = sorted(set(types) - set(known_types))
        if unknown:
            raise InvalidFieldError("event_types", f"unknown public event types: {', '.join(unknown)}")
        if len(secret) < MIN_SECRET_LENGTH:
            raise InvalidFieldError("secret", f"at least {MIN_SECRET_LENGTH} characters")
        return cls(subscription_id, client_id, url.strip(), types, secret)
