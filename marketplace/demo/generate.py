"""A plausible Zhejiang at any size, for benchmarks and demos: `flask demo generate`.

It fills an empty, migrated database with banks and guarantee agencies, enterprises certified through the tier
registry, a catalogue of products, 总对总 agreements with their history (requests and their ranked offers,
applications, batches, guarantees, loans, repayments, defaults and recoveries) and a ledger topped up to the
postings asked for.

Fast, because plain rows go in with bulk Core inserts. Faithful where money moves: offers are priced and ranked by
the matching core (`marketplace.matching`, `marketplace.fees.rules`); fees are computed as
`guarantees.settlement.charge_fee` computes them and posted through `post_many`; defaults and recoveries go through
the loan-event service a bank's report takes (`record_event` → `settle_default` / `settle_recovery`); risk pools
are funded through `settlement.deposit`; and the top-up posts agencies' fee entries through `post_many`. Nothing
bypasses the ledger's checks or triggers, so `flask ledger verify` comes out clean.

Deterministic: the same seed, sizes and as-of day give the same rows, ids included, on a fresh database (not the
moments rows were written, nor password hashes). Each phase draws from its own random stream, so asking for more
products leaves the enterprises as they were.
"""

from __future__ import annotations

import bisect
import datetime as dt
import heapq
import itertools
import math
import random
import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from decimal import ROUND_UP, Decimal
from functools import lru_cache
from typing import Any

from flask import current_app
from sqlalchemy import func, insert, select, text, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from stdnum.cn import uscc as uscc_code

from guarantees.models import (
    Agreement,
    AgreementStatus,
    Batch,
    BatchStatus,
    Guarantee,
    GuaranteeStatus,
    PoolDeposit,
    RiskPool,
)
from guarantees.services import create_agreement, create_risk_pool
from guarantees.settlement import deposit
from marketplace import db
from marketplace.audit import trail as audit
from marketplace.auth.models import Role, User
from marketplace.auth.services import hash_password, system_user
from marketplace.dates import SHANGHAI, business_today, working_day, working_days_after
from marketplace.demo import DEMO_PASSWORD
from marketplace.fees import rules
from marketplace.fees.models import FeeRule
from marketplace.fees.services import create_rule
from marketplace.financing import schedule
from marketplace.financing.loans import record_event
from marketplace.financing.matching import CANDIDATE_LIMIT, OFFER_LIMIT
from marketplace.financing.models import (
    Application,
    ApplicationStatus,
    FinancingRequest,
    Loan,
    LoanEvent,
    LoanEventType,
    LoanStatus,
    Offer,
    RequestStatus,
)
from marketplace.financing.reasons import stored
from marketplace.ledger import summaries
from marketplace.ledger.models import Account, EntryKind, JournalEntry, Party, Posting, Purpose
from marketplace.ledger.posting import FISCAL_FUND_ID, Entry, post_many
from marketplace.lpr.models import LprRate
from marketplace.matching import (
    AgreementFacts,
    Candidate,
    Need,
    OfferTerms,
    Rates,
    explain,
    guarantee_terms,
    rank_offers,
)
from marketplace.money import FEN
from marketplace.orgs import codes
from marketplace.orgs.models import (
    Agency,
    AgencyKind,
    Bank,
    Enterprise,
    EnterpriseSize,
    ImportStatus,
    Organization,
    OrgKind,
    Tier,
    TierCertification,
    TierImport,
)
from marketplace.scheduler.jobs import DEFAULT_AFTER_DAYS
from products.models import GuaranteeNeed, Product, ProductRegion, ProductStatus, ProductTier, ProductType

DEFAULT_SEED = 7
HISTORY_MONTHS = 36
#: Rows per INSERT statement (PostgreSQL) or executemany (SQLite).
CHUNK = 10_000
#: Entries per post_many call and commit, as the ledger benchmark posts them.
LEDGER_BATCH = 1_000
#: Products drawn at random, per historical request, as the catalogue it was matched against: the real matching
#: walks an index; a sample keeps the generator's cost flat at any catalogue size.
CANDIDATE_SAMPLE = 400
ZERO = Decimal("0.00")


class Weighted:
    """Values drawn in proportion to their weights, for the hot loops (the cumulative weights are summed once)."""

    def __init__(self, pairs: Iterable[tuple[Any, float]]) -> None:
        pairs = list(pairs)
        self.values = [value for value, _ in pairs]
        self.cumulative = list(itertools.accumulate(weight for _, weight in pairs))

    def pick(self, rng: random.Random) -> Any:
        return rng.choices(self.values, cum_weights=self.cumulative)[0]


# The province ---------------------------------------------------------------------------------------------------

#: Each of Zhejiang's 11 prefecture-level cities' weight for its share of the province's SME lending (roughly by
#: industrial output); their names and districts come from the province's code list (marketplace/orgs/data).
CITY_WEIGHTS = {"3301": 26, "3302": 22, "3303": 10, "3304": 8, "3305": 5, "3306": 8, "3307": 7, "3308": 2, "3309": 1,
                "3310": 9, "3311": 2}


def _short(name: str) -> str:
    """A division's name as it reads inside another name: 杭州市 → 杭州 (杭州银行), 萧山区 → 萧山 (萧山农商银行)."""
    return name[:-1] if name.endswith(("市", "区", "县")) else name


def _short_en(name: str) -> str:
    """Xiaoshan District → Xiaoshan, Rui'an City → Rui'an."""
    return name.rsplit(" ", 1)[0] if name.endswith((" District", " County", " City")) else name


#: (prefix, name, 中文名 without 市, weight, its districts and counties), from the code list.
CITIES: tuple[tuple[str, str, str, int, tuple[str, ...]], ...] = tuple(
    (city.heading.code[:4], city.heading.name_en or city.heading.code, _short(city.heading.name),
     CITY_WEIGHTS[city.heading.code[:4]], tuple(county.code for county in city.codes)) for city in codes.cities())
CITY = {prefix: (en, zh) for prefix, en, zh, _weight, _districts in CITIES}
#: Counties and districts with a rural commercial bank and a financing guarantee company of their own.
COUNTY_CODES = ("330109", "330110", "330111", "330112", "330212", "330282", "330281", "330206", "330381", "330382",
                "331081", "331082", "330681", "330603", "330604", "330782", "330783", "330784", "330481", "330483",
                "330522", "330521", "330523", "330881", "331181")
COUNTIES = tuple((code, _short_en(codes.regions()[code].name_en or code), _short(codes.regions()[code].name))
                 for code in COUNTY_CODES)
#: (code, name, 中文名, home region, weight): state banks' provincial branches, joint-stock banks' Hangzhou
#: branches, the province's city commercial banks, then rural commercial banks (from COUNTIES) and village banks.
BANKS = (
    ("ICBC-ZJ", "ICBC Zhejiang", "工商银行浙江省分行", "33", 10),
    ("ABC-ZJ", "Agricultural Bank of China Zhejiang", "农业银行浙江省分行", "33", 9),
    ("CCB-ZJ", "China Construction Bank Zhejiang", "建设银行浙江省分行", "33", 9),
    ("BOC-ZJ", "Bank of China Zhejiang", "中国银行浙江省分行", "33", 8),
    ("BOCOM-ZJ", "Bank of Communications Zhejiang", "交通银行浙江省分行", "33", 5),
    ("PSBC-ZJ", "Postal Savings Bank Zhejiang", "邮储银行浙江省分行", "33", 4),
    ("CZB", "China Zheshang Bank", "浙商银行", "33", 6),
    ("CMB-HZ", "China Merchants Bank Hangzhou", "招商银行杭州分行", "33", 5),
    ("CITIC-HZ", "China CITIC Bank Hangzhou", "中信银行杭州分行", "33", 3),
    ("SPDB-HZ", "SPD Bank Hangzhou", "浦发银行杭州分行", "33", 3),
    ("CIB-HZ", "Industrial Bank Hangzhou", "兴业银行杭州分行", "33", 3),
    ("CMBC-HZ", "China Minsheng Bank Hangzhou", "民生银行杭州分行", "33", 3),
    ("CEB-HZ", "China Everbright Bank Hangzhou", "光大银行杭州分行", "33", 2),
    ("HXB-HZ", "Hua Xia Bank Hangzhou", "华夏银行杭州分行", "33", 2),
    ("PAB-HZ", "Ping An Bank Hangzhou", "平安银行杭州分行", "33", 2),
    ("CGB-HZ", "China Guangfa Bank Hangzhou", "广发银行杭州分行", "33", 2),
    ("HZB", "Bank of Hangzhou", "杭州银行", "3301", 6),
    ("NBB", "Bank of Ningbo", "宁波银行", "3302", 6),
    ("TZB", "Taizhou Bank", "台州银行", "3310", 4),
    ("TLB", "Zhejiang Tailong Commercial Bank", "浙江泰隆商业银行", "3310", 4),
    ("MTB", "Zhejiang Mintai Commercial Bank", "浙江民泰商业银行", "3310", 3),
    ("CZCB", "Zhejiang Chouzhou Commercial Bank", "浙江稠州商业银行", "3307", 3),
    ("WZB", "Bank of Wenzhou", "温州银行", "3303", 2),
    ("JXB", "Bank of Jiaxing", "嘉兴银行", "3304", 2),
    ("HUZB", "Bank of Huzhou", "湖州银行", "3305", 1),
    ("SXB", "Bank of Shaoxing", "绍兴银行", "3306", 2),
    ("JHB", "Bank of Jinhua", "金华银行", "3307", 1),
    ("HZURCB", "Hangzhou United Rural Commercial Bank", "杭州联合农村商业银行", "3301", 3),
    *((f"RCB-{en.replace(chr(39), '').upper()}", f"{en} Rural Commercial Bank", f"{zh}农商银行", code, 1)
      for code, en, zh in COUNTIES),
)
#: (code, name, 中文名, home region, provincial): provincial agencies (the re-guarantors), one government financing
#: guarantee company per city, then county ones.
AGENCIES = (
    ("ZJRG", "Zhejiang Provincial Financing Re-guarantee", "浙江省融资再担保有限公司", "33", True),
    ("ZJGG", "Zhejiang Guarantee Group", "浙江省担保集团有限公司", "33", True),
    *((f"FG-{en.upper()}", f"{en} Financing Guarantee", f"{zh}市融资担保有限公司", prefix, False)
      for prefix, en, zh, _weight, _districts in CITIES),
    *((f"FG-{en.replace(chr(39), '').upper()}", f"{en} Financing Guarantee", f"{zh}融资担保有限公司", code, False)
      for code, en, zh in COUNTIES),
)
#: Risk-compensation pools: the province's, and those of the cities that run their own (Lishui's is small, capped
#: per loss, and runs short: its claims wait for the next deposit).
POOLS = (("33", "浙江省专精特新风险补偿资金池", "Zhejiang SRDI Risk Compensation Pool", None, 4.0),
         ("3301", "杭州市风险补偿资金池", "Hangzhou Risk Compensation Pool", None, 2.0),
         ("3302", "宁波市风险补偿资金池", "Ningbo Risk Compensation Pool", None, 2.0),
         ("3303", "温州市风险补偿资金池", "Wenzhou Risk Compensation Pool", None, 1.0),
         ("3306", "绍兴市风险补偿资金池", "Shaoxing Risk Compensation Pool", None, 1.0),
         ("3311", "丽水山区风险补偿资金池", "Lishui Mountain-Area Risk Pool", Decimal("500000.00"), 0.15))

#: GB/T 4754-2017 industries SRDI enterprises cluster in: (code, English, 中文, weight).
INDUSTRIES = (("C3811", "Motors", "电机", 5), ("C3824", "Power Electronics", "电力电子", 4),
              ("C3825", "Photovoltaic Equipment", "光伏设备", 3), ("C3831", "Cables", "电线电缆", 2),
              ("C3841", "Lithium Battery", "锂电池", 3), ("C3976", "Photonics", "光电", 4),
              ("C3973", "Integrated Circuits", "集成电路", 3), ("C3981", "Electronic Components", "电子元件", 4),
              ("C4011", "Industrial Automation", "工业自动化", 4),
              ("C4021", "Environmental Instruments", "环境监测仪器", 2),
              ("C3484", "Precision Parts", "精密零部件", 6), ("C3491", "Industrial Robots", "工业机器人", 2),
              ("C3443", "Valves", "阀门", 3), ("C3670", "Auto Parts", "汽车零部件", 6),
              ("C2710", "Pharmaceutical", "医药", 2), ("C3581", "Medical Devices", "医疗器械", 3),
              ("C2929", "Plastic Parts", "塑料制品", 3), ("C3523", "Plastics Machinery", "塑料机械", 2),
              ("C3562", "Semiconductor Equipment", "半导体设备", 2), ("C3874", "Smart Lighting", "智能照明", 2),
              ("I6513", "Software", "软件", 5), ("I6531", "Systems Integration", "信息系统集成", 3),
              ("M7320", "Engineering Research", "工程技术研究", 2))
