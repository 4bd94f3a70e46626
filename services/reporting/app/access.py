"""Who sees which reports (DESIGN §8): a consultant their own figures (daily report, commission, grades, their
funnel and targets); a manager their team's funnel and targets and sets the team's targets; a director everything.
Systems have no reports. Exports go through the same rules (they render the filtered report)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from shared.auth.errors import ForbiddenError
from shared.auth.principal import Principal, Role, managed_team

READERS = (Role.CONSULTANT, Role.MANAGER, Role.DIRECTOR)


def funnel_filters(caller: Principal, filters: dict[str, str | None]) -> dict[str, str | None]:
    """The funnel's filters narrowed to the caller's scope (a consultant: themselves; a manager: their team)."""
    if caller.has_role(Role.DIRECTOR):
        return filters
    if caller.has_role(Role.MANAGER):
        return {**filters, "team": managed_team(caller)}
    return {**filters, "consultant": caller.subject}


def require_organisation_wide(caller: Principal) -> None:
    if not caller.has_role(Role.DIRECTOR):
        raise ForbiddenError("the organisation-wide figures are for directors; see /v1/reports/funnel")


def require_campaign_report(caller: Principal) -> None:
    """Channel and campaign cost is the department's: managers (who run campaigns) and directors."""
    if not caller.has_role(Role.MANAGER, Role.DIRECTOR):
        raise ForbiddenError("the channel and campaign cost report is for managers and directors")


def own_rows(caller: Principal, rows: list[dict[str, Any]], team_of: Callable[[str], str | None],
             key: str = "consultant_id") -> list[dict[str, Any]]:
    """Per-consultant rows (daily report, commission, grades and their exports): a consultant sees their own row,
    a manager the rows of their team's consultants (``team_of``: the consultant's team now, from leads'
    ConsultantRegistered / ConsultantMovedTeam), a director all rows."""
    if caller.has_role(Role.DIRECTOR):
        return rows
    if caller.has_role(Role.MANAGER):
        return [row for row in rows
                if caller.team_id is not None and team_of(str(row.get(key) or "")) == caller.team_id]
    return [row for row in rows if row.get(key) == caller.subject]


def team_rows(caller: Principal, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per-team rows (the daily report's teams): a director all, a manager their own team's, a consultant none."""
    if caller.has_role(Role.DIRECTOR):
        return rows
    if caller.has_role(Role.MANAGER):
        return [row for row in rows if caller.team_id is not None and row.get("team_id") == caller.team_id]
    return []


def kpi_scope(caller: Principal) -> dict[str, str | None]:
    """The KPI report's scope: a director everyone, a manager their team, a consultant themselves."""
    if caller.has_role(Role.DIRECTOR):
        return {"team": None, "consultant": None}
    if caller.has_role(Role.MANAGER):
        return {"team": managed_team(caller), "consultant": None}
    return {"team": None, "consultant": caller.subject}


def needs_teams(caller: Principal) -> bool:
    """Whether :func:`own_rows` will ask for consultants' teams (only a manager's view depends on them)."""
    return caller.has_role(Role.MANAGER) and not caller.has_role(Role.DIRECTOR)


def target_lines(caller: Principal, lines: list[dict[str, Any]]) -> list[dict[str, Any]]:
    if caller.has_role(Role.DIRECTOR):
        return lines
    if caller.has_role(Role.MANAGER):
        return [line for line in lines if _in_team(line, caller.team_id)]
    return [line for line in lines if line.get("scope") == "consultant" and line.get("scope_id") == caller.subject]


def lines_of(visible_targets: list[dict[str, Any]], rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Attainment rows of the target lines the caller may see (the rows carry no team: their targets do)."""
    keys = {(t.get("scope"), t.get("scope_id")) for t in visible_targets}
    return [row for row in rows if (row.get("scope"), row.get("scope_id")) in keys]


def _in_team(line: dict[str, Any], team_id: str | None) -> bool:
    if team_id is None:
        return False
    scope = line.get("scope")
    return (scope == "team" and line.get("scope_id") == team_id) or (
        scope == "consultant" and line.get("parent_team") == team_id)


def require_set_target(caller: Principal, *, scope: str, scope_id: str, parent_team: str | None) -> None:
    """Targets: a director any; a manager their own team's line and its consultants' shares."""
    if caller.has_role(Role.DIRECTOR):
        return
    if caller.has_role(Role.MANAGER) and _in_team({"scope": scope, "scope_id": scope_id,
                                                   "parent_team": parent_team}, caller.team_id):
        return
    raise ForbiddenError("targets are set by a director, or by a manager for their own team")
