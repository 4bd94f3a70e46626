"""Process manager: how the leads service reacts to orders' and after-sales' public events.

Handlers run inside the idempotent consumer's transaction (``conn``) and append with it, so the effect and the
processed event id commit together; a redelivered event is skipped by the consumer, and the lookups (order →
lead, referral → lead) make a replay under a new event id harmless too.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from services.leads.app.commands import CaptureLead, CaptureLeadHandler
from services.leads.app.ports import Clock, CommandContext, UnitOfWork, UnitOfWorkFactory
from services.leads.domain.lead import Lead, Stage
from services.leads.domain.work_queue import WorkItem, WorkKind, return_visit_item_id
from shared.contracts.aftersales import CarePlanScheduledV1, ReferralRegisteredV1, ReturnVisitCompletedV1
from shared.contracts.orders import ContractSignedV1, DeliveredV1, OrderCancelledV1
from shared.messaging.inbound import EventHandler, InboundEvent
from shared.unit_of_work.retry import CommandRunner

SHOP_CHANNEL = "online_shop"


class Reactions:
    def __init__(self, *, unit_of_work: UnitOfWorkFactory, capture: CaptureLeadHandler, clock: Clock,
                 channels: set[str]) -> None:
        self._commands: CommandRunner[UnitOfWork] = CommandRunner(unit_of_work, clock)
        self._capture = capture
        self._channels = channels

    def handlers(self) -> dict[str, EventHandler]:
        return {
            ContractSignedV1.event_type: self.on_contract_signed,
            OrderCancelledV1.event_type: self.on_order_cancelled,
            DeliveredV1.event_type: self.on_delivered,
            ReferralRegisteredV1.event_type: self.on_referral_registered,
            CarePlanScheduledV1.event_type: self.on_care_plan_scheduled,
            ReturnVisitCompletedV1.event_type: self.on_return_visit_completed,
        }

    async def on_contract_signed(self, conn: Any, event: InboundEvent) -> None:
        signed = event.payload
        assert isinstance(signed, ContractSignedV1)

        async def decide(uow: UnitOfWork, now: datetime) -> None:
            if await uow.lead_for_order(signed.order_id) is not None:
                return  # this order was already linked (replay)
            lead = await uow.load(Lead, signed.lead_id) if signed.lead_id else None
            if lead is None:
                await self._checkout(uow, signed, now)
                return
            lead.sign_contract(order_id=signed.order_id, now=now)
            uow.add(lead)
            uow.link_order(signed.order_id, lead.id)
        await self._commands.run(decide, CommandContext.for_message(event.headers, "system:orders"), conn=conn)

    async def _checkout(self, uow: UnitOfWork, signed: ContractSignedV1, now: datetime) -> None:
        """An online-shop checkout (no lead id) is a capture already at contract_signed: the capture's rules
        decide whether the customer's open lead signs or a new lead is created (one checkout, one lead)."""
        channel = signed.channel if signed.channel in self._channels else SHOP_CHANNEL
        command = CaptureLead(name=signed.customer_name or "online-shop customer",
                              phone=signed.customer_phone or "", channel=channel, order_id=signed.order_id,
                              stage=Stage.CONTRACT_SIGNED)
        await self._capture.decide(uow, command, self._capture.validate(command), now)

    async def on_order_cancelled(self, conn: Any, event: InboundEvent) -> None:
        cancelled = event.payload
        assert isinstance(cancelled, OrderCancelledV1)
        await self._on_order(conn, event, cancelled.order_id, cancelled.lead_id,
                             lambda lead, now: lead.cancel_order(order_id=cancelled.order_id, now=now))

    async def on_delivered(self, conn: Any, event: InboundEvent) -> None:
        delivered = event.payload
        assert isinstance(delivered, DeliveredV1)
        await self._on_order(conn, event, delivered.order_id, delivered.lead_id,
                             lambda lead, now: lead.deliver(order_id=delivered.order_id, now=now))

    async def _on_order(self, conn: Any, event: InboundEvent, order_id: str, lead_id: str | None,
                        change: Any) -> None:
        async def decide(uow: UnitOfWork, now: datetime) -> None:
            target = await uow.lead_for_order(order_id) or lead_id
            lead = await uow.load(Lead, target) if target else None
            if lead is not None and change(lead, now):  # else: an order we never linked to a lead
                uow.add(lead)
        await self._commands.run(decide, CommandContext.for_message(event.headers, "system:orders"), conn=conn)

    async def on_referral_registered(self, conn: Any, event: InboundEvent) -> None:
        referral = event.payload
        assert isinstance(referral, ReferralRegisteredV1)
        # A redelivered or replayed referral answers with its lead: the capture's rules (one lead per referral).
        await self._capture(CaptureLead(
            name=referral.prospect_name, phone=referral.prospect_phone, channel="referral",
            interest=referral.interest, referral_id=referral.referral_id,
            referrer_customer_id=referral.referrer_customer_id,
        ), CommandContext.for_message(event.headers, "system:aftersales"), conn=conn)

    async def on_care_plan_scheduled(self, conn: Any, event: InboundEvent) -> None:
        """A delivered order's return visits (回访) become work-queue items of the consultant after-sales names, else
        of the lead's owner. Item ids are the plan's and the visit's numbers, so a redelivery or replay rewrites the
        same rows; a plan for an order no lead is linked to has nobody here to do it and is skipped."""
        plan = event.payload
        assert isinstance(plan, CarePlanScheduledV1)

        async def decide(uow: UnitOfWork, now: datetime) -> None:
            lead_id = plan.lead_id or await uow.lead_for_order(plan.order_id)
            if lead_id is None:
                return
            uow.plan_work([WorkItem(return_visit_item_id(plan.plan_id, visit.visit_no), WorkKind.RETURN_VISIT,
                                    lead_id, visit.due_at, visit.overdue_at, detail=visit.label,
                                    assignee_id=plan.consultant_id) for visit in plan.visits])
        await self._commands.run(decide, CommandContext.for_message(event.headers, "system:aftersales"), conn=conn)

    async def on_return_visit_completed(self, conn: Any, event: InboundEvent) -> None:
        done = event.payload
        assert isinstance(done, ReturnVisitCompletedV1)

        async def decide(uow: UnitOfWork, now: datetime) -> None:
            uow.finish_work([return_visit_item_id(done.plan_id, done.visit_no)])
        await self._commands.run(decide, CommandContext.for_message(event.headers, "system:aftersales"), conn=conn)
