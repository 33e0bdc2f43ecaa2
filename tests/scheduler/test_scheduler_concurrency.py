"""On PostgreSQL: two scheduler instances started together run a job once per trigger. Each is a real APScheduler
BackgroundScheduler with the job on the same trigger, in its own thread with its own connections, as two
`flask scheduler run` processes would be."""

import datetime as dt
import os
import threading
import time
from dataclasses import replace

import pytest
from apscheduler.events import EVENT_JOB_ERROR, EVENT_JOB_EXECUTED, EVENT_JOB_MISSED
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.date import DateTrigger
from flask_migrate import upgrade
from sqlalchemy import select

from marketplace import create_app, db
from marketplace.dates import SHANGHAI
from marketplace.scheduler.models import JobRun
from marketplace.scheduler.runner import JOBS, run_job

pytestmark = pytest.mark.skipif(os.environ.get("MARKETPLACE_TEST_DB", "sqlite") != "postgresql",
                                reason="the advisory lock is PostgreSQL's; runs in the PostgreSQL pass")


@pytest.fixture(scope="module")
def race_app(databases):
    application = create_app({"PROFILE": "test", "DATABASE_URL": databases.fresh("scheduler_race"),
                              "SECRET_KEY": "race"})
    with application.app_context():
        upgrade()
    yield application
    db.engine_of(application).dispose()


def two_instances_fire(app, job, at):
    """Start two schedulers with `job` on a trigger firing at `at`; wait until both have fired."""
    done, seen, lock = threading.Event(), [], threading.Lock()

    def listener(event):
        with lock:
            seen.append(event.code)
            if len(seen) == 2:
                done.set()

    instances = []
    for _ in range(2):
        instance = BackgroundScheduler(timezone=SHANGHAI)
        instance.add_job(run_job, DateTrigger(run_date=at), args=(app, job), id=job.name, misfire_grace_time=30)
        instance.add_listener(listener, EVENT_JOB_EXECUTED | EVENT_JOB_ERROR | EVENT_JOB_MISSED)
        instances.append(instance)
    for instance in instances:
        instance.start()
    try:
        assert done.wait(timeout=30), "the schedulers did not fire"
    finally:
        for instance in instances:
            instance.shutdown(wait=True)


def test_two_schedulers_run_a_job_once_per_trigger(race_app):
    bodies = []

    def probe(now):
        bodies.append(now)
        time.sleep(0.5)  # still running when the other instance fires
        return {"code": "probed"}

    job = replace(JOBS["agreement_expiry"], name="probe", body=probe)
    two_instances_fire(race_app, job, dt.datetime.now(SHANGHAI) + dt.timedelta(seconds=1))
    assert len(bodies) == 1
    with race_app.app_context():
        runs = db.session.scalars(select(JobRun).where(JobRun.job == "probe")).all()
    assert [(run.result, run.outcome.value) for run in runs] == [({"code": "probed"}, "ok")]

    # Fired again for the same slot, after the first run committed: the slot is taken, nothing runs.
    two_instances_fire(race_app, job, dt.datetime.now(SHANGHAI) + dt.timedelta(seconds=1))
    assert len(bodies) == 1


def test_the_real_cut_off_fired_by_two_schedulers_runs_once(race_app):
    two_instances_fire(race_app, JOBS["batch_cutoff"], dt.datetime.now(SHANGHAI) + dt.timedelta(seconds=1))
    with race_app.app_context():
        runs = db.session.scalars(select(JobRun).where(JobRun.job == "batch_cutoff")).all()
    assert len(runs) == 1 and runs[0].slot == dt.datetime.now(SHANGHAI).date().isoformat()
