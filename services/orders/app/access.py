"""Who may do what with quotes and orders (DESIGN §8), applied by the HTTP layer before a handler runs.

- Consultants, managers and directors sell: a consultant quotes and works only their own quotes and orders (someone
  else's answer 404); managers and directors all of them (orders does not track teams; leads does).
- The discount a caller may give comes from the caller's **token role**, never from the request: consultant →
  ``consultant``, manager → ``sales_manager``, director → ``general_manager`` (limits in config/discounts.json).
  A discount above the consultant's limit is therefore given by a manager's own call — that call is the approval.
- Refunds and cancellations: managers and directors. Shop checkouts: systems with ``orders:checkout``.
- ``/admin``: ops.
"""

from __future__ import annotations

from services.orders.app.common import OrderNotFoundError, QuoteNotFoundError
from shared.auth.errors import ForbiddenError
from shared.auth.principal import Principal, Role

SELLERS = (Role.CONSULTANT, Role.MANAGER, Role.DIRECTOR)
SUPERVISORS = (Role.MANAGER, Role.DIRECTOR)
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


def require_own_quote(caller: Principal, quote_id: str, consultant_id: str) -> None:
    if caller.has_role(*SUPERVISORS) or (caller.has_role(Role.CONSULTANT) and consultant_id == caller.subject):
        return
    raise QuoteNotFoundError(f"no quote {quote_id}")


def require_own_order(caller: Principal, order_id: str, consultant_id: str | None) -> None:
    if caller.has_role(*SUPERVISORS) or (caller.has_role(Role.CONSULTANT) and consultant_id == caller.subject):
        return
    raise OrderNotFoundError(f"no order {order_id}")


def require_supervisor(caller: Principal) -> None:
    if not caller.has_role(*SUPERVISORS):
        raise ForbiddenError("this needs a manager or a director")


def own_listing(caller: Principal, consultant_id: str) -> None:
    """A consultant lists only their own open orders (another consultant's id answers 404, as if unknown)."""
    if not caller.has_role(*SUPERVISORS) and consultant_id != caller.subject:
        raise OrderNotFoundError(f"no orders of consultant {consultant_id} for you")
