"""Static API keys: hashed at rest, scoped, rotatable (two keys of one client at once), revocable without a
restart, and never echoed back."""

from __future__ import annotations

import json
import os
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import APIRouter, FastAPI

from shared.auth.api_keys import new_key
from shared.auth.http import AUTHENTICATED, Caller, install_auth
from shared.auth.settings import AuthSettings
from tests.support.auth import TestIssuer


@pytest.fixture(scope="module")
def issuer() -> Iterator[TestIssuer]:
    server = TestIssuer()
    yield server
    server.close()


@pytest.fixture
async def setup(issuer: TestIssuer, tmp_path: Path) -> AsyncIterator[tuple[httpx.AsyncClient, Path, list[Any]]]:
    old_key, old_entry = new_key("kiosk", ["leads:capture"])
    new, new_entry = new_key("kiosk", ["leads:capture"])
    keys_file = tmp_path / "keys.json"
    keys_file.write_text(json.dumps([old_entry, new_entry]))
    app = FastAPI()
    install_auth(app, service="leads", settings=AuthSettings(issuer=issuer.url, api_keys_file=str(keys_file)))
    router = APIRouter(dependencies=AUTHENTICATED)

    @router.get("/whoami")
    async def whoami(caller: Caller) -> dict[str, Any]:
        return {"subject": caller.subject, "scopes": sorted(caller.scopes), "client": caller.client_id,
                "person": caller.is_person}

    app.include_router(router)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://127.0.0.1:9") as client:
        yield client, keys_file, [(old_key, old_entry), (new, new_entry)]


async def test_a_key_is_a_scoped_system_and_only_its_hash_is_stored(setup: Any) -> None:
    client, keys_file, keys = setup
    (key, entry), _ = keys
    assert key.split("_", 2)[2] not in keys_file.read_text()
    answer = await client.get("/whoami", headers={"X-API-Key": key})
    assert answer.json() == {"subject": f"apikey:{entry['key_id']}", "scopes": ["leads:capture"], "client": "kiosk",
                             "person": False}


async def test_both_keys_work_during_a_rotation_and_a_revoked_one_stops_without_a_restart(setup: Any) -> None:
    client, keys_file, keys = setup
    (old, old_entry), (new, new_entry) = keys
    for key in (old, new):
        assert (await client.get("/whoami", headers={"X-API-Key": key})).status_code == 200
    keys_file.write_text(json.dumps([{**old_entry, "revoked": True}, new_entry]))
    os.utime(keys_file, (1, 1))  # a different modification time, however fast the rewrite was
    refused = await client.get("/whoami", headers={"X-API-Key": old})
    assert refused.status_code == 401
    assert "revoked" in refused.json()["error"]["message"]
    assert old not in refused.text
    assert (await client.get("/whoami", headers={"X-API-Key": new})).status_code == 200


async def test_a_wrong_secret_is_refused_without_echoing_it(setup: Any) -> None:
    client, _, keys = setup
    (_, entry), _ = keys
    guess = f"sfk_{entry['key_id']}_guessed-secret"
    refused = await client.get("/whoami", headers={"X-API-Key": guess})
    assert refused.status_code == 401
    assert "guessed" not in refused.text
    assert (await client.get("/whoami", headers={"X-API-Key": "garbage"})).status_code == 401
