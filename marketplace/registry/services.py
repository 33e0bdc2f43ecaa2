"""Reading an uploaded certified list, checking it row by row, and applying the rows that pass."""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import PurePath
from typing import Any

import marshmallow as ma
import openpyxl
from flask_babel import gettext as _
from sqlalchemy import Select, select
from stdnum.cn import uscc as uscc_code

from marketplace import db
from marketplace.errors import NotFound, ValidationFailed
from marketplace.orgs.models import ImportStatus, Tier, TierImport
from marketplace.orgs.schemas import validate_uscc
from marketplace.orgs.services import certify_many

COLUMNS = ("uscc", "tier", "valid_until")
MAX_ROWS = 100_000
_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


@dataclass(frozen=True)
class TierRow:
    """A row that passed: what `certify` needs, and the line of the file it came from."""

    row: int
    uscc: str
    tier: Tier
    valid_until: dt.date | None


@dataclass(frozen=True)
class RowError:
    row: int
    message: str


@dataclass(frozen=True)
class CheckedRows:
    good: list[TierRow]
    errors: list[RowError]


# Checking rows: plain data in, plain data out ------------------------------------------------------

def _text(value: Any) -> str:
    """A cell as the text a user sees: numbers without a trailing '.0', surrounding spaces dropped."""
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value).strip()


def _date(value: Any) -> tuple[dt.date | None, str | None]:
    """(date, None) or (None, why not); blank is (None, None). Spreadsheets may hold real dates."""
    if isinstance(value, dt.datetime):
        return value.date(), None
    if isinstance(value, dt.date):
        return value, None
    text = _text(value)
    if not text:
        return None, None
    if _ISO_DATE.fullmatch(text):
        try:
            return dt.date.fromisoformat(text), None
        except ValueError:
            return None, _("%(value)s is not a day of the calendar.", value=text)
    return None, _("“%(value)s” is not a date; write it as YYYY-MM-DD, such as 2027-12-31.", value=text)


def parse_row(row: int, values: Mapping[str, Any]) -> TierRow | str:
    """One data row ({column: cell}) as a TierRow, or the message saying what is wrong with it."""
    problems: list[str] = []

    code = uscc_code.compact(_text(values.get("uscc")))
    if not code:
        problems.append("uscc: " + _("Missing."))
    else:
        try:
            validate_uscc(code)
        except ma.ValidationError as error:
            problems.append("uscc: " + " ".join(str(message) for message in error.messages))

    tier_text = _text(values.get("tier")).lower()
    tier = Tier._value2member_map_.get(tier_text)
    if tier is None:
        tiers = ", ".join(member.value for member in Tier)
        problems.append("tier: " + (_("“%(value)s” is not a tier; use one of %(tiers)s.", value=tier_text, tiers=tiers)
                                    if tier_text else _("Missing; use one of %(tiers)s.", tiers=tiers)))

    valid_until, date_problem = _date(values.get("valid_until"))
    if date_problem:
        problems.append("valid_until: " + date_problem)
    elif valid_until is None and tier not in (None, Tier.NONE):
        problems.append("valid_until: " + _("A certified tier needs the date it is valid until."))

    if problems:
        return " ".join(problems)
    return TierRow(row=row, uscc=code, tier=tier, valid_until=valid_until)


def check_rows(rows: Iterable[tuple[int, Mapping[str, Any]]]) -> CheckedRows:
    """Every row checked on its own; a USCC listed again is an error there, and its first listing counts."""
    good: list[TierRow] = []
    errors: list[RowError] = []
    first_row: dict[str, int] = {}
    for row, values in rows:
        parsed = parse_row(row, values)
        code = uscc_code.compact(_text(values.get("uscc")))
        first = first_row.setdefault(code, row) if code else row
        if isinstance(parsed, str):
            errors.append(RowError(row, parsed))
        elif first != row:
            errors.append(RowError(row, "uscc: " + _(
                "%(uscc)s appears again in row %(row)d; its first listing, in row %(first)d, is the one that counts.",
                uscc=code, row=row, first=first)))
        else:
            good.append(parsed)
    return CheckedRows(good, errors)


# Reading files ---------------------------------------------------------------------------------------

def _file_error(message: str) -> ValidationFailed:
    return ValidationFailed(message, {"file": [message]})


