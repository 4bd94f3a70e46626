"""Browser sign-in for the pages a service serves itself (the reporting dashboard): OIDC authorization code with
PKCE (S256) against the same issuer the API trusts, as a public client (no secret in the page or the service).

The access token is kept in an ``HttpOnly`` cookie (``SameSite=Strict``; ``Secure`` when the page is served over
TLS), so scripts on the page never see it and no other site's page can make the browser send it. The API accepts
that cookie **only for safe methods** (GET/HEAD): a state-changing call, even a body-less POST, needs a bearer
token, which a browser never attaches on its own — so a foreign origin cannot trigger one (CSRF).

Flow: ``/auth/login`` → the issuer's login page → ``/auth/callback`` (code exchanged with the PKCE verifier, the
access token validated like any bearer token) → a same-site hop to the page (a Strict cookie is not sent on the
cross-site redirect chain from the issuer, so the callback answers a page that navigates on) → ``/auth/logout``
ends the issuer's session too.
"""

from __future__ import annotations

import base64
import hashlib
import html
import secrets
import time
from typing import Any
from urllib.parse import urlencode

import httpx
from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from shared.auth.errors import AuthenticationError
from shared.auth.jwks import fetch_json
from shared.auth.settings import AuthSettings
from shared.auth.tokens import InvalidTokenError, TokenVerifier

SESSION_COOKIE = "salesflow_session"
ID_TOKEN_COOKIE = "salesflow_id"
LOGIN_COOKIE = "salesflow_login"
SAFE_METHODS = frozenset({"GET", "HEAD"})


def session_token(request: Request) -> str | None:
    """The access token of the browser session, for safe methods only (see the module docstring: CSRF)."""
    if request.method not in SAFE_METHODS:
        return None
    return request.cookies.get(SESSION_COOKIE)


def login_page(next_path: str) -> HTMLResponse:
    target = html.escape(f"/auth/login?{urlencode({'next': next_path})}", quote=True)
    body = (f'<!doctype html><meta http-equiv="refresh" content="0;url={target}">'
            f'<title>Sign in</title><p>Sign in required · 请登录: <a href="{target}">sign in</a></p>')
    return HTMLResponse(body, status_code=401, headers={"WWW-Authenticate": 'Bearer realm="salesflow"'})


def _hop(location: str) -> str:
    target = html.escape(location, quote=True)
    return f'<!doctype html><meta http-equiv="refresh" content="0;url={target}"><a href="{target}">continue</a>'


def _local_path(value: str | None, default: str) -> str:
    # Only paths on this service: "//evil.example" and absolute URLs would make the sign-in an open redirect.
    if not value or not value.startswith("/") or value.startswith("//") or "\\" in value:
        return default
    return value


def _pkce_challenge(verifier: str) -> str:
    return base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()


class OidcClient:
    """The issuer's endpoints (from discovery, fetched once) and the code exchange."""

    def __init__(self, settings: AuthSettings) -> None:
        self._settings = settings
        self._config: dict[str, Any] | None = None

    async def config(self) -> dict[str, Any]:
        if self._config is None:
            self._config = await fetch_json(f"{self._settings.issuer.rstrip('/')}/.well-known/openid-configuration")
        return self._config

    async def exchange(self, *, code: str, redirect_uri: str, verifier: str) -> dict[str, Any]:
        config = await self.config()
        async with httpx.AsyncClient(timeout=self._settings.http_timeout_seconds) as client:
            response = await client.post(config["token_endpoint"], data={
                "grant_type": "authorization_code", "code": code, "redirect_uri": redirect_uri,
                "client_id": self._settings.browser_client_id, "code_verifier": verifier,
            })
        if response.status_code != 200:
            raise AuthenticationError(f"the issuer refused the code exchange ({response.status_code})")
        tokens: dict[str, Any] = response.json()
        return tokens


