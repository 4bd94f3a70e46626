"""Tokens for tests: a test issuer with its own RSA key, served as a JWKS (and an OIDC discovery document) by a
real HTTP server on loopback, so services validate test tokens exactly as they validate Keycloak's.

The one function most tests need::

    from tests.support.auth import auth_headers
    await client.post(url, json=body, headers=auth_headers("manager", subject="m1", team="t1"))

Services started with :func:`tests.support.processes.start_service` trust this issuer automatically
(:func:`auth_env`). System clients: ``auth_headers(scopes=["leads:capture"], client="shop")``.
"""

from __future__ import annotations

import base64
import hashlib
import json
import threading
import time
import uuid
from collections.abc import Iterable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlencode

import jwt
from cryptography.hazmat.primitives.asymmetric import rsa

SERVICES = ("leads", "orders", "aftersales", "reporting")
ALL_AUDIENCES = [f"salesflow-{s}" for s in (*SERVICES, "webhooks")]
# The subject each role gets unless a test names one: the ids the existing tests register as consultants.
DEFAULT_SUBJECTS = {"consultant": "c1", "manager": "m1", "director": "d1", "ops": "ops1"}


# Modules mint their tokens at import (``CLIENT = auth_headers(...)``), i.e. when pytest collects, and a suite on a
# loaded machine runs past 20 minutes: a 10-minute lifetime expired mid-run ("Signature has expired" in the
# webhooks tests). The expiry rules themselves are tested with explicit lifetimes.
TEST_TOKEN_LIFETIME_S = 3 * 3600

