"""HTTP API of the reporting service (thin: parse, call a query or command, shape the answer)."""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Awaitable, Callable, Hashable, Iterable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal
from uuid import UUID

from fastapi import APIRouter, Depends, Query
from fastapi.encoders import jsonable_encoder
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, Response, StreamingResponse
from starlette.background import BackgroundTask

from services.reporting.app import access
from services.reporting.app.analysis import AfterSalesQuery, KpiReportQuery, MonthlyAnalysisQuery
from services.reporting.app.cache import WatermarkCache
from services.reporting.app.campaigns import CampaignReportQuery
from services.reporting.app.commands import SetTarget, SetTargetHandler, TargetRepository
from services.reporting.app.queries import FunnelQuery, FunnelReportQuery
from services.reporting.app.reports import (
    KPI_COLUMNS,
    AttainmentQuery,
    CommissionQuery,
    DailyReportQuery,
    GradeTableQuery,
)
from services.reporting.domain.campaigns import COLUMNS as CAMPAIGN_COLUMNS
from services.reporting.domain.kpis import COUNTS, KPIS
from services.reporting.domain.ledger import ConsultantTeams
from shared.auth.http import AUTHENTICATED, CALLER, Caller, allowed, signed_in_page
from shared.auth.principal import Principal
from shared.runtime.command_body import CommandBody, command_body
from shared.runtime.http import error_body
from shared.runtime.openapi import error_response, error_responses
from shared.runtime.params import IsoDate, IsoDateTime

DASHBOARD = Path(__file__).parent / "static" / "dashboard.html"
Format = Literal["json", "csv", "xlsx"]
# The monthly KPI tables' export columns: the counts and then every KPI (the formulas: domain/kpis.py).
KPI_EXPORT_COLUMNS = [*COUNTS, *KPIS]
# How long a report may wait for ``wait_for_event``: bounded, so a request cannot hold a worker (or outlast a
# client's timeout) for ever.
WaitTimeout = Annotated[float, Query(gt=0, le=15, description="seconds to wait for wait_for_event (at most 15)")]
# What a report route answers besides its JSON: the exports (``format``) and, when the export is not wired, 406.
EXPORT_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {"description": "the report: JSON, or the rows as CSV / an Excel workbook (``format``)",
          "content": {"text/csv": {"schema": {"type": "string"}},
                      "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet":
                          {"schema": {"type": "string", "format": "binary"}}}},
    **error_responses(406),
}
# A report that can wait for the caller's own event (``wait_for_event``) also answers 409 when it is not in yet.
WAITING_RESPONSES: dict[int | str, dict[str, Any]] = {
    **EXPORT_RESPONSES,
    409: {**error_response(409, "The read model has not yet applied ``wait_for_event`` within ``wait_timeout``; "
                                "retry after ``Retry-After`` seconds."),
          "headers": {"Retry-After": {"description": "seconds", "required": True, "schema": {"type": "integer"}}}},
}
Processed = Callable[[str], Awaitable[bool]]
CsvWriter = Callable[[Iterable[dict[str, Any]], list[str]], Iterator[bytes]]
XlsxWriter = Callable[..., str]


# The request body is the command (shared/runtime/command_body.py).
if TYPE_CHECKING:
    SetTargetBody = CommandBody[SetTarget]
else:
    SetTargetBody = command_body(SetTarget, internal=("set_by",))


