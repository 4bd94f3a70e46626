"""Teams and consultants: registration validates its input, deactivation and team moves are refused when they
make no sense, and the state rebuilt from the events equals the live state."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from services.leads.domain import errors
from services.leads.domain.events import ConsultantDeactivated, ConsultantMovedTeam, ConsultantRegistered
from services.leads.domain.organisation import Consultant, Team
from shared.domain import InvalidFieldError

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def consultant(role: str = "consultant") -> Consultant:
    return Consultant.register(consultant_id="c1", name=" Ann ", team_id="t1", role=role, now=T0)


def test_a_registered_consultant_is_active_in_their_team() -> None:
    c = consultant()
    assert c.pending_events == [ConsultantRegistered(consultant_id="c1", name="Ann", team_id="t1",
                                                     role="consultant", registered_at=T0)]
    assert c.active
    assert not c.is_manager


def test_only_an_active_manager_is_a_manager() -> None:
    manager = consultant("manager")
    assert manager.is_manager
    manager.deactivate(now=T0)
    assert not manager.is_manager


@pytest.mark.parametrize(("kwargs", "field"), [
    ({"role": "king"}, "role"), ({"name": " "}, "name"), ({"consultant_id": ""}, "consultant_id"),
])
def test_registration_refuses_bad_input(kwargs: dict[str, str], field: str) -> None:
    arguments = {"consultant_id": "c1", "name": "Ann", "team_id": "t1", "role": "consultant", **kwargs}
    with pytest.raises(InvalidFieldError) as caught:
        Consultant.register(now=T0, **arguments)
    assert caught.value.field == field


def test_deactivating_twice_is_refused() -> None:
    c = Consultant.rehydrate("c1", [*consultant().pending_events, ConsultantDeactivated(
        consultant_id="c1", team_id="t1", deactivated_at=T0)])
    with pytest.raises(errors.ConsultantInactiveError):
        c.deactivate(now=T0)
    assert c.pending_events == []


def test_moving_team_records_both_teams_and_moving_to_the_same_team_is_refused() -> None:
    c = Consultant.rehydrate("c1", consultant().pending_events)
    with pytest.raises(errors.SameTeamError):
        c.move_team(team_id="t1", now=T0)
    c.move_team(team_id="t2", now=T0)
    assert c.pending_events == [ConsultantMovedTeam(consultant_id="c1", from_team_id="t1", to_team_id="t2",
                                                    moved_at=T0)]
    assert c.team_id == "t2"


def test_a_team_needs_an_id_and_a_name() -> None:
    with pytest.raises(InvalidFieldError):
        Team.register(team_id=" ", name="North", now=T0)
    with pytest.raises(InvalidFieldError):
        Team.register(team_id="t1", name="", now=T0)
    assert Team.register(team_id="t1", name="North", now=T0).name == "North"
