"""Read and lookup tables, updated in the transaction that appends the events (see repository.py). Rows are
derived from the aggregate after the change, so they always describe a state the event store has."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from services.aftersales.domain.care_plan import CarePlan
from services.aftersales.domain.complaint import Complaint
from services.aftersales.domain.events import (
    CarePlanScheduled,
    ReturnVisitCompleted,
    ReturnVisitOverdue,
    SatisfactionFollowUpClosed,
    SatisfactionFollowUpOpened,
)
from services.aftersales.domain.loyalty import LoyaltyAccount
from services.aftersales.domain.referral import Referral
from shared.domain import Aggregate, DomainEvent

# Personal data stays in the event store; the timeline shows what happened, not who the person is.
PRIVATE_FIELDS = {"customer_name", "customer_phone", "prospect_phone", "prospect_name"}


def customer_of(aggregate: Aggregate) -> str:
    match aggregate:
        case CarePlan() | Complaint():
            return aggregate.customer_id
        case LoyaltyAccount():
            return aggregate.id
        case Referral():
            return aggregate.referrer_customer_id
    raise TypeError(f"no customer for {type(aggregate).__name__}")


async def project_event(tx: Any, event: DomainEvent, *, stream_id: str, stream_version: int, customer_id: str,
                        occurred_at: datetime) -> None:
    """Per-event rows: visits and the customer timeline (a timeline row is keyed by the event's place in its stream,
    so the live projection and a rebuild write the same rows)."""
    match event:
        case CarePlanScheduled():
            await tx.execute(
                "INSERT INTO care_plans (plan_id, order_id, customer_id, lead_id, delivered_at, consultant_id, "
                "team_id) VALUES ($1, $2, $3, $4, $5, $6, $7)",
                event.plan_id, event.order_id, event.customer_id, event.lead_id, event.delivered_at,
                event.consultant_id, event.team_id,
            )
            await tx.executemany(
                "INSERT INTO care_visits (plan_id, visit_no, customer_id, label, assignee_role, due_at, overdue_at, "
                "consultant_id) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
                [(event.plan_id, v.visit_no, event.customer_id, v.label, v.assignee_role, v.due_at, v.overdue_at,
                  event.consultant_id) for v in event.visits],
            )
        case ReturnVisitCompleted():
            pct = round(100 * (event.score - event.scale_min) / (event.scale_max - event.scale_min), 2)
            await tx.execute(
                "UPDATE care_visits SET status = 'completed', score = $3, score_pct = $4, low_score = $5, late = $6, "
                "completed_at = $7 WHERE plan_id = $1 AND visit_no = $2",
                event.plan_id, event.visit_no, event.score, pct, event.low_score, event.late, event.completed_at,
            )
        case ReturnVisitOverdue():
            await tx.execute("UPDATE care_visits SET status = 'overdue' WHERE plan_id = $1 AND visit_no = $2",
                             event.plan_id, event.visit_no)
        case SatisfactionFollowUpOpened():
            await tx.execute(
                "INSERT INTO follow_ups (task_id, plan_id, visit_no, customer_id, score, opened_at) "
                "VALUES ($1, $2, $3, $4, $5, $6)",
                event.task_id, event.plan_id, event.visit_no, event.customer_id, event.score, event.opened_at,
            )
        case SatisfactionFollowUpClosed():
            await tx.execute("UPDATE follow_ups SET status = 'closed', outcome = $2, closed_at = $3 "
                             "WHERE task_id = $1", event.task_id, event.outcome, event.closed_at)
    if customer_id:
        summary = {k: v for k, v in event.model_dump(mode="json").items() if k not in PRIVATE_FIELDS}
        await tx.execute(
            "INSERT INTO customer_timeline (customer_id, occurred_at, event_type, stream_id, stream_version, summary) "
            "VALUES ($1, $2, $3, $4, $5, $6)", customer_id, occurred_at, event.event_type, stream_id, stream_version,
            summary,
        )


async def project_state(tx: Any, aggregate: Aggregate, *, now: datetime) -> None:
    """Per-aggregate rows, upserted from the state after the change."""
    match aggregate:
        case Complaint():
            assert aggregate.acknowledge_due_at
            assert aggregate.resolve_due_at
            assert aggregate.opened_at
            await tx.execute(
                """INSERT INTO complaints (complaint_id, customer_id, order_id, category, severity, status,
                       acknowledged, sla_state, escalation_level, acknowledge_due_at, resolve_due_at, opened_at,
                       updated_at)
                   VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)
                   ON CONFLICT (complaint_id) DO UPDATE SET status = EXCLUDED.status,
                       acknowledged = EXCLUDED.acknowledged, sla_state = EXCLUDED.sla_state,
                       escalation_level = EXCLUDED.escalation_level, resolve_due_at = EXCLUDED.resolve_due_at,
                       updated_at = EXCLUDED.updated_at""",
                aggregate.id, aggregate.customer_id, aggregate.order_id, aggregate.category, aggregate.severity,
                aggregate.status, aggregate.acknowledged, aggregate.sla_state, aggregate.escalation_level,
                aggregate.acknowledge_due_at, aggregate.resolve_due_at, aggregate.opened_at, now,
            )
        case Referral():
            await tx.execute(
                """INSERT INTO referrals (referral_id, referrer_customer_id, lead_id, rewarded_order_id, registered_at)
                   VALUES ($1, $2, $3, $4, $5)
                   ON CONFLICT (referral_id) DO UPDATE SET lead_id = EXCLUDED.lead_id,
                       rewarded_order_id = EXCLUDED.rewarded_order_id""",
                aggregate.id, aggregate.referrer_customer_id, aggregate.lead_id, aggregate.rewarded_order_id,
                aggregate.registered_at,
            )
        case LoyaltyAccount():
            await tx.execute(
                "INSERT INTO loyalty_balances (customer_id, balance) VALUES ($1, $2) "
                "ON CONFLICT (customer_id) DO UPDATE SET balance = EXCLUDED.balance",
                aggregate.id, aggregate.balance,
            )
