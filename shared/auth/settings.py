"""Where tokens come from and how to read them, from the environment (``SALESFLOW_AUTH_*``; one issuer serves every
service, each service checks its own audience)."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class AuthSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="SALESFLOW_AUTH_", extra="ignore", frozen=True)

    issuer: str = Field(description="the OIDC issuer, exactly as in the tokens' iss claim, e.g. "
                                    "http://127.0.0.1:8180/realms/salesflow")
    jwks_url: str | None = Field(default=None, description="the issuer's JWKS; default: jwks_uri from "
                                                          "<issuer>/.well-known/openid-configuration")
    audience: str | None = Field(default=None, description="the aud this service accepts; default "
                                                          "salesflow-<service>")
    algorithms: list[str] = Field(default=["RS256", "ES256", "PS256"],
                                  description="accepted signature algorithms (never 'none' or HMAC)")
    leeway_seconds: int = Field(default=30, ge=0, le=300, description="clock skew allowed on exp/nbf/iat")
    subject_claim: str = "sub"
    roles_claim: str = Field(default="realm_access.roles", description="dotted path to the list of roles")
    team_claim: str = Field(default="team", description="dotted path to the person's team id")
    scope_claim: str = Field(default="scope", description="space-separated scopes (RFC 8693) or a list")
    jwks_max_age_seconds: float = Field(default=600.0, gt=0, description="refetch the keys this often")
    jwks_refresh_cooldown_seconds: float = Field(
        default=10.0, ge=0, description="at most one refetch per this interval for unknown key ids, so garbage "
                                        "tokens cannot make every request call the issuer")
    http_timeout_seconds: float = Field(default=5.0, gt=0)
    api_keys_file: str | None = Field(default=None, description="JSON file of hashed static API keys for systems "
                                                               "that cannot do OAuth (shared/auth/api_keys.py)")
    browser_client_id: str = Field(default="salesflow-dashboard",
                                   description="the public OIDC client the dashboard signs people in with")
    cookie_secure: bool | None = Field(default=None, description="mark the session cookie Secure; default: when "
                                                                 "the page was requested over https")

    def audience_for(self, service: str) -> str:
        return self.audience or f"salesflow-{service}"
