"""Reporting as a real process, fed over Kafka the way leads and orders publish: funnel, targets, commission,
grade table, daily report, exports, read-your-writes, and a rebuild that never shows an empty report."""

from __future__ import annotations

import asyncio
import contextlib
import io
import sys
import uuid
import zipfile
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from services.reporting.wiring import MIGRATIONS
from shared.contracts.aftersales import (
    CarePlanScheduledV1,
    ComplaintOpenedV1,
    ComplaintSlaBreachedV1,
    ReturnVisitCompletedV1,
    ScheduledVisitV1,
)
from shared.contracts.leads import ConsultantRegisteredV1, LeadCreatedV1
from tests.support.auth import auth_headers
from tests.support.infra import REPO, RUN_ID, Infra
from tests.support.processes import ServiceProcess, inherited_env, start_service, stop_service
from tests.support.reporting import (
    Journey,
    actual_funnel,
    drop_database,
    expected_funnel,
    fresh_reporting_database,
)
from tests.support.upstream import publish, upstream_message
from tests.support.waiting import eventually

pytestmark = pytest.mark.e2e


def march(day: int, hour: int = 9) -> datetime:
    return datetime(2026, 3, day, hour, tzinfo=UTC)


JOURNEYS = [
    Journey("J1", "online_shop", "c1", "t1", march(2), moves=[(5, "visited", "leads"), (10, "test_driven", "leads"),
                                                             (20, "contract_signed", "orders"),
                                                             (48, "delivered", "orders")]),
    Journey("J2", "call_center", "c1", "t1", march(3), moves=[(2, "contacted", "leads"), (4, "visited", "leads"),
                                                             (30, "contract_signed", "orders")]),
    Journey("J3", "call_center", "c2", "t1", march(4), moves=[(3, "presented", "leads"), (6, "contacted", "leads")],
            lost=(8, "price", "BYD Han")),
    Journey("J4", "website", "c2", "t1", march(5), invalid_after=1),
    Journey("J5", "referral", "c3", "t2", march(6)),
]


class Stack:
    def __init__(self, infra: Infra, prefix: str, env: dict[str, str], service: ServiceProcess) -> None:
        self.infra, self.prefix, self.env, self.service = infra, prefix, env, service

    async def publish(self, journeys: list[Journey]) -> None:
        by_topic: dict[str, list[Any]] = {}
        for journey in journeys:
            for topic, message in journey.messages():
                by_topic.setdefault(f"{self.prefix}.{topic}", []).append(message)
        for topic, messages in by_topic.items():
            await publish(self.infra.kafka, topic, messages)

    async def get(self, path: str, **params: Any) -> Any:
        async with httpx.AsyncClient(headers=auth_headers("director"), base_url=self.service.url, timeout=30) as client:
            response = await client.get(path, params=params)
        response.raise_for_status()
        return response.json()


@pytest.fixture(scope="module")
async def stack(infra: Infra) -> AsyncIterator[Stack]:
    prefix = f"t{RUN_ID}rep{uuid.uuid4().hex[:6]}"
    dsn = await fresh_reporting_database(infra, "e2e", MIGRATIONS)
    env = {**infra.kafka_env(), "SALESFLOW_TOPIC_PREFIX": prefix,
           "REPORTING_DATABASE_URL": dsn}
    service = await start_service("reporting", env)
    stack = Stack(infra, prefix, env, service)
    try:
        await stack.publish(JOURNEYS)
        await eventually(lambda: stack.get("/v1/reports/funnel"),
                         until=lambda r: r["total_leads"] == 5 and r["won"] == 2 and r["lost"] == 1
                         and r["data_as_of"]["events"] >= 21, what="the journeys in the funnel", timeout=30)
        yield stack
    finally:
        await stop_service(service)
        await drop_database(infra, dsn)


async def test_the_funnel_shows_the_journeys_in_both_meanings_with_outcomes(stack: Stack) -> None:
    report = await stack.get("/v1/reports/funnel", period="2026-03")

    assert actual_funnel(report) == expected_funnel(JOURNEYS, None)
    assert report["lost_by_reason"] == {"price": 1}
    assert report["lost_by_competitor"] == {"BYD Han": 1}
    assert report["lost_by_stage"] == {"contacted": 1}
    by_channel = (await stack.get("/v1/reports/funnel", group_by="channel"))["groups"]
    assert by_channel["call_center"]["total_leads"] == 2
    assert by_channel["online_shop"]["won"] == 1
    assert (await stack.get("/v1/reports/funnel", team="t2"))["total_leads"] == 1
    assert (await stack.get("/v1/reports/funnel", period="2026-04"))["total_leads"] == 0


