"""Reading customer lists (CSV/XLSX) and the dry run's prediction of the capture's decision (app/imports.py);
the import itself against the real service: tests/e2e/test_leads_import.py."""

from __future__ import annotations

import io

import openpyxl
import pytest

from services.leads.adapters.customer_lists import read_customer_list
from services.leads.app.commands import CaptureLead
from services.leads.app.imports import FileEffects, PhoneFacts, predict, row_key
from services.leads.domain.lead import capture_fields
from shared.domain import InvalidFieldError


def workbook(*rows: list[object]) -> bytes:
    book = openpyxl.Workbook()
    sheet = book.active
    assert sheet is not None
    for row in rows:
        sheet.append(row)
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


def test_an_xlsx_list_is_read_by_header_name_with_spreadsheet_row_numbers() -> None:
    content = workbook(["意向", "手机", "姓名", "notes"], ["Model Y", 13800001111, "张三", "x"], [None, None, None],
                       [None, 13800002222.0, "李四", None])
    rows = read_customer_list(content, "xlsx")
    assert [(r.row_number, r.name, r.phone, r.interest) for r in rows] == [
        (2, "张三", "13800001111", "Model Y"), (4, "李四", "13800002222", None)]


def test_a_csv_list_with_a_bom_is_read() -> None:
    rows = read_customer_list("\ufeffName,Phone,Channel\n王五, 139 0000 1111 ,website\n".encode(), "csv")
    assert [(r.row_number, r.name, r.phone, r.channel) for r in rows] == [(2, "王五", "139 0000 1111", "website")]


@pytest.mark.parametrize(("content", "file_format", "reason"), [
    (b"name,mobile number\nx,1\n", "csv", "no phone column"),
    (b"", "csv", "is empty"),
    (b"\xff\xfe not utf-8", "csv", "not UTF-8"),
    (b"PK not really a zip", "xlsx", "not an XLSX workbook"),
])
def test_a_file_that_is_no_list_is_refused_naming_the_file(content: bytes, file_format: str, reason: str) -> None:
    with pytest.raises(InvalidFieldError) as refused:
        read_customer_list(content, file_format)  # type: ignore[arg-type]
    assert refused.value.field == "file"
    assert reason in refused.value.reason


def _row(name: str, phone: str) -> tuple[CaptureLead, str, str]:
    fields = capture_fields(name=name, phone=phone, channel="website", interest=None, known_channels={"website"})
    key = row_key(fields)
    return CaptureLead(name=name, phone=phone, channel="website", source_system="customer-import",
                       external_id=key), fields.phone, key


def test_the_dry_run_carries_the_files_own_rows_forward() -> None:
    new, new_phone, _ = _row("张三", "13800001111")
    same_person_again, _, _ = _row("张三", "138 0000 1111")  # the same row content once normalised
    other_name, _, _ = _row("张太太", "13800001111")
    known, known_phone, _ = _row("老客户", "13800002222")
    known_again, _, _ = _row("老客户的妻子", "13800002222")
    facts = PhoneFacts(customer_phones=frozenset({known_phone}))
    effects = FileEffects()
    outcomes = [predict(n, capture, capture_fields(name=capture.name, phone=capture.phone, channel="website",
                                                   interest=None, known_channels={"website"}), facts, effects).outcome
                for n, capture in enumerate((new, same_person_again, other_name, known, known_again), start=2)]
    assert outcomes == ["new", "already_imported", "duplicate", "reactivation", "duplicate"]
    assert new_phone in effects.created_phones


def test_a_row_imported_before_or_of_an_open_lead_is_predicted_so() -> None:
    imported, _, imported_key = _row("张三", "13800001111")
    opened, open_phone, _ = _row("李四", "13800003333")
    facts = PhoneFacts(open_phones=frozenset({open_phone}), imported_keys=frozenset({imported_key}))
    effects = FileEffects()
    fields = {c: capture_fields(name=c.name, phone=c.phone, channel="website", interest=None,
                                known_channels={"website"}) for c in (imported, opened)}
    assert predict(2, imported, fields[imported], facts, effects).outcome == "already_imported"
    assert predict(3, opened, fields[opened], facts, effects).outcome == "duplicate"
