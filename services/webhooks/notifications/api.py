"""HTTP API of the notifications: a person's addresses and quiet hours (``PUT``/``GET
/v1/notification-recipients/{person_id}``: ops and directors for anyone, a person for themself) and the notifications
with their delivery status (``GET /v1/notifications``, cursor-paginated; a consultant sees their own, a manager their
team's and their own, a director or ops everything)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Query
from pydantic import BaseModel, Field

from services.webhooks.notifications.app.ports import NotificationQueries, People, Recipients
from services.webhooks.notifications.domain.recipients import Recipient
from services.webhooks.notifications.domain.rules import RULES
from shared.auth.http import Caller, allowed
from shared.auth.principal import Principal, managed_team
from shared.domain import DomainError

PEOPLE = ("consultant", "manager", "director", "ops")
EVERYONE = ("director", "ops")


class NotificationNotFoundError(DomainError):
    code = "notification_not_found"
    http_status = 404


class RecipientNotFoundError(DomainError):
    code = "recipient_not_found"
    http_status = 404


class NotYoursError(DomainError):
    code = "forbidden"
    http_status = 403


class RecipientIn(BaseModel):
    wecom_webhook: str | None = Field(default=None, max_length=2000,
                                      description="a WeCom group robot's webhook URL")
    dingtalk_webhook: str | None = Field(default=None, max_length=2000,
                                         description="a DingTalk robot's webhook URL (with its access_token)")
    dingtalk_secret: str | None = Field(default=None, min_length=1, max_length=200,
                                        description="the DingTalk robot's signing secret; never shown again")
    email: str | None = Field(default=None, max_length=320, description="an e-mail address")
    quiet_hours: str | None = Field(default=None, max_length=11,
                                    description='"HH:MM-HH:MM" local time; "" none; omitted: the department\'s')


def _recipient_out(recipient: Recipient, person: dict[str, Any] | None) -> dict[str, Any]:
    return {"person_id": recipient.person_id, "wecom_webhook": recipient.wecom_webhook,
            "dingtalk_webhook": recipient.dingtalk_webhook, "dingtalk_signed": recipient.dingtalk_secret is not None,
            "email": recipient.email,
            "quiet_hours": None if recipient.uses_department_quiet_hours else str(recipient.quiet_hours or ""),
            "channels": recipient.channels(), "directory": person}


def _may_configure(caller: Principal, person_id: str) -> None:
    if not (caller.has_role(*EVERYONE) or caller.subject == person_id):
        raise NotYoursError("only ops, a director or the person themself configure their notifications")


def notifications_router(*, recipients: Recipients, directory: People, notifications: NotificationQueries,
                         pool: Any) -> APIRouter:
    router = APIRouter(prefix="/v1", dependencies=[allowed(roles=PEOPLE)], tags=["notifications"])

    @router.put("/notification-recipients/{person_id}")
    async def put_recipient(person_id: Annotated[str, Path(min_length=1, max_length=200)], body: RecipientIn,
                            caller: Caller) -> dict[str, Any]:
        """Set where a person is notified (replaces what was set) and their quiet hours."""
        _may_configure(caller, person_id)
        recipient = Recipient.create(person_id=person_id, wecom_webhook=body.wecom_webhook,
                                     dingtalk_webhook=body.dingtalk_webhook, dingtalk_secret=body.dingtalk_secret,
                                     email=body.email, quiet_hours=body.quiet_hours)
        await recipients.put(recipient)
        return _recipient_out(recipient, await directory.person(pool, person_id))

    @router.get("/notification-recipients/{person_id}")
    async def get_recipient(person_id: str, caller: Caller) -> dict[str, Any]:
        """A person's addresses, quiet hours and what the directory knows of them (team, role)."""
        _may_configure(caller, person_id)
        recipient = await recipients.get(None, person_id)
        if recipient is None:
            raise RecipientNotFoundError(f"no notification addresses for {person_id}")
        return _recipient_out(recipient, await directory.person(pool, person_id))

    @router.get("/notifications")
    async def list_notifications(
            caller: Caller, recipient_id: str | None = None,
            status: Literal["held", "pending", "delivered", "dead", "unaddressed"] | None = None,
            rule: Annotated[str | None, Query(description=f"one of {', '.join(RULES)}, daily_digest")] = None,
            cursor: Annotated[int, Query(ge=0, description="next_cursor of the previous page")] = 0,
            limit: Annotated[int, Query(ge=1, le=500)] = 100) -> dict[str, Any]:
        """The notifications the caller may see, oldest first, with their delivery status."""
        team, mine = None, None
        if not caller.has_role(*EVERYONE):
            mine = caller.subject
            team = managed_team(caller) if caller.has_role("manager") else None
        page = await notifications.page(after=cursor, limit=limit, recipient_id=recipient_id, team_id=team,
                                        status=status, rule=rule, mine=mine)
        next_cursor = page[-1]["seq"] if len(page) == limit else None
        return {"notifications": page, "next_cursor": next_cursor}

    @router.get("/notifications/{notification_id}")
    async def get_notification(notification_id: str, caller: Caller) -> dict[str, Any]:
        """One notification, with its events (raised, each failed round, delivered)."""
        try:
            found = await notifications.get(notification_id)
        except ValueError:  # not a UUID
            found = None
        visible = found is not None and (
            caller.has_role(*EVERYONE) or found["recipient_id"] == caller.subject
            or (caller.has_role("manager") and found["team_id"] == caller.team_id))
        if found is None or not visible:
            raise NotificationNotFoundError(f"no notification {notification_id}")
        return found

    return router
