"""Who may do what with quotes and orders (DESIGN §8), applied by the HTTP layer before a handler runs.

- Consultants, managers and directors sell: a consultant quotes and works only their own quotes and orders (someone
  else's answer 404); a manager those of their team; a director all of them. Orders learns the team from the token
  of whoever issues the quote (the consultant's or manager's ``team`` claim, recorded on QuoteIssued and carried to
  ContractSigned), so it needs no copy of leads' team directory. Records without a team — shop checkouts, a
  director's own quotes, quotes from before teams were recorded — are the dealership's shared queue: every manager
  sees them.
- The discount a caller may give comes from the caller's **token role**, never from the request: consultant →
  ``consultant``, manager → ``sales_manager``, director → ``general_manager`` (limits in config/discounts.json).
  A discount above the consultant's limit is therefore given by a manager's own call — that call is the approval.
- Refunds and cancellations: managers and directors. Shop checkouts: systems with ``orders:checkout``.
- The catalogue and price list: directors publish versions; sellers read them.
- ``/admin``: ops.
"""

from __future__ import annotations

from services.orders.app.common import OrderNotFoundError, QuoteNotFoundError
from services.orders.app.ports import TeamScope
from shared.auth.errors import ForbiddenError
from shared.auth.principal import Principal, Role, managed_team

SELLERS = (Role.CONSULTANT, Role.MANAGER, Role.DIRECTOR)
SUPERVISORS = (Role.MANAGER, Role.DIRECTOR)
CATALOGUE_EDITORS = (Role.DIRECTOR,)  # the price list is the dealership's, not a team's
CHECKOUT_SCOPE = "orders:checkout"
# Strongest first: a person with several roles gets the highest limit among them.
DISCOUNT_ROLE_OF = ((Role.DIRECTOR, "general_manager"), (Role.MANAGER, "sales_manager"),
                    (Role.CONSULTANT, "consultant"))


def discount_role(caller: Principal) -> str:
    """The discount-policy role the caller's own token gives them."""
    for role, policy_role in DISCOUNT_ROLE_OF:
        if caller.has_role(role):
            return policy_role
    raise ForbiddenError("quotes are issued by consultants, managers and directors")


def require_quote_for(caller: Principal, consultant_id: str) -> None:
    """A consultant quotes in their own name; managers and directors for anyone."""
    if caller.has_role(*SUPERVISORS):
        return
    if caller.has_role(Role.CONSULTANT) and consultant_id == caller.subject:
        return
    raise ForbiddenError("a consultant issues quotes in their own name only")


def selling_team(caller: Principal) -> str | None:
    """The team a quote issued by this caller is sold in: a consultant's or manager's own; None for a director."""
    if caller.has_role(Role.DIRECTOR):
        return None
    return caller.team_id


def team_scope(caller: Principal) -> TeamScope | None:
    """The orders a supervisor's lists show: a director all (None), a manager their team's and the team-less."""
    if caller.has_role(Role.DIRECTOR):
        return None
    return TeamScope(managed_team(caller))


def _in_scope(caller: Principal, consultant_id: str | None, team_id: str | None) -> bool:
    if caller.has_role(Role.DIRECTOR):
        return True
    if caller.has_role(Role.MANAGER) and team_id in (None, managed_team(caller)):
        return True
    return caller.has_role(Role.CONSULTANT) and consultant_id == caller.subject


def require_own_quote(caller: Principal, quote_id: str, consultant_id: str, team_id: str | None) -> None:
    if not _in_scope(caller, consultant_id, team_id):
        raise QuoteNotFoundError(f"no quote {quote_id}")


def require_own_order(caller: Principal, order_id: str, consultant_id: str | None, team_id: str | None) -> None:
    if not _in_scope(caller, consultant_id, team_id):
        raise OrderNotFoundError(f"no order {order_id}")


def require_supervisor(caller: Principal) -> None:
    if not caller.has_role(*SUPERVISORS):
        raise ForbiddenError("this needs a manager or a director")


def own_listing(caller: Principal, consultant_id: str) -> TeamScope | None:
    """A consultant lists only their own open orders (another consultant's id answers 404, as if unknown); a
    supervisor any consultant's, narrowed to their :func:`team_scope`."""
    if caller.has_role(*SUPERVISORS):
        return team_scope(caller)
    if consultant_id != caller.subject:
        raise OrderNotFoundError(f"no orders of consultant {consultant_id} for you")
    return None
