"""The printed quote as a PDF (``GET /v1/quotes/{id}/print.pdf``), laid out from the same view model as the HTML
page (``quote_print.printed_quote``): it formats nothing and computes nothing.

fpdf2 writes it: pure Python, it reads the ``.ttc`` collection Debian's ``fonts-noto-cjk`` ships Noto Sans CJK in
(one face of it, picked by name) and embeds only the glyphs the quote uses — a quote is tens of kilobytes, not the
collection's 19 MB. The font files are settings (``ORDERS_QUOTE_PDF_FONT``, ``ORDERS_QUOTE_PDF_FONT_BOLD``),
checked when the service starts (``load_quote_font``): a missing file is an error naming the setting, not a PDF
of empty boxes."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from fontTools.ttLib import TTCollection, TTFont, TTLibError
from fpdf import FPDF, FontFace
from fpdf.enums import Align, MethodReturnValue, TableBordersLayout, TableCellFillMode, WrapMode, XPos, YPos

from services.orders.quote_print import Letterhead, PrintedQuote

FAMILY = "quote-cjk"
COLLECTIONS = (".ttc", ".otc")

# A4 portrait, in millimetres.
MARGIN = 15.0
FOOTER_SPACE = 14.0
# The lines table: 序号, 类别, 项目, 数量, 指导价, 单价, 优惠, 金额 — 180 mm, the width between the margins. The
# amounts' columns fit ¥12,345,678.90 at 8.5 pt; the item column takes what is left and wraps.
COLUMNS = (("序号", 9.0, Align.C), ("类别", 15.0, Align.C), ("项目", 55.0, Align.L), ("数量", 10.0, Align.R),
           ("指导价", 23.0, Align.R), ("单价", 23.0, Align.R), ("优惠", 21.0, Align.R), ("金额", 24.0, Align.R))
INK = (34, 34, 34)
MUTED = (110, 110, 110)
RULE = (150, 150, 150)
HEADING_FILL = (232, 236, 242)
STRIPE_FILL = (247, 248, 250)
SIGNATURE_HEIGHT = 26.0


class QuoteFontMissingError(RuntimeError):
    """The PDF font a setting names cannot be used; the message names the setting and the file."""


@dataclass(frozen=True, slots=True)
class FontFile:
    path: Path
    face_index: int  # the face within a collection (.ttc); 0 for a single font


@dataclass(frozen=True, slots=True)
class QuoteFont:
    regular: FontFile
    bold: FontFile


@dataclass(frozen=True, slots=True)
class QuotePrinting:
    """What printing a quote needs besides the quote: the dealership's letterhead and the PDF's font."""

    letterhead: Letterhead
    font: QuoteFont


def load_quote_font(regular: Path, bold: Path, *, face: str, settings: tuple[str, str]) -> QuoteFont:
    """The two font files, each with the index of ``face`` (its family name, e.g. ``Noto Sans CJK SC``) when it
    is a collection. ``settings`` are the names of the settings that gave the paths, for the error message."""
    return QuoteFont(_font_file(regular, face, settings[0]), _font_file(bold, face, settings[1]))


def _font_file(path: Path, face: str, setting: str) -> FontFile:
    hint = "install Debian's fonts-noto-cjk (make fonts) or point the setting at a Noto Sans CJK SC .ttc/.otf"
    if not path.is_file():
        raise QuoteFontMissingError(f"{setting}={path}: no such font file; {hint}")
    try:
        if path.suffix.lower() not in COLLECTIONS:
            TTFont(path, lazy=True).close()
            return FontFile(path, 0)
        collection = TTCollection(path, lazy=True)
        families = [font["name"].getDebugName(1) for font in collection.fonts]
    except (TTLibError, OSError) as exc:
        raise QuoteFontMissingError(f"{setting}={path}: not a font file ({exc}); {hint}") from exc
    if face not in families:
        raise QuoteFontMissingError(f"{setting}={path}: has no face {face!r} (it has {', '.join(families)})")
    return FontFile(path, families.index(face))


class _QuotePdf(FPDF):
    """A4 pages with the quote's number and the page count at the foot of each."""

    def __init__(self, view: PrintedQuote, font: QuoteFont) -> None:
        super().__init__(orientation="P", unit="mm", format="A4")
        self.view = view
        self.add_font(FAMILY, "", str(font.regular.path), collection_font_number=font.regular.face_index)
        self.add_font(FAMILY, "B", str(font.bold.path), collection_font_number=font.bold.face_index)
        self.set_margins(MARGIN, MARGIN, MARGIN)
        self.set_auto_page_break(auto=True, margin=FOOTER_SPACE + 1)
        self.set_title(f"{view.title} {view.quote_id}")
        self.set_author(view.letterhead.dealer_name)
        self.set_creator("salesflow orders")
        self.set_lang("zh-CN")

    def footer(self) -> None:
        self.set_y(-FOOTER_SPACE)
        self.set_font(FAMILY, "", 8)
        self.set_text_color(*MUTED)
        self.cell(0, 5, f"{self.view.letterhead.dealer_name} · 报价单号 {self.view.quote_id} · "
                        f"第 {self.page_no()} 页 / 共 {{nb}} 页", align=Align.C)

    def room_left(self) -> float:
        return self.page_break_trigger - self.get_y()


