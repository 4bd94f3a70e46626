"""HTTP API of the webhooks service: a client manages its own subscriptions and their deliveries (scope
``webhooks:manage``; a subscription belongs to the calling client, another client's ids are 404)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Response
from pydantic import BaseModel, Field

from services.webhooks.app.ports import SubscriptionStore
from services.webhooks.domain.subscriptions import Subscription
from shared.auth.http import Caller, allowed
from shared.auth.principal import Principal
from shared.domain import DomainError

MANAGE_SCOPE = "webhooks:manage"


class SubscriptionNotFoundError(DomainError):
    code = "subscription_not_found"
    http_status = 404


class DeliveryNotFoundError(DomainError):
    """No dead delivery with that id among the caller's subscriptions (only dead ones are redelivered)."""

    code = "delivery_not_found"
    http_status = 404


class SubscriptionIn(BaseModel):
    url: str = Field(min_length=1, max_length=2000, description="where the signed deliveries are POSTed")
    event_types: list[str] = Field(min_length=1, max_length=100,
                                   description="public event types, e.g. salesflow.orders.ContractSigned")
    secret: str = Field(min_length=16, max_length=200, description="the HMAC-SHA256 key; never shown again")


def client_of(caller: Principal) -> str:
    """Who owns a subscription: the calling system client (a person's token: the person)."""
    return caller.client_id or caller.subject


def webhooks_router(*, subscriptions: SubscriptionStore, event_types: list[str],
                    new_id: Callable[[], str]) -> APIRouter:
    router = APIRouter(prefix="/v1/webhooks", dependencies=[allowed(scopes=[MANAGE_SCOPE])])

    async def owned(caller: Principal, subscription_id: str) -> dict[str, Any]:
        found = await subscriptions.get(client_of(caller), subscription_id)
        if found is None:
            raise SubscriptionNotFoundError(f"no subscription {subscription_id}")
        return found

    @router.get("/event-types")
    async def known_event_types() -> dict[str, Any]:
        """The public event types a subscription may name."""
        return {"event_types": event_types}

    @router.post("/subscriptions", status_code=201)
    async def subscribe(body: SubscriptionIn, caller: Caller) -> dict[str, Any]:
        """Subscribe the calling client's URL to event types; deliveries start with the next such event."""
        subscription = Subscription.create(subscription_id=new_id(), client_id=client_of(caller), url=body.url,
                                           event_types=body.event_types, secret=body.secret,
                                           known_types=event_types)
        await subscriptions.add(subscription)
        return await owned(caller, subscription.subscription_id)

    @router.get("/subscriptions")
    async def list_subscriptions(caller: Caller) -> dict[str, Any]:
        return {"subscriptions": await subscriptions.of_client(client_of(caller))}

    @router.get("/subscriptions/{subscription_id}")
    async def get_subscription(subscription_id: str, caller: Caller) -> dict[str, Any]:
        return await owned(caller, subscription_id)

    @router.delete("/subscriptions/{subscription_id}", status_code=204)
    async def unsubscribe(subscription_id: str, caller: Caller) -> Response:
        """Stop deliveries (queued ones included; the history stays)."""
        if not await subscriptions.deactivate(client_of(caller), subscription_id):
            raise SubscriptionNotFoundError(f"no subscription {subscription_id}")
        return Response(status_code=204)

    @router.get("/subscriptions/{subscription_id}/deliveries")
    async def deliveries(subscription_id: str, caller: Caller,
                         status: Literal["pending", "delivered", "dead"] | None = None,
                         limit: Annotated[int, Query(ge=1, le=1000)] = 200) -> dict[str, Any]:
        """The subscription's deliveries; ``status=dead``: its dead letters (gave up after the retry rounds)."""
        await owned(caller, subscription_id)
        return {"deliveries": await subscriptions.deliveries(client_of(caller), subscription_id, status, limit)}

    @router.post("/deliveries/{delivery_id}/redelivery", status_code=202)
    async def redeliver(delivery_id: str, caller: Caller) -> dict[str, Any]:
        """Queue a dead delivery again (due now, retry rounds from the start)."""
        try:
            done = await subscriptions.redeliver(client_of(caller), delivery_id)
        except ValueError:  # not a UUID
            done = False
        if not done:
            raise DeliveryNotFoundError(f"no dead delivery {delivery_id}")
        return {"delivery_id": delivery_id, "status": "pending"}

    return router
