"""The scheduler's jobs, with the clock moved (time-machine): the 16:00 cut-off on working days only, holidays and
make-up working days from chinese-calendar; 90 days overdue makes a default; agreements expire; the review SLA;
every run recorded for /admin/jobs."""

import datetime as dt
from dataclasses import replace

import pytest
import time_machine
from sqlalchemy import select

from guarantees.models import Agreement, Batch
from marketplace import db
from marketplace.auth.models import Role
from marketplace.dates import SHANGHAI, working_day
from marketplace.orgs.models import Tier, TierCertification
from marketplace.scheduler.models import JobRun, RunOutcome
from marketplace.scheduler.runner import JOBS, run_job
from tests.pages import sign_in
from tests.scheduler.helpers import said


def at(day: dt.date, hour: int = 16, minute: int = 0):
    return time_machine.travel(dt.datetime.combine(day, dt.time(hour, minute), SHANGHAI), tick=False)


def approve_one(app, scheme_, make, login_api, as_role):
    """One more approved loan application under the scheme's agreement: an item in its open batch."""
    enterprise = make.enterprise(Tier.SRDI)
    portal = login_api(make.user(Role.ENTERPRISE, enterprise.id))
    request = portal.post("/api/v1/financing-requests", json={
        "amount": "1000000.00", "term_months": 12, "purpose": "Working capital"}).json
    offer = next(o for o in request["offers"] if o["agreement_id"] == scheme_["agreement"]["id"])
    application = portal.post(f"/api/v1/financing-requests/{request['id']}/select",
                              json={"offer_id": offer["id"]}).json["application"]
    decided = as_role("bank").post(f"/api/v1/applications/{application['id']}/decision", json={"decision": "approved"})
    assert decided.status_code == 200, decided.json


def batches(app, agreement_id):
    with app.app_context():
        return [(b.id, b.status.value) for b in db.session.scalars(
            select(Batch).where(Batch.agreement_id == agreement_id).order_by(Batch.id))]


def run(app, name):
    return run_job(app, JOBS[name])


# The cut-off ---------------------------------------------------------------------------------------------------

def test_the_calendar_knows_the_national_day_holiday_and_its_make_up_day():
    assert working_day(dt.date(2026, 9, 30))[0]
    assert not any(working_day(dt.date(2026, 10, day))[0] for day in range(1, 8))
    assert working_day(dt.date(2026, 10, 10))[0]  # a Saturday, worked to make up for the holiday
    assert working_day(dt.date(2027, 1, 4)) == (True, " (no holiday calendar for 2027: Monday to Friday assumed)")


def test_cut_off_on_working_days_none_in_the_national_day_holiday(app, scheme, make, login_api, as_role):
    example = scheme(loans=0)
    agreement_id = example["agreement"]["id"]
    approve_one(app, example, make, login_api, as_role)
    [(first, _)] = batches(app, agreement_id)

    with at(dt.date(2026, 9, 30)):
        done = run(app, "batch_cutoff")
    assert done.slot == "2026-09-30" and "1 batch submitted for review" in said(app, done)
    assert batches(app, agreement_id) == [(first, "submitted")]

    approve_one(app, example, make, login_api, as_role)
    [_, (second, status)] = batches(app, agreement_id)
    assert status == "open"
    for day in range(1, 8):
        with at(dt.date(2026, 10, day)):
            quiet = run(app, "batch_cutoff")
        assert quiet.outcome is RunOutcome.OK and "not a working day" in said(app, quiet)
        assert batches(app, agreement_id)[-1] == (second, "open")

    with at(dt.date(2026, 10, 10)):  # the make-up working day
        made_up = run(app, "batch_cutoff")
    assert "1 batch submitted" in said(app, made_up)
    assert batches(app, agreement_id)[-1] == (second, "submitted")


