"""The HTTP skeleton every service uses: health probes, one error format, and the dead-letter admin API.

Every error answer has the same shape, so clients handle one format::

    {"error": {"code": "validation_error", "message": "...", "fields": [{"field": "phone", "reason": "..."}],
               "correlation_id": "..."}}

``correlation_id`` is the request's (its ``X-Correlation-Id``, or the one :mod:`shared.runtime.input_guard` made
up), so a client's report of an error finds its log lines. A database that cannot be reached answers 503 with
``Retry-After`` (the readiness probe fails meanwhile), never a 500; so does a command past the worker's bound
(``overloaded``, shared/runtime/admission.py); anything unexpected still answers in this
format (500 ``internal_error``) and is logged with its traceback.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from typing import Annotated, Any, Literal

import asyncpg
import structlog
from fastapi import APIRouter, FastAPI, Header, HTTPException, Query, Request
from fastapi import Path as FastApiPath
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match

from shared.auth.http import AUTHENTICATED, allowed
from shared.auth.principal import Principal, Role
from shared.commands import CommandContext
from shared.domain.aggregate import DomainError
from shared.eventstore.errors import ConcurrencyError, StreamOrderConflictError
from shared.idempotency import IdempotentRequest
from shared.messaging.consumer import IdempotentConsumer
from shared.messaging.dead_letter_operations import DeadLetterOperations, DeadLetterStillFailingError
from shared.messaging.dead_letters import DeadLetters
from shared.runtime.admission import DEFAULT_MAX_IN_FLIGHT, AdmissionGuard, AdmissionLimit
from shared.runtime.input_guard import DEFAULT_MAX_BODY_BYTES, InputGuard, current_correlation_id
from shared.runtime.openapi import document_errors

log = structlog.get_logger(__name__)

Correlation = Annotated[str | None, Header(
    description="ties together everything one request causes (generated if absent); stored in the events' metadata "
                "and sent in their Kafka headers")]
"""The ``X-Correlation-Id`` request header, as every service's command endpoints declare it."""

IdempotencyKey = Annotated[str | None, Header(
    alias="Idempotency-Key", min_length=1, max_length=200, pattern=r"^[\x21-\x7e]+$",
    description="the client's key for this create (printable ASCII, up to 200 characters): sending the same request "
                "again with the same key answers 200 with what the first one created and creates nothing more; the "
                "same key with a different request is refused (409 idempotency_key_reused)")]
"""The ``Idempotency-Key`` request header of the create endpoints that have no natural key (shared/idempotency.py)."""


def command_context(correlation_id: str | None, caller: Principal) -> CommandContext:
    """The context of a command sent over HTTP: the request's correlation id (a new one if absent) and the
    authenticated caller, who is the actor."""
    return CommandContext(correlation_id=correlation_id or str(uuid.uuid4()), actor=caller.subject, caller=caller)


def idempotent_request(key: str | None, operation: str, caller: Principal,
                       body: BaseModel) -> IdempotentRequest | None:
    """The create's ``Idempotency-Key`` (None without one), scoped to the operation and the caller, with the
    request body's fingerprint."""
    if key is None:
        return None
    return IdempotentRequest.of(key, operation=operation, caller=caller.subject, request=body.model_dump(mode="json"))


ReadinessCheck = Callable[[], Awaitable[dict[str, Any]]]

# How long a client should wait before retrying while the database is unreachable (seconds).
DATABASE_RETRY_AFTER_SECONDS = 2
# The database cannot be reached (refused, reset, shut down, restarting, out of connections, timed out):
# the request did nothing, so a retry later is safe — 503, not 500.
DATABASE_UNAVAILABLE: tuple[type[Exception], ...] = (
    OSError, TimeoutError,
    asyncpg.PostgresConnectionError, asyncpg.CannotConnectNowError, asyncpg.AdminShutdownError,
    asyncpg.CrashShutdownError, asyncpg.TooManyConnectionsError, asyncpg.ConnectionDoesNotExistError,
)


def error_body(code: str, message: str, **extra: Any) -> dict[str, Any]:
    return {"error": {"code": code, "message": message, **extra, "correlation_id": current_correlation_id()}}


_METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")


def _allowed_methods(app: FastAPI, request: Request) -> list[str]:
    """Every method some route serves at this path (Starlette's own 405 names only the first route's)."""
    return [method for method in _METHODS
            if any(route.matches({**request.scope, "method": method})[0] == Match.FULL
                   for route in app.router.routes)]


def _field_name(loc: tuple[Any, ...]) -> str:
    # ("body", "phone") -> "phone"; ("body", "items", 0, "price") -> "items.0.price"
    parts = [str(p) for p in loc if p not in ("body", "query", "path")]
    return ".".join(parts) or "body"


def install_error_handlers(app: FastAPI, *, max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
                           max_in_flight: int = DEFAULT_MAX_IN_FLIGHT) -> None:
    """Map validation errors to 422, domain errors to their status, version conflicts to 409, an unreachable
    database to 503; refuse oversized bodies (413) and text PostgreSQL cannot store (422) before any route runs,
    and a command past ``max_in_flight`` (503, shared/runtime/admission.py); document all of it in the OpenAPI."""
    # Inside the input guard (added after it, so outside in Starlette's order is the guard): the guard's
    # correlation id is set when an overload is refused.
    app.state.admission = AdmissionLimit(max_in_flight)
    app.add_middleware(AdmissionGuard, limit=app.state.admission, error_body=error_body)
    app.add_middleware(InputGuard, max_body_bytes=max_body_bytes)
    document_errors(app)

    @app.exception_handler(RequestValidationError)
    async def on_validation_error(_: Request, exc: RequestValidationError) -> JSONResponse:
        fields = [{"field": _field_name(tuple(e["loc"])), "reason": e["msg"]} for e in exc.errors()]
        summary = "; ".join(f"{f['field']}: {f['reason']}" for f in fields)
        return JSONResponse(status_code=422, content=error_body("validation_error", summary, fields=fields))

    @app.exception_handler(StarletteHTTPException)
    async def on_http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        if exc.status_code == 400:
            # The framework's "There was an error parsing the body": bad input like any other, so 422.
            return JSONResponse(status_code=422, content=error_body(
                "validation_error", f"body: {exc.detail}", fields=[{"field": "body", "reason": str(exc.detail)}]))
        code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, f"http_{exc.status_code}")
        headers = dict(exc.headers or {})
        if exc.status_code == 405:
            headers["Allow"] = ", ".join(_allowed_methods(app, request))
        return JSONResponse(status_code=exc.status_code, content=error_body(code, str(exc.detail)),
                            headers=headers or None)

    async def on_database_unavailable(_: Request, exc: Exception) -> JSONResponse:
        log.warning("database.unavailable", error=repr(exc))
        return JSONResponse(status_code=503, headers={"Retry-After": str(DATABASE_RETRY_AFTER_SECONDS)},
                            content=error_body("database_unavailable",
                                               "the database cannot be reached; nothing was changed, retry later"))

    for exception_class in DATABASE_UNAVAILABLE:
        app.add_exception_handler(exception_class, on_database_unavailable)

    @app.exception_handler(asyncpg.InterfaceError)
    async def on_interface_error(request: Request, exc: asyncpg.InterfaceError) -> JSONResponse:
        # A connection the database closed under a transaction (a restart, an outage) surfaces as a bare
        # InterfaceError ("…the underlying connection is closed") when the transaction ends: the database is
        # unavailable, the transaction did not commit. Any other InterfaceError is a bug: the 500 path.
        if "connection is closed" in str(exc):
            return await on_database_unavailable(request, exc)
        raise exc

    @app.exception_handler(asyncpg.DataError)
    async def on_unstorable_value(_: Request, exc: asyncpg.DataError) -> JSONResponse:
        # The last line of defence (schemas and the input guard refuse these first): a value the database
        # cannot take, such as an integer beyond 64 bits. Bad input, so 422 — the transaction was rolled back.
        log.warning("request.unstorable_value", error=repr(exc))
        return JSONResponse(status_code=422, content=error_body(
            "validation_error", f"a value cannot be stored: {exc}", fields=[{"field": "request", "reason": str(exc)}]))

    @app.exception_handler(DomainError)
    async def on_domain_error(_: Request, exc: DomainError) -> JSONResponse:
        return JSONResponse(status_code=exc.http_status, content=error_body(exc.code, exc.message, **exc.details))

    @app.exception_handler(ConcurrencyError)
    async def on_conflict(_: Request, exc: ConcurrencyError) -> JSONResponse:
        return JSONResponse(
            status_code=409,
            content=error_body("version_conflict", str(exc), expected_version=exc.expected,
                               actual_version=exc.actual),
        )

    @app.exception_handler(StreamOrderConflictError)
    async def on_order_conflict(_: Request, exc: StreamOrderConflictError) -> JSONResponse:
        return JSONResponse(status_code=503, headers={"Retry-After": "0"},
                            content=error_body("retry", "concurrent write, please retry"))


