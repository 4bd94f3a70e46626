"""HTTP API of the leads service (thin: validate input, call a handler, shape the answer)."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Header, HTTPException
from pydantic import BaseModel, Field

from services.leads.app.commands import CaptureLead, CaptureLeadHandler
from services.leads.app.ports import CommandContext, LeadHistory, LeadRepository
from services.leads.domain.lead import Lead


class CaptureLeadRequest(BaseModel):
    name: str = Field(min_length=1, max_length=100, description="the prospect's name", examples=["张三"])
    phone: str = Field(min_length=1, max_length=40, description="any common format; stored as E.164",
                       examples=["138 1234 5678"])
    channel: str = Field(min_length=1, max_length=40, description="channel code, see GET /v1/channels",
                         examples=["online_shop"])
    interest: str | None = Field(default=None, max_length=200, description="model or product of interest")


class LeadView(BaseModel):
    lead_id: str
    customer_id: str
    name: str
    phone: str
    channel: str
    interest: str | None
    stage: str
    grade: str
    version: int


def _view(lead: Lead) -> LeadView:
    return LeadView(
        lead_id=lead.id, customer_id=lead.customer_id, name=lead.name, phone=lead.phone, channel=lead.channel,
        interest=lead.interest, stage=lead.stage.value, grade=lead.grade.value, version=lead.version,
    )


def _context(correlation_id: str | None, actor: str | None) -> CommandContext:
    return CommandContext(correlation_id=correlation_id or str(uuid.uuid4()), actor=actor)


def leads_router(
    *, capture: CaptureLeadHandler, leads: LeadRepository, history: LeadHistory, channels: list[dict[str, str]]
) -> APIRouter:
    router = APIRouter(prefix="/v1", tags=["leads"])

    @router.post("/leads", status_code=201, response_model=LeadView)
    async def capture_lead(
        body: CaptureLeadRequest,
        x_correlation_id: Annotated[str | None, Header()] = None,
        x_actor: Annotated[str | None, Header()] = None,
    ) -> LeadView:
        """Capture a lead from any channel. 422 names the field and the reason; nothing is stored then."""
        result = await capture(
            CaptureLead(name=body.name, phone=body.phone, channel=body.channel, interest=body.interest),
            _context(x_correlation_id, x_actor),
        )
        return _view(result.lead)

    @router.get("/leads/{lead_id}")
    async def get_lead(lead_id: str) -> dict[str, Any]:
        """The lead's current state and its full history (who did what when)."""
        lead = await leads.get(lead_id)
        if lead is None:
            raise HTTPException(404, f"no lead {lead_id}")
        return {**_view(lead).model_dump(), "history": await history.history(lead_id)}

    @router.get("/channels")
    async def list_channels() -> dict[str, Any]:
        return {"channels": channels}

    return router
