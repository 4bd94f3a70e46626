"""structlog configuration: JSON outside a terminal, correlation ids from context, personal data masked.

Services call :func:`configure_logging` once at start-up and then log with ``structlog.get_logger()``.
Message handlers bind ``correlation_id`` / ``causation_id`` with :func:`bind_message_context` so every line a
handler writes can be tied back to the command that caused it.
"""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import Iterator, Mapping, MutableMapping
from contextlib import contextmanager
from typing import Any

import structlog

# Keys whose values are personal data. Masked wherever they appear in an event dict, at any depth.
PERSONAL_KEYS = frozenset({"phone", "phone_number", "mobile", "name", "customer_name", "full_name", "contact_name"})
# Phone-like digit runs inside free text (log messages, error strings): 7+ digits with optional separators,
# standing alone (not part of a timestamp, uuid or other token).
# ASCII classes on purpose: Chinese characters are word characters for \w, and "电话13812345678" must match.
_PHONE_IN_TEXT = re.compile(r"(?<![A-Za-z0-9_.+-])\+?[0-9][0-9 -]{5,}[0-9](?![A-Za-z0-9_:-]|\.[0-9])")
_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
# Values that are never personal data and must stay readable.
_NEVER_MASKED = frozenset({"timestamp", "event_id", "lead_id", "customer_id", "correlation_id", "causation_id"})


def mask_phone(value: str) -> str:
    """Keep the last 4 digits so support can still tell numbers apart: ``+8613812345678`` → ``***5678``."""
    digits = re.sub(r"\D", "", value)
    return "***" + digits[-4:] if len(digits) >= 4 else "***"


def mask_name(value: str) -> str:
    """Keep the first character (the family name in Chinese, an initial elsewhere): ``张三丰`` → ``张**``."""
    return value[:1] + "*" * max(len(value) - 1, 1) if value else value


def _mask_value(key: str, value: Any) -> Any:
    if isinstance(value, Mapping):
        return {k: _mask_value(str(k), v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_mask_value(key, v) for v in value]
    if key in PERSONAL_KEYS and isinstance(value, int | float):
        value = str(value)  # a phone logged as a number is still a phone
    if not isinstance(value, str):
        return value
    if key in PERSONAL_KEYS:
        return mask_phone(value) if "phone" in key or key == "mobile" else mask_name(value)
    if key in _NEVER_MASKED:
        return value
    return _PHONE_IN_TEXT.sub(_mask_match, value)


def _mask_match(match: re.Match[str]) -> str:
    text = match.group(0)
    if _ISO_DATE.fullmatch(text) or sum(c.isdigit() for c in text) < 7:
        return text
    return mask_phone(text)


def mask_personal_data(_: Any, __: str, event_dict: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    """structlog processor: mask phone numbers and names in every value of the event dict."""
    for key, value in list(event_dict.items()):
        event_dict[key] = _mask_value(key, value)
    return event_dict


def configure_logging(service: str, level: str = "INFO", json: bool | None = None) -> None:
    """Configure structlog (and route stdlib logging of libraries through the same renderer).

    ``json=None`` means: JSON when stderr is not a terminal (containers, CI), pretty console output otherwise.
    """
    use_json = (not sys.stderr.isatty()) if json is None else json
    shared_processors: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        mask_personal_data,
    ]
    renderer: Any = structlog.processors.JSONRenderer() if use_json else structlog.dev.ConsoleRenderer()
    structlog.configure(
        processors=[*shared_processors, structlog.processors.format_exc_info, renderer],
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelName(level.upper())),
        logger_factory=structlog.PrintLoggerFactory(file=sys.stderr),
        cache_logger_on_first_use=True,
    )
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(foreign_pre_chain=shared_processors, processor=renderer)
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.WARNING)
    structlog.contextvars.bind_contextvars(service=service)


@contextmanager
def bind_message_context(correlation_id: str | None, causation_id: str | None, **extra: Any) -> Iterator[None]:
    """Bind correlation/causation ids (and anything else) to every log line inside the block."""
    values = {"correlation_id": correlation_id, "causation_id": causation_id, **extra}
    with structlog.contextvars.bound_contextvars(**{k: v for k, v in values.items() if v is not None}):
        yield
