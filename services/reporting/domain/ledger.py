"""What a *group* of facts contributes to reporting's summaries, as of any moment — the one definition every report
is computed from (pure: no I/O).

A group is a lead together with everything linked to it (its orders, their quotes, care plans and complaints),
or an order / quote / complaint no lead is linked to (yet), or a single event that belongs to nobody (points).
:func:`measures_at` folds a group's facts with occurrence time ≤ T into counters keyed
``(kind, *key)``:

* ``("activity", day, metric, consultant, team, channel, product)`` — flows: things that happened on a day,
  credited to someone (see the attribution rule in the reporting README);
* ``("funnel", capture_day, measure, consultant, team, channel, product)`` — each lead counts once in its
  capture cohort, under its owner/team as of T;
* ``("stock", consultant, measure)`` — open leads as of T by owner: grade, follow-up counters, due/overdue;
* ``("campaign", day, metric, channel, campaign)`` — what campaigns cost and brought (:func:`_campaign_measures`).

The sum of :func:`measures_at` over all groups *is* the report as of T. The projection does not store it per
moment: :func:`contributions` turns a group's history into the *differences* between consecutive change moments
(every fact's time, plus the moments a due follow-up becomes due or overdue), each bucketed by the UTC hour it
happens (:func:`hour_of`), so summing a summary's hour, day or month buckets up to T gives back
Σ measures_at(T). Two properties make that exact and order-independent:

* a measure at T depends only on facts with time ≤ T and on *links* (order → lead, quote → lead), which are
  timeless: once an order is known to belong to a lead it belongs to it at every moment;
* the fold sorts facts by (time, kind, event id) itself, so the order they arrived in does not matter.
"""

from __future__ import annotations

import math
from bisect import bisect_right
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import Any

from services.reporting.domain.funnel import FUNNEL_STAGES, STAGE_RANK, WON_STAGE

_L = "salesflow.leads."
_O = "salesflow.orders."
_A = "salesflow.aftersales."
LEAD_CREATED = _L + "LeadCreated"
LEAD_ASSIGNED, LEAD_CLAIMED, LEAD_RELEASED = _L + "LeadAssigned", _L + "LeadClaimed", _L + "LeadReleasedToPool"
LEAD_GRADED, STAGE_ADVANCED = _L + "LeadGraded", _L + "StageAdvanced"
LOSS_REQUESTED, LOSS_APPROVED, LEAD_INVALIDATED = _L + "LossRequested", _L + "LossApproved", _L + "LeadInvalidated"
FOLLOW_UP_SCHEDULED, FOLLOW_UP_LOGGED, FOLLOW_UP_OVERDUE = (
    _L + "FollowUpScheduled", _L + "FollowUpLogged", _L + "FollowUpOverdue")
APPOINTMENT_SCHEDULED, APPOINTMENT_ATTENDED = _L + "AppointmentScheduled", _L + "AppointmentAttended"
CALL_RECORDED = _L + "CallRecorded"
APPOINTMENT_MISSED, VISIT_ARRIVED = _L + "AppointmentMissed", _L + "VisitArrived"
CONSULTANT_REGISTERED, CONSULTANT_MOVED = _L + "ConsultantRegistered", _L + "ConsultantMovedTeam"
CONTRACT_SIGNED, DELIVERED, ORDER_CANCELLED = _O + "ContractSigned", _O + "Delivered", _O + "OrderCancelled"
PAYMENT_RECEIVED, QUOTE_ISSUED = _O + "PaymentReceived", _O + "QuoteIssued"
FINANCING_APPROVED, FINANCING_DECLINED = _O + "FinancingApproved", _O + "FinancingDeclined"
CARE_PLAN, VISIT_COMPLETED = _A + "CarePlanScheduled", _A + "ReturnVisitCompleted"
COMPLAINT_OPENED, SLA_BREACHED = _A + "ComplaintOpened", _A + "ComplaintSlaBreached"
POINTS_AWARDED = _A + "PointsAwarded"
CAMPAIGN_CREATED, CAMPAIGN_UPDATED = _L + "CampaignCreated", _L + "CampaignUpdated"
CAMPAIGN_SPEND = _L + "CampaignSpendRecorded"

GRADES = ("N", "H", "A", "B", "C")
# Catalogue line kinds whose attach rate is reported (精品 / 保险 / 金融 / 上牌): a contract counts once per kind.
ATTACH_KINDS = ("accessory", "insurance", "financing", "plates")
DUE_SOON = timedelta(days=1)
# Measures that depend on the clock as well as on facts (a follow-up becomes due / overdue by time passing):
# reports "now" take them from the current-state table instead of the day buckets.
DUE_MEASURES = frozenset({"overdue", "due_today"})

# Ties at the same moment: the capture first, then leads' other facts, then orders' stage-changing facts (the
# order the reports always used).
_RANK = {LEAD_CREATED: 0, CONTRACT_SIGNED: 2, DELIVERED: 2}
_ORDER_STAGE = {CONTRACT_SIGNED: "contract_signed", DELIVERED: "delivered"}


Sums = dict[tuple[Any, ...], float]
"""Measures ``(kind, *key)`` → value; contributions ``(kind, *key, known_hour)`` → the change in that UTC hour
(``known_hour`` as :func:`hour_of` writes it: its first ten characters are the day)."""


def add_into(target: Sums, source: Sums, sign: float = 1) -> None:
    for key, value in source.items():
        target[key] = target.get(key, 0) + sign * value


