"""Bounded open-loop load over the command mix of all four services, by clients that retry like real integrations.

Each simulated customer is a *journey*: capture (online shop / call center, with the sender's idempotency key)
→ follow-up → grade → test drive booked and attended → for some, quote → acceptance → contract → payment (with
the payment system's reference) → delivery scheduled → delivered → return visit completed (once after-sales has
the care plan) → for some, a complaint acknowledged and resolved, a referral; some customers are online-shop
checkouts (idempotent on the shop's order id). A journey's commands are sequential, like one integration working on
one customer; the journeys interleave.

Open loop: a clock ticks ``rate`` times a second and each tick sends the next command of a journey that is ready
(or starts a new journey), whether or not earlier commands were answered — a stalled service shows as commands in
flight and late acknowledgements, not as a lower offered rate. Bounded: at most ``max_in_flight`` commands wait at
once; a tick that finds the bound reached is counted as *shed* (load not held).

Retries, as an integration does them: a transport error or a 5xx is *ambiguous* (the command may have committed),
so the same request goes again — with the same idempotency key, or the same ``expected_version``, which makes a
second application impossible (the store answers 409 ``version_conflict``). After a 409 that follows an ambiguous
attempt the client reads the aggregate and looks for its effect in the history, as a careful integration would.
Creates that have no natural key (a quote, a complaint) carry an ``Idempotency-Key`` header (shared/idempotency.py),
so they are resent like the rest; a command that stays ambiguous (given up) is *unknown* and reconciliation allows 0
or 1 of its effect.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson

# What reconciliation looks for in the event stores: (service whose store holds it, event type, a subset of the
# event's data the effect must contain).
Effect = tuple[str, str, dict[str, Any]]

ACKNOWLEDGED = "acknowledged"  # a 2xx, or the effect seen in the aggregate's history after an ambiguous attempt
REJECTED = "rejected"  # a 4xx with no ambiguous attempt before it: nothing may have been stored
UNKNOWN = "unknown"  # ambiguous and not resolved (given up, or an ambiguous 4xx the history could not settle)

TEAM = "faults-team"
CONSULTANTS = [f"faults-c{n}" for n in range(8)]
CHANNELS = ["online_shop", "call_center", "website", "phone", "showroom"]


@dataclass
class Command:
    id: str
    kind: str
    service: str
    method: str
    path: str
    body: dict[str, Any] | None
    effect: Effect | None = None
    # GET path of the aggregate whose history shows the effect (to resolve an ambiguous attempt).
    check_path: str | None = None
    history_effect: tuple[str, dict[str, Any]] | None = None
    versioned: bool = False  # body carries expected_version
    headers: dict[str, str] = field(default_factory=dict)  # request headers of its own (an Idempotency-Key)
    awaits_reaction: bool = False  # 404 means "not there yet" (a reaction to another service's event)
    outcome: str = "pending"
    attempts: int = 0
    ambiguous: bool = False
    conflicts: int = 0
    statuses: list[int] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    response: dict[str, Any] | None = None
    sent_at: float = 0.0
    done_at: float = 0.0


@dataclass
class Journey:
    number: int
    kind: str  # "pipeline" or "checkout"
    buys: bool
    complains: bool
    refers: bool
    step: int = 0
    state: dict[str, Any] = field(default_factory=dict)
    finished: bool = False


def _now() -> datetime:
    return datetime.now(UTC)


def _phone(run: int, n: int) -> str:
    # Chinese mobile numbers, unique per run and customer: 13 + run digit + 8 digits.
    return f"13{run % 10}{n:08d}"


class Mix:
    """The next command of a journey, from what its previous answers said."""

    def __init__(self, run_seed: int) -> None:
        self.run = run_seed
        self.random = random.Random(run_seed)
        self.journeys = 0

    def new_journey(self) -> Journey:
        self.journeys += 1
        r = self.random.random
        if r() < 0.1:
            return Journey(self.journeys, "checkout", buys=False, complains=False, refers=False)
        buys = r() < 0.5
        return Journey(self.journeys, "pipeline", buys=buys, complains=buys and r() < 0.3,
                       refers=buys and r() < 0.3)

    def next_command(self, j: Journey) -> Command | None:
        s = j.state
        mark = f"f{self.run}-{j.number}-{j.step}"
        steps: list[Callable[[], Command | None]]
        if j.kind == "checkout":
            steps = [lambda: self._checkout(j, mark)]
        else:
            steps = [lambda: self._capture(j, mark), lambda: self._follow_up(s, mark), lambda: self._grade(s, mark),
                     lambda: self._appointment(s), lambda: self._attended(s)]
            if j.buys:
                steps += [lambda: self._quote(s, mark), lambda: self._accept(s), lambda: self._sign(s),
                          lambda: self._pay(s, mark), lambda: self._schedule_delivery(s), lambda: self._deliver(s),
                          lambda: self._return_visit(s, mark)]
                if j.complains:
                    steps += [lambda: self._complaint(s, mark), lambda: self._acknowledge(s),
                              lambda: self._resolve(s, mark)]
                if j.refers:
                    steps += [lambda: self._referral(j, s, mark)]
        while j.step < len(steps):
            command = steps[j.step]()
            j.step += 1
            if command is not None:
                return command
        j.finished = True
        return None

    # ----------------------------------------------------------------------------------------------- leads

    def _capture(self, j: Journey, mark: str) -> Command:
        phone = _phone(self.run, 2 * j.number)
        return Command(mark, "leads.capture", "leads", "POST", "/v1/leads",
                       {"name": f"客户{j.number}", "phone": phone, "channel": CHANNELS[j.number % len(CHANNELS)],
                        "interest": "Model Y", "source_system": "faults", "external_id": mark},
                       effect=("leads", "LeadCreated", {"source_system": "faults", "external_id": mark}))

    def _follow_up(self, s: dict[str, Any], mark: str) -> Command | None:
        if "lead_id" not in s:
            return None
        lead = s["lead_id"]
        return Command(mark, "leads.follow_up", "leads", "POST", f"/v1/leads/{lead}/follow-ups",
                       {"kind": "call", "outcome": "interested", "notes": mark, "expected_version": s["lead_v"]},
                       effect=("leads", "FollowUpLogged", {"lead_id": lead, "notes": mark}),
                       check_path=f"/v1/leads/{lead}", history_effect=("FollowUpLogged", {"notes": mark}),
                       versioned=True)

    def _grade(self, s: dict[str, Any], mark: str) -> Command | None:
        if "lead_id" not in s:
            return None
        lead = s["lead_id"]
        grade = self.random.choice("HABC")
        return Command(mark, "leads.grade", "leads", "POST", f"/v1/leads/{lead}/grade",
                       {"grade": grade, "reason": mark, "expected_version": s["lead_v"]},
                       effect=("leads", "LeadGraded", {"lead_id": lead, "reason": mark}),
                       check_path=f"/v1/leads/{lead}", history_effect=("LeadGraded", {"reason": mark}),
                       versioned=True)

    def _appointment(self, s: dict[str, Any]) -> Command | None:
        if "lead_id" not in s:
            return None
        lead = s["lead_id"]
        return Command(f"{lead}-appt", "leads.appointment", "leads", "POST", f"/v1/leads/{lead}/appointments",
                       {"kind": "test_drive", "scheduled_for": (_now() + timedelta(days=2)).isoformat(),
                        "expected_version": s["lead_v"]},
                       effect=("leads", "AppointmentScheduled", {"lead_id": lead, "kind": "test_drive"}),
                       check_path=f"/v1/leads/{lead}", history_effect=("AppointmentScheduled", {"kind": "test_drive"}),
                       versioned=True)

    def _attended(self, s: dict[str, Any]) -> Command | None:
        if "appointment_id" not in s:
            return None
        lead, appointment = s["lead_id"], s["appointment_id"]
        return Command(f"{lead}-attended", "leads.appointment_outcome", "leads", "POST",
                       f"/v1/leads/{lead}/appointments/{appointment}/outcome",
                       {"attended": True, "expected_version": s["lead_v"]},
                       effect=("leads", "AppointmentAttended", {"lead_id": lead, "appointment_id": appointment}),
                       check_path=f"/v1/leads/{lead}",
                       history_effect=("AppointmentAttended", {"appointment_id": appointment}), versioned=True)

    # ---------------------------------------------------------------------------------------------- orders

    def _quote(self, s: dict[str, Any], mark: str) -> Command | None:
        if "lead_id" not in s or "owner_id" not in s:
            return None
        lead = s["lead_id"]
        price = self.random.choice([15990000, 26390000, 31990000])
        return Command(mark, "orders.issue_quote", "orders", "POST", "/v1/quotes",
                       {"consultant_id": s["owner_id"], "currency": "CNY", "lead_id": lead,
                        "customer_id": s["customer_id"], "customer_name": "客户", "customer_phone": s["phone"],
                        "role": "consultant",
                        "lines": [{"product": "MODEL-Y", "description": mark, "unit_price_minor": price}],
                        "valid_until": (_now() + timedelta(days=30)).isoformat()},
                       effect=("orders", "QuoteIssued", {"lead_id": lead, "lines": [{"description": mark}]}),
                       headers={"Idempotency-Key": mark})

    def _accept(self, s: dict[str, Any]) -> Command | None:
        if "quote_id" not in s:
            return None
        q = s["quote_id"]
        return Command(f"{q}-accept", "orders.accept_quote", "orders", "POST", f"/v1/quotes/{q}/acceptance",
                       {"revision": 1, "expected_version": s["quote_v"]},
                       effect=("orders", "QuoteAccepted", {"quote_id": q}), check_path=f"/v1/quotes/{q}",
                       history_effect=("QuoteAccepted", {}), versioned=True)

    def _sign(self, s: dict[str, Any]) -> Command | None:
        if "quote_id" not in s or s.get("quote_status") != "accepted":
            return None
        q = s["quote_id"]
        return Command(f"{q}-sign", "orders.sign_contract", "orders", "POST", f"/v1/quotes/{q}/contract",
                       {"payment_plan": "full", "expected_version": s["quote_v"]},
                       effect=("orders", "ContractSigned", {"quote_id": q}), check_path=f"/v1/quotes/{q}",
                       history_effect=("QuoteConverted", {}), versioned=True)

    def _pay(self, s: dict[str, Any], mark: str) -> Command | None:
        if "order_id" not in s:
            return None
        o = s["order_id"]
        # The payment system's reference is the idempotency key: a repeat is recorded once.
        return Command(mark, "orders.payment", "orders", "POST", f"/v1/orders/{o}/payments",
                       {"kind": "full", "amount_minor": s["total_minor"], "currency": "CNY", "reference": mark},
                       effect=("orders", "PaymentReceived", {"order_id": o, "reference": mark}))

    def _schedule_delivery(self, s: dict[str, Any]) -> Command | None:
        if "order_id" not in s:
            return None
        o = s["order_id"]
        return Command(f"{o}-schedule", "orders.schedule_delivery", "orders", "POST", f"/v1/orders/{o}/delivery",
                       {"scheduled_for": (_now() + timedelta(days=1)).isoformat(), "location": "上海门店",
                        "expected_version": s["order_v"]},
                       effect=("orders", "DeliveryScheduled", {"order_id": o}), check_path=f"/v1/orders/{o}",
                       history_effect=("DeliveryScheduled", {}), versioned=True)

    def _deliver(self, s: dict[str, Any]) -> Command | None:
        if "order_id" not in s or not s.get("delivery_scheduled"):
            return None
        o = s["order_id"]
        return Command(f"{o}-deliver", "orders.deliver", "orders", "POST", f"/v1/orders/{o}/delivered",
                       {"expected_version": s["order_v"]}, effect=("orders", "Delivered", {"order_id": o}),
                       check_path=f"/v1/orders/{o}", history_effect=("Delivered", {}), versioned=True)

    def _checkout(self, j: Journey, mark: str) -> Command:
        total = self.random.choice([1299900, 2599900])
        return Command(mark, "orders.checkout", "orders", "POST", "/v1/checkouts",
                       {"shop_order_id": mark, "customer_name": f"网购{j.number}",
                        "customer_phone": _phone(self.run, 2 * j.number + 1),
                        "lines": [{"product": "ACCESSORY-KIT", "unit_price_minor": total}], "total_minor": total,
                        "paid_minor": total, "currency": "CNY", "payment_reference": f"{mark}-pay"},
                       effect=("orders", "ContractSigned", {"shop_order_id": mark}))

    # ------------------------------------------------------------------------------------------ aftersales

    def _return_visit(self, s: dict[str, Any], mark: str) -> Command | None:
        if not s.get("delivered"):
            return None
        o = s["order_id"]
        return Command(mark, "aftersales.return_visit", "aftersales", "POST",
                       f"/v1/care-plans/{o}/visits/1/complete",
                       {"score": self.random.randint(3, 5), "notes": mark},
                       effect=("aftersales", "ReturnVisitCompleted", {"plan_id": o, "visit_no": 1}),
                       check_path=f"/v1/care-plans/{o}", history_effect=("ReturnVisitCompleted", {}),
                       awaits_reaction=True)

    def _complaint(self, s: dict[str, Any], mark: str) -> Command | None:
        if "order_id" not in s:
            return None
        return Command(mark, "aftersales.open_complaint", "aftersales", "POST", "/v1/complaints",
                       {"customer_id": s["customer_id"], "order_id": s["order_id"], "category": "delivery",
                        "severity": "medium", "description": mark},
                       effect=("aftersales", "ComplaintOpened", {"description": mark}),
                       headers={"Idempotency-Key": mark})

    def _acknowledge(self, s: dict[str, Any]) -> Command | None:
        if "complaint_id" not in s:
            return None
        c = s["complaint_id"]
        return Command(f"{c}-ack", "aftersales.acknowledge_complaint", "aftersales", "POST",
                       f"/v1/complaints/{c}/acknowledge", {"expected_version": s["complaint_v"]},
                       effect=("aftersales", "ComplaintAcknowledged", {"complaint_id": c}),
                       check_path=f"/v1/complaints/{c}", history_effect=("ComplaintAcknowledged", {}), versioned=True)

    def _resolve(self, s: dict[str, Any], mark: str) -> Command | None:
        if "complaint_id" not in s or not s.get("complaint_acknowledged"):
            return None
        c = s["complaint_id"]
        return Command(mark, "aftersales.resolve_complaint", "aftersales", "POST", f"/v1/complaints/{c}/resolve",
                       {"resolution": mark, "expected_version": s["complaint_v"]},
                       effect=("aftersales", "ComplaintResolved", {"complaint_id": c, "resolution": mark}),
                       check_path=f"/v1/complaints/{c}", history_effect=("ComplaintResolved", {}), versioned=True)

    def _referral(self, j: Journey, s: dict[str, Any], mark: str) -> Command | None:
        if "customer_id" not in s:
            return None
        # The referral id is the caller's idempotency key.
        return Command(mark, "aftersales.referral", "aftersales", "POST", "/v1/referrals",
                       {"referral_id": mark, "referrer_customer_id": s["customer_id"],
                        "prospect_name": f"推荐{j.number}", "prospect_phone": _phone(self.run + 5, j.number)},
                       effect=("aftersales", "ReferralRegistered", {"referral_id": mark}))

    # ------------------------------------------------------------------------------------------ answers

    @staticmethod
    def absorb(j: Journey, c: Command) -> None:
        """Carry what an acknowledged answer says into the journey (ids, versions); an unacknowledged create ends
        the journey (there is nothing to work on)."""
        s, r = j.state, c.response or {}
        if c.outcome != ACKNOWLEDGED:
            if c.kind in ("leads.capture", "orders.issue_quote", "orders.sign_contract", "aftersales.open_complaint",
                          "leads.appointment", "orders.schedule_delivery", "orders.deliver",
                          "aftersales.acknowledge_complaint"):
                j.finished = True
            return
        if c.kind == "leads.capture":
            s.update(lead_id=r["lead_id"], lead_v=r["version"], owner_id=r.get("owner_id"),
                     customer_id=r["customer_id"], phone=r["phone"])
        elif c.service == "leads":
            s["lead_v"] = r.get("version", s.get("lead_v"))
            if c.kind == "leads.appointment":
                booked = [k for k, a in (r.get("appointments") or {}).items() if a.get("kind") == "test_drive"]
                if booked:
                    s["appointment_id"] = booked[0]
        elif c.kind in ("orders.issue_quote", "orders.accept_quote"):
            s.update(quote_id=r["quote_id"], quote_v=r["version"], quote_status=r.get("status"))
        elif c.kind == "orders.sign_contract":
            if r.get("order_id"):
                # Resolved from the quote's history, the answer is the quote (its version is not the order's).
                order_version = r.get("version") if "payment_plan" in r else None
                s.update(order_id=r["order_id"], order_v=order_version, total_minor=r.get("total_minor"))
            if s.get("total_minor") is None:
                j.finished = True
        elif c.service == "orders" and "order_id" in s:
            s["order_v"] = r.get("version", s.get("order_v"))
            if c.kind == "orders.schedule_delivery":
                s["delivery_scheduled"] = True
            if c.kind == "orders.deliver":
                s["delivered"] = True
        elif c.kind in ("aftersales.open_complaint", "aftersales.acknowledge_complaint",
                        "aftersales.resolve_complaint"):
            s.update(complaint_id=r.get("complaint_id", s.get("complaint_id")),
                     complaint_v=r.get("version", s.get("complaint_v")))
            if c.kind == "aftersales.acknowledge_complaint":
                s["complaint_acknowledged"] = True


def _contains(data: Any, subset: Any) -> bool:
    """JSON containment, as PostgreSQL's ``@>`` (objects by key, arrays by element)."""
    if isinstance(subset, dict):
        return isinstance(data, dict) and all(k in data and _contains(data[k], v) for k, v in subset.items())
    if isinstance(subset, list):
        return isinstance(data, list) and all(any(_contains(d, s) for d in data) for s in subset)
    return bool(data == subset)


