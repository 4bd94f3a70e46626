"""Work queues and filtered lead lists (issue 17, item 5): the filters a consultant or manager narrows a list by,
who sees whose list, and the page the queries answer — rules here, SQL in adapters/work_queue_queries.py.

"Mine" is the caller's own work (items whose assignee — the lead's owner unless after-sales named a consultant — is
the caller). "Team" is a manager's team (optionally one consultant of it) or, for a director, every team (or one);
a consultant asking for the team's queue is refused (403), a manager naming a consultant of another team finds
nobody (404), as everywhere else in the leads service (app/access.py).
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

from services.leads.app import access
from services.leads.domain.values import Status, parse_grade, parse_stage
from services.leads.domain.work_queue import WorkKind
from shared.auth.errors import ForbiddenError
from shared.auth.principal import Principal, Role
from shared.domain import InvalidFieldError
from shared.pagination import Page


@dataclass(frozen=True, slots=True)
class LeadFilters:
    """The filters every list of leads takes (None: not filtered). ``idle_days``: no activity for at least that
    many days; ``lost_reason``: lost leads whose approved loss had that reason."""

    grade: str | None = None
    stage: str | None = None
    channel: str | None = None
    idle_days: int | None = None
    lost_reason: str | None = None

    def checked(self, *, channels: Collection[str], loss_reasons: Collection[str]) -> LeadFilters:
        """The same filters, or InvalidFieldError naming the first unknown value (422)."""
        if self.grade is not None:
            parse_grade(self.grade)
        if self.stage is not None:
            parse_stage(self.stage)
        if self.channel is not None and self.channel not in channels:
            raise InvalidFieldError("channel", f"unknown channel {self.channel!r}; known: "
                                               f"{', '.join(sorted(channels))}")
        if self.lost_reason is not None and self.lost_reason not in loss_reasons:
            raise InvalidFieldError("lost_reason", f"unknown loss reason {self.lost_reason!r}; known: "
                                                   f"{', '.join(sorted(loss_reasons))}")
        return self

    def idle_since(self, now: datetime) -> datetime | None:
        """Leads whose last activity is at or before this moment are idle for ``idle_days``."""
        return None if self.idle_days is None else now - timedelta(days=self.idle_days)


@dataclass(frozen=True, slots=True)
class WorkFilters:
    leads: LeadFilters = LeadFilters()
    kind: str | None = None
    overdue_only: bool = False

    def checked(self, *, channels: Collection[str], loss_reasons: Collection[str]) -> WorkFilters:
        self.leads.checked(channels=channels, loss_reasons=loss_reasons)
        if self.kind is not None and self.kind not in set(WorkKind):
            raise InvalidFieldError("kind", f"unknown kind {self.kind!r}; known: {', '.join(WorkKind)}")
        return self


LEAD_STATUSES = (Status.OPEN.value, Status.LOST.value, Status.INVALID.value)


def list_status(status: str | None, filters: LeadFilters) -> str:
    """Which leads a list shows: open by default, lost when a lost reason is asked for."""
    if status is None:
        return Status.LOST.value if filters.lost_reason is not None else Status.OPEN.value
    if status not in LEAD_STATUSES:
        raise InvalidFieldError("status", f"unknown status {status!r}; known: {', '.join(LEAD_STATUSES)}")
    if filters.lost_reason is not None and status != Status.LOST.value:
        raise InvalidFieldError("lost_reason", "only lost leads have a lost reason (status=lost)")
    return status


@dataclass(frozen=True, slots=True)
class ListScope:
    """Whose rows a list may contain, as the queries apply it: everything, one team, one assignee (own work), a
    consultant's own leads plus their team's pool. Several set: a row matching any of them."""

    everything: bool = False
    team_id: str | None = None
    own: str | None = None
    pool_team_id: str | None = None


def lead_list_scope(caller: Principal) -> ListScope:
    """The leads a caller may list (app/access.py's ``can_see``, as a query can apply it before paging)."""
    if caller.has_role(Role.DIRECTOR) or (caller.is_system and caller.has_scope(access.READ_SCOPE)):
        return ListScope(everything=True)
    if caller.has_role(Role.MANAGER) and caller.team_id is not None:
        return ListScope(team_id=caller.team_id)
    if caller.has_role(Role.CONSULTANT):
        return ListScope(own=caller.subject, pool_team_id=caller.team_id)
    return ListScope(own=caller.subject)


def my_work_scope(caller: Principal) -> ListScope:
    if not caller.is_person:
        raise ForbiddenError("a work queue belongs to a person of the sales organisation")
    return ListScope(own=caller.subject)


def team_work_scope(caller: Principal, *, team_id: str | None) -> ListScope:
    """A manager's own team (another team_id: 404-like emptiness is not enough, so 403), a director any."""
    if caller.has_role(Role.DIRECTOR):
        return ListScope(everything=team_id is None, team_id=team_id)
    if caller.has_role(Role.MANAGER) and caller.team_id is not None:
        if team_id is not None and team_id != caller.team_id:
            raise ForbiddenError("a manager sees their own team's work queue")
        return ListScope(team_id=caller.team_id)
    raise ForbiddenError("the team's work queue is for managers and directors; yours is GET /v1/work-queue")


class WorkQueueQueries(Protocol):
    async def work_queue(self, scope: ListScope, filters: WorkFilters, *, assignee_id: str | None,
                         now: datetime, cursor: str | None, limit: int) -> Page[dict[str, Any]]:
        """Due work in queue order (domain/work_queue.py), one page from after ``cursor``."""

    async def lead_list(self, scope: ListScope, filters: LeadFilters, *, status: str, owner_id: str | None,
                        team_id: str | None, now: datetime, cursor: str | None, limit: int
                        ) -> Page[dict[str, Any]]:
        """Leads by grade (H first), then capture time, one page from after ``cursor``."""

    async def consultant_team(self, consultant_id: str) -> tuple[bool, str | None]:
        """Whether the consultant exists, and their team."""