@dataclass(frozen=True, slots=True)
class Fact:
    """One stored public event as the fold sees it: its type, when it took effect, its payload (no personal data)."""

    event_id: str
    event_type: str
    at: datetime
    data: Mapping[str, Any]

    @property
    def sort_key(self) -> tuple[datetime, int, str]:
        return self.at, _RANK.get(self.event_type, 1), self.event_id


def _sort_key(f: Fact) -> tuple[datetime, int, str]:
    return f.at, _RANK.get(f.event_type, 1), f.event_id


def _at(f: Fact) -> datetime:
    return f.at


class ConsultantTeams:
    """Which team a consultant was in at a moment (ConsultantRegistered / ConsultantMovedTeam). Used when the
    owner-changing event did not carry the team."""

    def __init__(self, moves: Iterable[tuple[str, datetime, str]] = ()) -> None:
        self._moves: dict[str, list[tuple[datetime, str]]] = {}
        for consultant, at, team in moves:
            self._moves.setdefault(consultant, []).append((at, team))
        for history in self._moves.values():
            history.sort()

    @classmethod
    def from_facts(cls, facts: Iterable[Fact]) -> ConsultantTeams:
        return cls((str(f.data["consultant_id"]), f.at, str(f.data.get("to_team_id") or f.data.get("team_id") or ""))
                   for f in facts if f.event_type in (CONSULTANT_REGISTERED, CONSULTANT_MOVED))

    def team(self, consultant: str | None, at: datetime) -> str | None:
        team = None
        for moved_at, name in self._moves.get(consultant or "", ()):
            if moved_at > at:
                break
            team = name
        return team or None

    def times(self, consultants: Iterable[str]) -> list[datetime]:
        return [at for c in consultants for at, _ in self._moves.get(c, ())]


def stay_bucket(hours: float) -> float:
    """Time in stage is kept as a histogram: 8 buckets per doubling of minutes (each ≤ 9 % wide), reported as the
    bucket's upper bound in hours. Percentiles from the summaries and from a fold of the facts agree exactly."""
    minutes = hours * 60
    if minutes <= 1:
        return round(1 / 60, 4)
    return round(2 ** (math.ceil(8 * math.log2(minutes)) / 8) / 60, 4)


@lru_cache(maxsize=1 << 16)  # the same payload times are parsed by every fold of their group
def _moment(text: str) -> datetime:
    return datetime.fromisoformat(text)


@lru_cache(maxsize=1 << 16)  # a fold asks for the same few days again and again
def day_of(moment: datetime) -> str:
    return moment.astimezone(UTC).date().isoformat()


@lru_cache(maxsize=1 << 16)  # as day_of: the change moments of a group fall in few hours
def hour_of(moment: datetime) -> str:
    """The UTC hour a change moment is bucketed by, ``YYYY-MM-DDTHH``: `as_of` T sums the buckets of the hours
    before T's hour and folds only T's own hour (a day's groups would grow with leads per day)."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H")


def month_of(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m")


def month_start(moment: datetime) -> datetime:
    m = moment.astimezone(UTC)
    return datetime(m.year, m.month, 1, tzinfo=UTC)


@dataclass(slots=True)
class _Lead:
    lead_id: str
    channel: str
    product: str
    captured_at: datetime
    referral: bool
    entries: list[tuple[datetime, str]]
    owner: str | None
    owner_team: str | None
    grade: str
    lost: Fact | None = None
    invalid_at: datetime | None = None
    due_at: datetime | None = None
    last_logged: datetime | None = None
    logged: int = 0
    missed: int = 0
    showroom_visits: int = 0
    campaign: str = ""  # the campaign the capture named ('' for none)
    owners: list[tuple[datetime, str | None, str | None]] = field(default_factory=list)

    def first_owned(self, teams: ConsultantTeams) -> tuple[str, str]:
        """A new lead is credited to its first owner (the capture's, else the first assignment's) and that
        owner's team then: round robin assigns right after the capture."""
        for at, owner, team in self.owners:
            if owner:
                return owner, team or teams.team(owner, at) or ""
        return "", ""

    def owner_at(self, moment: datetime) -> tuple[str | None, str | None]:
        owner, team = None, None
        for at, o, t in self.owners:
            if at > moment:
                break
            owner, team = o, t
        return owner, team

    furthest: int = 0  # the highest stage rank entered

    def enter(self, at: datetime, stage: str) -> None:
        self.entries.append((at, stage))
        self.furthest = max(self.furthest, STAGE_RANK.get(stage, 0))

    def won_at(self) -> datetime | None:
        rank = STAGE_RANK[WON_STAGE]
        return next((at for at, s in self.entries if STAGE_RANK.get(s, 0) >= rank), None)

    def stage_at(self, moment: datetime) -> str:
        current = "new"
        for at, stage in self.entries:
            if at > moment:
                break
            current = stage
        return current


