"""The printable quote (报价单): the quote's current revision as the customer takes it home or signs it, as HTML
(``print_quote``) and as PDF (``quote_pdf.render_quote_pdf``). Both render one view model, ``printed_quote``: the
figures on the paper are the quote's own as issued (the catalogue's prices of the quote's date, not today's; the
subtotal, discount and total its revision recorded), formatted once here. The one figure the quote does not hold,
the deposit due at signing, is the dealership's share of the total (``config/quote_print.json``), computed with
the domain's rounding. Every value from the quote is escaped in the HTML."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from html import escape
from pathlib import Path
from zoneinfo import ZoneInfo

from services.orders.domain.money import share_of
from services.orders.domain.quote import Quote

LETTERHEAD = Path(__file__).resolve().parent / "config" / "quote_print.json"
# A deposit (定金) above 20 % of the contract's amount is not a deposit (Civil Code art. 586): refused on loading.
MAX_DEPOSIT_BP = 2_000

KIND_NAMES = {"model": "车型", "trim": "配置", "colour": "车身颜色", "option": "选装", "accessory": "精品",
              "insurance": "保险", "plates": "上牌", "financing": "金融", "service": "服务"}
STATUS_NAMES = {"issued": "有效", "accepted": "已接受", "expired": "已过期", "signed": "已签约"}
NO_VALUE = "—"
# Who signs the paper, in the order printed: the customer, the consultant, and the dealership with its seal.
SIGNATURES = ("客户签字", "销售顾问签字", "经销商（盖章）")


@dataclass(frozen=True, slots=True)
class Letterhead:
    """Who issues the quote and on which terms: the dealership's, not the quote's."""

    dealer_name: str
    dealer_address: str
    dealer_phone: str
    timezone: ZoneInfo
    deposit_bp: int
    terms: tuple[str, ...]


def load_letterhead(path: Path = LETTERHEAD) -> Letterhead:
    data = json.loads(path.read_text(encoding="utf-8"))
    dealer = data["dealer"]
    deposit_bp = int(data["deposit_bp"])
    if not 0 <= deposit_bp <= MAX_DEPOSIT_BP:
        raise ValueError(f"{path}: deposit_bp must be between 0 and {MAX_DEPOSIT_BP} (20 % of the total)")
    return Letterhead(dealer_name=str(dealer["name"]), dealer_address=str(dealer.get("address", "")),
                      dealer_phone=str(dealer.get("phone", "")), timezone=ZoneInfo(str(data["timezone"])),
                      deposit_bp=deposit_bp, terms=tuple(str(t) for t in data.get("terms", ())))


@dataclass(frozen=True, slots=True)
class PrintedLine:
    """One quote line as printed: every amount already formatted (``—`` where the line has none)."""

    number: int
    kind: str
    name: str
    product: str
    options: str
    quantity: int
    list_price: str  # the catalogue's unit price on the quote's date
    unit_price: str  # what one unit costs on this quote, options included
    discount: str  # taken off the list price for the whole quantity
    total: str


@dataclass(frozen=True, slots=True)
class PrintedTotal:
    key: str  # stable id of the figure (the HTML element's id)
    label: str
    amount: str
    emphasised: bool = False


@dataclass(frozen=True, slots=True)
class PrintedQuote:
    quote_id: str
    title: str
    letterhead: Letterhead
    meta: tuple[tuple[str, str], ...]
    lines: tuple[PrintedLine, ...]
    totals: tuple[PrintedTotal, ...]
    terms: tuple[str, ...]
    signatures: tuple[str, ...] = SIGNATURES


def money(amount_minor: int, currency: str) -> str:
    """Minor units as the amount printed (¥308,000.00); a negative amount keeps its sign before the symbol."""
    symbol = "¥" if currency == "CNY" else f"{currency} "
    sign = "-" if amount_minor < 0 else ""
    whole, cents = divmod(abs(amount_minor), 100)
    return f"{sign}{symbol}{whole:,}.{cents:02d}"


def printed_quote(quote: Quote, letterhead: Letterhead) -> PrintedQuote:
    currency = quote.currency or ""
    pricing = quote.pricing
    deposit = share_of(pricing.total_minor, letterhead.deposit_bp)
    lines = tuple(
        PrintedLine(
            number=number, kind=KIND_NAMES.get(line.kind or "", line.kind or NO_VALUE),
            name=line.description or line.product, product=line.product,
            options="、".join(f"{o.code}（{money(o.price_minor, currency)}）" for o in line.options),
            quantity=line.quantity,
            list_price=money(line.list_price_minor, currency) if line.list_price_minor is not None else NO_VALUE,
            unit_price=money(line.unit_total_minor, currency),
            discount=money(-line.below_list_minor, currency) if line.below_list_minor else NO_VALUE,
            total=money(line.total_minor, currency))
        for number, line in enumerate(quote.lines, start=1))
    totals = []
    if pricing.below_list_minor:
        totals.append(PrintedTotal("list_subtotal", "指导价合计", money(pricing.list_subtotal_minor, currency)))
        totals.append(PrintedTotal("line_discounts", "单项优惠", money(-pricing.below_list_minor, currency)))
    totals += [PrintedTotal("subtotal", "小计", money(pricing.subtotal_minor, currency)),
               PrintedTotal("discount", "整单优惠", money(-pricing.discount_minor, currency)),
               PrintedTotal("total", "合计（应付总额）", money(pricing.total_minor, currency), emphasised=True)]
    if deposit:
        totals += [PrintedTotal("deposit", "定金（签约时支付）", money(deposit, currency)),
                   PrintedTotal("balance", "尾款（交车前付清）", money(pricing.total_minor - deposit, currency))]
    valid_until = _local(quote.valid_until, letterhead, "%Y-%m-%d %H:%M")
    issued_on = _local(quote.issued_at, letterhead, "%Y-%m-%d")
    status = STATUS_NAMES.get(quote.status.value, quote.status.value)
    # The quote's own particulars alternate with the people's, so a two-column layout reads down each column.
    meta = (("报价单号", quote.id), ("客户", quote.customer.name or NO_VALUE), ("报价日期", issued_on),
            ("电话", quote.customer.phone or NO_VALUE), ("有效期至", valid_until),
            ("销售顾问", quote.consultant_id or NO_VALUE), ("版本", f"第 {quote.revision} 版（{status}）"))
    stated = [f"本报价单价格以报价日期（{issued_on}）有效的价格表为准，有效期至 {valid_until}，逾期须重新报价。"]
    if deposit:
        stated.append(f"签订购车合同时支付定金 {money(deposit, currency)}，"
                      f"尾款 {money(pricing.total_minor - deposit, currency)} 于交车前付清。")
    return PrintedQuote(quote_id=quote.id, title="汽车销售报价单", letterhead=letterhead, meta=meta, lines=lines,
                        totals=tuple(totals), terms=(*stated, *letterhead.terms))


def _local(moment: datetime | None, letterhead: Letterhead, fmt: str) -> str:
    """A moment in the dealership's time zone, the one the customer reads the paper in."""
    if moment is None:
        return NO_VALUE
    return moment.astimezone(letterhead.timezone).strftime(fmt)


