"""Report cache keyed by the read model's watermark: N dashboards polling the same report cost one computation
per projected batch. Concurrent requests for the same report and watermark share the one computation in flight
(single flight); a new batch (new watermark) makes the next request compute afresh."""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Hashable
from typing import Any


class WatermarkCache:
    def __init__(self, watermark: Callable[[], Awaitable[dict[str, Any]]], *, size: int = 256) -> None:
        self._watermark = watermark
        self._size = size
        self._entries: OrderedDict[Hashable, tuple[Hashable, asyncio.Future[Any]]] = OrderedDict()
        self.computations = 0

    async def get(self, key: Hashable, compute: Callable[[], Awaitable[Any]]) -> Any:
        mark = await self._watermark()
        version = (mark.get("schema"), mark.get("batches"), mark.get("events"))
        entry = self._entries.get(key)
        if entry is not None and entry[0] == version:
            self._entries.move_to_end(key)
            return await asyncio.shield(entry[1])
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._entries[key] = (version, future)
        self._entries.move_to_end(key)
        while len(self._entries) > self._size:
            self._entries.popitem(last=False)
        self.computations += 1
        try:
            future.set_result(await compute())
        except BaseException as exc:
            future.set_exception(exc)
            self._entries.pop(key, None)
            future.exception()  # retrieved: the waiters (and this caller) get it; no "never retrieved" warning
            raise
        return future.result()
