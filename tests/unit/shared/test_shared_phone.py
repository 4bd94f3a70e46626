"""The kernel's phone normaliser (shared/domain/phone.py, used by leads and orders): the common formats and the
field a refusal names. The exhaustive cases and properties are in test_shared_phone_normalisation.py."""

from __future__ import annotations

import pytest

from shared.domain import InvalidFieldError
from shared.domain.phone import InvalidPhoneError, normalise_phone


def outcome(normalise: object, raw: str) -> str:
    try:
        return normalise(raw)  # type: ignore[operator,no-any-return]
    except InvalidFieldError as exc:
        return f"refused: {exc.reason}"


@pytest.mark.parametrize(("raw", "e164"), [
    ("138 1234 5678", "+8613812345678"), ("+86-138-1234-5678", "+8613812345678"),
    ("0086 13812345678", "+8613812345678"), ("(010) 8888-6666", "+861088886666"),
    ("１３８１２３４５６７８", "+8613812345678"), ("+44 20 7946 0958", "+442079460958"),
])
def test_common_formats_become_e164(raw: str, e164: str) -> None:
    assert normalise_phone(raw) == e164


def test_a_refusal_names_the_phone_field() -> None:
    with pytest.raises(InvalidPhoneError) as caught:
        normalise_phone("12345")
    assert caught.value.field == "phone"
