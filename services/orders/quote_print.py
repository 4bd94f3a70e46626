"""The printable quote (报价单): the quote's current revision as one HTML page in Chinese, for the customer to take
home or sign. It shows what the quote holds and nothing more: lines, list prices, the discount and the total, all
as issued (the catalogue's prices of the quote's date, not today's). Every value from the quote is escaped."""

from __future__ import annotations

from html import escape

from services.orders.domain.quote import Quote

KIND_NAMES = {"model": "车型", "trim": "配置", "option": "选装", "accessory": "精品", "insurance": "保险",
              "plates": "上牌", "financing": "金融", "service": "服务"}
STATUS_NAMES = {"issued": "有效", "accepted": "已接受", "expired": "已过期", "signed": "已签约"}

STYLE = """
body { font-family: "Noto Sans CJK SC", "WenQuanYi Zen Hei", sans-serif; margin: 2em; color: #222; }
h1 { font-size: 1.6em; margin-bottom: 0.2em; }
table { border-collapse: collapse; width: 100%; margin-top: 1em; }
th, td { border: 1px solid #999; padding: 0.35em 0.6em; text-align: left; }
td.amount, th.amount { text-align: right; font-variant-numeric: tabular-nums; }
tfoot td { font-weight: bold; }
.meta { width: auto; margin-top: 0.5em; }
.meta td { border: none; padding: 0.1em 0.6em 0.1em 0; }
@media print { body { margin: 0; } }
"""


def money(amount_minor: int, currency: str) -> str:
    """Minor units as the amount printed (¥308,000.00); a negative amount keeps its sign before the symbol."""
    symbol = "¥" if currency == "CNY" else f"{currency} "
    sign = "-" if amount_minor < 0 else ""
    whole, cents = divmod(abs(amount_minor), 100)
    return f"{sign}{symbol}{whole:,}.{cents:02d}"


def print_quote(quote: Quote) -> str:
    currency = quote.currency or ""
    rows = []
    for number, line in enumerate(quote.lines, start=1):
        name = line.description or line.product
        options = "、".join(f"{o.code}（{money(o.price_minor, currency)}）" for o in line.options)
        list_price = money(line.list_price_minor, currency) if line.list_price_minor is not None else "—"
        rows.append(
            f"<tr><td>{number}</td><td>{escape(KIND_NAMES.get(line.kind or '', line.kind or '—'))}</td>"
            f"<td>{escape(name)}<br><small>{escape(line.product)}</small></td><td>{escape(options) or '—'}</td>"
            f"<td class=amount>{line.quantity}</td><td class=amount>{escape(list_price)}</td>"
            f"<td class=amount>{escape(money(line.unit_total_minor, currency))}</td>"
            f"<td class=amount>{escape(money(line.total_minor, currency))}</td></tr>")
    valid_until = quote.valid_until.strftime("%Y-%m-%d %H:%M UTC") if quote.valid_until else "—"
    issued_at = quote.issued_at.strftime("%Y-%m-%d") if quote.issued_at else "—"
    status = STATUS_NAMES.get(quote.status.value, quote.status.value)
    meta = [("报价单号", quote.id), ("版本", str(quote.revision)), ("状态", status), ("报价日期", issued_at),
            ("有效期至", valid_until), ("客户", quote.customer.name or "—"), ("电话", quote.customer.phone or "—"),
            ("销售顾问", quote.consultant_id or "—")]
    meta_rows = "".join(f"<tr><td>{escape(k)}：</td><td>{escape(v)}</td></tr>" for k, v in meta)
    return f"""<!doctype html>
<html lang="zh-CN"><head><meta charset="utf-8"><title>报价单 {escape(quote.id)}</title><style>{STYLE}</style></head>
<body>
<h1>汽车销售报价单</h1>
<table class=meta id=meta>{meta_rows}</table>
<table id=lines>
<thead><tr><th>序号</th><th>类别</th><th>项目</th><th>选装</th><th class=amount>数量</th>
<th class=amount>指导价</th><th class=amount>单价</th><th class=amount>金额</th></tr></thead>
<tbody>{"".join(rows)}</tbody>
<tfoot>
<tr><td colspan=7>小计</td><td class=amount id=subtotal>{escape(money(quote.subtotal_minor, currency))}</td></tr>
<tr><td colspan=7>优惠</td><td class=amount id=discount>{escape(money(-quote.discount_minor, currency))}</td></tr>
<tr><td colspan=7>合计</td><td class=amount id=total>{escape(money(quote.total_minor, currency))}</td></tr>
</tfoot>
</table>
<p>本报价单价格以报价日期有效的价格表为准，有效期至 {escape(valid_until)}。</p>
<p>客户签字：________________　　销售顾问签字：________________</p>
</body></html>
"""
