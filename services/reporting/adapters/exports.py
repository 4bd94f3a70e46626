"""CSV and XLSX exports of report tables, with bilingual column labels (English / 中文)."""

from __future__ import annotations

import csv
import io
import os
import tempfile
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

import xlsxwriter

LABELS: dict[str, str] = {
    "stage": "Stage / 阶段", "entered": "Entered / 进入", "reached": "Reached at least / 至少到达",
    "current": "Current / 当前", "conversion_from_previous": "Conversion / 转化率",
    "median_hours_in_stage": "Time in stage p50 (h) / 停留时长中位数(小时)",
    "p90_hours_in_stage": "Time in stage p90 (h) / 停留时长P90(小时)",
    "scope": "Scope / 范围", "scope_id": "Who / 对象", "month": "Month / 月份", "metric": "Metric / 指标",
    "target": "Target / 目标", "stretch": "Stretch / 挑战目标", "actual": "Actual / 实际",
    "attainment": "Attainment / 完成率", "variance_rate": "Variance rate / 差异率",
    "stretch_attainment": "Stretch attainment / 挑战完成率", "pace_expected": "Pace (expected by today) / 进度目标",
    "pace_ratio": "Pace ratio / 进度完成率", "forecast": "Run-rate forecast / 预测完成",
    "consultant_id": "Consultant / 销售顾问", "plan_id": "Plan / 方案", "plan_version": "Plan version / 方案版本",
    "mode": "Tier mode / 阶梯方式", "basis": "Basis / 计提基础", "amount": "Amount / 业绩",
    "gate": "Minimum attainment / 最低完成率", "gate_passed": "Gate passed / 达到门槛",
    "commission_minor": "Commission (minor units) / 提成(分)",
    "N": "N (new) / 新", "H": "H (≤7 days) / H级", "A": "A (≤15 days) / A级", "B": "B (≤30 days) / B级",
    "C": "C (2–3 months) / C级", "open": "Open leads / 有望客户", "due_today": "Follow-ups due / 今日应跟进",
    "overdue": "Follow-ups overdue / 逾期未跟进", "on_time_follow_up_rate": "On-time follow-up rate / 按时跟进率",
    "new_leads": "New leads / 新增线索", "follow_ups_done": "Follow-ups done / 已跟进",
    "follow_ups_overdue": "Follow-ups overdue / 逾期", "visits": "Visits / 到店", "test_drives": "Test drives / 试驾",
    "contracts": "Contracts / 成交", "channel": "Channel / 渠道", "leads": "Leads / 线索",
    "conversion": "Conversion / 转化率", "satisfaction": "Satisfaction (0–1) / 满意度",
    "deliveries": "Deliveries / 交车", "loss_requests": "Loss requests / 战败申请",
    "invitations": "Invitations / 邀约", "invited_visits": "Invited visits / 邀约到店",
    "first_visits": "First visits / 首次到店", "second_visits": "Second visits / 二次到店",
    "test_drives_attended": "Test drives attended / 试驾(预约)", "quotes_issued": "Quotes / 报价",
    "quotes_signed": "Quotes signed / 报价成交", "referral_leads": "Referral leads / 转介绍线索",
    "invitation_to_visit_rate": "Invitation → visit / 邀约到店率", "test_drive_rate": "Test-drive rate / 试乘试驾率",
    "visit_to_order_rate": "Visit → order / 到店成交率", "quote_to_contract_rate": "Quote → contract / 报价成交率",
    "average_discount_rate": "Average discount / 平均优惠率",
    "deposit_to_delivery_days": "Deposit → delivery (days) / 订金到交车(天)",
    "referral_rate": "Referral rate / 转介绍率", "second_visit_rate": "Second-visit rate / 二次到店率",
    "financing_approval_rate": "Financing approval / 金融通过率", "points_awarded": "Points awarded / 积分",
    "level": "Row / 维度", "campaign_id": "Campaign id / 活动编号", "code": "Campaign code / 活动代码",
    "name": "Campaign / 推广活动", "kind": "Kind / 类型", "starts_on": "Starts / 开始", "ends_on": "Ends / 结束",
    "budget_minor": "Budget (minor units) / 预算(分)", "valid_leads": "Valid leads / 有效线索",
    "revenue_minor": "Revenue (minor units) / 成交金额(分)", "spend_minor": "Spend (minor units) / 实际花费(分)",
    "cost_per_lead_minor": "Cost per lead / 线索成本(分)",
    "cost_per_valid_lead_minor": "Cost per valid lead / 有效线索成本(分)",
    "cost_per_visit_minor": "Cost per visit / 到店成本(分)", "cost_per_sale_minor": "Cost per sale / 成交成本(分)",
    "roi": "ROI / 投资回报率",
    "team_id": "Team / 团队", "calls": "Calls / 通话", "calls_answered": "Calls answered / 接通",
    "talk_seconds": "Talk time (s) / 通话时长(秒)", "call_backs_due": "Call-backs due / 应回拨",
    "call_backs_in_sla": "Call-backs in time / 及时回拨", "connect_rate": "Connect rate / 接通率",
    "average_talk_seconds": "Average talk time (s) / 平均通话时长(秒)",
    "call_back_sla_rate": "Call-back within SLA / 回拨及时率",
    "financing_declined": "Financing declined / 金融拒绝", "financing_approved": "Financing approved / 金融通过",
    "average_discount_minor": "Average discount (minor units) / 单车平均优惠(分)",
    "day": "Day / 日期", "walk_ins": "First-time visits / 首次到店登记", "walk_ins_recorded": "Recorded / 留档",
    "test_drives_signed": "Test-driven and signed / 试驾签单", "appointments_kept": "Appointments kept / 预约到场",
    "appointments_missed": "No-shows / 爽约", "contracts_with_accessory": "With accessories / 含精品",
    "contracts_with_insurance": "With insurance / 含保险", "contracts_with_financing": "With financing / 含金融",
    "contracts_with_plates": "With plates / 含上牌", "walk_in_record_rate": "Record rate / 留档率",
    "test_drive_to_contract_rate": "Test drive → contract / 试驾签单率", "no_show_rate": "No-show rate / 爽约率",
    "accessory_attach_rate": "Accessory attach / 精品渗透率", "insurance_attach_rate": "Insurance attach / 保险渗透率",
    "financing_attach_rate": "Financing attach / 金融渗透率", "plates_attach_rate": "Plates attach / 上牌渗透率",
    "revenue": "Revenue (minor units) / 成交金额(分)",
}


