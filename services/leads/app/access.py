"""Who may see and do what with leads (DESIGN §8), as small pure rules over the caller and a lead's owner, team
and pool flag — the handlers and queries call them, so the rules hold whatever the transport.

Scopes: a consultant works their own leads and sees their team's pool; a manager their team's leads; a director
all. Systems act only through scopes: ``leads:capture`` (the shop, the call center) and ``leads:read``. Outside the
scope a lead does not exist (404); inside the scope but with the wrong role, 403. Full phone numbers go to the
owner, the team's manager and systems with ``leads:read``; everyone else sees ``138****5678``.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Protocol

from services.leads.domain.errors import (
    ConsultantNotFoundError,
    CustomerNotFoundError,
    LeadNotFoundError,
    VisitNotFoundError,
)
from shared.auth.errors import ForbiddenError
from shared.auth.principal import Principal, Role
from shared.domain.phone import mask_phone_for_display

CAPTURE_SCOPE = "leads:capture"
READ_SCOPE = "leads:read"
PEOPLE_WHO_CAPTURE = (Role.CONSULTANT, Role.MANAGER, Role.DIRECTOR)


class LeadRule(Protocol):
    def __call__(self, caller: Principal, lead_id: str, /, *, owner_id: str | None, team_id: str | None,
                 pooled: bool) -> None: ...


def can_see(caller: Principal, *, owner_id: str | None, team_id: str | None, pooled: bool) -> bool:
    if caller.has_role(Role.DIRECTOR):
        return True
    if caller.has_role(Role.MANAGER) and caller.team_id is not None and team_id == caller.team_id:
        return True
    if caller.has_role(Role.CONSULTANT) and (
            owner_id == caller.subject or (pooled and caller.team_id is not None and team_id == caller.team_id)):
        return True
    return caller.is_system and caller.has_scope(READ_SCOPE)


def sees_full_phone(caller: Principal, *, owner_id: str | None, team_id: str | None) -> bool:
    if caller.is_system:
        return caller.has_scope(READ_SCOPE)
    if owner_id is not None and owner_id == caller.subject:
        return True
    return caller.has_role(Role.MANAGER) and caller.team_id is not None and team_id == caller.team_id


def require_capture(caller: Principal) -> None:
    if not (caller.has_role(*PEOPLE_WHO_CAPTURE) or caller.has_scope(CAPTURE_SCOPE)):
        raise ForbiddenError(f"capturing leads needs a sales role or the {CAPTURE_SCOPE} scope")


def require_visible(caller: Principal, lead_id: str, *, owner_id: str | None, team_id: str | None,
                    pooled: bool) -> None:
    if not can_see(caller, owner_id=owner_id, team_id=team_id, pooled=pooled):
        raise LeadNotFoundError(f"no lead {lead_id}", lead_id=lead_id)


def require_work(caller: Principal, lead_id: str, *, owner_id: str | None, team_id: str | None,
                 pooled: bool) -> None:
    """Grade, follow up, schedule, move the stage, request a loss, invalidate: the owner, the team's manager or a
    director. A pooled lead is seen by the team's consultants but worked only once claimed."""
    require_visible(caller, lead_id, owner_id=owner_id, team_id=team_id, pooled=pooled)
    if caller.has_role(Role.DIRECTOR, Role.MANAGER) or (caller.has_role(Role.CONSULTANT)
                                                         and owner_id == caller.subject):
        return
    raise ForbiddenError("only the lead's owner, the team's manager or a director may change this lead")


def require_manage(caller: Principal, lead_id: str, *, owner_id: str | None, team_id: str | None,
                   pooled: bool) -> None:
    """Approve or reject a loss, reassign: the team's manager or a director."""
    require_visible(caller, lead_id, owner_id=owner_id, team_id=team_id, pooled=pooled)
    if not caller.has_role(Role.DIRECTOR, Role.MANAGER):
        raise ForbiddenError("this needs the team's manager or a director")


def require_in_scope_consultant(caller: Principal, consultant_id: str, team_id: str | None) -> None:
    """A manager hands leads only to consultants of their own team (others do not exist for them)."""
    if caller.has_role(Role.DIRECTOR):
        return
    if caller.team_id is None or team_id != caller.team_id:
        raise ConsultantNotFoundError(f"no consultant {consultant_id}", consultant_id=consultant_id)


