"""The managers' dashboard rendered by a real headless browser (Debian's chromium) against a real reporting
process with data from Kafka; the screenshot is kept (``REPORTING_SCREENSHOT`` or the temp dir) to look at."""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import tempfile
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime
from pathlib import Path

import httpx
import pytest

from services.reporting.wiring import MIGRATIONS
from shared.contracts.campaigns import CampaignCreatedV1, CampaignSpendRecordedV1
from shared.contracts.leads import (
    AppointmentAttendedV1,
    AppointmentMissedV1,
    ConsultantRegisteredV1,
)
from shared.contracts.showroom import VisitArrivedV1
from tests.support.auth import auth_headers
from tests.support.infra import RUN_ID, Infra
from tests.support.processes import ServiceProcess, start_service, stop_service
from tests.support.reporting import Journey, drop_database, fresh_reporting_database
from tests.support.upstream import publish, upstream_message
from tests.support.waiting import eventually

pytestmark = pytest.mark.e2e

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
SCREENSHOT = Path(os.environ.get("REPORTING_SCREENSHOT", Path(tempfile.gettempdir()) / "reporting-dashboard.png"))


def march(day: int, hour: int = 9) -> datetime:
    return datetime(2026, 3, day, hour, tzinfo=UTC)


JOURNEYS = [
    Journey("D1", "online_shop", "c1", "t1", march(2), moves=[(5, "visited", "leads"),
                                                             (20, "contract_signed", "orders")],
            campaign_id="cmp-ad"),
    Journey("D2", "call_center", "c1", "t1", march(3), moves=[(2, "contacted", "leads"), (9, "presented", "leads")]),
    Journey("D3", "call_center", "c2", "t1", march(4), moves=[(3, "test_driven", "leads")],
            lost=(8, "price", "BYD Han")),
    Journey("D4", "referral", "c2", "t1", march(5), campaign_id="cmp-show"),
    Journey("D9", "referral", "c9", "t2", march(5)),
]


# The reception register and appointments of those leads (the showroom KPIs and their chart over time): every
# lead's first visit on its capture day; on the 4th D2 kept an invited visit and D3 did not show for a test drive
# (AppointmentScheduled is left out: it carries no time of its own, so it would move the data-as-of to today).
SHOWROOM = [
    *(upstream_message(VisitArrivedV1(
        visit_id=f"v-{j.lead_id}", lead_id=j.lead_id, customer_id=f"c-{j.lead_id}", visit_number=1, first_visit=True,
        party_size=1, purpose="first_look", consultant_id=j.owner_id, walk_in_lead=False,
        arrived_at=j.at(1)), key=f"v-{j.lead_id}") for j in JOURNEYS),
    upstream_message(AppointmentAttendedV1(lead_id="D2", appointment_id="a1", kind="showroom_visit",
                                           attended_at=march(4)), key="D2"),
    upstream_message(AppointmentMissedV1(lead_id="D3", appointment_id="a2", kind="test_drive",
                                         recorded_at=march(4, 16)), key="D3"),
]


# Two campaigns of March: an ad package that spent 400 yuan (in two entries, one a correction) and brought D1, which
# signed for 1 000 yuan — ROI (1 000 − 400) / 400 = 150 % — and a roadshow with no spend yet (ROI "—"), which
# brought D4. Money in fen.
AD_SPEND = (50_000, -10_000)
CAMPAIGNS = [
    upstream_message(CampaignCreatedV1(
        campaign_id="cmp-ad", code="AD-MAR", campaign_name="抖音三月套餐", kind="ad_platform", channel="online_shop",
        starts_on=date(2026, 3, 1), ends_on=date(2026, 3, 31), budget_minor=80_000, created_at=march(1)),
        key="cmp-ad"),
    upstream_message(CampaignCreatedV1(
        campaign_id="cmp-show", code="SHOW-MAR", campaign_name="春季巡展", kind="roadshow", channel="referral",
        starts_on=date(2026, 3, 1), ends_on=date(2026, 3, 15), budget_minor=30_000, created_at=march(1)),
        key="cmp-show"),
    *(upstream_message(CampaignSpendRecordedV1(
        campaign_id="cmp-ad", entry_id=f"s{n}", amount_minor=amount, channel="online_shop", spent_at=march(2 + n),
        total_spent_minor=sum(AD_SPEND[:n + 1]), recorded_at=march(2 + n)), key="cmp-ad")
      for n, amount in enumerate(AD_SPEND)),
]


