"""Invariants of the state financing owns (requests, applications, loans), recomputed from the rows for
`flask verify`. Each check is one set-based query and returns the violations, naming the rows (none when sound).
Financing may read guarantees' rows (it sits above guarantees), so the checks that cross into them live here."""

from __future__ import annotations

from collections.abc import Callable
from itertools import groupby

from sqlalchemy import exists, func, or_, select

from guarantees.checks import WITH_LOAN
from guarantees.models import Guarantee, GuaranteeStatus
from marketplace import db
from marketplace.financing.models import Application, ApplicationStatus, FinancingRequest, Loan, RequestStatus

#: An application the bank is deciding, the enterprise is answering (a counter-offer) or approved: a request has at
#: most one at a time.
LIVE_APPLICATION = (ApplicationStatus.SUBMITTED, ApplicationStatus.COUNTERED, ApplicationStatus.APPROVED)


def loans_have_approved_applications() -> list[str]:
    """Every loan comes from an application the bank approved."""
    rows = db.session.execute(
        select(Loan.id, Loan.application_id, Application.status)
        .outerjoin(Application, Application.id == Loan.application_id)
        .where(or_(Application.id.is_(None), Application.status != ApplicationStatus.APPROVED))
        .order_by(Loan.id)).all()
    return [f"Loan {loan_id}: application {application_id} "
            + ("does not exist." if status is None else f"is {status.value}, not approved.")
            for loan_id, application_id, status in rows]


def one_live_application_per_request() -> list[str]:
    """A request has at most one application submitted or approved."""
    crowded = (select(Application.request_id).where(Application.status.in_(LIVE_APPLICATION))
               .group_by(Application.request_id).having(func.count() > 1))
    rows = db.session.execute(
        select(Application.request_id, Application.id, Application.status)
        .where(Application.status.in_(LIVE_APPLICATION), Application.request_id.in_(crowded))
        .order_by(Application.request_id, Application.id)).all()
    problems = []
    for request_id, applications in groupby(rows, key=lambda row: row[0]):
        listed = [f"{application_id} {status.value}" for _request, application_id, status in applications]
        problems.append(f"Request {request_id} has {len(listed)} live applications (submitted, countered or "
                        "approved): "
                        f"{', '.join(listed)}.")
    return problems


def approved_requests_have_approved_applications() -> list[str]:
    """A request approved or funded has an approved application."""
    approved = exists().where(Application.request_id == FinancingRequest.id,
                              Application.status == ApplicationStatus.APPROVED)
    rows = db.session.execute(
        select(FinancingRequest.id, FinancingRequest.status)
        .where(FinancingRequest.status.in_([RequestStatus.APPROVED, RequestStatus.FUNDED]), ~approved)
        .order_by(FinancingRequest.id)).all()
    return [f"Request {request_id} is {status.value} but has no approved application." for request_id, status in rows]


def approved_applications_have_loans() -> list[str]:
    """An approved application has its loan, or a pending guarantee (the loan comes when the agency approves it)."""
    rows = db.session.execute(
        select(Application.id, Application.request_id, Guarantee.id, Guarantee.status)
        .outerjoin(Loan, Loan.application_id == Application.id)
        .outerjoin(Guarantee, Guarantee.application_id == Application.id)
        .where(Application.status == ApplicationStatus.APPROVED, Loan.id.is_(None),
               or_(Guarantee.id.is_(None), Guarantee.status != GuaranteeStatus.PENDING))
        .order_by(Application.id)).all()
    return [f"Application {application_id} (request {request_id}) is approved but has no loan and "
            + ("no guarantee." if guarantee_id is None else f"its guarantee {guarantee_id} is {status.value}, "
                                                           "not pending.")
            for application_id, request_id, guarantee_id, status in rows]


def guaranteed_loans_have_approved_guarantees() -> list[str]:
    """A loan whose application has a guarantee has it approved or later, pointing back at the loan."""
    rows = db.session.execute(
        select(Loan.id, Loan.application_id, Guarantee.id, Guarantee.status, Guarantee.loan_id)
        .join(Guarantee, Guarantee.application_id == Loan.application_id)
        .where(or_(Guarantee.status.not_in(WITH_LOAN), Guarantee.loan_id.is_(None), Guarantee.loan_id != Loan.id))
        .order_by(Loan.id)).all()
    problems = []
    for loan_id, application_id, guarantee_id, status, points_at in rows:
        if status not in WITH_LOAN:
            problems.append(f"Loan {loan_id} (application {application_id}): its guarantee {guarantee_id} is "
                            f"{status.value}, not approved or later.")
        if points_at != loan_id:
            problems.append(f"Loan {loan_id} (application {application_id}): its guarantee {guarantee_id} points at "
                            + ("no loan." if points_at is None else f"loan {points_at}."))
    return problems


#: What `flask verify` runs for financing, in this order.
CHECKS: tuple[Callable[[], list[str]], ...] = (
    loans_have_approved_applications,
    one_live_application_per_request,
    approved_requests_have_approved_applications,
    approved_applications_have_loans,
    guaranteed_loans_have_approved_guarantees,
)
