"""Products in spreadsheets as a bank's office staff keep them: the export, the import template and the import.

In the Chinese interface the header and the values are Chinese (产品名称, 信用贷, 专精特新中小企业, 可选担保) and the
indicative rate a percentage; in the English one they are the API's field names and values. An import reads
either, and the lists of tiers and regions with any separator office staff use (, ，、; or spaces).

Importing is idempotent: a row that names one of the bank's products (by its 产品编号 / id, or else by its name)
updates that product, and leaves it alone when nothing differs, so a sheet exported, corrected and imported again
never makes a duplicate."""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import marshmallow as ma
from flask_babel import gettext as _
from sqlalchemy import select

from marketplace import db, spreadsheets
from marketplace.errors import DomainError, flatten_messages
from marketplace.i18n import locale_name, percent
from marketplace.orgs import codes
from marketplace.orgs.models import Tier
from marketplace.registry.services import tier_named
from products import bounds
from products.models import GuaranteeNeed, Product, ProductStatus, ProductType
from products.schemas import ProductIn
from products.services import EDITABLE, change_status, create_product, update_product, with_indicative_rates


@dataclass(frozen=True)
class Column:
    key: str
    chinese: str
    english: str = ""  # the header in the English interface: the key itself unless given

    def header(self, chinese: bool) -> str:
        return self.chinese if chinese else (self.english or self.key)


#: The columns a bank fills in, in the template's order; the first eight are required.
IMPORT_COLUMNS = (
    Column("name", "产品名称"), Column("product_type", "产品类型"), Column("amount_min", "最低金额（元）"),
    Column("amount_max", "最高金额（元）"), Column("term_min_months", "最短期限（月）"),
    Column("term_max_months", "最长期限（月）"), Column("rate_spread_bp", "LPR加点（基点）"),
    Column("eligible_tiers", "适用企业类型"),
)
OPTIONAL_COLUMNS = (
    Column("eligible_regions", "适用地区"), Column("guarantee", "担保要求"), Column("description", "产品说明"),
    Column("name_en", "英文名称"),
)
#: The export's columns around those: the product's number first (an import matches rows by it), then the bank.
EXPORT_BEFORE = (Column("id", "产品编号"), Column("bank_id", "银行编号"), Column("bank", "银行"))
EXPORT_AFTER = (Column("indicative_rate", "参考年利率"), Column("status", "状态"), Column("version", "版本"))
REQUIRED = tuple(c.key for c in IMPORT_COLUMNS)
OPTIONAL = ("id",) + tuple(c.key for c in OPTIONAL_COLUMNS)
#: Every header an import understands: the field names and the Chinese headers (with a few common variants).
ALIASES = {c.chinese.lower(): c.key for c in (*EXPORT_BEFORE, *IMPORT_COLUMNS, *OPTIONAL_COLUMNS)} | {
    "产品id": "id", "最低金额": "amount_min", "最高金额": "amount_max", "最短期限": "term_min_months",
    "最长期限": "term_max_months", "利率加点（基点）": "rate_spread_bp", "加点（基点）": "rate_spread_bp",
    "适用地区代码": "eligible_regions", "是否需要担保": "guarantee",
}
#: The export's columns in the English interface (the API's field names).
EXPORT_COLUMNS = tuple(c.key for c in (*EXPORT_BEFORE, *IMPORT_COLUMNS, *OPTIONAL_COLUMNS, *EXPORT_AFTER))
HEADERS_SHOWN = {c.key: c for c in (*EXPORT_BEFORE, *IMPORT_COLUMNS, *OPTIONAL_COLUMNS, *EXPORT_AFTER)}

TYPE_WORDS = {ProductType.CREDIT: "信用贷", ProductType.RENEWAL: "无还本续贷", ProductType.REVOLVING: "随借随还",
              ProductType.TERM: "中长期贷款", ProductType.IP_PLEDGE: "知识产权质押贷", ProductType.PARK: "园区贷"}
TIER_WORDS = {Tier.NONE: "未认定", Tier.INNOVATIVE: "创新型中小企业", Tier.SRDI: "专精特新中小企业",
              Tier.LITTLE_GIANT: "专精特新“小巨人”企业"}
GUARANTEE_WORDS = {GuaranteeNeed.NONE: "无需担保", GuaranteeNeed.OPTIONAL: "可选担保",
                   GuaranteeNeed.REQUIRED: "必须担保"}
STATUS_WORDS = {ProductStatus.DRAFT: "草稿", ProductStatus.PUBLISHED: "已发布", ProductStatus.SUSPENDED: "已暂停",
                ProductStatus.ARCHIVED: "已归档"}
