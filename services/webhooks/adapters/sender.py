"""POSTing a delivery over HTTP (httpx): a 2xx answer is delivered; anything else, or no answer, is a failed
attempt with the reason."""

from __future__ import annotations

from collections.abc import Mapping

import httpx

from services.webhooks.app.ports import DeliveryFailedError


class HttpSender:
    def __init__(self, *, timeout: float = 10.0) -> None:
        # Redirects are not followed: a subscriber's URL is where the signed body goes, nowhere else.
        self._client = httpx.AsyncClient(timeout=timeout, follow_redirects=False)

    async def __call__(self, url: str, headers: Mapping[str, str], body: bytes) -> int:
        try:
            response = await self._client.post(url, content=body, headers=dict(headers))
        except httpx.HTTPError as exc:
            raise DeliveryFailedError(f"{type(exc).__name__}: {exc}") from None
        if not 200 <= response.status_code < 300:
            raise DeliveryFailedError(f"answered {response.status_code}", status=response.status_code)
        return response.status_code

    async def close(self) -> None:
        await self._client.aclose()
