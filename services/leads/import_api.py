"""HTTP API of the bulk import (app/imports.py): upload a customer list as the request body, follow the job."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request

from services.leads.app import access
from services.leads.app.imports import (
    OUTCOMES,
    ImportHandlers,
    ImportJob,
    ImportJobStore,
    RowOutcome,
    StartImport,
)
from shared.auth.http import AUTHENTICATED, Caller
from shared.domain import InvalidFieldError
from shared.domain.phone import mask_phone_for_display
from shared.runtime.openapi import error_responses

XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
FileFormat = Literal["csv", "xlsx"]
CONTENT_TYPES: dict[str, FileFormat] = {"text/csv": "csv", XLSX_TYPE: "xlsx"}
UPLOAD_BODY = {"requestBody": {"required": True, "description": "the customer list itself (CSV in UTF-8, or XLSX)",
                               "content": {media: {"schema": {"type": "string", "format": "binary"}}
                                           for media in CONTENT_TYPES}}}


def job_view(job: ImportJob, counts: dict[str, int]) -> dict[str, Any]:
    return {"job_id": job.job_id, "dry_run": job.dry_run, "status": job.status, "file_name": job.file_name,
            "file_sha256": job.file_sha256, "team_id": job.team_id, "channel": job.channel,
            "requested_by": job.requested_by, "total_rows": job.total_rows, "processed_rows": job.processed,
            "counts": {o: counts.get(o, 0) for o in OUTCOMES}, "created_at": job.created_at.isoformat(),
            "finished_at": job.finished_at.isoformat() if job.finished_at else None}


def import_router(*, imports: ImportHandlers, jobs: ImportJobStore) -> APIRouter:
    router = APIRouter(prefix="/v1", tags=["imports"], dependencies=AUTHENTICATED)

    @router.post("/imports", status_code=202, openapi_extra=UPLOAD_BODY, responses=error_responses(403, 413))
    async def upload_list(
        request: Request, caller: Caller,
        dry_run: Annotated[bool, Query(description="report what the import would do, change nothing")] = True,
        team_id: Annotated[str | None, Query(max_length=100, description="assign in (default: configured)")] = None,
        channel: Annotated[str, Query(max_length=40, description="for rows without a channel")] = "customer_import",
        file_name: Annotated[str, Query(max_length=200)] = "upload",
        file_format: Annotated[FileFormat | None, Query(
            alias="format", description="default: from the Content-Type")] = None,
    ) -> dict[str, Any]:
        """Upload a customer list (the body is the file) as an import job: 202 with the job id; the rows are
        processed in the background (``GET /v1/imports/{job_id}``). A dry run (the default) reports per row
        what the import would do; ``dry_run=false`` imports through the capture's dedupe and assignment."""
        access.require_import(caller, team_id or imports.default_team_id)  # before the body is looked at
        kind = file_format or CONTENT_TYPES.get(request.headers.get("content-type", "").split(";")[0].strip())
        if kind is None:
            raise InvalidFieldError("format", "csv or xlsx (or send Content-Type text/csv or the XLSX type)")
        job = await imports.start(StartImport(file_name=file_name, content=await request.body(), file_format=kind,
                                              dry_run=dry_run, team_id=team_id, channel=channel), caller)
        return job_view(job, {})

    @router.get("/imports/{job_id}", responses=error_responses(404))
    async def import_status(
        job_id: str, caller: Caller,
        after_row: Annotated[int, Query(ge=0, description="cursor: the last row number of the previous page")] = 0,
        limit: Annotated[int, Query(ge=1, le=1000)] = 100,
        outcome: Annotated[RowOutcome | None, Query(description="only rows with this outcome")] = None,
    ) -> dict[str, Any]:
        """The job's progress and counts, and one page of per-row results in row order (``next_after_row`` is
        the next page's cursor, null on the last page). Visible to the uploader, the team's manager, a director;
        the rows' phones as uploaded only to the uploader and the team's manager (masked for others)."""
        job = await imports.job_for(job_id, caller)
        rows = await jobs.results(job_id, after_row=after_row, limit=limit, outcome=outcome)
        if not access.sees_import_phones(caller, team_id=job.team_id, requested_by=job.requested_by):
            rows = [{**r, "input": {**r["input"], "phone": mask_phone_for_display(r["input"]["phone"])}}
                    for r in rows]
        return {**job_view(job, await jobs.counts(job_id)), "rows": rows,
                "next_after_row": rows[-1]["row_number"] if len(rows) == limit else None}

    return router
