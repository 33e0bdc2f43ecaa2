"""The demo world: users, two banks and the sandbox bank (whose own system decides by itself), an agency, two
enterprises, the LPR and published products.

Seeding is idempotent: everything is looked up by its natural key first, so running it twice adds nothing.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from sqlalchemy import select

from marketplace import db
from marketplace.auth.models import Role, User
from marketplace.auth.services import hash_password
from marketplace.lpr.models import LprRate
from marketplace.lpr.services import set_rates
from marketplace.orgs.models import (
    Agency,
    AgencyKind,
    Bank,
    Enterprise,
    EnterpriseSize,
    Organization,
    Tier,
    TierCertification,
)
from marketplace.orgs.services import certify

DEMO_PASSWORD = "demo-password"

#: (Chinese name, English name, code): each organisation and product is named in Chinese, with an English name the
#: English interface shows.
BANKS = [("浙商银行", "Zhejiang Commerce Bank", "ZCB"), ("杭州科技银行", "Hangzhou Science Bank", "HZSB"),
         ("沙箱银行（系统自动审批）", "Sandbox Bank (decides by itself)", "SANDBOX")]
#: Where the sandbox bank's "system" listens; `flask demo serve` points it at the host and port it serves on.
SANDBOX_URL = "http://127.0.0.1:5000/sandbox-bank"
AGENCY = ("浙江省融资担保有限公司", "Zhejiang Financing Guarantee", "ZJFG", AgencyKind.PROVINCIAL)
#: (Chinese name, English name, USCC, region, industry, size, revenue, R&D, employees, certified tier)
ENTERPRISES = [
    ("杭州西湖精密电机有限公司", "Xihu Precision Motors", "91330106MA2CFD8K3T", "330106", "C3811", EnterpriseSize.SMALL,
     "86000000.00", "7200000.00", 180, Tier.SRDI),
    ("杭州滨江光电科技有限公司", "Binjiang Photonics", "91330110MA28E6QW7F", "330110", "C3976", EnterpriseSize.MEDIUM,
     "310000000.00", "41000000.00", 520, Tier.LITTLE_GIANT),
]
#: The demo's bank and agency users are their organisations' administrators (they manage the users of their own).
USERS = [("admin", Role.ADMIN, None), ("bank", Role.BANK, "ZCB"), ("bank2", Role.BANK, "HZSB"),
         ("agency", Role.AGENCY, "ZJFG"), ("enterprise", Role.ENTERPRISE, ENTERPRISES[0][2]),
         ("enterprise2", Role.ENTERPRISE, ENTERPRISES[1][2])]

SRDI_TIERS = [Tier.SRDI, Tier.LITTLE_GIANT]
ALL_CERTIFIED = [Tier.INNOVATIVE, Tier.SRDI, Tier.LITTLE_GIANT]
#: (bank code, Chinese name, English name, type, amount min, max, term min, max, spread bp, tiers, regions, guarantee)
PRODUCTS = [
    ("ZCB", "专精特新信用贷", "SRDI Credit Loan", "credit", "500000.00", "10000000.00", 6, 36, 20,
     SRDI_TIERS, [], "none"),
    ("ZCB", "无还本续贷", "Renewal Without Repayment", "renewal", "1000000.00", "20000000.00", 12, 36, 35,
     ALL_CERTIFIED, ["33"], "optional"),
    ("ZCB", "科创随借随还", "Tech Revolving Line", "revolving", "300000.00", "5000000.00", 1, 12, 45,
     ALL_CERTIFIED, [], "optional"),
    ("ZCB", "小巨人中长期贷", "Little Giant Growth Loan", "term", "5000000.00", "50000000.00", 36, 96, 10,
     [Tier.LITTLE_GIANT], [], "required"),
    ("HZSB", "知识产权质押贷", "Patent Pledge Loan", "ip_pledge", "1000000.00", "30000000.00", 12, 60, 55,
     ALL_CERTIFIED, ["3301"], "optional"),
    ("HZSB", "未来科技城园区贷", "Future Park Loan", "park", "500000.00", "8000000.00", 6, 24, 60,
     ALL_CERTIFIED, ["330110"], "required"),
    ("HZSB", "专精特新快贷", "Specialist Credit Express", "credit", "100000.00", "3000000.00", 3, 12, 30,
     SRDI_TIERS, ["33"], "none"),
    ("HZSB", "设备更新中长期贷", "Equipment Upgrade Loan", "term", "2000000.00", "40000000.00", 24, 120, -10,
     SRDI_TIERS, [], "required"),
    # The sandbox bank's system approves up to 3,000,000.00 (declines above) and reports the disbursement itself.
    ("SANDBOX", "沙箱秒批贷", "Sandbox Instant Credit", "credit", "100000.00", "5000000.00", 3, 36, 25,
     ALL_CERTIFIED, [], "none"),
]

RISK_POOL = {"name": "浙江省专精特新风险补偿资金池", "name_en": "Zhejiang SRDI Risk Compensation Pool",
             "region_code": "33", "cap_per_loss": None}
#: ZJFG guarantees ZCB's loans to SRDI enterprises and little giants; fixed dates keep the demo reproducible.
AGREEMENT = {
    "code": "ZJFG-ZCB-2025", "bank": "ZCB", "valid_from": dt.date(2025, 1, 1), "valid_to": dt.date(2030, 12, 31),
    "total_quota": Decimal("100000000.00"), "per_enterprise_cap": Decimal("10000000.00"),
    "per_loan_cap": Decimal("5000000.00"), "fee_rate": Decimal("0.0100"),
    "shares": {"agency": Decimal("0.60"), "bank": Decimal("0.20"), "reguarantee": Decimal("0"),
               "risk_pool": Decimal("0.20")},
    "reguarantor_id": None, "compensation_cap_rate": Decimal("0.03"),
    "eligible_tiers": [Tier.SRDI, Tier.LITTLE_GIANT],
    "eligible_product_types": ["credit", "renewal", "revolving", "term"],
    "batch_max_size": 500, "auto_approve_below": None, "review_sla_days": 5,
}


#: The provincial policy in the demo: the Hangzhou 专精特新贷 fee cap, and 降费奖补 paying agencies half of what
#: they waive, within a budget.
FEE_RULES = [
    {"name": "专精特新担保费上限", "name_en": "SRDI fee cap",
     "priority": 10, "stackable": True, "valid_from": dt.date(2025, 1, 1),
     "valid_to": None, "budget": None, "conditions": {"tiers": [Tier.SRDI, Tier.LITTLE_GIANT]},
     "effect": {"kind": "cap_fee_rate", "value": Decimal("0.0050")}},
    {"name": "降费奖补", "name_en": "Fee-reduction subsidy",
     "priority": 20, "stackable": True, "valid_from": dt.date(2025, 1, 1),
     "valid_to": None, "budget": Decimal("5000000.00"), "conditions": {"tiers": [Tier.SRDI, Tier.LITTLE_GIANT]},
     "effect": {"kind": "fiscal_subsidy_share", "value": Decimal("0.5")}},
]
POOL_DEPOSIT = Decimal("10000000.00")


def seed() -> list[tuple[str, str]]:
    """Create whatever of the demo world is missing; returns the demo logins (user, role)."""
    if db.session.scalar(select(LprRate.id).limit(1)) is None:
        set_rates(dt.date(2025, 9, 22), Decimal("0.0300"), Decimal("0.0350"))

    orgs: dict[str, Organization] = {}
    for name, name_en, code in BANKS:
        orgs[code] = _get_or_add(Bank, Bank.code == code, name=name, name_en=name_en, code=code,
                                 callback_secret=_demo_secret(code),
                                 api_base_url=SANDBOX_URL if code == "SANDBOX" else None)
    name, name_en, code, kind = AGENCY
    orgs[code] = _get_or_add(Agency, Agency.code == code, name=name, name_en=name_en, code=code, agency_kind=kind)
    for name, name_en, uscc, region, industry, size, revenue, rd, employees, tier in ENTERPRISES:
        orgs[uscc] = _get_or_add(Enterprise, Enterprise.uscc == uscc, name=name, name_en=name_en, uscc=uscc,
                                 region_code=region,
                                 industry_code=industry, size=size, annual_revenue=Decimal(revenue),
                                 rd_expense=Decimal(rd), employees=employees)
        if db.session.get(TierCertification, uscc) is None:
            certify(uscc, tier, dt.date(2028, 12, 31))
    for username, role, org_key in USERS:
        # Addresses of a reserved domain: the demo's mail goes to the admin's outbox page and the log, never out.
        _get_or_add(User, User.username == username, username=username, role=role,
                    password_hash=hash_password(DEMO_PASSWORD), organization=orgs.get(org_key),
                    email=f"{username}@demo.example", org_admin=role in (Role.BANK, Role.AGENCY))
    _seed_products({code: orgs[code] for _name, _name_en, code in BANKS})
    _seed_agreement(orgs[AGENCY[2]], orgs[AGREEMENT["bank"]])
    _seed_fee_rules()
    _seed_pool_deposit(db.session.scalar(select(User).where(User.role == Role.ADMIN).order_by(User.id)))
    db.session.flush()
    return [(username, role.value) for username, role, _org in USERS]


DESCRIPTION = "面向专精特新中小企业的演示产品。"


def _seed_products(banks: dict[str, Organization]) -> None:
    from products.models import Product, ProductStatus
    from products.services import change_status, create_product

    for code, name, name_en, ptype, amin, amax, tmin, tmax, spread, tiers, regions, guarantee in PRODUCTS:
        bank = banks[code]
        if db.session.scalar(select(Product.id).where(Product.bank_id == bank.id, Product.name == name)):
            continue
        product = create_product(bank.id, {
            "name": name, "name_en": name_en, "product_type": ptype, "amount_min": Decimal(amin),
            "amount_max": Decimal(amax),
            "term_min_months": tmin, "term_max_months": tmax, "rate_spread_bp": spread,
            "eligible_tiers": tiers, "eligible_regions": regions, "guarantee": guarantee,
            "description": DESCRIPTION,
        })
        change_status(product, ProductStatus.PUBLISHED)


def _seed_agreement(agency: Organization, bank: Organization) -> None:
    """An active 总对总 agreement between the demo agency and ZCB, so ZCB's optional-guarantee products are offered
    with a guarantee fee and approvals land in a batch for the agency to review. Its defaults are claims the agency
    reviews within 10 working days (代偿申请), so a walk-through meets the claims queue."""
    from guarantees.models import Agreement, AgreementStatus, ClaimMode, RiskPool
    from guarantees.services import change_status, create_agreement, create_risk_pool
    from products.models import ProductType

    if db.session.scalar(select(Agreement.id).where(Agreement.code == AGREEMENT["code"])) is not None:
        return
    pool = db.session.scalar(select(RiskPool).where(RiskPool.name == RISK_POOL["name"]))
    if pool is None:
        pool = create_risk_pool(dict(RISK_POOL))
    terms = {key: value for key, value in AGREEMENT.items() if key != "bank"}
    agreement = create_agreement(agency.id, {**terms, "bank_id": bank.id, "risk_pool_id": pool.id,
                                             "claim_mode": ClaimMode.REVIEW, "claim_review_days": 10,
                                             "shares": dict(AGREEMENT["shares"]),
                                             "eligible_product_types": [ProductType(t) for t in
                                                                        AGREEMENT["eligible_product_types"]]})
    change_status(agreement, AgreementStatus.ACTIVE)


def _seed_fee_rules() -> None:
    from marketplace.fees.models import FeeRule
    from marketplace.fees.services import create_rule

    for rule in FEE_RULES:
        if db.session.scalar(select(FeeRule.id).where(FeeRule.name == rule["name"])) is None:
            create_rule(rule)


def _seed_pool_deposit(admin: User) -> None:
    from guarantees.models import RiskPool
    from guarantees.settlement import deposit

    pool = db.session.scalar(select(RiskPool).where(RiskPool.name == RISK_POOL["name"]))
    deposit(pool.id, admin, POOL_DEPOSIT, dt.date(2025, 1, 2), key="demo-seed")  # the key makes it once only


def _demo_secret(code: str) -> str:
    # Fixed in the demo so the sandbox bank can sign callbacks; real banks get a random one.
    return f"demo-callback-secret-{code.lower()}"


def _get_or_add(model, condition, **values):
    found = db.session.scalar(select(model).where(condition))
    if found is None:
        found = model(**values)
        db.session.add(found)
        db.session.flush()
    return found
