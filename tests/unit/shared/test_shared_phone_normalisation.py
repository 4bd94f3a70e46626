"""normalise_phone turns every shape a phone number arrives in into one E.164 dedupe key (DESIGN §2)."""

from __future__ import annotations

import re

import pytest
from hypothesis import assume, example, given
from hypothesis import strategies as st

from shared.domain import InvalidFieldError
from shared.domain.phone import InvalidPhoneError, normalise_phone

E164 = re.compile(r"^\+[0-9]{8,15}$")


@pytest.mark.parametrize(
    "raw",
    [
        "13812345678",
        "138 1234 5678",
        "138-1234-5678",
        "138 - 1234 - 5678",
        "(138) 1234 5678",
        "138.1234.5678",
        "138/1234/5678",
        "  13812345678  ",
        "138\t1234\n5678",
        "+8613812345678",
        "+86 138 1234 5678",
        "+86-138-1234-5678",
        "+86 (138) 1234-5678",
        "(+86) 138 1234 5678",
        "008613812345678",
        "0086 138 1234 5678",
        "0086-13812345678",
        "00 86 138 1234 5678",
        "8613812345678",
        "86 138 1234 5678",
        "86-138-1234-5678",
    ],
)
def test_a_chinese_mobile_number_in_any_format_normalises_to_e164(raw: str) -> None:
    assert normalise_phone(raw) == "+8613812345678"


@pytest.mark.parametrize("prefix", ["13", "14", "15", "16", "17", "18", "19"])
def test_every_chinese_mobile_prefix_from_13_to_19_is_accepted(prefix: str) -> None:
    assert normalise_phone(f"{prefix}912345678") == f"+86{prefix}912345678"


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("010-88886666", "+861088886666"),
        ("(010) 8888-6666", "+861088886666"),
        ("010 8888 6666", "+861088886666"),
        ("01088886666", "+861088886666"),
        ("021-68888888", "+862168888888"),
        ("021 6888 8888", "+862168888888"),
        ("(021)68888888", "+862168888888"),
        ("0755-2345678", "+867552345678"),
        ("0755-23456789", "+8675523456789"),
        ("(0755) 2345 6789", "+8675523456789"),
        ("0571-8888888", "+865718888888"),
        ("+86 10 88886666", "+861088886666"),
        ("+86 21 6888 8888", "+862168888888"),
        ("+86 755 2345678", "+867552345678"),
        ("0086 755 23456789", "+8675523456789"),
        ("0086-010-88886666", "+861088886666"),
    ],
)
def test_a_chinese_landline_with_area_code_normalises_to_e164_without_the_trunk_zero(raw: str, expected: str) -> None:
    assert normalise_phone(raw) == expected


@pytest.mark.parametrize("raw", ["+86 010 88886666", "+86 (0)10 8888 6666", "+86 0755 2345678", "+8601088886666"])
def test_a_stray_trunk_zero_after_the_country_code_is_tolerated(raw: str) -> None:
    assert normalise_phone(raw) in {"+861088886666", "+867552345678"}


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("+44 20 7946 0958", "+442079460958"),
        ("+44-20-7946-0958", "+442079460958"),
        ("0044 20 7946 0958", "+442079460958"),
        ("+1 (415) 555-2671", "+14155552671"),
        ("+49 30 123456", "+4930123456"),
        ("+852 2123 4567", "+85221234567"),
    ],
)
def test_a_foreign_number_in_international_form_keeps_its_country_code(raw: str, expected: str) -> None:
    assert normalise_phone(raw) == expected


@pytest.mark.parametrize(
    ("raw", "reason_fragment"),
    [
        ("", "empty"),
        ("   ", "empty"),
        ("-() .", "empty"),
        ("abc", "only digits"),
        ("138abcd5678", "only digits"),
        ("138 1234 567x", "only digits"),
        ("+86 138 1234 567x", "only digits"),
        ("86+13812345678", "only digits"),
        ("+", "only digits"),
        ("138—1234—5678", "only digits"),  # em dash is not a separator we accept
        ("1381234567", "11 digits, got 10"),
        ("138123456789", "11 digits, got 12"),
        ("+86 138 1234 567", "11 digits, got 10"),
        ("12345678901", "neither"),  # 11 digits but 12 is not a mobile prefix
        ("+86 12345678901", "neither"),
        ("88886666", "neither"),  # landline without trunk 0 and area code
        ("2345678", "neither"),
        ("7552345678", "neither"),  # area code without the trunk 0, written domestically
        ("0755-234567", "neither"),  # subscriber number too short
        ("0755-234567890", "neither"),  # subscriber number too long
        ("010-8888666", "neither"),  # two-digit area codes have 8-digit subscriber numbers
        ("0", "neither"),
        ("0086", "neither"),
        ("+12", "international"),
        ("+1234567", "international"),  # 7 digits: too short
        ("+1234567890123456", "international"),  # 16 digits: too long
        ("+0123456789", "international"),  # a country code never starts with 0
    ],
)
def test_an_invalid_phone_raises_invalid_phone_error_naming_the_field_and_reason(
    raw: str, reason_fragment: str
) -> None:
    with pytest.raises(InvalidPhoneError) as caught:
        normalise_phone(raw)
    error = caught.value
    assert isinstance(error, InvalidFieldError)
    assert error.field == "phone"
    assert reason_fragment in error.reason
    assert error.details == {"fields": [{"field": "phone", "reason": error.reason}]}


