"""The FastAPI side: 401 with WWW-Authenticate, the caller as the actor, the browser session cookie (GET only) and
the authorization code + PKCE sign-in against the test issuer."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest
from fastapi import APIRouter, Depends, FastAPI

from shared.auth.browser import SESSION_COOKIE
from shared.auth.http import AUTHENTICATED, Caller, install_auth, signed_in_page
from shared.auth.settings import AuthSettings
from tests.support.auth import TestIssuer


@pytest.fixture(scope="module")
def issuer() -> Iterator[TestIssuer]:
    server = TestIssuer()
    yield server
    server.close()


def make_app(issuer: TestIssuer) -> FastAPI:
    app = FastAPI()
    install_auth(app, service="reporting", settings=AuthSettings(issuer=issuer.url), browser_home="/page")
    api = APIRouter(prefix="/v1", dependencies=AUTHENTICATED)

    @api.get("/whoami")
    async def whoami(caller: Caller) -> dict[str, Any]:
        return {"subject": caller.subject, "team": caller.team_id}

    @api.post("/things/{thing_id}/deactivate")
    async def deactivate(thing_id: str, caller: Caller) -> dict[str, Any]:
        return {"deactivated": thing_id, "by": caller.subject}

    page = APIRouter(dependencies=[Depends(signed_in_page)])

    @page.get("/page")
    async def a_page() -> dict[str, str]:
        return {"page": "ok"}

    app.include_router(api)
    app.include_router(page)
    return app


@pytest.fixture
async def client(issuer: TestIssuer) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=make_app(issuer))
    async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1:9") as c:
        yield c


async def test_without_a_token_the_answer_is_401_with_a_bearer_challenge(client: httpx.AsyncClient) -> None:
    response = await client.get("/v1/whoami")
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == 'Bearer realm="salesflow"'
    assert response.json()["error"]["code"] == "unauthenticated"


async def test_a_bad_token_gets_invalid_token_and_the_reason(client: httpx.AsyncClient, issuer: TestIssuer) -> None:
    response = await client.get("/v1/whoami", headers={
        "Authorization": f"Bearer {issuer.token(subject='c1', audience='salesflow-leads')}"})
    assert response.status_code == 401
    assert 'error="invalid_token"' in response.headers["www-authenticate"]
    assert "audience" in response.headers["www-authenticate"].lower()


async def test_a_valid_token_names_the_caller(client: httpx.AsyncClient, issuer: TestIssuer) -> None:
    token = issuer.token(subject="m1", roles=["manager"], team="t1")
    response = await client.get("/v1/whoami", headers={"Authorization": f"Bearer {token}"})
    assert (response.status_code, response.json()) == (200, {"subject": "m1", "team": "t1"})


async def test_the_session_cookie_works_for_reads_but_never_for_a_post(client: httpx.AsyncClient,
                                                                      issuer: TestIssuer) -> None:
    token = issuer.token(subject="m1", roles=["manager"], team="t1")
    client.cookies.set(SESSION_COOKIE, token)
    assert (await client.get("/v1/whoami")).status_code == 200
    # A body-less POST from another site's page would carry the cookie (were it not SameSite): it must not count.
    forged = await client.post("/v1/things/c1/deactivate", headers={"Origin": "https://evil.example"})
    assert forged.status_code == 401


async def test_a_page_without_a_session_sends_the_browser_to_sign_in(client: httpx.AsyncClient) -> None:
    response = await client.get("/page?month=2026-03")
    assert response.status_code == 401
    assert "/auth/login?next=%2Fpage%3Fmonth%3D2026-03" in response.text


async def test_sign_in_with_code_and_pkce_sets_a_strict_http_only_session_and_sign_out_clears_it(
    client: httpx.AsyncClient, issuer: TestIssuer,
) -> None:
    login = await client.get("/auth/login", params={"next": "/page"})
    assert login.status_code == 302
    assert "code_challenge_method=S256" in login.headers["location"]
    async with httpx.AsyncClient() as browser_to_issuer:  # the issuer is a real HTTP server
        authorize = await browser_to_issuer.get(login.headers["location"])
    assert authorize.status_code == 302
    callback = await client.get(authorize.headers["location"])
    assert callback.status_code == 200, callback.text
    session = next(v for k, v in callback.headers.multi_items()
                   if k == "set-cookie" and v.startswith(f"{SESSION_COOKIE}="))
    assert "HttpOnly" in session
    assert "SameSite=strict" in session
    assert "Secure" not in session  # plain http here; Secure is set when the page is served over https
    assert 'url=/page"' in callback.text
    assert (await client.get("/page")).json() == {"page": "ok"}

    logout = await client.get("/auth/logout")
    assert logout.status_code == 302
    assert logout.headers["location"].startswith(f"{issuer.url}/logout")
    assert (await client.get("/page")).status_code == 401


async def test_a_callback_whose_state_does_not_match_is_refused(client: httpx.AsyncClient) -> None:
    await client.get("/auth/login")
    assert (await client.get("/auth/callback", params={"code": "x", "state": "forged"})).status_code == 400


async def test_the_code_is_useless_without_the_pkce_verifier(client: httpx.AsyncClient, issuer: TestIssuer) -> None:
    login = await client.get("/auth/login")
    async with httpx.AsyncClient() as browser_to_issuer:
        authorize = await browser_to_issuer.get(login.headers["location"])
        code = httpx.URL(authorize.headers["location"]).params["code"]
        stolen = await browser_to_issuer.post(f"{issuer.url}/token", data={
            "grant_type": "authorization_code", "code": code, "code_verifier": "guessed",
            "redirect_uri": "http://127.0.0.1:9/auth/callback", "client_id": "salesflow-dashboard"})
    assert stolen.status_code == 400


async def test_sign_in_only_returns_to_paths_on_this_service(client: httpx.AsyncClient) -> None:
    login = await client.get("/auth/login", params={"next": "//evil.example/x"})
    pending = login.headers["set-cookie"].split(";")[0]
    assert "evil.example" not in pending
    assert "./page" in pending  # the default page instead