_READ_TYPES = {**{word: kind.value for kind, word in TYPE_WORDS.items()}, "信用": "credit", "中长期": "term",
               "知识产权质押": "ip_pledge", "随借随还贷": "revolving"}
_READ_GUARANTEES = {**{word: need.value for need, word in GUARANTEE_WORDS.items()}, "无": "none", "不需要": "none",
                    "可选": "optional", "需要": "required", "必须": "required", "需担保": "required"}
_LIST_SEPARATORS = re.compile(r"[\s,，;；、]+")
#: The template's example row starts its name with this; an import skips such a row, so a template uploaded with
#: the example still in it lists nothing by mistake.
SAMPLE_MARK = "【示例】"
MAX_IMPORT_ROWS = 2000


def _chinese() -> bool:
    return locale_name() == "zh_Hans"


# Out ---------------------------------------------------------------------------------------------------------------

def products_table(products: list[Product]) -> spreadsheets.Table:
    """Products one a row, in the order given, with their indicative rates, in the reader's language."""
    chinese = _chinese()
    columns = (*EXPORT_BEFORE, *IMPORT_COLUMNS, *OPTIONAL_COLUMNS, *EXPORT_AFTER)
    products = with_indicative_rates(products)
    return spreadsheets.Table(_("products"), [c.header(chinese) for c in columns],
                              [_cells(p, chinese) for p in products])


def _cells(p: Product, chinese: bool) -> tuple[Any, ...]:
    join = "、".join if chinese else ",".join
    return (p.id, p.bank_id, p.bank.display_name, p.name,
            TYPE_WORDS[p.product_type] if chinese else p.product_type.value, p.amount_min, p.amount_max,
            p.term_min_months, p.term_max_months, p.rate_spread_bp,
            join(TIER_WORDS[t] if chinese else t.value for t in p.eligible_tiers),
            join(codes.region_full_name(r) if chinese else r for r in p.eligible_regions),
            GUARANTEE_WORDS[p.guarantee] if chinese else p.guarantee.value, p.description, p.name_en or "",
            percent(p.indicative_rate) if chinese and p.indicative_rate is not None else p.indicative_rate,
            STATUS_WORDS[p.status] if chinese else p.status.value, p.version)


def import_template() -> spreadsheets.Table:
    """The header a bank fills in, with one example row, marked as such and never imported."""
    chinese = _chinese()
    columns = (*IMPORT_COLUMNS, *OPTIONAL_COLUMNS)
    example = (f"{SAMPLE_MARK}专精特新信用贷", TYPE_WORDS[ProductType.CREDIT] if chinese else "credit",
               Decimal("500000.00"), Decimal("10000000.00"), 6, 36, 20,
               "专精特新中小企业、专精特新“小巨人”企业" if chinese else "srdi,little_giant",
               "杭州市、宁波市" if chinese else "3301,3302",
               GUARANTEE_WORDS[GuaranteeNeed.NONE] if chinese else "none",
               "示例行：导入时跳过，可保留或删除。" if chinese else "Example row: skipped on import.",
               "SRDI Credit Loan")
    return spreadsheets.Table(_("products"), [c.header(chinese) for c in columns], [example])


# In ----------------------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class ProductImport:
    rows_total: int
    product_ids: list[int]  # the products the good rows name: made, changed or as they were
    errors: list[dict[str, Any]]
    created: int = 0
    updated: int = 0
    unchanged: int = 0


def import_products(bank_id: int, filename: str, content: bytes, *, publish: bool) -> ProductImport:
    """Create a draft (or, with `publish`, a published product) from each good row of an uploaded sheet, checked by
    the same rules as the API; a row naming one of the bank's products changes that one (or nothing, when it is
    the same). Bad rows change nothing and are reported with their row numbers and the columns as the sheet names
    them."""
    sheet = spreadsheets.read_sheet(filename, content, REQUIRED, MAX_IMPORT_ROWS, OPTIONAL, ALIASES,
                                    shown={key: column.header(_chinese()) for key, column in HEADERS_SHOWN.items()})
    rows = [(number, values) for number, values in sheet.rows
            if not spreadsheets.text(values.get("name")).startswith(SAMPLE_MARK)]
    if not rows:
        raise spreadsheets.file_error(_("The file holds only the template's example row; add your products below it "
                                        "and upload it again."))
    schema, ids, errors = ProductIn(), [], []
    counts = {"created": 0, "updated": 0, "unchanged": 0}
    for number, values in rows:
        try:
            data = schema.load(_as_input(values))
            if problems := bounds.bounds_errors(data):
                raise ma.ValidationError(problems)
            outcome, product = _save(bank_id, values.get("id"), data, publish=publish)
        except ma.ValidationError as error:
            errors.append({"row": number, "message": _message(flatten_messages(error.messages), sheet.headers)})
            continue
        except DomainError as error:
            errors.append({"row": number, "message": _message(error.errors, sheet.headers) if error.errors
                           else error.detail})
            continue
        counts[outcome] += 1
        ids.append(product.id)
    return ProductImport(rows_total=len(rows), product_ids=ids, errors=errors, **counts)


