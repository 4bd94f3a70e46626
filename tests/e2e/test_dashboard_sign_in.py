"""The dashboard signs in through the real Keycloak (authorization code + PKCE) in headless chromium: the browser
is sent to Keycloak's login page, a manager types their password, lands on the dashboard showing their team's
funnel only, holds an HttpOnly, SameSite=Strict session cookie, is signed in again without a password when that
cookie expires (Keycloak's session still lives), and signs out (Keycloak's session ends too)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest

from services.reporting.wiring import MIGRATIONS
from tests.support.browser import CHROMIUM, chromium_page
from tests.support.infra import RUN_ID, Infra
from tests.support.keycloak import issuer
from tests.support.processes import ServiceProcess, start_service, stop_service
from tests.support.reporting import Journey, drop_database, fresh_reporting_database
from tests.support.upstream import publish

pytestmark = pytest.mark.e2e

MARCH = datetime(2026, 3, 2, 9, tzinfo=UTC)
# Two leads of m1's team t1 and one of t2: the manager's dashboard counts two.
JOURNEYS = [Journey("S1", "online_shop", "c1", "t1", MARCH), Journey("S2", "phone", "c2", "t1", MARCH),
            Journey("S3", "phone", "c3", "t2", MARCH)]


@pytest.fixture(scope="module")
async def reporting(infra: Infra) -> AsyncIterator[ServiceProcess]:
    if CHROMIUM is None:
        pytest.fail("chromium is not installed: make browser")
    prefix = f"t{RUN_ID}signin{uuid.uuid4().hex[:6]}"
    dsn = await fresh_reporting_database(infra, "signin", MIGRATIONS)
    service = await start_service("reporting", {
        **infra.kafka_env(), "SALESFLOW_TOPIC_PREFIX": prefix,
        "REPORTING_DATABASE_URL": dsn, "SALESFLOW_AUTH_ISSUER": issuer()})
    try:
        for journey in JOURNEYS:
            for topic, message in journey.messages():
                await publish(infra.kafka, f"{prefix}.{topic}", [message])
        yield service
    finally:
        await stop_service(service)
        await drop_database(infra, dsn)


async def test_a_manager_signs_in_sees_the_team_dashboard_and_signs_out(reporting: ServiceProcess) -> None:
    dashboard = f"{reporting.url}/dashboard?month=2026-03"
    async with chromium_page() as page:
        await page.goto(dashboard)
        await page.wait_for("!!document.querySelector('#username')", what="Keycloak's login form")
        assert (await page.evaluate("location.href")).startswith(issuer())
        await page.evaluate("document.querySelector('#username').value = 'm1';"
                            "document.querySelector('#password').value = 'm1-demo';"
                            "document.querySelector('#kc-form-login').submit()")
        await page.wait_for("document.body && document.body.dataset.loaded === 'true'", what="the dashboard")
        assert (await page.evaluate("location.href")) == dashboard
        assert await page.evaluate("document.getElementById('me').textContent") == "m1 (manager · team t1)"
        outcomes = await page.wait_for(
            "(t => t.includes('leads 线索 2') && t)(document.getElementById('outcomes').textContent)",
            what="the team's two leads")
        assert "leads 线索 2" in outcomes  # t2's lead is not counted

        session = next(c for c in await page.cookies() if c["name"] == "salesflow_session")
        assert session["httpOnly"] is True
        assert session["sameSite"] == "Strict"
        assert session["secure"] is False  # plain http on loopback; Secure is set when served over https
        assert await page.evaluate("document.cookie") == ""  # scripts cannot read the token

        # The session cookie lives as long as the access token (max-age = its expiry); when it is gone the page's
        # next refresh answers 401 and the page signs in again, silently while Keycloak's own session lives:
        # back on the same dashboard, with a new session cookie, without the login form.
        await page.evaluate("window.beforeExpiry = true")
        await page.call("Network.deleteCookies", name="salesflow_session", url=reporting.url)
        await page.wait_for("!window.beforeExpiry && location.href === " + repr(dashboard)
                            + " && document.body && document.body.dataset.loaded === 'true'"
                            + " && !document.querySelector('#username')",
                            what="the dashboard signed in again after its session cookie expired")
        renewed = next(c for c in await page.cookies() if c["name"] == "salesflow_session")
        assert renewed["value"] != session["value"]
        assert renewed["httpOnly"] is True
        assert renewed["sameSite"] == "Strict"

        await page.evaluate("document.getElementById('sign-out').click()")
        await page.wait_for("!!document.getElementById('signed-out')", what="the signed-out page")
        assert not any(c["name"] == "salesflow_session" for c in await page.cookies())
        await page.goto(dashboard)  # Keycloak's session ended too: the login form again, not the dashboard
        await page.wait_for("!!document.querySelector('#username')", what="the login form after signing out")
