"""Who sees which after-sales records (DESIGN §8), applied by the HTTP layer before a handler runs.

Everything here hangs off a care plan, which knows the consultant who sold the order and the order's selling team
(``Delivered.team_id``, recorded by orders from the seller's token). A consultant works the plans of the orders
they sold, a manager their team's, a director all; the desk is people only (systems have no scope here).
Complaints follow the plan of their order; a customer's loyalty account, timeline and referrals follow the
customer's plans (in scope when any of them is). Records without an owner — plans of shop orders sold by no one
or in no team, complaints without an order, customers with no plan, and anything from before the team was
recorded — are the desk's shared queue: every consultant, manager and director sees them. Out of scope is 404.
"""

from __future__ import annotations

from services.aftersales.app.ports import CareScope
from services.aftersales.domain.errors import NotFoundError
from shared.auth.principal import Principal, Role, managed_team

DESK = (Role.CONSULTANT, Role.MANAGER, Role.DIRECTOR)


class CustomerNotFoundError(NotFoundError):
    """A customer all of whose care plans are outside the caller's scope (as if unknown)."""

    code = "customer_not_found"


def care_scope(caller: Principal) -> CareScope | None:
    """The plans this caller may see (None: all of them)."""
    if caller.has_role(Role.DIRECTOR):
        return None
    if caller.has_role(Role.MANAGER):
        return CareScope(consultant=None, team=managed_team(caller))
    return CareScope(consultant=caller.subject, team=None)


def sees_plan(caller: Principal, *, consultant_id: str | None, team_id: str | None) -> bool:
    scope = care_scope(caller)
    if scope is None:
        return True
    if scope.consultant is not None and consultant_id is not None and consultant_id != scope.consultant:
        return False
    return not (scope.team is not None and team_id is not None and team_id != scope.team)