@dataclass
class ClientStats:
    attempts: int = 0
    retries: int = 0
    transport_errors: int = 0
    statuses: dict[int, int] = field(default_factory=dict)
    version_conflicts: int = 0
    resolved_by_history: int = 0


class TransportError(Exception):
    """No answer. ``sent`` says whether the request may have reached the server (then the outcome is ambiguous)."""

    def __init__(self, reason: str, *, sent: bool) -> None:
        super().__init__(reason)
        self.sent = sent


@dataclass
class Answer:
    status: int
    body: bytes

    def json(self) -> Any:
        return orjson.loads(self.body) if self.body else None


class _Connection:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer
        self.idle_since = time.monotonic()


class RawHttp:
    """Minimal HTTP/1.1 over keep-alive asyncio streams, for the load generator: it shares two cores with what it
    loads, and httpx's pool costs O(waiting²) CPU once hundreds of requests queue during an outage. Idle
    connections are dropped after 3 s, before uvicorn closes them (5 s), so a failure on a reused connection is a
    real one."""

    IDLE_S = 3.0

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self._idle: list[_Connection] = []

    async def request(self, method: str, path: str, body: bytes | None, headers: dict[str, str],
                      timeout: float) -> Answer:
        conn = self._take()
        if conn is None:
            try:
                conn = _Connection(*await asyncio.wait_for(asyncio.open_connection(self.host, self.port), timeout))
            except (OSError, TimeoutError) as exc:
                raise TransportError(f"connect: {type(exc).__name__}", sent=False) from exc
        head = [f"{method} {path} HTTP/1.1", f"Host: {self.host}:{self.port}"]
        head += [f"{k}: {v}" for k, v in headers.items()]
        payload = body or b""
        if body is not None:
            head.append("Content-Type: application/json")
        head.append(f"Content-Length: {len(payload)}")
        try:
            conn.writer.write(("\r\n".join(head) + "\r\n\r\n").encode() + payload)
            answer, keep_alive = await asyncio.wait_for(self._read(conn), timeout)
        except (OSError, TimeoutError, asyncio.IncompleteReadError, ValueError) as exc:
            conn.writer.close()
            raise TransportError(type(exc).__name__, sent=True) from exc
        if keep_alive:
            conn.idle_since = time.monotonic()
            self._idle.append(conn)
        else:
            conn.writer.close()
        return answer

    def _take(self) -> _Connection | None:
        now = time.monotonic()
        while self._idle:
            conn = self._idle.pop()
            if now - conn.idle_since < self.IDLE_S and not conn.writer.is_closing():
                return conn
            conn.writer.close()
        return None

    @staticmethod
    async def _read(conn: _Connection) -> tuple[Answer, bool]:
        """The answer, and whether the connection may be used again."""
        head = await conn.reader.readuntil(b"\r\n\r\n")
        status = int(head[9:12])
        length = 0
        keep_alive = True
        for line in head.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            name = name.strip().lower()
            if name == b"content-length":
                length = int(value)
            elif name == b"connection" and value.strip().lower() == b"close":
                keep_alive = False
        body = await conn.reader.readexactly(length) if length else b""
        return Answer(status, body), keep_alive

    async def close(self) -> None:
        for conn in self._idle:
            conn.writer.close()
        self._idle.clear()


