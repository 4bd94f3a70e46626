"""Leads domain objects for unit tests."""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from services.leads.domain.lead import Lead, capture_fields


def captured_lead(*, name: str, phone: str, channel: str, interest: str | None, known_channels: Collection[str],
                  **rest: Any) -> Lead:
    """``Lead.capture`` from raw fields, validated and normalised the way the capture handler does it."""
    fields = capture_fields(name=name, phone=phone, channel=channel, interest=interest,
                            known_channels=known_channels)
    return Lead.capture(fields=fields, **rest)
