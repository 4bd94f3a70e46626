"""The dealer KPIs in the daily, monthly and KPI reports and their exports: hand-built call-center days and a
showroom month projected
through the idempotent consumer into real PostgreSQL, each figure checked against the value worked out from the
events, from the summaries and from a fold of the raw facts, now and as of moments after a call-back fell due."""

from __future__ import annotations

import csv
import io
import os
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import asyncpg
import openpyxl
import pytest
from aiokafka import AIOKafkaProducer

from services.reporting.adapters.exports import label, to_csv, to_xlsx
from services.reporting.adapters.generations import ActiveSchemaPool
from services.reporting.adapters.summaries import FactFold, PostgresSummaries
from services.reporting.api import KPI_EXPORT_COLUMNS
from services.reporting.app.analysis import KpiReportQuery, MonthlyAnalysisQuery
from services.reporting.app.reports import KPI_COLUMNS, Activities, AttainmentQuery, DailyReportQuery
from services.reporting.wiring import MIGRATIONS, build_consumer
from shared.contracts.base import IntegrationEvent
from shared.contracts.leads import (
    AppointmentAttendedV1,
    AppointmentMissedV1,
    AppointmentScheduledV1,
    CallRecordedV1,
    ConsultantRegisteredV1,
    FollowUpLoggedV1,
    LeadAssignedV1,
    LeadCreatedV1,
    LeadInvalidatedV1,
    StageAdvancedV1,
)
from shared.contracts.orders import ContractSignedV1, OrderLine
from shared.contracts.showroom import VisitArrivedV1
from shared.db import create_pool
from shared.messaging.consumer import IdempotentConsumer
from shared.messaging.dead_letters import DeadLetters
from tests.support.histories import Published, as_records
from tests.support.infra import Infra
from tests.support.reporting import drop_database, fresh_reporting_database, reset_read_model

pytestmark = pytest.mark.integration

DAY = datetime(2026, 4, 7, tzinfo=UTC)
TEAMS = {"c1": "t1", "c2": "t1", "c3": "t2"}


class _NoProducer(AIOKafkaProducer):  # type: ignore[misc]
    def __init__(self) -> None:  # dead letters are not expected here; sending one would fail loudly
        pass


class _NoTargets:
    async def lines(self, *, month: str | None = None, as_of: datetime | None = None) -> list[object]:
        return []


@pytest.fixture(scope="module")
async def reporting(infra: Infra) -> AsyncIterator[tuple[asyncpg.Pool, IdempotentConsumer]]:
    dsn = await fresh_reporting_database(infra, "dealer_kpis", MIGRATIONS)
    pool = await create_pool(dsn, min_size=1, max_size=4)
    consumer = build_consumer("reporting", ActiveSchemaPool(pool),
                              DeadLetters(consumer="reporting", producer=_NoProducer()))
    yield pool, consumer
    await pool.close()
    await drop_database(infra, dsn)


def _consultants() -> list[Published]:
    return [Published("leads", c, ConsultantRegisteredV1(consultant_id=c, name=c, team_id=t, role="consultant",
                                                         registered_at=DAY - timedelta(days=30)))
            for c, t in TEAMS.items()]


def _lead(lead: str, owner: str, at: datetime) -> list[Published]:
    return [Published("leads", lead, LeadCreatedV1(lead_id=lead, customer_id=f"cust-{lead}", name="n",
                                                   phone="+8613800000000", channel="call_center", captured_at=at)),
            Published("leads", lead, LeadAssignedV1(lead_id=lead, owner_id=owner, team_id=TEAMS[owner],
                                                    reason="round_robin", assigned_at=at))]


def _call(lead: str, agent: str, at: datetime, talk: int | None) -> Published:
    """An answered call (``talk`` seconds) or, with ``talk=None``, a missed one whose call-back is due in 2 h."""
    return Published("leads", lead, CallRecordedV1(
        lead_id=lead, call_id=f"{lead}-{at.isoformat()}", direction="inbound",
        outcome="missed" if talk is None else "answered", agent_id=f"agent-{agent}", consultant_id=agent,
        started_at=at, duration_seconds=talk or 0,
        call_back_due_at=at + timedelta(hours=2) if talk is None else None, recorded_at=at))


def _logged(lead: str, by: str, at: datetime) -> Published:
    return Published("leads", lead, FollowUpLoggedV1(lead_id=lead, kind="call", outcome="ok", logged_by=by,
                                                     logged_at=at))


