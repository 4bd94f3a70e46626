"""Property-based: any sequence of commands keeps the lead's stage/grade/status rules. Refused commands record
nothing, every stage change is an event whose direction is explicit, moves back by hand carry a reason, closed
leads do not move, and the state rebuilt from the events equals the live state."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from services.leads.domain.events import StageAdvanced
from services.leads.domain.lead import Grade, Lead, Stage, Status
from services.leads.domain.policy import LeadPolicy
from shared.domain import DomainError, DomainEvent
from tests.support.leads_builders import captured_lead

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
POLICY = LeadPolicy()
STAGE_NAMES = [s.value for s in Stage] + ["flying", ""]
GRADES = [g.value for g in Grade] + ["Z"]


class LeadMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.lead = captured_lead(lead_id="L", customer_id="C", name="n", phone="13812345678", channel="shop",
                                 interest=None, captured_at=T0, known_channels={"shop"}, owner_id="c1",
                                 team_id="t1", policy=POLICY)
        self.history: list[DomainEvent] = []
        self.now = T0
        self._commit()

    def _commit(self) -> None:
        self.history.extend(self.lead.pending_events)
        self.lead.loaded_version = self.lead.version
        self.lead._pending.clear()

    def _attempt(self, action: object) -> None:
        before = (self.lead.stage, self.lead.grade, self.lead.status)
        self.now += timedelta(hours=1)
        try:
            action()  # type: ignore[operator]
        except DomainError:
            assert self.lead.pending_events == [], "a refused command must record nothing"
            assert (self.lead.stage, self.lead.grade, self.lead.status) == before
            return
        if before[2] is not Status.OPEN and self.lead.pending_events:
            # Only orders' facts may still change a closed lead.
            assert all(isinstance(e, StageAdvanced) and e.reason in ("contract_signed", "delivered",
                                                                     "order_cancelled")
                       for e in self.lead.pending_events)
        self._commit()

    @rule(stage=st.sampled_from(STAGE_NAMES), reason=st.sampled_from([None, "", "customer asked"]))
    def move_stage(self, stage: str, reason: str | None) -> None:
        self._attempt(lambda: self.lead.move_stage(to_stage=stage, reason=reason, by="c1", now=self.now))

    @rule(grade=st.sampled_from(GRADES))
    def regrade(self, grade: str) -> None:
        self._attempt(lambda: self.lead.regrade(grade=grade, reason="r", by="c1", now=self.now, policy=POLICY))

    @rule(grade=st.sampled_from([None, *GRADES]))
    def follow_up(self, grade: str | None) -> None:
        self._attempt(lambda: self.lead.log_follow_up(kind="call", outcome="ok", notes=None, by="c1", now=self.now,
                                                      policy=POLICY, grade=grade))

    @rule(order=st.sampled_from(["O1", "O2"]))
    def sign(self, order: str) -> None:
        self._attempt(lambda: self.lead.sign_contract(order_id=order, now=self.now))

    @rule(order=st.sampled_from(["O1", "O2"]))
    def cancel(self, order: str) -> None:
        self._attempt(lambda: self.lead.cancel_order(order_id=order, now=self.now))

    @rule()
    def deliver(self) -> None:
        self._attempt(lambda: self.lead.deliver(order_id=self.lead.order_id or "O1", now=self.now))

    @rule()
    def request_loss(self) -> None:
        self._attempt(lambda: self.lead.request_loss(reason="price", competitor_model=None, note=None, by="c1",
                                                     now=self.now, policy=POLICY))

    @rule(approve=st.booleans())
    def decide_loss(self, approve: bool) -> None:
        if approve:
            self._attempt(lambda: self.lead.approve_loss(manager_id="m1", now=self.now))
        else:
            self._attempt(lambda: self.lead.reject_loss(manager_id="m1", note=None, now=self.now))

    @rule()
    def invalidate(self) -> None:
        self._attempt(lambda: self.lead.invalidate(reason="empty number", by="c1", now=self.now))

    @invariant()
    def stage_changes_are_explicit_and_backward_moves_are_explained(self) -> None:
        stage = Stage.NEW
        for event in self.history:
            if isinstance(event, StageAdvanced):
                assert Stage(event.from_stage) is stage
                target = Stage(event.to_stage)
                assert event.backwards == (target.rank < stage.rank)
                if event.backwards:
                    assert event.reason
                stage = target
        assert stage is self.lead.stage

    @invariant()
    def the_events_rebuild_the_same_lead(self) -> None:
        rebuilt = Lead.rehydrate("L", self.history)
        assert (rebuilt.stage, rebuilt.grade, rebuilt.status, rebuilt.version) == (
            self.lead.stage, self.lead.grade, self.lead.status, self.lead.version)

    @invariant()
    def grade_n_is_only_the_starting_grade(self) -> None:
        if any(type(e).__name__ == "LeadGraded" for e in self.history):
            assert self.lead.grade is not Grade.N


TestLeadStateMachine = LeadMachine.TestCase
TestLeadStateMachine.settings = settings(max_examples=150, stateful_step_count=30, deadline=None)