class _Fold:
    """A group's facts up to a moment, folded."""

    def __init__(self, facts: Sequence[Fact], teams: ConsultantTeams, *, ordered: bool = False) -> None:
        self.teams = teams
        self.leads: dict[str, _Lead] = {}
        # order id → lead ids that claim it (the order's own lead_id, leads' facts that name the order).
        order_leads: dict[str, set[str]] = {}
        quote_leads: dict[str, set[str]] = {}
        quote_orders: dict[str, str] = {}
        self.facts = list(facts) if ordered else sorted(facts, key=_sort_key)
        self.linked: dict[str, _Lead | None] = {}  # event id → the lead it is about (lead_of, once per fact)
        for f in self.facts:
            d = f.data
            order, lead = d.get("order_id"), d.get("lead_id")
            if order and lead:
                order_leads.setdefault(order, set()).add(lead)
            if f.event_type == QUOTE_ISSUED and lead:
                quote_leads.setdefault(d["quote_id"], set()).add(lead)
            if f.event_type == CONTRACT_SIGNED and d.get("quote_id"):
                quote_orders[d["quote_id"]] = d["order_id"]
        for quote, order in quote_orders.items():  # a quote signed into an order links the order to its lead
            order_leads.setdefault(order, set()).update(quote_leads.get(quote, ()))
        self.order_lead = {o: min(ls) for o, ls in order_leads.items()}
        self.quote_order = quote_orders
        self.quote_lead = {q: min(ls) for q, ls in quote_leads.items()}
        for f in self.facts:
            if f.event_type == LEAD_CREATED:
                d = f.data
                owner = d.get("owner_id")
                self.leads.setdefault(d["lead_id"], _Lead(
                    lead_id=d["lead_id"], channel=d.get("channel") or "", product=d.get("interest") or "",
                    captured_at=f.at, referral=bool(d.get("referral_id")), entries=[], owner=owner,
                    owner_team=None, grade=d.get("grade") or "N", campaign=d.get("campaign_id") or "",
                    owners=[(f.at, owner, None)]))
        for f in self.facts:
            self._apply(f)

    def lead_of(self, f: Fact) -> _Lead | None:
        if f.event_id in self.linked:
            return self.linked[f.event_id]
        d = f.data
        lead = d.get("lead_id")
        if f.event_type in _ORDER_STAGE or f.event_type.startswith(_O) or f.event_type.startswith(_A):
            order = d.get("order_id") or d.get("plan_id")
            lead = self.order_lead.get(order or "") or lead
            if d.get("quote_id") and not lead:
                lead = self.quote_lead.get(d["quote_id"])
        found = self.linked[f.event_id] = self.leads.get(lead or "")
        return found

    def _apply(self, f: Fact) -> None:
        t, d = f.event_type, f.data
        if t == LEAD_CREATED:
            lead = self.leads[d["lead_id"]]
            lead.enter(f.at, d.get("stage") or "new")
            return
        found = self.lead_of(f)
        if found is None:
            return
        lead = found
        if t in (LEAD_ASSIGNED, LEAD_CLAIMED, LEAD_RELEASED):
            owner = None if t == LEAD_RELEASED else d.get("owner_id")
            lead.owner, lead.owner_team = owner, d.get("team_id")
            lead.owners.append((f.at, owner, d.get("team_id")))
        elif t == STAGE_ADVANCED:
            # leads' echo of an orders fact is not an entry: the orders fact is (see the README).
            if not (d.get("order_id") and d.get("to_stage") in _ORDER_STAGE.values()):
                lead.enter(f.at, d["to_stage"])
        elif t in _ORDER_STAGE:
            lead.enter(f.at, _ORDER_STAGE[t])
        elif t == LEAD_GRADED:
            lead.grade = d["grade"]
        elif t == LOSS_APPROVED:
            if lead.lost is None:
                lead.lost = f
        elif t == LEAD_INVALIDATED:
            lead.invalid_at = lead.invalid_at or f.at
        elif t == FOLLOW_UP_SCHEDULED:
            lead.due_at = _moment(d["due_at"])
        elif t == FOLLOW_UP_LOGGED:
            lead.last_logged = f.at if lead.last_logged is None else max(lead.last_logged, f.at)
            lead.logged += 1
        elif t == FOLLOW_UP_OVERDUE:
            lead.missed += 1

    def credit(self, lead: _Lead | None, at: datetime, doer: str | None = None,
               fallback: str | None = None) -> tuple[str, str]:
        """(consultant, team) an activity at ``at`` is credited to: who did it (follow-ups, loss requests), else
        the lead's owner at that moment, else the consultant the event names (orders without a lead)."""
        owner, team = lead.owner_at(at) if lead is not None else (None, None)
        who = doer or owner or fallback
        if who != owner:
            team = None
        team = team or self.teams.team(who, at)
        return who or "", team or ""


def below_list_minor(lines: Iterable[Mapping[str, Any]]) -> int:
    """What a contract's catalogue lines were typed below their list price, in minor units over their quantities.
    A contract line's ``unit_price_minor`` includes its options while ``list_price_minor`` is the catalogue item's
    own price, so the list unit price is list + options. A line without a list price (hand-typed, the shop's) gives
    nothing; a line above its list (orders refuses one) counts as no discount rather than a negative one."""
    total = 0
    for line in lines:
        listed = line.get("list_price_minor")
        if listed is None:
            continue
        options = sum(int(o.get("price_minor") or 0) for o in line.get("options") or ())
        total += max(0, int(listed) + options - int(line["unit_price_minor"])) * int(line.get("quantity") or 1)
    return total


def _is_open(lead: _Lead) -> bool:
    return lead.lost is None and lead.invalid_at is None and lead.furthest < STAGE_RANK[WON_STAGE]


def measures_at(facts: Sequence[Fact], moment: datetime, teams: ConsultantTeams) -> Sums:
    """Everything the group contributes to the reports as of ``moment`` (facts with time ≤ moment)."""
    return _measures(sorted(facts, key=_sort_key), moment, teams)


def _measures(ordered: Sequence[Fact], moment: datetime, teams: ConsultantTeams) -> Sums:
    """:func:`measures_at` of facts already in fold order (:func:`_sort_key`)."""
    return _Folded(ordered[:bisect_right(ordered, moment, key=_at)], teams).at(moment)


