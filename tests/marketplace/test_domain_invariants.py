"""`flask verify` (and `flask ledger verify`): the ledger's invariants and the domain's, each owned by its package
(guarantees.checks, marketplace.financing.checks) and assembled in marketplace.verify. A history built through the
API is sound; each invariant broken by a direct UPDATE is reported, naming the row and the figures."""

import datetime as dt
from collections.abc import Callable
from decimal import Decimal
from types import SimpleNamespace

import pytest
from flask_migrate import upgrade
from sqlalchemy import insert, select, update

from guarantees.models import Agreement, Guarantee, RiskPool
from marketplace import create_app, db
from marketplace.auth.models import Role
from marketplace.dates import business_today
from marketplace.demo.generate import generate
from marketplace.financing.models import Application, FinancingRequest
from marketplace.orgs.models import AgencyKind, Tier
from marketplace.verify import all_checks, problems
from tests.guarantees.terms import PRODUCT

PLAIN_PRODUCT = {**PRODUCT, "name": "Plain credit", "guarantee": "none"}


@pytest.fixture
def history(app, world, make, as_role, login_api):
    """A 总对总 agreement with a risk pool, and through the API: a batch of three approvals with one exclusion, a loan
    disbursed and partly repaid, a loan defaulted (the pool short of its share) and partly recovered, a guarantee
    still pending in the next open batch, and a loan of another bank without a guarantee."""
    admin, agency, bank = as_role("admin"), as_role("agency"), as_role("bank")
    today = business_today()
    pool = admin.post("/api/v1/risk-pools", json={"name": "Zhejiang SRDI pool", "region_code": "33"}).json
    assert admin.post(f"/api/v1/risk-pools/{pool['id']}/deposits", json={"amount": "100000.00"}).status_code == 201
    agreement = agency.post("/api/v1/agreements", json={
        "code": "ZJ-VERIFY-1", "bank_id": world.bank.id, "valid_from": today.isoformat(),
        "valid_to": (today + dt.timedelta(days=365)).isoformat(), "total_quota": "10000000.00",
        "per_enterprise_cap": "5000000.00", "per_loan_cap": "3000000.00", "fee_rate": "0.0100",
        "shares": {"agency": "0.40", "bank": "0.20", "reguarantee": "0.20", "risk_pool": "0.20"},
        "reguarantor_id": make.agency(AgencyKind.PROVINCIAL).id, "risk_pool_id": pool["id"],
        "compensation_cap_rate": "0.50", "eligible_tiers": ["srdi", "little_giant"],
        "eligible_product_types": ["credit"]}).json
    assert bank.post(f"/api/v1/agreements/{agreement['id']}/countersign").status_code == 200
    product = bank.post("/api/v1/products", json=PRODUCT).json
    bank.post(f"/api/v1/products/{product['id']}/publish")
    plain = as_role("bank2").post("/api/v1/products", json=PLAIN_PRODUCT).json
    as_role("bank2").post(f"/api/v1/products/{plain['id']}/publish")

    def apply(amount: str, guaranteed: bool = True) -> SimpleNamespace:
        """A new SRDI enterprise asks for `amount`, picks a guaranteed (or plain) offer and its bank approves."""
        portal = login_api(make.user(Role.ENTERPRISE, make.enterprise(Tier.SRDI).id))
        request = portal.post("/api/v1/financing-requests", json={
            "amount": amount, "term_months": 12, "purpose": "Working capital"}).json
        offer = next(o for o in request["offers"] if (o["agreement_id"] == agreement["id"]) == guaranteed)
        application = portal.post(f"/api/v1/financing-requests/{request['id']}/select",
                                  json={"offer_id": offer["id"]}).json["application"]
        decided = as_role("bank" if guaranteed else "bank2").post(
            f"/api/v1/applications/{application['id']}/decision", json={"decision": "approved"})
        assert decided.status_code == 200, decided.json
        return SimpleNamespace(request=request["id"], application=application["id"],
                               guarantee=decided.json["guarantee_id"], loan=decided.json["loan_id"])

    repaid, excluded, defaulted = apply("1000000.00"), apply("500000.00"), apply("800000.00")
    (batch,) = agency.get(f"/api/v1/batches?status=open&agreement_id={agreement['id']}").json
    assert agency.post(f"/api/v1/batches/{batch['id']}/submit").status_code == 200
    decided = agency.post(f"/api/v1/batches/{batch['id']}/decision", json={"exclusions": [
        {"guarantee_id": excluded.guarantee, "reason": "Sector over our concentration limit"}]})
    assert decided.status_code == 200, decided.json
    loans = {item["guarantee_id"]: item["loan_id"] for item in decided.json["items"]}
    repaid.loan, defaulted.loan = loans[repaid.guarantee], loans[defaulted.guarantee]
    pending = apply("300000.00")
    unguaranteed = apply("200000.00", guaranteed=False)

    def event(loan_id: int, who: str = "bank", **body) -> None:
        response = as_role(who).post(f"/api/v1/loans/{loan_id}/events", json=body)
        assert response.status_code == 201, response.json

    # A 随借随还 line repaid the day it was drawn: all principal, no interest yet.
    event(repaid.loan, type="disbursed", occurred_on="2026-03-02", repayment_method="revolving")
    event(repaid.loan, type="repayment", amount="250000.00", occurred_on="2026-03-02")
    event(defaulted.loan, type="disbursed", occurred_on="2026-03-02")
    event(defaulted.loan, type="overdue", occurred_on="2026-07-02")
    event(defaulted.loan, type="default", occurred_on="2026-10-02")
    event(defaulted.loan, type="recovery", amount="100000.00", occurred_on="2026-12-02")
    event(unguaranteed.loan, "bank2", type="disbursed", occurred_on="2026-03-02")
    event(unguaranteed.loan, "bank2", type="repayment", amount="20000.00", occurred_on="2026-04-02")
    return SimpleNamespace(agreement=agreement, pool=pool, repaid=repaid, excluded=excluded, defaulted=defaulted,
                           pending=pending, unguaranteed=unguaranteed)


