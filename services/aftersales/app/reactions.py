"""Process managers: how after-sales reacts to other services' public events.

Each reaction runs inside the idempotent consumer's transaction (``tx``) and commits its events with it, so the
effect and the processed event id commit together. On top of that the reactions are idempotent on the business
key — one care plan per order, one delivery award per order, one referral reward per referral — so the same
delivery published again under a *new* event id (an orders-side replay) still schedules nothing twice.
"""

from __future__ import annotations

from datetime import UTC, datetime

import structlog

from services.aftersales.app.ports import AftersalesStore, Clock, CommandContext, Lookups, Tx
from services.aftersales.domain.care_plan import CarePlan
from services.aftersales.domain.loyalty import LoyaltyAccount
from services.aftersales.domain.policy import AftersalesPolicy
from services.aftersales.domain.referral import Referral
from shared.contracts.leads import LeadCreatedV1
from shared.contracts.orders import DeliveredV1
from shared.domain import Aggregate
from shared.messaging.inbound import EventHandler, InboundEvent

log = structlog.get_logger(__name__)


def _aware(moment: datetime) -> datetime:
    # The contract says ISO 8601; a producer that forgets the offset means UTC (salesflow's convention). A naive
    # time would otherwise break every comparison with the clock when the visit timers fire.
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def _context(event: InboundEvent) -> CommandContext:
    return CommandContext(correlation_id=event.headers.correlation_id or str(event.headers.event_id),
                          causation_id=str(event.headers.event_id), actor="aftersales")


class AftersalesReactions:
    def __init__(self, *, store: AftersalesStore, lookups: Lookups, clock: Clock, policy: AftersalesPolicy) -> None:
        self._store = store
        self._lookups = lookups
        self._clock = clock
        self._policy = policy

    async def on_delivered(self, tx: Tx, event: InboundEvent) -> None:
        """Schedule the care plan, award the buyer's delivery points and, for a referred lead, the referrer's."""
        payload = event.payload
        assert isinstance(payload, DeliveredV1)
        if await self._store.load(CarePlan, payload.order_id, tx=tx) is not None:
            log.info("aftersales.delivery_replayed", order_id=payload.order_id)
            return  # this order's plan exists: a replayed delivery
        now = self._clock()
        customer_id = payload.customer_id or ""
        plan = CarePlan.schedule(
            order_id=payload.order_id, customer_id=customer_id, lead_id=payload.lead_id,
            consultant_id=payload.consultant_id, customer_name=payload.customer_name,
            customer_phone=payload.customer_phone, delivered_at=_aware(payload.delivered_at),
            template=self._policy.care,
        )
        changed: list[Aggregate] = [plan]
        accounts: dict[str, LoyaltyAccount] = {}
        if customer_id:
            buyer = await self._account(customer_id, accounts, tx)
            buyer.award(self._policy.points.delivery_points(payload.total_minor), reason="delivery",
                        reference=f"delivery:{payload.order_id}", at=now)
        if payload.lead_id:
            referral_id = await self._lookups.referral_for_lead(payload.lead_id, tx=tx)
            if referral_id is not None:
                changed += await self._reward(referral_id, payload.order_id, payload.lead_id, accounts, tx, now)
        await self._store.commit([*changed, *accounts.values()], context=_context(event), now=now, tx=tx)
        log.info("aftersales.care_plan_scheduled", order_id=payload.order_id, visits=len(plan.visits),
                 referral_rewarded=len(changed) > 1)

    async def on_lead_created(self, tx: Tx, event: InboundEvent) -> None:
        """Remember which lead came from which referral. If that lead's order was delivered before we heard of
        the lead (topics are not ordered with each other), reward the referrer now."""
        payload = event.payload
        assert isinstance(payload, LeadCreatedV1)
        if not payload.referral_id:
            return
        now = self._clock()
        referral = await self._store.load(Referral, payload.referral_id, tx=tx)
        if referral is None or not referral.link_lead(payload.lead_id, at=now):
            return  # not one of ours, or already linked
        changed: list[Aggregate] = [referral]
        accounts: dict[str, LoyaltyAccount] = {}
        order_id = await self._lookups.delivered_order_for_lead(payload.lead_id, tx=tx)
        if order_id is not None:
            await self._reward_loaded(referral, order_id, payload.lead_id, accounts, tx, now)
        await self._store.commit([*changed, *accounts.values()], context=_context(event), now=now, tx=tx)
        log.info("aftersales.referral_linked", referral_id=referral.id, lead_id=payload.lead_id,
                 already_delivered=order_id is not None)

    async def _account(self, customer_id: str, accounts: dict[str, LoyaltyAccount], tx: Tx) -> LoyaltyAccount:
        # One object per customer, so a buyer who is also the referrer gets both awards in one append.
        if customer_id not in accounts:
            accounts[customer_id] = (await self._store.load(LoyaltyAccount, customer_id, tx=tx)
                                     or LoyaltyAccount(customer_id))
        return accounts[customer_id]

    async def _reward(self, referral_id: str, order_id: str, lead_id: str, accounts: dict[str, LoyaltyAccount],
                      tx: Tx, now: datetime) -> list[Aggregate]:
        referral = await self._store.load(Referral, referral_id, tx=tx)
        if referral is None:
            return []
        await self._reward_loaded(referral, order_id, lead_id, accounts, tx, now)
        return [referral]

    async def _reward_loaded(self, referral: Referral, order_id: str, lead_id: str,
                             accounts: dict[str, LoyaltyAccount], tx: Tx, now: datetime) -> None:
        points = self._policy.points.referral_points
        if referral.reward(order_id=order_id, lead_id=lead_id, points=points, at=now):
            referrer = await self._account(referral.referrer_customer_id, accounts, tx)
            referrer.award(points, reason="referral", reference=f"referral:{referral.id}", at=now)

    def handlers(self) -> dict[str, EventHandler]:
        return {DeliveredV1.event_type: self.on_delivered, LeadCreatedV1.event_type: self.on_lead_created}