def _save(bank_id: int, written_id: Any, data: dict[str, Any], *, publish: bool) -> tuple[str, Product]:
    """("created" | "updated" | "unchanged", the product) for one good row."""
    existing = _existing(bank_id, spreadsheets.text(written_id), data["name"])
    if existing is None:
        product = create_product(bank_id, data)
        if publish:
            change_status(product, ProductStatus.PUBLISHED)
        return "created", product
    db.lock(existing)
    if all(_same(getattr(existing, name), data.get(name)) for name in EDITABLE if name in data):
        return "unchanged", existing
    product = update_product(existing, data)
    if publish and product.status is ProductStatus.DRAFT:
        change_status(product, ProductStatus.PUBLISHED)
    return "updated", product


def _existing(bank_id: int, written_id: str, name: str) -> Product | None:
    """The bank's product a row names: by its number when the row has one, else its newest version by name."""
    live = Product.status != ProductStatus.ARCHIVED
    if written_id.isdigit():
        found = db.session.scalar(select(Product).where(Product.id == int(written_id), Product.bank_id == bank_id))
        if found is not None:  # the newest version of its family, which is the one to edit
            return db.session.scalar(select(Product).where(Product.family_id == found.family_id, live)
                                     .order_by(Product.version.desc()).limit(1))
    return db.session.scalar(select(Product).where(Product.bank_id == bank_id, Product.name == name, live)
                             .order_by(Product.version.desc()).limit(1))


def _same(stored: Any, given: Any) -> bool:
    if isinstance(stored, list) or isinstance(given, list):
        return sorted(map(str, stored or [])) == sorted(map(str, given or []))
    return stored == given or (stored in (None, "") and given in (None, ""))


def _as_input(values: dict[str, Any]) -> dict[str, Any]:
    """A spreadsheet row as the API's JSON would send it: text, whole numbers as numbers, lists split, Chinese
    values as the API's."""
    data: dict[str, Any] = {}
    for column, value in values.items():
        written = spreadsheets.text(value)
        if column == "id":
            continue
        if column == "eligible_tiers":
            data[column] = [_tier(part) for part in _LIST_SEPARATORS.split(written) if part]
        elif column == "eligible_regions":
            data[column] = [codes.region_prefix_named(part) or part for part in _LIST_SEPARATORS.split(written) if part]
        elif column in ("term_min_months", "term_max_months", "rate_spread_bp"):
            data[column] = int(written) if re.fullmatch(r"[+-]?\d+", written) else written
        elif column in ("guarantee", "description", "name_en") and not written:
            continue  # their defaults
        elif column == "product_type":
            data[column] = _READ_TYPES.get(written, written)
        elif column == "guarantee":
            data[column] = _READ_GUARANTEES.get(written, written)
        elif column in ("amount_min", "amount_max"):
            data[column] = written.replace(",", "").replace("，", "")
        else:
            data[column] = written
    return data


def _tier(written: str) -> str:
    tier = tier_named(written.replace("“", "").replace("”", "").replace('"', ""))
    return tier.value if tier is not None else written


def _message(problems: dict[str, list[str]], headers: dict[str, str]) -> str:
    """Each problem after the column's name as the sheet writes it: "最低金额（元）：…"."""
    chinese = _chinese()

    def column(field: str) -> str:
        key = field.split(".")[0]  # eligible_tiers.0 is the tiers' column
        if key in headers:
            return headers[key]
        return HEADERS_SHOWN[key].header(chinese) if key in HEADERS_SHOWN else key

    choices = {"product_type": TYPE_WORDS, "eligible_tiers": TIER_WORDS, "guarantee": GUARANTEE_WORDS}
    by_column: dict[str, list[str]] = {}
    for field, messages in sorted(problems.items()):
        key = field.split(".")[0]
        if key in choices and field != "eligible_tiers":  # a value not among the choices: name them as written
            words = choices[key].values() if chinese else (member.value for member in choices[key])
            messages = [_("Write one of: %(choices)s.", choices=("、" if chinese else ", ").join(words))]
        by_column.setdefault(column(field), []).extend(messages)
    separator = "：" if chinese else ": "
    return " ".join(f"{name}{separator}{' '.join(dict.fromkeys(messages))}" for name, messages in by_column.items())

