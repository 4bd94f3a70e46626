"""Bearer JWT validation (PyJWT does the cryptography): the signature against the issuer's JWKS, then issuer,
audience, expiry and not-before with a bounded clock skew; the claims become a :class:`Principal`."""

from __future__ import annotations

import time
from collections import OrderedDict
from typing import Any

import jwt

from shared.auth.jwks import JwksCache, UnknownSigningKeyError
from shared.auth.principal import Principal
from shared.auth.settings import AuthSettings


class InvalidTokenError(Exception):
    """The token is not acceptable; the message says why (it goes into ``WWW-Authenticate``, never the token)."""


def claim_at(claims: dict[str, Any], path: str) -> Any:
    """``realm_access.roles`` → ``claims["realm_access"]["roles"]``; None where any step is missing."""
    value: Any = claims
    for part in path.split("."):
        if not isinstance(value, dict):
            return None
        value = value.get(part)
    return value


def _strings(value: Any) -> frozenset[str]:
    if isinstance(value, str):
        return frozenset(value.split())
    if isinstance(value, list | tuple):
        return frozenset(v for v in value if isinstance(v, str))
    return frozenset()


class TokenVerifier:
    """Validates tokens; remembers the last ``cache_size`` valid ones until they expire, because a client sends the
    same token with every request for its whole lifetime (minutes) and the signature check is most of the cost
    (bench/auth.py). Remembered tokens are forgotten when the issuer's key set changes."""

    def __init__(self, settings: AuthSettings, *, audience: str, keys: JwksCache, cache_size: int = 10_000,
                 clock: Any = time.time) -> None:
        self._settings = settings
        self._audience = audience
        self._keys = keys
        self._cache: OrderedDict[str, tuple[Principal, float, int]] = OrderedDict()
        self._cache_size = cache_size
        self._clock = clock
        # Asymmetric algorithms only: with HS256 the public key would become a shared secret anyone can use.
        self._algorithms = [a for a in settings.algorithms if a[:2] in ("RS", "ES", "PS") or a == "EdDSA"]

    @property
    def audience(self) -> str:
        return self._audience

    async def verify(self, token: str) -> Principal:
        cached = self._cache.get(token)
        if cached is not None:
            principal, expires_at, generation = cached
            if generation == self._keys.generation and self._clock() <= expires_at + self._settings.leeway_seconds:
                self._cache.move_to_end(token)
                return principal
            del self._cache[token]
        principal = await self._verify(token)
        exp = principal.claims.get("exp")
        if isinstance(exp, int | float):
            self._cache[token] = (principal, float(exp), self._keys.generation)
            if len(self._cache) > self._cache_size:
                self._cache.popitem(last=False)
        return principal

    async def _verify(self, token: str) -> Principal:
        try:
            header = jwt.get_unverified_header(token)
        except jwt.InvalidTokenError as exc:
            raise InvalidTokenError(f"malformed token: {exc}") from None
        if header.get("alg") not in self._algorithms:
            raise InvalidTokenError(f"signature algorithm {header.get('alg')!r} is not accepted")
        try:
            key = await self._keys.key(header.get("kid"))
        except UnknownSigningKeyError as exc:
            raise InvalidTokenError(str(exc)) from None
        try:
            claims: dict[str, Any] = jwt.decode(
                token, key=key.key, algorithms=self._algorithms, audience=self._audience,
                issuer=self._settings.issuer, leeway=self._settings.leeway_seconds,
                options={"require": ["exp", "iat", "iss", "aud"]},
            )
        except jwt.InvalidTokenError as exc:
            raise InvalidTokenError(str(exc) or type(exc).__name__) from None
        return self.principal(claims)

    def principal(self, claims: dict[str, Any]) -> Principal:
        subject = claim_at(claims, self._settings.subject_claim)
        if not isinstance(subject, str) or not subject:
            raise InvalidTokenError(f"the token has no {self._settings.subject_claim} claim")
        team = claim_at(claims, self._settings.team_claim)
        if isinstance(team, list):  # Keycloak user attributes may arrive as a one-element list
            team = team[0] if team else None
        azp = claims.get("azp") or claims.get("client_id")
        return Principal(
            subject=subject, roles=_strings(claim_at(claims, self._settings.roles_claim)),
            team_id=team if isinstance(team, str) and team else None,
            scopes=_strings(claim_at(claims, self._settings.scope_claim)),
            client_id=azp if isinstance(azp, str) else None, claims=claims,
        )