class _Folded:
    """A group's facts folded, with their measures split by what they depend on: almost all depend on the facts
    only (``fixed``); the owner's team, when the owner's event did not carry it, and whether a follow-up is due
    or overdue also depend on the moment asked about (:meth:`at`). So one fold serves every change moment that
    adds no fact (a follow-up falling due, a team move)."""

    def __init__(self, facts: Sequence[Fact], teams: ConsultantTeams) -> None:
        self.fold = fold = _Fold(facts, teams, ordered=True)
        self.teams = teams
        self._floating: list[tuple[_Lead, str, list[tuple[str, int]]]] = []
        self._dues: list[tuple[str, datetime]] = []
        self._due_activities: list[tuple[datetime, tuple[Any, ...], float]] = []
        self.fixed = _fact_measures(fold, teams, self._floating.append, self._dues.append,
                                    self._due_activities.append)

    def at(self, moment: datetime) -> Sums:
        if not self._floating and not self._dues and not self._due_activities:
            return self.fixed
        out = dict(self.fixed)
        for due, counted, amount in self._due_activities:  # counted once their due moment has passed
            if due <= moment:
                out[counted] = out.get(counted, 0) + amount
        for lead, cohort, measures in self._floating:
            dims = (lead.owner or "", self.teams.team(lead.owner, moment) or "", lead.channel, lead.product)
            for measure, n in measures:
                key: tuple[str, ...] = ("funnel", cohort, measure, *dims)
                out[key] = out.get(key, 0) + n
        for owner, due in self._dues:
            if due <= moment:
                key = ("stock", owner, "overdue")
            elif due <= moment + DUE_SOON:
                key = ("stock", owner, "due_today")
            else:
                continue
            out[key] = out.get(key, 0) + 1
        return {k: v for k, v in out.items() if v}


