"""The FastAPI side of authentication. ``install_auth(app, service=...)`` once per service; every router that
serves anything but health probes is created with ``dependencies=AUTHENTICATED`` (and endpoints that need the
caller take a ``Caller`` argument — FastAPI runs the dependency once per request either way).

Without a valid token the answer is 401 with ``WWW-Authenticate: Bearer`` (RFC 6750); if the issuer's keys cannot
be fetched at all, 503. The OpenAPI document declares the bearer scheme on every operation that depends on it.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Annotated, Any

from fastapi import Depends, FastAPI, Request, Security
from fastapi.responses import JSONResponse, Response
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer

from shared.auth.api_keys import ApiKeys, InvalidApiKeyError
from shared.auth.browser import browser_login_router, login_page, session_token
from shared.auth.errors import AuthenticationError, BrowserLoginRequiredError, ForbiddenError
from shared.auth.jwks import FetchJson, IdentityProviderUnavailableError, JwksCache, fetch_json
from shared.auth.principal import Principal
from shared.auth.settings import AuthSettings
from shared.auth.tokens import InvalidTokenError, TokenVerifier
from shared.runtime.input_guard import current_correlation_id
from shared.settings import load_settings

REALM = "salesflow"

api_key_scheme = APIKeyHeader(name="X-API-Key", auto_error=False, scheme_name="apiKey",
                              description="A static key for a system that cannot do OAuth2 (scoped, revocable).")
bearer_scheme = HTTPBearer(auto_error=False, scheme_name="bearer", bearerFormat="JWT",
                           description="An access token from the OIDC issuer (people: authorization code or "
                                       "password grant; systems: client credentials).")


def _quote(text: str) -> str:
    return text.replace("\\", "\\\\").replace('"', "'")


def challenge(reason: str | None) -> str:
    # RFC 6750 §3: no error code when the request carried no credentials at all.
    if reason is None:
        return f'Bearer realm="{REALM}"'
    return f'Bearer realm="{REALM}", error="invalid_token", error_description="{_quote(reason)}"'


class Authenticator:
    """Everything a request's credentials are checked against."""

    def __init__(self, verifier: TokenVerifier, *, browser_sessions: bool = False,
                 api_keys: ApiKeys | None = None) -> None:
        self.verifier = verifier
        self.browser_sessions = browser_sessions
        self.api_keys = api_keys or ApiKeys(None)

    async def authenticate(self, request: Request, bearer: HTTPAuthorizationCredentials | None,
                           api_key: str | None = None) -> Principal:
        if api_key is not None and bearer is None:
            try:
                return self.api_keys.principal(api_key)
            except InvalidApiKeyError as exc:
                raise AuthenticationError(str(exc)) from None
        token = bearer.credentials if bearer is not None else None
        if token is None and self.browser_sessions:
            token = session_token(request)
        if token is None:
            raise AuthenticationError(None)
        try:
            return await self.verifier.verify(token)
        except InvalidTokenError as exc:
            raise AuthenticationError(str(exc)) from None


def build_verifier(settings: AuthSettings, *, service: str, fetch: FetchJson = fetch_json) -> TokenVerifier:
    keys = JwksCache(fetch_json=fetch, jwks_url=settings.jwks_url, issuer=settings.issuer,
                     max_age=settings.jwks_max_age_seconds, refresh_cooldown=settings.jwks_refresh_cooldown_seconds)
    return TokenVerifier(settings, audience=settings.audience_for(service), keys=keys)


def install_auth(app: FastAPI, *, service: str, settings: AuthSettings | None = None,
                 browser_home: str | None = None) -> Authenticator:
    """Configure the app as a resource server (settings from ``SALESFLOW_AUTH_*`` unless given). The keys are
    fetched on the first token, so a service starts even while the issuer is still coming up. ``browser_home``
    (a page path) also signs browsers in (shared/auth/browser.py) and lets GETs use the session cookie."""
    settings = settings or load_settings(AuthSettings)
    keys = ApiKeys(Path(settings.api_keys_file) if settings.api_keys_file else None)
    authenticator = Authenticator(build_verifier(settings, service=service), browser_sessions=browser_home is not None,
                                  api_keys=keys)
    app.state.authenticator = authenticator
    if browser_home is not None:
        app.include_router(browser_login_router(settings, authenticator.verifier, home=browser_home))

    @app.exception_handler(AuthenticationError)
    async def on_unauthenticated(_: Request, exc: AuthenticationError) -> Response:
        if isinstance(exc, BrowserLoginRequiredError):
            return login_page(exc.next_path)
        return JSONResponse(status_code=401, headers={"WWW-Authenticate": challenge(exc.reason)},
                            content={"error": {"code": "unauthenticated", "message": str(exc),
                                               "correlation_id": current_correlation_id()}})

    @app.exception_handler(IdentityProviderUnavailableError)
    async def on_issuer_down(_: Request, exc: IdentityProviderUnavailableError) -> JSONResponse:
        return JSONResponse(status_code=503, headers={"Retry-After": "5"},
                            content={"error": {"code": "identity_provider_unavailable", "message": str(exc),
                                               "correlation_id": current_correlation_id()}})

    return authenticator


async def authenticated(
    request: Request, bearer: Annotated[HTTPAuthorizationCredentials | None, Security(bearer_scheme)],
    api_key: Annotated[str | None, Security(api_key_scheme)],
) -> Principal:
    authenticator: Authenticator = request.app.state.authenticator
    principal = await authenticator.authenticate(request, bearer, api_key)
    request.state.principal = principal
    return principal


async def signed_in_page(
    request: Request, bearer: Annotated[HTTPAuthorizationCredentials | None, Security(bearer_scheme)],
) -> Principal:
    """For HTML pages: like :func:`authenticated`, but a browser without a session is sent to the sign-in."""
    try:
        return await authenticated(request, bearer, None)
    except AuthenticationError as exc:
        path = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        raise BrowserLoginRequiredError(exc.reason, next_path=path) from None


def allowed(*, roles: Iterable[str] = (), scopes: Iterable[str] = ()) -> Any:
    """A router or endpoint dependency: the caller needs one of ``roles`` or one of ``scopes`` (else 403). Runs after
    authentication, so a missing token is still 401. The rules themselves live in each service's app layer
    (``app/access.py``); this only applies them."""
    role_set, scope_set = frozenset(roles), frozenset(scopes)

    async def check(caller: Annotated[Principal, Depends(authenticated)]) -> Principal:
        if caller.roles & role_set or caller.scopes & scope_set:
            return caller
        wanted = " or ".join(filter(None, [", ".join(sorted(role_set)) and f"role {', '.join(sorted(role_set))}",
                                           ", ".join(sorted(scope_set)) and f"scope {', '.join(sorted(scope_set))}"]))
        raise ForbiddenError(f"this needs {wanted}")

    return Depends(check)


# ``caller: Caller`` where the parameter order allows it; ``caller: Principal = CALLER`` after defaulted ones.
Caller = Annotated[Principal, Depends(authenticated)]
CALLER = Depends(authenticated)
AUTHENTICATED = [CALLER]
