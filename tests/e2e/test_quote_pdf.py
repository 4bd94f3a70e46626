"""The printed quote as PDF (GET /v1/quotes/{id}/print.pdf), from the orders service as a real process against
real PostgreSQL and Kafka: a quote from the catalogue with 精品, 保险, 上牌 and 金融 lines, read back with PDFium (the
text a viewer shows) and pypdf (the embedded font), its figures computed here from the catalogue's prices; and the
same callers as the HTML page — another consultant's quote is 404, a caller who is no seller 403. And the same PDF
rendered in headless chromium (pdf.js on a canvas; chromium's headless mode has no PDF viewer): the text pdf.js reads
there, the fonts chromium loaded, and a screenshot kept at ``QUOTE_PDF_SCREENSHOT`` (``make screenshots`` writes
docs/screenshots/quote-pdf.png) to look at."""

from __future__ import annotations

import json
import os
import re
import struct
import tempfile
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from io import BytesIO
from pathlib import Path
from typing import Any

import httpx
import pypdfium2
import pytest
from pypdf import PdfReader

from tests.support.auth import auth_headers
from tests.support.browser import CHROMIUM
from tests.support.infra import RUN_ID, Infra
from tests.support.orders_stack import create_orders_database, drop_database
from tests.support.pdf_in_chromium import render_pdf_page_one
from tests.support.processes import ServiceProcess, start_service, stop_service

pytestmark = pytest.mark.e2e

LETTERHEAD = json.loads((Path(__file__).resolve().parents[2] / "services" / "orders" / "config" /
                         "quote_print.json").read_text(encoding="utf-8"))
CONSULTANT = auth_headers("consultant", subject="c1", team="t1")
CATALOGUE = [
    {"catalogue_id": "MY", "kind": "model", "name": "Model Y", "price_minor": 250_000_00},
    {"catalogue_id": "MY-LR", "kind": "trim", "name": "Model Y 长续航全轮驱动版", "price_minor": 280_000_00,
     "model": "MY"},
    {"catalogue_id": "COL-WHITE", "kind": "colour", "name": "珍珠白多涂层", "price_minor": 6_000_00},
    {"catalogue_id": "MAT", "kind": "accessory", "name": "全包围脚垫", "price_minor": 800_00},
    {"catalogue_id": "FILM", "kind": "accessory", "name": "全车隐形车衣八年质保前挡风玻璃防爆膜套装",
     "price_minor": 13_800_00},
    {"catalogue_id": "INS-1Y", "kind": "insurance", "name": "商业险一年", "price_minor": 6_000_00},
    {"catalogue_id": "PLATE", "kind": "plates", "name": "上牌代办服务", "price_minor": 500_00},
    {"catalogue_id": "FIN-36", "kind": "financing", "name": "三十六期金融服务费", "price_minor": 3_000_00},
]
PRICES = {item["catalogue_id"]: item["price_minor"] for item in CATALOGUE}
NAMES = {item["catalogue_id"]: item["name"] for item in CATALOGUE}
LABELS = ("精品", "保险", "上牌", "金融", "车身颜色", "客户签字", "销售顾问签字", "经销商（盖章）")
SCREENSHOT = Path(os.environ.get("QUOTE_PDF_SCREENSHOT", Path(tempfile.gettempdir()) / "quote-pdf.png"))


@dataclass
class Orders:
    service: ServiceProcess
    client: httpx.AsyncClient


@pytest.fixture(scope="module")
async def orders(infra: Infra) -> AsyncIterator[Orders]:
    name, dsn = await create_orders_database(infra, "quote_pdf", migrated=False)
    prefix = f"t{RUN_ID}quotepdf"
    service = await start_service("orders", {**infra.kafka_env(), "SALESFLOW_TOPIC_PREFIX": prefix,
                                             "ORDERS_DATABASE_URL": dsn})
    try:
        async with httpx.AsyncClient(base_url=service.url, timeout=30) as client:
            director = auth_headers("director", subject="d1", team=None)
            published = await client.post("/v1/price-lists/CNY/versions", headers=director, json={
                "version_id": f"pdf-{RUN_ID}", "items": CATALOGUE,
                "valid_from": (datetime.now(UTC) - timedelta(hours=1)).isoformat()})
            assert published.status_code == 201, published.text
            yield Orders(service, client)
    finally:
        await stop_service(service)
        await drop_database(infra, name)


