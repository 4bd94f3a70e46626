"""Bulk import of a department's existing customers/leads (issue 17, item 6): a job per upload, a dry run that says
per row what the import would do, and the import itself through the capture's own rule set.

**One rule set.** Each row is a ``CaptureLead`` (channel from the row, else the upload's; the upload's team, round
robin) run by the ``CaptureLeadHandler`` — the same dedupe (phone lock, open lead → touchpoint + owner reminded,
known customer → reactivated lead) and assignment as ``POST /v1/leads``. The dry run validates each row with the
capture's own ``validate`` and predicts the capture's decision from the same lookups (idempotency key, the phone's
open lead, the phone's customer), carrying the file's own effects forward (a row creating a lead makes a later row
with that phone a duplicate), so an import right after its dry run reports the same outcome for every row.

**Idempotent on re-upload: a row's identity is its content.** The capture's idempotency key is
(``customer-import``, hash of the row's normalised phone, name, channel and interest): an identical row — in a
second upload of the same file, in another file, or twice in one file — is ``already_imported`` and records
nothing. A row that differs (another name for the phone) is a new contact: a duplicate touchpoint, as the same
person calling again would be. Keyed on content rather than on file hash + row number so that re-uploading a
corrected file (one row fixed, rows inserted) changes only the rows that changed.

**No half-applied import.** The rows are stored with the job at upload. The worker takes ``CHUNK`` rows at a time
in one transaction: the captures and the rows' outcomes and the job's progress commit together, so after a crash
the (restarted) worker resumes at the first row without an outcome, and the result is the one an uninterrupted
run gives. A dry run writes all its outcomes in one transaction (it changes nothing else).

Outcomes: ``new``, ``duplicate`` (of an open lead: a touchpoint), ``reactivation`` (a known customer whose leads
are all closed: a new lead of the same customer), ``already_imported``, ``invalid_phone`` and ``invalid`` (another
field; ``field`` and ``reason`` say which and why), and ``refused`` (the capture refused the row while importing,
with the reason).
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Sequence
from contextlib import AbstractAsyncContextManager, suppress
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal, Protocol

import structlog

from services.leads.app import access
from services.leads.app.commands import CaptureLead, CaptureLeadHandler, LeadCaptured
from services.leads.app.ports import Clock, CommandContext, IdFactory
from services.leads.domain.lead import CaptureFields
from shared.auth.principal import Principal
from shared.domain import DomainError, InvalidFieldError
from shared.unit_of_work.retry import with_retries

log = structlog.get_logger(__name__)

IMPORT_SOURCE = "customer-import"
"""The capture's source system for imported rows; with the row's content hash, the row's idempotency key."""
DEFAULT_CHANNEL = "customer_import"
CHUNK = 100
"""Rows per import transaction: small enough that a capture waiting on the team's rotation waits briefly."""

RowOutcome = Literal["new", "duplicate", "reactivation", "already_imported", "invalid_phone", "invalid", "refused"]
OUTCOMES: tuple[RowOutcome, ...] = ("new", "duplicate", "reactivation", "already_imported", "invalid_phone",
                                    "invalid", "refused")


@dataclass(frozen=True, slots=True)
class ListedRow:
    """One data row of an uploaded list, as read (cells as text, None when empty)."""

    row_number: int
    name: str | None
    phone: str | None
    channel: str | None = None
    interest: str | None = None

    def as_input(self) -> dict[str, Any]:
        return {"name": self.name, "phone": self.phone, "channel": self.channel, "interest": self.interest}

    @classmethod
    def from_input(cls, row_number: int, data: dict[str, Any]) -> ListedRow:
        return cls(row_number=row_number, name=data.get("name"), phone=data.get("phone"),
                   channel=data.get("channel"), interest=data.get("interest"))


@dataclass(frozen=True, slots=True)
class RowResult:
    row_number: int
    outcome: RowOutcome
    lead_id: str | None = None
    owner_id: str | None = None
    field: str | None = None
    reason: str | None = None


@dataclass(frozen=True, slots=True)
class ImportJob:
    job_id: str
    dry_run: bool
    status: Literal["queued", "running", "done"]
    file_name: str
    file_sha256: str
    team_id: str | None
    channel: str
    requested_by: str
    total_rows: int
    processed: int
    created_at: datetime
    finished_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class PhoneFacts:
    """What the store knows, for the dry run: phones with an open lead, phones of known customers, keys seen."""

    open_phones: frozenset[str] = frozenset()
    customer_phones: frozenset[str] = frozenset()
    imported_keys: frozenset[str] = frozenset()


