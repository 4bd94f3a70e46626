"""Signed webhook deliveries (DESIGN §9): HMAC-SHA256 over ``<timestamp>.<body>`` with the subscription's secret,
and the receiver's check of it with a replay window. Pure (the time is passed in).

Headers of every delivery::

    Salesflow-Webhook-Id: <delivery id>           (the same on every retry of this delivery: deduplicate on it)
    Salesflow-Webhook-Timestamp: <unix seconds>   (when this attempt was signed)
    Salesflow-Webhook-Signature: v1=<hex HMAC-SHA256(secret, "<timestamp>.<raw body>")>

A receiver recomputes the HMAC over the timestamp header, a dot and the raw body bytes, compares in constant time,
and refuses a timestamp further than its tolerance (default five minutes) from its clock: a captured delivery
replayed later fails. :func:`verify` is that check, for receivers written in Python and for the tests.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping

ID_HEADER = "Salesflow-Webhook-Id"
TIMESTAMP_HEADER = "Salesflow-Webhook-Timestamp"
SIGNATURE_HEADER = "Salesflow-Webhook-Signature"
SCHEME = "v1"
DEFAULT_TOLERANCE_SECONDS = 300


class SignatureError(ValueError):
    """A delivery whose signature does not verify (missing, malformed, wrong, or outside the replay window)."""


def signature(secret: str, timestamp: int, body: bytes) -> str:
    """``v1=<hex>``: HMAC-SHA256 with ``secret`` over ``<timestamp>.<body>``."""
    digest = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"{SCHEME}={digest}"


def signed_headers(*, secret: str, delivery_id: str, timestamp: int, body: bytes) -> dict[str, str]:
    """The headers of one delivery attempt."""
    return {ID_HEADER: delivery_id, TIMESTAMP_HEADER: str(timestamp),
            SIGNATURE_HEADER: signature(secret, timestamp, body), "Content-Type": "application/json"}


def verify(*, secret: str, headers: Mapping[str, str], body: bytes, now: float,
           tolerance_seconds: int = DEFAULT_TOLERANCE_SECONDS) -> None:
    """Raise SignatureError unless ``headers`` carry a valid signature of ``body`` made within
    ``tolerance_seconds`` of ``now`` (unix seconds). Header names are matched case-insensitively."""
    lower = {k.lower(): v for k, v in headers.items()}
    raw_timestamp = lower.get(TIMESTAMP_HEADER.lower())
    given = lower.get(SIGNATURE_HEADER.lower())
    if raw_timestamp is None or given is None:
        raise SignatureError("missing timestamp or signature header")
    try:
        timestamp = int(raw_timestamp)
    except ValueError:
        raise SignatureError("the timestamp is not an integer") from None
    if abs(now - timestamp) > tolerance_seconds:
        raise SignatureError(f"the timestamp is {abs(now - timestamp):.0f} s away: outside the replay window")
    if not hmac.compare_digest(signature(secret, timestamp, body), given):
        raise SignatureError("the signature does not match")
