"""Refuses input the services must never see, before any route runs (pure ASGI, no body read beyond the limit).

- A request body over the limit answers 413 as soon as that is known: from ``Content-Length`` before a byte of the
  body is read, or — for a chunked body — at the first chunk past the limit. The connection is closed, so the rest
  of a 300 MB upload is never read.
- Text PostgreSQL cannot store, or that is not text at all, answers 422 naming the field: the NUL character and
  bytes that are not UTF-8 in the path, in a query parameter or in a JSON body's strings (a lone surrogate such as
  ``"\\ud800"`` included). Without this they reached the database and came back as a bare-text 500.
- Every request gets a correlation id (the ``X-Correlation-Id`` header, or a new one), echoed in the response
  header and in every error body (see :func:`current_correlation_id`).
"""

from __future__ import annotations

import contextvars
import json
import re
import uuid
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any
from urllib.parse import unquote_to_bytes

import orjson

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

DEFAULT_MAX_BODY_BYTES = 1024 * 1024
CORRELATION_HEADER = b"x-correlation-id"
# What a caller may send as a correlation id (it travels into event metadata and logs): printable, bounded.
_CORRELATION_ID = re.compile(r"[\x21-\x7e]{1,200}")

_correlation_id: contextvars.ContextVar[str | None] = contextvars.ContextVar("correlation_id", default=None)


def current_correlation_id() -> str | None:
    """The correlation id of the request being handled (None outside a request)."""
    return _correlation_id.get()


class InputRejectedError(Exception):
    def __init__(self, status: int, code: str, field: str, reason: str) -> None:
        super().__init__(f"{field}: {reason}")
        self.status, self.code, self.field, self.reason = status, code, field, reason


def _text_problem(raw: bytes) -> str | None:
    """Why ``raw`` (already percent-decoded) is not storable text, or None."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        return f"is not valid UTF-8 (byte 0x{raw[exc.start]:02x} at position {exc.start})"
    if "\x00" in text:
        return "must not contain the NUL character"
    return None


def check_path(raw_path: bytes) -> None:
    for position, segment in enumerate(raw_path.split(b"/")):
        problem = _text_problem(unquote_to_bytes(segment))
        if problem:
            shown = segment.decode("ascii", "replace")[:60]
            raise InputRejectedError(422, "validation_error", "path", f"segment {position} ({shown!r}) {problem}")


def check_query(query_string: bytes) -> None:
    for pair in query_string.split(b"&"):
        if not pair:
            continue
        raw_name, _, raw_value = pair.partition(b"=")
        name_bytes = unquote_to_bytes(raw_name.replace(b"+", b" "))
        name = name_bytes.decode("utf-8", "replace").replace("\x00", "\\0")[:60] or "query"
        problem = _text_problem(name_bytes)
        if problem:
            raise InputRejectedError(422, "validation_error", name, f"parameter name {problem}")
        problem = _text_problem(unquote_to_bytes(raw_value.replace(b"+", b" ")))
        if problem:
            raise InputRejectedError(422, "validation_error", name, problem)


def _walk_json(value: Any, where: str) -> None:
    if isinstance(value, str):
        if "\x00" in value:
            raise InputRejectedError(422, "validation_error", where, "must not contain the NUL character")
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            raise InputRejectedError(422, "validation_error", where,
                                "is not valid Unicode text (a lone surrogate escape)") from None
    elif isinstance(value, dict):
        for key, item in value.items():
            key_where = f"{where}.{key}" if where != "body" else str(key)
            _walk_json(key, key_where)
            _walk_json(item, key_where)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            _walk_json(item, f"{where}.{index}" if where != "body" else str(index))


def check_json_body(body: bytes) -> None:
    """Only what JSON Schema validation cannot see; malformed JSON is left to the framework's 422."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InputRejectedError(422, "validation_error", "body",
                            f"is not valid UTF-8 (byte 0x{body[exc.start]:02x} at position {exc.start})") from None
    if "\\u" not in text:
        # Without a \u escape no string in the document can hold a NUL or a lone surrogate: a raw NUL (a control
        # character) makes the JSON invalid, and a surrogate cannot be written in valid UTF-8. Most bodies take
        # this exit, which skips a second parse and walk of every command's body.
        return
    try:
        # The standard library's parser, as the framework's: it is the one that lets "\u0000" and "\ud800" through.
        document = json.loads(text)
    except ValueError:
        return
    _walk_json(document, "body")