def call_center_day() -> list[Published]:
    """c1: three answered calls (120 + 300 + 60 s) and one missed on L1 called back in time; c2: one answered call
    (30 s) and one missed on L2 (owned by c3) called back late; c3: a missed call at 23:00 on L3 (due 01:00 the
    next day), never called back."""
    h = lambda hours: DAY + timedelta(hours=hours)  # noqa: E731
    out = [*_consultants(), *_lead("L1", "c1", h(8)), *_lead("L2", "c3", h(8)), *_lead("L3", "c3", h(8))]
    out += [_call("L1", "c1", h(9), 120), _logged("L1", "c1", h(9)), _call("L1", "c1", h(10), 300),
            _logged("L1", "c1", h(10)), _call("L1", "c1", h(11), 60), _logged("L1", "c1", h(11)),
            _call("L1", "c1", h(12), None), _logged("L1", "c1", h(13))]
    out += [_call("L2", "c2", h(9), 30), _logged("L2", "c2", h(9)), _call("L2", "c2", h(14), None),
            _logged("L2", "c3", h(17))]
    out += [_call("L3", "c3", h(23), None)]
    return out


async def _deliver(consumer: IdempotentConsumer, history: list[Published]) -> None:
    records = as_records(history)
    for start in range(0, len(records), 5):
        result = await consumer.process_batch(records[start:start + 5])
        assert result.dead_lettered == 0


def _rows(report: dict[str, object], key: str, id_: str) -> dict[str, dict[str, object]]:
    rows = report[key]
    assert isinstance(rows, list)
    return {r[id_]: r for r in rows}


async def test_the_daily_and_monthly_reports_give_the_call_kpis_worked_out_from_the_calls(
    reporting: tuple[asyncpg.Pool, IdempotentConsumer],
) -> None:
    pool, consumer = reporting
    await reset_read_model(pool)
    await _deliver(consumer, call_center_day())
    active = ActiveSchemaPool(pool)
    summaries, fold = PostgresSummaries(active), FactFold(active)
    for source in (summaries, fold):
        daily = await DailyReportQuery(source)(day=DAY.date().isoformat())
        people = _rows(daily, "consultants", "consultant_id")
        assert (people["c1"]["calls"], people["c1"]["calls_answered"]) == (4, 3)
        assert people["c1"]["connect_rate"] == 0.75
        assert people["c1"]["average_talk_seconds"] == 160  # (120 + 300 + 60) / 3
        assert (people["c1"]["call_backs_due"], people["c1"]["call_backs_in_sla"]) == (1, 1)
        assert (people["c2"]["calls"], people["c2"]["calls_answered"], people["c2"]["average_talk_seconds"]) == (
            2, 1, 30)
        # L2's call-back is c3's (the lead's owner), and it was late; L3's falls due the next day.
        assert (people["c3"]["call_backs_due"], people["c3"]["call_backs_in_sla"]) == (1, 0)
        assert people["c3"]["call_back_sla_rate"] == 0
        teams = _rows(daily, "teams", "team_id")
        assert (teams["t1"]["calls"], teams["t1"]["calls_answered"]) == (6, 4)
        assert teams["t2"]["calls"] == 1
        assert daily["kpis"]["connect_rate"] == round(4 / 7, 4)
        assert daily["kpis"]["average_talk_seconds"] == round(510 / 4, 4)
        assert daily["kpis"]["call_back_sla_rate"] == 0.5

        monthly = await MonthlyAnalysisQuery(source, AttainmentQuery(Activities(source), _NoTargets(),
                                                                     lambda: DAY))(month="2026-04")
        assert monthly["kpis"]["calls"] == 7
        assert monthly["kpis"]["call_backs_due"] == 3  # L3's, due on the 8th, is in the month
        assert monthly["kpis"]["call_back_sla_rate"] == round(1 / 3, 4)
        assert _rows(monthly, "kpis_by_team", "team_id")["t2"]["call_backs_due"] == 2
        assert _rows(monthly, "kpis_by_consultant", "consultant_id")["c3"]["call_back_sla_rate"] == 0


async def test_as_of_a_moment_after_a_call_back_fell_due_the_summaries_count_it_like_the_fold(
    reporting: tuple[asyncpg.Pool, IdempotentConsumer],
) -> None:
    pool, consumer = reporting
    await reset_read_model(pool)
    await _deliver(consumer, call_center_day())
    active = ActiveSchemaPool(pool)
    next_day = (DAY + timedelta(days=1)).date().isoformat()
    # L3's call-back falls due at 01:00 on the 8th; L3 has no fact that day.
    for as_of, due in ((DAY + timedelta(hours=24, minutes=59), 0), (DAY + timedelta(hours=25, minutes=30), 1)):
        for source in (PostgresSummaries(active), FactFold(active)):
            daily = await DailyReportQuery(source)(day=next_day, as_of=as_of)
            assert daily["kpis"]["call_backs_due"] == due, (source, as_of)


