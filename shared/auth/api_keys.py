"""Static API keys for systems that cannot do OAuth2 client credentials (DESIGN §8): scoped, stored hashed,
rotatable, revocable, never logged.

A key looks like ``sfk_<key id>_<secret>`` (the secret: 32 random bytes). Only its SHA-256 is stored, in the JSON
file named by ``SALESFLOW_AUTH_API_KEYS_FILE``; a plain hash is enough because the secret is random (no dictionary
to try), and it is compared in constant time. The file is re-read when it changes, so a revocation needs no
restart. Rotation: issue a new key for the same client, switch the system over, revoke the old one::

    python -m shared.auth.api_keys new --client showroom-kiosk --scope leads:capture   # prints key + entry
    [{"key_id": "k3f9…", "client": "showroom-kiosk", "sha256": "…", "scopes": ["leads:capture"],
      "revoked": false}]

Callers send it as ``X-API-Key``; the principal is the system client (no person role), subject ``apikey:<key id>``.
The key never appears in logs or errors: only its id does.
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import json
import secrets
from dataclasses import dataclass
from pathlib import Path

from shared.auth.principal import Principal

PREFIX = "sfk_"


@dataclass(frozen=True, slots=True)
class ApiKeyEntry:
    key_id: str
    client: str
    sha256: str
    scopes: frozenset[str]
    revoked: bool = False


class InvalidApiKeyError(Exception):
    """Unknown, malformed or revoked key (the message never contains the key)."""


def digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def new_key(client: str, scopes: list[str]) -> tuple[str, dict[str, object]]:
    """A fresh key (shown once) and the entry to store for it."""
    key_id = secrets.token_hex(6)
    secret = secrets.token_urlsafe(32)
    entry = {"key_id": key_id, "client": client, "sha256": digest(secret), "scopes": sorted(scopes),
             "revoked": False}
    return f"{PREFIX}{key_id}_{secret}", entry


class ApiKeys:
    """The configured keys, re-read from the file whenever its modification time changes."""

    def __init__(self, path: Path | None) -> None:
        self._path = path
        self._stamp: float | None = None
        self._entries: dict[str, ApiKeyEntry] = {}

    @property
    def enabled(self) -> bool:
        return self._path is not None

    def _load(self) -> None:
        assert self._path is not None
        stamp = self._path.stat().st_mtime
        if stamp == self._stamp:
            return
        raw = json.loads(self._path.read_text())
        self._entries = {e["key_id"]: ApiKeyEntry(e["key_id"], e["client"], e["sha256"], frozenset(e["scopes"]),
                                                  bool(e.get("revoked", False))) for e in raw}
        self._stamp = stamp

    def principal(self, presented: str) -> Principal:
        if not self.enabled:
            raise InvalidApiKeyError("API keys are not enabled on this service")
        self._load()
        key_id, _, secret = presented.removeprefix(PREFIX).partition("_")
        entry = self._entries.get(key_id) if presented.startswith(PREFIX) else None
        if entry is None or not hmac.compare_digest(entry.sha256, digest(secret)):
            raise InvalidApiKeyError("unknown API key")
        if entry.revoked:
            raise InvalidApiKeyError(f"API key {key_id} is revoked")
        return Principal(subject=f"apikey:{entry.key_id}", scopes=entry.scopes, client_id=entry.client)


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m shared.auth.api_keys", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    new = sub.add_parser("new", help="issue a key: prints the key (once) and the entry for the keys file")
    new.add_argument("--client", required=True)
    new.add_argument("--scope", action="append", required=True, dest="scopes")
    args = parser.parse_args()
    key, entry = new_key(args.client, args.scopes)
    print(f"key (give it to the system; it is not stored): {key}")
    print(f"entry for SALESFLOW_AUTH_API_KEYS_FILE: {json.dumps(entry)}")


if __name__ == "__main__":
    main()
