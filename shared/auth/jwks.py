"""The issuer's public signing keys (JWKS): fetched once, cached, refetched when stale or when a token names a
key id we do not know (the issuer rotated its keys) — but at most once per cooldown, under one lock, so a flood of
tokens with made-up ``kid`` values costs one request to the issuer, not one each."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import jwt
import structlog

log = structlog.get_logger(__name__)

FetchJson = Callable[[str], Awaitable[dict[str, Any]]]


async def fetch_json(url: str, timeout: float = 5.0) -> dict[str, Any]:
    async with httpx.AsyncClient(timeout=timeout) as client:
        response = await client.get(url)
        response.raise_for_status()
        document: dict[str, Any] = response.json()
        return document


class IdentityProviderUnavailableError(RuntimeError):
    """The issuer's keys could not be fetched and none are cached: no token can be checked right now."""


class UnknownSigningKeyError(LookupError):
    """The token names a key the issuer does not publish (even after a refetch)."""


class JwksCache:
    def __init__(self, *, fetch_json: FetchJson, jwks_url: str | None, issuer: str, max_age: float,
                 refresh_cooldown: float, clock: Callable[[], float] = time.monotonic) -> None:
        self._fetch_json = fetch_json
        self._jwks_url = jwks_url
        self._issuer = issuer.rstrip("/")
        self._max_age = max_age
        self._cooldown = refresh_cooldown
        self._clock = clock
        self._keys: dict[str | None, jwt.PyJWK] = {}
        self._fetched_at: float | None = None
        self._lock = asyncio.Lock()
        self.fetches = 0
        self.generation = 0  # bumped whenever the set of keys changes (verifiers forget what they remembered)

    async def key(self, kid: str | None) -> jwt.PyJWK:
        now = self._clock()
        if self._fetched_at is None or now - self._fetched_at > self._max_age:
            await self._refresh(force=False)
        found = self._lookup(kid)
        if found is None and self._may_refetch():
            await self._refresh(force=True)
            found = self._lookup(kid)
        if found is None:
            raise UnknownSigningKeyError(f"the issuer publishes no signing key {kid!r}")
        return found

    def _lookup(self, kid: str | None) -> jwt.PyJWK | None:
        if kid is None and len(self._keys) == 1:  # a single-key issuer may leave kid out
            return next(iter(self._keys.values()))
        return self._keys.get(kid)

    def _may_refetch(self) -> bool:
        return self._fetched_at is None or self._clock() - self._fetched_at >= self._cooldown

    async def _refresh(self, *, force: bool) -> None:
        seen = self._fetched_at
        async with self._lock:
            if self._fetched_at != seen:  # another request refreshed while we waited for the lock
                return
            try:
                url = self._jwks_url or await self._discover()
                document = await self._fetch_json(url)
                keys = jwt.PyJWKSet.from_dict(document, ).keys
            except Exception as exc:
                # Keep serving with the keys we have; without any, nothing can be verified.
                log.warning("auth.jwks_fetch_failed", error=repr(exc), cached_keys=len(self._keys), forced=force)
                if not self._keys:
                    raise IdentityProviderUnavailableError(f"cannot fetch the issuer's keys: {exc}") from exc
                self._fetched_at = self._clock()
                return
            fresh = {k.key_id: k for k in keys if (k.public_key_use or "sig") == "sig"}
            if set(fresh) != set(self._keys):
                self.generation += 1
            self._keys = fresh
            self._fetched_at = self._clock()
            self.fetches += 1
            log.info("auth.jwks_fetched", keys=sorted(str(k) for k in self._keys))

    async def _discover(self) -> str:
        document = await self._fetch_json(f"{self._issuer}/.well-known/openid-configuration")
        url = document.get("jwks_uri")
        if not isinstance(url, str):
            raise IdentityProviderUnavailableError("the issuer's discovery document has no jwks_uri")
        self._jwks_url = url
        return url