#: Characters of enterprise names (字号), with their pinyin.
BRAND = (("恒", "heng"), ("泰", "tai"), ("华", "hua"), ("信", "xin"), ("达", "da"), ("瑞", "rui"), ("科", "ke"),
         ("精", "jing"), ("创", "chuang"), ("宏", "hong"), ("盛", "sheng"), ("博", "bo"), ("源", "yuan"),
         ("康", "kang"), ("力", "li"), ("通", "tong"), ("维", "wei"), ("鑫", "xin"), ("佳", "jia"), ("正", "zheng"),
         ("安", "an"), ("中", "zhong"), ("远", "yuan"), ("海", "hai"), ("天", "tian"), ("永", "yong"), ("兴", "xing"),
         ("德", "de"), ("锐", "rui"), ("捷", "jie"), ("航", "hang"), ("微", "wei"), ("智", "zhi"), ("光", "guang"),
         ("联", "lian"), ("丰", "feng"), ("凯", "kai"), ("昊", "hao"), ("嘉", "jia"), ("隆", "long"))
#: Of every 50 enterprises: 2 little giants, 11 provincial SRDI, 22 innovative SMEs, 15 uncertified (about the
#: province's gradient: a few thousand little giants and SRDI firms on tens of thousands of innovative SMEs).
TIER_PATTERN = ([Tier.LITTLE_GIANT] * 2 + [Tier.SRDI] * 11 + [Tier.INNOVATIVE] * 22 + [Tier.NONE] * 15)
#: Size mix per tier (micro, small, medium), and each size's figures under the MIIT SME classification
#: (工信部联企业〔2011〕300号, industry): employees and annual revenue (yuan).
SIZES = {Tier.NONE: (30, 55, 15), Tier.INNOVATIVE: (15, 60, 25), Tier.SRDI: (3, 50, 47), Tier.LITTLE_GIANT: (0, 20, 80)}
SIZE_FIGURES = {EnterpriseSize.MICRO: ((5, 19), (500_000, 3_000_000)),
                EnterpriseSize.SMALL: ((20, 299), (3_000_000, 20_000_000)),
                EnterpriseSize.MEDIUM: ((300, 999), (20_000_000, 400_000_000))}
#: R&D spending as a share of revenue, by tier (SRDI certification asks for at least 3 %).
RD_SHARE = {Tier.NONE: (0.005, 0.05), Tier.INNOVATIVE: (0.03, 0.08), Tier.SRDI: (0.03, 0.10),
            Tier.LITTLE_GIANT: (0.05, 0.15)}
#: What an enterprise of each size asks to borrow (yuan).
ASKS = {EnterpriseSize.MICRO: (100_000, 2_000_000), EnterpriseSize.SMALL: (300_000, 10_000_000),
        EnterpriseSize.MEDIUM: (1_000_000, 30_000_000)}
#: How likely a generated enterprise of each tier borrows through the marketplace.
BORROWING = {Tier.NONE: 1.0, Tier.INNOVATIVE: 1.5, Tier.SRDI: 3.0, Tier.LITTLE_GIANT: 4.0}
REQUEST_TERMS = (6, 12, 12, 12, 12, 18, 24, 24, 36, 36, 48, 60, 84, 120)
PURPOSES = ("Working capital for raw materials · 原材料流动资金", "A new CNC machining line · 新增数控加工线",
            "R&D of the next product generation · 新一代产品研发",
            "Patent-backed capacity expansion · 专利成果产业化扩产",
            "Renewal of a maturing loan · 到期贷款续贷", "Pre-shipment finance for export orders · 出口订单备货",
            "Automation upgrade · 机器换人技术改造", "A new plant in the industrial park · 园区新厂房建设",
            "Green retrofit of the production line · 产线绿色化改造",
            "Payroll and suppliers before the peak season · 旺季备货周转")
DECLINES = ("Debt ratio above the bank's limit for the industry.", "Cash flow does not cover the repayments.",
            "Credit report shows recent late payments.", "Collateral valuation too low for the amount.",
            "The industry is outside the bank's lending plan this quarter.")
EXCLUSIONS = ("Related-party exposure above the agency's limit.", "Enterprise under a tax-credit downgrade.",
              "Duplicate of a loan guaranteed elsewhere.", "Collateral valuation out of date.")


@dataclass(frozen=True)
class Shape:
    """What a bank's product of one type looks like."""

    name: str
    zh: str
    weight: int
    amount_min: tuple[int, int]
    amount_max: tuple[int, int]
    term_min: tuple[int, ...]
    term_max: tuple[int, ...]
    spread_bp: tuple[int, int]
    #: Weights of none, optional and required.
    guarantee: tuple[int, int, int]


SHAPES = {
    ProductType.CREDIT: Shape("SRDI Credit Loan", "专精特新信用贷", 30, (100_000, 1_000_000), (1_000_000, 10_000_000),
                              (3, 6, 12), (12, 24, 36), (0, 150), (60, 30, 10)),
    ProductType.RENEWAL: Shape("Renewal Without Repayment", "无还本续贷", 14, (500_000, 3_000_000),
                               (5_000_000, 30_000_000), (12,), (12, 24, 36), (10, 120), (30, 50, 20)),
    ProductType.REVOLVING: Shape("Draw-and-Repay Line", "随借随还", 16, (100_000, 500_000), (1_000_000, 5_000_000),
                                 (1, 3), (6, 12), (30, 180), (50, 40, 10)),
    ProductType.TERM: Shape("Medium and Long-Term Loan", "中长期贷", 14, (1_000_000, 5_000_000),
                            (10_000_000, 50_000_000), (12, 24, 36), (60, 84, 120), (-20, 80), (20, 40, 40)),
    ProductType.IP_PLEDGE: Shape("IP Pledge Loan", "知识产权质押贷", 12, (300_000, 1_000_000), (5_000_000, 30_000_000),
                                 (6, 12), (24, 36, 60), (20, 150), (30, 50, 20)),
    ProductType.PARK: Shape("Park Loan", "园区贷", 14, (300_000, 1_000_000), (3_000_000, 10_000_000), (6, 12),
                            (12, 24, 36), (20, 120), (20, 40, 40)),
}
VARIANTS = (("", ""), (" Plus", "升级版"), (" Express", "快贷"), (" Growth", "成长贷"), (" Innovation", "创新版"),
            (" Green", "绿色版"), (" Digital", "数智版"))
#: Eligible tiers of products, with weights; a few products are open to uncertified SMEs too.
PRODUCT_TIERS = Weighted(((("innovative", "srdi", "little_giant"), 35), (("srdi", "little_giant"), 33),
                          (("little_giant",), 7), (("innovative",), 5), (("innovative", "srdi"), 8),
                          (("none", "innovative", "srdi", "little_giant"), 12)))
#: How a generated product's description names its tiers and its guarantee, in Chinese.
TIER_WORDS = {"none": "中小企业", "innovative": "创新型中小企业", "srdi": "专精特新中小企业",
              "little_giant": "专精特新“小巨人”企业"}
GUARANTEE_WORDS = {"none": "无需担保", "optional": "可选融资担保", "required": "须由融资担保机构担保"}
PRODUCT_TYPES = Weighted((product_type, shape.weight) for product_type, shape in SHAPES.items())
GUARANTEES = {product_type: Weighted(zip((GuaranteeNeed.NONE, GuaranteeNeed.OPTIONAL, GuaranteeNeed.REQUIRED),
                                         shape.guarantee, strict=True)) for product_type, shape in SHAPES.items()}
#: The LPR as the PBoC changed it (effective day, 1-year, 5-year); published on the 20th of every month.
LPR_CHANGES = ((dt.date(2022, 8, 22), "0.0365", "0.0430"), (dt.date(2023, 6, 20), "0.0355", "0.0420"),
               (dt.date(2023, 8, 21), "0.0345", "0.0420"), (dt.date(2024, 2, 20), "0.0345", "0.0395"),
               (dt.date(2024, 7, 22), "0.0335", "0.0385"), (dt.date(2024, 10, 21), "0.0310", "0.0360"),
               (dt.date(2025, 5, 20), "0.0300", "0.0350"))
#: Loss shares of agreements (agency, bank, re-guarantee, risk pool): Anhui's "4321", the default split of
#: 国融担〔2020〕23号, the demo's, and a plain bank-agency split.
SHARES = ((("0.40", "0.20", "0.30", "0.10"), 3), (("0.40", "0.20", "0.20", "0.20"), 3),
          (("0.60", "0.20", "0", "0.20"), 2), (("0.80", "0.20", "0", "0"), 1))


class GenerationRefused(RuntimeError):
    """The generator will not write here: production, or a database that already holds a marketplace."""


# Small helpers ----------------------------------------------------------------------------------------------------

def _log_uniform(rng: random.Random, low: float, high: float, step: int) -> Decimal:
    """An amount between low and high, uniform on a log scale, rounded to `step` yuan."""
    value = 10 ** rng.uniform(math.log10(low), math.log10(high))
    return Decimal(max(step, round(value / step) * step)).quantize(FEN)


def _round(amount: Decimal, step: int) -> Decimal:
    """`amount` to the nearest `step` yuan (never zero)."""
    return (max(Decimal(1), (amount / step).quantize(Decimal(1))) * step).quantize(FEN)


def _at(day: dt.date, hour: int, minute: int = 0) -> dt.datetime:
    """A moment of a business day (Asia/Shanghai), as the UTC timestamp the database keeps."""
    return dt.datetime.combine(day, dt.time(hour, minute), tzinfo=SHANGHAI).astimezone(dt.UTC)


@lru_cache(maxsize=8192)
def _works(day: dt.date) -> bool:
    return working_day(day)[0]


def _working(day: dt.date) -> dt.date:
    """`day`, or the next working day after it."""
    while not _works(day):
        day += dt.timedelta(days=1)
    return day


def _weighted(rng: random.Random, pairs: Sequence[tuple[Any, float]]) -> Any:
    return Weighted(pairs).pick(rng)


def _uscc(region: str, ordinal: int) -> str:
    """A valid enterprise USCC registered in `region`: 9 1, the region, "MA" (codes issued since 2015), seven
    characters that are unique per ordinal (a bijection of it, so they look random) and the mod-31 check."""
    alphabet = "0123456789ABCDEFGHJKLMNPQRTUWXY"
    n = (ordinal * 1_000_003 + 7_777_777) % 31 ** 7
    serial = ""
    for _ in range(7):
        n, digit = divmod(n, 31)
        serial = alphabet[digit] + serial
    base = f"91{region}MA{serial}"
    return base + uscc_code.calc_check_digit(base)


def _insert(table: Any, rows: list[dict[str, Any]], returning: bool = False) -> list[int]:
    """Bulk INSERT of `rows` in chunks; with `returning`, the new ids in the order of `rows`.

    On PostgreSQL each chunk is one INSERT … SELECT FROM unnest(one array per column), as the ledger posts a batch:
    the server takes ten thousand rows in one statement. (SQLAlchemy's executemany sends one INSERT per row there,
    and its multi-row INSERT … RETURNING makes psycopg parse every long statement anew: both cost more than the
    rows.) SQLite takes the Core executemany."""
    ids: list[int] = []
    if returning and rows:
        ids = _new_ids(table, len(rows))
        rows = [{**row, "id": row_id} for row, row_id in zip(rows, ids, strict=True)]
    if not rows:
        return ids
    dialect = db.session.get_bind().dialect
    if dialect.name != "postgresql":
        for start in range(0, len(rows), CHUNK):
            db.session.execute(insert(table), rows[start:start + CHUNK])
        return ids
    columns = [column for column in table.columns if column.key in rows[0]]
    quote = dialect.identifier_preparer.quote
    statement = text(f"INSERT INTO {quote(table.name)} ({', '.join(quote(c.name) for c in columns)}) "
                     "SELECT * FROM unnest(" + ", ".join(f"CAST(:c{n} AS {c.type.compile(dialect=dialect)}[])"
                                                         for n, c in enumerate(columns)) + ")")
    # The same conversions a Core insert makes: yuan to fen, enums to their values, JSON to text, ...
    processors = [column.type.dialect_impl(dialect).bind_processor(dialect) for column in columns]
    for start in range(0, len(rows), CHUNK):
        chunk = rows[start:start + CHUNK]
        db.session.execute(statement, {
            f"c{n}": [process(row[column.key]) for row in chunk] if process else [row[column.key] for row in chunk]
            for n, (column, process) in enumerate(zip(columns, processors, strict=True))})
    return ids


