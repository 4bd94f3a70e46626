"""Idempotency keys of create commands (shared/idempotency.py): the key names the aggregate, scoped to the operation
and the caller; the request's fingerprint decides whether a repeat is the same request."""

from __future__ import annotations

import pytest

from shared.commands import CommandContext
from shared.idempotency import FINGERPRINT_METADATA, KEY_METADATA, IdempotencyKeyReusedError, IdempotentRequest

REQUEST = {"customer_id": "C-1", "lines": [{"product": "X", "unit_price_minor": 100}]}


def keyed(key: str = "k-1", *, operation: str = "orders.issue_quote", caller: str | None = "u-1",
          request: dict[str, object] | None = None) -> IdempotentRequest:
    return IdempotentRequest.of(key, operation=operation, caller=caller, request=request or REQUEST)


def test_the_same_key_and_request_name_the_same_aggregate_whatever_the_key_order_of_the_json() -> None:
    reordered = {"lines": [{"unit_price_minor": 100, "product": "X"}], "customer_id": "C-1"}
    assert keyed() == keyed(request=reordered)


def test_a_key_is_scoped_to_its_operation_and_its_caller() -> None:
    ids = {keyed().aggregate_id, keyed(operation="aftersales.open_complaint").aggregate_id,
           keyed(caller="u-2").aggregate_id, keyed("k-2").aggregate_id}
    assert len(ids) == 4


def test_a_repeat_of_the_same_request_passes_and_a_different_one_is_refused() -> None:
    first = keyed()
    stored = first.context(CommandContext(correlation_id="c")).metadata()
    assert (stored[KEY_METADATA], stored[FINGERPRINT_METADATA]) == ("k-1", first.fingerprint)
    keyed().check_repeat(stored)
    with pytest.raises(IdempotencyKeyReusedError) as refused:
        keyed(request={**REQUEST, "customer_id": "C-2"}).check_repeat(stored)
    assert (refused.value.code, refused.value.http_status) == ("idempotency_key_reused", 409)
    # An aggregate created without a key (no fingerprint stored) is no repeat of anything.
    with pytest.raises(IdempotencyKeyReusedError):
        keyed().check_repeat({"correlation_id": "c"})


def test_a_request_with_an_integer_beyond_64_bits_has_a_fingerprint() -> None:
    # The body is refused later (422, field named); taking its fingerprint first must not fail (schemathesis: 500).
    huge = {"lines": [{"quantity": 2**70}]}
    assert keyed(request=huge).fingerprint != keyed().fingerprint
