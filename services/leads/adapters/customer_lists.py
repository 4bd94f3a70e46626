"""Reading an uploaded customer list (CSV or XLSX) into rows for the bulk import (app/imports.py).

The first row is the header; columns are found by name (English or the usual Chinese headings, any order, any
case; other columns are ignored). ``name`` and ``phone`` are required columns, ``channel`` and ``interest``
optional. Row numbers are the spreadsheet's own (the header is row 1), so a report's "row 17" is the row a person
sees in Excel. Wholly empty rows are skipped (their numbers are not reused). Cells are read as text: a phone typed
as a number (13800001111, or 13800001111.0 from a float cell) becomes its digits.
"""

from __future__ import annotations

import csv
import io
import zipfile
from collections.abc import Iterator, Sequence
from typing import Any, Literal

from openpyxl import load_workbook

from services.leads.app.imports import ListedRow
from shared.domain import InvalidFieldError

FileFormat = Literal["csv", "xlsx"]
MAX_ROWS = 100_000
"""More rows than this in one upload is refused (422): split the file."""

COLUMNS: dict[str, tuple[str, ...]] = {
    "name": ("name", "姓名", "客户姓名", "客户"),
    "phone": ("phone", "mobile", "电话", "手机", "手机号", "联系电话"),
    "channel": ("channel", "渠道", "来源渠道"),
    "interest": ("interest", "意向", "意向车型"),
}
REQUIRED = ("name", "phone")


def read_customer_list(content: bytes, file_format: FileFormat) -> list[ListedRow]:
    """The list's data rows, or InvalidFieldError (field ``file``) when it is no CSV/XLSX or lacks a column."""
    table = _csv_rows(content) if file_format == "csv" else _xlsx_rows(content)
    header = next(table, None)
    if header is None:
        raise InvalidFieldError("file", "is empty: the first row must be the header (name, phone, ...)")
    positions = _columns(header)
    rows: list[ListedRow] = []
    for number, cells in enumerate(table, start=2):
        values = {column: _cell(cells[i]) if i < len(cells) else None for column, i in positions.items()}
        if all(v is None for v in values.values()):
            continue
        if len(rows) >= MAX_ROWS:
            raise InvalidFieldError("file", f"has more than {MAX_ROWS} rows: split it into several uploads")
        rows.append(ListedRow(row_number=number, name=values.get("name"), phone=values.get("phone"),
                              channel=values.get("channel"), interest=values.get("interest")))
    return rows


def _columns(header: Sequence[Any]) -> dict[str, int]:
    names = [(_cell(h) or "").strip().lower() for h in header]
    positions: dict[str, int] = {}
    for column, aliases in COLUMNS.items():
        for i, name in enumerate(names):
            if name in aliases and column not in positions:
                positions[column] = i
    missing = [c for c in REQUIRED if c not in positions]
    if missing:
        raise InvalidFieldError("file", f"the header (row 1) has no {' or '.join(missing)} column; "
                                        f"expected columns: {', '.join(COLUMNS)}")
    return positions


def _cell(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    text = str(value).strip()
    return text or None


def _csv_rows(content: bytes) -> Iterator[Sequence[Any]]:
    try:
        text = content.decode("utf-8-sig")  # Excel writes a BOM in front of UTF-8 CSV
    except UnicodeDecodeError:
        raise InvalidFieldError("file", "is not UTF-8 text (save the CSV as UTF-8)") from None
    return iter(csv.reader(io.StringIO(text)))


def _xlsx_rows(content: bytes) -> Iterator[Sequence[Any]]:
    try:
        workbook = load_workbook(io.BytesIO(content), read_only=True, data_only=True)
    except (zipfile.BadZipFile, KeyError, ValueError, OSError):
        raise InvalidFieldError("file", "is not an XLSX workbook") from None
    sheet = workbook.active
    if sheet is None:
        raise InvalidFieldError("file", "has no worksheet")
    return iter(list(sheet.iter_rows(values_only=True)))
