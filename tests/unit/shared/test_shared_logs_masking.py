"""Personal data (phone, name) never reaches the logs in clear; ids and times stay readable (DESIGN §7)."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from typing import Any
from uuid import UUID

import pytest
import structlog
from hypothesis import given
from hypothesis import strategies as st

from shared.logs import bind_message_context, configure_logging, mask_name, mask_personal_data, mask_phone


def mask(**event: Any) -> dict[str, Any]:
    return dict(mask_personal_data(None, "info", event))


@pytest.mark.parametrize("key", ["phone", "phone_number", "mobile"])
def test_a_phone_under_a_phone_key_keeps_only_its_last_four_digits(key: str) -> None:
    assert mask(**{key: "+8613812345678"}) == {key: "***5678"}


@pytest.mark.parametrize("key", ["name", "customer_name", "full_name", "contact_name"])
def test_a_name_under_a_name_key_keeps_only_its_first_character(key: str) -> None:
    assert mask(**{key: "张三丰"}) == {key: "张**"}


def test_a_one_character_name_is_still_masked() -> None:
    assert mask(name="X") == {"name": "X*"}


def test_a_short_phone_is_masked_entirely() -> None:
    assert mask_phone("123") == "***"
    assert mask_name("") == ""


def test_personal_data_in_nested_dicts_and_lists_is_masked() -> None:
    masked = mask(
        customer={"name": "Alice Smith", "contacts": [{"mobile": "13812345678"}, {"phone": "+44 20 7946 0958"}]},
        phones=["call 13912345678"],
        phone=["13812345678", "13912340000"],
    )

    assert masked == {
        "customer": {"name": "A**********", "contacts": [{"mobile": "***5678"}, {"phone": "***0958"}]},
        "phones": ["call ***5678"],
        "phone": ["***5678", "***0000"],
    }


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("calling 138 1234 5678 now", "calling ***5678 now"),
        ("calling +86-138-1234-5678", "calling ***5678"),
        ("lead from 13812345678.", "lead from ***5678."),
        ("phone=13812345678", "phone=***5678"),
        ("(13812345678)", "(***5678)"),
        ("13812345678,13912340000", "***5678,***0000"),
        ("on 2024-05-01 call +44 20 7946 0958", "on 2024-05-01 call ***0958"),
    ],
)
def test_a_phone_number_inside_free_text_is_masked(text: str, expected: str) -> None:
    assert mask(event=text) == {"event": expected}


def test_a_phone_number_inside_chinese_text_is_masked() -> None:
    assert mask(event="客户电话13812345678已登记") == {"event": "客户电话***5678已登记"}


def test_a_phone_logged_as_an_integer_is_masked() -> None:
    assert mask(phone=13812345678) == {"phone": "***5678"}


@pytest.mark.parametrize(
    "text",
    [
        "2024-05-01T10:20:30.123456+00:00",
        "2024-05-01T10:20:30Z",
        "2024-05-01 10:20:30",
        "2024-05-01",
        "due 2024-05-01 and then",
        "10:20:30.123456",
        "3f2b8c1e-9a4d-4b7e-8c2f-1a2b3c4d5e6f",
        "lead-3f2b8c1e-9a4d-4b7e-8c2f-1a2b3c4d5e6f",
        "v1.2.3456789",
        "pos 12345.678",
        "order 123456",  # six digits: too short to be a phone
        "sha 9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
    ],
)
def test_timestamps_uuids_dates_and_short_numbers_are_left_alone(text: str) -> None:
    assert mask(value=text) == {"value": text}


@pytest.mark.parametrize("key", ["timestamp", "event_id", "lead_id", "customer_id", "correlation_id", "causation_id"])
def test_id_and_time_keys_are_never_masked_even_when_all_digits(key: str) -> None:
    assert mask(**{key: "13812345678"}) == {key: "13812345678"}


def test_values_that_are_not_text_are_left_alone() -> None:
    assert mask(count=13812345678, ratio=0.5, ok=True, nothing=None) == {
        "count": 13812345678,
        "ratio": 0.5,
        "ok": True,
        "nothing": None,
    }


@given(st.uuids())
def test_a_uuid_with_at_least_one_hex_letter_is_never_masked(value: UUID) -> None:
    text = str(value)
    if not any(c in "abcdef" for c in text):
        text = "a" + text[1:]  # an all-digit uuid is indistinguishable from a phone number; see report
    assert mask(value=text, message=f"processing {text}") == {"value": text, "message": f"processing {text}"}


@given(st.datetimes(timezones=st.sampled_from([None, UTC, timezone(timedelta(hours=8))])))
def test_an_iso_timestamp_is_never_masked(value: datetime) -> None:
    text = value.isoformat()
    assert mask(value=text, message=f"at {text} done") == {"value": text, "message": f"at {text} done"}


@given(st.from_regex(r"1[3-9][0-9]{9}", fullmatch=True), st.sampled_from(["", " ", "-"]))
def test_no_mobile_number_survives_in_free_text(digits: str, separator: str) -> None:
    spaced = separator.join([digits[:3], digits[3:7], digits[7:]])

    masked = mask(event=f"new lead {spaced} captured")["event"]

    assert masked == f"new lead ***{digits[-4:]} captured"


@pytest.fixture
def json_logging(capsys: pytest.CaptureFixture[str]) -> Iterator[pytest.CaptureFixture[str]]:
    """Yields capsys; the test calls start_json_logging() in its body, where sys.stderr is capsys's stream
    (configure_logging binds sys.stderr when called). Global logging state is restored afterwards."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    try:
        yield capsys
    finally:
        structlog.reset_defaults()
        structlog.contextvars.clear_contextvars()
        root.handlers[:] = handlers
        root.setLevel(level)


def start_json_logging() -> None:
    configure_logging("leads-test", json=True)


def _lines(err: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in err.splitlines() if line.strip()]


def test_a_json_log_line_masks_the_phone_and_carries_the_bound_correlation_id(
    json_logging: pytest.CaptureFixture[str],
) -> None:
    start_json_logging()
    with bind_message_context("corr-1", "cause-1", lead_id="L-1"):
        structlog.get_logger().info("lead captured", phone="+8613812345678", name="张三")

    err = json_logging.readouterr().err
    assert "13812345678" not in err
    assert "张三" not in json.dumps(_lines(err), ensure_ascii=False)
    (line,) = _lines(err)
    assert line["event"] == "lead captured"
    assert line["phone"] == "***5678"
    assert line["name"] == "张*"
    assert line["correlation_id"] == "corr-1"
    assert line["causation_id"] == "cause-1"
    assert line["lead_id"] == "L-1"
    assert line["service"] == "leads-test"
    assert line["level"] == "info"


def test_the_message_context_ends_with_its_block(json_logging: pytest.CaptureFixture[str]) -> None:
    start_json_logging()
    log = structlog.get_logger()
    with bind_message_context("corr-1", None):
        log.info("inside")
    log.info("outside")

    inside, outside = _lines(json_logging.readouterr().err)
    assert inside["correlation_id"] == "corr-1"
    assert "causation_id" not in inside  # None is not bound
    assert "correlation_id" not in outside


def test_stdlib_log_records_from_libraries_are_rendered_as_masked_json(
    json_logging: pytest.CaptureFixture[str],
) -> None:
    start_json_logging()
    logging.getLogger("some.library").warning("retrying call to 138 1234 5678")

    (line,) = _lines(json_logging.readouterr().err)
    assert line["event"] == "retrying call to ***5678"
    assert line["level"] == "warning"
