"""`flask demo generate`: a plausible province, deterministic, its books balanced (marketplace.demo.generate).

The generator commits as it goes, so it runs on databases of its own (the `databases` fixture), once per run:
two fresh databases, the same seed and sizes, compared table by table.
"""

import hashlib
import re
from collections.abc import Iterator
from decimal import Decimal

import pytest
from flask import Flask
from flask_migrate import upgrade
from sqlalchemy import func, select
from stdnum.cn import uscc

from guarantees.models import Agreement, Batch, BatchStatus, LossAllocation, RecoveryAllocation
from guarantees.services import pool_names
from marketplace import create_app, db
from marketplace.auth.models import Role, User
from marketplace.dates import business_today
from marketplace.db import Base, UTCDateTime
from marketplace.demo import DEMO_PASSWORD
from marketplace.demo.generate import generate
from marketplace.financing.loans import arrears, owed_on
from marketplace.financing.models import FinancingRequest, Loan, LoanStatus, Offer
from marketplace.ledger import reports
from marketplace.ledger.models import Account, Posting
from marketplace.orgs.models import Enterprise, Tier, TierCertification
from products.models import Product, ProductStatus, ProductType

SIZES = {"enterprises": 200, "products": 300, "agreements": 5, "postings": 5_000}
SEED = 11
#: The day both generations take as today, fixed once so that a run across midnight still compares like with like.
AS_OF = business_today()


def _fresh_app(databases, name: str) -> Flask:
    app = create_app({"PROFILE": "test", "TESTING": True, "DATABASE_URL": databases.fresh(name),
                      "SECRET_KEY": "generate-" + name})
    with app.app_context():
        upgrade()
    return app


@pytest.fixture(scope="module")
def generated(databases) -> Iterator[tuple[Flask, str, str]]:
    """A province generated through the command line, what the command printed, and its fingerprint (taken before
    any test adds to it)."""
    app = _fresh_app(databases, "generated_a")
    result = app.test_cli_runner().invoke(args=[
        "demo", "generate", "--seed", str(SEED), "--as-of", AS_OF.isoformat(),
        *(part for name, size in SIZES.items() for part in (f"--{name}", str(size)))])
    assert result.exit_code == 0, result.output
    with app.app_context():
        fingerprint = _fingerprint()
    yield app, result.output, fingerprint
    db.engine_of(app).dispose()


@pytest.fixture
def province(generated) -> tuple[Flask, str]:
    return generated[:2]


def _count(model, *conditions) -> int:
    return db.session.scalar(select(func.count()).select_from(model).where(*conditions))


def test_the_sizes_asked_for_are_what_is_generated(province):
    app, output = province
    with app.app_context():
        assert _count(Enterprise) == 200
        assert _count(Product) == 300
        assert _count(Agreement) == 5
        # Entries have two or four postings (a recovery three), so the last one may overshoot by one.
        assert 5_000 <= _count(Posting) <= 5_001
    for phase in ("reference", "enterprises", "products", "history", "events", "ledger", "analyze"):
        assert re.search(rf"^{phase} +\d+\.\d s", output, re.MULTILINE), output
    assert "postings" in output and "Every user's password is demo-password" in output


def test_every_product_type_tier_and_lifecycle_is_present(province):
    app, _output = province
    with app.app_context():
        published = set(db.session.scalars(select(Product.product_type).where(
            Product.status == ProductStatus.PUBLISHED).distinct()))
        assert published == set(ProductType)
        assert set(db.session.scalars(select(Product.status).distinct())) == set(ProductStatus)
        assert set(db.session.scalars(select(TierCertification.tier).distinct())) == {
            Tier.INNOVATIVE, Tier.SRDI, Tier.LITTLE_GIANT}
        uncertified = select(Enterprise.id).where(Enterprise.uscc.not_in(select(TierCertification.uscc)))
        assert db.session.scalars(uncertified).first() is not None
        # Second versions: an archived v1 replaced by a published v2 of the same family.
        assert _count(Product, Product.version == 2) > 0
        assert _count(Product, Product.family_id.is_(None)) == 0


def test_enterprises_are_plausible_zhejiang_firms(province):
    app, _output = province
    with app.app_context():
        enterprises = db.session.scalars(select(Enterprise)).all()
        assert all(uscc.is_valid(e.uscc) and e.uscc.startswith("91") and e.uscc[2:8] == e.region_code
                   for e in enterprises)
        assert all(re.fullmatch(r"33\d{4}", e.region_code) for e in enterprises)
        assert all(re.fullmatch(r"[A-T]\d{2,4}", e.industry_code) for e in enterprises)
        assert all(0 < e.rd_expense < e.annual_revenue for e in enterprises)
        assert len({e.region_code[:4] for e in enterprises}) >= 8  # most of the 11 cities
        # An officer of every bank and agency can sign in (defaults add their banks' inactive system users).
        assert _count(User, User.role == Role.BANK, User.active) == 60
        assert _count(User, User.role == Role.AGENCY, User.active) == 40
        srdi = select(Enterprise.id).join(TierCertification, TierCertification.uscc == Enterprise.uscc).where(
            TierCertification.tier.in_([Tier.SRDI, Tier.LITTLE_GIANT]))
        assert _count(User, User.organization_id.in_(srdi)) == len(db.session.scalars(srdi).all())