def label(column: str) -> str:
    return LABELS.get(column, column)


def _cell(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    return value


def to_csv(rows: Iterable[dict[str, Any]], columns: Sequence[str]) -> Iterator[bytes]:
    """UTF-8 with BOM so Excel shows the Chinese labels correctly; yields chunks of about 64 KiB, so an export
    is streamed and memory stays flat whatever its size."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    buffer.write("\ufeff")
    writer.writerow([label(c) for c in columns])
    for row in rows:
        writer.writerow([_cell(row.get(c)) for c in columns])
        if buffer.tell() > 65536:
            yield buffer.getvalue().encode()
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue().encode()


def to_xlsx(rows: Iterable[dict[str, Any]], columns: Sequence[str], *, title: str) -> str:
    """Writes the workbook to a temporary file in xlsxwriter's constant-memory mode (rows are flushed as they are
    written) and returns its path: the caller streams the file and deletes it."""
    handle, path = tempfile.mkstemp(prefix="salesflow-export-", suffix=".xlsx")
    os.close(handle)
    book = xlsxwriter.Workbook(path, {"constant_memory": True})
    sheet = book.add_worksheet(title[:31])
    bold = book.add_format({"bold": True})
    for col, name in enumerate(columns):
        sheet.set_column(col, col, max(12, len(label(name))))
        sheet.write(0, col, label(name), bold)
    for r, row in enumerate(rows, start=1):
        for col, name in enumerate(columns):
            value = _cell(row.get(name))
            sheet.write(r, col, value if isinstance(value, int | float | str) else str(value))
    book.close()
    return path
