"""Webhook signatures: HMAC-SHA256 over "<timestamp>.<body>", verified in constant time within a replay window;
a tampered body, another secret, a missing header or a replayed (old) delivery fails."""

from __future__ import annotations

import hashlib
import hmac

import pytest

from services.webhooks.domain.signing import (
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    SignatureError,
    signature,
    signed_headers,
    verify,
)
from services.webhooks.domain.subscriptions import Subscription
from shared.domain import InvalidFieldError

SECRET = "s3cret-s3cret-s3cret"
BODY = b'{"type":"salesflow.orders.ContractSigned"}'
T = 1_780_000_000


def test_the_signature_is_hmac_sha256_of_timestamp_dot_body_as_documented() -> None:
    expected = hmac.new(SECRET.encode(), f"{T}.".encode() + BODY, hashlib.sha256).hexdigest()
    assert signature(SECRET, T, BODY) == f"v1={expected}"


def test_a_genuine_delivery_verifies_with_header_names_in_any_case() -> None:
    headers = {k.lower(): v for k, v in signed_headers(secret=SECRET, delivery_id="d-1", timestamp=T,
                                                       body=BODY).items()}
    verify(secret=SECRET, headers=headers, body=BODY, now=T + 10)


@pytest.mark.parametrize(("secret", "body", "now", "reason"), [
    ("another-secret-123", BODY, T, "does not match"),
    (SECRET, BODY + b" ", T, "does not match"),
    (SECRET, BODY, T + 301, "replay window"),
    (SECRET, BODY, T - 301, "replay window"),
])
def test_a_forged_tampered_or_replayed_delivery_fails(secret: str, body: bytes, now: int, reason: str) -> None:
    headers = signed_headers(secret=SECRET, delivery_id="d-1", timestamp=T, body=BODY)
    with pytest.raises(SignatureError, match=reason):
        verify(secret=secret, headers=headers, body=body, now=now)


def test_missing_or_malformed_headers_fail() -> None:
    with pytest.raises(SignatureError, match="missing"):
        verify(secret=SECRET, headers={TIMESTAMP_HEADER: str(T)}, body=BODY, now=T)
    with pytest.raises(SignatureError, match="not an integer"):
        verify(secret=SECRET, headers={TIMESTAMP_HEADER: "soon", SIGNATURE_HEADER: "v1=00"}, body=BODY, now=T)


@pytest.mark.parametrize(("changes", "field"), [
    ({"url": "ftp://x"}, "url"),
    ({"url": "http://"}, "url"),
    ({"event_types": []}, "event_types"),
    ({"event_types": ["salesflow.orders.Nope"]}, "event_types"),
    ({"secret": "short"}, "secret"),
])
def test_a_subscription_needs_an_http_url_known_types_and_a_long_secret(changes: dict[str, object],
                                                                       field: str) -> None:
    fields: dict[str, object] = {"subscription_id": "S-1", "client_id": "shop", "url": "http://127.0.0.1:9/hook",
                                 "event_types": ["salesflow.orders.ContractSigned"], "secret": SECRET,
                                 "known_types": {"salesflow.orders.ContractSigned"}, **changes}
    with pytest.raises(InvalidFieldError) as refused:
        Subscription.create(**fields)  # type: ignore[arg-type]
    assert refused.value.field == field
