"""On PostgreSQL, two answers to the same thing at the same moment — two decisions on one application, two events
on one loan, one Idempotency-Key sent six times — are taken one after the other: the second sees what the first
did, so exactly one of two identical decisions goes through, and quota, loan and guarantee stay in step (found by
bench/scale_out.py, with one request on each of two servers).

These tests commit for real from many connections, so they build their own database."""

import os
import uuid
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal

import pytest
from flask_migrate import upgrade
from sqlalchemy import func, select

from guarantees.models import Agreement, Batch, BatchStatus, Guarantee
from marketplace import create_app, db
from marketplace.auth.models import Role, User
from marketplace.auth.services import create_user, issue_token
from marketplace.financing.loans import periods_of
from marketplace.financing.models import Application, ApplicationStatus, Loan, LoanEvent
from marketplace.financing.schedule import apply_payment
from marketplace.financing.services import decide_batch, submit_batch
from tests.guarantees.test_quota_concurrency import AMOUNT, PASSWORD, world_with_routed_applications

pytestmark = pytest.mark.skipif(os.environ.get("MARKETPLACE_TEST_DB", "sqlite") != "postgresql",
                                reason="row locks and concurrent writers are PostgreSQL's; runs in the PostgreSQL pass")


@pytest.fixture
def race(databases):
    url = databases.fresh(f"decision_race_{uuid.uuid4().hex[:6]}")
    app = create_app({"PROFILE": "test", "DATABASE_URL": url, "SECRET_KEY": "race"})
    with app.app_context():
        upgrade()
    agreement_id, applications = world_with_routed_applications(app, one_enterprise=False)
    with app.app_context():
        bank_user = db.session.scalar(select(User).where(User.username == "race.bank"))
        token, _ = issue_token(bank_user, 3600)
        db.session.commit()
    yield app, agreement_id, applications, {"Authorization": f"Bearer {token}"}
    db.engine_of(app).dispose()


def at_once(calls):
    """Run the calls on as many threads at the same moment; → their status codes, in order."""
    with ThreadPoolExecutor(max_workers=len(calls)) as pool:
        return list(pool.map(lambda call: call(), calls))


def test_two_decisions_on_one_application_one_goes_through(race):
    app, agreement_id, applications, headers = race

    def decide(application_id, decision):
        path = f"/api/v1/applications/{application_id}/decision"
        body = {"decision": decision, "reason": "Race"}
        return lambda: app.test_client().post(path, json=body, headers=headers).status_code

    twice_approved, approved_or_declined = applications[:4], applications[4:8]
    statuses = at_once([decide(a, "approved") for a in twice_approved for _ in range(2)]
                       + [decide(a, d) for a in approved_or_declined for d in ("approved", "declined")])
    assert all(status in (200, 409) for status in statuses), str(statuses)
    for pair in range(8):
        assert sorted(statuses[2 * pair:2 * pair + 2]) == [200, 409], statuses

    with app.app_context():
        for application_id in twice_approved:
            assert db.session.get(Application, application_id).status is ApplicationStatus.APPROVED
        decided = [db.session.get(Application, a).status for a in approved_or_declined]
        assert set(decided) <= {ApplicationStatus.APPROVED, ApplicationStatus.DECLINED}
        approved = len(twice_approved) + decided.count(ApplicationStatus.APPROVED)
        agreement = db.session.get(Agreement, agreement_id)
        assert agreement.quota_reserved == AMOUNT * approved
        assert len(db.session.scalars(select(Guarantee)).all()) == approved


def test_events_on_one_loan_are_applied_one_after_the_other(race):
    app, agreement_id, applications, headers = race
    client = app.test_client()
    for application_id in applications[:3]:
        client.post(f"/api/v1/applications/{application_id}/decision", json={"decision": "approved"}, headers=headers)
    with app.app_context():
        agency_user = create_user("race.agency", PASSWORD, Role.AGENCY,
                                  db.session.get(Agreement, agreement_id).agency_id)
        batch = db.session.scalar(select(Batch).where(Batch.status == BatchStatus.OPEN))
        decide_batch(submit_batch(batch), agency_user, [])
        db.session.commit()
        loans = sorted(db.session.scalars(select(Loan.id)))
    assert len(loans) == 3

    def event(loan_id, body, key):
        return lambda: app.test_client().post(f"/api/v1/loans/{loan_id}/events", json=body,
                                              headers={**headers, "Idempotency-Key": key}).status_code

    disbursed = at_once([event(loan, {"type": "disbursed", "occurred_on": "2026-03-02"}, f"d-{loan}-{n}")
                         for loan in loans for n in range(2)])
    assert [sorted(disbursed[i:i + 2]) for i in range(0, 6, 2)] == [[201, 409]] * 3, disbursed

    repaid = at_once([event(loan, {"type": "repayment", "amount": "300000.00", "occurred_on": "2026-04-01"},
                            f"r-{loan}-{n}") for loan in loans for n in range(2)])
    assert repaid == [201] * 6, repaid

    with app.app_context():
        agreement = db.session.get(Agreement, agreement_id)
        for loan_id in loans:  # both payments applied, one after the other: as one of 600,000.00, interest first
            loan = db.session.get(Loan, loan_id)
            split = apply_payment(periods_of(loan), Decimal("0.00"), Decimal("600000.00"))
            assert (loan.interest_paid, loan.principal_repaid) == (split.interest, split.principal)
            assert loan.outstanding == AMOUNT - split.principal
        owed = sum(db.session.get(Loan, loan).outstanding for loan in loans)
        assert agreement.quota_outstanding == owed and agreement.quota_reserved == 0
        assert agreement.guaranteed_total == AMOUNT * 3
        for loan in loans:
            guarantee = db.session.scalar(select(Guarantee).where(Guarantee.loan_id == loan))
            assert guarantee.exposure == db.session.get(Loan, loan).outstanding


def test_one_idempotency_key_sent_six_times_at_once_records_one_event(race):
    app, _agreement_id, applications, headers = race
    client = app.test_client()
    client.post(f"/api/v1/applications/{applications[0]}/decision", json={"decision": "approved"}, headers=headers)
    with app.app_context():
        agency_user = create_user("race.agency", PASSWORD, Role.AGENCY, db.session.scalar(select(Agreement.agency_id)))
        decide_batch(submit_batch(db.session.scalar(select(Batch).where(Batch.status == BatchStatus.OPEN))),
                     agency_user, [])
        db.session.commit()
        loan_id = db.session.scalar(select(Loan.id))

    body = {"type": "disbursed", "occurred_on": "2026-03-02"}
    def send():
        return app.test_client().post(f"/api/v1/loans/{loan_id}/events", json=body,
                                      headers={**headers, "Idempotency-Key": "bank-ref-1"})

    answers = at_once([send] * 6)
    # The first is applied; the others replay its answer, or (if it is still running) ask to retry: never a second
    # event, never another error.
    assert {a.status_code for a in answers} <= {201, 409} and 201 in {a.status_code for a in answers}
    first = next(a.json for a in answers if a.status_code == 201)
    assert all(a.json == first for a in answers if a.status_code == 201)
    assert [a.headers.get("Idempotent-Replayed") for a in answers if a.status_code == 201].count(None) == 1
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(LoanEvent).where(LoanEvent.loan_id == loan_id)) == 1
