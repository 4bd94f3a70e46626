"""Identity for every service (DESIGN §8): services are OAuth2 resource servers.

- :mod:`shared.auth.principal` — who is calling (subject, roles, team, scopes); pure, usable by app layers.
- :mod:`shared.auth.settings` — the issuer, audience and claim names, from ``SALESFLOW_AUTH_*``.
- :mod:`shared.auth.jwks` — the issuer's signing keys, fetched, cached, refreshed on an unknown ``kid``.
- :mod:`shared.auth.tokens` — bearer JWT validation with PyJWT (signature, issuer, audience, expiry, skew).
- :mod:`shared.auth.http` — the FastAPI side: ``install_auth(app)``, the ``Caller`` dependency, 401/403 answers.
"""

from shared.auth.principal import Principal, Role

__all__ = ["Principal", "Role"]