def health_router(ready: ReadinessCheck) -> APIRouter:
    """``/health/live`` answers while the process runs; ``/health/ready`` runs the service's checks and answers
    503 with the failing ones (database, Kafka, relay; this worker full of commands) until they pass."""
    router = APIRouter(tags=["health"])

    # Public on purpose (probes carry no credentials); "security: []" says so in the API document.
    @router.get("/health/live", openapi_extra={"security": []})
    async def live() -> dict[str, str]:
        return {"status": "ok"}

    @router.get("/health/ready", openapi_extra={"security": []})
    async def readiness(request: Request) -> JSONResponse:
        checks = await ready()
        admission: AdmissionLimit | None = getattr(request.app.state, "admission", None)
        if admission is not None:  # this worker's commands in flight (back-pressure): not ready while full
            checks["commands"] = admission.readiness()
        ok = all(v is True or (isinstance(v, dict) and v.get("ok")) for v in checks.values())
        return JSONResponse(status_code=200 if ok else 503, content={"status": "ok" if ok else "unready",
                                                                     "checks": checks})

    return router


# A dead letter's id is its row's bigint identity (from 1): an id outside that range names no letter, and is a 422
# naming the parameter here rather than a database DataError.
DeadLetterId = Annotated[int, FastApiPath(ge=1, le=2**63 - 1, description="the dead letter's id (from the list)")]


def dead_letter_router(consumer: IdempotentConsumer, dead_letters: DeadLetters, pool: Any) -> APIRouter:
    """Ops endpoints (the ops role only): list dead letters, retry one (with what is parked behind it), or skip it."""
    router = APIRouter(prefix="/admin/dead-letters", tags=["admin"],
                       dependencies=[*AUTHENTICATED, allowed(roles=[Role.OPS])])
    operations = DeadLetterOperations(consumer)

    @router.get("")
    async def list_dead_letters(
        status: Literal["open", "retried", "skipped"] | None = "open",
        limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    ) -> dict[str, Any]:
        letters = await dead_letters.find(pool, status=status, limit=limit)
        return {"consumer": consumer.name, "dead_letters": [d.as_dict() for d in letters]}

    @router.post("/{dead_letter_id}/retry")
    async def retry(dead_letter_id: DeadLetterId) -> Any:
        try:
            released = await operations.retry(dead_letter_id)
        except LookupError as exc:
            raise HTTPException(404, str(exc)) from None
        except DeadLetterStillFailingError as exc:
            # The letter was re-checked and still fails: a conflict with the letter's state, not a server error.
            return JSONResponse(status_code=409, content=error_body(
                "dead_letter_still_failing", str(exc), dead_letter_id=exc.dead_letter_id, reason=exc.reason))
        return {"retried": dead_letter_id, "applied": released.applied, "blocked_by": released.blocked_by,
                "reason": released.reason}

    @router.post("/{dead_letter_id}/skip")
    async def skip(dead_letter_id: DeadLetterId) -> dict[str, Any]:
        try:
            released = await operations.skip(dead_letter_id)
        except LookupError as exc:
            raise HTTPException(404, str(exc)) from None
        return {"skipped": dead_letter_id, "released": released.applied, "blocked_by": released.blocked_by,
                "reason": released.reason}

    return router
