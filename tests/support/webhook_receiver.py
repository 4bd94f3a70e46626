"""A webhook receiver for tests: a real HTTP server on 127.0.0.1, started only when the test says so — until
then its port refuses connections, as a subscriber that is down would."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Received:
    headers: dict[str, str]
    body: bytes
    path: str = ""


@dataclass
class Receiver:
    """Records every POST (headers, raw body, path with query) and answers 204 — or 200 with ``answer`` as the
    JSON body, as a WeCom or DingTalk robot answers (``{"errcode": 0, "errmsg": "ok"}``)."""

    port: int
    received: list[Received] = field(default_factory=list)
    answer: bytes | None = None
    _server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hooks/salesflow"

    def start(self) -> None:
        received, answer = self.received, self.answer

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                received.append(Received(dict(self.headers.items()), self.rfile.read(length), self.path))
                if answer is None:
                    self.send_response(204)
                    self.end_headers()
                    return
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, *_: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