class ImportTransaction(Protocol):
    conn: Any

    async def unprocessed(self, job_id: str, limit: int) -> list[ListedRow]: ...
    async def record(self, job_id: str, results: Sequence[RowResult], *, finished_at: datetime | None) -> None: ...


class ImportJobStore(Protocol):
    async def create(self, job: ImportJob, rows: Sequence[ListedRow]) -> None: ...
    async def job(self, job_id: str) -> ImportJob | None: ...
    async def counts(self, job_id: str) -> dict[str, int]: ...
    async def results(self, job_id: str, *, after_row: int, limit: int, outcome: str | None
                      ) -> list[dict[str, Any]]: ...
    async def pending(self) -> list[str]: ...
    async def team_exists(self, team_id: str) -> bool: ...
    async def facts(self, phones: Sequence[str], keys: Sequence[str]) -> PhoneFacts: ...
    def transaction(self, job_id: str) -> AbstractAsyncContextManager[ImportTransaction | None]:
        """The job's transaction, None when another worker holds the job."""
        ...


def row_key(fields: CaptureFields) -> str:
    """The row's identity: its normalised content (see the module docstring)."""
    text = "\x1f".join((fields.phone, fields.name, fields.channel, fields.interest or ""))
    return hashlib.sha256(text.encode()).hexdigest()[:40]


@dataclass(frozen=True, slots=True)
class StartImport:
    file_name: str
    content: bytes
    file_format: Literal["csv", "xlsx"]
    dry_run: bool = True
    team_id: str | None = None
    channel: str = DEFAULT_CHANNEL


@dataclass(slots=True)
class FileEffects:
    """What earlier rows of the file will have done by the time a row is captured (for the dry run)."""

    keys: set[str] = field(default_factory=set)
    created_phones: set[str] = field(default_factory=set)


class ListReader(Protocol):
    def __call__(self, content: bytes, file_format: Literal["csv", "xlsx"]) -> list[ListedRow]: ...