def yuan(minor: int) -> str:
    sign = "-" if minor < 0 else ""
    return f"{sign}¥{abs(minor) // 100:,}.{abs(minor) % 100:02d}"


def pdf_text(pdf: bytes) -> list[str]:
    """Each page's text as PDFium (Chrome's PDF engine) extracts it."""
    document = pypdfium2.PdfDocument(pdf)
    return [page.get_textpage().get_text_bounded() for page in document]


def squeezed(text: str) -> str:
    """Without whitespace: a name wrapped over two lines of its cell reads as one."""
    return re.sub(r"\s+", "", text)


async def issue(orders: Orders, lines: list[dict[str, Any]], **changes: Any) -> dict[str, Any]:
    response = await orders.client.post("/v1/quotes", headers=CONSULTANT, json={
        "consultant_id": "c1", "lead_id": f"L-pdf-{RUN_ID}", "customer_name": "王小明",
        "customer_phone": "+86 138-1234-5678", "currency": "CNY",
        "valid_until": (datetime.now(UTC) + timedelta(days=7)).isoformat(), "lines": lines, **changes})
    assert response.status_code == 201, response.text
    quote: dict[str, Any] = response.json()
    return quote


@dataclass(frozen=True)
class PrintedCatalogueQuote:
    quote: dict[str, Any]
    pdf: bytes
    typed_trim: int
    line_discount: int
    figures: dict[str, int]  # each totals label and its amount, computed here from the catalogue's prices


async def print_catalogue_quote(orders: Orders) -> PrintedCatalogueQuote:
    """A quote of a typed-down trim, a colour, two mats, a long-named film, insurance, plates and financing with a
    1 000-yuan discount, and its PDF fetched from the service."""
    typed_trim = 275_000_00  # 5 000 yuan below the list price: a line discount (within a consultant's 3 %)
    lines = [{"catalogue_id": "MY-LR", "unit_price_minor": typed_trim}, {"catalogue_id": "COL-WHITE"},
             {"catalogue_id": "MAT", "quantity": 2}, {"catalogue_id": "FILM"}, {"catalogue_id": "INS-1Y"},
             {"catalogue_id": "PLATE"}, {"catalogue_id": "FIN-36"}]
    quote = await issue(orders, lines, discount={"kind": "amount", "amount_minor": 1_000_00})

    list_subtotal = sum(PRICES[x["catalogue_id"]] * x.get("quantity", 1) for x in lines)
    line_discount = PRICES["MY-LR"] - typed_trim
    subtotal = list_subtotal - line_discount
    total = subtotal - 1_000_00
    # The deposit: deposit_bp (basis points) of the total, rounded half up to the fen.
    deposit = int((Decimal(total) * LETTERHEAD["deposit_bp"] / 10_000).quantize(Decimal(1), ROUND_HALF_UP))
    assert quote["total_minor"] == total

    answer = await orders.client.get(f"/v1/quotes/{quote['quote_id']}/print.pdf", headers=CONSULTANT)
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"] == "application/pdf"
    assert answer.headers["content-disposition"] == f'inline; filename="quote-{quote["quote_id"]}.pdf"'
    figures = {"指导价合计": list_subtotal, "单项优惠": -line_discount, "小计": subtotal, "整单优惠": -1_000_00,
               "合计（应付总额）": total, "定金（签约时支付）": deposit, "尾款（交车前付清）": total - deposit}
    return PrintedCatalogueQuote(quote, answer.content, typed_trim, line_discount, figures)


def assert_reads_as_the_quote(text: str, printed: PrintedCatalogueQuote) -> None:
    """``text`` (one page's, whitespace removed) has every quoted name and code, the dealer, the quote id, the
    labels, each totals label followed by its amount, and the trim's discount followed by its total."""
    for catalogue_id, name in NAMES.items():
        if catalogue_id != "MY":  # the model itself is not quoted, only its trim
            assert squeezed(name) in text, name
            assert catalogue_id in text
    assert squeezed(LETTERHEAD["dealer"]["name"]) in text
    assert printed.quote["quote_id"] in text
    for label in LABELS:
        assert label in text, label
    for label, amount in printed.figures.items():
        assert f"{label}{yuan(amount)}" in text, (label, yuan(amount))
    assert f"{yuan(-printed.line_discount)}{yuan(printed.typed_trim)}" in text  # the trim: its discount, its total


