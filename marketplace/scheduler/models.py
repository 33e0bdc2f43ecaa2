"""Runs of the scheduler's jobs: what /admin/jobs shows, and what makes a daily job run once per day."""

from __future__ import annotations

import datetime as dt
import enum
from typing import Any

from sqlalchemy import JSON, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from marketplace.db import Base, utcnow
from marketplace.orgs.models import enum_column


class RunOutcome(enum.StrEnum):
    OK = "ok"
    FAILED = "failed"


class JobRun(Base):
    __tablename__ = "job_runs"
    __table_args__ = (
        # A job with slots runs once per slot: the run that commits its work first holds the slot.
        Index("uq_job_runs_job_slot", "job", "slot", unique=True),
        Index("ix_job_runs_job_started", "job", "started_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    job: Mapped[str] = mapped_column(String(60))
    #: "2026-09-30" for a daily job, "2026-09" for a monthly one; none for a job that runs every few seconds and
    #: for failed runs (so the slot can still be run).
    slot: Mapped[str | None] = mapped_column(String(40))
    started_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    duration_ms: Mapped[int] = mapped_column(default=0)
    outcome: Mapped[RunOutcome] = mapped_column(enum_column(RunOutcome, "job_run_outcome"))
    #: What a run did, as a code and its figures ({"code": "batches_submitted", "day": …, "batches": [12]}), put into
    #: words when read (scheduler.wording); none for a failed run and for runs recorded before migration 0023.
    result: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    #: A failed run's error (for support); what a run did, in English, for runs recorded before migration 0023.
    detail: Mapped[str] = mapped_column(String(2000), default="")