async def publish_journeys(infra: Infra, prefix: str, journeys: list[Journey]) -> None:
    by_topic: dict[str, list] = {}
    for journey in journeys:
        for topic, message in journey.messages():
            by_topic.setdefault(f"{prefix}.{topic}", []).append(message)
    for topic, messages in by_topic.items():
        await publish(infra.kafka, topic, messages)


@pytest.fixture(scope="module")
async def dashboard(infra: Infra) -> AsyncIterator[tuple[ServiceProcess, str]]:
    if CHROMIUM is None:
        pytest.skip("chromium is not installed (CI: apt-get install -y chromium)")
    prefix = f"t{RUN_ID}dash{uuid.uuid4().hex[:6]}"
    dsn = await fresh_reporting_database(infra, "dash", MIGRATIONS)
    service = await start_service("reporting", {**infra.kafka_env(),
                                                "SALESFLOW_TOPIC_PREFIX": prefix, "REPORTING_DATABASE_URL": dsn})
    try:
        async with httpx.AsyncClient(headers=auth_headers("director"), base_url=service.url, timeout=10) as client:
            await client.put("/v1/targets", json={"scope": "team", "scope_id": "t1", "month": "2026-03",
                                                  "metric": "contracts", "base": 3})
            await client.put("/v1/targets", json={"scope": "consultant", "scope_id": "c1", "month": "2026-03",
                                                  "metric": "contracts", "base": 2, "parent_team": "t1"})
        # leads registers its consultants before it assigns them (the organisation): a manager's per-consultant
        # rows are narrowed by these teams, so without them the browser (signed in as manager m1 of t1) would see an
        # empty grades table. c9 of t2 has an open lead too and must not show on m1's dashboard.
        await publish(infra.kafka, f"{prefix}.leads", [
            upstream_message(ConsultantRegisteredV1(consultant_id=c, name=c, team_id=team, role="consultant",
                                                    registered_at=march(1)), key=c)
            for c, team in (("c1", "t1"), ("c2", "t1"), ("c9", "t2"))])
        await publish_journeys(infra, prefix, JOURNEYS)
        await publish(infra.kafka, f"{prefix}.leads", SHOWROOM)
        await publish(infra.kafka, f"{prefix}.leads", CAMPAIGNS)

        async def funnel() -> dict:
            async with httpx.AsyncClient(headers=auth_headers("director"), base_url=service.url, timeout=10) as client:
                return (await client.get("/v1/reports/funnel")).json()

        await eventually(funnel, until=lambda r: r["total_leads"] == 5 and r["lost"] == 1, what="data in reporting")

        async def kpis() -> dict:
            async with httpx.AsyncClient(headers=auth_headers("director"), base_url=service.url, timeout=10) as client:
                return (await client.get("/v1/reports/kpis?month=2026-03")).json()

        await eventually(kpis, until=lambda r: r["kpis"]["walk_ins"] == 5 and r["kpis"]["appointments_missed"] == 1,
                         what="the showroom facts in reporting")

        async def campaigns() -> dict:
            async with httpx.AsyncClient(headers=auth_headers("director"), base_url=service.url, timeout=10) as client:
                return (await client.get("/v1/reports/campaigns?period=2026-03")).json()

        await eventually(campaigns, until=lambda r: r["totals"]["spend_minor"] == sum(AD_SPEND)
                         and r["totals"]["revenue_minor"] == 100_000, what="the campaigns in reporting")
        yield service, prefix
    finally:
        await stop_service(service)
        await drop_database(infra, dsn)


