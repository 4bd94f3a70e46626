"""HTTP API of the reporting service (thin: parse, call a query or command, shape the answer)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, Literal
from uuid import UUID

from fastapi import APIRouter, Depends, Query
from fastapi.encoders import jsonable_encoder
from fastapi.responses import HTMLResponse, JSONResponse, Response
from pydantic import BaseModel, Field

from services.reporting.app.analysis import AfterSalesQuery, MonthlyAnalysisQuery
from services.reporting.app.commands import SetTarget, SetTargetHandler, TargetRepository
from services.reporting.app.queries import FunnelQuery, FunnelReportQuery
from services.reporting.app.reports import AttainmentQuery, CommissionQuery, DailyReportQuery, GradeTableQuery
from shared.auth.http import AUTHENTICATED, Caller, signed_in_page
from shared.runtime.http import error_body
from shared.runtime.openapi import error_response, error_responses
from shared.runtime.params import IsoDateTime

DASHBOARD = Path(__file__).parent / "static" / "dashboard.html"
Format = Literal["json", "csv", "xlsx"]
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
CsvWriter = Callable[[list[dict[str, Any]], list[str]], bytes]
XlsxWriter = Callable[..., bytes]


class SetTargetBody(BaseModel):
    scope: Literal["org", "team", "consultant"]
    scope_id: str = Field(default="", description="team or consultant id; empty for the organisation")
    month: str = Field(description="YYYY-MM")
    metric: Literal["new_leads", "visits", "test_drives", "contracts", "deliveries", "revenue"]
    base: float = Field(ge=0)
    stretch: float | None = Field(default=None, ge=0)
    parent_team: str | None = Field(default=None, description="for a consultant's share of a team target")
    set_by: str | None = None


def reporting_router(*, funnel: FunnelQuery, funnel_report: FunnelReportQuery | None = None,
                     attainment: AttainmentQuery | None = None, commission: CommissionQuery | None = None,
                     grades: GradeTableQuery | None = None, daily: DailyReportQuery | None = None,
                     targets: TargetRepository | None = None, set_target: SetTargetHandler | None = None,
                     processed: Processed | None = None, watermark: Callable[[], Awaitable[Any]] | None = None,
                     csv_writer: CsvWriter | None = None, xlsx_writer: XlsxWriter | None = None,
                     monthly: MonthlyAnalysisQuery | None = None, aftersales: AfterSalesQuery | None = None,
                     ) -> APIRouter:
    router = APIRouter(prefix="/v1", tags=["reports"], dependencies=AUTHENTICATED)

    def _export(report: dict[str, Any], rows_key: str, columns: list[str], fmt: Format, name: str) -> Response:
        if fmt == "json":
            return JSONResponse(jsonable_encoder(report))
        rows = report[rows_key]
        if fmt == "csv" and csv_writer is not None:
            return Response(csv_writer(rows, columns), media_type="text/csv; charset=utf-8",
                            headers={"Content-Disposition": f'attachment; filename="{name}.csv"'})
        if fmt == "xlsx" and xlsx_writer is not None:
            return Response(xlsx_writer(rows, columns, title=name),
                            media_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
                            headers={"Content-Disposition": f'attachment; filename="{name}.xlsx"'})
        return JSONResponse(status_code=406, content=error_body("format_unavailable", f"{fmt} export is not wired"))

    async def wait_for(event_id: UUID | None, timeout: float) -> JSONResponse | None:
        """Read-your-writes: hold the query until reporting has applied ``event_id``; if it has not within the
        timeout, 409 ``not_yet_processed`` with ``Retry-After`` — the read model is behind the caller's write (or the
        id names no event reporting will see), which is the caller's to retry, not a server failure."""
        if event_id is None or processed is None:
            return None
        deadline = time.monotonic() + min(timeout, 30.0)
        while not await processed(str(event_id)):
            if time.monotonic() > deadline:
                return JSONResponse(status_code=409, headers={"Retry-After": "1"}, content=error_body(
                    "not_yet_processed", f"reporting has not processed event {event_id} within {timeout}s",
                    event_id=str(event_id)))
            await asyncio.sleep(0.02)
        return None

    @router.get("/funnel")
    async def get_funnel(channel: str | None = None) -> dict[str, Any]:
        """Leads per pipeline stage (current and reached), with step conversion; optionally for one channel."""
        return await funnel(channel=channel)

    if funnel_report is None or attainment is None or commission is None or grades is None or daily is None \
            or targets is None or set_target is None or watermark is None:
        return router

    @router.get("/reports/funnel", responses=WAITING_RESPONSES)
    async def get_funnel_report(
        period: str | None = Query(None, description="cohort: leads captured in YYYY-MM or YYYY-MM-DD"),
        start: IsoDateTime | None = None, end: IsoDateTime | None = None,
        as_of: IsoDateTime | None = Query(None, description="the report as it stood at this moment"),
        channel: str | None = None, team: str | None = None, consultant: str | None = None,
        product: str | None = None,
        group_by: Literal["channel", "team", "consultant", "product", "period"] | None = None,
        wait_for_event: UUID | None = None, wait_timeout: float = 5.0, format: Format = "json",
    ) -> Response:
        """The funnel in both meanings (entered / reached at least), outcomes and time in stage."""
        if (waited := await wait_for(wait_for_event, wait_timeout)) is not None:
            return waited
        report = await funnel_report(period=period, start=start, end=end, as_of=as_of, group_by=group_by,
                                     filters={"channel": channel, "team": team, "consultant": consultant,
                                              "product": product})
        return _export(report, "stages", ["stage", "entered", "reached", "current", "conversion_from_previous",
                                          "median_hours_in_stage", "p90_hours_in_stage"], format, "funnel")

    @router.put("/targets")
    async def put_target(body: SetTargetBody) -> dict[str, Any]:
        """Set (or replace) a target line; stored as an event in reporting's own event store."""
        event = await set_target(SetTarget(**body.model_dump()))
        encoded: dict[str, Any] = jsonable_encoder(event.model_dump())
        return encoded

    @router.get("/targets")
    async def get_targets(month: str | None = None) -> dict[str, Any]:
        return {"targets": jsonable_encoder(await targets.lines(month=month))}

    @router.get("/reports/attainment", responses=WAITING_RESPONSES)
    async def get_attainment(month: str, today: IsoDateTime | None = None, as_of: IsoDateTime | None = None,
                             wait_for_event: UUID | None = None, wait_timeout: float = 5.0,
                             format: Format = "json") -> Response:
        """Target attainment, variance rate 差异率, pace and run-rate forecast; flags splits that don't add up."""
        if (waited := await wait_for(wait_for_event, wait_timeout)) is not None:
            return waited
        report = await attainment(month=month, today=today, as_of=as_of)
        return _export(report, "lines", ["scope", "scope_id", "month", "metric", "target", "stretch", "actual",
                                         "attainment", "variance_rate", "stretch_attainment", "pace_expected",
                                         "pace_ratio", "forecast"], format, "attainment")

    @router.get("/reports/commission", responses=EXPORT_RESPONSES)
    async def get_commission(month: str, plan_id: str | None = None, consultant: str | None = None,
                             as_of: IsoDateTime | None = None, format: Format = "json") -> Response:
        """Commission statements per consultant from the plan version in force for the month."""
        report = await commission(month=month, plan_id=plan_id, consultant=consultant, as_of=as_of)
        return _export(report, "statements", ["consultant_id", "month", "plan_id", "plan_version", "mode", "basis",
                                              "amount", "target", "attainment", "gate", "gate_passed",
                                              "commission_minor"], format, "commission")

    @router.get("/reports/grades", responses=EXPORT_RESPONSES)
    async def get_grades(as_of: IsoDateTime | None = None, format: Format = "json") -> Response:
        """有望客户确度状态表: open leads per consultant × grade, follow-ups due/overdue, on-time rate."""
        report = await grades(as_of=as_of)
        return _export(report, "consultants", ["consultant_id", "N", "H", "A", "B", "C", "open", "due_today",
                                               "overdue", "on_time_follow_up_rate"], format, "grades")

    @router.get("/reports/daily", responses=EXPORT_RESPONSES)
    async def get_daily(day: str, as_of: IsoDateTime | None = None, format: Format = "json") -> Response:
        """销售日报: per consultant for one day (YYYY-MM-DD)."""
        report = await daily(day=day, as_of=as_of)
        return _export(report, "consultants", ["consultant_id", *report["columns"]], format, "daily")

    if monthly is not None:
        @router.get("/reports/monthly", responses=EXPORT_RESPONSES)
        async def get_monthly(month: str, as_of: IsoDateTime | None = None, format: Format = "json") -> Response:
            """客户开发月度分析: target completion and variance, channel effectiveness, losses, open-lead churn."""
            report = await monthly(month=month, as_of=as_of)
            return _export(report, "channels", ["channel", "leads", "contracts", "conversion"], format, "monthly")

    if aftersales is not None:
        @router.get("/reports/aftersales", responses=EXPORT_RESPONSES)
        async def get_aftersales(month: str | None = None, as_of: IsoDateTime | None = None,
                                 format: Format = "json") -> Response:
            """Satisfaction by consultant and month (normalised 0..1), complaint SLA compliance."""
            report = await aftersales(month=month, as_of=as_of)
            return _export(report, "satisfaction", ["consultant_id", "month", "visits", "satisfaction"], format,
                           "aftersales")

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

    @router.get("/dashboard", response_class=HTMLResponse)
    async def dashboard() -> HTMLResponse:
        return HTMLResponse(DASHBOARD.read_text(encoding="utf-8"))

    return router
