"""HTTP API of the work queues and the filtered lead list (leads service, issue 17 item 5). Thin: read the
filters, let app/work_queue.py check them and decide the scope, answer one page. Every list answers
``{"<items>": [...], "next_cursor": str | null}``; send ``cursor=<next_cursor>`` for the next page. A bad filter
value or cursor is 422 naming the field."""

from __future__ import annotations

from collections.abc import Collection
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query

from services.leads.app import access
from services.leads.app import work_queue as wq
from services.leads.app.ports import Clock
from services.leads.domain.errors import ConsultantNotFoundError
from shared.auth.http import AUTHENTICATED, Caller
from shared.pagination import DEFAULT_PAGE_SIZE
from shared.runtime.openapi import error_responses
from shared.runtime.params import PageCursor, PageLimit

IdleDays = Annotated[int | None, Query(ge=0, le=3650, description="no activity for at least this many days")]


# async although they await nothing: FastAPI runs a plain ``def`` dependency in a worker thread, a thread hop per
# request (a read's largest framework cost in a py-spy profile of bench/http_cost.py).
async def lead_filters(grade: Annotated[str | None, Query(description="H, A, B, C or N")] = None,
                       stage: Annotated[str | None, Query(description="new … delivered")] = None,
                       channel: Annotated[str | None, Query(description="a code of GET /v1/channels")] = None,
                       idle_days: IdleDays = None,
                       lost_reason: Annotated[str | None, Query(description="a code of GET /v1/loss-reasons (lost "
                                                               "leads)")] = None) -> wq.LeadFilters:
    return wq.LeadFilters(grade=grade, stage=stage, channel=channel, idle_days=idle_days, lost_reason=lost_reason)


async def work_filters(leads: Annotated[wq.LeadFilters, Depends(lead_filters)],
                       kind: Annotated[str | None, Query(description="follow_up | call_back | appointment | "
                                                            "return_visit")] = None,
                       overdue_only: bool = False) -> wq.WorkFilters:
    return wq.WorkFilters(leads=leads, kind=kind, overdue_only=overdue_only)


LeadFiltersParam = Annotated[wq.LeadFilters, Depends(lead_filters)]
WorkFiltersParam = Annotated[wq.WorkFilters, Depends(work_filters)]


def work_queue_router(*, lists: wq.WorkQueueQueries, clock: Clock, channels: Collection[str],
                      loss_reasons: Collection[str]) -> APIRouter:
    router = APIRouter(prefix="/v1", tags=["work queues"], dependencies=AUTHENTICATED)

    known = {"channels": channels, "loss_reasons": loss_reasons}

    @router.get("/work-queue")
    async def my_work_queue(caller: Caller, filters: WorkFiltersParam, cursor: PageCursor = None,
                            limit: PageLimit = DEFAULT_PAGE_SIZE) -> dict[str, Any]:
        """The caller's due work — follow-ups, call-backs (missed calls), appointments (showroom visits, test
        drives), return visits (after-sales) — by due time, then grade (H, A, B, C, N), each saying its kind,
        due time, whether it is overdue, the lead, customer name, grade and stage."""
        page = await lists.work_queue(wq.my_work_scope(caller), filters.checked(**known), assignee_id=None, now=clock(),
                                      cursor=cursor, limit=limit)
        return {"items": [_item(row) for row in page.items], "next_cursor": page.next_cursor}

    @router.get("/work-queue/team", responses=error_responses(403, 404))
    async def team_work_queue(caller: Caller, filters: WorkFiltersParam,
                              team_id: Annotated[str | None, Query(description="a director's choice; a "
                                                                                "manager's own team")] = None,
                              consultant_id: Annotated[str | None, Query(description="one consultant's")] = None,
                              cursor: PageCursor = None, limit: PageLimit = DEFAULT_PAGE_SIZE) -> dict[str, Any]:
        """The team's due work in the same order (managers: their team; directors: every team or ``team_id``);
        a consultant is refused (403) — their queue is ``/v1/work-queue``."""
        scope = wq.team_work_scope(caller, team_id=team_id)
        if consultant_id is not None:
            exists, team = await lists.consultant_team(consultant_id)
            if not exists:
                raise ConsultantNotFoundError(f"no consultant {consultant_id}", consultant_id=consultant_id)
            access.require_in_scope_consultant(caller, consultant_id, team)
        page = await lists.work_queue(scope, filters.checked(**known), assignee_id=consultant_id, now=clock(),
                                      cursor=cursor, limit=limit)
        return {"items": [_item(row) for row in page.items], "next_cursor": page.next_cursor}

    @router.get("/leads")
    async def lead_list(caller: Caller, filters: LeadFiltersParam,
                        owner_id: Annotated[str | None, Query(description="one consultant's leads")] = None,
                        team_id: str | None = None,
                        status: Annotated[str | None, Query(description="open (default) | lost | invalid")] = None,
                        cursor: PageCursor = None, limit: PageLimit = DEFAULT_PAGE_SIZE) -> dict[str, Any]:
        """Leads in the caller's scope (a consultant: their own and their team's pool; a manager: the team; a
        director: all), by grade (H first) then capture time, filtered; lost leads with ``status=lost`` or a
        ``lost_reason``."""
        filters.checked(**known)
        page = await lists.lead_list(wq.lead_list_scope(caller), filters, status=wq.list_status(status, filters),
                                     owner_id=owner_id, team_id=team_id, now=clock(), cursor=cursor, limit=limit)
        rows = [{k: v for k, v in row.items() if k != "grade_rank"} for row in page.items]
        return {"leads": access.visible(caller, rows), "next_cursor": page.next_cursor}

    return router


def _item(row: dict[str, Any]) -> dict[str, Any]:
    return {"item_id": row["item_id"], "kind": row["kind"], "detail": row["detail"], "due_at": row["due_at"],
            "overdue": row["overdue"], "lead_id": row["lead_id"], "customer_id": row["customer_id"],
            "customer_name": row["customer_name"], "grade": row["grade"], "stage": row["stage"],
            "channel": row["channel"], "assignee_id": row["assignee_id"], "team_id": row["team_id"]}
