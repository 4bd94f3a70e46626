"""HTTP API of campaigns (leads service): create and edit a campaign, record its spend, list them. Thin, like
``api.py``; changes are a manager's or a director's (403 otherwise), reading is for the sales floor's people.
Errors in the shared format: 422 naming the field (unknown kind or channel, a period that ends before it starts,
a zero or over-correcting spend), 409 ``campaign_code_taken``, 404 ``campaign_not_found``."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from fastapi import APIRouter

from services.leads.app import access
from services.leads.app import campaigns as cc
from services.leads.app.ports import CampaignQueries
from services.leads.domain.campaign import Campaign
from services.leads.domain.errors import CampaignNotFoundError
from shared.auth.http import AUTHENTICATED, CALLER, Caller
from shared.auth.principal import Principal
from shared.runtime.command_body import CommandBody, command_body
from shared.runtime.http import Correlation
from shared.runtime.http import command_context as _context
from shared.runtime.openapi import error_responses

# The request bodies are the commands (shared/runtime/command_body.py).
if TYPE_CHECKING:
    CreateCampaignBody = CommandBody[cc.CreateCampaign]
    UpdateCampaignBody = CommandBody[cc.UpdateCampaign]
    RecordSpendBody = CommandBody[cc.RecordCampaignSpend]
else:
    CreateCampaignBody = command_body(cc.CreateCampaign)
    UpdateCampaignBody = command_body(cc.UpdateCampaign, path=("campaign_id",))
    RecordSpendBody = command_body(cc.RecordCampaignSpend, path=("campaign_id",))


def campaign_view(campaign: Campaign) -> dict[str, Any]:
    return {"campaign_id": campaign.id, "code": campaign.code, "name": campaign.name, "kind": campaign.kind,
            "channel": campaign.channel, "starts_on": campaign.starts_on.isoformat(),
            "ends_on": campaign.ends_on.isoformat(), "budget_minor": campaign.budget_minor,
            "currency": campaign.currency, "spent_minor": campaign.spent_minor, "version": campaign.version}


def campaign_router(*, campaigns: cc.CampaignHandlers, queries: CampaignQueries,
                    kinds: list[dict[str, str]]) -> APIRouter:
    router = APIRouter(prefix="/v1", tags=["campaigns"], dependencies=AUTHENTICATED)

    @router.post("/campaigns", status_code=201, responses=error_responses(403))
    async def create_campaign(body: CreateCampaignBody, x_correlation_id: Correlation = None,
                              caller: Principal = CALLER) -> dict[str, Any]:
        """Create a campaign (a manager or a director): 201 with it; 409 ``campaign_code_taken``."""
        return campaign_view(await campaigns.create(body.to_command(), _context(x_correlation_id, caller)))

    @router.patch("/campaigns/{campaign_id}", responses=error_responses(403, 404))
    async def update_campaign(campaign_id: str, body: UpdateCampaignBody, x_correlation_id: Correlation = None,
                              caller: Principal = CALLER) -> dict[str, Any]:
        """Change the fields given (name, kind, channel, period, budget); only what differs is recorded."""
        return campaign_view(await campaigns.update(body.to_command(campaign_id=campaign_id),
                                                    _context(x_correlation_id, caller)))

    @router.post("/campaigns/{campaign_id}/spend", status_code=201, responses=error_responses(403, 404))
    async def record_spend(campaign_id: str, body: RecordSpendBody, x_correlation_id: Correlation = None,
                           caller: Principal = CALLER) -> dict[str, Any]:
        """Record money spent on the campaign (minor units; negative corrects, the total never below zero)."""
        spent = await campaigns.record_spend(body.to_command(campaign_id=campaign_id),
                                             _context(x_correlation_id, caller))
        e = spent.entry
        return {"entry_id": e.entry_id, "amount_minor": e.amount_minor, "currency": e.currency,
                "spent_at": e.spent_at.isoformat(), "note": e.note, "campaign": campaign_view(spent.campaign)}

    @router.get("/campaigns", responses=error_responses(403))
    async def list_campaigns(caller: Caller) -> dict[str, Any]:
        access.require_floor(caller)
        return {"campaigns": await queries.campaigns()}

    @router.get("/campaigns/{campaign_id}", responses=error_responses(403, 404))
    async def get_campaign(campaign_id: str, caller: Caller) -> dict[str, Any]:
        """The campaign with its spend entries."""
        access.require_floor(caller)
        found = await queries.campaign(campaign_id)
        if found is None:
            raise CampaignNotFoundError(f"no campaign {campaign_id}", campaign_id=campaign_id)
        return found

    @router.get("/campaign-kinds")
    async def list_kinds() -> dict[str, Any]:
        return {"kinds": kinds}

    return router
