"""A PDF rendered in headless chromium: chromium's headless mode has no PDF viewer, so pdf.js (npm's pdfjs-dist,
pinned in tests/browser/package-lock.json, installed by ``make pdfjs``) draws page 1 onto a canvas in a small page
(tests/browser/render.html) that a server on 127.0.0.1 serves, and the page is screenshot over the DevTools
protocol. The browser may reach nothing but the loopback: every other address goes to a proxy that is not there."""

from __future__ import annotations

import base64
import contextlib
import http.server
import tempfile
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from tests.support.browser import chromium_page
from tests.support.infra import REPO

BROWSER_FILES = REPO / "tests" / "browser"
PDFJS = BROWSER_FILES / "node_modules" / "pdfjs-dist"
LOOPBACK = "127.0.0.1"
# No name resolves (IP literals go through these rules too, hence the exclusion), and every address but the loopback
# (which chromium never sends to a proxy) goes to a closed port of this machine.
LOOPBACK_ONLY = (f"--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE {LOOPBACK}", f"--proxy-server=http://{LOOPBACK}:9")


@dataclass(frozen=True)
class RenderedPdf:
    pages: int
    text: str  # page 1's text as pdf.js extracted it inside chromium
    width: int
    height: int
    inked: int  # canvas pixels that are not white
    fonts: list[dict[str, str]]  # the FontFaces pdf.js gave chromium: family and status ("loaded", "error"...)
    png: bytes  # chromium's screenshot of the canvas


class _Files(http.server.SimpleHTTPRequestHandler):
    # pdf.js is ES modules: chromium runs a module script only when it is served as JavaScript.
    extensions_map = {**http.server.SimpleHTTPRequestHandler.extensions_map, ".mjs": "text/javascript",
                      ".pdf": "application/pdf"}

    def log_message(self, format: str, *args: Any) -> None:
        pass  # not onto the test's output


@contextlib.contextmanager
def _served(pdf: bytes) -> Iterator[str]:
    """render.html, pdf.js and ``pdf`` (as document.pdf) from a temporary folder on 127.0.0.1; yields the page's URL."""
    assert (PDFJS / "build" / "pdf.mjs").exists(), f"pdf.js is not installed in {PDFJS} (make pdfjs)"
    with tempfile.TemporaryDirectory(prefix="salesflow-pdfjs-") as folder:
        root = Path(folder)
        (root / "index.html").write_bytes((BROWSER_FILES / "render.html").read_bytes())
        (root / "pdfjs").symlink_to(PDFJS)
        (root / "document.pdf").write_bytes(pdf)

        def handler(*args: Any) -> _Files:
            return _Files(*args, directory=folder)

        server = http.server.ThreadingHTTPServer((LOOPBACK, 0), handler)
        thread = threading.Thread(target=server.serve_forever, name="pdfjs-files", daemon=True)
        thread.start()
        try:
            yield f"http://{LOOPBACK}:{server.server_address[1]}/index.html"
        finally:
            server.shutdown()
            server.server_close()
            thread.join()


async def render_pdf_page_one(pdf: bytes, *, scale: float = 1.5, timeout: float = 90.0) -> RenderedPdf:
    """Page 1 of ``pdf`` drawn by pdf.js in headless chromium, its text, and a PNG screenshot of it."""
    with _served(pdf) as url:
        assert urlsplit(url).hostname == LOOPBACK, url  # the browser is pointed at this machine only
        async with chromium_page(args=LOOPBACK_ONLY) as page:
            navigated = await page.call("Page.navigate", url=f"{url}?scale={scale}")
            assert "errorText" not in navigated, f"chromium could not load {url}: {navigated['errorText']}"
            await page.wait_for("window.pdfRendered || window.pdfRenderError", what="pdf.js drawing page 1",
                                timeout=timeout)
            error = await page.evaluate("window.pdfRenderError || null")
            assert error is None, f"pdf.js failed in chromium: {error}"
            rendered: dict[str, Any] = await page.evaluate("window.pdfRendered")
            width, height = rendered["width"], rendered["height"]
            # The viewport is the canvas, so the screenshot is the page as drawn, pixel for pixel.
            await page.call("Emulation.setDeviceMetricsOverride", width=width, height=height, deviceScaleFactor=1,
                            mobile=False)
            shot = await page.call("Page.captureScreenshot", format="png",
                                   clip={"x": 0, "y": 0, "width": width, "height": height, "scale": 1})
    return RenderedPdf(pages=rendered["pages"], text=rendered["text"], width=width, height=height,
                       inked=rendered["inked"], fonts=rendered["fonts"], png=base64.b64decode(shot["data"]))
