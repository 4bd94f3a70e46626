"""A person's notification addresses and quiet hours (pure, validated: InvalidFieldError naming the field)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import urlsplit

from services.webhooks.notifications.domain.quiet_hours import QuietHours
from shared.domain import InvalidFieldError

CHANNELS = ("wecom", "dingtalk", "email")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


def _webhook_url(value: str | None, field: str) -> str | None:
    if value is None:
        return None
    parts = urlsplit(value.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise InvalidFieldError(field, "an http or https URL with a host (the robot's webhook address)")
    return value.strip()


@dataclass(frozen=True, slots=True)
class Recipient:
    person_id: str
    wecom_webhook: str | None = None  # a WeCom (企业微信) group robot: https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=…
    dingtalk_webhook: str | None = None  # a DingTalk robot: https://oapi.dingtalk.com/robot/send?access_token=…
    dingtalk_secret: str | None = None  # the robot's signing secret (SEC…), if it has "additional signature" on
    email: str | None = None
    quiet_hours: QuietHours | None = None
    uses_department_quiet_hours: bool = True  # quiet_hours None + this: the department's default applies

    @classmethod
    def create(cls, *, person_id: str, wecom_webhook: str | None, dingtalk_webhook: str | None,
               dingtalk_secret: str | None, email: str | None, quiet_hours: str | None) -> Recipient:
        """``quiet_hours``: "HH:MM-HH:MM", "" for none, None for the department's default."""
        if dingtalk_secret is not None and dingtalk_webhook is None:
            raise InvalidFieldError("dingtalk_secret", "only with a dingtalk_webhook")
        if email is not None and not _EMAIL.match(email.strip()):
            raise InvalidFieldError("email", "an e-mail address (name@domain)")
        if not any((wecom_webhook, dingtalk_webhook, email)):
            raise InvalidFieldError("wecom_webhook", "at least one of wecom_webhook, dingtalk_webhook, email")
        quiet = None if quiet_hours is None else QuietHours.parse(quiet_hours)
        return cls(person_id, _webhook_url(wecom_webhook, "wecom_webhook"),
                   _webhook_url(dingtalk_webhook, "dingtalk_webhook"), dingtalk_secret,
                   email.strip() if email else None, quiet, quiet_hours is None)

    def channels(self) -> list[str]:
        """The channels this person is reached on, in a fixed order."""
        addresses = {"wecom": self.wecom_webhook, "dingtalk": self.dingtalk_webhook, "email": self.email}
        return [c for c in CHANNELS if addresses[c]]

    def effective_quiet_hours(self, department: QuietHours | None) -> QuietHours | None:
        return department if self.uses_department_quiet_hours else self.quiet_hours
