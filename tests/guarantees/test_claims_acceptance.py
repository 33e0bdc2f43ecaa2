"""Issue 20's acceptance for compensation claims, as one story on one `review` agreement: three guaranteed loans
default on the same day; the bank attaches a PDF to the first claim and the agency pays it within its deadline,
which posts to the fen what an `automatic` agreement posts for the same loan; the second claim is refused and the
bank reads why; the third is left undecided past its deadline, and is flagged on both dashboards and notified to both
parties. `flask ledger verify` (with the domain invariants) is clean at the end."""

from __future__ import annotations

import datetime as dt
import re

import pytest
import time_machine

from marketplace.dates import SHANGHAI, working_days_after
from marketplace.scheduler.runner import JOBS, run_job
from tests.guarantees.test_claims_api import (
    PDF,
    SHARED,
    agreement_with_loans,
    attach,
    decide,
    loss_lines,
    notices,
    report,
    verified,
)
from tests.scheduler.helpers import said

DISBURSED = dt.date(2026, 6, 1)
OVERDUE = dt.date(2026, 6, 26)
DEFAULTED = dt.date(2026, 9, 25)  # a Friday: five working days later is 10-09, after the National Day holiday
REVIEW_DAYS = 5
REASON = "未见近三个月的催收记录和诉讼材料，请补充后重新申请。"


def on(day: dt.date):
    """The business date is `day` (10:00 in Shanghai)."""
    return time_machine.travel(dt.datetime.combine(day, dt.time(10), SHANGHAI), tick=False)


def _figure(html: str, key: str) -> str:
    return re.search(rf'data-figure="{key}"><dt>.*?</dt><dd>(.*?)</dd>', html).group(1)


@pytest.mark.usefixtures("files")
def test_a_review_agreement_pays_refuses_and_flags_its_claims_as_the_issue_asks(app, as_role, world, make, browser_of):
    review, loans = agreement_with_loans(as_role, world, make, code="ZJ-REVIEW", count=3, review_days=REVIEW_DAYS,
                                         disbursed_on=DISBURSED)
    _automatic, (automatic_loan,) = agreement_with_loans(as_role, world, make, claim_mode="automatic",
                                                         code="ZJ-AUTOMATIC", disbursed_on=DISBURSED)
    for loan_id in (*loans, automatic_loan):
        report(as_role, loan_id, "overdue", day=OVERDUE)
        report(as_role, loan_id, "default", day=DEFAULTED)
    bank, agency = as_role("bank"), as_role("agency")
    claims = {c["loan_id"]: c for c in bank.get("/api/v1/claims?status=filed").json}
    paid, refused, left = (claims[loan_id] for loan_id in loans)
    assert sorted(claims) == sorted(loans)  # one claim per reviewed default; the automatic one settled at once
    deadline = working_days_after(DEFAULTED, REVIEW_DAYS)
    assert deadline == dt.date(2026, 10, 9) and {c["due_by"] for c in claims.values()} == {deadline.isoformat()}

    with on(dt.date(2026, 9, 28)):  # within the deadline
        document = attach(as_role, paid["id"], PDF, name="催收记录.pdf")
        assert document.status_code == 201, document.json
        assert agency.get(f"/api/v1/claims/{paid['id']}/documents/{document.json['id']}").data == PDF
        answer = decide(as_role, paid["id"], decision="pay")
        assert answer.status_code == 200, answer.json
        refusal = decide(as_role, refused["id"], decision="reject", reason=REASON)
        assert refusal.status_code == 200, refusal.json

    # Paid: the allocation and every line posted equal the automatic agreement's, to the fen.
    allocation = {k: v for k, v in answer.json["allocation"].items() if k not in ("loan_id", "occurred_on")}
    (automatic,) = bank.get(f"/api/v1/loans/{automatic_loan}").json["defaults"]
    assert allocation == {k: v for k, v in automatic.items() if k not in ("loan_id", "occurred_on")} == SHARED
    assert loss_lines(as_role, loans[0]) == loss_lines(as_role, automatic_loan)
    assert agency.get(f"/api/v1/agreements/{review['id']}").json["claims_paid_on_time"] == {
        "paid": 1, "on_time": 1, "share": "1.0000"}

    # Refused: the bank reads the reason, in the API, in its message and on the loan's page.
    seen = bank.get(f"/api/v1/claims/{refused['id']}").json
    assert (seen["status"], seen["reason"], seen["allocation"]) == ("rejected", REASON, None)
    assert any(REASON in n["body"] for n in notices(bank, "claim.decided"))
    assert REASON in browser_of(world.bank_user).get(f"/bank/loans/{refused['loan_id']}").text

    # Left undecided: flagged the day after its deadline, both parties told, both dashboards count it.
    flagged = run_job(app, JOBS["claim_deadlines"], dt.datetime.combine(deadline + dt.timedelta(days=1),
                                                                        dt.time(9, 5), SHANGHAI))
    assert said(app, flagged).endswith(f"1 claim past its deadline ({left['id']})")
    assert agency.get(f"/api/v1/claims/{left['id']}").json["overdue"] is True
    for who, link in (("agency", f"/agency/claims/{left['id']}"), ("bank", f"/bank/loans/{left['loan_id']}")):
        assert [n["link"] for n in notices(as_role(who), "deadline.passed")] == [link]
    agency_page = browser_of(world.agency_user).get("/agency/dashboard").text
    assert [_figure(agency_page, key) for key in ("claims_filed", "claims_past", "claims_paid",
                                                  "claims_rejected")] == ["1", "1", "1", "1"]
    bank_page = browser_of(world.bank_user).get("/bank/dashboard").text
    assert [_figure(bank_page, key) for key in ("claims_filed", "claims_past", "claims_paid",
                                                "claims_rejected")] == ["1", "1", "1", "1"]

    verified(app)
