"""What the application layer needs from the outside world; adapters implement these."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

from services.leads.domain.customer_card import CustomerCard
from services.leads.domain.work_queue import WorkItem
from shared.commands import CommandContext as CommandContext  # re-exported for the handlers
from shared.domain import Aggregate
from shared.idempotency import IdempotentRequest
from shared.unit_of_work.core import TimerPlan
from shared.unit_of_work.core import UnitOfWorkFactory as KernelUnitOfWorkFactory

if TYPE_CHECKING:
    from services.leads.app.work_queue import LeadFilters

Clock = Callable[[], datetime]
IdFactory = Callable[[], str]
A = TypeVar("A", bound=Aggregate)


@dataclass(frozen=True, slots=True)
class PhoneLookup:
    """What capturing needs to know about a phone, read while holding its lock."""

    external_id_lead: str | None  # the lead already recorded for the command's (source system, external id)
    open_lead: str | None  # the newest open lead with this phone
    known_customer: str | None  # the customer this phone belongs to


@dataclass(frozen=True, slots=True)
class TeamRotation:
    """One pick of a team's round robin: its active consultants in rotation (registration) order and a ticket,
    the team's next number (consecutive picks get consecutive tickets)."""

    consultants: list[str]
    ticket: int


@dataclass(frozen=True, slots=True)
class OutreachCandidate:
    """A customer an outreach batch's filters selected, by the lead that selected them."""

    lead_id: str
    customer_id: str
    name: str
    phone: str
    channel: str
    interest: str | None


class UnitOfWork(Protocol):
    """One database transaction: the kernel's unit of work (``load``/``get``/``add``/``commit``, see
    ``shared.unit_of_work``) plus the leads lookups. Reads happen first; ``link_*`` queue lookup rows; ``commit``
    appends every added aggregate's events in *one* append call and only then writes the lookup/query rows and
    timers — so the transaction gets its id at the append (no StreamOrderConflictError from earlier writes) and
    effect and lookups commit together."""

    async def load(self, cls: type[A], aggregate_id: str, *, expected_version: int | None = None) -> A | None: ...
    async def get(self, cls: type[A], aggregate_id: str, *, missing: Callable[[], Exception],
                  expected_version: int | None = None) -> A: ...
    async def load_repeat(self, cls: type[A], request: IdempotentRequest | None) -> A | None:
        """What an earlier attempt of this idempotent create made (shared/idempotency.py)."""
    def add(self, aggregate: Aggregate, *, timers: Iterable[TimerPlan] = ()) -> None:
        """Commit the aggregate's pending events with the unit of work, and these kernel timer plans with them."""
    async def commit(self, context: CommandContext, now: datetime) -> dict[str, int]: ...

    async def lock(self, key: str) -> None:
        """A transaction-scoped advisory lock (serialises round robin per team)."""

    async def lock_phone(
        self, phone: str, *, source_system: str | None = None, external_id: str | None = None,
        rotation_team: str | None = None,
    ) -> PhoneLookup:
        """Take the phone's transaction lock (everyone capturing this phone waits, so two channels racing
        cannot both create a lead), then read the dedupe facts — one round trip. With ``rotation_team``, the
        caller will take that team's rotation ticket if the phone has neither the request's lead nor an open lead
        (a new lead): an adapter may take it in the same round trip and hand it to ``take_rotation_ticket``."""

    async def lead_for_referral(self, referral_id: str) -> str | None: ...
    async def lead_for_order(self, order_id: str) -> str | None: ...
    async def take_rotation_ticket(self, team_id: str) -> TeamRotation | None:
        """Hold the team's round-robin lock *shared* (captures run side by side; organisation changes, which take
        it exclusively, wait for them), read the active consultants and take a ticket — one round trip; None for an
        unknown team."""

    async def open_leads_owned_by(self, consultant_id: str) -> list[str]: ...
    async def leads_of_customer(self, customer_id: str) -> list[str]:
        """The customer's leads, open or closed, oldest first."""

    async def vehicle_of_booking(self, booking_id: str) -> str | None:
        """The fleet vehicle a test-drive booking is on."""

    async def visits_of_customer(self, customer_id: str) -> int:
        """How many reception register entries the customer's leads have — a merged duplicate's too (read under the
        customer's visit lock)."""

    async def campaign_exists(self, campaign_id: str) -> bool: ...
    async def campaign_with_code(self, code: str) -> str | None:
        """The campaign whose code this is (codes are unique; a UTM ``utm_campaign`` is matched against them)."""

    def link_customer(self, phone: str, customer_id: str) -> None: ...
    def link_external_id(self, source_system: str, external_id: str, lead_id: str) -> None: ...
    def link_referral(self, referral_id: str, lead_id: str) -> None: ...
    def link_order(self, order_id: str, lead_id: str) -> None: ...
    async def outreach_candidates(self, team_id: str, audience: str, filters: LeadFilters, *, now: datetime,
                                  limit: int) -> list[OutreachCandidate]:
        """The team's lost customers (newest lead lost, none open) or dormant leads the filters select, in the lead
        list's order (grade, capture time), at most ``limit``."""
    def plan_work(self, items: Sequence[WorkItem]) -> None:
        """Work that is not the lead's own state (after-sales' return visits): written with the unit of work."""
    def finish_work(self, item_ids: Sequence[str]) -> None:
        """That work is done: its rows leave the work queue with the unit of work."""


UnitOfWorkFactory = KernelUnitOfWorkFactory[UnitOfWork]


class LeadHistory(Protocol):
    async def history(self, lead_id: str) -> list[dict[str, object]]:
        """Who did what when: the lead's stored events in order."""


class LeadQueries(Protocol):
    async def lead_row(self, lead_id: str) -> dict[str, Any] | None: ...
    async def lead_for_order(self, order_id: str) -> str | None: ...
    async def leads_of_phone(self, phone: str) -> list[dict[str, Any]]: ...
    async def open_leads(self, owner_id: str, grade: str | None) -> list[dict[str, Any]]: ...
    async def follow_ups(self, owner_id: str, due_before: datetime, *, after: tuple[Any, ...] | None = None,
                         limit: int | None = None) -> list[dict[str, Any]]: ...
    async def pool(self, team_id: str | None, *, after: tuple[Any, ...] | None = None,
                   limit: int | None = None) -> list[dict[str, Any]]: ...
    async def consultants(self, team_id: str | None) -> list[dict[str, Any]]: ...


class CustomerQueries(Protocol):
    async def customer_leads(self, customer_id: str) -> list[dict[str, Any]]: ...
    async def customer_card(self, customer_id: str) -> tuple[CustomerCard, list[dict[str, object]]]: ...


class CampaignQueries(Protocol):
    async def campaigns(self) -> list[dict[str, Any]]: ...
    async def campaign(self, campaign_id: str) -> dict[str, Any] | None:
        """The campaign's row with its spend entries, or None."""


class ShowroomQueries(Protocol):
    async def visit_row(self, visit_id: str) -> dict[str, Any] | None: ...
    async def test_drive_row(self, booking_id: str) -> dict[str, Any] | None: ...
    async def fleet(self) -> list[dict[str, Any]]: ...
    async def calendar(self, vehicle_id: str, *, starts_from: datetime, starts_to: datetime
                       ) -> list[dict[str, Any]]: ...
    async def visits(self, *, arrived_from: datetime, arrived_to: datetime, team_id: str | None,
                     consultant_id: str | None, after: tuple[Any, ...] | None = None,
                     limit: int | None = None) -> list[dict[str, Any]]: ...
