"""Finding a customer (issue 18): one search box for a name, a phone number in any format, or its last digits.

What the box holds decides what is looked for, so a consultant never says which kind they typed:

- a **phone number** in any format the dedupe index accepts (``shared.domain.phone.normalise_phone``: ``138 1234
  5678``, ``+86-138-1234-5678``, full-width digits) is matched exactly against the customers' numbers, a merged
  duplicate's numbers too (its leads are the survivor's);
- **4 to 10 digits** that are no whole number are the number's **last digits** (``5678``: what a customer reads
  out to a receptionist);
- a **VIN** (17 characters, no I, O or Q; any case, spaces allowed) or a **plate** (沪A·12345, 京AD12345: a
  province character, a letter, 5–6 letters or digits) is matched exactly against the orders' vehicles (orders'
  VehicleAllocated / Delivered, the delivery checklist's registration);
- anything else is a **name**: exact, then prefix (姓 first: ``王`` finds 王小明), then anywhere in the name
  (``小明``). Latin letters ignore case.

Results rank exact matches first (phone, VIN, plate, then exact name), then a name prefix, the last digits, a name
part; within a rank by customer id, which makes the keyset cursor exact. The caller finds only the customers they
may work (the customer page's rule: the owner of one of the customer's leads, that team's manager, a director);
others are not there — a system or an ops person is refused (403), the box is for the sales floor.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from enum import IntEnum
from typing import Any, Protocol

from shared.auth.errors import ForbiddenError
from shared.auth.principal import Principal, Role
from shared.domain import InvalidFieldError
from shared.domain.phone import InvalidPhoneError, normalise_phone
from shared.pagination import Page

CUSTOMER_SEARCH = "customer-search"  # the cursor's list name (shared/pagination.py)
MAX_QUERY_LENGTH = 100
_SEPARATORS = re.compile(r"[\s\-().·/]")
_DIGITS = re.compile(r"^[0-9]{4,10}$")
_SPACES = re.compile(r"\s+")


_VIN = re.compile(r"^[A-HJ-NPR-Z0-9]{17}$")
_PLATE = re.compile(r"^[\u4e00-\u9fff][A-Z][A-Z0-9]{4,6}[\u4e00-\u9fff]?$")
_PLATE_SEPARATORS = re.compile(r"[\s\-·.•]")


class Match(IntEnum):
    """How a customer matched, best first (the rank results are ordered by)."""

    PHONE = 0
    VIN = 1
    PLATE = 2
    NAME = 3
    NAME_PREFIX = 4
    PHONE_LAST_DIGITS = 5
    NAME_PART = 6


def normalise_plate(raw: str) -> str:
    """One spelling of a plate for matching: full-width folded, upper case, no spaces or dots (沪a·12345 → 沪A12345)."""
    return _PLATE_SEPARATORS.sub("", unicodedata.normalize("NFKC", raw)).upper()


@dataclass(frozen=True, slots=True)
class SearchTerms:
    """What one query looks for; None where it does not apply."""

    phone: str | None = None  # E.164
    phone_last_digits: str | None = None
    vin: str | None = None
    plate: str | None = None
    name: str | None = None


def search_terms(q: str) -> SearchTerms:
    """Read the search box (422 on the field ``q`` when it holds nothing to look for)."""
    text = _SPACES.sub(" ", unicodedata.normalize("NFKC", q)).strip()
    if not text:
        raise InvalidFieldError("q", "is empty: give a name, a phone number or its last 4+ digits")
    if len(text) > MAX_QUERY_LENGTH:
        raise InvalidFieldError("q", f"at most {MAX_QUERY_LENGTH} characters")
    compact = _SEPARATORS.sub("", text)
    try:
        return SearchTerms(phone=normalise_phone(text))
    except InvalidPhoneError:
        pass
    vehicle = compact.upper()
    if _VIN.match(vehicle) and not vehicle.isdigit():
        return SearchTerms(vin=vehicle)
    if _PLATE.match(normalise_plate(text)):
        return SearchTerms(plate=normalise_plate(text))
    if compact.isdigit():
        if _DIGITS.match(compact):
            return SearchTerms(phone_last_digits=compact)
        raise InvalidFieldError("q", "digits are a phone number (any format) or its last 4 to 10 digits")
    return SearchTerms(name=text)


@dataclass(frozen=True, slots=True)
class CustomerSearchScope:
    """Whose customers a caller finds: every one (a director), a team's (its manager), or the leads one owns."""

    everyone: bool = False
    team_id: str | None = None
    owner_id: str | None = None


def customer_search_scope(caller: Principal) -> CustomerSearchScope:
    if caller.has_role(Role.DIRECTOR):
        return CustomerSearchScope(everyone=True)
    if caller.has_role(Role.MANAGER):
        if caller.team_id is None:
            raise ForbiddenError("a manager without a team has no customers to search")
        return CustomerSearchScope(team_id=caller.team_id)
    if caller.has_role(Role.CONSULTANT):
        return CustomerSearchScope(owner_id=caller.subject)
    raise ForbiddenError("customer search is for consultants, managers and directors")


class CustomerSearch(Protocol):
    async def search(self, terms: SearchTerms, scope: CustomerSearchScope, *, cursor: str | None, limit: int
                     ) -> Page[dict[str, Any]]:
        """Matching customers in the scope, best match first, one row each: ``customer_id``, ``match`` (a
        :class:`Match`), the newest lead's ``lead_id``, ``name``, ``phone``, ``stage``, ``grade``, ``owner_id``,
        ``team_id``, and ``leads`` / ``open_leads`` counts."""