async def test_the_funnel_as_of_a_past_moment_shows_only_what_had_happened(stack: Stack) -> None:
    report = await stack.get("/v1/reports/funnel", as_of=march(3, 12).isoformat())

    assert actual_funnel(report) == expected_funnel(JOURNEYS, march(3, 12))
    assert report["total_leads"] == 2
    assert report["won"] == 1  # J1 signed at 05:00 on 3 March: 2 March 09:00 + 20 h
    assert (await stack.get("/v1/reports/funnel", as_of=march(3, 4).isoformat()))["won"] == 0


async def put_target(stack: Stack, **body: Any) -> httpx.Response:
    async with httpx.AsyncClient(headers=auth_headers("director"), base_url=stack.service.url, timeout=10) as client:
        return await client.put("/v1/targets", json=body)


async def test_targets_give_attainment_variance_pace_forecast_and_flag_splits_that_do_not_add_up(
    stack: Stack,
) -> None:
    for body in ({"scope": "team", "scope_id": "t1", "base": 4, "stretch": 6},
                 {"scope": "consultant", "scope_id": "c1", "base": 3, "parent_team": "t1"},
                 {"scope": "consultant", "scope_id": "c2", "base": 2, "parent_team": "t1"}):
        response = await put_target(stack, month="2026-03", metric="contracts", **body)
        assert response.status_code == 200, response.text
    refused = await put_target(stack, scope="team", scope_id="t1", month="2026-03", metric="contracts", base=4,
                               stretch=1)
    assert refused.status_code == 422
    assert refused.json()["error"]["fields"][0]["field"] == "stretch"

    report = await stack.get("/v1/reports/attainment", month="2026-03", today=march(15).isoformat())
    lines = {(row["scope"], row["scope_id"]): row for row in report["lines"]}
    assert lines[("consultant", "c1")]["actual"] == 2
    assert lines[("consultant", "c1")]["attainment"] == round(2 / 3, 4)
    assert lines[("consultant", "c1")]["variance_rate"] == round((2 - 3) / 3, 4)
    assert lines[("consultant", "c1")]["pace_expected"] == round(3 * 15 / 31, 4)
    assert lines[("consultant", "c1")]["forecast"] == round(2 / 15 * 31, 4)
    assert lines[("team", "t1")]["actual"] == 2
    assert lines[("team", "t1")]["variance_rate"] == -0.5
    assert report["splits"] == [{"team_id": "t1", "month": "2026-03", "metric": "contracts", "team_target": 4.0,
                                 "consultants_total": 5.0, "difference": 1.0, "adds_up": False}]


async def test_commission_statements_follow_the_plan_and_its_gate(stack: Stack) -> None:
    assert (await put_target(stack, scope="consultant", scope_id="c1", month="2026-03", metric="revenue",
                             base=300_000)).status_code == 200
    revenue = await stack.get("/v1/reports/commission", month="2026-03", consultant="c1")
    per_contract = await stack.get("/v1/reports/commission", month="2026-03", consultant="c1",
                                   plan_id="per_contract")

    (statement,) = revenue["statements"]
    assert statement["amount"] == 200_000  # two contracts of 1,000.00 CNY
    assert statement["gate_passed"] is True  # 0.667 ≥ 0.6
    assert statement["commission_minor"] == 1_000  # marginal, first band at 0.5 %
    assert per_contract["statements"][0]["gate_passed"] is False  # 2 of 3 contracts < 80 %
    assert per_contract["statements"][0]["commission_minor"] == 0


async def test_the_grade_table_and_the_daily_report_count_per_consultant(stack: Stack) -> None:
    grades = await stack.get("/v1/reports/grades")
    rows = {row["consultant_id"]: row for row in grades["consultants"]}
    assert rows["c3"]["open"] == 1
    assert rows["c3"]["N"] == 1
    assert "c2" not in rows  # J3 lost, J4 invalid: nothing open

    daily = await stack.get("/v1/reports/daily", day="2026-03-03")
    c1 = next(row for row in daily["consultants"] if row["consultant_id"] == "c1")
    assert c1["new_leads"] == 1  # J2
    assert c1["contracts"] == 1  # J1 signed on 3 March
    assert c1["visits"] == 1  # J2 visited on 3 March


