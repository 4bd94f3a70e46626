"""Keyset pagination for list endpoints: an opaque cursor that remembers the sort key of the last item shown.

Why keyset rather than offsets: the next page is ``WHERE (key) > (cursor's key) ORDER BY key LIMIT n``, so rows
inserted or removed before the cursor do not shift the page boundary — a page never repeats or skips an item that
was already there when the first page was read (an offset would). The sort key must end in a unique column so the
boundary is exact.

The cursor is base64url of ``{"l": list name, "k": [key values]}``: opaque to clients (they send it back as they
got it), bound to one list (a cursor of another list is refused), and checked on the way in — a cursor that does
not decode, names another list or carries the wrong values is :class:`~shared.domain.InvalidFieldError` on the
field ``cursor`` (422), never a 500 or a silently wrong page.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Generic, TypeVar

import orjson

from shared.domain import InvalidFieldError

T = TypeVar("T")
KeyValue = str | int | datetime
KeyTypes = tuple[type[str] | type[int] | type[datetime], ...]

DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 200

# The HTTP parameters are shared/runtime/params.py's PageLimit and PageCursor.


def encode_cursor(list_name: str, key: Sequence[KeyValue]) -> str:
    values = [v.isoformat() if isinstance(v, datetime) else v for v in key]
    return base64.urlsafe_b64encode(orjson.dumps({"l": list_name, "k": values})).decode().rstrip("=")


def decode_cursor(list_name: str, cursor: str | None, types: KeyTypes, *, field: str = "cursor"
                  ) -> tuple[KeyValue, ...] | None:
    """The key a cursor of ``list_name`` remembers, its values converted to ``types``; None without a cursor."""
    if cursor is None:
        return None
    try:
        decoded = orjson.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    except (binascii.Error, ValueError, orjson.JSONDecodeError):
        raise InvalidFieldError(field, "not a cursor this service gave out (send next_cursor back unchanged)") \
            from None
    if not isinstance(decoded, dict) or decoded.get("l") != list_name:
        raise InvalidFieldError(field, f"not a cursor of this list ({list_name})")
    values = decoded.get("k")
    if not isinstance(values, list) or len(values) != len(types):
        raise InvalidFieldError(field, "the cursor's key is damaged")
    return tuple(_typed(field, value, kind) for value, kind in zip(values, types, strict=True))


def _typed(field: str, value: object, kind: type[str] | type[int] | type[datetime]) -> KeyValue:
    if kind is datetime and isinstance(value, str):
        try:
            moment = datetime.fromisoformat(value)
        except ValueError:
            raise InvalidFieldError(field, "the cursor's key is damaged") from None
        if moment.tzinfo is not None:
            return moment
    elif (kind is int and isinstance(value, int) and not isinstance(value, bool)) or (
            kind is str and isinstance(value, str)):
        return value
    raise InvalidFieldError(field, "the cursor's key is damaged")


@dataclass(frozen=True, slots=True)
class Page(Generic[T]):
    """One page and the cursor of the next (None on the last page)."""

    items: list[T]
    next_cursor: str | None


def page_of(list_name: str, rows: Sequence[T], limit: int, key_of: Callable[[T], Sequence[KeyValue]]) -> Page[T]:
    """Cut a page from ``rows`` fetched with ``LIMIT limit + 1``: the extra row only says a next page exists, so
    the last page has no cursor (no empty page to fetch)."""
    items = list(rows[:limit])
    more = len(rows) > limit
    return Page(items, encode_cursor(list_name, key_of(items[-1])) if more and items else None)


async def filtered_page(list_name: str, cursor: str | None, limit: int, types: KeyTypes, *,
                        fetch: Callable[[tuple[KeyValue, ...] | None, int], Awaitable[Sequence[T]]],
                        keep: Callable[[Sequence[T]], list[T]], key_of: Callable[[T], Sequence[KeyValue]]
                        ) -> Page[T]:
    """A page of a list whose rows are filtered after the query (a caller's access rule written once, in Python):
    ``fetch(after, n)`` returns up to ``n`` rows after the key ``after`` in key order; ``keep`` keeps (and may
    reshape, e.g. mask) the ones to show. Fetches chunks until the page and one more row are kept or the rows run
    out, so a page is full whenever more visible rows exist; the cursor is the key of the last row shown."""
    after = decode_cursor(list_name, cursor, types)
    chunk = limit + 1
    kept: list[T] = []
    while len(kept) <= limit:
        rows = await fetch(after, chunk)
        kept += keep(rows)
        if len(rows) < chunk:
            break
        after = tuple(key_of(rows[-1]))
    return page_of(list_name, kept, limit, key_of)