def reporting_router(*, funnel: FunnelQuery, funnel_report: FunnelReportQuery | None = None,
                     attainment: AttainmentQuery | None = None, commission: CommissionQuery | None = None,
                     grades: GradeTableQuery | None = None, daily: DailyReportQuery | None = None,
                     targets: TargetRepository | None = None, set_target: SetTargetHandler | None = None,
                     processed: Processed | None = None, watermark: Callable[[], Awaitable[Any]] | None = None,
                     csv_writer: CsvWriter | None = None, xlsx_writer: XlsxWriter | None = None,
                     monthly: MonthlyAnalysisQuery | None = None, aftersales: AfterSalesQuery | None = None,
                     kpi_report: KpiReportQuery | None = None, cache: WatermarkCache | None = None,
                     campaigns: CampaignReportQuery | None = None,
                     consultant_teams: Callable[[], Awaitable[ConsultantTeams]] | None = None) -> APIRouter:
    router = APIRouter(prefix="/v1", tags=["reports"], dependencies=AUTHENTICATED)
    readers = [allowed(roles=access.READERS)]

    async def scoped_rows(caller: Principal, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """The per-consultant rows this caller may see (the team directory is read only for a manager's view;
        without one a manager sees no row rather than everyone's)."""
        teams = ConsultantTeams()
        if access.needs_teams(caller) and consultant_teams is not None:
            teams = await consultant_teams()
        now = datetime.now(UTC)
        return access.own_rows(caller, rows, lambda consultant: teams.team(consultant, now))

    async def cached(key: Hashable, compute: Callable[[], Awaitable[dict[str, Any]]],
                     clock_dependent: bool = False) -> dict[str, Any]:
        """One computation per report, parameters and read-model watermark (plus the minute, for reports that
        depend on the clock: due follow-ups, pace), shared by every dashboard polling it."""
        if cache is None:
            return await compute()
        if clock_dependent:
            key = (key, datetime.now(UTC).strftime("%Y-%m-%dT%H:%M"))
        result: dict[str, Any] = await cache.get(key, compute)
        return result

    def _export(report: dict[str, Any], rows_key: str, columns: list[str], fmt: Format, name: str) -> Response:
        if fmt == "json":
            return JSONResponse(jsonable_encoder(report))
        rows = report[rows_key]
        if fmt == "csv" and csv_writer is not None:
            return StreamingResponse(csv_writer(rows, columns), media_type="text/csv; charset=utf-8",
                                     headers={"Content-Disposition": f'attachment; filename="{name}.csv"'})
        if fmt == "xlsx" and xlsx_writer is not None:
            path = xlsx_writer(rows, columns, title=name)
            return FileResponse(path, filename=f"{name}.xlsx", background=BackgroundTask(os.unlink, path),
                                media_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")
        return JSONResponse(status_code=406, content=error_body("format_unavailable", f"{fmt} export is not wired"))

    async def wait_for(event_id: UUID | None, timeout: float) -> JSONResponse | None:
        """Read-your-writes: hold the query until reporting has applied ``event_id``; if it has not within the
        timeout, 409 ``not_yet_processed`` with ``Retry-After`` — the read model is behind the caller's write (or the
        id names no event reporting will see), which is the caller's to retry, not a server failure."""
        if event_id is None or processed is None:
            return None
        deadline = time.monotonic() + timeout
        while not await processed(str(event_id)):
            if time.monotonic() > deadline:
                return JSONResponse(status_code=409, headers={"Retry-After": "1"}, content=error_body(
                    "not_yet_processed", f"reporting has not processed event {event_id} within {timeout}s",
                    event_id=str(event_id)))
            await asyncio.sleep(0.02)
        return None

    @router.get("/funnel", dependencies=readers)
    async def get_funnel(caller: Caller, channel: str | None = None) -> dict[str, Any]:
        """Leads per pipeline stage (current and reached), with step conversion; optionally for one channel.
        Organisation-wide: directors (others use /v1/reports/funnel, narrowed to their scope)."""
        access.require_organisation_wide(caller)
        return await cached(("funnel-v1", channel), lambda: funnel(channel=channel))

    if funnel_report is None or attainment is None or commission is None or grades is None or daily is None \
            or targets is None or set_target is None or watermark is None:
        return router

    @router.get("/reports/funnel", responses=WAITING_RESPONSES, dependencies=readers)
    async def get_funnel_report(
        period: str | None = Query(None, description="cohort: leads captured in YYYY-MM or YYYY-MM-DD"),
        start: IsoDateTime | None = None, end: IsoDateTime | None = None,
        as_of: IsoDateTime | None = Query(None, description="the report as it stood at this moment"),
        channel: str | None = None, team: str | None = None, consultant: str | None = None,
        product: str | None = None,
        group_by: Literal["channel", "team", "consultant", "product", "period"] | None = None,
        wait_for_event: UUID | None = None, wait_timeout: WaitTimeout = 5.0, format: Format = "json",
        caller: Principal = CALLER,
    ) -> Response:
        """The funnel in both meanings (entered / reached at least), outcomes and time in stage (a consultant's
        own leads, a manager's team, a director's choice of filters)."""
        if (waited := await wait_for(wait_for_event, wait_timeout)) is not None:
            return waited
        # The cache key holds the filters as narrowed to the caller's scope: one caller's answer never serves another.
        filters = access.funnel_filters(caller, {"channel": channel, "team": team, "consultant": consultant,
                                                 "product": product})
        report = await cached(
            ("funnel", period, start, end, as_of, group_by, tuple(filters.items())),
            lambda: funnel_report(period=period, start=start, end=end, as_of=as_of, group_by=group_by,
                                  filters=filters))
        return _export(report, "stages", ["stage", "entered", "reached", "current", "conversion_from_previous",
                                          "median_hours_in_stage", "p90_hours_in_stage"], format, "funnel")

    @router.put("/targets", dependencies=readers)
    async def put_target(body: SetTargetBody, caller: Caller) -> dict[str, Any]:
        """Set (or replace) a target line; stored as an event in reporting's own event store. A director sets any
        line, a manager their team's; ``set_by`` is the caller."""
        command = body.to_command(set_by=caller.subject)
        access.require_set_target(caller, scope=command.scope, scope_id=command.scope_id,
                                  parent_team=command.parent_team)
        event = await set_target(command)
        encoded: dict[str, Any] = jsonable_encoder(event.model_dump())
        return encoded

    @router.get("/targets", dependencies=readers)
    async def get_targets(caller: Caller, month: str | None = None) -> dict[str, Any]:
        return {"targets": access.target_lines(caller, jsonable_encoder(await targets.lines(month=month)))}

    @router.get("/reports/attainment", responses=WAITING_RESPONSES, dependencies=readers)
    async def get_attainment(month: str, today: IsoDateTime | None = None, as_of: IsoDateTime | None = None,
                             wait_for_event: UUID | None = None, wait_timeout: WaitTimeout = 5.0,
                             format: Format = "json", caller: Principal = CALLER) -> Response:
        """Target attainment, variance rate 差异率, pace and run-rate forecast; flags splits that don't add up."""
        if (waited := await wait_for(wait_for_event, wait_timeout)) is not None:
            return waited
        report = await cached(("attainment", month, today, as_of),
                              lambda: attainment(month=month, today=today, as_of=as_of),
                              clock_dependent=today is None and as_of is None)
        visible = access.target_lines(caller, jsonable_encoder(await targets.lines(month=month, as_of=as_of)))
        report = {**report, "lines": access.lines_of(visible, jsonable_encoder(report["lines"]))}
        return _export(report, "lines", ["scope", "scope_id", "month", "metric", "target", "stretch", "actual",
                                         "attainment", "variance_rate", "stretch_attainment", "pace_expected",
                                         "pace_ratio", "forecast"], format, "attainment")

    @router.get("/reports/commission", responses=EXPORT_RESPONSES, dependencies=readers)
    async def get_commission(month: str, plan_id: str | None = None, consultant: str | None = None,
                             as_of: IsoDateTime | None = None, format: Format = "json",
                             caller: Principal = CALLER) -> Response:
        """Commission statements per consultant from the plan version in force for the month (a consultant: their
        own statement)."""
        report = await cached(("commission", month, plan_id, consultant, as_of),
                              lambda: commission(month=month, plan_id=plan_id, consultant=consultant, as_of=as_of))
        report = {**report, "statements": await scoped_rows(caller, jsonable_encoder(report["statements"]))}
        return _export(report, "statements", ["consultant_id", "month", "plan_id", "plan_version", "mode", "basis",
                                              "amount", "target", "attainment", "gate", "gate_passed",
                                              "commission_minor"], format, "commission")

    @router.get("/reports/grades", responses=EXPORT_RESPONSES, dependencies=readers)
    async def get_grades(as_of: IsoDateTime | None = None, format: Format = "json",
                         caller: Principal = CALLER) -> Response:
        """有望客户确度状态表: open leads per consultant × grade, follow-ups due/overdue, on-time rate."""
        report = await cached(("grades", as_of), lambda: grades(as_of=as_of), clock_dependent=as_of is None)
        report = {**report, "consultants": await scoped_rows(caller, jsonable_encoder(report["consultants"]))}
        return _export(report, "consultants", ["consultant_id", "N", "H", "A", "B", "C", "open", "due_today",
                                               "overdue", "on_time_follow_up_rate"], format, "grades")

    @router.get("/reports/daily", responses=EXPORT_RESPONSES, dependencies=readers)
    async def get_daily(day: str, as_of: IsoDateTime | None = None, format: Format = "json",
                        rows: Literal["consultants", "teams"] = "consultants",
                        caller: Principal = CALLER) -> Response:
        """销售日报: per consultant and per team for one day (YYYY-MM-DD); a consultant sees their own row, a
        manager their team's. ``rows`` picks the table an export carries."""
        report = await cached(("daily", day, as_of), lambda: daily(day=day, as_of=as_of))
        report = {**report, "consultants": await scoped_rows(caller, jsonable_encoder(report["consultants"])),
                  "teams": access.team_rows(caller, jsonable_encoder(report["teams"]))}
        key = "consultant_id" if rows == "consultants" else "team_id"
        return _export(report, rows, [key, *report["columns"], *KPI_COLUMNS], format,
                       "daily" if rows == "consultants" else "daily-teams")

    if monthly is not None:
        @router.get("/reports/monthly", responses=EXPORT_RESPONSES, dependencies=readers)
        async def get_monthly(month: str, as_of: IsoDateTime | None = None, format: Format = "json",
                              table: Literal["channels", "kpis_by_consultant", "kpis_by_team"] = "channels",
                              caller: Principal = CALLER) -> Response:
            """客户开发月度分析: target completion and variance, channel effectiveness, losses, open-lead churn,
            dealer KPIs for the org, per consultant and per team. ``table`` picks the table an export carries."""
            access.require_organisation_wide(caller)
            report = await cached(("monthly", month, as_of), lambda: monthly(month=month, as_of=as_of))
            columns = {"channels": ["channel", "leads", "contracts", "conversion"],
                       "kpis_by_consultant": ["consultant_id", *KPI_EXPORT_COLUMNS],
                       "kpis_by_team": ["team_id", *KPI_EXPORT_COLUMNS]}[table]
            return _export(report, table, columns, format, "monthly" if table == "channels" else f"monthly-{table}")

    if kpi_report is not None:
        @router.get("/reports/kpis", responses=EXPORT_RESPONSES, dependencies=readers)
        async def get_kpis(month: str, as_of: IsoDateTime | None = None, format: Format = "json",
                           table: Literal["kpis_by_day", "kpis_by_team", "kpis_by_consultant"] = "kpis_by_day",
                           caller: Principal = CALLER) -> Response:
            """The month's dealer KPIs in the caller's scope (a director: everyone; a manager: their team; a
            consultant: themselves): in total, per day (the dashboard's chart), per team and per consultant.
            ``table`` picks the table an export carries."""
            scope = access.kpi_scope(caller)
            report = await cached(("kpis", month, as_of, scope["team"], scope["consultant"]),
                                  lambda: kpi_report(month=month, as_of=as_of, **scope))
            key = {"kpis_by_day": "day", "kpis_by_team": "team_id", "kpis_by_consultant": "consultant_id"}[table]
            return _export(report, table, [key, *KPI_EXPORT_COLUMNS], format, f"kpis-{table}")

    if aftersales is not None:
        @router.get("/reports/aftersales", responses=EXPORT_RESPONSES, dependencies=readers)
        async def get_aftersales(month: str | None = None, as_of: IsoDateTime | None = None,
                                 format: Format = "json", caller: Principal = CALLER) -> Response:
            """Satisfaction by consultant and month (normalised 0..1), complaint SLA compliance."""
            access.require_organisation_wide(caller)
            report = await cached(("aftersales", month, as_of), lambda: aftersales(month=month, as_of=as_of))
            return _export(report, "satisfaction", ["consultant_id", "month", "visits", "satisfaction"], format,
                           "aftersales")

    if campaigns is not None:
        @router.get("/reports/campaigns", responses=EXPORT_RESPONSES, dependencies=readers)
        async def get_campaigns(
            period: str | None = Query(None, description="YYYY-MM or YYYY-MM-DD (or start/end; default all time)"),
            start: IsoDate | None = Query(None, description="first day"),
            end: IsoDate | None = Query(None, description="the day after the last (not included)"),
            as_of: IsoDateTime | None = None, format: Format = "json", caller: Principal = CALLER,
        ) -> Response:
            """Per channel and per campaign: leads, valid leads, visits, test drives, contracts, revenue and spend;
            cost per lead / valid lead / visit / sale and ROI = (revenue − spend) / spend (managers, directors)."""
            access.require_campaign_report(caller)
            report = await cached(("campaigns", period, start, end, as_of),
                                  lambda: campaigns(period=period, start=start, end=end, as_of=as_of))
            return _export(report, "rows", CAMPAIGN_COLUMNS, format, "campaigns")

    @router.get("/me")
    async def who_am_i(caller: Caller) -> dict[str, Any]:
        """The signed-in caller as reporting sees it (the dashboard shows it): subject, roles, team, scopes."""
        return {"subject": caller.subject, "roles": sorted(caller.roles), "team_id": caller.team_id,
                "scopes": sorted(caller.scopes)}

    @router.get("/watermark")
    async def get_watermark() -> dict[str, Any]:
        """What the read model has seen ("data as of")."""
        encoded: dict[str, Any] = jsonable_encoder(await watermark())
        return encoded

    return router


def dashboard_router() -> APIRouter:
    router = APIRouter(tags=["dashboard"], dependencies=[Depends(signed_in_page)])

    @router.get("/dashboard", response_class=HTMLResponse, responses={401: {
        "description": "not signed in: the sign-in page (HTML), which forwards to the identity provider",
        "content": {"text/html": {"schema": {"type": "string"}}}}})
    async def dashboard() -> HTMLResponse:
        return HTMLResponse(DASHBOARD.read_text(encoding="utf-8"))

    return router
