"""Process managers: how after-sales reacts to other services' public events.

Each reaction runs inside the idempotent consumer's transaction (``tx``) and commits its events with it, so the
effect and the processed event id commit together. On top of that the reactions are idempotent on the business
key — one care plan per order, one delivery award per order, one referral reward per referral — so the same
delivery published again under a *new* event id (an orders-side replay) still schedules nothing twice.
"""

from __future__ import annotations

from datetime import UTC, datetime

import structlog

from services.aftersales.app.ports import AftersalesUnitOfWork, Clock, CommandContext, Tx, UnitOfWorkFactory
from services.aftersales.domain.care_plan import CarePlan
from services.aftersales.domain.loyalty import LoyaltyAccount
from services.aftersales.domain.policy import AftersalesPolicy
from services.aftersales.domain.referral import Referral
from shared.contracts.leads import LeadCreatedV1
from shared.contracts.orders import DeliveredV1
from shared.messaging.inbound import EventHandler, InboundEvent
from shared.unit_of_work.retry import CommandRunner

log = structlog.get_logger(__name__)


def _aware(moment: datetime) -> datetime:
    # The contract says ISO 8601; a producer that forgets the offset means UTC (salesflow's convention). A naive
    # time would otherwise break every comparison with the clock when the visit timers fire.
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def _context(event: InboundEvent) -> CommandContext:
    return CommandContext(correlation_id=event.headers.correlation_id or str(event.headers.event_id),
                          causation_id=str(event.headers.event_id), actor="aftersales")


class AftersalesReactions:
    def __init__(self, *, unit_of_work: UnitOfWorkFactory, clock: Clock, policy: AftersalesPolicy) -> None:
        self._commands: CommandRunner[AftersalesUnitOfWork] = CommandRunner(unit_of_work, clock)
        self._policy = policy

    async def on_delivered(self, tx: Tx, event: InboundEvent) -> None:
        payload = event.payload
        assert isinstance(payload, DeliveredV1)
        await self._commands.run(lambda uow, now: self._delivered(uow, now, payload), _context(event), conn=tx)

    async def _delivered(self, uow: AftersalesUnitOfWork, now: datetime, payload: DeliveredV1) -> None:
        """Schedule the care plan, award the buyer's delivery points and, for a referred lead, the referrer's."""
        if await uow.load(CarePlan, payload.order_id) is not None:
            log.info("aftersales.delivery_replayed", order_id=payload.order_id)
            return  # this order's plan exists: a replayed delivery
        customer_id = payload.customer_id or ""
        plan = CarePlan.schedule(
            order_id=payload.order_id, customer_id=customer_id, lead_id=payload.lead_id,
            consultant_id=payload.consultant_id, customer_name=payload.customer_name,
            customer_phone=payload.customer_phone, delivered_at=_aware(payload.delivered_at),
            template=self._policy.care, team_id=payload.team_id,
        )
        uow.add(plan)
        accounts: dict[str, LoyaltyAccount] = {}
        if customer_id:
            buyer = await self._account(uow, customer_id, accounts)
            buyer.award(self._policy.points.delivery_points(payload.total_minor), reason="delivery",
                        reference=f"delivery:{payload.order_id}", at=now)
        rewarded = False
        if payload.lead_id:
            referral_id = await uow.referral_for_lead(payload.lead_id)
            if referral_id is not None:
                rewarded = await self._reward(uow, referral_id, payload.order_id, payload.lead_id, accounts, now)
        log.info("aftersales.care_plan_scheduled", order_id=payload.order_id, visits=len(plan.visits),
                 referral_rewarded=rewarded)

    async def on_lead_created(self, tx: Tx, event: InboundEvent) -> None:
        """Remember which lead came from which referral. If that lead's order was delivered before we heard of
        the lead (topics are not ordered with each other), reward the referrer now."""
        payload = event.payload
        assert isinstance(payload, LeadCreatedV1)
        if payload.referral_id:
            await self._commands.run(lambda uow, now: self._lead_created(uow, now, payload), _context(event),
                                     conn=tx)

    async def _lead_created(self, uow: AftersalesUnitOfWork, now: datetime, payload: LeadCreatedV1) -> None:
        assert payload.referral_id is not None
        referral = await uow.load(Referral, payload.referral_id)
        if referral is None or not referral.link_lead(payload.lead_id, at=now):
            return  # not one of ours, or already linked
        uow.add(referral)
        accounts: dict[str, LoyaltyAccount] = {}
        order_id = await uow.delivered_order_for_lead(payload.lead_id)
        if order_id is not None:
            await self._reward_loaded(uow, referral, order_id, payload.lead_id, accounts, now)
        log.info("aftersales.referral_linked", referral_id=referral.id, lead_id=payload.lead_id,
                 already_delivered=order_id is not None)

    @staticmethod
    async def _account(uow: AftersalesUnitOfWork, customer_id: str,
                       accounts: dict[str, LoyaltyAccount]) -> LoyaltyAccount:
        # One object per customer, so a buyer who is also the referrer gets both awards in one append.
        if customer_id not in accounts:
            accounts[customer_id] = (await uow.load(LoyaltyAccount, customer_id) or LoyaltyAccount(customer_id))
            uow.add(accounts[customer_id])
        return accounts[customer_id]

    async def _reward(self, uow: AftersalesUnitOfWork, referral_id: str, order_id: str, lead_id: str,
                      accounts: dict[str, LoyaltyAccount], now: datetime) -> bool:
        referral = await uow.load(Referral, referral_id)
        if referral is None:
            return False
        uow.add(referral)
        await self._reward_loaded(uow, referral, order_id, lead_id, accounts, now)
        return True

    async def _reward_loaded(self, uow: AftersalesUnitOfWork, referral: Referral, order_id: str, lead_id: str,
                             accounts: dict[str, LoyaltyAccount], now: datetime) -> None:
        points = self._policy.points.referral_points
        if referral.reward(order_id=order_id, lead_id=lead_id, points=points, at=now):
            referrer = await self._account(uow, referral.referrer_customer_id, accounts)
            referrer.award(points, reason="referral", reference=f"referral:{referral.id}", at=now)

    def handlers(self) -> dict[str, EventHandler]:
        return {DeliveredV1.event_type: self.on_delivered, LeadCreatedV1.event_type: self.on_lead_created}
