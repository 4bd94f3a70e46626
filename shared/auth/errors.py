"""Why a call is refused: 401 (who are you?) and 403 (not you). Out-of-scope ids are answered by each service's own
not-found error (404), so a caller learns nothing about what exists outside its scope."""

from __future__ import annotations

from shared.domain.aggregate import DomainError


class ForbiddenError(DomainError):
    """The caller is authenticated but its role or scopes do not allow this operation."""

    code = "forbidden"
    http_status = 403


class AuthenticationError(Exception):
    """No credentials, or credentials that do not check out (answered 401 with ``WWW-Authenticate``)."""

    def __init__(self, reason: str | None) -> None:
        super().__init__(reason or "authentication required")
        self.reason = reason


class BrowserLoginRequiredError(AuthenticationError):
    """A page (not an API call) needs a signed-in browser: answered 401 with a page that goes to the sign-in."""

    def __init__(self, reason: str | None, *, next_path: str) -> None:
        super().__init__(reason)
        self.next_path = next_path