def test_the_cut_off_runs_once_a_day_however_often_it_fires(app, scheme, make, login_api, as_role):
    example = scheme(loans=0)
    approve_one(app, example, make, login_api, as_role)
    with at(dt.date(2026, 9, 30)):
        assert run(app, "batch_cutoff") is not None
    approve_one(app, example, make, login_api, as_role)  # a new item after the cut-off waits for tomorrow
    with at(dt.date(2026, 9, 30), minute=1):  # the trigger fires again the same day (a second scheduler, a retry)
        assert run(app, "batch_cutoff") is None
    assert [status for _, status in batches(app, example["agreement"]["id"])] == ["submitted", "open"]
    with app.app_context():
        slots = db.session.scalars(select(JobRun.slot).where(JobRun.job == "batch_cutoff")).all()
    assert slots == ["2026-09-30"]


def test_the_cut_off_trigger_fires_at_16_00_shanghai():
    trigger = JOBS["batch_cutoff"].trigger()
    fired = trigger.get_next_fire_time(None, dt.datetime(2026, 9, 30, 9, 0, tzinfo=SHANGHAI))
    assert fired == dt.datetime(2026, 9, 30, 16, 0, tzinfo=SHANGHAI)
    assert fired.astimezone(dt.UTC).hour == 8


# Overdue loans ---------------------------------------------------------------------------------------------------

def test_a_loan_89_days_overdue_stays_overdue_and_at_90_it_defaults(app, scheme, as_role):
    example = scheme(loans=10)  # ten loans of 1,000,000.00, as in the ledger issue's worked example
    loan_id = example["loans"][0]
    bank, admin = as_role("bank"), as_role("admin")
    disbursed_on = dt.datetime.now(SHANGHAI).date()
    overdue_on = disbursed_on + dt.timedelta(days=30)
    for each in example["loans"]:  # the defaulting loan a 随借随还 line, so the day's repayment is all principal
        assert bank.post(f"/api/v1/loans/{each}/events", json={
            "type": "disbursed", "occurred_on": disbursed_on.isoformat(),
            **({"repayment_method": "revolving"} if each == loan_id else {})}).status_code == 201
    assert bank.post(f"/api/v1/loans/{loan_id}/events", json={
        "type": "repayment", "amount": "400000.00", "occurred_on": disbursed_on.isoformat()}).status_code == 201
    assert bank.post(f"/api/v1/loans/{loan_id}/events", json={
        "type": "overdue", "occurred_on": overdue_on.isoformat()}).status_code == 201

    with at(overdue_on + dt.timedelta(days=89), hour=0, minute=30):
        assert "0 loans defaulted" in said(app, run(app, "overdue_scan"))
    assert bank.get(f"/api/v1/loans/{loan_id}").json["status"] == "overdue"

    with at(overdue_on + dt.timedelta(days=90), hour=0, minute=30):
        done = run(app, "overdue_scan")
    assert f"1 loan defaulted after 90 days overdue ({loan_id})" in said(app, done)
    loan = bank.get(f"/api/v1/loans/{loan_id}").json
    assert loan["status"] == "defaulted"
    # 600,000.00 outstanding, shared as in the ledger issue's worked example.
    assert [{k: v for k, v in d.items() if k not in ("loan_id", "occurred_on")} for d in loan["defaults"]] == [{
        "loss": "600000.00", "bank_borne": "120000.00", "beyond_cap": "0.00", "agency_compensation": "480000.00",
        "agency_net": "240000.00", "reguarantee": "120000.00", "risk_pool_paid": "0.00",
        "risk_pool_claim": "120000.00"}]
    journal = admin.get(f"/api/v1/ledger/journal?ref=loan:{loan_id}").json
    default_entry = next(e for e in journal if e["kind"] == "default")
    assert default_entry["occurred_on"] == (overdue_on + dt.timedelta(days=90)).isoformat()

    with at(overdue_on + dt.timedelta(days=91), hour=0, minute=30):
        assert "0 loans defaulted" in said(app, run(app, "overdue_scan"))  # nothing twice


# Agreements and the review SLA ---------------------------------------------------------------------------------

