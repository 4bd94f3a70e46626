"""Campaigns on the in-memory unit of work: a manager or director creates and edits one (only what changed is
recorded), spend is recorded entry by entry (corrections never below zero), and a capture carries its campaign and
UTM parameters — an unknown campaign id is refused naming the field with nothing written, a utm_campaign equal to
a campaign's code links the campaign, and the public LeadCreated carries it all."""

from __future__ import annotations

from datetime import date, timedelta

import orjson
import pytest

from services.leads.adapters.publishing import to_public_message
from services.leads.app.campaigns import CampaignHandlers, CreateCampaign, RecordCampaignSpend, UpdateCampaign
from services.leads.app.commands import CaptureLead
from services.leads.app.organisation import RegisterConsultant, RegisterTeam
from services.leads.app.ports import CommandContext
from services.leads.domain import errors
from services.leads.domain.campaign import Campaign
from shared.auth.errors import ForbiddenError
from shared.domain import InvalidFieldError
from shared.eventstore import RecordedEvent
from tests.support.showroom_floor import T0, ShowroomFloor, as_caller

MANAGER = as_caller("m1", "manager")
CONSULTANT = as_caller("c1", "consultant")
SYSTEM = CommandContext(correlation_id="corr", actor="setup")
ROADSHOW = CreateCampaign(code="spring-roadshow", name="春季巡展", kind="roadshow", channel="website",
                          starts_on=date(2026, 12, 1), ends_on=date(2026, 12, 14), budget_minor=5_000_000)


class World(ShowroomFloor):
    def __init__(self) -> None:
        super().__init__()
        self.campaigns = CampaignHandlers(unit_of_work=self.store, clock=self.clock, new_id=lambda: "",
                                          kinds={"roadshow", "ad_platform"}, channels={"website", "showroom"})
        ids = iter(f"cmp-{n}" for n in range(1, 1000))
        self.campaigns._new_id = lambda: next(ids)

    def campaign_types(self, campaign_id: str) -> list[str]:
        return self.stream_types(f"campaign-{campaign_id}")

    def recorded(self, stream_id: str) -> list[RecordedEvent]:
        return list(self.store.events.events(stream_id))


@pytest.fixture
async def world() -> World:
    w = World()
    await w.organisation.register_team(RegisterTeam("t1", "t1"), SYSTEM)
    await w.organisation.register_consultant(RegisterConsultant("c1", "c1", "t1"), SYSTEM)
    return w


async def test_a_manager_creates_a_campaign_and_a_consultant_may_not(world: World) -> None:
    campaign = await world.campaigns.create(ROADSHOW, MANAGER)
    assert (campaign.code, campaign.channel, campaign.budget_minor, campaign.spent_minor) == (
        "spring-roadshow", "website", 5_000_000, 0)
    assert world.campaign_types(campaign.id) == ["CampaignCreated"]
    with pytest.raises(ForbiddenError):
        await world.campaigns.create(ROADSHOW, CONSULTANT)


@pytest.mark.parametrize(("change", "field"), [
    ({"kind": "billboard"}, "kind"), ({"channel": "tv"}, "channel"), ({"code": "has space"}, "code"),
    ({"ends_on": date(2026, 11, 30)}, "ends_on"), ({"budget_minor": -1}, "budget_minor"), ({"name": " "}, "name"),
])
async def test_a_bad_campaign_is_refused_naming_the_field_and_nothing_is_written(
        world: World, change: dict[str, object], field: str) -> None:
    fields = {"code": ROADSHOW.code, "name": ROADSHOW.name, "kind": ROADSHOW.kind, "channel": ROADSHOW.channel,
              "starts_on": ROADSHOW.starts_on, "ends_on": ROADSHOW.ends_on, "budget_minor": ROADSHOW.budget_minor}
    with pytest.raises(InvalidFieldError) as refused:
        await world.campaigns.create(CreateCampaign(**{**fields, **change}), MANAGER)  # type: ignore[arg-type]
    assert refused.value.field == field
    assert world.store.tables.campaigns == {}


async def test_two_campaigns_cannot_share_a_code(world: World) -> None:
    first = await world.campaigns.create(ROADSHOW, MANAGER)
    with pytest.raises(errors.CampaignCodeTakenError) as taken:
        await world.campaigns.create(ROADSHOW, MANAGER)
    assert taken.value.details["campaign_id"] == first.id
    assert list(world.store.tables.campaigns) == [first.id]


async def test_an_edit_records_only_what_changed_and_an_identical_one_nothing(world: World) -> None:
    campaign = await world.campaigns.create(ROADSHOW, MANAGER)
    edited = await world.campaigns.update(UpdateCampaign(campaign.id, name="春季巡展", budget_minor=6_000_000,
                                                         ends_on=date(2026, 12, 21)), MANAGER)
    assert (edited.budget_minor, edited.ends_on) == (6_000_000, date(2026, 12, 21))
    changed = world.recorded(f"campaign-{campaign.id}")[-1].data["changes"]
    assert changed == {"budget_minor": {"from": 5_000_000, "to": 6_000_000},
                       "ends_on": {"from": "2026-12-14", "to": "2026-12-21"}}
    await world.campaigns.update(UpdateCampaign(campaign.id, budget_minor=6_000_000), MANAGER)
    assert world.campaign_types(campaign.id) == ["CampaignCreated", "CampaignUpdated"]
    with pytest.raises(InvalidFieldError) as refused:
        await world.campaigns.update(UpdateCampaign(campaign.id, starts_on=date(2027, 1, 1)), MANAGER)
    assert refused.value.field == "ends_on"
    with pytest.raises(errors.CampaignNotFoundError):
        await world.campaigns.update(UpdateCampaign("nope", name="x"), MANAGER)