def _fact_measures(fold: _Fold, teams: ConsultantTeams,
                   team_later: Callable[[tuple[_Lead, str, list[tuple[str, int]]]], None],
                   due_later: Callable[[tuple[str, datetime]], None],
                   activity_when_due: Callable[[tuple[datetime, tuple[Any, ...], float]], None]) -> Sums:
    """The measures of a folded group that depend on its facts only; the rest is handed to ``team_later``
    (a lead's funnel measures, when its owner's team must be looked up at the moment), ``due_later``
    (an open lead's pending follow-up) and ``activity_when_due`` (activity counted from a due moment on: a
    call-back task)."""
    out: Sums = defaultdict(float)

    def activity(at: datetime, metric: str, who: tuple[str, str], lead: _Lead | None, amount: float = 1,
                 day: datetime | None = None) -> None:
        out["activity", day_of(day or at), metric, who[0], who[1], lead.channel if lead else "",
            lead.product if lead else ""] += amount

    for lead in fold.leads.values():
        cohort = day_of(lead.captured_at)  # the capture day; summaries keep the month (the cohort)
        later: list[tuple[str, int]] = []
        dims = (lead.owner or "", lead.owner_team or "", lead.channel, lead.product)

        def funnel(measure: str, n: int = 1, _c: str = cohort, _d: tuple[str, ...] = dims,
                   _later: list[tuple[str, int]] | None = None if lead.owner_team else later) -> None:
            if _later is None:
                out["funnel", _c, measure, *_d] += n
            else:  # the owner's team is looked up at the moment asked about (_Folded.at)
                _later.append((measure, n))

        furthest = lead.furthest
        funnel("total")
        for stage in {s for _, s in lead.entries}:
            funnel(f"entered:{stage}")
        for stage in FUNNEL_STAGES[:furthest + 1]:
            funnel(f"reached:{stage}")
        funnel(f"current:{lead.entries[-1][1] if lead.entries else 'new'}")
        for (at, stage), (next_at, _) in zip(lead.entries, lead.entries[1:], strict=False):
            if stage in STAGE_RANK:
                funnel(f"stay:{stage}:{stay_bucket((next_at - at).total_seconds() / 3600)}")
        won = furthest >= STAGE_RANK[WON_STAGE]
        funnel("won", int(won))
        if lead.lost is not None:
            funnel("lost")
            funnel(f"lost_reason:{lead.lost.data.get('reason') or 'unknown'}")
            funnel(f"lost_stage:{lead.stage_at(lead.lost.at)}")
            if lead.lost.data.get("competitor_model"):
                funnel(f"lost_competitor:{lead.lost.data['competitor_model']}")
        funnel("invalid", int(lead.invalid_at is not None and lead.lost is None))
        is_open = _is_open(lead)
        funnel("open", int(is_open))
        if later:
            team_later((lead, cohort, later))
        if is_open:
            owner = lead.owner or ""
            grade = lead.grade if lead.grade in GRADES else "N"
            out["stock", owner, f"grade:{grade}"] += 1
            out["stock", owner, "open"] += 1
            out["stock", owner, "logged"] += lead.logged
            out["stock", owner, "missed"] += lead.missed
            due = lead.due_at
            if due is not None and (lead.last_logged is None or due > lead.last_logged):
                due_later((owner, due))

        # Flows, credited by the attribution rule.
        first = lead.first_owned(teams)
        activity(lead.captured_at, "new_leads", first, lead)
        if lead.referral:
            activity(lead.captured_at, "referral_leads", first, lead)
        seen: set[tuple[str, str]] = set()
        won_ever = lead.furthest >= STAGE_RANK[WON_STAGE]
        for at, stage in lead.entries:
            metric = {"visited": "visits", "test_driven": "test_drives"}.get(stage)
            if metric and (metric, month_of(at)) not in seen:
                seen.add((metric, month_of(at)))
                activity(at, metric, fold.credit(lead, at), lead)
                if metric == "test_drives" and won_ever:  # 试驾签单: the test-driven lead signed (as of T)
                    activity(at, "test_drives_signed", fold.credit(lead, at), lead)
        closed = min((x for x in (lead.lost.at if lead.lost else None, lead.invalid_at) if x), default=None)
        if closed is not None:
            start = month_start(closed)
            won_at = lead.won_at()
            if lead.captured_at <= start and (won_at is None or won_at > start):
                activity(closed, "open_churned", fold.credit(lead, closed), lead)

    deposits: dict[str, datetime] = {}
    logged_at: dict[str, list[datetime]] = defaultdict(list)  # lead id → its follow-ups' times (call-backs)
    for f in fold.facts:
        if f.event_type == FOLLOW_UP_LOGGED and (found := fold.lead_of(f)) is not None:
            logged_at[found.lead_id].append(f.at)
    cancelled = {f.data["order_id"] for f in fold.facts if f.event_type == ORDER_CANCELLED}
    plan_consultant = {f.data["plan_id"]: f.data.get("consultant_id") for f in fold.facts if f.event_type == CARE_PLAN}
    breached = {f.data["complaint_id"] for f in fold.facts if f.event_type == SLA_BREACHED}
    for f in fold.facts:
        t, d = f.event_type, f.data
        linked = fold.lead_of(f)
        if t == CONTRACT_SIGNED and d["order_id"] not in cancelled:
            who = fold.credit(linked, f.at, fallback=d.get("consultant_id"))
            activity(f.at, "contracts", who, linked)
            activity(f.at, "revenue", who, linked, d.get("total_minor", 0))
            if d.get("quote_id"):
                activity(f.at, "quotes_signed", who, linked)
            kinds = {line.get("kind") for line in d.get("lines") or ()}
            for kind in ATTACH_KINDS:
                if kind in kinds:
                    activity(f.at, f"contracts_with_{kind}", who, linked)
            if d.get("subtotal_minor"):
                activity(f.at, "discount_minor", who, linked, d.get("discount_minor") or 0)
                activity(f.at, "below_list_minor", who, linked, below_list_minor(d.get("lines") or ()))
                activity(f.at, "subtotal_minor", who, linked, d["subtotal_minor"])
                activity(f.at, "priced_contracts", who, linked)
        elif t == DELIVERED:
            who = fold.credit(linked, f.at, fallback=d.get("consultant_id"))
            activity(f.at, "deliveries", who, linked)
            paid = deposits.get(d["order_id"])
            if paid is not None:
                activity(f.at, "deposit_to_delivery_hours", who, linked, (f.at - paid).total_seconds() / 3600)
                activity(f.at, "deposit_deliveries", who, linked)
        elif t == PAYMENT_RECEIVED and d.get("kind") == "deposit":
            deposits.setdefault(d["order_id"], f.at)
        elif t in (FINANCING_APPROVED, FINANCING_DECLINED):
            metric = "financing_approved" if t == FINANCING_APPROVED else "financing_declined"
            activity(f.at, metric, fold.credit(linked, f.at), linked)
        elif t == QUOTE_ISSUED:
            activity(f.at, "quotes_issued", fold.credit(linked, f.at, fallback=d.get("consultant_id")), linked)
            activity(f.at, "quoted_discount_minor", fold.credit(linked, f.at, fallback=d.get("consultant_id")), linked,
                     d.get("discount_minor") or 0)
        elif t == APPOINTMENT_SCHEDULED and d.get("kind") == "showroom_visit":
            activity(f.at, "invitations", fold.credit(linked, f.at), linked)
        elif t == APPOINTMENT_MISSED:
            activity(f.at, "appointments_missed", fold.credit(linked, f.at), linked)
        elif t == VISIT_ARRIVED:
            # The reception register, credited to who received the visitor. 二次到店率 counts the customer's
            # 1st and 2nd register entries (visit_number, numbered by leads across the customer's leads), so a
            # walk-in with no appointment counts and an invited visit is counted once, by the register.
            who = fold.credit(linked, f.at, doer=d.get("consultant_id"))
            number = d.get("visit_number")
            if number in (1, 2):
                activity(f.at, "first_visits" if number == 1 else "second_visits", who, linked)
            if d.get("first_visit"):
                # 留档: a first-time visitor's register entry left a lead record that is still valid (the
                # register needs a phone for a walk-in; an invalidated lead is an empty or fake record).
                activity(f.at, "walk_ins", who, linked)
                if linked is not None and linked.invalid_at is None:
                    activity(f.at, "walk_ins_recorded", who, linked)
        elif t == APPOINTMENT_ATTENDED:
            activity(f.at, "appointments_kept", fold.credit(linked, f.at), linked)
            if d.get("kind") == "showroom_visit" and linked is not None:
                activity(f.at, "invited_visits", fold.credit(linked, f.at), linked)
            elif d.get("kind") == "test_drive":
                activity(f.at, "test_drives_attended", fold.credit(linked, f.at), linked)
        elif t == CALL_RECORDED:
            # Calls are credited to who took or made them (the agent's consultant), else the lead's owner then.
            who = fold.credit(linked, f.at, doer=d.get("consultant_id"))
            activity(f.at, "calls", who, linked)
            if d.get("outcome") == "answered":
                activity(f.at, "calls_answered", who, linked)
                activity(f.at, "talk_seconds", who, linked, d.get("duration_seconds") or 0)
            if d.get("call_back_due_at") and linked is not None:
                # A missed call's call-back task: due at its due moment, credited to the lead's owner then (who
                # is to call back); within SLA when a follow-up (a call-back logged, an answered call) was logged
                # on the lead after the missed call and no later than the due moment.
                # A call reported after its call-back was due (the call center sent it late) is due at once.
                due = _moment(d["call_back_due_at"])
                counted = max(due, f.at)
                caller_back = fold.credit(linked, counted)
                dims = (*caller_back, linked.channel, linked.product)
                activity_when_due((counted, ("activity", day_of(counted), "call_backs_due", *dims), 1))
                if any(f.at <= done <= due for done in logged_at[linked.lead_id]):
                    activity_when_due((counted, ("activity", day_of(counted), "call_backs_in_sla", *dims), 1))
        elif t == FOLLOW_UP_LOGGED:
            activity(f.at, "follow_ups_done", fold.credit(linked, f.at, doer=d.get("logged_by")), linked)
        elif t == FOLLOW_UP_OVERDUE:
            activity(f.at, "follow_ups_overdue", fold.credit(linked, f.at, doer=d.get("owner_id")), linked)
        elif t == LOSS_REQUESTED:
            activity(f.at, "loss_requests", fold.credit(linked, f.at, doer=d.get("requested_by")), linked)
        elif t == LOSS_APPROVED and linked is not None and linked.lost is f:
            who = fold.credit(linked, f.at)
            activity(f.at, "losses", who, linked)
            activity(f.at, f"loss_reason:{d.get('reason') or 'unknown'}", who, linked)
            if d.get("competitor_model"):
                activity(f.at, f"loss_competitor:{d['competitor_model']}", who, linked)
        elif t == VISIT_COMPLETED:
            low, high = d.get("scale_min", 0), d.get("scale_max", 1)
            score = 0.0 if high == low else (d["score"] - low) / (high - low)
            who = fold.credit(linked, f.at, doer=plan_consultant.get(d.get("plan_id")))
            activity(f.at, "satisfaction_sum", who, linked, score)
            activity(f.at, "satisfaction_visits", who, linked)
        elif t == COMPLAINT_OPENED:
            activity(f.at, "complaints_opened", ("", ""), None)
            if d["complaint_id"] in breached:
                activity(f.at, "complaints_breached", ("", ""), None)
        elif t == POINTS_AWARDED:
            activity(f.at, f"points:{d.get('reason') or 'other'}", ("", ""), None, d.get("points", 0))
    _campaign_measures(fold, cancelled, out)
    return {k: v for k, v in out.items() if v}