def test_an_agreement_past_its_valid_to_expires(app, scheme, as_role):
    example = scheme(loans=0)
    valid_to = dt.date.fromisoformat(example["agreement"]["valid_to"])
    with at(valid_to, hour=0, minute=10):
        assert "0 agreements expired" in said(app, run(app, "agreement_expiry"))
    with at(valid_to + dt.timedelta(days=1), hour=0, minute=10):
        assert "1 agreement expired (ZJ-EXAMPLE)" in said(app, run(app, "agreement_expiry"))
    assert as_role("agency").get(f"/api/v1/agreements/{example['agreement']['id']}").json["status"] == "expired"


@pytest.mark.parametrize("auto_approve", [True, False])
def test_a_batch_past_its_review_sla(app, scheme, make, login_api, as_role, auto_approve):
    example = scheme(loans=0)
    agreement_id = example["agreement"]["id"]
    with app.app_context():
        agreement = db.session.get(Agreement, agreement_id)
        agreement.review_sla_days = 2
        agreement.auto_approve_below = None
        db.session.commit()
    approve_one(app, example, make, login_api, as_role)
    with at(dt.date(2026, 9, 29)):  # a Tuesday
        run(app, "batch_cutoff")
    if auto_approve:  # 见贷即保 from now on (set after the cut-off, so the item waits for review)
        with app.app_context():
            db.session.get(Agreement, agreement_id).auto_approve_below = example["agreement"]["total_quota"]
            db.session.commit()
    with at(dt.date(2026, 9, 30), hour=16, minute=30):  # one working day on: within the SLA
        assert "0 batches approved" in said(app, run(app, "batch_sla"))
    # The SLA's second working day is 10-08 (the holiday does not count); it is past on 10-09.
    with at(dt.date(2026, 10, 8), hour=16, minute=30):
        assert "0 batches approved" in said(app, run(app, "batch_sla"))
    with at(dt.date(2026, 10, 9), hour=16, minute=30):
        done = run(app, "batch_sla")
    [(batch_id, status)] = batches(app, agreement_id)
    if auto_approve:
        assert "1 batch approved" in said(app, done) and status == "decided"
        item = as_role("agency").get(f"/api/v1/batches/{batch_id}").json["items"][0]
        assert item["status"] == "approved" and item["loan_id"]
    else:
        assert "1 batch flagged past its review deadline" in said(app, done) and status == "submitted"
        with app.app_context():
            assert db.session.get(Batch, batch_id).sla_breached_on == dt.date(2026, 10, 9)


# Failures and /admin/jobs --------------------------------------------------------------------------------------

def test_a_failing_job_is_recorded_and_the_slot_stays_free(app):
    def broken(_now):
        raise RuntimeError("the bank's system is on fire")

    job = JOBS["agreement_expiry"]
    failed = run_job(app, replace(job, body=broken))
    assert failed.outcome is RunOutcome.FAILED and failed.slot is None and "on fire" in failed.detail
    assert run_job(app, job).outcome is RunOutcome.OK  # the same day's slot is still free


def test_admin_jobs_shows_each_job_and_its_last_run(app, world):
    with at(dt.date(2026, 9, 30)):
        run(app, "batch_cutoff")
    page = sign_in(app, world.admin_user).get("/admin/jobs")
    assert page.status_code == 200
    for name in JOBS:
        assert f'data-job="{name}"' in page.text
    assert 'data-job="batch_cutoff" data-outcome="ok"' in page.text and "2026-09-30" in page.text
    assert "0 batches submitted" in page.text
    assert sign_in(app, world.bank_user).get("/admin/jobs").status_code == 403


# The monthly fiscal-subsidy settlement ----------------------------------------------------------------------

