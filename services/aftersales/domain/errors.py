"""Business-rule violations of the after-sales domain. Each has a machine-readable ``code`` and an HTTP status;
the HTTP layer answers them in the one error format (``shared.runtime.http``)."""

from __future__ import annotations

from shared.domain import DomainError


class NotFoundError(DomainError):
    code = "not_found"
    http_status = 404


class CarePlanNotFoundError(NotFoundError):
    code = "care_plan_not_found"


class VisitNotFoundError(NotFoundError):
    code = "visit_not_found"


class FollowUpNotFoundError(NotFoundError):
    code = "follow_up_not_found"


class FollowUpAlreadyClosedError(DomainError):
    code = "follow_up_already_closed"
    http_status = 409


class ComplaintNotFoundError(NotFoundError):
    code = "complaint_not_found"


class VisitAlreadyCompletedError(DomainError):
    code = "visit_already_completed"
    http_status = 409


class ScoreOutOfRangeError(DomainError):
    code = "score_out_of_range"
    http_status = 422


class ComplaintNotOpenError(DomainError):
    """Acknowledging or resolving a resolved complaint (reopen it first)."""

    code = "complaint_not_open"
    http_status = 409


class ComplaintAlreadyAcknowledgedError(DomainError):
    code = "complaint_already_acknowledged"
    http_status = 409


class ComplaintNotResolvedError(DomainError):
    """Only a resolved complaint can be reopened."""

    code = "complaint_not_resolved"
    http_status = 409


class InsufficientPointsError(DomainError):
    code = "insufficient_points"
    http_status = 409


class InvalidPointsError(DomainError):
    code = "invalid_points"
    http_status = 422


class DuplicateReferenceError(DomainError):
    """A redemption reference was already used for a different change (idempotency keys must not be reused)."""

    code = "duplicate_reference"
    http_status = 409


class ReferralConflictError(DomainError):
    """The referral id is taken by a referral with different content."""

    code = "referral_conflict"
    http_status = 409
