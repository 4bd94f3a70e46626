"""The channels: WeCom and DingTalk robot webhooks (httpx) and SMTP e-mail (the standard library's smtplib, in a
thread). A robot that answers 2xx with a non-zero ``errcode`` refused the message: a failed attempt like any
other, retried by the dispatcher — as is a channel the person no longer has (their addresses changed after the
notification was raised): it runs out of rounds and is dead, rather than leased again forever."""

from __future__ import annotations

import asyncio
import smtplib
from datetime import datetime
from email.message import EmailMessage

import httpx
import orjson

from services.webhooks.app.ports import DeliveryFailedError
from services.webhooks.notifications.app.ports import DueNotification
from services.webhooks.notifications.domain.messages import (
    dingtalk_message,
    dingtalk_url,
    email_message,
    wecom_message,
)


class RobotSender:
    """WeCom (``kind="wecom"``) or DingTalk (``kind="dingtalk"``) group robot."""

    def __init__(self, client: httpx.AsyncClient, kind: str) -> None:
        self._client, self._kind = client, kind

    async def __call__(self, due: DueNotification, now: datetime) -> int:
        r = due.recipient
        if self._kind == "wecom":
            if r.wecom_webhook is None:
                raise DeliveryFailedError("the person has no wecom_webhook any more")
            url, body = r.wecom_webhook, wecom_message(due.title, due.text)
        else:
            if r.dingtalk_webhook is None:
                raise DeliveryFailedError("the person has no dingtalk_webhook any more")
            # Signed anew on every attempt: DingTalk refuses a timestamp more than an hour from its clock.
            url = dingtalk_url(r.dingtalk_webhook, r.dingtalk_secret, int(now.timestamp() * 1000))
            body = dingtalk_message(due.title, due.text)
        try:
            response = await self._client.post(url, content=orjson.dumps(body),
                                               headers={"Content-Type": "application/json; charset=utf-8"})
        except httpx.HTTPError as exc:
            raise DeliveryFailedError(f"{type(exc).__name__}: {exc}") from None
        if not 200 <= response.status_code < 300:
            raise DeliveryFailedError(f"answered {response.status_code}", status=response.status_code)
        if response.content:
            try:
                answer = response.json()
            except ValueError:
                answer = {}
            if isinstance(answer, dict) and answer.get("errcode", 0) != 0:
                raise DeliveryFailedError(f"robot refused: errcode {answer.get('errcode')} {answer.get('errmsg')}",
                                          status=response.status_code)
        return response.status_code


class SmtpSender:
    def __init__(self, *, host: str, port: int, sender: str, username: str | None = None,
                 password: str | None = None, starttls: bool = False, timeout: float = 10.0) -> None:
        self._host, self._port, self._sender = host, port, sender
        self._username, self._password, self._starttls, self._timeout = username, password, starttls, timeout

    async def __call__(self, due: DueNotification, now: datetime) -> int:
        if due.recipient.email is None:
            raise DeliveryFailedError("the person has no email any more")
        message = email_message(sender=self._sender, to=due.recipient.email, title=due.title, text=due.text,
                                notification_id=due.notification_id)
        try:
            await asyncio.to_thread(self._send, message)
        except (OSError, smtplib.SMTPException) as exc:
            raise DeliveryFailedError(f"{type(exc).__name__}: {exc}") from None
        return 250

    def _send(self, message: EmailMessage) -> None:
        with smtplib.SMTP(self._host, self._port, timeout=self._timeout) as smtp:
            if self._starttls:
                smtp.starttls()
            if self._username:
                smtp.login(self._username, self._password or "")
            smtp.send_message(message)