@pytest.mark.parametrize("raw", ["138１２３４５６７８", "+44 20 7946 095８", "+86 138 1234 567٨"])
def test_a_number_with_non_ascii_digits_is_rejected_or_made_ascii(raw: str) -> None:
    # A Chinese input method in full-width mode types "１３８…"; whatever happens, the dedupe key must be ASCII.
    try:
        result = normalise_phone(raw)
    except InvalidPhoneError:
        return
    assert E164.match(result), result


def test_full_width_digits_typed_on_a_chinese_keyboard_give_the_same_key() -> None:
    assert normalise_phone("１３８ １２３４ ５６７８") == normalise_phone("13812345678") == "+8613812345678"
    assert normalise_phone("＋８６ 138 1234 5678") == "+8613812345678"


def test_digits_of_other_scripts_are_refused() -> None:
    with pytest.raises(InvalidPhoneError):
        normalise_phone("+86 138 1234 567٨")


_mobile_digits = st.builds(
    lambda second, rest: f"1{second}{rest}",
    st.sampled_from("3456789"),
    st.text(alphabet="0123456789", min_size=9, max_size=9),
)
_separator = st.sampled_from(["", " ", "-", "  ", " - "])
_prefix = st.sampled_from(["", "+86", "0086", "+86 ", "0086 ", "+86-", "86", "86 ", "(+86) "])


@st.composite
def _formatted_mobile(draw: st.DrawFn) -> tuple[str, str]:
    digits = draw(_mobile_digits)
    # Split the number at up to three random points and join the parts with random separators.
    cuts = sorted(draw(st.lists(st.integers(1, 10), max_size=3, unique=True)))
    parts = [digits[a:b] for a, b in zip([0, *cuts], [*cuts, 11], strict=True)]
    body = parts[0] + "".join(draw(_separator) + part for part in parts[1:])
    return digits, draw(_prefix) + body


@given(_formatted_mobile())
@example(("13812345678", "+86 138-1234 5678"))
def test_any_formatting_of_a_valid_chinese_mobile_normalises_to_plus_86_and_its_digits(
    case: tuple[str, str],
) -> None:
    digits, raw = case
    assert normalise_phone(raw) == "+86" + digits


_phoneish = st.text(alphabet="0123456789+-() .", max_size=22)


@given(st.one_of(_phoneish, _formatted_mobile().map(lambda case: case[1]), st.text(max_size=22)))
@example("(010) 8888-6666")
@example("+86 755 2345678")
@example("+44 20 7946 0958")
def test_normalising_a_normalised_number_changes_nothing(raw: str) -> None:
    try:
        once = normalise_phone(raw)
    except InvalidPhoneError:
        assume(False)
        return
    assert normalise_phone(once) == once


@given(st.one_of(_phoneish, _formatted_mobile().map(lambda case: case[1])))
@example("+123456789012345")
@example("0755-23456789")
def test_every_normalised_number_is_a_plus_and_8_to_15_ascii_digits(raw: str) -> None:
    try:
        result = normalise_phone(raw)
    except InvalidPhoneError:
        assume(False)
        return
    assert E164.match(result), result


@given(st.text(max_size=30))
def test_normalise_either_returns_e164_or_raises_invalid_phone_error_never_anything_else(raw: str) -> None:
    error: InvalidPhoneError | None = None
    try:
        result = normalise_phone(raw)
    except InvalidPhoneError as caught:
        error = caught
    if error is not None:
        assert (error.field, bool(error.reason)) == ("phone", True)
    else:
        assert result.startswith("+")
        assert result[1:].isdigit()
        assert len(result) >= 9