def browser_login_router(settings: AuthSettings, verifier: TokenVerifier, *, home: str = "/") -> APIRouter:
    """``/auth/login``, ``/auth/callback``, ``/auth/logout``, ``/auth/signed-out`` (not in the API document: they
    are the way in, so they cannot require a token)."""
    router = APIRouter(prefix="/auth", include_in_schema=False)
    oidc = OidcClient(settings)

    def secure(request: Request) -> bool:
        return settings.cookie_secure if settings.cookie_secure is not None else request.url.scheme == "https"

    @router.get("/login")
    async def login(request: Request, next: str | None = None) -> Response:
        config = await oidc.config()
        code_verifier = secrets.token_urlsafe(48)
        state = secrets.token_urlsafe(24)
        query = urlencode({
            "response_type": "code", "client_id": settings.browser_client_id, "scope": "openid",
            "redirect_uri": str(request.url_for("auth_callback")), "state": state,
            "code_challenge": _pkce_challenge(code_verifier), "code_challenge_method": "S256",
        })
        response = RedirectResponse(f"{config['authorization_endpoint']}?{query}", status_code=302)
        # Lax, not Strict: the browser must send it back on the issuer's (cross-site) redirect to the callback.
        response.set_cookie(LOGIN_COOKIE, f"{state}.{code_verifier}.{_local_path(next, home)}", max_age=600,
                            path="/auth", httponly=True, samesite="lax", secure=secure(request))
        return response

    @router.get("/callback", name="auth_callback")
    async def callback(request: Request, code: str | None = None, state: str | None = None,
                       error: str | None = None) -> Response:
        pending = (request.cookies.get(LOGIN_COOKIE) or "").split(".", 2)
        if error or code is None or len(pending) != 3 or not secrets.compare_digest(pending[0], state or ""):
            return HTMLResponse("<p>Sign-in failed or expired. <a href='/auth/login'>Try again</a></p>",
                                status_code=400)
        tokens = await oidc.exchange(code=code, redirect_uri=str(request.url_for("auth_callback")),
                                     verifier=pending[1])
        try:
            principal = await verifier.verify(tokens["access_token"])
        except (InvalidTokenError, KeyError) as exc:
            raise AuthenticationError(f"the issuer's token is not acceptable here: {exc}") from None
        lifetime = max(1, int(principal.claims.get("exp", time.time() + 300)) - int(time.time()))  # type: ignore[call-overload]
        response = HTMLResponse(_hop(pending[2]))
        cookie = {"path": "/", "httponly": True, "samesite": "strict", "secure": secure(request)}
        response.set_cookie(SESSION_COOKIE, tokens["access_token"], max_age=lifetime, **cookie)  # type: ignore[arg-type]
        if "id_token" in tokens:
            response.set_cookie(ID_TOKEN_COOKIE, tokens["id_token"], max_age=lifetime, **cookie)  # type: ignore[arg-type]
        response.delete_cookie(LOGIN_COOKIE, path="/auth")
        return response

    @router.get("/logout")
    async def logout(request: Request) -> Response:
        config = await oidc.config()
        signed_out = str(request.url_for("auth_signed_out"))
        end_session = config.get("end_session_endpoint")
        if end_session:
            params = {"client_id": settings.browser_client_id, "post_logout_redirect_uri": signed_out}
            if id_token := request.cookies.get(ID_TOKEN_COOKIE):
                params["id_token_hint"] = id_token
            response: Response = RedirectResponse(f"{end_session}?{urlencode(params)}", status_code=302)
        else:
            response = RedirectResponse(signed_out, status_code=302)
        for name in (SESSION_COOKIE, ID_TOKEN_COOKIE):
            response.delete_cookie(name, path="/", httponly=True, samesite="strict", secure=secure(request))
        return response

    @router.get("/signed-out", name="auth_signed_out")
    async def signed_out() -> HTMLResponse:
        return HTMLResponse(f'<!doctype html><title>Signed out</title><p id="signed-out">Signed out · 已退出. '
                            f'<a href="{html.escape(home, quote=True)}">Sign in again</a></p>')

    return router