async def test_the_daily_export_carries_the_call_kpis_with_bilingual_labels(
    reporting: tuple[asyncpg.Pool, IdempotentConsumer],
) -> None:
    pool, consumer = reporting
    await reset_read_model(pool)
    await _deliver(consumer, call_center_day())
    daily = await DailyReportQuery(PostgresSummaries(ActiveSchemaPool(pool)))(day=DAY.date().isoformat())
    columns = ["consultant_id", *daily["columns"], *KPI_COLUMNS]
    text = b"".join(to_csv(daily["consultants"], columns)).decode("utf-8-sig")
    table = list(csv.DictReader(io.StringIO(text)))
    c1 = next(r for r in table if r[label("consultant_id")] == "c1")
    assert c1["Connect rate / 接通率"] == "0.75"
    assert c1["Average talk time (s) / 平均通话时长(秒)"] == "160.0"
    assert c1["Call-back within SLA / 回拨及时率"] == "1.0"

    # The monthly per-team KPI table, as the export writes it (XLSX read back with openpyxl).
    source = PostgresSummaries(ActiveSchemaPool(pool))
    monthly = await MonthlyAnalysisQuery(source, AttainmentQuery(Activities(source), _NoTargets(),
                                                                 lambda: DAY))(month="2026-04")
    path = to_xlsx(monthly["kpis_by_team"], ["team_id", *KPI_EXPORT_COLUMNS], title="monthly-kpis_by_team")
    try:
        sheet = openpyxl.load_workbook(path, read_only=True).active
        header, *values = [list(r) for r in sheet.iter_rows(values_only=True)]
    finally:
        os.unlink(path)
    by_team = {row[0]: dict(zip(header, row, strict=True)) for row in values}
    assert by_team["t1"]["Calls / 通话"] == 6
    assert by_team["t1"]["Connect rate / 接通率"] == round(4 / 6, 4)
    assert by_team["t2"]["Call-backs due / 应回拨"] == 2


def showroom_month() -> list[Published]:
    """April: four walk-ins (A, B, C of c1's team t1; D of c3's t2) — B's lead invalidated later; A comes back on
    the 4th (received by c2: 二次到店) and a third time on the 12th (counted nowhere); A and C test driven, A signs
    with accessories + insurance, D signs (shop-style, no test drive) with plates; A misses one appointment and
    keeps one, D misses one."""
    h = lambda day, hours=10: DAY.replace(day=day) + timedelta(hours=hours)  # noqa: E731
    out = [*_consultants()]
    for lead, owner, day in (("A", "c1", 2), ("B", "c2", 3), ("C", "c1", 3), ("D", "c3", 9)):
        out += _lead(lead, owner, h(day, 9))
        out.append(Published("leads", f"v-{lead}", VisitArrivedV1(
            visit_id=f"v-{lead}", lead_id=lead, customer_id=f"cust-{lead}", visit_number=1, first_visit=True,
            party_size=2, purpose="first_look", consultant_id=owner, walk_in_lead=True, arrived_at=h(day))))
    for number, receiver, day in ((2, "c2", 4), (3, "c1", 12)):
        out.append(Published("leads", f"v-A-{number}", VisitArrivedV1(
            visit_id=f"v-A-{number}", lead_id="A", customer_id="cust-A", visit_number=number, first_visit=False,
            party_size=1, purpose="test_drive", consultant_id=receiver, arrived_at=h(day, 8))))
    out.append(Published("leads", "B", LeadInvalidatedV1(lead_id="B", reason="fake number",
                                                         invalidated_at=h(20))))
    for lead, day in (("A", 4), ("C", 4)):
        out.append(Published("leads", lead, StageAdvancedV1(lead_id=lead, from_stage="visited",
                                                            to_stage="test_driven", moved_at=h(day))))
    for n, (lead, outcome, day) in enumerate((("A", "missed", 3), ("A", "attended", 4), ("D", "missed", 10))):
        out.append(Published("leads", lead, AppointmentScheduledV1(
            lead_id=lead, appointment_id=f"ap{n}", kind="test_drive", scheduled_for=h(day), scheduled_by="c1")))
        event: IntegrationEvent = (
            AppointmentAttendedV1(lead_id=lead, appointment_id=f"ap{n}", kind="test_drive", attended_at=h(day))
            if outcome == "attended" else
            AppointmentMissedV1(lead_id=lead, appointment_id=f"ap{n}", kind="test_drive", recorded_at=h(day)))
        out.append(Published("leads", lead, event))
    for lead, kinds, day in (("A", ("accessory", "insurance"), 12), ("D", ("plates",), 15)):
        out.append(Published("orders", f"o-{lead}", ContractSignedV1(
            order_id=f"o-{lead}", lead_id=lead, consultant_id=None,
            lines=[OrderLine(product="Y", quantity=1, unit_price_minor=100_000, kind="model"),
                   *(OrderLine(product=k, quantity=1, unit_price_minor=1_000, kind=k) for k in kinds)],
            total_minor=100_000 + 1_000 * len(kinds), currency="CNY", payment_plan="full", signed_at=h(day))))
    return out


