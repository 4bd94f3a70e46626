"""Message metadata in Kafka headers, CloudEvents binary-mode style (DESIGN §3.6).

The value is the event's JSON payload; everything else travels in headers so that routing and deduplication
never need to parse the body: ``ce_id``, ``ce_type``, ``ce_source``, ``ce_time``, ``ce_subject`` (stream id),
``ce_specversion``, the extensions ``ce_schemaversion``, ``ce_correlationid``, ``ce_causationid``,
``ce_recordedtime`` (when the event store recorded it), plus ``traceparent`` and ``content-type``.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from typing import NamedTuple
from uuid import UUID

import orjson

SPEC_VERSION = "1.0"
CONTENT_TYPE = "application/json"
_SPEC_VERSION_BYTES = SPEC_VERSION.encode()
_CONTENT_TYPE_BYTES = CONTENT_TYPE.encode()

Headers = list[tuple[str, bytes]]


def _timestamp(moment: datetime) -> bytes:
    """``moment.isoformat()`` as bytes. For UTC (what asyncpg returns for timestamptz) orjson writes exactly the same
    text three times faster (the relay encodes two timestamps per event); other zones take isoformat, which alone
    spells an offset with seconds exactly."""
    if moment.tzinfo is UTC:
        return orjson.dumps(moment)[1:-1]
    return moment.isoformat().encode()


class MalformedHeadersError(ValueError):
    """A message lacks a required CloudEvents header or has one that does not parse."""


class EventHeaders(NamedTuple):
    """The metadata of one published event. A NamedTuple rather than a frozen dataclass: every consumed message
    builds one, and a frozen dataclass's ``__init__`` costs four times as much (measured: 4.5 vs 1.3 µs)."""

    event_id: UUID
    event_type: str
    schema_version: int
    source: str
    subject: str
    time: datetime
    correlation_id: str | None = None
    causation_id: str | None = None
    recorded_time: datetime | None = None
    traceparent: str | None = None

    def encode(self) -> Headers:
        # Hot path of the relay (one call per published event): constants encoded once, optional headers
        # appended by plain tests rather than through a dict.
        headers: Headers = [
            ("ce_specversion", _SPEC_VERSION_BYTES),
            ("ce_id", str(self.event_id).encode()),
            ("ce_type", self.event_type.encode()),
            ("ce_schemaversion", str(self.schema_version).encode()),
            ("ce_source", self.source.encode()),
            ("ce_subject", self.subject.encode()),
            ("ce_time", _timestamp(self.time)),
            ("content-type", _CONTENT_TYPE_BYTES),
        ]
        if self.correlation_id is not None:
            headers.append(("ce_correlationid", self.correlation_id.encode()))
        if self.causation_id is not None:
            headers.append(("ce_causationid", self.causation_id.encode()))
        if self.recorded_time is not None:
            headers.append(("ce_recordedtime", _timestamp(self.recorded_time)))
        if self.traceparent is not None:
            headers.append(("traceparent", self.traceparent.encode()))
        return headers

    @classmethod
    def decode(cls, raw: Iterable[tuple[str, bytes]] | dict[str, bytes]) -> EventHeaders:
        # Hot path of every consumer (a rebuild decodes hundreds of thousands): a plain dict check, not the
        # Mapping ABC; each value is decoded (strict UTF-8) only where it is used, and positional arguments.
        values = raw if isinstance(raw, dict) else dict(raw)
        get = values.get
        try:
            recorded = get("ce_recordedtime")
            version = get("ce_schemaversion")
            subject = get("ce_subject")
            correlation = get("ce_correlationid")
            causation = get("ce_causationid")
            traceparent = get("traceparent")
            return cls(
                UUID(values["ce_id"].decode()),
                values["ce_type"].decode(),
                int(version) if version is not None else 1,  # int() parses ASCII digits from bytes itself
                values["ce_source"].decode(),
                subject.decode() if subject is not None else "",
                datetime.fromisoformat(values["ce_time"].decode()),
                correlation.decode() if correlation is not None else None,
                causation.decode() if causation is not None else None,
                datetime.fromisoformat(recorded.decode()) if recorded else None,
                traceparent.decode() if traceparent is not None else None,
            )
        except KeyError as exc:
            raise MalformedHeadersError(f"missing header {exc.args[0]}") from None
        except UnicodeDecodeError as exc:  # before ValueError, of which it is a subclass
            raise MalformedHeadersError(f"bad header value (not UTF-8): {exc}") from None
        except ValueError as exc:
            raise MalformedHeadersError(f"bad header value: {exc}") from None


def headers_as_text(raw: Iterable[tuple[str, bytes]]) -> dict[str, str]:
    """Headers as a JSON-friendly dict (for dead-letter records and logs)."""
    return {k: v.decode("utf-8", "replace") for k, v in raw}