class ImportHandlers:
    def __init__(self, *, jobs: ImportJobStore, read_list: ListReader, capture: CaptureLeadHandler, clock: Clock,
                 new_id: IdFactory, default_team_id: str | None, poll_interval: float = 0.5) -> None:
        self._jobs = jobs
        self._read_list = read_list
        self._capture = capture
        self._clock = clock
        self._new_id = new_id
        self._default_team_id = default_team_id
        self._poll_interval = poll_interval
        self._wake = asyncio.Event()

    @property
    def default_team_id(self) -> str | None:
        return self._default_team_id

    # --- upload and status ---

    async def start(self, command: StartImport, caller: Principal) -> ImportJob:
        """Read the list, store the job and its rows (nothing is captured yet) and wake the worker. A file that
        is no list (or lacks the name/phone columns), an unknown team or channel: 422, nothing stored."""
        team_id = command.team_id or self._default_team_id
        access.require_import(caller, team_id)
        if team_id is not None and not await self._jobs.team_exists(team_id):
            raise InvalidFieldError("team_id", f"unknown team {team_id!r}")
        if command.channel not in self._capture.channels:  # the rows' default
            raise InvalidFieldError("channel", f"unknown channel {command.channel!r}")
        rows = self._read_list(command.content, command.file_format)
        job = ImportJob(job_id=self._new_id(), dry_run=command.dry_run, status="queued", file_name=command.file_name,
                        file_sha256=hashlib.sha256(command.content).hexdigest(), team_id=team_id,
                        channel=command.channel, requested_by=caller.subject, total_rows=len(rows), processed=0,
                        created_at=self._clock())
        await self._jobs.create(job, rows)
        self._wake.set()
        return job

    async def job_for(self, job_id: str, caller: Principal) -> ImportJob:
        job = await self._jobs.job(job_id)
        if job is None or not access.may_see_import(caller, team_id=job.team_id, requested_by=job.requested_by):
            raise ImportJobNotFoundError(f"no import job {job_id}", job_id=job_id)
        return job

    # --- the worker ---

    async def run(self) -> None:
        """Process queued and interrupted jobs, oldest first, for ever (a supervised background task)."""
        while True:
            try:
                for job_id in await self._jobs.pending():
                    await self.process(job_id)
            except Exception:  # the database away, say: the job stays pending and is taken up again next round
                log.exception("import_job_failed")
            with suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=self._poll_interval)
            self._wake.clear()

    async def process(self, job_id: str) -> None:
        job = await self._jobs.job(job_id)
        if job is None or job.status == "done":
            return
        if job.dry_run:
            await self._dry_run(job)
        else:
            # A conflict the capture's locks did not prevent redoes the whole chunk (nothing of it was committed).
            while await with_retries(lambda: self._import_chunk(job), pinned=False):
                pass
        log.info("import_job_done", job_id=job_id, dry_run=job.dry_run, rows=job.total_rows)

    def _capture_of(self, job: ImportJob, row: ListedRow) -> CaptureLead:
        return CaptureLead(name=row.name or "", phone=row.phone or "", channel=row.channel or job.channel,
                           interest=row.interest, team_id=job.team_id, source_system=IMPORT_SOURCE,
                           external_id="pending")

    def _validated(self, job: ImportJob, row: ListedRow) -> tuple[CaptureLead, CaptureFields] | RowResult:
        """The row's capture with its idempotency key, or the row's invalid result."""
        capture = self._capture_of(job, row)
        try:
            fields = self._capture.validate(capture)
        except InvalidFieldError as exc:
            outcome: RowOutcome = "invalid_phone" if exc.field == "phone" else "invalid"
            return RowResult(row.row_number, outcome, field=exc.field, reason=exc.reason)
        return CaptureLead(name=capture.name, phone=capture.phone, channel=capture.channel,
                           interest=capture.interest, team_id=capture.team_id, source_system=IMPORT_SOURCE,
                           external_id=row_key(fields)), fields

    async def _dry_run(self, job: ImportJob) -> None:
        async with self._jobs.transaction(job.job_id) as tx:
            if tx is None:
                return
            rows = await tx.unprocessed(job.job_id, job.total_rows)
            checked = [self._validated(job, row) for row in rows]
            valid = [c for c in checked if not isinstance(c, RowResult)]
            facts = await self._jobs.facts(sorted({f.phone for _, f in valid}),
                                           sorted({c.external_id or "" for c, _ in valid}))
            effects = FileEffects()
            results = [c if isinstance(c, RowResult) else predict(row.row_number, c[0], c[1], facts, effects)
                       for row, c in zip(rows, checked, strict=True)]
            await tx.record(job.job_id, results, finished_at=self._clock())

    async def _import_chunk(self, job: ImportJob) -> bool:
        """Import the next chunk in one transaction; False when the job is done (or another worker has it)."""
        context = CommandContext(correlation_id=job.job_id, actor=job.requested_by,
                                 extra={"import_job_id": job.job_id})
        async with self._jobs.transaction(job.job_id) as tx:
            if tx is None:
                return False
            rows = await tx.unprocessed(job.job_id, CHUNK)
            results = [await self._import_row(tx.conn, job, row, context) for row in rows]
            last = len(rows) < CHUNK
            await tx.record(job.job_id, results, finished_at=self._clock() if last else None)
            return not last

    async def _import_row(self, conn: Any, job: ImportJob, row: ListedRow, context: CommandContext) -> RowResult:
        checked = self._validated(job, row)
        if isinstance(checked, RowResult):
            return checked
        capture, _ = checked
        try:
            async with conn.transaction():  # a savepoint: a refused row leaves the chunk's other rows standing
                captured = await self._capture(capture, context, conn=conn)
        except InvalidFieldError as exc:
            return RowResult(row.row_number, "invalid_phone" if exc.field == "phone" else "invalid",
                             field=exc.field, reason=exc.reason)
        except DomainError as exc:
            return RowResult(row.row_number, "refused", reason=str(exc))
        return RowResult(row.row_number, imported_outcome(captured), lead_id=captured.lead.id,
                         owner_id=captured.lead.owner_id)


def imported_outcome(captured: LeadCaptured) -> RowOutcome:
    if captured.outcome == "duplicate_request":
        return "already_imported"
    if captured.outcome == "duplicate_contact":
        return "duplicate"
    return "reactivation" if captured.reactivated else "new"


def predict(row_number: int, capture: CaptureLead, fields: CaptureFields, facts: PhoneFacts,
            effects: FileEffects) -> RowResult:
    """What ``CaptureLeadHandler.decide`` will answer for this row after the file's earlier rows ran."""
    key = capture.external_id or ""
    outcome: RowOutcome
    if key in facts.imported_keys or key in effects.keys:
        outcome = "already_imported"
    elif fields.phone in facts.open_phones or fields.phone in effects.created_phones:
        outcome = "duplicate"
    elif fields.phone in facts.customer_phones:
        outcome = "reactivation"
    else:
        outcome = "new"
    effects.keys.add(key)
    if outcome in ("new", "reactivation"):
        effects.created_phones.add(fields.phone)
    return RowResult(row_number, outcome)


class ImportJobNotFoundError(DomainError):
    code = "import_job_not_found"
    http_status = 404