STYLE = """
body { font-family: "Noto Sans CJK SC", "WenQuanYi Zen Hei", sans-serif; margin: 2em; color: #222; }
h1 { font-size: 1.6em; margin-bottom: 0.2em; }
.dealer { color: #555; }
table { border-collapse: collapse; width: 100%; margin-top: 1em; }
th, td { border: 1px solid #999; padding: 0.35em 0.6em; text-align: left; }
td.amount, th.amount { text-align: right; font-variant-numeric: tabular-nums; }
tfoot td { font-weight: normal; }
tfoot tr.emphasised td { font-weight: bold; }
.meta { width: auto; margin-top: 0.5em; }
.meta td { border: none; padding: 0.1em 0.6em 0.1em 0; }
@media print { body { margin: 0; } }
"""


def print_quote(view: PrintedQuote) -> str:
    rows = "".join(
        f"<tr><td>{line.number}</td><td>{escape(line.kind)}</td>"
        f"<td>{escape(line.name)}<br><small>{escape(line.product)}</small></td>"
        f"<td>{escape(line.options) or NO_VALUE}</td><td class=amount>{line.quantity}</td>"
        f"<td class=amount>{escape(line.list_price)}</td><td class=amount>{escape(line.unit_price)}</td>"
        f"<td class=amount>{escape(line.discount)}</td><td class=amount>{escape(line.total)}</td></tr>"
        for line in view.lines)
    totals = "".join(
        f"<tr{' class=emphasised' if t.emphasised else ''}><td colspan=8>{escape(t.label)}</td>"
        f"<td class=amount id={t.key}>{escape(t.amount)}</td></tr>" for t in view.totals)
    meta_rows = "".join(f"<tr><td>{escape(k)}：</td><td>{escape(v)}</td></tr>" for k, v in view.meta)
    terms = "".join(f"<li>{escape(term)}</li>" for term in view.terms)
    signatures = "　　".join(f"{escape(label)}：________________" for label in view.signatures)
    head = view.letterhead
    page_title = escape(f"报价单 {view.quote_id}")
    dealer = "　".join(escape(part) for part in (head.dealer_address, head.dealer_phone) if part)
    return f"""<!doctype html>
<html lang="zh-CN"><head><meta charset="utf-8"><title>{page_title}</title><style>{STYLE}</style></head>
<body>
<h1>{escape(head.dealer_name)}　{escape(view.title)}</h1>
<p class=dealer>{dealer}</p>
<table class=meta id=meta>{meta_rows}</table>
<table id=lines>
<thead><tr><th>序号</th><th>类别</th><th>项目</th><th>选装</th><th class=amount>数量</th>
<th class=amount>指导价</th><th class=amount>单价</th><th class=amount>优惠</th><th class=amount>金额</th></tr></thead>
<tbody>{rows}</tbody>
<tfoot>{totals}</tfoot>
</table>
<ol id=terms>{terms}</ol>
<p>{signatures}</p>
</body></html>
"""