def _is_json(content_type: str) -> bool:
    media = content_type.split(";", 1)[0].strip().lower()
    return media == "application/json" or media.endswith("+json")


def _header(scope: Scope, name: bytes) -> bytes | None:
    for key, value in scope.get("headers", ()):
        if key.lower() == name:
            return bytes(value)
    return None


class InputGuard:
    """ASGI middleware; add it outermost so nothing else buffers a body first."""

    def __init__(self, app: ASGIApp, *, max_body_bytes: int = DEFAULT_MAX_BODY_BYTES) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        given = (_header(scope, CORRELATION_HEADER) or b"").decode("latin-1")
        correlation_id = given if _CORRELATION_ID.fullmatch(given) else str(uuid.uuid4())
        token = _correlation_id.set(correlation_id)
        try:
            await self._guarded(scope, receive, self._with_correlation_header(send, correlation_id))
        finally:
            _correlation_id.reset(token)

    @staticmethod
    def _with_correlation_header(send: Send, correlation_id: str) -> Send:
        async def sender(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = [(k, v) for k, v in message.get("headers", []) if k.lower() != CORRELATION_HEADER]
                message["headers"] = [*headers, (CORRELATION_HEADER, correlation_id.encode())]
            await send(message)
        return sender

    async def _guarded(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            check_path(scope.get("raw_path") or scope["path"].encode())
            check_query(scope.get("query_string", b""))
            body = await self._read_body(scope, receive)
            if body is not None and _is_json((_header(scope, b"content-type") or b"").decode("latin-1")):
                check_json_body(body)
        except InputRejectedError as rejected:
            await self._refuse(send, rejected)
            return
        started = False

        async def tracking(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, receive if body is None else _replaying(body, receive), tracking)
        except Exception:
            # Answered here rather than by Starlette's outermost handler, which runs after this request's
            # correlation id is gone; re-raised so the server still logs the traceback.
            if not started:
                await self._refuse(send, InputRejectedError(500, "internal_error", "request", "unexpected error"))
            raise

    async def _read_body(self, scope: Scope, receive: Receive) -> bytes | None:
        """The whole body (at most the limit), or None when the request declares none."""
        declared = _header(scope, b"content-length")
        chunked = b"chunked" in (_header(scope, b"transfer-encoding") or b"").lower()
        if declared is None and not chunked:
            return None
        if declared is not None:
            try:
                length = int(declared)
            except ValueError:
                raise InputRejectedError(400, "bad_request", "Content-Length", "is not a number") from None
            if length > self.max_body_bytes:
                raise self._too_large()
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                break
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_body_bytes:
                raise self._too_large()
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        return b"".join(chunks)

    def _too_large(self) -> InputRejectedError:
        return InputRejectedError(413, "payload_too_large", "body", f"is larger than {self.max_body_bytes} bytes")

    async def _refuse(self, send: Send, rejected: InputRejectedError) -> None:
        error: dict[str, Any] = {"code": rejected.code, "message": f"{rejected.field}: {rejected.reason}"}
        if rejected.status != 500:
            error["fields"] = [{"field": rejected.field, "reason": rejected.reason}]
        error["correlation_id"] = current_correlation_id()
        content = orjson.dumps({"error": error})
        headers = [(b"content-type", b"application/json"), (b"content-length", str(len(content)).encode())]
        if rejected.status == 413:
            # The rest of the body is still on its way: closing is the only way not to read it.
            headers.append((b"connection", b"close"))
        await send({"type": "http.response.start", "status": rejected.status, "headers": headers})
        await send({"type": "http.response.body", "body": content})


def _replaying(body: bytes, receive: Receive) -> Receive:
    delivered = False

    async def replay() -> Message:
        nonlocal delivered
        if not delivered:
            delivered = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay
