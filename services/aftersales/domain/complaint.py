"""A customer complaint (投诉) with its SLA: acknowledge within N hours, resolve within M hours of opening (or of
reopening); a missed limit is recorded as a breach and escalates the complaint one level."""

from __future__ import annotations

from datetime import datetime

from services.aftersales.domain.errors import (
    ComplaintAlreadyAcknowledgedError,
    ComplaintNotOpenError,
    ComplaintNotResolvedError,
)
from services.aftersales.domain.events import (
    ComplaintAcknowledged,
    ComplaintEscalated,
    ComplaintOpened,
    ComplaintReopened,
    ComplaintResolved,
    ComplaintSlaBreached,
)
from services.aftersales.domain.policy import SlaPolicy, require_text
from shared.domain import Aggregate, DomainEvent, InvalidFieldError

MAX_DESCRIPTION = 4000
MAX_RESOLUTION = 4000
# Who each escalation level reaches; beyond the list the last one keeps being escalated to.
ESCALATION_CHAIN = ("service_manager", "general_manager")


class Complaint(Aggregate):
    stream_type = "complaint"

    def __init__(self, aggregate_id: str) -> None:
        super().__init__(aggregate_id)
        self.customer_id = ""
        self.order_id: str | None = None
        self.category = ""
        self.severity = ""
        self.opened_at: datetime | None = None
        self.status = "open"  # open | resolved
        self.acknowledged = False
        self.cycle = 1  # 1 + number of reopenings; an SLA timer of an older cycle is stale
        self.acknowledge_due_at: datetime | None = None
        self.resolve_due_at: datetime | None = None
        self.breaches: set[tuple[str, int]] = set()
        self.escalation_level = 0

    @classmethod
    def open_complaint(
        cls, *, complaint_id: str, customer_id: str, order_id: str | None, category: str, severity: str,
        description: str, opened_by: str | None, opened_at: datetime, sla: SlaPolicy,
        categories: tuple[str, ...], severities: tuple[str, ...],
    ) -> Complaint:
        customer = require_text("customer_id", customer_id, max_length=100)
        if category not in categories:
            raise InvalidFieldError("category", f"unknown category {category!r}; known: {', '.join(categories)}")
        if severity not in severities:
            raise InvalidFieldError("severity", f"unknown severity {severity!r}; known: {', '.join(severities)}")
        text = require_text("description", description, max_length=MAX_DESCRIPTION)
        ack, resolve = sla.limits(severity)
        complaint = cls(complaint_id)
        complaint._record(ComplaintOpened(
            complaint_id=complaint_id, customer_id=customer, order_id=order_id, category=category,
            severity=severity, description=text, opened_by=opened_by, opened_at=opened_at,
            acknowledge_due_at=opened_at + ack, resolve_due_at=opened_at + resolve,
        ))
        return complaint

    def _require_open(self, action: str) -> None:
        if self.status != "open":
            raise ComplaintNotOpenError(f"cannot {action} complaint {self.id}: it is {self.status}",
                                        status=self.status)

    def acknowledge(self, *, by: str | None, at: datetime) -> None:
        self._require_open("acknowledge")
        if self.acknowledged:
            raise ComplaintAlreadyAcknowledgedError(f"complaint {self.id} is already acknowledged")
        self._record(ComplaintAcknowledged(complaint_id=self.id, acknowledged_by=by, acknowledged_at=at))

    def resolve(self, *, resolution: str, by: str | None, at: datetime) -> None:
        """Resolving implies acknowledging: a complaint fixed straight away needs no separate step."""
        self._require_open("resolve")
        text = require_text("resolution", resolution, max_length=MAX_RESOLUTION)
        if not self.acknowledged:
            self._record(ComplaintAcknowledged(complaint_id=self.id, acknowledged_by=by, acknowledged_at=at))
        self._record(ComplaintResolved(complaint_id=self.id, resolution=text, resolved_by=by, resolved_at=at))

    def reopen(self, *, reason: str, by: str | None, at: datetime, sla: SlaPolicy) -> None:
        """The customer is not satisfied with the resolution: open again with a fresh resolve limit (it stays
        acknowledged — someone already owns it)."""
        if self.status != "resolved":
            raise ComplaintNotResolvedError(f"complaint {self.id} is {self.status}; only resolved ones reopen")
        text = require_text("reason", reason, max_length=MAX_RESOLUTION)
        _, resolve = sla.limits(self.severity)
        self._record(ComplaintReopened(complaint_id=self.id, reason=text, reopened_by=by, reopened_at=at,
                                       cycle=self.cycle + 1, resolve_due_at=at + resolve))

    def check_sla(self, stage: str, *, cycle: int, now: datetime) -> bool:
        """An SLA timer fired. Records the breach and the escalation if the limit of that stage and cycle was
        really missed and not recorded yet; returns whether it did. Stale timers change nothing."""
        if cycle != self.cycle or (stage, cycle) in self.breaches or self.status != "open":
            return False
        if stage == "acknowledge":
            due = self.acknowledge_due_at
            missed = not self.acknowledged
        elif stage == "resolve":
            due = self.resolve_due_at
            missed = True
        else:
            raise ValueError(f"unknown SLA stage {stage!r}")
        if not missed or due is None or now < due:
            return False
        self._record(ComplaintSlaBreached(complaint_id=self.id, stage=stage, cycle=cycle, due_at=due,
                                          detected_at=now))
        level = self.escalation_level + 1
        self._record(ComplaintEscalated(
            complaint_id=self.id, level=level, escalated_to=ESCALATION_CHAIN[min(level, len(ESCALATION_CHAIN)) - 1],
            reason=f"{stage} SLA missed (due {due.isoformat()})", escalated_at=now,
        ))
        return True

    @property
    def sla_state(self) -> str:
        """resolved | resolve_breached | acknowledge_breached | on_track (the worst applicable)."""
        if self.status == "resolved":
            return "resolved"
        if ("resolve", self.cycle) in self.breaches:
            return "resolve_breached"
        if not self.acknowledged and ("acknowledge", self.cycle) in self.breaches:
            return "acknowledge_breached"
        return "on_track"

    def _apply(self, event: DomainEvent) -> None:
        match event:
            case ComplaintOpened():
                self.customer_id = event.customer_id
                self.order_id = event.order_id
                self.category = event.category
                self.severity = event.severity
                self.opened_at = event.opened_at
                self.acknowledge_due_at = event.acknowledge_due_at
                self.resolve_due_at = event.resolve_due_at
            case ComplaintAcknowledged():
                self.acknowledged = True
            case ComplaintResolved():
                self.status = "resolved"
            case ComplaintReopened():
                self.status = "open"
                self.cycle = event.cycle
                self.resolve_due_at = event.resolve_due_at
            case ComplaintSlaBreached():
                self.breaches.add((event.stage, event.cycle))
            case ComplaintEscalated():
                self.escalation_level = event.level
            case _:
                raise TypeError(f"Complaint cannot apply {type(event).__name__}")
