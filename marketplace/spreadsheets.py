"""CSV and Excel in and out: uploaded lists read as numbered rows with a 422 on `file` when unusable, and tables
written as UTF-8 CSV (with a BOM, so Excel reads Chinese) or XLSX (numbers as numbers, a bold header, a totals row).

Every text cell written is inert: text a user typed (a product's name, a reason, an enterprise's name) that starts
like a formula (`=`, `+`, `-`, `@`, a tab or a carriage return) is a string cell in XLSX, never a formula, and gets a
leading apostrophe in CSV, which spreadsheet programs read as "text" (OWASP's CSV injection advice).
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
import zipfile
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import PurePath
from typing import Any

import openpyxl
from flask import Response
from flask_babel import gettext as _
from openpyxl.cell import WriteOnlyCell
from openpyxl.styles import Font
from openpyxl.utils import get_column_letter

from marketplace.errors import DomainError, TooLarge, ValidationFailed
from marketplace.i18n import listed

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
FORMATS = ("csv", "xlsx")
#: A day as office staff write it: 2027-12-31, 2027/12/31, 2027.12.31 or 2027年12月31日 (months and days of one or two
#: digits).
_WRITTEN_DATE = re.compile(r"(?P<y>\d{4})\s*(?:[-/.]|年)\s*(?P<m>\d{1,2})\s*(?:[-/.]|月)\s*(?P<d>\d{1,2})\s*日?")
#: How a text starts that a spreadsheet program would run as a formula (or a DDE call).
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
#: What an upload may hold: columns read of each row (the import templates have a dozen), and bytes once unpacked.
MAX_COLUMNS = 50
MAX_UNPACKED_BYTES = 50 * 2**20


# Writing ---------------------------------------------------------------------------------------------------------

@dataclass
class Table:
    """One sheet: a header, rows of cells (str, int, Decimal, date or None) and an optional totals row."""

    title: str
    header: Sequence[str]
    rows: list[Sequence[Any]] = field(default_factory=list)
    totals: Sequence[Any] | None = None


def _looks_like_a_formula(value: Any) -> bool:
    return isinstance(value, str) and value.startswith(FORMULA_STARTS)


def _csv_cell(value: Any) -> Any:
    if _looks_like_a_formula(value):
        return "'" + value
    if isinstance(value, Decimal):
        return f"{value:.2f}" if value.as_tuple().exponent == -2 else str(value)
    if isinstance(value, dt.date):
        return value.isoformat()
    return "" if value is None else value


def to_csv(table: Table) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow([_csv_cell(name) for name in table.header])
    writer.writerows([_csv_cell(cell) for cell in row] for row in table.rows)
    if table.totals is not None:
        writer.writerow([_csv_cell(cell) for cell in table.totals])
    return ("\ufeff" + out.getvalue()).encode()  # a BOM, so Excel reads the Chinese names as UTF-8


def to_xlsx(*tables: Table) -> bytes:
    book = openpyxl.Workbook(write_only=True)
    for table in tables:
        sheet = book.create_sheet(table.title[:31])  # Excel's limit on a sheet name
        sheet.append([_xlsx_cell(sheet, name, bold=True) for name in table.header])
        for row in table.rows:
            sheet.append([_xlsx_cell(sheet, cell) for cell in row])
        if table.totals is not None:
            sheet.append([_xlsx_cell(sheet, cell, bold=True) for cell in table.totals])
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def _xlsx_cell(sheet: Any, value: Any, bold: bool = False) -> Any:
    """Numbers as numbers with their format (money to the fen, rates to six places), dates as dates, and text that
    looks like a formula as text."""
    formula_like = _looks_like_a_formula(value)
    if not bold and not formula_like and not isinstance(value, (Decimal, dt.date)):
        return value
    cell = WriteOnlyCell(sheet, value=value)
    if formula_like:
        cell.data_type = "s"  # openpyxl took the leading "=" for a formula
    if isinstance(value, Decimal):
        cell.number_format = "#,##0.00" if value.as_tuple().exponent == -2 else "0.0000##"
    elif isinstance(value, dt.date):
        cell.number_format = "yyyy-mm-dd"
    if bold:
        cell.font = Font(bold=True)
    return cell


def download(tables: Table | Sequence[Table], fmt: str, filename: str) -> Response:
    """The table(s) as an attachment `filename`.csv (one table) or .xlsx (a sheet each)."""
    tables = [tables] if isinstance(tables, Table) else list(tables)
    if fmt == "xlsx":
        return Response(to_xlsx(*tables), mimetype=XLSX,
                        headers={"Content-Disposition": f"attachment; filename={filename}.xlsx"})
    [table] = tables
    return Response(to_csv(table), mimetype="text/csv",
                    headers={"Content-Disposition": f"attachment; filename={filename}.csv"})


# Reading ---------------------------------------------------------------------------------------------------------

def too_large(message: str) -> TooLarge:
    return TooLarge(message, {"file": [message]})


def file_error(message: str) -> ValidationFailed:
    return ValidationFailed(message, {"file": [message]})


def text(value: Any) -> str:
    """A cell as the text a user sees: numbers without a trailing '.0', surrounding spaces dropped."""
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value).strip()


def date(value: Any) -> tuple[dt.date | None, str | None]:
    """(date, None) or (None, why not); blank is (None, None). Spreadsheets may hold real dates."""
    if isinstance(value, dt.datetime):
        return value.date(), None
    if isinstance(value, dt.date):
        return value, None
    written = text(value)
    if not written:
        return None, None
    if found := _WRITTEN_DATE.fullmatch(written):
        try:
            return dt.date(int(found["y"]), int(found["m"]), int(found["d"])), None
        except ValueError:
            return None, _("%(value)s is not a day of the calendar.", value=written)
    return None, _("“%(value)s” is not a date; write it as 2027-12-31, 2027/12/31 or 2027年12月31日.", value=written)


def _csv_lines(content: bytes) -> Iterator[Sequence[Any]]:
    try:
        decoded = content.decode("utf-8-sig")  # Excel's "CSV UTF-8" starts with a byte order mark
    except UnicodeDecodeError as error:
        raise file_error(_("The CSV file is not UTF-8 text; save it as “CSV UTF-8” and upload it again.")) from error
    reader = csv.reader(io.StringIO(decoded, newline=""))
    try:
        yield from reader
    except csv.Error as error:
        raise file_error(_("Line %(line)d of the CSV file cannot be read (%(error)s).", line=reader.line_num,
                           error=str(error))) from error


def _unpacked_size(content: bytes, unreadable: str) -> None:
    """Refuse a workbook that unpacks to more than MAX_UNPACKED_BYTES (a zip bomb) before any XML is parsed."""
    try:
        with zipfile.ZipFile(io.BytesIO(content)) as archive:
            unpacked = sum(info.file_size for info in archive.infolist())
    except (zipfile.BadZipFile, OSError, ValueError) as error:
        raise file_error(unreadable) from error
    if unpacked > MAX_UNPACKED_BYTES:
        raise too_large(_("The workbook unpacks to %(size)s MB; at most %(limit)s MB is read.",
                          size=f"{unpacked / 2**20:,.1f}", limit=f"{MAX_UNPACKED_BYTES // 2**20:,}"))


def _xlsx_lines(content: bytes, max_lines: int) -> Iterator[Sequence[Any]]:
    unreadable = _("The file cannot be opened as an Excel workbook; save it as .xlsx and upload it again.")
    _unpacked_size(content, unreadable)
    try:
        workbook = openpyxl.load_workbook(io.BytesIO(content), read_only=True, data_only=True)
    except Exception as error:  # a damaged upload fails anywhere in zipfile, the XML parser or openpyxl
        raise file_error(unreadable) from error
    try:
        sheet = workbook.worksheets[0]
        # The sheet's declared size first: read-only rows are padded to its last column, so a sheet that declares
        # column XFD and row 20,000 would take minutes to walk although it holds two cells.
        rows, columns = sheet.max_row or 0, sheet.max_column or 0
        if columns > MAX_COLUMNS:
            raise too_large(_("The sheet reaches column %(column)s; at most %(max)d columns are read. Delete the "
                              "columns to the right of your data and upload it again.",
                              column=get_column_letter(columns), max=MAX_COLUMNS))
        if rows > max_lines:
            raise too_large(_("The sheet reaches row %(row)s; at most %(max)s rows are read. Delete the rows below "
                              "your data and upload it again.", row=f"{rows:,}", max=f"{max_lines:,}"))
        # Read-only worksheets yield empty rows too, so counting rows gives the spreadsheet's row numbers.
        yield from sheet.iter_rows(max_col=MAX_COLUMNS, values_only=True)
    except DomainError:  # too large, said above
        raise
    except Exception as error:  # read-only mode parses lazily, so damage can surface part-way
        raise file_error(unreadable) from error
    finally:
        workbook.close()


@dataclass(frozen=True)
class Sheet:
    """An upload's data rows as (row number, {column: cell}), and each column's header as the file writes it."""

    rows: list[tuple[int, dict[str, Any]]]
    headers: dict[str, str]


def _header(line: Sequence[Any], required: Sequence[str], optional: Sequence[str],
            aliases: Mapping[str, str], shown: Mapping[str, str]) -> dict[str, int]:
    names = [aliases.get(text(cell).lower(), text(cell).lower()) for cell in line]
    def columns(keys: Iterable[str]) -> str:
        return listed(shown.get(key, key) for key in keys)

    missing = [column for column in required if column not in names]
    if missing:
        raise file_error(_("The header row (row 1) lacks the column(s) %(missing)s; it needs %(columns)s.",
                           missing=columns(missing), columns=columns(required)))
    repeated = [column for column in (*required, *optional) if names.count(column) > 1]
    if repeated:
        raise file_error(_("The header row (row 1) has the column(s) %(columns)s more than once.",
                           columns=columns(repeated)))
    return {column: names.index(column) for column in (*required, *optional) if column in names}


def read_rows(filename: str, content: bytes, required: Sequence[str], max_rows: int,
              optional: Sequence[str] = (), aliases: Mapping[str, str] | None = None,
              shown: Mapping[str, str] | None = None) -> list[tuple[int, dict[str, Any]]]:
    """The non-blank data rows of an uploaded CSV or XLSX as (row number, {column: cell}), by the header row's
    names (any order, any case; other columns ignored; `aliases` maps other headers, such as the Chinese ones, to
    the column names; `shown` names the columns in messages as the reader writes them); 422 on `file` when the file
    is unusable."""
    return read_sheet(filename, content, required, max_rows, optional, aliases, shown).rows


def read_sheet(filename: str, content: bytes, required: Sequence[str], max_rows: int,
               optional: Sequence[str] = (), aliases: Mapping[str, str] | None = None,
               shown: Mapping[str, str] | None = None) -> Sheet:
    """As read_rows, with the headers as the file writes them (for messages that name a column as its reader does)."""
    suffix = PurePath(filename).suffix.lower()
    if suffix not in (".csv", ".xlsx"):
        raise file_error(_("Upload a CSV (.csv) or Excel (.xlsx) file; “%(name)s” is neither.", name=filename))
    if not content.strip():
        raise file_error(_("The file is empty."))
    # Blank lines count too (a sheet of filler rows is work all the same): the header, the data, and as many blank.
    max_lines = 2 * max_rows + 1
    lines = _csv_lines(content) if suffix == ".csv" else _xlsx_lines(content, max_lines)
    header: dict[str, int] | None = None
    rows: list[tuple[int, dict[str, Any]]] = []
    for number, line in enumerate(lines, start=1):
        if number > max_lines:
            raise too_large(_("The file has more than %(max)s lines, blank ones included; at most %(rows)s rows of "
                              "data are read at once. Split it into several files.",
                              max=f"{max_lines:,}", rows=f"{max_rows:,}"))
        if len(line) > MAX_COLUMNS:
            line = line[:MAX_COLUMNS]
        if header is None:
            header = _header(line, required, optional, aliases or {}, shown or {})
            written = {column: text(line[index]) for column, index in header.items()}
            continue
        if all(text(cell) == "" for cell in line):
            continue
        if len(rows) == max_rows:
            raise file_error(_("The file has more than %(max)s rows; split it into several files.",
                               max=f"{max_rows:,}"))
        rows.append((number, {column: line[index] if index < len(line) else None
                              for column, index in header.items()}))
    if header is None:
        raise file_error(_("The file is empty."))
    if not rows:
        raise file_error(_("The file has a header row but no rows of data below it."))
    return Sheet(rows, written)