async def test_a_catalogue_quote_prints_as_a_pdf_with_its_chinese_lines_its_figures_and_the_font_embedded(
        orders: Orders) -> None:
    printed = await print_catalogue_quote(orders)
    pdf = printed.pdf
    assert pdf.startswith(b"%PDF-")

    pages = pdf_text(pdf)
    assert len(pages) == 1
    assert_reads_as_the_quote(squeezed(pages[0]), printed)

    # The font: a subset of Noto Sans CJK SC embedded (CFF outlines), not the 19 MB collection, not referenced.
    reader = PdfReader(BytesIO(pdf))
    fonts = [font.get_object() for font in reader.pages[0]["/Resources"]["/Font"].values()]
    assert fonts
    for font in fonts:
        descendant = font["/DescendantFonts"][0].get_object()
        assert re.fullmatch(r"/[A-Z]{6}\+NotoSansCJKSC(Bold)?", str(descendant["/BaseFont"])), font
        assert "/FontFile3" in descendant["/FontDescriptor"].get_object()
    assert len(pdf) < 300_000


async def test_chromium_draws_the_pdf_with_pdfjs_from_its_embedded_fonts_and_reads_the_same_lines_and_figures(
        orders: Orders) -> None:
    if CHROMIUM is None:
        pytest.skip("chromium is not installed: make browser (make test and .ci/run install it)")
    printed = await print_catalogue_quote(orders)

    rendered = await render_pdf_page_one(printed.pdf, scale=1.5)

    assert rendered.pages == 1
    # What pdf.js read from the PDF inside chromium: the same names, labels and figures as PDFium reads.
    assert_reads_as_the_quote(squeezed(rendered.text), printed)
    # Drawn with the PDF's own fonts: pdf.js turned both embedded subsets (regular, bold) into FontFaces and
    # chromium loaded every one; a face it could not load would be drawn with a fallback, or as empty boxes.
    assert len(rendered.fonts) >= 2, rendered.fonts
    assert {face["status"] for face in rendered.fonts} == {"loaded"}, rendered.fonts
    # An A4 page at 1.5 × 72 dpi, and ink on it (the text, the rules, the table's shading).
    assert (rendered.width, rendered.height) == (893, 1263)
    assert rendered.inked > 0.02 * rendered.width * rendered.height
    png = rendered.png
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    assert struct.unpack(">II", png[16:24]) == (rendered.width, rendered.height)  # IHDR: the screenshot is the page
    SCREENSHOT.write_bytes(png)  # noqa: ASYNC240 - one small file, after the browser is gone


async def test_the_pdf_has_the_html_pages_callers_an_unknown_quote_is_404_and_a_non_seller_403(
        orders: Orders) -> None:
    quote = await issue(orders, [{"catalogue_id": "MY-LR"}])
    callers = {"its consultant": (CONSULTANT, 200), "the team's manager": (auth_headers("manager", subject="m1"), 200),
               "another consultant": (auth_headers("consultant", subject="c2", team="t2"), 404),
               "ops": (auth_headers("ops", subject="ops1", team=None), 403)}
    for who, (headers, status) in callers.items():
        page = await orders.client.get(f"/v1/quotes/{quote['quote_id']}/print", headers=headers)
        pdf = await orders.client.get(f"/v1/quotes/{quote['quote_id']}/print.pdf", headers=headers)
        assert (page.status_code, pdf.status_code) == (status, status), (who, page.text[:200], pdf.text[:200])
    unknown = await orders.client.get(f"/v1/quotes/Q-nope-{RUN_ID}/print.pdf", headers=CONSULTANT)
    assert unknown.status_code == 404, unknown.text
    assert unknown.json()["error"]["code"] == "quote_not_found"
    anonymous = await orders.client.get(f"/v1/quotes/{quote['quote_id']}/print.pdf")
    assert anonymous.status_code == 401


async def test_the_openapi_document_describes_the_pdf(orders: Orders) -> None:
    document = (await orders.client.get("/openapi.json")).json()
    ok = document["paths"]["/v1/quotes/{quote_id}/print.pdf"]["get"]["responses"]["200"]
    assert list(ok["content"]) == ["application/pdf"]
    assert ok["content"]["application/pdf"]["schema"] == {"type": "string", "format": "binary"}
