"""The jobs, their triggers, and `run_job`, which runs one under the advisory lock, in its own transaction.

Exactly once per trigger: a job with slots (one a day, one a month) inserts its run, slot included, before its work
and commits both together; a second scheduler firing the same trigger either cannot take the advisory lock (the
first is running) or finds the slot taken (the first has committed) and skips.
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta

from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.schedulers.base import BaseScheduler
from apscheduler.triggers.base import BaseTrigger
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger
from flask import Flask
from sqlalchemy import func, select, text
from sqlalchemy.exc import IntegrityError

from marketplace import db
from marketplace.audit import trail as audit
from marketplace.dates import SHANGHAI
from marketplace.i18n import N_
from marketplace.scheduler import jobs
from marketplace.scheduler.models import JobRun, RunOutcome

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Job:
    name: str
    #: What it does, in words (translated where shown).
    description: str
    #: When it runs, in words (translated where shown).
    schedule: str
    trigger: Callable[[], BaseTrigger]
    body: Callable[[datetime], jobs.Result]
    #: The slot a run at `now` fills (runs once per slot); None for a job that may run at any time (such a body
    #: may commit as it goes, as the outbox does between sends).
    slot: Callable[[datetime], str] | None = None


def _day(now: datetime) -> str:
    return jobs.local_day(now).isoformat()


def _month_before(now: datetime) -> str:
    return (jobs.local_day(now).replace(day=1) - timedelta(days=1)).strftime("%Y-%m")


JOBS: dict[str, Job] = {job.name: job for job in [
    Job("outbox_dispatch", N_("Hands applications to banks' systems and sends e-mails, trying failures again"),
        N_("Every 5 seconds"), lambda: IntervalTrigger(seconds=5), jobs.dispatch_outbox),
    Job("batch_cutoff", N_("Daily cut-off: submits each open batch for its agency's review"),
        N_("16:00 Beijing time, on working days"),
        lambda: CronTrigger(hour=16, minute=0, timezone=SHANGHAI), jobs.batch_cutoff, _day),
    Job("batch_sla", N_("Approves (见贷即保) or flags batches past their review deadline"),
        N_("Daily at 16:30 Beijing time"), lambda: CronTrigger(hour=16, minute=30, timezone=SHANGHAI),
        jobs.batch_sla, _day),
    Job("overdue_scan", N_("Marks loans with a period unpaid overdue, and defaulted after 90 days"),
        N_("Daily at 00:30 Beijing time"), lambda: CronTrigger(hour=0, minute=30, timezone=SHANGHAI),
        jobs.overdue_scan, _day),
    Job("subsidy_settlement", N_("Settles the month's fee-reduction subsidy (降费奖补) owed to each agency"),
        N_("02:00 Beijing time on the 1st, for the month before"),
        lambda: CronTrigger(day=1, hour=2, minute=0, timezone=SHANGHAI), jobs.subsidy_settlement, _month_before),
    Job("tier_expiry", N_("Withdraws open requests whose enterprise's tier expired or changed"),
        N_("Daily at 00:20 Beijing time"), lambda: CronTrigger(hour=0, minute=20, timezone=SHANGHAI),
        jobs.tier_expiry, _day),
    Job("agreement_expiry", N_("Ends agreements past their last valid day"), N_("Daily at 00:10 Beijing time"),
        lambda: CronTrigger(hour=0, minute=10, timezone=SHANGHAI), jobs.agreement_expiry, _day),
    Job("counter_offer_lapse", N_("Lapses counter-offers left unanswered past their expiry"),
        N_("Daily at 00:40 Beijing time"),
        lambda: CronTrigger(hour=0, minute=40, timezone=SHANGHAI), jobs.counter_offer_lapse, _day),
    Job("response_deadlines", N_("Reminds banks of answer deadlines near or passed"),
        N_("Daily at 09:00 Beijing time"),
        lambda: CronTrigger(hour=9, minute=0, timezone=SHANGHAI), jobs.response_deadlines, _day),
    Job("claim_deadlines", N_("Flags claims undecided past their deadline and tells both parties"),
        N_("Daily at 09:05 Beijing time"),
        lambda: CronTrigger(hour=9, minute=5, timezone=SHANGHAI), jobs.claim_deadlines, _day),
]}

#: The demo's sandbox bank sends its due callbacks (never scheduled in production).
SANDBOX = Job("sandbox_bank", N_("The demo's sandbox bank answers the applications handed to it"),
              N_("Every 3 seconds (demo only)"), lambda: IntervalTrigger(seconds=3), jobs.sandbox_bank)

_local_locks: dict[str, threading.Lock] = {}


def jobs_for(app: Flask) -> list[Job]:
    return [*JOBS.values(), *([SANDBOX] if app.config["PROFILE"] != "production" else [])]


def lock_key(name: str) -> int:
    """A stable signed 64-bit advisory lock key for the job."""
    return int.from_bytes(hashlib.sha256(f"marketplace.scheduler:{name}".encode()).digest()[:8], "big", signed=True)


@contextmanager
def advisory_lock(app: Flask, name: str) -> Iterator[bool]:
    """Hold the job's lock while the block runs, if no other process holds it: PostgreSQL's session advisory lock
    on a connection of its own in autocommit (so no transaction stays open); a process-local lock on SQLite, whose
    demo runs one scheduler."""
    engine = db.engine_of(app)
    if engine.dialect.name != "postgresql":
        lock = _local_locks.setdefault(name, threading.Lock())
        got = lock.acquire(blocking=False)
        try:
            yield got
        finally:
            if got:
                lock.release()
        return
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        got = connection.scalar(text("SELECT pg_try_advisory_lock(:key)"), {"key": lock_key(name)})
        try:
            yield got
        finally:
            if got:
                connection.scalar(text("SELECT pg_advisory_unlock(:key)"), {"key": lock_key(name)})


def run_job(app: Flask, job: Job, now: datetime | None = None) -> JobRun | None:
    """Run `job` for the moment `now` (default: now). → its run, or None when skipped: another process is running
    it, its slot was already run, or it had nothing to do (a job without slots records only runs that did
    something, or failed)."""
    with app.app_context(), advisory_lock(app, job.name) as got:
        if not got:
            return None
        audit.act_as_system(f"scheduler:{job.name}")
        now = now or db.utcnow()
        slot = job.slot(now) if job.slot else None
        run = JobRun(job=job.name, slot=slot, started_at=db.utcnow(), outcome=RunOutcome.OK)
        started = time.monotonic()
        try:
            if slot is not None:
                db.session.add(run)
                db.session.flush()  # takes the slot, or fails at once if another run took it
        except IntegrityError:
            db.session.rollback()
            return None
        try:
            run.result = job.body(now)
            run.duration_ms = round((time.monotonic() - started) * 1000)
            if slot is None and not run.result:
                db.session.commit()
                return None
            db.session.add(run)
            db.session.commit()
            return run
        except Exception as error:  # recorded, and the scheduler keeps going
            db.session.rollback()
            log.exception("job %s failed", job.name)
            failed = JobRun(job=job.name, slot=None, started_at=run.started_at, outcome=RunOutcome.FAILED,
                            duration_ms=round((time.monotonic() - started) * 1000),
                            detail=f"{type(error).__name__}: {error}"[:2000])
            db.session.add(failed)
            db.session.commit()
            return failed


def build(app: Flask, scheduler: BaseScheduler | None = None) -> BaseScheduler:
    """A scheduler (a background one unless given) with every job on its trigger."""
    scheduler = scheduler or BackgroundScheduler(timezone=SHANGHAI)
    for job in jobs_for(app):
        scheduler.add_job(run_job, job.trigger(), args=(app, job), id=job.name, name=job.name, coalesce=True,
                          max_instances=1, misfire_grace_time=5 if job.slot is None else 3600, replace_existing=True)
    return scheduler


def last_runs() -> dict[str, JobRun]:
    """Each job's latest recorded run."""
    latest = select(func.max(JobRun.id)).group_by(JobRun.job)
    return {run.job: run for run in db.session.scalars(select(JobRun).where(JobRun.id.in_(latest)))}