class Client:
    """One integration's HTTP behaviour: per-attempt timeout, retries with backoff until a deadline."""

    def __init__(self, urls: dict[str, str], *, headers: Callable[[], dict[str, str]] | None = None,
                 attempt_timeout: float = 30.0, deadline: float = 300.0, max_backoff: float = 5.0) -> None:
        self.http = {}
        for service, url in urls.items():
            host, _, port = url.removeprefix("http://").partition(":")
            self.http[service] = RawHttp(host, int(port))
        self.headers = headers or dict
        self.attempt_timeout = attempt_timeout
        self.deadline = deadline
        self.max_backoff = max_backoff
        self.stats = ClientStats()

    async def close(self) -> None:
        for http in self.http.values():
            await http.close()

    async def _send(self, c: Command, method: str, path: str, body: dict[str, Any] | None) -> Answer:
        self.stats.attempts += 1
        return await self.http[c.service].request(
            method, path, None if body is None else orjson.dumps(body),
            {**self.headers(), **c.headers}, self.attempt_timeout)

    async def _history_shows(self, c: Command) -> bool | None:
        """Whether the aggregate's history holds the command's effect; None when it cannot be read now.
        Also refreshes ``expected_version`` from what was read."""
        assert c.check_path is not None
        assert c.history_effect is not None
        try:
            response = await self._send(c, "GET", c.check_path, None)
        except TransportError:
            return None
        if response.status != 200:
            return None
        view = response.json()
        event_type, subset = c.history_effect
        if c.versioned and c.body is not None and "version" in view:
            c.body["expected_version"] = view["version"]
        for item in view.get("history", []):
            if item.get("event_type") == event_type and _contains(item.get("data", {}), subset):
                c.response = view
                return True
        return False

    async def execute(self, c: Command) -> Command:
        c.sent_at = time.monotonic()
        give_up = c.sent_at + self.deadline
        backoff = min(0.2, self.max_backoff)
        while True:
            c.attempts += 1
            if c.attempts > 1:
                self.stats.retries += 1
            try:
                response = await self._send(c, c.method, c.path, c.body)
            except TransportError as exc:
                c.errors.append(str(exc))
                self.stats.transport_errors += 1
                c.ambiguous = c.ambiguous or exc.sent  # refused: nothing was sent, not ambiguous
            else:
                status = response.status
                c.statuses.append(status)
                self.stats.statuses[status] = self.stats.statuses.get(status, 0) + 1
                if status < 300:
                    c.response = response.json()
                    return self._done(c, ACKNOWLEDGED)
                code = _error_code(response)
                if status >= 500:
                    c.ambiguous = True  # even a 503 may come from a lost COMMIT answer
                elif status == 404 and c.awaits_reaction:
                    pass  # the reaction (e.g. the care plan after Delivered) has not arrived yet
                elif status == 409 and code == "version_conflict" and c.versioned:
                    self.stats.version_conflicts += 1
                    c.conflicts += 1
                    shown = await self._history_shows(c)
                    if shown:
                        self.stats.resolved_by_history += 1
                        return self._done(c, ACKNOWLEDGED)
                    # Not applied (yet): the version moved (a reaction) — retry with the version just read.
                elif c.ambiguous and c.check_path is not None:
                    shown = await self._history_shows(c)
                    if shown:
                        self.stats.resolved_by_history += 1
                        return self._done(c, ACKNOWLEDGED)
                    return self._done(c, UNKNOWN)
                else:
                    c.response = _json_or_none(response)
                    return self._done(c, UNKNOWN if c.ambiguous else REJECTED)
            if time.monotonic() > give_up:
                return self._done(c, UNKNOWN if c.ambiguous else REJECTED)
            await asyncio.sleep(backoff * (0.5 + random.random()))
            backoff = min(backoff * 2, self.max_backoff)

    @staticmethod
    def _done(c: Command, outcome: str) -> Command:
        c.outcome = outcome
        c.done_at = time.monotonic()
        return c