def test_agreements_have_a_history_with_defaults_and_recoveries(province):
    app, _output = province
    with app.app_context():
        assert _count(Batch, Batch.status == BatchStatus.DECIDED) > 0
        assert _count(LossAllocation, LossAllocation.agreement_id.is_not(None)) > 0
        assert _count(RecoveryAllocation) > 0
        statuses = set(db.session.scalars(select(Loan.status).distinct()))
        assert {LoanStatus.REPAID, LoanStatus.REPAYING} <= statuses
        assert statuses & {LoanStatus.DEFAULTED, LoanStatus.RECOVERING, LoanStatus.CLOSED}
        assert _count(Offer, Offer.agreement_id.is_not(None)) > 0
        assert _count(FinancingRequest) == 200
        for agreement in db.session.scalars(select(Agreement)):
            assert agreement.quota_reserved + agreement.quota_outstanding <= agreement.total_quota


def test_the_books_balance(province):
    app, _output = province
    with app.app_context():
        assert reports.verify() == []
        admin = db.session.scalar(select(User).where(User.role == Role.ADMIN))
        trial = reports.trial_balance(admin, pool_names())
        assert trial["balanced"] and trial["total_debits"] > 0
        assert db.session.scalar(select(func.sum(Account.balance))) == 0
    result = app.test_cli_runner().invoke(args=["ledger", "verify"])
    assert result.exit_code == 0 and "Ledger sound" in result.output


def test_a_generated_srdi_enterprise_gets_offers_through_the_api(province):
    app, _output = province
    with app.app_context():
        username = db.session.scalar(
            select(User.username).join(Enterprise, Enterprise.id == User.organization_id)
            .join(TierCertification, TierCertification.uscc == Enterprise.uscc)
            .where(TierCertification.tier == Tier.SRDI, TierCertification.valid_until >= AS_OF)
            .order_by(User.id))
    client = app.test_client()
    token = client.post("/api/v1/auth/token", json={"username": username, "password": DEMO_PASSWORD})
    assert token.status_code == 200, token.json
    response = client.post("/api/v1/financing-requests", headers={
        "Authorization": f"Bearer {token.json['access_token']}"}, json={
        "amount": "1000000.00", "term_months": 12, "purpose": "Working capital", "accept_guarantee": True})
    assert response.status_code == 201, response.json
    assert response.json["tier"] == "srdi" and response.json["offers"]
    assert [o["rank"] for o in response.json["offers"]] == list(range(1, len(response.json["offers"]) + 1))


def test_generated_requests_keep_their_reasons_as_codes_naming_generated_products(province):
    app, _output = province
    with app.app_context():
        reasons = [entry for request in db.session.scalars(select(FinancingRequest))
                   for entry in request.unmatched_reasons]
        named = {pid for entry in reasons for pid in entry.get("products", ())}
        assert reasons and named
        assert all(isinstance(entry, dict) and entry["code"] != "text" for entry in reasons)
        assert _count(Product, Product.id.in_(named)) == len(named)


def _fingerprint() -> str:
    """A digest of every generated table's rows, ids included, leaving out when rows were written and password
    hashes (salted)."""
    digest = hashlib.sha256()
    for table in Base.metadata.sorted_tables:
        if table.name in ("audit_entries", "alembic_version"):
            continue
        columns = [c for c in table.columns if not isinstance(c.type, UTCDateTime) and c.name != "password_hash"]
        rows = db.session.execute(select(*columns).order_by(*table.primary_key.columns)).all()
        digest.update(f"{table.name}:{len(rows)}:{[tuple(row) for row in rows]!r}".encode())
    return digest.hexdigest()


def test_the_same_seed_and_sizes_give_the_same_province(generated, databases):
    again = _fresh_app(databases, "generated_b")
    try:
        with again.app_context():
            counts = generate(SEED, **SIZES, as_of=AS_OF)
            assert counts["enterprises"] == 200
            twin = _fingerprint()
    finally:
        db.engine_of(again).dispose()
    assert generated[2] == twin


def test_generating_into_a_marketplace_that_exists_is_refused(province):
    app, _output = province
    result = app.test_cli_runner().invoke(args=["demo", "generate", "--enterprises", "1"])
    assert result.exit_code != 0
    assert "already holds a marketplace" in result.output
    with app.app_context():
        assert _count(Enterprise) == 200


def test_nothing_is_generated_in_production(app):
    app.config["PROFILE"] = "production"
    try:
        result = app.test_cli_runner().invoke(args=["demo", "generate", "--enterprises", "10"])
    finally:
        app.config["PROFILE"] = "test"
    assert result.exit_code != 0
    assert "never loaded in production" in result.output
    with app.app_context():
        assert _count(Enterprise) == 0


def test_loans_were_repaid_along_their_schedules(province):
    """Every instalment due before the day of the history was paid on its due date, interest and principal as the
    schedule splits them, unless the loan fell overdue: a performing loan has no arrears, an overdue one has."""
    app, _output = province
    with app.app_context():
        loans = db.session.scalars(select(Loan).where(Loan.disbursed_on.is_not(None))).all()
        performing = [loan for loan in loans if loan.status in (LoanStatus.DISBURSED, LoanStatus.REPAYING)]
        assert performing and all(loan.repayment_method is not None for loan in loans)
        assert [loan.id for loan in performing if arrears(loan, AS_OF) is not None] == []
        assert all(loan.principal - loan.principal_repaid == loan.outstanding for loan in performing)
        assert any(loan.interest_paid > 0 for loan in performing)
        repaid = [loan for loan in loans if loan.status is LoanStatus.REPAID]
        assert all(owed_on(loan, AS_OF) == (Decimal("0.00"), Decimal("0.00")) for loan in repaid)
