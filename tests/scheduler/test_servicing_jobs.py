"""The scheduler's servicing jobs (issue 20): claim_deadlines flags a claim still undecided the day after its
deadline (the agreement's working days, holidays not counted) and tells the agency and the bank, once; overdue_scan
finds a loan overdue the day after an unpaid due date and, 90 days on, defaults it, which under a `review` agreement
files a claim instead of compensating."""

from __future__ import annotations

import datetime as dt

from guarantees.models import Claim
from marketplace import db
from marketplace.dates import SHANGHAI, working_days_after
from marketplace.scheduler.jobs import DEFAULT_AFTER_DAYS
from marketplace.scheduler.runner import JOBS, run_job
from tests.guarantees.test_claims_api import agreement_with_loans, decide, notices, report
from tests.scheduler.helpers import said


def run(app, name: str, day: dt.date, hour: int = 9, minute: int = 5):
    """The job as its trigger runs it on `day` (09:05 Shanghai unless said)."""
    return run_job(app, JOBS[name], dt.datetime.combine(day, dt.time(hour, minute), SHANGHAI))


def claim_of(as_role, loan_id: int) -> dict:
    (claim,) = as_role("bank").get(f"/api/v1/loans/{loan_id}").json["claims"]
    return claim


# Claim deadlines -------------------------------------------------------------------------------------------------

def test_an_undecided_claim_is_flagged_the_day_after_its_deadline_and_both_parties_told_once(app, as_role, world,
                                                                                            make):
    agreement, (loan_id, decided_loan) = agreement_with_loans(
        as_role, world, make, count=2, review_days=5, disbursed_on=dt.date(2026, 6, 1))
    for each in (loan_id, decided_loan):
        report(as_role, each, "overdue", day=dt.date(2026, 6, 26))
        report(as_role, each, "default", day=dt.date(2026, 9, 25))
    claim, decided = claim_of(as_role, loan_id), claim_of(as_role, decided_loan)
    decide(as_role, decided["id"], decision="reject", reason="No collection effort shown")
    # Five working days from Friday 09-25: 09-28, 09-29, 09-30, then the National Day holiday, 10-08 and 10-09.
    assert claim["filed_on"] == "2026-09-25"
    assert claim["due_by"] == working_days_after(dt.date(2026, 9, 25), 5).isoformat() == "2026-10-09"

    assert said(app, run(app, "claim_deadlines", dt.date(2026, 10, 9))) == "2026-10-09: 0 claims past their deadline"
    assert notices(as_role("agency"), "deadline.passed") == []
    done = run(app, "claim_deadlines", dt.date(2026, 10, 10))  # a Saturday worked to make up for the holiday
    assert said(app, done) == f"2026-10-10: 1 claim past its deadline ({claim['id']})"
    with app.app_context():
        assert db.session.get(Claim, claim["id"]).overdue_on == dt.date(2026, 10, 10)
        assert db.session.get(Claim, decided["id"]).overdue_on is None
    assert as_role("agency").get(f"/api/v1/claims/{claim['id']}").json["overdue"] is True
    for who, link in (("agency", f"/agency/claims/{claim['id']}"), ("bank", f"/bank/loans/{loan_id}")):
        [told] = notices(as_role(who), "deadline.passed")
        assert told["link"] == link and told["title"] == f"Claim {claim['id']} is past its deadline"
        assert "2026-10-09" in told["body"] and "1,000,000.00" in told["body"]
    for outsider in ("bank2", "enterprise"):
        assert notices(as_role(outsider), "deadline.passed") == []

    assert run(app, "claim_deadlines", dt.date(2026, 10, 10)) is None  # the day's run is done
    assert said(app, run(app, "claim_deadlines", dt.date(2026, 10, 12))) == "2026-10-12: 0 claims past their deadline"
    assert [len(notices(as_role(who), "deadline.passed")) for who in ("agency", "bank")] == [1, 1]
    # Paid late: paid, but not on time.
    assert decide(as_role, claim["id"], decision="pay").status_code == 200
    assert as_role("agency").get(f"/api/v1/claims/{claim['id']}").json["overdue"] is True
    assert as_role("agency").get(f"/api/v1/agreements/{agreement['id']}").json["claims_paid_on_time"] == {
        "paid": 1, "on_time": 0, "share": "0.0000"}


# Overdue loans and defaults ------------------------------------------------------------------------------------

def test_overdue_the_day_after_a_due_date_and_at_90_days_a_default_that_files_a_claim(app, as_role, world, make):
    agreement, (loan_id,) = agreement_with_loans(as_role, world, make, review_days=10,
                                                 disbursed_on=dt.date(2026, 1, 15))
    first_due = as_role("bank").get(f"/api/v1/loans/{loan_id}/schedule").json["periods"][0]["due_on"]
    assert first_due == "2026-02-24"  # 02-15 falls in the Spring Festival holiday

    def scan(day: dt.date) -> str:
        return said(app, run(app, "overdue_scan", day, hour=0, minute=30))

    assert "0 loans overdue" in scan(dt.date(2026, 2, 24))
    assert scan(dt.date(2026, 2, 25)).startswith(f"2026-02-25: 1 loan overdue with a period unpaid ({loan_id})")
    loan = as_role("bank").get(f"/api/v1/loans/{loan_id}").json
    assert loan["status"] == "overdue"
    for who in ("agency", "enterprise"):
        [told] = notices(as_role(who), "loan.overdue")
        assert "2026-02-25" in told["body"]

    overdue_since = dt.date(2026, 2, 25)
    assert "0 loans defaulted" in scan(overdue_since + dt.timedelta(days=DEFAULT_AFTER_DAYS - 1))
    assert as_role("bank").get(f"/api/v1/loans/{loan_id}").json["status"] == "overdue"
    default_day = overdue_since + dt.timedelta(days=DEFAULT_AFTER_DAYS)
    assert default_day == dt.date(2026, 5, 26)
    assert f"1 loan defaulted after 90 days overdue ({loan_id})" in scan(default_day)

    loan = as_role("bank").get(f"/api/v1/loans/{loan_id}").json
    assert (loan["status"], loan["defaults"], loan["guarantee"]["status"]) == ("defaulted", [], "defaulted")
    [claim] = loan["claims"]
    assert (claim["status"], claim["amount"], claim["agreement_id"], claim["filed_on"], claim["due_by"]) == (
        "filed", "1000000.00", agreement["id"], "2026-05-26", working_days_after(default_day, 10).isoformat())
    [told] = notices(as_role("agency"), "claim.filed")
    assert told["link"] == f"/agency/claims/{claim['id']}"
    assert as_role("agency").get(f"/api/v1/agreements/{agreement['id']}").json["compensated_total"] == "0.00"
    assert "0 loans defaulted" in scan(default_day + dt.timedelta(days=1))  # once
    assert len(as_role("bank").get(f"/api/v1/loans/{loan_id}").json["claims"]) == 1
