"""Headless chromium (Debian's) driven over the DevTools protocol: navigate, run a line of JavaScript, wait for a
condition, read cookies. Enough to sign in on a real login page without a browser-automation framework."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import os
import shutil
import signal
import tempfile
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import Any

import httpx
import websockets

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


class Page:
    def __init__(self, socket: Any) -> None:
        self._socket = socket
        self._ids = itertools.count(1)

    async def call(self, method: str, **params: Any) -> dict[str, Any]:
        message_id = next(self._ids)
        await self._socket.send(json.dumps({"id": message_id, "method": method, "params": params}))
        while True:
            message = json.loads(await self._socket.recv())
            if message.get("id") == message_id:
                if "error" in message:
                    raise RuntimeError(f"{method}: {message['error']}")
                result: dict[str, Any] = message.get("result", {})
                return result

    async def goto(self, url: str) -> None:
        await self.call("Page.navigate", url=url)

    async def evaluate(self, expression: str) -> Any:
        result = await self.call("Runtime.evaluate", expression=expression, returnByValue=True)
        return result.get("result", {}).get("value")

    async def wait_for(self, expression: str, *, what: str, timeout: float = 60.0) -> Any:
        """Poll ``expression`` until it is truthy (navigations in between are fine); fail after ``timeout``."""
        deadline = asyncio.get_running_loop().time() + timeout
        last: Any = None
        while True:
            with contextlib.suppress(RuntimeError):  # the page may be between documents
                last = await self.evaluate(expression)
                if last:
                    return last
            if asyncio.get_running_loop().time() > deadline:
                url = await self.evaluate("location.href")
                raise AssertionError(f"{what}: not true within {timeout}s (at {url}, last value {last!r})")
            await asyncio.sleep(0.2)

    async def cookies(self) -> list[dict[str, Any]]:
        cookies: list[dict[str, Any]] = (await self.call("Network.getAllCookies"))["cookies"]
        return cookies


@contextlib.asynccontextmanager
async def chromium_page(*, args: Sequence[str] = ()) -> AsyncIterator[Page]:
    """A page of a fresh headless chromium; ``args`` are more command-line switches."""
    assert CHROMIUM is not None, "chromium is not installed (make browser)"
    # chromium's helper processes (zygote, renderer, GPU) outlive a kill of the main one and were still writing
    # the profile while it was removed ("Directory not empty: 'Default'"): chromium gets a process group of its
    # own and the whole group is killed; a file a dying helper still leaves does not fail the test.
    with tempfile.TemporaryDirectory(prefix="salesflow-cdp-", ignore_cleanup_errors=True) as profile:
        process = await asyncio.create_subprocess_exec(
            CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
            "--disable-component-update", "--disable-sync", "--no-first-run", f"--user-data-dir={profile}",
            "--remote-debugging-address=127.0.0.1", "--remote-debugging-port=0", "--window-size=1280,900",
            *args, "about:blank", stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL,
            start_new_session=True)
        try:
            port_file = Path(profile) / "DevToolsActivePort"
            deadline = asyncio.get_running_loop().time() + 60
            while not port_file.exists() or not port_file.read_text().strip():
                assert process.returncode is None, "chromium exited"
                assert asyncio.get_running_loop().time() < deadline, "chromium's DevTools did not come up"
                await asyncio.sleep(0.1)
            port = port_file.read_text().split()[0]
            async with httpx.AsyncClient() as client:
                targets = (await client.get(f"http://127.0.0.1:{port}/json/list")).json()
            page_url = next(t["webSocketDebuggerUrl"] for t in targets if t["type"] == "page")
            async with websockets.connect(page_url, max_size=None) as socket:
                page = Page(socket)
                await page.call("Page.enable")
                await page.call("Network.enable")
                yield page
        finally:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)  # never leave a browser (or a helper of it) behind
            await process.wait()
