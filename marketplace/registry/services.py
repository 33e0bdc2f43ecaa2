"""Reading an uploaded certified list, checking it row by row, and applying the rows that pass."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import partial
from typing import Any

import marshmallow as ma
from flask_babel import gettext as _
from sqlalchemy import Select, select
from stdnum.cn import uscc as uscc_code

from marketplace import db, spreadsheets
from marketplace.errors import NotFound
from marketplace.i18n import locale_name
from marketplace.orgs.models import ImportStatus, Tier, TierImport
from marketplace.orgs.schemas import validate_uscc
from marketplace.orgs.services import certify_many

COLUMNS = ("uscc", "tier", "valid_until")
MAX_ROWS = 100_000
#: The provincial lists' own headers.
HEADERS = {"统一社会信用代码": "uscc", "认定等级": "tier", "认定类型": "tier", "有效期至": "valid_until",
           "有效期": "valid_until", "統一社會信用代碼": "uscc", "認定等級": "tier"}
#: The columns as a Chinese list heads them, naming them in a Chinese reader's messages.
CHINESE_HEADERS = {"uscc": "统一社会信用代码", "tier": "认定等级", "valid_until": "有效期至"}
#: The tiers as the province's lists name them (simplified or traditional, with or without the quotation marks around
#: 小巨人), and the marketplace's own codes.
TIER_NAMES = {
    "创新型": Tier.INNOVATIVE, "创新型中小企业": Tier.INNOVATIVE,
    "专精特新": Tier.SRDI, "专精特新中小企业": Tier.SRDI, "省级专精特新中小企业": Tier.SRDI,
    "小巨人": Tier.LITTLE_GIANT, "专精特新小巨人": Tier.LITTLE_GIANT, "专精特新小巨人企业": Tier.LITTLE_GIANT,
    "国家级专精特新小巨人企业": Tier.LITTLE_GIANT, "专精特新重点小巨人企业": Tier.LITTLE_GIANT,
    "未认定": Tier.NONE, "无": Tier.NONE,
    **{member.value: member for member in Tier},
}
_TRADITIONAL = str.maketrans("專創業級國點認無", "专创业级国点认无")


def tier_named(written: str) -> Tier | None:
    """The tier a cell names, however the list writes it; None when it names none."""
    plain = re.sub(r"[\s“”\"'‘’「」]", "", written).translate(_TRADITIONAL).lower()
    return TIER_NAMES.get(plain)


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

def column_names() -> dict[str, str]:
    """Each column as the reader's messages name it: 统一社会信用代码 in Chinese, uscc in English."""
    return CHINESE_HEADERS if locale_name() == "zh_Hans" else {column: column for column in COLUMNS}


def _on(names: Mapping[str, str], column: str, message: str) -> str:
    """A problem after its column's name: "认定等级：…" in Chinese, "tier: …" in English."""
    return f"{names.get(column, column)}{'：' if locale_name() == 'zh_Hans' else ': '}{message}"


def parse_row(row: int, values: Mapping[str, Any], names: Mapping[str, str] | None = None) -> TierRow | str:
    """One data row ({column: cell}) as a TierRow, or the message saying what is wrong with it, each problem after
    its column's name (`names`, else as the reader names it)."""
    problems: list[str] = []
    on = partial(_on, names or column_names())

    code = uscc_code.compact(spreadsheets.text(values.get("uscc")))
    if not code:
        problems.append(on("uscc", _("Missing.")))
    else:
        try:
            validate_uscc(code)
        except ma.ValidationError as error:
            problems.append(on("uscc", " ".join(str(message) for message in error.messages)))

    tier_text = spreadsheets.text(values.get("tier"))
    tier = tier_named(tier_text)
    if tier is None:
        if locale_name() == "zh_Hans":
            tiers = "创新型中小企业、专精特新中小企业、专精特新“小巨人”企业、未认定"
        else:
            codes = ", ".join(member.value for member in Tier)
            tiers = f"创新型中小企业, 专精特新中小企业, 专精特新“小巨人”企业, 未认定 ({codes})"
        problems.append(on("tier", _("“%(value)s” is not a tier; use one of %(tiers)s.", value=tier_text, tiers=tiers)
                               if tier_text else _("Missing; use one of %(tiers)s.", tiers=tiers)))

    valid_until, date_problem = spreadsheets.date(values.get("valid_until"))
    if date_problem:
        problems.append(on("valid_until", date_problem))
    elif valid_until is None and tier not in (None, Tier.NONE):
        problems.append(on("valid_until", _("A certified tier needs the date it is valid until.")))

    if problems:
        return " ".join(problems)
    return TierRow(row=row, uscc=code, tier=tier, valid_until=valid_until)


def check_rows(rows: Iterable[tuple[int, Mapping[str, Any]]], names: Mapping[str, str] | None = None) -> CheckedRows:
    """Every row checked on its own; a USCC listed again is an error there, and its first listing counts. `names`:
    the columns as the file heads them, for the messages."""
    names = names or column_names()
    good: list[TierRow] = []
    errors: list[RowError] = []
    first_row: dict[str, int] = {}
    for row, values in rows:
        parsed = parse_row(row, values, names)
        code = uscc_code.compact(spreadsheets.text(values.get("uscc")))
        first = first_row.setdefault(code, row) if code else row
        if isinstance(parsed, str):
            errors.append(RowError(row, parsed))
        elif first != row:
            errors.append(RowError(row, _on(names, "uscc", _(
                "%(uscc)s appears again in row %(row)d; its first listing, in row %(first)d, is the one that counts.",
                uscc=code, row=row, first=first))))
        else:
            good.append(parsed)
    return CheckedRows(good, errors)


# Reading files ---------------------------------------------------------------------------------------

def read_rows(filename: str, content: bytes) -> list[tuple[int, dict[str, Any]]]:
    """The non-blank data rows of an uploaded list as (row number, {column: cell}); 422 on `file` if unusable."""
    return read_sheet(filename, content).rows


def read_sheet(filename: str, content: bytes) -> spreadsheets.Sheet:
    """The non-blank data rows of an uploaded list as (row number, {column: cell}), with its headers as written;
    422 on `file` if unusable."""
    return spreadsheets.read_sheet(filename, content, COLUMNS, MAX_ROWS, aliases=HEADERS, shown=column_names())


# Applying -------------------------------------------------------------------------------------------

def _display_name(filename: str) -> str:
    # Some browsers send the whole client-side path.
    return re.split(r"[\\/]", filename)[-1][:255]


def import_tier_list(filename: str, content: bytes, *, by_user_id: int) -> TierImport:
    """Apply an uploaded list: each good row certifies its USCC; bad rows change nothing and are recorded."""
    sheet = read_sheet(filename, content)
    rows = sheet.rows
    tier_import = TierImport(filename=_display_name(filename), uploaded_by_id=by_user_id,
                             status=ImportStatus.PROCESSING)
    db.session.add(tier_import)
    db.session.flush()
    checked = check_rows(rows, sheet.headers)
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
