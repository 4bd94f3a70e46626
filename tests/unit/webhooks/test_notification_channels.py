"""The channels' formats (pure): the WeCom and DingTalk robot messages, DingTalk's signature (checked against an
independent computation of its documented recipe) and a person's addresses, validated naming the field."""

from __future__ import annotations

import base64
import hashlib
import hmac
from urllib.parse import parse_qs, quote_plus, urlsplit

import pytest

from services.webhooks.notifications.domain.messages import (
    dingtalk_message,
    dingtalk_sign,
    dingtalk_url,
    email_message,
    wecom_message,
)
from services.webhooks.notifications.domain.recipients import Recipient
from shared.domain import InvalidFieldError

SECRET = "SEC0123456789abcdef"


def test_the_robot_messages_are_the_documented_markdown_messages() -> None:
    assert wecom_message("Overdue", "lead L1") == {"msgtype": "markdown",
                                                   "markdown": {"content": "**Overdue**\nlead L1"}}
    assert dingtalk_message("Overdue", "lead L1") == {
        "msgtype": "markdown", "markdown": {"title": "Overdue", "text": "### Overdue\nlead L1"}}


def test_dingtalk_signs_timestamp_newline_secret_with_hmac_sha256_base64_url_encoded() -> None:
    timestamp = 1_764_650_000_123
    expected = base64.b64encode(hmac.new(SECRET.encode(), f"{timestamp}\n{SECRET}".encode(),
                                         hashlib.sha256).digest()).decode()
    assert dingtalk_sign(SECRET, timestamp) == expected
    url = dingtalk_url("https://oapi.dingtalk.com/robot/send?access_token=abc", SECRET, timestamp)
    assert f"&timestamp={timestamp}&sign={quote_plus(expected)}" in url
    query = parse_qs(urlsplit(url).query)
    assert query == {"access_token": ["abc"], "timestamp": [str(timestamp)], "sign": [expected]}
    assert dingtalk_url("https://oapi.dingtalk.com/robot/send?access_token=abc", None, timestamp).endswith("=abc")


def test_an_email_names_the_notification() -> None:
    message = email_message(sender="sf@example.com", to="c1@example.com", title="Overdue", text="lead L1",
                            notification_id="n-1")
    assert (message["To"], message["Subject"], message["Message-ID"]) == (
        "c1@example.com", "[salesflow] Overdue", "<n-1@salesflow.notifications>")
    assert message.get_content().strip() == "lead L1"


def recipient(**fields: str | None) -> Recipient:
    given: dict[str, str | None] = {"wecom_webhook": None, "dingtalk_webhook": None, "dingtalk_secret": None,
                                    "email": None, "quiet_hours": None, **fields}
    return Recipient.create(person_id="c1", **given)


@pytest.mark.parametrize(("fields", "field"), [
    ({}, "wecom_webhook"),
    ({"wecom_webhook": "ftp://robot"}, "wecom_webhook"),
    ({"dingtalk_webhook": "not a url"}, "dingtalk_webhook"),
    ({"email": "c1@example.com", "dingtalk_secret": SECRET}, "dingtalk_secret"),
    ({"email": "nobody"}, "email"),
    ({"email": "c1@example.com", "quiet_hours": "late"}, "quiet_hours"),
])
def test_bad_addresses_are_refused_naming_the_field(fields: dict[str, str], field: str) -> None:
    with pytest.raises(InvalidFieldError) as refused:
        recipient(**fields)
    assert refused.value.field == field


def test_channels_and_quiet_hours_of_a_recipient() -> None:
    both = recipient(wecom_webhook="https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=k", email="c1@example.com")
    assert both.channels() == ["wecom", "email"]
    assert both.uses_department_quiet_hours
    none = recipient(email="c1@example.com", quiet_hours="")
    assert (none.uses_department_quiet_hours, none.quiet_hours) == (False, None)
    own = recipient(email="c1@example.com", quiet_hours="23:00-07:00")
    assert str(own.quiet_hours) == "23:00-07:00"
