"""The channels' wire formats (pure): the WeCom group robot's and the DingTalk robot's JSON messages, DingTalk's
signature, the e-mail message.

WeCom group robot (企业微信群机器人): ``POST <webhook>`` with ``{"msgtype": "markdown", "markdown": {"content": …}}``;
it answers ``{"errcode": 0, "errmsg": "ok"}`` (anything else in ``errcode`` is a refusal).
DingTalk custom robot (钉钉自定义机器人): ``POST <webhook>`` with ``{"msgtype": "markdown", "markdown": {"title": …,
"text": …}}``; with "additional signature" on, the URL carries ``timestamp`` (ms) and ``sign`` =
urlencode(base64(HMAC-SHA256(secret, f"{timestamp}\\n{secret}"))); it answers ``{"errcode": 0, …}`` too.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from email.message import EmailMessage
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit


def wecom_message(title: str, text: str) -> dict[str, Any]:
    return {"msgtype": "markdown", "markdown": {"content": f"**{title}**\n{text}"}}


def dingtalk_message(title: str, text: str) -> dict[str, Any]:
    return {"msgtype": "markdown", "markdown": {"title": title, "text": f"### {title}\n{text}"}}


def dingtalk_sign(secret: str, timestamp_ms: int) -> str:
    """DingTalk's ``sign``: base64 of HMAC-SHA256 keyed with the secret over "<timestamp>\\n<secret>" (not yet
    url-encoded: :func:`dingtalk_url` encodes it as a query parameter)."""
    digest = hmac.new(secret.encode(), f"{timestamp_ms}\n{secret}".encode(), hashlib.sha256).digest()
    return base64.b64encode(digest).decode()


def dingtalk_url(webhook: str, secret: str | None, timestamp_ms: int) -> str:
    """The robot's URL for one attempt: as configured, plus ``timestamp`` and ``sign`` when it has a secret."""
    if secret is None:
        return webhook
    parts = urlsplit(webhook)
    query = [*parse_qsl(parts.query, keep_blank_values=True),
             ("timestamp", str(timestamp_ms)), ("sign", dingtalk_sign(secret, timestamp_ms))]
    return urlunsplit(parts._replace(query=urlencode(query)))


def email_message(*, sender: str, to: str, title: str, text: str, notification_id: str) -> EmailMessage:
    message = EmailMessage()
    message["From"], message["To"], message["Subject"] = sender, to, f"[salesflow] {title}"
    # The same id on every retry: a mail client (or a person) can tell a resend from a new notification.
    message["Message-ID"] = f"<{notification_id}@salesflow.notifications>"
    message.set_content(text)
    return message