async def test_spend_adds_up_entry_by_entry_and_a_correction_never_goes_below_zero(world: World) -> None:
    campaign = await world.campaigns.create(ROADSHOW, MANAGER)
    await world.campaigns.record_spend(RecordCampaignSpend(campaign.id, 1_200_000, T0 - timedelta(hours=2)),
                                       MANAGER)
    spent = await world.campaigns.record_spend(RecordCampaignSpend(campaign.id, -200_000, note="refund"), MANAGER)
    assert (spent.campaign.spent_minor, spent.entry.total_spent_minor, spent.entry.channel) == (
        1_000_000, 1_000_000, "website")
    assert spent.entry.spent_at == T0  # default: now
    for amount, when, field in ((-1_000_001, None, "amount_minor"), (0, None, "amount_minor"),
                                (10, T0 + timedelta(minutes=1), "spent_at")):
        with pytest.raises(InvalidFieldError) as refused:
            await world.campaigns.record_spend(RecordCampaignSpend(campaign.id, amount, when), MANAGER)
        assert refused.value.field == field
    with pytest.raises(ForbiddenError):
        await world.campaigns.record_spend(RecordCampaignSpend(campaign.id, 10), CONSULTANT)
    assert world.campaign_types(campaign.id).count("CampaignSpendRecorded") == 2


async def test_a_capture_carries_its_campaign_and_utm_into_the_public_lead_created(world: World) -> None:
    campaign = await world.campaigns.create(ROADSHOW, MANAGER)
    captured = await world.capture(CaptureLead(
        name="王", phone="13800000001", channel="website", campaign_id=campaign.id, utm_source=" douyin ",
        utm_medium="cpc", utm_campaign="something-else", utm_term="model y"), CONSULTANT)
    assert captured.lead.attribution.campaign_id == campaign.id  # campaign_id wins over utm_campaign
    created = world.recorded(f"lead-{captured.lead.id}")[0]
    public = to_public_message(created)
    assert public is not None
    payload = orjson.loads(public.value)
    assert {k: payload[k] for k in ("campaign_id", "utm_source", "utm_medium", "utm_campaign", "utm_content",
                                    "utm_term")} == {
        "campaign_id": campaign.id, "utm_source": "douyin", "utm_medium": "cpc", "utm_campaign": "something-else",
        "utm_content": None, "utm_term": "model y"}


async def test_a_utm_campaign_equal_to_a_campaigns_code_links_the_campaign(world: World) -> None:
    campaign = await world.campaigns.create(ROADSHOW, MANAGER)
    linked = await world.capture(CaptureLead(name="李", phone="13800000002", channel="website",
                                             utm_campaign="spring-roadshow"), CONSULTANT)
    unknown = await world.capture(CaptureLead(name="赵", phone="13800000003", channel="website",
                                              utm_campaign="autumn"), CONSULTANT)
    assert linked.lead.attribution.campaign_id == campaign.id
    assert (unknown.lead.attribution.campaign_id, unknown.lead.attribution.utm_campaign) == (None, "autumn")


async def test_an_unknown_campaign_id_is_refused_naming_the_field_and_nothing_is_written(world: World) -> None:
    with pytest.raises(InvalidFieldError) as refused:
        await world.capture(CaptureLead(name="王", phone="13800000001", channel="website", campaign_id="nope"),
                            CONSULTANT)
    assert refused.value.field == "campaign_id"
    assert world.store.tables.leads == {}
    with pytest.raises(InvalidFieldError) as too_long:
        await world.capture(CaptureLead(name="王", phone="13800000001", channel="website", utm_term="x" * 201),
                            CONSULTANT)
    assert too_long.value.field == "utm_term"


def test_a_campaign_is_rebuilt_from_its_events() -> None:
    campaign = Campaign.create(campaign_id="c", code="x", name="n", kind="roadshow", channel="website",
                               starts_on=date(2026, 1, 1), ends_on=date(2026, 1, 2), budget_minor=10,
                               currency="CNY", known_kinds={"roadshow"}, known_channels={"website"}, by="m",
                               now=T0)
    campaign.update(changes={"starts_on": date(2025, 12, 31), "kind": None}, known_kinds={"roadshow"},
                    known_channels={"website"}, by="m", now=T0)
    campaign.record_spend(entry_id="e", amount_minor=7, spent_at=T0, note=None, by="m", now=T0)
    rebuilt = Campaign("c")
    for event in campaign.pending_events:
        rebuilt._apply(event)
    assert (rebuilt.starts_on, rebuilt.kind, rebuilt.spent_minor) == (date(2025, 12, 31), "roadshow", 7)


async def test_every_campaign_event_is_published_under_its_contract_keyed_by_the_campaign(world: World) -> None:
    campaign = await world.campaigns.create(ROADSHOW, MANAGER)
    await world.campaigns.update(UpdateCampaign(campaign.id, channel="showroom"), MANAGER)
    await world.campaigns.record_spend(RecordCampaignSpend(campaign.id, 300_000, note="展位费"), MANAGER)
    messages = [to_public_message(e) for e in world.recorded(f"campaign-{campaign.id}")]
    assert [m.key for m in messages if m] == [campaign.id.encode()] * 3
    created = orjson.loads(messages[0].value)  # type: ignore[union-attr]
    assert (created["campaign_name"], "name" in created) == ("春季巡展", False)  # subscribers drop "name"s
    spend = orjson.loads(messages[-1].value)  # type: ignore[union-attr]
    assert (spend["amount_minor"], spend["channel"], spend["total_spent_minor"], spend["note"]) == (
        300_000, "showroom", 300_000, "展位费")