async def test_per_consultant_reports_show_a_consultant_their_row_and_a_manager_their_team(stack: Stack) -> None:
    # The teams reporting knows come from leads' ConsultantRegistered (the journeys' LeadAssigned carry teams too,
    # but a report row is a consultant's, so the consultant's own team decides).
    await publish(stack.infra.kafka, f"{stack.prefix}.leads", [
        upstream_message(ConsultantRegisteredV1(consultant_id=c, name=c, team_id=team, role="consultant",
                                                registered_at=march(1)), key=c)
        for c, team in (("c1", "t1"), ("c2", "t1"), ("c3", "t2"))])
    m1 = auth_headers("manager", subject="m1", team="t1")
    m2 = auth_headers("manager", subject="m2", team="t2")
    c1 = auth_headers("consultant", subject="c1", team="t1")

    async def rows(path: str, key: str, who: dict[str, str], **params: Any) -> set[str]:
        async with httpx.AsyncClient(headers=who, base_url=stack.service.url, timeout=10) as client:
            response = await client.get(path, params=params)
        assert response.status_code == 200, response.text
        return {row["consultant_id"] for row in response.json()[key]}

    await eventually(lambda: rows("/v1/reports/grades", "consultants", m2), until=lambda seen: seen == {"c3"},
                     what="reporting to know c3 is in m2's team")
    assert await rows("/v1/reports/grades", "consultants", m1) == set()  # only c3 (t2) has open leads
    assert await rows("/v1/reports/grades", "consultants", auth_headers("director")) == {"c3"}
    director = auth_headers("director")
    assert await rows("/v1/reports/daily", "consultants", director, day="2026-03-03") == {"c1"}
    assert await rows("/v1/reports/daily", "consultants", m1, day="2026-03-03") == {"c1"}
    assert await rows("/v1/reports/daily", "consultants", c1, day="2026-03-03") == {"c1"}
    assert await rows("/v1/reports/daily", "consultants", m2, day="2026-03-03") == set()
    assert "c3" in await rows("/v1/reports/daily", "consultants", director, day="2026-03-06")
    assert "c3" not in await rows("/v1/reports/daily", "consultants", m1, day="2026-03-06")
    assert await rows("/v1/reports/commission", "statements", m1, month="2026-03") >= {"c1"}
    assert "c1" not in await rows("/v1/reports/commission", "statements", m2, month="2026-03")
    async with httpx.AsyncClient(headers=m2, base_url=stack.service.url, timeout=10) as client:
        export = await client.get("/v1/reports/daily", params={"day": "2026-03-06", "format": "csv"})
    assert export.status_code == 200
    assert [line.split(",")[0] for line in export.content.decode("utf-8-sig").splitlines()[1:]] == ["c3"]


async def test_every_report_exports_to_csv_and_xlsx_with_english_and_chinese_labels(stack: Stack) -> None:
    async with httpx.AsyncClient(headers=auth_headers("director"), base_url=stack.service.url, timeout=10) as client:
        csv = await client.get("/v1/reports/attainment", params={"month": "2026-03", "format": "csv"})
        xlsx = await client.get("/v1/reports/funnel", params={"format": "xlsx"})
        grades_csv = await client.get("/v1/reports/grades", params={"format": "csv"})
    assert csv.status_code == 200
    header = csv.content.decode("utf-8-sig").splitlines()[0]
    assert "Variance rate / 差异率" in header
    assert "c1" in csv.text
    assert "逾期未跟进" in grades_csv.content.decode("utf-8-sig")
    with zipfile.ZipFile(io.BytesIO(xlsx.content)) as book:
        # Written in constant-memory mode (streamed rows): strings are inline in the sheet, not shared.
        strings = "".join(book.read(name).decode() for name in book.namelist() if name.endswith(".xml"))
    assert "Reached at least / 至少到达" in strings
    assert "contract_signed" in strings


async def test_a_query_can_wait_until_reporting_has_processed_a_given_event(stack: Stack) -> None:
    event_id = uuid.uuid4()
    lead = LeadCreatedV1(lead_id="RYW", customer_id="c-ryw", name="李四", phone="+8613900000000", channel="phone",
                         captured_at=march(20))
    before = (await stack.get("/v1/reports/funnel"))["total_leads"]
    await publish(stack.infra.kafka, f"{stack.prefix}.leads",
                  [upstream_message(lead, key="RYW", event_id=event_id)])

    report = await stack.get("/v1/reports/funnel", wait_for_event=str(event_id), wait_timeout=15)
    assert report["total_leads"] == before + 1
    async with httpx.AsyncClient(headers=auth_headers("director"), base_url=stack.service.url, timeout=10) as client:
        late = await client.get("/v1/reports/funnel", params={"wait_for_event": str(uuid.uuid4()),
                                                               "wait_timeout": 0.2})
    assert late.status_code == 409  # the caller's to retry: the read model is behind, the server is fine
    assert late.headers["retry-after"] == "1"
    assert late.json()["error"]["code"] == "not_yet_processed"