def test_a_history_built_through_the_api_is_sound(app, history):
    with app.app_context():
        checks = all_checks()
        agreement = db.session.get(Agreement, history.agreement["id"])
        pool = db.session.get(RiskPool, history.pool["id"])
        figures = (agreement.quota_reserved, agreement.quota_outstanding, agreement.compensated_total,
                   pool.paid_out, pool.recovered)
    assert [problem for _name, found in checks for problem in found] == []
    assert {name.split(".")[0] for name, _found in checks} == {"ledger", "fees", "guarantees", "financing"}
    # Every figure the checks recompute moved: none of them holds by being zero.
    assert figures == (Decimal("300000.00"), Decimal("750000.00"), Decimal("640000.00"), Decimal("120000.00"),
                       Decimal("20000.00"))


def _agreement_figure(column: str, value: str) -> Callable:
    return lambda h: update(Agreement).where(Agreement.id == h.agreement["id"]).values({column: Decimal(value)})


def _guarantee(case: str, **values) -> Callable:
    return lambda h: update(Guarantee).where(Guarantee.id == getattr(h, case).guarantee).values(
        **{k: v(h) if callable(v) else v for k, v in values.items()})


#: (invariant, the UPDATE that breaks it, the texts the problem must contain): `{…}` fields are filled from the history.
CORRUPTIONS = {
    "reserved quota": (_agreement_figure("quota_reserved", "300100.00"),
                       ["[guarantees.reserved_quota_matches_placed_guarantees] Agreement ZJ-VERIFY-1 "
                        "(id {agreement[id]}): quota_reserved is 300100.00", "amount to 300000.00"]),
    "outstanding quota": (_agreement_figure("quota_outstanding", "750000.01"),
                          ["Agreement ZJ-VERIFY-1 (id {agreement[id]}): quota_outstanding is 750000.01",
                           "exposure sums to 750000.00"]),
    "approved guarantee without its loan": (_guarantee("repaid", loan_id=None),
                                            ["Guarantee {repaid.guarantee} (agreement ZJ-VERIFY-1, application "
                                             "{repaid.application}) is active but has no loan."]),
    "pending guarantee with a loan": (_guarantee("pending", loan_id=lambda h: h.repaid.loan),
                                      ["Guarantee {pending.guarantee} (agreement ZJ-VERIFY-1, application "
                                       "{pending.application}) is pending but points at loan {repaid.loan}."]),
    "risk pool balance": (lambda h: update(RiskPool).where(RiskPool.id == h.pool["id"]).values(
                              deposited=Decimal("100050.00")),
                          ["Risk pool Zhejiang SRDI pool (id {pool[id]}): balance is 0.00 but deposited 100050.00 "
                           "− paid out 120000.00 + recovered 20000.00 = 50.00."]),
    "compensated total": (_agreement_figure("compensated_total", "640000.50"),
                          ["Agreement ZJ-VERIFY-1 (id {agreement[id]}): compensated_total is 640000.50",
                           "agency compensation sums to 640000.00"]),
    "loan of an application not approved": (
        lambda h: update(Application).where(Application.id == h.unguaranteed.application).values(status="declined"),
        ["Loan {unguaranteed.loan}: application {unguaranteed.application} is declined, not approved."]),
    "approved request without an approved application": (
        lambda h: update(FinancingRequest).where(FinancingRequest.id == h.excluded.request).values(status="approved"),
        ["Request {excluded.request} is approved but has no approved application."]),
    "approved application without loan or pending guarantee": (
        lambda h: update(Application).where(Application.id == h.excluded.application).values(status="approved"),
        ["Application {excluded.application} (request {excluded.request}) is approved but has no loan and its "
         "guarantee {excluded.guarantee} is rejected, not pending."]),
    "loan whose guarantee is not approved": (
        _guarantee("defaulted", status="rejected"),
        ["Loan {defaulted.loan} (application {defaulted.application}): its guarantee {defaulted.guarantee} is "
         "rejected, not approved or later."]),
    "loan whose guarantee points elsewhere": (
        _guarantee("repaid", loan_id=lambda h: h.defaulted.loan),
        ["Loan {repaid.loan} (application {repaid.application}): its guarantee {repaid.guarantee} points at loan "
         "{defaulted.loan}."]),
}