async def test_the_showroom_kpis_per_consultant_team_and_day_match_the_register_test_drives_and_contracts(
    reporting: tuple[asyncpg.Pool, IdempotentConsumer],
) -> None:
    pool, consumer = reporting
    await reset_read_model(pool)
    await _deliver(consumer, showroom_month())
    active = ActiveSchemaPool(pool)
    for source in (PostgresSummaries(active), FactFold(active)):
        report = await KpiReportQuery(source)(month="2026-04")
        k = report["kpis"]
        assert (k["walk_ins"], k["walk_ins_recorded"], k["walk_in_record_rate"]) == (4, 3, 0.75)
        assert (k["first_visits"], k["second_visits"], k["second_visit_rate"]) == (4, 1, 0.25)
        assert (k["test_drives"], k["test_drives_signed"], k["test_drive_to_contract_rate"]) == (2, 1, 0.5)
        assert (k["appointments_kept"], k["appointments_missed"]) == (1, 2)
        assert k["no_show_rate"] == round(2 / 3, 4)
        assert k["contracts"] == 2
        assert (k["accessory_attach_rate"], k["insurance_attach_rate"], k["financing_attach_rate"],
                k["plates_attach_rate"]) == (0.5, 0.5, 0, 0.5)
        teams = _rows(report, "kpis_by_team", "team_id")
        assert teams["t1"]["walk_in_record_rate"] == round(2 / 3, 4)  # A, C kept; B invalidated
        assert teams["t2"]["plates_attach_rate"] == 1
        assert (teams["t1"]["second_visit_rate"], teams["t2"]["second_visit_rate"]) == (round(1 / 3, 4), 0)
        people = _rows(report, "kpis_by_consultant", "consultant_id")
        # A's return is credited to c2, who received it, not to A's owner c1.
        assert [(people[c]["first_visits"], people[c]["second_visits"]) for c in ("c1", "c2")] == [(2, 0), (1, 1)]
        assert people["c1"]["test_drive_to_contract_rate"] == 0.5
        days = _rows(report, "kpis_by_day", "day")
        assert len(days) == 30  # every day of April, also those without activity
        assert days["2026-04-03"]["walk_in_record_rate"] == 0.5  # B (invalidated later) and C
        assert days["2026-04-03"]["no_show_rate"] == 1
        assert days["2026-04-05"]["walk_in_record_rate"] is None
        assert (days["2026-04-04"]["second_visits"], days["2026-04-04"]["second_visit_rate"]) == (1, None)
        # As of before B's invalidation, its visit still counted as recorded.
        earlier = await KpiReportQuery(source)(month="2026-04", as_of=DAY.replace(day=19))
        assert earlier["kpis"]["walk_in_record_rate"] == 1
        before_the_return = await KpiReportQuery(source)(month="2026-04", as_of=DAY.replace(day=4))
        assert (before_the_return["kpis"]["first_visits"], before_the_return["kpis"]["second_visits"]) == (3, 0)
        # A manager's scope: their team's activity only.
        scoped = await KpiReportQuery(source)(month="2026-04", team="t2")
        assert (scoped["kpis"]["walk_ins"], scoped["kpis"]["contracts"]) == (1, 1)
        assert [r["team_id"] for r in scoped["kpis_by_team"]] == ["t2"]

        daily = await DailyReportQuery(source)(day="2026-04-03")
        c1 = _rows(daily, "consultants", "consultant_id")["c1"]
        assert (c1["walk_ins"], c1["walk_ins_recorded"], c1["walk_in_record_rate"]) == (1, 1, 1)
        assert c1["no_show_rate"] == 1
        monthly = await MonthlyAnalysisQuery(source, AttainmentQuery(Activities(source), _NoTargets(),
                                                                     lambda: DAY))(month="2026-04")
        assert monthly["kpis"]["accessory_attach_rate"] == 0.5
        assert _rows(monthly, "kpis_by_team", "team_id")["t1"]["test_drive_to_contract_rate"] == 0.5