def _new_ids(table: Any, count: int) -> list[int]:
    """The next `count` ids of the table, drawn from its sequence (SQLite, with one writer, takes the ones after
    the largest), so that rows can refer to each other before they are written."""
    if db.session.get_bind().dialect.name == "postgresql":
        return sorted(db.session.scalars(
            text("SELECT nextval(pg_get_serial_sequence(:table, 'id')) FROM generate_series(1, :n)"),
            {"table": table.name, "n": count}))
    first = (db.session.scalar(select(func.max(table.c.id))) or 0) + 1
    return list(range(first, first + count))


def _open_accounts(keys: set[tuple[Party, int, Purpose]]) -> dict[tuple[Party, int, Purpose], int]:
    """Open many ledger accounts at once, exactly as `posting.account` opens one (same code, same row, safe when
    one exists), and return the ids of all of them."""
    dialect_insert = pg_insert if db.session.get_bind().dialect.name == "postgresql" else sqlite_insert
    now = db.utcnow()
    rows = [{"code": f"{party.value}:{party_id}:{purpose.value}", "party": party, "party_id": party_id,
             "purpose": purpose, "balance": ZERO, "created_at": now}
            for party, party_id, purpose in sorted(keys, key=lambda k: (k[0].value, k[1], k[2].value))]
    for start in range(0, len(rows), CHUNK):
        db.session.execute(dialect_insert(Account).on_conflict_do_nothing(), rows[start:start + CHUNK])
    return {(party, party_id, purpose): account_id for account_id, party, party_id, purpose in db.session.execute(
        select(Account.id, Account.party, Account.party_id, Account.purpose))}


# What the generator knows of what it made -------------------------------------------------------------------------

@dataclass
class Org:
    """A bank or an agency."""

    id: int
    code: str
    name: str
    name_en: str
    #: Home region: "33" for the province, a city prefix or a county code.
    region: str
    weight: float
    user_id: int = 0
    provincial: bool = False


@dataclass
class Firm:
    id: int
    ordinal: int
    uscc: str
    region: str
    tier: Tier
    valid_until: dt.date | None
    size: EnterpriseSize
    user_id: int | None = None

    def tier_on(self, day: dt.date) -> Tier:
        """As `Enterprise.tier_on`: none once the certification has lapsed."""
        return Tier.NONE if self.valid_until is not None and self.valid_until < day else self.tier


@dataclass
class Item:
    """A product version, with the days it was on offer (live_to exclusive, None while it still is)."""

    id: int
    bank: Org
    name: str
    name_en: str
    type: str
    amount_min: Decimal
    amount_max: Decimal
    term_min: int
    term_max: int
    spread: int
    guarantee: str
    tiers: tuple[str, ...]
    regions: tuple[str, ...]
    live_from: dt.date | None
    live_to: dt.date | None

    def fits(self, need: Need, day: dt.date) -> bool:
        """DESIGN.md §Matching step 1, on one product, on `day`."""
        return (self.live_from is not None and self.live_from <= day and (self.live_to is None or day < self.live_to)
                and self.amount_min <= need.amount <= self.amount_max
                and self.term_min <= need.term_months <= self.term_max
                and (not need.product_types or self.type in need.product_types)
                and (not self.regions or any(need.region_code.startswith(p) for p in self.regions)))


@dataclass
class Deal:
    """A 总对总 agreement, and what it holds of its quota as the history unfolds."""

    id: int
    code: str
    agency: Org
    bank: Org
    fee_rate: Decimal
    tiers: frozenset[str]
    types: frozenset[str]
    total_quota: Decimal
    per_enterprise_cap: Decimal
    per_loan_cap: Decimal
    auto_approve_below: Decimal | None
    batch_max_size: int
    #: The days it took new guarantees (live_to exclusive); None for an agreement the bank has not countersigned.
    live_from: dt.date | None
    live_to: dt.date
    #: How much of the agencies' business it carries (the top-up's fee entries are drawn in proportion).
    weight: float
    #: (end day, amount, enterprise id) of what it holds, and the running totals.
    holdings: list[tuple[dt.date, Decimal, int]] = field(default_factory=list)
    held: Decimal = ZERO
    held_by: dict[int, Decimal] = field(default_factory=lambda: defaultdict(lambda: ZERO))

    def live_on(self, day: dt.date) -> bool:
        return self.live_from is not None and self.live_from <= day < self.live_to

    def facts(self, day: dt.date, firm_id: int) -> AgreementFacts:
        while self.holdings and self.holdings[0][0] <= day:
            _end, amount, holder = heapq.heappop(self.holdings)
            self.held -= amount
            self.held_by[holder] -= amount
        return AgreementFacts(agreement_id=self.id, bank_id=self.bank.id, fee_rate=self.fee_rate, tiers=self.tiers,
                              product_types=self.types, quota_available=self.total_quota - self.held,
                              per_loan_cap=self.per_loan_cap,
                              enterprise_room=self.per_enterprise_cap - self.held_by[firm_id])

    def hold(self, end: dt.date, amount: Decimal, firm_id: int) -> None:
        """Hold quota from now (requests come in order) to `end`."""
        heapq.heappush(self.holdings, (end, amount, firm_id))
        self.held += amount
        self.held_by[firm_id] += amount


@dataclass
class World:
    seed: int
    as_of: dt.date
    start: dt.date
    admin_id: int = 0
    banks: list[Org] = field(default_factory=list)
    agencies: list[Org] = field(default_factory=list)
    firms: list[Firm] = field(default_factory=list)
    items: list[Item] = field(default_factory=list)
    deals: list[Deal] = field(default_factory=list)
    #: Risk pools: (id, region prefix, weight).
    pools: list[tuple[int, str, float]] = field(default_factory=list)
    #: (valid from, valid to or None, the rule as the pure core sees it), in evaluation order.
    fee_rules: list[tuple[dt.date, dt.date | None, rules.Rule]] = field(default_factory=list)
    #: Fiscal subsidy granted per fee rule, for its `subsidy_granted`.
    granted: dict[int, Decimal] = field(default_factory=lambda: defaultdict(lambda: ZERO))
    lpr: list[tuple[dt.date, Decimal, Decimal]] = field(default_factory=list)

    def rng(self, phase: str) -> random.Random:
        return random.Random(f"{self.seed}:{phase}")

    def rates_on(self, day: dt.date) -> tuple[dt.date, Rates]:
        """The LPR in force on `day` (the earliest recorded before the first), with its effective day."""
        effective, lpr_1y, lpr_5y = self.lpr[max(bisect.bisect_right(self.lpr, day, key=lambda r: r[0]) - 1, 0)]
        return effective, Rates(lpr_1y, lpr_5y)

    def rules_on(self, day: dt.date) -> list[rules.Rule]:
        return [rule for start, end, rule in self.fee_rules if start <= day and (end is None or day <= end)]

    def grant(self, trail: Sequence[dict], principal: Decimal, days: int) -> tuple[Decimal, list[dict]]:
        """`rules.grant` without budgets (each rule's budget is set from what it granted, at the end)."""
        total, steps = rules.grant(list(trail), principal, days, {})
        for step in steps:
            if "granted" in step:
                self.granted[step["rule_id"]] += Decimal(step["granted"])
        return total, steps


# The generator ----------------------------------------------------------------------------------------------------

def generate(seed: int = DEFAULT_SEED, enterprises: int = 10_000, products: int = 10_000, agreements: int = 100,
             postings: int = 100_000, *, banks: int = 60, agencies: int = 40, requests: int | None = None,
             as_of: dt.date | None = None, report: Callable[[str], None] = lambda _line: None) -> dict[str, int]:
    """Fill the current app's empty, migrated database with a plausible province; commits as it goes and returns
    the counts of what it made. `requests` (financing requests in the history) defaults to one per enterprise;
    `as_of` (the generated world's today) to today in Asia/Shanghai."""
    if current_app.config["PROFILE"] == "production":
        raise GenerationRefused("generated data (with its shared demo password) is never loaded in production")
    if min(enterprises, products, agreements, postings) < 0 or banks < 1 or agencies < 1:
        raise ValueError("sizes cannot be negative, and there is at least one bank and one agency")
    _refuse_unless_empty()
    audit.act_as_system("generator")
    as_of = as_of or business_today()
    world = World(seed=seed, as_of=as_of, start=rules.add_months(as_of, -HISTORY_MONTHS))
    counts: dict[str, int] = {}
    started = time.perf_counter()

    def phase(name: str, step: Callable[[], dict[str, int]]) -> None:
        begun = time.perf_counter()
        made = step()
        db.session.commit()
        counts.update(made)
        report(f"{name:<13} {time.perf_counter() - begun:8.1f} s  "
               + ", ".join(f"{key} {value:,}" for key, value in made.items()))

    phase("reference", lambda: _reference(world))
    phase("organisations", lambda: _organisations(world, banks, agencies))
    phase("enterprises", lambda: _enterprises(world, enterprises))
    phase("products", lambda: _products(world, products))
    phase("agreements", lambda: _agreements(world, agreements))
    history = History(world)
    phase("history", lambda: history.run(enterprises if requests is None else requests))
    phase("events", lambda: history.settle())
    phase("ledger", lambda: _top_up(world, postings, report))
    phase("finish", lambda: _finish(world, counts))
    phase("analyze", lambda: _analyze())
    counts["seconds"] = round(time.perf_counter() - started)
    return counts


def _refuse_unless_empty() -> None:
    found = {table: db.session.scalar(select(func.count()).select_from(model))
             for table, model in (("organisations", Organization), ("LPR rates", LprRate), ("fee rules", FeeRule),
                                  ("risk pools", RiskPool), ("journal entries", JournalEntry))}
    if held := {table: count for table, count in found.items() if count}:
        listed = ", ".join(f"{count:,} {table}" for table, count in held.items())
        raise GenerationRefused(f"the database already holds a marketplace ({listed}); generate fills an empty one: "
                                "create a new database and run `flask db upgrade` first")


# Reference data: the LPR, the admin, fee-reduction rules, risk pools -----------------------------------------------