async def chromium(url: str, *args: str) -> str:
    assert CHROMIUM is not None
    with tempfile.TemporaryDirectory(prefix="salesflow-chromium-") as profile:
        process = await asyncio.create_subprocess_exec(
            CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
            "--disable-component-update", "--disable-sync", "--no-first-run", f"--user-data-dir={profile}",
            "--window-size=1280,900", "--virtual-time-budget=5000", *args, url,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
        try:
            out, err = await asyncio.wait_for(process.communicate(), 90)
        except TimeoutError:
            process.kill()  # never leave a browser behind
            await process.wait()
            raise
    assert process.returncode == 0, err.decode(errors="replace")[-2000:]
    return out.decode()


def _cells(row: str) -> list[str]:
    """The text of a table row's cells after the first (the label)."""
    return re.findall(r"<td[^>]*>([^<]*)</td>", row)


async def test_the_dashboard_renders_funnel_attainment_grades_losses_and_a_data_as_of_watermark(
    dashboard: tuple[ServiceProcess, str],
) -> None:
    service, _ = dashboard
    url = f"{service.url}/dashboard?month=2026-03"
    dom = await chromium(url, "--dump-dom")

    assert 'data-loaded="true"' in dom
    assert re.search(r'id="as-of">2026-03-\d\dT', dom), "the data-as-of watermark shows the newest event time"
    assert "leads 线索 4 · won 成交 1 · lost 战败 1" in dom  # m1's team t1 only: D9 is t2's
    assert "contract_signed" in dom
    assert "price" in dom
    assert "BYD Han" not in dom.split('id="losses"')[0]
    assert "差异率" in dom
    assert "-50.0%" in dom
    assert "split of t1 contracts off by -1" in dom
    grades = dom.split('id="grades"')[1].split("</table>")[0]
    assert ">c1<" in grades, "m1 sees the grades of their team's consultants"
    assert ">c2<" in grades
    assert ">c9<" not in grades, "and not another team's"
    kpis = dom.split('id="kpis"')[1]
    assert "Invitation → visit 邀约到店率" in kpis
    assert "Visit → order 到店成交率" in kpis
    assert "Record rate 留档率" in kpis.split("</table>")[0]
    # The chart over time: one line per showroom KPI across the month's days, drawn as inline SVG.
    trend = dom.split('id="trend"')[1].split("</svg>")[0]
    assert "<svg" in trend
    for series in ("walk_in_record_rate", "test_drive_rate", "no_show_rate"):
        assert f'data-series="{series}"' in trend, series
    assert "爽约率 2026-03-04: 50.0%" in trend  # D3 missed its appointment, D2 kept hers
    teams = dom.split('id="team-kpis"')[1].split("</table>")[0]
    assert ">t1<" in teams, "m1 sees their team's showroom KPIs"
    assert ">t2<" not in teams, "and not another team's"

    # The campaign panel (a manager may read channel and campaign cost): per campaign and per channel, in CNY.
    panel = dom.split('id="campaigns"')[1].split("<script")[0]  # the panel, not the page's script after it
    by_campaign, by_channel = panel.split("By channel 按渠道")
    ad = by_campaign.split("抖音三月套餐 (AD-MAR) · online_shop")[1].split("</tr>")[0]
    spend = sum(AD_SPEND)
    assert _cells(ad) == ["1", "1", "1", "1", "¥1,000.00", "¥400.00", "¥400.00", "¥400.00",
                          f"{(100_000 - spend) / spend * 100:.1f}%"]
    show = by_campaign.split("春季巡展 (SHOW-MAR) · referral")[1].split("</tr>")[0]
    assert _cells(show) == ["1", "1", "0", "0", "¥0.00", "¥0.00", "¥0.00", "—", "—"], "no spend: ROI is —"
    assert "Infinity" not in panel
    assert "NaN" not in panel
    online = by_channel.split(">online_shop<")[1].split("</tr>")[0]
    assert _cells(online)[:6] == ["1", "1", "1", "1", "¥1,000.00", "¥400.00"]
    assert "Total 合计" in by_channel

    SCREENSHOT.unlink(missing_ok=True)  # noqa: ASYNC240
    await chromium(url, f"--screenshot={SCREENSHOT}", "--window-size=1280,2000")  # tall enough for every panel
    png = SCREENSHOT.read_bytes()  # noqa: ASYNC240
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    assert len(png) > 20_000  # a real rendering, not a blank page


async def test_the_dashboard_shows_new_events_on_its_next_refresh(
    infra: Infra, dashboard: tuple[ServiceProcess, str],
) -> None:
    service, prefix = dashboard
    await publish_journeys(infra, prefix, [Journey("D5", "phone", "c2", "t1", march(6))])
    dom = await eventually(lambda: chromium(f"{service.url}/dashboard?month=2026-03", "--dump-dom"),
                           until=lambda d: "leads 线索 5" in d, what="the new lead on the dashboard", timeout=60)
    assert "setInterval(refresh" in dom  # and the page keeps refreshing itself
