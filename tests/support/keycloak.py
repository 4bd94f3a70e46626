"""The real Keycloak for the tests that need it (deploy/native/keycloak.sh): ``SALESFLOW_KEYCLOAK_URL`` when
``make test`` set it (``stack.sh env``), else ``stack.sh keycloak`` brings it up (idempotent: reused when running).
Tokens come from its real endpoints: the password grant for people, client credentials for systems."""

from __future__ import annotations

import os
import subprocess
from functools import cache
from typing import Any

import httpx
import jwt

from tests.support.infra import REPO

REALM = "salesflow"
# The demo realm's users (deploy/keycloak/realm-salesflow.json): password "<username>-demo".
SYSTEM_SECRETS = {"shop": "shop-demo-secret", "call-center": "call-center-demo-secret"}


@cache
def keycloak_url() -> str:
    url = os.environ.get("SALESFLOW_KEYCLOAK_URL")
    if url:
        return url
    stack = REPO / "deploy" / "native" / "stack.sh"
    subprocess.run(["bash", str(stack), "keycloak"], check=True)
    out = subprocess.run(["bash", str(stack), "env"], check=True, capture_output=True, text=True).stdout
    for line in out.splitlines():
        if line.startswith("export SALESFLOW_KEYCLOAK_URL="):
            return line.split("=", 1)[1].strip()
    raise AssertionError("stack.sh env does not say where Keycloak is")


def issuer() -> str:
    return f"{keycloak_url()}/realms/{REALM}"


def token_endpoint() -> str:
    return f"{issuer()}/protocol/openid-connect/token"


async def person_token(username: str, password: str | None = None) -> str:
    """An access token for a demo user (password grant through the public ``salesflow-cli`` client)."""
    async with httpx.AsyncClient(timeout=30) as client:
        response = await client.post(token_endpoint(), data={
            "grant_type": "password", "client_id": "salesflow-cli", "username": username,
            "password": password or f"{username}-demo", "scope": "openid"})
    assert response.status_code == 200, response.text
    token: str = response.json()["access_token"]
    return token


async def system_token(client_id: str) -> str:
    """An access token for a system client (client credentials)."""
    async with httpx.AsyncClient(timeout=30) as client:
        response = await client.post(token_endpoint(), data={"grant_type": "client_credentials"},
                                     auth=(client_id, SYSTEM_SECRETS[client_id]))
    assert response.status_code == 200, response.text
    token: str = response.json()["access_token"]
    return token


def claims(token: str) -> dict[str, Any]:
    """The token's claims, unverified (the services verify; tests only look)."""
    decoded: dict[str, Any] = jwt.decode(token, options={"verify_signature": False})
    return decoded


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}