def _reference(world: World) -> dict[str, int]:
    day = rules.add_months(world.start, -2).replace(day=20)
    rows = []
    while day <= world.as_of:
        effective = _working(day)  # published on the 20th, or the next working day
        known = [change for change in LPR_CHANGES if change[0] <= effective] or [LPR_CHANGES[0]]
        _changed, lpr_1y, lpr_5y = known[-1]
        if effective <= world.as_of:
            world.lpr.append((effective, Decimal(lpr_1y), Decimal(lpr_5y)))
            rows.append({"effective_on": effective, "lpr_1y": Decimal(lpr_1y), "lpr_5y": Decimal(lpr_5y),
                         "updated_at": _at(effective, 9, 15)})
        day = rules.add_months(day, 1)
    _insert(LprRate.__table__, rows)

    admin = db.session.scalar(select(User).where(User.role == Role.ADMIN).order_by(User.id))
    if admin is None:
        (world.admin_id,) = _insert(User.__table__, [{
            "username": "admin", "password_hash": _password_hash(), "role": Role.ADMIN, "organization_id": None,
            "active": True, "created_at": _at(world.start, 9)}], returning=True)
    else:
        world.admin_id = admin.id

    # The provincial policy: the SRDI fee cap, 降费奖补 with a budget per year (set from what it granted at the end),
    # and a first-loan reduction for the mountain-area counties of Quzhou and Lishui (山区26县).
    first_year = world.start.year
    specs = [{"name": "专精特新担保费上限", "name_en": "SRDI fee cap", "priority": 10, "stackable": True,
              "valid_from": dt.date(first_year, 1, 1), "valid_to": None, "budget": None,
              "conditions": {"tiers": [Tier.SRDI, Tier.LITTLE_GIANT]},
              "effect": {"kind": "cap_fee_rate", "value": Decimal("0.0050")}},
             {"name": "山区26县首贷降费", "name_en": "Mountain-area first loan", "priority": 15, "stackable": True,
              "valid_from": dt.date(first_year, 1, 1), "valid_to": None, "budget": None,
              "conditions": {"region_prefixes": ["3308", "3311"], "first_loan": True},
              "effect": {"kind": "reduce_fee_rate_bp", "value": Decimal("20")}}]
    specs += [{"name": f"{year}年降费奖补", "name_en": f"Fee-reduction subsidy {year}", "priority": 20,
               "stackable": True,
               "valid_from": dt.date(year, 1, 1), "valid_to": dt.date(year, 12, 31), "budget": None,
               "conditions": {"tiers": [Tier.SRDI, Tier.LITTLE_GIANT]},
               "effect": {"kind": "fiscal_subsidy_share", "value": Decimal("0.5")}}
              for year in range(first_year, world.as_of.year + 1)]
    made = [create_rule(spec) for spec in specs]
    world.fee_rules = [(rule.valid_from, rule.valid_to, rule.as_rule())
                       for rule in sorted(made, key=lambda r: (r.priority, r.id))]
    for prefix, name, name_en, cap, weight in POOLS:
        pool = create_risk_pool({"name": name, "name_en": name_en, "region_code": prefix, "cap_per_loss": cap})
        world.pools.append((pool.id, prefix, weight))
    return {"lpr_rates": len(rows), "fee_rules": len(made), "risk_pools": len(POOLS)}


@lru_cache(maxsize=1)
def _password_hash() -> str:
    # scrypt takes a tenth of a second: one hash, shared by every generated user.
    return hash_password(DEMO_PASSWORD)


# Banks and agencies ------------------------------------------------------------------------------------------------

def _organisations(world: World, bank_count: int, agency_count: int) -> dict[str, int]:
    rng = world.rng("organisations")
    banks = [Org(0, code, zh, name, home, weight) for code, name, zh, home, weight in BANKS[:bank_count]]
    for n in range(len(banks) + 1, bank_count + 1):  # village banks (村镇银行) beyond the named ones
        prefix, city, city_zh, _weight, _districts = rng.choice(CITIES)
        (z1, p1), (z2, p2) = rng.sample(BRAND, 2)
        banks.append(Org(0, f"VB{n:03d}", f"{city_zh}{z1}{z2}村镇银行", f"{city} {p1.title()}{p2} Village Bank", prefix,
                         0.5))
    agencies = [Org(0, code, zh, name, home, 4.0 if provincial else 3.0 if len(home) == 4 else 1.0,
                    provincial=provincial) for code, name, zh, home, provincial in AGENCIES[:agency_count]]
    for n in range(len(agencies) + 1, agency_count + 1):
        prefix, city, city_zh, _weight, _districts = rng.choice(CITIES)
        agencies.append(Org(0, f"STG{n:03d}", f"{city_zh}科技融资担保{n}号",
                            f"{city} Science and Technology Guarantee {n}", prefix, 1.0))
    founded = _at(world.start - dt.timedelta(days=400), 9)
    ids = _insert(Organization.__table__, [{"kind": kind, "name": o.name, "name_en": o.name_en, "created_at": founded}
                                           for kind, orgs in ((OrgKind.BANK, banks), (OrgKind.AGENCY, agencies))
                                           for o in orgs], returning=True)
    for org, org_id in zip(banks + agencies, ids, strict=True):
        org.id = org_id
    # Callback secrets come from the seed like everything else: this is demo data, refused in production.
    _insert(Bank.__table__, [{"id": o.id, "code": o.code, "api_base_url": None,
                              "callback_secret": f"{rng.getrandbits(128):032x}"} for o in banks])
    _insert(Agency.__table__, [{"id": o.id, "code": o.code,
                                "agency_kind": AgencyKind.PROVINCIAL if o.provincial else AgencyKind.LOCAL}
                               for o in agencies])
    users = _insert(User.__table__, [
        {"username": f"{role.value}.{o.code.lower()}", "password_hash": _password_hash(), "role": role,
         "organization_id": o.id, "active": True, "created_at": founded}
        for role, orgs in ((Role.BANK, banks), (Role.AGENCY, agencies)) for o in orgs], returning=True)
    for org, user_id in zip(banks + agencies, users, strict=True):
        org.user_id = user_id
    world.banks, world.agencies = banks, agencies
    return {"banks": len(banks), "agencies": len(agencies)}


# Enterprises and the tier registry ---------------------------------------------------------------------------------