def _fill(texts: list[str], h: SimpleNamespace) -> list[str]:
    return [t.format(**vars(h)) for t in texts]


@pytest.mark.parametrize("invariant", CORRUPTIONS)
def test_a_broken_invariant_is_reported_naming_the_row(app, history, invariant):
    corrupt, expected = CORRUPTIONS[invariant]
    with app.app_context():
        db.session.execute(corrupt(history))
        found = problems()
    for part in _fill(expected, history):
        assert any(part in problem for problem in found), (part, found)


def test_a_request_with_two_live_applications_is_reported(app, history):
    with app.app_context():
        # A request may have several applications (another offer after a decline), but one live at a time.
        first = db.session.get(Application, history.pending.application)
        second = db.session.scalar(insert(Application).returning(Application.id).values(
            request_id=first.request_id, offer_id=first.offer_id, bank_id=first.bank_id, status="submitted",
            created_at=db.utcnow()))
        found = problems()
    assert (f"[financing.one_live_application_per_request] Request {history.pending.request} has 2 live applications "
            f"(submitted, countered or approved): {history.pending.application} approved, {second} submitted.") in found


def test_flask_verify_and_flask_ledger_verify_exit_0_when_sound_and_1_naming_each_violation(app, history):
    runner = app.test_cli_runner()
    for command in (["ledger", "verify"], ["verify"]):
        sound = runner.invoke(args=command)
        assert sound.exit_code == 0, (sound.output, sound.exception)
        assert "Ledger sound" in sound.output and "Domain sound: 14 checks hold." in sound.output
        assert "guarantees.reserved_quota_matches_placed_guarantees: Each agreement's quota_reserved" in sound.output
    with app.app_context():
        db.session.execute(_agreement_figure("quota_outstanding", "750000.01")(history))
        db.session.commit()
    for command in (["ledger", "verify"], ["verify"]):
        broken = runner.invoke(args=command)
        assert broken.exit_code == 1
        assert (f"VIOLATION: [guarantees.outstanding_quota_matches_live_guarantees] Agreement ZJ-VERIFY-1 "
                f"(id {history.agreement['id']}): quota_outstanding is 750000.01 but its active guarantees' exposure "
                "sums to 750000.00.") in broken.stderr
        assert "1 violation." in broken.stderr and "sound" not in broken.output


def test_a_generated_province_is_sound(databases):
    """The generator writes rows in bulk, past the services: it must leave them as the services would."""
    app = create_app({"PROFILE": "test", "TESTING": True, "DATABASE_URL": databases.fresh("verify_generated"),
                      "SECRET_KEY": "verify-generated"})
    try:
        with app.app_context():
            upgrade()
            generate(5, enterprises=150, products=150, agreements=4, postings=2_000, banks=6, agencies=4,
                     as_of=business_today())
            assert db.session.scalar(select(Guarantee.id).limit(1)) is not None
            assert problems() == []
    finally:
        db.engine_of(app).dispose()