def render_quote_pdf(view: PrintedQuote, font: QuoteFont) -> bytes:
    """The quote's pages: letterhead, the quote's particulars, the lines (headings repeated on every page; long
    names wrap within their column), totals, terms and the signature boxes (kept together on one page)."""
    pdf = _QuotePdf(view, font)
    pdf.add_page()
    _letterhead(pdf, view)
    _particulars(pdf, view)
    _lines(pdf, view)
    # The totals, terms and signature boxes go together: the customer signs under the amount they agree to.
    if pdf.room_left() < _end_height(pdf, view) <= pdf.page_break_trigger - MARGIN:
        pdf.add_page()
    _totals(pdf, view)
    _terms(pdf, view)
    _signatures(pdf, view)
    return bytes(pdf.output())


def _letterhead(pdf: _QuotePdf, view: PrintedQuote) -> None:
    head = view.letterhead
    pdf.set_text_color(*INK)
    pdf.set_font(FAMILY, "B", 13)
    pdf.cell(0, 7, head.dealer_name, new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    contact = "　".join(part for part in (head.dealer_address, f"电话 {head.dealer_phone}" if head.dealer_phone
                                           else "") if part)
    if contact:
        pdf.set_font(FAMILY, "", 8.5)
        pdf.set_text_color(*MUTED)
        pdf.cell(0, 5, contact, new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.ln(3)
    pdf.set_text_color(*INK)
    pdf.set_font(FAMILY, "B", 18)
    pdf.cell(0, 10, view.title, align=Align.C, new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.set_draw_color(*INK)
    pdf.set_line_width(0.6)
    pdf.line(MARGIN, pdf.get_y() + 1, pdf.w - MARGIN, pdf.get_y() + 1)
    pdf.ln(4)


def _particulars(pdf: _QuotePdf, view: PrintedQuote) -> None:
    """The quote's particulars in two columns of label and value."""
    half = (pdf.w - 2 * MARGIN) / 2
    label_width = 20.0
    pairs = list(view.meta)
    for left in range(0, len(pairs), 2):
        for label, value in pairs[left:left + 2]:
            pdf.set_font(FAMILY, "", 9)
            pdf.set_text_color(*MUTED)
            pdf.cell(label_width, 6, f"{label}：")
            pdf.set_text_color(*INK)
            pdf.cell(half - label_width, 6, value)
        pdf.ln(6)
    pdf.ln(3)


def _lines(pdf: _QuotePdf, view: PrintedQuote) -> None:
    pdf.set_font(FAMILY, "", 8.5)
    pdf.set_text_color(*INK)
    pdf.set_draw_color(*RULE)
    pdf.set_line_width(0.2)
    headings = FontFace(family=FAMILY, emphasis="BOLD", size_pt=8.5, fill_color=HEADING_FILL, color=INK)
    with pdf.table(col_widths=tuple(width for _, width, _ in COLUMNS), width=pdf.w - 2 * MARGIN,
                   text_align=tuple(align for _, _, align in COLUMNS), line_height=4.4,
                   headings_style=headings, borders_layout=TableBordersLayout.HORIZONTAL_LINES,
                   cell_fill_color=STRIPE_FILL, cell_fill_mode=TableCellFillMode.EVEN_ROWS,
                   wrapmode=WrapMode.WORD, padding=(1.2, 1.2), repeat_headings=1, v_align="MIDDLE") as table:
        heading = table.row()
        for title, _, _ in COLUMNS:
            heading.cell(title)
        for line in view.lines:
            item = line.name if line.name == line.product else f"{line.name}\n{line.product}"
            if line.options:
                item += f"\n选装：{line.options}"
            row = table.row()
            for text in (str(line.number), line.kind, item, str(line.quantity), line.list_price, line.unit_price,
                         line.discount, line.total):
                row.cell(text)
    pdf.set_draw_color(*RULE)
    pdf.line(MARGIN, pdf.get_y(), pdf.w - MARGIN, pdf.get_y())
    pdf.ln(3)


TOTAL_ROW = 5.4
TERM_LINE = 4.8
NUMBER_WIDTH = 6.0


def _end_height(pdf: _QuotePdf, view: PrintedQuote) -> float:
    """How tall the totals, terms and signature boxes are together, as ``_totals``, ``_terms`` and ``_signatures``
    lay them out."""
    totals = _totals_height(view)
    pdf.set_font(FAMILY, "", 8.5)
    text_width = pdf.w - 2 * MARGIN - NUMBER_WIDTH
    terms = 6 + sum(_wrapped_height(pdf, text_width, term) + 0.8 for term in view.terms) + 3
    return totals + terms + SIGNATURE_HEIGHT + 2


def _wrapped_height(pdf: _QuotePdf, width: float, text: str) -> float:
    """The height ``text`` takes wrapped at ``width`` in the current font (measured, not drawn)."""
    height = pdf.multi_cell(width, TERM_LINE, text, wrapmode=WrapMode.WORD, dry_run=True,
                            output=MethodReturnValue.HEIGHT)
    assert isinstance(height, int | float)  # output=HEIGHT answers the height alone
    return float(height)


def _totals_height(view: PrintedQuote) -> float:
    """How tall ``_totals`` lays the totals out: a row each, the emphasised one 1 mm taller under a 1-mm rule gap,
    and the space after."""
    return sum(TOTAL_ROW + (2 if total.emphasised else 0) for total in view.totals) + 4


def _totals(pdf: _QuotePdf, view: PrintedQuote) -> None:
    """Right-aligned under the amounts: label, then figure; the total in bold with a rule above it."""
    label_width, amount_width, height = 45.0, 34.0, TOTAL_ROW
    if pdf.room_left() < _totals_height(view):
        pdf.add_page()
    x = pdf.w - MARGIN - label_width - amount_width
    for total in view.totals:
        if total.emphasised:
            pdf.set_draw_color(*INK)
            pdf.set_line_width(0.4)
            pdf.line(x, pdf.get_y() + 0.5, pdf.w - MARGIN, pdf.get_y() + 0.5)
            pdf.ln(1)
        pdf.set_x(x)
        pdf.set_font(FAMILY, "B" if total.emphasised else "", 11 if total.emphasised else 9)
        pdf.set_text_color(*(INK if total.emphasised else MUTED))
        pdf.cell(label_width, height + (1 if total.emphasised else 0), total.label, align=Align.R)
        pdf.set_text_color(*INK)
        pdf.cell(amount_width, height + (1 if total.emphasised else 0), total.amount, align=Align.R,
                 new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.ln(4)


def _terms(pdf: _QuotePdf, view: PrintedQuote) -> None:
    if pdf.room_left() < 20:
        pdf.add_page()
    pdf.set_font(FAMILY, "B", 10)
    pdf.set_text_color(*INK)
    pdf.cell(0, 6, "条款与说明", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.set_font(FAMILY, "", 8.5)
    for number, term in enumerate(view.terms, start=1):
        pdf.cell(NUMBER_WIDTH, TERM_LINE, f"{number}.")
        pdf.multi_cell(0, TERM_LINE, term, wrapmode=WrapMode.WORD, new_x=XPos.LMARGIN, new_y=YPos.NEXT)
        pdf.ln(0.8)
    pdf.ln(3)


def _signatures(pdf: _QuotePdf, view: PrintedQuote) -> None:
    """A box for each of the view's signatures (customer, consultant, dealership's seal), each with a date line; never
    split over pages."""
    if pdf.room_left() < SIGNATURE_HEIGHT + 1:
        pdf.add_page()
    gap = 6.0
    width = (pdf.w - 2 * MARGIN - (len(view.signatures) - 1) * gap) / len(view.signatures)
    top = pdf.get_y()
    pdf.set_draw_color(*RULE)
    pdf.set_line_width(0.3)
    for index, label in enumerate(view.signatures):
        x = MARGIN + index * (width + gap)
        pdf.rect(x, top, width, SIGNATURE_HEIGHT)
        pdf.set_xy(x + 2.5, top + 2)
        pdf.set_font(FAMILY, "", 9)
        pdf.set_text_color(*MUTED)
        pdf.cell(width - 5, 5, label)
        pdf.set_xy(x + 2.5, top + SIGNATURE_HEIGHT - 7)
        pdf.cell(width - 5, 5, "日期：______年____月____日")
    pdf.set_y(top + SIGNATURE_HEIGHT + 2)