def test_on_the_first_the_month_before_s_subsidies_are_settled_per_agency(app, scheme, as_role):
    example = scheme(loans=3)
    bank = as_role("bank")
    today = dt.datetime.now(SHANGHAI).date()
    for loan_id in example["loans"]:
        assert bank.post(f"/api/v1/loans/{loan_id}/events", json={
            "type": "disbursed", "occurred_on": today.isoformat()}).status_code == 201
    month = today.strftime("%Y-%m")
    next_first = (today.replace(day=28) + dt.timedelta(days=4)).replace(day=1)

    with at(next_first, hour=2):
        done = run(app, "subsidy_settlement")
        assert run(app, "subsidy_settlement") is None  # once for the month
    assert done.slot == month and said(app, done) == f"{month}: 降费奖补 of ¥7,500.00 due to 1 agency"
    settled = as_role("admin").get(f"/api/v1/subsidy-settlements?month={month}").json
    assert [(s["agency_id"], s["entries"], s["amount"]) for s in settled] == [
        (example["agreement"]["agency_id"], 3, "7500.00")]
    assert as_role("agency").get("/api/v1/subsidy-settlements").json == settled
    assert as_role("bank").get("/api/v1/subsidy-settlements").status_code == 403
    assert as_role("admin").get("/api/v1/subsidy-settlements?month=2026-13").status_code == 422

    following = (next_first + dt.timedelta(days=32)).replace(day=1)
    with at(following, hour=2):
        assert said(app, run(app, "subsidy_settlement")).endswith("of ¥0.00 due to 0 agencies")


# Tier expiry -----------------------------------------------------------------------------------------------------

def test_open_requests_priced_for_an_expired_tier_are_withdrawn_saying_why(app, world, as_role):
    bank = as_role("bank")
    product = bank.post("/api/v1/products", json={
        "name": "Plain credit", "product_type": "credit", "amount_min": "100000.00", "amount_max": "10000000.00",
        "term_min_months": 6, "term_max_months": 36, "rate_spread_bp": 30,
        "eligible_tiers": ["srdi", "little_giant"], "guarantee": "none"}).json
    bank.post(f"/api/v1/products/{product['id']}/publish")
    ask = {"amount": "2000000.00", "term_months": 12, "purpose": "Working capital"}
    lapsing = as_role("enterprise").post("/api/v1/financing-requests", json=ask).json
    lasting = as_role("enterprise2").post("/api/v1/financing-requests", json=ask).json
    valid_until = dt.datetime.now(SHANGHAI).date() + dt.timedelta(days=10)
    with app.app_context():
        db.session.get(TierCertification, world.enterprise.uscc).valid_until = valid_until
        db.session.commit()

    with at(valid_until, hour=0, minute=20):  # the last day it counts
        assert "0 open requests withdrawn" in said(app, run(app, "tier_expiry"))
    with at(valid_until + dt.timedelta(days=1), hour=0, minute=20):
        done = run(app, "tier_expiry")
    assert f"1 open request withdrawn, its tier expired or changed ({lapsing['id']})" in said(app, done)
    withdrawn = as_role("enterprise").get(f"/api/v1/financing-requests/{lapsing['id']}").json
    assert withdrawn["status"] == "withdrawn"
    assert withdrawn["status_reason"] == (
        f"Withdrawn by the marketplace on {valid_until + dt.timedelta(days=1)}: these offers were priced for an "
        "enterprise certified as SRDI (专精特新), and it is now not certified. Ask again to see the offers that apply "
        "today.")
    in_chinese = as_role("enterprise").get(f"/api/v1/financing-requests/{lapsing['id']}",
                                           headers={"Accept-Language": "zh-CN"}).json
    assert in_chinese["status_reason"].startswith(f"平台已于 {valid_until + dt.timedelta(days=1)} 撤回：")
    assert "专精特新" in in_chinese["status_reason"] and "srdi" not in in_chinese["status_reason"]
    assert as_role("enterprise2").get(f"/api/v1/financing-requests/{lasting['id']}").json["status"] == "open"
    page = sign_in(app, world.enterprise_user).get(f"/enterprise/requests/{lapsing['id']}")
    assert "Ask again to see the offers that apply today." in page.text