def _campaign_measures(fold: _Fold, cancelled: set[str], out: Sums) -> None:
    """Channel and campaign cost (the reporting README, *Campaigns and channel cost*), keyed by the lead's channel
    and campaign ('' for none): ``leads`` and ``invalid_leads`` on the capture day (a lead invalidated later moves
    its cohort's count on the day of the invalidation: that is when the difference is known); ``visits`` /
    ``test_drives`` as the activity counters count them (a lead entering the stage, once per month); ``contracts`` and
    ``revenue`` (ContractSigned not cancelled, by its linked lead); ``spend`` on the day it was spent, to the channel
    the campaign had when the entry was recorded."""
    def add(at: datetime, metric: str, channel: str, campaign: str, amount: float = 1) -> None:
        out["campaign", day_of(at), metric, channel, campaign] += amount

    for lead in fold.leads.values():
        add(lead.captured_at, "leads", lead.channel, lead.campaign)
        if lead.invalid_at is not None:
            add(lead.captured_at, "invalid_leads", lead.channel, lead.campaign)
        seen: set[tuple[str, str]] = set()
        for at, stage in lead.entries:
            metric = {"visited": "visits", "test_driven": "test_drives"}.get(stage)
            if metric and (metric, month_of(at)) not in seen:
                seen.add((metric, month_of(at)))
                add(at, metric, lead.channel, lead.campaign)
    for f in fold.facts:
        if f.event_type == CONTRACT_SIGNED and f.data["order_id"] not in cancelled:
            linked = fold.lead_of(f)
            channel, campaign = (linked.channel, linked.campaign) if linked else ("", "")
            add(f.at, "contracts", channel, campaign)
            add(f.at, "revenue", channel, campaign, f.data.get("total_minor", 0))
        elif f.event_type == CAMPAIGN_SPEND:
            add(f.at, "spend", f.data.get("channel") or "", f.data["campaign_id"], f.data.get("amount_minor", 0))


def change_times(facts: Sequence[Fact], teams: ConsultantTeams) -> list[datetime]:
    """Every moment the group's measures can change: its facts' times, the moments a follow-up becomes due soon
    or overdue, and team moves of the consultants it names."""
    times = {f.at for f in facts}
    consultants = set()
    for f in facts:
        if f.event_type == FOLLOW_UP_SCHEDULED:
            due = _moment(f.data["due_at"])
            times.update((due, due - DUE_SOON))
        elif f.event_type == CALL_RECORDED and f.data.get("call_back_due_at"):
            times.add(_moment(f.data["call_back_due_at"]))
        for name in ("owner_id", "consultant_id", "logged_by", "requested_by"):
            if f.data.get(name):
                consultants.add(f.data[name])
    times.update(teams.times(consultants))
    return sorted(times)


