"""HTTP API of outreach batches (leads service, issue 17 item 5): a manager turns a filtered list of dormant or lost
customers into follow-up tasks dealt round robin (app/outreach.py); the batch's result and progress."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol

from fastapi import APIRouter, Response

from services.leads.app import access
from services.leads.app import outreach as oc
from services.leads.domain.errors import OutreachBatchNotFoundError
from services.leads.domain.outreach import OutreachBatch
from shared.auth.http import AUTHENTICATED, CALLER, Caller
from shared.auth.principal import Principal
from shared.runtime.command_body import CommandBody, command_body
from shared.runtime.http import Correlation, IdempotencyKey, idempotent_request
from shared.runtime.http import command_context as _context
from shared.runtime.openapi import error_responses

if TYPE_CHECKING:
    CreateOutreachBatchBody = CommandBody[oc.CreateOutreachBatch]
else:
    CreateOutreachBatchBody = command_body(oc.CreateOutreachBatch, internal=oc.OUTREACH_INTERNAL)


class OutreachQueries(Protocol):
    async def outreach_batch(self, batch_id: str) -> dict[str, Any] | None:
        """The batch as recorded, each task with its lead's current state (owner, activity, follow-up due)."""


def _created_view(batch: OutreachBatch) -> dict[str, Any]:
    created = batch.created
    assert created is not None
    return {"batch_id": batch.id, **created.model_dump(mode="json", exclude={"batch_id"})}


def outreach_router(*, outreach: oc.OutreachHandlers, queries: OutreachQueries) -> APIRouter:
    router = APIRouter(prefix="/v1", tags=["outreach"], dependencies=AUTHENTICATED)

    @router.post("/outreach-batches", status_code=201, responses={
        200: {"description": "the same Idempotency-Key and request again: the first batch, nothing created"},
        **error_responses(403, 404, 409)})
    async def create_outreach_batch(body: CreateOutreachBatchBody, response: Response,
                                    x_correlation_id: Correlation = None, idempotency_key: IdempotencyKey = None,
                                    caller: Principal = CALLER) -> dict[str, Any]:
        """A manager (their team) or director (``team_id``) turns the dormant or lost customers ``filters`` select
        into one follow-up task each, dealt round robin over ``consultant_ids`` in that order and due at
        ``due_at``: lost customers are reactivated (a new lead of the same customer), dormant leads handed over.
        With an ``Idempotency-Key`` a repeat answers 200 with the first batch and creates nothing."""
        command = body.to_command(idempotency=idempotent_request(idempotency_key, "leads.outreach_batch", caller,
                                                                 body))
        result = await outreach.create_batch(command, _context(x_correlation_id, caller))
        if not result.created:
            response.status_code = 200
        return _created_view(result.batch)

    @router.get("/outreach-batches/{batch_id}", responses=error_responses(404))
    async def outreach_batch(batch_id: str, caller: Caller) -> dict[str, Any]:
        """The batch (filters, consultants, counts) and each task with its lead's progress: ``contacted`` once the
        lead had activity after the batch (a follow-up logged, a visit), ``overdue`` past the due time without."""
        batch = await queries.outreach_batch(batch_id)
        if batch is None or not access.may_see_outreach(caller, team_id=batch["team_id"],
                                                         created_by=batch["created_by"]):
            raise OutreachBatchNotFoundError(f"no outreach batch {batch_id}", batch_id=batch_id)
        return batch

    return router
