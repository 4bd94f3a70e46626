"""Makes each service's OpenAPI say which errors its operations answer, all in the one error format.

FastAPI documents only 200 and its own validation error shape (which the services do not send). What every
operation really can answer is known from the kernel: 422 for bad input (the input guard can refuse any request's
path or query), 413 for an oversized body, 404 where a path names a resource, 409 for a command refused by a rule
or a stale ``expected_version``, 503 with ``Retry-After`` while the database is unreachable. A route that answers
something more (403, 406, 504…) declares it with :func:`error_responses`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import FastAPI

ERROR_SCHEMA_NAME = "Error"
_ERROR_REF = {"$ref": f"#/components/schemas/{ERROR_SCHEMA_NAME}"}
_WRITE_METHODS = {"post", "put", "patch", "delete"}

ERROR_SCHEMA: dict[str, Any] = {
    "title": ERROR_SCHEMA_NAME,
    "description": "Every error a salesflow service answers.",
    "type": "object",
    "required": ["error"],
    "properties": {
        "error": {
            "type": "object",
            "required": ["code", "message", "correlation_id"],
            "properties": {
                "code": {"type": "string", "description": "machine-readable, e.g. validation_error, not_found",
                         "examples": ["validation_error"]},
                "message": {"type": "string", "description": "for people"},
                "fields": {
                    "type": "array", "description": "with validation_error: each field refused and why",
                    "items": {"type": "object", "required": ["field", "reason"],
                              "properties": {"field": {"type": "string", "examples": ["phone"]},
                                             "reason": {"type": "string"}}},
                },
                "correlation_id": {"type": ["string", "null"],
                                   "description": "the request's correlation id (X-Correlation-Id), for support"},
            },
            "additionalProperties": True,
        },
    },
}

ERROR_DESCRIPTIONS = {
    400: "Malformed request.",
    401: "No valid bearer token (see `WWW-Authenticate`).",
    403: "The actor may not do this.",
    404: "The id in the path names nothing.",
    406: "The requested format is not available.",
    409: "A business rule or a stale expected_version refused the command; nothing was changed.",
    413: "The request body is larger than the service accepts; it was not read.",
    422: "Invalid input: `fields` names each field and the reason.",
    503: "A dependency (the database) cannot be reached, this worker has as many commands in flight as it takes "
         "(`overloaded`), or a concurrent write must be retried; nothing was changed. Retry after `Retry-After` "
         "seconds.",
    504: "The work took longer than allowed.",
}


# For a create route with an Idempotency-Key (shared/idempotency.py): its repeat answers 200, with the same body.
REPEATED_CREATE: dict[int | str, dict[str, Any]] = {
    200: {"description": "The same request again with its `Idempotency-Key`: what the first one created (as it is "
                         "now); nothing new was created."},
}


def error_response(status: int, description: str | None = None) -> dict[str, Any]:
    response: dict[str, Any] = {
        "description": description or ERROR_DESCRIPTIONS.get(status, "Error."),
        "content": {"application/json": {"schema": _ERROR_REF}},
    }
    if status == 401:
        response["headers"] = {"WWW-Authenticate": {"description": "the Bearer challenge", "required": True,
                                                    "schema": {"type": "string"}}}
    if status == 503:
        response["headers"] = {"Retry-After": {"description": "seconds to wait before retrying", "required": True,
                                               "schema": {"type": "integer", "minimum": 0}}}
    return response


def error_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """For a route's ``responses=``: the extra error statuses it answers, documented in the one format."""
    return {status: error_response(status) for status in statuses}


def _document_operation(path: str, method: str, operation: dict[str, Any]) -> None:
    responses: dict[str, Any] = operation.setdefault("responses", {})
    wanted = {422}
    if "requestBody" in operation:
        wanted.add(413)
    if "{" in path:
        wanted.add(404)
    if method in _WRITE_METHODS:
        wanted.add(409)
    if path != "/health/live":
        wanted.add(503)
    if operation.get("security"):
        wanted.add(401)
    for status in sorted(wanted):
        existing = responses.get(str(status))
        if existing is None or "HTTPValidationError" in str(existing):
            responses[str(status)] = error_response(status)
    for code, response in responses.items():
        # A route's own error declaration without a body schema gets the error format.
        if code[0] in "45" and "content" not in response:
            response["content"] = {"application/json": {"schema": _ERROR_REF}}


def document_errors(app: FastAPI) -> None:
    """Wrap ``app.openapi`` so the generated document carries the error responses (computed once, on demand —
    routes added in the lifespan are included)."""
    generate: Callable[[], dict[str, Any]] = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema:
            return app.openapi_schema
        schema = generate()
        for path, item in schema.get("paths", {}).items():
            for method, operation in item.items():
                if method in {"get", "put", "post", "delete", "patch", "head", "options"}:
                    _document_operation(path, method, operation)
        schemas = schema.setdefault("components", {}).setdefault("schemas", {})
        schemas.pop("HTTPValidationError", None)
        schemas.pop("ValidationError", None)
        schemas[ERROR_SCHEMA_NAME] = ERROR_SCHEMA
        app.openapi_schema = schema
        return schema

    app.openapi = openapi  # type: ignore[method-assign]
