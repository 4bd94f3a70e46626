"""Helpers for reporting's tests: a module-scoped reporting database, and lead journeys as public events."""

from __future__ import annotations

import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg

from shared.contracts.base import IntegrationEvent
from shared.contracts.leads import (
    LeadAssignedV1,
    LeadCreatedV1,
    LeadInvalidatedV1,
    LossApprovedV1,
    StageAdvancedV1,
)
from shared.contracts.orders import ContractSignedV1, DeliveredV1, OrderLine
from shared.migrations import KERNEL_MIGRATIONS, migrate
from tests.support.infra import RUN_ID, Infra
from tests.support.upstream import Message, upstream_message

STAGES = ("new", "contacted", "visited", "needs_analysed", "presented", "test_driven", "negotiating",
          "contract_signed", "delivered")


async def fresh_reporting_database(infra: Infra, hint: str, migrations: Path) -> str:
    """A new database with the kernel's and reporting's migrations applied; returns its DSN."""
    name = f"t{RUN_ID}_rep_{hint}_{uuid.uuid4().hex[:6]}"
    admin = await asyncpg.connect(infra.pg_admin_dsn)
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    dsn = infra.dsn_for(name)
    conn = await asyncpg.connect(dsn)
    try:
        await migrate(conn, [("kernel", KERNEL_MIGRATIONS), ("reporting", migrations)])
    finally:
        await conn.close()
    return dsn


READ_MODEL_TABLES = (
    "report_leads", "report_facts", "report_entities", "report_edges", "report_consultants", "report_lead_state",
    "report_activity_daily", "report_activity_monthly", "report_funnel_now", "report_funnel_dims", "report_funnel_all",
    "report_funnel_all_cross", "report_funnel_daily",
    "report_group_contributions",
    "report_funnel_monthly", "report_stock_now", "report_stock_daily", "report_stock_monthly", "processed_messages",
    "report_campaign_daily", "report_campaign_monthly",
    "report_activity_hourly", "report_funnel_hourly", "report_stock_hourly", "report_campaign_hourly",
)


async def reset_read_model(pool: Any) -> None:
    """Empty reporting's read model (and its processed ids) between generated examples."""
    await pool.execute(f"TRUNCATE {', '.join(READ_MODEL_TABLES)}")
    await pool.execute("UPDATE report_progress SET events = 0, batches = 0, last_event_at = NULL")


async def drop_database(infra: Infra, dsn: str) -> None:
    name = dsn.rsplit("/", 1)[-1].split("?")[0]
    admin = await asyncpg.connect(infra.pg_admin_dsn)
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await admin.close()


@dataclass
class Journey:
    """A lead's life as a test describes it: moves are (hours after capture, stage, via) where via is
    "leads" (StageAdvanced) or "orders" (ContractSigned / Delivered on the orders topic)."""

    lead_id: str
    channel: str
    owner_id: str
    team_id: str
    captured_at: datetime
    moves: list[tuple[float, str, str]] = field(default_factory=list)
    lost: tuple[float, str, str | None] | None = None  # (hours, reason, competitor)
    invalid_after: float | None = None
    product: str = "Model Y"
    campaign_id: str | None = None  # the campaign the lead named on capture

    def at(self, hours: float) -> datetime:
        return self.captured_at + timedelta(hours=hours)

    def messages(self) -> list[tuple[str, Message]]:
        """(topic suffix, message) for every event of the journey."""
        out: list[tuple[str, Message]] = []

        def add(topic: str, payload: IntegrationEvent, key: str) -> None:
            out.append((topic, upstream_message(payload, key=key)))

        add("leads", LeadCreatedV1(lead_id=self.lead_id, customer_id=f"c-{self.lead_id}", name="张三",
                                   phone="+8613800000000", channel=self.channel, interest=self.product,
                                   campaign_id=self.campaign_id, captured_at=self.captured_at), self.lead_id)
        add("leads", LeadAssignedV1(lead_id=self.lead_id, owner_id=self.owner_id, team_id=self.team_id,
                                    reason="round_robin", assigned_at=self.at(0.01)), self.lead_id)
        previous = "new"
        for n, (hours, stage, via) in enumerate(self.moves):
            if via == "orders" and stage in ("contract_signed", "delivered"):
                order_id = f"o-{self.lead_id}-{n}"
                if stage == "contract_signed":
                    add("orders", ContractSignedV1(
                        order_id=order_id, lead_id=self.lead_id, consultant_id=self.owner_id,
                        lines=[OrderLine(product=self.product, quantity=1, unit_price_minor=100_000)],
                        total_minor=100_000, currency="CNY", payment_plan="full", signed_at=self.at(hours)),
                        order_id)
                else:
                    add("orders", DeliveredV1(order_id=order_id, lead_id=self.lead_id, consultant_id=self.owner_id,
                                              total_minor=100_000, currency="CNY", delivered_at=self.at(hours)),
                        order_id)
            else:
                backwards = STAGES.index(stage) < STAGES.index(previous)
                add("leads", StageAdvancedV1(lead_id=self.lead_id, from_stage=previous, to_stage=stage,
                                             backwards=backwards, reason="back" if backwards else None,
                                             moved_at=self.at(hours)), self.lead_id)
            previous = stage
        if self.lost is not None:
            hours, reason, competitor = self.lost
            add("leads", LossApprovedV1(lead_id=self.lead_id, reason=reason, competitor_model=competitor,
                                        approved_by="mgr", approved_at=self.at(hours)), self.lead_id)
        if self.invalid_after is not None:
            add("leads", LeadInvalidatedV1(lead_id=self.lead_id, reason="empty number",
                                           invalidated_at=self.at(self.invalid_after)), self.lead_id)
        return out


def expected_funnel(journeys: list[Journey], as_of: datetime | None) -> dict[str, Any]:
    """The funnel computed straight from the journeys, without the projection or the domain code."""
    cut = as_of or datetime.max.replace(tzinfo=UTC)
    leads = [j for j in journeys if j.captured_at <= cut]
    entered: Counter[str] = Counter()
    reached: Counter[str] = Counter()
    current: Counter[str] = Counter()
    won = lost = invalid = 0
    by_reason: Counter[str] = Counter()
    for j in leads:
        stages = ["new"] + [s for h, s, _ in j.moves if j.at(h) <= cut]
        entered.update(set(stages))
        furthest = max(STAGES.index(s) for s in stages)
        reached.update(STAGES[: furthest + 1])
        current[stages[-1]] += 1
        won += furthest >= STAGES.index("contract_signed")
        if j.lost is not None and j.at(j.lost[0]) <= cut:
            lost += 1
            by_reason[j.lost[1]] += 1
        if j.invalid_after is not None and j.at(j.invalid_after) <= cut:
            invalid += 1
    return {"total_leads": len(leads), "entered": {s: entered[s] for s in STAGES},
            "reached": {s: reached[s] for s in STAGES}, "current": {s: current[s] for s in STAGES},
            "won": won, "lost": lost, "invalid": invalid, "lost_by_reason": dict(by_reason)}


def actual_funnel(report: dict[str, Any]) -> dict[str, Any]:
    return {"total_leads": report["total_leads"],
            "entered": {s["stage"]: s["entered"] for s in report["stages"]},
            "reached": {s["stage"]: s["reached"] for s in report["stages"]},
            "current": {s["stage"]: s["current"] for s in report["stages"]},
            "won": report["won"], "lost": report["lost"], "invalid": report["invalid"],
            "lost_by_reason": report["lost_by_reason"]}


