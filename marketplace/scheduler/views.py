"""/admin/jobs: each scheduled job, when it runs, and its last run's time, duration and outcome."""

from __future__ import annotations

from flask import Blueprint, current_app, render_template
from sqlalchemy import select

from marketplace import db
from marketplace.auth.access import page_roles
from marketplace.auth.models import Role
from marketplace.scheduler.models import JobRun, RunOutcome
from marketplace.scheduler.runner import jobs_for, last_runs

bp = Blueprint("jobs", __name__, template_folder="templates")


@bp.get("/admin/jobs")
@page_roles(Role.ADMIN)
def jobs_page():
    recent = db.session.scalars(select(JobRun).order_by(JobRun.id.desc()).limit(50)).all()
    failures = db.session.scalars(select(JobRun).where(JobRun.outcome == RunOutcome.FAILED)
                                  .order_by(JobRun.id.desc()).limit(10)).all()
    return render_template("scheduler/jobs.html", jobs=jobs_for(current_app), last=last_runs(), recent=recent,
                           failures=failures)