Folds = dict[tuple[int, tuple[str, ...]], "_Folded"]
"""Folded prefixes of a group's facts, by (teams, event ids): shared by the calls that fold the same facts."""


def _folded(ordered: Sequence[Fact], moment: datetime, teams: ConsultantTeams, folds: Folds) -> _Folded:
    prefix = ordered[:bisect_right(ordered, moment, key=_at)]
    key = (id(teams), tuple(f.event_id for f in prefix))
    found = folds.get(key)
    if found is None:
        found = folds[key] = _Folded(prefix, teams)
    return found


def measures_before(facts: Sequence[Fact], teams: ConsultantTeams, since: datetime,
                    folds: Folds | None = None) -> Sums:
    """The group's measures just before ``since``: those at its last change moment before it."""
    ordered = sorted(facts, key=_sort_key)
    earlier = [t for t in change_times(ordered, teams) if t < since]
    if not earlier:
        return {}
    return _folded(ordered, earlier[-1], teams, {} if folds is None else folds).at(earlier[-1])


def contributions(facts: Sequence[Fact], teams: ConsultantTeams, *, since: datetime | None = None,
                  until: datetime | None = None, previous: Sums | None = None, folds: Folds | None = None) -> Sums:
    """The group's measures as differences between consecutive change moments in [since, until], each keyed by
    the UTC hour the change happens (``known_hour``, last element of the key, :func:`hour_of`). Without
    ``since``, from nothing; with it, relative to the measures just before ``since`` (``previous``, when the
    caller has them already).

    The changes inside one hour add up to the measures at the hour's last change moment minus those before the
    hour (the differences in between cancel), so the group is measured once per hour with changes, not once per
    change moment (a day's buckets are the sum of its hours'); and an hour whose last change adds no fact (a
    follow-up falling due) reuses the fold of the facts before it (``folds``, which callers folding the same facts
    again may share)."""
    out: Sums = {}
    folds = {} if folds is None else folds
    ordered = sorted(facts, key=_sort_key)
    last_of_hour: dict[str, datetime] = {}
    for t in change_times(ordered, teams):  # sorted: the last moment of each hour wins
        if (since is None or t >= since) and (until is None or t <= until):
            last_of_hour[hour_of(t)] = t
    if not last_of_hour:
        return out
    if previous is None:
        previous = measures_before(ordered, teams, since, folds) if since is not None else {}
    for hour, moment in last_of_hour.items():
        current = _folded(ordered, moment, teams, folds).at(moment)
        for key in current.keys() | previous.keys():
            delta = current.get(key, 0) - previous.get(key, 0)
            if delta:
                out[(*key, hour)] = delta
        previous = current
    return out


def recontribute(facts: Sequence[Fact], teams: ConsultantTeams, stored: Mapping[tuple[Any, ...], float],
                 since: datetime, folds: Folds | None = None) -> tuple[Sums, Sums]:
    """(what to add to the summaries, the group's contributions now), given ``stored``: the group's
    contributions (:func:`contributions` from nothing) before its facts or the team history changed, all
    changes being at or after ``since``.

    Measures at a moment depend only on facts and team moves up to it, so the stored hours before ``since``'s hour
    are still right, and their sum is the measures at the end of the hour before (the ``previous`` that
    :func:`contributions` would otherwise get from folding the old history again). The group is folded only
    for its hours from ``since``'s on, and the difference to the stored ones from that hour is the delta."""
    first = hour_of(since)
    head: Sums = {}
    previous: Sums = {}
    old_tail: Sums = {}
    for key, value in stored.items():
        if key[-1] < first:
            head[key] = value
            previous[key[:-1]] = previous.get(key[:-1], 0) + value
        else:
            old_tail[key] = value
    new_tail = contributions(facts, teams, since=since.astimezone(UTC).replace(minute=0, second=0, microsecond=0),
                             previous={k: v for k, v in previous.items() if v}, folds=folds)
    delta = dict(new_tail)
    add_into(delta, old_tail, -1)
    head.update(new_tail)
    return {k: v for k, v in delta.items() if v}, head


def entities_of(event_type: str, data: Mapping[str, Any], event_id: str) -> tuple[str, list[str]]:
    """(the entity a fact is about, the other entities it links it to). Groups are the connected parts of the
    graph these links draw; see :func:`group_of`."""
    d = data
    mentions = []
    if event_type.startswith(_L):
        # A campaign's own facts are its group (a lead names its campaign but is not linked to it: linking would
        # make one group of every lead a campaign brought).
        primary = f"lead:{d['lead_id']}" if d.get("lead_id") else (
            f"consultant:{d['consultant_id']}" if d.get("consultant_id") else
            f"campaign:{d['campaign_id']}" if d.get("campaign_id") else f"team:{d.get('team_id')}")
        if d.get("order_id"):
            mentions.append(f"order:{d['order_id']}")
    elif event_type.startswith(_O):
        if d.get("order_id"):
            primary = f"order:{d['order_id']}"
            if d.get("quote_id"):
                mentions.append(f"quote:{d['quote_id']}")
        else:
            primary = f"quote:{d['quote_id']}" if d.get("quote_id") else f"event:{event_id}"
        if d.get("lead_id"):
            mentions.append(f"lead:{d['lead_id']}")
    elif d.get("complaint_id"):
        primary = f"complaint:{d['complaint_id']}"
        if d.get("order_id"):
            mentions.append(f"order:{d['order_id']}")
    elif d.get("plan_id") or d.get("order_id"):
        primary = f"order:{d.get('plan_id') or d['order_id']}"
        if d.get("lead_id"):
            mentions.append(f"lead:{d['lead_id']}")
    else:
        primary = f"event:{event_id}"
    return primary, mentions


