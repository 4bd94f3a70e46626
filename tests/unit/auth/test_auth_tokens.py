"""Bearer token validation against a real JWKS served over loopback HTTP by the test issuer."""

from __future__ import annotations

import time
import uuid

import jwt
import pytest

from shared.auth.http import build_verifier
from shared.auth.jwks import IdentityProviderUnavailableError
from shared.auth.principal import Principal
from shared.auth.settings import AuthSettings
from shared.auth.tokens import InvalidTokenError, TokenVerifier
from tests.support.auth import TestIssuer


@pytest.fixture(scope="module")
def issuer() -> TestIssuer:
    server = TestIssuer()
    yield server
    server.close()


def verifier_for(issuer: TestIssuer, **overrides: object) -> TokenVerifier:
    settings = AuthSettings(issuer=issuer.url, **{"jwks_refresh_cooldown_seconds": 0.0, **overrides})  # type: ignore[arg-type]
    return build_verifier(settings, service="leads")


async def test_a_valid_token_becomes_a_principal_with_roles_team_and_scopes(issuer: TestIssuer) -> None:
    token = issuer.token(subject="c7", roles=["consultant", "offline_access"], team="t2",
                         scopes=["openid", "leads:capture"], client="shop")
    principal = await verifier_for(issuer).verify(token)
    assert principal.subject == "c7"
    assert principal.roles == {"consultant", "offline_access"}
    assert principal.team_id == "t2"
    assert principal.scopes == {"openid", "leads:capture"}
    assert principal.client_id == "shop"
    assert principal.is_person


async def test_roles_and_team_come_from_the_configured_claims(issuer: TestIssuer) -> None:
    token = issuer.token(subject="c7", groups=["manager"], org={"team": ["t9"]})
    principal = await verifier_for(issuer, roles_claim="groups", team_claim="org.team").verify(token)
    assert (principal.roles, principal.team_id) == ({"manager"}, "t9")


@pytest.mark.parametrize(("change", "reason"), [
    ({"audience": "salesflow-orders"}, "(?i)audience"),
    ({"issuer": "http://127.0.0.1:1/realms/other"}, "(?i)issuer"),
    ({"issued_at": time.time() - 3600, "expires_in": 60}, "expired"),
])
async def test_tokens_for_someone_else_or_out_of_date_are_refused(issuer: TestIssuer, change: dict, reason: str
                                                                   ) -> None:
    with pytest.raises(InvalidTokenError, match=reason):
        await verifier_for(issuer).verify(issuer.token(subject="c1", **change))


async def test_clock_skew_is_bounded_by_the_leeway(issuer: TestIssuer) -> None:
    expired_10s_ago = issuer.token(subject="c1", issued_at=time.time() - 70, expires_in=60)
    assert (await verifier_for(issuer, leeway_seconds=30).verify(expired_10s_ago)).subject == "c1"
    with pytest.raises(InvalidTokenError, match="expired"):
        await verifier_for(issuer, leeway_seconds=5).verify(expired_10s_ago)


async def test_unsigned_and_hmac_tokens_are_refused(issuer: TestIssuer) -> None:
    claims = {"iss": issuer.url, "sub": "c1", "aud": "salesflow-leads", "iat": int(time.time()),
              "exp": int(time.time()) + 60}
    unsigned = jwt.encode(claims, None, algorithm="none")
    # The classic confusion attack: the issuer's *public* key used as an HMAC secret.
    hmac = jwt.encode(claims, "the public key, misused as an HMAC secret", algorithm="HS256",
                      headers={"kid": issuer.kid})
    for token in (unsigned, hmac, "not.a.token", ""):
        with pytest.raises(InvalidTokenError):
            await verifier_for(issuer).verify(token)


async def test_a_token_without_a_subject_is_refused(issuer: TestIssuer) -> None:
    with pytest.raises(InvalidTokenError, match="sub"):
        await verifier_for(issuer).verify(issuer.token(subject=""))


async def test_a_rotated_key_is_fetched_on_its_first_token_and_the_old_one_stops_working() -> None:
    rotating = TestIssuer()
    try:
        verifier = verifier_for(rotating)
        old = rotating.token(subject="c1")
        assert (await verifier.verify(old)).subject == "c1"
        rotating.rotate()
        assert (await verifier.verify(rotating.token(subject="c2"))).subject == "c2"
        assert rotating.jwks_requests == 2
        with pytest.raises(InvalidTokenError, match="signing key"):
            await verifier.verify(old)
    finally:
        rotating.close()


async def test_made_up_key_ids_cost_at_most_one_refetch_per_cooldown() -> None:
    server = TestIssuer()
    try:
        verifier = verifier_for(server, jwks_refresh_cooldown_seconds=3600)
        await verifier.verify(server.token(subject="c1"))
        for _ in range(20):
            with pytest.raises(InvalidTokenError):
                await verifier.verify(server.token(subject="c1", kid=uuid.uuid4().hex))
        assert server.jwks_requests == 1
    finally:
        server.close()


async def test_an_unreachable_issuer_without_cached_keys_is_reported_as_such() -> None:
    gone = TestIssuer()
    token = gone.token(subject="c1")
    gone.close()
    with pytest.raises(IdentityProviderUnavailableError):
        await verifier_for(gone).verify(token)



async def test_a_remembered_token_is_checked_again_once_it_has_expired(issuer: TestIssuer) -> None:
    now = [time.time()]
    settings = AuthSettings(issuer=issuer.url, leeway_seconds=5)
    keys = build_verifier(settings, service="leads")._keys  # a JWKS cache for this issuer
    verifier = TokenVerifier(settings, audience="salesflow-leads", keys=keys, clock=lambda: now[0])
    checks: list[str] = []
    full_check = verifier._verify

    async def counted(token: str) -> Principal:
        checks.append(token)
        return await full_check(token)

    verifier._verify = counted  # type: ignore[method-assign]
    token = issuer.token(subject="c1", expires_in=60)
    for _ in range(3):
        assert (await verifier.verify(token)).subject == "c1"
    assert len(checks) == 1  # remembered after the first full check
    now[0] += 66  # past exp + leeway by the verifier's clock
    await verifier.verify(token)
    assert len(checks) == 2
