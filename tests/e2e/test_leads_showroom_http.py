"""The showroom floor over HTTP, against the leads service as a real process (real PostgreSQL and Kafka): a walk-in
registered at reception, the customer card filled during needs analysis with every bad field named at once, a
test drive booked on a fleet vehicle (a second booking of the slot refused), started only after the licence check
and the waiver, completed with feedback, the visitor's departure — and the public events on the leads topic."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from tests.support.auth import auth_headers
from tests.support.infra import RUN_ID, Infra
from tests.support.kafka import header, read_topic
from tests.support.leads import scratch_database
from tests.support.orders_stack import read_by_keys
from tests.support.processes import ServiceProcess, start_service, stop_service

pytestmark = pytest.mark.e2e

TEAM = "floor"
ANN = auth_headers("consultant", subject="ann", team=TEAM)


@pytest.fixture(scope="module")
async def service(infra: Infra) -> AsyncIterator[tuple[ServiceProcess, str]]:
    prefix = f"t{RUN_ID}showroom"
    async with scratch_database(infra, "showroom_http") as dsn:
        process = await start_service("leads", {
            **infra.kafka_env(), "SALESFLOW_TOPIC_PREFIX": prefix, "LEADS_DATABASE_URL": dsn,
            "LEADS_RELAY_POLL_INTERVAL": "0.2", "LEADS_DEFAULT_TEAM_ID": TEAM})
        try:
            async with httpx.AsyncClient(headers=auth_headers("director"), base_url=process.url, timeout=10) as c:
                assert (await c.post("/v1/teams", json={"team_id": TEAM, "name": "Floor"})).status_code == 201
                created = await c.post("/v1/consultants", json={"consultant_id": "ann", "name": "Ann", "team_id": TEAM})
                assert created.status_code == 201, created.text
            yield process, prefix
        finally:
            await stop_service(process)


async def test_a_walk_in_is_received_carded_and_test_driven_over_http(
        service: tuple[ServiceProcess, str], infra: Infra) -> None:
    process, prefix = service
    async with httpx.AsyncClient(base_url=process.url, timeout=10) as http:
        arrived = await http.post("/v1/showroom-visits", headers=ANN, json={
            "party_size": 3, "purpose": "first_look", "name": "周先生", "phone": "135 0000 7777"})
        assert arrived.status_code == 201, arrived.text
        visit = arrived.json()
        assert (visit["lead_outcome"], visit["first_visit"], visit["receptionist_id"], visit["consultant_id"]) == (
            "created", True, "ann", "ann")
        customer, lead = visit["customer_id"], visit["lead_id"]

        refused = await http.patch(f"/v1/customers/{customer}/card", headers=ANN, json={
            "changes": {"payment_intention": "barter", "age_band": "old", "budget_min_cny": 200_000}})
        assert refused.status_code == 422
        assert {f["field"] for f in refused.json()["error"]["fields"]} == {"payment_intention", "age_band"}
        carded = await http.patch(f"/v1/customers/{customer}/card", headers=ANN, json={"changes": {
            "payment_intention": "loan", "intended_model": "Model Y", "competitors": ["问界 M7"],
            "needs_analysis": {"passengers": "一家三口"}}})
        assert carded.status_code == 200, carded.text
        assert carded.json()["fields"]["payment_intention"] == "loan"

        director = auth_headers("director")
        vehicle = await http.post("/v1/test-drive-vehicles", headers=director, json={
            "vehicle_id": "DEMO-1", "model": "Model Y", "plate": "沪A77777"})
        assert vehicle.status_code == 201, vehicle.text
        slot = (datetime.now(UTC) + timedelta(days=1)).replace(microsecond=0).isoformat()
        booked = await http.post("/v1/test-drives", headers=ANN, json={
            "vehicle_id": "DEMO-1", "lead_id": lead, "starts_at": slot, "route": "city_short"})
        assert booked.status_code == 201, booked.text
        again = await http.post("/v1/test-drives", headers=ANN, json={
            "vehicle_id": "DEMO-1", "lead_id": lead, "starts_at": slot, "route": "expressway"})
        assert (again.status_code, again.json()["error"]["code"]) == (409, "test_drive_slot_taken")
        drive = booked.json()["booking_id"]

        no_waiver = await http.post(f"/v1/test-drives/{drive}/start", headers=ANN,
                                    json={"licence_checked": True, "waiver_signed": False})
        assert (no_waiver.status_code, no_waiver.json()["error"]["missing"]) == (409, ["waiver_signed"])
        started = await http.post(f"/v1/test-drives/{drive}/start", headers=ANN,
                                  json={"licence_checked": True, "waiver_signed": True})
        done = await http.post(f"/v1/test-drives/{drive}/completion", headers=ANN, json={"feedback_score": 4})
        left = await http.post(f"/v1/showroom-visits/{visit['visit_id']}/departure", headers=ANN, json={})
        assert (started.status_code, done.status_code, left.status_code) == (200, 200, 200)
        assert (done.json()["status"], done.json()["feedback_score"]) == ("completed", 4)
        lead_now = (await http.get(f"/v1/leads/{lead}", headers=ANN)).json()
        calendar = (await http.get("/v1/test-drive-vehicles/DEMO-1/calendar", headers=ANN)).json()
    assert (lead_now["channel"], lead_now["stage"]) == ("showroom", "test_driven")
    assert [(s["booking_id"], s["status"]) for s in calendar["slots"]] == [(drive, "completed")]

    expected = ["salesflow.leads.VisitArrived", "salesflow.leads.CustomerCardUpdated",
                "salesflow.leads.TestDriveBooked", "salesflow.leads.TestDriveStarted",
                "salesflow.leads.TestDriveCompleted", "salesflow.leads.VisitDeparted"]
    # Team, consultant; the walk-in's lead (created, assigned, follow-up, visit, stage), the visit; the card; the
    # vehicle, the booking (and its appointment), the start (attended, stage), the completion; the departure.
    records = await read_topic(infra.kafka, f"{prefix}.leads", expect=17)
    published = [header(r, "ce_type") for r in records]
    assert len(published) == 17
    assert all(t in published for t in expected), published
    keys = {header(r, "ce_type"): r.key.decode() for r in records}
    assert (keys["salesflow.leads.VisitArrived"], keys["salesflow.leads.TestDriveBooked"],
            keys["salesflow.leads.CustomerCardUpdated"]) == (visit["visit_id"], "DEMO-1", customer)


async def test_a_test_drive_is_moved_to_another_vehicle_and_cancelled_over_http_freeing_each_slot(
        service: tuple[ServiceProcess, str], infra: Infra) -> None:
    process, prefix = service
    director = auth_headers("director")
    slot = (datetime.now(UTC) + timedelta(days=2)).replace(microsecond=0)
    async with httpx.AsyncClient(base_url=process.url, timeout=10) as http:
        for vehicle_id in ("MOVE-A", "MOVE-B"):
            created = await http.post("/v1/test-drive-vehicles", headers=director, json={
                "vehicle_id": vehicle_id, "model": "Model 3", "plate": f"沪M{vehicle_id[-1]}0000"})
            assert created.status_code == 201, created.text
        leads = []
        for phone in ("135 0000 8801", "135 0000 8802"):
            captured = await http.post("/v1/leads", headers=ANN, json={"name": "吴", "phone": phone,
                                                                       "channel": "website"})
            assert captured.status_code in (200, 201), captured.text
            leads.append(captured.json()["lead_id"])

        async def book(vehicle_id: str, lead_id: str, at: datetime) -> httpx.Response:
            return await http.post("/v1/test-drives", headers=ANN, json={
                "vehicle_id": vehicle_id, "lead_id": lead_id, "starts_at": at.isoformat(), "route": "city_short"})

        first = (await book("MOVE-A", leads[0], slot)).json()["booking_id"]
        assert (await book("MOVE-B", leads[1], slot + timedelta(hours=1))).status_code == 201
        # Onto MOVE-B's taken hour: 409, nothing moved; onto its free slot: moved, MOVE-A's slot is free.
        taken = await http.post(f"/v1/test-drives/{first}/move", headers=ANN, json={
            "starts_at": (slot + timedelta(hours=1, minutes=5)).isoformat(), "vehicle_id": "MOVE-B"})
        assert (taken.status_code, taken.json()["error"]["code"]) == (409, "test_drive_slot_taken")
        moved = await http.post(f"/v1/test-drives/{first}/move", headers=ANN, json={
            "starts_at": slot.isoformat(), "vehicle_id": "MOVE-B"})
        assert moved.status_code == 200, moved.text
        assert (moved.json()["vehicle_id"], moved.json()["status"]) == ("MOVE-B", "booked")
        assert (await book("MOVE-A", leads[1], slot)).status_code == 201  # the old slot is free
        calendar_b = (await http.get("/v1/test-drive-vehicles/MOVE-B/calendar", headers=ANN)).json()["slots"]
        booked_b = [s["booking_id"] for s in calendar_b if s["status"] == "booked"]
        assert len(booked_b) == 2
        assert first in booked_b
        bad = await http.post(f"/v1/test-drives/{first}/cancellation", headers=ANN, json={"reason": ""})
        assert (bad.status_code, bad.json()["error"]["fields"][0]["field"]) == (422, "reason")
        cancelled = await http.post(f"/v1/test-drives/{first}/cancellation", headers=ANN,
                                    json={"reason": "customer postponed"})
        assert (cancelled.status_code, cancelled.json()["status"]) == (200, "cancelled")
        assert (await book("MOVE-B", leads[1], slot)).status_code == 201  # and MOVE-B's is free again
        lead_now = (await http.get(f"/v1/leads/{leads[0]}", headers=ANN)).json()
    assert [h["event_type"] for h in lead_now["history"]][-2:] == ["AppointmentRescheduled", "AppointmentCancelled"]
    published = await read_by_keys(infra.kafka, f"{prefix}.leads", {"MOVE-A", "MOVE-B"}, expect=9)
    by_key = {key: [p.type.removeprefix("salesflow.leads.") for p in published if p.key == key]
              for key in ("MOVE-A", "MOVE-B")}
    assert by_key["MOVE-A"] == ["TestDriveVehicleRegistered", "TestDriveBooked", "TestDriveMovedAway",
                                "TestDriveBooked"]
    assert by_key["MOVE-B"] == ["TestDriveVehicleRegistered", "TestDriveBooked", "TestDriveRescheduled",
                                "TestDriveCancelled", "TestDriveBooked"]


async def test_a_customer_is_found_by_a_number_typed_otherwise_its_last_digits_and_part_of_the_name(
        service: tuple[ServiceProcess, str]) -> None:
    process, _ = service
    async with httpx.AsyncClient(base_url=process.url, timeout=10) as http:
        captured = await http.post("/v1/leads", headers=ANN, json={
            "name": "欧阳娜娜", "phone": "136 0000 8888", "channel": "website"})
        assert captured.status_code == 201, captured.text
        customer = captured.json()["customer_id"]

        async def search(q: str, headers: dict[str, str] = ANN) -> httpx.Response:
            return await http.get("/v1/customers/search", params={"q": q}, headers=headers)

        by_phone, by_part, by_digits = [(await search(q)).json()["customers"]
                                        for q in ("+86-136-0000-8888", "娜娜", "8888")]
        assert [(c["customer_id"], c["match"], c["phone"], c["name"]) for c in by_phone] == [
            (customer, "phone", "+8613600008888", "欧阳娜娜")]
        assert [(c["customer_id"], c["match"]) for c in by_part] == [(customer, "name_part")]
        assert [(c["customer_id"], c["match"]) for c in by_digits] == [(customer, "phone_last_digits")]
        other = auth_headers("consultant", subject="bob", team=TEAM)  # not the owner: the customer is not there
        assert (await search("欧阳娜娜", other)).json()["customers"] == []
        director = (await search("欧阳", auth_headers("director"))).json()["customers"]
        assert [(c["customer_id"], c["match"], c["phone"]) for c in director] == [
            (customer, "name_prefix", "136****8888")]  # a director sees the customer, not the whole number
        empty = await search("  ")
        assert (empty.status_code, empty.json()["error"]["fields"][0]["field"]) == (422, "q")
        system = await search("欧阳娜娜", auth_headers(None, scopes=["leads:read"], client="bi"))
        assert system.status_code == 403


async def test_a_walk_in_names_its_campaign_and_a_later_visit_cannot_credit_another_over_http(
        service: tuple[ServiceProcess, str], infra: Infra) -> None:
    process, prefix = service
    today = datetime.now(UTC).date()
    manager, director = auth_headers("manager", subject="mia", team=TEAM), auth_headers("director")
    utm = {"utm_source": "dongchedi", "utm_medium": "flyer", "utm_content": "展台二维码", "utm_term": "SUV"}
    async with httpx.AsyncClient(base_url=process.url, timeout=10) as http:
        campaigns = []
        for code in (f"roadshow-{RUN_ID}", f"expo-{RUN_ID}"):
            created = await http.post("/v1/campaigns", headers=manager, json={
                "code": code, "name": code, "kind": "roadshow", "channel": "roadshow",
                "starts_on": today.isoformat(), "ends_on": (today + timedelta(days=7)).isoformat(),
                "budget_minor": 1_000_000})
            assert created.status_code == 201, created.text
            campaigns.append(created.json()["campaign_id"])
        roadshow, expo = campaigns

        async def arrive(**body: object) -> httpx.Response:
            return await http.post("/v1/showroom-visits", headers=ANN, json={
                "party_size": 2, "purpose": "first_look", **body})

        async def leads_of(phone: str) -> list[dict[str, object]]:
            found = await http.get("/v1/customers/leads", headers=director, params={"phone": phone})
            assert found.status_code == 200, found.text
            leads: list[dict[str, object]] = found.json()["leads"]
            return leads

        async def stored(lead_id: str) -> tuple[str, int, dict[str, object]]:
            """The lead's channel, how many events it has, and the attribution its stored LeadCreated carries."""
            shown = (await http.get(f"/v1/leads/{lead_id}", headers=ANN)).json()
            created = shown["history"][0]
            assert created["event_type"] == "LeadCreated"
            return shown["channel"], len(shown["history"]), {
                k: created["data"][k] for k in ("campaign_id", *utm, "utm_campaign")}

        unknown = await arrive(name="冯先生", phone="137 0000 5501", campaign_id="no-such-campaign")
        assert (unknown.status_code, unknown.json()["error"]["fields"][0]["field"]) == (422, "campaign_id"), \
            unknown.text
        assert await leads_of("137 0000 5501") == []  # nothing written: no lead, no visit

        # A new walk-in: the lead it creates carries the campaign and the UTM fields, as a capture's does.
        first = await arrive(name="冯先生", phone="137 0000 5501", campaign_id=roadshow, utm_campaign="spring", **utm)
        assert first.status_code == 201, first.text
        assert (first.json()["lead_outcome"], first.json()["visit_number"]) == ("created", 1)
        lead = first.json()["lead_id"]
        channel, _, attribution = await stored(lead)
        assert (channel, attribution) == ("showroom", {"campaign_id": roadshow, **utm, "utm_campaign": "spring"})

        # Visits of the existing lead: naming none or the lead's own campaign (by id, or by its code) is accepted.
        again = await arrive(name="冯先生", phone="137 0000 5501")
        same = await arrive(lead_id=lead, campaign_id=roadshow)
        by_code = await arrive(name="冯先生", phone="137 0000 5501", utm_campaign=f"roadshow-{RUN_ID}")
        assert [(r.status_code, r.json()["lead_outcome"], r.json()["visit_number"])
                for r in (again, same, by_code)] == [(201, "existing", 2), (201, "existing", 3), (201, "existing", 4)]

        # Another campaign is refused, naming the field and the lead's own campaign, by lead id or by phone.
        _, events_before, _ = await stored(lead)
        for other in (await arrive(lead_id=lead, campaign_id=expo),
                      await arrive(name="冯先生", phone="137 0000 5501", campaign_id=expo, **utm)):
            assert other.status_code == 422, other.text
            [refusal] = other.json()["error"]["fields"]
            assert refusal["field"] == "campaign_id"
            assert f"lead {lead} came from campaign {roadshow!r}" in refusal["reason"]
        assert await stored(lead) == (channel, events_before, attribution)

        # A lead captured without a campaign keeps that too.
        online = await http.post("/v1/leads", headers=ANN, json={"name": "褚女士", "phone": "137 0000 5502",
                                                                 "channel": "website"})
        assert online.status_code == 201, online.text
        late = await arrive(lead_id=online.json()["lead_id"], campaign_id=roadshow)
        assert (late.status_code, late.json()["error"]["fields"][0]["field"]) == (422, "campaign_id"), late.text
        assert "came from no campaign" in late.json()["error"]["fields"][0]["reason"]
        next_visit = await arrive(lead_id=lead)
        assert (next_visit.status_code, next_visit.json()["visit_number"]) == (201, 5)  # the refusals wrote no visit

    [created_event] = [p for p in await read_by_keys(infra.kafka, f"{prefix}.leads", {lead}, expect=1)
                       if p.type == "salesflow.leads.LeadCreated"]
    assert {k: created_event.body[k] for k in ("campaign_id", *utm, "utm_campaign")} == {
        "campaign_id": roadshow, **utm, "utm_campaign": "spring"}