def group_of(component: Iterable[str]) -> str:
    """A group is named after its smallest lead (the lead an order is credited to when several claim it), else
    its smallest entity."""
    members = sorted(component)
    return next((m for m in members if m.startswith("lead:")), members[0])


@dataclass(frozen=True, slots=True)
class LeadState:
    """One lead as all its facts describe it now: the row of the current-state table."""

    lead_id: str
    channel: str
    product: str
    captured_at: datetime
    owner_id: str | None
    team_id: str | None
    grade: str
    stage: str
    furthest_stage: str
    status: str  # open | won | lost | invalid
    due_at: datetime | None
    last_logged_at: datetime | None


def lead_states(facts: Sequence[Fact], teams: ConsultantTeams, folds: Folds | None = None) -> list[LeadState]:
    ordered = sorted(facts, key=_sort_key)
    fold = _folded(ordered, ordered[-1].at, teams, {} if folds is None else folds).fold if ordered else _Fold([], teams)
    out = []
    for lead in fold.leads.values():
        won = lead.furthest >= STAGE_RANK[WON_STAGE]
        status = "lost" if lead.lost else "invalid" if lead.invalid_at else "won" if won else "open"
        latest = max((f.at for f in fold.facts), default=lead.captured_at)
        out.append(LeadState(
            lead.lead_id, lead.channel, lead.product, lead.captured_at, lead.owner,
            lead.owner_team or teams.team(lead.owner, latest), lead.grade if lead.grade in GRADES else "N",
            lead.entries[-1][1] if lead.entries else "new", FUNNEL_STAGES[lead.furthest], status, lead.due_at,
            lead.last_logged))
    return out


# Facts a lead's current state and stored contributions can take on their own, when they are the latest of their
# group (:func:`late_lead_facts`): a grade and a logged follow-up, most of a live day's events.
LATE_FACT_TYPES = frozenset({LEAD_GRADED, FOLLOW_UP_LOGGED})


def late_lead_facts(state: LeadState, facts: Sequence[Fact], teams: ConsultantTeams, latest: datetime,
                    latest_due: datetime | None) -> tuple[Sums, LeadState] | None:
    """What ``facts`` (new facts of one lead, of :data:`LATE_FACT_TYPES`) add to its group's contributions, and
    the lead's state after them — without folding the group's history — or None when that is not exact and the
    group must be folded (:func:`recontribute`).

    ``state`` is the lead's current state (:func:`lead_states`), ``latest`` the latest time of its group's other
    facts, ``latest_due`` the latest due moment they name (a follow-up's, a call-back's). A fact later than every
    other fact of its group sorts last in the fold, so it leaves the measures before it alone; these two types
    then shift the measures by the same amount at every moment from theirs on (so only their own hour's
    contribution changes):

    * a grade moves an open lead's ``stock grade:`` count from the old grade to the new one (owner: the lead's now);
    * a logged follow-up adds one ``follow_ups_done`` (credited as :meth:`_Fold.credit` does) and one ``logged``
      to an open lead's stock, and ends its pending follow-up's ``overdue`` count. Not exact, so None: a due
      moment of the group is at or after the fact (a pending follow-up due later would change the hours it
      becomes due soon and due in; a missed call's call-back counts as in SLA if a follow-up is logged by its due
      moment), or the owner's team (which the credit looks up when the assignment did not carry it) changed
      between ``latest`` and the fact."""
    out: Sums = {}
    for f in sorted(facts, key=_sort_key):
        d = f.data
        if f.event_type not in LATE_FACT_TYPES or f.at <= latest or d.get("lead_id") != state.lead_id:
            return None
        hour, owner, is_open = hour_of(f.at), state.owner_id or "", state.status == "open"
        if f.event_type == LEAD_GRADED:
            if "grade" not in d:
                return None
            grade = d["grade"] if d["grade"] in GRADES else "N"
            if is_open and grade != state.grade:
                for measure, n in ((f"grade:{state.grade}", -1), (f"grade:{grade}", 1)):
                    key = ("stock", owner, measure, hour)
                    out[key] = out.get(key, 0) + n
            state = replace(state, grade=grade)
        else:
            if latest_due is not None and latest_due >= f.at:
                return None
            if state.due_at is not None:
                # The pending follow-up was due before the fact (every due moment of the group is): overdue from
                # then on, until this follow-up is logged.
                if is_open:
                    overdue = ("stock", owner, "overdue", hour)
                    out[overdue] = out.get(overdue, 0) - 1
                state = replace(state, due_at=None)
            doer = d.get("logged_by")
            if doer and doer != state.owner_id:
                who, team = doer, teams.team(doer, f.at)
            elif teams.team(state.owner_id, latest) != teams.team(state.owner_id, f.at):
                return None
            else:  # the owner: state.team_id is the assignment's team, else the owner's team at ``latest``
                who, team = state.owner_id, state.team_id
            done = ("activity", day_of(f.at), "follow_ups_done", who or "", team or "", state.channel,
                    state.product, hour)
            out[done] = out.get(done, 0) + 1
            if is_open:
                logged = ("stock", owner, "logged", hour)
                out[logged] = out.get(logged, 0) + 1
            last = state.last_logged_at
            state = replace(state, last_logged_at=f.at if last is None else max(last, f.at))
        latest = f.at
    return {k: v for k, v in out.items() if v}, state