async def test_the_monthly_analysis_shows_channel_effectiveness_losses_and_target_completion(stack: Stack) -> None:
    report = await stack.get("/v1/reports/monthly", month="2026-03")

    channels = {row["channel"]: row for row in report["channels"]}
    assert channels["call_center"] == {"channel": "call_center", "leads": 2, "contracts": 1, "conversion": 0.5}
    assert channels["online_shop"]["conversion"] == 1.0
    assert report["losses"] == {"total": 1, "by_reason": {"price": 1}, "by_competitor": {"BYD Han": 1}}
    assert any(line["scope_id"] == "c1" and line["metric"] == "contracts" for line in report["targets"])


async def test_after_sales_satisfaction_per_consultant_and_complaint_sla_compliance(stack: Stack) -> None:
    order = "o-J1-2"
    visits = [ScheduledVisitV1(visit_no=1, label="D+1", due_at=march(5), overdue_at=march(6),
                               assignee_role="consultant")]
    messages = [
        upstream_message(CarePlanScheduledV1(plan_id=order, order_id=order, customer_id="c-J1", lead_id="J1",
                                             consultant_id="c1", delivered_at=march(4), visits=visits), key=order),
        upstream_message(ReturnVisitCompletedV1(plan_id=order, customer_id="c-J1", visit_no=1, label="D+1", score=4,
                                                scale_min=1, scale_max=5, low_score=False, late=False,
                                                completed_at=march(5)), key=order),
        upstream_message(ComplaintOpenedV1(complaint_id="K1", customer_id="c-J1", order_id=order, category="delivery",
                                           severity="high", opened_at=march(6), acknowledge_due_at=march(7),
                                           resolve_due_at=march(8)), key="K1"),
        upstream_message(ComplaintOpenedV1(complaint_id="K2", customer_id="c-J1", order_id=order, category="product",
                                           severity="low", opened_at=march(6), acknowledge_due_at=march(7),
                                           resolve_due_at=march(8)), key="K2"),
        upstream_message(ComplaintSlaBreachedV1(complaint_id="K1", stage="acknowledge", cycle=1, due_at=march(7),
                                                detected_at=march(7)), key="K1"),
    ]
    await publish(stack.infra.kafka, f"{stack.prefix}.aftersales", messages)

    report = await eventually(lambda: stack.get("/v1/reports/aftersales", month="2026-03"),
                              until=lambda r: r["complaints"]["sla_breached"] == 1 and r["satisfaction"],
                              what="after-sales facts")
    assert report["satisfaction"] == [{"consultant_id": "c1", "month": "2026-03", "visits": 1,
                                       "satisfaction": 0.75}]
    assert report["complaints"] == {"opened": 2, "sla_breached": 1, "sla_compliance": 0.5}


def comparable(report: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in report.items() if k != "data_as_of"}


async def test_a_rebuild_serves_the_old_reports_until_it_switches_and_then_identical_ones(stack: Stack) -> None:
    before = comparable(await stack.get("/v1/reports/funnel"))
    attainment_before = await stack.get("/v1/reports/attainment", month="2026-03", today=march(15).isoformat())
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "services.reporting", "rebuild", cwd=REPO, env={**inherited_env(), **stack.env},
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    seen_totals = []
    during = [Journey(f"R{n}", "phone", "c3", "t2", march(22)) for n in range(3)]
    published = False
    while process.returncode is None:
        seen_totals.append((await stack.get("/v1/reports/funnel"))["total_leads"])
        if not published:  # events arriving while the rebuild runs must end up in the new model too
            await stack.publish(during)
            published = True
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(process.wait(), 0.05)
    out, err = await process.communicate()
    assert process.returncode == 0, err.decode()
    assert "rebuilding" in err.decode()  # the progress bar
    assert "switched from public" in out.decode()
    assert min(seen_totals) >= before["total_leads"]  # never an empty (or partial) dashboard

    after = await eventually(lambda: stack.get("/v1/reports/funnel"),
                             until=lambda r: r["total_leads"] == before["total_leads"] + 3,
                             what="the leads published during the rebuild")
    assert after["data_as_of"]["schema"].startswith("reporting_g")
    before_without_new = comparable(await stack.get("/v1/reports/funnel", end=march(22).isoformat()))
    assert {**before_without_new, "end": None} == before
    assert await stack.get("/v1/reports/attainment", month="2026-03",
                           today=march(15).isoformat()) == attainment_before

    # the live consumer now writes into the new generation
    await stack.publish([Journey("J6", "phone", "c3", "t2", march(21))])
    await eventually(lambda: stack.get("/v1/reports/funnel"),
                     until=lambda r: r["total_leads"] == before["total_leads"] + 4, what="a lead after the rebuild")