def consultants_visible(caller: Principal, rows: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    if caller.has_role(Role.DIRECTOR):
        return list(rows)
    if not caller.is_person:
        raise ForbiddenError("the consultant list is for people of the organisation")
    return [row for row in rows if caller.team_id is not None and row.get("team_id") == caller.team_id]


def require_claim_for(caller: Principal, consultant_id: str) -> None:
    """A consultant claims for themselves; a manager or director may hand a pool lead to a consultant."""
    if caller.has_role(Role.DIRECTOR, Role.MANAGER) or (caller.has_role(Role.CONSULTANT)
                                                         and consultant_id == caller.subject):
        return
    raise ForbiddenError("a consultant claims pool leads for themselves only")


def require_organisation(caller: Principal, team_id: str | None) -> None:
    """Teams and consultants: a director anywhere; a manager within their own team."""
    if caller.has_role(Role.DIRECTOR):
        return
    if caller.has_role(Role.MANAGER) and team_id is not None and team_id == caller.team_id:
        return
    raise ForbiddenError("organisation changes need a director, or the manager of that team")


# --- the showroom floor (reception register, test drives) ---

PEOPLE_ON_THE_FLOOR = (Role.CONSULTANT, Role.MANAGER, Role.DIRECTOR)


def require_reception(caller: Principal) -> None:
    """Registering a visitor: the sales floor's people (a system has no one standing at the door)."""
    if not caller.has_role(*PEOPLE_ON_THE_FLOOR):
        raise ForbiddenError("the reception register is kept by consultants, managers and directors")


def require_fleet(caller: Principal) -> None:
    """The test-drive fleet is a manager's or director's to change."""
    if not caller.has_role(Role.MANAGER, Role.DIRECTOR):
        raise ForbiddenError("the test-drive fleet is changed by a manager or a director")


def require_floor(caller: Principal) -> None:
    """Reading the fleet and its calendar: the sales floor's people."""
    if not caller.has_role(*PEOPLE_ON_THE_FLOOR):
        raise ForbiddenError("the test-drive fleet is for the sales floor's people")


def can_see_visit(caller: Principal, *, receptionist_id: str | None, consultant_id: str | None,
                  team_id: str | None) -> bool:
    """A register entry: who registered or received the visitor, the team's manager, a director."""
    if caller.has_role(Role.DIRECTOR):
        return True
    if caller.has_role(Role.MANAGER) and caller.team_id is not None and team_id == caller.team_id:
        return True
    return caller.has_role(Role.CONSULTANT) and caller.subject in (receptionist_id, consultant_id)


def require_visit(caller: Principal, visit_id: str, *, receptionist_id: str | None, consultant_id: str | None,
                  team_id: str | None) -> None:
    if not can_see_visit(caller, receptionist_id=receptionist_id, consultant_id=consultant_id, team_id=team_id):
        raise VisitNotFoundError(f"no visit {visit_id}", visit_id=visit_id)


def visits_visible(caller: Principal, rows: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    if not caller.has_role(*PEOPLE_ON_THE_FLOOR):
        raise ForbiddenError("the reception register is for the sales floor's people")
    return [row for row in rows if can_see_visit(caller, receptionist_id=row.get("receptionist_id"),
                                                 consultant_id=row.get("consultant_id"), team_id=row.get("team_id"))]


# --- the customer card ---


@dataclass(frozen=True, slots=True)
class LeadScope:
    """What the rules need of one of a customer's leads."""

    owner_id: str | None
    team_id: str | None
    pooled: bool


def require_customer_visible(caller: Principal, customer_id: str, leads: Iterable[LeadScope]) -> None:
    """A customer exists for the caller if one of their leads does."""
    if not any(can_see(caller, owner_id=lead.owner_id, team_id=lead.team_id, pooled=lead.pooled) for lead in leads):
        raise CustomerNotFoundError(f"no customer {customer_id}", customer_id=customer_id)


def require_customer_work(caller: Principal, customer_id: str, leads: Iterable[LeadScope]) -> None:
    """Editing a customer's card, opening the customer page: someone who may work one of the customer's leads (see
    require_work)."""
    scopes = list(leads)
    require_customer_visible(caller, customer_id, scopes)
    for lead in scopes:
        try:
            require_work(caller, customer_id, owner_id=lead.owner_id, team_id=lead.team_id, pooled=lead.pooled)
            return
        except (ForbiddenError, LeadNotFoundError):
            continue
    raise ForbiddenError("only an owner of one of the customer's leads, the team's manager or a director may work "
                         "with the customer")


def shown(caller: Principal, row: dict[str, Any]) -> dict[str, Any]:
    """A lead row as this caller may see it: the phone masked outside the need-to-know scope (history too)."""
    if sees_full_phone(caller, owner_id=row.get("owner_id"), team_id=row.get("team_id")):
        return row
    masked = {**row, "phone": mask_phone_for_display(row.get("phone"))}
    if "history" in row:
        masked["history"] = [masked_entry(entry) for entry in row["history"]]
    return masked


def masked_entry(entry: dict[str, Any]) -> dict[str, Any]:
    """A history entry with every phone-like value of its data masked."""
    data = entry.get("data")
    if not isinstance(data, dict):
        return entry
    return {**entry, "data": {k: mask_phone_for_display(v) if "phone" in k and isinstance(v, str) else v
                              for k, v in data.items()}}


def visible(caller: Principal, rows: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """The rows of a list the caller may see, each shown as they may see it."""
    return [shown(caller, row) for row in rows
            if can_see(caller, owner_id=row.get("owner_id"), team_id=row.get("team_id"),
                       pooled=bool(row.get("pooled")))]


# --- bulk import (app/imports.py) ---

def require_import(caller: Principal, team_id: str | None) -> None:
    """Loading a customer list: a director anywhere; a manager into their own team (the rows are assigned round
    robin in it)."""
    if caller.has_role(Role.DIRECTOR):
        return
    if caller.has_role(Role.MANAGER) and team_id is not None and team_id == caller.team_id:
        return
    raise ForbiddenError("a bulk import needs a director, or the manager of the team it assigns to")


def may_see_import(caller: Principal, *, team_id: str | None, requested_by: str) -> bool:
    """A job's report (it names the rows' phones): whoever uploaded it, the team's manager, a director."""
    if caller.has_role(Role.DIRECTOR) or caller.subject == requested_by:
        return True
    return caller.has_role(Role.MANAGER) and team_id is not None and team_id == caller.team_id


def sees_import_phones(caller: Principal, *, team_id: str | None, requested_by: str) -> bool:
    """The phones of a job's rows as uploaded: the uploader and the team's manager (need-to-know, as a lead's)."""
    if caller.subject == requested_by:
        return True
    return caller.has_role(Role.MANAGER) and team_id is not None and team_id == caller.team_id


def require_campaigns(caller: Principal) -> None:
    """Campaigns and their spend are a manager's or director's to create, change and record (like the fleet)."""
    if not caller.has_role(Role.MANAGER, Role.DIRECTOR):
        raise ForbiddenError("campaigns are created, changed and charged by a manager or a director")


# --- outreach batches (app/outreach.py) ---

def outreach_team(caller: Principal, team_id: str | None) -> str | None:
    """Whose customers a batch reaches: a manager's own team (another team_id: 403), a director's ``team_id``."""
    if caller.has_role(Role.DIRECTOR):
        return team_id
    if caller.has_role(Role.MANAGER) and caller.team_id is not None:
        if team_id is not None and team_id != caller.team_id:
            raise ForbiddenError("a manager's outreach batch reaches their own team's customers")
        return caller.team_id
    raise ForbiddenError("outreach batches are a manager's or director's")


def may_see_outreach(caller: Principal, *, team_id: str | None, created_by: str | None) -> bool:
    """A batch (it names customers and their leads): whoever created it, the team's manager, a director."""
    if caller.has_role(Role.DIRECTOR) or (created_by is not None and caller.subject == created_by):
        return True
    return caller.has_role(Role.MANAGER) and team_id is not None and team_id == caller.team_id