class TestIssuer:
    """An OIDC issuer for tests: signs tokens with a fresh key and serves ``/.well-known/openid-configuration``
    and ``/jwks`` over HTTP. ``rotate()`` switches to a new key (the old one is no longer published).

    For browser sign-in it also runs the authorization code flow with PKCE: ``/authorize`` signs in
    ``browser_user`` without a form (the real login page is Keycloak's, tested in the Keycloak e2e tests),
    ``/token`` exchanges the code only with the matching ``code_verifier``, ``/logout`` ends the session."""

    __test__ = False  # not a pytest test class

    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        self._key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.kid = uuid.uuid4().hex[:12]
        self.jwks_requests = 0
        self.browser_user: dict[str, Any] = {"subject": "m1", "roles": ["manager"], "team": "t1"}
        self._codes: dict[str, dict[str, str]] = {}
        issuer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                path, _, query = self.path.partition("?")
                params = {k: v[0] for k, v in parse_qs(query).items()}
                if path == "/.well-known/openid-configuration":
                    self._json({"issuer": issuer.url, "jwks_uri": f"{issuer.url}/jwks",
                                "authorization_endpoint": f"{issuer.url}/authorize",
                                "token_endpoint": f"{issuer.url}/token",
                                "end_session_endpoint": f"{issuer.url}/logout",
                                "id_token_signing_alg_values_supported": ["RS256"]})
                elif path == "/jwks":
                    issuer.jwks_requests += 1
                    self._json(issuer.jwks())
                elif path == "/authorize" and params.get("code_challenge_method") == "S256":
                    code = uuid.uuid4().hex
                    issuer._codes[code] = params
                    self._redirect(f"{params['redirect_uri']}?{urlencode({'code': code, 'state': params['state']})}")
                elif path == "/logout" and "post_logout_redirect_uri" in params:
                    self._redirect(params["post_logout_redirect_uri"])
                else:
                    self.send_error(400 if path in ("/authorize", "/logout") else 404)

            def do_POST(self) -> None:
                raw = self.rfile.read(int(self.headers["Content-Length"])).decode()
                form = {k: v[0] for k, v in parse_qs(raw).items()}
                request = issuer._codes.pop(form.get("code", ""), None)
                verifier = form.get("code_verifier", "").encode()
                challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier).digest()).rstrip(b"=").decode()
                if self.path != "/token" or request is None or challenge != request["code_challenge"] \
                        or form.get("redirect_uri") != request["redirect_uri"]:
                    self._json({"error": "invalid_grant"}, status=400)
                    return
                user = issuer.browser_user
                access = issuer.token(subject=user["subject"], roles=user["roles"], team=user.get("team"),
                                      client=request["client_id"])
                id_token = issuer.token(subject=user["subject"], audience=request["client_id"])
                self._json({"access_token": access, "id_token": id_token, "token_type": "Bearer", "expires_in": 600})

            def _redirect(self, location: str) -> None:
                self.send_response(302)
                self.send_header("Location", location)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def _json(self, body: dict[str, Any], status: int = 200) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *_: Any) -> None:  # quiet test output
                pass

        self._server = ThreadingHTTPServer((host, port), Handler)
        self._server.daemon_threads = True
        self.url = f"http://{host}:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, name="test-issuer", daemon=True)
        self._thread.start()

    def jwks(self) -> dict[str, Any]:
        public = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(self._key.public_key()))
        return {"keys": [{**public, "kid": self.kid, "use": "sig", "alg": "RS256"}]}

    def rotate(self) -> None:
        self._key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.kid = uuid.uuid4().hex[:12]

    def env(self) -> dict[str, str]:
        """The environment that makes a service trust this issuer (short cooldown so rotation tests are quick)."""
        return {"SALESFLOW_AUTH_ISSUER": self.url, "SALESFLOW_AUTH_JWKS_REFRESH_COOLDOWN_SECONDS": "0.5"}

    def token(self, *, subject: str, roles: Iterable[str] = (), team: str | None = None,
              scopes: Iterable[str] = (), client: str = "salesflow-web",
              audience: str | list[str] | None = None, expires_in: float = TEST_TOKEN_LIFETIME_S,
              issued_at: float | None = None,
              issuer: str | None = None, kid: str | None = None, **claims: Any) -> str:
        now = time.time() if issued_at is None else issued_at
        body: dict[str, Any] = {
            "iss": issuer or self.url, "sub": subject, "aud": ALL_AUDIENCES if audience is None else audience,
            "iat": int(now), "exp": int(now + expires_in), "azp": client, "jti": uuid.uuid4().hex,
            "realm_access": {"roles": list(roles)}, "scope": " ".join(scopes), **claims,
        }
        if team is not None:
            body["team"] = team
        return jwt.encode(body, self._key, algorithm="RS256", headers={"kid": kid or self.kid})

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()


_issuer: TestIssuer | None = None
_lock = threading.Lock()


def test_issuer() -> TestIssuer:
    """The issuer of this test process (started on first use, lives as long as the process)."""
    global _issuer
    with _lock:
        if _issuer is None:
            _issuer = TestIssuer()
        return _issuer


test_issuer.__test__ = False  # type: ignore[attr-defined]


def auth_env() -> dict[str, str]:
    return test_issuer().env()


def token_for(role: str | None = "manager", *, subject: str | None = None, team: str | None = "t1",
              scopes: Iterable[str] = (), client: str | None = None, **claims: Any) -> str:
    """A valid access token. ``role=None`` (or scopes with no role) is a system client."""
    roles = [role] if role else []
    who = subject or (DEFAULT_SUBJECTS.get(role, role) if role else f"service-account-{client or 'system'}")
    return test_issuer().token(subject=who, roles=roles, team=team if role else None, scopes=scopes,
                               client=client or ("salesflow-web" if role else "system"), **claims)


def auth_headers(role: str | None = "manager", *, subject: str | None = None, team: str | None = "t1",
                 scopes: Iterable[str] = (), client: str | None = None, **claims: Any) -> dict[str, str]:
    """``{"Authorization": "Bearer …"}`` for a person of ``role`` (default subject: c1/m1/d1/ops1, team t1) or,
    with ``role=None``, a system client with ``scopes``."""
    token = token_for(role, subject=subject, team=team, scopes=scopes, client=client, **claims)
    return {"Authorization": f"Bearer {token}"}