def _enterprises(world: World, count: int) -> dict[str, int]:
    rng = world.rng("enterprises")
    tiers = [TIER_PATTERN[n % len(TIER_PATTERN)] for n in range(count)]
    rng.shuffle(tiers)  # in their proportions, not left to chance
    rows, firms = [], []
    cities, industries = Weighted((c, c[3]) for c in CITIES), Weighted((i, i[3]) for i in INDUSTRIES)
    sizes = {tier: Weighted(zip(EnterpriseSize, weights, strict=True)) for tier, weights in SIZES.items()}
    for n, tier in enumerate(tiers, start=1):
        prefix, city, city_zh, _weight, districts = cities.pick(rng)
        region = rng.choice(districts)
        code, industry, industry_zh, _w = industries.pick(rng)
        (z1, p1), (z2, p2) = rng.sample(BRAND, 2)
        size = sizes[tier].pick(rng)
        (low_staff, high_staff), (low_revenue, high_revenue) = SIZE_FIGURES[size]
        revenue = _log_uniform(rng, low_revenue, high_revenue, 10_000)
        share = Decimal(str(round(rng.uniform(*RD_SHARE[tier]), 4)))
        rd = ((revenue * share / 1000).quantize(Decimal(1)) * 1000).quantize(FEN)
        valid_until = None
        if tier is not Tier.NONE:  # certified for three years; about one in nine has lapsed unrenewed
            valid_until = world.as_of + dt.timedelta(days=rng.randint(-150, 1095))
        firm = Firm(0, n, _uscc(region, n), region, tier, valid_until, size)
        firms.append(firm)
        rows.append({"name": f"{city_zh}{z1}{z2}{industry_zh}有限公司",
                     "name_en": f"{city} {p1.title()}{p2} {industry} Co., Ltd.",
                     "industry_code": code, "revenue": revenue, "rd": rd,
                     "employees": rng.randint(low_staff, high_staff)})
    ids = _insert(Organization.__table__, [
        {"kind": OrgKind.ENTERPRISE, "name": row["name"], "name_en": row["name_en"],
         "created_at": _at(world.start - dt.timedelta(days=rng.randint(0, 700)), 10)} for row in rows], returning=True)
    for firm, firm_id in zip(firms, ids, strict=True):
        firm.id = firm_id
    _insert(Enterprise.__table__, [
        {"id": f.id, "uscc": f.uscc, "region_code": f.region, "industry_code": row["industry_code"], "size": f.size,
         "annual_revenue": row["revenue"], "rd_expense": row["rd"], "employees": row["employees"]}
        for f, row in zip(firms, rows, strict=True)])

    # The province's certified lists, one import per tier, as the admin uploads them; they also name enterprises
    # that have not registered on the marketplace (one in ten more).
    certified = [(f.uscc, f.tier, f.valid_until) for f in firms if f.tier is not Tier.NONE]
    for n in range(count // 10):
        tier = rng.choice((Tier.INNOVATIVE, Tier.INNOVATIVE, Tier.SRDI))
        region = rng.choice(rng.choice(CITIES)[4])
        certified.append((_uscc(region, count + n + 1), tier, world.as_of + dt.timedelta(days=rng.randint(-150, 1095))))
    imports = {}
    for tier in (Tier.INNOVATIVE, Tier.SRDI, Tier.LITTLE_GIANT):
        listed = sum(1 for _u, t, _v in certified if t is tier)
        imports[tier] = _insert(TierImport.__table__, [{
            "filename": f"{world.as_of.year} {tier.value} list.xlsx", "status": ImportStatus.COMPLETED,
            "rows_total": listed, "rows_ok": listed, "rows_failed": 0, "errors": [], "uploaded_by_id": world.admin_id,
            "created_at": _at(world.as_of - dt.timedelta(days=60), 10), "finished_at": _at(
                world.as_of - dt.timedelta(days=60), 10, 2)}], returning=True)[0]
    _insert(TierCertification.__table__, [
        {"uscc": code, "tier": tier, "valid_until": valid_until, "source_import_id": imports[tier],
         "updated_by_id": world.admin_id, "updated_at": _at(world.as_of - dt.timedelta(days=60), 10, 1)}
        for code, tier, valid_until in certified])

    # Every SRDI enterprise and little giant has a user, and one in three of the others.
    users = [f for f in firms if f.tier in (Tier.SRDI, Tier.LITTLE_GIANT) or f.ordinal % 3 == 0]
    user_ids = _insert(User.__table__, [
        {"username": f"ent{f.ordinal:05d}", "password_hash": _password_hash(), "role": Role.ENTERPRISE,
         "organization_id": f.id, "active": True, "created_at": _at(world.start, 11)} for f in users], returning=True)
    for firm, user_id in zip(users, user_ids, strict=True):
        firm.user_id = user_id
    world.firms = firms
    return {"enterprises": len(firms), "certifications": len(certified), "users": len(user_ids) + len(world.banks)
            + len(world.agencies)}


# Products -----------------------------------------------------------------------------------------------------

def _products(world: World, count: int) -> dict[str, int]:
    """`count` product versions: most published, some drafts, suspended and archived, some families with a second
    version (an archived first version replaced by a published one, or a published one with a draft edit)."""
    rng = world.rng("products")
    if not world.banks:
        return {"products": 0}
    first_day = rules.add_months(world.start, -12)
    span = (world.as_of - first_day).days
    families: list[list[dict[str, Any]]] = []
    made = 0
    banks = Weighted((b, b.weight) for b in world.banks)
    while made < count:
        room = count - made
        roll = rng.random()
        v1 = _product_row(rng, banks.pick(rng), families_made=len(families))
        published = first_day + dt.timedelta(days=rng.randint(0, span - 30))
        v1.update(status=ProductStatus.PUBLISHED, published=published, live_to=None)
        family = [v1]
        if roll < 0.06 and room >= 2:  # replaced: v1 archived when v2 was published
            replaced = published + dt.timedelta(days=rng.randint(30, max(31, (world.as_of - published).days - 1)))
            if replaced < world.as_of:
                v1.update(status=ProductStatus.ARCHIVED, live_to=replaced)
                v2 = dict(v1, status=ProductStatus.PUBLISHED, published=replaced, live_to=None,
                          rate_spread_bp=v1["rate_spread_bp"] + rng.randint(-20, 20))
                family.append(v2)
        elif roll < 0.09 and room >= 2:  # an edit waiting as a draft
            family.append(dict(v1, status=ProductStatus.DRAFT, published=None, live_to=None,
                               amount_max=max(v1["amount_min"], v1["amount_max"] + Decimal(1_000_000))))
        elif roll < 0.14:  # retired
            retired = published + dt.timedelta(days=rng.randint(60, 400))
            if retired < world.as_of:
                v1.update(status=ProductStatus.ARCHIVED, live_to=retired)
        elif roll < 0.18:
            suspended = world.as_of - dt.timedelta(days=rng.randint(1, 60))
            if suspended > published:
                v1.update(status=ProductStatus.SUSPENDED, live_to=suspended)
        elif roll < 0.23:
            v1.update(status=ProductStatus.DRAFT, published=None)
        families.append(family)
        made += len(family)

    def columns(row: dict[str, Any], family_id: int | None, version: int) -> dict[str, Any]:
        published = row["published"]
        created = (published or world.as_of - dt.timedelta(days=rng.randint(1, 30))) - dt.timedelta(days=3)
        changed = row["live_to"] or published or created
        return {"family_id": family_id, "version": version, "bank_id": row["bank"].id, "name": row["name"],
                "name_en": row["name_en"],
                "product_type": row["type"], "amount_min": row["amount_min"], "amount_max": row["amount_max"],
                "term_min_months": row["term_min_months"], "term_max_months": row["term_max_months"],
                "rate_spread_bp": row["rate_spread_bp"], "guarantee": row["guarantee"],
                "description": row["description"], "status": row["status"],
                "created_at": _at(created, 9, 30), "updated_at": _at(changed, 9, 45),
                "published_at": _at(published, 10) if published else None}

    # Version 1 of a product is its own family, as products.services records it.
    ids = _new_ids(Product.__table__, len(families) + sum(len(family) > 1 for family in families))
    first_ids, second_ids = ids[:len(families)], ids[len(families):]
    seconds = [(family, first_id) for family, first_id in zip(families, first_ids, strict=True) if len(family) > 1]
    _insert(Product.__table__, [{"id": pid, **columns(f[0], pid, 1)} for f, pid in zip(families, first_ids,
                                                                                         strict=True)]
            + [{"id": pid, **columns(f[1], first_id, 2)} for (f, first_id), pid in zip(seconds, second_ids,
                                                                                         strict=True)])
    rows = [(f[0], pid) for f, pid in zip(families, first_ids, strict=True)] + \
           [(f[1], pid) for (f, _first), pid in zip(seconds, second_ids, strict=True)]
    _insert(ProductTier.__table__, [{"product_id": pid, "tier": tier} for row, pid in rows for tier in row["tiers"]])
    _insert(ProductRegion.__table__, [{"product_id": pid, "region_prefix": prefix}
                                      for row, pid in rows for prefix in row["regions"]])
    for row, pid in sorted(rows, key=lambda r: r[1]):
        world.items.append(Item(pid, row["bank"], row["name"], row["name_en"], row["type"].value,
                                row["amount_min"],
                                row["amount_max"], row["term_min_months"], row["term_max_months"],
                                row["rate_spread_bp"], row["guarantee"].value, row["tiers"], row["regions"],
                                row["published"] if row["status"] is not ProductStatus.DRAFT else None,
                                row["live_to"]))
    published = sum(1 for row, _pid in rows if row["status"] is ProductStatus.PUBLISHED)
    return {"products": len(rows), "published_products": published}


def _product_row(rng: random.Random, bank: Org, families_made: int) -> dict[str, Any]:
    product_type = PRODUCT_TYPES.pick(rng)
    shape = SHAPES[product_type]
    amount_min = _log_uniform(rng, *shape.amount_min, 10_000)
    amount_max = max(amount_min, _log_uniform(rng, *shape.amount_max, 100_000))
    term_min = rng.choice(shape.term_min)
    term_max = max(term_min, rng.choice(shape.term_max))
    suffix, suffix_zh = rng.choice(VARIANTS)
    city = bank.region[:4] if len(bank.region) >= 4 else rng.choice(CITIES)[0]
    districts = next(c[4] for c in CITIES if c[0] == city)
    if product_type is ProductType.PARK:  # a park loan is for the enterprises of one or two parks' districts
        home = bank.region if len(bank.region) == 6 else rng.choice(districts)
        regions = tuple(sorted({home, rng.choice(districts)}))
    else:
        roll = rng.random()
        regions = () if roll < 0.35 else ("33",) if roll < 0.65 else \
            ((city,) if len(bank.region) >= 4 else tuple(sorted({city, rng.choice(CITIES)[0]}))) if roll < 0.9 else \
            (bank.region if len(bank.region) == 6 else rng.choice(districts),)
    tiers = PRODUCT_TIERS.pick(rng)
    guarantee = GUARANTEES[product_type].pick(rng)
    where = "全省" if not regions else "、".join(codes.regions()[r.ljust(6, "0")].name for r in regions)
    return {"bank": bank, "type": product_type, "name": f"{shape.zh}{suffix_zh} {families_made + 1}",
            "name_en": f"{shape.name}{suffix} {families_made + 1}",
            "amount_min": amount_min, "amount_max": amount_max, "term_min_months": term_min,
            "term_max_months": term_max, "rate_spread_bp": rng.randint(*shape.spread_bp), "guarantee": guarantee,
            "tiers": tiers, "regions": regions,
            "description": f"面向{'、'.join(TIER_WORDS[t] for t in tiers)}的{shape.zh}（{where}），"
                           f"{GUARANTEE_WORDS[guarantee.value]}。"}


# Agreements ------------------------------------------------------------------------------------------------------

def _agreements(world: World, count: int) -> dict[str, int]:
    rng = world.rng("agreements")
    plan = ([AgreementStatus.PENDING_BANK] * round(count * 0.03) + [AgreementStatus.TERMINATED] * round(count * 0.02)
            + [AgreementStatus.SUSPENDED] * round(count * 0.07) + [AgreementStatus.EXPIRED] * round(count * 0.08))
    plan = (plan + [AgreementStatus.ACTIVE] * count)[:count]
    rng.shuffle(plan)
    provincial = [a for a in world.agencies if a.provincial]
    pools = {prefix: (pool_id, weight) for pool_id, prefix, weight in world.pools}
    taken: set[tuple[int, int]] = set()
    codes: set[str] = set()
    for status in plan:
        for _try in range(50):  # one agreement per agency and bank while there are pairs left
            agency = _weighted(rng, [(a, a.weight) for a in world.agencies])
            bank = _weighted(rng, [(b, b.weight) for b in world.banks])
            if (agency.id, bank.id) not in taken:
                break
        taken.add((agency.id, bank.id))
        valid_from, valid_to, live_from, live_to, signed = _agreement_dates(rng, world.as_of, status)
        tech_plan = rng.random() < 0.2  # 财金〔2024〕60号: higher caps and compensation cap
        shares = _weighted(rng, [s for s in SHARES if not (agency.provincial and s[0][2] != "0")])
        reguarantor = None
        if shares[2] != "0":
            reguarantor = next((p for p in provincial if p.id != agency.id), None)
            if reguarantor is None:
                shares = ("0.60", "0.20", "0", "0.20")
        pool = (pools.get(agency.region[:4]) or pools.get("33")) if shares[3] != "0" else None
        tiers = _weighted(rng, [((Tier.SRDI, Tier.LITTLE_GIANT), 5),
                                ((Tier.INNOVATIVE, Tier.SRDI, Tier.LITTLE_GIANT), 4), ((Tier.LITTLE_GIANT,), 1)])
        types = _weighted(rng, [(tuple(ProductType), 3), ((ProductType.CREDIT, ProductType.RENEWAL,
                                                           ProductType.REVOLVING, ProductType.TERM), 3),
                                ((ProductType.CREDIT, ProductType.IP_PLEDGE, ProductType.PARK), 2),
                                (tuple(t for t in ProductType if rng.random() < 0.5) or (ProductType.CREDIT,), 2)])
        code = f"{agency.code}-{bank.code}-{valid_from.year}"
        code = code if code not in codes else f"{code}-{len(codes)}"
        codes.add(code)
        data = {
            "code": code, "bank_id": bank.id, "valid_from": valid_from, "valid_to": valid_to,
            "total_quota": Decimal(int(_log_uniform(rng, 100_000_000, 2_000_000_000, 10_000_000))).quantize(FEN),
            "per_enterprise_cap": Decimal(30_000_000 if tech_plan else 10_000_000).quantize(FEN),
            "per_loan_cap": Decimal(rng.choice((10_000_000, 20_000_000) if tech_plan else
                                               (3_000_000, 5_000_000, 5_000_000, 10_000_000))).quantize(FEN),
            "fee_rate": Decimal(rng.choice(("0.0080", "0.0100", "0.0100", "0.0120", "0.0150"))),
            "shares": dict(zip(("agency", "bank", "reguarantee", "risk_pool"), map(Decimal, shares), strict=True)),
            "reguarantor_id": reguarantor.id if reguarantor else None,
            "risk_pool_id": pool[0] if pool else None,
            "compensation_cap_rate": Decimal("0.05" if tech_plan else "0.03"),
            "eligible_tiers": list(tiers), "eligible_product_types": list(types),
            "batch_max_size": rng.choice((100, 200, 500, 500)),
            "auto_approve_below": Decimal(rng.choice((1_000_000, 2_000_000, 3_000_000))).quantize(FEN)
            if rng.random() < 0.4 else None,
            "review_sla_days": rng.choice((3, 5, 5, 10, None)),
        }
        agreement = create_agreement(agency.id, data)
        agreement.status, agreement.countersigned_at = status, _at(signed, 15) if signed else None
        agreement.created_at = _at((signed or world.as_of) - dt.timedelta(days=rng.randint(5, 30)), 14)
        world.deals.append(Deal(agreement.id, code, agency, bank, data["fee_rate"],
                                frozenset(t.value for t in tiers), frozenset(t.value for t in types),
                                data["total_quota"], data["per_enterprise_cap"], data["per_loan_cap"],
                                data["auto_approve_below"], data["batch_max_size"], live_from, live_to,
                                float(data["total_quota"]) ** 0.5))
    db.session.flush()
    return {"agreements": len(world.deals)}


def _agreement_dates(rng: random.Random, as_of: dt.date, status: AgreementStatus
                     ) -> tuple[dt.date, dt.date, dt.date | None, dt.date, dt.date | None]:
    """valid_from, valid_to, the days it took new guarantees (from, to exclusive) and the countersignature day."""
    if status is AgreementStatus.PENDING_BANK:
        valid_from = as_of + dt.timedelta(days=rng.randint(0, 30))
        return valid_from, rules.add_months(valid_from, 36), None, valid_from, None
    if status is AgreementStatus.EXPIRED:
        valid_to = as_of - dt.timedelta(days=rng.randint(10, 400))
        valid_from = rules.add_months(valid_to, -36) + dt.timedelta(days=1)
        return valid_from, valid_to, valid_from, valid_to + dt.timedelta(days=1), valid_from
    valid_from = as_of - dt.timedelta(days=rng.randint(60, 1400))
    valid_to = rules.add_months(valid_from, rng.choice((36, 60))) - dt.timedelta(days=1)
    if valid_to < as_of + dt.timedelta(days=30):
        valid_to = rules.add_months(as_of, 12)  # renewed
    ended = as_of + dt.timedelta(days=1)
    if status is AgreementStatus.SUSPENDED:
        ended = max(valid_from + dt.timedelta(days=30), as_of - dt.timedelta(days=rng.randint(5, 180)))
    elif status is AgreementStatus.TERMINATED:
        ended = valid_from + dt.timedelta(days=rng.randint(30, max(31, (as_of - valid_from).days)))
    return valid_from, valid_to, valid_from, min(ended, as_of + dt.timedelta(days=1)), valid_from


# The history: requests, offers, applications, batches, guarantees, loans, loan events, fees -----------------------

@dataclass
class Batched:
    """A batch: one per agreement and week (cut-off on Friday at 16:00), submitted at once when full."""

    deal: Deal
    opened: dt.datetime
    submitted_on: dt.date
    decided_on: dt.date
    full: bool = False
    size: int = 0
    id: int = 0

    def status(self, as_of: dt.date) -> BatchStatus:
        """Today's cut-off (16:00) is still ahead; a batch that filled up today was submitted when it did."""
        if self.submitted_on > as_of or (self.submitted_on == as_of and not self.full):
            return BatchStatus.OPEN
        return BatchStatus.DECIDED if self.decided_on <= as_of else BatchStatus.SUBMITTED


@dataclass
class Case:
    """One financing request and what became of it."""

    n: int
    firm: Firm
    day: dt.date
    need: Need
    lpr_on: dt.date
    purpose: str
    offers: list[OfferTerms]
    reasons: list[dict]
    status: RequestStatus = RequestStatus.OPEN
    chosen: OfferTerms | None = None
    routed: dt.date | None = None
    decided: dt.date | None = None
    application: ApplicationStatus | None = None
    #: The bank's reason, or why the agreement could not take the loan.
    reason: str | None = None
    amount: Decimal | None = None
    spread: int | None = None
    rate: Decimal | None = None
    deal: Deal | None = None
    batch: Batched | None = None
    guarantee: GuaranteeStatus | None = None
    #: Why the agency excluded the loan from its batch.
    exclusion: str | None = None
    guarantee_decided: dt.datetime | None = None
    approved: dt.date | None = None
    disbursed: dt.date | None = None
    loan: LoanStatus | None = None
    outstanding: Decimal | None = None
    #: (type, amount, day, interest, principal) of the loan's events as its bank reported them, in order (the two
    #: parts for repayments only).
    events: list[tuple[LoanEventType, Decimal, dt.date, Decimal | None, Decimal | None]] = field(default_factory=list)
    method: schedule.Method | None = None
    interest_paid: Decimal = ZERO
    principal_repaid: Decimal = ZERO
    fee: dict[str, Any] | None = None
    default_on: dt.date | None = None
    recoveries: list[tuple[dt.date, Decimal]] = field(default_factory=list)
    ids: dict[str, int] = field(default_factory=dict)


class History:
    """What the marketplace did over the last three years: built in memory with the matching core, then written
    with bulk inserts, the fees through post_many, and defaults, recoveries and pool deposits through the app's
    services in the order they happened."""

    def __init__(self, world: World) -> None:
        self.world = world
        self.rng = world.rng("history")
        self.cases: list[Case] = []
        self.batches: list[Batched] = []
        self.week_batch: dict[tuple[int, dt.date], Batched] = {}
        self.by_tier: dict[str, list[Item]] = defaultdict(list)
        for item in world.items:
            if item.live_from is not None:
                for tier in item.tiers:
                    self.by_tier[tier].append(item)
        live = [item for item in world.items if item.live_from is not None]
        self.largest = max((i.amount_max for i in live), default=None)
        self.smallest = min((i.amount_min for i in live), default=None)
        self.deals_of: dict[int, list[Deal]] = defaultdict(list)
        for deal in world.deals:
            self.deals_of[deal.bank.id].append(deal)
        self.banks = {bank.id: bank for bank in world.banks}
        #: The day each enterprise was first approved a loan (for the first-loan fee rule).
        self.first_loan: dict[int, dt.date] = {}
        self.disbursements: dict[int, list[tuple[dt.date, Decimal]]] = defaultdict(list)

    def run(self, count: int) -> dict[str, int]:
        borrowers = [f for f in self.world.firms if f.user_id is not None]
        if not borrowers or not self.world.items or count == 0:
            return {"requests": 0}
        rng, span = self.rng, (self.world.as_of - self.world.start).days
        firms = rng.choices(borrowers, [BORROWING[f.tier] for f in borrowers], k=count)
        # More requests lately, as the marketplace caught on.
        days = sorted(self.world.start + dt.timedelta(days=int(span * rng.random() ** 0.6)) for _ in range(count))
        self.cases = [self._request(n, firm, day) for n, (firm, day) in enumerate(zip(firms, days, strict=True))]
        self._decide_batches()
        self._lifecycles()
        return self._write()

    # Requests, in the order they came ------------------------------------------------------------------------

    def _request(self, n: int, firm: Firm, day: dt.date) -> Case:
        rng, world, as_of = self.rng, self.world, self.world.as_of
        low, high = ASKS[firm.size]
        types = None if rng.random() < 0.8 else \
            frozenset(rng.sample(sorted(t.value for t in ProductType), rng.randint(1, 2)))
        first = self.first_loan.get(firm.id)
        need = Need(amount=_log_uniform(rng, low, high, 10_000), term_months=rng.choice(REQUEST_TERMS),
                    tier=firm.tier_on(day).value, region_code=firm.region, accept_guarantee=rng.random() < 0.85,
                    product_types=types, first_loan=first is None or first >= day)
        lpr_on, rates = world.rates_on(day)
        offers, guarantee_reasons = rank_offers(need, self._candidates(need, day, firm), rates)
        offers = offers[:OFFER_LIMIT]
        reasons = explain(need, [], offered=len(offers), any_published=self.largest is not None,
                          largest_amount=self.largest, smallest_amount=self.smallest)
        case = Case(n, firm, day, need, lpr_on, rng.choice(PURPOSES), offers,
                    [stored(r) for r in reasons + guarantee_reasons])
        if not offers:
            case.status = RequestStatus.OPEN if day > as_of - dt.timedelta(days=14) else RequestStatus.WITHDRAWN
            return case
        guaranteed = [o for o in offers if o.agreement_id is not None]
        if guaranteed and rng.random() < 0.5:  # e.g. no collateral for the cheaper loans: the best guaranteed offer
            case.chosen = guaranteed[0]
        else:
            case.chosen = offers[min(_weighted(rng, [(0, 70), (1, 20), (2, 10)]), len(offers) - 1)]
        routed = day + dt.timedelta(days=rng.randint(0, 3))
        if routed > as_of:
            return case
        case.routed, case.status, case.application = routed, RequestStatus.ROUTED, ApplicationStatus.SUBMITTED
        if rng.random() < 0.05:
            case.status, case.application = RequestStatus.WITHDRAWN, ApplicationStatus.WITHDRAWN
            return case
        decided = _working(routed + dt.timedelta(days=rng.randint(1, 6)))
        if decided > as_of:
            return case
        case.decided = decided
        if rng.random() < 0.12:
            case.status, case.application = RequestStatus.DECLINED, ApplicationStatus.DECLINED
            case.reason = rng.choice(DECLINES)
            return case
        offer = case.chosen
        case.amount = need.amount if rng.random() < 0.85 else _round(need.amount * rng.randint(60, 95) / 100, 10_000)
        case.spread = offer.candidate.spread_bp
        case.rate = world.rates_on(decided)[1].interest(need.term_months, case.spread)
        if offer.agreement_id is not None:
            deal = next(d for d in self.deals_of[offer.candidate.bank_id] if d.id == offer.agreement_id)
            if problem := self._no_room(deal, decided, firm, case.amount):
                case.status, case.application, case.reason = \
                    RequestStatus.DECLINED, ApplicationStatus.GUARANTEE_UNAVAILABLE, problem
                return case
            case.deal, case.guarantee = deal, GuaranteeStatus.PENDING
            deal.hold(rules.add_months(decided, need.term_months + 1), case.amount, firm.id)
            case.batch = self._batch_of(deal, decided)
        else:
            case.approved = decided
        case.application, case.status = ApplicationStatus.APPROVED, RequestStatus.APPROVED
        if first is None or decided < first:
            self.first_loan[firm.id] = decided
        return case

    def _candidates(self, need: Need, day: dt.date, firm: Firm) -> list[Candidate]:
        """The cheapest-spread products that fit, from a sample of the catalogue, with their guarantee terms."""
        pool = self.by_tier.get(need.tier, [])
        sample = pool if len(pool) <= CANDIDATE_SAMPLE else self.rng.sample(pool, CANDIDATE_SAMPLE)
        fits = sorted((item for item in sample if item.fits(need, day)), key=lambda i: (i.spread, i.id))
        fee_rules = self.world.rules_on(day)
        facts: dict[int, list[AgreementFacts]] = {}
        candidates = []
        for item in fits[:CANDIDATE_LIMIT]:
            terms: tuple = ()
            if item.guarantee != "none" and need.accept_guarantee:
                if item.bank.id not in facts:
                    facts[item.bank.id] = [d.facts(day, firm.id) for d in self.deals_of[item.bank.id]
                                           if d.live_on(day)]
                terms = guarantee_terms(need, item.bank.id, item.type, facts[item.bank.id], fee_rules)
            candidates.append(Candidate(product_id=item.id, product_name=item.name, product_name_en=item.name_en,
                                        product_type=item.type, bank_id=item.bank.id, bank_name=item.bank.name,
                                        bank_name_en=item.bank.name_en, spread_bp=item.spread,
                                        guarantee=item.guarantee, agreements=terms))
        return candidates

    @staticmethod
    def _no_room(deal: Deal, day: dt.date, firm: Firm, amount: Decimal) -> str | None:
        """Why the agreement cannot take the loan on the day the bank approves it, as reserve() says it."""
        facts = deal.facts(day, firm.id)
        if not deal.live_on(day):
            return f"Agreement {deal.code} is not taking new guarantees."
        if amount > deal.per_loan_cap:
            return f"{amount:,.2f} is above the agreement's per-loan cap of {deal.per_loan_cap:,.2f}."
        if amount > facts.quota_available:
            return f"Only {facts.quota_available:,.2f} of the agreement's quota is left."
        if amount > facts.enterprise_room:
            return f"The enterprise would pass the agreement's per-enterprise cap of {deal.per_enterprise_cap:,.2f}."
        return None

    def _batch_of(self, deal: Deal, day: dt.date) -> Batched:
        monday = day - dt.timedelta(days=day.weekday())
        batch = self.week_batch.get((deal.id, monday))
        if batch is not None and batch.size >= deal.batch_max_size:
            batch = None  # full and submitted: its successor takes the rest of the week
        if batch is None:
            friday = monday + dt.timedelta(days=4)
            decided = _working(friday + dt.timedelta(days=3 + self.rng.randint(0, 2)))  # Monday to Wednesday
            batch = Batched(deal, _at(day, 10), friday, decided)
            self.week_batch[(deal.id, monday)] = batch
            self.batches.append(batch)
        batch.size += 1
        if batch.size >= deal.batch_max_size:  # reserve() submits a batch the moment it is full
            batch.full, batch.submitted_on = True, day
            batch.decided_on = _working(day + dt.timedelta(days=1 + self.rng.randint(0, 2)))
        return batch

    # Batch decisions, approvals, disbursements and their fees --------------------------------------------------

    def _decide_batches(self) -> None:
        """The cut-offs and the agency's decisions up to today: an excluded loan declines its request; a 见贷即保 loan
        below the threshold is approved when its batch is submitted, the rest when it is decided. Approved loans
        are disbursed a few days later, and a guaranteed one's fee is fixed."""
        rng, as_of = self.rng, self.world.as_of
        for case in self.cases:
            batch = case.batch
            if batch is None:
                continue
            status, threshold = batch.status(as_of), batch.deal.auto_approve_below
            if status is not BatchStatus.OPEN and threshold is not None and case.amount < threshold:
                case.guarantee, case.guarantee_decided = GuaranteeStatus.APPROVED, _at(batch.submitted_on, 16)
            elif status is BatchStatus.DECIDED and rng.random() < 0.04:
                case.guarantee, case.guarantee_decided = GuaranteeStatus.REJECTED, _at(batch.decided_on, 11)
                case.status, case.application = RequestStatus.DECLINED, ApplicationStatus.GUARANTEE_UNAVAILABLE
                case.exclusion = rng.choice(EXCLUSIONS)
            elif status is BatchStatus.DECIDED:
                case.guarantee, case.guarantee_decided = GuaranteeStatus.APPROVED, _at(batch.decided_on, 11)
            if case.guarantee is GuaranteeStatus.APPROVED:
                case.approved = case.guarantee_decided.astimezone(SHANGHAI).date()
        for case in self.cases:
            if case.approved is None:
                continue
            case.loan, case.outstanding = LoanStatus.APPROVED, case.amount
            disbursed = _working(case.approved + dt.timedelta(days=rng.randint(1, 10)))
            if disbursed > as_of:
                continue
            case.disbursed, case.loan, case.status = disbursed, LoanStatus.DISBURSED, RequestStatus.FUNDED
            case.events.append((LoanEventType.DISBURSED, case.amount, disbursed, None, None))
            case.method = schedule.DEFAULT_METHOD[case.chosen.candidate.product_type]
            if case.deal is not None:
                case.guarantee = GuaranteeStatus.ACTIVE
                self.disbursements[case.deal.id].append((disbursed, case.amount))
                self._charge_fee(case)

    def _charge_fee(self, case: Case) -> None:
        """The fee at disbursement, fixed as guarantees.settlement.charge_fee fixes it."""
        offer, days = case.chosen, rules.term_days(case.disbursed, case.need.term_months)
        subsidy, trail = self.world.grant(offer.applied_rules, case.amount, days)
        case.fee = {"fee_days": days, "list_fee": rules.fee_amount(case.amount, offer.list_fee_rate, days),
                    "fee_charged": rules.fee_amount(case.amount, offer.guarantee_fee_rate, days),
                    "fiscal_subsidy": subsidy, "applied_rules": trail}

    # Repayments, overdue loans, defaults, recoveries ----------------------------------------------------------

    def _overdue_window(self, case: Case, defaulted: bool) -> tuple[dt.date, dt.date]:
        """The days a loan can fall overdue on: a month after disbursement at the earliest, by maturity at the
        latest (so its last instalment is missed), and 90 days before today for one that has defaulted since."""
        maturity = rules.add_months(case.disbursed, case.need.term_months)
        first, as_of = case.disbursed + dt.timedelta(days=30), self.world.as_of
        if defaulted:
            return first, min(maturity, as_of - dt.timedelta(days=DEFAULT_AFTER_DAYS))
        return max(first, as_of - dt.timedelta(days=DEFAULT_AFTER_DAYS - 1)), min(maturity, as_of)

    def _lifecycles(self) -> None:
        rng, as_of = self.rng, self.world.as_of
        disbursed = [c for c in self.cases if c.disbursed is not None]

        def can(case: Case, defaulted: bool) -> bool:
            low, high = self._overdue_window(case, defaulted)
            return low <= high

        # A few defaults of every kind whatever the size (at least one guaranteed and one not, where possible): about
        # 2 % of guaranteed and 1.5 % of other loans; and about 1 % of loans overdue today, not yet in default.
        fate: dict[int, bool] = {}
        for guaranteed, share in ((True, 0.02), (False, 0.015)):
            pool = [c for c in disbursed if (c.deal is not None) == guaranteed and can(c, True)]
            for case in rng.sample(pool, min(len(pool), max(1, round(share * len(pool))))):
                fate[case.n] = True
        pool = [c for c in disbursed if c.n not in fate and can(c, False)]
        for case in rng.sample(pool, min(len(pool), max(1, round(0.01 * len(disbursed))))):
            fate[case.n] = False

        for case in disbursed:
            overdue_on = None
            if case.n in fate:
                low, high = self._overdue_window(case, fate[case.n])
                overdue_on = low + dt.timedelta(days=rng.randint(0, (high - low).days))
            until = overdue_on or as_of + dt.timedelta(days=1)
            outstanding = case.amount
            for period in self._schedule(case):  # each instalment paid in full on its due date
                if period.due_on >= until:
                    if overdue_on is not None and period.due_on < high:  # late from the day after the one missed
                        overdue_on = period.due_on + dt.timedelta(days=1)
                    break
                outstanding -= period.principal
                case.interest_paid += period.interest
                case.principal_repaid += period.principal
                case.events.append((LoanEventType.REPAYMENT, period.total, period.due_on, period.interest,
                                    period.principal))
            case.outstanding = outstanding
            if overdue_on is not None:
                case.loan = LoanStatus.OVERDUE
                case.events.append((LoanEventType.OVERDUE, outstanding, overdue_on, None, None))
                if fate[case.n]:
                    case.default_on = overdue_on + dt.timedelta(days=DEFAULT_AFTER_DAYS)
            elif outstanding == 0:
                case.loan = LoanStatus.REPAID
                if case.deal is not None:
                    case.guarantee = GuaranteeStatus.RELEASED
            elif outstanding < case.amount:
                case.loan = LoanStatus.REPAYING

        # Half the defaults (at least one) see money recovered, one to twelve months apart; about one recovery in
        # ten takes all that is left and closes the loan.
        defaults = [c for c in disbursed if c.default_on is not None and c.default_on <= as_of - dt.timedelta(days=30)]
        for case in rng.sample(defaults, min(len(defaults), max(1, round(len(defaults) / 2)))):
            left, day = case.outstanding, case.default_on
            for _n in range(rng.randint(1, 2)):
                day += dt.timedelta(days=rng.randint(30, 360))
                if day > as_of or left <= 0:
                    break
                amount = left if rng.random() < 0.1 else max(FEN, (left * rng.randint(10, 60) / 100).quantize(FEN))
                case.recoveries.append((day, amount))
                left -= amount

    def _schedule(self, case: Case) -> list[schedule.Period]:
        """The loan's repayment schedule by its product type's method, as the marketplace computes it."""
        return schedule.build(case.method, case.amount, case.rate, case.disbursed, case.need.term_months)

    # Writing it -------------------------------------------------------------------------------------------------

    def _write(self) -> dict[str, int]:
        cases, as_of = self.cases, self.world.as_of
        request_ids = _insert(FinancingRequest.__table__, [{
            "enterprise_id": c.firm.id, "created_by_id": c.firm.user_id, "amount": c.need.amount,
            "term_months": c.need.term_months, "purpose": c.purpose, "accept_guarantee": c.need.accept_guarantee,
            "product_types": sorted(c.need.product_types) if c.need.product_types else None, "status": c.status,
            "tier_at_request": Tier(c.need.tier), "lpr_effective_on": c.lpr_on, "unmatched_reasons": c.reasons,
            "status_reason": None, "created_at": _at(c.day, 9 + c.n % 8, c.n % 60),
            "updated_at": _at(c.disbursed or c.decided or c.routed or c.day, 17)} for c in cases], returning=True)
        for case, request_id in zip(cases, request_ids, strict=True):
            case.ids["request"] = request_id
        offers = [(c, o) for c in cases for o in c.offers]
        offer_ids = _insert(Offer.__table__, [{
            "request_id": c.ids["request"], "rank": o.rank, "product_id": o.candidate.product_id,
            "product_name": o.candidate.product_name, "product_name_en": o.candidate.product_name_en,
            "product_type": o.candidate.product_type, "bank_id": o.candidate.bank_id,
            "bank_name": o.candidate.bank_name, "bank_name_en": o.candidate.bank_name_en,
            "agreement_id": o.agreement_id,
            "amount": c.need.amount, "term_months": c.need.term_months, "rate_spread_bp": o.candidate.spread_bp,
            "interest_rate": o.interest_rate, "list_fee_rate": o.list_fee_rate,
            "guarantee_fee_rate": o.guarantee_fee_rate, "fee_subsidy_rate": o.fee_subsidy_rate,
            "all_in_rate": o.all_in_rate, "applied_rules": list(o.applied_rules)} for c, o in offers], returning=True)
        for (case, offer), offer_id in zip(offers, offer_ids, strict=True):
            if offer is case.chosen:
                case.ids["offer"] = offer_id

        routed = [c for c in cases if c.routed is not None]
        application_ids = _insert(Application.__table__, [{
            "request_id": c.ids["request"], "offer_id": c.ids["offer"], "bank_id": c.chosen.candidate.bank_id,
            "status": c.application, "approved_amount": c.amount, "rate_spread_bp": c.spread, "interest_rate": c.rate,
            "reason": c.reason, "decided_by_id": self.banks[c.chosen.candidate.bank_id].user_id if c.decided else None,
            "decided_at": _at(c.decided, 14) if c.decided else None, "created_at": _at(c.routed, 15),
            "respond_by": working_days_after(c.routed, current_app.config["RESPONSE_WORKING_DAYS"])}
            for c in routed], returning=True)
        for case, application_id in zip(routed, application_ids, strict=True):
            case.ids["application"] = application_id

        batch_ids = _insert(Batch.__table__, [{
            "agreement_id": b.deal.id, "status": b.status(as_of), "created_at": b.opened,
            "submitted_at": None if b.status(as_of) is BatchStatus.OPEN else _at(b.submitted_on, 16),
            "decided_at": _at(b.decided_on, 11) if b.status(as_of) is BatchStatus.DECIDED else None,
            "decided_by_id": b.deal.agency.user_id if b.status(as_of) is BatchStatus.DECIDED else None,
            "sla_breached_on": None} for b in self.batches], returning=True)
        for batch, batch_id in zip(self.batches, batch_ids, strict=True):
            batch.id = batch_id

        lent = [c for c in cases if c.loan is not None]
        loan_ids = _insert(Loan.__table__, [{
            "application_id": c.ids["application"], "bank_id": c.chosen.candidate.bank_id,
            "enterprise_id": c.firm.id, "product_id": c.chosen.candidate.product_id, "principal": c.amount,
            "outstanding": c.outstanding, "term_months": c.need.term_months, "interest_rate": c.rate,
            "status": c.loan, "disbursed_on": c.disbursed, "repayment_method": c.method,
            "interest_paid": c.interest_paid, "principal_repaid": c.principal_repaid,
            "created_at": _at(c.approved, 15)} for c in lent],
            returning=True)
        for case, loan_id in zip(lent, loan_ids, strict=True):
            case.ids["loan"] = loan_id
        guaranteed = [c for c in cases if c.deal is not None]
        _insert(Guarantee.__table__, [self._guarantee_row(c) for c in guaranteed])
        events = []
        for case in lent:
            bank = self.banks[case.chosen.candidate.bank_id]
            events += [{"loan_id": case.ids["loan"], "type": kind, "amount": amount, "occurred_on": day,
                        "interest": interest, "principal": principal,
                        "idempotency_key": f"{bank.code.lower()}-{case.ids['loan']}-{k}", "created_by_id": bank.user_id,
                        "created_at": _at(day, 18)}
                       for k, (kind, amount, day, interest, principal) in enumerate(case.events, start=1)]
        _insert(LoanEvent.__table__, events)
        self._agreement_figures()
        fees = self._post_fees()
        return {"requests": len(cases), "offers": len(offers), "applications": len(routed),
                "batches": len(self.batches), "guarantees": len(guaranteed), "loans": len(lent),
                "loan_events": len(events), "fee_entries": fees}

    @staticmethod
    def _guarantee_row(case: Case) -> dict[str, Any]:
        offer, fee = case.chosen, case.fee or {}
        exposure = {GuaranteeStatus.PENDING: case.amount, GuaranteeStatus.APPROVED: case.amount,
                    GuaranteeStatus.ACTIVE: case.outstanding}.get(case.guarantee, ZERO)
        return {"agreement_id": case.deal.id, "batch_id": case.batch.id, "application_id": case.ids["application"],
                "enterprise_id": case.firm.id, "loan_id": case.ids.get("loan"), "amount": case.amount,
                "exposure": exposure, "term_months": case.need.term_months, "list_fee_rate": offer.list_fee_rate,
                "fee_rate": offer.guarantee_fee_rate, "subsidy_rate": offer.fee_subsidy_rate,
                "applied_rules": fee.get("applied_rules", list(offer.applied_rules)), "fee_days": fee.get("fee_days"),
                "list_fee": fee.get("list_fee"), "fee_charged": fee.get("fee_charged"),
                "fiscal_subsidy": fee.get("fiscal_subsidy"), "status": case.guarantee, "reason": case.exclusion,
                "created_at": _at(case.decided, 14, 5), "decided_at": case.guarantee_decided}

    def _agreement_figures(self) -> None:
        """Quota reserved and outstanding as the history leaves it (with the exposure of the loans about to default:
        settle_default releases it); the guaranteed total grows as the defaults are settled."""
        table = Agreement.__table__
        reserved: dict[int, Decimal] = defaultdict(lambda: ZERO)
        outstanding: dict[int, Decimal] = defaultdict(lambda: ZERO)
        for case in self.cases:
            if case.guarantee in (GuaranteeStatus.PENDING, GuaranteeStatus.APPROVED):
                reserved[case.deal.id] += case.amount
            elif case.guarantee is GuaranteeStatus.ACTIVE:
                outstanding[case.deal.id] += case.outstanding
        for deal in self.world.deals:
            self.disbursements[deal.id].sort()
            held = reserved[deal.id] + outstanding[deal.id]
            if held > deal.total_quota:  # the agency raised the quota as the book grew
                deal.total_quota = (held / 50_000_000).to_integral_value(ROUND_UP) * 50_000_000
            db.session.execute(update(table).where(table.c.id == deal.id).values(
                total_quota=deal.total_quota, quota_reserved=reserved[deal.id],
                quota_outstanding=outstanding[deal.id]))

    def _post_fees(self) -> int:
        """Every disbursed guarantee's fee, in disbursement order, through post_many: the entry charge_fee posts
        (same key, reference, memo and lines)."""
        charged = sorted((c for c in self.cases if c.fee is not None), key=lambda c: (c.disbursed, c.ids["loan"]))
        keys = {(Party.FISCAL_FUND, FISCAL_FUND_ID, Purpose.FEE_SUBSIDY)}
        for case in charged:
            agency = case.deal.agency.id
            keys |= {(Party.ENTERPRISE, case.firm.id, Purpose.FEE), (Party.AGENCY, agency, Purpose.FEE_INCOME),
                     (Party.AGENCY, agency, Purpose.FEE_SUBSIDY)}
        accounts = _open_accounts(keys) if charged else {}
        entries = []
        for case in charged:
            agency, loan_id = case.deal.agency.id, case.ids["loan"]
            lines = _moves(accounts, ((Party.ENTERPRISE, case.firm.id, Purpose.FEE),
                                      (Party.AGENCY, agency, Purpose.FEE_INCOME), case.fee["fee_charged"]),
                           ((Party.FISCAL_FUND, FISCAL_FUND_ID, Purpose.FEE_SUBSIDY),
                            (Party.AGENCY, agency, Purpose.FEE_SUBSIDY), case.fee["fiscal_subsidy"]))
            if lines:
                entries.append(Entry(key=f"loan:{loan_id}:fee", kind=EntryKind.FEE, ref=f"loan:{loan_id}",
                                     occurred_on=case.disbursed, lines=lines,
                                     memo=summaries.memo("fee", days=case.fee['fee_days'])))
        for start in range(0, len(entries), LEDGER_BATCH):
            post_many(entries[start:start + LEDGER_BATCH])
        return len(entries)

    # Events through the app's services, in the order they happened --------------------------------------------

    def settle(self) -> dict[str, int]:
        """Pool deposits (quarterly), defaults and recoveries, day by day, through settlement.deposit and the
        loan-event service (record_event → settle_default / settle_recovery): losses are shared as the agreements
        say, up to their compensation caps, and a pool short of cash raises claims its next deposit pays."""
        world, rng = self.world, self.world.rng("events")
        scale = max(Decimal(500_000), Decimal(200) * len(self.cases))
        events: list[tuple[dt.date, int, int, Any]] = []
        for pool_id, _prefix, weight in world.pools:
            day = world.start
            while day <= world.as_of:
                share = Decimal(1) if day == world.start else Decimal("0.125")
                amount = _round(scale * Decimal(str(weight)) * share * rng.randint(80, 120) / 100, 10_000)
                if amount > 0 and _working(day) <= world.as_of:
                    events.append((_working(day), 0, pool_id, amount))
                day = rules.add_months(day, 3)
        for case in self.cases:
            if case.default_on is not None:
                events.append((case.default_on, 1, case.ids["loan"], case))
                events += [(day, 2, case.ids["loan"], (case, amount)) for day, amount in case.recoveries]
        events.sort(key=lambda e: e[:3])
        table = Agreement.__table__
        made = {"pool_deposits": 0, "defaults": 0, "recoveries": 0}
        for n, (day, kind, subject, detail) in enumerate(events, start=1):
            if kind == 0:
                deposit(subject, db.session.get(User, world.admin_id), detail, day, key=f"generated:{day}")
                made["pool_deposits"] += 1
            elif kind == 1:
                if detail.deal is not None:  # the compensation cap counts what had been guaranteed by then
                    running = sum((p for d, p in self.disbursements[detail.deal.id] if d <= day), ZERO)
                    db.session.execute(update(table).where(table.c.id == detail.deal.id)
                                       .values(guaranteed_total=running))
                loan = db.session.get(Loan, subject)
                # As the scheduler's overdue scan reports it, 90 days after the loan fell overdue.
                record_event(loan, system_user(loan.application.bank), LoanEventType.DEFAULT, None, day,
                             key="scheduler:default")
                made["defaults"] += 1
            else:
                case, amount = detail
                officer = db.session.get(User, self.banks[case.chosen.candidate.bank_id].user_id)
                record_event(db.session.get(Loan, subject), officer, LoanEventType.RECOVERY, amount, day,
                             key=f"recovery-{day}")
                made["recoveries"] += 1
            if n % 200 == 0:
                db.session.commit()
                db.session.expunge_all()
        for deal in world.deals:
            db.session.execute(update(table).where(table.c.id == deal.id).values(
                guaranteed_total=sum((p for _d, p in self.disbursements[deal.id]), ZERO)))
        return made


def _moves(accounts: dict, *moves: tuple[tuple, tuple, Decimal]) -> list[tuple[int, Decimal]]:
    """As settlement._lines: each move pays `amount` from the first account to the second; zero moves left out."""
    lines = []
    for source, target, amount in moves:
        if amount:
            lines += [(accounts[source], -amount), (accounts[target], amount)]
    return lines


# The ledger's top-up ---------------------------------------------------------------------------------------------

def _top_up(world: World, target: int, report: Callable[[str], None]) -> dict[str, int]:
    """Fee entries of the agencies' 总对总 books (loans guaranteed off the marketplace, under the same agreements),
    spread over the working days of the history, through post_many, until the ledger holds `target` postings (or
    one more: entries have two or four); about one in five hundred is later reversed (a guarantee cancelled before
    drawdown)."""
    rng = world.rng("ledger")
    have = db.session.scalar(select(func.count(Posting.id)))
    if have >= target:
        return {"topped_up_entries": 0}
    firms_of: dict[frozenset[str], list[Firm]] = {}
    for deal in world.deals:
        if deal.tiers not in firms_of:
            firms_of[deal.tiers] = [f for f in world.firms if f.tier.value in deal.tiers]
    days = [world.start + dt.timedelta(days=n) for n in range((world.as_of - world.start).days + 1)]
    live = [(day, [d for d in world.deals if d.live_on(day) and firms_of[d.tiers]]) for day in days if _works(day)]
    live = [(day, deals) for day, deals in live if deals]
    if not live:
        report("ledger: no agreement with enterprises to post fees for; the top-up is skipped")
        return {"topped_up_entries": 0}
    keys = {(Party.FISCAL_FUND, FISCAL_FUND_ID, Purpose.FEE_SUBSIDY)}
    for deal in world.deals:
        keys |= {(Party.AGENCY, deal.agency.id, purpose) for purpose in (Purpose.FEE_INCOME, Purpose.FEE_SUBSIDY)}
        keys |= {(Party.ENTERPRISE, f.id, Purpose.FEE) for f in firms_of[deal.tiers]}
    accounts = _open_accounts(keys)
    db.session.commit()

    pricing: dict[tuple, rules.Pricing] = {}
    buffer: list[Entry] = []
    granted_of: dict[str, list[tuple[int, Decimal]]] = {}
    reversible: list[tuple[int, Entry]] = []  # recently posted fees: (id, entry)
    made = reversals = 0
    posted = have
    started = last = time.perf_counter()

    def fee_entry(day: dt.date, deals: list[Deal]) -> Entry | None:
        nonlocal made
        deal = rng.choices(deals, [d.weight for d in deals])[0]
        firm = rng.choice(firms_of[deal.tiers])
        tier = firm.tier_on(day).value
        if tier not in deal.tiers:  # its certification had lapsed by then
            return None
        amount = _log_uniform(rng, 300_000, float(min(deal.per_loan_cap, 10_000_000)), 10_000)
        days_of_term = rules.term_days(day, rng.choice(REQUEST_TERMS))
        product_type = rng.choice(sorted(deal.types))
        # The generated rules have no amount condition, so one pricing serves every amount of a kind of loan.
        key = (deal.id, tier, firm.region, product_type, day.year)
        if key not in pricing:
            pricing[key] = rules.price(deal.fee_rate, rules.Subject(
                tier=tier, region_code=firm.region, product_type=product_type, amount=amount, first_loan=False),
                world.rules_on(day))
        price = pricing[key]
        fee = rules.fee_amount(amount, price.fee_rate, days_of_term)
        subsidy, steps = (ZERO, []) if target - posted < 4 else world.grant(price.applied_rules, amount, days_of_term)
        lines = _moves(accounts, ((Party.ENTERPRISE, firm.id, Purpose.FEE),
                                  (Party.AGENCY, deal.agency.id, Purpose.FEE_INCOME), fee),
                       ((Party.FISCAL_FUND, FISCAL_FUND_ID, Purpose.FEE_SUBSIDY),
                        (Party.AGENCY, deal.agency.id, Purpose.FEE_SUBSIDY), subsidy))
        made += 1
        entry = Entry(key=f"generated:fee:{made}", kind=EntryKind.FEE, ref=f"agreement:{deal.id}", occurred_on=day,
                      lines=lines, memo=summaries.memo("fee_agency_book", days=days_of_term, code=deal.code))
        granted_of[entry.key] = [(s["rule_id"], Decimal(s["granted"])) for s in steps if "granted" in s]
        return entry

    def reversal(day: dt.date) -> Entry:
        nonlocal reversals
        entry_id, original = reversible.pop(rng.randrange(len(reversible)))
        reversals += 1
        for rule_id, amount in granted_of.pop(original.key, []):
            world.granted[rule_id] -= amount
        return Entry(key=f"generated:reversal:{reversals}", kind=EntryKind.REVERSAL, ref=original.ref,
                     occurred_on=max(day, original.occurred_on),
                     lines=[(account_id, -amount) for account_id, amount in original.merged.items()],
                     memo=summaries.memo("fee_refunded"), reverses_id=entry_id)

    def flush() -> None:
        nonlocal last
        results = post_many(buffer)
        db.session.commit()
        reversible.extend((entry_id, entry) for (entry_id, _new), entry in zip(results, buffer, strict=True)
                          if entry.kind is EntryKind.FEE)
        del reversible[:-2_000]
        for stale in list(granted_of)[:-10_000]:  # only recent entries are ever reversed
            del granted_of[stale]
        buffer.clear()
        if time.perf_counter() - last > 30:
            last = time.perf_counter()
            report(f"  ledger: {posted:,} of {target:,} postings ({(made + reversals) / (last - started):,.0f} "
                   "entries/s)")

    for index, (day, deals) in enumerate(live):
        due = have + (target - have) * (index + 1) // len(live)
        misses = 0
        while posted < due and misses < 50:
            entry = reversal(day) if reversible and target - posted >= 4 and rng.random() < 0.002 \
                else fee_entry(day, deals)
            if entry is None:
                misses += 1
                continue
            buffer.append(entry)
            posted += len(entry.merged)
            if len(buffer) >= LEDGER_BATCH:
                flush()
    for day, deals in reversed(live):  # what days short of an eligible enterprise left over, on the latest days
        misses = 0
        while posted < target and misses < 50:
            if (entry := fee_entry(day, deals)) is None:
                misses += 1
                continue
            buffer.append(entry)
            posted += len(entry.merged)
            if len(buffer) >= LEDGER_BATCH:
                flush()
        if posted >= target:
            break
    if buffer:
        flush()
    return {"topped_up_entries": made, "reversals": reversals}


# Finishing ---------------------------------------------------------------------------------------------------

def _finish(world: World, counts: dict[str, int]) -> dict[str, int]:
    """Fee rules' budgets from what they granted (a quarter more, so this year's still has room), one audit entry for
    the whole generation, and the final counts of the ledger."""
    for rule in db.session.scalars(select(FeeRule).order_by(FeeRule.id)):
        granted = world.granted.get(rule.id, ZERO).quantize(FEN)
        rule.subsidy_granted = granted
        if rule.effect_kind.value == rules.SUBSIDY:
            rule.budget = max(Decimal(1_000_000), (granted * Decimal("1.25") / 100_000).to_integral_value(ROUND_UP)
                              * 100_000).quantize(FEN)
    db.session.flush()
    made = {"journal_entries": db.session.scalar(select(func.count(JournalEntry.id))),
            "postings": db.session.scalar(select(func.count(Posting.id))),
            "ledger_accounts": db.session.scalar(select(func.count(Account.id))),
            "pool_deposits_rows": db.session.scalar(select(func.count(PoolDeposit.id)))}
    audit.record("marketplace.generated", "marketplace", None,
                 {"seed": world.seed, "as_of": world.as_of, **counts, **made})
    del made["pool_deposits_rows"]
    return made


def _analyze() -> dict[str, int]:
    """Statistics as autovacuum leaves a long-lived database, so benchmarks measure the plans production gets."""
    engine = db.session.get_bind()
    db.session.remove()
    if engine.dialect.name == "postgresql":
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
            connection.execute(text("VACUUM (ANALYZE)"))
    else:
        with engine.begin() as connection:
            connection.execute(text("ANALYZE"))
    return {}
