"""/admin/jobs: each scheduled job, when it runs, and its last run's time, duration and outcome."""

from __future__ import annotations

from flask import Blueprint, current_app, render_template
from flask_babel import gettext as _
from sqlalchemy import select

from marketplace import db
from marketplace.auth.access import page_roles
from marketplace.auth.models import Role
from marketplace.i18n import N_
from marketplace.listing import Choice, DateRange, Listing, Sort
from marketplace.scheduler import wording
from marketplace.scheduler.models import JobRun, RunOutcome
from marketplace.scheduler.runner import jobs_for, last_runs

bp = Blueprint("jobs", __name__, template_folder="templates")


@bp.get("/admin/jobs")
@page_roles(Role.ADMIN)
def jobs_page():
    descriptions = {job.name: _(job.description) for job in jobs_for(current_app)}
    listing = Listing(
        sorts={"started": Sort(N_("Started"), (JobRun.id,), descending_first=True),
               "duration": Sort(N_("Duration"), (JobRun.duration_ms, JobRun.id), descending_first=True)},
        default_sort="started", default_descending=True,
        filters=[Choice("job", N_("Job"), JobRun.job, descriptions, N_("All jobs")),
                 Choice("outcome", N_("Outcome"), JobRun.outcome,
                        {o.value: wording.outcome_words(o) for o in RunOutcome}, N_("Any outcome")),
                 DateRange(N_("Started from"), N_("Started to"), JobRun.started_at, timestamp=True)],
    ).read(select(JobRun))
    failures = db.session.scalars(select(JobRun).where(JobRun.outcome == RunOutcome.FAILED)
                                  .order_by(JobRun.id.desc()).limit(10)).all()
    return render_template("scheduler/jobs.html", jobs=jobs_for(current_app), last=last_runs(), listing=listing,
                           recent=listing.items, failures=failures, descriptions=descriptions, wording=wording)