def _csv_lines(content: bytes) -> Iterator[Sequence[Any]]:
    try:
        text = content.decode("utf-8-sig")  # Excel's "CSV UTF-8" starts with a byte order mark
    except UnicodeDecodeError as error:
        raise _file_error(_("The CSV file is not UTF-8 text; save it as “CSV UTF-8” and upload it again.")) from error
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        yield from reader
    except csv.Error as error:
        raise _file_error(_("Line %(line)d of the CSV file cannot be read (%(error)s).", line=reader.line_num,
                            error=str(error))) from error


def _xlsx_lines(content: bytes) -> Iterator[Sequence[Any]]:
    unreadable = _("The file cannot be opened as an Excel workbook; save it as .xlsx and upload it again.")
    try:
        workbook = openpyxl.load_workbook(io.BytesIO(content), read_only=True, data_only=True)
    except Exception as error:  # a damaged upload fails anywhere in zipfile, the XML parser or openpyxl
        raise _file_error(unreadable) from error
    try:
        # Read-only worksheets yield empty rows too, so counting rows gives the spreadsheet's row numbers.
        yield from workbook.worksheets[0].iter_rows(values_only=True)
    except Exception as error:  # read-only mode parses lazily, so damage can surface part-way
        raise _file_error(unreadable) from error
    finally:
        workbook.close()


def _header(line: Sequence[Any]) -> dict[str, int]:
    names = [_text(cell).lower() for cell in line]
    missing = [column for column in COLUMNS if column not in names]
    if missing:
        raise _file_error(_("The header row (row 1) lacks the column(s) %(missing)s; it needs %(columns)s.",
                            missing=", ".join(missing), columns=", ".join(COLUMNS)))
    repeated = [column for column in COLUMNS if names.count(column) > 1]
    if repeated:
        raise _file_error(_("The header row (row 1) has the column(s) %(columns)s more than once.",
                            columns=", ".join(repeated)))
    return {column: names.index(column) for column in COLUMNS}


def read_rows(filename: str, content: bytes) -> list[tuple[int, dict[str, Any]]]:
    """The non-blank data rows of an uploaded list as (row number, {column: cell}); 422 on `file` if unusable."""
    suffix = PurePath(filename).suffix.lower()
    if suffix not in (".csv", ".xlsx"):
        raise _file_error(_("Upload a CSV (.csv) or Excel (.xlsx) file; “%(name)s” is neither.", name=filename))
    if not content.strip():
        raise _file_error(_("The file is empty."))
    lines = _csv_lines(content) if suffix == ".csv" else _xlsx_lines(content)
    header: dict[str, int] | None = None
    rows: list[tuple[int, dict[str, Any]]] = []
    for number, line in enumerate(lines, start=1):
        if header is None:
            header = _header(line)
            continue
        if all(_text(cell) == "" for cell in line):
            continue
        if len(rows) == MAX_ROWS:
            raise _file_error(_("The file has more than %(max)s rows; split it into several files.",
                                max=f"{MAX_ROWS:,}"))
        rows.append((number, {column: line[index] if index < len(line) else None
                              for column, index in header.items()}))
    if header is None:
        raise _file_error(_("The file is empty."))
    if not rows:
        raise _file_error(_("The file has a header row but no rows of data below it."))
    return rows


# Applying -------------------------------------------------------------------------------------------

def _display_name(filename: str) -> str:
    # Some browsers send the whole client-side path.
    return re.split(r"[\\/]", filename)[-1][:255]


def import_tier_list(filename: str, content: bytes, *, by_user_id: int) -> TierImport:
    """Apply an uploaded list: each good row certifies its USCC; bad rows change nothing and are recorded."""
    rows = read_rows(filename, content)
    tier_import = TierImport(filename=_display_name(filename), uploaded_by_id=by_user_id,
                             status=ImportStatus.PROCESSING)
    db.session.add(tier_import)
    db.session.flush()
    checked = check_rows(rows)
    certify_many([(row.uscc, row.tier, row.valid_until) for row in checked.good], by_user_id=by_user_id,
                 source_import_id=tier_import.id)
    tier_import.rows_total = len(rows)
    tier_import.rows_ok = len(checked.good)
    tier_import.rows_failed = len(checked.errors)
    tier_import.errors = [{"row": error.row, "message": error.message} for error in checked.errors]
    tier_import.status = ImportStatus.COMPLETED
    tier_import.finished_at = db.utcnow()
    db.session.flush()
    return tier_import


def imports_newest_first() -> Select:
    return select(TierImport).order_by(TierImport.id.desc())


def get_import(import_id: int) -> TierImport:
    tier_import = db.session.get(TierImport, import_id)
    if tier_import is None:
        raise NotFound(_("No tier list import %(id)d.", id=import_id))
    return tier_import
