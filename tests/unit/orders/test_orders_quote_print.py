"""The printed quote: its view model (the quote's own figures, formatted once, the deposit of the dealership's
share), the HTML page, and the PDF layout on its edge cases — a long Chinese name wraps inside its column, many
lines go on to further pages with the headings repeated and the totals, terms and signature boxes kept whole —
read back with PDFium (text and where each character sits). The font is Debian's Noto Sans CJK SC (make fonts)."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pypdfium2
import pytest

from services.orders.domain.lines import Line, LineOption
from services.orders.quote_pdf import (
    COLUMNS,
    MARGIN,
    QuoteFont,
    QuoteFontMissingError,
    load_quote_font,
    render_quote_pdf,
)
from services.orders.quote_print import (
    PrintedQuote,
    load_letterhead,
    print_quote,
    printed_quote,
)
from tests.support.orders_builders import amount, issued_quote

NOTO = Path("/usr/share/fonts/opentype/noto")
SETTINGS = ("ORDERS_QUOTE_PDF_FONT", "ORDERS_QUOTE_PDF_FONT_BOLD")
LETTERHEAD = load_letterhead()
POINTS_PER_MM = 72 / 25.4
# Characters no label of the page uses, so every one found belongs to the long name.
STEMS_AND_BRANCHES = "甲乙丙丁戊己庚辛壬癸子丑寅卯辰巳午未申酉戌亥"


@pytest.fixture(scope="module")
def font() -> QuoteFont:
    return load_quote_font(NOTO / "NotoSansCJK-Regular.ttc", NOTO / "NotoSansCJK-Bold.ttc",
                           face="Noto Sans CJK SC", settings=SETTINGS)


def catalogue_line(catalogue_id: str, kind: str, name: str, list_minor: int, unit_minor: int | None = None,
                   quantity: int = 1) -> Line:
    return Line(product=catalogue_id, description=name, quantity=quantity, kind=kind, catalogue_id=catalogue_id,
                list_price_minor=list_minor, unit_price_minor=list_minor if unit_minor is None else unit_minor)


def view_of(*lines: Line, discount_minor: int | None = None) -> PrintedQuote:
    quote = issued_quote(*lines, discount=amount(discount_minor) if discount_minor else None, role="general_manager")
    return printed_quote(quote, LETTERHEAD)


# ---- the view model ------------------------------------------------------------------------------------------


def test_the_view_shows_the_quotes_own_figures_line_discounts_and_the_deposit_rounded_half_up() -> None:
    view = view_of(catalogue_line("MY-LR", "trim", "长续航版", 280_000_00, 270_000_00),
                   catalogue_line("MAT", "accessory", "全包脚垫", 800_00, quantity=2),
                   Line(product="MUG", quantity=1, unit_price_minor=99_05), discount_minor=1_000_00)
    # 270 000 + 1 600 + 99.05 − 1 000 = 270 699.05; 10 % of it is 27 069.905 → 27 069.91 (half up).
    assert {t.key: t.amount for t in view.totals} == {
        "list_subtotal": "¥281,699.05", "line_discounts": "-¥10,000.00", "subtotal": "¥271,699.05",
        "discount": "-¥1,000.00", "total": "¥270,699.05", "deposit": "¥27,069.91", "balance": "¥243,629.14"}
    trim, mats, mug = view.lines
    assert (trim.kind, trim.list_price, trim.unit_price, trim.discount, trim.total) == (
        "配置", "¥280,000.00", "¥270,000.00", "-¥10,000.00", "¥270,000.00")
    assert (mats.kind, mats.quantity, mats.discount, mats.total) == ("精品", 2, "—", "¥1,600.00")
    # A hand-typed line has no list price and so no line discount.
    assert (mug.kind, mug.name, mug.list_price, mug.discount) == ("—", "MUG", "—", "—")
    assert "签订购车合同时支付定金 ¥27,069.91，尾款 ¥243,629.14 于交车前付清。" in view.terms


def test_without_typed_down_prices_or_a_deposit_those_figures_are_left_out() -> None:
    view = printed_quote(issued_quote(catalogue_line("INS-1Y", "insurance", "商业险一年", 6_000_00)),
                         replace(LETTERHEAD, deposit_bp=0))
    assert [t.key for t in view.totals] == ["subtotal", "discount", "total"]
    assert not any("定金" in term for term in view.terms)


def test_dates_are_the_dealerships_local_time() -> None:
    view = view_of(catalogue_line("PLATE", "plates", "上牌服务", 500_00))
    meta = dict(view.meta)
    # Issued 2026-11-27 09:00 UTC, valid seven days: 17:00 in Shanghai.
    assert (meta["报价日期"], meta["有效期至"]) == ("2026-11-27", "2026-12-04 17:00")


def test_a_deposit_above_a_fifth_of_the_total_is_refused_on_loading(tmp_path: Path) -> None:
    config = json.loads(Path("services/orders/config/quote_print.json").read_text(encoding="utf-8"))
    path = tmp_path / "quote_print.json"
    path.write_text(json.dumps({**config, "deposit_bp": 2_001}), encoding="utf-8")
    with pytest.raises(ValueError, match="deposit_bp must be between 0 and 2000"):
        load_letterhead(path)


def test_the_html_page_escapes_what_the_quote_holds_and_shows_the_same_figures() -> None:
    view = view_of(Line(product="X<script>", description="<b>全轮驱动</b>", quantity=1, unit_price_minor=100_00,
                        options=(LineOption(code="白&黑", price_minor=1_00),)))
    page = print_quote(view)
    assert "<b>全轮驱动</b>" not in page
    assert "&lt;b&gt;全轮驱动&lt;/b&gt;" in page
    assert "X&lt;script&gt;" in page
    assert "白&amp;黑" in page
    assert '<td class=amount id=total>¥101.00</td>' in page


# ---- the font setting ----------------------------------------------------------------------------------------


def test_a_missing_font_file_is_an_error_naming_the_setting_and_the_path(tmp_path: Path) -> None:
    missing = tmp_path / "NotoSansCJK-Regular.ttc"
    with pytest.raises(QuoteFontMissingError, match=f"ORDERS_QUOTE_PDF_FONT={missing}: no such font file"):
        load_quote_font(missing, NOTO / "NotoSansCJK-Bold.ttc", face="Noto Sans CJK SC", settings=SETTINGS)
    with pytest.raises(QuoteFontMissingError, match="ORDERS_QUOTE_PDF_FONT_BOLD="):
        load_quote_font(NOTO / "NotoSansCJK-Regular.ttc", missing, face="Noto Sans CJK SC", settings=SETTINGS)


def test_a_file_that_is_no_font_or_lacks_the_face_is_refused_with_what_it_has(tmp_path: Path) -> None:
    not_a_font = tmp_path / "fonts.ttc"
    not_a_font.write_bytes(b"not a font collection")
    with pytest.raises(QuoteFontMissingError, match="not a font file"):
        load_quote_font(not_a_font, not_a_font, face="Noto Sans CJK SC", settings=SETTINGS)
    with pytest.raises(QuoteFontMissingError, match=r"has no face 'Noto Sans CJK XX' .*Noto Sans CJK SC"):
        load_quote_font(NOTO / "NotoSansCJK-Regular.ttc", NOTO / "NotoSansCJK-Bold.ttc", face="Noto Sans CJK XX",
                        settings=SETTINGS)


def test_the_simplified_chinese_face_is_picked_from_the_collection(font: QuoteFont) -> None:
    from fontTools.ttLib import TTFont

    with TTFont(font.regular.path, fontNumber=font.regular.face_index, lazy=True) as face:
        assert face["name"].getDebugName(1) == "Noto Sans CJK SC"


# ---- the PDF layout ------------------------------------------------------------------------------------------


class Page:
    """One rendered page read back: its text and the box (PDF points, origin bottom left) of each character."""

    def __init__(self, page: pypdfium2.PdfPage) -> None:
        self.width = page.get_width()
        text_page = page.get_textpage()
        count = text_page.count_chars()
        self.chars = [(text_page.get_text_range(i, 1), text_page.get_charbox(i)) for i in range(count)]
        self.text = text_page.get_text_range()

    def squeezed(self) -> str:
        return "".join(c for c, _ in self.chars if not c.isspace())


def pages_of(pdf: bytes) -> list[Page]:
    return [Page(page) for page in pypdfium2.PdfDocument(pdf)]


def test_a_long_chinese_name_wraps_inside_the_item_column(font: QuoteFont) -> None:
    name = STEMS_AND_BRANCHES * 3  # 66 characters, no space to break at
    pdf = render_quote_pdf(view_of(catalogue_line("LONG", "accessory", name, 1_000_00)), font)
    [page] = pages_of(pdf)
    boxes = [box for c, box in page.chars if c in STEMS_AND_BRANCHES]
    assert "".join(c for c, _ in page.chars if c in STEMS_AND_BRANCHES) == name
    rows = {round(top) for _, _, _, top in boxes}
    assert len(rows) >= 3  # 66 characters of 8.5 pt do not fit in 55 mm: at least three lines
    left = (MARGIN + COLUMNS[0][1] + COLUMNS[1][1]) * POINTS_PER_MM
    right = left + COLUMNS[2][1] * POINTS_PER_MM
    assert all(left <= box_left and box_right <= right for box_left, _, box_right, _ in boxes)


def test_many_lines_go_on_to_more_pages_with_headings_repeated_and_the_end_kept_whole(font: QuoteFont) -> None:
    lines = [catalogue_line(f"ACC-{n:02d}", "accessory", f"精品套装第{n:02d}号（{STEMS_AND_BRANCHES[n % 22]}）",
                            1_234_567_89) for n in range(60)]
    view = view_of(*lines)
    pages = pages_of(render_quote_pdf(view, font))
    assert len(pages) >= 3
    found = [name for page in pages for name in (line.name for line in view.lines) if name in page.squeezed()]
    assert found == [line.name for line in view.lines]  # every line once, in order, none lost at a page break
    for number, page in enumerate(pages, start=1):
        assert f"第{number}页/共{len(pages)}页" in page.squeezed()
        if any(line.name in page.squeezed() for line in view.lines):
            assert "序号类别项目数量指导价单价优惠金额" in page.squeezed()  # the headings on every page of the table
        # Nothing runs past the right margin, not even ¥74,074,073.40.
        assert all(box[2] <= page.width - MARGIN * POINTS_PER_MM + 0.5 for c, box in page.chars if not c.isspace())
    last = pages[-1].squeezed()
    for total in view.totals:
        assert f"{total.label}{total.amount}" in last
    assert [sum(page.squeezed().count(label) for page in pages) for label in ("客户签字", "销售顾问签字")] == [1, 1]
    assert "客户签字" in last  # the three boxes together, on the last page
    assert last.count("日期：") == 3