def _error_code(response: Answer) -> str | None:
    body = _json_or_none(response)
    error = body.get("error") if isinstance(body, dict) else None
    return error.get("code") if isinstance(error, dict) else None


def _json_or_none(response: Answer) -> Any:
    try:
        return response.json()
    except ValueError:
        return None


@dataclass
class LoadReport:
    offered: int = 0
    sent: int = 0
    shed: int = 0
    max_in_flight: int = 0
    duration_s: float = 0.0
    latencies_s: list[float] = field(default_factory=list)
    outcomes: dict[str, int] = field(default_factory=dict)
    by_kind: dict[str, int] = field(default_factory=dict)
    stopped_by_time: bool = False  # max_seconds ran out before ``commands`` were sent


class Load:
    """The open-loop driver: ``run()`` until ``stop`` is set and at least ``commands`` were sent — or, with
    ``max_seconds``, until that much time has passed (and ``stop`` is set), whatever was sent by then: a run on a
    shared machine must end in time, and its report says how many it really sent."""

    def __init__(self, client: Client, mix: Mix, *, rate: float, commands: int, max_in_flight: int = 200,
                 max_seconds: float | None = None) -> None:
        self.client, self.mix, self.rate, self.commands = client, mix, rate, commands
        self.max_in_flight = max_in_flight
        self.max_seconds = max_seconds
        self.done: list[Command] = []
        self.report = LoadReport()
        self.stop = asyncio.Event()
        self._ready: list[Journey] = []
        self._in_flight: set[asyncio.Task[None]] = set()

    def _next(self) -> Command | None:
        while self._ready:
            journey = self._ready.pop(0)
            command = self.mix.next_command(journey)
            if command is not None:
                return self._bind(journey, command)
        for _ in range(5):
            journey = self.mix.new_journey()
            command = self.mix.next_command(journey)
            if command is not None:
                return self._bind(journey, command)
        return None

    def _bind(self, journey: Journey, command: Command) -> Command:
        command.journey = journey  # type: ignore[attr-defined]
        return command

    async def _one(self, command: Command) -> None:
        await self.client.execute(command)
        journey: Journey = command.journey  # type: ignore[attr-defined]
        Mix.absorb(journey, command)
        self.done.append(command)
        self.report.outcomes[command.outcome] = self.report.outcomes.get(command.outcome, 0) + 1
        self.report.by_kind[command.kind] = self.report.by_kind.get(command.kind, 0) + 1
        if command.outcome == ACKNOWLEDGED:
            self.report.latencies_s.append(command.done_at - command.sent_at)
        if not journey.finished:
            self._ready.append(journey)

    async def run(self, progress: Callable[[LoadReport], None] | None = None) -> LoadReport:
        start = time.perf_counter()
        i = 0
        while (self.report.sent < self.commands and not self._out_of_time(start)) or not self.stop.is_set():
            scheduled = start + i / self.rate
            i += 1
            delay = scheduled - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            self.report.offered += 1
            if len(self._in_flight) >= self.max_in_flight:
                self.report.shed += 1
                continue
            command = self._next()
            if command is None:
                continue
            task = asyncio.create_task(self._one(command))
            self._in_flight.add(task)
            task.add_done_callback(self._in_flight.discard)
            self.report.sent += 1
            self.report.max_in_flight = max(self.report.max_in_flight, len(self._in_flight))
            if progress is not None and i % 50 == 0:
                progress(self.report)
        if self._in_flight:
            await asyncio.wait(self._in_flight)
        self.report.duration_s = time.perf_counter() - start
        self.report.stopped_by_time = self.report.sent < self.commands
        return self.report

    def _out_of_time(self, start: float) -> bool:
        return self.max_seconds is not None and time.perf_counter() - start > self.max_seconds

    async def cancel(self) -> None:
        for task in list(self._in_flight):
            task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.gather(*self._in_flight, return_exceptions=True)


def new_run_seed() -> int:
    return uuid.uuid4().int % 10_000
